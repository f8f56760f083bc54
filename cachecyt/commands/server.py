"""Server and connection commands written in Python: off the hot path, they
answer from the segment header, the shared client table, the per-worker
counters and this worker's own state. A handler takes (client, args) and returns
a value for encode_value, or raises CommandError. Replies and error texts follow
Redis 7.0.

This module owns no event loop and no socket. What needs another worker (CLIENT
KILL of its client, a CONFIG SET it must apply) is sent through the worker's
signal ring (shm/ring.pxi) and a wake-up callable the worker installs
(Node.wake); the receiving worker runs Node.handle_signals."""
import collections
import fnmatch
import hashlib
import logging
import os
import re
import socket
import sys
import time

import cachecyt
from cachecyt import _core, config as cfgmod
from cachecyt._core import OK, CommandError, Status, Verbatim
from cachecyt.commands import table
from cachecyt.security import hooks as security
from cachecyt.security.acl import store_word_keys
from cachecyt.metrics.alerts import alerts_reply

log = logging.getLogger("cachecyt.worker")


class Node:
    """What a worker knows of itself; configured by workers/main.py (or tests).
    The module keeps one instance for the life of the process (NODE): importers
    may hold a reference to it, so it is configured in place, never replaced."""

    def __init__(self, cfg=None, worker=0, nworkers=1, port=0):
        self.configure(cfg, worker, nworkers, port)

    def configure(self, cfg=None, worker=0, nworkers=1, port=0, wake_fds=()):
        self.config = cfg if cfg is not None else cfgmod.Config()
        self.worker = worker
        self.nworkers = nworkers
        self.port = port
        self.clients = {}             # id -> Client of this worker
        self.started = time.time()
        self.shutdown_hook = None     # called by SHUTDOWN
        self.port_hook = None         # called with the new port by CONFIG SET port (workers/main.py)
        self.wake_fds = list(wake_fds)  # eventfd of every worker slot, by slot
        self.ops_samples = collections.deque(maxlen=16)   # (monotonic s, commands, net in, net out)
        self.monitors = {}            # id -> Client in MONITOR mode (commands/observe.py)
        return self

    # ---- other workers ----------------------------------------------------------

    def wake(self, worker):
        if worker < len(self.wake_fds):
            os.eventfd_write(self.wake_fds[worker], 1)

    def signal(self, worker, kind, arg=0, data=b''):
        """Queue a message for another worker and wake it; False if its ring is full."""
        if not _core.signal_worker(worker, kind, arg, data):
            log.warning("signal ring of worker %d is full; message %d dropped", worker, kind)
            return False
        self.wake(worker)
        return True

    def handle_signals(self):
        """Run the messages other processes left for this worker."""
        for kind, arg, _data in _core.take_signals(self.worker):
            if kind == _core.SIGNAL_KILL:
                victim = self.clients.get(arg)
                if victim is not None:
                    victim.close_now()
            elif kind == _core.SIGNAL_CONFIG:
                self.apply_settings()
            elif kind == _core.SIGNAL_PAUSE:
                _core.pause_resume()
            elif kind == _core.SIGNAL_UNBLOCK:
                victim = self.clients.get(arg)
                if victim is not None:
                    victim.unblock_request(_data == b'error')
            else:
                security.on_signal(kind, arg, _data)
        observe.feed_monitors()

    # ---- clients ----------------------------------------------------------------

    def client_opened(self, c, fd=-1) -> bool:
        """A connection was accepted: count it against maxclients (all workers)
        and publish it in the shared client table. False: refuse it."""
        if not _core.clients_admit():
            _core.stat_add('rejected_connections', 1)
            return False
        if not _core.client_slot_claim(c, fd):
            _core.clients_leave()
            _core.stat_add('rejected_connections', 1)
            return False
        _core.client_set_limits(c, _core.get_setting('proto_max_bulk_len'),
                                _core.get_setting('client_query_buffer_limit'))
        _core.stat_add('clients', 1)
        _core.stat_add('connections', 1)
        self.clients[c.id] = c
        return True

    def client_closed(self, c):
        observe.monitor_closed(c)
        if self.clients.pop(c.id, None) is not None:
            _core.client_slot_release(c)
            _core.clients_leave()
            _core.stat_add('clients', -1)

    def close_idle_clients(self, now_ms):
        """Close clients idle longer than `timeout` seconds (called by the worker's cron)."""
        timeout = _core.get_setting('timeout')
        if not timeout:
            return
        for c in list(self.clients.values()):
            # a client blocked in BLPOP & co. is waiting, not idle (as Redis)
            if now_ms - c.last_ms > timeout * 1000 and c.blocked_args is None:
                log.debug("Closing idle client")
                c.close_now()

    def apply_settings(self):
        """Take every run-time setting from the header (after a CONFIG SET on any
        worker) into this worker: its config copy, its clients' parsers, its log level."""
        for name, opt in cfgmod.OPTIONS.items():
            if opt.shared:
                self.config[name] = cfgmod.from_header(opt, _core.get_setting(opt.shared))
        max_bulk = _core.get_setting('proto_max_bulk_len')
        qbuf = _core.get_setting('client_query_buffer_limit')
        for c in self.clients.values():
            _core.client_set_limits(c, max_bulk, qbuf)
        logging.getLogger("cachecyt").setLevel(log_level(self.config['loglevel']))
        if self.config['port'] != self.port:           # CONFIG SET port
            if self.port_hook is not None:
                self.port_hook(self.config['port'])
            self.port = self.config['port']

    def sample_ops(self):
        """One sample of the node's command counter (instantaneous_ops_per_sec)."""
        stats = _core.worker_stats()
        self.ops_samples.append((time.monotonic(), _core.total_commands(),
                                 sum(w['net_in'] for w in stats), sum(w['net_out'] for w in stats)))


NODE = Node()


def log_level(name):
    return {'debug': logging.DEBUG, 'verbose': logging.INFO, 'notice': logging.INFO,
            'warning': logging.WARNING}[name]


def _text(b: bytes) -> str:
    return b.decode('utf-8', 'replace')


def _lower(b: bytes) -> str:
    return _text(b).lower()


def syntax_error():
    return CommandError("ERR syntax error")


def _strict_int(b: bytes):
    """Redis's string2ll: None unless the whole text is a plain integer."""
    s = _text(b)
    if re.fullmatch(r'-?[1-9][0-9]*|0', s) is None:
        return None
    v = int(s)
    return v if -2 ** 63 <= v < 2 ** 63 else None


# ---- container commands (CLIENT, CONFIG, COMMAND) ----------------------------------

