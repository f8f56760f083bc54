"""String and keyspace commands through redis-py, RESP2 and RESP3: the values and
Python types redis-py decodes from cachecyt must be those it decodes from a real
redis-server for the same calls."""
import pytest
import redis

CALLS = [
    ('set', 'k', 'v'), ('get', 'k'), ('get', 'missing'), ('set', 'k', 'v2', None, None, True),
    ('set', 'n', 10, None, None, False, True), ('setnx', 'k', 'x'), ('setnx', 'new', 'x'),
    ('setex', 'e', 100, 'v'), ('psetex', 'pe', 100000, 'v'), ('getset', 'k', 'v3'),
    ('getdel', 'new'), ('getdel', 'new'), ('getex', 'e', None, None, None, None, True),
    ('mset', {'m1': 'a', 'm2': 'b'}), ('msetnx', {'m1': 'x', 'm3': 'y'}),
    ('mget', ['m1', 'm2', 'm3', 'missing']), ('append', 'm1', 'bc'), ('strlen', 'm1'),
    ('getrange', 'm1', 0, 1), ('substr', 'm1', 1, -1), ('setrange', 'm1', 5, 'z'),
    ('get', 'm1'), ('incr', 'c'), ('incrby', 'c', 41), ('decr', 'c'), ('decrby', 'c', 2),
    ('incrbyfloat', 'f', 1.5), ('incrbyfloat', 'f', '1e3'), ('incrbyfloat', 'c', 0.25),
    ('exists', 'k', 'c', 'missing'), ('type', 'k'), ('type', 'missing'), ('expire', 'k', 100),
    ('ttl', 'k'), ('persist', 'k'), ('ttl', 'k'), ('ttl', 'missing'),
    ('expireat', 'k', 4000000000), ('expiretime', 'k'), ('pexpireat', 'k', 4000000000123),
    ('pexpiretime', 'k'), ('pexpire', 'k', 100000, True), ('dbsize',), ('delete', 'k', 'c'),
    ('unlink', 'm1', 'missing'), ('echo', 'hi'), ('ping',), ('swapdb', 0, 1), ('dbsize',),
    ('flushdb',), ('flushall',), ('dbsize',),
]

ERROR_CALLS = [
    ('incr', 'str'), ('incrbyfloat', 'str', 1), ('set', 'k', 'v', -1), ('expire', 'k', 'x'),
    ('getrange', 'str', 'a', 1), ('select', 99), ('execute_command', 'NOSUCHCOMMAND', 'x'),
    ('execute_command', 'GET'),
]


def run(client, call):
    name, *args = call
    try:
        result = getattr(client, name)(*args)
    except redis.ResponseError as e:
        return ('error', str(e))
    return (type(result).__name__, result)


@pytest.fixture(params=[2, 3], ids=['resp2', 'resp3'])
def pair(request, server, redis_ref):
    ours = redis.Redis(host=server[0], port=server[1], protocol=request.param)
    ref = redis.Redis(host=redis_ref[0], port=redis_ref[1], protocol=request.param)
    ours.flushall()
    ref.flushall()
    yield ours, ref
    ours.close()
    ref.close()


def test_decoded_replies_match_redis(pair):
    ours, ref = pair
    for call in CALLS:
        got, want = run(ours, call), run(ref, call)
        if call[0] in ('ttl',) and got[0] == want[0] == 'int' and want[1] >= 0:
            assert abs(got[1] - want[1]) <= 1, call
            continue
        assert got == want, call


def test_errors_match_redis(pair):
    ours, ref = pair
    for client in pair:
        client.set('str', 'abc')
    for call in ERROR_CALLS:
        assert run(ours, call) == run(ref, call), call


def test_resp2_types(r):
    assert r.set('k', 'v') is True
    assert r.get('k') == b'v'
    assert r.incr('n') == 1
    assert r.incrbyfloat('f', 0.5) == 0.5
    assert r.mget('k', 'nope') == [b'v', None]
    assert r.type('k') == b'string'
    assert r.execute_command('GETEX', 'k') == b'v'


def test_resp3_types(r3):
    assert r3.set('k', 'v') is True
    assert r3.get('k') == b'v'
    assert r3.get('nope') is None
    assert r3.incr('n') == 1
    assert r3.exists('k', 'n', 'nope') == 2
    assert r3.ttl('k') == -1
    assert r3.mget('k', 'nope') == [b'v', None]
