"""Tenants (docs/adr/0014-tenants.md) through real clients against a real node:
isolation of keys, channels and node-wide commands; quotas (memory, keys,
ops/s, connections) under load from both workers; run-time changes; the
`cachecyt tenant` CLI; INFO and metrics figures; recovery after a restart."""
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import redis

from tests.servers import ROOT, CachecytServer

PW = 'pw'


@pytest.fixture(scope='module')
def node():
    with CachecytServer('--max-tenants', 4, workers=2, metrics_port=True) as s:
        admin = redis.Redis(port=s.port)
        for u in ('alice', 'alex', 'bob', 'carl', 'dora', 'erin'):
            admin.execute_command('ACL', 'SETUSER', u, 'on', '>' + PW, '~*', '&*', '+@all')
        admin.execute_command('TENANT', 'CREATE', 'a', 'USERS', 'alice,alex')
        admin.execute_command('TENANT', 'CREATE', 'b', 'USERS', 'bob')
        yield s


def login(node, user, **kw):
    return redis.Redis(port=node.port, username=user, password=PW, **kw)


@pytest.fixture
def admin(node):
    return redis.Redis(port=node.port)


@pytest.fixture
def ta(node):
    c = login(node, 'alice')
    yield c
    c.close()


@pytest.fixture
def tb(node):
    c = login(node, 'bob')
    yield c
    c.close()


def fill(ta, tb, admin):
    admin.flushall()
    ta.mset({'a1': 1, 'a2': 2, 'shared': 'A'})
    tb.mset({'b1': 1, 'shared': 'B'})
    admin.set('adminkey', 'x')


# ---- isolation ----------------------------------------------------------------------

def test_keys_are_separate(ta, tb, admin):
    fill(ta, tb, admin)
    assert ta.get('shared') == b'A' and tb.get('shared') == b'B'
    assert admin.get('shared') is None
    assert sorted(ta.keys('*')) == [b'a1', b'a2', b'shared']
    assert sorted(tb.keys('*')) == [b'b1', b'shared']
    assert sorted(admin.keys('*')) == [b'adminkey']
    assert ta.get('b1') is None and ta.exists('adminkey') == 0


def test_scan_randomkey_dbsize_stay_inside(ta, tb, admin):
    fill(ta, tb, admin)
    assert sorted(ta.scan_iter('*')) == [b'a1', b'a2', b'shared']
    assert ta.dbsize() == 3 and tb.dbsize() == 2 and admin.dbsize() == 1
    for _ in range(20):
        assert tb.randomkey() in (b'b1', b'shared')


def test_flushdb_and_flushall_only_own_keys(ta, tb, admin):
    fill(ta, tb, admin)
    tb.flushall()
    assert tb.dbsize() == 0
    assert ta.dbsize() == 3 and admin.get('adminkey') == b'x'
    ta.flushdb()
    assert ta.dbsize() == 0 and admin.dbsize() == 1


def test_select_only_db0(ta, admin):
    assert ta.execute_command('SELECT', 0)
    for db in (1, 15, 16, 17):
        with pytest.raises(redis.ResponseError, match='DB index is out of range'):
            ta.execute_command('SELECT', db)
    with pytest.raises(redis.ResponseError, match='DB index is out of range'):
        admin.execute_command('SELECT', 16)          # the hidden dbs are not the admins' either
    with pytest.raises(redis.ResponseError, match='DB index is out of range'):
        ta.execute_command('COPY', 'a1', 'x', 'DB', 0)


@pytest.mark.parametrize('cmd', [
    ('CONFIG', 'GET', 'maxmemory'), ('MONITOR',), ('SWAPDB', 0, 1), ('SLOWLOG', 'GET'), ('SHUTDOWN',), ('TENANT', 'LIST'),
    ('MEMORY', 'STATS'), ('MEMORY', 'DOCTOR'), ('CLIENT', 'KILL', 'ID', '1'),
    ('ACL', 'LIST'), ('ACL', 'SETUSER', 'alice', 'off'), ('FUNCTION', 'FLUSH'), ('SCRIPT', 'FLUSH'),
    ('LATENCY', 'LATEST'), ('BGSAVE',), ('MOVE', 'a1', 1)])
