# The scripting fast path, on the Lua 5.1 C API: redis.call / redis.pcall as
# real Lua C functions, and EVAL / EVALSHA / EVAL_RO / EVALSHA_RO of a script
# this worker has already compiled, run from the command handler straight into
# Lua and back without a Python object on the way. Everything else about
# scripting (compiling, the shared cache, FUNCTION, the sandbox and the Lua half
# in prelude.py) stays in cachecyt/scripting/*.py; a request the fast path does
# not know (a script seen for the first time, a changed cache generation, an
# unusual numkeys) goes to the Python handler, which remembers what it compiled
# here for the next time.
#
# How it works
#   The Lua is the one lupa loaded (lupa.lua51, PUC Lua 5.1.5): its shared
#   object exports the C API, so lua_bind() finds the functions with dlsym and
#   keeps them as pointers (ccl_*); this extension does not link Lua. The
#   worker's Lua state is lupa's: the Engine (lua.py) asks Lua itself to load
#   cachecyt_lua_open from this extension (package.loadlib, in the state's own
#   globals, never the scripts'); called, it hands Lua the C functions below.
#   setup() records the state and registry references to what the fast path
#   uses of the prelude (the RESP parser, the scripts' globals, the error
#   handler, its state table, `finish`) and makes two cache tables (script body
#   -> {function, sha}, and sha -> the same) that remember() fills.
#
#   A fast EVAL sets KEYS and ARGV in the scripts' globals, calls the function
#   under the prelude's error handler (lua_pcall, the GIL kept: the worker has
#   nothing else to run meanwhile) and writes a scalar result as RESP itself;
#   a table result or an error goes through the prelude's `finish`, the same
#   encoder the Python path uses.
#
#   redis.call runs the command through the Engine's private Client (the same
#   checks, dispatch and handlers as any client) and turns the reply into Lua
#   values itself: scalars and flat arrays in C, anything else (nested, RESP3)
#   through the prelude's Lua parser.
#
#   longjmp: lua_error never crosses a frame that owns a Python reference or
#   the GIL. The C functions are plain C: they take the GIL, call the Cython
#   half (which leaves the reply or the error value on the Lua stack and
#   returns), give the GIL back, and only then raise. Lua is entered only
#   through lua_pcall (the fast EVAL) or lupa, whose frames catch it.

