"""Requests over a raw socket, however the bytes arrive: one at a time, in one
big pipeline, or a value larger than any single read. The replies must be the
same and in order."""
import socket
import time

import pytest


@pytest.fixture
def sock(server, r):
    s = socket.create_connection(server)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(10)
    yield s
    s.close()


def read_exactly(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def test_request_sent_one_byte_at_a_time(sock):
    req = b"*3\r\n$3\r\nSET\r\n$5\r\nbytes\r\n$6\r\nsplit!\r\n*2\r\n$3\r\nGET\r\n$5\r\nbytes\r\n"
    for i in range(len(req)):
        sock.sendall(req[i:i + 1])
        if i % 7 == 0:
            time.sleep(0.001)                  # let some bytes arrive on their own
    want = b"+OK\r\n$6\r\nsplit!\r\n"
    assert read_exactly(sock, len(want)) == want


def test_long_pipeline_in_one_send(sock):
    n = 5000
    req = b"".join(b"*3\r\n$3\r\nSET\r\n$12\r\nkey:%08d\r\n$100\r\n" % i + b"v" * 100 + b"\r\n"
                   for i in range(n))
    req += b"".join(b"*2\r\n$3\r\nGET\r\n$12\r\nkey:%08d\r\n" % i for i in range(0, n, 50))
    sock.sendall(req)
    want = b"+OK\r\n" * n + (b"$100\r\n" + b"v" * 100 + b"\r\n") * (n // 50)
    assert read_exactly(sock, len(want)) == want


def test_value_bigger_than_a_read(sock):
    value = bytes(range(256)) * (3 * 4096)         # 3 MiB
    sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % len(value) + value + b"\r\n")
    assert read_exactly(sock, 5) == b"+OK\r\n"
    sock.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
    want = b"$%d\r\n" % len(value) + value + b"\r\n"
    assert read_exactly(sock, len(want)) == want


def test_reply_larger_than_the_socket_takes_then_more_requests(sock):
    """A reply the socket cannot take at once (the client is not reading) is sent
    in parts; replies to requests that come while its rest waits follow it, in
    order, and nothing is lost or repeated."""
    value = bytes(range(256)) * (3 * 1024 * 1024 // 256)           # 3 MiB
    sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(value), value))
    assert read_exactly(sock, 5) == b"+OK\r\n"
    sock.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
    time.sleep(0.2)                               # the reply fills the socket buffers
    for i in range(3):
        sock.sendall(b"*2\r\n$4\r\nECHO\r\n$2\r\ne%d\r\n" % i)
        time.sleep(0.02)                          # each one read on its own
    head = b"$%d\r\n" % len(value)
    want = head + value + b"\r\n" + b"".join(b"$2\r\ne%d\r\n" % i for i in range(3))
    assert read_exactly(sock, len(want)) == want
