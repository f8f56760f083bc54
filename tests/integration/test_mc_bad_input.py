"""Hostile input on the memcached port: the stream never loses its place, a
worker never dies, limits close only what memcached closes; and memccapable's
ASCII suite passes as it does against a real memcached."""
import shutil
import socket
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import MemcachedServer


NODE_KW = {'memcached_port': True}


def until_mn(port, data, timeout=5):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data + b'mn\r\n')
        out = b''
        while not out.endswith(b'MN\r\n'):
            chunk = s.recv(65536)
            if not chunk:
                return out + b'<closed>'
            out += chunk
        return out


@pytest.mark.parametrize('data,reply', [
    (b'set k 0 0 5\r\n' + b'x' * 10 + b'\r\n', b'CLIENT_ERROR bad data chunk\r\nERROR\r\n'),
    (b'set k 0 0 2000000\r\n' + b'x' * 2000000 + b'\r\n', b'SERVER_ERROR object too large for cache\r\n'),
    (b'set k abc 0 1\r\n', b'CLIENT_ERROR bad command line format\r\n'),
    (b'get ' + b'k' * 251 + b'\r\n', b'CLIENT_ERROR bad command line format\r\n'),
    (b'incr k\r\n\x00\x01\x02\r\n', b'ERROR\r\nERROR\r\n'),
    (b'\r\n\r\n\n', b'ERROR\r\nERROR\r\nERROR\r\n'),
    (b'*1\r\n$4\r\nPING\r\n', b'ERROR\r\nERROR\r\nERROR\r\n'),
], ids=['bad-chunk', 'too-large', 'bad-flags', 'long-key', 'nul-bytes', 'empty-lines', 'resp'])
def test_bad_input_keeps_the_stream(node, data, reply):
    pids = node.worker_pids()
    assert until_mn(node.memcached_port, data) == reply + b'MN\r\n'
    assert node.worker_pids() == pids


def test_long_line_closes_like_memcached(node):
    with socket.create_connection(('127.0.0.1', node.memcached_port), timeout=5) as s:
        s.sendall(b'x' * 5000)
        assert s.recv(100) == b''
    assert until_mn(node.memcached_port, b'version\r\n').startswith(b'VERSION ')


junk_line = st.lists(st.sampled_from([b'get', b'gets', b'gat', b'incr', b'decr', b'touch', b'delete',
                                      b'mg', b'md', b'ma', b'flush_all', b'stats', b'verbosity',
                                      b'k', b'-1', b'0', b'99999999999999999999', b'noreply', b'v',
                                      b'\x00', b'\xff', b'\t', b'\r', b'q', b'O1', b'N5', b'x' * 300]),
                     min_size=0, max_size=8).map(lambda ws: b' '.join(ws) + b'\r\n')


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(junk_line, min_size=1, max_size=10))
def test_random_lines_never_desync(node, lines):
    out = until_mn(node.memcached_port, b''.join(lines))
    assert out.endswith(b'MN\r\n') and not out.endswith(b'<closed>')


@pytest.mark.skipif(shutil.which('memccapable') is None,
                    reason="memccapable is not installed (apt-get install libmemcached-tools)")
def test_memccapable_ascii_as_real_memcached(node):
    ref = MemcachedServer().start()
    try:
        results = []
        for port in (node.memcached_port, ref.port):
            run = subprocess.run(['memccapable', '-a', '-h', '127.0.0.1', '-p', str(port)],
                                 capture_output=True, text=True, timeout=60)
            results.append([ln for ln in run.stdout.splitlines() if ln.startswith('ascii ')])
        assert results[0] == results[1]
        assert results[0] and all(ln.endswith('[pass]') for ln in results[0])
    finally:
        ref.stop()
