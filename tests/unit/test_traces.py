"""tools/traces.py and the offline replay (tools/traces_replay.py): the exact LRU
reproduces the reference numbers of the traces' README, and the adaptive
policy, replayed through the core itself, beats LRU on the looping traces."""
import os
import sys

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools')
sys.path.insert(0, TOOLS)

import traces  # noqa: E402
import traces_replay  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.isdir(traces.TRACE_DIR), reason='no trace directory')


@pytest.mark.parametrize('name,size,expected', [('OLTP', 1000, 32.83), ('gli', 2000, 57.41),
                                                ('gli', 1000, 11.21)])
def test_lru_reproduces_the_reference_numbers(name, size, expected):
    assert round(traces.lru_hit_ratio(traces.load(name), size), 2) == expected


def test_readers_count_accesses_and_keys():
    gli = traces.load('gli')
    assert (len(gli), traces.distinct(gli)) == (6015, 2529)
    web = traces.load('web07')                        # big-endian int32
    assert (len(web), traces.distinct(web)) == (76118, 20484)


@pytest.mark.parametrize('name', ['loop', 'scan'])
def test_adaptive_beats_lru_on_loops_and_scans(name):
    trace = traces.load(name)
    size = traces.distinct(trace) // 10
    lru = traces.lru_hit_ratio(trace, size)
    adaptive = traces_replay.core_hit_ratio(trace, size, 'allkeys-adaptive')
    assert adaptive > lru + 5, (adaptive, lru)


def test_sampled_lru_in_the_core_tracks_exact_lru():
    trace = traces.load('gli')
    exact = traces.lru_hit_ratio(trace, 2000)
    sampled = traces_replay.core_hit_ratio(trace, 2000, 'allkeys-lru', samples=64)
    assert abs(sampled - exact) < 5


def test_adaptive_resists_a_synthetic_scan():
    trace = traces.synthetic('zipf+scan', length=40_000, n_keys=4000)
    lru = traces.lru_hit_ratio(trace, 400)
    adaptive = traces_replay.core_hit_ratio(trace, 400, 'allkeys-adaptive')
    assert adaptive > lru + 3, (adaptive, lru)


def test_synthetic_zipf_is_skewed_by_alpha():
    flat = traces.zipf(1000, 0.6, 20_000)
    steep = traces.zipf(1000, 1.2, 20_000)
    assert traces.lru_hit_ratio(steep, 100) > traces.lru_hit_ratio(flat, 100) + 10


@pytest.mark.parametrize('window', [800, 990])
def test_adaptive_eviction_never_fails_with_a_large_window(window):
    """With most keys in the window a sample of the main part may find none:
    the window's oldest goes then (an allkeys policy always frees memory;
    core_hit_ratio raises when an eviction failed)."""
    trace = traces.load('zigzag')
    for seed in (1, 2, 3, 4):
        assert traces_replay.core_hit_ratio(trace, 100, 'allkeys-adaptive', window=window, seed=seed) > 0