cdef extern from *:
    """
    #include <dlfcn.h>
    typedef struct lua_State lua_State;
    typedef int (*ccl_cfunction)(lua_State *L);
    #define CCL_REGISTRYINDEX (-10000)
    #define CCL_TNIL 0
    #define CCL_TBOOLEAN 1
    #define CCL_TNUMBER 3
    #define CCL_TSTRING 4
    #define CCL_TTABLE 5
    #define CCL_CACHE_MAX 4096
    static int (*ccl_gettop)(lua_State *);
    static void (*ccl_settop)(lua_State *, int);
    static void (*ccl_pushvalue)(lua_State *, int);
    static int (*ccl_type)(lua_State *, int);
    static const char *(*ccl_tolstring)(lua_State *, int, size_t *);
    static void (*ccl_pushnil)(lua_State *);
    static double (*ccl_tonumber)(lua_State *, int);
    static int (*ccl_toboolean)(lua_State *, int);
    static inline double ccl_tonumber_(lua_State *L, int i) { return ccl_tonumber(L, i); }
    static inline int ccl_toboolean_(lua_State *L, int i) { return ccl_toboolean(L, i); }
    static void (*ccl_pushnumber)(lua_State *, double);
    static void (*ccl_pushlstring)(lua_State *, const char *, size_t);
    static void (*ccl_pushboolean)(lua_State *, int);
    static void (*ccl_pushcclosure)(lua_State *, ccl_cfunction, int);
    static void (*ccl_createtable)(lua_State *, int, int);
    static void (*ccl_rawget)(lua_State *, int);
    static void (*ccl_rawgeti)(lua_State *, int, int);
    static void (*ccl_rawset)(lua_State *, int);
    static void (*ccl_rawseti)(lua_State *, int, int);
    static int (*ccl_pcall)(lua_State *, int, int, int);
    static int (*ccl_error)(lua_State *);
    static int (*ccl_checkstack)(lua_State *, int);
    static int (*ccl_ref)(lua_State *, int);
    static void (*ccl_unref)(lua_State *, int, int);

    static lua_State *ccl_L;                 /* the worker's state, once setup() ran */
    static int ccl_ref_parse, ccl_ref_env, ccl_ref_handler, ccl_ref_state, ccl_ref_finish;
    static int ccl_ref_bodies, ccl_ref_shas;
    static int ccl_cached;                   /* entries remembered in the cache tables */
    static int (*ccl_call_inner)(lua_State *L, int raise_);

    /* Find the C API in lupa's Lua (path: its shared object). 0, or -1. */
    static int ccl_bind(const char *path) {
        void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (!h) h = dlopen(path, RTLD_NOW);
        if (!h) return -1;
        #define CCL_SYM(var, name) if (!(*(void **)&var = dlsym(h, name))) return -1;
        CCL_SYM(ccl_gettop, "lua_gettop") CCL_SYM(ccl_settop, "lua_settop")
        CCL_SYM(ccl_pushvalue, "lua_pushvalue") CCL_SYM(ccl_type, "lua_type")
        CCL_SYM(ccl_tolstring, "lua_tolstring") CCL_SYM(ccl_pushnil, "lua_pushnil")
        CCL_SYM(ccl_tonumber, "lua_tonumber") CCL_SYM(ccl_toboolean, "lua_toboolean")
        CCL_SYM(ccl_pushnumber, "lua_pushnumber") CCL_SYM(ccl_pushlstring, "lua_pushlstring")
        CCL_SYM(ccl_pushboolean, "lua_pushboolean") CCL_SYM(ccl_pushcclosure, "lua_pushcclosure")
        CCL_SYM(ccl_createtable, "lua_createtable") CCL_SYM(ccl_rawget, "lua_rawget")
        CCL_SYM(ccl_rawgeti, "lua_rawgeti") CCL_SYM(ccl_rawset, "lua_rawset")
        CCL_SYM(ccl_rawseti, "lua_rawseti") CCL_SYM(ccl_pcall, "lua_pcall")
        CCL_SYM(ccl_error, "lua_error") CCL_SYM(ccl_checkstack, "lua_checkstack")
        CCL_SYM(ccl_ref, "luaL_ref") CCL_SYM(ccl_unref, "luaL_unref")
        #undef CCL_SYM
        return 0;
    }

    /* redis.call and redis.pcall: the Cython half runs with the GIL; the error
       (redis.call only) is raised after the GIL is given back. */
    static int ccl_redis_call(lua_State *L) {
        PyGILState_STATE st = PyGILState_Ensure();
        int n = ccl_call_inner(L, 1);
        PyGILState_Release(st);
        if (n < 0) return ccl_error(L);
        return n;
    }
    static int ccl_redis_pcall(lua_State *L) {
        PyGILState_STATE st = PyGILState_Ensure();
        int n = ccl_call_inner(L, 0);
        PyGILState_Release(st);
        return n;
    }

    static void ccl_new_caches(lua_State *L) {
        if (ccl_ref_bodies) ccl_unref(L, CCL_REGISTRYINDEX, ccl_ref_bodies);
        if (ccl_ref_shas) ccl_unref(L, CCL_REGISTRYINDEX, ccl_ref_shas);
        ccl_createtable(L, 0, 0);
        ccl_ref_bodies = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_createtable(L, 0, 0);
        ccl_ref_shas = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_cached = 0;
    }

    /* setup(parse, env, err_handler, S, finish): what the fast path uses of the
       prelude (refs pop the stack from the top). */
    static int ccl_setup(lua_State *L) {
        ccl_settop(L, 5);
        ccl_ref_finish = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_ref_state = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_ref_handler = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_ref_env = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_ref_parse = ccl_ref(L, CCL_REGISTRYINDEX);
        ccl_new_caches(L);
        ccl_L = L;
        return 0;
    }

    /* remember(body, sha, function): a compiled script for the fast path. */
    static int ccl_remember(lua_State *L) {
        ccl_settop(L, 3);
        if (ccl_type(L, 1) != CCL_TSTRING || ccl_type(L, 2) != CCL_TSTRING) return 0;
        if (ccl_cached >= CCL_CACHE_MAX) ccl_new_caches(L);
        ccl_createtable(L, 2, 0);                 /* 4: {function, sha} */
        ccl_pushvalue(L, 3);
        ccl_rawseti(L, 4, 1);
        ccl_pushvalue(L, 2);
        ccl_rawseti(L, 4, 2);
        ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_bodies);
        ccl_pushvalue(L, 1);
        ccl_pushvalue(L, 4);
        ccl_rawset(L, -3);
        ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_shas);
        ccl_pushvalue(L, 2);
        ccl_pushvalue(L, 4);
        ccl_rawset(L, -3);
        ccl_cached++;
        return 0;
    }

    /* Lua loads this through package.loadlib: it returns the C functions. */
    __attribute__((visibility("default"))) int cachecyt_lua_open(lua_State *L) {
        ccl_pushcclosure(L, ccl_redis_call, 0);
        ccl_pushcclosure(L, ccl_redis_pcall, 0);
        ccl_pushcclosure(L, ccl_setup, 0);
        ccl_pushcclosure(L, ccl_remember, 0);
        return 4;
    }
    """
    ctypedef struct lua_State:
        pass
    int CCL_REGISTRYINDEX, CCL_TNIL, CCL_TBOOLEAN, CCL_TNUMBER, CCL_TSTRING, CCL_TTABLE
    lua_State *ccl_L
    int ccl_ref_parse, ccl_ref_env, ccl_ref_handler, ccl_ref_state, ccl_ref_finish
    int ccl_ref_bodies, ccl_ref_shas
    int (*ccl_call_inner)(lua_State *L, int raise_) noexcept
    int ccl_bind(const char *path)
    void ccl_new_caches(lua_State *L)
    int ccl_gettop(lua_State *L) nogil
    void ccl_settop(lua_State *L, int i) nogil
    int ccl_type(lua_State *L, int i) nogil
    const char *ccl_tolstring(lua_State *L, int i, size_t *n) nogil
    void ccl_pushnil(lua_State *L) nogil
    void ccl_pushvalue(lua_State *L, int i) nogil
    double ccl_tonumber "ccl_tonumber_"(lua_State *L, int i) nogil
    int ccl_toboolean "ccl_toboolean_"(lua_State *L, int i) nogil
    void ccl_pushnumber(lua_State *L, double v) nogil
    void ccl_pushlstring(lua_State *L, const char *s, size_t n) nogil
    void ccl_pushboolean(lua_State *L, int b) nogil
    void ccl_createtable(lua_State *L, int narr, int nrec) nogil
    void ccl_rawget(lua_State *L, int i) nogil
    void ccl_rawgeti(lua_State *L, int i, int n) nogil
    void ccl_rawset(lua_State *L, int i) nogil
    void ccl_rawseti(lua_State *L, int i, int n) nogil
    int ccl_pcall(lua_State *L, int nargs, int nres, int errfunc) nogil
    int ccl_checkstack(lua_State *L, int n) nogil

