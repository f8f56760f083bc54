"""ACL users: Redis 7.0's rule language (ACL SETUSER), the permission test of
one request, and the ACL LIST form that describes a user. Pure logic: no
segment, no clients; acl.py keeps the users of the node and runs the checks.

How it works. A user's command permissions are a set of allowed full command
names ('get', 'config|get') over the catalog of every Redis 7.0 command (so a
rule may name a command this server does not serve yet), a 'future' flag set
only by +@all (the user may also run commands added later), and per-command
allowed first arguments (+select|0). Allowing a command allows its
subcommands; a category applies to each command and subcommand in it. Those
permissions, with the key and channel patterns, form a Selector: a User is its
root selector (the rules outside parentheses) plus flags, passwords and the
selectors its `(...)` rules added (Redis 7.0); acl.py lets a request through
when one of them allows all of it.

The ACL LIST form is derived from that state, not kept from the rules typed:
it starts with +@all or -@all (the future flag), then greedily picks the
category that best fits the remaining differences (more commands in common
than different, fewest differences first), then names single commands until
the description gives back exactly the same set. describe() therefore
round-trips: parsing a user's ACL LIST line gives the same user, which is how
users travel between workers (as text in the segment) and to the aclfile.
"""
import hashlib
import hmac
import re

from cachecyt import _core
from cachecyt.security import catalog

# Categories in the order Redis lists them (ACL CAT) and describes users.
CATEGORY_ORDER = ['keyspace', 'read', 'write', 'set', 'sortedset', 'list', 'hash', 'string',
                  'bitmap', 'hyperloglog', 'geo', 'stream', 'pubsub', 'admin', 'fast', 'slow',
                  'blocking', 'dangerous', 'connection', 'transaction', 'scripting']

READ, WRITE = 1, 2

ALL_NAMES = list(catalog.CATEGORIES)                  # parents, each followed by its subcommands
ALL_SET = frozenset(ALL_NAMES)
TOP = [n for n in ALL_NAMES if '|' not in n]
SUBS = {parent: [f"{parent}|{s}" for s in subs] for parent, subs in catalog.CONTAINERS.items()}
CATS = {n: frozenset(c.split()) for n, c in catalog.CATEGORIES.items()}
MEMBERS = {cat: frozenset(n for n, cats in CATS.items() if cat in cats) for cat in CATEGORY_ORDER}

_HEX64 = re.compile(rb'[0-9a-f]{64}\Z')


class RuleError(Exception):
    """A rule ACL SETUSER refuses; str() is Redis's explanation."""


UNKNOWN = "Unknown command or category name in ACL"
SYNTAX = "Syntax error"
KEYS_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
                  "does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
CHANNELS_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid "
                      "and does not have any effect. Try 'resetchannels' to start with an empty list "
                      "of channels")
NO_SUCH_PASS = "The password you are trying to remove from the user does not exist"
BAD_HASH = ("The password hash must be exactly 64 characters and contain only lowercase "
            "hexadecimal characters")
SUB_FIRSTARG = "Allowing first-arg of a subcommand is not supported"


def hash_password(pw: bytes) -> bytes:
    return hashlib.sha256(pw).hexdigest().encode()


def lookup(name: bytes):
    """The catalog's full name of a command or 'parent|sub', or None."""
    n = name.decode('utf-8', 'replace').lower()
    return n if n in ALL_SET else None


