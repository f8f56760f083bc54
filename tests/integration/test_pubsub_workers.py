"""Pub/sub on a real node (2 workers): a message published on any worker
reaches every subscriber on every worker exactly once and in publish order per
publisher; PUBLISH and PUBSUB count over the node; a subscriber that stops
reading is cut off at client-output-buffer-limit pubsub; replies match a real
redis-server byte for byte."""
import socket
import time

import pytest

from rawclient import Raw, encode


def parts(frame: bytes):
    """The elements of a flat RESP array/push frame of bulk strings and integers."""
    lines = frame.split(b'\r\n')
    out, i = [], 1
    while i < len(lines) - 1:
        line = lines[i]
        if line.startswith(b'$'):
            out.append(lines[i + 1])
            i += 2
        else:
            out.append(int(line[1:]) if line[:1] == b':' else line)
            i += 1
    return out


def test_fan_out_across_workers_exactly_once_in_order(conns):
    (s0a, s0b, p0), (s1a, s1b, p1) = conns(3)
    subs = [s0a, s0b, s1a, s1b]
    for s in subs:
        assert parts(s.call('SUBSCRIBE', 'fan')) == [b'subscribe', b'fan', 1]
    assert parts(s1b.call('PSUBSCRIBE', 'fa?')) == [b'psubscribe', b'fa?', 2]
    n = 300
    for p, tag in ((p0, b'p0'), (p1, b'p1')):
        p.send(b''.join(encode('PUBLISH', 'fan', b'%s:%d' % (tag, i)) for i in range(n)))
    for p in (p0, p1):
        assert [p.reply() for _ in range(n)] == [b':5\r\n'] * n
    for s in subs:
        want = 2 * n * (2 if s is s1b else 1)
        got = {b'p0': [], b'p1': []}
        for _ in range(want):
            f = parts(s.reply())
            if f[0] == b'pmessage':
                assert f[1:3] == [b'fa?', b'fan']
                continue
            assert f[:2] == [b'message', b'fan']
            tag, seq = f[2].split(b':')
            got[tag].append(int(seq))
        assert got == {b'p0': list(range(n)), b'p1': list(range(n))}    # each once, in order


def test_counts_are_node_wide(conns):
    (s0, p0), (s1, p1) = conns(2)
    s0.call('SUBSCRIBE', 'nw:a', 'nw:b')
    s1.call('SUBSCRIBE', 'nw:a')
    s1.call('PSUBSCRIBE', 'nw:*')
    s1.call('SSUBSCRIBE', 'nw:s')
    for p in (p0, p1):
        assert p.call('PUBSUB', 'NUMSUB', 'nw:a', 'nw:b') == encode_pairs(b'nw:a', 2, b'nw:b', 1)
        assert p.call('PUBSUB', 'SHARDNUMSUB', 'nw:s') == encode_pairs(b'nw:s', 1)
        assert sorted(parts(p.call('PUBSUB', 'CHANNELS', 'nw:*'))) == [b'nw:a', b'nw:b']
        assert p.call('PUBLISH', 'nw:a', 'x') == b':3\r\n'
        assert p.call('SPUBLISH', 'nw:s', 'x') == b':1\r\n'
    s1.close()                                    # its subscriptions leave the registry
    deadline = time.monotonic() + 5
    while p0.call('PUBLISH', 'nw:a', 'y') != b':1\r\n':
        assert time.monotonic() < deadline
        time.sleep(0.01)


def encode_pairs(*items):
    out = [b'*%d\r\n' % len(items)]
    for x in items:
        out.append(b':%d\r\n' % x if isinstance(x, int) else b'$%d\r\n%s\r\n' % (len(x), x))
    return b''.join(out)


def test_resp3_subscriber_on_other_worker_gets_push_frames(conns):
    (s0,), (p1,) = conns(1)
    s0.call('HELLO', '3')
    assert s0.call('SUBSCRIBE', 'r3') == b'>3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n'
    assert p1.call('PUBLISH', 'r3', 'hello') == b':1\r\n'
    assert s0.reply() == b'>3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$5\r\nhello\r\n'
    assert s0.call('GET', 'nokey') == b'_\r\n'


def test_slow_subscriber_is_cut_off_at_the_pubsub_limit(conns):
    (p0,), (ctl,) = conns(1)
    ctl.call('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 1mb 512kb 1')
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(p0.sock.getpeername())
        sock.sendall(encode('SUBSCRIBE', 'slow'))
        time.sleep(0.1)
        sock.recv(100)
        payload = b'z' * 65536
        alive = True
        for _ in range(400):                       # 26 MB, far past kernel buffers + 1 MB
            r = p0.call('PUBLISH', 'slow', payload)
            if r == b':0\r\n':
                alive = False
                break
        assert not alive, "the subscriber was never cut off"
        sock.settimeout(5)
        with pytest.raises((ConnectionError, OSError)):
            while sock.recv(1 << 20):
                pass
            raise ConnectionError("closed")
    finally:
        ctl.call('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 32mb 8mb 60')
        sock.close()


