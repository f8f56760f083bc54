"""Tenants (docs/adr/0014-tenants.md): named sets of ACL users, each with its
own hidden database and quotas (memory, keys, ops/s, connections, and its own
maxmemory-policy).

The definitions live in the segment's tenant table (shm/tenantmem.pxi) so that
every worker sees a change at once; this module writes them under the ACL
area lock, answers the TENANT command, decides the commands a tenant client
runs differently (INFO, CLIENT, MEMORY ...), and keeps `<dir>/tenants.json`
so that a restart gives every tenant the same slot (hence the same hidden db
its keys were saved in).

    TENANT CREATE name [USERS u1,u2] [MAXMEMORY 10mb] [MAXKEYS n] [MAXOPS n]
                       [MAXCONNS n] [POLICY allkeys-lru|node]
    TENANT SET name <same options>     TENANT DELETE name
    TENANT LIST                        TENANT INFO [name]
"""
import json
import logging
import os
import re

from cachecyt import _core
from cachecyt import config as cfgmod
from cachecyt._core import OK, CommandError, Verbatim

log = logging.getLogger("cachecyt.tenants")

NAME = re.compile(r'[A-Za-z0-9_.-]{1,63}\Z')
QUOTAS = ('maxmemory', 'maxkeys', 'maxops', 'maxconns')
FILENAME = 'tenants.json'

# How a tenant client runs each command (default: as anyone, in its own db).
DENIED = ('config', 'shutdown', 'slowlog', 'latency', 'monitor', 'hotkeys', 'alerts', 'save',
          'bgsave', 'bgrewriteaof', 'debug', 'swapdb', 'move', 'function', 'tenant', 'migrate',
          'replicaof', 'slaveof', 'sync', 'psync', 'failover', 'cluster', 'module', 'lastsave',
          'wait', 'waitaof')
KINDS = {'select': 'select', 'flushall': 'flushall', 'subscribe': 'chan_all',
         'unsubscribe': 'chan_all', 'psubscribe': 'chan_all', 'punsubscribe': 'chan_all',
         'ssubscribe': 'chan_all', 'sunsubscribe': 'chan_all', 'publish': 'chan_one',
         'spublish': 'chan_one', 'pubsub': 'pubsub', 'info': 'py', 'client': 'py',
         'memory': 'py', 'acl': 'py', 'copy': 'py', 'script': 'py'}
# Commands whose key and memory quotas are checked before they run: every
# `denyoom` one, and SMOVE, which may create its destination key (Redis does not
# flag it denyoom).
GROWS = ('smove',)
ALLOWED_SUBS = {'client': {'id', 'info', 'list', 'setname', 'getname', 'help', 'reply',
                           'no-evict', 'tracking', 'trackinginfo', 'getredir', 'caching'},
                'memory': {'usage', 'help'},
                'acl': {'whoami', 'cat', 'genpass', 'help'},
                'script': {'load', 'exists', 'help'}}

_cache = {'version': None, 'members': {}}
_dir = None                       # where tenants.json lives (None: not kept)


def _text(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b)


def _noperm(name):
    return f"NOPERM this user has no permissions to run the '{name}' command"


# ---- the table ----------------------------------------------------------------------

def slots():
    return _core.tenant_slots()[0]


def all_tenants():
    """{name: (slot, definition dict)} of the defined tenants."""
    out = {}
    for t in range(slots()):
        d = _core.tenant_get(t)
        if d is not None:
            out[d['name']] = (t, d)
    return out


def member_of(user: bytes):
    """(slot, channel prefix) of the tenant whose members include user, or (-1, None)."""
    v = _core.tenant_version()
    if _cache['version'] != v:
        members = {}
        for name, (t, d) in all_tenants().items():
            for u in d['users']:
                members[u.encode()] = (t, b"\x00" + name.encode() + b"\x00")
        _cache['members'] = members
        _cache['version'] = v
    return _cache['members'].get(user, (-1, None))


def _policy_index(p):
    if p is None or p == 'node':
        return None
    p = str(p).lower()
    if p not in cfgmod.POLICIES:
        raise CommandError(f"ERR unknown maxmemory-policy '{p}'")
    return cfgmod.POLICIES.index(p)


def _policy_name(i):
    return 'node' if i is None else cfgmod.POLICIES[i]


