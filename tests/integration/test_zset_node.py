"""Sorted sets on a running node: redis-py (RESP2 and RESP3) reads what another
worker wrote, keys expire and are evicted under maxmemory like any other, and
FLUSHALL gives their memory back."""
import time

import redis


def test_redis_py_round_trip_both_protocols(r, r3):
    assert r.zadd('board', {'ann': 10, 'bob': 7.5, 'cy': 12}) == 3
    assert r.zrange('board', 0, -1, withscores=True) == [(b'bob', 7.5), (b'ann', 10.0), (b'cy', 12.0)]
    assert r3.zrevrange('board', 0, 0, withscores=True) == [[b'cy', 12.0]]
    assert r3.zscore('board', 'bob') == 7.5
    assert r.zincrby('board', 5, 'bob') == 12.5
    assert r.zrank('board', 'bob') == 2
    assert r.zpopmin('board') == [(b'ann', 10.0)]
    assert r3.zmpop(1, ['board'], max=True) == [b'board', [[b'bob', 12.5]]]
    assert r.zcard('board') == 1


def test_values_seen_by_every_worker(server):
    clients = [redis.Redis(host=server[0], port=server[1]) for _ in range(6)]
    try:
        clients[0].delete('shared')
        for i, c in enumerate(clients):
            c.zadd('shared', {b'w%d' % i: i})
        for c in clients:
            assert c.zrange('shared', 0, -1) == [b'w%d' % i for i in range(6)]
        clients[0].delete('shared')
    finally:
        for c in clients:
            c.close()


def test_expiry_and_eviction_free_zsets(r):
    used_empty = r.info('memory')['used_memory']
    r.zadd('short', {'a': 1})
    r.pexpire('short', 50)
    time.sleep(0.1)
    assert r.exists('short') == 0
    try:
        r.config_set('maxmemory', used_empty + 2 * 1024 * 1024)
        r.config_set('maxmemory-policy', 'allkeys-random')
        for k in range(400):
            r.zadd(b'z%d' % k, {b'member-%d' % i: i for i in range(200)})
        assert r.info('memory')['used_memory'] <= used_empty + 2 * 1024 * 1024 + 64 * 1024
        assert 0 < r.dbsize() < 400
    finally:
        r.config_set('maxmemory', 0)
        r.config_set('maxmemory-policy', 'noeviction')
    r.flushall()
    assert r.info('memory')['used_memory'] == used_empty


def test_reads_count_keyspace_hits_and_misses(r):
    r.config_resetstat()
    r.zadd('z', {'a': 1})
    r.zscore('z', 'a')
    r.zrange('z', 0, -1)
    r.zscore('missing', 'a')
    r.zrem('missing', 'a')                      # a write: not counted
    stats = r.info('stats')
    assert (stats['keyspace_hits'], stats['keyspace_misses']) == (2, 1)
