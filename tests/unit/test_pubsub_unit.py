"""Pub/sub in one process: SUBSCRIBE & co. replies byte for byte (RESP2 and
RESP3), delivery to this worker's subscribers, the node-wide counts of PUBSUB,
RESP2 subscriber mode, and the message ring between workers (two worker slots
played by one process: activate(1) publishes, activate(0) drains)."""
import pytest

from cachecyt import _core


def bulk(b):
    return b'$%d\r\n%s\r\n' % (len(b), b)


def frame(*parts, push=False):
    out = [b'%s%d\r\n' % (b'>' if push else b'*', len(parts))]
    for p in parts:
        out.append(b':%d\r\n' % p if isinstance(p, int) else bulk(p))
    return b''.join(out)


@pytest.fixture
def clients(core):
    def make(n, resp=2):
        out = []
        for _ in range(n):
            c = _core.Client()
            if resp == 3:
                c.call([b'HELLO', b'3'])
            out.append(c)
        return out
    yield make
    _core._test_pubsub_reset()


def test_subscribe_replies_count_channels_and_patterns(clients):
    (a,) = clients(1)
    assert a.call([b'SUBSCRIBE', b'x', b'y']) == (frame(b'subscribe', b'x', 1) +
                                                   frame(b'subscribe', b'y', 2))
    assert a.call([b'PSUBSCRIBE', b'p*']) == frame(b'psubscribe', b'p*', 3)
    assert a.call([b'SUBSCRIBE', b'x']) == frame(b'subscribe', b'x', 3)      # already: same count
    assert a.call([b'SSUBSCRIBE', b's']) == frame(b'ssubscribe', b's', 1)    # shard channels apart
    assert a.call([b'UNSUBSCRIBE', b'nope']) == frame(b'unsubscribe', b'nope', 3)
    assert a.call([b'UNSUBSCRIBE']) == (frame(b'unsubscribe', b'x', 2) +
                                        frame(b'unsubscribe', b'y', 1))
    assert a.call([b'PUNSUBSCRIBE']) == frame(b'punsubscribe', b'p*', 0)
    assert a.call([b'PUNSUBSCRIBE']) == b'*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n'
    assert a.call([b'SUNSUBSCRIBE']) == frame(b'sunsubscribe', b's', 0)
    assert a.call([b'GET', b'k']) == b'$-1\r\n'                                # left subscriber mode


def test_resp3_confirmations_and_messages_are_push_frames(clients):
    (a,) = clients(1, resp=3)
    assert a.call([b'SUBSCRIBE', b'ch']) == frame(b'subscribe', b'ch', 1, push=True)
    # the publisher's own frame comes before its PUBLISH reply, as in Redis
    assert a.call([b'PUBLISH', b'ch', b'hi']) == frame(b'message', b'ch', b'hi', push=True) + b':1\r\n'
    assert a.call([b'GET', b'k']) == b'_\r\n'                                  # RESP3 runs anything
    assert a.call([b'PING']) == b'+PONG\r\n'
    assert a.call([b'UNSUBSCRIBE', b'zz']) == b'>3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:1\r\n'


def test_publish_counts_and_reaches_channel_then_pattern_subscribers(clients):
    a, b, p = clients(3)
    a.call([b'SUBSCRIBE', b'news'])
    b.call([b'PSUBSCRIBE', b'n*', b'*s'])
    b.call([b'SUBSCRIBE', b'news'])
    assert p.call([b'PUBLISH', b'news', b'm1']) == b':4\r\n'
    assert a.take_output() == frame(b'message', b'news', b'm1')
    assert b.take_output() == (frame(b'message', b'news', b'm1') +
                               frame(b'pmessage', b'n*', b'news', b'm1') +
                               frame(b'pmessage', b'*s', b'news', b'm1'))
    assert p.call([b'PUBLISH', b'other', b'm2']) == b':0\r\n'
    assert p.call([b'SPUBLISH', b'news', b'm3']) == b':0\r\n'                 # not a shard channel
    assert a.take_output() == b'' and b.take_output() == b''


def test_shard_channels(clients):
    a, p = clients(2)
    a.call([b'SSUBSCRIBE', b'{t}x'])
    assert p.call([b'SPUBLISH', b'{t}x', b'v']) == b':1\r\n'
    assert a.take_output() == frame(b'smessage', b'{t}x', b'v')
    assert p.call([b'PUBLISH', b'{t}x', b'v']) == b':0\r\n'
    assert p.call([b'PUBSUB', b'SHARDCHANNELS']) == b'*1\r\n' + bulk(b'{t}x')
    assert p.call([b'PUBSUB', b'SHARDNUMSUB', b'{t}x', b'y']) == b'*4\r\n' + bulk(b'{t}x') + \
        b':1\r\n' + bulk(b'y') + b':0\r\n'
    assert p.call([b'PUBSUB', b'CHANNELS']) == b'*0\r\n'


