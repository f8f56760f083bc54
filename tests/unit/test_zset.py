"""Sorted sets through the dispatcher: exact reply bytes (RESP2 and RESP3), error
texts as Redis 7.0, the listpack -> skiplist conversion at the configured
thresholds, and generic commands (COPY, RENAME, DEL, OBJECT, MEMORY, SCAN TYPE)
on zsets. Each test ends with the allocator balanced (the core fixture)."""
import random

import pytest


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def bulk(*items):
    return b''.join(b'$%d\r\n%s\r\n' % (len(i), i) for i in items)


def arr(*items):
    return b'*%d\r\n' % len(items) + bulk(*items)


def encoding(client, key):
    return call(client, 'OBJECT', 'ENCODING', key)


def test_zadd_and_range_replies(client):
    assert call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 1.5, 'c') == b':3\r\n'
    assert call(client, 'ZRANGE', 'z', 0, -1) == arr(b'a', b'c', b'b')
    assert call(client, 'ZRANGE', 'z', 0, -1, 'WITHSCORES') == arr(b'a', b'1', b'c', b'1.5', b'b', b'2')
    assert call(client, 'ZREVRANGE', 'z', 0, 0, 'WITHSCORES') == arr(b'b', b'2')
    assert call(client, 'ZSCORE', 'z', 'c') == bulk(b'1.5')
    assert call(client, 'ZSCORE', 'z', 'nope') == b'$-1\r\n'
    assert call(client, 'ZMSCORE', 'z', 'a', 'nope') == b'*2\r\n' + bulk(b'1') + b'$-1\r\n'
    assert call(client, 'ZCARD', 'z') == b':3\r\n'
    assert call(client, 'ZRANK', 'z', 'b') == b':2\r\n'
    assert call(client, 'ZREVRANK', 'z', 'b') == b':0\r\n'
    assert call(client, 'ZRANK', 'z', 'x') == b'$-1\r\n'


def test_score_formatting_as_redis_7_0(client):
    call(client, 'ZADD', 'z', '0.1', 'a', '1e20', 'b', 'inf', 'c', '-inf', 'd',
         '3.0000000000000001e+20', 'e', '0.3', 'f')
    assert call(client, 'ZSCORE', 'z', 'a') == bulk(b'0.10000000000000001')
    assert call(client, 'ZSCORE', 'z', 'b') == bulk(b'1e+20')
    assert call(client, 'ZSCORE', 'z', 'c') == bulk(b'inf')
    assert call(client, 'ZSCORE', 'z', 'd') == bulk(b'-inf')
    assert call(client, 'ZSCORE', 'z', 'e') == bulk(b'3e+20')
    assert call(client, 'ZSCORE', 'z', 'f') == bulk(b'0.29999999999999999')
    call(client, 'HELLO', '3')
    assert call(client, 'ZSCORE', 'z', 'c') == b',inf\r\n'
    assert call(client, 'ZSCORE', 'z', 'a') == b',0.10000000000000001\r\n'
    assert call(client, 'ZRANGE', 'z', 0, 0, 'WITHSCORES') == b'*1\r\n*2\r\n' + bulk(b'd') + b',-inf\r\n'
    assert call(client, 'ZPOPMIN', 'z') == b'*2\r\n' + bulk(b'd') + b',-inf\r\n'
    assert call(client, 'ZPOPMIN', 'z', 1) == b'*1\r\n*2\r\n' + bulk(b'a') + b',0.10000000000000001\r\n'


