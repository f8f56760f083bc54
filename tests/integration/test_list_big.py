"""A list of a million elements on a real server: built in batches, read at
both ends and in the middle, trimmed and deleted, with its memory given back."""
import time


def test_million_element_list(r):
    r.delete('big')
    before = r.info('memory')['used_memory']
    t = time.monotonic()
    n, batch = 1_000_000, 10_000
    for start in range(0, n, batch):
        r.rpush('big', *range(start, start + batch))
    assert r.llen('big') == n
    assert r.lindex('big', 0) == b'0'
    assert r.lindex('big', n // 2) == b'%d' % (n // 2)
    assert r.lindex('big', -1) == b'%d' % (n - 1)
    assert r.lrange('big', 500_000, 500_004) == [b'%d' % i for i in range(500_000, 500_005)]
    assert r.lrange('big', -3, -1) == [b'999997', b'999998', b'999999']
    assert r.lpos('big', '999999') == n - 1
    assert r.lpos('big', '999999', maxlen=1000) is None
    r.lset('big', 700_000, 'x')
    assert r.lindex('big', 700_000) == b'x'
    assert r.linsert('big', 'BEFORE', 'x', 'y') == n + 1
    assert r.lindex('big', 700_000) == b'y'
    per_element = (r.memory_usage('big') or 0) / n
    assert 6 < per_element < 20, per_element           # packed: ~2 bytes of framing per element
    assert r.lpop('big', 3) == [b'0', b'1', b'2']
    assert r.rpop('big') == b'999999'
    r.ltrim('big', 100, -100)
    assert r.llen('big') == n + 1 - 4 - 199
    assert r.delete('big') == 1
    assert r.info('memory')['used_memory'] == before
    assert time.monotonic() - t < 20
