"""The users of the node at run time: kept as ACL LIST text in the segment's
security area (shm/acl.pxi), compiled by each worker into users.User objects,
and checked before each command of a client not known to be unrestricted.

A client carries the name of its user (Client.user) and whether it has
authenticated. Client.execute calls check() (through shm/acl.pxi's hook) only
when Client.acl_ok differs from the segment's ACL version: for the default user
with every permission, acl_ok is set to the version after one check, so its
commands skip all of this until the users change.

A change (ACL SETUSER, DELUSER, LOAD, CONFIG SET requirepass) runs under the
area lock: read the current text, change the users, write the text back, bump
the version; then the other workers are signalled (SIG_ACL) so that they
recompile and close the connections of deleted users without waiting for the
next command. Deny decisions are recorded in the ACL LOG (JSON in the area).
"""
import json
import logging
import time

from cachecyt import _core
from cachecyt.commands import table
from cachecyt.security import catalog, users
from cachecyt.security.users import READ, WRITE

log = logging.getLogger("cachecyt.worker")

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
LOG_GROUP_MS = 60000            # denials this close together with the same cause share an entry


class State:
    """What this worker compiled from the segment."""
    version = None
    users = {}                   # name -> User
    command_names = []           # command index -> name (the C table's order)
    flags = {}                   # name -> set of table flags
    positions = {}               # name -> (first, last, step)
    settings = {}                # security settings (requirepass, acllog-max-len, ...)


S = State()
AUDIT_HOOK = None               # audit.record(c, name, args, denied) when the audit log is on
_closers = []                   # called with a set of deleted user names (this worker's clients)


def install():
    """Build the name tables from the command table and hook into the core."""
    S.command_names = _core.command_names()
    S.flags = {e[0]: set(e[2].split()) for e in table.COMMANDS}
    S.positions = {e[0]: (e[3], e[4], e[5]) for e in table.COMMANDS}
    _core.set_acl_hook(check)
    from cachecyt.security import throttle           # imports this module
    _core.set_mc_hooks(mc_login, mc_check, throttle.mc_result)


# ---- the users in the segment -------------------------------------------------------

def sync():
    """Recompile when the segment's users changed since this worker last looked."""
    v = _core.acl_version()
    if v == S.version:
        return
    _core.acl_lock()
    try:
        version, text, _init = _core.acl_text()
        settings = _core.sec_settings_text()
    finally:
        _core.acl_unlock()
    before = set(S.users)
    _core.acl_key_plans_clear()
    _registered.clear()
    S.users = compile_text(text)
    S.settings = json.loads(settings) if settings else {}
    S.version = version
    gone = before - set(S.users)
    if gone:
        for closer in _closers:
            closer(gone)


_parsed = {}                    # ACL LIST line -> User compiled from it (never changed in place)


def compile_text(text: bytes):
    """Users of the ACL text; lines seen in the last compile are not parsed again."""
    global _parsed
    out, seen = {}, {}
    for line in text.split(b'\n'):
        if line.strip():
            u = _parsed.get(line) or users.parse_line(line)
            seen[line] = u
            out[u.name] = u
    _parsed = seen
    if b'default' not in out:
        out[b'default'] = users.new_default()
    return out


def serialize(us):
    return b'\n'.join(us[name].describe() for name in sorted(us))


def change(fn):
    """Run fn(users dict copy) under the area lock and publish what it leaves.
    fn may raise to abandon the change; it replaces a user it changes by a
    copy (compiled users are shared, never changed in place). Returns fn's
    result."""
    _core.acl_lock()
    try:
        _version, text, _init = _core.acl_text()
        current = compile_text(text)
        result = fn(current)
        _core.acl_store(serialize(current))
    finally:
        _core.acl_unlock()
    sync()
    notify_workers()
    return result


def change_settings(**kv):
    """Update the security settings JSON (every worker applies it)."""
    _core.acl_lock()
    try:
        text = _core.sec_settings_text()
        cur = json.loads(text) if text else {}
        cur.update(kv)
        _core.sec_settings_store(json.dumps(cur).encode())
    finally:
        _core.acl_unlock()
    sync()
    notify_workers()


