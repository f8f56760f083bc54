"""Keyspace walking and moving commands on a real node (2 workers) through
redis-py, and the same command sequences replayed on a stock redis-server."""
import random

import pytest
import redis


@pytest.fixture
def ref(redis_ref):
    client = redis.Redis(host=redis_ref[0], port=redis_ref[1], protocol=2)
    client.flushall()
    client.config_set('maxmemory-policy', 'noeviction')
    yield client
    client.close()


def run(client, *args):
    """A command's reply, or its error text, so two servers compare equal."""
    try:
        return client.execute_command(*args)
    except redis.ResponseError as e:
        return ('error', str(e))


def scan_set(client, **opts):
    return set(client.scan_iter(**opts))


def both(r, ref, *args):
    """Run on cachecyt and redis-server; assert equal replies; return ours."""
    ours, theirs = run(r, *args), run(ref, *args)
    assert ours == theirs, args
    return ours


# ---- through redis-py --------------------------------------------------------------

def test_keys_scan_randomkey(r):
    names = {f'user:{i}'.encode() for i in range(500)}
    with r.pipeline(transaction=False) as p:
        for k in names:
            p.set(k, 1)
        p.execute()
    assert set(r.keys('*')) == names
    assert set(r.keys('user:1?')) == {f'user:1{i}'.encode() for i in range(10)}
    assert scan_set(r) == names
    assert scan_set(r, match='user:4*', count=50) == {k for k in names if k.startswith(b'user:4')}
    assert scan_set(r, _type='string') == names
    assert scan_set(r, _type='hash') == set()
    assert r.randomkey() in names
    r.flushdb()
    assert r.randomkey() is None
    assert r.scan(0) == (0, [])


def test_rename_copy_touch_object_memory(r):
    r.set('a', 'hello', ex=100)
    assert r.rename('a', 'b') is True
    assert r.ttl('b') == 100
    assert r.renamenx('b', 'c') is True
    assert r.copy('c', 'd') is True
    assert r.copy('c', 'd') is False
    assert r.copy('c', 'd', destination_db=5) is True
    assert r.mget('b', 'c', 'd') == [None, b'hello', b'hello']
    assert r.touch('c', 'd', 'nope') == 2
    assert r.object('encoding', 'c') == b'embstr'
    assert r.object('refcount', 'c') == 1
    assert r.object('idletime', 'c') == 0
    assert r.object('encoding', 'nope') is None
    assert 40 < r.memory_usage('c') < 200
    assert r.memory_usage('nope') is None
    with pytest.raises(redis.ResponseError, match='no such key'):
        r.rename('nope', 'x')


def test_copy_is_visible_from_other_db_and_other_worker(server, r):
    r.set('src', 'v')
    assert r.copy('src', 'dst', destination_db=2)
    other = redis.Redis(host=server[0], port=server[1], db=2)
    try:
        # a fresh connection may land on the other worker: the copy is in shared memory
        assert other.get('dst') == b'v'
        assert other.keys('*') == [b'dst']
    finally:
        other.close()


def test_scan_while_shards_grow_and_shrink(server, r):
    # few stable keys (about 5 a shard) and much churn: the tables double a few
    # times, then fall below 10% load and halve again
    stable = {f'stable:{i}'.encode() for i in range(300)}
    with r.pipeline(transaction=False) as p:
        for k in stable:
            p.set(k, 'x')
        p.execute()
    writer = redis.Redis(host=server[0], port=server[1])
    seen, cursor, step = set(), 0, 0
    try:
        while True:
            cursor, batch = r.scan(cursor, count=40)
            seen.update(batch)
            with writer.pipeline(transaction=False) as p:
                if step % 2 == 0:                   # grow
                    for i in range(2000):
                        p.set(f'churn:{step}:{i}', 'y')
                else:                               # shrink back
                    for i in range(2000):
                        p.delete(f'churn:{step - 1}:{i}')
                p.execute()
            step += 1
            if cursor == 0:
                break
    finally:
        writer.close()
    assert step > 10
    missing = stable - seen
    assert not missing, f"{len(missing)} keys present throughout were not returned"


