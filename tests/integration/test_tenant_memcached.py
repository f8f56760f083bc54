"""Tenants over the memcached protocol (docs/adr/0014-tenants.md): a memcached
connection authenticated as a tenant member works in its tenant's keyspace
(the one its RESP connections see as db 0) and nowhere else, under the
tenant's quotas, and counts in its figures; memcached auth failures are slowed
as AUTH failures are, without holding up the worker's other clients."""
import re
import socket
import threading
import time

import pytest
import redis
from pymemcache.client.base import Client as McClient
from pymemcache.exceptions import MemcacheServerError

from tests.servers import CachecytServer

PW = 'pw'


@pytest.fixture(scope='module')
def node():
    with CachecytServer('--requirepass', PW, '--max-tenants', 4, workers=2,
                        memcached_port=True) as s:
        admin = redis.Redis(port=s.port, password=PW)
        for u in ('alice', 'bob', 'carl', 'dora', 'erin', 'fred'):
            admin.execute_command('ACL', 'SETUSER', u, 'on', '>' + PW, '~*', '&*', '+@all')
        admin.execute_command('TENANT', 'CREATE', 'a', 'USERS', 'alice')
        admin.execute_command('TENANT', 'CREATE', 'b', 'USERS', 'bob')
        yield s


@pytest.fixture
def admin(node):
    c = redis.Redis(port=node.port, password=PW)
    yield c
    c.close()


def resp(node, user):
    return redis.Redis(port=node.port, username=user, password=PW)


def mc(node, user):
    """A pymemcache client logged in with memcached's ASCII auth. (pymemcache
    reconnects after an error reply: log in again then.)"""
    c = McClient(('127.0.0.1', node.memcached_port), timeout=5, default_noreply=False)
    assert c.set('auth', f'{user} {PW}') is True
    return c


def info(admin, name):
    return dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', name))] * 2))


def test_member_works_in_its_tenants_keyspace(node, admin):
    admin.flushall()
    admin.set('k', 'admin')
    resp(node, 'alice').set('k', 'A')
    resp(node, 'bob').set('k', 'B')
    ma, mb = mc(node, 'alice'), mc(node, 'bob')
    assert ma.get('k') == b'A' and mb.get('k') == b'B'
    assert ma.get_many(['k', 'nothing']) == {'k': b'A'}
    assert ma.set('from-mc', 'x')
    assert resp(node, 'alice').get('from-mc') == b'x'          # RESP and memcached share it
    assert admin.get('from-mc') is None and resp(node, 'bob').get('from-mc') is None
    assert mb.get('from-mc') is None
    ma.close()
    mb.close()


def test_member_cannot_touch_other_keyspaces(node, admin):
    admin.flushall()
    admin.set('k', 'admin')
    ta = resp(node, 'alice')
    ta.set('k', 'A')
    mb = mc(node, 'bob')
    assert mb.set('k', 'B') and mb.add('k', 'again') is False
    assert mb.delete('nothing-here') is False
    assert ta.get('k') == b'A' and admin.get('k') == b'admin'
    mb.set('b-only', '1')
    assert mb.flush_all() is True
    assert mb.get('k') is None and mb.get('b-only') is None
    assert ta.get('k') == b'A' and admin.get('k') == b'admin'   # only b's keys went
    mb.set('later', '1')
    mb.flush_all(delay=1)                                         # the delayed form too
    time.sleep(1.3)
    assert mb.get('later') is None
    assert ta.get('k') == b'A' and admin.get('k') == b'admin'
    mb.close()


def test_stats_are_the_tenants(node, admin):
    admin.flushall()
    admin.mset({'x1': 1, 'x2': 2, 'x3': 3})
    ma = mc(node, 'alice')
    ma.set_many({'s1': '1', 's2': '2'})
    ma.get('s1')
    ma.get('missing')
    stats = ma.stats()
    assert stats[b'tenant'] == b'a' and stats[b'curr_items'] == 2
    d = info(admin, 'a')
    assert stats[b'bytes'] == d[b'used_memory'] > 0
    assert stats[b'get_hits'] == d[b'keyspace_hits'] >= 1
    assert int(ma.stats('items')[b'items:1:number']) == 2
    with pytest.raises(Exception, match='access denied'):
        ma.stats('reset')
    mb = mc(node, 'bob')
    assert mb.stats()[b'curr_items'] == 0
    ma.close()
    mb.close()


