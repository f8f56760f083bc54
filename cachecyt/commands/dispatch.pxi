# Dispatch: the command table in C, lookup by name, the generic checks (unknown
# command, arity, maxmemory) and the call of the handler. Handlers assume those
# checks passed. A Cython handler writes its reply into c.out itself; a Python
# handler returns a value that encode_value turns into RESP.

ctypedef int (*handler_t)(Client c) except -1

cdef enum:
    CF_WRITE = 1
    CF_READONLY = 2
    CF_DENYOOM = 4
    CF_ADMIN = 8
    CF_FAST = 16
    CF_NOAUTH = 32
    CF_LOADING = 64
    CF_STALE = 128
    CF_NOSCRIPT = 256
    CF_PUBSUB = 512
    CF_BLOCKING = 1024
    CF_RANDOM = 2048
    CF_MOVABLE = 4096             # keys not described by first/last/step (numkeys ...)
    CF_ALLOWBUSY = 8192          # runs while another worker's script is busy (shm/script.pxi)
    CF_MONITOR_FIRST = 1 << 16   # shown to MONITOR before it runs (scripts: their calls follow)
    NAME_SLOTS = 2048

ctypedef struct cmd_t:
    char name[32]
    uint32_t nlen
    int arity
    uint32_t flags
    int first
    int last
    int step
    handler_t cf

cdef cmd_t g_cmds[MAX_COMMANDS]
cdef int g_ncmds = 0
cdef int16_t g_name_slots[NAME_SLOTS]        # index + 1 by hash of the lowercase name
cdef list g_py_handlers = []
cdef dict g_c_handlers = {}                 # name -> address of a cdef handler

FLAG_BITS = {'write': CF_WRITE, 'readonly': CF_READONLY, 'denyoom': CF_DENYOOM,
             'admin': CF_ADMIN, 'fast': CF_FAST, 'noauth': CF_NOAUTH, 'loading': CF_LOADING,
             'stale': CF_STALE, 'noscript': CF_NOSCRIPT, 'pubsub': CF_PUBSUB,
             'blocking': CF_BLOCKING, 'random': CF_RANDOM,
             'movablekeys': CF_MOVABLE, 'allow_busy': CF_ALLOWBUSY}

# commands whose MONITOR line precedes the lines of the commands they run, as Redis
MONITOR_FIRST = {'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'}


cdef void register_c(str name, handler_t f):
    g_c_handlers[name] = <size_t>f


cdef inline uint64_t _name_hash(const char *s, uint64_t n) noexcept nogil:
    cdef uint64_t h = 1469598103934665603ULL, i
    cdef unsigned char ch
    for i in range(n):
        ch = <unsigned char>s[i]
        if 65 <= ch <= 90:
            ch += 32
        h = (h ^ ch) * 1099511628211ULL
    return h


cdef inline int cmd_lookup(const char *s, uint64_t n) noexcept nogil:
    """Index of the command named s (any case), or -1."""
    cdef uint64_t i
    cdef int idx
    if n == 0 or n >= 32:
        return -1
    i = _name_hash(s, n) & (NAME_SLOTS - 1)
    while g_name_slots[i]:
        idx = g_name_slots[i] - 1
        if g_cmds[idx].nlen == n and strncasecmp(g_cmds[idx].name, s, n) == 0:
            return idx
        i = (i + 1) & (NAME_SLOTS - 1)
    return -1


def install_commands(list table, dict py_handlers):
    """Build the C command table from commands/table.py and the Python handlers."""
    global g_ncmds
    cdef int idx
    cdef uint64_t i
    cdef bytes bname
    _register_core_handlers()
    memset(g_name_slots, 0, sizeof(g_name_slots))
    g_py_handlers.clear()
    g_ncmds = 0
    for entry in table:
        name, arity, flags, first, last, step, group = entry
        idx = g_ncmds
        bname = name.encode()
        strncpy(g_cmds[idx].name, bname, 31)
        g_cmds[idx].nlen = len(bname)
        g_cmds[idx].arity = arity
        g_cmds[idx].flags = sum(FLAG_BITS[f] for f in flags.split())
        if name in MONITOR_FIRST:
            g_cmds[idx].flags |= CF_MONITOR_FIRST
        g_cmds[idx].first = first
        g_cmds[idx].last = last
        g_cmds[idx].step = step
        g_cmds[idx].cf = <handler_t><size_t>g_c_handlers.get(name, 0)
        pyh = py_handlers.get(name)
        if g_cmds[idx].cf == NULL and pyh is None:
            raise RuntimeError(f"command {name} has no handler")
        g_py_handlers.append(pyh)
        i = _name_hash(bname, len(bname)) & (NAME_SLOTS - 1)
        while g_name_slots[i]:
            i = (i + 1) & (NAME_SLOTS - 1)
        g_name_slots[i] = idx + 1
        g_ncmds += 1


def command_names():
    return [g_cmds[i].name.decode() for i in range(g_ncmds)]


def command_index(str name):
    cdef bytes b = name.encode()
    return cmd_lookup(b, len(b))


