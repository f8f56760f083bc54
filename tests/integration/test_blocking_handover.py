"""Blocking hand-over: a push serves the first-ranked blocked client in place,
under the key's lock, so no other command, on any worker, can take the pushed
element first (as Redis, which serves blocked clients before running anything
else). Pushes and competing pops run on the other worker than the waiter."""
from rawclient import blocked_count, encode, handover_events, wait_blocked


def bulk(x):
    return b'$%d\r\n%s\r\n' % (len(x), x)


def test_competing_pop_never_takes_a_waiters_element(conns):
    (waiter, _), (pusher, thief) = conns(2)
    pusher.call('DEL', 'hq')
    for i in range(200):
        waiter.send(encode('BLPOP', 'hq', 0))
        wait_blocked(pusher, 1)
        e = b'e%d' % i
        # the pop right behind the push, on the pusher's own worker: in Redis it
        # finds the list empty, since the push already served the waiter
        pusher.send(encode('RPUSH', 'hq', e) + encode('LPOP', 'hq'))
        thief.send(encode('LPOP', 'hq'))
        assert pusher.reply() == b':1\r\n'
        assert pusher.reply() == b'$-1\r\n'
        assert thief.reply() == b'$-1\r\n'
        assert waiter.reply() == b'*2\r\n' + bulk(b'hq') + bulk(e)
    assert pusher.call('EXISTS', 'hq') == b':0\r\n'
    assert blocked_count(pusher) == 0


def test_push_of_many_serves_waiters_in_order_and_keeps_the_rest(conns):
    (w0, w1, w2), (pusher, _, _) = conns(3)
    pusher.call('DEL', 'hm')
    w0.send(encode('BLMPOP', 0, 1, 'hm', 'RIGHT', 'COUNT', 2))
    wait_blocked(pusher, 1)
    w1.send(encode('BRPOP', 'other', 'hm', 0))
    wait_blocked(pusher, 2)
    w2.send(encode('BLPOP', 'hm', 0))
    wait_blocked(pusher, 3)
    pusher.send(encode('RPUSH', 'hm', 'a', 'b', 'c', 'd', 'e') + encode('LRANGE', 'hm', 0, -1))
    assert pusher.reply() == b':5\r\n'
    assert pusher.reply() == b'*1\r\n' + bulk(b'b')     # the waiters took theirs first
    assert w0.reply() == b'*2\r\n' + bulk(b'hm') + b'*2\r\n' + bulk(b'e') + bulk(b'd')
    assert w1.reply() == b'*2\r\n' + bulk(b'hm') + bulk(b'c')
    assert w2.reply() == b'*2\r\n' + bulk(b'hm') + bulk(b'a')
    assert pusher.call('LRANGE', 'hm', 0, -1) == b'*1\r\n' + bulk(b'b')
    assert blocked_count(pusher) == 0


def test_lmove_onto_a_waited_key_hands_over(conns):
    (waiter, _), (mover, thief) = conns(2)
    mover.call('DEL', 'hsrc', 'hdst')
    mover.call('RPUSH', 'hsrc', 'x', 'y')
    waiter.send(encode('BLPOP', 'hdst', 0))
    wait_blocked(mover, 1)
    mover.send(encode('LMOVE', 'hsrc', 'hdst', 'LEFT', 'RIGHT') + encode('LLEN', 'hdst'))
    assert mover.reply() == bulk(b'x')
    assert mover.reply() == b':0\r\n'
    assert waiter.reply() == b'*2\r\n' + bulk(b'hdst') + bulk(b'x')
    assert thief.call('LRANGE', 'hsrc', 0, -1) == b'*1\r\n' + bulk(b'y')


def test_blmove_waiter_first_in_line_still_goes_first(conns):
    (mover, _), (popper, pusher) = conns(2)
    pusher.call('DEL', 'hk', 'hd')
    mover.send(encode('BLMOVE', 'hk', 'hd', 'LEFT', 'LEFT', 0))
    wait_blocked(pusher, 1)
    popper.send(encode('BLPOP', 'hk', 0))
    wait_blocked(pusher, 2)
    pusher.call('RPUSH', 'hk', 'first')
    assert mover.reply() == bulk(b'first')
    pusher.call('RPUSH', 'hk', 'second')
    assert popper.reply() == b'*2\r\n' + bulk(b'hk') + bulk(b'second')
    assert pusher.call('LRANGE', 'hd', 0, -1) == b'*1\r\n' + bulk(b'first')


