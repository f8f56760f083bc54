"""Transport glue of the memcached listener: the same as workers/connection.py
(the Cython McClient parses, runs and replies), plus the one action memcached
commands leave for the event loop: a delayed flush_all."""
import asyncio

from cachecyt import _core
from cachecyt.workers.connection import Connection


class McConnection(_core.McClient):
    connection_made = Connection.connection_made
    connection_lost = Connection.connection_lost
    eof_received = Connection.eof_received
    pause_writing = Connection.pause_writing
    resume_writing = Connection.resume_writing

    def run_actions(self):
        actions, self.actions = self.actions, []
        for kind, arg in actions:
            if kind == 'mc_flush':
                asyncio.get_event_loop().call_later(arg, _core.mc_flush_db)
