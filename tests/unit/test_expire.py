"""Expiry: lazily on access, and by the active cycle without any access; both
count expired_keys (INFO stats)."""
import time

from cachecyt import _core


def info_stat(client, name):
    text = client.call([b'INFO', b'stats']).decode()
    for line in text.split('\r\n'):
        if line.startswith(name + ':'):
            return int(line.split(':')[1])
    raise KeyError(name)


def test_lazy_expiry_on_access(client):
    assert client.call([b'SET', b'k', b'v', b'PX', b'40']) == b'+OK\r\n'
    assert client.call([b'SET', b'keep', b'v']) == b'+OK\r\n'
    assert client.call([b'GET', b'k']) == b'$1\r\nv\r\n'
    time.sleep(0.06)
    assert info_stat(client, 'expired_keys') == 0
    assert client.call([b'GET', b'k']) == b'$-1\r\n'
    assert info_stat(client, 'expired_keys') == 1
    assert client.call([b'EXISTS', b'k']) == b':0\r\n'
    assert client.call([b'DBSIZE']) == b':1\r\n'
    assert client.call([b'GET', b'keep']) == b'$1\r\nv\r\n'


def test_expired_key_is_replaced_not_revived(client):
    client.call([b'SET', b'k', b'old', b'PX', b'30'])
    time.sleep(0.05)
    assert client.call([b'SET', b'k', b'new', b'NX']) == b'+OK\r\n'
    assert client.call([b'TTL', b'k']) == b':-1\r\n'
    assert client.call([b'GET', b'k']) == b'$3\r\nnew\r\n'


def test_active_cycle_removes_expired_keys_without_access(client):
    for i in range(300):
        client.call([b'SET', b'short:%d' % i, b'x' * (i % 50), b'PX', b'30'])
    for i in range(100):
        client.call([b'SET', b'long:%d' % i, b'y', b'EX', b'100'])
    for i in range(100):
        client.call([b'SET', b'plain:%d' % i, b'z'])
    assert _core.keyspace_info() == [(0, 500, 400)]
    time.sleep(0.05)
    removed = 0
    for _ in range(50):
        removed += _core._test_expire_cycle()
        if removed == 300:
            break
    assert removed == 300
    assert _core.keyspace_info() == [(0, 200, 100)]
    assert info_stat(client, 'expired_keys') == 300
    assert client.call([b'GET', b'long:7']) == b'$1\r\ny\r\n'
    assert client.call([b'GET', b'plain:7']) == b'$1\r\nz\r\n'


def test_active_cycle_sweeps_only_its_worker_shards(client):
    for i in range(200):
        client.call([b'SET', b'k%d' % i, b'v', b'PX', b'20'])
    time.sleep(0.04)
    shards = {_core._test_shard_of(_core._test_hash(b'k%d' % i)) for i in range(200)}
    even = sum(1 for i in range(200)
               if _core._test_shard_of(_core._test_hash(b'k%d' % i)) % 2 == 0)
    assert len(shards) == 8
    got = sum(_core._test_expire_cycle(0, 2) for _ in range(20))
    assert got == even
    assert sum(_core._test_expire_cycle(1, 2) for _ in range(20)) == 200 - even
    assert client.call([b'DBSIZE']) == b':0\r\n'


def test_persist_and_overwrite_keep_ttl_counters_right(client):
    client.call([b'SET', b'a', b'1', b'EX', b'100'])
    client.call([b'SET', b'b', b'1', b'EX', b'100'])
    assert client.call([b'PERSIST', b'a']) == b':1\r\n'
    assert client.call([b'SET', b'b', b'2']) == b'+OK\r\n'
    assert _core.keyspace_info() == [(0, 2, 0)]
    assert client.call([b'EXPIRE', b'a', b'100']) == b':1\r\n'
    assert _core.keyspace_info() == [(0, 2, 1)]


def test_a_cycle_cut_short_resumes_at_the_next_shard(client):
    """With no time budget a cycle sweeps one shard; the following cycles go on
    to the others instead of starting over at the first."""
    for i in range(200):
        client.call([b'SET', b'k%d' % i, b'v', b'PX', b'20'])
    time.sleep(0.04)
    for _ in range(6 * 8):               # each shard gets six cut-short turns
        _core._test_expire_cycle(0, 1, -1)   # budget spent at once
    assert client.call([b'DBSIZE']) == b':0\r\n'


def test_a_slow_cycle_is_an_expire_cycle_latency_event(client):
    """A cycle that takes latency-monitor-threshold or more shows in LATENCY LATEST
    (here it frees 300 hashes of 1000 fields each)."""
    client.call([b'CONFIG', b'SET', b'latency-monitor-threshold', b'1'])
    try:
        fields = [x for i in range(1000) for x in (b'f%d' % i, b'v')]
        for i in range(300):
            client.call([b'HSET', b'h:%d' % i] + fields)
            client.call([b'PEXPIRE', b'h:%d' % i, b'1'])
        time.sleep(0.01)
        while _core._test_expire_cycle():
            pass
        peak, samples = _core.latency_events()['expire-cycle']
        assert peak >= 1 and samples, peak
        assert b'expire-cycle' in client.call([b'LATENCY', b'LATEST'])
    finally:
        client.call([b'CONFIG', b'SET', b'latency-monitor-threshold', b'0'])
