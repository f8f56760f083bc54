"""Server and connection commands written in Python: off the hot path, they
answer from the segment header, the per-worker counters and this worker's own
state. A handler takes (client, args) and returns a value for encode_value, or
raises CommandError."""
import os
import resource
import sys
import time

import cachecyt
from cachecyt import _core, config as cfgmod
from cachecyt._core import OK, CommandError, Status, Verbatim
from cachecyt.commands import table


class Node:
    """What a worker knows of itself; set by workers/main.py (or tests)."""

    def __init__(self, cfg=None, worker=0, nworkers=1, port=0):
        self.config = cfg if cfg is not None else cfgmod.Config()
        self.worker = worker
        self.nworkers = nworkers
        self.port = port
        self.clients = {}             # id -> Client of this worker
        self.started = time.time()
        self.shutdown_hook = None     # called by SHUTDOWN


NODE = Node()


def _lower(b: bytes) -> str:
    return b.decode('utf-8', 'replace').lower()


def unknown_subcommand(args):
    return CommandError(f"ERR unknown subcommand '{args[1].decode('utf-8', 'replace')[:128]}'. "
                        f"Try {args[0].decode().upper()} HELP.")


def subcommand_arity(args, n):
    return CommandError(f"ERR wrong number of arguments for '{_lower(args[0])}|{_lower(args[1])}' command")


# ---- connection ------------------------------------------------------------------

