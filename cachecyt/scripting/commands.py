"""Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO,
FUNCTION. Replies and error texts follow Redis 7.0.

A script runs under the node-wide script record (shm/script.pxi): it holds
every shard while it runs, so any key it touches, declared or not, is atomic
with respect to every worker (scripts are serialised node-wide). The Lua state
is this worker's (lua.Engine, made on first use); the script cache and the
function libraries are shared through store.Store. Compiled functions are kept
per worker and rebuilt when the shared generation says something changed."""
import fnmatch
import hashlib
import re

import msgpack

from cachecyt import _core
from cachecyt._core import OK, CommandError, Raw, Status
from cachecyt.scripting import store as storemod

_engine = None
_store = None
_segment = None

COMPILED = {}          # sha -> Lua function (this worker)
BY_BODY = {}           # body -> (sha, function): EVAL without hashing
BY_BODY_MAX = 4096
_by_body_gen = None


def attach(segment_name):
    """The worker (or a test) names its node: the shared store lives beside it."""
    global _segment, _store
    if _store is not None:
        _store.close()
    _segment = segment_name
    _store = None
    _forget_local()


def engine():
    global _engine
    if _engine is None:
        from cachecyt.scripting.lua import Engine
        _engine = Engine()
    return _engine


def store():
    global _store
    if _store is None:
        if _segment is None:
            raise CommandError("ERR scripting is not available: no node segment")
        _store = storemod.Store(storemod.base_path(_segment))
    return _store


def _forget_local():
    global _by_body_gen
    COMPILED.clear()
    BY_BODY.clear()
    _by_body_gen = None
    LIBS.clear()
    FUNCS.clear()
    _libs_gen[0] = None


# ---- shared helpers ------------------------------------------------------------------

def _text(b: bytes) -> str:
    return b.decode('utf-8', 'replace')


_INT = re.compile(rb'-?[1-9][0-9]*|0')


def _numkeys(arg: bytes, nargs: int) -> int:
    if len(arg) == 1 and 48 <= arg[0] <= 57:
        n = arg[0] - 48                                  # the common case: one digit
    elif _INT.fullmatch(arg) is None or not -2 ** 63 <= int(arg) < 2 ** 63:
        raise CommandError("ERR value is not an integer or out of range")
    else:
        n = int(arg)
    if n > nargs:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    if n < 0:
        raise CommandError("ERR Number of keys can't be negative")
    return n


def _subcommand(args, specs, container):
    sub = _text(args[1]).lower()
    arity = specs.get(sub)
    if arity is None:
        raise CommandError(f"ERR unknown subcommand '{_text(args[1])[:128]}'. "
                           f"Try {container.upper()} HELP.")
    if (arity > 0 and len(args) != arity) or len(args) < -arity:
        raise CommandError(f"ERR wrong number of arguments for '{container}|{sub}' command")
    return sub


def _refuse_when_busy():
    """SCRIPT and FUNCTION run while another worker's script is busy (allow_busy),
    but only the KILL of the kind of script running answers past the threshold."""
    busy = _core.script_busy_reply()
    if busy:
        raise CommandError(busy)


def _run(c, fn, name: bytes, nkeys: int, args, readonly: bool, is_function: bool):
    """Run a compiled script or function under the script record."""
    eng = engine()
    busy = _core.script_begin(is_function)
    if busy:
        raise CommandError(busy)
    _core.wal_group_begin()           # the script's writes are one WAL record
    try:
        eng.prepare(c.db, readonly, name)
        _core.tenant_share(eng.client, c)          # a tenant's script stays in its tenant
        _core.script_set_caller(c)
        if is_function:
            out = eng.call_function(fn, c.resp, nkeys, args)
        else:
            out = eng.run(fn, c.resp, nkeys, args)
    finally:
        _core.script_set_caller(None)
        try:
            _core.wal_group_end(c)
        finally:
            _core.script_end()
    return Raw(out)


# ---- EVAL & co. -----------------------------------------------------------------------

