"""Observability kept in the segment (shm/stats.pxi), in-process against a
private segment: latency buckets, the hot-key sketch, the slowlog ring with
Redis's argument truncation, latency events and the MONITOR ring."""
import math
import random

from cachecyt import _core


def test_bucket_bounds_are_fine_and_increasing():
    b = _core.LATENCY_BUCKETS_US
    assert b[:8] == tuple(range(8))
    assert all(x < y for x, y in zip(b, b[1:]))
    assert b[-1] == math.inf and b[-2] >= 10_000_000          # up to ~10 s and beyond
    for lo, hi in zip(b[8:-2], b[9:-1]):                       # under 25% wide from 8 µs on
        assert (hi - lo) / (lo + 1) <= 0.25


def test_commands_land_in_their_command_row(client):
    for _ in range(30):
        client.call([b'SET', b'k', b'v'])
    for _ in range(20):
        client.call([b'GET', b'k'])
    rows = _core.command_latency_buckets()
    assert sum(rows['set']) == 30 and sum(rows['get']) == 20
    assert len(rows['get']) == len(_core.LATENCY_BUCKETS_US)


def test_percentile_is_the_upper_bound_of_the_bucket():
    b = _core.LATENCY_BUCKETS_US
    counts = [0] * len(b)
    i100 = next(i for i, x in enumerate(b) if x >= 100)
    i5000 = next(i for i, x in enumerate(b) if x >= 5000)
    counts[i100] = 990
    counts[i5000] = 10
    assert _core.latency_percentile(counts, 0.5) == b[i100]
    assert _core.latency_percentile(counts, 0.99) == b[i100]
    assert _core.latency_percentile(counts, 0.999) == b[i5000]
    assert _core.latency_percentile([0] * len(b), 0.5) == 0


def test_resetstat_clears_histograms(client):
    client.call([b'GET', b'x'])
    assert 'get' in _core.command_latency_buckets()
    client.call([b'CONFIG', b'RESETSTAT'])
    assert 'get' not in _core.command_latency_buckets()


# ---- hot keys -------------------------------------------------------------------------

def test_sketch_finds_planted_keys_among_noise(core):
    _core.set_setting('hotkeys_sample_rate', 1)
    rnd = random.Random(7)
    planted = {b'hot:a': 3000, b'hot:b': 2000, b'hot:c': 1000}
    events = [k for k, n in planted.items() for _ in range(n)]
    events += [b'cold:%d' % rnd.randrange(20000) for _ in range(30000)]
    rnd.shuffle(events)
    for k in events:
        _core._test_hot_touch(0, 0, k)
    top = _core.hotkeys(10)
    assert [k for _, k, _ in top] == [b'hot:a', b'hot:b', b'hot:c']
    for (_, k, est) in top:
        assert planted[k] <= est <= planted[k] * 1.2          # count-min never undercounts


def test_keys_of_another_db_are_other_keys(core):
    _core.set_setting('hotkeys_sample_rate', 1)
    _core._test_hot_touch(0, 0, b'k', 50)
    _core._test_hot_touch(0, 3, b'k', 20)
    assert _core.hotkeys(5) == [(0, b'k', 50), (3, b'k', 20)]


def test_workers_merge_and_rate_scales(core):
    _core.set_setting('hotkeys_sample_rate', 4)
    _core._test_hot_touch(0, 0, b'k', 10)
    # slot 1 is not a live worker: its figures are not read
    _core._test_hot_touch(1, 0, b'k', 10)
    assert _core.hotkeys(5) == [(0, b'k', 40)]


def test_window_halves_the_counts(core):
    _core.set_setting('hotkeys_sample_rate', 1)
    _core._test_hot_touch(0, 0, b'old', 1000)
    _core._test_hot_touch(0, 0, b'new', 65536 - 1000)     # reaches the window: halved
    got = dict((k, n) for _, k, n in _core.hotkeys(5, 0))
    assert got[b'old'] == 500


def test_uniform_load_has_no_hot_key(core):
    _core.set_setting('hotkeys_sample_rate', 1)
    rnd = random.Random(3)
    for _ in range(40000):
        _core._test_hot_touch(0, 0, b'key:%d' % rnd.randrange(5000))
    assert _core.hotkeys(10) == []
    assert len(_core.hotkeys(10, 0)) == 10                 # candidates exist, none is hot


def test_sampled_through_commands(client):
    _core.set_setting('hotkeys_sample_rate', 2)
    for _ in range(2000):
        client.call([b'GET', b'hot'])
    for i in range(200):
        client.call([b'MGET', b'a%d' % i, b'b%d' % i])
    top = _core.hotkeys(1)
    assert top[0][:2] == (0, b'hot')
    assert 1000 <= top[0][2] <= 3000


