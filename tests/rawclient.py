"""A raw RESP connection for tests that need exact reply bytes, pipelining or
to see the server close the connection (redis-py reconnects silently)."""
import re
import socket
import time


def encode(*args) -> bytes:
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Raw:
    def __init__(self, addr, timeout=5.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b''

    def send(self, data: bytes):
        self.sock.sendall(data)

    def call(self, *args) -> bytes:
        """Send one command; return its whole reply, byte for byte."""
        self.send(encode(*args))
        return self.reply()

    def reply(self) -> bytes:
        end = self._skip(0)
        while end is None:
            self._recv()
            end = self._skip(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def _recv(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise ConnectionError("closed by the server")
        self.buf += d

    def _skip(self, i):
        """Offset just past the RESP value at i, or None if incomplete."""
        nl = self.buf.find(b'\r\n', i)
        if nl < 0:
            return None
        kind, head = self.buf[i:i + 1], self.buf[i + 1:nl]
        if kind in b'$=!':
            n = int(head)
            if n < 0:
                return nl + 2
            return nl + 2 + n + 2 if len(self.buf) >= nl + 2 + n + 2 else None
        if kind in b'*~>%|':
            n = int(head)
            if kind in b'%|':
                n *= 2
            j = nl + 2
            for _ in range(max(n, 0)):
                j = self._skip(j)
                if j is None:
                    return None
            return j
        return nl + 2

    def closed_by_server(self, wait=3.0) -> bool:
        """True once the server closes the connection (EOF or reset) within wait s."""
        deadline = time.monotonic() + wait
        self.sock.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return True
            if not d:
                return True
            self.buf += d
        return False

    def close(self):
        self.sock.close()


def decode(reply: bytes):
    """A RESP2/RESP3 reply as Python values (maps as dicts, sets as lists)."""
    value, _ = _decode(reply, 0)
    return value


def _decode(b, i):
    nl = b.index(b'\r\n', i)
    kind, head = b[i:i + 1], b[i + 1:nl]
    j = nl + 2
    if kind in b'+-':
        return head, j
    if kind in b':':
        return int(head), j
    if kind in b'$=!':
        n = int(head)
        return (None, j) if n < 0 else (b[j:j + n], j + n + 2)
    if kind == b'_':
        return None, j
    if kind in b'*~>':
        if int(head) < 0:
            return None, j
        out = []
        for _ in range(int(head)):
            v, j = _decode(b, j)
            out.append(v)
        return out, j
    if kind == b'%':
        out = {}
        for _ in range(int(head)):
            k, j = _decode(b, j)
            v, j = _decode(b, j)
            out[k] = v
        return out, j
    raise ValueError(f"unknown RESP type {kind!r}")


def worker_of(c):
    """The worker slot serving a raw connection (INFO server's worker field)."""
    return int(re.search(rb'\r\nworker:(\d+)\r\n', c.call('INFO', 'server')).group(1))


def one_per_worker(addr, workers=2, timeout=10.0):
    """One raw connection served by each worker, in worker order; spare
    connections opened on the way are closed."""
    found = {}
    deadline = time.monotonic() + timeout      # a worker may still be starting
    while len(found) < workers and time.monotonic() < deadline:
        c = Raw(addr)
        w = worker_of(c)
        if w in found:
            c.close()
        else:
            found[w] = c
    assert len(found) == workers
    return [found[w] for w in sorted(found)]


def blocked_count(c):
    """Clients blocked in the node: the registry's entries (INFO blocked_clients)."""
    return int(re.search(rb'blocked_clients:(\d+)', c.call('INFO', 'clients')).group(1))


def wait_blocked(c, n):
    """Wait until n clients are blocked in the node."""
    deadline = time.monotonic() + 5
    while blocked_count(c) != n:
        assert time.monotonic() < deadline, f"expected {n} blocked clients"
        time.sleep(0.01)


def keyevents_until_marker(ctl, sub):
    """The (channel, key) of every keyspace event `sub` (PSUBSCRIBEd to
    __keyevent@0__:*) receives until a marker that ctl publishes now."""
    ctl.call('PUBLISH', '__keyevent@0__:zz-end', 'x')
    got = []
    while True:
        f = sub.reply().split(b'\r\n')
        if f[6] == b'__keyevent@0__:zz-end':
            return got
        got.append((f[6], f[8]))


def handover_events(addr, waits, pushes):
    """Block one client on each command of `waits` (in that order), run
    `pushes` from another, and return (the blocked clients' replies, the
    (channel, key) of every keyspace event published meanwhile)."""
    ctl, sub = Raw(addr), Raw(addr)
    waiters = [Raw(addr) for _ in waits]
    try:
        ctl.call('FLUSHALL')
        ctl.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
        sub.call('PSUBSCRIBE', '__keyevent@0__:*')
        for n, (w, cmd) in enumerate(zip(waiters, waits), 1):
            w.send(encode(*cmd))
            wait_blocked(ctl, n)
        for cmd in pushes:
            ctl.call(*cmd)
        replies = tuple(w.reply() for w in waiters)
        return replies, keyevents_until_marker(ctl, sub)
    finally:
        ctl.call('CONFIG', 'SET', 'notify-keyspace-events', '')
        for c in [ctl, sub] + waiters:
            c.close()
