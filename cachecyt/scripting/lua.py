"""One Lua 5.1 state per worker (lupa.lua51: Redis embeds Lua 5.1, and PUC Lua
5.1 rather than LuaJIT keeps its semantics: the same number formatting, error
texts and table iteration order). The state runs prelude.PRELUDE once, which
builds the redis library and closes the sandbox; this module supplies the
Python halves: the parts of cjson, cmsgpack, bit and struct that are simpler
in Python. redis.call and redis.pcall are C functions of the core extension
(scripting/luacall.pxi), which also runs scripts already compiled without
coming here; the Engine hands them its private Client and the state.

Must not be imported by the supervisor (it loads Lua)."""
import hashlib
import logging
import math
import struct as pystruct
import time

import msgpack
from lupa import lua51

from cachecyt import _core
from cachecyt.scripting import jsondecode
from cachecyt.scripting.prelude import PRELUDE

log = logging.getLogger("cachecyt.worker")

# commands a script may not call (besides those flagged noscript or blocking),
# named even where the command table does not have them yet
NOSCRIPT = {b'hello', b'reset', b'client', b'config', b'shutdown', b'script', b'eval',
            b'evalsha', b'eval_ro', b'evalsha_ro', b'fcall', b'fcall_ro', b'function',
            b'multi', b'exec', b'discard', b'watch', b'unwatch', b'subscribe', b'psubscribe',
            b'ssubscribe', b'unsubscribe', b'punsubscribe', b'sunsubscribe', b'auth', b'quit',
            b'monitor', b'sync', b'psync', b'save', b'bgsave', b'bgrewriteaof', b'debug'}

LOAD_TIMEOUT = 0.5            # seconds a library's code may run in FUNCTION LOAD (as Redis)


class Rand48:
    """Redis's math.random generator: 48-bit linear congruential (drand48's)."""

    def __init__(self):
        self.x = 0x1234ABCD330E

    def seed(self, v):
        v = int(v) & 0xFFFFFFFF
        self.x = (v << 16) | 0x330E

    def next(self):
        self.x = (self.x * 0x5DEECE66D + 0xB) & 0xFFFFFFFFFFFF
        r = self.x >> 17
        return (r % 2147483647) / 2147483647


_NUMBER = (int, float)


