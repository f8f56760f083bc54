"""Sorted sets with members longer than a skiplist node holds (64001 bytes,
a page and more, 300000 bytes), against a real redis-server: every command
that reads, moves, copies or returns such a member gets the same reply bytes.
Members that share a 200000-byte prefix and tie on score make the byte order
comparisons run across page boundaries."""
import random

from diff.rawresp import RawConn

rnd = random.Random(7)
L1 = bytes(rnd.randrange(256) for _ in range(64001))
L2 = b'm' * 65636
L3 = bytes(rnd.randrange(256) for _ in range(300000))
P = b'p' * 200000
P1, P2, P3 = P + b'a', P + b'b', P                     # tie on score: compared by bytes
SHORT = b'short'

SCRIPT = [
    ['ZADD', 'k', 1, L1, 2, L2, 3, L3, 1, SHORT],
    ['ZADD', 'k', 5, P1, 5, P2, 5, P3],
    ['ZCARD', 'k'],
    ['OBJECT', 'ENCODING', 'k'],
    ['ZSCORE', 'k', L1], ['ZSCORE', 'k', L3], ['ZSCORE', 'k', P3], ['ZSCORE', 'k', P + b'c'],
    ['ZMSCORE', 'k', L2, P1, L3[:-1], SHORT],
    ['ZRANK', 'k', P2], ['ZREVRANK', 'k', L3], ['ZRANK', 'k', P + b'x'],
    ['ZRANGE', 'k', 0, -1, 'WITHSCORES'],
    ['ZRANGE', 'k', '(1', 5, 'BYSCORE', 'LIMIT', 1, 3],
    ['ZREVRANGE', 'k', 0, 2, 'WITHSCORES'],
    ['ZINCRBY', 'k', 10, L1],                           # moves the node to the end
    ['ZADD', 'k', 'XX', 'CH', 0, L2],
    ['ZADD', 'k', 'NX', 9, L3],
    ['ZADD', 'k', 'GT', 'CH', 4, L3],
    ['ZADD', 'k', 'INCR', '0.5', P1],
    ['ZRANGE', 'k', 0, -1, 'WITHSCORES'],
    ['ZADD', 'lz', 0, P1, 0, P2, 0, P3, 0, SHORT, 0, L2],
    ['ZRANGEBYLEX', 'lz', b'[' + P1, '+'],
    ['ZRANGEBYLEX', 'lz', b'(' + P3, b'[' + P2],
    ['ZREVRANGEBYLEX', 'lz', '+', b'(' + L2],
    ['ZLEXCOUNT', 'lz', b'[' + P3, b'(' + P2],
    ['ZRANGESTORE', 'dst', 'k', 1, 4],
    ['ZRANGE', 'dst', 0, -1, 'WITHSCORES'],
    ['ZRANGESTORE', 'dst2', 'lz', b'[' + P3, '+', 'BYLEX', 'LIMIT', 0, 2],
    ['ZRANGE', 'dst2', 0, -1, 'WITHSCORES'],
    ['ZUNIONSTORE', 'u', 2, 'k', 'lz', 'WEIGHTS', 2, 3],
    ['ZRANGE', 'u', 0, -1, 'WITHSCORES'],
    ['ZINTER', 2, 'k', 'lz', 'WITHSCORES'],
    ['ZDIFF', 2, 'k', 'lz', 'WITHSCORES'],
    ['ZINTERCARD', 2, 'k', 'lz'],
    ['SADD', 's', L3, SHORT, 'x'],
    ['ZUNION', 2, 'k', 's', 'WITHSCORES'],
    ['ZINTERSTORE', 'is', 2, 's', 'k'],
    ['ZRANGE', 'is', 0, -1, 'WITHSCORES'],
    ['COPY', 'k', 'k2'],
    ['ZRANGE', 'k2', 0, -1, 'WITHSCORES'],
    ['RENAME', 'k2', 'k3'],
    ['ZRANGE', 'k3', -2, -1, 'WITHSCORES'],
    ['ZPOPMIN', 'k3'],
    ['ZPOPMAX', 'k3', 2],
    ['ZMPOP', 2, 'none', 'k3', 'MIN', 'COUNT', 2],
    ['BZPOPMAX', 'k3', 1],
    ['ZREM', 'k', L3, L2, 'absent'],
    ['ZREMRANGEBYLEX', 'lz', b'[' + P3, b'[' + P1],
    ['ZRANGE', 'lz', 0, -1],
    ['ZREMRANGEBYRANK', 'k', 0, 1],
    ['ZREMRANGEBYSCORE', 'k', '-inf', 5],
    ['ZRANGE', 'k', 0, -1, 'WITHSCORES'],
    ['DEL', 'k', 'lz', 'u', 'k3', 'dst', 'dst2', 'is', 's'],
]


def bulks(reply):
    """The set of bulk strings of an array reply (of 3 here), parsed by length."""
    assert reply.startswith(b'*3\r\n')
    pos, out = 4, set()
    while pos < len(reply):
        nl = reply.index(b'\r\n', pos)
        n = int(reply[pos + 1:nl])
        out.add(reply[nl + 2:nl + 2 + n])
        pos = nl + 4 + n
    return out


def test_long_members_match_redis(addrs):
    ours, ref = addrs
    with RawConn(ours) as a, RawConn(ref) as b:
        a.call('FLUSHALL')
        b.call('FLUSHALL')
        for cmd in SCRIPT:
            got, want = a.call(*cmd), b.call(*cmd)
            assert got == want, (cmd[:3], got[:200], want[:200])


def test_long_members_random_and_scan_match_redis(addrs):
    """ZRANDMEMBER (all members asked for) and ZSCAN: the same members and
    scores; the order of a scan is each server's own."""
    ours, ref = addrs
    with RawConn(ours) as a, RawConn(ref) as b:
        for c in (a, b):
            c.call('DEL', 'r')
            c.call('ZADD', 'r', 1, L1, 2, L2, 3, L3, 4, SHORT)
        for cmd in (['ZRANDMEMBER', 'r', 10, 'WITHSCORES'], ['ZRANDMEMBER', 'r', 4]):
            assert sorted(a.call(*cmd).split(b'\r\n')) == sorted(b.call(*cmd).split(b'\r\n'))
        got, want = a.call('ZSCAN', 'r', 0, 'COUNT', 100), b.call('ZSCAN', 'r', 0, 'COUNT', 100)
        assert sorted(got.split(b'\r\n')) == sorted(want.split(b'\r\n'))
        got, want = a.call('ZSCAN', 'r', 0, 'MATCH', 'm*'), b.call('ZSCAN', 'r', 0, 'MATCH', 'm*')
        assert got == want and L2 in got
        assert bulks(a.call('ZRANDMEMBER', 'r', -3)) <= {L1, L2, L3, SHORT}
        for c in (a, b):
            c.call('DEL', 'r')
