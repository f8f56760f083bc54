"""HyperLogLog values survive a kill -9 of a node logging every write
(appendfsync always): PFADD and PFMERGE replay to the same bytes. PFCOUNT's
cached cardinality is not logged (PFCOUNT is a read), so the values are
compared as they were before any count, and the counts after replay."""
import os
import random
import shutil
import signal
import tempfile

import redis
from servers import CachecytServer


def start(data_dir):
    srv = CachecytServer('--dir', data_dir, '--appendonly', 'yes', '--appendfsync', 'always',
                         '--save', '', workers=2).start()
    return srv, redis.Redis(port=srv.port, socket_timeout=10)


def test_pfadd_and_pfmerge_replay_to_the_same_values():
    data_dir = tempfile.mkdtemp(prefix='cachecyt-hll-')
    rnd = random.Random(9)
    srv = None
    try:
        srv, r = start(data_dir)
        for key, n in (('small', 30), ('mid', 1500), ('big', 20000)):
            for start_ in range(0, n, 1000):
                r.pfadd(key, *[rnd.getrandbits(40) for _ in range(min(1000, n - start_))])
        r.pfmerge('merged', 'small', 'mid')
        r.pfmerge('all', 'small', 'mid', 'big')
        keys = ['small', 'mid', 'big', 'merged', 'all']
        values = r.mget(keys)
        counts = [r.pfcount(k) for k in keys]
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.stop()
        srv, r = start(data_dir)
        assert r.mget(keys) == values
        assert [r.pfcount(k) for k in keys] == counts
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