def test_node_wide_commands_refused(ta, cmd):
    with pytest.raises(redis.exceptions.NoPermissionError, match='this user has no permissions'):
        ta.execute_command(*cmd)


def test_object_memory_usage_own_keys(ta, tb, admin):
    fill(ta, tb, admin)
    assert ta.object('encoding', 'a1') == b'int'
    assert ta.object('encoding', 'b1') is None
    assert ta.memory_usage('a1') > 0
    assert ta.memory_usage('b1') is None


def test_info_keyspace_and_tenant_figures(ta, tb, admin):
    fill(ta, tb, admin)
    info = ta.info()
    assert info['tenant'] == 'a' and info['keys'] == 3 and info['db0']['keys'] == 3
    assert 'used_memory' in info and 'tenant_b' not in info and 'connected_clients' in info
    assert not any(k.startswith('db') and k != 'db0' for k in info)
    info = ta.info('keyspace')
    assert info == {'db0': {'keys': 3, 'expires': 0, 'avg_ttl': 0}}
    assert admin.info('keyspace') == {'db0': {'keys': 1, 'expires': 0, 'avg_ttl': 0}}
    tenants = admin.info('tenants')
    assert tenants['tenant_a']['keys'] == 3 and tenants['tenant_b']['keys'] == 2


def test_client_list_only_own_tenant(node, ta, tb):
    ta.ping()
    tb.ping()
    other = login(node, 'alex')
    other.ping()
    rows = ta.client_list()
    assert {r['user'] for r in rows} == {'alice', 'alex'}
    assert all(str(r['db']) == '0' for r in rows)
    assert str(ta.client_info()['db']) == '0'
    other.close()


def test_channels_are_separate(node, ta, tb, admin):
    sa = login(node, 'alex').pubsub()
    sb = tb.pubsub()
    sa.subscribe('news')
    sa.psubscribe('n*')
    sb.subscribe('news')
    for p in (sa, sb):
        while p.get_message(timeout=1) is not None:
            pass
    assert ta.publish('news', 'for-a') == 2            # alex: channel and pattern
    assert tb.publish('news', 'for-b') == 1
    assert admin.publish('news', 'admin') == 0
    got_a = [sa.get_message(timeout=2) for _ in range(2)]
    assert {(m['type'], m['channel'], m['data']) for m in got_a} == {
        ('message', b'news', b'for-a'), ('pmessage', b'news', b'for-a')}
    assert [m['pattern'] for m in got_a if m['type'] == 'pmessage'] == [b'n*']
    m = sb.get_message(timeout=2)
    assert (m['channel'], m['data']) == (b'news', b'for-b')
    assert sa.get_message(timeout=0.2) is None and sb.get_message(timeout=0.2) is None
    assert ta.pubsub_channels() == [b'news']
    assert ta.pubsub_channels('n*') == [b'news']
    assert ta.pubsub_numsub('news') == [(b'news', 1)]
    assert ta.pubsub_numpat() == 1 and tb.pubsub_numpat() == 0    # alex's n*: a's only
    assert admin.pubsub_numpat() >= 1
    # outside tenants (admins) the names carry the hidden tenant prefix
    assert sorted(admin.pubsub_channels()) == [b'\x00a\x00news', b'\x00b\x00news']
    sa.close()
    sb.close()