cdef extern from "<stdlib.h>" nogil:
    long long strtoll(const char *s, char **end, int base)

cdef Client g_lua_client = None          # runs the commands of redis.call (lua.Engine's)
cdef bint g_lua_denied[MAX_COMMANDS]     # commands a script may not call
cdef bint g_lua_readonly = False         # EVAL_RO / FCALL_RO / no-writes function running
cdef bint g_lua_wrote = False            # the script running has run a write command
cdef bint g_lua_loading = False          # a library's code runs (FUNCTION LOAD)
cdef uint64_t g_lua_gen = <uint64_t>-1   # script cache generation the cache tables belong to

cdef const char *LE_UNKNOWN = "ERR Unknown Redis command called from script"
cdef const char *LE_NOSCRIPT = "ERR This Redis command is not allowed from script"
cdef const char *LE_ARGS = "ERR Wrong number of args calling Redis command from script"
cdef const char *LE_READONLY = "ERR Write commands are not allowed from read-only scripts."
cdef const char *LE_NOARGS = "ERR Please specify at least one argument for this redis lib call"
cdef const char *LE_ARGTYPE = "ERR Lua redis lib command arguments must be strings or integers"
cdef const char *LE_LOADING = "ERR redis.call and redis.pcall are not available while loading a library"
cdef const char *LE_INTERNAL = "ERR internal error"


