"""BZPOPMIN / BZMPOP across workers: a client blocked on one worker is woken by
ZADD on the other, first blocked first served, each member popped exactly once,
and the timeout answers the nil array."""
import re
import time


from rawclient import encode, wait_blocked


def test_zadd_on_other_worker_wakes_in_block_order(conns):
    (a0, b0, p0), (a1, b1, p1) = conns(3)
    p0.call('DEL', 'zq')
    order = [a1, a0, b1, b0]                 # alternate workers
    for c in order:
        c.send(encode('BZPOPMIN', 'zq', 0))
        wait_blocked(p0, order.index(c) + 1)
    for i in range(4):
        (p0 if i % 2 else p1).call('ZADD', 'zq', i, f'm{i}')
    got = [c.reply() for c in order]
    assert got == [b'*3\r\n$2\r\nzq\r\n$2\r\nm%d\r\n$1\r\n%d\r\n' % (i, i) for i in range(4)]
    assert p0.call('EXISTS', 'zq') == b':0\r\n'


def test_exactly_once_with_bzmpop(conns):
    (w0, x0, p0), (w1, x1, p1) = conns(3)
    p0.call('DEL', 'zm')
    waiters = [w0, w1, x0, x1]
    for n, c in enumerate(waiters):
        c.send(encode('BZMPOP', 5, 1, 'zm', 'MAX'))
        wait_blocked(p0, n + 1)
    p1.call('ZADD', 'zm', *[x for i in range(6) for x in (i, f'e{i}')])
    got = [re.findall(rb'e\d', c.reply()) for c in waiters]
    assert all(len(g) == 1 for g in got)
    left = re.findall(rb'e\d', p0.call('ZRANGE', 'zm', 0, -1))
    assert sorted([g[0] for g in got] + left) == [b'e%d' % i for i in range(6)]
    assert [g[0] for g in got] == [b'e5', b'e4', b'e3', b'e2']      # MAX, in block order
    assert len(left) == 2


def test_timeout_replies_nil_array(conns):
    (a0,), (a1,) = conns(1)
    t = time.monotonic()
    assert a0.call('BZPOPMAX', 'nokey', '0.05') == b'*-1\r\n'
    assert 0.04 < time.monotonic() - t < 1.0
    a1.call('HELLO', 3)
    assert a1.call('BZMPOP', '0.02', 1, 'nokey', 'MIN') == b'_\r\n'
    wait_blocked(a0, 0)
