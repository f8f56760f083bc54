"""RESTORE on a node with appendonly: after a kill -9 and a restart from the
WAL the restored keys are there with the same values and deadlines."""
import os
import shutil
import signal
import tempfile

import redis
from servers import CachecytServer


def test_restored_keys_survive_kill9():
    data_dir = tempfile.mkdtemp(prefix='cachecyt-dump-')
    flags = ('--dir', data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    srv = CachecytServer(*flags, workers=2).start()
    try:
        c = redis.Redis(port=srv.port, socket_timeout=10)
        c.rpush('l', *range(5000))
        c.hset('h', mapping={'f%d' % i: i for i in range(300)})
        c.zadd('z', {'a': 1.5, 'b': float('-inf')})
        c.set('s', 'x' * 100)
        payloads = {k: c.dump(k) for k in ('l', 'h', 'z', 's')}
        c.flushall()
        for k, p in payloads.items():
            c.restore(k + ':r', 100000, p)
        c.execute_command('RESTORE', 'old', 1, payloads['s'], 'ABSTTL')
        want = {k: c.dump(k + ':r') for k in payloads}
        deadlines = {k: c.pexpiretime(k + ':r') for k in payloads}
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.stop()
        srv = CachecytServer(*flags, workers=2).start()
        c = redis.Redis(port=srv.port, socket_timeout=10)
        assert {k: c.dump(k + ':r') for k in payloads} == want
        assert {k: c.pexpiretime(k + ':r') for k in payloads} == deadlines
        assert c.dbsize() == 4
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