def test_resp2_subscriber_mode(clients):
    (a,) = clients(1)
    a.call([b'SUBSCRIBE', b'c'])
    assert a.call([b'GET', b'k']) == (b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / "
                                      b"(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
                                      b"in this context\r\n")
    assert a.call([b'CONFIG', b'GET', b'x']).startswith(b"-ERR Can't execute 'config|get'")
    assert a.call([b'PING']) == b'*2\r\n$4\r\npong\r\n$0\r\n\r\n'
    assert a.call([b'PING', b'hey']) == b'*2\r\n$4\r\npong\r\n$3\r\nhey\r\n'
    assert a.call([b'NOSUCH']).startswith(b"-ERR unknown command 'NOSUCH'")   # unknown comes first
    assert a.call([b'RESET']) == b'+RESET\r\n'
    assert a.call([b'PUBSUB', b'NUMSUB', b'c']) == b'*2\r\n' + bulk(b'c') + b':0\r\n'


def test_pubsub_introspection(clients):
    a, b, p = clients(3)
    a.call([b'SUBSCRIBE', b'alpha', b'beta'])
    b.call([b'SUBSCRIBE', b'alpha'])
    a.call([b'PSUBSCRIBE', b'a*'])
    b.call([b'PSUBSCRIBE', b'a*', b'b*'])
    assert sorted(_reply_items(p.call([b'PUBSUB', b'CHANNELS']))) == [b'alpha', b'beta']
    assert _reply_items(p.call([b'PUBSUB', b'CHANNELS', b'b*'])) == [b'beta']
    assert p.call([b'PUBSUB', b'NUMSUB', b'alpha', b'beta', b'gamma']) == (
        b'*6\r\n' + bulk(b'alpha') + b':2\r\n' + bulk(b'beta') + b':1\r\n' + bulk(b'gamma') + b':0\r\n')
    assert p.call([b'PUBSUB', b'NUMSUB']) == b'*0\r\n'
    assert p.call([b'PUBSUB', b'NUMPAT']) == b':2\r\n'        # distinct patterns, as Redis 7
    assert p.call([b'PUBSUB', b'NUMPAT', b'x']) == (b"-ERR wrong number of arguments for "
                                                    b"'pubsub|numpat' command\r\n")
    assert p.call([b'PUBSUB', b'CHANNELS', b'a', b'b']) == (
        b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n")
    assert p.call([b'PUBSUB', b'FOO']) == b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n"
    assert p.call([b'PUBSUB', b'HELP']).startswith(b'*14\r\n+PUBSUB <subcommand>')
    _core.pubsub_forget(a)
    assert p.call([b'PUBSUB', b'NUMSUB', b'alpha', b'beta']) == (
        b'*4\r\n' + bulk(b'alpha') + b':1\r\n' + bulk(b'beta') + b':0\r\n')
    _core.pubsub_forget(b)
    assert p.call([b'PUBSUB', b'NUMPAT']) == b':0\r\n'
    assert p.call([b'PUBSUB', b'CHANNELS']) == b'*0\r\n'


def _reply_items(reply):
    lines = reply.split(b'\r\n')
    return lines[2:-1:2]


def test_many_channels_grow_and_shrink_the_registry(clients):
    a, p = clients(2)
    names = [b'chan:%d' % i for i in range(3000)]
    a.call([b'SUBSCRIBE'] + names)
    assert p.call([b'PUBSUB', b'NUMSUB', b'chan:2999']) == b'*2\r\n' + bulk(b'chan:2999') + b':1\r\n'
    assert p.call([b'PUBLISH', b'chan:1234', b'x']) == b':1\r\n'
    a.call([b'UNSUBSCRIBE'] + names[:2990])
    assert len(_reply_items(p.call([b'PUBSUB', b'CHANNELS']))) == 10


# ---- the ring between workers ---------------------------------------------------------

def as_worker(core, w):
    core.activate(w)


def test_messages_cross_workers_in_order_through_the_ring(core, clients):
    a, p = clients(2)
    a.call([b'SUBSCRIBE', b'ch'])            # subscribed on worker 0
    as_worker(core, 1)
    big = bytes(range(256)) * 2000           # 512000 bytes: several fragments
    sent = [b'm%d' % i for i in range(50)] + [big] + [b'tail']
    for m in sent:
        assert p.call([b'PUBLISH', b'ch', m]) == b':1\r\n'
    assert a.take_output() == b''            # not on this worker: it waits in worker 0's ring
    as_worker(core, 0)
    assert _core.pubsub_drain() == len(sent)
    assert a.take_output() == b''.join(frame(b'message', b'ch', m) for m in sent)
    head, tail, dropped = _core._test_ring_state(0)
    assert head == tail and dropped == 0


def test_ring_wraps_many_times(core, clients):
    a, p = clients(2)
    a.call([b'PSUBSCRIBE', b'c*'])
    for rnd in range(6):
        as_worker(core, 1)
        msgs = [(b'%d:%d:' % (rnd, i)) * (3000 + 97 * i) for i in range(20)]   # ~600 kB a round
        for m in msgs:
            p.call([b'PUBLISH', b'chan', m])
        as_worker(core, 0)
        _core.pubsub_drain()
        assert a.take_output() == b''.join(frame(b'pmessage', b'c*', b'chan', m) for m in msgs)
    head, tail, _ = _core._test_ring_state(0)
    assert head == tail > 2 * 1048576


def test_full_ring_drops_and_counts(core, clients):
    a, p = clients(2)
    a.call([b'SUBSCRIBE', b'ch'])
    as_worker(core, 1)
    for _ in range(5):                       # 5 x 300 kB > the 1 MiB ring: the last ones wait, then drop
        p.call([b'PUBLISH', b'ch', b'x' * 300000])
    head, tail, dropped = _core._test_ring_state(0)
    assert dropped >= 1 and tail - head <= 1048576
    as_worker(core, 0)
    assert _core.pubsub_drain() == 5 - dropped


def test_restarted_worker_takes_its_predecessors_subscriptions_off(core, clients):
    a, p = clients(2)
    a.call([b'SUBSCRIBE', b'ch', b'other'])
    a.call([b'PSUBSCRIBE', b'*'])
    as_worker(core, 1)
    p.call([b'PUBLISH', b'ch', b'lost'])
    _core.pubsub_clear_worker(0)             # slot 0 restarts: its clients are gone
    assert p.call([b'PUBSUB', b'NUMSUB', b'ch']) == b'*2\r\n' + bulk(b'ch') + b':0\r\n'
    assert p.call([b'PUBSUB', b'NUMPAT']) == b':0\r\n'
    assert p.call([b'PUBLISH', b'ch', b'x']) == b':0\r\n'
    head, tail, _ = _core._test_ring_state(0)
    assert head == tail
    as_worker(core, 0)


# ---- keyspace notifications ---------------------------------------------------------

def test_keyspace_events_reach_subscribers_on_this_worker(clients):
    sub, w = clients(2)
    sub.call([b'PSUBSCRIBE', b'__key*__:*'])
    assert w.call([b'CONFIG', b'SET', b'notify-keyspace-events', b'KEA']) == b'+OK\r\n'
    w.call([b'SET', b'k', b'v'])
    w.call([b"CONFIG", b"SET", b"notify-keyspace-events", b""])
    w.call([b'DEL', b'k'])                        # off again: nothing
    assert sub.take_output() == (
        frame(b'pmessage', b'__key*__:*', b'__keyspace@0__:k', b'set') +
        frame(b'pmessage', b'__key*__:*', b'__keyevent@0__:set', b'k'))


def test_evicted_keys_are_announced(clients):
    sub, w = clients(2)
    sub.call([b'SUBSCRIBE', b'__keyevent@0__:evicted'])
    w.call([b'CONFIG', b'SET', b'notify-keyspace-events', b'Ee'])
    w.call([b'CONFIG', b'SET', b'maxmemory-policy', b'allkeys-random'])
    w.call([b'SET', b'first', b'x' * 1000])
    used = int(_core.get_setting('used_memory'))
    _core.set_setting('maxmemory', used + 20000)
    for i in range(100):
        w.call([b'SET', b'k%d' % i, b'x' * 1000])
    out = sub.take_output()
    _core.set_setting('maxmemory', 0)
    w.call([b'CONFIG', b'SET', b'notify-keyspace-events', b''])
    evicted = out.count(b'$7\r\nmessage\r\n')
    assert evicted >= 50
    assert w.call([b'DBSIZE']) == b':%d\r\n' % (101 - evicted)
