"""Shard tables: insert, lookup, delete, growth and shrink, with keys forced into
the same home slot through the _test_* hooks (a key stored under a chosen hash).
Every test ends with the invariant walk of the `core` fixture."""
import random

from conftest import assert_core_sound, make_segment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachecyt import _core

MIN_TABLE = 8


def chosen_hash(shard, home, high=0, shard_bits=3):
    """A hash that lands in `shard` with home slot `home` in any table bigger
    than `home`; `high` sets bits above every table size we reach."""
    return shard | (home << shard_bits) | (high << 40)


def test_many_keys_grow_then_shrink_back(core):
    n = 5000
    for i in range(n):
        assert _core._test_store(b'key:%d' % i, b'v%d' % i)
    sizes = [_core._test_shard_info(s)['slots'] for s in range(8)]
    assert all(size >= 1024 for size in sizes)
    assert sum(_core._test_shard_info(s)['count'] for s in range(8)) == n
    for i in range(n):
        assert _core._test_find(b'key:%d' % i) == b'v%d' % i
    assert_core_sound()
    for i in range(0, n, 2):
        assert _core._test_delete(b'key:%d' % i)
    for i in range(n):
        assert _core._test_find(b'key:%d' % i) == (None if i % 2 == 0 else b'v%d' % i)
    for i in range(1, n, 2):
        assert _core._test_delete(b'key:%d' % i)
    assert [_core._test_shard_info(s)['slots'] for s in range(8)] == [MIN_TABLE] * 8
    assert not _core._test_delete(b'key:1')


def test_keys_with_one_identical_hash_stay_distinct(core):
    h = chosen_hash(5, 3)
    keys = [b'same:%d' % i for i in range(60)]
    for k in keys:
        assert _core._test_store(k, k + b'!', h)
    info = _core._test_shard_info(5)
    assert info['count'] == 60 and all(hh == h for _, hh in info['entries'])
    for k in keys[::3]:
        assert _core._test_delete(k, h)
    for i, k in enumerate(keys):
        assert _core._test_find(k, h) == (None if i % 3 == 0 else k + b'!')
    # overwrite keeps one entry per key
    assert _core._test_store(keys[1], b'new', h)
    assert _core._test_find(keys[1], h) == b'new'
    assert _core._test_shard_info(5)['count'] == 40


def test_shared_home_splits_when_the_table_grows(core):
    keys = {b'split:%d' % i: chosen_hash(2, 1, high=i) for i in range(40)}
    for i, (k, h) in enumerate(keys.items()):
        assert _core._test_store(k, b'%d' % i, h)
        assert _core._test_find(k, h) == b'%d' % i
    for i, (k, h) in enumerate(keys.items()):
        assert _core._test_find(k, h) == b'%d' % i


def test_runs_that_wrap_past_the_last_slot(core):
    # homes at the last slots of an 8-slot table: the run wraps to slot 0
    hashes = [chosen_hash(1, 7)] * 3 + [chosen_hash(1, 6)] * 2
    keys = [b'wrap:%d' % i for i in range(len(hashes))]
    for k, h in zip(keys, hashes):
        assert _core._test_store(k, k, h)
    assert _core._test_shard_info(1)['slots'] == MIN_TABLE
    slots = sorted(slot for slot, _ in _core._test_shard_info(1)['entries'])
    assert 0 in slots and 7 in slots
    for victim in (keys[0], keys[3]):
        assert _core._test_delete(victim, hashes[keys.index(victim)])
        for k, h in zip(keys, hashes):
            if k not in (keys[0], keys[3]) or (k == keys[3] and victim == keys[0]):
                assert _core._test_find(k, h) == k


def test_backward_shift_keeps_runs_intact_in_a_crowded_table(core):
    rng = random.Random(7)
    homes = [0, 1, 1, 2, 5, 7, 7, 7]
    model = {}
    for i in range(200):
        k = b'crowd:%d' % rng.randrange(40)
        h = chosen_hash(4, rng.choice(homes), high=rng.randrange(4))
        h = model.get(k, (None, h))[1]
        if rng.random() < 0.55:
            assert _core._test_store(k, b'%d' % i, h)
            model[k] = (b'%d' % i, h)
        elif k in model:
            assert _core._test_delete(k, h)
            del model[k]
        for kk, (v, hh) in model.items():
            assert _core._test_find(kk, hh) == v


ops = st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(0, 7), st.integers(0, 3)),
               min_size=1, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_inserts_and_deletes_match_a_dict(seq):
    """Property: after any sequence of inserts and deletes of keys crowded into
    few home slots, every key the model holds is found with its value, every
    other key is absent, and the table passes the invariant walk."""
    seg = make_segment(shards=2, pages=64)
    try:
        model = {}
        hashes = {}
        for is_insert, key_id, home, high in seq:
            k = b'p%d' % key_id
            h = hashes.setdefault(k, chosen_hash(1, home, high, shard_bits=1))
            if is_insert:
                assert _core._test_store(k, k * 3, h)
                model[k] = k * 3
            else:
                assert _core._test_delete(k, h) == (k in model)
                model.pop(k, None)
        for key_id in range(31):
            k = b'p%d' % key_id
            if k in hashes:
                assert _core._test_find(k, hashes[k]) == model.get(k)
        assert _core._test_shard_info(1)['count'] == len(model)
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


def test_logical_databases_keep_equal_keys_apart(core):
    assert _core._test_store(b'k', b'zero', db=0)
    assert _core._test_store(b'k', b'one', db=1)
    assert _core._test_find(b'k', db=0) == b'zero'
    assert _core._test_find(b'k', db=1) == b'one'
    assert _core._test_delete(b'k', db=0)
    assert _core._test_find(b'k', db=1) == b'one'
    assert _core._test_find(b'k', db=0) is None


def test_flushall_empties_every_shard(client):
    for i in range(500):
        client.call([b'SET', b'f%d' % i, b'x' * (i % 300)])
    assert client.call([b'DBSIZE']) == b':500\r\n'
    assert client.call([b'FLUSHALL']) == b'+OK\r\n'
    assert client.call([b'DBSIZE']) == b':0\r\n'
    assert [_core._test_shard_info(s)['slots'] for s in range(8)] == [MIN_TABLE] * 8
