"""Chains of blocked clients and keys that arrive whole (shm/blocking.pxi).

A BLMOVE/BRPOPLPUSH served by a push moves its element onto its destination,
whose own waiters are served in turn (and so on, in a circle too) before the
push's reply goes out, as Redis does: a client reading right after the push
sees the final state. A list or zset that appears by RENAME, COPY, MOVE,
SORT ... STORE, GEOADD or GEOSEARCHSTORE serves its waiters the same way,
under the write's locks, so a competing pop never takes a waiter's element."""
import pytest

from rawclient import Raw, blocked_count, encode, handover_events, wait_blocked


def bulk(x):
    return b'$%d\r\n%s\r\n' % (len(x), x)


def arr(*items):
    return b'*%d\r\n' % len(items) + b''.join(items)


def lrange(c, key):
    return c.call('LRANGE', key, 0, -1)


def test_circular_brpoplpush_completes_before_the_push_reply(conns):
    """Redis's "Circular BRPOPLPUSH", waiters and pusher on both workers, over
    many key pairs (most in different shards): the element ends where the
    circle ends by the time the RPUSH is answered."""
    (a, p0), (b, p1) = conns(2)
    for i in range(120):
        k1, k2 = b'circ1:%d' % i, b'circ2:%d' % i
        first, second = (a, b) if i % 2 else (b, a)
        pusher = p0 if i % 3 else p1
        first.send(encode('BRPOPLPUSH', k1, k2, 0))
        wait_blocked(pusher, 1)
        second.send(encode('BRPOPLPUSH', k2, k1, 0))
        wait_blocked(pusher, 2)
        pusher.send(encode('RPUSH', k1, 'foo') + encode('LRANGE', k1, 0, -1)
                    + encode('LRANGE', k2, 0, -1))
        assert pusher.reply() == b':1\r\n'
        assert pusher.reply() == arr(bulk(b'foo')), i
        assert pusher.reply() == b'*0\r\n', i
        assert first.reply() == bulk(b'foo')
        assert second.reply() == bulk(b'foo')
        assert pusher.call('DEL', k1) == b':1\r\n'
    assert blocked_count(p0) == 0