def _sha(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()


def _compile_script(sha: bytes, body: bytes):
    """The compiled function; also handed to the fast path (scripting/luacall.pxi),
    which runs it without Python next time. Only a request the fast path did not
    know comes here, so it is handed over again even when compiled already (the
    fast path's tables are bounded and start over when full)."""
    eng = engine()
    fn = COMPILED.get(sha)
    if fn is None:
        flags = shebang_flags(body)
        fn, err = eng.compile(body if flags is None else body[body.find(b'\n'):])
        if fn is None:
            raise CommandError(f"ERR Error compiling script (new function): {err}")
        COMPILED[sha] = fn
    if not body.startswith(b'#!'):
        eng.remember(body, sha, fn)       # the fast path runs scripts without flags only
    return fn


def _sync_cache(st):
    """Forget the compiled scripts when the shared cache changed (SCRIPT FLUSH)."""
    global _by_body_gen
    st.sync()
    if _by_body_gen != st.gen:
        BY_BODY.clear()
        COMPILED.clear()
        _core.lua_forget(st.gen)
        _by_body_gen = st.gen


def _known(body: bytes):
    """(sha, function) of a script body, compiled and in the shared cache."""
    st = store()
    _sync_cache(st)
    hit = BY_BODY.get(body)
    if hit is not None:
        if not body.startswith(b'#!'):
            engine().remember(body, hit[0], hit[1])
    else:
        sha = _sha(body)
        fn = _compile_script(sha, body)
        st.add(sha, body)
        if len(BY_BODY) >= BY_BODY_MAX:
            BY_BODY.clear()
        hit = BY_BODY[body] = (sha, fn)
    return hit


def shebang_flags(body: bytes):
    """The flags of an EVAL script's shebang line (`#!lua flags=no-writes,...`),
    or None for a script without one (Redis 7.0's compatibility mode)."""
    if not body.startswith(b'#!'):
        return None
    nl = body.find(b'\n')
    if nl < 0:
        raise CommandError("ERR Invalid script shebang")
    parts = body[:nl].split()
    if not parts:
        raise CommandError("ERR Invalid engine in script shebang")
    if parts[0] != b'#!lua':
        raise CommandError(f"ERR Unexpected engine in script shebang: {_text(parts[0])}")
    flags = set()
    for part in parts[1:]:
        if not part.startswith(b'flags='):
            raise CommandError(f"ERR Unknown lua shebang option: {_text(part)}")
        for f in part[6:].split(b',') if part[6:] else ():
            if _text(f) not in FUNCTION_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {_text(f)}")
            flags.add(_text(f))
    return flags


def _script_readonly(body: bytes, readonly: bool) -> bool:
    """Whether a script runs read-only: *_RO, or a no-writes shebang."""
    flags = shebang_flags(body)
    if flags is None:
        return readonly
    if readonly and 'no-writes' not in flags:
        raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
    return readonly or 'no-writes' in flags


def eval_(c, args, readonly=False):
    nkeys = _numkeys(args[2], len(args) - 3)
    sha, fn = _known(args[1])
    return _run(c, fn, sha, nkeys, args[3:], _script_readonly(args[1], readonly), False)


def evalsha(c, args, readonly=False):
    sha = args[1].lower()
    nkeys = _numkeys(args[2], len(args) - 3)
    st = store()
    _sync_cache(st)
    body = st.get(sha) if len(sha) == 40 else None
    if body is None:
        raise CommandError("NOSCRIPT No matching script. Please use EVAL.")
    fn = _compile_script(sha, body)
    return _run(c, fn, sha, nkeys, args[3:], _script_readonly(body, readonly), False)


def eval_ro(c, args):
    return eval_(c, args, True)


def evalsha_ro(c, args):
    return evalsha(c, args, True)


SCRIPT_SUBS = {'load': 3, 'exists': -3, 'flush': -2, 'kill': 2, 'help': 2}
SCRIPT_HELP = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
]

E_NOTBUSY = "NOTBUSY No scripts in execution right now."
E_UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. "
                "You can either wait the script termination or kill the server in a hard way using "
                "the SHUTDOWN NOSAVE command.")


