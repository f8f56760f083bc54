"""Held runs (commands/batchhold.pxi) on a real two-worker node: many
connections pipelining writes to ONE key (each worker holds the key's shard
for a run of requests) lose no update, a blocking request inside a pipeline
leaves the shard free for others, and the WAL written by such runs rebuilds
the same state after a restart."""
import shutil
import socket
import tempfile
import threading

import redis
from servers import CachecytServer


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def read_replies(sock, n):
    """Read until n RESP replies (simple types or bulks, no arrays) are in."""
    buf = b''
    while True:
        lines = buf.split(b'\r\n')
        count, i = 0, 0
        while i < len(lines) - 1:
            if lines[i][:1] == b'$' and lines[i] != b'$-1':
                i += 2
            else:
                i += 1
            count += 1
        if count >= n and i <= len(lines) - 1:
            return buf
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buf += chunk


def hammer(port, key, conns, rounds, depth, make):
    """conns connections, each sending `rounds` pipelines of `depth` requests."""
    errors = []

    def run(c):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=20) as s:
                for i in range(rounds):
                    s.sendall(b''.join(make(c, i, j) for j in range(depth)))
                    read_replies(s, depth)
        except Exception as e:          # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_pipelined_incr_and_zadd_on_one_key_lose_nothing():
    with CachecytServer(workers=2) as srv:
        r = redis.Redis(port=srv.port, socket_timeout=10)
        conns, rounds, depth = 8, 60, 16
        hammer(srv.port, b'n', conns, rounds, depth, lambda c, i, j: resp(b'INCR', b'n'))
        assert int(r.get('n')) == conns * rounds * depth
        hammer(srv.port, b'z', conns, rounds, depth,
               lambda c, i, j: resp(b'ZADD', b'z', b'%d' % j, b'm%d.%d.%d' % (c, i, j)))
        assert r.zcard('z') == conns * rounds * depth


def test_blocking_request_inside_a_pipeline_frees_the_shard():
    with CachecytServer(workers=2) as srv:
        with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
            s.sendall(resp(b'SET', b'{t}a', b'1') + resp(b'INCR', b'{t}a')
                      + resp(b'BLPOP', b'{t}b', b'0') + resp(b'INCR', b'{t}a'))
            assert read_replies(s, 2) == b'+OK\r\n:2\r\n'
            r = redis.Redis(port=srv.port, socket_timeout=5)
            for _ in range(4):                       # whichever worker serves it, at once
                r.incr('{t}a')
            assert r.get('{t}a') == b'6'
            r.rpush('{t}b', 'v')
            got = b''
            while not got.endswith(b':7\r\n'):
                got += s.recv(4096)
            assert got == b'*2\r\n$4\r\n{t}b\r\n$1\r\nv\r\n:7\r\n'


def test_wal_of_pipelined_runs_rebuilds_the_state():
    data = tempfile.mkdtemp(prefix='cachecyt-data-')
    flags = ('--dir', data, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '')
    try:
        with CachecytServer(*flags, workers=2) as srv:
            hammer(srv.port, b'n', 4, 30, 16, lambda c, i, j: resp(b'INCR', b'n'))
            hammer(srv.port, b'z', 4, 30, 16,
                   lambda c, i, j: resp(b'ZINCRBY', b'z', b'1', b'm%d' % (j % 4)))
            hammer(srv.port, b'h', 4, 10, 16,
                   lambda c, i, j: resp(b'HINCRBY', b'h', b'f%d' % c, b'1') if j % 2
                   else resp(b'SET', b'k%d' % (i * 16 + j), b'v'))
            r = redis.Redis(port=srv.port, socket_timeout=10)
            before = (r.get('n'), r.zrange('z', 0, -1, withscores=True), r.hgetall('h'), r.dbsize())
        assert before[0] == b'1920' and before[1] == [(b'm%d' % i, 480.0) for i in range(4)]
        with CachecytServer(*flags, workers=2) as srv:
            r = redis.Redis(port=srv.port, socket_timeout=10)
            after = (r.get('n'), r.zrange('z', 0, -1, withscores=True), r.hgetall('h'), r.dbsize())
        assert after == before
    finally:
        shutil.rmtree(data, ignore_errors=True)
