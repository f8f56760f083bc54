"""Hostile and broken input on the wire. For each case cachecyt must answer what
a real redis-server answers (the same "-ERR Protocol error: ..." text, or
nothing while it waits for more bytes), close when Redis closes, stay up, keep
serving another client throughout, and give back the memory it used."""
import random
import re
import socket
import time

import pytest
from diff.rawresp import RawConn, encode

QUIET = 0.3          # seconds of silence taken as "waiting for more input"

CASES = {
    'huge bulk length': b'*1\r\n$9999999999\r\n',
    'bulk length over proto-max-bulk-len': b'*1\r\n$536870913\r\n',
    'multibulk count over INT_MAX': b'*2147483648\r\n',
    'multibulk count over 1M': b'*2000000\r\n$4\r\nPING\r\n',
    'multibulk count not a number': b'*abc\r\n',
    'multibulk count with plus': b'*+1\r\n$4\r\nPING\r\n',
    'negative multibulk count': b'*-1\r\nPING\r\n',
    'zero multibulk count': b'*0\r\nPING\r\n',
    'negative bulk length': b'*1\r\n$-1\r\n',
    'bulk length not a number': b'*1\r\n$abc\r\n',
    'missing dollar': b'*1\r\nPING\r\n',
    'deep nesting': b'*1\r\n' * 1000,
    'truncated argument': b'*1\r\n$3\r\nGE',
    'truncated header': b'*2\r\n$3\r\nGET\r\n$',
    'payload without its CRLF': b'*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n',
    'LF only framing': b'*1\n$4\nPING\n',
    'too big inline request': b'A' * (70 * 1024),
    'too big mbulk count string': b'*' + b'1' * (70 * 1024),
    'too big bulk count string': b'*1\r\n$' + b'1' * (70 * 1024),
    'unbalanced quotes': b'SET a "b\r\n',
    'error after good requests': b'*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$abc\r\nPING\r\n',
    'requests after an error are not run': b'*1\r\n$-5\r\nINCR ran\r\nINCR ran\r\n',
}


def exchange(addr, data, quiet=QUIET):
    """Send data; return (bytes received, whether the server closed)."""
    with RawConn(addr) as c:
        c.sock.settimeout(quiet)
        c.send(data)
        got = bytearray()
        while True:
            try:
                chunk = c.sock.recv(65536)
            except TimeoutError:
                return bytes(got), False
            except ConnectionResetError:
                return bytes(got), True
            if not chunk:
                return bytes(got), True
            got += chunk


def used_memory(conn):
    info = conn.call('INFO', 'memory').decode()
    return int(re.search(r'used_memory:(\d+)', info).group(1))


def worker_pids(server, connections=24):
    """The worker processes that answer new connections (SO_REUSEPORT spreads them)."""
    pids = set()
    for _ in range(connections):
        with RawConn(server) as c:
            pids.add(re.search(rb'process_id:(\d+)', c.call('INFO', 'server')).group(1))
    return pids


@pytest.fixture
def bystander(server):
    """A second connection that must keep working while the bad input arrives."""
    with RawConn(server) as c:
        assert c.call('SET', 'bystander', 'ok') == b'+OK\r\n'
        yield c
        assert c.call('GET', 'bystander') == b'$2\r\nok\r\n'


@pytest.mark.parametrize('name', list(CASES))
def test_same_answer_as_redis(server, redis_ref, bystander, name):
    data = CASES[name]
    assert exchange(server, data) == exchange(redis_ref, data)
    assert bystander.call('PING') == b'+PONG\r\n'
    assert bystander.call('EXISTS', 'ran') == b':0\r\n'


# Lines over 64 KiB that do end. Redis answers "too big" when it has read 64 KiB
# without finding the end, else the error of the whole line: which one depends on
# how its reads split the bytes. cachecyt always answers "too big".
LONG_LINES = {
    'inline': (b'ECHO ' + b'x' * (100 * 1024) + b'\r\n', b'too big inline request'),
    'mbulk count': (b'*' + b'1' * (100 * 1024) + b'\r\n', b'too big mbulk count string'),
    'bulk count': (b'*1\r\n$' + b'1' * (100 * 1024) + b'\r\n', b'too big bulk count string'),
}


@pytest.mark.parametrize('name', list(LONG_LINES))
def test_lines_over_64k(server, redis_ref, bystander, name):
    data, error = LONG_LINES[name]
    assert exchange(server, data) == (b'-ERR Protocol error: ' + error + b'\r\n', True)
    got, closed = exchange(redis_ref, data)
    assert got.startswith(b'-ERR Protocol error: ') and closed


def test_random_bytes(server, bystander):
    pids = worker_pids(server)
    rng = random.Random(1234)
    for _ in range(40):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        got, _closed = exchange(server, data, quiet=0.05)
        assert got == b'' or got[:1] in b'+-:$*', got[:80]
        assert bystander.call('PING') == b'+PONG\r\n'
    assert worker_pids(server) == pids, "a worker died"


def test_client_closing_mid_request(server, bystander):
    for data in (b'*1\r\n$3\r\nGE', b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n' + b'x' * 5000):
        s = socket.create_connection(server)
        s.sendall(data)
        s.close()
    assert bystander.call('PING') == b'+PONG\r\n'
    assert bystander.call('EXISTS', 'k') == b':0\r\n'


def test_memory_returns_to_baseline(server, bystander):
    bystander.call('FLUSHALL')
    bystander.call('SET', 'bystander', 'ok')
    before = used_memory(bystander)
    pids = worker_pids(server)
    for data in CASES.values():
        exchange(server, data)
    exchange(server, encode('SET', 'big', 'x' * 100) [:-50])
    for _ in range(20):
        if used_memory(bystander) == before:
            break
        time.sleep(0.05)
    assert used_memory(bystander) == before
    assert worker_pids(server) == pids, "a worker died"