def notify_workers():
    from cachecyt.commands.server import NODE
    for w in range(NODE.nworkers):
        if w != NODE.worker:
            NODE.signal(w, _core.SIGNAL_ACL)


def initialize(requirepass='', aclfile='', extra=None):
    """First start of the node: load the aclfile (or requirepass) into the
    segment, once; a restarted worker finds it done."""
    _core.acl_lock()
    try:
        _version, text, done = _core.acl_text()
        if done:
            return
        if aclfile:
            us = load_file(aclfile)
        else:
            us = {b'default': users.new_default()}
            if requirepass:
                us[b'default'].apply(b'resetpass')
                us[b'default'].apply(b'>' + requirepass.encode())
        settings = dict(extra or {})
        settings['requirepass'] = requirepass
        _core.sec_settings_store(json.dumps(settings).encode())
        _core.acl_store(serialize(us))
    finally:
        _core.acl_unlock()
    sync()


def load_file(path):
    """Users of an aclfile; raises users.RuleError naming the bad line."""
    us = {}
    with open(path, 'rb') as f:
        for n, raw in enumerate(f.read().split(b'\n'), 1):
            line = raw.strip()
            if not line or line.startswith(b'#'):
                continue
            try:
                u = users.parse_line(line)
                users.check_username(u.name)
            except users.RuleError as e:
                raise users.RuleError(f"{path}:{n}: {e}") from None
            if u.name in us:
                raise users.RuleError(f"{path}:{n}: Duplicate user '{u.name.decode()}' found")
            us[u.name] = u
    if b'default' not in us:
        us[b'default'] = users.new_default()
    return us


# ---- clients ----------------------------------------------------------------------

def bind_new(c):
    """A new connection: the default user; authenticated when it needs no password."""
    sync()
    d = S.users[b'default']
    c.user = b'default'
    c.authenticated = d.nopass and d.enabled
    _core.client_acl_reset(c)
    _core.client_slot_set_user(c, b'default')


def login(c, name: bytes, password: bytes, via='AUTH'):
    """AUTH / HELLO AUTH: None on success, else the error text (logged)."""
    sync()
    u = S.users.get(name)
    if u is None or not u.enabled or not u.password_ok(password):
        log_denial(c, 'auth', via, name)
        if AUDIT_HOOK:
            AUDIT_HOOK(c, 'auth', [name], 'failure')
        return WRONGPASS
    c.user = name
    c.authenticated = True
    _core.client_acl_reset(c)
    _core.client_slot_set_user(c, name)
    if AUDIT_HOOK:
        AUDIT_HOOK(c, 'auth', [name], 'success')
    return None


def mc_login(c, name, password):
    """memcached ASCII auth (commands/mcauth.pxi). Without a name: whether the
    connection may run requests without authenticating (binds it first)."""
    if name is None:
        if c.user is None:
            bind_new(c)
        return c.authenticated
    return login(c, name, password, 'AUTH') is None


MC_NEED = {'get': READ, 'getex': READ | WRITE, 'set': WRITE, 'append': WRITE,
           'incrby': READ | WRITE, 'del': WRITE, 'expire': WRITE}


def mc_check(c, name, keys):
    """Whether an authenticated memcached client may run a request that
    amounts to RESP command `name` on `keys` (denials go to the ACL LOG)."""
    sync()
    u = user_of(c)
    if u is None:
        c.close_after_reply()
        return False
    if u.unrestricted:
        _core.client_acl_fast(c)
        return True
    need = MC_NEED.get(name, 0)
    denial = judge(u, name, [name.encode()], [(i, k, need) for i, k in enumerate(keys, 1)], [])
    if denial is None:
        return True
    log_denial(c, denial[0], denial[1], c.user)
    return False


def user_of(c):
    if c.user is None:
        bind_new(c)
    return S.users.get(c.user)


def full_name(name, args):
    """'parent|sub' when the command is a container and the subcommand exists."""
    if name in catalog.CONTAINERS and len(args) > 1:
        sub = args[1].decode('utf-8', 'replace').lower()
        if sub in catalog.CONTAINERS[name]:
            return f"{name}|{sub}"
    return name


