"""Allocator accounting: used_memory is exactly the chunk bytes of live
allocations, empty pages go back to the pool, big values live in extents, and
running out of pages fails cleanly without leaking."""
import random

from conftest import assert_core_sound, make_segment

from cachecyt import _core

PAGE = 65536


def used():
    return _core.get_setting('used_memory')


def pages_used():
    return _core.get_setting('pages_used')


def test_used_memory_is_the_sum_of_live_chunk_sizes(core):
    base = used()
    rng = random.Random(1)
    live = {}
    for i in range(3000):
        if live and rng.random() < 0.35:
            off = rng.choice(list(live))
            _core._test_free(off)
            del live[off]
        else:
            size = rng.choice([1, 17, 40, 100, 700, 4000, 30000, PAGE])
            off = _core._test_alloc(size)
            assert off and off not in live
            assert _core._test_chunk_size(off) >= size
            live[off] = _core._test_chunk_size(off)
        assert used() == base + sum(live.values())
    for off in list(live):
        _core._test_free(off)
    assert used() == base


def test_chunks_do_not_overlap(core):
    rng = random.Random(2)
    chunks = []
    for i in range(400):
        size = rng.choice([24, 90, 513, 2000, 20000])
        off = _core._test_alloc(size)
        data = bytes([i % 251]) * size
        _core._test_write(off, data)
        chunks.append((off, data))
    for off, data in chunks:
        assert _core._test_read(off, len(data)) == data
    for off, _ in chunks:
        _core._test_free(off)


def test_emptied_pages_go_back_to_the_pool(core):
    base_pages = pages_used()
    offs = [_core._test_alloc(1000) for _ in range(400)]     # ~7 pages of one class
    assert pages_used() >= base_pages + 6
    for off in offs:
        _core._test_free(off)
    assert pages_used() <= base_pages + 1     # a class keeps at most one empty page
    # the pages are reused by another class
    offs = [_core._test_alloc(30000) for _ in range(12)]
    assert pages_used() <= base_pages + 1 + 12
    for off in offs:
        _core._test_free(off)


def test_deleting_every_key_returns_to_the_empty_baseline(client):
    base = used()
    for i in range(2000):
        assert client.call([b'SET', b'key:%d' % i, b'v' * (i % 900)]) == b'+OK\r\n'
    assert used() > base + 2000 * 40
    for i in range(2000):
        assert client.call([b'DEL', b'key:%d' % i]) == b':1\r\n'
    assert used() == base


def test_big_values_use_whole_page_extents(client):
    base = used()
    value = bytes(random.Random(3).randrange(256) for _ in range(300_000))
    assert client.call([b'SET', b'big', value]) == b'+OK\r\n'
    n = (len(value) + 3 + PAGE - 1) // PAGE
    grown = used() - base
    assert n * PAGE < grown <= n * PAGE + 128
    assert client.call([b'GET', b'big']) == b'$%d\r\n%s\r\n' % (len(value), value)
    assert client.call([b'STRLEN', b'big']) == b':300000\r\n'
    assert client.call([b'GETRANGE', b'big', b'65530', b'65545']) == \
        b'$16\r\n' + value[65530:65546] + b'\r\n'
    assert client.call([b'SET', b'big', b'small']) == b'+OK\r\n'
    assert client.call([b'GET', b'big']) == b'$5\r\nsmall\r\n'
    assert client.call([b'DEL', b'big']) == b':1\r\n'
    assert used() == base


def test_out_of_pages_fails_cleanly():
    seg = make_segment(shards=2, pages=24)
    try:
        base = used()
        big = b'x' * (PAGE * 5)
        stored = 0
        while _core._test_store(b'big:%d' % stored, big):
            stored += 1
        assert 0 < stored < 5
        # a failed store of a value with extents gives back what it took
        assert_core_sound()
        assert _core._test_find(b'big:%d' % stored) is None
        # small keys still fit in what is left, and deletes free everything
        assert _core._test_store(b'small', b'y')
        for i in range(stored):
            assert _core._test_delete(b'big:%d' % i)
        assert _core._test_delete(b'small')
        assert used() == base
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


def test_alloc_of_more_than_a_page_is_refused(core):
    assert _core._test_alloc(PAGE + 1) == 0


def test_strings_growing_across_the_extent_boundary_keep_the_books(client):
    """SET, APPEND and SETRANGE move values between inline chunks and extents;
    after each step the value is right and the walk (teardown) balances."""
    rng = random.Random(5)
    model = {}
    base = used()
    for n in range(1500):
        k = b'k%d' % rng.randrange(12)
        op = rng.randrange(4)
        if op == 0:
            v = bytes([97 + n % 26]) * rng.choice([0, 7, 3000, PAGE - 60, 140000])
            assert client.call([b'SET', k, v]) == b'+OK\r\n'
            model[k] = v
        elif op == 1:
            v = b'A' * rng.choice([1, 500, 66000])
            model[k] = model.get(k, b'') + v
            assert client.call([b'APPEND', k, v]) == b':%d\r\n' % len(model[k])
        elif op == 2:
            off, v = rng.randrange(150000), b'Z' * rng.choice([1, 70000])
            cur = model.get(k, b'').ljust(off, b'\0')
            model[k] = cur[:off] + v + cur[off + len(v):]
            assert client.call([b'SETRANGE', k, b'%d' % off, v]) == b':%d\r\n' % len(model[k])
        else:
            assert client.call([b'DEL', k]) == (b':1\r\n' if model.pop(k, None) is not None
                                                else b':0\r\n')
        if k in model:
            v = model[k]
            assert client.call([b'GET', k]) == b'$%d\r\n%s\r\n' % (len(v), v)
    for k in model:
        client.call([b'DEL', k])
    assert used() == base
