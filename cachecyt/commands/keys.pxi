# Keyspace commands that walk, move or describe keys: KEYS, SCAN, RANDOMKEY,
# RENAME, RENAMENX, COPY, TOUCH, OBJECT and MEMORY.
#
# Rules of this file: one shard lock at a time while walking the keyspace (KEYS,
# SCAN, RANDOMKEY), both keys' shards together (ascending, shards_lock_many) for
# RENAME and COPY. Nothing under a lock touches Python: keys are copied as RESP
# bulk strings into a malloc'd scratch buffer (wb_*, nogil-safe) and the reply is
# assembled after unlocking. After any delete or insert in a shard, slot numbers
# held in other krefs of that shard are stale: find the key again before using
# its slot.

cdef const char *E_SAMEOBJ = "ERR source and destination objects are the same"
cdef const char *E_CURSOR = "ERR invalid cursor"
cdef const char *E_INTRANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
cdef const char *E_NOFREQ = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                             "Please note that when switching between policies at runtime LRU and LFU "
                             "data will take some time to adjust.")
cdef const char *E_NOIDLE = ("ERR An LFU maxmemory policy is selected, idle time not tracked. "
                             "Please note that when switching between policies at runtime LRU and LFU "
                             "data will take some time to adjust.")

cdef enum:
    SHARED_INTS = 10000          # Redis shares the int objects 0..9999
    SHARED_REFCOUNT = 2147483647 # OBJECT REFCOUNT of a shared object
    EMBSTR_MAX = 44              # longest string Redis keeps embstr
    TYPE_ANY = -1                # SCAN without TYPE
    TYPE_NONE = -2               # SCAN TYPE naming no type: nothing matches


# ---- walking the keyspace ----------------------------------------------------------

ctypedef struct kfilter_t:
    const char *pat              # MATCH pattern, NULL = every key
    uint64_t plen
    int type                     # T_*, TYPE_ANY or TYPE_NONE
    uint32_t pdb                 # physical db; read under the shard lock
    int64_t now_ms               # expired keys are skipped, not deleted


cdef bint key_emit(wbuf_t *w, item_t *it, const char *pat, uint64_t plen) noexcept nogil:
    """Append the item's key to w as a bulk string when it matches `pat` (NULL:
    always). True when appended. Caller holds the item's shard lock."""
    cdef uint64_t start = w.len, klen = it.klen
    cdef char *dst
    if not (it.iflags & IF_EXTENTS):
        if pat != NULL and not glob_matchlen(pat, plen, item_inline(it), klen):
            return False
        wb_bulk(w, item_inline(it), klen)
        return not w.oom
    if not wb_reserve(w, klen + 26):
        return False
    wb_bulk_hdr(w, klen)
    dst = w.p + w.len
    item_read(it, 0, dst, klen)            # a key spread over extents: match a copy
    if pat != NULL and not glob_matchlen(pat, plen, dst, klen):
        w.len = start
        return False
    dst[klen] = 13
    dst[klen + 1] = 10
    w.len += klen + 2
    return True


cdef inline bint key_visible(item_t *it, kfilter_t *f) noexcept nogil:
    """The item belongs to the filter's db, is live and has the wanted type."""
    if it.db != f.pdb or (it.expire_ms and it.expire_ms <= f.now_ms):
        return False
    return f.type == TYPE_ANY or f.type == it.type


cdef uint64_t shard_keys_locked(uint32_t s, kfilter_t *f, wbuf_t *w) noexcept nogil:
    """Every visible, matching key of shard s into w. Returns the count."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i, n = 0
    cdef slot_t *sl
    for i in range(t.mask + 1):
        sl = tbl_slot(t, i)
        if sl.item and key_visible(IT(sl.item), f) and key_emit(w, IT(sl.item), f.pat, f.plen):
            n += 1
    return n


cdef uint64_t scan_home_locked(uint32_t s, uint64_t b, kfilter_t *f, wbuf_t *w,
                               uint64_t *seen) noexcept nogil:
    """Emit the keys of shard s whose home slot is b (they sit in the run that
    starts at b). `seen` counts the db's entries looked at, before filtering.
    Returns the keys emitted."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i = b, steps = 0, n = 0
    cdef slot_t *sl = tbl_slot(t, i)
    cdef item_t *it
    while sl.item and steps <= t.mask:
        if home_of(sl.hash, t.mask) == b:
            it = IT(sl.item)
            if it.db == f.pdb:
                seen[0] += 1
                if key_visible(it, f) and key_emit(w, it, f.pat, f.plen):
                    n += 1
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
        steps += 1
    return n


