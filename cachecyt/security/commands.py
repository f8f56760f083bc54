"""AUTH and ACL: the commands over security/acl.py, with Redis 7.0's replies
and error texts. Python handlers (client, args) like commands/server.py."""
import os
import secrets
import time

from cachecyt import _core
from cachecyt._core import OK, CommandError, Status
from cachecyt.commands import server
from cachecyt.security import acl, catalog, throttle, users
from cachecyt.security.acl import S

NO_ACLFILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to "
              "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
              "(assuming you have a Redis configuration file set) in order to store users in the "
              "Redis configuration.")
NOPASS_AUTH = ("ERR AUTH <password> called without any password configured for the default user. "
               "Are you sure your configuration is correct?")

HELP = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
]

_current = None                  # the client running ACL DELUSER/LOAD (closed after its reply)


def _text(b):
    return b.decode('utf-8', 'replace')


# ---- AUTH --------------------------------------------------------------------------

def auth(c, args):
    if len(args) > 3:
        raise server.syntax_error()
    if len(args) == 2:
        acl.sync()
        if S.users[b'default'].nopass:
            raise CommandError(NOPASS_AUTH)
        name, password = b'default', args[1]
    else:
        name, password = args[1], args[2]
    err = acl.login(c, name, password, 'AUTH')
    if err:
        return _refuse(c, err)
    throttle.succeeded(c)
    _core.client_slot_sync(c)
    return OK


def hello_auth(c, name, password):
    """HELLO ... AUTH name password: raises on a wrong pair, or returns
    NO_REPLY when the error goes out later (security/throttle.py)."""
    err = acl.login(c, name, password, 'HELLO')
    if err:
        return _refuse(c, err)
    throttle.succeeded(c)
    return None


def _refuse(c, err):
    """A failed AUTH: the error now, or NO_REPLY when it is held back."""
    wait = throttle.failed(c)
    if wait and throttle.hold(c, wait, err):
        return _core.NO_REPLY
    raise CommandError(err)


# ---- ACL ---------------------------------------------------------------------------

def acl_(c, args):
    sub = server.container_sub(c, args)
    return SUBS[sub](c, args[2:])


def setuser(c, args):
    name, rules = args[0], args[1:]
    try:
        users.check_username(name)
    except users.RuleError as e:
        raise CommandError(f"ERR {e}") from None
    rules, bad = users.merge_selectors(rules)
    if bad is not None:
        raise CommandError(f"ERR Unmatched parenthesis in acl selector starting at "
                           f"'{_text(args[1 + bad])}'.")

    def apply(us):
        u = us[name].copy() if name in us else users.User(name)
        for rule in rules:
            try:
                u.apply(rule)
            except users.RuleError as e:
                raise CommandError(f"ERR Error in ACL SETUSER modifier '{_text(rule)}': {e}") from None
        us[name] = u
    acl.change(apply)
    return OK


def getuser(c, args):
    acl.sync()
    u = S.users.get(args[0])
    if u is None:
        return None
    return {'flags': _Flags(u.flags()),
            'passwords': list(u.passwords),
            'commands': u.describe_commands(),
            'keys': u.describe_keys(),
            'channels': u.describe_channels(False),
            'selectors': [_selector_fields(sel) for sel in u.selectors]}


class _Flags(frozenset):
    """GETUSER's flags: a set in RESP3, as Redis answers, in Redis's order."""

    def __new__(cls, items):
        self = super().__new__(cls, items)
        self.order = list(items)
        return self

    def __iter__(self):
        return iter(self.order)


def _selector_fields(sel):
    return {'commands': sel.describe_commands(), 'keys': sel.describe_keys(),
            'channels': sel.describe_channels(False)}


def deluser(c, args):
    global _current
    if b'default' in args:
        raise CommandError("ERR The 'default' user cannot be removed")

    def delete(us):
        n = 0
        for name in args:
            if us.pop(name, None) is not None:
                n += 1
        return n
    _current = c
    try:
        return acl.change(delete)
    finally:
        _current = None


def list_(c, args):
    acl.sync()
    return [S.users[n].describe() for n in sorted(S.users)]


def users_(c, args):
    acl.sync()
    return sorted(S.users)


def whoami(c, args):
    acl.user_of(c)
    return c.user


