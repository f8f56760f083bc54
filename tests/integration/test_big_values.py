"""Values far larger than a 64 KiB page (stored as extents): SET, GET, APPEND,
SETRANGE, GETRANGE and STRLEN round trips, and the memory given back on DEL."""
import pytest
from diff.rawresp import RawConn, encode

MB = 1024 * 1024


def pattern(n, seed=0):
    """n bytes that differ along the value, so a misplaced extent shows."""
    block = bytes((i * 7 + seed) % 251 for i in range(4096))
    return (block * (n // 4096 + 1))[:n]


@pytest.mark.parametrize('size', [1 * MB, 10 * MB, 100 * MB], ids=['1MB', '10MB', '100MB'])
def test_set_get_append_roundtrip(r, size):
    value = pattern(size)
    assert r.set('big', value) is True
    assert r.strlen('big') == size
    assert r.get('big') == value
    tail = pattern(70000, seed=3)
    assert r.append('big', tail) == size + len(tail)
    got = r.get('big')
    assert len(got) == size + len(tail)
    assert got[:size] == value and got[size:] == tail
    assert r.getrange('big', size - 10, size + 9) == value[-10:] + tail[:10]
    assert r.delete('big') == 1


def test_setrange_inside_and_past_the_end(r):
    value = pattern(3 * MB)
    r.set('big', value)
    assert r.setrange('big', MB + 5, b'hello') == 3 * MB
    assert r.setrange('big', 3 * MB + 100, b'end') == 3 * MB + 103
    want = value[:MB + 5] + b'hello' + value[MB + 10:] + b'\0' * 100 + b'end'
    assert r.get('big') == want


def test_append_grows_from_small_to_big(r):
    chunk = pattern(100000, seed=5)
    for i in range(30):
        assert r.append('grow', chunk) == (i + 1) * len(chunk)
    assert r.get('grow') == chunk * 30


def test_many_big_values_and_memory_given_back(r):
    before = r.info('memory')['used_memory']
    for i in range(20):
        r.set(f'v{i}', pattern(2 * MB, seed=i))
    for i in range(20):
        assert r.get(f'v{i}') == pattern(2 * MB, seed=i)
    assert r.info('memory')['used_memory'] >= before + 40 * MB
    r.delete(*[f'v{i}' for i in range(20)])
    assert r.info('memory')['used_memory'] == before


def test_key_longer_than_a_page(r):
    key = b'k' * 70000
    assert r.incr(key) == 1
    assert r.get(key) == b'1'
    assert r.incrby(key, 41) == 42
    assert r.strlen(key) == 2
    assert r.append(key, b'x' * 100000) == 100002
    assert r.get(key) == b'42' + b'x' * 100000
    assert r.set(key, b'7') is True
    assert r.decr(key) == 6
    assert r.incrbyfloat(key, 0.5) == 6.5
    assert r.expire(key, 100) is True
    assert 99 <= r.ttl(key) <= 100
    assert r.exists(key) == 1
    assert r.getdel(key) == b'6.5'
    assert r.exists(key) == 0


@pytest.mark.slow
def test_value_of_proto_max_bulk_len(r):
    """A value of proto-max-bulk-len lists its extents through index chunks."""
    assert r.setrange('huge', 512 * MB - 1, b'!') == 512 * MB
    assert r.getrange('huge', 512 * MB - 2, -1) == b'\0!'
    assert r.strlen('huge') == 512 * MB
    assert r.delete('huge') == 1


def test_small_ranges_of_a_big_value(server, r):
    """GETRANGE copies only the range asked for: 1000 small reads of a 64 MB value
    are immediate (copying the whole value each time would take many seconds)."""
    value = pattern(64 * MB)
    r.set('big', value)
    offsets = [(i * 65521) % (64 * MB - 20) for i in range(1000)]
    with RawConn(server, timeout=5) as c:
        c.send(b''.join(encode('GETRANGE', 'big', o, o + 19) for o in offsets))
        for o in offsets:
            assert c.read_reply() == b'$20\r\n' + value[o:o + 20] + b'\r\n'
    assert r.getrange('big', -5, -1) == value[-5:]
    assert r.getrange('big', 64 * MB - 3, 10 ** 12) == value[-3:]


def test_small_appends_to_a_big_value(server, r):
    """APPEND writes in place while the value's last page has room: 2000 small
    appends to a 64 MB value are immediate (moving the value each time would
    copy 128 GB)."""
    value = pattern(64 * MB)
    r.set('big', value)
    with RawConn(server, timeout=5) as c:
        c.send(b''.join(encode('APPEND', 'big', b'%010d' % i) for i in range(2000)))
        for i in range(2000):
            assert c.read_reply() == b':%d\r\n' % (64 * MB + 10 * (i + 1))
    tail = b''.join(b'%010d' % i for i in range(2000))
    assert r.getrange('big', 64 * MB - 3, -1) == value[-3:] + tail
    assert r.strlen('big') == 64 * MB + len(tail)


def test_small_setranges_in_a_big_value(server, r):
    """SETRANGE inside a big value writes in place: 2000 small writes into a 64 MB
    value are immediate."""
    value = bytearray(pattern(64 * MB))
    r.set('big', bytes(value))
    offsets = [(i * 65521) % (64 * MB - 10) for i in range(2000)]
    with RawConn(server, timeout=5) as c:
        c.send(b''.join(encode('SETRANGE', 'big', o, b'%010d' % i) for i, o in enumerate(offsets)))
        for _ in offsets:
            assert c.read_reply() == b':%d\r\n' % (64 * MB)
    for i, o in enumerate(offsets):
        value[o:o + 10] = b'%010d' % i
    assert r.get('big') == bytes(value)