cdef inline uint64_t rev_next(uint64_t v, uint64_t mask) noexcept nogil:
    """The home after v in reverse-binary order for a table of mask + 1 slots;
    0 once every home was visited."""
    v |= ~mask
    v = cc_reverse_bits(v)
    v += 1
    return cc_reverse_bits(v)


cdef bint parse_cursor(const char *s, uint64_t n, uint64_t *out) noexcept nogil:
    """A SCAN cursor as Redis reads it (strtoul, base 10): optional sign, digits,
    nothing after them; a leading space, stray byte or overflow is invalid; the
    empty string is 0 and a minus sign wraps around."""
    cdef uint64_t i = 0, v = 0, digits = 0, d
    cdef bint neg = False
    cdef char ch
    d = 0
    while d < n and s[d] != 0:            # the argument is read as a C string
        d += 1
    n = d
    if n == 0:
        out[0] = 0
        return True
    ch = s[0]
    if ch == 32 or (9 <= ch <= 13):
        return False
    if ch == 43 or ch == 45:              # '+' '-'
        neg = ch == 45
        i = 1
    while i < n and 48 <= s[i] <= 57:
        d = <uint64_t>(s[i] - 48)
        if v > (0xffffffffffffffffULL - d) // 10:
            return False                  # ERANGE
        v = v * 10 + d
        digits += 1
        i += 1
    if digits == 0 or i != n:
        return False
    out[0] = (<uint64_t>0 - v) if neg else v
    return True


cdef int type_by_name(const char *s, uint64_t n) noexcept nogil:
    cdef int t
    for t in range(5):
        if strlen(TYPE_NAMES[t]) == n and strncasecmp(TYPE_NAMES[t], s, n) == 0:
            return t
    return TYPE_NONE


cdef int keys_reply(Client c, wbuf_t *body, uint64_t n) except -1:
    """Array header + the collected bulk strings; frees nothing."""
    if body.oom:
        raise MemoryError()
    wb_array(&c.out, <int64_t>n)
    wb_put(&c.out, body.p, body.len)
    return 0


cdef int cmd_keys(Client c) except -1:
    cdef kfilter_t f
    cdef wbuf_t body
    cdef uint64_t n = 0
    cdef uint32_t s
    f.pat = NULL if glob_is_all(c.argv[1], c.argl[1]) else c.argv[1]
    f.plen = c.argl[1]
    f.type = TYPE_ANY
    f.now_ms = c.now_ms
    wb_init(&body)
    try:
        with nogil:
            for s in range(g_hdr.nshards):
                shard_lock(s)
                f.pdb = db_map()[c.db]
                if dbstat_at(s, f.pdb).keys > 0:
                    n += shard_keys_locked(s, &f, &body)
                shard_unlock(s)
        keys_reply(c, &body, n)
    finally:
        free(body.p)
    return 0


# ---- SCAN ----------------------------------------------------------------------------
#
# The cursor packs (home cursor v, shard s) as v << shard_bits | s: shards are
# walked in order, each one's homes in reverse-binary order (shm/table.pxi). A
# shard holding no key of the db is done at once: a key present throughout the
# scan would have counted. COUNT bounds the entries looked at (before MATCH and
# TYPE filter them, as Redis counts) and the homes visited (ten per COUNT).

cdef int scan_options(Client c, int64_t *count, kfilter_t *f) except -1:
    """SCAN's options from argument 2. 1 after replying the error."""
    cdef uint64_t i = 2
    cdef int64_t v
    while i < c.argc:
        if i + 1 >= c.argc:
            wb_error(&c.out, E_SYNTAX)
            return 1
        if arg_eq(c, i, "count"):
            if not arg_i64(c, i + 1, &v):
                wb_error(&c.out, E_NOTINT)
                return 1
            if v < 1:
                wb_error(&c.out, E_SYNTAX)
                return 1
            count[0] = v
        elif arg_eq(c, i, "match"):
            f.pat = NULL if glob_is_all(c.argv[i + 1], c.argl[i + 1]) else c.argv[i + 1]
            f.plen = c.argl[i + 1]
        elif arg_eq(c, i, "type"):
            f.type = type_by_name(c.argv[i + 1], c.argl[i + 1])
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        i += 2
    return 0


