"""Shard tables rebuilt in steps (shm/table.pxi "Growing without a pause",
docs/adr/0023-shard-tables-grow-in-steps.md): while a shard's new table is
being built beside the current one, every key stays readable, deletes,
inserts and overwrites land in the table that ends up current, SCAN returns
every key present throughout, a snapshot holds the keyspace of its point, and
the invariant walk checks both tables. The thresholds are lowered so that
small tables are built in many steps; one test keeps the defaults."""
import os
import random
import subprocess
import sys

import pytest
from conftest import assert_core_sound, make_segment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_locks import lock_unlock, within
from test_snapshot_steps import snapshot_state, take_snapshot

from cachecyt import _core
from cachecyt.commands import registry, server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def tuned():
    """Tables above 8 slots are built in steps of 8 slots (this process)."""
    prev = _core._test_table_tuning(once=8, step=8)
    yield
    _core._test_table_tuning(*prev)


current = [None]                       # the segment a test made (the repair test's child attaches)


def segment(shards=1, pages=512):
    seg = make_segment(shards=shards, pages=pages)
    registry.install()
    server.NODE = server.Node()
    current[0] = seg
    return seg


def close(seg):
    try:
        _core.lazyfree_wait()
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


@pytest.fixture
def one_shard(tuned):
    """A segment of one shard (every key in the table being built) and a Client."""
    seg = segment()
    yield _core.Client()
    close(seg)


def building():
    return _core._test_build_state(0)


def chosen_hash(home, high=0):
    """A hash of shard 0 of a one-shard segment (shard_bits 0) with home slot
    `home` in every table bigger than it."""
    return home | (high << 40)


def test_growth_in_steps_keeps_every_key_readable_at_every_step(one_shard):
    model = {}
    builds, ops_in_builds, last = 0, 0, None
    for i in range(1500):
        key = b'g:%d' % i
        assert _core._test_store(key, b'v%d' % i)
        model[key] = b'v%d' % i
        state = building()
        if state is not None:
            ops_in_builds += 1
            if last is None or state[0] != last[0]:
                builds += 1
            for k, v in model.items():
                assert _core._test_find(k) == v, (k, state)
            if ops_in_builds % 40 == 0:
                assert_core_sound()
        last = state
    assert builds >= 6                         # 16, 32, ... 2048 slots, each in steps
    assert ops_in_builds > 200                 # many inserts ran while a build was under way
    assert _core._test_shard_info(0)['slots'] >= 2048
    for k, v in model.items():
        assert _core._test_find(k) == v


def fill_until_building(prefix, model, minimum=300, limit=100000):
    """Store at least `minimum` keys, then more until a build is copying
    entries; returns how many were stored."""
    for i in range(limit):
        key = b'%s:%d' % (prefix, i)
        assert _core._test_store(key, key)
        model[key] = key
        if i >= minimum and building() is not None and building()[1] >= 0:
            return i + 1
    raise AssertionError("no build started")


def check_model(model):
    for k, v in model.items():
        assert _core._test_find(k) == v, k


def test_deletes_inserts_and_overwrites_during_a_build(one_shard):
    rng = random.Random(3)
    model = {}
    fill_until_building(b'a', model)
    slots = building()[0]
    ops = 0
    while building() is not None:
        keys = list(model)
        op = rng.randrange(3)
        if op == 0:
            k = rng.choice(keys)
            assert _core._test_delete(k)
            del model[k]
        elif op == 1:
            k = rng.choice(keys)
            assert _core._test_store(k, b'new:' + k)   # replaced in both tables
            model[k] = b'new:' + k
        else:
            k = b'b:%d' % ops
            assert _core._test_store(k, k)
            model[k] = k
        ops += 1
        check_model(model)
        if ops % 10 == 0:
            assert_core_sound()
    assert ops > 10
    assert _core._test_shard_info(0)['slots'] == slots
    assert _core._test_shard_info(0)['count'] == len(model)
    check_model(model)


def test_overwrites_before_the_copy_point_survive_the_switch(one_shard):
    model = {}
    fill_until_building(b'o', model)
    half = _core._test_shard_info(0)['slots'] // 2
    while building()[1] < half:
        assert _core._test_build_step(0)
    for k in list(model):
        assert _core._test_store(k, b'over')
        model[k] = b'over'
    while _core._test_build_step(0, 4):
        pass
    check_model(model)


