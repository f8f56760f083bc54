"""pymemcache (text protocol) against a mc_node's memcached listener: storage
commands with flags and noreply, multi-get, cas, incr/decr wrap rules, expiry,
values up to item-size-max, and the commands around them."""
import socket
import time

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheServerError


@pytest.fixture
def mc(mc_node):
    c = Client(('127.0.0.1', mc_node.memcached_port), default_noreply=False)
    c.flush_all()
    yield c
    c.close()


def raw(mc_node, data, wait=0.05):
    with socket.create_connection(('127.0.0.1', mc_node.memcached_port)) as s:
        s.sendall(data)
        time.sleep(wait)
        s.settimeout(0.3)
        out = b''
        try:
            while chunk := s.recv(65536):
                out += chunk
        except socket.timeout:
            pass
        return out


def test_set_get_flags(mc_node, mc):
    assert mc.set('k', b'v', flags=7)
    assert mc.get('k') == b'v'
    assert raw(mc_node, b'get k\r\n') == b'VALUE k 7 1\r\nv\r\nEND\r\n'
    assert mc.get('missing') is None


def test_noreply_and_multiget(mc_node, mc):
    c = Client(('127.0.0.1', mc_node.memcached_port), default_noreply=True)
    for i in range(50):
        c.set(f'k{i}', str(i).encode())
    assert c.get('k49') == b'49'       # a reply on the same connection: the sets before it ran
    c.close()
    got = mc.get_many([f'k{i}' for i in range(60)])
    assert got == {f'k{i}': str(i).encode() for i in range(50)}


def test_add_replace_append_prepend(mc):
    assert mc.add('a', b'1')
    assert not mc.add('a', b'2')
    assert not mc.replace('b', b'x')
    assert mc.replace('a', b'3')
    assert mc.append('a', b'4') and mc.prepend('a', b'2')
    assert mc.get('a') == b'234'
    assert not mc.append('nothing', b'x')


def test_cas(mc):
    mc.set('c', b'one')
    value, token = mc.gets('c')
    assert value == b'one'
    assert mc.cas('c', b'two', token)
    assert not mc.cas('c', b'three', token)            # EXISTS: someone wrote since
    assert mc.cas('missing', b'x', token) is None      # NOT_FOUND
    assert mc.get('c') == b'two'
    _, t2 = mc.gets('c')
    mc.touch('c', 100)
    assert mc.gets('c')[1] == t2                        # touch keeps the unique


def test_incr_decr(mc):
    assert mc.incr('n', 1) is None
    mc.set('n', b'10')
    assert mc.incr('n', 5) == 15
    assert mc.decr('n', 100) == 0
    assert mc.incr('n', 2 ** 64 - 1) == 2 ** 64 - 1
    assert mc.incr('n', 2) == 1                         # wraps at 2^64
    mc.set('n', b'18446744073709551615')
    assert mc.incr('n', 1) == 0
    mc.set('s', b'abc')
    with pytest.raises(Exception, match='non-numeric'):
        mc.incr('s', 1)


def test_expiry_and_touch(mc):
    mc.set('e', b'x', expire=1)
    mc.set('gone', b'x', expire=-1)
    assert mc.get('gone') is None
    assert mc.get('e') == b'x'
    assert mc.touch('e', 100)
    assert not mc.touch('nope', 10)
    mc.set('abs', b'x', expire=int(time.time()) + 100)
    assert mc.get('abs') == b'x'
    mc.set('past', b'x', expire=2592001)
    assert mc.get('past') is None                       # a unix time long gone


def test_delete_flush(mc):
    mc.set('d', b'x')
    assert mc.delete('d') and not mc.delete('d')
    mc.set('f', b'x')
    mc.flush_all()
    assert mc.get('f') is None


def test_big_values_up_to_item_size_max(mc):
    big = b'v' * (1024 * 1024 - 100)
    assert mc.set('big', big)
    assert mc.get('big') == big
    with pytest.raises(MemcacheServerError, match='object too large'):
        mc.set('big', b'v' * (1024 * 1024))
    assert mc.get('big') is None                        # memcached drops the old value


def test_gat_gats(mc_node, mc):
    mc.set('g', b'x', flags=3)
    out = raw(mc_node, b'gats 100 g nope\r\ngat 0 g\r\n')
    assert out.startswith(b'VALUE g 3 1 ') and out.endswith(b'END\r\nVALUE g 3 1\r\nx\r\nEND\r\n')


def test_stats_version(mc_node, mc):
    mc.set('s1', b'x')
    st = mc.stats()
    for name in (b'pid', b'uptime', b'curr_connections', b'get_hits', b'curr_items', b'bytes',
                 b'limit_maxbytes', b'threads', b'evictions'):
        assert name in st
    assert st[b'curr_items'] == 1
    assert mc.version().startswith(b'1.6')
    assert mc.stats('settings')[b'item_size_max'] == 1024 * 1024
    assert raw(mc_node, b'verbosity 1\r\nverbosity 1 noreply\r\nversion\r\n').startswith(b'OK\r\nVERSION ')


def test_meta_commands(mc_node, mc):
    out = raw(mc_node, b'ms m 2 F9 T0\r\nhi\r\nmg m v f t s k O7\r\nmg none v\r\nmg none v q\r\nmn\r\n'
                    b'md m q\r\nmd m\r\nma ctr N0 J5 v\r\nma ctr MD D2 v\r\nma nope\r\n')
    assert out == (b'HD\r\nVA 2 f9 t-1 s2 km O7\r\nhi\r\nEN\r\nMN\r\nNF\r\n'
                   b'VA 1\r\n5\r\nVA 1\r\n3\r\nNF\r\n')


def test_quit_closes(mc_node):
    assert raw(mc_node, b'quit\r\nversion\r\n') == b''


def test_flush_all_with_delay(mc):
    mc.set('later', b'x')
    assert mc.flush_all(delay=1)
    assert mc.get('later') == b'x'
    time.sleep(1.3)
    assert mc.get('later') is None
