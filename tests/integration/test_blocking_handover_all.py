"""Hand-over for every blocked client (shm/blocking.pxi): BLMOVE/BRPOPLPUSH
waiters are served by the push itself (the element lands in their destination
too), zset waiters by ZADD/ZINCRBY/the STORE commands, and writes inside
MULTI/EXEC or a script serve their waiters when the batch ends, before any
other command: a competing pop on the other worker never takes the element of
a client that blocked first. The pusher logs the pops, so the WAL replays the
same state."""
from rawclient import Raw, blocked_count, encode, handover_events, wait_blocked


def bulk(x):
    return b'$%d\r\n%s\r\n' % (len(x), x)


def test_blmove_and_brpoplpush_waiters_are_served_by_the_push(conns):
    (waiter, _), (pusher, thief) = conns(2)
    pusher.call('DEL', 'ms', 'md')
    for i in range(60):
        e = b'e%d' % i
        if i % 2:
            waiter.send(encode('BLMOVE', 'ms', 'md', 'LEFT', 'RIGHT', 0))
        else:
            waiter.send(encode('BRPOPLPUSH', 'ms', 'md', 0))
        wait_blocked(pusher, 1)
        pusher.send(encode('RPUSH', 'ms', e) + encode('LPOP', 'ms'))
        thief.send(encode('LPOP', 'ms'))
        assert pusher.reply() == b':1\r\n'
        assert pusher.reply() == b'$-1\r\n'      # the waiter took it with the push
        assert thief.reply() == b'$-1\r\n'
        assert waiter.reply() == bulk(e)
    assert pusher.call('LLEN', 'md') == b':60\r\n'
    assert pusher.call('LINDEX', 'md', 0) == bulk(b'e58')          # BRPOPLPUSH: pushed at the head
    assert pusher.call('LINDEX', 'md', -1) == bulk(b'e59')         # BLMOVE ... RIGHT: at the tail
    assert pusher.call('EXISTS', 'ms') == b':0\r\n'
    assert blocked_count(pusher) == 0


def test_blmove_hand_over_chains_to_the_destination_waiters(conns):
    (mover, popper), (pusher, _) = conns(2)
    pusher.call('DEL', 'cs', 'cd')
    mover.send(encode('BLMOVE', 'cs', 'cd', 'LEFT', 'LEFT', 0))
    wait_blocked(pusher, 1)
    popper.send(encode('BLPOP', 'cd', 0))
    wait_blocked(pusher, 2)
    pusher.call('RPUSH', 'cs', 'x')
    assert mover.reply() == bulk(b'x')
    assert popper.reply() == b'*2\r\n' + bulk(b'cd') + bulk(b'x')
    assert pusher.call('EXISTS', 'cs', 'cd') == b':0\r\n'
    assert blocked_count(pusher) == 0


def test_zset_waiters_are_served_by_the_write(conns):
    (waiter, _), (writer, thief) = conns(2)
    writer.call('DEL', 'zq')
    for i in range(60):
        m = b'm%d' % i
        kind = i % 3
        if kind == 0:
            waiter.send(encode('BZPOPMIN', 'zq', 0))
        elif kind == 1:
            waiter.send(encode('BZPOPMAX', 'other', 'zq', 0))
        else:
            waiter.send(encode('BZMPOP', 0, 1, 'zq', 'MIN', 'COUNT', 5))
        wait_blocked(writer, 1)
        writer.send(encode('ZINCRBY' if i % 2 else 'ZADD', 'zq', i, m) + encode('ZPOPMIN', 'zq'))
        thief.send(encode('ZPOPMIN', 'zq'))
        writer.reply()
        assert writer.reply() == b'*0\r\n'
        assert thief.reply() == b'*0\r\n'
        score = bulk(b'%d' % i)
        if kind == 2:
            assert waiter.reply() == b'*2\r\n' + bulk(b'zq') + b'*1\r\n*2\r\n' + bulk(m) + score
        else:
            assert waiter.reply() == b'*3\r\n' + bulk(b'zq') + bulk(m) + score
    assert writer.call('EXISTS', 'zq') == b':0\r\n'
    assert blocked_count(writer) == 0