# name -> {subcommand: (arity, flags)}; arity counts the container's name as Redis does.
SUBCOMMANDS = {
    'acl': {
        'cat': (-2, 'noscript loading stale'), 'deluser': (-3, 'admin noscript loading stale'),
        'dryrun': (-4, 'admin noscript loading stale'), 'genpass': (-2, 'noscript loading stale'),
        'getuser': (3, 'admin noscript loading stale'), 'help': (2, 'loading stale'),
        'list': (2, 'admin noscript loading stale'), 'load': (2, 'admin noscript loading stale'),
        'log': (-2, 'admin noscript loading stale'), 'save': (2, 'admin noscript loading stale'),
        'setuser': (-3, 'admin noscript loading stale'), 'users': (2, 'admin noscript loading stale'),
        'whoami': (2, 'noscript loading stale'),
    },
    'client': {
        'help': (2, 'loading stale'), 'id': (2, 'noscript loading stale'),
        'info': (2, 'noscript loading stale'), 'list': (-2, 'admin noscript loading stale'),
        'kill': (-3, 'admin noscript loading stale'), 'getname': (2, 'noscript loading stale'),
        'setname': (3, 'noscript loading stale'), 'no-evict': (3, 'admin noscript loading stale'),
        'unblock': (-3, 'admin noscript loading stale'), 'reply': (3, 'noscript loading stale'),
        'pause': (-3, 'admin noscript loading stale'), 'unpause': (2, 'admin noscript loading stale'),
    },
    'config': {
        'help': (2, 'loading stale'), 'get': (-3, 'admin noscript loading stale'),
        'set': (-4, 'admin noscript loading stale'), 'resetstat': (2, 'admin noscript loading stale'),
    },
    'command': {
        'help': (2, 'loading stale'), 'count': (2, 'loading stale'), 'list': (-2, 'loading stale'),
        'info': (-2, 'loading stale'), 'docs': (-2, 'loading stale'),
        'getkeys': (-4, 'loading stale'),
    },
    'slowlog': {                # commands/observe.py
        'help': (2, 'loading stale'), 'get': (-2, 'admin loading stale'),
        'len': (2, 'admin loading stale'), 'reset': (2, 'admin loading stale'),
    },
    'latency': {                # commands/observe.py
        'help': (2, 'loading stale'), 'doctor': (2, 'admin noscript loading stale'),
        'graph': (3, 'admin noscript loading stale'), 'history': (3, 'admin noscript loading stale'),
        'latest': (2, 'admin noscript loading stale'), 'reset': (-2, 'admin noscript loading stale'),
        'histogram': (-2, 'admin noscript loading stale'),
    },
}

HELP = {
    'client': [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME", "    Reply with the name of this connection, or null.",
        "ID", "    Reply with the id of this connection.",
        "INFO", "    Reply with a CLIENT LIST line for this connection.",
        "KILL <ip:port>", "    Close the connection from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Close every connection matching all the options:",
        "    * ID <client-id>", "    * ADDR <ip:port>", "    * LADDR <ip:port>",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "    * USER <username>",
        "    * SKIPME (YES|NO): leave this connection alone (default: yes).",
        "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <client-id> ...]",
        "    Reply with one line per connection, on every worker.",
        "NO-EVICT (ON|OFF)", "    Exempt this connection from client eviction.",
        "REPLY (ON|OFF|SKIP)",
        "    ON answers again; OFF stops every reply; SKIP drops the next command's reply.",
        "SETNAME <name>", "    Name this connection (no spaces); an empty name clears it.",
        "UNBLOCK <client-id> [TIMEOUT|ERROR]",
        "    End the wait of a client blocked in BLPOP & co.: as a timeout (default) or",
        "    with an UNBLOCKED error.",
        "UNPAUSE", "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "HELP", "    Prints this help.",
    ],
    'config': [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern> [<pattern> ...]", "    Reply with every option matching a glob pattern and its value.",
        "SET <option> <value> [<option> <value> ...]",
        "    Change options at run time, on every worker; all or none are set.",
        "RESETSTAT", "    Zero the counters INFO reports.",
        "HELP", "    Prints this help.",
    ],
    'command': [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)", "    Reply with the details of every command.",
        "COUNT", "    Reply with the number of commands.",
        "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <glob>)]",
        "    Reply with the names of the commands, optionally filtered.",
        "INFO [<command-name> ...]", "    Reply with the details of the named commands (all if none).",
        "DOCS [<command-name> ...]", "    Reply with the documentation of the named commands (all if none).",
        "GETKEYS <full-command>", "    Reply with the keys a full command would touch.",
        "HELP", "    Prints this help.",
    ],
}


class Rejected(CommandError):
    """Refused before running (arity of a subcommand): a rejected call in INFO."""


# Row of each subcommand's counters (and of a container run with no subcommand,
# e.g. plain COMMAND, under its own name): stable indexes for substat_add; then
# the rows of the memcached commands (mc_get ..., commands/memcached.pxi).
STAT_NAMES = ([f"{c}|{s}" for c, subs in SUBCOMMANDS.items() for s in subs] + ['command']
              + _core.MC_STAT_NAMES)
STAT_INDEX = {name: k for k, name in enumerate(STAT_NAMES)}


def container_sub(c, args):
    """Validate the subcommand of a container command (arity included) and
    name it for CLIENT LIST; returns it lowercased."""
    container = _lower(args[0])
    sub = _lower(args[1])
    spec = SUBCOMMANDS[container].get(sub)
    if spec is None:
        raise CommandError(f"ERR unknown subcommand '{_text(args[1])[:128]}'. "
                           f"Try {container.upper()} HELP.")
    _core.client_slot_set_sub(c, args[1])
    arity = spec[0]
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise Rejected(f"ERR wrong number of arguments for '{container}|{sub}' command")
    return sub


def counted(handler):
    """Count a container command's calls under 'container|sub' as Redis 7 does."""
    def run(c, args):
        name = _lower(args[0])
        if len(args) > 1:
            name += '|' + _lower(args[1])
        k = STAT_INDEX.get(name)
        t0 = time.perf_counter_ns()
        try:
            value = handler(c, args)
        except Rejected:
            _core.substat_add(k, 0, True, False)
            raise
        except CommandError:
            if k is not None:
                usec = (time.perf_counter_ns() - t0) // 1000
                _core.substat_add(k, usec, False, True)
                _core.substat_latency(k, usec)
            raise
        if k is not None:
            usec = (time.perf_counter_ns() - t0) // 1000
            _core.substat_add(k, usec, False, False)
            _core.substat_latency(k, usec)
        return value
    return run


def help_reply(container):
    return [Status(line) for line in HELP[container]]


# ---- connection ------------------------------------------------------------------

