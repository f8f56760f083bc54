"""CONFIG GET/SET/RESETSTAT on a running node, seen from every worker, and the
command line's options reaching the node."""
import os
import re
import signal
import time

import pytest

from rawclient import Raw, decode, one_per_worker
from servers import CachecytServer

MB = 1024 ** 2


def get(c, *patterns):
    flat = decode(c.call('CONFIG', 'GET', *patterns))
    return dict(zip(flat[::2], flat[1::2]))


def test_config_get_patterns_and_globs(server):
    c = Raw(server)
    assert get(c, 'maxmemory*', 'timeout', 'maxmemory') == {
        b'maxmemory': b'0', b'maxmemory-policy': b'noeviction', b'maxmemory-samples': b'5',
        b'timeout': b'0'}
    assert set(get(c, '*')) >= {b'port', b'databases', b'proto-max-bulk-len', b'hz'}
    assert get(c, 'lfu-?????-*') == {b'lfu-decay-time': b'1'}
    assert get(c, 'nosuch*') == {}
    c.call('HELLO', '3')
    assert c.call('CONFIG', 'GET', 'timeout') == b'%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n'


def test_config_set_several_pairs_reaches_every_worker(server):
    a, b = one_per_worker(server)
    try:
        assert a.call('CONFIG', 'SET', 'maxmemory', '2mb', 'maxmemory-policy', 'ALLKEYS-LRU',
                      'hz', '1000') == b'+OK\r\n'
        for c in (a, b):
            assert get(c, 'maxmemory', 'maxmemory-policy', 'hz') == {
                b'maxmemory': b'2097152', b'maxmemory-policy': b'allkeys-lru', b'hz': b'500'}
        info = decode(b.call('INFO', 'memory')).decode()
        assert 'maxmemory:2097152\r\n' in info and 'maxmemory_policy:allkeys-lru\r\n' in info
    finally:
        a.call('CONFIG', 'SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction', 'hz', '10')


def test_config_set_is_all_or_nothing(server):
    c = Raw(server)
    assert c.call('CONFIG', 'SET', 'maxmemory', '3mb', 'timeout', 'x').startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'timeout')")
    assert c.call('CONFIG', 'SET', 'timeout', '5', 'databases', '3').startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable")
    assert get(c, 'maxmemory', 'timeout') == {b'maxmemory': b'0', b'timeout': b'0'}


def test_maxclients_above_the_client_table(server):
    c = Raw(server)
    assert c.call('CONFIG', 'SET', 'maxclients', '100000') == (
        b"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating "
        b"system is not able to handle the specified number of clients, try with 16384\r\n")


def test_config_resetstat(server):
    c = Raw(server)
    c.call('NOSUCH')
    c.call('GET', 'k')
    assert c.call('CONFIG', 'RESETSTAT') == b'+OK\r\n'
    info = decode(c.call('INFO', 'everything')).decode()
    assert 'keyspace_misses:0\r\n' in info and 'errorstat_' not in info
    assert 'cmdstat_get' not in info


def test_command_line_options_reach_the_node(tmp_path):
    conf = tmp_path / 'node.yaml'
    conf.write_text("memory:\n  maxmemory: 10mb\n  maxmemory-policy: allkeys-lfu\n"
                    "network:\n  timeout: 30\n")
    with CachecytServer('--config', conf, '--maxmemory', '100mb', '--proto-max-bulk-len', '2mb',
                        workers=2) as srv:
        a, b = one_per_worker(('127.0.0.1', srv.port))
        for c in (a, b):
            assert get(c, 'maxmemory', 'maxmemory-policy', 'timeout', 'proto-max-bulk-len') == {
                b'maxmemory': b'104857600', b'maxmemory-policy': b'allkeys-lfu',
                b'timeout': b'30', b'proto-max-bulk-len': b'2097152'}


def test_restarted_worker_keeps_config_set_values():
    with CachecytServer(workers=2) as srv:
        addr = ('127.0.0.1', srv.port)
        admin = Raw(addr)
        assert admin.call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb', 'timeout', '77') == b'+OK\r\n'
        for pid in srv.worker_pids():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        clients = None
        while clients is None:
            try:
                clients = one_per_worker(addr)
            except (OSError, AssertionError):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        for c in clients:
            assert get(c, 'timeout') == {b'timeout': b'77'}
            c.send(b'*2\r\n$4\r\nECHO\r\n$2000000\r\n')
            assert c.reply() == b'-ERR Protocol error: invalid bulk length\r\n'
        probe = Raw(addr)
        deadline = time.monotonic() + 5          # the closed clients leave asynchronously
        while True:
            n = int(re.search(rb'connected_clients:(\d+)', probe.call('INFO', 'clients')).group(1))
            if n == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert n == 1


def test_unknown_option_on_the_command_line_stops_the_start(tmp_path):
    srv = CachecytServer('--no-such-option', '1', workers=1)
    with pytest.raises(RuntimeError, match="unknown option 'no-such-option'"):
        srv.start()
    srv.stop()