def hello(c, args):
    if len(args) > 1:
        try:
            ver = int(args[1])
        except ValueError:
            raise CommandError("ERR Protocol version is not an integer or out of range")
        if ver not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
        i = 2
        name = None
        while i < len(args):
            opt = _lower(args[i])
            if opt == 'auth' and i + 2 < len(args):
                i += 3              # the default user has no password
            elif opt == 'setname' and i + 1 < len(args):
                name = check_client_name(args[i + 1])
                i += 2
            else:
                raise CommandError(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
        c.resp = ver
        if name is not None:
            c.name = name or None
    return {'server': 'redis', 'version': cachecyt.REDIS_VERSION, 'proto': c.resp,
            'id': c.id, 'mode': 'standalone', 'role': 'master', 'modules': []}


def reset(c, args):
    c.db = 0
    c.resp = 2
    c.name = None
    c.no_evict = False
    return Status('RESET')


def check_client_name(name: bytes) -> bytes:
    if any(ch <= 32 or ch > 126 for ch in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
    return name


def client_info_line(c) -> str:
    now = int(time.time() * 1000)
    name = (c.name or b'').decode('utf-8', 'replace')
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={name} "
            f"age={(now - c.created_ms) // 1000} idle={(now - c.last_ms) // 1000} flags=N "
            f"db={c.db} sub=0 psub=0 ssub=0 multi=-1 qbuf={c.query_buffer} qbuf-free=0 "
            f"argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 "
            f"events=r cmd={c.last_cmd} user=default redir=-1 resp={c.resp}\n")


def client(c, args):
    sub = _lower(args[1])
    n = len(args)
    if sub == 'id' and n == 2:
        return c.id
    if sub == 'setname' and n == 3:
        name = check_client_name(args[2])
        c.name = name or None
        return OK
    if sub == 'getname' and n == 2:
        return c.name
    if sub == 'info' and n == 2:
        return Verbatim(client_info_line(c))
    if sub == 'list':
        return Verbatim(''.join(client_info_line(x) for x in _client_list(args[2:])))
    if sub == 'kill' and n >= 3:
        return _client_kill(c, args[2:])
    if sub == 'no-evict' and n == 3:
        mode = _lower(args[2])
        if mode not in ('on', 'off'):
            raise CommandError("ERR syntax error")
        c.no_evict = mode == 'on'
        return OK
    if sub in ('id', 'setname', 'getname', 'info', 'kill', 'no-evict'):
        raise subcommand_arity(args, n)
    raise unknown_subcommand(args)


def _client_list(opts):
    clients = list(NODE.clients.values())
    if not opts:
        return clients
    if _lower(opts[0]) == 'id' and len(opts) > 1:
        try:
            ids = {int(x) for x in opts[1:]}
        except ValueError:
            raise CommandError("ERR Invalid client ID")
        return [x for x in clients if x.id in ids]
    if _lower(opts[0]) == 'type' and len(opts) == 2:
        kind = _lower(opts[1])
        if kind not in ('normal', 'master', 'replica', 'slave', 'pubsub'):
            raise CommandError(f"ERR Unknown client type '{opts[1].decode()}'")
        return clients if kind == 'normal' else []
    raise CommandError("ERR syntax error")


def _client_kill(c, opts):
    if len(opts) == 1:                        # old form: CLIENT KILL addr:port
        victims = [x for x in NODE.clients.values() if x.addr == opts[0].decode()]
        if not victims:
            raise CommandError("ERR No such client")
        for x in victims:
            _kill(c, x)
        return OK
    if len(opts) % 2:
        raise CommandError("ERR syntax error")
    victims = list(NODE.clients.values())
    skipme = True
    for i in range(0, len(opts), 2):
        key, val = _lower(opts[i]), opts[i + 1].decode('utf-8', 'replace')
        if key == 'id':
            try:
                cid = int(val)
            except ValueError:
                raise CommandError("ERR client-id should be greater than 0")
            victims = [x for x in victims if x.id == cid]
        elif key == 'addr':
            victims = [x for x in victims if x.addr == val]
        elif key == 'laddr':
            victims = [x for x in victims if x.laddr == val]
        elif key == 'type':
            if val.lower() not in ('normal', 'master', 'replica', 'slave', 'pubsub'):
                raise CommandError(f"ERR Unknown client type '{val}'")
            if val.lower() != 'normal':
                victims = []
        elif key == 'user':
            victims = [x for x in victims if val == 'default']
        elif key == 'skipme':
            if val.lower() not in ('yes', 'no'):
                raise CommandError("ERR syntax error")
            skipme = val.lower() == 'yes'
        else:
            raise CommandError("ERR syntax error")
    if skipme:
        victims = [x for x in victims if x is not c]
    for x in victims:
        _kill(c, x)
    return len(victims)


def _kill(me, victim):
    if victim is me:
        me.close_after_reply()
    else:
        victim.close_now()


# ---- server ------------------------------------------------------------------------

def time_(c, args):
    t = time.time()
    sec = int(t)
    return [str(sec).encode(), str(int((t - sec) * 1_000_000)).encode()]


def shutdown(c, args):
    flags = {_lower(a) for a in args[1:]}
    if not flags <= {'nosave', 'save', 'now', 'force', 'abort'} or {'nosave', 'save'} <= flags:
        raise CommandError("ERR syntax error")
    if 'abort' in flags:
        raise CommandError("ERR No shutdown in progress.")
    if NODE.shutdown_hook is None:
        raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
    NODE.shutdown_hook()
    c.close_after_reply()
    return _core.NO_REPLY


def config_(c, args):
    sub = _lower(args[1])
    if sub == 'get':
        if len(args) < 3:
            raise subcommand_arity(args, len(args))
        out = {}
        for pattern in args[2:]:
            for name, value in NODE.config.matching(pattern.decode('utf-8', 'replace')):
                out[name] = current_value(name, value)
        return out
    if sub == 'set':
        if len(args) < 4 or len(args) % 2:
            raise subcommand_arity(args, len(args))
        return config_set(args[2:])
    if sub == 'resetstat' and len(args) == 2:
        _core.reset_worker_stats()
        _core.reset_command_stats()
        return OK
    if sub in ('resetstat',):
        raise subcommand_arity(args, len(args))
    raise unknown_subcommand(args)


def current_value(name, formatted):
    opt = cfgmod.OPTIONS[name]
    if opt.shared:
        v = _core.get_setting(opt.shared)
        if name == 'maxmemory-policy':
            return cfgmod.POLICIES[v]
        return str(v)
    return formatted


def config_set(pairs):
    parsed = {}
    for i in range(0, len(pairs), 2):
        name = pairs[i].decode('utf-8', 'replace').lower()
        opt = cfgmod.OPTIONS.get(name)
        if opt is None:
            raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
        if name in parsed:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter")
        if not opt.settable:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")
        try:
            parsed[name] = opt.parse(pairs[i + 1].decode('utf-8', 'replace'))
        except cfgmod.ConfigError as e:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {e}")
    for name, value in parsed.items():
        opt = cfgmod.OPTIONS[name]
        NODE.config[name] = value
        if opt.shared:
            _core.set_setting(opt.shared, cfgmod.header_value(opt, value))
    return OK


# ---- COMMAND -------------------------------------------------------------------------

def _command_info(entry):
    name, arity, flags, first, last, step, group = entry
    return [name, arity, [Status(f) for f in flags.split()], first, last, step,
            [Status('@' + group)], [], [], []]


def command(c, args):
    entries = {e[0]: e for e in table.COMMANDS}
    if len(args) == 1:
        return [_command_info(e) for e in table.COMMANDS]
    sub = _lower(args[1])
    if sub == 'count' and len(args) == 2:
        return len(table.COMMANDS)
    if sub == 'list':
        return [e[0] for e in table.COMMANDS]
    if sub == 'info':
        names = [_lower(a) for a in args[2:]] or list(entries)
        return [_command_info(entries[n]) if n in entries else None for n in names]
    if sub == 'docs':
        names = [_lower(a) for a in args[2:]] or list(entries)
        return {n: {'summary': '', 'since': '1.0.0', 'group': entries[n][6]}
                for n in names if n in entries}
    if sub == 'count':
        raise subcommand_arity(args, len(args))
    raise unknown_subcommand(args)


# ---- INFO ------------------------------------------------------------------------------

def _human(n: int) -> str:
    for unit, size in (('G', 1024 ** 3), ('M', 1024 ** 2), ('K', 1024)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def info_server():
    hdr = _core.get_setting
    uptime = int(time.time() - hdr('start_ms') / 1000)
    return [('redis_version', cachecyt.REDIS_VERSION), ('cachecyt_version', cachecyt.__version__),
            ('redis_mode', 'standalone'), ('os', f"{os.uname().sysname} {os.uname().release} {os.uname().machine}"),
            ('arch_bits', 64), ('multiplexing_api', 'epoll'), ('process_id', os.getpid()),
            ('tcp_port', NODE.port), ('uptime_in_seconds', uptime), ('uptime_in_days', uptime // 86400),
            ('hz', NODE.config['hz']), ('workers', NODE.nworkers), ('executable', sys.executable)]


def info_clients():
    stats = _core.worker_stats()
    return [('connected_clients', sum(w['clients'] for w in stats)),
            ('maxclients', _core.get_setting('maxclients')), ('blocked_clients', 0)]


def info_memory():
    used = _core.get_setting('used_memory')
    peak = _core.get_setting('peak_memory')
    maxmem = _core.get_setting('maxmemory')
    arena = _core.get_setting('pages_used') * 65536
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return [('used_memory', used), ('used_memory_human', _human(used)), ('used_memory_rss', rss),
            ('used_memory_peak', peak), ('used_memory_peak_human', _human(peak)),
            ('used_memory_arena', arena), ('maxmemory', maxmem), ('maxmemory_human', _human(maxmem)),
            ('maxmemory_policy', cfgmod.POLICIES[_core.get_setting('policy')]),
            ('mem_fragmentation_ratio', f"{arena / used:.2f}" if used else '1.00'),
            ('segment_size', _core.get_setting('seg_size'))]


def info_stats():
    stats = _core.worker_stats()
    total = lambda k: sum(w[k] for w in stats)
    return [('total_connections_received', total('connections')),
            ('total_commands_processed', total('commands')),
            ('rejected_connections', total('rejected_connections')),
            ('total_net_input_bytes', total('net_in')), ('total_net_output_bytes', total('net_out')),
            ('expired_keys', total('expired')), ('evicted_keys', total('evicted')),
            ('keyspace_hits', total('hits')), ('keyspace_misses', total('misses')),
            ('total_error_replies', total('errors'))]


def info_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return [('used_cpu_sys', f"{ru.ru_stime:.6f}"), ('used_cpu_user', f"{ru.ru_utime:.6f}")]


def info_commandstats():
    out = []
    for name, (calls, usec, rej, fail) in sorted(_core.command_stats().items()):
        per = usec / calls if calls else 0
        out.append((f"cmdstat_{name}",
                    f"calls={calls},usec={usec},usec_per_call={per:.2f},rejected_calls={rej},failed_calls={fail}"))
    return out


def info_keyspace():
    return [(f"db{db}", f"keys={n},expires={e},avg_ttl=0") for db, n, e in _core.keyspace_info()]


def info_replication():
    return [('role', 'master'), ('connected_slaves', 0)]


SECTIONS = {'server': info_server, 'clients': info_clients, 'memory': info_memory,
            'stats': info_stats, 'replication': info_replication, 'cpu': info_cpu,
            'commandstats': info_commandstats, 'keyspace': info_keyspace}
DEFAULT_SECTIONS = ['server', 'clients', 'memory', 'stats', 'replication', 'cpu', 'keyspace']


def info(c, args):
    wanted = [_lower(a) for a in args[1:]]
    if not wanted or 'default' in wanted:
        names = DEFAULT_SECTIONS
    elif 'all' in wanted or 'everything' in wanted:
        names = list(SECTIONS)
    else:
        names = [n for n in SECTIONS if n in wanted]
    parts = []
    for name in names:
        lines = [f"# {name.capitalize() if name != 'commandstats' else 'Commandstats'}"]
        lines += [f"{k}:{v}" for k, v in SECTIONS[name]()]
        parts.append("\r\n".join(lines) + "\r\n")
    return Verbatim("\r\n".join(parts))


HANDLERS = {
    'hello': hello, 'reset': reset, 'client': client, 'info': info, 'config': config_,
    'command': command, 'time': time_, 'shutdown': shutdown,
}
