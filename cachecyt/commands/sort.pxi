# SORT and SORT_RO: sort the elements of a list, set or sorted set, numerically
# or (ALPHA) as bytes, by themselves or by the values other keys hold (BY
# pattern, `->field` for a hash field), keep a LIMIT window, reply the elements
# or the values of GET patterns (`#`: the element), or STORE them as a list.
# Redis 7.0's options, order of checks, replies and error texts.
#
# How it works: the source's elements are copied out under its shard lock (as
# the RESP bulks the type's encoders write, parsed back into bytes). Keys named
# by BY and GET patterns are then read one at a time, each under its own shard
# lock, the way MGET reads, and the sort runs without any lock. With the WAL
# on, or inside EXEC or a script, every shard is held for the whole command
# (shm/wal.pxi marks SORT so), so it then reads and stores atomically and its
# record replays to the same result: the order is total (equal weights fall
# back to comparing the elements, as Redis does), and a set sorted for STORE or
# inside a script without an order is sorted by ALPHA, as Redis does.
#
# Must not: hold a shard lock while Python objects are made (the parsing and
# sorting happen after unlocking).

cdef extern from *:
    """
    #include <errno.h>
    #include <stdlib.h>
    #include <math.h>
    /* strtod over a NUL-terminated value: 1 when all of it is a number. */
    static int sort_parse_weight(const char *s, double *out) {
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        return *end == '\0' && errno != ERANGE && !isnan(*out);
    }
    """
    int sort_parse_weight(const char *s, double *out) nogil

cdef const char *E_SORT_SCORE = "ERR One or more scores can't be converted into double"
cdef const char *E_SORT_BY_ACL = "ERR BY option of SORT denied due to insufficient ACL permissions."
cdef const char *E_SORT_GET_ACL = "ERR GET option of SORT denied due to insufficient ACL permissions."

cdef wbuf_t g_sort_buf                 # scratch: values copied out under a shard lock
cdef bint g_sort_buf_ready = False


cdef wbuf_t *sort_scratch() except NULL:
    global g_sort_buf_ready
    if not g_sort_buf_ready:
        wb_init(&g_sort_buf)
        g_sort_buf_ready = True
    g_sort_buf.len = 0
    g_sort_buf.resp = 2
    return &g_sort_buf


cdef list sort_bulks(wbuf_t *w):
    """The bulk strings (and integers) RESP-encoded in w, as bytes."""
    cdef list out = []
    cdef uint64_t pos = 0, n
    cdef const char *p
    cdef const char *nl
    cdef int64_t v
    if w.oom:
        raise MemoryError()
    while pos < w.len:
        p = w.p + pos
        nl = <const char *>memchr(p, 13, w.len - pos)
        parse_i64(p + 1, <uint64_t>(nl - p - 1), &v)
        pos += <uint64_t>(nl - p) + 2
        if p[0] == 36:                  # '$'
            n = <uint64_t>v
            out.append(w.p[pos:pos + n])
            pos += n + 2
        else:                           # ':'
            out.append(p[1:nl - p])
    return out


# ---- reading ---------------------------------------------------------------------------

cdef int sort_emit_locked(item_t *it, wbuf_t *w) noexcept nogil:
    """Every element of a list, set or sorted set as bulks, in its own order."""
    cdef lroot_t lr
    cdef lcur_t lc
    cdef zroot_t zr
    cdef zcur_t zc
    cdef uint64_t i
    if it.type == T_LIST:
        lroot_load(it, &lr)
        if cur_first(&lr, &lc):
            while True:
                cur_reply(w, &lc)
                if not cur_next(&lc):
                    break
    elif it.type == T_SET:
        set_emit_all(w, it)
    else:
        zs_load(it, &zr)
        for i in range(zr.length):
            if i == 0:
                zcur_seek(&zc, it, &zr, 0)
            else:
                zcur_next(&zc)
            wb_bulk(w, zc.m, zc.mlen)
    return 0


cdef object sort_source(Client c, int *typ):
    """The elements of the key to sort (an empty list when it is missing), or
    None for a wrong type. typ: its type."""
    cdef kref_t k
    cdef wbuf_t *w = sort_scratch()
    cdef bint wrong = False
    typ[0] = T_LIST
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            typ[0] = IT(k.item).type
            if typ[0] == T_LIST or typ[0] == T_SET or typ[0] == T_ZSET:
                sort_emit_locked(IT(k.item), w)
            else:
                wrong = True
        shard_unlock(k.shard)
    if wrong:
        return None
    return sort_bulks(w)