class Engine:
    """The Lua state of this worker and what runs in it."""

    def __init__(self):
        self.client = _core.Client()          # runs the commands of redis.call
        self.loading = False                   # running a library's code (FUNCTION LOAD)
        self.name = b''                        # sha or function name, for error texts
        self.rand = Rand48()
        self.lua = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=True,
                                    register_eval=False, register_builtins=False,
                                    attribute_filter=_no_attributes)
        if not _core.lua_bind(lua51.__file__.encode()):
            raise RuntimeError(f"no Lua C API in {lua51.__file__}")
        # the C functions of the core extension, loaded by Lua itself (it hands them the state)
        opener = self.lua.eval('package.loadlib')(_core.__file__.encode(), b'cachecyt_lua_open')
        if opener is None:
            raise RuntimeError(f"Lua cannot load {_core.__file__}")
        call, pcall_c, setup, self.remember = opener()
        _core.lua_attach(self.client, NOSCRIPT)
        self.json_null = _JsonNull()
        pcall = self.lua.eval('pcall')
        self.M = self.lua.execute(
            PRELUDE, call, pcall_c, self._setresp,
            self._interrupt, self._log, self._sha1, self._random,
            self._bit, self._json_decode, self._mp_pack, self._mp_unpack, self._struct,
            self.json_null, lambda f: CFunction(f, pcall), _unwrap, name=b'=cachecyt')
        self.compile_ = self.M.compile
        self.run_ = self.M.run
        self.run3_ = self.M.run3
        self.call_function_ = self.M.call_function
        self.load_library_ = self.M.load_library
        self.parse_ = self.M.parse
        setup(self.parse_, self.M.env, self.M.err_handler, self.M.S, self.M.finish)

    # ---- entry points -----------------------------------------------------------

    def compile(self, body: bytes, chunkname=b'@user_script'):
        """(function, None) or (None, error text as Lua gave it)."""
        res = self.compile_(body, chunkname)
        if isinstance(res, tuple):
            return None, res[1].decode('utf-8', 'replace')
        return res, None

    def prepare(self, db: int, readonly: bool, name: bytes):
        _core.lua_prepare(db, readonly)       # the clock of the script's start, no write yet
        self.name = name

    def run(self, fn, resp: int, nkeys: int, args) -> bytes:
        if resp == 3:
            return self.run3_(fn, self.name, nkeys, *args)
        return self.run_(fn, self.name, nkeys, *args)

    def call_function(self, fn, resp: int, nkeys: int, args) -> bytes:
        return self.call_function_(fn, resp == 3, self.name, nkeys, *args)

    def load_library(self, body, register):
        self.loading = time.monotonic()
        _core.lua_loading(True)
        try:
            return self.load_library_(body, register)
        finally:
            self.loading = False
            _core.lua_loading(False)

    def _interrupt(self):
        """The Lua count hook, every 100000 instructions: why to stop, or None."""
        if self.loading:
            if time.monotonic() - self.loading > LOAD_TIMEOUT:
                return b'FUNCTION LOAD timeout'
            return None
        if _core.script_kill_requested():
            return b'Script killed by user with SCRIPT KILL...'
        _core.script_busy_tick()              # past the threshold: serve this worker's others
        if _core.script_kill_requested():
            return b'Script killed by user with SCRIPT KILL...'
        return None

    def _setresp(self, v):
        _core.lua_set_resp(int(v))

    # ---- small libraries --------------------------------------------------------------

    def _log(self, level, msg):
        levels = (logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING)
        log.log(levels[int(level)], "%s", msg.decode('utf-8', 'replace'))

    def _sha1(self, s):
        return hashlib.sha1(s).hexdigest().encode()

    def _random(self, *seed):
        if seed:
            self.rand.seed(seed[0])
            return None
        return self.rand.next()

    def _to_lua(self, v):
        """A decoded JSON value as Lua values; iterative, so the 1000 levels
        cjson allows need no Python recursion."""
        if not isinstance(v, (dict, list)):
            return self._scalar_to_lua(v)
        root = self.lua.table()
        stack = [(v, root)]
        while stack:
            src, dst = stack.pop()
            for k, x in (src.items() if isinstance(src, dict) else enumerate(src, 1)):
                if isinstance(x, (dict, list)):
                    t = dst[k] = self.lua.table()
                    stack.append((x, t))
                else:
                    dst[k] = self._scalar_to_lua(x)
        return root

    def _scalar_to_lua(self, v):
        if v is jsondecode.NULL or v is None:
            return self.json_null
        if isinstance(v, str):
            return v.encode()
        return v

    def _json_decode(self, s):
        try:
            value = jsondecode.decode(s)
        except jsondecode.DecodeError as e:
            return False, str(e).encode()
        return True, self._to_lua(value)

    def _from_lua(self, v, depth=0):
        """A Lua value as a Python value for msgpack (tables: list when 1..n, else dict)."""
        if depth > 16:
            return None
        if lua51.lua_type(v) == 'table':
            items = list(v.items())
            n = len(items)
            if not n:
                return []
            if all(isinstance(k, (int, float)) and k == i + 1
                         for i, (k, _) in enumerate(sorted(items, key=lambda kv: _sort_key(kv[0])))):
                return [self._from_lua(v[i + 1], depth + 1) for i in range(n)]
            return {self._from_lua(k, depth + 1): self._from_lua(x, depth + 1) for k, x in items}
        if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 63:
            return int(v)
        if isinstance(v, _JsonNull) or lua51.lua_type(v) is not None:
            return None
        return v

    def _mp_pack(self, *values):
        out = bytearray()
        p = msgpack.Packer(use_bin_type=False)
        for v in values:
            _mp_write(self._from_lua(v), p, out)
        return bytes(out)

    def _mp_unpack(self, s, limit, offset):
        u = msgpack.Unpacker(raw=True, strict_map_key=False)
        u.feed(s[int(offset):])
        out = self.lua.table()
        n = 0
        try:
            for obj in u:
                n += 1
                out[n] = self._mp_to_lua(obj)
                if limit and n >= limit:
                    break
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return b'Missing bytes in input.'
        if limit:                                   # unpack_one / unpack_limit: the offset first
            used = int(offset) + u.tell()
            nxt = -1 if used >= len(s) else used
            for i in range(n, 0, -1):
                out[i + 1] = out[i]
            out[1] = nxt
            n += 1
        out[b'n'] = n
        return out

    def _mp_to_lua(self, v):
        if isinstance(v, dict):
            t = self.lua.table()
            for k, x in v.items():
                t[self._mp_to_lua(k)] = self._mp_to_lua(x)
            return t
        if isinstance(v, (list, tuple)):
            t = self.lua.table()
            for i, x in enumerate(v):
                t[i + 1] = self._mp_to_lua(x)
            return t
        return v

    def _bit(self, name, *args):
        for i, a in enumerate(args):
            if type(a) not in _NUMBER:
                return False, b"bad argument #%d to '%s' (number expected, got %s)" % (
                    i + 1, name, _lua_type_name(a))
        if not args:
            return False, b"bad argument #1 to '%s' (number expected, got no value)" % name
        try:
            return True, BIT[name.decode()](*args)
        except (TypeError, ValueError, OverflowError):
            return False, b"bad argument #2 to '%s' (number expected, got no value)" % name

    def _struct(self, name, *args):
        try:
            res = STRUCT[name.decode()](*args)
        except (pystruct.error, TypeError, ValueError, IndexError) as e:
            msg = str(e)
            arg = 2 if 'too short' in msg else 1
            return b"bad argument #%d to '%s' (%s)" % (arg, name, msg.encode())
        t = self.lua.table()
        for i, x in enumerate(res):
            t[i + 1] = x
        t[b'n'] = len(res)
        return t