# ---- against redis-server --------------------------------------------------------------

def load(clients, keys):
    for c in clients:
        with c.pipeline(transaction=False) as p:
            for k, v in keys.items():
                p.set(k, v)
            p.execute()


def test_keys_and_scan_sets_match_redis(r, ref):
    keys = {f'{a}:{b}{n}': n for a in ('user', 'item', 'x') for b in 'ab?*[' for n in range(12)}
    keys.update({'': 'empty', 'h*llo': 1, 'hello': 2, 'hallo': 3, 'h\\llo': 4, '\xe9t\xe9': 5})
    load((r, ref), keys)
    patterns = ['*', '**', '', '?', 'user:*', '*:a1?', 'x:[ab]*', 'x:[^ab]*', 'h\\*llo', 'h?llo',
                'h[a-e]llo', 'user:\\?*', 'user:[*', 'item:[\\[]1', '*1', '[', '\\', '*[a-', 'x:?1*']
    for pat in patterns:
        assert sorted(r.keys(pat)) == sorted(ref.keys(pat)), pat
        ours = scan_set(r, match=pat, count=7)
        assert ours == scan_set(ref, match=pat, count=7), pat
    assert scan_set(r, _type='string') == scan_set(ref, _type='string')
    assert scan_set(r, _type='STRING', match='item*') == scan_set(ref, _type='STRING', match='item*')


def test_glob_fuzz_matches_redis(r, ref):
    rnd = random.Random(7)
    alphabet = 'ab*?[]^-\\'
    keys = {''.join(rnd.choice('ab-]^[\\*?') for _ in range(rnd.randint(0, 5))) for _ in range(60)}
    load((r, ref), {k: 1 for k in keys})
    for _ in range(300):
        pat = ''.join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 7)))
        assert sorted(r.keys(pat)) == sorted(ref.keys(pat)), pat


def test_rename_copy_sequences_match_redis(r, ref):
    sequence = [
        ('RENAME', 'a', 'b'), ('RENAMENX', 'a', 'b'), ('SET', 'a', '1'), ('RENAME', 'a', 'a'),
        ('RENAMENX', 'a', 'a'), ('SET', 'b', 'two'), ('RENAMENX', 'a', 'b'), ('RENAME', 'a', 'b'),
        ('GET', 'b'), ('EXISTS', 'a'), ('EXPIRE', 'b', '100'), ('RENAME', 'b', 'c'), ('TTL', 'c'),
        ('COPY', 'c', 'c'), ('COPY', 'nokey', 'nokey'), ('COPY', 'nokey', 'x'), ('COPY', 'c', 'd'),
        ('TTL', 'd'), ('COPY', 'c', 'd'), ('COPY', 'c', 'd', 'REPLACE'), ('COPY', 'c', 'd', 'DB', '16'),
        ('COPY', 'c', 'd', 'DB', '-1'), ('COPY', 'c', 'd', 'DB', 'x'), ('COPY', 'c', 'd', 'DB'),
        ('COPY', 'c', 'd', 'FOO'), ('COPY', 'c', 'd', 'DB', '1', 'DB', '2'), ('COPY', 'c', 'c', 'DB', '1'),
        ('COPY', 'c', 'c', 'DB', '0'), ('COPY', 'c', 'd', 'DB', '4294967296'), ('COPY', 'c', 'd', 'replace', 'replace'),
        ('SELECT', '2'), ('GET', 'd'), ('SELECT', '0'), ('SET', 'n', '7'), ('COPY', 'n', 'm'),
        ('OBJECT', 'ENCODING', 'm'), ('OBJECT', 'ENCODING', 'c'), ('SET', 'r', 'x' * 45),
        ('OBJECT', 'ENCODING', 'r'), ('APPEND', 'n', '1'), ('OBJECT', 'ENCODING', 'n'),
        ('OBJECT', 'ENCODING', 'missing'), ('OBJECT', 'REFCOUNT', 'n'), ('SET', 'big', '10000'),
        ('OBJECT', 'REFCOUNT', 'big'), ('OBJECT', 'REFCOUNT', 'c'), ('OBJECT', 'FREQ', 'c'),
        ('OBJECT', 'IDLETIME', 'c'), ('OBJECT', 'HELP'), ('OBJECT', 'foo'), ('OBJECT', 'ENCODING'),
        ('OBJECT', 'HELP', 'x'), ('TOUCH', 'c', 'd', 'x', 'c'), ('TOUCH', 'nope'), ('MEMORY', 'HELP'),
        ('MEMORY', 'USAGE', 'nope'), ('MEMORY', 'USAGE', 'c', 'SAMPLES'), ('MEMORY', 'USAGE', 'c', 'FOO'),
        ('MEMORY', 'USAGE', 'c', 'SAMPLES', 'x'), ('MEMORY', 'USAGE', 'c', 'SAMPLES', '-1'),
        ('MEMORY', 'foo'), ('MEMORY', 'PURGE'), ('SCAN', 'x'), ('SCAN', '0', 'COUNT', '0'),
        ('SCAN', '0', 'COUNT', 'x'), ('SCAN', '0', 'MATCH'), ('SCAN', '0', 'BAR', 'x'),
        ('DBSIZE',), ('FLUSHALL',), ('RANDOMKEY',), ('KEYS', '*'), ('SCAN', '0'),
        ('SCAN', '0', 'MATCH', '*', 'COUNT', '100', 'TYPE', 'string'),
    ]
    for cmd in sequence:
        both(r, ref, *cmd)


