"""Snapshot serialisation: every key becomes the commands that rebuild it
(shm/snapshot.pxi), and applying them to an empty keyspace gives back the same
values, types, TTLs and memcached flags, in the same db."""
import time

from cachecyt import _core


def dump_state(client, dbs):
    """{(db, key): (type, value, pexpiretime)} through ordinary commands."""
    out = {}
    for db in dbs:
        client.call([b'SELECT', str(db).encode()])
        keys = client.call([b'KEYS', b'*']).split(b'\r\n')[2::2]
        for k in keys:
            t = client.call([b'TYPE', k])
            if t == b'+string\r\n':
                v = client.call([b'GET', k])
            elif t == b'+list\r\n':
                v = client.call([b'LRANGE', k, b'0', b'-1'])
            elif t == b'+set\r\n':
                v = sorted(client.call([b'SMEMBERS', k]).split(b'\r\n')[1:])
            elif t == b'+hash\r\n':
                v = sorted(client.call([b'HGETALL', k]).split(b'\r\n')[1:])
            else:
                v = client.call([b'ZRANGE', k, b'0', b'-1', b'WITHSCORES'])
            out[(db, k)] = (t, v, client.call([b'PEXPIRETIME', k]))
    client.call([b'SELECT', b'0'])
    return out


def fill(client):
    exp = str(int(time.time() * 1000) + 600000).encode()
    client.call([b'SET', b'plain', b'hello'])
    client.call([b'SET', b'int', b'12345'])
    client.call([b'SET', b'big', b'x' * 200000])
    client.call([b'SET', b'bin', bytes(range(256))])
    client.call([b'SET', b'ttl', b'v', b'PXAT', exp])
    client.call([b'RPUSH', b'list', *[str(i).encode() for i in range(300)], b'y' * 70000])
    client.call([b'SADD', b'iset', b'1', b'2', b'-7'])
    client.call([b'SADD', b'set', *[b'm%d' % i for i in range(200)]])
    client.call([b'HSET', b'hash', b'f', b'v', b'g', b'\r\n'])
    client.call([b'HSET', b'bighash', *[b'%d' % i for i in range(600)]])
    client.call([b'ZADD', b'z', b'1.5', b'a', b'-inf', b'b', b'0.1', b'c', b'3e100', b'd'])
    client.call([b'ZADD', b'bigz', *[x for i in range(300) for x in (b'%d.25' % i, b'm%d' % i)]])
    client.call([b'PEXPIREAT', b'bigz', exp])
    client.call([b'SELECT', b'3'])
    client.call([b'SET', b'plain', b'in db 3'])
    client.call([b'LPUSH', b'l3', b'a'])
    client.call([b'SELECT', b'0'])


def test_every_type_round_trips(client):
    fill(client)
    before = dump_state(client, [0, 3])
    streams = []
    for db in (0, 3):
        client.call([b'SELECT', str(db).encode()])
        for k in client.call([b'KEYS', b'*']).split(b'\r\n')[2::2]:
            streams.append((db, _core.serialize_key(k, db)))
    client.call([b'SELECT', b'0'])
    client.call([b'FLUSHALL'])
    assert dump_state(client, [0, 3]) == {}
    for db, payload in streams:
        n, errors = _core.apply_commands(client, payload, db, 0)
        assert n >= 1 and errors == 0
    assert dump_state(client, [0, 3]) == before


def test_expired_key_is_loaded_with_its_deadline(client):
    # a snapshot keeps keys whose TTL passed (replay after it runs on its own
    # clock); with the clock at 0 the loader stores them as they were
    past = str(int(time.time() * 1000) - 5000).encode()
    client.call([b'SET', b'k', b'v'])
    payload = _core.serialize_key(b'k', 0) + (
        b'*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$%d\r\n%s\r\n' % (len(past), past))
    client.call([b'DEL', b'k'])
    _core.apply_commands(client, payload, 0, 0)
    assert client.call([b'DBSIZE']) == b':1\r\n'        # stored, not yet purged
    assert _core.purge_expired(int(time.time() * 1000)) == 1
    assert client.call([b'EXISTS', b'k']) == b':0\r\n'


def test_truncated_stream_is_an_error(client):
    client.call([b'SET', b'k', b'v'])
    payload = _core.serialize_key(b'k', 0)
    try:
        _core.apply_commands(client, payload[:-3], 0, 0)
    except ValueError as e:
        assert 'truncated' in str(e)
    else:
        raise AssertionError("a truncated stream was applied silently")
