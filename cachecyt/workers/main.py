"""Worker process: attach the node segment, listen on the shared ports
(SO_REUSEPORT), serve clients on uvloop, run active expiry for this worker's
shards and close idle clients. Started by the supervisor as
`python -m cachecyt.workers.main`; dies with it (PR_SET_PDEATHSIG).

Other processes reach a worker through its signal ring in the segment plus its
eventfd (inherited from the supervisor, one per worker slot), which the loop
watches with add_reader: a message is handled as soon as it is sent, and
nothing polls."""
import argparse
import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import time

import uvloop

from cachecyt import _core, config as cfgmod
from cachecyt.commands import registry, server
from cachecyt.security import startup as security_startup, tls
from cachecyt.workers.connection import Connection, TlsConnection, serve_while_busy
from cachecyt.workers.memcached import McConnection, McTlsConnection
from cachecyt.scripting import commands as scripting

log = logging.getLogger("cachecyt.worker")
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:          # the parent died before prctl took effect
        os._exit(1)


def bind_addresses(bind: str):
    """(host, optional) pairs from Redis's bind syntax ('-' = may be missing)."""
    for part in bind.split():
        yield (part[1:], True) if part.startswith('-') else (part, False)


def make_socket(host, port, backlog):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def listeners(cfg):
    """(port, protocol class, what) of every listener the config asks for."""
    out = [(cfg['port'], Connection, 'RESP')]
    if cfg['memcached-port']:
        out.append((cfg['memcached-port'], McConnection, 'memcached'))
    if cfg['tls-port']:
        out.append((cfg['tls-port'], TlsConnection, 'RESP over TLS'))
    if cfg['memcached-tls-port']:
        out.append((cfg['memcached-tls-port'], McTlsConnection, 'memcached over TLS'))
    return out


def check_ports_free(cfg):
    """Stop the start when another process listens on a port of ours. Workers
    bind with SO_REUSEPORT, which another node of the same user could share
    without an error: so the supervisor first binds each non-optional address
    plainly, once, and releases it."""
    for port, _, what in listeners(cfg)[1:]:       # the RESP port is guarded by the segment name
        for host, optional in bind_addresses(cfg['bind']):
            family = socket.AF_INET6 if ':' in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind((host, port))
                except OSError as e:
                    if optional:
                        continue
                    raise SystemExit(f"cannot listen for {what} clients on {host}:{port}: {e.strerror}"
                                     f" (set {'memcached-port' if what == 'memcached' else 'port'}"
                                     f" to a free port, or 0 to disable)")


class Worker:
    def __init__(self, seg, cfg, index, nworkers):
        self.seg = seg
        self.cfg = cfg
        self.index = index
        self.nworkers = nworkers
        self.servers = []
        self.resp_servers = []           # the listeners of the RESP port (CONFIG SET port moves them)
        self.stopping = False

    async def start(self, loop):
        for port, protocol, what in listeners(self.cfg):
            n = 0
            for host, optional in bind_addresses(self.cfg['bind']):
                try:
                    sock = make_socket(host, port, self.cfg['tcp-backlog'])
                except OSError as e:
                    if optional:
                        continue
                    raise SystemExit(f"worker {self.index}: cannot listen for {what} clients"
                                     f" on {host}:{port}: {e}")
                ctx = tls.context(self.cfg) if what.endswith('TLS') else None
                self.servers.append(await loop.create_server(protocol, sock=sock, ssl=ctx))
                if what == 'RESP':
                    self.resp_servers.append(self.servers[-1])
                n += 1
            if not n:
                raise SystemExit(f"worker {self.index}: no address to listen on for {what} clients")
        loop.call_later(1 / _hz(), self.cron, loop)

    def move_port(self, port):
        """CONFIG SET port: listen on the new port (bound now, so the reply comes
        after the node listens, as Redis's), stop listening on the old one;
        connected clients stay. Port 0 listens on no RESP port."""
        loop = asyncio.get_event_loop()
        socks = []
        for host, optional in bind_addresses(self.cfg['bind']) if port else ():
            try:
                socks.append(make_socket(host, port, self.cfg['tcp-backlog']))
            except OSError as e:
                if not optional:
                    log.warning("worker %d: cannot listen on %s:%d: %s", self.index, host, port, e)
        for srv in self.resp_servers:
            srv.close()
            self.servers.remove(srv)
        self.resp_servers = []
        for sock in socks:
            loop.create_task(self._serve_resp(loop, sock))

    async def _serve_resp(self, loop, sock):
        srv = await loop.create_server(Connection, sock=sock)
        self.servers.append(srv)
        self.resp_servers.append(srv)

    def cron(self, loop):
        """Background work of this worker, hz times a second: active expiry of
        its shards, idle clients, the ops/sec sample."""
        if self.stopping:
            return
        hz = _hz()
        _core.active_expire_unless_script(self.index, self.nworkers, int(250000 / hz))
        _core.snap_flush_parts()                # items this worker copied for a snapshot
        _core.pubsub_flush()                   # `expired` events, frames for subscribers
        _core.sketch_fit()                     # the adaptive policy's sketch follows maxmemory
        server.NODE.close_idle_clients(int(time.time() * 1000))
        _core.client_buffers_cron(server.NODE.clients.values(), int(time.time() * 1000))
        server.NODE.sample_ops()
        loop.call_later(1 / hz, self.cron, loop)

    def watch_signals(self, loop, fd):
        """Run this worker's ring messages whenever its eventfd is written."""
        def on_wake():
            try:
                os.eventfd_read(fd)
            except BlockingIOError:
                pass
            server.NODE.handle_signals()
            serve_blocked(self.index)
            _core.release_durable()             # appendfsync always: replies now durable
            _core.pubsub_drain()
        loop.add_reader(fd, on_wake)
        server.NODE.handle_signals()            # what was sent while this slot was down

    async def stop(self):
        self.stopping = True
        for s in self.servers:
            s.close()
        for c in list(server.NODE.clients.values()):
            c.close_now()
        for s in self.servers:
            await s.wait_closed()


