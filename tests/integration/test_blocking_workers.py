"""Blocking list commands across workers: a client blocked on one worker is
served by a push on any worker, first blocked first served over the node, each
element delivered exactly once; timeouts, disconnects and the requests a
blocked client pipelined behind its blocking command."""
import socket
import time


from rawclient import blocked_count, encode, wait_blocked


def pending(c):
    """True when no reply is waiting on c (the client is still blocked)."""
    c.sock.settimeout(0.05)
    try:
        data = c.sock.recv(1 << 16)
    except socket.timeout:
        return True
    finally:
        c.sock.settimeout(5)
    c.buf += data
    return False


def test_push_on_other_worker_wakes_in_block_order(conns):
    (a0, b0, p0), (a1, b1, p1) = conns(3)
    p0.call('DEL', 'q')
    order = [a1, a0, b1, b0]                 # alternate workers
    for c in order:
        c.send(encode('BLPOP', 'q', 0))
        wait_blocked(p0, order.index(c) + 1)
    for i in range(4):
        (p0 if i % 2 else p1).call('RPUSH', 'q', f'e{i}')
    got = [c.reply() for c in order]
    assert got == [b'*2\r\n$1\r\nq\r\n$2\r\ne%d\r\n' % i for i in range(4)]
    assert p0.call('LLEN', 'q') == b':0\r\n'
    assert blocked_count(p0) == 0