def test_ops_are_counted_for_the_tenant(node, admin):
    before = info(admin, 'a')
    ma = mc(node, 'alice')
    for i in range(20):
        ma.get('c%d' % i)
    after = info(admin, 'a')
    assert after[b'ops'] - before[b'ops'] >= 20
    assert after[b'keyspace_misses'] - before[b'keyspace_misses'] >= 20
    ma.close()


def test_key_quota_exact_from_both_protocols(node, admin):
    admin.execute_command('TENANT', 'CREATE', 'k', 'USERS', 'carl', 'MAXKEYS', 40)
    errors, lock = [], threading.Lock()

    def mc_writer(i):
        c = mc(node, 'carl')
        for j in range(20):
            try:
                c.set(f"mc{i}:{j}", 'v')
            except MemcacheServerError as e:
                with lock:
                    errors.append(e.args[0].decode())
                c.close()
                c = mc(node, 'carl')
        c.close()

    def resp_writer(i):
        c = resp(node, 'carl')
        for j in range(20):
            try:
                c.set(f"r{i}:{j}", 'v')
            except redis.ResponseError as e:
                with lock:
                    errors.append(str(e))
        c.close()
    try:
        threads = [threading.Thread(target=mc_writer, args=(i,)) for i in range(3)]
        threads += [threading.Thread(target=resp_writer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert resp(node, 'carl').dbsize() == 40
        assert errors and set(errors) == {"tenant 'k' over its key quota"}
        c = mc(node, 'carl')
        assert c.set('mc0:0', 'changed')                          # existing keys still change
        assert info(admin, 'k')[b'rejected_keys'] == len(errors)
        c.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'k')


def test_memory_quota_and_eviction(node, admin):
    admin.execute_command('TENANT', 'CREATE', 'm', 'USERS', 'dora', 'MAXMEMORY', '100kb')
    admin.execute_command('TENANT', 'CREATE', 'e', 'USERS', 'erin', 'MAXMEMORY', '100kb',
                          'POLICY', 'allkeys-lru')
    try:
        ta = resp(node, 'alice')
        ta.set('a-survivor', 'x')
        md = mc(node, 'dora')
        with pytest.raises(MemcacheServerError, match="tenant 'm' over its memory quota"):
            for i in range(50):
                md.set(f"big{i}", 'x' * 10000)
        md = mc(node, 'dora')
        assert md.get('big0') == b'x' * 10000                       # reads still work
        me = mc(node, 'erin')
        for i in range(50):
            assert me.set(f"e{i}", 'y' * 10000)
        d = info(admin, 'e')
        assert d[b'evicted_keys'] > 0 and int(d[b'used_memory']) < 100 * 1024 + 16384
        assert ta.get('a-survivor') == b'x'
        md.close()
        me.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'm')
        admin.execute_command('TENANT', 'DELETE', 'e')


def test_ops_and_connection_quotas(node, admin):
    admin.execute_command('TENANT', 'CREATE', 'q', 'USERS', 'fred', 'MAXOPS', 20, 'MAXCONNS', 1)
    try:
        mf = socket.create_connection(('127.0.0.1', node.memcached_port), timeout=5)
        assert ask(mf, auth_line('fred', PW), 1)[0] == b"STORED\r\n"
        replies = ask(mf, b"get x\r\n" * 40, 40)[0].split(b"\r\n")[:-1]    # pipelined
        refused = [r + b"\r\n" for r in replies if r != b"END"]
        assert len(refused) >= 10 and info(admin, 'q')[b'rejected_ops'] == len(refused)
        assert all(re.fullmatch(rb"SERVER_ERROR tenant 'q' over its ops/s quota, retry in \d+ ms\r\n", r)
                   for r in refused)
        with socket.create_connection(('127.0.0.1', node.memcached_port), timeout=5) as s:
            s.sendall(f"set auth 0 0 {len('fred ' + PW)}\r\nfred {PW}\r\nget x\r\n".encode())
            got = b''
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        assert got == b"SERVER_ERROR tenant 'q' over its connection quota\r\n"
        mf.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'q')


