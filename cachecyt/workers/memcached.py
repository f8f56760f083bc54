"""Transport glue of the memcached listener: the same as workers/connection.py
(the Cython McClient parses, runs and replies), plus the one action memcached
commands leave for the event loop: a delayed flush_all."""
import asyncio

from cachecyt import _core
from cachecyt.commands.server import NODE
from cachecyt.security import gate
from cachecyt.workers.connection import Connection, _fileno, _fmt_addr


class McConnection(_core.McClient):
    direct_send = True                     # see Connection

    def connection_made(self, transport):
        self.transport = transport
        self.addr = _fmt_addr(transport.get_extra_info('peername'))
        self.laddr = _fmt_addr(transport.get_extra_info('sockname'))
        fd = _fileno(transport)
        if not NODE.client_opened(self, fd):
            transport.write(b"SERVER_ERROR too many open connections\r\n")
            transport.close()
            self.transport = None
            return
        if not gate.mc_admit(self, transport.get_extra_info('peername')):
            transport.write(gate.MC_DENIED)
            transport.close()
            self.transport = None
            return
        if self.direct_send:
            self.wfd = fd

    connection_lost = Connection.connection_lost
    eof_received = Connection.eof_received
    pause_writing = Connection.pause_writing
    resume_writing = Connection.resume_writing

    def run_actions(self):
        actions, self.actions = self.actions, []
        for kind, arg in actions:
            if kind == 'mc_flush':
                asyncio.get_event_loop().call_later(arg, _core.mc_flush_db, self.db, self.tn_prefix)


class McTlsConnection(McConnection):
    """A memcached client over TLS (see connection.TlsConnection)."""
    direct_send = False

    def get_buffer(self, sizehint):
        return memoryview(self)