def test_keyspace_notifications_stay_inside(node, ta, tb, admin):
    admin.config_set('notify-keyspace-events', 'KEA')
    try:
        pa = login(node, 'alex').pubsub()
        pb = tb.pubsub()
        pad = admin.pubsub()
        for p in (pa, pb, pad):
            p.psubscribe('__key*__:*')
            assert p.get_message(timeout=2)['type'] == 'psubscribe'
        ta.set('evkey', 'v')
        got = [pa.get_message(timeout=2) for _ in range(2)]
        assert {(m['channel'], m['data']) for m in got} == {
            (b'__keyspace@0__:evkey', b'set'), (b'__keyevent@0__:set', b'evkey')}
        assert pb.get_message(timeout=0.3) is None     # tenant b hears nothing of a
        assert pad.get_message(timeout=0.3) is None    # nor do the admins' db patterns
        for p in (pa, pb, pad):
            p.close()
    finally:
        admin.config_set('notify-keyspace-events', '')


def test_scripts_stay_in_the_tenant(ta, tb, admin):
    fill(ta, tb, admin)
    assert ta.eval("return redis.call('GET', 'shared')", 0) == b'A'
    with pytest.raises(redis.ResponseError, match='DB index is out of range'):
        ta.eval("return redis.call('SELECT', 1)", 0)
    assert ta.eval("return redis.call('DBSIZE')", 0) == 3


# ---- quotas -------------------------------------------------------------------------

def _hammer(node, user, n_threads, fn):
    """fn(client, i) from n threads over fresh connections (both workers)."""
    errors = []

    def run(i):
        c = login(node, user)
        try:
            fn(c, i, errors)
        finally:
            c.close()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_key_quota_exact_under_load(node, admin, tb):
    """Writers on both workers (SET and MSET of new keys) never take the tenant
    past its key quota, even for a moment, and fill it exactly."""
    admin.execute_command('TENANT', 'CREATE', 'k', 'USERS', 'carl', 'MAXKEYS', 50)
    seen, done = [], threading.Event()

    def watch():
        w = login(node, 'carl')
        while not done.is_set():
            seen.append(w.dbsize())
        w.close()
    try:
        def writer(c, i, errors):
            for j in range(30):
                try:
                    if j % 3:
                        c.set(f"k{i}:{j}", 'v')
                    else:
                        c.mset({f"m{i}:{j}:a": 1, f"m{i}:{j}:b": 2})
                except redis.ResponseError as e:
                    errors.append(str(e))
        watcher = threading.Thread(target=watch)
        watcher.start()
        errors = _hammer(node, 'carl', 6, writer)
        done.set()
        watcher.join()
        c = login(node, 'carl')
        n = c.dbsize()
        assert n == 50 and max(seen) <= 50
        assert errors and all(e == "tenant 'k' over its key quota" for e in errors)
        some = c.keys('*')[0]
        assert c.set(some, 'again')                  # an existing key may still change
        tb.set('bob-free', 'x')                       # other tenants unaffected
        info = dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', 'k'))] * 2))
        assert info[b'rejected_keys'] == len(errors) and info[b'keys'] == n
        c.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'k')