def _no_attributes(obj, name, is_setting):
    """Scripts see a few Python objects (CFunction, cjson.null): none of their
    attributes, so nothing of Python is reachable from Lua."""
    raise AttributeError(name)


class LuaRaise(Exception):
    """A Lua error crossing a CFunction: its value goes back to Lua as it was."""

    def __init__(self, value):
        super().__init__()
        self.value = value


class CFunction:
    """A Lua function called as a C function (a callable userdata): the frames
    of the script that calls it stay in place, as with Redis's C library."""
    __slots__ = ('f', 'pcall')

    def __init__(self, f, pcall):
        self.f = f
        self.pcall = pcall

    def __call__(self, *args):
        res = self.pcall(self.f, *args)
        if res is True:
            return ()
        if type(res) is tuple:
            if res[0] is True:
                return res[1:]
            raise LuaRaise(res[1])
        raise LuaRaise(None)


def _unwrap(e):
    """The Lua value of an error raised through a CFunction."""
    if isinstance(e, LuaRaise):
        return e.value
    return ('Error in Python: %s' % e).encode()


def _mp_write(v, p, out):
    """msgpack as cmsgpack writes it: a float that a float32 holds exactly as
    float32, any other as float64; integers and strings the smallest way."""
    if isinstance(v, list):
        out += p.pack_array_header(len(v))
        for x in v:
            _mp_write(x, p, out)
    elif isinstance(v, dict):
        out += p.pack_map_header(len(v))
        for k, x in v.items():
            _mp_write(k, p, out)
            _mp_write(x, p, out)
    elif isinstance(v, float):
        f32 = pystruct.pack('>f', v) if abs(v) < 3.4e38 or v != v else None
        if f32 is not None and (pystruct.unpack('>f', f32)[0] == v or v != v):
            out += b'\xca' + f32
        else:
            out += b'\xcb' + pystruct.pack('>d', v)
    else:
        out += p.pack(v)


def _lua_type_name(v):
    if v is None:
        return b'nil'
    if isinstance(v, bool):
        return b'boolean'
    if isinstance(v, bytes):
        return b'string'
    t = lua51.lua_type(v)
    return t.encode() if isinstance(t, str) else (t or b'userdata')


def _sort_key(k):
    return (0, k) if isinstance(k, (int, float)) else (1, 0)


class _JsonNull:
    """cjson.null: a userdata in Lua, as Redis's lightuserdata NULL."""
    __slots__ = ()


# ---- bit (LuaBitOp semantics: 32-bit two's complement) ------------------------------

def _tobit(x):
    x = int(math.fmod(float(x), 2 ** 32)) & 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _u(x):
    return _tobit(x) & 0xFFFFFFFF


def _tohex(x, n=8):
    n = int(n)
    upper = n < 0
    n = min(abs(n), 8) or 8
    s = '%0*x' % (n, _u(x) & ((1 << (4 * n)) - 1))
    return (s.upper() if upper else s).encode()