def test_zadd_options_and_errors(client):
    assert call(client, 'ZADD', 'z', 'XX', 1, 'a') == b':0\r\n'
    assert call(client, 'EXISTS', 'z') == b':0\r\n'
    assert call(client, 'ZADD', 'z', 'XX', 'INCR', 1, 'a') == b'$-1\r\n'
    assert call(client, 'ZADD', 'z', 1, 'a') == b':1\r\n'
    assert call(client, 'ZADD', 'z', 'NX', 5, 'a', 2, 'b') == b':1\r\n'
    assert call(client, 'ZADD', 'z', 'CH', 'GT', 0, 'a', 3, 'b') == b':1\r\n'
    assert call(client, 'ZADD', 'z', 'LT', 'INCR', 1, 'a') == b'$-1\r\n'
    assert call(client, 'ZADD', 'z', 'INCR', 2.5, 'a') == bulk(b'3.5')
    assert call(client, 'ZINCRBY', 'z', 'inf', 'a') == bulk(b'inf')
    assert call(client, 'ZINCRBY', 'z', '-inf', 'a') == b'-ERR resulting score is not a number (NaN)\r\n'
    assert call(client, 'ZADD', 'z', 'NX', 'XX', 1, 'a') == (
        b'-ERR XX and NX options at the same time are not compatible\r\n')
    assert call(client, 'ZADD', 'z', 'GT', 'LT', 1, 'a') == (
        b'-ERR GT, LT, and/or NX options at the same time are not compatible\r\n')
    assert call(client, 'ZADD', 'z', 'INCR', 1, 'a', 2, 'b') == (
        b'-ERR INCR option supports a single increment-element pair\r\n')
    assert call(client, 'ZADD', 'z', 'nan', 'a') == b'-ERR value is not a valid float\r\n'
    assert call(client, 'ZADD', 'z', '1e400', 'a') == b'-ERR value is not a valid float\r\n'
    assert call(client, 'ZADD', 'z', 1, 'a', 2) == b'-ERR syntax error\r\n'
    call(client, 'SET', 's', 'v')
    assert call(client, 'ZADD', 's', 1, 'a') == (
        b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n')
    assert call(client, 'ZRANGE', 's', 0, 1) == (
        b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n')


def test_score_and_lex_ranges(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 3, 'c', 4, 'd')
    assert call(client, 'ZRANGEBYSCORE', 'z', '(1', '3') == arr(b'b', b'c')
    assert call(client, 'ZRANGEBYSCORE', 'z', '-inf', '+inf', 'LIMIT', 1, 2) == arr(b'b', b'c')
    assert call(client, 'ZREVRANGEBYSCORE', 'z', '+inf', '(2') == arr(b'd', b'c')
    assert call(client, 'ZRANGE', 'z', '(4', 'inf', 'BYSCORE') == b'*0\r\n'
    assert call(client, 'ZRANGE', 'z', 3, 1, 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES') == arr(b'c', b'3')
    assert call(client, 'ZCOUNT', 'z', '(1', '(4') == b':2\r\n'
    assert call(client, 'ZRANGEBYSCORE', 'z', 'x', 1) == b'-ERR min or max is not a float\r\n'
    assert call(client, 'ZRANGE', 'z', 0, 1, 'LIMIT', 0, 1) == (
        b'-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n')
    call(client, 'ZADD', 'l', 0, 'a', 0, 'b', 0, 'c', 0, 'd')
    assert call(client, 'ZRANGEBYLEX', 'l', '[b', '(d') == arr(b'b', b'c')
    assert call(client, 'ZREVRANGEBYLEX', 'l', '+', '(b') == arr(b'd', b'c')
    assert call(client, 'ZLEXCOUNT', 'l', '-', '+') == b':4\r\n'
    assert call(client, 'ZRANGEBYLEX', 'l', 'b', '+') == b'-ERR min or max not valid string range item\r\n'
    assert call(client, 'ZRANGE', 'l', '-', '+', 'BYLEX', 'WITHSCORES') == (
        b'-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n')
    assert call(client, 'ZREMRANGEBYLEX', 'l', '(a', '[c') == b':2\r\n'
    assert call(client, 'ZRANGE', 'l', 0, -1) == arr(b'a', b'd')


def test_emptied_zset_disappears(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 3, 'c')
    assert call(client, 'ZREMRANGEBYSCORE', 'z', 2, 'inf') == b':2\r\n'
    assert call(client, 'ZREM', 'z', 'a', 'x') == b':1\r\n'
    assert call(client, 'EXISTS', 'z') == b':0\r\n'
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b')
    assert call(client, 'ZPOPMAX', 'z', 5) == arr(b'b', b'2', b'a', b'1')
    assert call(client, 'TYPE', 'z') == b'+none\r\n'
    call(client, 'ZADD', 'z', 1, 'a')
    assert call(client, 'ZREMRANGEBYRANK', 'z', 0, -1) == b':1\r\n'
    assert call(client, 'EXISTS', 'z') == b':0\r\n'


@pytest.mark.parametrize('entries', [0, 1, 5, 128])
def test_conversion_at_entries_threshold(client, entries):
    assert call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', entries) == b'+OK\r\n'
    for i in range(entries):
        call(client, 'ZADD', 'z', i, 'm%d' % i)
    if entries:
        assert encoding(client, 'z') == bulk(b'listpack')
    call(client, 'ZADD', 'z', entries, 'last')
    assert encoding(client, 'z') == bulk(b'skiplist')
    assert call(client, 'ZCARD', 'z') == b':%d\r\n' % (entries + 1)
    assert call(client, 'ZRANGE', 'z', -1, -1) == arr(b'last')
    call(client, 'ZREMRANGEBYRANK', 'z', 0, -2)
    assert encoding(client, 'z') == bulk(b'skiplist')        # never converts back


def test_conversion_at_value_threshold(client):
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-value', 10)
    call(client, 'ZADD', 'z', 1, 'x' * 10)
    assert encoding(client, 'z') == bulk(b'listpack')
    call(client, 'ZADD', 'z', 2, 'y' * 11)
    assert encoding(client, 'z') == bulk(b'skiplist')
    call(client, 'ZADD', 'big', 1, 'y' * 11)
    assert encoding(client, 'big') == bulk(b'skiplist')


def test_store_results_take_the_small_encoding(client):
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', 4)
    for i in range(10):
        call(client, 'ZADD', 'z', i, 'm%d' % i)
    assert encoding(client, 'z') == bulk(b'skiplist')
    assert call(client, 'ZRANGESTORE', 'd', 'z', 0, 2) == b':3\r\n'
    assert encoding(client, 'd') == bulk(b'listpack')
    assert call(client, 'ZUNIONSTORE', 'u', 2, 'z', 'd', 'WEIGHTS', 1, 10) == b':10\r\n'
    assert encoding(client, 'u') == bulk(b'skiplist')
    assert call(client, 'ZRANGE', 'u', 0, 3, 'WITHSCORES') == arr(b'm0', b'0', b'm3', b'3', b'm4', b'4', b'm5', b'5')
    assert call(client, 'ZINTERSTORE', 'i', 2, 'z', 'd', 'AGGREGATE', 'MAX') == b':3\r\n'
    assert encoding(client, 'i') == bulk(b'listpack')
    assert call(client, 'ZDIFF', 2, 'z', 'd') == arr(*[b'm%d' % i for i in range(3, 10)])
    assert call(client, 'ZINTERCARD', 2, 'z', 'd', 'LIMIT', 2) == b':2\r\n'
    assert call(client, 'ZUNIONSTORE', 'u', 1, 'nokey') == b':0\r\n'
    assert call(client, 'EXISTS', 'u') == b':0\r\n'


def test_generic_commands_on_zsets(client):
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', 4)
    for key, n in ((b'small', 3), (b'big', 50)):
        for i in range(n):
            call(client, 'ZADD', key, i, 'm%d' % i)
        assert call(client, 'COPY', key, key + b'2') == b':1\r\n'
        assert call(client, 'ZRANGE', key + b'2', 0, -1) == call(client, 'ZRANGE', key, 0, -1)
        assert call(client, 'TYPE', key) == b'+zset\r\n'
        assert int(call(client, 'MEMORY', 'USAGE', key)[1:-2]) > 40 + 16 * n
    assert call(client, 'RENAME', 'big', 'moved') == b'+OK\r\n'
    assert call(client, 'ZCARD', 'moved') == b':50\r\n'
    assert call(client, 'ZSCORE', 'moved', 'm42') == bulk(b'42')
    call(client, 'SET', 'str', 'v')
    reply = call(client, 'SCAN', 0, 'TYPE', 'zset', 'COUNT', 100)
    assert sorted(reply.split(b'\r\n')[5::2]) == [b'big2', b'moved', b'small', b'small2']
    assert call(client, 'DEL', 'moved', 'small', 'big2', 'small2') == b':4\r\n'


def test_zscan_returns_every_member(client):
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', 4)
    members = {b'm%d' % i: i for i in range(300)}
    for m, s in members.items():
        call(client, 'ZADD', 'z', s, m)
    seen, cursor = {}, b'0'
    while True:
        reply = call(client, 'ZSCAN', 'z', cursor, 'COUNT', 7).split(b'\r\n')
        cursor = reply[2]
        items = reply[5::2]
        seen.update({items[i]: int(items[i + 1]) for i in range(0, len(items) - 1, 2)})
        if cursor == b'0':
            break
    assert seen == members
    assert call(client, 'ZSCAN', 'z', 'x') == b'-ERR invalid cursor\r\n'
    assert call(client, 'ZSCAN', 'none', 0) == b'*2\r\n$1\r\n0\r\n*0\r\n'


def test_random_and_pop_commands(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 3, 'c')
    assert call(client, 'ZRANDMEMBER', 'z') in (bulk(b'a'), bulk(b'b'), bulk(b'c'))
    assert len(call(client, 'ZRANDMEMBER', 'z', -10).split(b'\r\n')) == 22
    assert call(client, 'ZRANDMEMBER', 'z', 0) == b'*0\r\n'
    two = call(client, 'ZRANDMEMBER', 'z', 2).split(b'\r\n')
    assert two[0] == b'*2' and two[2] != two[4]
    assert call(client, 'ZMPOP', 2, 'none', 'z', 'MAX', 'COUNT', 2) == (
        b'*2\r\n' + bulk(b'z') + b'*2\r\n*2\r\n' + bulk(b'c', b'3') + b'*2\r\n' + bulk(b'b', b'2'))
    assert call(client, 'ZMPOP', 1, 'none', 'MIN') == b'*-1\r\n'
    assert call(client, 'ZMPOP', 0, 'z', 'MIN') == b'-ERR numkeys should be greater than 0\r\n'
    assert call(client, 'ZPOPMIN', 'z', -1) == b'-ERR value is out of range, must be positive\r\n'


def test_against_a_python_model(client):
    """Random ZADD/ZREM/ZINCRBY on a zset that crosses the threshold, checked
    against a dict after each step by rank, score and count queries."""
    rng = random.Random(7)
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', 16)
    model = {}
    for step in range(600):
        m = b'm%d' % rng.randrange(60)
        op = rng.random()
        if op < 0.6:
            s = rng.randrange(-20, 20) / 2
            call(client, 'ZADD', 'z', s, m)
            model[m] = s
        elif op < 0.8:
            call(client, 'ZREM', 'z', m)
            model.pop(m, None)
        else:
            call(client, 'ZINCRBY', 'z', 1, m)
            model[m] = model.get(m, 0) + 1
        order = sorted(model, key=lambda k: (model[k], k))
        if step % 20 == 0 and order:
            assert call(client, 'ZRANGE', 'z', 0, -1) == arr(*order)
            i = rng.randrange(len(order))
            assert call(client, 'ZRANK', 'z', order[i]) == b':%d\r\n' % i
            assert call(client, 'ZCOUNT', 'z', 0, 5) == b':%d\r\n' % sum(0 <= v <= 5 for v in model.values())
    call(client, 'DEL', 'z')


def test_zrandmember_distinct_members_of_a_big_zset(client):
    for i in range(0, 1000, 100):
        call(client, 'ZADD', 'z', *[x for j in range(i, i + 100) for x in (j, 'm%d' % j)])
    for count in (1, 50, 300, 999):
        reply = call(client, 'ZRANDMEMBER', 'z', count).split(b'\r\n')
        members = reply[2::2][:count]
        assert reply[0] == b'*%d' % count and len(set(members)) == count
        assert all(m.startswith(b'm') and int(m[1:]) < 1000 for m in members)


def test_zset_under_a_key_longer_than_a_page(client):
    key = b'k' * 70000
    call(client, 'CONFIG', 'SET', 'zset-max-listpack-entries', 2)
    assert call(client, 'ZADD', key, 1, 'a', 2, 'b') == b':2\r\n'
    assert encoding(client, key) == bulk(b'listpack')
    assert call(client, 'ZADD', key, 3, 'c') == b':1\r\n'
    assert encoding(client, key) == bulk(b'skiplist')
    assert call(client, 'COPY', key, 'copy') == b':1\r\n'
    assert call(client, 'RENAME', 'copy', key + b'2') == b'+OK\r\n'
    assert call(client, 'ZRANGE', key + b'2', 0, -1) == arr(b'a', b'b', b'c')
    assert call(client, 'ZPOPMIN', key, 3) == arr(b'a', b'1', b'b', b'2', b'c', b'3')
    assert call(client, 'EXISTS', key) == b':0\r\n'


def test_member_longer_than_a_node(client):
    long = b'x' * 70000
    assert call(client, 'ZADD', 'z', 1, long) == b':1\r\n'
    assert call(client, 'ZADD', 'z', 2, b'x' * 60000) == b':1\r\n'
    assert call(client, 'ZSCORE', 'z', long) == bulk(b'1')
    assert call(client, 'ZRANGE', 'z', 0, 0) == b'*1\r\n' + bulk(long)
    assert call(client, 'ZREM', 'z', long) == b':1\r\n'
    assert call(client, 'ZCARD', 'z') == b':1\r\n'


def test_long_members_through_every_path(client):
    """Long members (one page and more) moved, copied, stored, popped and
    deleted: the invariant walk of the teardown finds every element chunk and
    page reached and used_memory exact."""
    a, b, c = b'a' * 64001, b'b' * 65636, b'p' * 200000
    c1, c2 = c + b'1', c + b'2'
    assert call(client, 'ZADD', 'z', 1, a, 2, b, 3, c, 3, c2, 3, c1, 0, 'x') == b':6\r\n'
    assert call(client, 'ZRANGE', 'z', 3, 5) == b'*3\r\n' + bulk(c) + bulk(c1) + bulk(c2)
    assert call(client, 'ZINCRBY', 'z', 10, a) == bulk(b'11')
    assert call(client, 'ZRANK', 'z', c1) == b':3\r\n'
    assert call(client, 'ZRANGESTORE', 'd', 'z', 0, -1) == b':6\r\n'
    assert call(client, 'ZUNIONSTORE', 'u', 2, 'z', 'd') == b':6\r\n'
    assert call(client, 'ZSCORE', 'u', c2) == bulk(b'6')
    assert call(client, 'COPY', 'z', 'z2') == b':1\r\n'
    assert call(client, 'RENAME', 'z2', 'z3') == b'+OK\r\n'
    usage = int(call(client, 'MEMORY', 'USAGE', 'z3')[1:-2])
    assert usage > len(a) + len(b) + 3 * len(c)
    assert call(client, 'ZPOPMAX', 'z3') == b'*2\r\n' + bulk(a) + bulk(b'11')
    assert call(client, 'ZREMRANGEBYRANK', 'd', 1, 3) == b':3\r\n'
    assert call(client, 'ZREM', 'z', c1, b) == b':2\r\n'
    assert call(client, 'ZRANGE', 'z', 0, -1) == b'*4\r\n' + bulk(b'x') + bulk(c) + bulk(c2) + bulk(a)
    assert call(client, 'DEL', 'u') == b':1\r\n'
