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
import sys
import time

import cachecyt
from cachecyt import _core, config as cfgmod
from cachecyt._core import OK, CommandError, Status, Verbatim
from cachecyt.commands import table

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
        self.wake_fds = list(wake_fds)  # eventfd of every worker slot, by slot
        self.ops_samples = collections.deque(maxlen=16)   # (monotonic s, commands)
        return self

    # ---- other workers ----------------------------------------------------------

    def wake(self, worker):
        if worker < len(self.wake_fds):
            os.eventfd_write(self.wake_fds[worker], 1)

    def signal(self, worker, kind, arg=0):
        """Queue a message for another worker and wake it; False if its ring is full."""
        if not _core.signal_worker(worker, kind, arg):
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

    def sample_ops(self):
        """One sample of the node's command counter (instantaneous_ops_per_sec)."""
        self.ops_samples.append((time.monotonic(), _core.total_commands()))


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
    'client': {
        'help': (2, 'loading stale'), 'id': (2, 'noscript loading stale'),
        'info': (2, 'noscript loading stale'), 'list': (-2, 'admin noscript loading stale'),
        'kill': (-3, 'admin noscript loading stale'), 'getname': (2, 'noscript loading stale'),
        'setname': (3, 'noscript loading stale'), 'no-evict': (3, 'admin noscript loading stale'),
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
        "SETNAME <name>", "    Name this connection (no spaces); an empty name clears it.",
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
# e.g. plain COMMAND, under its own name): stable indexes for substat_add.
STAT_NAMES = [f"{c}|{s}" for c, subs in SUBCOMMANDS.items() for s in subs] + ['command']
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
                _core.substat_add(k, (time.perf_counter_ns() - t0) // 1000, False, True)
            raise
        if k is not None:
            _core.substat_add(k, (time.perf_counter_ns() - t0) // 1000, False, False)
        return value
    return run


def help_reply(container):
    return [Status(line) for line in HELP[container]]


# ---- connection ------------------------------------------------------------------

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
            user = args[i + 1]
            i += 3
        elif opt == 'setname' and more:
            name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{_text(args[i])}'")
    if user is not None and user != b'default':
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
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
                 'cmd', 'resp', 'no_evict', 'fd', 'qbuf', 'local')

    @classmethod
    def from_table(cls, t):
        r = cls()
        (r.id, r.worker, r.addr, r.laddr, r.name, r.db, r.created_ms, r.last_ms,
         r.cmd, r.resp, r.no_evict, r.fd) = t
        r.qbuf = 0
        r.local = NODE.clients.get(r.id) if r.worker == NODE.worker else None
        if r.local is not None:
            r.name = r.local.name or b''
            r.db = r.local.db
            r.resp = r.local.resp
            r.no_evict = r.local.no_evict
            r.qbuf = r.local.query_buffer
        return r

    def line(self, now_ms):
        return (f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
                f"name={_text(self.name or b'')} age={(now_ms - self.created_ms) // 1000} "
                f"idle={max(0, now_ms - self.last_ms) // 1000} flags={'e' if self.no_evict else 'N'} "
                f"db={self.db} sub=0 psub=0 ssub=0 multi=-1 qbuf={self.qbuf} qbuf-free=0 "
                f"argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 "
                f"events=r cmd={self.cmd} user=default redir=-1 resp={self.resp}\n")


def all_clients():
    """Every client of every worker, oldest first."""
    return sorted((Row.from_table(t) for t in _core.clients_table()), key=lambda r: r.id)


def own_row(c):
    for r in all_clients():
        if r.id == c.id:
            return r
    t = (c.id, NODE.worker, c.addr, c.laddr, c.name, c.db, c.created_ms, c.last_ms,
         'NULL', c.resp, c.no_evict, -1)
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
    mode = _lower(args[2])                      # no-evict
    if mode not in ('on', 'off'):
        raise syntax_error()
    c.no_evict = mode == 'on'
    _core.client_slot_sync(c)
    return OK


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
            if val != b'default':
                raise CommandError(f"ERR No such user '{_text(val)}'")
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
    _core.reset_command_stats()
    _core.reset_error_stats()
    NODE.ops_samples.clear()
    return OK


def config_get(patterns):
    out = {}
    for pattern in patterns:
        for name, value in NODE.config.matching(_text(pattern)):
            out[name] = current_value(name, value)
    return out


def current_value(name, formatted):
    opt = cfgmod.OPTIONS[name]
    if opt.shared:
        return cfgmod.fmt_value(cfgmod.from_header(opt, _core.get_setting(opt.shared)))
    return formatted


def _set_failed(name, why):
    return CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")


def config_set(pairs):
    if len(pairs) % 2:
        raise syntax_error()
    chosen = []
    for i in range(0, len(pairs), 2):
        given = _text(pairs[i])
        opt = cfgmod.OPTIONS.get(given.lower())
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
        if opt.name == 'maxclients' and parsed[-1][1] > _core.CLIENT_SLOTS:
            raise _set_failed(opt.name, "The operating system is not able to handle the specified "
                              f"number of clients, try with {_core.CLIENT_SLOTS}")
    for opt, value in parsed:
        _core.set_setting(opt.shared, cfgmod.header_value(opt, value))
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


def _sub_info(container, sub, group):
    arity, flags = SUBCOMMANDS[container][sub]
    return [f"{container}|{sub}", arity, [Status(f) for f in flags.split()], 0, 0, 0,
            acl_categories(flags.split(), group), [], [], []]


def command_info(entry):
    name, arity, flags, first, last, step, group = entry
    flags = flags.split()
    subs = []
    if name in SUBCOMMANDS:
        flags, first, last, step = [], 0, 0, 0
        subs = [_sub_info(name, s, group) for s in SUBCOMMANDS[name]]
        cats = [Status('@slow')]
    else:
        cats = acl_categories(flags, group)
    return [name, arity, [Status(f) for f in flags], first, last, step, cats, [],
            key_specs(flags, first, last, step), subs]


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
    if not first:
        raise CommandError("ERR The command has no key arguments")
    end = last if last >= 0 else len(argv) + last
    return [argv[i] for i in range(first, min(end, len(argv) - 1) + 1, step)]


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
    return [('redis_version', cachecyt.REDIS_VERSION), ('cachecyt_version', cachecyt.__version__),
            ('redis_mode', 'standalone'), ('os', f"{u.sysname} {u.release} {u.machine}"),
            ('arch_bits', 64), ('multiplexing_api', 'epoll'),
            ('process_id', _core.get_setting('owner_pid')), ('process_supervised', 'no'),
            ('run_id', run_id()), ('tcp_port', NODE.port),
            ('server_time_usec', time.time_ns() // 1000),
            ('uptime_in_seconds', uptime), ('uptime_in_days', uptime // 86400),
            ('hz', _core.get_setting('hz')), ('configured_hz', _core.get_setting('hz')),
            ('workers', NODE.nworkers), ('worker', NODE.worker), ('executable', sys.executable),
            ('config_file', '')]


def info_clients():
    return [('connected_clients', _core.get_setting('connected_clients')),
            ('cluster_connections', 0), ('maxclients', _core.get_setting('maxclients')),
            ('blocked_clients', _core.blocked_clients()), ('tracking_clients', 0), ('clients_in_timeout_table', 0)]


def _rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def _pids():
    """The supervisor and every live worker."""
    return [_core.get_setting('owner_pid')] + [w['pid'] for w in _core.worker_stats()]


def info_memory():
    used = _core.get_setting('used_memory')
    peak = _core.get_setting('peak_memory')
    maxmem = _core.get_setting('maxmemory')
    arena = _core.get_setting('pages_used') * 65536
    rss = sum(_rss_bytes(p) for p in _pids())
    return [('used_memory', used), ('used_memory_human', _human(used)), ('used_memory_rss', rss),
            ('used_memory_rss_human', _human(rss)),
            ('used_memory_peak', peak), ('used_memory_peak_human', _human(peak)),
            ('used_memory_arena', arena), ('maxmemory', maxmem), ('maxmemory_human', _human(maxmem)),
            ('maxmemory_policy', cfgmod.POLICIES[_core.get_setting('policy')]),
            ('mem_fragmentation_ratio', f"{arena / used:.2f}" if used else '1.00'),
            ('segment_size', _core.get_setting('seg_size'))]


def info_persistence():
    # no persistence yet: nothing is loaded or saved
    return [('loading', 0), ('async_loading', 0), ('rdb_bgsave_in_progress', 0),
            ('aof_enabled', 0), ('aof_rewrite_in_progress', 0)]


def ops_per_sec():
    if len(NODE.ops_samples) < 2:
        return 0
    (t0, n0), (t1, n1) = NODE.ops_samples[0], NODE.ops_samples[-1]
    return int((n1 - n0) / (t1 - t0)) if t1 > t0 else 0


def info_stats():
    stats = _core.worker_stats()

    def total(k):
        return sum(w[k] for w in stats)
    return [('total_connections_received', total('connections')),
            ('total_commands_processed', total('commands')),
            ('instantaneous_ops_per_sec', ops_per_sec()),
            ('total_net_input_bytes', total('net_in')), ('total_net_output_bytes', total('net_out')),
            ('rejected_connections', total('rejected_connections')),
            ('expired_keys', total('expired')), ('evicted_keys', total('evicted')),
            ('keyspace_hits', total('hits')), ('keyspace_misses', total('misses')),
            *_core.pubsub_info(),
            ('total_error_replies', total('errors'))]


def info_replication():
    return [('role', 'master'), ('connected_slaves', 0)]


def _proc_times(pid):
    """(user, system, children user, children system) seconds of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return (0, 0, 0, 0)
    tick = os.sysconf('SC_CLK_TCK')
    return tuple(int(x) / tick for x in fields[11:15])


def info_cpu():
    times = [_proc_times(p) for p in _pids()]
    user, sys_, cuser, csys = (sum(t[i] for t in times) for i in range(4))
    return [('used_cpu_sys', f"{sys_:.6f}"), ('used_cpu_user', f"{user:.6f}"),
            ('used_cpu_sys_children', f"{csys:.6f}"), ('used_cpu_user_children', f"{cuser:.6f}")]


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
}
