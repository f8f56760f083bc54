"""Inline commands (telnet style: "SET a b\r\n") over a raw socket, with Redis's
quoting rules. Each line goes to cachecyt and to a real redis-server; the reply
bytes must be the same, and a line with unbalanced quotes must be answered with
the protocol error and the connection closed, as Redis does."""
import socket

import pytest
from diff.rawresp import RawConn

LINES = [
    b'PING\r\n', b'PING\n', b'ping hello\r\n', b'SET a b\r\n', b'GET a\r\n',
    b'  SET   spaced    value  \r\n', b'\tGET\tspaced\r\n',
    b'SET q "hello world"\r\n', b'GET q\r\n',
    b'SET hex "\\x41\\x42\\x7a"\r\n', b'GET hex\r\n',
    b'SET esc "a\\nb\\rc\\td\\be\\af\\"g\\\\h\\qi"\r\n', b'GET esc\r\n',
    b'SET badhex "\\x4g\\x"\r\n', b'GET badhex\r\n',
    b"SET single 'it\\'s \\n raw'\r\n", b'GET single\r\n',
    b'SET mid a"b c" \r\n', b'GET mid\r\n', b'SET mid2 a\'b c\'\r\n', b'GET mid2\r\n',
    b'SET empty ""\r\n', b'GET empty\r\n', b"SET empty2 ''\r\n", b'STRLEN empty2\r\n',
    b'ECHO "\xff\x01bin"\r\n', b'ECHO a\x0bb\r\n', b'ECHO a\x0cb\r\n', b'ECHO "a"\x0b\r\n',
    b'\r\n', b'\n', b'   \r\n', b'ECHO last\r\n',
    b'GET\r\n', b'NOSUCH a b\r\n', b'get A\r\n', b'ECHO a\rb\r\n', b'ECHO x\r\r\n',
]

CLOSING_LINES = [
    b'SET a "unterminated\r\n', b"SET a 'unterminated\r\n", b'SET a "closed"x\r\n',
    b"SET a 'closed'x\r\n", b'ECHO "trailing\\"\r\n', b'SET mid a"b c"d\r\n',
]


def replies_to(addr, lines):
    """Send each line separately and collect the raw reply of each (b'' when a
    line gets no reply: blank lines)."""
    out = []
    with RawConn(addr) as c:
        c.call('FLUSHALL')
        for line in lines:
            c.send(line + b'ECHO ~end~\r\n')
            reply = c.read_reply()
            if reply == b'$5\r\n~end~\r\n':
                out.append(b'')
                continue
            assert c.read_reply() == b'$5\r\n~end~\r\n'
            out.append(reply)
    return out


def test_inline_replies_match_redis(server, redis_ref):
    ours, ref = replies_to(server, LINES), replies_to(redis_ref, LINES)
    for line, got, want in zip(LINES, ours, ref):
        assert got == want, line


def test_telnet_style_session(server):
    with RawConn(server) as c:
        c.send(b'SET a b\r\nGET a\r\nDEL a\r\n')
        assert [c.read_reply() for _ in range(3)] == [b'+OK\r\n', b'$1\r\nb\r\n', b':1\r\n']


def closing_reply(addr, line):
    with RawConn(addr) as c:
        c.send(b'PING\r\n' + line + b'PING\r\n')
        return c.read_until_closed()


@pytest.mark.parametrize('line', CLOSING_LINES)
def test_unbalanced_quotes_close_the_connection(server, redis_ref, line):
    got = closing_reply(server, line)
    assert got == b'+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n'
    assert got == closing_reply(redis_ref, line)


def test_inline_then_multibulk_on_one_connection(server):
    with RawConn(server) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b'SET mixed 1\r\n*2\r\n$4\r\nINCR\r\n$5\r\nmixed\r\nGET mixed\n')
        assert [c.read_reply() for _ in range(3)] == [b'+OK\r\n', b':2\r\n', b'$1\r\n2\r\n']