cdef uint64_t scan_step(int db, uint64_t cursor, int64_t count, kfilter_t *f,
                        wbuf_t *w, uint64_t *emitted) noexcept nogil:
    """Continue a scan from `cursor`; returns the next cursor (0 when done)."""
    cdef uint32_t s = <uint32_t>(cursor & (g_hdr.nshards - 1))
    cdef uint64_t v = cursor >> g_hdr.shard_bits, seen = 0, mask
    cdef int64_t visits = count * 10 if count < 0x0fffffffffffffffLL else 0x7fffffffffffffffLL
    while True:
        shard_lock(s)
        f.pdb = db_map()[db]
        if dbstat_at(s, f.pdb).keys <= 0:
            v = 0
        else:
            while True:
                mask = shard_table(shard_at(s)).mask
                emitted[0] += scan_home_locked(s, v & mask, f, w, &seen)
                v = rev_next(v, mask)
                visits -= 1
                if v == 0 or seen >= <uint64_t>count or visits <= 0:
                    break
        shard_unlock(s)
        if v == 0:
            s += 1
            if s == g_hdr.nshards:
                return 0
        if seen >= <uint64_t>count or visits <= 0:
            return (v << g_hdr.shard_bits) | s


cdef int cmd_scan(Client c) except -1:
    cdef uint64_t cursor, n = 0
    cdef int64_t count = 10
    cdef kfilter_t f
    cdef wbuf_t body
    cdef char num[24]
    if not parse_cursor(c.argv[1], c.argl[1], &cursor):
        wb_error(&c.out, E_CURSOR)
        return 0
    f.pat = NULL
    f.plen = 0
    f.type = TYPE_ANY
    f.now_ms = c.now_ms
    if scan_options(c, &count, &f):
        return 0
    wb_init(&body)
    try:
        with nogil:
            cursor = scan_step(c.db, cursor, count, &f, &body, &n)
        if body.oom:
            raise MemoryError()
        wb_array(&c.out, 2)
        wb_bulk(&c.out, num, <uint64_t>fmt_u64(num, cursor))
        keys_reply(c, &body, n)
    finally:
        free(body.p)
    return 0


cdef int fmt_u64(char *dst, uint64_t v) noexcept nogil:
    """Decimal digits of an unsigned v into dst (>= 21 bytes); returns the length."""
    cdef char tmp[24]
    cdef int n = 0, i
    while True:
        tmp[n] = <char>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    for i in range(n):
        dst[i] = tmp[n - 1 - i]
    return n


# ---- RANDOMKEY ---------------------------------------------------------------------

cdef bint shard_random_key_locked(uint32_t s, kfilter_t *f, wbuf_t *w) noexcept nogil:
    """The first live key of the db at or after a random slot of shard s, into w."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i = cc_rand() & t.mask, k
    cdef slot_t *sl
    for k in range(t.mask + 1):
        sl = tbl_slot(t, i)
        if sl.item and key_visible(IT(sl.item), f):
            return key_emit(w, IT(sl.item), NULL, 0)
        i = (i + 1) & t.mask
    return False


cdef int cmd_randomkey(Client c) except -1:
    cdef kfilter_t f
    cdef uint32_t start, k, s
    cdef bint found = False
    f.type = TYPE_ANY
    f.now_ms = c.now_ms
    if db_size(c.db) == 0:
        wb_null(&c.out)
        return 0
    start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1))
    with nogil:
        # from a random shard on, the first that holds a live key of the db;
        # ends after one pass even when every key has expired meanwhile
        for k in range(g_hdr.nshards):
            s = (start + k) & (g_hdr.nshards - 1)
            shard_lock(s)
            f.pdb = db_map()[c.db]
            if dbstat_at(s, f.pdb).keys > 0:
                found = shard_random_key_locked(s, &f, &c.out)
            shard_unlock(s)
            if found:
                break
    if not found:
        wb_null(&c.out)
    return 0


# ---- RENAME, RENAMENX, COPY ------------------------------------------------------

cdef void item_copy_value(item_t *dst, item_t *src) noexcept nogil:
    """Copy src's value bytes into dst (same vlen), either side inline or in extents."""
    cdef char buf[4096]
    cdef uint64_t pos = 0, step
    if not (dst.iflags & IF_EXTENTS):
        item_read(src, src.klen, item_value_inline(dst), src.vlen)
        return
    if not (src.iflags & IF_EXTENTS):
        item_write(dst, dst.klen, item_value_inline(src), src.vlen)
        return
    while pos < src.vlen:
        step = src.vlen - pos
        if step > sizeof(buf):
            step = sizeof(buf)
        item_read(src, src.klen + pos, buf, step)
        item_write(dst, dst.klen + pos, buf, step)
        pos += step


