"""The adaptive policy's shadow caches (shm/shadow.pxi): replayed offline
through the core, they move the window to a large share on a trace where
recency is what counts, to a small one where frequency is, and a window that
shrinks lets its keys into the main part."""
import os
import random
import sys

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools')
sys.path.insert(0, TOOLS)

import traces  # noqa: E402
import traces_replay  # noqa: E402


def sliding(length=40_000, spread=300, seed=7):
    """A working set that moves on: each key is used a few times soon after
    it first appears, then never again (exact LRU's best case)."""
    rnd = random.Random(seed)
    return traces.array.array('q', [i // 4 + rnd.randrange(spread) for i in range(length)])


def test_shadow_caches_choose_a_large_window_when_recency_counts():
    trace = sliding()
    state = {}
    adaptive = traces_replay.core_hit_ratio(trace, 100, 'allkeys-adaptive', state=state)
    assert state['window_permille'] >= 500, state
    assert adaptive > traces.lru_hit_ratio(trace, 100) - 1, adaptive


def test_shadow_caches_choose_a_small_window_when_frequency_counts():
    trace = traces.synthetic('zipf+scan', length=40_000, n_keys=4000)
    state = {}
    adaptive = traces_replay.core_hit_ratio(trace, 400, 'allkeys-adaptive', state=state)
    assert state['window_permille'] <= 200, state
    assert adaptive > traces.lru_hit_ratio(trace, 400) + 3, adaptive


def test_shadow_caches_simulate_a_sample_of_a_large_cache():
    trace = traces.synthetic('zipf', length=60_000, n_keys=40_000)
    state = {}
    traces_replay.core_hit_ratio(trace, 10_000, 'allkeys-adaptive', state=state)
    shadow = state['shadow']
    assert shadow['shift'] == 4 and shadow['cap'] == 10_000 >> 4, shadow
    assert all(0 < c <= shadow['cap'] for c in shadow['counts']), shadow


def test_a_shrinking_window_admits_its_keys_to_the_main_part():
    """A window cut from 99% to 1% of the keys lets the keys past 1% into the
    main part at once; before, every eviction traded one window key for one main
    key and the window kept nearly every key (hit ratio 3% instead of 20%)."""
    trace = traces.synthetic('zipf+scan', length=40_000, n_keys=4000)
    first, rest = trace[:10_000], trace[10_000:]
    fixed = traces_replay.core_hit_ratio(rest, 400, 'allkeys-adaptive', window=10)
    state = {}
    switched = traces_replay.core_hit_ratio(rest, 400, 'allkeys-adaptive', window=10, state=state,
                                            warm=(first, 990))
    assert state['window_flagged'] < 40, state
    assert switched > fixed - 2, (switched, fixed)



@pytest.mark.parametrize('bar', [{'noise': 1000}, {'confirm': 1000}])
def test_a_bar_on_moves_keeps_the_window_where_it_is(bar):
    """With one of the replay's bars on moves (the best share must beat the
    current one by more than 100 x sqrt(score), or score best at 1000 choices
    in a row), the sliding trace that takes the window past 50% leaves it at
    its start; with the defaults again (the policy as shipped), it moves."""
    from cachecyt import _core
    trace = sliding()
    state = {}
    _core._test_shadow_tune(**bar)
    try:
        traces_replay.core_hit_ratio(trace, 100, 'allkeys-adaptive', state=state)
    finally:
        _core._test_shadow_tune(noise=0, confirm=1)
    assert state['window_permille'] == 10, state
    traces_replay.core_hit_ratio(trace, 100, 'allkeys-adaptive', state=state)
    assert state['window_permille'] >= 500, state