def test_long_chain_across_shards_and_workers(conns):
    """BLMOVE c0 c1, BLMOVE c1 c2, ... and a BLPOP at the end, the waiters
    alternating between the workers: the push's reply comes after the last
    waiter got the element, every list in between is empty again."""
    c0, c1 = conns(4)
    n = 5
    for rnd in range(30):
        keys = [b'chain%d:%d' % (rnd, j) for j in range(n + 1)]
        waiters = [(c0 if j % 2 else c1)[j // 2] for j in range(n + 1)]
        for j in range(n):
            waiters[j].send(encode('BLMOVE', keys[j], keys[j + 1], 'LEFT', 'RIGHT', 0))
            wait_blocked(c0[3], j + 1)
        waiters[n].send(encode('BLPOP', keys[n], 0))
        wait_blocked(c0[3], n + 1)
        pusher = c0[3] if rnd % 2 else c1[3]
        pusher.send(encode('LPUSH', keys[0], 'x') + encode('EXISTS', *keys))
        assert pusher.reply() == b':1\r\n'
        assert pusher.reply() == b':0\r\n', rnd
        for j in range(n):
            assert waiters[j].reply() == bulk(b'x')
        assert waiters[n].reply() == arr(bulk(keys[n]), bulk(b'x'))
    assert blocked_count(c0[3]) == 0


def test_chain_completes_while_the_shards_are_busy(conns, server):
    """Other clients keep the chain's shards busy on both workers (the
    hand-over can no longer count on trying a free shard lock)."""
    import threading
    (a, p0), (b, p1) = conns(2)
    stop = threading.Event()

    def load():
        c = Raw(server)
        try:
            while not stop.is_set():
                c.send(b''.join(encode('LPUSH', b'circ%d:%d' % (s, i), 'n') + encode('DEL', b'circ%d:%d' % (s, i))
                                for i in range(1000, 1040) for s in (1, 2)))
                for _ in range(160):
                    c.reply()
        finally:
            c.close()

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(80):
            k1, k2 = b'busy1:%d' % i, b'busy2:%d' % i
            a.send(encode('BRPOPLPUSH', k1, k2, 0))
            wait_blocked(p0, 1)
            b.send(encode('BRPOPLPUSH', k2, k1, 0))
            wait_blocked(p0, 2)
            pusher = p0 if i % 2 else p1
            pusher.send(encode('RPUSH', k1, 'foo') + encode('LLEN', k2))
            assert pusher.reply() == b':1\r\n'
            assert pusher.reply() == b':0\r\n', i
            assert a.reply() == bulk(b'foo') and b.reply() == bulk(b'foo')
            assert lrange(pusher, k1) == arr(bulk(b'foo'))
            pusher.call('DEL', k1)
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_chain_from_lmove_and_from_a_transaction(conns):
    (a, p0), (b, p1) = conns(2)
    for i in range(20):
        s, k1, k2 = b'lmsrc:%d' % i, b'lm1:%d' % i, b'lm2:%d' % i
        p0.call('RPUSH', s, 'v')
        a.send(encode('BRPOPLPUSH', k1, k2, 0))
        wait_blocked(p0, 1)
        b.send(encode('BRPOPLPUSH', k2, k1, 0))
        wait_blocked(p0, 2)
        if i % 2:
            p1.send(encode('LMOVE', s, k1, 'LEFT', 'LEFT') + encode('LRANGE', k1, 0, -1))
            assert p1.reply() == bulk(b'v')
        else:
            p1.send(encode('MULTI') + encode('DEL', s) + encode('LPUSH', k1, 'v') + encode('EXEC')
                    + encode('LRANGE', k1, 0, -1))
            for want in (b'+OK\r\n', b'+QUEUED\r\n', b'+QUEUED\r\n', arr(b':1\r\n', b':1\r\n')):
                assert p1.reply() == want
        assert p1.reply() == arr(bulk(b'v')), i
        assert a.reply() == bulk(b'v') and b.reply() == bulk(b'v')
        assert p1.call('EXISTS', k2) == b':0\r\n'
        p1.call('DEL', k1)


def test_lmove_back_onto_its_source_within_its_own_shards(conns):
    """LMOVE s d with a BRPOPLPUSH d s waiter: the waiter's destination is a
    shard the LMOVE holds itself, so the element is back in s at the reply."""
    (waiter, _), (writer, _) = conns(2)
    for i in range(30):
        s, d = b'own_s:%d' % i, b'own_d:%d' % i
        writer.call('RPUSH', s, 'v')
        waiter.send(encode('BRPOPLPUSH', d, s, 0))
        wait_blocked(writer, 1)
        writer.send(encode('LMOVE', s, d, 'LEFT', 'LEFT') + encode('LRANGE', s, 0, -1) + encode('EXISTS', d))
        assert writer.reply() == bulk(b'v')
        assert writer.reply() == arr(bulk(b'v')), i
        assert writer.reply() == b':0\r\n'
        assert waiter.reply() == bulk(b'v')
        writer.call('DEL', s)


# ---- keys that arrive whole -----------------------------------------------------------

# redis-server 7.0's DUMP of the list [a, b]
LIST_AB = b'\x12\x01\x02\r\r\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff\n\x00h\xeb\n\x89\x13A\xbb\xb1'

ARRIVALS = [
    ('RENAME', [('RPUSH', 'src', 'a', 'b')], ('RENAME', 'src', 'dst')),
    ('RENAMENX', [('RPUSH', 'src', 'a', 'b')], ('RENAMENX', 'src', 'dst')),
    ('COPY', [('RPUSH', 'src', 'a', 'b')], ('COPY', 'src', 'dst')),
    ('SORT', [('RPUSH', 'src', 'b', 'a')], ('SORT', 'src', 'ALPHA', 'STORE', 'dst')),
    ('RESTORE', [], ('RESTORE', 'dst', 0, LIST_AB)),
]


@pytest.mark.parametrize('name,setup,write', ARRIVALS, ids=[a[0] for a in ARRIVALS])
def test_arriving_list_serves_its_waiter_not_a_competing_pop(conns, name, setup, write):
    (waiter, thief), (writer, _) = conns(2)
    for i in range(30):
        writer.call('DEL', 'src', 'dst')
        for cmd in setup:
            writer.call(*cmd)
        waiter.send(encode('BLPOP', 'dst', 0))
        wait_blocked(writer, 1)
        writer.send(encode(*write) + encode('LPOP', 'dst'))
        thief.send(encode('LPOP', 'dst'))
        writer.reply()
        popped = {writer.reply(), thief.reply()}
        assert waiter.reply() == arr(bulk(b'dst'), bulk(b'a')), i    # served with the write
        assert popped == {bulk(b'b'), b'$-1\r\n'}


def test_move_into_a_waited_db_serves_the_waiter(conns):
    (waiter, _), (writer, _) = conns(2)
    waiter.call('SELECT', 1)
    for i in range(20):
        writer.call('RPUSH', 'mv', 'a', 'b')
        waiter.send(encode('BLPOP', 'mv', 0))
        wait_blocked(writer, 1)
        writer.send(encode('MOVE', 'mv', 1) + encode('SELECT', 1) + encode('LPOP', 'mv') + encode('SELECT', 0))
        assert writer.reply() == b':1\r\n'
        assert writer.reply() == b'+OK\r\n'
        assert writer.reply() == bulk(b'b'), i
        assert writer.reply() == b'+OK\r\n'
        assert waiter.reply() == arr(bulk(b'mv'), bulk(b'a'))
    assert blocked_count(writer) == 0


def test_arriving_zsets_serve_their_waiters(conns):
    (waiter, thief), (writer, _) = conns(2)
    writes = [('GEOADD', 'zdst', '13.361389', '38.115556', 'Palermo'),
              ('COPY', 'zsrc', 'zdst'),
              ('RENAME', 'zsrc', 'zdst'),
              ('GEOSEARCHSTORE', 'zdst', 'zsrc', 'FROMLONLAT', '15', '37', 'BYRADIUS', '300', 'km')]
    for i in range(40):
        write = writes[i % len(writes)]
        writer.call('DEL', 'zsrc', 'zdst')
        writer.call('GEOADD', 'zsrc', '13.361389', '38.115556', 'Palermo')
        waiter.send(encode('BZPOPMIN', 'zdst', 0))
        wait_blocked(writer, 1)
        writer.send(encode(*write) + encode('ZPOPMIN', 'zdst'))
        thief.send(encode('ZPOPMIN', 'zdst'))
        writer.reply()
        assert writer.reply() == b'*0\r\n', write         # the waiter took it with the write
        assert thief.reply() == b'*0\r\n', write
        assert waiter.reply().startswith(b'*3\r\n' + bulk(b'zdst') + bulk(b'Palermo'))


def test_rename_onto_a_blmove_chain(conns):
    (a, p0), (b, p1) = conns(2)
    for i in range(20):
        src, k1, k2 = b'rsrc:%d' % i, b'r1:%d' % i, b'r2:%d' % i
        writer = p0 if i % 2 else p1
        writer.call('RPUSH', src, 'x')
        a.send(encode('BRPOPLPUSH', k1, k2, 0))
        wait_blocked(writer, 1)
        b.send(encode('BRPOPLPUSH', k2, k1, 0))
        wait_blocked(writer, 2)
        writer.send(encode('RENAME', src, k1) + encode('LRANGE', k1, 0, -1) + encode('EXISTS', k2))
        assert writer.reply() == b'+OK\r\n'
        assert writer.reply() == arr(bulk(b'x')), i
        assert writer.reply() == b':0\r\n'
        assert a.reply() == bulk(b'x') and b.reply() == bulk(b'x')
        writer.call('DEL', k1)


EVENT_CASES = [
    ([('BRPOPLPUSH', 'e1', 'e2', 0), ('BRPOPLPUSH', 'e2', 'e1', 0)], [('RPUSH', 'e1', 'foo')]),
    ([('BLMOVE', 'e1', 'e2', 'LEFT', 'RIGHT', 0), ('BLMOVE', 'e2', 'e3', 'RIGHT', 'LEFT', 0),
      ('BLPOP', 'e3', 0)], [('RPUSH', 'e1', 'a', 'b')]),
    ([('BRPOPLPUSH', 'e1', 'e2', 0)], [('RPUSH', 'e2', 'v'), ('LMOVE', 'e2', 'e1', 'LEFT', 'LEFT')]),
    ([('BLPOP', 'dst', 0)], [('RPUSH', 'src', 'a', 'b'), ('RENAME', 'src', 'dst')]),
    ([('BLPOP', 'dst', 0), ('BRPOP', 'dst', 0)], [('RPUSH', 'src', 'a', 'b'), ('COPY', 'src', 'dst')]),
    ([('BLMPOP', 0, 1, 'dst', 'RIGHT', 'COUNT', 5)], [('RPUSH', 'src', 'b', 'a'),
                                                       ('SORT', 'src', 'ALPHA', 'STORE', 'dst')]),
    ([('BLPOP', 'dst', 0)], [('RESTORE', 'dst', 0, LIST_AB)]),
    ([('BZPOPMIN', 'zd', 0)], [('GEOADD', 'zd', '13.361389', '38.115556', 'Palermo')]),
    ([('BZPOPMAX', 'zd', 0)], [('ZADD', 'zs', 1, 'm'), ('RENAME', 'zs', 'zd')]),
]


@pytest.mark.parametrize('waits,pushes', EVENT_CASES, ids=[p[-1][0] + str(i) for i, (_, p) in enumerate(EVENT_CASES)])
def test_chain_and_arrival_replies_and_events_match_redis(server, redis_ref, waits, pushes):
    ours = handover_events(server, waits, pushes)
    assert ours == handover_events(redis_ref, waits, pushes)


def test_chains_and_arrivals_with_the_wal_on(tmp_path):
    """With the WAL on (the write's shards held for its record), the chain's
    shards join the held set: chains still complete before the reply, and
    after kill -9 the WAL replays the same lists."""
    from test_durability import Node
    node = Node(str(tmp_path), '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    try:
        node.start()
        addr = ('127.0.0.1', node.srv.port)
        clients = [Raw(addr) for _ in range(3)]
        a, b, w = clients
        for i in range(30):
            k1, k2, src = b'wc1:%d' % i, b'wc2:%d' % i, b'wsrc:%d' % i
            a.send(encode('BRPOPLPUSH', k1, k2, 0))
            wait_blocked(w, 1)
            b.send(encode('BLMOVE', k2, k1, 'RIGHT', 'RIGHT', 0))
            wait_blocked(w, 2)
            if i % 2:
                w.send(encode('RPUSH', k1, 'e%d' % i) + encode('LLEN', k2))
                assert w.reply() == b':1\r\n'
            else:
                w.call('RPUSH', src, 'e%d' % i)
                w.send(encode('RENAME', src, k1) + encode('LLEN', k2))
                assert w.reply() == b'+OK\r\n'
            assert w.reply() == b':0\r\n', i
            assert a.reply() == bulk(b'e%d' % i) and b.reply() == bulk(b'e%d' % i)
        for c in clients:
            c.close()
        node.kill9()
        r = node.start()
        for i in range(30):
            assert r.lrange('wc1:%d' % i, 0, -1) == [b'e%d' % i]
            assert r.exists('wc2:%d' % i, 'wsrc:%d' % i) == 0
    finally:
        node.stop()


def test_arrivals_in_a_transaction_and_a_script_serve_after_it(conns):
    """Inside MULTI/EXEC or a script the arriving key's waiters are served
    when the batch ends, before any other command (as Redis)."""
    (waiter, _), (writer, thief) = conns(2)
    for i in range(20):
        src, dst = b'tsrc:%d' % i, b'tdst:%d' % i
        writer.call('RPUSH', src, 'a', 'b')
        waiter.send(encode('BLPOP', dst, 0))
        wait_blocked(writer, 1)
        if i % 2:
            writer.send(encode('MULTI') + encode('RENAME', src, dst) + encode('LLEN', dst) + encode('EXEC')
                        + encode('LRANGE', dst, 0, -1))
            for want in (b'+OK\r\n', b'+QUEUED\r\n', b'+QUEUED\r\n', arr(b'+OK\r\n', b':2\r\n')):
                assert writer.reply() == want
        else:
            writer.send(encode('EVAL', "redis.call('COPY', KEYS[1], KEYS[2]); return redis.call('LLEN', KEYS[2])",
                               2, src, dst) + encode('LRANGE', dst, 0, -1))
            assert writer.reply() == b':2\r\n'
        thief.send(encode('LPOP', dst))
        assert writer.reply() == arr(bulk(b'b')), i
        assert waiter.reply() == arr(bulk(dst), bulk(b'a'))
        assert thief.reply() in (bulk(b'b'), b'$-1\r\n')
        writer.call('DEL', src, dst)