def test_memory_quota_noeviction(node, admin, tb):
    admin.execute_command('TENANT', 'CREATE', 'm', 'USERS', 'dora', 'MAXMEMORY', '200kb')
    try:
        c = login(node, 'dora')
        with pytest.raises(redis.ResponseError) as e:
            for i in range(100):
                c.set(f"big{i}", 'x' * 10000)
        assert str(e.value) == "tenant 'm' over its memory quota"
        assert e.value.args[0].startswith("tenant 'm'")
        used = int(dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', 'm'))] * 2))[b'used_memory'])
        assert 200 * 1024 < used < 200 * 1024 + 2 * 16384
        assert c.get('big0') == b'x' * 10000         # reads still work
        c.delete(*c.keys('*'))
        used = int(dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', 'm'))] * 2))[b'used_memory'])
        assert used == 0                              # every byte charged came back
        tb.set('bob-big', 'x' * 100000)               # other tenants unaffected
        c.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'm')


def test_memory_quota_evicts_own_keys(node, admin, ta):
    ta.set('a-survivor', 'x')
    admin.execute_command('TENANT', 'CREATE', 'e', 'USERS', 'erin', 'MAXMEMORY', '300kb',
                          'POLICY', 'allkeys-lru')
    try:
        def writer(c, i, errors):
            for j in range(60):
                try:
                    c.set(f"e{i}:{j}", 'y' * 5000)
                except redis.ResponseError as e:
                    errors.append(str(e))
        errors = _hammer(node, 'erin', 4, writer)
        assert errors == []
        info = dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', 'e'))] * 2))
        assert info[b'evicted_keys'] > 0
        assert int(info[b'used_memory']) < 300 * 1024 + 4 * 16384
        assert ta.get('a-survivor') == b'x'           # nothing of tenant a went
    finally:
        admin.execute_command('TENANT', 'DELETE', 'e')


def test_ops_quota_with_retry_hint(node, admin, tb):
    admin.execute_command('TENANT', 'SET', 'a', 'MAXOPS', 50)
    try:
        def pinger(c, i, errors):
            for _ in range(60):
                try:
                    c.get('x')
                except redis.ResponseError as e:
                    errors.append(str(e))
        t0 = time.monotonic()
        errors = _hammer(node, 'alice', 3, pinger)
        elapsed = time.monotonic() - t0
        assert errors
        assert all(re.fullmatch(r"tenant 'a' over its ops/s quota, retry in \d+ ms", e) for e in errors)
        served = 180 - len(errors)
        assert served <= 50 + 50 * elapsed + 10
        for _ in range(100):
            tb.get('x')                                # tenant b has no quota
    finally:
        admin.execute_command('TENANT', 'SET', 'a', 'MAXOPS', 0)


def test_connection_quota(node, admin):
    admin.execute_command('TENANT', 'SET', 'b', 'MAXCONNS', 2)
    try:
        held = [login(node, 'bob') for _ in range(2)]
        for h in held:
            h.ping()
        with pytest.raises(redis.ResponseError, match="tenant 'b' over its connection quota"):
            login(node, 'bob').ping()
        login(node, 'alice').ping()                   # other tenants unaffected
        held[0].close()
        time.sleep(0.1)
        c = login(node, 'bob')
        assert c.ping()
        c.close()
        held[1].close()
    finally:
        admin.execute_command('TENANT', 'SET', 'b', 'MAXCONNS', 0)


# ---- run-time changes, CLI, metrics -------------------------------------------------

def raw_login(node, user):
    s = socket.create_connection(('127.0.0.1', node.port), timeout=5)
    s.sendall(f"AUTH {user} {PW}\r\n".encode())
    assert s.recv(100) == b'+OK\r\n'
    return s


def closed(sock):
    """The node closed the connection (after answering at most one PING)."""
    try:
        sock.sendall(b"PING\r\n")
        data = sock.recv(100)
        return data == b'' or data.startswith(b'-') and sock.recv(100) == b''
    except OSError:
        return True


def test_runtime_membership_change(node, admin):
    c = login(node, 'carl')
    c.set('carl-admin-db', '1')                       # carl is in no tenant: db 0
    assert admin.get('carl-admin-db') == b'1'
    socks = [raw_login(node, 'carl') for _ in range(4)]   # on both workers
    admin.execute_command('TENANT', 'CREATE', 'late', 'USERS', 'carl')
    try:
        time.sleep(0.2)
        assert all(closed(s) for s in socks)          # their connections were closed
        c2 = login(node, 'carl')
        assert c2.get('carl-admin-db') is None
        c2.close()
    finally:
        admin.execute_command('TENANT', 'DELETE', 'late')
    admin.delete('carl-admin-db')


def test_tenant_command_errors(admin):
    with pytest.raises(redis.ResponseError, match="already exists"):
        admin.execute_command('TENANT', 'CREATE', 'a')
    with pytest.raises(redis.ResponseError, match="no such tenant 'zz'"):
        admin.execute_command('TENANT', 'DELETE', 'zz')
    with pytest.raises(redis.ResponseError, match="member of tenant 'a'"):
        admin.execute_command('TENANT', 'CREATE', 'c', 'USERS', 'alice')
    with pytest.raises(redis.ResponseError, match="unknown tenant option"):
        admin.execute_command('TENANT', 'SET', 'a', 'COLOR', 'red')
    assert admin.execute_command('TENANT', 'LIST') == [b'a', b'b']


def test_delete_drops_keys_and_connections(node, admin):
    admin.execute_command('TENANT', 'CREATE', 'gone', 'USERS', 'dora')
    login(node, 'dora').set('k', 'v')
    socks = [raw_login(node, 'dora') for _ in range(4)]
    admin.execute_command('TENANT', 'DELETE', 'gone')
    time.sleep(0.2)
    assert all(closed(s) for s in socks)
    admin.execute_command('TENANT', 'CREATE', 'gone', 'USERS', 'dora')
    try:
        assert login(node, 'dora').dbsize() == 0
    finally:
        admin.execute_command('TENANT', 'DELETE', 'gone')


def cli(node, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'tenant', '--port', str(node.port),
                           *args], capture_output=True, text=True, env=env, timeout=30)


