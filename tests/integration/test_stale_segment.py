"""A node that crashed (supervisor SIGKILLed: its workers die with it through
PDEATHSIG) leaves its segment in /dev/shm; the next start on the same port finds
it, removes it and serves from a fresh one. A segment whose node still runs is
never taken over."""
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from servers import ROOT, CachecytServer, free_port


def shm_path(port):
    return f"/dev/shm/cachecyt.{port}"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:          # a zombie is dead too
        return f.read().split(') ')[1][0] != 'Z'


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} within {timeout}s")


def test_segment_of_a_crashed_node_is_removed_at_the_next_start():
    port = free_port()
    first = CachecytServer(workers=2, port=port).start()
    try:
        r = redis.Redis(port=port)
        r.set('old', 'value')
        workers = first.worker_pids()
        assert len(workers) == 2
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(5)
        wait_until(lambda: not any(alive(p) for p in workers), 5, "workers did not die with the supervisor")
        assert os.path.exists(shm_path(port))        # what a crash leaves behind
        r.close()
    finally:
        first.stop(keep_leftovers=True)
    second = CachecytServer(workers=2, port=port).start()
    try:
        r = redis.Redis(port=port)
        assert r.get('old') is None                   # a fresh keyspace
        assert r.set('new', 'v') is True
        log = second.log_text()
        assert f"removing stale segment /cachecyt.{port} left by pid {first.proc.pid}" in log, log
        r.close()
    finally:
        second.stop()
    wait_until(lambda: not os.path.exists(shm_path(port)), 5, "segment not removed at shutdown")


@pytest.mark.parametrize('content', [b'not a cachecyt segment' * 100, b''])
def test_a_foreign_file_in_the_segment_name_is_replaced(content):
    port = free_port()
    with open(shm_path(port), 'wb') as f:
        f.write(content)
    srv = CachecytServer(workers=1, port=port).start()
    try:
        assert redis.Redis(port=port).ping()
        assert f"removing foreign segment /cachecyt.{port}" in srv.log_text()
    finally:
        srv.stop()
    assert not os.path.exists(shm_path(port))


def test_segment_of_a_running_node_is_not_taken_over():
    port = free_port()
    srv = CachecytServer(workers=1, port=port).start()
    try:
        r = redis.Redis(port=port)
        r.set('k', 'v')
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        second = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(port),
                                 '--workers', '1'], env=env, capture_output=True, text=True, timeout=30,
                                check=False)
        assert second.returncode != 0
        assert f"another cachecyt (pid {srv.proc.pid}) owns /cachecyt.{port}" in second.stderr
        assert r.get('k') == b'v'                     # the running node is untouched
        assert os.path.exists(shm_path(port))
        r.close()
    finally:
        srv.stop()
