"""A raw RESP connection for tests that compare reply bytes: it sends requests
as multibulk (or any bytes) and returns each reply exactly as the server wrote
it, errors included. It decodes nothing; it only finds where a reply ends."""
import socket

LINE_TYPES = b'+-:_#,('
BULK_TYPES = b'$=!'
AGGREGATE_TYPES = b'*~>'
PAIR_TYPES = b'%|'


def encode(*args) -> bytes:
    """A request as a RESP multibulk frame; str and int arguments become bytes."""
    parts = [b'*%d\r\n' % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b'%d' % a
        parts.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(parts)


def reply_end(buf, pos=0):
    """Offset just past the reply starting at pos, or None if it is incomplete."""
    nl = buf.find(b'\r\n', pos)
    if nl < 0:
        return None
    kind = buf[pos:pos + 1]
    after = nl + 2
    if kind in LINE_TYPES:
        return after
    n = int(buf[pos + 1:nl])
    if kind in BULK_TYPES:
        if n < 0:
            return after
        return after + n + 2 if len(buf) >= after + n + 2 else None
    if kind in AGGREGATE_TYPES or kind in PAIR_TYPES:
        if kind in PAIR_TYPES:
            n *= 2
        for _ in range(max(n, 0)):
            after = reply_end(buf, after)
            if after is None:
                return None
        return after
    raise ValueError(f"not a RESP reply: {bytes(buf[pos:pos + 40])!r}")


class RawConn:
    """One TCP connection; call() sends a command and returns its raw reply."""

    def __init__(self, addr, timeout=10.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(1 << 20)
        self.buf += chunk
        return bool(chunk)

    def read_reply(self) -> bytes:
        while True:
            end = reply_end(self.buf) if self.buf else None
            if end is not None:
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if not self._fill():
                raise ConnectionError(f"closed with {bytes(self.buf[:80])!r} pending")

    def call(self, *args) -> bytes:
        self.send(encode(*args))
        return self.read_reply()

    def read_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        while self._fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out
