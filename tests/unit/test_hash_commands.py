"""Hash commands on a private segment: exact reply bytes (RESP2 and RESP3),
listpack/hashtable encodings at and around Redis's thresholds, and the generic
key commands (COPY, RENAME, MEMORY USAGE, DEL) on hashes. The teardown's
invariant walk also follows every hash's chunks (no leak, no lost slot)."""
import pytest
from conftest import assert_core_sound, make_segment

from cachecyt import _core
from cachecyt.commands import registry, server

REDIS_DEFAULTS = dict(hash_max_listpack_entries=512, hash_max_listpack_value=64,
                      set_max_intset_entries=512)


def redis_defaults_client():
    """A fresh segment with Redis's default thresholds; yields call(*args) ->
    reply bytes; the teardown runs the invariant walk."""
    seg = make_segment(pages=512, **REDIS_DEFAULTS)
    registry.install()
    server.NODE = server.Node()
    cl = _core.Client()
    yield lambda *a: cl.call([x.encode() if isinstance(x, str) else x for x in a])
    try:
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


@pytest.fixture
def c():
    yield from redis_defaults_client()


def test_hset_hget_and_overwrite(c):
    assert c('HSET', 'h', 'a', '1', 'b', '2') == b':2\r\n'
    assert c('HSET', 'h', 'a', '10', 'c', '3') == b':1\r\n'
    assert c('HGET', 'h', 'a') == b'$2\r\n10\r\n'
    assert c('HGET', 'h', 'zz') == b'$-1\r\n'
    assert c('HGET', 'nokey', 'a') == b'$-1\r\n'
    assert c('HGETALL', 'h') == b'*6\r\n$1\r\na\r\n$2\r\n10\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n'
    assert c('HKEYS', 'h') == b'*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n'
    assert c('HVALS', 'h') == b'*3\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n'
    assert c('HLEN', 'h') == b':3\r\n'
    assert c('HSTRLEN', 'h', 'a') == b':2\r\n'
    assert c('HEXISTS', 'h', 'b') == b':1\r\n'
    assert c('HEXISTS', 'h', 'q') == b':0\r\n'
    assert c('HMGET', 'h', 'a', 'q', 'c') == b'*3\r\n$2\r\n10\r\n$-1\r\n$1\r\n3\r\n'
    assert c('HMSET', 'h', 'd', '4') == b'+OK\r\n'
    assert c('HSETNX', 'h', 'd', '5') == b':0\r\n'
    assert c('HSETNX', 'h', 'e', '5') == b':1\r\n'


def test_arity_and_wrongtype(c):
    assert c('HSET', 'h', 'a') == b"-ERR wrong number of arguments for 'hset' command\r\n"
    assert c('HMSET', 'h', 'a', 'b', 'c') == b"-ERR wrong number of arguments for 'hmset' command\r\n"
    c('SET', 's', 'x')
    wrong = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'
    for args in (('HSET', 's', 'a', 'b'), ('HGET', 's', 'a'), ('HGETALL', 's'), ('HDEL', 's', 'a'),
                 ('HLEN', 's'), ('HINCRBY', 's', 'a', '1'), ('HRANDFIELD', 's'), ('HSCAN', 's', '0')):
        assert c(*args) == wrong, args
    c('HSET', 'h', 'a', 'b')
    assert c('GET', 'h') == wrong
    assert c('TYPE', 'h') == b'+hash\r\n'


def test_hdel_empties_the_key(c):
    c('HSET', 'h', 'a', '1', 'b', '2')
    assert c('HDEL', 'h', 'a', 'zz', 'a') == b':1\r\n'
    assert c('HDEL', 'h', 'b') == b':1\r\n'
    assert c('EXISTS', 'h') == b':0\r\n'
    assert c('HDEL', 'h', 'b') == b':0\r\n'


def test_hincrby_and_float(c):
    assert c('HINCRBY', 'h', 'n', '5') == b':5\r\n'
    assert c('HINCRBY', 'h', 'n', '-7') == b':-2\r\n'
    assert c('HINCRBY', 'h', 'n', 'x') == b'-ERR value is not an integer or out of range\r\n'
    c('HSET', 'h', 's', 'abc', 'big', '9223372036854775807')
    assert c('HINCRBY', 'h', 's', '1') == b'-ERR hash value is not an integer\r\n'
    assert c('HINCRBY', 'h', 'big', '1') == b'-ERR increment or decrement would overflow\r\n'
    assert c('HINCRBYFLOAT', 'h', 'f', '1.5') == b'$3\r\n1.5\r\n'
    assert c('HINCRBYFLOAT', 'h', 'f', '1e3') == b'$6\r\n1001.5\r\n'
    assert c('HINCRBYFLOAT', 'h', 's', '1') == b'-ERR hash value is not a float\r\n'
    assert c('HINCRBYFLOAT', 'h', 'f', 'inf') == b'-ERR value is NaN or Infinity\r\n'
    assert c('HINCRBYFLOAT', 'h', 'f', 'x') == b'-ERR value is not a valid float\r\n'