class PauseTimer:
    """CLIENT PAUSE: run this worker's held clients when the pause ends (one
    timer, moved to the latest end; UNPAUSE wakes the worker by its ring)."""

    def __init__(self, loop):
        self.loop = loop
        self.handle = None

    def arm(self, end_ms):
        if self.handle is not None:
            self.handle.cancel()
        delay = max(0.0, end_ms / 1000 - time.time()) + 0.001
        self.handle = self.loop.call_later(delay, self.fire)

    def fire(self):
        self.handle = None
        _core.pause_resume()


def serve_blocked(worker):
    """Retry the blocked clients of this worker whose keys were pushed to, in the
    order they blocked (shm/blocking.pxi)."""
    for cid in _core.take_ready_clients(worker):
        c = server.NODE.clients.get(cid)
        if c is not None:
            c.retry_blocked()
    _core.pubsub_flush()                       # keyspace events of the pops just served


def _hz():
    return _core.get_setting('hz') or 10


def request_shutdown():
    """SHUTDOWN: ask the supervisor to stop the node."""
    os.kill(os.getppid(), signal.SIGTERM)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--segment', required=True)
    ap.add_argument('--worker', type=int, required=True)
    ap.add_argument('--nworkers', type=int, required=True)
    ap.add_argument('--parent', type=int, required=True)
    ap.add_argument('--wake-fds', default='', help='eventfd of every worker slot, comma separated')
    ns = ap.parse_args(argv)
    # the supervisor blocks these to wait for them; a child inherits the mask
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                                signal.SIGCHLD})
    die_with_parent(ns.parent)
    seg = _core.Segment.attach(ns.segment)
    seg.activate(ns.worker)
    _core.pause_clear_worker(ns.worker)        # clients a dead predecessor held for CLIENT PAUSE
    _core.clients_clear_worker(ns.worker)      # rows a dead predecessor left
    _core.monitor_clear_worker(ns.worker)      # MONITOR clients a dead predecessor had
    _core.pubsub_clear_worker(ns.worker)       # its subscriptions and its unread messages
    cfg = cfgmod.Config()
    cfg.update(json.loads(seg.config_json()))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(process)d:W{ns.worker} %(asctime)s %(levelname)s %(message)s")
    registry.install()
    scripting.attach(ns.segment)               # the shared script cache and libraries
    _core.mc_configure(cfg['item-size-max'], cfg['memcached-db'],
                       {'tcpport': cfg['memcached-port'], 'num_threads': ns.nworkers})
    wake_fds = [int(x) for x in ns.wake_fds.split(',') if x]
    server.NODE.configure(cfg, ns.worker, ns.nworkers, cfg['port'], wake_fds)
    _core.set_wake_hook(server.NODE.wake)      # pushes wake the workers of blocked clients
    _core.blocked_clear_worker(ns.worker)      # waits a dead predecessor left; wakes who was behind them
    server.NODE.apply_settings()               # CONFIG SETs made before this start
    security_startup.start_worker(cfg)         # users, TLS and audit settings of the node
    server.NODE.shutdown_hook = request_shutdown
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(seg, cfg, ns.worker, ns.nworkers)
    _core.pubsub_set_defer(loop.call_soon)     # subscribers' frames: one write per loop turn
    _core.pause_setup(PauseTimer(loop).arm, scripting.script_may_write)   # commands/pause.pxi
    _core.script_set_busy_hook(serve_while_busy)     # a busy script's own worker answers (shm/script.pxi)
    loop.run_until_complete(worker.start(loop))
    server.NODE.port_hook = worker.move_port
    if ns.worker < len(wake_fds):
        worker.watch_signals(loop, wake_fds[ns.worker])
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)     # the supervisor decides
    log.info("worker %d serving on port %d", ns.worker, server.NODE.port)
    loop.run_until_complete(stop.wait())
    loop.run_until_complete(worker.stop())
    loop.close()


if __name__ == '__main__':
    main()