class Selector:
    """What a user may run: commands, keys, channels. A user is its root
    selector plus flags and passwords; each `(...)` rule adds another selector,
    and a request passes when one selector allows its command, keys and
    channels together."""
    __slots__ = ('allowed', 'future', 'firstargs', 'allkeys', 'patterns', 'allchannels',
                 'channels')

    def __init__(self):
        self.allowed = set()          # full command names allowed
        self.future = False           # +@all: commands added later are allowed too
        self.firstargs = {}           # command -> [first argument (lowercase bytes)]
        self.allkeys = False
        self.patterns = []            # [pattern bytes, READ|WRITE]
        self.allchannels = False
        self.channels = []            # channel patterns (bytes)

    def copy_into(self, other):
        other.allowed = set(self.allowed)
        other.future = self.future
        other.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        other.allkeys, other.patterns = self.allkeys, [list(p) for p in self.patterns]
        other.allchannels, other.channels = self.allchannels, list(self.channels)
        return other

    def copy(self):
        return self.copy_into(Selector())

    def apply(self, op: bytes):
        """One command, key or channel rule; raises RuleError."""
        self._apply_selector(op, op.lower())

    def _apply_selector(self, op, low):
        if low in (b'allkeys', b'~*'):
            self.allkeys = True
            self.patterns = []
        elif low == b'resetkeys':
            self.allkeys = False
            self.patterns = []
        elif low in (b'allchannels', b'&*'):
            self.allchannels = True
            self.channels = []
        elif low == b'resetchannels':
            self.allchannels = False
            self.channels = []
        elif low in (b'allcommands', b'+@all'):
            self.allowed = set(ALL_SET)
            self.future = True
            self.firstargs = {}
        elif low in (b'nocommands', b'-@all'):
            self.allowed = set()
            self.future = False
            self.firstargs = {}
        elif op[:1] in (b'~', b'%'):
            self._add_key_pattern(op)
        elif op[:1] == b'&':
            self._add_channel(op[1:])
        elif op[:2] in (b'+@', b'-@'):
            cat = low[2:].decode('utf-8', 'replace')
            if cat not in MEMBERS:
                raise RuleError(UNKNOWN)
            self._category(cat, op[:1] == b'+')
        elif op[:1] == b'+':
            self._allow(op[1:])
        elif op[:1] == b'-':
            name = lookup(op[1:])
            if name is None:
                raise RuleError(UNKNOWN)
            self._change(name, False)
        else:
            raise RuleError(SYNTAX)

    def _add_key_pattern(self, op):
        if self.allkeys:
            raise RuleError(KEYS_AFTER_ALL)
        if op[:1] == b'%':
            flags, i = 0, 1
            while True:
                if i >= len(op):
                    raise RuleError(SYNTAX)
                ch = op[i:i + 1].upper()
                if ch == b'R' and not flags & READ:
                    flags |= READ
                elif ch == b'W' and not flags & WRITE:
                    flags |= WRITE
                elif ch == b'~':
                    i += 1
                    break
                else:
                    raise RuleError(SYNTAX)
                i += 1
            pattern = op[i:]
        else:
            flags, pattern = READ | WRITE, op[1:]
        if b' ' in pattern:
            raise RuleError(SYNTAX)
        for p in self.patterns:
            if p[0] == pattern:
                p[1] |= flags
                return
        self.patterns.append([pattern, flags])

    def _add_channel(self, pattern):
        if self.allchannels:
            raise RuleError(CHANNELS_AFTER_ALL)
        if b' ' in pattern:
            raise RuleError(SYNTAX)
        if pattern not in self.channels:
            self.channels.append(pattern)

    def _allow(self, spec: bytes):
        if b'|' not in spec:
            name = lookup(spec)
            if name is None:
                raise RuleError(UNKNOWN)
            self._change(name, True)
            return
        head, _, arg = spec.rpartition(b'|')
        parent = lookup(head)
        if parent is None:
            raise RuleError(UNKNOWN)
        if '|' in parent:
            raise RuleError(SUB_FIRSTARG)
        if not arg:
            raise RuleError(SYNTAX)
        if parent in SUBS:
            name = lookup(spec)
            if name is None:
                raise RuleError(UNKNOWN)
            self._change(name, True)
            return
        if parent in self.allowed:
            return                         # every removal of the command drops its first-args too
        args = self.firstargs.setdefault(parent, [])
        if arg.lower() not in args:
            args.append(arg.lower())

    def _change(self, name, allow):
        """Allow or deny one command with all its subcommands; drop its first-args."""
        names = [name] + SUBS.get(name, [])
        if allow:
            self.allowed.update(names)
        else:
            self.allowed.difference_update(names)
        self.firstargs.pop(name, None)

    def _category(self, cat, allow):
        members = MEMBERS[cat]
        for name in ALL_NAMES:
            if name in members:
                self._change(name, allow)

    # ---- permission test ------------------------------------------------------------

    @property
    def unrestricted(self):
        return (self.allkeys and self.allchannels and self.future
                and len(self.allowed) == len(ALL_SET))

    def may_run(self, name, args):
        """name: full name of the command being run (parent|sub for a subcommand)."""
        if name in self.allowed:
            return True
        allowed_args = self.firstargs.get(name)
        return bool(allowed_args) and len(args) > 1 and args[1].lower() in allowed_args

    def may_access_key(self, key: bytes, need: int):
        if self.allkeys:
            return True
        for pattern, flags in self.patterns:
            if flags & need == need and _core.glob_match(pattern, key):
                return True
        return False

    def may_use_channel(self, channel: bytes, is_pattern: bool):
        if self.allchannels:
            return True
        for pattern in self.channels:
            if is_pattern:
                if pattern == channel:
                    return True
            elif _core.glob_match(pattern, channel):
                return True
        return False

    def describe_keys(self):
        if self.allkeys:
            return b'~*'
        return b' '.join(_pattern_text(p, f) for p, f in self.patterns)

    def describe_channels(self, for_list):
        if self.allchannels:
            return b'&*'
        chans = [b'&' + c for c in self.channels]
        return b' '.join(([b'resetchannels'] if for_list else []) + chans)

    def describe_commands(self):
        return ' '.join(_command_rules(self)).encode()

    def describe_body(self):
        """Keys, channels and commands as ACL LIST writes them (inside the
        parentheses for a selector)."""
        keys = self.describe_keys()
        return b' '.join(([keys] if keys else []) +
                         [self.describe_channels(True), self.describe_commands()])


