"""Transport glue: one Connection per client socket. The Cython Client reads
straight into its parser's buffer (get_buffer / buffer_updated, which uvloop
uses for any protocol that has them), runs the requests and writes their
replies in one write (a send() on the socket when the transport holds
nothing, else transport.write). Nothing here parses or executes; nothing here
runs per request."""
import asyncio
import logging
import os
import select
import time

from cachecyt import _core
from cachecyt.commands.server import NODE
from cachecyt.security import gate

log = logging.getLogger("cachecyt.worker")


class Connection(_core.Client):
    # replies read from the socket may be sent on it directly (Client._send_direct)
    direct_send = True

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info('peername')
        sock = transport.get_extra_info('sockname')
        self.addr = _fmt_addr(peer)
        self.laddr = _fmt_addr(sock)
        fd = _fileno(transport)
        if not NODE.client_opened(self, fd):
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self.transport = None
            return
        if not gate.admit(self, peer):
            transport.write(gate.DENIED)
            transport.close()
            self.transport = None
            return
        if self.direct_send:
            self.wfd = fd

    def connection_lost(self, exc):
        self.wfd = -1
        self.unblock_closed()
        self.on_unblocked()
        _core.pubsub_forget(self)
        NODE.client_closed(self)
        self.transport = None

    # blocking commands (shm/blocking.pxi): the timeout is a loop timer
    _block_timer = None

    def on_blocked(self, timeout_ms):
        if timeout_ms > 0:
            self._block_deadline = time.monotonic() + timeout_ms / 1000
            self._arm_block_timer()

    def _arm_block_timer(self):
        # the loop's clock may lag the real one: never answer before the deadline
        left = self._block_deadline - time.monotonic()
        if left > 0:
            self._block_timer = asyncio.get_event_loop().call_later(left + 0.0005, self._arm_block_timer)
        else:
            self._block_timer = None
            self.block_timeout()

    def on_unblocked(self):
        if self._block_timer is not None:
            self._block_timer.cancel()
            self._block_timer = None

    def eof_received(self):
        return False

    def pause_writing(self):
        # the client is not reading its replies: stop reading its requests
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self):
        if self.transport is not None:
            self.transport.resume_reading()


class TlsConnection(Connection):
    """A RESP client over TLS. uvloop's TLS transport takes len() of what
    get_buffer returns, so it gets a memoryview of the read buffer instead of
    the client itself (valid until buffer_updated, as the client's own is).
    Its replies go through the transport, which encrypts them."""
    direct_send = False

    def get_buffer(self, sizehint):
        return memoryview(self)


def serve_while_busy(caller):
    """A script of this worker is past busy-reply-threshold (shm/script.pxi,
    script_busy_tick): read what this worker's other RESP clients sent and run
    it now, since the loop cannot until the script ends. They get -BUSY or run
    the allow_busy commands (SCRIPT KILL, MULTI ...). An end of file is left
    for the loop to see; a TLS connection (no wfd) waits for the script."""
    by_fd = {}
    for c in list(NODE.clients.values()):
        fd = getattr(c, 'wfd', -1)
        if c is not caller and fd >= 0 and c.transport is not None:
            by_fd[fd] = c
    if not by_fd:
        return
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    for fd, _events in poller.poll(0):
        try:
            data = os.read(fd, 65536)
        except OSError:
            continue
        if data:
            by_fd[fd].data_received(data)


def _fileno(transport):
    sock = transport.get_extra_info('socket')
    return sock.fileno() if sock is not None else -1


def _fmt_addr(a):
    if not a:
        return '?'
    if isinstance(a, str):
        return a
    host, port = a[0], a[1]
    return f"[{host}]:{port}" if ':' in host else f"{host}:{port}"
