"""Clients are one list over all workers: CLIENT LIST/INFO show every worker's
clients, CLIENT KILL closes a client whatever worker holds it, and
connected_clients counts them all."""
import re
import time

import pytest

from rawclient import Raw, encode, worker_of


@pytest.fixture
def on_each_worker(server):
    """Two raw connections, the first served by worker 0, the second by worker 1."""
    found, spare = {}, []
    deadline = time.monotonic() + 10          # a worker may still be starting
    while time.monotonic() < deadline:
        c = Raw(server)
        w = worker_of(c)
        if w in found:
            spare.append(c)
        else:
            found[w] = c
        if len(found) == 2:
            break
    for c in spare:
        c.close()
    assert len(found) == 2, "connections never reached both workers"
    yield found[0], found[1]
    for c in found.values():
        c.close()


def client_id(c):
    return int(c.call('CLIENT', 'ID')[1:-2])


def listing(c, *args):
    body = c.call('CLIENT', 'LIST', *args).split(b'\r\n', 1)[1][:-2].decode()
    return [dict(f.split('=', 1) for f in line.split(' ')) for line in body.splitlines()]


def test_client_list_shows_clients_of_every_worker(on_each_worker):
    a, b = on_each_worker
    a.call('CLIENT', 'SETNAME', 'on-w0')
    b.call('CLIENT', 'SETNAME', 'on-w1')
    b.call('SELECT', '5')
    row = {r['name']: r for r in listing(a)}['on-w1']
    assert row['db'] == '5' and row['cmd'] == 'select' and row['id'] == str(client_id(b))
    for c in (a, b):
        rows = {row['name']: row for row in listing(c)}
        assert {'on-w0', 'on-w1'} <= set(rows)
    assert {r['name'] for r in listing(a, 'ID', str(client_id(b)))} == {'on-w1'}


def test_client_list_line_format(server):
    c = Raw(server)
    c.call('CLIENT', 'SETNAME', 'fmt')
    (row,) = listing(c, 'ID', str(client_id(c)))
    assert list(row) == ['id', 'addr', 'laddr', 'fd', 'name', 'age', 'idle', 'flags', 'db', 'sub',
                         'psub', 'ssub', 'multi', 'qbuf', 'qbuf-free', 'argv-mem', 'multi-mem', 'rbs',
                         'rbp', 'obl', 'oll', 'omem', 'tot-mem', 'events', 'cmd', 'user', 'redir',
                         'resp']
    assert row['cmd'] == 'client|list' and row['flags'] == 'N' and row['user'] == 'default'
    assert row['laddr'].endswith(f':{server[1]}')
    info = c.call('CLIENT', 'INFO')
    assert b' cmd=client|info ' in info and info.endswith(b'\n\r\n')
    c.close()


def test_kill_by_id_on_another_worker(on_each_worker):
    a, b = on_each_worker
    assert a.call('CLIENT', 'KILL', 'ID', str(client_id(b))) == b':1\r\n'
    assert b.closed_by_server()
    assert a.call('PING') == b'+PONG\r\n'


def test_kill_by_addr_old_form_on_another_worker(on_each_worker):
    a, b = on_each_worker
    addr = '%s:%d' % b.sock.getsockname()
    assert a.call('CLIENT', 'KILL', addr) == b'+OK\r\n'
    assert b.closed_by_server()


def test_kill_by_filters(on_each_worker, server):
    a, b = on_each_worker
    laddr = '%s:%d' % a.sock.getpeername()
    addr = '%s:%d' % b.sock.getsockname()
    assert a.call('CLIENT', 'KILL', 'ADDR', addr, 'LADDR', laddr, 'USER', 'default',
                  'TYPE', 'normal') == b':1\r\n'
    assert b.closed_by_server()
    assert a.call('CLIENT', 'KILL', 'TYPE', 'pubsub') == b':0\r\n'


def test_kill_skipme(server):
    me = Raw(server)
    others = [Raw(server) for _ in range(3)]
    for c in others:
        c.call('CLIENT', 'SETNAME', 'victim')
    victims = [r['id'] for r in listing(me) if r['name'] == 'victim']
    killed = [me.call('CLIENT', 'KILL', 'ID', v) for v in victims]
    assert killed == [b':1\r\n'] * 3
    assert all(c.closed_by_server() for c in others)
    assert me.call('CLIENT', 'KILL', 'ID', str(client_id(me))) == b':0\r\n'   # SKIPME yes
    assert me.call('PING') == b'+PONG\r\n'
    assert me.call('CLIENT', 'KILL', 'ID', str(client_id(me)), 'SKIPME', 'no') == b':1\r\n'
    assert me.closed_by_server()