def _kill(is_function):
    owner, _, flags = _core.script_status()
    if owner >= 0 and bool(flags & 2) != is_function:
        _refuse_when_busy()                # the other kind of script: as any command
    res = _core.script_kill(is_function)
    if res == 'notbusy':
        raise CommandError(E_NOTBUSY)
    if res == 'unkillable':
        raise CommandError(E_UNKILLABLE)
    return OK


def script(c, args):
    sub = _subcommand(args, SCRIPT_SUBS, 'script')
    if sub == 'kill':
        return _kill(False)
    _refuse_when_busy()
    if sub == 'help':
        return [Status(line) for line in SCRIPT_HELP]
    if sub == 'load':
        sha, _ = _known(args[2])
        return sha
    if sub == 'exists':
        st = store()
        return [1 if len(a) == 40 and st.get(a.lower()) is not None else 0 for a in args[2:]]
    # flush
    if len(args) > 3 or (len(args) == 3 and _text(args[2]).lower() not in ('sync', 'async')):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    store().flush_scripts()
    COMPILED.clear()
    BY_BODY.clear()
    return OK


# ---- functions ------------------------------------------------------------------------

class Library:
    def __init__(self, name, code):
        self.name = name
        self.code = code
        self.functions = {}          # name -> (Lua function, flags list, description or None)


LIBS = {}              # library name -> Library (this worker's compiled copy)
FUNCS = {}             # function name -> (Library, Lua function, flags)
_libs_gen = [None]

_NAME_OK = re.compile(rb'[A-Za-z0-9_]+')
E_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must be "
          "at least one character long")
FUNCTION_FLAGS = ('no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys')


def _parse_shebang(code: bytes):
    """(library name, code for Lua: the shebang line left empty)."""
    if not code.startswith(b'#!'):
        raise CommandError("ERR Missing library metadata")
    nl = code.find(b'\n')
    first = code[2:] if nl < 0 else code[2:nl]
    parts = first.split(b' ')
    engine_name = parts[0]
    if engine_name.lower() != b'lua':
        raise CommandError(f"ERR Engine '{_text(engine_name)}' not found")
    name = None
    for p in parts[1:]:
        if p.startswith(b'name='):
            name = p[5:]
        else:
            raise CommandError(f"ERR Invalid metadata value given: {_text(p)}")
    if name is None:
        raise CommandError("ERR Library name was not given")
    if not _NAME_OK.fullmatch(name):
        raise CommandError(f"ERR {E_NAME}")
    return name, (b'' if nl < 0 else code[nl:])


def _compile_library(code: bytes) -> Library:
    name, body = _parse_shebang(code)
    lib = Library(name, code)
    eng = engine()
    lua_type = _lua_type()

    def register(*args):
        if len(args) == 1 and lua_type(args[0]) == 'table':
            t = args[0]
            extra = set(t.keys()) - {b'function_name', b'callback', b'flags', b'description'}
            if extra:
                return b'ERR unknown argument given to redis.register_function'
            fname, cb, flags_t, desc = t[b'function_name'], t[b'callback'], t[b'flags'], t[b'description']
        elif len(args) == 2:
            (fname, cb), flags_t, desc = args, None, None
        else:
            return b'ERR wrong number of arguments to redis.register_function'
        if not isinstance(fname, bytes) or not _NAME_OK.fullmatch(fname):
            return ('ERR ' + E_NAME).encode()
        if lua_type(cb) != 'function':
            return b'ERR callback argument given to redis.register_function must be a function'
        flags = []
        if flags_t is not None:
            if lua_type(flags_t) != 'table':
                return b'ERR flags argument to redis.register_function must be a table representing function flags'
            for f in flags_t.values():
                if not isinstance(f, bytes) or f.decode() not in FUNCTION_FLAGS:
                    return b'ERR unknown flag given'
                flags.append(f.decode())
        if desc is not None and not isinstance(desc, bytes):
            return b'ERR description argument given to redis.register_function must be a string'
        if fname in lib.functions:
            return b'ERR Function already exists in the library'
        lib.functions[fname] = (cb, flags, desc)
        return None

    res = eng.load_library(body, register)
    if isinstance(res, tuple) and not res[0]:
        msg = _text(res[1])
        if msg.startswith('Error compiling function'):
            raise CommandError('ERR ' + msg)
        raise CommandError('ERR Error registering functions: ' + msg)
    if not lib.functions:
        raise CommandError("ERR No functions registered")
    return lib


