"""Blocking commands have no limit of their own (shm/blocking.pxi): any number
of keys can be waited on across the node, and one command can wait on any
number of keys, as in Redis. The wait registry grows page by page and gives
its pages back when the waits end."""
import re

from rawclient import Raw, blocked_count, encode, wait_blocked


def used_memory(c):
    return int(re.search(rb'\r\nused_memory:(\d+)\r\n', c.call('INFO', 'memory')).group(1))


def bulk(x):
    return b'$%d\r\n%s\r\n' % (len(x), x)


def test_twenty_thousand_keys_waited_on_then_served(server, conns):
    (_,), (pusher,) = conns(1)
    pusher.call('FLUSHALL')
    before = used_memory(pusher)
    waiters = []
    for w in range(10):                          # 10 clients x 2000 keys = 20000 entries
        c = Raw(server)
        keys = [b'uk:%d:%d' % (w, i) for i in range(2000)]
        c.send(encode('BLPOP', *keys, 0))
        waiters.append((c, keys))
        wait_blocked(pusher, w + 1)
    assert blocked_count(pusher) == 10
    assert used_memory(pusher) > before          # the registry took pages
    for w, (c, keys) in enumerate(waiters):
        pusher.call('RPUSH', keys[1000 + w], b'v%d' % w)
    for w, (c, keys) in enumerate(waiters):
        assert c.reply() == b'*2\r\n' + bulk(keys[1000 + w]) + bulk(b'v%d' % w)
        c.close()
    assert blocked_count(pusher) == 0
    assert used_memory(pusher) == before         # every page went back


def test_blpop_on_a_thousand_keys_woken_by_the_last(conns):
    (waiter,), (pusher,) = conns(1)
    keys = [b'tk%d' % i for i in range(1000)]
    pusher.call('DEL', *keys)
    waiter.send(encode('BLPOP', *keys, 0))
    wait_blocked(pusher, 1)
    pusher.call('LPUSH', keys[-1], 'last')
    assert waiter.reply() == b'*2\r\n' + bulk(keys[-1]) + bulk(b'last')
    assert pusher.call('EXISTS', keys[-1]) == b':0\r\n'


def test_blmpop_and_bzmpop_on_many_keys_block(conns):
    (lw, zw), (pusher, _) = conns(2)
    keys = [b'mk%d' % i for i in range(300)]
    pusher.call('DEL', *keys)
    lw.send(encode('BLMPOP', 0, len(keys), *keys, 'LEFT', 'COUNT', 2))
    wait_blocked(pusher, 1)
    zw.send(encode('BZMPOP', 0, len(keys), *keys, 'MIN'))
    wait_blocked(pusher, 2)
    pusher.call('RPUSH', keys[200], 'a', 'b', 'c')
    assert lw.reply() == b'*2\r\n' + bulk(keys[200]) + b'*2\r\n' + bulk(b'a') + bulk(b'b')
    pusher.call('ZADD', keys[299], 1, 'm')
    assert zw.reply() == (b'*2\r\n' + bulk(keys[299]) + b'*1\r\n*2\r\n' + bulk(b'm') + bulk(b'1'))
    assert blocked_count(pusher) == 0