def test_cli(node, admin):
    out = cli(node, 'create', 'cli1', '--users', 'erin', '--maxkeys', '10')
    assert out.returncode == 0, out.stderr
    assert 'cli1' in cli(node, 'list').stdout
    info = cli(node, 'info', 'cli1')
    assert info.returncode == 0 and 'maxkeys: 10' in info.stdout
    assert cli(node, 'set', 'cli1', '--maxops', '5').returncode == 0
    assert dict(zip(*[iter(admin.execute_command('TENANT', 'INFO', 'cli1'))] * 2))[b'maxops'] == 5
    bad = cli(node, 'delete', 'nosuch')
    assert bad.returncode != 0 and "no such tenant 'nosuch'" in bad.stderr
    assert cli(node, 'delete', 'cli1').returncode == 0


def test_prometheus_figures(node, ta):
    ta.set('prom', 'x')
    ta.get('prom')
    body = urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=10).read().decode()
    assert 'cachecyt_tenant_used_memory_bytes{tenant="a"}' in body
    assert 'cachecyt_tenant_keys{tenant="a"}' in body
    assert 'cachecyt_tenant_hits_total{tenant="a"}' in body


# ---- recovery ---------------------------------------------------------------------

def test_tenant_data_survives_restart(tmp_path):
    conf = tmp_path / 'c.yaml'
    acl = tmp_path / 'users.acl'
    acl.write_text(f"user default on nopass ~* &* +@all\nuser zed on >{PW} ~* &* +@all\n")
    conf.write_text(f"aclfile: {acl}\ndir: {tmp_path}\nappendonly: yes\nappendfsync: always\n"
                    "tenants:\n  - name: t1\n    users: [zed]\n    maxkeys: 100\n")
    with CachecytServer('--config', conf, workers=2) as s:
        z = redis.Redis(port=s.port, username='zed', password=PW)
        redis.Redis(port=s.port).set('plain', 'p')
        z.set('flushed', 'x')
        z.flushall()                                  # logged as the tenant's FLUSHDB
        z.set('persisted', 'yes')
        redis.Redis(port=s.port).execute_command('TENANT', 'CREATE', 'rt', 'MAXKEYS', 5)
    with CachecytServer('--config', conf, workers=2) as s:
        z = redis.Redis(port=s.port, username='zed', password=PW)
        assert z.get('persisted') == b'yes' and z.get('plain') is None
        assert z.get('flushed') is None
        admin = redis.Redis(port=s.port)
        assert admin.get('persisted') is None and admin.get('plain') == b'p'
        assert admin.execute_command('TENANT', 'LIST') == [b'rt', b't1']