def _lua_type():
    from lupa import lua51
    return lua51.lua_type


def _install(libs):
    LIBS.clear()
    FUNCS.clear()
    for lib in libs:
        LIBS[lib.name] = lib
        for fname, (fn, flags, _) in lib.functions.items():
            FUNCS[fname] = (lib, fn, flags)


def _sync_functions():
    st = store()
    gen = st.function_gen()
    if _libs_gen[0] != gen:
        libs = []
        for code in st.libraries():
            try:
                libs.append(_compile_library(code))
            except CommandError:
                pass                       # cannot happen: it loaded once
        _install(libs)
        _libs_gen[0] = gen


def _check_conflicts(lib, libs, replace):
    """Library and function names of lib against the libraries libs (compiled)."""
    for other in libs:
        if other.name == lib.name:
            if not replace:
                raise CommandError(f"ERR Library '{_text(lib.name)}' already exists")
            continue
        for fname in lib.functions:
            if fname in other.functions:
                raise CommandError(f"ERR Function {_text(fname)} already exists")


def fcall(c, args, readonly=False):
    _sync_functions()
    hit = FUNCS.get(args[1])
    if hit is None:
        raise CommandError("ERR Function not found")
    nkeys = _numkeys(args[2], len(args) - 3)
    lib, fn, flags = hit
    no_writes = 'no-writes' in flags
    if readonly and not no_writes:
        raise CommandError("ERR Can not execute a script with write flag using *_ro command.")
    return _run(c, fn, args[1], nkeys, args[3:], readonly or no_writes, True)


def fcall_ro(c, args):
    return fcall(c, args, True)


FUNCTION_SUBS = {'load': -3, 'delete': 3, 'flush': -2, 'kill': 2, 'list': -2, 'dump': 2,
                 'restore': -3, 'stats': 2, 'help': 2}
FUNCTION_HELP = [
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
]

DUMP_MAGIC = b'CCFN\x01'


def function(c, args):
    sub = _subcommand(args, FUNCTION_SUBS, 'function')
    if sub == 'kill':
        return _kill(True)
    _refuse_when_busy()
    if sub == 'stats':
        return _function_stats()
    if sub == 'help':
        return [Status(line) for line in FUNCTION_HELP]
    _sync_functions()
    if sub == 'load':
        return _function_load(args[2:])
    if sub == 'list':
        return _function_list(args[2:])
    if sub == 'delete':
        return _function_delete(args[2])
    if sub == 'flush':
        if len(args) > 3 or (len(args) == 3 and _text(args[2]).lower() not in ('sync', 'async')):
            raise CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        store().change_libraries(lambda codes: [])
        _sync_functions()
        return OK
    if sub == 'dump':
        codes = store().libraries()
        data = msgpack.packb(codes)
        return DUMP_MAGIC + data + hashlib.sha1(data).digest()[:8]
    return _function_restore(args[2:])


def _function_load(rest):
    replace = False
    if len(rest) > 1:
        if _text(rest[0]).lower() != 'replace' or len(rest) > 2:
            raise CommandError(f"ERR Unknown option given: {_text(rest[0])}")
        replace = True
    code = rest[-1]
    lib = _compile_library(code)

    def change(codes):
        libs = [_compile_library(x) for x in codes]
        _check_conflicts(lib, libs, replace)
        return [x.code for x in libs if x.name != lib.name] + [code]
    store().change_libraries(change)
    _sync_functions()
    return lib.name


def _function_delete(name):
    def change(codes):
        names = [_parse_shebang(x)[0] for x in codes]
        if name not in names:
            raise CommandError("ERR Library not found")
        return [x for x, n in zip(codes, names) if n != name]
    store().change_libraries(change)
    _sync_functions()
    return OK