cdef uint64_t item_dup(uint64_t off, uint32_t pdb, const char *key, uint64_t klen,
                       int64_t now_ms) noexcept nogil:
    """A new item holding a deep copy of item `off`'s value and its TTL under another
    key (or db), or 0 when out of memory or the type has no duplicate yet
    (value_dup in types/value.pxi)."""
    cdef uint64_t noff = item_shell_copy(off, pdb, key, klen, now_ms)
    if noff == 0:
        return 0
    if value_dup(IT(noff), IT(off)) != ST_OK:
        item_free_shell(noff)
        return 0
    return noff


cdef uint64_t item_shell_copy(uint64_t off, uint32_t pdb, const char *key, uint64_t klen,
                              int64_t now_ms) noexcept nogil:
    """A new item under another key with the same type, encoding, TTL and an
    uninitialised value area of the same size (a hash's or set's: sized for the
    new key, types/hash.pxi coll_vlen), or 0."""
    cdef item_t *it = IT(off)
    cdef uint64_t vlen = it.vlen
    cdef uint64_t noff
    if it.type == T_HASH or it.type == T_SET:
        vlen = coll_vlen(klen)                  # the root's place depends on the key length
    noff = item_new(pdb, key, klen, vlen, it.type, it.encoding, now_ms)
    if noff == 0:
        return 0
    IT(noff).expire_ms = it.expire_ms
    IT(noff).mcflags = it.mcflags
    return noff


cdef enum:
    MV_SAME = 100                # RENAME of a key to itself


cdef int rename_locked(kref_t *src, kref_t *dst, int db, bint nx, int64_t now_ms) noexcept nogil:
    """Move src's value to dst. ST_OK, ST_NOTFOUND, ST_EXISTS (nx), MV_SAME or
    ST_NOMEM. Both shards locked. The value keeps its TTL and access clock."""
    cdef uint64_t noff
    cdef uint32_t lru
    if not key_find_locked(src, db, now_ms):
        return ST_NOTFOUND
    if src.klen == dst.klen and memcmp(src.key, dst.key, src.klen) == 0:
        return MV_SAME
    key_find_locked(dst, db, now_ms)        # may delete an expired dst: src.slot is stale
    if dst.item and nx:
        return ST_EXISTS
    lru = item_lru(IT(src.item))
    noff = item_shell_copy(src.item, dst.pdb, dst.key, dst.klen, now_ms)
    if noff == 0:
        return ST_NOMEM
    if IT(src.item).type == T_HASH or IT(src.item).type == T_SET:
        croot(IT(noff))[0] = croot(IT(src.item))[0]     # placed per key length (types/hash.pxi)
    else:
        item_copy_value(IT(noff), IT(src.item))     # a collection's root moves as bytes
    item_set_lru(IT(noff), lru)
    if key_store_locked(dst, noff) != ST_OK:
        return ST_NOMEM
    if key_find_locked(src, db, now_ms):        # the store may have moved the slot
        item_free_shell(key_detach_at_locked(src.shard, <uint64_t>src.slot))
    return ST_OK