# ---- set up by lua.Engine ---------------------------------------------------------

def lua_bind(bytes lua_so):
    """Find the Lua C API in lupa's shared object. False when it is not there."""
    global ccl_call_inner
    if ccl_bind(lua_so) != 0:
        return False
    ccl_call_inner = _lua_call_inner
    return True


def lua_attach(Client client, denied):
    """The Engine's private client runs redis.call; `denied` names the commands
    a script may not call besides those flagged noscript or blocking."""
    global g_lua_client
    cdef int i
    g_lua_client = client
    client.clock_frozen = True
    for i in range(g_ncmds):
        g_lua_denied[i] = bool(g_cmds[i].flags & (CF_NOSCRIPT | CF_BLOCKING)) or \
            g_cmds[i].name in denied


def lua_prepare(int db, bint readonly):
    """Before a script or function runs (the Python path)."""
    _lua_prepare(db, readonly)


def lua_set_resp(int resp):
    """redis.setresp: the protocol of the replies redis.call turns into Lua."""
    g_lua_client.out.resp = resp


def lua_loading(bint on):
    global g_lua_loading
    g_lua_loading = on


def lua_forget(uint64_t gen):
    """The script cache changed (generation gen): forget what the fast path knew."""
    global g_lua_gen
    if ccl_L != NULL:
        ccl_new_caches(ccl_L)
    g_lua_gen = gen


cdef inline void _lua_prepare(int db, bint readonly) noexcept:
    global g_lua_readonly, g_lua_wrote
    cdef Client lc = g_lua_client
    lc.db = db
    lc.now_ms = cc_now_ms()                  # the time stands still in a script
    lc.out.resp = 2
    g_lua_readonly = readonly
    g_lua_wrote = False


# ---- redis.call / redis.pcall -------------------------------------------------------

cdef inline int _lua_err(lua_State *L, const char *msg, int raise_) noexcept:
    """Leave {err = msg} on the stack: -1 for redis.call to raise it, else 1."""
    ccl_createtable(L, 0, 1)
    ccl_pushlstring(L, "err", 3)
    ccl_pushlstring(L, msg, strlen(msg))
    ccl_rawset(L, -3)
    return -1 if raise_ else 1


cdef int _lua_call_inner(lua_State *L, int raise_) noexcept:
    """Run the command in the arguments on the stack; push its reply as Lua
    values and return 1, or leave an error table and return -1 (raise_)."""
    global g_lua_wrote
    cdef int n = ccl_gettop(L), i, t, idx
    cdef size_t ln
    cdef const char *s
    cdef Client lc = g_lua_client
    cdef cmd_t *cmd
    cdef uint64_t start
    if n == 0:
        return _lua_err(L, LE_NOARGS, raise_)
    for i in range(1, n + 1):
        t = ccl_type(L, i)
        if t != CCL_TSTRING and t != CCL_TNUMBER:
            return _lua_err(L, LE_ARGTYPE, raise_)
    if g_lua_loading or lc is None:
        return _lua_err(L, LE_LOADING, raise_)
    if <uint64_t>n > lc.argcap:
        lc.argv = <const char **>realloc(lc.argv, sizeof(char *) * n)
        lc.argl = <uint64_t *>realloc(lc.argl, 8 * n)
        if lc.argv == NULL or lc.argl == NULL:
            lc.argcap = 0
            return _lua_err(L, LE_INTERNAL, raise_)
        lc.argcap = n
    for i in range(n):
        s = ccl_tolstring(L, i + 1, &ln)        # a number becomes its %.14g text
        lc.argv[i] = s
        lc.argl[i] = ln
    lc.argc = n
    idx = cmd_lookup(lc.argv[0], lc.argl[0])
    if idx < 0:
        return _lua_err(L, LE_UNKNOWN, raise_)
    if g_lua_denied[idx]:
        return _lua_err(L, LE_NOSCRIPT, raise_)
    cmd = &g_cmds[idx]
    if (cmd.arity > 0 and n != cmd.arity) or n < -cmd.arity:
        return _lua_err(L, LE_ARGS, raise_)
    if g_lua_readonly and g_pause_kind[idx] == PAUSE_MAYREP:
        return _lua_err(L, LE_READONLY, raise_)       # PUBLISH & co. may replicate (commands/pause.pxi)
    if cmd.flags & CF_WRITE:
        if g_lua_readonly:
            return _lua_err(L, LE_READONLY, raise_)
        if not g_lua_wrote:
            g_lua_wrote = True
            g_hdr.script_flags |= SCR_WROTE
    start = lc.out.len
    try:
        lc._clock()
        lc.execute()
    except BaseException:
        lc.out.len = start
        return _lua_err(L, LE_INTERNAL, raise_)
    n = _lua_push_reply(L, lc.out.p + start, lc.out.len - start, raise_)
    lc.out.len = start
    return n


