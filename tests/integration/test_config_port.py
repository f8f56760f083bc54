"""CONFIG SET port: every worker listens on the new port and no longer on the
old one, connected clients stay; a port someone else holds is refused and
nothing of the CONFIG SET is applied."""
import socket
import time

from rawclient import Raw, one_per_worker
from servers import free_port


def refused(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_every_worker_moves_to_the_new_port(node):
    old = node.port
    before = one_per_worker(('127.0.0.1', old))
    new = free_port()
    assert before[0].call('CONFIG', 'SET', 'port', new) == b'+OK\r\n'
    deadline = time.monotonic() + 5
    while not refused(old):                       # the other worker closes on its signal
        assert time.monotonic() < deadline
        time.sleep(0.01)
    after = one_per_worker(('127.0.0.1', new))    # both workers accept on it
    assert len(after) == 2
    assert after[1].call('CONFIG', 'GET', 'port') == b'*2\r\n$4\r\nport\r\n$%d\r\n%d\r\n' % (
        len(str(new)), new)
    assert b'tcp_port:%d\r\n' % new in after[1].call('INFO', 'server')
    for c in before:                              # connected clients stay
        assert c.call('PING') == b'+PONG\r\n'
    assert after[0].call('CONFIG', 'SET', 'port', old) == b'+OK\r\n'
    node.port = old


def test_a_port_in_use_is_refused_and_nothing_changes(node):
    c = Raw(('127.0.0.1', node.port))
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    try:
        maxmemory = c.call('CONFIG', 'GET', 'maxmemory')
        reply = c.call('CONFIG', 'SET', 'maxmemory', 10000001, 'port', busy.getsockname()[1])
        assert reply == (b"-ERR CONFIG SET failed (possibly related to argument 'port') - "
                         b"Unable to listen on this port\r\n")
        assert c.call('CONFIG', 'GET', 'maxmemory') == maxmemory
        assert c.call('CONFIG', 'GET', 'port').endswith(b'\r\n%d\r\n' % node.port)
    finally:
        busy.close()
