"""AUTH throttling against a real brute-force loop: past the allowed failures
each WRONGPASS comes later (a growing, capped delay), the connection runs
nothing meanwhile, every failure is still in the ACL LOG and the audit log, a
success forgets the failures, and the defaults leave a few wrong passwords
fast."""
import json
import socket
import time

import pytest
import redis

from servers import CachecytServer

WRONG = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=10)

    def ask(self, data, until):
        """Send data; the replies once they end with `until`, and the seconds taken."""
        t0 = time.monotonic()
        self.s.sendall(data)
        got = b''
        while not got.endswith(until):
            chunk = self.s.recv(65536)
            assert chunk, got
            got += chunk
        return got, time.monotonic() - t0

    def close(self):
        self.s.close()


@pytest.fixture(scope='module')
def node(tmp_path_factory):
    log = tmp_path_factory.mktemp('audit') / 'audit.jsonl'
    srv = CachecytServer('--auth-fail-limit', '3', '--auth-fail-delay', '60',
                         '--auth-fail-delay-max', '250', '--audit-log-file', str(log),
                         workers=1).start()
    srv.audit = log
    srv.admin = redis.Redis(port=srv.port)
    srv.admin.execute_command('ACL', 'SETUSER', 'victim', 'on', '>right', '+@all', '~*')
    yield srv
    srv.stop()


def test_brute_force_is_slowed_and_logged(node):
    node.admin.execute_command('ACL', 'LOG', 'RESET')
    c = Conn(node.port)
    times = []
    for i in range(8):
        reply, took = c.ask(b"AUTH victim guess%d\r\n" % i, b"\r\n")
        assert reply == WRONG
        times.append(took)
    assert max(times[:3]) < 0.05                              # the allowed failures
    for took, want in zip(times[3:], (0.06, 0.12, 0.24, 0.25, 0.25)):
        assert want * 0.9 <= took < want + 0.5                # doubled, capped
    entry = node.admin.acl_log()[0]
    assert (entry['reason'], entry['object'], entry['count']) == ('auth', 'AUTH', 8)
    time.sleep(0.1)
    with open(node.audit) as f:
        failures = [e for e in map(json.loads, f) if e.get('result') == 'failure']
    assert len(failures) >= 8 and failures[-1]['event'] == 'auth'
    # requests sent behind a held failure wait for it and keep their order
    reply, took = c.ask(b"AUTH victim nope\r\nPING\r\n", b"+PONG\r\n")
    assert reply == WRONG + b"+PONG\r\n" and took >= 0.2
    # HELLO AUTH counts and waits the same
    reply, took = c.ask(b"HELLO 2 AUTH victim nope\r\n", b"\r\n")
    assert reply == WRONG and took >= 0.2
    # a success forgets the address's failures
    assert c.ask(b"AUTH victim right\r\n", b"\r\n")[0] == b"+OK\r\n"
    reply, took = c.ask(b"AUTH victim wrong-again\r\n", b"\r\n")
    assert reply == WRONG and took < 0.05
    c.close()


def test_parallel_connections_wait_in_turn(node):
    c = Conn(node.port)
    assert c.ask(b"AUTH victim right\r\n", b"\r\n")[0] == b"+OK\r\n"     # start afresh
    c.ask(b"AUTH victim a\r\nAUTH victim b\r\nAUTH victim c\r\n", WRONG * 3)
    conns = [Conn(node.port) for _ in range(3)]
    t0 = time.monotonic()
    for k in conns:
        k.s.sendall(b"AUTH victim guess\r\n")
    for k in conns:
        assert k.ask(b"", b"\r\n")[0] == WRONG
    assert time.monotonic() - t0 >= (0.06 + 0.12 + 0.24) * 0.9    # one after the other
    for k in conns + [c]:
        k.close()


def test_delay_zero_turns_it_off(node):
    node.admin.config_set('auth-fail-delay', 0)
    try:
        c = Conn(node.port)
        t0 = time.monotonic()
        for _ in range(10):
            assert c.ask(b"AUTH victim x\r\n", b"\r\n")[0] == WRONG
        assert time.monotonic() - t0 < 0.5
        c.close()
    finally:
        node.admin.config_set('auth-fail-delay', 60)
    assert node.admin.config_get('auth-fail-*') == {
        'auth-fail-limit': '3', 'auth-fail-window': '60', 'auth-fail-delay': '60',
        'auth-fail-delay-max': '250'}


def test_defaults_keep_a_few_wrong_passwords_fast():
    # (redis-py retries a failed AUTH three times: one wrong password is 4 failures)
    with CachecytServer(workers=2) as srv:
        r = redis.Redis(port=srv.port)
        r.execute_command('ACL', 'SETUSER', 'u', 'on', '>pw', '+@all')
        c = Conn(srv.port)
        t0 = time.monotonic()
        for _ in range(10):
            assert c.ask(b"AUTH u bad\r\n", b"\r\n")[0] == WRONG
        assert time.monotonic() - t0 < 0.5
        reply, took = c.ask(b"AUTH u bad\r\n", b"\r\n")          # the 11th waits
        assert reply == WRONG and took >= 0.09
        c.close()
        assert r.config_get('auth-fail-delay') == {'auth-fail-delay': '100'}
