"""Snapshots in steps on a real node (docs/adr/0016-snapshot-in-steps.md):
two big shards, each walked in many steps, while clients keep moving
amounts between pairs of keys (MSET), pushing to two lists together (MULTI)
and deleting and adding keys around them. Every snapshot, loaded alone,
holds one instant: every pair sums to 100 and the lists are as long as each
other."""
import os
import random
import re
import shutil
import tempfile
import threading
import time

import pytest
import redis
from servers import CachecytServer

PAIRS = 100
FILL = 40000


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix='cachecyt-steps-')
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(data_dir):
    srv = CachecytServer('--dir', data_dir, '--save', '', '--shards', '2', workers=2)
    srv.start()
    return srv, redis.Redis(port=srv.port, socket_timeout=20)


def clients(port, stop):
    def transfers(seed):
        r = redis.Redis(port=port)
        rng = random.Random(seed)
        while not stop.is_set():
            i = rng.randrange(PAIRS)
            x = rng.randrange(101)
            r.mset({f"a:{i}": x, f"b:{i}": 100 - x})

    def lists():
        r = redis.Redis(port=port)
        while not stop.is_set():
            p = r.pipeline(transaction=True)
            p.rpush("la", "x")
            p.rpush("lb", "x")
            p.execute()

    def churn():
        r = redis.Redis(port=port)
        rng = random.Random(9)
        n = FILL
        while not stop.is_set():
            p = r.pipeline(transaction=False)
            for _ in range(50):
                p.delete(f"fill:{rng.randrange(n)}")
                p.set(f"fill:{n}", "y" * 20)
                n += 1
            p.execute()

    ts = [threading.Thread(target=transfers, args=(s,), daemon=True) for s in range(2)]
    ts += [threading.Thread(target=lists, daemon=True), threading.Thread(target=churn, daemon=True)]
    for t in ts:
        t.start()
    return ts


def test_snapshots_in_steps_hold_one_instant(data_dir):
    srv, r = start(data_dir)
    try:
        p = r.pipeline(transaction=False)
        for i in range(FILL):
            p.set(f"fill:{i}", "v" * 50)
        p.execute()
        r.mset({**{f"a:{i}": 50 for i in range(PAIRS)}, **{f"b:{i}": 50 for i in range(PAIRS)}})
        stop = threading.Event()
        ts = clients(srv.port, stop)
        copies = []
        for n in range(3):
            time.sleep(0.3)
            r.bgsave()
            deadline = time.time() + 30
            while r.info('persistence')['rdb_bgsave_in_progress'] or \
                    r.info('persistence')['rdb_saves'] <= n:
                assert time.time() < deadline
                time.sleep(0.01)
            assert r.info('persistence')['rdb_last_bgsave_status'] == 'ok'
            copy = os.path.join(data_dir, f"copy{n}")
            os.makedirs(copy)
            shutil.copy(os.path.join(data_dir, 'dump.ccyt'), copy)
            copies.append(copy)
        stop.set()
        for t in ts:
            t.join()
        log = srv.log_text()
    finally:
        srv.stop()
    copied = [int(n) for n in re.findall(r"\((\d+) keys copied before a change", log)]
    assert len(copied) == 3 and sum(copied) > 0, copied      # writers met shards not yet walked
    for copy in copies:
        alone, rr = start(copy)
        try:
            a = rr.mget([f"a:{i}" for i in range(PAIRS)])
            b = rr.mget([f"b:{i}" for i in range(PAIRS)])
            assert all(int(x) + int(y) == 100 for x, y in zip(a, b)), (copy, a, b)
            assert rr.llen("la") == rr.llen("lb") > 0
            assert rr.dbsize() > FILL // 2
        finally:
            alone.stop()