def test_resp3_shapes(c):
    c('HELLO', '3')
    c('HSET', 'h', 'a', '1')
    assert c('HGETALL', 'h') == b'%1\r\n$1\r\na\r\n$1\r\n1\r\n'
    assert c('HGETALL', 'nokey') == b'%0\r\n'
    assert c('HRANDFIELD', 'h', '1', 'WITHVALUES') == b'*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n'
    assert c('HRANDFIELD', 'h', '-2', 'WITHVALUES') == b'*2\r\n' + b'*2\r\n$1\r\na\r\n$1\r\n1\r\n' * 2
    assert c('HGET', 'h', 'x') == b'_\r\n'


def test_hrandfield(c):
    assert c('HRANDFIELD', 'nokey') == b'$-1\r\n'
    assert c('HRANDFIELD', 'nokey', '-5') == b'*0\r\n'
    c('HSET', 'h', 'a', '1', 'b', '2')
    assert c('HRANDFIELD', 'h', '0') == b'*0\r\n'
    assert c('HRANDFIELD', 'h', '5') == b'*2\r\n$1\r\na\r\n$1\r\nb\r\n'
    assert c('HRANDFIELD', 'h', '2', 'WITHVALUES') == b'*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n'
    assert c('HRANDFIELD', 'h', '-6').startswith(b'*6\r\n')
    assert c('HRANDFIELD', 'h', '1', 'x') == b'-ERR syntax error\r\n'
    assert c('HRANDFIELD', 'h', '-9223372036854775808') == (
        b'-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n')
    assert c('HRANDFIELD', 'h', '-4611686018427387904', 'WITHVALUES') == b'-ERR value is out of range\r\n'
    for n in (1, 2, 30):
        big = [x for i in range(200) for x in (b'f%d' % i, b'v')]
        c('HSET', 'big', *big)
        reply = c('HRANDFIELD', 'big', str(n))
        fields = reply.split(b'\r\n')[2::2][:n]
        assert len(set(fields)) == n


@pytest.mark.parametrize('n,enc', [(512, b'listpack'), (513, b'hashtable')])
def test_encoding_by_entries(c, n, enc):
    c('HSET', 'h', *[x for i in range(n) for x in (b'f%d' % i, b'v')])
    assert c('OBJECT', 'ENCODING', 'h') == b'$%d\r\n%s\r\n' % (len(enc), enc)
    assert c('HLEN', 'h') == b':%d\r\n' % n


@pytest.mark.parametrize('size,enc', [(64, b'listpack'), (65, b'hashtable')])
def test_encoding_by_value_and_field_length(c, size, enc):
    c('HSET', 'v', 'f', 'x' * size)
    c('HSET', 'k', 'x' * size, '1')
    c('HSET', 'i', 'f', '1')
    c('HINCRBY', 'i', 'x' * size, '1')
    for key in ('v', 'k', 'i'):
        assert c('OBJECT', 'ENCODING', key) == b'$%d\r\n%s\r\n' % (len(enc), enc), key


def test_conversion_is_one_way_and_keeps_fields(c):
    c('HSET', 'h', *[x for i in range(513) for x in (b'f%d' % i, b'v%d' % i)])
    for i in range(512):
        c('HDEL', 'h', 'f%d' % i)
    assert c('OBJECT', 'ENCODING', 'h') == b'$9\r\nhashtable\r\n'
    assert c('HGETALL', 'h') == b'*2\r\n$4\r\nf512\r\n$4\r\nv512\r\n'


def test_config_set_thresholds(c):
    c('CONFIG', 'SET', 'hash-max-listpack-entries', '2')
    c('HSET', 'h', 'a', '1', 'b', '2')
    assert c('OBJECT', 'ENCODING', 'h') == b'$8\r\nlistpack\r\n'
    c('HSET', 'h', 'c', '3')
    assert c('OBJECT', 'ENCODING', 'h') == b'$9\r\nhashtable\r\n'


def test_big_values_and_fields(c):
    val = b'v' * 200000
    c('HSET', 'h', 'f', val, b'k' * 70000, 'x')
    assert c('HGET', 'h', 'f') == b'$200000\r\n' + val + b'\r\n'
    assert c('HSTRLEN', 'h', 'f') == b':200000\r\n'
    assert c('HGET', 'h', b'k' * 70000) == b'$1\r\nx\r\n'
    assert c('COPY', 'h', 'h2') == b':1\r\n'
    assert c('HDEL', 'h', b'k' * 70000) == b':1\r\n'
    assert c('HGET', 'h2', b'k' * 70000) == b'$1\r\nx\r\n'
    assert c('HGET', 'h2', 'f') == b'$200000\r\n' + val + b'\r\n'
    assert c('HSCAN', 'h2', '0', 'MATCH', 'k*').startswith(b'*2\r\n$1\r\n0\r\n*2\r\n$70000\r\n')