cdef int _rename(Client c, bint nx) except -1:
    cdef kref_t src, dst
    cdef uint32_t shards[2]
    cdef int m, st
    kref_init(&src, c.argv[1], c.argl[1])
    kref_init(&dst, c.argv[2], c.argl[2])
    shards[0] = src.shard
    shards[1] = dst.shard
    with nogil:
        m = ho_lock_many(shards, 2, &dst)      # shm/blocking.pxi: dst's waiters are served now
        st = rename_locked(&src, &dst, c.db, nx, c.now_ms)
        if st == ST_OK:
            handover_arrived_locked(c, &dst, c.db)
        ho_unlock_many(shards, m)
    if st == ST_OK:
        notify_rename(c)
        handover_finish()
    if st == ST_NOTFOUND:
        wb_error(&c.out, E_NOKEY)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif nx:
        wb_int(&c.out, 1 if st == ST_OK else 0)
    else:
        wb_ok(&c.out)
    if st == ST_OK:
        signal_key_ready(c.db, c.argv[2], c.argl[2])    # a list may have arrived (shm/blocking.pxi)
    return 0


cdef int cmd_rename(Client c) except -1:
    return _rename(c, False)


cdef int cmd_renamenx(Client c) except -1:
    return _rename(c, True)


cdef int arg_int32(Client c, uint64_t i, int64_t *out) except -1:
    """An int argument as Redis's getIntFromObjectOrReply; 1 after replying."""
    if not arg_i64(c, i, out):
        wb_error(&c.out, E_NOTINT)
        return 1
    if out[0] < -2147483648LL or out[0] > 2147483647LL:
        wb_error(&c.out, E_INTRANGE)
        return 1
    return 0


cdef int copy_locked(kref_t *src, kref_t *dst, int sdb, int ddb, bint replace,
                     int64_t now_ms) noexcept nogil:
    """COPY: ST_OK, ST_NOTFOUND, ST_EXISTS, ST_WRONGTYPE (a type COPY cannot
    duplicate yet) or ST_NOMEM. Both shards locked."""
    cdef uint64_t noff
    if not key_find_locked(src, sdb, now_ms):
        return ST_NOTFOUND
    key_find_locked(dst, ddb, now_ms)       # src.slot may go stale; src.item stays valid
    if dst.item and not replace:
        return ST_EXISTS
    if IT(src.item).type not in (T_STRING, T_LIST, T_HASH, T_SET, T_ZSET):
        return ST_WRONGTYPE
    noff = item_dup(src.item, dst.pdb, dst.key, dst.klen, now_ms)
    if noff == 0:
        return ST_NOMEM
    return key_store_locked(dst, noff)


cdef int cmd_copy(Client c) except -1:
    cdef kref_t src, dst
    cdef uint32_t shards[2]
    cdef int m, st
    cdef int64_t db = c.db
    cdef bint replace = False
    cdef uint64_t i = 3
    while i < c.argc:
        if arg_eq(c, i, "replace"):
            replace = True
        elif arg_eq(c, i, "db") and i + 1 < c.argc:
            if arg_int32(c, i + 1, &db):
                return 0
            if db < 0 or db >= g_hdr.tenant_base:
                wb_error(&c.out, E_DBINDEX)
                return 0
            i += 1
        else:
            wb_error(&c.out, E_SYNTAX)
            return 0
        i += 1
    if (db == c.db and c.argl[1] == c.argl[2]
            and memcmp(c.argv[1], c.argv[2], c.argl[1]) == 0):
        wb_error(&c.out, E_SAMEOBJ)
        return 0
    kref_init(&src, c.argv[1], c.argl[1])
    kref_init(&dst, c.argv[2], c.argl[2])
    shards[0] = src.shard
    shards[1] = dst.shard
    with nogil:
        m = ho_lock_many(shards, 2, &dst)      # shm/blocking.pxi: dst's waiters are served now
        st = copy_locked(&src, &dst, c.db, <int>db, replace, c.now_ms)
        if st == ST_OK:
            handover_arrived_locked(c, &dst, <int>db)
        ho_unlock_many(shards, m)
    if st == ST_OK:
        notify(NK_GENERIC, "copy_to", c.argv[2], c.argl[2], <int>db)
        handover_finish()
    if st == ST_NOTFOUND:                       # Redis counts the source lookup
        my_wstat().misses += 1
    else:
        my_wstat().hits += 1
    if st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif st == ST_WRONGTYPE:
        wb_error(&c.out, "ERR COPY of this type is not supported yet")
    else:
        wb_int(&c.out, 1 if st == ST_OK else 0)
    if st == ST_OK:
        signal_key_ready(<int>db, c.argv[2], c.argl[2])  # a list may have arrived (shm/blocking.pxi)
    return 0


