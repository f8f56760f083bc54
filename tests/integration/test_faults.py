"""Fault tolerance of a real node: SIGKILL a worker while clients run SET, GET
and INCR; the supervisor restarts it within a second, the other worker keeps
serving, nothing deadlocks, and no acknowledged INCR is lost."""
import os
import re
import signal
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servers import CachecytServer

KILLS = 4


class Load(threading.Thread):
    """A client loop: SET/GET its own key, INCR the shared counter; reconnects on
    connection errors and records the longest gap between two successes."""

    def __init__(self, port, name, stop):
        super().__init__(daemon=True)
        self.port = port
        self.name = name
        self.stop = stop
        self.acked = 0               # INCRs that got a reply
        self.attempted = 0           # INCRs sent (a reply may have been lost)
        self.ops = 0
        self.longest_gap = 0.0
        self.errors = []

    def run(self):
        client = None
        last_ok = time.monotonic()
        i = 0
        while not self.stop.is_set():
            try:
                if client is None:
                    client = redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2,
                                         retry=Retry(NoBackoff(), 0))    # we count every INCR
                i += 1
                value = f"{self.name}:{i}"
                assert client.set(self.name, value) is True
                got = client.get(self.name)
                assert got == value.encode(), (got, value)
                self.attempted += 1
                client.incr('counter')
                self.acked += 1
                self.ops += 1
                now = time.monotonic()
                self.longest_gap = max(self.longest_gap, now - last_ok)
                last_ok = now
            except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
                if client is not None:
                    client.close()
                client = None
            except Exception as e:   # a wrong reply: record, keep going
                self.errors.append(repr(e))
        if client is not None:
            client.close()


def wait_for_new_worker(srv, old, timeout):
    """Time until the supervisor has two workers again, neither of them `old`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        pids = srv.worker_pids()
        if len(pids) == 2 and old not in pids:
            return time.monotonic() - start, pids
        time.sleep(0.01)
    raise AssertionError(f"worker {old} was not replaced within {timeout}s: {srv.worker_pids()}")


def test_killed_worker_is_restarted_and_clients_keep_going():
    srv = CachecytServer(workers=2).start()
    stop = threading.Event()
    loads = [Load(srv.port, f"client{n}", stop) for n in range(4)]
    try:
        for t in loads:
            t.start()
        time.sleep(0.5)
        assert all(t.ops > 0 for t in loads)
        killed = []
        for round in range(KILLS):
            pids = srv.worker_pids()
            assert len(pids) == 2
            victim = pids[round % 2]
            ops_before = sum(t.ops for t in loads)
            os.kill(victim, signal.SIGKILL)
            wait_for_new_worker(srv, victim, 1.0)
            killed.append(victim)
            time.sleep(0.6)
            assert sum(t.ops for t in loads) > ops_before + 20     # still serving
        stop.set()
        for t in loads:
            t.join(10)
            assert not t.is_alive(), f"{t.name} is stuck (deadlock?)"
        for t in loads:
            assert t.errors == []
            assert t.longest_gap < 1.5, f"{t.name} saw a {t.longest_gap:.2f}s outage"
        check = redis.Redis(port=srv.port, socket_timeout=5)
        count = int(check.get('counter'))
        acked = sum(t.acked for t in loads)
        attempted = sum(t.attempted for t in loads)
        assert acked <= count <= attempted
        # every worker answers after the kills: several fresh connections all work
        for _ in range(8):
            c = redis.Redis(port=srv.port, socket_timeout=2)
            assert c.incr('after') >= 1
            c.close()
        check.close()
        with open(srv.log_path) as f:
            log = f.read()
        for pid in killed:
            assert re.search(rf"worker \d \(pid {pid}\) died: killed by signal 9 \(SIGKILL\)"
                             r"[^;\n]*; restarting it", log), log
        assert len(re.findall(r"worker \d started, pid \d+", log)) == 2 + KILLS
    finally:
        stop.set()
        srv.stop()


def test_lock_left_by_a_dead_process_does_not_block_the_node():
    """A process attached to the node's segment dies holding a shard lock: a
    worker waiting for that shard gets it (and repairs the shard) as soon as the
    holder is gone, and the node goes on serving the shard's keys."""
    import subprocess
    import sys

    from servers import ROOT

    from cachecyt import _core

    srv = CachecytServer(workers=2).start()
    try:
        r = redis.Redis(port=srv.port, socket_timeout=5)
        r.set('x', 'before')
        name = f"/cachecyt.{srv.port}"
        seg = _core.Segment.attach(name)
        nshards = seg.header()['nshards']
        seg.close()
        shard = _core._test_hash(b'x') & (nshards - 1)
        code = ("import sys, time\nfrom cachecyt import _core\n"
                "seg = _core.Segment.attach(sys.argv[1]); seg.activate(63)\n"
                "_core._test_lock_shard(int(sys.argv[2])); print('locked', flush=True)\n"
                "time.sleep(60)\n")
        holder = subprocess.Popen([sys.executable, '-c', code, name, str(shard)], cwd=ROOT,
                                  env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline() == 'locked\n'
        done = []
        writer = threading.Thread(target=lambda: done.append(r.set('x', 'after')), daemon=True)
        writer.start()
        writer.join(0.3)
        assert writer.is_alive()                  # waits for the lock
        holder.kill()
        holder.wait(5)
        holder.stdout.close()
        writer.join(3)
        assert done == [True]
        assert r.get('x') == b'after'
        assert r.incr('n') == 1
        r.close()
    finally:
        srv.stop()