# ---- SLOWLOG ----------------------------------------------------------------------------

def test_slowlog_truncates_as_redis(client):
    _core.set_setting('slowlog_log_slower_than', 0)
    client.call([b'SET', b'k', b'x' * 300])
    client.call([b'DEL'] + [b'a%d' % i for i in range(40)])
    (del_entry, set_entry) = _core.slowlog_get(2)
    assert set_entry[3] == [b'SET', b'k', b'x' * 128 + b'... (172 more bytes)']
    assert len(del_entry[3]) == 32
    assert del_entry[3][:31] == [b'DEL'] + [b'a%d' % i for i in range(30)]
    assert del_entry[3][31] == b'... (10 more arguments)'
    assert del_entry[0] == set_entry[0] + 1


def test_slowlog_threshold_maxlen_and_reset(client):
    _core.set_setting('slowlog_log_slower_than', -1)
    client.call([b'SET', b'k', b'v'])
    assert _core.slowlog_len() == 0
    _core.set_setting('slowlog_log_slower_than', 0)
    _core.set_setting('slowlog_max_len', 3)
    for i in range(5):
        client.call([b'SET', b'k%d' % i, b'v'])
    got = _core.slowlog_get(-1)
    assert [e[3][1] for e in got] == [b'k4', b'k3', b'k2']
    assert _core.slowlog_len() == 3
    _core.slowlog_reset()
    assert _core.slowlog_len() == 0 and _core.slowlog_get(-1) == []
    _core.set_setting('slowlog_log_slower_than', 10**9)
    client.call([b'SET', b'k', b'v'])
    assert _core.slowlog_len() == 0


# ---- LATENCY events ---------------------------------------------------------------------

def test_latency_events_keep_one_sample_per_second(core):
    _core.latency_add_sample('command', 5)
    _core.latency_add_sample('command', 9)
    _core.latency_add_sample('command', 2)
    _core.latency_add_sample('fast-command', 1)
    ev = _core.latency_events()
    peak, samples = ev['command']
    assert peak == 9 and len(samples) <= 2 and max(ms for _, ms in samples) == 9
    assert _core.latency_reset(['command', 'nope']) == 1
    assert list(_core.latency_events()) == ['fast-command']
    assert _core.latency_reset() == 1 and _core.latency_events() == {}


# ---- MONITOR ring -----------------------------------------------------------------------

def test_monitor_lines_and_admin_commands_left_out(client):
    """A client with no connection (a script's, or this in-process one) shows as lua."""
    _core.monitor_register(None, 1)
    try:
        client.call([b'SET', b'k', b'a "b"\n\x00'])
        client.call([b'CONFIG', b'GET', b'hz'])
        client.call([b'GET', b'k'])
        lines = _core.monitor_take().split(b'\r\n')
        assert lines[-1] == b''
        assert len(lines) == 3
        assert lines[0].endswith(b' [0 lua] "SET" "k" "a \\"b\\"\\n\\x00"')
        assert lines[1].endswith(b' [0 lua] "GET" "k"')
        assert lines[0].startswith(b'+') and lines[0][11:12] == b'.'
        assert _core.monitor_take() == b''
    finally:
        _core.monitor_register(None, -1)
    assert _core.get_setting('monitors') == 0


def test_monitor_reader_lapped_by_writers_gets_whole_lines(client):
    _core.monitor_register(None, 1)
    try:
        big = b'v' * 5000
        for i in range(400):                   # about 2 MB: twice the ring
            client.call([b'SET', b'k%d' % i, big])
        got = _core.monitor_take()
        lines = got.split(b'\r\n')[:-1]
        assert 0 < len(lines) < 400
        assert all(ln.endswith(b'"' + big + b'"') for ln in lines)
        assert lines[-1].split(b' ')[4] == b'"k399"'
    finally:
        _core.monitor_register(None, -1)


def test_a_monitor_started_after_an_untaken_wake_is_woken(client):
    """A wake-up owed to a worker whose monitors all left before it read the
    ring must not keep the next monitor of that worker from being woken."""
    woken = []
    _core.set_wake_hook(woken.append)
    try:
        _core.monitor_register(None, 1)
        client.call([b'SET', b'k', b'1'])          # a wake is owed from here
        _core.monitor_register(None, -1)           # ...and the monitor leaves unread
        woken.clear()
        _core.monitor_register(None, 1)
        client.call([b'SET', b'k', b'2'])
        assert woken, "the new monitor's worker was never woken"
        assert _core.monitor_take().endswith(b'"SET" "k" "2"\r\n')
    finally:
        _core.monitor_register(None, -1)
        _core.set_wake_hook(None)
