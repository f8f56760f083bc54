"""AUTH throttling: failed AUTH / HELLO AUTH from one client address get slow
answers. Each worker counts the failures of each address until the address has
been quiet for auth-fail-window seconds; past auth-fail-limit of them, the WRONGPASS reply
of each further failure waits auth-fail-delay ms, doubled at each failure up
to auth-fail-delay-max, and the connection runs nothing else meanwhile. The
waits of one address queue behind each other, so parallel connections from it
do not try faster than one. A successful AUTH from the address forgets its
failures. Every failure is still logged (ACL LOG, audit log) when it happens.

memcached's ASCII auth (commands/mcauth.pxi) counts and waits the same: its
failures and AUTH's from one address share the count.

Counts are per worker (docs/adr/0010-security.md): a client spreading its
connections over the workers gets up to one allowance per worker.
"""
import asyncio
import time

from cachecyt import _core
from cachecyt.security import acl

CL_BLOCKED = _core.CLIENT_BLOCKED     # runs nothing until released (commands/client.pxi)
CL_EXEC = _core.CLIENT_EXEC           # inside EXEC (never held)
MAX_ADDRESSES = 10000           # forget the stalest when more addresses failed


class _Failures:
    __slots__ = ('count', 'last', 'free_at')

    def __init__(self, now):
        self.count = 0
        self.last = now         # time of the last failure
        self.free_at = now      # when the last held reply of the address goes out


_by_address = {}


def host_of(c):
    """The client's address without its port ('1.2.3.4', '::1', a unix path)."""
    addr = c.addr or '?'
    if addr.startswith('['):
        return addr[1:addr.index(']')]
    return addr.rpartition(':')[0] or addr


def _settings():
    s = acl.S.settings
    return (s.get('auth-fail-limit', 10), s.get('auth-fail-window', 60),
            s.get('auth-fail-delay', 100), s.get('auth-fail-delay-max', 5000))


def failed(c):
    """A failed AUTH of c: seconds its reply should wait (0: answer now)."""
    limit, window, delay_ms, cap_ms = _settings()
    now = time.monotonic()
    f = _by_address.get(host_of(c))
    if f is None or now - f.last > window:
        if f is None and len(_by_address) >= MAX_ADDRESSES:
            _forget_stalest()
        f = _by_address[host_of(c)] = _Failures(now)
    f.count += 1
    f.last = now
    if delay_ms <= 0 or f.count <= limit:
        return 0.0
    wait = min(delay_ms * 2 ** min(f.count - limit - 1, 32), cap_ms) / 1000
    f.free_at = max(f.free_at, now) + wait
    return f.free_at - now


def succeeded(c):
    _by_address.pop(host_of(c), None)


def _forget_stalest():
    for host in sorted(_by_address, key=lambda h: _by_address[h].last)[:MAX_ADDRESSES // 10]:
        del _by_address[host]


def mc_result(c, reply):
    """A memcached login of c: reply None for a success (forgets the address's
    failures), else the failure's reply line. True when that reply is held
    back (and goes out later)."""
    if reply is None:
        succeeded(c)
        return False
    wait = failed(c)
    return bool(wait) and hold(c, wait, reply=reply)


def hold(c, seconds, error=None, reply=None):
    """Answer error (a RESP error's text) or reply (bytes as they are) to c
    after seconds, running nothing of c meanwhile. False when c cannot be held
    (no event loop, inside EXEC): answer now."""
    if c.flags & CL_EXEC or c.transport is None:
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    c.flags |= CL_BLOCKED
    if reply is None:
        reply = b"-" + error.encode() + b"\r\n"
    loop.call_later(seconds, _release, c, reply)
    return True


def _release(c, reply):
    if c.transport is None or not c.flags & CL_BLOCKED:    # closed meanwhile
        return
    c.flags &= ~CL_BLOCKED
    if not reply:                       # a memcached noreply request
        pass
    elif c.wal_held is not None:        # replies before it wait to be durable: keep the order
        c.wal_held.append(reply)
    else:
        c.transport.write(reply)
    c.buffer_updated(0)                 # run what it sent meanwhile