def _rol(x, n):
    n = int(n) & 31
    x = _u(x)
    return _tobit(((x << n) | (x >> (32 - n))) & 0xFFFFFFFF)


def _ror(x, n):
    n = int(n) & 31
    x = _u(x)
    return _tobit(((x >> n) | (x << (32 - n))) & 0xFFFFFFFF)


def _fold(op):
    def run(x, *rest):
        v = _u(x)
        for y in rest:
            v = op(v, _u(y))
        return _tobit(v)
    return run


BIT = {
    'tobit': _tobit, 'tohex': _tohex,
    'bnot': lambda x: _tobit(~_u(x)),
    'band': _fold(lambda a, b: a & b), 'bor': _fold(lambda a, b: a | b),
    'bxor': _fold(lambda a, b: a ^ b),
    'lshift': lambda x, n: _tobit((_u(x) << (int(n) & 31)) & 0xFFFFFFFF),
    'rshift': lambda x, n: _tobit(_u(x) >> (int(n) & 31)),
    'arshift': lambda x, n: _tobit(_tobit(x) >> (int(n) & 31)),
    'rol': _rol, 'ror': _ror,
    'bswap': lambda x: _tobit(int.from_bytes(_u(x).to_bytes(4, 'little'), 'big')),
}


# ---- struct (Roberto Ierusalimschy's struct library formats, the common subset) -------

_SIZES = {'b': 1, 'B': 1, 'h': 2, 'H': 2, 'l': 8, 'L': 8, 'T': 8, 'i': 4, 'I': 4,
          'f': 4, 'd': 8, 'c': 1, 'x': 1}


def _struct_items(fmt: bytes):
    """(endian, code, size) for each item of a struct format."""
    f = fmt.decode('latin-1')
    endian = '<'
    i = 0
    while i < len(f):
        ch = f[i]
        i += 1
        if ch in ' ':
            continue
        if ch in '<>=!':
            endian = {'<': '<', '>': '>', '=': '<', '!': '<'}[ch]
            while i < len(f) and f[i].isdigit():
                i += 1
            continue
        digits = ''
        while i < len(f) and f[i].isdigit():
            digits += f[i]
            i += 1
        if ch not in _SIZES and ch != 's':
            raise ValueError(f"invalid format option '{ch}'")
        size = int(digits) if digits else (0 if ch == 's' else _SIZES[ch])
        if ch == 'c' and not digits:
            size = 1
        yield endian, ch, size


def _struct_pack(fmt, *args):
    out = bytearray()
    k = 0
    for endian, ch, size in _struct_items(fmt):
        if ch == 'x':
            out += b'\0'
            continue
        v = args[k]
        k += 1
        if ch in 'fd':
            out += pystruct.pack(endian + ch, float(v))
        elif ch == 'c':
            s = v if isinstance(v, bytes) else str(v).encode()
            out += s[:size].ljust(size, b'\0') if size else s
        elif ch == 's':
            s = v if isinstance(v, bytes) else str(v).encode()
            out += s + b'\0'
        else:
            n = int(v) & ((1 << (8 * size)) - 1)
            out += n.to_bytes(size, 'little' if endian == '<' else 'big')
    return [bytes(out)]


def _struct_unpack(fmt, data, pos=1):
    pos = int(pos) - 1
    out = []
    for endian, ch, size in _struct_items(fmt):
        if ch == 'x':
            pos += 1
            continue
        if ch in 'fd':
            out.append(pystruct.unpack_from(endian + ch, data, pos)[0])
            pos += size
        elif ch == 'c':
            if size == 0:
                size = int(out.pop()) if out else 0
            out.append(data[pos:pos + size])
            pos += size
        elif ch == 's':
            end = data.index(b'\0', pos)
            out.append(data[pos:end])
            pos = end + 1
        else:
            if pos + size > len(data):
                raise ValueError("data string too short")
            n = int.from_bytes(data[pos:pos + size], 'little' if endian == '<' else 'big')
            if ch.islower() and n >= 1 << (8 * size - 1):
                n -= 1 << (8 * size)
            out.append(n)
            pos += size
    out.append(pos + 1)
    return out


def _struct_size(fmt):
    total = 0
    for _, ch, size in _struct_items(fmt):
        if ch == 's':
            raise ValueError("options 's' has no fixed size")
        total += size
    return [total]


STRUCT = {'pack': _struct_pack, 'unpack': _struct_unpack, 'size': _struct_size}