class User(Selector):
    """A user: on/off, passwords, its root selector (the rules outside
    parentheses) and its other selectors, in the order added."""
    __slots__ = ('name', 'enabled', 'nopass', 'sanitize', 'passwords', 'selectors', '_line',
                 '_open')

    def __init__(self, name: bytes):
        super().__init__()
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize = None          # None, b'sanitize-payload' or b'skip-sanitize-payload'
        self.passwords = []           # sha256 hex digests (bytes), in the order added
        self.selectors = []           # Selector of each `(...)` rule
        self._line = None             # describe() of the current state, once computed
        self._open = None             # unrestricted, once computed

    def copy(self):
        u = self.copy_into(User(self.name))
        u.enabled, u.nopass, u.sanitize = self.enabled, self.nopass, self.sanitize
        u.passwords = list(self.passwords)
        u.selectors = [sel.copy() for sel in self.selectors]
        return u

    # ---- rules ------------------------------------------------------------------

    def apply(self, op: bytes):
        """One ACL SETUSER rule; raises RuleError."""
        if not op:
            return
        self._line = self._open = None
        low = op.lower()
        if low == b'on':
            self.enabled = True
        elif low == b'off':
            self.enabled = False
        elif low in (b'sanitize-payload', b'skip-sanitize-payload'):
            self.sanitize = low
        elif low == b'nopass':
            self.nopass = True
            self.passwords = []
        elif low == b'resetpass':
            self.nopass = False
            self.passwords = []
        elif op[:1] in (b'>', b'#'):
            self._add_password(op)
        elif op[:1] in (b'<', b'!'):
            self._remove_password(op)
        elif low == b'reset':
            for rule in (b'resetpass', b'resetkeys', b'resetchannels', b'off', b'clearselectors',
                         b'-@all'):
                self.apply(rule)
            self.sanitize = b'sanitize-payload'
        elif low == b'clearselectors':
            self.selectors = []
        elif op[:1] == b'(' and op[-1:] == b')':
            self.selectors.append(parse_selector(op))
        else:
            self._apply_selector(op, low)

    def _add_password(self, op):
        digest = _rule_digest(op, b'>')
        if digest not in self.passwords:
            self.passwords.append(digest)
        self.nopass = False

    def _remove_password(self, op):
        digest = _rule_digest(op, b'<')
        if digest not in self.passwords:
            raise RuleError(NO_SUCH_PASS)
        self.passwords.remove(digest)

    def password_ok(self, password: bytes):
        digest = hash_password(password)
        found = False
        for p in self.passwords:                # constant time per stored password
            found |= hmac.compare_digest(p, digest)
        return self.nopass or found

    # ---- description ---------------------------------------------------------------

    def flags(self):
        out = [b'on' if self.enabled else b'off']
        if self.nopass:
            out.append(b'nopass')
        if self.sanitize:
            out.append(self.sanitize)
        return out

    def describe(self):
        """The ACL LIST line of this user."""
        if self._line is not None:
            return self._line
        parts = [b'user', self.name] + self.flags() + [b'#' + p for p in self.passwords]
        parts.append(self.describe_body())
        parts += [b'(' + sel.describe_body() + b')' for sel in self.selectors]
        self._line = b' '.join(parts)
        return self._line

    # ---- permission test ------------------------------------------------------------

    @property
    def unrestricted(self):
        if self._open is None:
            self._open = any(Selector.unrestricted.fget(sel) for sel in self.all_selectors())
        return self._open

    def all_selectors(self):
        """The root selector (the user itself), then the others in order."""
        return [self] + self.selectors


def _pattern_text(pattern, flags):
    if flags == READ | WRITE:
        return b'~' + pattern
    return (b'%R~' if flags == READ else b'%W~') + pattern