cdef object sort_fetch(Client c, bytes key, bytes field):
    """The string value of key (field None) or the value of its hash field, or
    None when missing or of another type."""
    cdef kref_t k
    cdef wbuf_t *w = sort_scratch()
    cdef item_t *it
    cdef hval_t hv
    cdef const char *f = NULL
    cdef uint64_t fl = 0
    cdef bint hashed = field is not None
    if hashed:
        f = field
        fl = len(field)
    kref_init(&k, key, len(key))
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            it = IT(k.item)
            if not hashed and it.type == T_STRING:
                str_reply(w, it)
            elif hashed and it.type == T_HASH and hash_find(it, f, fl, &hv):
                hval_emit(w, &hv)
        shard_unlock(k.shard)
    if w.len == 0:
        return None
    return sort_bulks(w)[0]


cdef object sort_lookup(Client c, bytes pattern, bytes elem):
    """Redis's lookupKeyByPattern: `#` is the element; the first `*` takes the
    element; `->field` after it reads a hash field. None: nothing there."""
    cdef int star, arrow
    if pattern == b'#':
        return elem
    star = pattern.find(b'*')
    if star < 0:
        return None
    arrow = pattern.find(b'->', star + 1)
    if arrow >= 0 and arrow + 2 < len(pattern):
        return sort_fetch(c, pattern[:star] + elem + pattern[star + 1:arrow], pattern[arrow + 2:])
    return sort_fetch(c, pattern[:star] + elem + pattern[star + 1:], None)


cdef bint sort_score(bytes v, double *out) noexcept:
    """strtod over the whole value, as Redis parses a weight."""
    return sort_parse_weight(v, out) != 0


# ---- options ------------------------------------------------------------------------------

cdef class SortSpec:
    """The parsed options of one SORT."""
    cdef bint desc, alpha, dontsort
    cdef int64_t lstart, lcount
    cdef object by                     # bytes, or None
    cdef object store                  # bytes, or None
    cdef list gets


cdef bint sort_full_key_access(Client c) except -1:
    """Whether the client's user may read every key with this command (Redis
    refuses BY and GET patterns otherwise)."""
    if g_acl_hook is None:
        return True
    from cachecyt.security import acl as _acl, users as _users
    u = _acl.user_of(c)
    if u is None:
        return False
    if u.unrestricted:
        return True
    name = c.argv[0][:c.argl[0]].decode('latin-1').lower()
    args = c.args()
    for sel in u.all_selectors():
        if not sel.may_run(name, args):
            continue
        if sel.allkeys or any(p == b'*' and f & _users.READ for p, f in sel.patterns):
            return True
    return False


cdef object sort_options(Client c, bint readonly):
    """SortSpec, or None after replying an error."""
    cdef SortSpec s = SortSpec()
    cdef uint64_t j = 2, left
    cdef int full = -1                 # full key access, asked once when needed
    s.lcount = -1
    s.lstart = 0
    s.gets = []
    while j < c.argc:
        left = c.argc - j - 1
        if arg_eq(c, j, "asc"):
            s.desc = False
        elif arg_eq(c, j, "desc"):
            s.desc = True
        elif arg_eq(c, j, "alpha"):
            s.alpha = True
        elif arg_eq(c, j, "limit") and left >= 2:
            if not arg_i64(c, j + 1, &s.lstart) or not arg_i64(c, j + 2, &s.lcount):
                wb_error(&c.out, E_NOTINT)
                return None
            j += 2
        elif not readonly and arg_eq(c, j, "store") and left >= 1:
            s.store = c.argv[j + 1][:c.argl[j + 1]]
            j += 1
        elif arg_eq(c, j, "by") and left >= 1:
            s.by = c.argv[j + 1][:c.argl[j + 1]]
            if b'*' not in s.by:
                s.dontsort = True
            else:
                if full < 0:
                    full = sort_full_key_access(c)
                if not full:
                    wb_error(&c.out, E_SORT_BY_ACL)
                    return None
            j += 1
        elif arg_eq(c, j, "get") and left >= 1:
            if full < 0:
                full = sort_full_key_access(c)
            if not full:
                wb_error(&c.out, E_SORT_GET_ACL)
                return None
            s.gets.append(c.argv[j + 1][:c.argl[j + 1]])
            j += 1
        else:
            wb_error(&c.out, E_SYNTAX)
            return None
        j += 1
    return s


# ---- sorting ---------------------------------------------------------------------------------

cdef object sort_window(list elems, SortSpec s, int typ):
    """(elements in output order, start, end) with Redis's LIMIT rules; None
    when a weight is not a number."""
    cdef int64_t n = len(elems), start, count, end
    start = min(max(s.lstart, 0), n)
    count = min(max(s.lcount, -1), n)
    end = n - 1 if count < 0 else start + count - 1
    if start >= n:
        start = n - 1
        end = n - 2
    if end >= n:
        end = n - 1
    if s.dontsort:
        if typ != T_SET and s.desc:
            elems.reverse()
        return elems, start, end
    return elems, start, end


