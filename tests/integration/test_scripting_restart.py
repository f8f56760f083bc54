"""Scripts and function libraries outlive a worker: after a worker is killed
and restarted, EVALSHA and FCALL work on every worker; a worker killed in the
middle of a script leaves no script record behind (the node answers again)."""
import os
import signal
import time

from rawclient import encode, one_per_worker
from servers import CachecytServer

SHA1 = b'e0e1f9fabfc9d4800c877a703b823ac0578ff8db'       # of 'return 1'
LIB = "#!lua name=keep\nredis.register_function('kept', function() return 'still here' end)"


def pid_of(srv, c):
    """The worker process serving a raw connection: the one holding the server
    side of its socket (/proc/net/tcp gives the socket's inode)."""
    mine = c.sock.getsockname()[1]
    inode = None
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(':')[1], 16) == srv.port and int(remote.split(':')[1], 16) == mine:
                inode = fields[9]
    for pid in srv.worker_pids():
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                if os.readlink(f'/proc/{pid}/fd/{fd}') == f'socket:[{inode}]':
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def wait_replaced(srv, old, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = srv.worker_pids()
        if len(pids) == 2 and old not in pids:
            return
        time.sleep(0.02)
    raise AssertionError(f"worker {old} was not replaced")


def both_workers(addr, timeout=10.0):
    """One connection per worker once both (re)started workers listen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return one_per_worker(addr)
        except (ConnectionError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_cache_and_libraries_survive_a_worker_restart():
    with CachecytServer(workers=2) as srv:
        addr = ('127.0.0.1', srv.port)
        a, b = one_per_worker(addr)
        assert a.call('SCRIPT', 'LOAD', 'return 1') == b'$40\r\n' + SHA1 + b'\r\n'
        assert b.call('FUNCTION', 'LOAD', LIB) == b'$4\r\nkeep\r\n'
        for pid in srv.worker_pids():
            os.kill(pid, signal.SIGKILL)
            wait_replaced(srv, pid)
            both_workers(addr)
        for c in both_workers(addr):
            assert c.call('EVALSHA', SHA1, 0) == b':1\r\n'
            assert c.call('FCALL', 'kept', 0) == b'$10\r\nstill here\r\n'


def test_worker_killed_inside_a_script_leaves_the_node_usable():
    with CachecytServer(workers=2) as srv:
        addr = ('127.0.0.1', srv.port)
        a, b = one_per_worker(addr)
        b.call('CONFIG', 'SET', 'busy-reply-threshold', '100')
        a.send(encode('EVAL', "redis.call('set', 'w', '1') while true do end", 0))
        time.sleep(0.2)
        assert b.call('GET', 'w').startswith(b'-BUSY ')
        assert b.call('SCRIPT', 'KILL').startswith(b'-UNKILLABLE ')
        victim = pid_of(srv, a)
        os.kill(victim, signal.SIGKILL)
        wait_replaced(srv, victim)
        assert b.call('SET', 'x', '1') == b'+OK\r\n'
        assert b.call('EVAL', "return redis.call('get', 'x')", 0) == b'$1\r\n1\r\n'
        for c in both_workers(addr):
            assert c.call('PING') == b'+PONG\r\n'