def command_stats():
    """{name: (calls, usec, rejected, failed)} summed over every worker slot."""
    out = {}
    cdef int i, w
    cdef cmdstat_t *cs
    for i in range(g_ncmds):
        calls = usec = rej = fail = 0
        for w in range(MAX_WORKERS):
            cs = cmdstat_at(w, i)
            calls += cs.calls
            usec += cs.usec
            rej += cs.rejected
            fail += cs.failed
        if calls or rej or fail:
            out[g_cmds[i].name.decode()] = (calls, usec, rej, fail)
    return out


def reset_command_stats():
    memset(P(g_hdr.cmdstats_off), 0, sizeof(cmdstat_t) * MAX_WORKERS * MAX_COMMANDS)


cdef void _sanitized(wbuf_t *w, const char *s, uint64_t n, uint64_t cap) noexcept nogil:
    """User text inside an error line: CR/LF become spaces, at most cap bytes."""
    cdef uint64_t i
    cdef char ch
    if n > cap:
        n = cap
    for i in range(n):
        ch = s[i]
        if ch == 13 or ch == 10:
            ch = 32
        wb_put(w, &ch, 1)


cdef inline uint64_t _cstr_len(const char *s, uint64_t n) noexcept nogil:
    """Length up to the first NUL: Redis prints these arguments as C strings."""
    cdef const char *nul = <const char *>memchr(s, 0, n)
    return <uint64_t>(nul - s) if nul != NULL else n


cdef void reply_unknown_command(Client c) noexcept:
    cdef wbuf_t *w = &c.out
    cdef uint64_t i, used = 0, take
    wb_put(w, "-ERR unknown command '", 22)
    _sanitized(w, c.argv[0], _cstr_len(c.argv[0], c.argl[0]), 128)
    wb_put(w, "', with args beginning with: ", 29)
    i = 1
    while i < c.argc and used < 128:
        take = _cstr_len(c.argv[i], c.argl[i])
        if take > 128 - used:
            take = 128 - used
        wb_put(w, "'", 1)
        _sanitized(w, c.argv[i], take, take)
        wb_put(w, "' ", 2)
        used += take + 3
        i += 1
    wb_put(w, "\r\n", 2)


cdef void reply_arity(Client c, const char *name) noexcept:
    wb_put(&c.out, "-ERR wrong number of arguments for '", 36)
    wb_cstr(&c.out, name)
    wb_put(&c.out, "' command\r\n", 11)


cdef void reply_subcommand_arity(Client c, int nargs) noexcept:
    """Arity error of a subcommand, named 'container|sub' as Redis 7 does."""
    cdef uint64_t i
    cdef char ch
    wb_put(&c.out, "-ERR wrong number of arguments for '", 36)
    for j in range(nargs):
        for i in range(c.argl[j]):
            ch = c.argv[j][i]
            if 65 <= ch <= 90:
                ch += 32
            wb_put(&c.out, &ch, 1)
        if j + 1 < nargs:
            wb_put(&c.out, "|", 1)
    wb_put(&c.out, "' command\r\n", 11)


# ---- Python values to RESP (Python handlers) -------------------------------------

class Status(str):
    """A simple string reply (+OK)."""

class Verbatim(str):
    """Text sent as RESP3 verbatim string (INFO, CLIENT LIST)."""

class Push(list):
    """A RESP3 push message (an array in RESP2)."""

class Raw(bytes):
    """A reply already encoded as RESP, sent as it is (script results)."""

OK = Status('OK')
NO_REPLY = object()          # a Python handler that answers nothing (SHUTDOWN)


cdef int encode_value(wbuf_t *w, object v) except -1:
    cdef bytes b
    if v is None:
        wb_null(w)
    elif isinstance(v, Raw):
        wb_put(w, <bytes>v, len(<bytes>v))
    elif isinstance(v, bool):
        wb_bool(w, v)
    elif isinstance(v, int):
        wb_int(w, v)
    elif isinstance(v, Status):
        b = v.encode()
        wb_put(w, "+", 1)
        wb_put(w, b, len(b))
        wb_put(w, "\r\n", 2)
    elif isinstance(v, CommandError):
        b = str(v).encode()
        b = b.replace(b'\r', b' ').replace(b'\n', b' ')
        wb_put(w, "-", 1)
        wb_put(w, b, len(b))
        wb_put(w, "\r\n", 2)
    elif isinstance(v, Verbatim):
        b = v.encode()
        wb_verbatim(w, b, len(b))
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        wb_bulk(w, b, len(b))
    elif isinstance(v, str):
        b = v.encode()
        wb_bulk(w, b, len(b))
    elif isinstance(v, float):
        wb_double(w, v)
    elif isinstance(v, dict):
        wb_map(w, len(v))
        for k, x in v.items():
            encode_value(w, k)
            encode_value(w, x)
    elif isinstance(v, (set, frozenset)):
        wb_set(w, len(v))
        for x in v:
            encode_value(w, x)
    elif isinstance(v, Push):
        wb_push(w, len(v))
        for x in v:
            encode_value(w, x)
    elif isinstance(v, (list, tuple)):
        wb_array(w, len(v))
        for x in v:
            encode_value(w, x)
    else:
        raise TypeError(f"cannot encode {type(v).__name__}")
    return 0


def encode(v, int resp=2):
    """RESP bytes of a Python value (tests and tools)."""
    cdef wbuf_t w
    wb_init(&w)
    w.resp = resp
    try:
        encode_value(&w, v)
        return w.p[:w.len]
    finally:
        free(w.p)
