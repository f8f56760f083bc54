"""DUMP and RESTORE (commands/dump.pxi) in process: payload bytes Redis writes,
round trips of every type and encoding, the records RESTORE leaves in the WAL
and their replay, and memory left balanced by failed RESTOREs (the teardown's
invariant walk checks that nothing leaks)."""
import struct

from test_wal_records import replay, take

from cachecyt import _core


def bulk(reply):
    """The bytes of a bulk-string reply."""
    head, _, rest = reply.partition(b'\r\n')
    assert head[:1] == b'$'
    return rest[:int(head[1:])]


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def footer(body):
    body += b'\x0a\x00'
    return body + struct.pack('<Q', _core.dump_crc(body))


def test_crc64_is_redis_crc64():
    assert _core.dump_crc(b'123456789') == 0xe9c6d914c4b8d9ca


def test_string_payloads(client):
    client.call([b'SET', b'k', b'hello'])
    assert bulk(client.call([b'DUMP', b'k'])) == footer(b'\x00\x05hello')
    client.call([b'SET', b'k', b'-2'])
    assert bulk(client.call([b'DUMP', b'k'])) == footer(b'\x00\xc0\xfe')
    client.call([b'SET', b'k', b'70000'])
    assert bulk(client.call([b'DUMP', b'k'])) == footer(b'\x00\xc2\x70\x11\x01\x00')
    client.call([b'SET', b'k', b'4294967296'])       # past int32: the digits
    assert bulk(client.call([b'DUMP', b'k'])) == footer(b'\x00\x0a4294967296')
    assert client.call([b'DUMP', b'none']) == b'$-1\r\n'


def test_long_string_is_compressed_and_restores(client):
    v = b'0123456789' * 1000
    client.call([b'SET', b'k', v])
    p = bulk(client.call([b'DUMP', b'k']))
    assert p[1] == 0xc3 and len(p) < 200
    assert client.call([b'RESTORE', b'k2', b'0', p]) == b'+OK\r\n'
    assert bulk(client.call([b'GET', b'k2'])) == v


def roundtrip_all(client):
    client.call([b'SET', b's', b'x' * 70000])
    client.call([b'SET', b'i', b'12345'])
    client.call([b'RPUSH', b'l', *[b'%d' % i for i in range(2000)], b'y' * 9000])
    client.call([b'SADD', b'si', b'1', b'2', b'3'])
    client.call([b'SADD', b'sd', *[b'm%d' % i for i in range(300)]])
    client.call([b'HSET', b'hs', b'f', b'v', b'n', b'1'])
    client.call([b'HSET', b'hb', *[b'%d' % i for i in range(1000)]])
    client.call([b'ZADD', b'zs', b'1.5', b'a', b'-inf', b'b', b'inf', b'c'])
    client.call([b'ZADD', b'zb', *[b'%d' % (i // 2) if i % 2 == 0 else b'm%d' % i for i in range(600)]])
    return [b's', b'i', b'l', b'si', b'sd', b'hs', b'hb', b'zs', b'zb']


READS = {b'string': b'GET', b'list': b'LRANGE', b'set': b'SMEMBERS', b'hash': b'HGETALL',
         b'zset': b'ZRANGE'}


def value_of(client, key):
    t = client.call([b'TYPE', key])[1:-2]
    args = [READS[t], key] + ([b'0', b'-1'] if t in (b'list', b'zset') else [])
    if t == b'zset':
        args.append(b'WITHSCORES')
    reply = client.call(args)
    if t in (b'set', b'hash'):
        reply = sorted(reply.split(b'\r\n'))      # order is the encoding's
    return t, reply, client.call([b'OBJECT', b'ENCODING', key])


def test_roundtrip_every_type(client):
    for key in roundtrip_all(client):
        p = bulk(client.call([b'DUMP', key]))
        assert client.call([b'RESTORE', key + b'.c', b'0', p]) == b'+OK\r\n'
        assert value_of(client, key + b'.c') == value_of(client, key), key
        assert client.call([b'RESTORE', key, b'0', p]) == b'-BUSYKEY Target key name already exists.\r\n'
        assert client.call([b'RESTORE', key, b'0', p, b'REPLACE']) == b'+OK\r\n'


def test_bad_payloads_leave_nothing(client):
    for body in [b'\x02\x02\x01a\x01a', b'\x0e\x01\x05\x00', b'\x05\x02\x01a\x00\x00\x00\x00\x00\x00\xf0\x3f\x01a',
                 b'\x12\x02\x02\x03abc\x02\x04\x07\x00\x00\x00\x00\x00\xff', b'\x0f']:
        assert client.call([b'RESTORE', b'k', b'0', footer(body)]) == b'-ERR Bad data format\r\n', body
        assert client.call([b'EXISTS', b'k']) == b':0\r\n'


def test_restore_record_replays_to_the_same_keys(wal):
    wal.call([b'RPUSH', b'src', b'a', b'b', b'c'])
    p = bulk(wal.call([b'DUMP', b'src']))
    wal.call([b'SET', b'old', b'x'])
    assert wal.call([b'RESTORE', b'l', b'100000', p]) == b'+OK\r\n'
    assert wal.call([b'RESTORE', b'old', b'0', p, b'REPLACE']) == b'+OK\r\n'
    assert wal.call([b'RESTORE', b'past', b'1', p, b'ABSTTL']) == b'+OK\r\n'     # no key: no record
    assert wal.call([b'RESTORE', b'l', b'0', p]).startswith(b'-BUSYKEY')
    deadline = wal.call([b'PEXPIRETIME', b'l'])
    recs = take()
    assert [r[2] for r in recs][-2:] == [resp(b'RESTORE', b'l', b'100000', p),
                                         resp(b'RESTORE', b'old', b'0', p, b'REPLACE')]
    wal.call([b'FLUSHALL'])
    take()
    replay(wal, recs)
    assert take() == []
    assert wal.call([b'LRANGE', b'l', b'0', b'-1']) == b'*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n'
    assert wal.call([b'PEXPIRETIME', b'l']) == deadline      # replayed at the record's clock
    assert wal.call([b'TYPE', b'old']) == b'+list\r\n'
    assert wal.call([b'EXISTS', b'past']) == b':0\r\n'


def test_restore_inside_exec(wal):
    wal.call([b'SADD', b'src', b'a', b'1'])
    p = bulk(wal.call([b'DUMP', b'src']))
    wal.call([b'MULTI'])
    wal.call([b'RESTORE', b'x', b'0', p])
    wal.call([b'RESTORE', b'x', b'0', p])
    assert wal.call([b'EXEC']) == (b'*2\r\n+OK\r\n'
                                   b'-BUSYKEY Target key name already exists.\r\n')
    assert wal.call([b'SCARD', b'x']) == b':2\r\n'
    assert take()[-1][2] == resp(b'RESTORE', b'x', b'0', p)