def check(c, idx):
    """The hook Client.execute calls: None to run the command, else the error."""
    sync()
    u = user_of(c)
    name = S.command_names[idx]
    if u is None:                      # deleted meanwhile: its connections are closed
        c.close_after_reply()
        return NOAUTH
    if not c.authenticated and 'noauth' not in S.flags.get(name, ()):
        return NOAUTH
    audit = AUDIT_HOOK is not None and name in AUDITED
    if u.unrestricted and c.authenticated:
        if not audit:
            _core.client_acl_fast(c)
            return None
        AUDIT_HOOK(c, name, c.args(), None)
        return None
    if c.authenticated and c.user not in _registered:
        register_key_plan(u)
    args = c.args()
    if not audit and not u.selectors and plain_ok(u, name, args):
        return None
    denial = verdict(u, name, args)
    if audit:
        AUDIT_HOOK(c, name, args, 'denied' if denial else None)
    if denial is None:
        return None
    reason, obj, fullname = denial
    log_denial(c, reason, obj, c.user)
    if reason == 'command':
        return f"NOPERM this user has no permissions to run the '{fullname}' command"
    if reason == 'key':
        return "NOPERM this user has no permissions to access one of the keys used as arguments"
    return "NOPERM this user has no permissions to access one of the channels used as arguments"


def plain_ok(u, name, args):
    """True when u's root selector allows a plain command (no subcommands, no
    key count, no channels) with its keys: the common case, checked in one
    step. False sends the request to verdict(), which also finds the denial."""
    plan = _plain_plans.get(name)
    if plan is None:
        plan = _plain_plans[name] = _plain_plan(name)
    if plan is False or name not in u.allowed:
        return False
    first, last, step, needs = plan
    if first and first < len(args) and not u.allkeys:
        end = last if last >= 0 else len(args) + last
        top = len(needs) - 1
        for k, pos in enumerate(range(first, min(end, len(args) - 1) + 1, step)):
            need = needs[k if k < top else top]
            if name == 'set':               # RW only with the GET option
                need = WRITE | (READ if any(a.lower() == b'get' for a in args[3:]) else 0)
            if not u.may_access_key(args[pos], need):
                return False
    return True


_plain_plans = {}               # command name -> (first, last, step, needs) or False


_registered = set()             # users whose key plan shm/acl.pxi holds (this version)


def register_key_plan(u):
    """Hand a restricted user to the core's check (shm/acl.pxi): each of its
    selectors as the commands it allows (first-argument rules included), its
    key patterns and their access, so that its plain commands (never channel
    or audited ones) that one selector allows run without calling check()."""
    _registered.add(u.name)
    plain, needs = [], []
    for n in S.command_names:
        plan = _plain_plans.setdefault(n, _plain_plan(n))
        ok = plan is not False and n not in AUDITED
        plain.append(1 if ok else 0)
        needs.append(bytes(plan[3]) if ok else b'')
    index = {n: i for i, n in enumerate(S.command_names)}
    sels = []
    for sel in u.all_selectors():
        allowed = bytes(1 if n in sel.allowed else 0 for n in S.command_names)
        firstargs = {index[n]: set(a) for n, a in sel.firstargs.items() if n in index and a}
        sels.append((allowed, firstargs, sel.allkeys, list(sel.patterns)))
    _core.acl_key_plan_set(u.name, S.version, bytes(plain), needs, sels)


def _plain_plan(name):
    if (name in catalog.CONTAINERS or name in NUMKEYS or name in CHANNEL_COMMANDS or name == 'sort'
            or name in STORE_WORD):
        return False
    first, last, step = S.positions.get(name, (0, 0, 0))
    needs = [_access(s) for s in catalog.KEY_ACCESS.get(name) or ()]
    if first and not needs:
        return False
    return first, last, step, needs


# Commands the audit log records when it is on (besides AUTH and ACL changes).
AUDITED = {'acl', 'config', 'flushdb', 'flushall', 'shutdown', 'client', 'debug', 'swapdb',
           'save', 'bgsave', 'bgrewriteaof', 'replicaof', 'slaveof', 'failover', 'module',
           'script', 'function', 'cluster', 'monitor', 'lastsave', 'migrate', 'restore'}