def test_hscan(c):
    c('HSET', 'small', 'a', '1', 'b', '2')
    assert c('HSCAN', 'small', '0') == b'*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n'
    assert c('HSCAN', 'small', '0', 'MATCH', 'b*') == b'*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n'
    assert c('HSCAN', 'nokey', '0', 'bad') == b'*2\r\n$1\r\n0\r\n*0\r\n'
    assert c('HSCAN', 'small', '0', 'COUNT', '0') == b'-ERR syntax error\r\n'
    assert c('HSCAN', 'small', 'x') == b'-ERR invalid cursor\r\n'
    assert c('HSCAN', 'small', '0', 'TYPE', 'hash') == b'-ERR syntax error\r\n'


def test_hscan_returns_every_field_across_resizes(c):
    c('HSET', 'h', *[x for i in range(1000) for x in (b'f%d' % i, b'v')])
    cursor, seen, step = b'0', set(), 0
    while True:
        reply = c('HSCAN', 'h', cursor, 'COUNT', '20')
        parts = reply.split(b'\r\n')
        cursor = parts[2]
        seen.update(p for p in parts[5::2][::2] if p.startswith(b'f'))
        step += 1
        if step == 5:       # grow and shrink the table under the scan
            c('HSET', 'h', *[x for i in range(1000, 4000) for x in (b'g%d' % i, b'v')])
        if step == 10:
            c('HDEL', 'h', *[b'g%d' % i for i in range(1000, 4000)])
        if cursor == b'0':
            break
    assert {b'f%d' % i for i in range(1000)} <= seen


def test_copy_rename_memory_del(c):
    c('HSET', 'h', *[x for i in range(600) for x in (b'f%d' % i, b'v')])
    c('HSET', 'small', 'a', '1')
    assert c('COPY', 'h', 'h2') == b':1\r\n'
    assert c('COPY', 'small', 'small2') == b':1\r\n'
    assert c('HLEN', 'h2') == b':600\r\n'
    c('HDEL', 'h', 'f0')
    assert c('HEXISTS', 'h2', 'f0') == b':1\r\n'
    assert c('RENAME', 'h2', 'h3') == b'+OK\r\n'
    assert c('HGET', 'h3', 'f599') == b'$1\r\nv\r\n'
    usage = int(c('MEMORY', 'USAGE', 'h3')[1:-2])
    assert usage > 600 * 16
    assert c('DEL', 'h', 'h3', 'small', 'small2') == b':4\r\n'
    assert c('DBSIZE') == b':0\r\n'


def test_keys_longer_than_a_page(c):
    """A collection whose key spreads over extents keeps its root record whole."""
    for n in (65536 - 40 - 10, 65536 - 40, 70000, 131072 - 30):
        key = b'k' * n
        assert c('HSET', key, 'a', '1') == b':1\r\n', n
        assert c('HGET', key, 'a') == b'$1\r\n1\r\n'
        assert c('SADD', key + b's', 'x') == b':1\r\n'
        assert c('SUNIONSTORE', key + b'd', key + b's') == b':1\r\n'
        assert c('SMEMBERS', key + b'd') == b'*1\r\n$1\r\nx\r\n'
        assert c('RENAME', key, 'short') == b'+OK\r\n'
        assert c('HGET', 'short', 'a') == b'$1\r\n1\r\n'
        assert c('DEL', 'short', key + b's', key + b'd') == b':3\r\n'


def test_key_length_that_would_split_the_root(c):
    """A key ending in the last bytes of an extent page holds a hash or set:
    the root moves to the next page (tests/unit/test_long_key_collections.py)."""
    key = b'k' * (131072 - 12)
    assert c('HSET', key, 'a', '1') == b':1\r\n'
    assert c('SADD', key + b's', 'a') == b':1\r\n'
    c('HSET', 'h', 'a', '1')
    assert c('COPY', 'h', key + b'c') == b':1\r\n'
    assert c('RENAME', 'h', key + b'r') == b'+OK\r\n'
    assert c('HGET', key + b'r', 'a') == b'$1\r\n1\r\n'
    assert c('HGET', key + b'c', 'a') == b'$1\r\n1\r\n'
    assert c('EXISTS', 'h') == b':0\r\n'


def test_eviction_frees_whole_collections(c):
    """Evicted hashes and sets give back every chunk (the teardown's walk finds
    no leak) and memory stays under maxmemory."""
    assert c('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random') == b'+OK\r\n'
    assert c('CONFIG', 'SET', 'maxmemory', '3000000') == b'+OK\r\n'
    for i in range(300):
        c('HSET', 'h%d' % i, *[x for j in range(200) for x in (b'f%d' % j, b'v' * 20)])
        c('SADD', 's%d' % i, *[b'm%d' % j for j in range(200)])
    info = c('INFO', 'memory')
    used = int(info.split(b'used_memory:')[1].split(b'\r\n')[0])
    assert used <= 3000000 + 100000        # eviction runs before a command, as Redis
    assert int(c('DBSIZE')[1:-2]) < 600
    c('CONFIG', 'SET', 'maxmemory', '0')