def _parse_options(words):
    """Option words of TENANT CREATE/SET (or a YAML mapping's items) -> dict."""
    opts = {}
    items = list(words)
    if len(items) % 2:
        raise CommandError("ERR syntax error")
    for k, v in zip(items[::2], items[1::2]):
        k = _text(k).lower()
        if k == 'users':
            if isinstance(v, (list, tuple)):
                users = [_text(u) for u in v]
            else:
                users = [u for u in _text(v).replace(',', ' ').split() if u]
            if 'default' in users:
                raise CommandError("ERR the default user cannot be a tenant member")
            opts['users'] = users
        elif k in QUOTAS:
            try:
                opts[k] = cfgmod.parse_memory(_text(v)) if k == 'maxmemory' else int(_text(v))
            except (ValueError, cfgmod.ConfigError):
                raise CommandError(f"ERR invalid value for '{k}'") from None
            if opts[k] < 0:
                raise CommandError(f"ERR invalid value for '{k}'")
        elif k == 'policy' or k == 'maxmemory-policy':
            opts['policy'] = _policy_index(_text(v))
        else:
            raise CommandError(f"ERR unknown tenant option '{k}'")
    return opts


def _write(t, name, old, opts):
    d = dict(old or {'users': [], 'maxmemory': 0, 'maxkeys': 0, 'maxops': 0, 'maxconns': 0,
                     'policy': None})
    d.update(opts)
    _core.tenant_define(t, name, [u.encode() for u in d['users']], d['maxmemory'], d['maxkeys'],
                        d['maxops'], d['maxconns'], d['policy'])


def define(name, opts, create=None):
    """Create (create=True), change (False) or either (None) a tenant. Other
    tenants' members cannot join it. Takes the ACL area lock."""
    if not NAME.match(name):
        raise CommandError("ERR invalid tenant name (letters, digits, '_', '.', '-'; at most 63)")
    _core.acl_lock()
    try:
        cur = all_tenants()
        if name in cur and create is True:
            raise CommandError(f"ERR tenant '{name}' already exists")
        if name not in cur and create is False:
            raise CommandError(f"ERR no such tenant '{name}'")
        for other, (_t, d) in cur.items():
            clash = set(d['users']) & set(opts.get('users', ()))
            if other != name and clash:
                raise CommandError(f"ERR user '{sorted(clash)[0]}' is a member of tenant '{other}'")
        if name in cur:
            t, old = cur[name]
        else:
            used = {t for t, _d in cur.values()}
            free = [t for t in range(slots()) if t not in used]
            if not free:
                raise CommandError("ERR no free tenant slot (max-tenants)")
            t, old = free[0], None
        _write(t, name, old, opts)
    finally:
        _core.acl_unlock()
    changed()


def delete(name):
    _core.acl_lock()
    try:
        cur = all_tenants()
        if name not in cur:
            raise CommandError(f"ERR no such tenant '{name}'")
        _core.tenant_release(cur[name][0])
    finally:
        _core.acl_unlock()
    changed()


def changed():
    """After a change: save the table, recheck this worker's clients, signal the others."""
    save()
    recheck()
    from cachecyt.security import acl
    acl.notify_workers()


def recheck():
    """Close this worker's connections whose tenant is no longer their user's."""
    from cachecyt.commands.server import NODE
    for cl in list(NODE.clients.values()):
        user = cl.user if isinstance(cl.user, bytes) else b'default'
        t, _p = member_of(user)
        if t != cl.tenant:
            _core.tenant_unbind_client(cl)
            cl.close_now()


# ---- persistence of the slot assignment ---------------------------------------------

def save():
    if not _dir:
        return
    rows = []
    for name, (t, d) in sorted(all_tenants().items(), key=lambda kv: kv[1][0]):
        rows.append({'slot': t, 'name': name, 'users': d['users'],
                     **{q: d[q] for q in QUOTAS}, 'policy': _policy_name(d['policy'])})
    path = os.path.join(_dir, FILENAME)
    try:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        log.error("cannot save %s: %s", path, e)