HELLO_NOAUTH = ("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                "select the RESP protocol version at the same time")


def hello(c, args):
    ver = None
    if len(args) > 1:
        ver = _strict_int(args[1])
        if ver is None:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if ver not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    i = 2
    user = name = None
    while i < len(args):
        more = len(args) - 1 - i
        opt = _lower(args[i])
        if opt == 'auth' and more >= 2:
            user, password = args[i + 1], args[i + 2]
            i += 3
        elif opt == 'setname' and more:
            name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{_text(args[i])}'")
    if user is not None:
        if security.hello_auth(c, user, password) is _core.NO_REPLY:
            return _core.NO_REPLY               # a failure answered later (security/throttle.py)
    elif not c.authenticated and security.auth_required(c):
        raise CommandError(HELLO_NOAUTH)
    if name is not None:
        c.name = check_client_name(name) or None
    if ver is not None:
        c.resp = ver
    _core.client_slot_sync(c)
    return {'server': 'redis', 'version': cachecyt.REDIS_VERSION, 'proto': c.resp,
            'id': c.id, 'mode': 'standalone', 'role': 'master', 'modules': []}


def reset(c, args):
    """RESET: back to a new connection's state; CLIENT NO-EVICT stays, as in Redis."""
    _core.pubsub_forget(c)
    c.db = 0
    c.resp = 2
    c.name = None
    _core.tx_reset(c)
    security.bind_new(c)
    _core.client_slot_sync(c)
    return Status('RESET')


def check_client_name(name: bytes) -> bytes:
    if any(ch < 33 or ch > 126 for ch in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
    return name


# ---- CLIENT ------------------------------------------------------------------------

class Row:
    """One client as CLIENT LIST shows it, from this worker's object or from
    the shared table (clients of other workers)."""
    __slots__ = ('id', 'worker', 'addr', 'laddr', 'name', 'db', 'created_ms', 'last_ms',
                 'cmd', 'resp', 'no_evict', 'fd', 'qbuf', 'local', 'user', 'flags', 'mem',
                 'nsub', 'npsub', 'nssub', 'multi', 'paused', 'qbuf_cap')

    @classmethod
    def from_table(cls, t, monitors=frozenset()):
        r = cls()
        (r.id, r.worker, r.addr, r.laddr, r.name, r.db, r.created_ms, r.last_ms,
         r.cmd, r.resp, r.no_evict, r.fd, r.nsub, r.npsub, r.nssub, r.multi, r.qbuf_cap) = t
        r.qbuf = 0
        r.paused = False
        r.user = 'default'
        r.flags = ''
        r.mem = None
        r.local = NODE.clients.get(r.id) if r.worker == NODE.worker else None
        if r.local is not None:
            r.name = r.local.name or b''
            r.db = r.local.db
            r.resp = r.local.resp
            r.no_evict = r.local.no_evict
            r.qbuf = r.local.query_buffer
            r.user = _text(r.local.user or b'default')
            r.mem = _core.client_memory(r.local)
        if r.id in monitors:
            r.flags = 'O' + r.flags
        return r

    def buffers(self):
        """Buffer fields as Redis names them; a client of another worker shows
        only its query buffer (its buffers live in that process)."""
        qbuf, free, argv, rbs, rbp, obl, _cap, tot = self.mem or (
            self.qbuf, self.qbuf_cap, 0, 16384, 0, 0, 0, self.qbuf_cap + 16384)
        return (f"qbuf={qbuf} qbuf-free={free} argv-mem={argv} multi-mem=0 rbs={rbs} rbp={rbp} "
                f"obl={obl} oll=0 omem={max(obl - 16384, 0)} tot-mem={tot}")

    def flag_letters(self, in_multi):
        """Redis's letters in its order: O monitor, P subscriber, x in MULTI,
        b blocked, e no-evict."""
        blocked = self.paused or _core.block_owner(self.id) >= 0
        subscribed = bool(self.nsub or self.npsub or self.nssub)
        return (self.flags + ('P' if subscribed else '') + ('x' if in_multi else '')
                + ('b' if blocked else '')
                + ('e' if self.no_evict else '')) or 'N'

    def line(self, now_ms):
        # subscriptions and MULTI come from the shared table: the owning worker
        # publishes them (shm/clients.pxi), so they show for every worker's clients
        return (f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
                f"name={_text(self.name or b'')} age={(now_ms - self.created_ms) // 1000} "
                f"idle={max(0, now_ms - self.last_ms) // 1000} "
                f"flags={self.flag_letters(self.multi >= 0)} db={self.db} sub={self.nsub} "
                f"psub={self.npsub} ssub={self.nssub} multi={self.multi} {self.buffers()} "
                f"events=r cmd={self.cmd} user={self.user} redir=-1 resp={self.resp}\n")


def all_clients():
    """Every client of every worker, oldest first."""
    monitors = _core.monitor_client_ids()
    rows = sorted((Row.from_table(t, monitors) for t in _core.clients_table()), key=lambda r: r.id)
    names = _core.client_users()
    paused = _core.paused_client_ids()         # held by CLIENT PAUSE (commands/pause.pxi)
    for r in rows:
        r.paused = r.id in paused
        if r.local is None:
            r.user = names.get(r.id, 'default')
    return rows


def own_row(c):
    for r in all_clients():
        if r.id == c.id:
            return r
    _in_multi, queued, _watched = _core.tx_info(c)
    t = (c.id, NODE.worker, c.addr, c.laddr, c.name, c.db, c.created_ms, c.last_ms,
         'NULL', c.resp, c.no_evict, -1, 0, 0, 0, queued, 0)   # no row: no subscription counts
    return Row.from_table(t)


def client_info_line(c) -> str:
    return own_row(c).line(int(time.time() * 1000))


def client(c, args):
    sub = container_sub(c, args)
    if sub == 'help':
        return help_reply('client')
    if sub == 'id':
        return c.id
    if sub == 'setname':
        c.name = check_client_name(args[2]) or None
        _core.client_slot_sync(c)
        return OK
    if sub == 'getname':
        return c.name
    if sub == 'info':
        return Verbatim(client_info_line(c))
    if sub == 'list':
        now = int(time.time() * 1000)
        return Verbatim(''.join(r.line(now) for r in _client_list(args[2:])))
    if sub == 'kill':
        return _client_kill(c, args[2:])
    if sub == 'unblock':
        return _client_unblock(args[2:])
    if sub == 'reply':
        return _client_reply(c, _lower(args[2]))
    if sub == 'pause':
        return _client_pause(args)
    if sub == 'unpause':
        _core.unpause_clients()
        for w in range(NODE.nworkers):
            if w != NODE.worker:
                NODE.signal(w, _core.SIGNAL_PAUSE)
        _core.pause_resume()
        return OK
    mode = _lower(args[2])                      # no-evict
    if mode not in ('on', 'off'):
        raise syntax_error()
    c.no_evict = mode == 'on'
    _core.client_slot_sync(c)
    return OK


def _client_pause(args):
    """CLIENT PAUSE timeout [WRITE|ALL] (commands/pause.pxi holds the clients)."""
    if len(args) > 4:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for 'pause'. "
                           "Try CLIENT HELP.")
    mode = 2
    if len(args) == 4:
        word = _lower(args[3])
        if word not in ('write', 'all'):
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        mode = 1 if word == 'write' else 2
    ms = _strict_int(args[2])
    if ms is None or not -(1 << 63) <= ms < (1 << 63):
        raise CommandError("ERR timeout is not an integer or out of range")
    if ms < 0:
        raise CommandError("ERR timeout is negative")
    _core.pause_clients(ms + int(time.time() * 1000) if ms else 0, mode)
    return OK


REPLY_FLAGS = _core.CLIENT_REPLY_OFF | _core.CLIENT_REPLY_SKIP | _core.CLIENT_REPLY_SKIP_NEXT


def _client_reply(c, mode):
    """CLIENT REPLY: OFF and SKIP answer nothing (reply_mode_after in
    commands/client.pxi drops the replies that follow); ON clears both and
    answers OK."""
    if mode not in ('on', 'off', 'skip'):
        raise syntax_error()
    if mode == 'on':
        c.flags &= ~REPLY_FLAGS
        return OK
    if mode == 'off':
        c.flags |= _core.CLIENT_REPLY_OFF
    elif not c.flags & _core.CLIENT_REPLY_OFF:
        c.flags |= _core.CLIENT_REPLY_SKIP_NEXT     # SKIP means nothing while OFF
    return _core.NO_REPLY


CLIENT_TYPES = ('normal', 'master', 'replica', 'slave', 'pubsub')


def _client_type(value: bytes) -> str:
    kind = _lower(value)
    if kind not in CLIENT_TYPES:
        raise CommandError(f"ERR Unknown client type '{_text(value)}'")
    return kind


def _client_list(opts):
    rows = all_clients()
    if not opts:
        return rows
    key = _lower(opts[0])
    if key == 'type' and len(opts) == 2:
        return rows if _client_type(opts[1]) == 'normal' else []
    if key == 'id' and len(opts) > 1:
        ids = []
        for x in opts[1:]:
            v = _strict_int(x)
            if v is None or v <= 0:
                raise CommandError("ERR Invalid client ID")
            ids.append(v)
        by_id = {r.id: r for r in rows}
        return [by_id[i] for i in ids if i in by_id]
    raise syntax_error()


def _kill_filters(opts):
    """CLIENT KILL <option> <value> ... -> (predicate, skipme)."""
    tests = []
    skipme = True
    i = 0
    while i < len(opts):
        if i + 1 >= len(opts):
            raise syntax_error()
        key, val = _lower(opts[i]), opts[i + 1]
        if key == 'id':
            cid = _strict_int(val)
            if cid is None or cid <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            tests.append(lambda r, cid=cid: r.id == cid)
        elif key == 'type':
            kind = _client_type(val)
            tests.append(lambda r, kind=kind: kind == 'normal')
        elif key == 'addr':
            addr = _text(val)
            tests.append(lambda r, addr=addr: r.addr == addr)
        elif key == 'laddr':
            laddr = _text(val)
            tests.append(lambda r, laddr=laddr: r.laddr == laddr)
        elif key == 'user':
            if not security.user_exists(val):
                raise CommandError(f"ERR No such user '{_text(val)}'")
            tests.append(lambda r, u=val: security.row_user(r) == u)
        elif key == 'skipme':
            yn = _lower(val)
            if yn not in ('yes', 'no'):
                raise syntax_error()
            skipme = yn == 'yes'
        else:
            raise syntax_error()
        i += 2
    return (lambda r: all(t(r) for t in tests)), skipme


def _client_kill(c, opts):
    if len(opts) == 1:                        # old form: CLIENT KILL addr:port
        addr = _text(opts[0])
        victims = [r for r in all_clients() if r.addr == addr]
        if not victims:
            raise CommandError("ERR No such client")
        for r in victims:
            _kill(c, r)
        return OK
    match, skipme = _kill_filters(opts)
    killed = 0
    for r in all_clients():
        if match(r) and not (skipme and r.id == c.id):
            killed += _kill(c, r)
    return killed


def _client_unblock(opts):
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when that client was waiting in a
    blocking command (on any worker) and is told to stop."""
    if len(opts) > 2:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for 'unblock'. "
                           "Try CLIENT HELP.")
    cid = _strict_int(opts[0])
    if cid is None:
        raise CommandError("ERR value is not an integer or out of range")
    error = False
    if len(opts) == 2:
        reason = _lower(opts[1])
        if reason not in ('timeout', 'error'):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == 'error'
    worker = _core.block_owner(cid) if cid > 0 else -1
    if worker < 0:
        return 0
    if worker == NODE.worker:
        local = NODE.clients.get(cid)
        return 1 if local is not None and local.unblock_request(error) else 0
    return 1 if NODE.signal(worker, _core.SIGNAL_UNBLOCK, cid, b'error' if error else b'') else 0


def _kill(me, row) -> int:
    """Close one client, here or on its worker; 1 if it was done or queued."""
    if row.id == me.id:
        me.close_after_reply()
        return 1
    if row.local is not None:
        row.local.close_now()
        return 1
    return 1 if NODE.signal(row.worker, _core.SIGNAL_KILL, row.id) else 0


def _repr_bytes(b: bytes) -> str:
    """Bytes quoted the way Redis writes them in log lines."""
    out = ['"']
    for ch in b:
        if ch in (0x5c, 0x22):
            out.append('\\' + chr(ch))
        elif ch in (10, 13, 9, 7, 8):
            out.append({10: '\\n', 13: '\\r', 9: '\\t', 7: '\\a', 8: '\\b'}[ch])
        elif 32 <= ch < 127:
            out.append(chr(ch))
        else:
            out.append('\\x%02x' % ch)
    out.append('"')
    return ''.join(out)


def log_query_buffer_limit(c):
    log.warning("Closing client that reached max query buffer length: %s (qbuf initial bytes: %s)",
                client_info_line(c).rstrip('\n'), _repr_bytes(_core.client_query_head(c, 64)))


_core.set_query_buffer_hook(log_query_buffer_limit)


# ---- server ------------------------------------------------------------------------

def time_(c, args):
    us = time.time_ns() // 1000
    return [str(us // 1_000_000).encode(), str(us % 1_000_000).encode()]


def shutdown(c, args):
    flags = {_lower(a) for a in args[1:]}
    if not flags <= {'nosave', 'save', 'now', 'force', 'abort'} or {'nosave', 'save'} <= flags:
        raise syntax_error()
    if 'abort' in flags:
        if flags != {'abort'}:
            raise syntax_error()
        raise CommandError("ERR No shutdown in progress.")
    if NODE.shutdown_hook is None:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    log.warning("User requested shutdown...")
    # the supervisor's final snapshot (cluster/persist.py): 1 = NOSAVE, 2 = SAVE
    _core.set_setting('shutdown_flags', 1 if 'nosave' in flags else 2 if 'save' in flags else 0)
    NODE.shutdown_hook()
    c.close_after_reply()
    return _core.NO_REPLY


# ---- CONFIG ----------------------------------------------------------------------

def config_(c, args):
    sub = container_sub(c, args)
    if sub == 'help':
        return help_reply('config')
    if sub == 'get':
        return config_get(args[2:])
    if sub == 'set':
        return config_set(args[2:])
    _core.reset_worker_stats()                  # resetstat
    _core.reset_latency_stats()                 # before the cmdstats it reads
    _core.reset_command_stats()
    _core.reset_error_stats()
    _core.hotkeys_reset()
    NODE.ops_samples.clear()
    return OK


def config_get(patterns):
    out = {}
    for pattern in patterns:
        for name, value in NODE.config.matching(_text(pattern)):
            out[name] = current_value(name, value)
    return out


def current_value(name, formatted):
    opt = cfgmod.option(name)
    if opt.shared:
        return cfgmod.fmt_value(cfgmod.from_header(opt, _core.get_setting(opt.shared)))
    return formatted


def _set_failed(name, why):
    return CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")


def _can_listen(port):
    """CONFIG SET port: no other socket holds the port on the addresses of
    `bind` (a plain bind, without SO_REUSEPORT, as the workers' start checks)."""
    for part in NODE.config['bind'].split():
        host, optional = (part[1:], True) if part.startswith('-') else (part, False)
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
        except OSError:
            if not optional:
                return False
    return True


def config_set(pairs):
    if len(pairs) % 2:
        raise syntax_error()
    chosen = []
    for i in range(0, len(pairs), 2):
        given = _text(pairs[i])
        opt = cfgmod.option(given)
        if opt is None:
            raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
        why = None if opt.settable else "can't set immutable config"
        if any(o is opt for o, _ in chosen):
            why = "duplicate parameter"
        if why:
            raise _set_failed(given, why)
        chosen.append((opt, pairs[i + 1]))
    parsed = []
    for opt, raw in chosen:
        try:
            parsed.append((opt, opt.parse(_text(raw))))
        except cfgmod.ConfigError as e:
            raise _set_failed(opt.name, e) from None
        if opt.name == 'port' and parsed[-1][1] not in (0, NODE.port) and not _can_listen(parsed[-1][1]):
            raise _set_failed(opt.name, "Unable to listen on this port")
        if opt.name == 'maxclients' and parsed[-1][1] > _core.CLIENT_SLOTS:
            raise _set_failed(opt.name, "The operating system is not able to handle the specified "
                              f"number of clients, try with {_core.CLIENT_SLOTS}")
    secure = {}
    for opt, value in parsed:
        if opt.shared:
            try:
                _core.set_setting(opt.shared, cfgmod.header_value(opt, value))
            except ValueError as e:                  # persistence settings (shm/wal.pxi)
                raise _set_failed(opt.name, e) from None
        else:
            secure[opt.name] = value
    if secure:
        security.config_set(secure)
    _core.config_changed()
    NODE.apply_settings()
    for w in range(NODE.nworkers):
        if w != NODE.worker:
            NODE.signal(w, _core.SIGNAL_CONFIG)
    return OK


# ---- COMMAND -------------------------------------------------------------------------

# ACL categories in the order Redis lists them.
ACL_ORDER = ['keyspace', 'read', 'write', 'set', 'sortedset', 'list', 'hash', 'string',
             'bitmap', 'hyperloglog', 'geo', 'stream', 'pubsub', 'admin', 'fast', 'slow',
             'blocking', 'dangerous', 'connection', 'transaction', 'scripting']

DOCS = {
    'multi': ('Mark the start of a transaction block', '1.2.0', 'O(1)'),
    'exec': ('Execute all commands issued after MULTI', '1.2.0',
             'Depends on commands in the transaction'),
    'discard': ('Discard all commands issued after MULTI', '2.0.0',
                'O(N), when N is the number of queued commands'),
    'watch': ('Watch the given keys to determine execution of the MULTI/EXEC block', '2.2.0',
              'O(1) for every key.'),
    'unwatch': ('Forget about all watched keys', '2.2.0', 'O(1)'),
    'get': ('Return the value of a key', '1.0.0', 'O(1)'),
    'set': ('Set the value of a key, with options', '1.0.0', 'O(1)'),
    'del': ('Remove keys', '1.0.0', 'O(N) where N is the number of keys'),
    'ping': ('Check that the server answers', '1.0.0', 'O(1)'),
    'echo': ('Reply with the given message', '1.0.0', 'O(1)'),
    'hello': ('Choose the protocol version and optionally name the connection', '6.0.0', 'O(1)'),
    'reset': ('Reset the connection to its initial state', '6.2.0', 'O(1)'),
    'client': ('Commands about client connections', '2.4.0', 'Depends on subcommand.'),
    'config': ('Commands about the server configuration', '2.0.0', 'Depends on subcommand.'),
    'command': ('Reply with details of the commands', '2.8.13', 'O(N) where N is the number of commands'),
    'info': ('Reply with server information and statistics', '1.0.0', 'O(1)'),
    'time': ('Reply with the server time', '2.6.0', 'O(1)'),
    'shutdown': ('Stop the server', '1.0.0', 'O(N) with N the number of databases'),
    'slowlog': ('Commands about the slow log', '2.2.12', 'Depends on subcommand.'),
    'latency': ('Commands about latency diagnostics', '2.8.13', 'Depends on subcommand.'),
    'monitor': ('Stream every command the node runs', '1.0.0', None),
    'setbit': ('Set or clear one bit of a string value', '2.2.0', 'O(1)'),
    'getbit': ('Read one bit of a string value', '2.2.0', 'O(1)'),
    'bitcount': ('Count the bits set in a string value or a range of it', '2.6.0', 'O(N)'),
    'bitpos': ('Find the first bit set or clear in a string value or a range of it', '2.8.7', 'O(N)'),
    'bitop': ('Store the AND, OR, XOR or NOT of string values', '2.6.0', 'O(N)'),
    'bitfield': ('Read, set and increment integers of any width inside a string value', '3.2.0',
                 'O(1) for each subcommand specified'),
    'bitfield_ro': ('Read integers of any width inside a string value (BITFIELD GET only)', '6.0.0',
                    'O(1) for each subcommand specified'),
    'lcs': ('Longest common subsequence of two string values', '7.0.0',
            'O(N*M) where N and M are the lengths of s1 and s2, respectively'),
    'move': ('Move a key to another database', '1.0.0', 'O(1)'),
    'sort': ('Sort a list, set or sorted set, optionally by or with other keys, and reply or store', '1.0.0',
             'O(N+M*log(M)) where N is the number of elements to sort and M the number returned'),
    'sort_ro': ('Sort a list, set or sorted set (SORT without STORE)', '7.0.0',
                'O(N+M*log(M)) where N is the number of elements to sort and M the number returned'),
    'hotkeys': ('Reply with the most accessed keys, from sampled frequency sketches', '7.0.0',
                'O(W*K) with W workers and K candidates per worker'),
    'alerts': ('Reply with the alert rules that are pending or firing', '7.0.0',
               'O(N) where N is the number of active alerts'),
}


def _entry(name):
    for e in table.COMMANDS:
        if e[0] == name:
            return e
    return None


def acl_categories(flags, group):
    cats = set()
    if 'write' in flags:
        cats.add('write')
    if 'readonly' in flags:
        cats.add('read')
    if 'admin' in flags:
        cats.update(('admin', 'dangerous'))
    if 'pubsub' in flags:
        cats.add('pubsub')
    if 'blocking' in flags:
        cats.add('blocking')
    cats.add('fast' if 'fast' in flags else 'slow')
    if group in ACL_ORDER:
        cats.add(group)
    return [Status('@' + a) for a in ACL_ORDER if a in cats]


def key_specs(flags, first, last, step):
    if not first:
        return []
    access = ['RO', 'access'] if 'readonly' in flags else ['RW', 'update']
    lastkey = last - first if last >= 0 else last
    return [{'flags': [Status(f) for f in access],
             'begin_search': {'type': 'index', 'spec': {'index': first}},
             'find_keys': {'type': 'range', 'spec': {'lastkey': lastkey, 'keystep': step, 'limit': 0}}}]


def _spec(access, begin):
    return {'flags': [Status(f) for f in access], 'begin_search': begin,
            'find_keys': {'type': 'range', 'spec': {'lastkey': 0, 'keystep': 1, 'limit': 0}}}


def _store_word_specs(startfrom):
    return [_spec(('RO', 'access'), {'type': 'index', 'spec': {'index': 1}})] + [
        _spec(('OW', 'update'), {'type': 'keyword', 'spec': {'keyword': w, 'startfrom': startfrom}})
        for w in ('STORE', 'STOREDIST')]


# Commands whose keys the table's first/last/step do not describe as Redis's key specs do.
KEY_SPECS = {
    'georadius': _store_word_specs(6),
    'georadiusbymember': _store_word_specs(5),
    'geosearchstore': [_spec(('OW', 'update'), {'type': 'index', 'spec': {'index': 1}}),
                       _spec(('RO', 'access'), {'type': 'index', 'spec': {'index': 2}})],
}


def _categories(name, flags, group):
    """Redis's categories of a command it has (security/catalog.py), else derived."""
    cats = security.categories(name)
    if cats is None:
        return acl_categories(flags, group)
    return [Status('@' + c) for c in cats]


def _sub_info(container, sub, group):
    arity, flags = SUBCOMMANDS[container][sub]
    return [f"{container}|{sub}", arity, [Status(f) for f in flags.split()], 0, 0, 0,
            _categories(f"{container}|{sub}", flags.split(), group), [], [], []]


def command_info(entry):
    name, arity, flags, first, last, step, group = entry
    flags = flags.split()
    subs = []
    if name in SUBCOMMANDS:
        flags, first, last, step = [], 0, 0, 0
        subs = [_sub_info(name, s, group) for s in SUBCOMMANDS[name]]
        cats = _categories(name, [], group)
    else:
        cats = _categories(name, flags, group)
    return [name, arity, [Status(f) for f in flags], first, last, step, cats, [],
            KEY_SPECS.get(name) or key_specs(flags, first, last, step), subs]


def command_docs(entry):
    name, group = entry[0], entry[6]
    summary, since, complexity = DOCS.get(name, ('', '1.0.0', ''))
    doc = {'summary': summary, 'since': since, 'group': group}
    if complexity:
        doc['complexity'] = complexity
    if name in SUBCOMMANDS:
        doc['subcommands'] = {f"{name}|{s}": {'summary': HELP[name][0] if s == 'help' else '',
                                              'since': since, 'group': group}
                              for s in SUBCOMMANDS[name]}
    return doc


def all_names():
    """Every command and subcommand name, as COMMAND LIST shows them."""
    out = []
    for e in table.COMMANDS:
        out.append(e[0])
        out.extend(f"{e[0]}|{s}" for s in SUBCOMMANDS.get(e[0], ()))
    return out


def command(c, args):
    if len(args) == 1:
        return [command_info(e) for e in table.COMMANDS]
    sub = container_sub(c, args)
    if sub == 'help':
        return help_reply('command')
    if sub == 'count':
        return len(table.COMMANDS)
    if sub == 'list':
        return command_list(args[2:])
    if sub == 'info':
        names = [_lower(a) for a in args[2:]] or [e[0] for e in table.COMMANDS]
        return [command_info(_entry(n)) if _entry(n) else None for n in names]
    if sub == 'docs':
        names = [_lower(a) for a in args[2:]] or [e[0] for e in table.COMMANDS]
        return {n: command_docs(_entry(n)) for n in names if _entry(n)}
    return command_getkeys(args[2:])


def command_list(opts):
    if not opts:
        return all_names()
    if len(opts) != 3 or _lower(opts[0]) != 'filterby':
        raise syntax_error()
    kind, value = _lower(opts[1]), _text(opts[2])
    if kind == 'module':
        return []
    if kind == 'aclcat':
        cat = Status('@' + value.lower())
        out = []
        for e in table.COMMANDS:
            info = command_info(e)
            if cat in info[6]:
                out.append(e[0])
            out.extend(s[0] for s in info[9] if cat in s[6])
        return out
    if kind == 'pattern':
        return [n for n in all_names() if fnmatch.fnmatchcase(n, value.lower())]
    raise syntax_error()


def command_getkeys(argv):
    entry = _entry(_lower(argv[0]))
    if entry is None:
        raise CommandError("ERR Invalid command specified")
    _name, arity, _flags, first, last, step, _group = entry
    if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
        raise CommandError("ERR Invalid number of arguments specified for command")
    if _lower(argv[0]) in NUMKEYS_AT:
        return _numkeys_keys(argv)
    if _lower(argv[0]) == 'sort':
        return _sort_keys(argv)
    if not first:
        raise CommandError("ERR The command has no key arguments")
    end = last if last >= 0 else len(argv) + last
    extra = store_word_keys(_lower(argv[0]), argv)
    return [argv[i] for i in [*range(first, min(end, len(argv) - 1) + 1, step), *extra]]


# Commands whose keys follow a numkeys argument: name -> (index of numkeys,
# keys before it). Scripts with a bad numkeys have no keys (Redis answers an
# empty array); the others refuse it.
NUMKEYS_AT = {
    **{n: (2, 0) for n in ('eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro')},
    **{n: (2, 1) for n in ('zunionstore', 'zinterstore', 'zdiffstore')},
    **{n: (1, 0) for n in ('zunion', 'zinter', 'zdiff', 'zintercard', 'sintercard', 'lmpop', 'zmpop')},
    **{n: (2, 0) for n in ('blmpop', 'bzmpop')},
}


def _sort_keys(argv):
    """SORT's key and its last STORE destination, skipping the arguments of
    LIMIT, GET and BY as Redis does."""
    skip = {'limit': 2, 'get': 1, 'by': 1}
    store, i = None, 2
    while i < len(argv):
        word = _lower(argv[i])
        if word in skip:
            i += skip[word]
        elif word == 'store' and i + 1 < len(argv):
            store = argv[i + 1]
        i += 1
    return [argv[1]] + ([store] if store is not None else [])


def _numkeys_keys(argv):
    name = _lower(argv[0])
    at, before = NUMKEYS_AT[name]
    n = _strict_int(argv[at]) if at < len(argv) else None
    script = name.startswith(('eval', 'fcall'))
    if n is None or n <= 0 or at + 1 + n > len(argv):
        if script:
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return [argv[1]] * before + list(argv[at + 1:at + 1 + n])


# ---- INFO ------------------------------------------------------------------------------

def _human(n: int) -> str:
    for unit, size in (('G', 1024 ** 3), ('M', 1024 ** 2), ('K', 1024)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def run_id():
    """40 hex digits naming this run of the node (same on every worker)."""
    seed = f"{_core.get_setting('owner_pid')}:{_core.get_setting('start_ms')}".encode()
    return hashlib.sha1(seed).hexdigest()


def info_server():
    uptime = int(time.time() - _core.get_setting('start_ms') / 1000)
    u = os.uname()
    return [('redis_version', cachecyt.REDIS_VERSION), ('redis_git_sha1', '00000000'),
            ('redis_git_dirty', 0), ('redis_build_id', run_id()[:16]),
            ('redis_mode', 'standalone'), ('os', f"{u.sysname} {u.release} {u.machine}"),
            ('arch_bits', 64), ('monotonic_clock', 'POSIX clock_gettime'),
            ('multiplexing_api', 'epoll'), ('atomicvar_api', 'c11-builtin'),
            ('gcc_version', '0.0.0'),
            ('process_id', _core.get_setting('owner_pid')), ('process_supervised', 'no'),
            ('run_id', run_id()), ('tcp_port', NODE.port),
            ('server_time_usec', time.time_ns() // 1000),
            ('uptime_in_seconds', uptime), ('uptime_in_days', uptime // 86400),
            ('hz', _core.get_setting('hz')), ('configured_hz', _core.get_setting('hz')),
            ('lru_clock', int(time.time()) & ((1 << 24) - 1)),
            ('executable', sys.executable), ('config_file', ''), ('io_threads_active', 0),
            ('cachecyt_version', cachecyt.__version__), ('workers', NODE.nworkers),
            ('worker', NODE.worker)]


def info_clients():
    qbufs = [c.query_buffer for c in NODE.clients.values()]
    return [('connected_clients', _core.get_setting('connected_clients')),
            ('cluster_connections', 0), ('maxclients', _core.get_setting('maxclients')),
            ('client_recent_max_input_buffer', max(qbufs, default=0)),
            ('client_recent_max_output_buffer', 0),
            ('blocked_clients', _core.blocked_clients() + _core.pause_held_count()),
            ('tracking_clients', 0),
            ('clients_in_timeout_table', _core.blocked_clients())]


def _rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def _pids():
    """The supervisor and every live worker."""
    return [_core.get_setting('owner_pid')] + [w['pid'] for w in _core.worker_stats()]


def _system_memory():
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError):
        return 0


def _pct(part, whole):
    return f"{part * 100 / whole:.2f}%" if whole else "0.00%"


def _ratio(a, b):
    return f"{a / b:.2f}" if b else "1.00"


def memory_figures():
    """used, peak, arena, rss, ... in bytes (INFO memory, MEMORY STATS/DOCTOR)."""
    used = _core.get_setting('used_memory')
    return {'used': used, 'peak': max(_core.get_setting('peak_memory'), used),
            'maxmemory': _core.get_setting('maxmemory'),
            'arena': _core.get_setting('pages_used') * 65536,
            'rss': sum(_rss_bytes(p) for p in _pids()),
            'startup': 0, 'segment': _core.get_setting('seg_size'),
            'clients': sum(c.query_buffer for c in NODE.clients.values())}


def info_memory():
    # Fragmentation is of the arena (pages handed to size classes over bytes in
    # live chunks): RSS counts the shared segment once per process, so RSS over
    # used memory would say nothing about the keyspace.
    m = memory_figures()
    used, peak, arena, rss, maxmem = m['used'], m['peak'], m['arena'], m['rss'], m['maxmemory']
    total = _system_memory()
    lazy = _core.lazyfree_info()
    zero_h = [('used_memory_lua', 0), ('used_memory_vm_eval', 0), ('used_memory_lua_human', '0B'),
              ('used_memory_scripts_eval', 0), ('number_of_cached_scripts', 0),
              ('number_of_functions', 0), ('number_of_libraries', 0),
              ('used_memory_vm_functions', 0), ('used_memory_vm_total', 0),
              ('used_memory_vm_total_human', '0B'), ('used_memory_functions', 0),
              ('used_memory_scripts', 0), ('used_memory_scripts_human', '0B')]
    return ([('used_memory', used), ('used_memory_human', _human(used)), ('used_memory_rss', rss),
             ('used_memory_rss_human', _human(rss)),
             ('used_memory_peak', peak), ('used_memory_peak_human', _human(peak)),
             ('used_memory_peak_perc', _pct(used, peak)), ('used_memory_overhead', 0),
             ('used_memory_startup', 0), ('used_memory_dataset', used),
             ('used_memory_dataset_perc', _pct(used, used)),
             ('allocator_allocated', used), ('allocator_active', arena),
             ('allocator_resident', arena), ('total_system_memory', total),
             ('total_system_memory_human', _human(total))] + zero_h +
            [('maxmemory', maxmem), ('maxmemory_human', _human(maxmem)),
             ('maxmemory_policy', cfgmod.POLICIES[_core.get_setting('policy')]),
             ('allocator_frag_ratio', _ratio(arena, used)),
             ('allocator_frag_bytes', max(arena - used, 0)),
             ('allocator_rss_ratio', '1.00'), ('allocator_rss_bytes', 0),
             ('rss_overhead_ratio', _ratio(rss, arena)), ('rss_overhead_bytes', rss - arena),
             ('mem_fragmentation_ratio', _ratio(arena, used)),
             ('mem_fragmentation_bytes', max(arena - used, 0)),
             ('mem_not_counted_for_evict', 0), ('mem_replication_backlog', 0),
             ('mem_total_replication_buffers', 0), ('mem_clients_slaves', 0),
             ('mem_clients_normal', m['clients']), ('mem_cluster_links', 0),
             ('mem_aof_buffer', 0), ('mem_allocator', 'cachecyt-slab'),
             ('active_defrag_running', 0), ('lazyfree_pending_objects', lazy[0]),
             ('lazyfreed_objects', lazy[1]), ('used_memory_arena', arena),
             ('segment_size', m['segment'])])


def info_persistence():
    from cachecyt.commands import persistence
    return persistence.info_persistence()


def _rates():
    """(ops/s, input kbps, output kbps) over the recent samples (NODE.sample_ops)."""
    if len(NODE.ops_samples) < 2:
        return 0, 0.0, 0.0
    (t0, n0, i0, o0), (t1, n1, i1, o1) = NODE.ops_samples[0], NODE.ops_samples[-1]
    if t1 <= t0:
        return 0, 0.0, 0.0
    dt = t1 - t0
    return int((n1 - n0) / dt), (i1 - i0) / dt / 1024, (o1 - o0) / dt / 1024


def ops_per_sec():
    return _rates()[0]


def info_stats():
    stats = _core.worker_stats()

    def total(k):
        return sum(w[k] for w in stats)
    ops, kin, kout = _rates()
    zeros = lambda *names: [(n, 0) for n in names]     # noqa: E731
    return ([('total_connections_received', total('connections')),
             ('total_commands_processed', total('commands')),
             ('instantaneous_ops_per_sec', ops),
             ('total_net_input_bytes', total('net_in')), ('total_net_output_bytes', total('net_out')),
             ('total_net_repl_input_bytes', 0), ('total_net_repl_output_bytes', 0),
             ('instantaneous_input_kbps', f"{kin:.2f}"), ('instantaneous_output_kbps', f"{kout:.2f}"),
             ('instantaneous_input_repl_kbps', '0.00'), ('instantaneous_output_repl_kbps', '0.00'),
             ('rejected_connections', total('rejected_connections'))] +
            zeros('sync_full', 'sync_partial_ok', 'sync_partial_err') +
            [('expired_keys', total('expired')), ('expired_stale_perc', '0.00'),
             ('expired_time_cap_reached_count', 0), ('expire_cycle_cpu_milliseconds', 0),
             ('evicted_keys', total('evicted'))] +
            zeros('evicted_clients', 'total_eviction_exceeded_time', 'current_eviction_exceeded_time') +
            [('keyspace_hits', total('hits')), ('keyspace_misses', total('misses'))] +
            list(_core.pubsub_info()) +
            zeros('latest_fork_usec', 'total_forks', 'migrate_cached_sockets', 'slave_expires_tracked_keys',
                  'active_defrag_hits', 'active_defrag_misses', 'active_defrag_key_hits',
                  'active_defrag_key_misses', 'total_active_defrag_time',
                  'current_active_defrag_time', 'tracking_total_keys', 'tracking_total_items',
                  'tracking_total_prefixes', 'unexpected_error_replies') +
            [('total_error_replies', total('errors')), ('dump_payload_sanitizations', 0),
             ('total_reads_processed', total('reads')), ('total_writes_processed', total('writes'))] +
            zeros('io_threaded_reads_processed', 'io_threaded_writes_processed',
                  'reply_buffer_shrinks', 'reply_buffer_expands'))


def info_replication():
    return [('role', 'master'), ('connected_slaves', 0), ('master_failover_state', 'no-failover'),
            ('master_replid', run_id()), ('master_replid2', '0' * 40), ('master_repl_offset', 0),
            ('second_repl_offset', -1), ('repl_backlog_active', 0), ('repl_backlog_size', 1048576),
            ('repl_backlog_first_byte_offset', 0), ('repl_backlog_histlen', 0)]


def _proc_times(pid):
    """(user, system, children user, children system) seconds of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return (0, 0, 0, 0)
    tick = os.sysconf('SC_CLK_TCK')
    return tuple(int(x) / tick for x in fields[11:15])


def worker_cpu():
    """{worker slot: (user s, system s)} of every live worker (metrics)."""
    return {w['slot']: _proc_times(w['pid'])[:2] for w in _core.worker_stats()}


def info_cpu():
    times = [_proc_times(p) for p in _pids()]
    user, sys_, cuser, csys = (sum(t[i] for t in times) for i in range(4))
    me = _proc_times(os.getpid())
    return [('used_cpu_sys', f"{sys_:.6f}"), ('used_cpu_user', f"{user:.6f}"),
            ('used_cpu_sys_children', f"{csys:.6f}"), ('used_cpu_user_children', f"{cuser:.6f}"),
            ('used_cpu_sys_main_thread', f"{me[1]:.6f}"), ('used_cpu_user_main_thread', f"{me[0]:.6f}")]


def info_modules():
    return []


def info_commandstats():
    stats = _core.command_stats()
    for name in SUBCOMMANDS:                # a container's own row: only what it rejected
        if name in stats:
            rej = stats.pop(name)[2]
            if rej:
                stats[name] = (0, 0, rej, 0)
    for name, (calls, usec, rej, fail) in zip(STAT_NAMES, _core.substat_totals(len(STAT_NAMES))):
        if calls or rej:
            old = stats.get(name, (0, 0, 0, 0))
            stats[name] = (calls + old[0], usec + old[1], rej + old[2], fail + old[3])
    out = []
    for name, (calls, usec, rej, fail) in sorted(stats.items()):
        per = usec / calls if calls else 0
        out.append((f"cmdstat_{name}",
                    f"calls={calls},usec={usec},usec_per_call={per:.2f},rejected_calls={rej},failed_calls={fail}"))
    return out


def info_errorstats():
    return [(f"errorstat_{p}", f"count={n}") for p, n in sorted(_core.error_stats().items())]


def info_cluster():
    return [('cluster_enabled', 0)]


def info_keyspace():
    return [(f"db{db}", f"keys={n},expires={e},avg_ttl=0") for db, n, e in _core.keyspace_info()]


# name -> (title, lines); in the order Redis prints them
SECTIONS = {
    'server': ('Server', info_server), 'clients': ('Clients', info_clients),
    'memory': ('Memory', info_memory), 'persistence': ('Persistence', info_persistence),
    'stats': ('Stats', info_stats), 'replication': ('Replication', info_replication),
    'cpu': ('CPU', info_cpu), 'modules': ('Modules', info_modules),
    'commandstats': ('Commandstats', info_commandstats),
    'errorstats': ('Errorstats', info_errorstats), 'cluster': ('Cluster', info_cluster),
    'keyspace': ('Keyspace', info_keyspace),
    'latencystats': ('Latencystats', lambda: observe.info_latencystats()),
}
DEFAULT_SECTIONS = {'server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu',
                    'modules', 'errorstats', 'cluster', 'keyspace'}


def info(c, args):
    wanted = {_lower(a) for a in args[1:]}
    names = set()
    if not wanted or 'default' in wanted:
        names |= DEFAULT_SECTIONS
    if 'all' in wanted or 'everything' in wanted:
        names |= set(SECTIONS)
    names |= wanted & set(SECTIONS)
    parts = []
    for name, (title, lines) in SECTIONS.items():
        if name in names:
            body = [f"# {title}"] + [f"{k}:{v}" for k, v in lines()]
            parts.append("\r\n".join(body) + "\r\n")
    return Verbatim("\r\n".join(parts))


HANDLERS = {
    'hello': hello, 'reset': reset, 'client': counted(client), 'info': info,
    'config': counted(config_), 'command': counted(command), 'time': time_, 'shutdown': shutdown,
    'alerts': lambda c, args: alerts_reply(NODE.port),
}

from cachecyt.commands import observe      # noqa: E402  (it builds on the names above)
HANDLERS.update(observe.HANDLERS)
HELP.update(observe.HELP)
_core.set_substat_names(STAT_NAMES)

def _persistence_handlers():
    from cachecyt.commands import persistence
    return persistence.HANDLERS


HANDLERS.update(_persistence_handlers())