ops_strategy = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(0, 127),
                                  st.integers(0, 3)), min_size=1, max_size=150)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops_strategy, st.integers(1, 5))
def test_random_writes_across_builds_match_a_dict(seq, step):
    """Property: keys crowded into few homes near the end of the table (so
    that runs wrap past the last slot and shifts cross the copy point both
    ways), inserted, overwritten and deleted while tables grow and shrink in
    steps of 1 to 5 slots: every key reads back as the model says after every
    operation, and the invariant walk (which checks the table being built)
    passes throughout."""
    prev = _core._test_table_tuning(once=8, step=step)
    seg = segment(pages=64)
    try:
        model, hashes = {}, {}
        for op, key_id, home, high in seq:
            k = b'p%d' % key_id
            h = hashes.setdefault(k, chosen_hash(home, high))
            if op < 2:
                v = b'%s:%d' % (k, op)
                assert _core._test_store(k, v, h)
                model[k] = v
            else:
                assert _core._test_delete(k, h) == (k in model)
                model.pop(k, None)
            for kk, hh in hashes.items():
                assert _core._test_find(kk, hh) == model.get(kk)
            assert _core._test_check_invariants()['errors'] == []
        assert _core._test_shard_info(0)['count'] == len(model)
    finally:
        _core._test_table_tuning(*prev)
        close(seg)


def test_a_shrink_is_built_in_steps_and_dropped_when_inserts_overtake_it(one_shard):
    model = {}
    for i in range(2000):
        assert _core._test_store(b's:%d' % i, b'%d' % i)
        model[b's:%d' % i] = b'%d' % i
    while _core._test_build_step(0, 16):
        pass
    big = _core._test_shard_info(0)['slots']
    _core._test_table_tuning(step=1)          # a shrink long enough for inserts to overtake
    keys = list(model)
    shrinking = None
    for k in keys:                             # delete until a smaller table is being built
        assert _core._test_delete(k)
        del model[k]
        state = building()
        if state is not None and state[0] < big:
            shrinking = state
            break
    assert shrinking is not None
    check_model(model)
    i = 0
    while building() is not None and building()[0] < big:    # inserts overtake the shrink
        assert _core._test_store(b'back:%d' % i, b'x')
        model[b'back:%d' % i] = b'x'
        i += 1
        check_model(model)
    assert _core._test_shard_info(0)['slots'] == big           # it was dropped, not switched
    assert_core_sound()
    for k in list(model):                      # now delete everything: shrinks run to the end
        assert _core._test_delete(k)
        del model[k]
    assert building() is None                  # an empty shard goes back to the smallest table
    assert _core._test_shard_info(0) == {'slots': 8, 'count': 0, 'repairs': 0, 'entries': []}


def test_scan_during_builds_returns_every_key_present_throughout(one_shard):
    client = one_shard
    stable = {b'st:%d' % i for i in range(300)}
    for k in stable:
        client.call([b'SET', k, b'1'])
    seen, cursor, made, switches, slots = set(), b'0', 0, 0, None
    transient = []
    while True:
        parts = client.call([b'SCAN', cursor, b'COUNT', b'5']).split(b'\r\n')
        cursor = parts[2]
        seen.update(parts[5::2][:int(parts[3][1:])])
        for _ in range(12):                     # tables grow (and switch) between the calls
            k = b'tr:%d' % made
            client.call([b'SET', k, b'x'])
            transient.append(k)
            made += 1
        if len(transient) > 40:
            client.call([b'DEL', transient.pop(0), transient.pop(0)])
        now = _core._test_shard_info(0)['slots']
        switches += slots is not None and now != slots
        slots = now
        if cursor == b'0':
            break
    assert switches >= 2
    assert stable <= seen