def _command_rules(user):
    """The command part of ACL LIST: +@all/-@all, best-fitting categories, then
    single commands and first-args, so that the rules give back user.allowed."""
    additive = not user.future
    rules = ['-@all' if additive else '+@all']
    fake = set() if additive else set(ALL_SET)
    temp = set(user.allowed)
    applied = set()
    while True:
        best, mindiff, maxsame = None, None, 0
        for cat in CATEGORY_ORDER:
            if cat in applied:
                continue
            members = MEMBERS[cat]
            on = len(members & temp)
            off = len(members) - on
            diff, same = (off, on) if additive else (on, off)
            if same > diff and (mindiff is None or diff < mindiff or (diff == mindiff and same > maxsame)):
                best, mindiff, maxsame = cat, diff, same
        if best is None:
            break
        applied.add(best)
        rules.append(('+@' if additive else '-@') + best)
        probe = Selector()
        probe.allowed = fake
        probe._category(best, additive)
        fake = probe.allowed
        probe.allowed = temp
        probe._category(best, not additive)
        temp = probe.allowed
    probe = Selector()
    probe.allowed = fake
    for name in ALL_NAMES:
        mine = name in user.allowed
        if mine != (name in probe.allowed):
            rules.append(('+' if mine else '-') + name)
            probe._change(name, mine)
        if not mine:
            for arg in user.firstargs.get(name, ()):
                rules.append(f"+{name}|{arg.decode('utf-8', 'replace')}")
    return rules


def new_default():
    u = User(b'default')
    for rule in (b'on', b'nopass', b'~*', b'&*', b'+@all'):
        u.apply(rule)
    return u


def parse_line(line: bytes):
    """A user from its ACL LIST / aclfile line; raises RuleError."""
    words = line.split()
    if len(words) < 2 or words[0] != b'user':
        raise RuleError("line should start with user keyword")
    rules, bad = merge_selectors(words[2:])
    if bad is not None:
        raise RuleError("Unmatched parenthesis in selector definition.")
    u = User(words[1])
    for w in rules:
        u.apply(w)
    return u


def merge_selectors(args):
    """Join the words of a selector typed over several arguments ('(~a*',
    '+get)') into one rule. Returns (rules, None), or (None, index of the
    argument whose '(' is never closed)."""
    out, start = [], None
    for i, arg in enumerate(args):
        if start is not None:
            out[-1] += b' ' + arg
            if arg[-1:] == b')':
                start = None
        elif arg[:1] == b'(' and arg[-1:] != b')':
            out.append(arg)
            start = i
        else:
            out.append(arg)
    return (None, start) if start is not None else (out, None)


def parse_selector(op: bytes):
    """The Selector of a `(rule rule ...)` rule; raises RuleError. The rules
    are split as Redis splits a command line (quotes, escapes); text that does
    not split gives a selector with no rules, as in Redis."""
    sel = Selector()
    for rule in split_args(op[1:-1]) or ():
        sel.apply(rule)
    return sel


_ESCAPES = {ord('n'): b'\n', ord('r'): b'\r', ord('t'): b'\t', ord('b'): b'\b', ord('a'): b'\a'}
_SPACE = b' \n\r\t\v\f\0'


def split_args(text: bytes):
    """Words of a line with Redis's quoting rules ("..." with escapes, '...'),
    or None when a quote is not closed or is followed by a non-space."""
    words, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            return words
        word = bytearray()
        while i < n and text[i] not in _SPACE:
            if text[i] in b'"\'':
                i = _quoted(text, i, word)
                if i is None or (i < n and text[i] not in _SPACE):
                    return None
            else:
                word.append(text[i])
                i += 1
        words.append(bytes(word))


def _quoted(text, i, word):
    """Append the quoted part starting at text[i] to word; the index after
    its closing quote, or None when it is not closed."""
    quote, i, n = text[i], i + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return i + 1
        if quote == ord('"') and ch == ord('\\') and i + 1 < n:
            hexpart = text[i + 2:i + 4]
            if text[i + 1] == ord('x') and len(hexpart) == 2 and \
                    all(h in b'0123456789abcdefABCDEF' for h in hexpart):
                word.append(int(hexpart, 16))
                i += 4
                continue
            word += _ESCAPES.get(text[i + 1], text[i + 1:i + 2])
            i += 2
            continue
        if quote == ord("'") and ch == ord('\\') and text[i + 1:i + 2] == b"'":
            word.append(ord("'"))
            i += 2
            continue
        word.append(ch)
        i += 1
    return None


def check_username(name: bytes):
    if b' ' in name or b'\0' in name:
        raise RuleError("Usernames can't contain spaces or null characters")


def _rule_digest(op: bytes, plain: bytes) -> bytes:
    """The SHA-256 hex a password rule names: `>pass`/`<pass` (plain) hashed,
    `#hex`/`!hex` checked."""
    if op[:1] == plain:
        return hash_password(op[1:])
    digest = op[1:]
    if not _HEX64.match(digest):
        raise RuleError(BAD_HASH)
    return digest
