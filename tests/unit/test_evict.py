"""maxmemory and the eight eviction policies, through the dispatcher: what is
evicted, what is kept, the OOM reply, evicted_keys, and how far a write may
take used memory past the limit."""
import time

import pytest
from test_expire import info_stat

from cachecyt import _core

OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
VALUE = b'v' * 1000                      # one item of ~1.3 KB
ROOM = 40                                # items that fit under the limit


def used():
    return _core.get_setting('used_memory')


def configure(client, policy, samples=5, room=ROOM):
    item = _item_size(client)
    limit = used() + room * item
    assert client.call([b'CONFIG', b'SET', b'maxmemory-policy', policy]) == b'+OK\r\n'
    assert client.call([b'CONFIG', b'SET', b'maxmemory-samples', b'%d' % samples]) == b'+OK\r\n'
    assert client.call([b'CONFIG', b'SET', b'maxmemory', b'%d' % limit]) == b'+OK\r\n'
    return limit, item


def _item_size(client):
    before = used()
    client.call([b'SET', b'probe:key', VALUE])
    size = used() - before
    client.call([b'DEL', b'probe:key'])
    return size


def write(client, key, limit, item, *extra):
    """SET key VALUE; used memory may pass the limit by at most this one item
    plus the growth of its shard's table (slots double: at most 16 bytes a key)."""
    reply = client.call([b'SET', key, VALUE, *extra])
    if reply == b'+OK\r\n':
        keys = int(client.call([b'DBSIZE'])[1:-2])
        assert used() <= limit + item + 16 * 2 * keys
    return reply


def exists(client, key):
    return client.call([b'EXISTS', key]) == b':1\r\n'


def test_noeviction_refuses_writes_but_serves_reads_and_deletes(client):
    limit, item = configure(client, b'noeviction')
    n = 0
    while write(client, b'k%d' % n, limit, item) == b'+OK\r\n':
        n += 1
        assert n < 2 * ROOM
    assert n >= ROOM - 2
    assert client.call([b'SET', b'k%d' % n, VALUE]) == OOM
    assert client.call([b'INCR', b'counter']) == OOM
    assert client.call([b'GET', b'k0']) == b'$1000\r\n' + VALUE + b'\r\n'
    assert client.call([b'DEL', b'k0', b'k1']) == b':2\r\n'
    assert client.call([b'SET', b'again', b'1']) == b'+OK\r\n'
    assert info_stat(client, 'evicted_keys') == 0


@pytest.mark.parametrize('policy', [b'allkeys-lru', b'allkeys-lfu', b'allkeys-random'])
def test_allkeys_policies_evict_any_key(client, policy):
    limit, item = configure(client, policy)
    for i in range(200):
        assert write(client, b'k%d' % i, limit, item) == b'+OK\r\n'
    n = int(client.call([b'DBSIZE'])[1:-2])
    assert ROOM - 5 <= n <= ROOM
    assert info_stat(client, 'evicted_keys') == 200 - n
    assert exists(client, b'k199')


@pytest.mark.parametrize('policy', [b'volatile-lru', b'volatile-lfu', b'volatile-random',
                                    b'volatile-ttl'])
def test_volatile_policies_evict_only_keys_with_a_ttl(client, policy):
    limit, item = configure(client, policy)
    for i in range(ROOM // 2):
        assert write(client, b'keep%d' % i, limit, item) == b'+OK\r\n'
    for i in range(100):
        assert write(client, b'ttl%d' % i, limit, item, b'EX', b'1000') == b'+OK\r\n'
    assert all(exists(client, b'keep%d' % i) for i in range(ROOM // 2))
    assert info_stat(client, 'evicted_keys') >= 100 - ROOM // 2
    # persistent writes use up the room; with no volatile key left: OOM
    replies = [write(client, b'more%d' % i, limit, item) for i in range(ROOM)]
    assert OOM in replies
    assert client.call([b'SET', b'one-more', VALUE]) == OOM
    assert _core.keyspace_info()[0][2] == 0
    assert all(exists(client, b'keep%d' % i) for i in range(ROOM // 2))


def test_volatile_ttl_evicts_the_nearest_expiry_first(client):
    limit, item = configure(client, b'volatile-ttl', samples=64)
    for i in range(30):                   # TTLs 1000 s, 1010 s, ...: soonest first
        assert write(client, b't%d' % i, limit, item, b'EX', b'%d' % (1000 + 10 * i)) == b'+OK\r\n'
    for i in range(25):
        assert write(client, b'p%d' % i, limit, item) == b'+OK\r\n'
    gone = [i for i in range(30) if not exists(client, b't%d' % i)]
    assert gone == list(range(len(gone))) and len(gone) >= 10


@pytest.mark.parametrize('policy', [b'allkeys-lru', b'volatile-lru'])
def test_lru_keeps_recently_read_keys(client, policy):
    limit, item = configure(client, policy, samples=64)
    ttl = [b'EX', b'1000']
    for i in range(30):
        assert write(client, b'k%d' % i, limit, item, *ttl) == b'+OK\r\n'
    time.sleep(1.1)                       # the LRU clock ticks in seconds
    hot = range(0, 30, 3)
    for i in hot:
        assert client.call([b'GET', b'k%d' % i]) == b'$1000\r\n' + VALUE + b'\r\n'
    for i in range(15):
        assert write(client, b'new%d' % i, limit, item, *ttl) == b'+OK\r\n'
    assert info_stat(client, 'evicted_keys') >= 5
    assert all(exists(client, b'k%d' % i) for i in hot)
    assert all(exists(client, b'new%d' % i) for i in range(15))


@pytest.mark.parametrize('policy', [b'allkeys-lfu', b'volatile-lfu'])
def test_lfu_keeps_frequently_read_keys(client, policy):
    limit, item = configure(client, policy, samples=64)
    ttl = [b'EX', b'1000']
    for i in range(30):
        assert write(client, b'k%d' % i, limit, item, *ttl) == b'+OK\r\n'
    hot = range(0, 30, 3)
    for _ in range(5):
        for i in hot:
            client.call([b'GET', b'k%d' % i])
    for i in range(15):
        assert write(client, b'new%d' % i, limit, item, *ttl) == b'+OK\r\n'
    assert info_stat(client, 'evicted_keys') >= 5
    assert all(exists(client, b'k%d' % i) for i in hot)


def test_a_big_write_is_paid_for_by_the_next_write(client):
    limit, item = configure(client, b'allkeys-random', room=200)
    for i in range(150):
        assert write(client, b'k%d' % i, limit, item) == b'+OK\r\n'
    big = b'b' * 200_000
    assert client.call([b'SET', b'big', big]) == b'+OK\r\n'
    assert limit < used() <= limit + len(big) + 4 * 65536
    # the next write first evicts back under the limit (big or many small keys)
    assert client.call([b'SET', b'after', b'x']) == b'+OK\r\n'
    assert used() <= limit + item
    assert info_stat(client, 'evicted_keys') > 0
