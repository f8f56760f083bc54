"""maxmemory on a running node: writes from both workers evict under the
allkeys policies, used memory stays at the limit, INFO counts evictions, and a
node that cannot evict answers with Redis's OOM error."""
import pytest
import redis

LIMIT_EXTRA = 2 * 1024 * 1024
VALUE = b'x' * 1000


@pytest.fixture
def clients(node):
    """Several connections (SO_REUSEPORT spreads them over both workers)."""
    cs = [redis.Redis(port=node.port, protocol=2) for _ in range(6)]
    cs[0].flushall()
    cs[0].config_set('maxmemory', 0)
    cs[0].config_set('maxmemory-policy', 'noeviction')
    yield cs
    cs[0].config_set('maxmemory', 0)
    for c in cs:
        c.close()


def limit_from_now(c):
    limit = c.info('memory')['used_memory'] + LIMIT_EXTRA
    c.config_set('maxmemory', limit)
    return limit


def fill(cs, n, prefix='k', **kw):
    for i in range(0, n, 100):
        c = cs[(i // 100) % len(cs)]
        pipe = c.pipeline(transaction=False)
        for j in range(i, i + 100):
            pipe.set(f'{prefix}{j}', VALUE, **kw)
        assert pipe.execute() == [True] * 100


@pytest.mark.parametrize('policy', ['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])
def test_writes_evict_and_memory_stays_at_the_limit(clients, policy):
    c = clients[0]
    c.config_set('maxmemory-policy', policy)
    limit = limit_from_now(c)
    fill(clients, 6000)
    mem = c.info('memory')
    assert mem['used_memory'] <= limit + 64 * 1024
    assert mem['maxmemory_policy'] == policy
    evicted = c.info('stats')['evicted_keys']
    keys = c.dbsize()
    assert keys < 6000 and evicted >= 6000 - keys
    assert c.get('k5999') == VALUE


def test_noeviction_answers_oom_like_redis(clients, redis_ref):
    c = clients[0]
    c.config_set('maxmemory-policy', 'noeviction')
    limit_from_now(c)
    with pytest.raises(redis.exceptions.OutOfMemoryError) as ours:
        fill(clients, 6000)
    ref = redis.Redis(port=redis_ref[1])
    try:
        ref.config_set('maxmemory', 1)
        with pytest.raises(redis.exceptions.OutOfMemoryError) as theirs:
            ref.set('k', 'v')
    finally:
        ref.config_set('maxmemory', 0)
        ref.close()
    assert str(ours.value).endswith('caused error: ' + str(theirs.value))
    with pytest.raises(redis.exceptions.OutOfMemoryError) as single:
        c.set('one-more', VALUE)
    assert str(single.value) == str(theirs.value)
    assert c.get('k0') == VALUE                   # reads still work
    assert c.delete('k0', 'k1') == 2


def test_volatile_policy_with_no_volatile_keys_is_oom(clients):
    c = clients[0]
    c.config_set('maxmemory-policy', 'volatile-lru')
    limit_from_now(c)
    fill(clients, 500, prefix='ttl', ex=1000)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        fill(clients, 6000, prefix='plain')
    assert c.info('keyspace')['db0']['expires'] < 500
    assert c.get('plain0') == VALUE               # persistent keys are never evicted