def test_push_inside_a_transaction_serves_after_it(conns):
    (waiter,), (pusher,) = conns(1)
    pusher.call('DEL', 'ht')
    waiter.send(encode('BLPOP', 'ht', 0))
    wait_blocked(pusher, 1)
    pusher.call('MULTI')
    pusher.call('RPUSH', 'ht', 'v')
    pusher.call('LLEN', 'ht')
    assert pusher.call('EXEC') == b'*2\r\n:1\r\n:1\r\n'
    assert waiter.reply() == b'*2\r\n' + bulk(b'ht') + bulk(b'v')


def test_handed_over_reply_beats_the_timeout(conns):
    (waiter,), (pusher,) = conns(1)
    pusher.call('DEL', 'hto')
    for i in range(30):
        waiter.send(encode('BLPOP', 'hto', '0.01'))
        pusher.send(encode('RPUSH', 'hto', i))
        assert pusher.reply() == b':1\r\n'
        got = waiter.reply()
        if got == b'*-1\r\n':
            assert pusher.call('LPOP', 'hto') == bulk(b'%d' % i)   # timed out before the push
        else:
            assert got == b'*2\r\n' + bulk(b'hto') + bulk(b'%d' % i)
        assert pusher.call('EXISTS', 'hto') == b':0\r\n'
    assert blocked_count(pusher) == 0


def test_handed_over_pops_are_in_the_log(tmp_path):
    """The pusher logs the pops it did for blocked clients: after kill -9 and
    recovery from the WAL, the list holds only what nobody took."""
    from test_durability import Node
    from rawclient import Raw
    node = Node(str(tmp_path), '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    try:
        node.start()
        addr = ('127.0.0.1', node.srv.port)
        waiter, pusher = Raw(addr), Raw(addr)
        waiter.send(encode('BLMPOP', 0, 1, 'hw', 'LEFT', 'COUNT', 2))
        wait_blocked(pusher, 1)
        assert pusher.call('RPUSH', 'hw', 'a', 'b', 'c') == b':3\r\n'
        assert waiter.reply() == b'*2\r\n' + bulk(b'hw') + b'*2\r\n' + bulk(b'a') + bulk(b'b')
        waiter.close()
        pusher.close()
        node.kill9()
        r = node.start()
        assert r.lrange('hw', 0, -1) == [b'c']
    finally:
        node.stop()


def test_a_served_wait_counts_as_one_call(conns):
    """cmdstats count a blocking command once, when it first runs (as Redis
    7.0); the retries that follow add their time, not calls."""
    (waiter,), (pusher,) = conns(1)
    pusher.call('DEL', 'hc')
    pusher.call('CONFIG', 'RESETSTAT')
    waiter.send(encode('BLMOVE', 'hc', 'hcd', 'LEFT', 'LEFT', 0))     # served by a retry
    wait_blocked(pusher, 1)
    pusher.call('RPUSH', 'hc', 'v')
    assert waiter.reply() == bulk(b'v')
    waiter.send(encode('BLPOP', 'hc', 0))                              # served by a hand-over
    wait_blocked(pusher, 1)
    pusher.call('RPUSH', 'hc', 'w')
    assert waiter.reply() == b'*2\r\n' + bulk(b'hc') + bulk(b'w')
    stats = pusher.call('INFO', 'commandstats')
    assert b'cmdstat_blmove:calls=1,' in stats
    assert b'cmdstat_blpop:calls=1,' in stats


def test_hand_over_events_match_redis(server, redis_ref):
    """The push's event, then one pop event per served client, then `del` when
    they emptied the list: the order Redis publishes them in."""

    def run(addr):
        return handover_events(addr, [('BRPOP', 'he', 0), ('BLMPOP', 0, 1, 'he', 'LEFT', 'COUNT', 5)],
                               [('LPUSH', 'he', 'a', 'b', 'c')])
    ours = run(server)
    assert ours[1] == [(b'__keyevent@0__:lpush', b'he'), (b'__keyevent@0__:rpop', b'he'),
                       (b'__keyevent@0__:lpop', b'he'), (b'__keyevent@0__:del', b'he')]
    assert ours == run(redis_ref)