def verdict(u, name, args):
    """None when u may run args, else (reason, object for the ACL LOG, full name)."""
    fullname = full_name(name, args)
    keys = keys_of(name, args, fullname)
    free = 'noauth' in S.flags.get(name, ())      # AUTH, HELLO ...: every user may run them
    denial = judge(u, fullname, args, keys, channels_of(name, args), free)
    return None if denial is None else denial + (fullname,)


# Which denial of several selectors is reported, as Redis picks it: a channel
# over a key over a command, then the one at the later argument.
_RANK = {'command': 1, 'key': 2, 'channel': 4}


def judge(u, fullname, args, keys, channels, free=False):
    """None when one of u's selectors allows the command with all its keys
    [(index, key, need)] and channels [(index, channel, is_pattern)] (free:
    any command passes); else (reason, object) of the denial Redis would report."""
    if not u.selectors:
        denial = _selector_denial(u, fullname, args, keys, channels, free)
        return None if denial is None else denial[:2]
    best = None
    for sel in u.all_selectors():
        denial = _selector_denial(sel, fullname, args, keys, channels, free)
        if denial is None:
            return None
        if best is None or (_RANK[denial[0]], denial[2]) > (_RANK[best[0]], best[2]):
            best = denial
    return best[:2]


def _selector_denial(sel, fullname, args, keys, channels, free):
    """None, or (reason, object, argument index) of what sel refuses first."""
    if not free and not sel.may_run(fullname, args):
        return ('command', fullname, 0)
    for i, key, need in keys:
        if not sel.may_access_key(key, need):
            return ('key', key, i)
    for i, channel, is_pattern in channels:
        if not sel.may_use_channel(channel, is_pattern):
            return ('channel', channel, i)
    return None


# ---- keys and channels of a request ------------------------------------------------

# Commands whose keys follow a count: name -> (index of the count, keys before it).
NUMKEYS = {'sintercard': (1, 0), 'zintercard': (1, 0), 'zunion': (1, 0), 'zinter': (1, 0),
           'zdiff': (1, 0), 'lmpop': (1, 0), 'zmpop': (1, 0), 'blmpop': (2, 0), 'bzmpop': (2, 0),
           'zunionstore': (2, 1), 'zinterstore': (2, 1), 'zdiffstore': (2, 1),
           'eval': (2, 0), 'evalsha': (2, 0), 'eval_ro': (2, 0), 'evalsha_ro': (2, 0),
           'fcall': (2, 0), 'fcall_ro': (2, 0)}


def _access(spec):
    return (READ if 'R' in spec else 0) | (WRITE if 'W' in spec else 0)


# Subcommands whose key is not where the container's table entry says.
SUB_POSITIONS = {'memory|usage': (2, 2, 1)}


def keys_of(name, args, fullname=None):
    """[(argument index, key, READ|WRITE needed)] of a request (fullname:
    'container|sub')."""
    fullname = fullname or name
    if name == 'sort':
        return _sort_keys(args)
    plan = _key_plans.get(fullname, False)
    if plan is False:
        plan = _key_plans[fullname] = _key_plan(name, fullname)
    if plan is None:
        return []
    needs, where = plan
    last = len(needs) - 1
    out = []
    for i, pos in enumerate(_key_indexes(where, args)):
        need = needs[i if i < last else last]
        if name == 'set':                   # RW only with the GET option
            need = WRITE | (READ if any(a.lower() == b'get' for a in args[3:]) else 0)
        out.append((pos, args[pos], need))
    return out


_key_plans = {}                 # full name -> _key_plan(), once asked


def _sort_keys(args):
    """SORT reads its key and writes the key of its last STORE (Redis skips the
    arguments of LIMIT, GET and BY looking for it; BY/GET patterns are checked
    by the command itself, commands/sort.pxi)."""
    out = [(1, args[1], READ)] if len(args) > 1 else []
    skip = {b'limit': 2, b'get': 1, b'by': 1}
    store, i = None, 2
    while i < len(args):
        word = args[i].lower()
        if word in skip:
            i += skip[word]
        elif word == b'store' and i + 1 < len(args):
            store = i + 1
        i += 1
    if store is not None:
        out.append((store, args[store], WRITE))
    return out