def test_deleted_tenant_closes_memcached_connections(node, admin):
    admin.execute_command('TENANT', 'CREATE', 'gone', 'USERS', 'dora')
    md = mc(node, 'dora')
    md.set('k', 'v')
    admin.execute_command('TENANT', 'DELETE', 'gone')
    time.sleep(0.2)
    with pytest.raises(Exception):
        md.get('k')
        md.get('k')                     # the first may land before the close is seen
    md.close()


# ---- throttled memcached auth ---------------------------------------------------------

FAIL = b"CLIENT_ERROR authentication failure\r\n"


@pytest.fixture(scope='module')
def slow_node():
    with CachecytServer('--requirepass', PW, '--auth-fail-limit', 2, '--auth-fail-delay', 80,
                        '--auth-fail-delay-max', 300, workers=1, memcached_port=True) as s:
        yield s


def ask(sock, data, n_lines):
    t0 = time.monotonic()
    sock.sendall(data)
    got = b''
    while got.count(b'\r\n') < n_lines:
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    return got, time.monotonic() - t0


def auth_line(user, password):
    token = f"{user} {password}".encode()
    return b"set auth 0 0 %d\r\n%s\r\n" % (len(token), token)


def test_memcached_auth_failures_are_slowed(slow_node):
    m = socket.create_connection(('127.0.0.1', slow_node.memcached_port), timeout=10)
    other = redis.Redis(port=slow_node.port, password=PW)
    assert other.ping()                 # its AUTH (a success) before the failures
    times = []
    for i in range(5):
        reply, took = ask(m, auth_line('default', f'guess{i}'), 1)
        assert reply == FAIL
        times.append(took)
    assert max(times[:2]) < 0.05                                  # the allowance
    for took, want in zip(times[2:], (0.08, 0.16, 0.3)):
        assert want * 0.9 <= took < want + 0.5                    # doubled, capped
    # a held failure: the requests behind it wait and keep their order, while
    # the worker serves its other clients
    m.sendall(auth_line('default', 'nope') + b"get k\r\n")
    t0 = time.monotonic()
    assert other.ping() and time.monotonic() - t0 < 0.2
    got, _took = ask(m, b"", 2)
    assert got == FAIL + b"CLIENT_ERROR unauthenticated\r\n"
    assert time.monotonic() - t0 >= 0.25
    # RESP AUTH failures from the address share the count
    r = socket.create_connection(('127.0.0.1', slow_node.port), timeout=10)
    reply, took = ask(r, b"AUTH default wrong\r\n", 1)
    assert reply.startswith(b"-WRONGPASS") and took >= 0.25
    # a success forgets them
    reply, _ = ask(m, auth_line('default', PW), 1)
    assert reply == b"STORED\r\n"
    reply, took = ask(r, b"AUTH default wrong-again\r\n", 1)
    assert took < 0.2                                             # not the 0.3 s it was
    m.close()
    r.close()
    other.close()


def test_memcached_writes_of_a_member_survive_a_restart(tmp_path):
    """The WAL logs a member's memcached writes under its tenant's db."""
    conf = tmp_path / 'c.yaml'
    acl = tmp_path / 'users.acl'
    acl.write_text(f"user default on >{PW} ~* &* +@all\nuser zed on >{PW} ~* &* +@all\n")
    conf.write_text(f"aclfile: {acl}\ndir: {tmp_path}\nappendonly: yes\nappendfsync: always\n"
                    "tenants:\n  - name: t1\n    users: [zed]\n")
    with CachecytServer('--config', conf, workers=2, memcached_port=True) as s:
        z = mc(s, 'zed')
        assert z.set('kept', 'mc-value') and z.set('gone', 'x')
        assert z.delete('gone')
        assert mc(s, 'default').set('plain', 'p')
    with CachecytServer('--config', conf, workers=2) as s:
        z = redis.Redis(port=s.port, username='zed', password=PW)
        assert z.get('kept') == b'mc-value' and z.get('gone') is None and z.get('plain') is None
        admin = redis.Redis(port=s.port, password=PW)
        assert admin.get('plain') == b'p' and admin.get('kept') is None
