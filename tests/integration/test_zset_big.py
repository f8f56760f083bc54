"""A sorted set of 1,000,000 members built and queried on a real server: ZADD
pipelined, then ranks and rank ranges in the middle (O(log n) each), ZSCORE,
ZCOUNT, pops and range deletions that empty the key, all in seconds."""
import time

from diff.rawresp import RawConn, encode

N = 1_000_000
BATCH = 1000


def test_one_million_member_zset(server):
    t0 = time.monotonic()
    with RawConn(server, timeout=20) as c:
        c.call('DEL', 'big')
        for start in range(0, N, BATCH * 50):        # 50 commands in flight at a time
            for b in range(start, min(N, start + BATCH * 50), BATCH):
                args = []
                for i in range(b, b + BATCH):
                    args += [b'%d' % (i * 2), b'm%07d' % i]
                c.send(encode('ZADD', 'big', *args))
            for b in range(start, min(N, start + BATCH * 50), BATCH):
                assert c.read_reply() == b':%d\r\n' % BATCH
        assert c.call('ZCARD', 'big') == b':%d\r\n' % N
        assert c.call('OBJECT', 'ENCODING', 'big') == b'$8\r\nskiplist\r\n'
        assert c.call('ZRANGE', 'big', 500000, 500002, 'WITHSCORES') == (
            b'*6\r\n$8\r\nm0500000\r\n$7\r\n1000000\r\n$8\r\nm0500001\r\n$7\r\n1000002\r\n'
            b'$8\r\nm0500002\r\n$7\r\n1000004\r\n')
        assert c.call('ZRANK', 'big', 'm0765432') == b':765432\r\n'
        assert c.call('ZREVRANK', 'big', 'm0000000') == b':%d\r\n' % (N - 1)
        assert c.call('ZSCORE', 'big', 'm0999999') == b'$7\r\n1999998\r\n'
        assert c.call('ZCOUNT', 'big', '(1000', '2000') == b':500\r\n'
        assert c.call('ZRANGEBYSCORE', 'big', '1999990', '+inf') == (
            b'*5\r\n' + b''.join(b'$8\r\nm%07d\r\n' % i for i in range(999995, N)))
        t_query = time.monotonic()
        for i in range(0, N, N // 1000):             # 1000 rank lookups spread over the set
            assert c.call('ZRANK', 'big', b'm%07d' % i) == b':%d\r\n' % i
        assert time.monotonic() - t_query < 5
        usage = int(c.call('MEMORY', 'USAGE', 'big')[1:-2])
        assert 40 * N < usage < 200 * N
        assert c.call('ZPOPMAX', 'big', 2) == (
            b'*4\r\n$8\r\nm0999999\r\n$7\r\n1999998\r\n$8\r\nm0999998\r\n$7\r\n1999996\r\n')
        assert c.call('ZREMRANGEBYRANK', 'big', 0, 499999) == b':500000\r\n'
        assert c.call('ZRANGE', 'big', 0, 0) == b'*1\r\n$8\r\nm0500000\r\n'
        assert c.call('ZREMRANGEBYSCORE', 'big', '-inf', '+inf') == b':499998\r\n'
        assert c.call('EXISTS', 'big') == b':0\r\n'
    assert time.monotonic() - t0 < 20