def _key_plan(name, fullname):
    """None for a command without keys, else (access needed by each key spec,
    the name whose key positions apply)."""
    specs = catalog.KEY_ACCESS.get(fullname) or catalog.KEY_ACCESS.get(name)
    if not specs:
        return None
    return [_access(s) for s in specs], (fullname if fullname in SUB_POSITIONS else name)


def _key_indexes(name, args):
    if name in NUMKEYS:
        at, before = NUMKEYS[name]
        try:
            n = int(args[at])
        except (ValueError, IndexError):
            return []
        return [i for i in [*range(1, 1 + before), *range(at + 1, at + 1 + max(n, 0))]
                if i < len(args)]
    first, last, step = SUB_POSITIONS.get(name) or S.positions.get(name, (0, 0, 0))
    if not first or first >= len(args):
        return []
    end = last if last >= 0 else len(args) + last
    return list(range(first, min(end, len(args) - 1) + 1, step)) + store_word_keys(name, args)


# Commands whose destination key follows a STORE or STOREDIST word: name ->
# the first index an option may take. As Redis's key specs, the first STORE
# and the first STOREDIST each name a key (the command itself uses the last).
STORE_WORD = {'georadius': 6, 'georadiusbymember': 5}


def store_word_keys(name, args):
    """Indexes of the keys after STORE / STOREDIST words of GEORADIUS*, else []."""
    at = STORE_WORD.get(name)
    found = []
    if at is None:
        return found
    for word in (b'store', b'storedist'):
        for i in range(at, len(args) - 1):
            if args[i].lower() == word:
                found.append(i + 1)
                break
    return found
    i = at
    while i < len(args) - 1:
        if args[i].lower() in (b'store', b'storedist'):
            found = [i + 1]
            i += 1
        i += 1
    return found


CHANNEL_COMMANDS = {'publish': (1, 2, False), 'spublish': (1, 2, False),
                    'subscribe': (1, None, False), 'ssubscribe': (1, None, False),
                    'psubscribe': (1, None, True)}


def channels_of(name, args):
    spec = CHANNEL_COMMANDS.get(name)
    if spec is None:
        return []
    start, end, is_pattern = spec
    end = len(args) if end is None else min(end, len(args))
    return [(i, args[i], is_pattern) for i in range(start, end)]


# ---- ACL LOG ---------------------------------------------------------------------

def log_denial(c, reason, obj, username):
    """Add a denial to the ACL LOG, or count it in a recent identical entry."""
    from cachecyt.commands.server import client_info_line
    now = int(time.time() * 1000)
    obj = obj.decode('utf-8', 'replace') if isinstance(obj, bytes) else obj
    uname = username.decode('utf-8', 'replace') if isinstance(username, bytes) else username
    info = client_info_line(c).rstrip('\n')
    entry = {'count': 1, 'reason': reason, 'context': 'toplevel', 'object': obj,
             'username': uname, 'ctime': now, 'client-info': info}
    maxlen = S.settings.get('acllog-max-len', 128)
    _core.acl_lock()
    try:
        text = _core.acl_log_text()
        entries = json.loads(text) if text else []
        for i, e in enumerate(entries):
            if (e['reason'], e['context'], e['object'], e['username']) == \
                    (reason, 'toplevel', obj, uname) and now - e['ctime'] < LOG_GROUP_MS:
                e['count'] += 1
                e['ctime'] = now
                e['client-info'] = info
                entries.insert(0, entries.pop(i))
                break
        else:
            entries.insert(0, entry)
        del entries[maxlen:]
        while not _core.acl_log_store(json.dumps(entries).encode()) and entries:
            entries.pop()
    finally:
        _core.acl_unlock()


def log_entries(count=None):
    text = _core.acl_log_text()
    entries = json.loads(text) if text else []
    return entries if count is None else entries[:count]


def log_reset():
    _core.acl_lock()
    try:
        _core.acl_log_store(b'')
    finally:
        _core.acl_unlock()