def test_a_snapshot_taken_during_builds_holds_its_point(tuned, tmp_path):
    seg = segment(pages=1024)
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        _core.persist_create(0, efd, False, 1)
        _core.snap_set_dir(str(tmp_path))
        client = _core.Client()
        n = 3000
        for i in range(n):
            client.call([b'SET', b'k%d' % i, b'v%d' % i])
        expected = {b'k%d' % i: b'v%d' % i for i in range(n)}
        rng = random.Random(5)
        made, in_build = [0], [0]

        def between_steps():
            for _ in range(60):
                k = b'k%d' % rng.randrange(n)
                if rng.random() < 0.5:
                    client.call([b'SET', k, b'changed'])
                else:
                    client.call([b'DEL', k])
            for _ in range(200):                  # more builds and switches under the walk
                client.call([b'SET', b'new%d' % made[0], b'x'])
                made[0] += 1
                in_build[0] += building() is not None

        got = snapshot_state(take_snapshot(client, str(tmp_path), between_steps))
        assert in_build[0] > 100
        assert got == expected
    finally:
        os.close(efd)
        close(seg)


def test_commands_that_walk_the_keyspace_during_a_build(one_shard):
    client = one_shard
    model = {}
    fill_until_building(b'w', model)
    assert building() is not None
    assert client.call([b'DBSIZE']) == b':%d\r\n' % len(model)
    for _ in range(20):
        reply = client.call([b'RANDOMKEY']).split(b'\r\n')[1]
        assert reply in model
    keys = client.call([b'KEYS', b'*']).split(b'\r\n')[2::2]
    assert sorted(keys) == sorted(model)
    assert building() is not None
    assert client.call([b'FLUSHALL']) == b'+OK\r\n'
    assert client.call([b'DBSIZE']) == b':0\r\n'
    assert client.call([b'KEYS', b'*']) == b'*0\r\n'


def test_the_expiry_cycle_finishes_a_build_nobody_writes_to(one_shard):
    model = {}
    fill_until_building(b'e', model)
    before = _core._test_shard_info(0)['slots']
    cycles = 0
    while building() is not None:
        _core._test_expire_cycle()
        cycles += 1
        assert cycles < 100
    assert _core._test_shard_info(0)['slots'] == 2 * before
    check_model(model)


def test_the_expiry_cycle_goes_on_shrinking_a_table_deletes_outran(one_shard):
    model = {}
    for i in range(2000):
        assert _core._test_store(b'x:%d' % i, b'x')
        model[b'x:%d' % i] = b'x'
    while _core._test_build_step(0, 16):
        pass
    _core._test_table_tuning(step=1)          # shrinks slower than the deletes
    for k in list(model)[:1900]:
        assert _core._test_delete(k)
        del model[k]
    assert building() is not None
    cycles = 0
    while building() is not None or _core._test_shard_info(0)['slots'] > 10 * len(model):
        _core._test_expire_cycle()
        cycles += 1
        assert cycles < 2000
    assert _core._test_shard_info(0)['slots'] <= 1024
    check_model(model)


def test_a_dead_owner_repair_drops_the_build_and_keeps_the_keys(one_shard):
    model = {}
    fill_until_building(b'd', model)
    _core._test_build_step(0, 3)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    body = ("import sys, os; from cachecyt import _core; seg = _core.Segment.attach(sys.argv[1]); "
            "seg.activate(1); _core._test_lock_shard(0); os._exit(0)")
    proc = subprocess.run([sys.executable, '-c', body, current[0].name], env=env, timeout=30)
    assert proc.returncode == 0
    within(5, lock_unlock, 0)                  # the lock of a dead owner: repaired
    assert _core._test_shard_info(0)['repairs'] == 1
    assert building() is None
    check_model(model)
    assert_core_sound()                        # the table being built was freed, not leaked


def test_default_thresholds_build_big_tables_in_steps():
    """With the shipped settings a shard past 8192 slots grows in steps: the
    insert that crosses load 0.7 leaves the old table current, and the new one
    is current after a bounded number of further writes."""
    seg = segment(shards=1, pages=512)
    try:
        i = 0
        while building() is None:
            assert _core._test_store(b'd:%d' % i, b'x')
            i += 1
        assert _core._test_shard_info(0)['slots'] == 8192
        assert building() == (16384, -16)
        assert i == int(8192 * 0.7) + 1
        more = 0
        while building() is not None:
            assert _core._test_store(b'd:%d' % (i + more), b'x')
            more += 1
        assert _core._test_shard_info(0)['slots'] == 16384
        # 16 parts of 16 KiB to zero, then 8192 / 128 copy steps
        assert more == 16 + 8192 // 128
        for j in range(i + more):
            assert _core._test_find(b'd:%d' % j) == b'x'
    finally:
        close(seg)