# ---- the same replies as redis-server ---------------------------------------------------

SESSION = [
    ('PUBSUB', 'CHANNELS', 'a', 'b'), ('PUBSUB', 'NUMSUB'), ('PUBSUB', 'NUMPAT', 'x'),
    ('PUBSUB', 'NOPE'), ('PUBSUB', 'HELP'), ('SUBSCRIBE',), ('PUBLISH', 'x'),
    ('SUBSCRIBE', 'dq:1'), ('SUBSCRIBE', 'dq:1'), ('PSUBSCRIBE', 'dq:*'), ('SSUBSCRIBE', 'dq:s'),
    ('GET', 'x'), ('SET', 'x', 'y'), ('CONFIG', 'GET', 'maxmemory'), ('PING',), ('PING', 'm'),
    ('UNSUBSCRIBE', 'dq:1'), ('PUNSUBSCRIBE', 'nope'), ('PUNSUBSCRIBE', 'dq:*'),
    ('SUNSUBSCRIBE', 'dq:s'), ('SUNSUBSCRIBE',), ('UNSUBSCRIBE',), ('PING',),
    ('HELLO', '3', 'SETNAME', 'x'), ('SUBSCRIBE', 'dq:2'), ('GET', 'x'), ('PING',),
    ('PUBLISH', 'dq:2', 'self'), ('PUBSUB', 'NUMSUB', 'dq:2', 'dq:3'), ('UNSUBSCRIBE', 'dq:9'),
    ('UNSUBSCRIBE',), ('SUBSCRIBE', 'dq:3'), ('RESET',), ('GET', 'x'),
    ('CONFIG', 'GET', 'client-output-buffer-limit'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 1mb 2mb'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'foo 1 2 3'),
    ('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub x 2 3'),
    ('CONFIG', 'SET', 'notify-keyspace-events', 'q'),
]


def _hello_masked(reply):
    # HELLO's map carries the client id, which differs
    return reply.split(b'$2\r\nid\r\n')[0] if reply.startswith(b'%') else reply


def test_replies_match_redis(server, redis_ref):
    ours, theirs = Raw(server), Raw(redis_ref)
    try:
        for cmd in SESSION:
            a, b = ours.call(*cmd), theirs.call(*cmd)
            assert _hello_masked(a) == _hello_masked(b), cmd
            if cmd[0] == 'PUBLISH' and cmd[1:2] == ('dq:2',):
                assert ours.reply() == theirs.reply()      # the integer after its own push
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize('value', ['KEA', 'Kgn', 'AKE', 'Em', 'nKl', 'g$lshzxetdn', 'K$', 'An',
                                   'Am', 'mn', 'nd', 'x', ''])
def test_notify_keyspace_events_spelling_matches_redis(server, redis_ref, value):
    ours, theirs = Raw(server), Raw(redis_ref)
    try:
        for c in (ours, theirs):
            assert c.call('CONFIG', 'SET', 'notify-keyspace-events', value) == b'+OK\r\n'
        assert ours.call('CONFIG', 'GET', 'notify-keyspace-events') == \
            theirs.call('CONFIG', 'GET', 'notify-keyspace-events')
    finally:
        for c in (ours, theirs):
            c.call('CONFIG', 'SET', 'notify-keyspace-events', '')
            c.close()


def worker_pid(srv, slot):
    for pid in srv.worker_pids():
        with open(f"/proc/{pid}/cmdline", 'rb') as f:
            args = f.read().split(b'\0')
        if b'--worker' in args and args[args.index(b'--worker') + 1] == b'%d' % slot:
            return pid
    return None


def test_killed_worker_leaves_no_subscribers_behind():
    import os
    import signal

    from rawclient import one_per_worker
    from servers import CachecytServer
    with CachecytServer(workers=2) as srv:
        addr = ('127.0.0.1', srv.port)
        s0, p1 = one_per_worker(addr)
        s0.call('SUBSCRIBE', 'kw')
        s0.call('PSUBSCRIBE', 'k*')
        assert p1.call('PUBLISH', 'kw', 'before') == b':2\r\n'
        pid = worker_pid(srv, 0)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while p1.call('PUBLISH', 'kw', 'x') != b':0\r\n':     # the restarted slot took them off
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert p1.call('PUBSUB', 'NUMPAT') == b':0\r\n'
        s, _ = one_per_worker(addr)                          # a subscriber on the new worker 0
        s.call('SUBSCRIBE', 'kw')
        assert p1.call('PUBLISH', 'kw', 'after') == b':1\r\n'
        assert parts(s.reply()) == [b'message', b'kw', b'after']