def test_exactly_once_under_many_pushes(conns):
    ws0, ws1 = conns(4)
    pushers = ws0[:1] + ws1[:1]
    waiters = ws0[1:] + ws1[1:]
    pushers[0].call('DEL', 'q2')
    for c in waiters:
        c.send(encode('BRPOP', 'q2', 5))
    wait_blocked(pushers[0], len(waiters))
    n = len(waiters) + 3
    for i in range(n):
        pushers[i % 2].send(encode('LPUSH', 'q2', i))
    for p in pushers:
        for _ in range(n // 2 + (1 if p is pushers[0] and n % 2 else 0)):
            p.reply()
    got = [int(c.reply().split(b'\r\n')[-2]) for c in waiters]
    rest = pushers[0].call('LRANGE', 'q2', 0, -1)
    left = [int(x) for x in rest.split(b'\r\n')[2::2] if x]
    assert sorted(got + left) == list(range(n))
    assert len(left) == 3


def test_timeout_and_resp3_null(conns):
    (a0, _), (a1, _) = conns(2)
    t = time.monotonic()
    assert a0.call('BLPOP', 'nokey', '0.05') == b'*-1\r\n'
    assert 0.04 < time.monotonic() - t < 1.0
    a1.call('HELLO', 3)
    assert a1.call('BLMOVE', 'nokey', 'd', 'LEFT', 'LEFT', '0.02') == b'_\r\n'
    assert a1.call('BLMPOP', '0.02', 1, 'nokey', 'LEFT') == b'_\r\n'
    assert a0.call('BLPOP', 'k', 'x') == b'-ERR timeout is not a float or out of range\r\n'
    assert a0.call('BLPOP', 'k', '-1') == b'-ERR timeout is negative\r\n'


def test_sub_millisecond_timeouts_round_up(conns):
    """0.001 s times 1000 is just under 1 in binary: it is 1 ms, not 0 (forever)."""
    (a0,), _ = conns(1)
    for cmd in (('BLPOP', 'nokey', '0.001'), ('BRPOP', 'nokey', '0.0001'),
                ('BLMPOP', '0.001', 1, 'nokey', 'LEFT'), ('BZPOPMIN', 'nokey', '0.001')):
        t = time.monotonic()
        assert a0.call(*cmd) == b'*-1\r\n', cmd
        assert time.monotonic() - t < 1.0


def test_pipelined_requests_wait_for_the_blocked_one(conns):
    (a0, p0), (a1, p1) = conns(2)
    p0.call('DEL', 'pq', 'x')
    a0.send(encode('BLPOP', 'pq', 0) + encode('SET', 'x', 'after') + encode('GET', 'x'))
    wait_blocked(p1, 1)
    assert pending(a0)
    assert p1.call('GET', 'x') == b'$-1\r\n'          # the SET has not run
    p1.call('RPUSH', 'pq', 'v')
    assert a0.reply() == b'*2\r\n$2\r\npq\r\n$1\r\nv\r\n'
    assert a0.reply() == b'+OK\r\n'
    assert a0.reply() == b'$5\r\nafter\r\n'


def test_disconnect_leaves_the_queue(conns):
    (a0, b0, p0), (a1, _, _) = conns(3)
    p0.call('DEL', 'dq')
    a1.send(encode('BLPOP', 'dq', 0))
    wait_blocked(p0, 1)
    b0.send(encode('BLPOP', 'dq', 0))
    wait_blocked(p0, 2)
    a1.close()
    wait_blocked(p0, 1)
    p0.call('RPUSH', 'dq', 'only')
    assert b0.reply() == b'*2\r\n$2\r\ndq\r\n$4\r\nonly\r\n'


def test_blmove_and_blmpop_across_workers(conns):
    (a0, p0), (a1, p1) = conns(2)
    p0.call('DEL', 'src', 'dst', 'm1', 'm2')
    a0.send(encode('BLMOVE', 'src', 'dst', 'RIGHT', 'LEFT', 0))
    a1.send(encode('BLMPOP', 0, 2, 'm1', 'm2', 'LEFT', 'COUNT', 2))
    wait_blocked(p0, 2)
    p1.call('RPUSH', 'src', 'a', 'b')
    p0.call('RPUSH', 'm2', 'x', 'y', 'z')
    assert a0.reply() == b'$1\r\nb\r\n'
    assert a1.reply() == b'*2\r\n$2\r\nm2\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n'
    assert p0.call('LRANGE', 'dst', 0, -1) == b'*1\r\n$1\r\nb\r\n'


def test_long_pipeline_and_partial_frame_behind_a_blocked_request(conns):
    """Requests before the blocking one are answered at once; those after it,
    including a frame that was still incomplete, run only once it is served."""
    (a0, p0), (_, p1) = conns(2)
    p0.call('DEL', 'lq', 'n')
    before = b''.join(encode('INCR', 'n') for _ in range(20))
    after = b''.join(encode('INCR', 'n') for _ in range(20))
    tail = encode('GET', 'n')
    a0.send(before + encode('BLPOP', 'lq', 0) + after + tail[:7])
    for i in range(20):
        assert a0.reply() == b':%d\r\n' % (i + 1)
    wait_blocked(p1, 1)
    assert pending(a0)
    a0.send(tail[7:])
    assert p1.call('GET', 'n') == b'$2\r\n20\r\n'
    p1.call('LPUSH', 'lq', 'go')
    assert a0.reply() == b'*2\r\n$2\r\nlq\r\n$2\r\ngo\r\n'
    for i in range(20):
        assert a0.reply() == b':%d\r\n' % (21 + i)
    assert a0.reply() == b'$2\r\n40\r\n'


def test_several_keys_and_millisecond_timeout(conns):
    (a0, p0), (a1, _) = conns(2)
    p0.call('DEL', 'k1', 'k2', 'k3')
    a1.send(encode('BRPOP', 'k1', 'k2', 'k3', 0))
    wait_blocked(p0, 1)
    p0.call('RPUSH', 'k3', 'c')
    assert a1.reply() == b'*2\r\n$2\r\nk3\r\n$1\r\nc\r\n'
    assert blocked_count(p0) == 0
    t = time.monotonic()
    assert a0.call('BLPOP', 'k1', '0.15') == b'*-1\r\n'
    assert 0.15 <= time.monotonic() - t < 0.3
    assert blocked_count(p0) == 0


def test_consumers_on_both_workers_get_every_element_once(conns):
    """Consumers loop on BLPOP on both workers while producers on both workers
    push concurrently: every element arrives exactly once, none is left."""
    import threading
    consumers0, consumers1 = conns(4)
    producers = [consumers0.pop(), consumers1.pop()]
    consumers = consumers0 + consumers1
    producers[0].call('DEL', 'work')
    n = 3000
    got = [[] for _ in consumers]

    def consume(i, c):
        while True:
            reply = c.call('BLPOP', 'work', 2)
            if reply == b'*-1\r\n':
                return
            v = reply.split(b'\r\n')[-2]
            if v == b'stop':
                return
            got[i].append(int(v))

    def produce(k, p):
        for start in range(k, n, 2 * 50):
            batch = [x for x in range(start, min(start + 100, n), 2)]
            p.call('RPUSH', 'work', *batch)

    threads = [threading.Thread(target=consume, args=(i, c)) for i, c in enumerate(consumers)]
    threads += [threading.Thread(target=produce, args=(k, p)) for k, p in enumerate(producers)]
    for t in threads:
        t.start()
    for t in threads[len(consumers):]:
        t.join()
    producers[0].call('RPUSH', 'work', *['stop'] * len(consumers))
    for t in threads[:len(consumers)]:
        t.join(10)
    everything = sorted(x for g in got for x in g)
    assert everything == list(range(n))
    assert sum(1 for g in got if g) >= 2                # both workers served
    assert producers[0].call('LLEN', 'work') == b':0\r\n'


def test_rename_and_copy_of_a_list_serve_waiters(conns):
    (a0, p0), (a1, _) = conns(2)
    p0.call('DEL', 'rq', 'cq', 'tmp')
    a0.send(encode('BLPOP', 'rq', 0))
    a1.send(encode('BLPOP', 'cq', 0))
    wait_blocked(p0, 2)
    p0.call('RPUSH', 'tmp', 'r1', 'r2')
    p0.call('COPY', 'tmp', 'cq')
    assert a1.reply() == b'*2\r\n$2\r\ncq\r\n$2\r\nr1\r\n'
    p0.call('RENAME', 'tmp', 'rq')
    assert a0.reply() == b'*2\r\n$2\r\nrq\r\n$2\r\nr1\r\n'
    assert p0.call('LRANGE', 'rq', 0, -1) == b'*1\r\n$2\r\nr2\r\n'


def test_swapdb_serves_waiters(conns):
    (a0, p0), (a1, _) = conns(2)
    p0.call('SELECT', 1)
    p0.call('DEL', 'sq')
    p0.call('RPUSH', 'sq', 'from-db1')
    p0.call('SELECT', 0)
    p0.call('DEL', 'sq')
    a1.send(encode('BLPOP', 'sq', 0))
    wait_blocked(p0, 1)
    assert p0.call('SWAPDB', 0, 1) == b'+OK\r\n'
    assert a1.reply() == b'*2\r\n$2\r\nsq\r\n$8\r\nfrom-db1\r\n'
    p0.call('SWAPDB', 0, 1)