# ---- TOUCH -------------------------------------------------------------------------

cdef int cmd_touch(Client c) except -1:
    cdef uint64_t n = c.argc - 1, i
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * n)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * n)
    cdef int m
    cdef int64_t found = 0
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    m = lock_keys(c, 1, 1, ks, shards)
    with nogil:
        for i in range(n):
            if key_find_locked(&ks[i], c.db, c.now_ms):
                item_touch(IT(ks[i].item), c.now_ms)
                found += 1
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    my_wstat().hits += <uint64_t>found           # Redis counts TOUCH's lookups
    my_wstat().misses += n - <uint64_t>found
    wb_int(&c.out, found)
    return 0


# ---- OBJECT and MEMORY -------------------------------------------------------------

cdef const char *OBJECT_HELP[15]
OBJECT_HELP[:] = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]

cdef const char *MEMORY_HELP[14]
MEMORY_HELP[:] = [
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
]


cdef void reply_help(Client c, const char **lines, int n) noexcept:
    cdef int i
    wb_array(&c.out, n)
    for i in range(n):
        wb_status(&c.out, lines[i])


cdef void reply_unknown_subcommand(Client c) noexcept:
    """Redis 7's error for a subcommand of a container command it does not know."""
    cdef uint64_t i
    cdef char ch
    wb_put(&c.out, "-ERR unknown subcommand '", 25)
    _sanitized(&c.out, c.argv[1], c.argl[1], 128)
    wb_put(&c.out, "'. Try ", 7)
    for i in range(c.argl[0]):
        ch = c.argv[0][i]
        if 97 <= ch <= 122:
            ch -= 32
        wb_put(&c.out, &ch, 1)
    wb_put(&c.out, " HELP.\r\n", 8)


cdef const char *obj_encoding_name(item_t *it) noexcept nogil:
    """OBJECT ENCODING as Redis 7.0 names it, for every type."""
    if it.type == T_STRING:
        if it.encoding == ENC_INT:
            return "int"
        if it.encoding == ENC_EMBSTR and it.vlen <= EMBSTR_MAX:
            return "embstr"
        return "raw"
    if it.type == T_HASH:
        return "listpack" if it.encoding == ENC_LISTPACK else "hashtable"
    if it.type == T_SET:
        return "intset" if it.encoding == ENC_INTSET else "hashtable"
    if it.type == T_LIST:
        return "quicklist"                  # Redis 7.0 names every list so, small ones too
    return zs_encoding_name(it)


cdef inline bint shares_ints() noexcept nogil:
    """Redis shares small int values unless maxmemory is set with an LRU or LFU
    policy (each key then needs its own access clock)."""
    cdef uint32_t p = g_hdr.policy
    return g_hdr.maxmemory == 0 or not (p == POL_ALLKEYS_LRU or p == POL_VOLATILE_LRU
                                        or p == POL_ALLKEYS_LFU or p == POL_VOLATILE_LFU)


cdef int64_t obj_refcount(item_t *it) noexcept nogil:
    """1, or Redis's shared-object count for a small int. Redis decides sharing
    when the value is stored (a COPY of 5 is unshared there); we decide when
    asked, which differs only for copies of small ints."""
    cdef int64_t v
    if it.type == T_STRING and it.encoding == ENC_INT and shares_ints():
        v = item_int(it)
        if 0 <= v < SHARED_INTS:
            return SHARED_REFCOUNT
    return 1


cdef int64_t obj_idletime(item_t *it, int64_t now_ms) noexcept nogil:
    """Seconds since the last access (LRU clock in seconds, 24 bits as Redis's)."""
    return lru_idle_s(item_lru(it), now_ms)


cdef enum:
    OBJ_ENCODING = 1
    OBJ_FREQ = 2
    OBJ_IDLETIME = 3
    OBJ_REFCOUNT = 4


