"""Real server processes for the tests: cachecyt (supervisor + workers), a stock
redis-server and memcached, each on a free loopback port, stopped at the end."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=15.0, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {read_log(log)}")
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):   # -NOAUTH: a password is set
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer PING: {read_log(log)}")


def read_log(path):
    if not path:
        return ''
    with open(path, errors='replace') as f:
        return f.read()[-4000:]


class CachecytServer:
    """`cachecyt server --port P --workers N [extra flags]` as a child process.
    The memcached listener is off (--memcached-port 0) unless memcached_port is
    given (True picks a free port), so test nodes never share 11211; the same
    for the metrics endpoint (metrics_port)."""

    def __init__(self, *extra, workers=2, port=None, memcached_port=None, metrics_port=None):
        self.port = port or free_port()
        self.memcached_port = (free_port() if memcached_port is True else memcached_port) or 0
        self.metrics_port = (free_port() if metrics_port is True else metrics_port) or 0
        self.dir = tempfile.mkdtemp(prefix='cachecyt-test-')
        self.log_path = os.path.join(self.dir, 'server.log')
        self.args = [sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(self.port),
                     '--workers', str(workers), '--memcached-port', str(self.memcached_port),
                     '--metrics-port', str(self.metrics_port),
                     *[str(a) for a in extra]]
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir, start_new_session=True)
        try:
            wait_for_port(self.port, self.proc, log=self.log_path)
        except BaseException:
            # a node that never answered must not outlive the test (its supervisor
            # would keep restarting workers): end its whole process group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            raise
        return self

    def worker_pids(self):
        out = subprocess.run(['pgrep', '-P', str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def log_text(self):
        return read_log(self.log_path)

    def stop(self, sig=signal.SIGTERM, timeout=10, keep_leftovers=False):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.log.close()
            if self.proc.returncode == -signal.SIGKILL and not keep_leftovers:
                self.remove_leftovers()
        shutil.rmtree(self.dir, ignore_errors=True)

    def remove_leftovers(self):
        """A node a test killed (SIGKILL) could not remove its shared-memory
        segment and script stores: remove them once it is gone."""
        for path in glob.glob(f"/dev/shm/cachecyt.{self.port}") + glob.glob(f"/dev/shm/cachecyt.{self.port}.*"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class RedisServer:
    """A stock redis-server (Debian's package) with no persistence."""

    def __init__(self, *extra):
        exe = shutil.which('redis-server')
        if exe is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='redis-test-')
        self.args = [exe, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                     '--appendonly', 'no', '--dir', self.dir, *extra]

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class MemcachedServer:
    """A stock memcached (Debian's package), loopback only, no UDP."""

    def __init__(self, *extra):
        exe = shutil.which('memcached')
        if exe is None:
            pytest.skip("memcached is not installed (apt-get install memcached)")
        self.port = free_port()
        self.args = [exe, '-p', str(self.port), '-U', '0', '-l', '127.0.0.1', '-t', '2',
                     *[str(a) for a in extra]]
        if os.geteuid() == 0:
            self.args += ['-u', 'root']

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(100).startswith(b"VERSION"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("memcached did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