def cat(c, args):
    if not args:
        return list(users.CATEGORY_ORDER)
    if len(args) > 1:
        raise server.syntax_error()
    name = _text(args[0]).lower()
    if name not in users.MEMBERS:
        raise CommandError(f"ERR Unknown category '{_text(args[0])}'")
    return [n for n in users.ALL_NAMES if n in users.MEMBERS[name]]


def log_(c, args):
    if len(args) > 1:
        raise server.syntax_error()
    count = None
    if args:
        if args[0].lower() == b'reset':
            acl.log_reset()
            return OK
        count = server._strict_int(args[0])
        if count is None:
            raise CommandError("ERR value is not an integer or out of range")
        if count < 0:
            return []
    now = int(time.time() * 1000)
    out = []
    for e in acl.log_entries(count):
        out.append({'count': e['count'], 'reason': e['reason'], 'context': e['context'],
                    'object': e['object'], 'username': e['username'],
                    'age-seconds': (now - e['ctime']) / 1000, 'client-info': e['client-info']})
    return out


def _aclfile():
    path = server.NODE.config.get('aclfile') or ''
    if not path:
        raise CommandError(NO_ACLFILE)
    return path


def save(c, args):
    path = _aclfile()
    acl.sync()
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, 'wb') as f:
            f.write(acl.serialize(S.users) + b'\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        server.log.warning("Opening ACL file for saving: %s", e)
        raise CommandError("ERR There was an error trying to save the ACLs. "
                           "Please check the server logs for more information") from None
    return OK


def load(c, args):
    global _current
    path = _aclfile()
    try:
        loaded = acl.load_file(path)
    except OSError as e:
        raise CommandError(f"ERR Error loading ACLs, opening file '{path}': {e.strerror}") from None
    except users.RuleError as e:
        raise CommandError(f"ERR {e}") from None

    def replace(us):
        us.clear()
        us.update(loaded)
    _current = c
    try:
        acl.change(replace)
    finally:
        _current = None
    return OK


def genpass(c, args):
    bits = 256
    if len(args) > 1:
        raise server.syntax_error()
    if args:
        bits = server._strict_int(args[0])
        if bits is None:
            raise CommandError("ERR value is not an integer or out of range")
        if bits <= 0 or bits > 4096:
            raise CommandError("ERR ACL GENPASS argument must be the number of bits for the output "
                               "password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars]


def dryrun(c, args):
    acl.sync()
    u = S.users.get(args[0])
    if u is None:
        raise CommandError(f"ERR User '{_text(args[0])}' not found")
    argv = args[1:]
    name = _text(argv[0]).lower()
    entry = next((e for e in server.table.COMMANDS if e[0] == name), None)
    if entry is None and name not in catalog.CATEGORIES:
        raise CommandError(f"ERR Command '{_text(argv[0])}' not found")
    arity = entry[1] if entry else None
    if arity is not None and ((arity > 0 and len(argv) != arity) or len(argv) < -arity):
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")
    denial = acl.verdict(u, name, argv)
    if denial is None:
        return OK
    reason, obj, fullname = denial
    if reason == 'command':
        return f"This user has no permissions to run the '{fullname}' command"
    return f"This user has no permissions to access the '{_text(obj)}' {reason}"


def help_(c, args):
    return [Status(line) for line in HELP]


SUBS = {'setuser': setuser, 'getuser': getuser, 'deluser': deluser, 'list': list_,
        'users': users_, 'whoami': whoami, 'cat': cat, 'log': log_, 'save': save,
        'load': load, 'genpass': genpass, 'dryrun': dryrun, 'help': help_}


def close_deleted(names):
    """Users were deleted: close this worker's connections authenticated as them."""
    for cl in list(server.NODE.clients.values()):
        if cl.user in names:
            if cl is _current:
                cl.close_after_reply()
            else:
                cl.close_now()


acl._closers.append(close_deleted)

HANDLERS = {'auth': auth, 'acl': server.counted(acl_)}
server.HELP['acl'] = HELP
server.DOCS.setdefault('auth', ('Authenticate the connection', '1.0.0', 'O(N) where N is the number '
                                'of passwords defined for the user'))
server.DOCS.setdefault('acl', ('A container for Access List Control commands', '6.0.0',
                               'Depends on subcommand.'))