def test_zset_hand_over_replies_in_resp3(server, redis_ref):
    def run(addr):
        w1, w2, w3, ctl = Raw(addr), Raw(addr), Raw(addr), Raw(addr)
        try:
            ctl.call('DEL', 'z3', 'za', 'zb')
            for w in (w1, w2, w3):
                w.call('HELLO', 3)
            w1.send(encode('BZPOPMAX', 'z3', 0))
            wait_blocked(ctl, 1)
            w2.send(encode('BZMPOP', 0, 1, 'z3', 'MAX', 'COUNT', 2))
            wait_blocked(ctl, 2)
            w3.send(encode('BZPOPMIN', 'z3', 0))
            wait_blocked(ctl, 3)
            ctl.call('ZADD', 'za', 1.5, 'a', 2, 'b')
            ctl.call('ZADD', 'zb', 3, 'c', 4.25, 'd')
            stored = ctl.call('ZUNIONSTORE', 'z3', 2, 'za', 'zb')
            out = (stored, w1.reply(), w2.reply(), w3.reply(), ctl.call('ZRANGE', 'z3', 0, -1))
            return out
        finally:
            for c in (w1, w2, w3, ctl):
                c.close()
    ours = run(server)
    assert ours[1] == b'*3\r\n' + bulk(b'z3') + bulk(b'd') + b',4.25\r\n'
    assert ours == run(redis_ref)


def test_push_in_a_transaction_serves_waiters_before_the_next_command(conns):
    (waiter, _), (pusher, thief) = conns(2)
    pusher.call('DEL', 'tq', 'tz')
    for i in range(40):
        waiter.send(encode('BLPOP', 'tq', 0))
        wait_blocked(pusher, 1)
        pusher.send(encode('MULTI') + encode('RPUSH', 'tq', 'a%d' % i, 'b%d' % i)
                    + encode('LLEN', 'tq') + encode('EXEC') + encode('LPOP', 'tq'))
        thief.send(encode('LPOP', 'tq'))
        assert [pusher.reply() for _ in range(4)][-1] == b'*2\r\n:2\r\n:2\r\n'
        assert waiter.reply() == b'*2\r\n' + bulk(b'tq') + bulk(b'a%d' % i)   # first, in Redis too
        rest = [pusher.reply(), thief.reply()]
        assert sorted(rest) == [b'$-1\r\n', bulk(b'b%d' % i)]
    waiter.send(encode('BZPOPMIN', 'tz', 0))
    wait_blocked(pusher, 1)
    pusher.send(encode('MULTI') + encode('ZADD', 'tz', 1, 'x') + encode('EXEC') + encode('ZCARD', 'tz'))
    assert [pusher.reply() for _ in range(4)][-1] == b':0\r\n'
    assert waiter.reply() == b'*3\r\n' + bulk(b'tz') + bulk(b'x') + bulk(b'1')
    assert blocked_count(pusher) == 0


def test_push_in_a_script_serves_waiters_after_it(conns):
    (lw, zw, mw), (pusher, thief, _) = conns(3)
    pusher.call('DEL', 'sq', 'sz', 'sm', 'smd')
    lw.send(encode('BLPOP', 'sq', 0))
    wait_blocked(pusher, 1)
    zw.send(encode('BZPOPMAX', 'sz', 0))
    wait_blocked(pusher, 2)
    mw.send(encode('BLMOVE', 'sm', 'smd', 'RIGHT', 'LEFT', 0))
    wait_blocked(pusher, 3)
    script = ("redis.call('RPUSH', KEYS[1], 'p'); redis.call('ZADD', KEYS[2], 5, 'q');"
              "redis.call('LPUSH', KEYS[3], 'r'); return redis.call('LLEN', KEYS[1])")
    pusher.send(encode('EVAL', script, 3, 'sq', 'sz', 'sm') + encode('LPOP', 'sq'))
    thief.send(encode('ZPOPMAX', 'sz'))
    assert pusher.reply() == b':1\r\n'            # the script saw its own push
    assert pusher.reply() == b'$-1\r\n'
    assert thief.reply() == b'*0\r\n'
    assert lw.reply() == b'*2\r\n' + bulk(b'sq') + bulk(b'p')
    assert zw.reply() == b'*3\r\n' + bulk(b'sz') + bulk(b'q') + bulk(b'5')
    assert mw.reply() == bulk(b'r')
    assert pusher.call('LRANGE', 'smd', 0, -1) == b'*1\r\n' + bulk(b'r')
    assert blocked_count(pusher) == 0


