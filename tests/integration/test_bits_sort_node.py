"""The bitmap commands, SORT, LCS and MOVE on a real node with the WAL on
(appendfsync always): acknowledged writes survive kill -9 of the whole node
and replay to the same keys, read-only forms in between change nothing, and
SORT with BY/GET patterns and STORE runs inside MULTI/EXEC and from two
connections at once without a stall."""
import os
import shutil
import signal
import tempfile
import threading

import pytest
import redis
from servers import CachecytServer


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix='cachecyt-data-')
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(data_dir, started):
    srv = CachecytServer('--dir', data_dir, '--appendonly', 'yes', '--appendfsync', 'always',
                         '--save', '', workers=2)
    started.append(srv)
    srv.start()
    return srv, redis.Redis(port=srv.port, socket_timeout=10)


def state(r):
    out = []
    for db in (0, 3):
        r.execute_command('SELECT', db)
        for k in sorted(r.keys('*')):
            t = r.type(k)
            if t == b'string':
                v = r.get(k)
            elif t == b'list':
                v = r.lrange(k, 0, -1)
            else:
                v = sorted(r.hgetall(k).items())
            out.append((db, k, t, v, r.ttl(k)))
    r.execute_command('SELECT', 0)
    return out


def writes(r):
    r.setbit('bm', 100, 1)
    r.setbit('bm', 100, 1)                                  # as it was
    r.execute_command('BITFIELD_RO', 'bm', 'GET', 'u8', 8)
    r.set('n', 12345)
    r.execute_command('BITFIELD', 'n', 'SET', 'u8', 0, 255, 'OVERFLOW', 'SAT', 'INCRBY', 'i4', 60, 100)
    r.execute_command('BITOP', 'XOR', 'x', 'bm', 'n')
    r.rpush('l', 3, 1, 2)
    for i in (1, 2, 3):
        r.set(f'w_{i}', 10 - i)
        r.hset(f'h_{i}', 'f', f'v{i}')
    r.execute_command('SORT_RO', 'l', 'BY', 'w_*')
    r.execute_command('SORT', 'l', 'BY', 'w_*', 'GET', '#', 'GET', 'h_*->f', 'STORE', 'sorted')
    r.set('mv', 'moved', ex=1000)
    r.execute_command('MOVE', 'mv', 3)
    r.execute_command('LCS', 'x', 'n')
    p = r.pipeline(transaction=True)
    p.execute_command('SORT', 'l', 'DESC', 'GET', 'h_*->f', 'STORE', 'tx')
    p.setbit('tx2', 7, 1)
    p.execute()


def test_writes_survive_kill9_and_replay_the_same(data_dir):
    started = []
    try:
        srv, r = start(data_dir, started)
        writes(r)
        before = state(r)
        assert (0, b'sorted', b'list', [b'3', b'v3', b'2', b'v2', b'1', b'v1'], -1) in before
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.stop()
        srv, r = start(data_dir, started)
        after = state(r)
        assert [x[:4] for x in after] == [x[:4] for x in before]
        assert [x[4] > 0 for x in after] == [x[4] > 0 for x in before]
    finally:
        for s in started:
            s.stop()


def test_sorts_with_patterns_from_two_connections(data_dir):
    started = []
    try:
        _srv, r = start(data_dir, started)
        r.rpush('l', *range(50))
        for i in range(50):
            r.set(f'w_{i}', 50 - i)
        errors = []

        def run(n):
            c = redis.Redis(port=r.connection_pool.connection_kwargs['port'], socket_timeout=10)
            try:
                for _ in range(100):
                    got = c.execute_command('SORT', 'l', 'BY', 'w_*', 'LIMIT', 0, 3, 'STORE', f'd{n}')
                    assert got == 3
                    c.incr(f'w_{n}')
            except Exception as e:          # reported below
                errors.append(e)
        threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and not any(t.is_alive() for t in threads)
        assert r.lrange('d0', 0, -1) == [b'49', b'48', b'47']
    finally:
        for s in started:
            s.stop()