cdef int _lua_push_reply(lua_State *L, const char *r, uint64_t n, int raise_) noexcept:
    """One RESP reply as Lua values (what redis.call returns)."""
    cdef const char *eol
    cdef long long k, j
    cdef uint64_t pos
    if n < 3:
        ccl_pushboolean(L, 0)
        return 1
    eol = <const char *>memchr(r, 13, n)
    if r[0] == 58:
        ccl_pushnumber(L, <double>strtoll(r + 1, NULL, 10))
        return 1
    if r[0] == 36:
        k = strtoll(r + 1, NULL, 10)
        if k < 0:
            ccl_pushboolean(L, 0)
        else:
            ccl_pushlstring(L, eol + 2, <size_t>k)
        return 1
    if r[0] == 43 or r[0] == 45:
        ccl_createtable(L, 0, 1)
        if r[0] == 43:
            ccl_pushlstring(L, "ok", 2)
        else:
            ccl_pushlstring(L, "err", 3)
        ccl_pushlstring(L, r + 1, <size_t>(eol - r - 1))
        ccl_rawset(L, -3)
        return -1 if r[0] == 45 and raise_ else 1
    if r[0] == 95:
        ccl_pushnil(L)
        return 1
    if r[0] == 42 and _lua_flat_array(L, r, n):
        return 1
    # anything else (nested, RESP3): the prelude's parser
    ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_parse)
    ccl_pushlstring(L, r, n)
    if ccl_pcall(L, 1, 1, 0) != 0:
        ccl_settop(L, -2)
        return _lua_err(L, LE_INTERNAL, raise_)
    return 1


cdef bint _lua_flat_array(lua_State *L, const char *r, uint64_t n) noexcept:
    """An array of bulk strings and integers as a Lua table (true), or nothing
    pushed (false) when it holds anything else."""
    cdef const char *p = r
    cdef const char *end = r + n
    cdef const char *eol
    cdef long long count, i, k
    eol = <const char *>memchr(p, 13, n)
    count = strtoll(p + 1, NULL, 10)
    if count < 0:
        ccl_pushboolean(L, 0)
        return True
    p = eol + 2                          # check the elements before pushing anything
    for i in range(count):
        if p >= end or (p[0] != 36 and p[0] != 58):
            return False
        eol = <const char *>memchr(p, 13, end - p)
        if p[0] == 36:
            k = strtoll(p + 1, NULL, 10)
            p = eol + 2 + (k + 2 if k >= 0 else 0)
        else:
            p = eol + 2
    if not ccl_checkstack(L, 4):
        return False
    ccl_createtable(L, <int>count, 0)
    p = r + (<const char *>memchr(r, 13, n) - r) + 2
    for i in range(count):
        eol = <const char *>memchr(p, 13, end - p)
        if p[0] == 58:
            ccl_pushnumber(L, <double>strtoll(p + 1, NULL, 10))
            p = eol + 2
        else:
            k = strtoll(p + 1, NULL, 10)
            if k < 0:
                ccl_pushboolean(L, 0)
                p = eol + 2
            else:
                ccl_pushlstring(L, eol + 2, <size_t>k)
                p = eol + 2 + k + 2
        ccl_rawseti(L, -2, <int>(i + 1))
    return True