def _function_list(opts):
    pattern, withcode = None, False
    i = 0
    while i < len(opts):
        o = _text(opts[i]).lower()
        if o == 'withcode' and not withcode:
            withcode = True
        elif o == 'libraryname' and pattern is None:
            if i + 1 >= len(opts):
                raise CommandError("ERR library name argument was not given")
            pattern = opts[i + 1]
            i += 1
        else:
            raise CommandError(f"ERR Unknown argument {_text(opts[i])}")
        i += 1
    out = []
    for lib in LIBS.values():
        if pattern is not None and not fnmatch.fnmatchcase(_text(lib.name), _text(pattern)):
            continue
        funcs = [{'name': fname, 'description': desc, 'flags': _FlagSet(flags)}
                 for fname, (_, flags, desc) in lib.functions.items()]
        entry = {'library_name': lib.name, 'engine': 'LUA', 'functions': funcs}
        if withcode:
            entry['library_code'] = lib.code
        out.append(entry)
    return out


class _FlagSet(set):
    """The flags of a function: a set reply in RESP3, in Redis's order."""

    def __init__(self, flags):
        self.order = [Status(f) for f in FUNCTION_FLAGS if f in flags]
        super().__init__(self.order)

    def __iter__(self):
        return iter(self.order)


def _function_stats():
    owner, age, flags = _core.script_status()
    running = None
    if owner >= 0 and flags & 2:
        running = {'name': b'', 'command': [], 'duration_ms': age}
    nfuncs = sum(len(lib.functions) for lib in LIBS.values())
    return {'running_script': running,
            'engines': {'LUA': {'libraries_count': len(LIBS), 'functions_count': nfuncs}}}


def _function_restore(rest):
    payload = rest[0]
    policy = 'append'
    if len(rest) > 1:
        policy = _text(rest[1]).lower()
        if policy not in ('flush', 'append', 'replace') or len(rest) > 2:
            raise CommandError("ERR Wrong restore policy given, value should be either FLUSH, "
                               "APPEND or REPLACE.")
    data = payload[len(DUMP_MAGIC):-8]
    if (not payload.startswith(DUMP_MAGIC) or len(payload) < len(DUMP_MAGIC) + 8
            or hashlib.sha1(data).digest()[:8] != payload[-8:]):
        raise CommandError("ERR DUMP payload version or checksum are wrong")
    codes = msgpack.unpackb(data)
    new = [_compile_library(x) for x in codes]

    def change(current):
        libs = [] if policy == 'flush' else [_compile_library(x) for x in current]
        for lib in new:
            if policy == 'append' and any(x.name == lib.name for x in libs):
                raise CommandError(f"ERR Library {_text(lib.name)} already exists")
            libs = [x for x in libs if x.name != lib.name]
            _check_conflicts(lib, libs, True)
            libs.append(lib)
        return [x.code for x in libs]
    store().change_libraries(change)
    _sync_functions()
    return OK


HANDLERS = {
    'eval': eval_, 'evalsha': evalsha, 'eval_ro': eval_ro, 'evalsha_ro': evalsha_ro,
    'script': script, 'fcall': fcall, 'fcall_ro': fcall_ro, 'function': function,
}


# ---- CLIENT PAUSE WRITE (commands/pause.pxi) ------------------------------------------

def script_may_write(args) -> bool:
    """Whether EVAL/EVALSHA/FCALL args may write or replicate, as Redis 7.0
    decides for CLIENT PAUSE WRITE: a script or function declaring no-writes
    does not; one without a shebang (or not known yet) may."""
    try:
        name = args[0].lower()
        if name == b'fcall':
            _sync_functions()
            hit = FUNCS.get(args[1])
            return hit is None or 'no-writes' not in hit[2]
        body = args[1]
        if name == b'evalsha':
            body = store().get(args[1].lower()) if len(args[1]) == 40 else None
            if body is None:
                return True
        flags = shebang_flags(body)
    except CommandError:
        return True
    return flags is None or 'no-writes' not in flags