def test_object_freq_under_lfu_matches_redis(r, ref):
    for c in (r, ref):
        c.config_set('maxmemory-policy', 'allkeys-lfu')
    try:
        for cmd in [('SET', 'k', 'v'), ('OBJECT', 'FREQ', 'k'), ('OBJECT', 'IDLETIME', 'k'),
                    ('OBJECT', 'FREQ', 'nope'), ('OBJECT', 'IDLETIME', 'nope'), ('SET', 'i', '5'),
                    ('OBJECT', 'REFCOUNT', 'i')]:
            both(r, ref, *cmd)
    finally:
        for c in (r, ref):
            c.config_set('maxmemory-policy', 'noeviction')


def test_lookup_stats_match_redis(r, ref):
    """TOUCH, OBJECT and COPY's source count as keyspace hits or misses; RENAME,
    MEMORY USAGE, KEYS, SCAN and RANDOMKEY do not."""
    def stats(c):
        info = c.info('stats')
        return info['keyspace_hits'], info['keyspace_misses']

    for c in (r, ref):
        c.set('a', '1')
    for cmd in [('TOUCH', 'a', 'zz', 'a'), ('OBJECT', 'ENCODING', 'a'), ('OBJECT', 'ENCODING', 'zz'),
                ('COPY', 'a', 'c'), ('COPY', 'zz', 'q'), ('RENAME', 'a', 'd'), ('MEMORY', 'USAGE', 'd'),
                ('RANDOMKEY',), ('SCAN', '0'), ('KEYS', '*')]:
        before = stats(r), stats(ref)
        run(r, *cmd)
        run(ref, *cmd)
        ours = [x - y for x, y in zip(stats(r), before[0])]
        theirs = [x - y for x, y in zip(stats(ref), before[1])]
        assert ours == theirs, cmd


def test_resp3_replies(r3):
    assert r3.randomkey() is None
    assert r3.object('encoding', 'nope') is None
    assert r3.memory_usage('nope') is None
    r3.set('k', 'v')
    assert r3.scan(0) == (0, [b'k'])
    assert r3.keys('*') == [b'k']
    assert r3.object('encoding', 'k') == b'embstr'