# ---- the fast EVAL ----------------------------------------------------------------

cdef inline int _lua_fallback(Client c) except -1:
    """The Python handler of the command (scripting/commands.py)."""
    cdef int idx = cmd_lookup(c.argv[0], c.argl[0])
    value = g_py_handlers[idx](c, c.args())
    if value is not NO_REPLY:
        encode_value(&c.out, value)
    return 0


cdef inline int64_t _lua_numkeys(Client c) noexcept:
    """numkeys when it is plain (digits, no more than the arguments), else -1."""
    cdef uint64_t i, n = c.argl[2]
    cdef int64_t v = 0
    cdef const char *s = c.argv[2]
    if n == 0 or n > 9 or (n > 1 and s[0] == 48):
        return -1
    for i in range(n):
        if not 48 <= s[i] <= 57:
            return -1
        v = v * 10 + (s[i] - 48)
    if v > <int64_t>c.argc - 3:
        return -1
    return v


cdef int _lua_eval(Client c, bint by_sha, bint readonly) except -1:
    cdef lua_State *L = ccl_L
    cdef int64_t nkeys
    cdef int top, rc
    cdef size_t ln
    cdef const char *s
    cdef const char *busy
    if L == NULL or cc_atomic_load(&g_hdr.script_gen) != g_lua_gen:
        return _lua_fallback(c)
    nkeys = _lua_numkeys(c)
    if nkeys < 0 or not ccl_checkstack(L, <int>c.argc + 8):
        return _lua_fallback(c)
    top = ccl_gettop(L)
    ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_shas if by_sha else ccl_ref_bodies)
    ccl_pushlstring(L, c.argv[1], c.argl[1])
    ccl_rawget(L, -2)
    if ccl_type(L, -1) != CCL_TTABLE:
        ccl_settop(L, top)
        return _lua_fallback(c)
    busy = script_begin_c(False)
    if busy != NULL:
        ccl_settop(L, top)
        wb_error(&c.out, busy)
        return 0
    if g_lua_client.out.resp != 2:              # the last script's redis.setresp
        ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_state)
        ccl_pushlstring(L, "resp", 4)
        ccl_pushnumber(L, 2)
        ccl_rawset(L, -3)
        ccl_settop(L, -2)
    _lua_prepare(c.db, readonly)
    if g_lua_client.tenant != c.tenant:
        tenant_share(g_lua_client, c)           # a tenant's script stays in its tenant
    wal_group_open()                            # the script's writes are one WAL record
    _lua_set_args(L, c, 3, <uint64_t>nkeys, b"KEYS", 4)
    _lua_set_args(L, c, 3 + <uint64_t>nkeys, c.argc - 3 - <uint64_t>nkeys, b"ARGV", 4)
    ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_handler)      # top + 3
    ccl_rawgeti(L, top + 2, 1)                              # the function
    script_set_caller(c)
    rc = ccl_pcall(L, 0, 1, top + 3)
    script_set_caller(None)
    try:
        wal_group_close(c)
    finally:
        script_end_c()
    if rc != 0 or not _lua_encode_simple(L, c):
        ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_finish)   # finish(ok, value, r3, name)
        ccl_pushboolean(L, rc == 0)
        ccl_pushvalue(L, top + 4)
        ccl_pushboolean(L, c.out.resp == 3)
        ccl_rawgeti(L, top + 2, 2)
        if ccl_pcall(L, 4, 1, 0) == 0 and ccl_type(L, -1) == CCL_TSTRING:
            s = ccl_tolstring(L, -1, &ln)
            wb_put(&c.out, s, ln)
        else:
            wb_error(&c.out, LE_INTERNAL)
    ccl_settop(L, top)
    return 0


