"""Plain sets as inputs of ZUNION, ZINTER, ZDIFF, their STORE forms and
ZINTERCARD, as Redis 7.0: each set member counts with score 1 (times its
WEIGHT), in both set encodings (intset, hashtable); any other type stays
WRONGTYPE. Exact reply bytes, checked against redis-server 7.0.15. Each test
ends with the allocator balanced (the core fixture)."""
import pytest

WRONG = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def bulk(*items):
    return b''.join(b'$%d\r\n%s\r\n' % (len(i), i) for i in items)


def arr(*items):
    return b'*%d\r\n' % len(items) + bulk(*items)


@pytest.fixture
def keys(client):
    """zs = {a:1, b:2, 3:3}; s = {a, 3, x} (hashtable); ints = {1, 2, 3} (intset)."""
    call(client, 'ZADD', 'zs', 1, 'a', 2, 'b', 3, '3')
    call(client, 'SADD', 's', 'a', '3', 'x')
    call(client, 'SADD', 'ints', 1, 2, 3)
    call(client, 'SET', 'str', 'v')
    assert call(client, 'OBJECT', 'ENCODING', 's') == bulk(b'hashtable')
    assert call(client, 'OBJECT', 'ENCODING', 'ints') == bulk(b'intset')


def test_zunion_with_sets(client, keys):
    assert call(client, 'ZUNION', 2, 'zs', 's', 'WITHSCORES') == arr(
        b'x', b'1', b'a', b'2', b'b', b'2', b'3', b'4')
    assert call(client, 'ZUNION', 3, 'zs', 's', 'ints', 'WITHSCORES') == arr(
        b'1', b'1', b'2', b'1', b'x', b'1', b'a', b'2', b'b', b'2', b'3', b'5')
    assert call(client, 'ZUNION', 2, 's', 'nokey', 'WITHSCORES') == arr(
        b'3', b'1', b'a', b'1', b'x', b'1')
    assert call(client, 'ZUNION', 1, 'ints', 'WEIGHTS', 0.1, 'WITHSCORES') == arr(
        b'1', b'0.10000000000000001', b'2', b'0.10000000000000001', b'3', b'0.10000000000000001')
    assert call(client, 'ZUNION', 2, 'zs', 's', 'AGGREGATE', 'MAX', 'WEIGHTS', -1, -2, 'WITHSCORES') == arr(
        b'3', b'-2', b'b', b'-2', b'x', b'-2', b'a', b'-1')
    # the same set twice, weights whose products sum to NaN: the score becomes 0
    assert call(client, 'ZUNION', 2, 's', 's', 'WEIGHTS', 'inf', '-inf', 'WITHSCORES') == arr(
        b'3', b'0', b'a', b'0', b'x', b'0')


def test_zinter_with_sets_weights_and_aggregate(client, keys):
    assert call(client, 'ZINTER', 2, 'zs', 's', 'WEIGHTS', 2, 5, 'WITHSCORES') == arr(
        b'a', b'7', b'3', b'11')
    assert call(client, 'ZINTER', 2, 'zs', 's', 'AGGREGATE', 'MIN', 'WITHSCORES') == arr(
        b'3', b'1', b'a', b'1')
    assert call(client, 'ZINTER', 2, 'zs', 's', 'AGGREGATE', 'MAX', 'WITHSCORES') == arr(
        b'a', b'1', b'3', b'3')
    assert call(client, 'ZINTER', 2, 'ints', 's', 'WITHSCORES') == arr(b'3', b'2')
    assert call(client, 'ZINTER', 3, 'zs', 's', 'ints') == arr(b'3')
    assert call(client, 'ZINTER', 2, 's', 's', 'WITHSCORES') == arr(b'3', b'2', b'a', b'2', b'x', b'2')
    assert call(client, 'ZINTER', 2, 's', 'zs', 'WEIGHTS', 'inf', 0, 'WITHSCORES') == arr(
        b'3', b'inf', b'a', b'inf')
    assert call(client, 'ZINTER', 2, 's', 'nokey') == b'*0\r\n'


def test_zdiff_with_sets(client, keys):
    assert call(client, 'ZDIFF', 2, 's', 'zs', 'WITHSCORES') == arr(b'x', b'1')
    assert call(client, 'ZDIFF', 2, 'zs', 's', 'WITHSCORES') == arr(b'b', b'2')
    assert call(client, 'ZDIFF', 2, 'ints', 'zs', 'WITHSCORES') == arr(b'1', b'1', b'2', b'1')
    assert call(client, 'ZDIFF', 1, 's') == arr(b'3', b'a', b'x')
    assert call(client, 'ZDIFF', 2, 'nokey', 's') == b'*0\r\n'


def test_zintercard_with_sets(client, keys):
    assert call(client, 'ZINTERCARD', 2, 'zs', 's') == b':2\r\n'
    assert call(client, 'ZINTERCARD', 2, 's', 'ints') == b':1\r\n'
    assert call(client, 'ZINTERCARD', 1, 's', 'LIMIT', 2) == b':2\r\n'
    assert call(client, 'ZINTERCARD', 2, 's', 's', 'LIMIT', 0) == b':3\r\n'