cdef object sort_elements(Client c, list elems, SortSpec s):
    """Sort in place by Redis's rules; False when a weight is not a number."""
    cdef double score
    cdef list keys = []
    cdef bint bad = False
    for e in elems:
        v = sort_lookup(c, s.by, e) if s.by is not None else e
        if s.alpha:
            if s.by is None:
                keys.append(e)
            else:
                keys.append((v is not None, v if v is not None else b''))
        else:
            score = 0.0
            if v is not None and not sort_score(v, &score):
                bad = True
            keys.append((score, e))
    if bad:
        return False
    order = sorted(range(len(elems)), key=keys.__getitem__, reverse=s.desc)
    elems[:] = [elems[i] for i in order]
    return True


cdef list sort_output(Client c, list elems, int64_t start, int64_t end, SortSpec s):
    """The reply's values: elements, or per element the values of the GETs (None:
    nothing there)."""
    cdef list out = []
    cdef int64_t j
    for j in range(start, end + 1):
        if not s.gets:
            out.append(elems[j])
        else:
            for pat in s.gets:
                out.append(sort_lookup(c, <bytes>pat, <bytes>elems[j]))
    return out


# ---- storing -----------------------------------------------------------------------------------

cdef int sort_store(Client c, bytes key, list values) except -1:
    """Replace key by a list of values (None as ""), or delete it when there are
    none. ST_OK or ST_NOMEM."""
    cdef uint64_t n = len(values), i
    cdef const char **ps = <const char **>malloc(sizeof(char *) * (n + 1))
    cdef uint64_t *ls = <uint64_t *>malloc(8 * (n + 1))
    cdef kref_t k
    cdef int st = ST_OK
    cdef bint deleted = False
    cdef lroot_t r
    cdef int m
    cdef uint32_t sh[1]
    cdef list keep = [v if v is not None else b'' for v in values]
    if ps == NULL or ls == NULL:
        free(ps); free(ls)
        raise MemoryError()
    for i in range(n):
        ps[i] = <bytes>keep[i]
        ls[i] = len(<bytes>keep[i])
    kref_init(&k, key, len(key))
    with nogil:
        sh[0] = k.shard
        m = ho_lock_many(sh, 1, &k)            # shm/blocking.pxi: k's waiters are served now
        if key_find_locked(&k, c.db, c.now_ms):
            key_remove_locked(&k)
            deleted = True
        if n:
            if list_create_locked(&k, c.now_ms) == 0:
                st = ST_NOMEM
            else:
                lroot_load(IT(k.item), &r)
                for i in range(n):
                    if list_push(&r, LIST_TAIL, ps[i], ls[i]) != ST_OK:
                        st = ST_NOMEM
                        break
                list_done_locked(&k, &r, True, c.now_ms)
                if st == ST_OK:
                    handover_arrived_locked(c, &k, c.db)
        ho_unlock_many(sh, m)
    free(ps)
    free(ls)
    if n and st == ST_OK:
        notify(NK_LIST, "sortstore", key, len(key), c.db)
        handover_finish()
        signal_key_ready(c.db, key, len(key))
    elif deleted:
        notify(NK_GENERIC, "del", key, len(key), c.db)
    return st


# ---- the commands ---------------------------------------------------------------------------

cdef int _sort(Client c, bint readonly) except -1:
    cdef SortSpec s
    cdef int typ
    cdef int64_t start, end
    cdef list elems, out
    spec = sort_options(c, readonly)
    if spec is None:
        return 0
    s = <SortSpec>spec
    elems = sort_source(c, &typ)
    if elems is None:
        wb_error(&c.out, E_WRONGTYPE)
        return 0
    if s.dontsort and typ == T_SET and (s.store is not None or c is g_lua_client):
        s.dontsort = False              # a set's own order is not reproducible: sort it
        s.alpha = True
        s.by = None
    elems, start, end = sort_window(elems, s, typ)
    if not s.dontsort and not sort_elements(c, elems, s):
        wb_error(&c.out, E_SORT_SCORE)
        return 0
    out = sort_output(c, elems, start, end, s)
    if s.store is None:
        if not readonly:
            c.flags |= CL_UNCHANGED         # a read: no effect record (shm/wal.pxi)
    else:
        if sort_store(c, s.store, out) != ST_OK:
            wb_error(&c.out, E_NOMEM)
        else:
            wb_int(&c.out, len(out))
        return 0
    wb_array(&c.out, len(out))
    for v in out:
        if v is None:
            wb_null(&c.out)
        else:
            wb_bulk(&c.out, <bytes>v, len(<bytes>v))
    return 0


cdef int cmd_sort(Client c) except -1:
    return _sort(c, False)


cdef int cmd_sort_ro(Client c) except -1:
    return _sort(c, True)


cdef void register_sort_commands():
    register_c('sort', cmd_sort)
    register_c('sort_ro', cmd_sort_ro)