cdef int cmd_object(Client c) except -1:
    cdef int sub = 0
    cdef kref_t k
    cdef bint found = False
    cdef const char *enc = NULL
    cdef int64_t v = 0
    if arg_eq(c, 1, "help"):
        if c.argc != 2:
            reply_subcommand_arity(c, 2)
        else:
            reply_help(c, OBJECT_HELP, 15)
        return 0
    if arg_eq(c, 1, "encoding"): sub = OBJ_ENCODING
    elif arg_eq(c, 1, "freq"): sub = OBJ_FREQ
    elif arg_eq(c, 1, "idletime"): sub = OBJ_IDLETIME
    elif arg_eq(c, 1, "refcount"): sub = OBJ_REFCOUNT
    else:
        reply_unknown_subcommand(c)
        return 0
    if c.argc != 3:
        reply_subcommand_arity(c, 2)
        return 0
    kref_init(&k, c.argv[2], c.argl[2])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):    # no touch: OBJECT only looks
            found = True
            if sub == OBJ_ENCODING:
                enc = obj_encoding_name(IT(k.item))
            elif sub == OBJ_FREQ:
                v = lfu_decayed(item_lru(IT(k.item)), c.now_ms)
            elif sub == OBJ_IDLETIME:
                v = obj_idletime(IT(k.item), c.now_ms)
            else:
                v = obj_refcount(IT(k.item))
        shard_unlock(k.shard)
    if not found:
        my_wstat().misses += 1
        wb_null(&c.out)
        return 0
    my_wstat().hits += 1
    if sub == OBJ_ENCODING:
        wb_bulk(&c.out, enc, strlen(enc))
    elif sub == OBJ_FREQ and not policy_is_lfu():
        wb_error(&c.out, E_NOFREQ)
    elif sub == OBJ_IDLETIME and policy_is_lfu():
        wb_error(&c.out, E_NOIDLE)
    else:
        wb_int(&c.out, v)
    return 0


cdef int memory_usage(Client c) except -1:
    """MEMORY USAGE key [SAMPLES n]: the item's chunk and extents plus its slot.
    SAMPLES is checked and ignored (strings are measured exactly)."""
    cdef uint64_t i = 3
    cdef int64_t samples
    cdef kref_t k
    cdef uint64_t total = 0
    while i < c.argc:
        if arg_eq(c, i, "samples") and i + 1 < c.argc:
            if not arg_i64(c, i + 1, &samples):
                wb_error(&c.out, E_NOTINT)
                return 0
            if samples < 0:
                wb_error(&c.out, E_SYNTAX)
                return 0
            i += 2
        else:
            wb_error(&c.out, E_SYNTAX)
            return 0
    kref_init(&k, c.argv[2], c.argl[2])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            total = item_memory(k.item) + sizeof(slot_t) + value_memory(IT(k.item))
        shard_unlock(k.shard)
    if total == 0:
        wb_null(&c.out)
    else:
        wb_int(&c.out, <int64_t>total)
    return 0


cdef int cmd_memory(Client c) except -1:
    """MEMORY USAGE, HELP, PURGE and MALLOC-STATS; STATS and DOCTOR are
    answered from Python (shm/stats.pxi memory_report)."""
    if (arg_eq(c, 1, "stats") or arg_eq(c, 1, "doctor")) and c.argc == 2:
        return memory_report(c)
    if arg_eq(c, 1, "usage"):
        if c.argc < 3:
            reply_subcommand_arity(c, 2)
            return 0
        return memory_usage(c)
    if not (arg_eq(c, 1, "help") or arg_eq(c, 1, "purge") or arg_eq(c, 1, "malloc-stats")):
        reply_unknown_subcommand(c)
        return 0
    if c.argc != 2:
        reply_subcommand_arity(c, 2)
    elif arg_eq(c, 1, "help"):
        reply_help(c, MEMORY_HELP, 14)
    elif arg_eq(c, 1, "purge"):
        wb_ok(&c.out)                   # the arena has no dirty pages to give back
    else:
        wb_bulk(&c.out, "Stats not supported for the current allocator", 45)
    return 0


cdef void register_keys_commands():
    register_c('keys', cmd_keys)
    register_c('scan', cmd_scan)
    register_c('randomkey', cmd_randomkey)
    register_c('rename', cmd_rename)
    register_c('renamenx', cmd_renamenx)
    register_c('copy', cmd_copy)
    register_c('touch', cmd_touch)
    register_c('object', cmd_object)
    register_c('memory', cmd_memory)
