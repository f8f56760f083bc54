"""One keyspace, two protocols: what memcached clients store is a string to
RESP clients and the other way round, from different connections (and so, with
2 workers, usually different worker processes); flags survive reads, TTLs are
shared, collections are invisible to memcached reads and refused by its writes,
and memcached clients use the db memcached-db names."""
import socket
import time

import pytest
import redis
from pymemcache.client.base import Client
from servers import CachecytServer


@pytest.fixture
def clients(mc_node):
    r = redis.Redis(port=mc_node.port)
    r.flushall()
    mcs = [Client(('127.0.0.1', mc_node.memcached_port), default_noreply=False) for _ in range(4)]
    yield r, mcs
    for m in mcs:
        m.close()
    r.close()


def raw(mc_node, data):
    with socket.create_connection(('127.0.0.1', mc_node.memcached_port)) as s:
        s.sendall(data)
        s.settimeout(0.3)
        out = b''
        try:
            while chunk := s.recv(65536):
                out += chunk
                if out.endswith(b'END\r\n') or out.endswith(b'\r\n') and not out.startswith(b'VALUE'):
                    break
        except socket.timeout:
            pass
        return out


def test_memcached_to_resp_and_back(clients):
    r, mcs = clients
    for i, m in enumerate(mcs):
        m.set(f'k{i}', f'v{i}'.encode(), flags=i)
    assert r.mget([f'k{i}' for i in range(4)]) == [f'v{i}'.encode() for i in range(4)]
    r.set('fromresp', 'hello')
    r.set('num', 41)
    for m in mcs:
        assert m.get('fromresp') == b'hello'
    assert mcs[1].incr('num', 1) == 42
    assert r.get('num') == b'42'
    assert r.incr('num') == 43
    assert mcs[2].get('num') == b'43'


def test_flags_survive_reads_and_resp_set_clears_them(mc_node, clients):
    r, mcs = clients
    mcs[0].set('f', b'x', flags=12345)
    assert r.get('f') == b'x'
    assert raw(mc_node, b'get f\r\n') == b'VALUE f 12345 1\r\nx\r\nEND\r\n'
    mcs[0].append('f', b'y')
    assert raw(mc_node, b'get f\r\n') == b'VALUE f 12345 2\r\nxy\r\nEND\r\n'
    r.set('f', 'z')
    assert raw(mc_node, b'get f\r\n') == b'VALUE f 0 1\r\nz\r\nEND\r\n'


def test_cas_sees_resp_writes(clients):
    r, mcs = clients
    mcs[0].set('c', b'1')
    _, token = mcs[1].gets('c')
    r.append('c', '2')
    assert not mcs[2].cas('c', b'x', token)
    _, token = mcs[1].gets('c')
    assert mcs[3].cas('c', b'x', token)
    assert r.get('c') == b'x'


def test_ttl_is_shared(clients):
    r, mcs = clients
    mcs[0].set('t', b'x', expire=100)
    assert 98 <= r.ttl('t') <= 100
    r.expire('t', 1)
    mcs[1].touch('t', 1000)
    assert 998 <= r.ttl('t') <= 1000
    r.pexpire('t', 50)
    time.sleep(0.1)
    assert mcs[2].get('t') is None


def test_collections_are_invisible_and_refused(mc_node, clients):
    r, mcs = clients
    try:
        r.rpush('list', 'a')
    except redis.ResponseError:
        pytest.skip("this build has no list type yet")
    assert mcs[0].get('list') is None
    out = raw(mc_node, b'set list 0 0 1\r\nx\r\n')
    assert out.startswith(b'SERVER_ERROR ')
    assert raw(mc_node, b'incr list 1\r\n').startswith(b'SERVER_ERROR ')
    assert raw(mc_node, b'delete list\r\n').startswith(b'SERVER_ERROR ')
    assert r.lrange('list', 0, -1) == [b'a']


def test_memcached_db_option():
    with CachecytServer(workers=1, memcached_port=True, *['--memcached-db', '3']) as srv:
        r = redis.Redis(port=srv.port, db=3)
        m = Client(('127.0.0.1', srv.memcached_port), default_noreply=False)
        m.set('in3', b'x')
        assert r.get('in3') == b'x'
        assert redis.Redis(port=srv.port, db=0).get('in3') is None
        m.close()


def test_second_node_on_the_same_memcached_port_refuses_to_start(mc_node):
    other = CachecytServer(workers=1, memcached_port=mc_node.memcached_port)
    with pytest.raises(RuntimeError):
        other.start()
    try:
        assert f"cannot listen for memcached clients on 127.0.0.1:{mc_node.memcached_port}" in other.log_text()
        assert other.proc.wait(5) != 0
    finally:
        other.stop()
    m = Client(('127.0.0.1', mc_node.memcached_port))
    assert m.version()                                  # the first mc_node still serves it
    m.close()


def test_memcached_port_survives_a_worker_restart(mc_node):
    import os
    import signal
    m = Client(('127.0.0.1', mc_node.memcached_port), default_noreply=False)
    m.set('kept', b'x')
    m.close()
    before = mc_node.worker_pids()
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = mc_node.worker_pids()
        if len(now) == len(before) and before[0] not in now:
            break
        time.sleep(0.05)
    time.sleep(0.5)                                      # the new worker binds its listeners
    for _ in range(10):                                  # new connections land on either worker
        m = Client(('127.0.0.1', mc_node.memcached_port))
        assert m.get('kept') == b'x'
        m.close()


def test_stats_count_every_workers_commands(mc_node):
    """`stats` on any connection reports the node's commands, not those of the
    worker that happens to serve it. Connections are opened until both workers
    serve some (a worker restarted by an earlier test may still be starting)."""
    conns, pids = [], set()
    try:
        deadline = time.monotonic() + 10
        while (len(conns) < 8 or len(pids) < 2) and time.monotonic() < deadline:
            conns.append(Client(('127.0.0.1', mc_node.memcached_port), default_noreply=False))
            pids.add(conns[-1].stats()[b'pid'])
        assert len(pids) == 2, "the connections should land on both workers"
        before = conns[0].stats()
        for i, c in enumerate(conns):
            c.set(f'st{i}', b'v')
            c.get(f'st{i}')
            c.delete(f'st{i}')
            c.delete(f'st{i}')
        n = len(conns)
        for c in conns[:2]:
            after = c.stats()
            assert after[b'cmd_set'] - before[b'cmd_set'] == n
            assert after[b'cmd_get'] - before[b'cmd_get'] == n
            assert after[b'delete_hits'] - before[b'delete_hits'] == n
            assert after[b'delete_misses'] - before[b'delete_misses'] == n
    finally:
        for c in conns:
            c.close()