def test_connected_clients_counts_all_workers(on_each_worker, server):
    a, b = on_each_worker

    def connected(c):
        return int(re.search(rb'connected_clients:(\d+)', c.call('INFO', 'clients')).group(1))

    def settle(expected=None):
        """connected_clients once closes still in flight are done."""
        deadline = time.monotonic() + 3
        last = connected(a)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = connected(a)
            if now == last and (expected is None or now == expected):
                return now
            last = now
        return last
    before = settle()
    assert connected(b) == before
    extra = [Raw(server) for _ in range(4)]
    for c in extra:
        c.call('PING')
    assert connected(a) == before + 4 == connected(b)
    for c in extra:
        c.close()
    assert settle(before) == before


def test_no_evict_and_setname_show_in_listing(server):
    c = Raw(server)
    assert c.call('CLIENT', 'NO-EVICT', 'on') == b'+OK\r\n'
    c.call('CLIENT', 'SETNAME', 'keep')
    (row,) = listing(c, 'ID', str(client_id(c)))
    assert row['flags'] == 'e' and row['name'] == 'keep'
    c.call('CLIENT', 'SETNAME', '')
    assert c.call('CLIENT', 'GETNAME') == b'$-1\r\n'
    c.close()


def test_redis_py_connects_despite_client_setinfo(r, r3):
    # redis-py sends CLIENT SETINFO on connect; Redis 7.0 rejects it and so do we
    assert r.ping() and r3.ping()
    assert r.client_setname('py') and r.client_getname() == 'py'
    assert any(c['name'] == 'py' for c in r.client_list())


def _reply_mode_transcript(addr):
    """Everything the server sends on a connection that switches CLIENT REPLY
    modes (pipelined, then read until the final PING's answer)."""
    c, pub = Raw(addr), Raw(addr)
    try:
        script = [('CLIENT', 'REPLY', 'OFF'), ('SET', 'rk', '1'), ('GET', 'rk'), ('NOSUCH',),
                  ('SUBSCRIBE', 'rch'), ('UNSUBSCRIBE', 'rch'),
                  ('CLIENT', 'REPLY', 'ON'), ('GET', 'rk'),
                  ('CLIENT', 'REPLY', 'SKIP'), ('INCR', 'rk'), ('GET', 'rk'),
                  ('CLIENT', 'REPLY', 'SKIP'), ('CLIENT', 'REPLY', 'ON'), ('PING', 'a'),
                  ('CLIENT', 'REPLY', 'OFF'), ('CLIENT', 'REPLY', 'SKIP'), ('PING', 'hidden'),
                  ('CLIENT', 'REPLY', 'ON'), ('CLIENT', 'REPLY', 'MAYBE'), ('CLIENT', 'REPLY'), ('PING', 'end')]
        c.send(b''.join(encode(*cmd) for cmd in script))
        out = []
        while not out or out[-1] != b'$3\r\nend\r\n':
            out.append(c.reply())
        c.send(encode('CLIENT', 'REPLY', 'OFF') + encode('SUBSCRIBE', 'rch2'))
        time.sleep(0.2)
        assert pub.call('PUBLISH', 'rch2', 'hi') == b':1\r\n'    # messages still arrive
        out.append(c.reply())
        out.append(c.reply())
        pub.call('DEL', 'rk')
        return out
    finally:
        c.close()
        pub.close()


def test_client_reply_modes_as_redis(server, redis_ref):
    assert _reply_mode_transcript(server) == _reply_mode_transcript(redis_ref)


def _subscribed_pings(addr):
    c = Raw(addr)
    try:
        c.call('SUBSCRIBE', 'pch')
        c.send(encode('PING') + encode('PING', 'foo') + encode('UNSUBSCRIBE', 'pch') + encode('PING'))
        return [c.reply() for _ in range(4)]
    finally:
        c.close()


def test_pipelined_pings_of_a_subscriber_as_redis(server, redis_ref):
    assert _subscribed_pings(server) == _subscribed_pings(redis_ref)