def init_segment(cfg):
    """Supervisor, after creating the segment: tenants from `<dir>/tenants.json`
    (slots kept), then those of the configuration (definitions updated)."""
    global _dir
    _dir = cfg['dir']
    n = slots()
    kept = []
    path = os.path.join(_dir, FILENAME)
    if os.path.exists(path):
        try:
            with open(path) as f:
                kept = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"cannot load {path}: {e}") from None
    _core.acl_lock()
    try:
        for row in kept:
            if 0 <= row['slot'] < n:
                opts = _parse_options(_pairs(row))
                _write(row['slot'], row['name'], None, opts)
    finally:
        _core.acl_unlock()
    for row in cfg.get('tenants') or []:
        try:
            define(row['name'], _parse_options(_pairs(row)))
        except CommandError as e:
            raise SystemExit(f"tenant '{row.get('name')}': {str(e)[4:]}") from None


def _pairs(row):
    out = []
    for k, v in row.items():
        if k not in ('name', 'slot'):
            out += [k, v]
    return out


def parse_config(value):
    """The `tenants:` option: a list of {name, users, maxmemory, ...} mappings."""
    if not isinstance(value, list):
        raise cfgmod.ConfigError("'tenants' must be a list of tenants")
    for row in value:
        if not isinstance(row, dict) or not NAME.match(str(row.get('name', ''))):
            raise cfgmod.ConfigError("each tenant needs a 'name' (letters, digits, '_', '.', '-')")
        try:
            _parse_options(_pairs(row))
        except CommandError as e:
            raise cfgmod.ConfigError(str(e)[4:]) from None
    return value


# ---- the TENANT command ---------------------------------------------------------------

HELP = [
    "TENANT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <name> [USERS <u1,u2>] [MAXMEMORY <bytes>] [MAXKEYS <n>] [MAXOPS <n>] [MAXCONNS <n>] [POLICY <p>]",
    "    Define a tenant: its member users and quotas (0 = none; POLICY node = the node's).",
    "SET <name> <options as CREATE>",
    "    Change a tenant's members or quotas.",
    "DELETE <name>",
    "    Delete a tenant and every key of its database; close its connections.",
    "LIST",
    "    Names of the tenants.",
    "INFO [<name>]",
    "    Definition and figures of one tenant (or of every tenant).",
    "HELP",
    "    Print this help.",
]


def figures(d):
    """A tenant's definition and counters as (field, value) pairs, INFO's order."""
    return [('users', ','.join(d['users'])), ('maxmemory', d['maxmemory']),
            ('maxkeys', d['maxkeys']), ('maxops', d['maxops']), ('maxconns', d['maxconns']),
            ('maxmemory_policy', _policy_name(d['policy'])), ('used_memory', d['used']),
            ('keys', d['keys']), ('expires', d['expires']), ('connected_clients', d['conns']),
            ('ops', d['ops']), ('keyspace_hits', d['hits']), ('keyspace_misses', d['misses']),
            ('evicted_keys', d['evicted']), ('rejected_memory', d['rej_memory']),
            ('rejected_keys', d['rej_keys']), ('rejected_ops', d['rej_ops']),
            ('rejected_connections', d['rej_conns'])]


def tenant(c, args):
    if len(args) < 2:
        raise CommandError("ERR wrong number of arguments for 'tenant' command")
    sub = _text(args[1]).lower()
    if sub == 'help':
        return [_core.Status(line) for line in HELP]
    if sub in ('create', 'set'):
        if len(args) < 3:
            raise CommandError(f"ERR wrong number of arguments for 'tenant|{sub}' command")
        define(_text(args[2]), _parse_options(args[3:]), create=sub == 'create')
        return OK
    if sub == 'delete':
        if len(args) != 3:
            raise CommandError("ERR wrong number of arguments for 'tenant|delete' command")
        delete(_text(args[2]))
        return OK
    if sub == 'list':
        return [name.encode() for name in sorted(all_tenants())]
    if sub == 'info':
        cur = all_tenants()
        if len(args) > 3:
            raise CommandError("ERR wrong number of arguments for 'tenant|info' command")
        if len(args) == 3:
            name = _text(args[2])
            if name not in cur:
                raise CommandError(f"ERR no such tenant '{name}'")
            return _flat(figures(cur[name][1]))
        return [[name.encode(), _flat(figures(d))] for name, (_t, d) in sorted(cur.items())]
    raise CommandError(f"ERR unknown subcommand '{_text(args[1])[:128]}'. Try TENANT HELP.")


def _flat(pairs):
    out = []
    for k, v in pairs:
        out += [k.encode(), v if isinstance(v, int) else str(v).encode()]
    return out


