"""Sorted sets with long members (past a skiplist node: 64001, 65636 and
300000 bytes) survive a restart: from a snapshot, and from the WAL records
written after it (kill -9, then recovery)."""
import os
import shutil
import signal
import tempfile

import pytest
import redis
from servers import CachecytServer

A, B, C = b'a' * 64001, b'b' * 65636, bytes(range(256)) * 1171 + b'c' * 224   # C: 300000 bytes


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix='cachecyt-data-')
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(data_dir, *flags):
    srv = CachecytServer('--dir', data_dir, *flags, workers=2).start()
    return srv, redis.Redis(port=srv.port, socket_timeout=20)


def kill9(srv):
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    srv.stop()


def test_long_members_from_snapshot_and_wal(data_dir):
    srv, r = start(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    try:
        assert len(C) == 300000
        r.zadd('z', {A: 1, B: 2, C: 3, 'x': 0})
        r.zadd('lz', {A: 0, B: 0})
        assert r.save()
        r.zincrby('z', 10, A)                    # after the snapshot: from the WAL
        r.zadd('w', {C + b'!': 5})
        r.zrem('lz', B)
        want = {k: r.zrange(k, 0, -1, withscores=True) for k in ('z', 'lz', 'w')}
        assert want['z'][-1] == (A, 11.0)
    finally:
        kill9(srv)
    srv, r = start(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    try:
        assert {k: r.zrange(k, 0, -1, withscores=True) for k in ('z', 'lz', 'w')} == want
        assert r.zscore('z', C) == 3.0 and r.object('encoding', 'z') == b'skiplist'
        assert r.save()                          # a snapshot of the recovered data
    finally:
        srv.stop()
    srv, r = start(data_dir, '--save', '')
    try:
        assert {k: r.zrange(k, 0, -1, withscores=True) for k in ('z', 'lz', 'w')} == want
    finally:
        srv.stop()
