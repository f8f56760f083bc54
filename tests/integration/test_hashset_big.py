"""A 1M-field hash and a 1M-member set built and queried through a real server
(nested dicts of thousands of page-sized slot blocks): lengths, lookups,
deletes, random members, a full scan, MEMORY USAGE, and used_memory given back
when the keys are deleted."""
import time

N = 1_000_000
BATCH = 5000


def used_memory(r):
    return r.info('memory')['used_memory']


def build(r, cmd, key, items_of):
    pipe = r.pipeline(transaction=False)
    for start in range(0, N, BATCH):
        pipe.execute_command(cmd, key, *items_of(start, min(start + BATCH, N)))
        if start % (BATCH * 20) == 0:
            pipe.execute()
    pipe.execute()


def test_million_field_hash(r):
    before = used_memory(r)
    t0 = time.monotonic()
    build(r, 'HSET', 'h', lambda a, b: [x for i in range(a, b) for x in (b'f%d' % i, b'%d' % i)])
    assert r.hlen('h') == N
    assert r.object('encoding', 'h') == b'hashtable'
    assert r.hget('h', 'f123456') == b'123456'
    assert r.hmget('h', 'f0', 'f999999', 'nope') == [b'0', b'999999', None]
    assert r.hincrby('h', 'f7', 3) == 10
    assert r.hdel('h', *[b'f%d' % i for i in range(0, 1000)]) == 1000
    assert r.hlen('h') == N - 1000
    assert len(set(r.hrandfield('h', 100))) == 100
    usage = r.memory_usage('h')
    assert 16 * N < usage < 200 * N
    cursor, seen = 0, 0
    while True:
        cursor, chunk = r.hscan('h', cursor, count=5000)
        seen += len(chunk)
        if cursor == 0:
            break
    assert seen >= N - 1000
    assert r.delete('h') == 1
    assert used_memory(r) == before
    assert time.monotonic() - t0 < 60


def test_million_member_set(r):
    before = used_memory(r)
    build(r, 'SADD', 's', lambda a, b: [b'm%d' % i for i in range(a, b)])
    assert r.scard('s') == N
    assert r.sismember('s', 'm765432') == 1
    assert r.smismember('s', ['m0', 'x', 'm999999']) == [1, 0, 1]
    popped = r.spop('s', 10)
    assert len(set(popped)) == 10 and r.scard('s') == N - 10
    assert len(set(r.srandmember('s', 1000))) == 1000
    assert r.sintercard(2, ['s', 's'], limit=5) == 5
    assert r.srem('s', *[b'm%d' % i for i in range(10, 1010)]) <= 1000
    assert r.delete('s') == 1
    assert used_memory(r) == before


def test_unlink_answers_at_once_and_memory_comes_back(r):
    """UNLINK of a 200k-field hash detaches it and leaves the freeing to the
    worker's lazy-free thread; the memory returns soon after."""
    import time
    base = r.info('memory')['used_memory']
    pipe = r.pipeline(transaction=False)
    for i in range(0, 200_000, 1000):
        pipe.hset('bigunlink', mapping={f'f{j}': 'v' for j in range(i, i + 1000)})
    pipe.execute()
    assert r.info('memory')['used_memory'] > base + 5_000_000
    assert r.unlink('bigunlink') == 1
    assert r.exists('bigunlink') == 0
    deadline = time.monotonic() + 10
    while r.info('memory')['used_memory'] != base:
        assert time.monotonic() < deadline, "the unlinked hash was never freed"
        time.sleep(0.01)
    assert r.info('memory')['lazyfreed_objects'] >= 1