# ---- INFO ------------------------------------------------------------------------

def info_tenants():
    """The admins' `# Tenants` section: one line per tenant."""
    rows = []
    for name, (_t, d) in sorted(all_tenants().items()):
        rows.append((f"tenant_{name}", ','.join(f"{k}={v}" for k, v in figures(d) if k != 'users')))
    return rows


def tenant_info(c, args):
    """A tenant client's INFO: the Server section, its tenant's figures, its keyspace."""
    from cachecyt.commands import server
    d = _core.tenant_get(c.tenant)
    wanted = {_text(a).lower() for a in args[1:]}
    every = not wanted or wanted & {'default', 'all', 'everything'}
    parts = []
    if every or 'server' in wanted:
        parts.append(_section('Server', server.info_server()))
    if every or 'tenant' in wanted or 'memory' in wanted or 'stats' in wanted:
        parts.append(_section('Tenant', [('tenant', d['name'])] +
                              [(k, v) for k, v in figures(d) if k != 'users']))
    if every or 'keyspace' in wanted:
        ks = [('db0', f"keys={d['keys']},expires={d['expires']},avg_ttl=0")] if d['keys'] else []
        parts.append(_section('Keyspace', ks))
    return Verbatim("\r\n".join(parts))


def _section(title, pairs):
    return "\r\n".join([f"# {title}"] + [f"{k}:{v}" for k, v in pairs]) + "\r\n"


# ---- commands a tenant client runs differently ------------------------------------------

_DB_FIELD = re.compile(r' db=\d+ ')


def command(c, idx):
    """shm/tenants.pxi's TNC_PY commands: None = run it; str = error; else the reply."""
    from cachecyt.commands import server
    args = c.args()
    name = _text(args[0]).lower()
    if name == 'info':
        return _encode(c, tenant_info(c, args))
    if name == 'copy':
        if any(_text(a).lower() == 'db' for a in args[3:]):
            return "ERR DB index is out of range"
        return None
    if len(args) < 2:
        return None
    sub = _text(args[1]).lower()
    if sub not in ALLOWED_SUBS.get(name, ()):
        if name in SUB_NAMES and sub in SUB_NAMES[name]:
            return _noperm(f"{name}|{sub}")
        return None                      # unknown subcommand: the command's own error
    if name == 'client' and sub in ('list', 'info'):
        text = server.client(c, args)
        members = set(_core.tenant_get(c.tenant)['users'])
        lines = [ln for ln in text.splitlines(True)
                 if sub == 'info' or _user_of(ln) in members]
        return _encode(c, Verbatim(_DB_FIELD.sub(' db=0 ', ''.join(lines))))
    return None


def _user_of(line):
    m = re.search(r' user=(\S*) ', line)
    return m.group(1) if m else None


def _encode(c, value):
    return _core.encode_reply(c, value)


SUB_NAMES = {'client': {'kill', 'pause', 'unpause', 'unblock', 'no-touch'},
             'memory': {'doctor', 'stats', 'malloc-stats', 'purge'},
             'acl': {'setuser', 'getuser', 'deluser', 'list', 'users', 'log', 'save', 'load',
                     'dryrun'},
             'script': {'flush', 'kill', 'debug'}}


# ---- install ------------------------------------------------------------------------

def install():
    """Tell the core how tenant clients run each command."""
    from cachecyt.commands import server, table
    names = _core.command_names()
    kinds = {}
    grows = []
    flags = {e[0]: set(e[2].split()) for e in table.COMMANDS}
    for i, name in enumerate(names):
        name = _text(name)
        if 'denyoom' in flags.get(name, ()) or name in GROWS:
            grows.append(i)
        if name in KINDS:
            kinds[i] = _core.TNC[KINDS[name]]
        elif name in DENIED or 'admin' in flags.get(name, ()):
            kinds[i] = _core.TNC['deny']
    _core.tenant_set_commands(kinds, command, member_of, grows)
    server.DOCS.setdefault('tenant', DOCS)
    if 'tenants' not in server.SECTIONS:
        server.SECTIONS['tenants'] = ('Tenants', info_tenants)


def start_worker(cfg):
    global _dir
    _dir = cfg['dir']


HANDLERS = {'tenant': tenant}
DOCS = ('Define, change, delete and list tenants', '1.0.0', 'O(N) where N is the number of tenants')
