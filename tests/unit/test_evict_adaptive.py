"""The adaptive policies (allkeys-adaptive, volatile-adaptive) through the
dispatcher: CONFIG SET, what they keep through a scan of one-time keys where
LRU loses the hot keys, volatile-adaptive's respect for persistent keys, the
memory bound, and the shared sketch's counting. The conftest teardown walks the
segment, so the sketch and window chunks must be accounted for."""
import time

import pytest
from test_evict import OOM, ROOM, configure, exists, write
from test_expire import info_stat

from cachecyt import _core

BAD_POLICY = (b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
              b"argument(s) must be one of the following: volatile-lru, volatile-lfu, "
              b"volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, "
              b"noeviction\r\n")


@pytest.mark.parametrize('policy', [b'allkeys-adaptive', b'volatile-adaptive'])
def test_adaptive_policies_are_set_at_run_time(client, policy):
    assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', policy]) == b'+OK\r\n'
    assert client.call([b'CONFIG', b'GET', b'maxmemory-policy']) == (
        b'*2\r\n$16\r\nmaxmemory-policy\r\n$%d\r\n%s\r\n' % (len(policy), policy))
    # Redis's own error text: it lists only Redis's eight names
    assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', b'adaptive']) == BAD_POLICY


def _hot_then_scan(client, policy):
    """30 hot keys read 4 times each, then a scan of 120 keys seen once: how
    many hot keys are left."""
    limit, item = configure(client, policy, samples=10)
    for i in range(30):
        assert write(client, b'hot%d' % i, limit, item) == b'+OK\r\n'
    for _ in range(4):
        for i in range(30):
            assert client.call([b'GET', b'hot%d' % i]).startswith(b'$1000')
    for i in range(120):
        assert write(client, b'scan%d' % i, limit, item) == b'+OK\r\n'
    assert info_stat(client, 'evicted_keys') >= 100
    return sum(exists(client, b'hot%d' % i) for i in range(30))


def test_adaptive_keeps_hot_keys_through_a_scan(client):
    assert _hot_then_scan(client, b'allkeys-adaptive') >= 27


def test_lru_loses_hot_keys_to_the_same_scan(client):
    """The contrast that makes the test above mean something. Sampled LRU's
    victims are random: 1-7 hot keys survived in 40 runs, never near 27."""
    assert _hot_then_scan(client, b'allkeys-lru') <= 12


def test_volatile_adaptive_evicts_only_keys_with_a_ttl(client):
    limit, item = configure(client, b'volatile-adaptive')
    for i in range(ROOM // 2):
        assert write(client, b'keep%d' % i, limit, item) == b'+OK\r\n'
    for i in range(100):
        assert write(client, b'ttl%d' % i, limit, item, b'EX', b'1000') == b'+OK\r\n'
    assert all(exists(client, b'keep%d' % i) for i in range(ROOM // 2))
    assert info_stat(client, 'evicted_keys') >= 100 - ROOM // 2
    replies = [write(client, b'more%d' % i, limit, item) for i in range(ROOM)]
    assert OOM in replies                # no key with a TTL left to evict
    assert all(exists(client, b'keep%d' % i) for i in range(ROOM // 2))


def test_adaptive_evicts_expired_keys_before_live_ones(client):
    limit, item = configure(client, b'allkeys-adaptive', samples=64)
    for i in range(ROOM):
        assert write(client, b'live%d' % i, limit, item) == b'+OK\r\n'
    for i in range(4):                   # expired by the time we write more
        assert write(client, b'dead%d' % i, limit, item, b'PX', b'1') == b'+OK\r\n'
    live = {i for i in range(ROOM) if exists(client, b'live%d' % i)}
    time.sleep(0.01)
    for i in range(4):
        assert write(client, b'new%d' % i, limit, item) == b'+OK\r\n'
    assert {i for i in range(ROOM) if exists(client, b'live%d' % i)} == live
    assert not any(exists(client, b'dead%d' % i) for i in range(4))
    assert exists(client, b'new3')       # the latest write is never the next one's victim


def test_policy_change_from_adaptive_keeps_evicting_within_the_limit(client):
    limit, item = configure(client, b'allkeys-adaptive')
    for i in range(100):
        assert write(client, b'a%d' % i, limit, item) == b'+OK\r\n'
    assert _core._test_adaptive_state()['sketch_blocks'] > 0
    for policy in (b'allkeys-lru', b'allkeys-random', b'allkeys-adaptive'):
        assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', policy]) == b'+OK\r\n'
        for i in range(100):
            assert write(client, b'%s%d' % (policy, i), limit, item) == b'+OK\r\n'
    assert int(client.call([b'DBSIZE'])[1:-2]) <= ROOM


def test_sketch_counts_and_saturates(client):
    configure(client, b'allkeys-adaptive')
    client.call([b'SET', b'x', b'1'])     # makes the sketch
    h = 0x5DEECE66D12345
    assert _core._test_sketch(h) == 0
    assert _core._test_sketch(h, 3) == 3
    assert _core._test_sketch(h, 40) == 15


def _maxmemory(client, n):
    assert client.call([b'CONFIG', b'SET', b'maxmemory', b'%d' % n]) == b'+OK\r\n'


def _blocks():
    return _core._test_adaptive_state()['sketch_blocks']


def test_sketch_follows_config_set_maxmemory_and_keeps_its_counts(client):
    """A sketch made for a small maxmemory grows when maxmemory grows (the
    worker's cron runs sketch_fit), shrinks when it falls back, and the counts
    it had survive both; the teardown's walk finds the old pages freed."""
    assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', b'allkeys-adaptive']) == b'+OK\r\n'
    _maxmemory(client, _core.get_setting('used_memory') + 256 * 1024)
    client.call([b'SET', b'x', b'1'])     # makes the sketch
    small = _blocks()
    h = 0x5DEECE66D12345
    assert _core._test_sketch(h, 5) == 5
    assert not _core.sketch_fit()         # the right size already
    _maxmemory(client, 256 * 1024 * 1024)
    assert _core.sketch_fit()
    assert _blocks() >= 64 * small
    assert _core._test_sketch(h) == 5
    assert client.call([b'GET', b'x']) == b'$1\r\n1\r\n'
    _maxmemory(client, _core.get_setting('used_memory') + 256 * 1024)
    assert _core.sketch_fit()
    assert _blocks() == small
    assert _core._test_sketch(h) >= 5


def test_sketch_grows_with_the_key_count(client):
    """Keys much smaller than the 256 bytes the first sizing assumes: once twice
    the keys held pass the 16 keys a block the sketch was made for, it is made
    bigger (and not before)."""
    assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', b'allkeys-adaptive']) == b'+OK\r\n'
    _maxmemory(client, _core.get_setting('used_memory') + 1024 * 1024)
    client.call([b'SET', b'x', b'1'])
    before = _blocks()
    n = 0
    while _blocks() == before and n < 40000:
        for _ in range(500):
            client.call([b'SET', b'k%d' % n, b'v'])
            n += 1
        _core.sketch_fit()
    assert _blocks() >= 2 * before
    assert n >= 8 * before
    assert int(client.call([b'DBSIZE'])[1:-2]) == n + 1   # nothing was evicted