cdef void _lua_set_args(lua_State *L, Client c, uint64_t first, uint64_t n,
                        const char *name, size_t nlen) noexcept:
    """env[name] = the n arguments from first on, as a Lua array (KEYS, ARGV)."""
    cdef uint64_t i
    ccl_rawgeti(L, CCL_REGISTRYINDEX, ccl_ref_env)
    ccl_pushlstring(L, name, nlen)
    ccl_createtable(L, <int>n, 0)
    for i in range(n):
        ccl_pushlstring(L, c.argv[first + i], c.argl[first + i])
        ccl_rawseti(L, -2, <int>(i + 1))
    ccl_rawset(L, -3)
    ccl_settop(L, -2)


cdef bint _lua_encode_simple(lua_State *L, Client c) noexcept:
    """The script's result (top of the stack) as RESP when it is a scalar or a
    status/error table; False for other tables (the prelude's encoder does
    those). As prelude.encode: numbers are truncated to integers; booleans
    follow the script's redis.setresp."""
    cdef int t = ccl_type(L, -1)
    cdef size_t ln
    cdef const char *s
    cdef double d
    cdef bint r3 = c.out.resp == 3
    if t == CCL_TSTRING:
        s = ccl_tolstring(L, -1, &ln)
        wb_bulk(&c.out, s, ln)
    elif t == CCL_TNUMBER:
        d = ccl_tonumber(L, -1)
        if d != d or d >= 9223372036854775807.0 or d < -9223372036854775808.0:
            wb_int(&c.out, <int64_t>(-9223372036854775807 - 1))
        else:
            wb_int(&c.out, <int64_t>d)
    elif t == CCL_TNIL:
        wb_put(&c.out, "_\r\n" if r3 else "$-1\r\n", 3 if r3 else 5)
    elif t == CCL_TBOOLEAN:
        if ccl_toboolean(L, -1):
            wb_put(&c.out, "#t\r\n" if r3 and g_lua_client.out.resp == 3 else ":1\r\n", 4)
        elif g_lua_client.out.resp == 2:
            wb_put(&c.out, "_\r\n" if r3 else "$-1\r\n", 3 if r3 else 5)
        else:
            wb_put(&c.out, "#f\r\n" if r3 else ":0\r\n", 4)
    elif t == CCL_TTABLE:
        return _lua_encode_status(L, c)
    else:
        return False
    return True


cdef bint _lua_encode_status(lua_State *L, Client c) noexcept:
    """A result {err = text} or {ok = text} (redis.call's replies of SET, PING
    ...) as an error or status line, CR and LF made spaces; False for any
    other table."""
    cdef int top = ccl_gettop(L)
    cdef size_t ln, i
    cdef const char *s
    cdef char ch
    ccl_pushlstring(L, "err", 3)
    ccl_rawget(L, top)
    if ccl_type(L, -1) == CCL_TSTRING:
        wb_put(&c.out, "-", 1)
    else:
        ccl_settop(L, top)
        ccl_pushlstring(L, "ok", 2)
        ccl_rawget(L, top)
        if ccl_type(L, -1) != CCL_TSTRING:
            ccl_settop(L, top)
            return False
        wb_put(&c.out, "+", 1)
    s = ccl_tolstring(L, -1, &ln)
    if memchr(s, 13, ln) == NULL and memchr(s, 10, ln) == NULL:
        wb_put(&c.out, s, ln)
    else:
        for i in range(ln):
            ch = s[i]
            if ch == 13 or ch == 10:
                ch = 32
            wb_put(&c.out, &ch, 1)
    wb_put(&c.out, "\r\n", 2)
    ccl_settop(L, top)
    return True


cdef int cmd_eval(Client c) except -1:
    return _lua_eval(c, False, False)


cdef int cmd_eval_ro(Client c) except -1:
    return _lua_eval(c, False, True)


cdef int cmd_evalsha(Client c) except -1:
    return _lua_eval(c, True, False)


cdef int cmd_evalsha_ro(Client c) except -1:
    return _lua_eval(c, True, True)


cdef void register_lua_commands():
    register_c('eval', cmd_eval)
    register_c('eval_ro', cmd_eval_ro)
    register_c('evalsha', cmd_evalsha)
    register_c('evalsha_ro', cmd_evalsha_ro)