def test_store_forms_with_sets(client, keys):
    assert call(client, 'ZUNIONSTORE', 'd', 2, 's', 'ints') == b':5\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'd') == bulk(b'listpack')
    assert call(client, 'ZRANGE', 'd', 0, -1, 'WITHSCORES') == arr(
        b'1', b'1', b'2', b'1', b'a', b'1', b'x', b'1', b'3', b'2')
    assert call(client, 'ZINTERSTORE', 'd', 2, 's', 'ints') == b':1\r\n'
    assert call(client, 'ZRANGE', 'd', 0, -1, 'WITHSCORES') == arr(b'3', b'2')
    assert call(client, 'ZDIFFSTORE', 'd', 1, 'ints') == b':3\r\n'
    assert call(client, 'ZRANGE', 'd', 0, -1, 'WITHSCORES') == arr(b'1', b'1', b'2', b'1', b'3', b'1')
    assert call(client, 'ZINTERSTORE', 'd', 2, 's', 'nokey') == b':0\r\n'
    assert call(client, 'EXISTS', 'd') == b':0\r\n'
    # the destination may be a source set: it becomes a zset
    assert call(client, 'ZDIFFSTORE', 's', 2, 's', 'zs') == b':1\r\n'
    assert call(client, 'TYPE', 's') == b'+zset\r\n'
    assert call(client, 'ZRANGE', 's', 0, -1, 'WITHSCORES') == arr(b'x', b'1')


def test_other_types_stay_wrongtype(client, keys):
    call(client, 'HSET', 'h', 'f', 'v')
    for args in (('ZUNION', 2, 'zs', 'str'), ('ZINTER', 2, 's', 'str'), ('ZDIFF', 2, 's', 'str'),
                 ('ZINTERCARD', 2, 's', 'str'), ('ZUNIONSTORE', 'd', 2, 's', 'str'),
                 ('ZINTERSTORE', 'd', 2, 's', 'h'), ('ZDIFFSTORE', 'd', 2, 'h', 's'),
                 ('ZUNION', 2, 'str', 'x', 'WEIGHTS')):     # the type is checked before the options
        assert call(client, *args) == WRONG, args
    assert call(client, 'EXISTS', 'd') == b':0\r\n'


def test_resp3_scores_of_set_members(client, keys):
    call(client, 'HELLO', 3)
    assert call(client, 'ZUNION', 2, 'zs', 'ints', 'WITHSCORES') == (
        b'*5\r\n' + b''.join(b'*2\r\n' + bulk(m) + b',' + s + b'\r\n' for m, s in (
            (b'1', b'1'), (b'2', b'1'), (b'a', b'1'), (b'b', b'2'), (b'3', b'4'))))
    assert call(client, 'ZINTER', 2, 'zs', 'ints', 'WITHSCORES') == b'*1\r\n*2\r\n' + bulk(b'3') + b',4\r\n'


def test_big_sets_both_encodings(client):
    """Sets past the intset limit and long members: results and their encodings."""
    call(client, 'SADD', 'big', *range(600))
    call(client, 'SADD', 'hs', *('m%d' % i for i in range(200)))
    call(client, 'ZADD', 'zs', *[x for i in range(0, 1000, 7) for x in (i, i)])
    assert call(client, 'OBJECT', 'ENCODING', 'big') == bulk(b'hashtable')
    assert call(client, 'ZINTERCARD', 2, 'big', 'zs') == b':86\r\n'
    assert call(client, 'ZINTERCARD', 2, 'big', 'zs', 'LIMIT', 10) == b':10\r\n'
    assert call(client, 'ZINTERCARD', 3, 'big', 'hs', 'zs') == b':0\r\n'
    got = call(client, 'ZINTER', 2, 'zs', 'big', 'WEIGHTS', 0.5, 3, 'AGGREGATE', 'MAX', 'WITHSCORES')
    assert got.startswith(b'*172\r\n' + bulk(b'0', b'3', b'7', b'3.5', b'14', b'7'))
    assert call(client, 'ZDIFF', 3, 'zs', 'big', 'hs', 'WITHSCORES').startswith(
        b'*114\r\n' + bulk(b'602', b'602', b'609', b'609'))
    assert call(client, 'ZUNIONSTORE', 'd', 2, 'big', 'hs') == b':800\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'd') == bulk(b'skiplist')
    assert call(client, 'ZRANGE', 'd', 0, 2, 'WITHSCORES') == arr(b'0', b'1', b'1', b'1', b'10', b'1')
    assert call(client, 'ZRANGE', 'd', -1, -1, 'WITHSCORES') == arr(b'm99', b'1')
    call(client, 'SADD', 'long', b'y' * 100, 5)
    assert call(client, 'ZUNIONSTORE', 'd', 1, 'long') == b':2\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'd') == bulk(b'skiplist')
    assert call(client, 'ZINTERSTORE', 'd', 2, 'long', 'big') == b':1\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'd') == bulk(b'listpack')
    assert call(client, 'ZRANGE', 'd', 0, -1, 'WITHSCORES') == arr(b'5', b'2')


def test_set_member_longer_than_a_node(client):
    """A set member longer than a skiplist node holds joins a result as a long
    member (kept in an element of its own)."""
    long = b'q' * 70000
    call(client, 'SADD', 's', 'a', long)
    assert call(client, 'ZUNION', 1, 's') == b'*2\r\n' + bulk(b'a') + bulk(long)
    assert call(client, 'ZINTERSTORE', 'd', 1, 's') == b':2\r\n'
    assert call(client, 'ZSCORE', 'd', long) == bulk(b'1')
    assert call(client, 'ZINTERCARD', 1, 's') == b':2\r\n'