def test_hand_over_events_of_blmove_and_zsets_match_redis(server, redis_ref):
    def run(addr):
        return handover_events(addr, [('BLMOVE', 'es', 'ed', 'RIGHT', 'LEFT', 0),
                                      ('BZMPOP', 0, 1, 'ez', 'MIN', 'COUNT', 3)],
                               [('RPUSH', 'es', 'a'), ('ZADD', 'ez', 1, 'm', 2, 'n')])
    assert run(server) == run(redis_ref)


def test_hand_over_pops_of_every_kind_are_in_the_log(tmp_path):
    """After kill -9 and recovery from the WAL, what the served clients took
    stays taken and what they moved stays moved."""
    from test_durability import Node
    node = Node(str(tmp_path), '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    try:
        node.start()
        addr = ('127.0.0.1', node.srv.port)
        w1, w2, w3, pusher = Raw(addr), Raw(addr), Raw(addr), Raw(addr)
        w1.send(encode('BLMOVE', 'ws', 'wd', 'LEFT', 'RIGHT', 0))
        wait_blocked(pusher, 1)
        w2.send(encode('BZPOPMIN', 'wz', 0))
        wait_blocked(pusher, 2)
        w3.send(encode('BLPOP', 'wt', 0))
        wait_blocked(pusher, 3)
        assert pusher.call('RPUSH', 'ws', 'a', 'b') == b':2\r\n'
        assert w1.reply() == bulk(b'a')
        assert pusher.call('ZADD', 'wz', 1, 'x', 2, 'y') == b':2\r\n'
        assert w2.reply() == b'*3\r\n' + bulk(b'wz') + bulk(b'x') + bulk(b'1')
        pusher.call('MULTI')
        pusher.call('RPUSH', 'wt', 'p', 'q')
        assert pusher.call('EXEC') == b'*1\r\n:2\r\n'
        assert w3.reply() == b'*2\r\n' + bulk(b'wt') + bulk(b'p')
        for c in (w1, w2, w3, pusher):
            c.close()
        node.kill9()
        r = node.start()
        assert r.lrange('ws', 0, -1) == [b'b']
        assert r.lrange('wd', 0, -1) == [b'a']
        assert r.zrange('wz', 0, -1) == [b'y']
        assert r.lrange('wt', 0, -1) == [b'q']
    finally:
        node.stop()


def same_shard_keys(prefix):
    """Two keys whose hashes agree in the low 16 bits: one shard at any shard count."""
    from cachecyt import _core
    seen = {}
    i = 0
    while True:
        k = b'%s%d' % (prefix, i)
        low = _core._test_hash(k) & 0xFFFF
        if low in seen:
            return seen[low], k
        seen[low] = k
        i += 1


def test_lmove_serving_a_blmove_back_onto_its_source(server, redis_ref):
    """LMOVE a -> b serves a BLMOVE b -> a waiter, keys in one shard: the
    element goes back onto a, after LMOVE's own pop from a is saved."""
    a, b = same_shard_keys(b'ring')

    def run(addr):
        waiter, ctl = Raw(addr), Raw(addr)
        try:
            ctl.call('DEL', a, b)
            waiter.send(encode('BLMOVE', b, a, 'LEFT', 'RIGHT', 0))
            wait_blocked(ctl, 1)
            ctl.call('RPUSH', a, 'x', 'y')
            moved = ctl.call('LMOVE', a, b, 'LEFT', 'RIGHT')
            return moved, waiter.reply(), ctl.call('LRANGE', a, 0, -1), ctl.call('EXISTS', b)
        finally:
            waiter.close()
            ctl.close()
    ours = run(server)
    assert ours == (bulk(b'x'), bulk(b'x'), b'*2\r\n' + bulk(b'y') + bulk(b'x'), b':0\r\n')
    assert ours == run(redis_ref)
