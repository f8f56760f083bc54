"""Limits as Redis enforces them, over all workers: maxclients, the idle
`timeout`, proto-max-bulk-len and client-query-buffer-limit (both changed by
CONFIG SET for clients already connected to any worker), read-only databases."""
import re
import time


from rawclient import Raw, one_per_worker
from servers import CachecytServer


def addr(srv):
    return ('127.0.0.1', srv.port)


def test_maxclients_counts_every_worker():
    with CachecytServer('--maxclients', 3, workers=2) as srv:
        time.sleep(0.5)                                  # the PING probe has gone
        held = [Raw(addr(srv)) for _ in range(3)]
        assert all(c.call('PING') == b'+PONG\r\n' for c in held)
        extra = Raw(addr(srv))
        assert extra.closed_by_server()
        assert extra.buf == b'-ERR max number of clients reached\r\n'
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:                                      # the closed client leaves asynchronously
            c = Raw(addr(srv))
            try:
                if c.call('PING') == b'+PONG\r\n':
                    break
            except ConnectionError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = c.call('INFO', 'stats')
        assert int(re.search(rb'rejected_connections:(\d+)', info).group(1)) >= 1


def test_idle_timeout_closes_idle_clients_only(node):
    admin = Raw(addr(node))
    idle = one_per_worker(addr(node))
    busy = Raw(addr(node))
    try:
        assert admin.call('CONFIG', 'SET', 'timeout', '1') == b'+OK\r\n'
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            assert busy.call('PING') == b'+PONG\r\n'
            admin.call('PING')
            time.sleep(0.2)
        assert all(c.closed_by_server(1.5) for c in idle)
        assert busy.call('PING') == b'+PONG\r\n'
    finally:
        admin.call('CONFIG', 'SET', 'timeout', '0')


def test_proto_max_bulk_len_reaches_existing_clients_of_every_worker(node, redis_ref):
    clients = one_per_worker(addr(node))
    admin = Raw(addr(node))
    big = b'*2\r\n$4\r\nECHO\r\n$1048577\r\n'
    try:
        assert admin.call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb') == b'+OK\r\n'
        ref = Raw(redis_ref)
        ref.call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb')
        ref.send(big)
        expected = ref.reply()
        for c in clients:
            c.send(big)
            assert c.reply() == expected == b'-ERR Protocol error: invalid bulk length\r\n'
            assert c.closed_by_server()
    finally:
        admin.call('CONFIG', 'SET', 'proto-max-bulk-len', '512mb')
    c = Raw(addr(node))
    assert c.call('ECHO', b'x' * 1048577) == b'$1048577\r\n' + b'x' * 1048577 + b'\r\n'


def test_query_buffer_limit_closes_client_and_logs(node):
    clients = one_per_worker(addr(node))
    admin = Raw(addr(node))
    try:
        assert admin.call('CONFIG', 'SET', 'client-query-buffer-limit', '1mb') == b'+OK\r\n'
        for c in clients:
            c.send(b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n' + b'v' * 1_200_000)
            assert c.closed_by_server()
    finally:
        admin.call('CONFIG', 'SET', 'client-query-buffer-limit', '1gb')
    log = node.log_text()
    assert log.count('Closing client that reached max query buffer length: id=') == 2
    assert '(qbuf initial bytes: "vvvvvvvv' in log
    assert admin.call('PING') == b'+PONG\r\n'


def test_databases_is_read_only(node):
    c = Raw(addr(node))
    assert c.call('CONFIG', 'SET', 'databases', '32') == (
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - "
        b"can't set immutable config\r\n")
    assert c.call('CONFIG', 'GET', 'databases') == b'*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n'
    assert c.call('SELECT', '15') == b'+OK\r\n'
