# Strings. Values are bytes (ENC_RAW / ENC_EMBSTR) or, when they are a canonical
# decimal int64, an 8-byte integer (ENC_INT) as Redis's int encoding.

# =============================== String type API ===============================

cdef enum:
    LOCK_KEYS_SORT_MAX = 32      # more keys than this: lock_keys dedupes by shard flags
    STORE_AUTO = 0               # int encoding when the value is a canonical integer
    STORE_RAW = 1                # keep as bytes, report "raw"


cdef inline uint64_t str_len(item_t *it) noexcept nogil:
    """STRLEN of a string item."""
    cdef char tmp[24]
    if it.encoding == ENC_INT:
        return <uint64_t>fmt_i64(tmp, item_int(it))
    return it.vlen


cdef void str_reply(wbuf_t *w, item_t *it) noexcept nogil:
    """The string item's value as a bulk reply."""
    if it.encoding == ENC_INT:
        wb_bulk_int(w, item_int(it))
        return
    if not wb_reserve(w, it.vlen + 26):
        return
    wb_bulk_hdr(w, it.vlen)
    item_read(it, it.klen, w.p + w.len, it.vlen)
    w.p[w.len + it.vlen] = 13
    w.p[w.len + it.vlen + 1] = 10
    w.len += it.vlen + 2


cdef bytes str_value(item_t *it):
    """The string item's value as bytes (off the hot path)."""
    cdef char tmp[24]
    cdef int n
    cdef bytes out
    if it.encoding == ENC_INT:
        n = fmt_i64(tmp, item_int(it))
        return tmp[:n]
    out = PyBytes_FromStringAndSize(NULL, it.vlen)
    item_read(it, it.klen, <char *>out, it.vlen)
    return out


cdef int str_store_locked(kref_t *k, const char *v, uint64_t n, int64_t expire_ms,
                          bint keep_ttl, int mode, int64_t now_ms) noexcept nogil:
    """Make the found (or absent) key a string holding v. ST_OK or ST_NOMEM.
    Reuses the old item's chunk when the new value fits the same size class."""
    cdef int64_t iv
    cdef uint8_t enc = ENC_EMBSTR if mode == STORE_AUTO else ENC_RAW
    cdef uint64_t vlen = n, off, old = k.item
    cdef item_t *it
    cdef const char *src = v
    # The int encoding is read and updated in place (item_int, INCR), so only an
    # item that fits one page may have it; a key too long for that keeps the digits.
    if mode == STORE_AUTO and n <= 20 and ITEM_HDR + k.klen + 8 <= PAGE_SIZE and parse_i64(v, n, &iv):
        enc = ENC_INT
        vlen = 8
        src = <const char *>&iv
    if old and keep_ttl:
        expire_ms = IT(old).expire_ms
    if (old and not (IT(old).iflags & IF_EXTENTS)
            and ITEM_HDR + k.klen + vlen <= PAGE_SIZE
            and slab_class_of(ITEM_HDR + k.klen + vlen) == slab_class_of(ITEM_HDR + IT(old).klen + IT(old).vlen)):
        it = IT(old)
        it.type = T_STRING
        it.encoding = enc
        it.vlen = vlen
        it.mcflags = 0
        it.iflags &= ~(IF_STALE | IF_WON | IF_FETCHED | IF_BINKEY)    # a new value (memcached's marks)
        memcpy(item_value_inline(it), src, vlen)
        key_set_expire_locked(k, expire_ms)       # also bumps the version
        item_touch(it, now_ms)
        return ST_OK
    off = item_new(k.pdb, k.key, k.klen, vlen, T_STRING, enc, now_ms)
    if off == 0:
        return ST_NOMEM
    it = IT(off)
    item_write(it, k.klen, src, vlen)
    it.expire_ms = expire_ms
    return key_store_locked(k, off)


cdef int str_get_int_locked(item_t *it, int64_t *out) noexcept nogil:
    """The string's integer value: ST_OK, or ST_NOTINT."""
    cdef char tmp[24]
    if it.encoding == ENC_INT:
        out[0] = item_int(it)
        return ST_OK
    if it.vlen > 20:
        return ST_NOTINT
    item_read(it, it.klen, tmp, it.vlen)
    return ST_OK if parse_i64(tmp, it.vlen, out) else ST_NOTINT


cdef int str_incr_locked(kref_t *k, int64_t by, int64_t *result, int64_t now_ms) noexcept nogil:
    """INCRBY on the found (or absent) key. ST_OK, ST_WRONGTYPE, ST_NOTINT,
    ST_OVERFLOW or ST_NOMEM. Keeps the TTL."""
    cdef int64_t cur = 0
    cdef item_t *it
    if k.item:
        it = IT(k.item)
        if it.type != T_STRING:
            return ST_WRONGTYPE
        if str_get_int_locked(it, &cur) != ST_OK:
            return ST_NOTINT
    if (by < 0 and cur < (-9223372036854775807LL - 1) - by) or (by > 0 and cur > 9223372036854775807LL - by):
        return ST_OVERFLOW
    cur += by
    result[0] = cur
    if k.item and IT(k.item).encoding == ENC_INT:
        it = IT(k.item)
        memcpy(item_value_inline(it), &cur, 8)
        item_bump(it)
        item_touch(it, now_ms)
        return ST_OK
    cdef char tmp[24]
    cdef int n = fmt_i64(tmp, cur)
    return str_store_locked(k, tmp, n, 0, True, STORE_AUTO, now_ms)


# ---- argument parsing shared by SET, GETEX, EXPIRE ... -------------------------

cdef inline bint arg_eq(Client c, uint64_t i, const char *word) noexcept nogil:
    """Case-insensitive comparison of argument i with a lowercase word."""
    cdef uint64_t n = strlen(word)
    return c.argl[i] == n and strncasecmp(c.argv[i], word, n) == 0


cdef inline bint arg_i64(Client c, uint64_t i, int64_t *out) noexcept nogil:
    return parse_i64(c.argv[i], c.argl[i], out)


cdef enum:
    EXP_VALUE_OK = 0
    EXP_VALUE_NOTINT = 1          # not an integer: E_NOTINT
    EXP_VALUE_INVALID = 2         # <= 0 or overflows: E_EXPIRE


cdef int expire_check(Client c, uint64_t i, int unit_ms, bint absolute, int64_t *out) noexcept nogil:
    """Absolute expiry in ms from argument i (EX/PX/EXAT/PXAT), as an EXP_VALUE_*
    status; replies nothing."""
    cdef int64_t v
    if not arg_i64(c, i, &v):
        return EXP_VALUE_NOTINT
    if v <= 0 or (unit_ms == 1000 and v > 9223372036854775807LL // 1000):
        return EXP_VALUE_INVALID
    v *= unit_ms
    if not absolute:
        if v > 9223372036854775807LL - c.now_ms:
            return EXP_VALUE_INVALID
        v += c.now_ms
    out[0] = v
    return EXP_VALUE_OK


cdef int reply_expire_status(Client c, int st, const char *cmdname) noexcept:
    """The error reply of a bad expire value; -1 if st is one, else 0."""
    if st == EXP_VALUE_NOTINT:
        wb_error(&c.out, E_NOTINT)
    elif st == EXP_VALUE_INVALID:
        _reply_invalid_expire(c, cmdname)
    else:
        return 0
    return -1


cdef int expire_from_arg(Client c, uint64_t i, int unit_ms, bint absolute, int64_t *out,
                         const char *cmdname) except -2:
    """expire_check that replies the error and returns -1 on a bad value."""
    return reply_expire_status(c, expire_check(c, i, unit_ms, absolute, out), cmdname)


cdef void _reply_invalid_expire(Client c, const char *cmdname) noexcept:
    cdef char buf[96]
    snprintf(buf, sizeof(buf), E_EXPIRE, cmdname)
    wb_error(&c.out, buf)


# ============================= String type commands ============================

cdef enum:
    SET_NX = 1
    SET_XX = 2
    SET_GET = 4
    SET_KEEPTTL = 8
    SET_PERSIST = 16             # GETEX PERSIST
    SET_EX = 32
    SET_PX = 64
    SET_EXAT = 128
    SET_PXAT = 256
    SET_EXPIRE = SET_EX | SET_PX | SET_EXAT | SET_PXAT


cdef int _expire_option(Client c, uint64_t i, int kind, int *flags, uint64_t *expire_arg) noexcept:
    """EX/PX/EXAT/PXAT at argument i: allowed when no other expiry kind, KEEPTTL or
    PERSIST was given (the same kind again is allowed, the last value wins) and a
    value follows. 0, or -1 for a syntax error."""
    if flags[0] & ((SET_EXPIRE & ~kind) | SET_KEEPTTL | SET_PERSIST) or i + 1 >= c.argc:
        return -1
    flags[0] |= kind
    expire_arg[0] = i + 1
    return 0


cdef int parse_set_options(Client c, uint64_t start, int allowed, int *flags,
                           uint64_t *expire_arg) except -2:
    """SET / GETEX options from argument `start`, checked for syntax only: the
    expiry value is checked later (expire_of), as Redis does. -1 after replying
    a syntax error."""
    cdef uint64_t i = start
    cdef int kind
    flags[0] = 0
    expire_arg[0] = 0
    while i < c.argc:
        kind = 0
        if arg_eq(c, i, "nx") and allowed & SET_NX and not flags[0] & SET_XX:
            flags[0] |= SET_NX
        elif arg_eq(c, i, "xx") and allowed & SET_XX and not flags[0] & SET_NX:
            flags[0] |= SET_XX
        elif arg_eq(c, i, "get") and allowed & SET_GET:
            flags[0] |= SET_GET
        elif arg_eq(c, i, "keepttl") and allowed & SET_KEEPTTL and not flags[0] & (SET_EXPIRE | SET_PERSIST):
            flags[0] |= SET_KEEPTTL
        elif arg_eq(c, i, "persist") and allowed & SET_PERSIST and not flags[0] & (SET_EXPIRE | SET_KEEPTTL):
            flags[0] |= SET_PERSIST
        elif arg_eq(c, i, "ex"):
            kind = SET_EX
        elif arg_eq(c, i, "px"):
            kind = SET_PX
        elif arg_eq(c, i, "exat"):
            kind = SET_EXAT
        elif arg_eq(c, i, "pxat"):
            kind = SET_PXAT
        else:
            wb_error(&c.out, E_SYNTAX)
            return -1
        if kind:
            if _expire_option(c, i, kind, flags, expire_arg) < 0:
                wb_error(&c.out, E_SYNTAX)
                return -1
            i += 1
        i += 1
    return 0


cdef int expire_of(Client c, int flags, uint64_t expire_arg, int64_t *expire_ms,
                   const char *cmdname) except -2:
    """The absolute expiry of the EX/PX/EXAT/PXAT option parse_set_options found
    (0 when none). -1 after replying an error."""
    expire_ms[0] = 0
    if not flags & SET_EXPIRE:
        return 0
    return expire_from_arg(c, expire_arg, 1000 if flags & (SET_EX | SET_EXAT) else 1,
                           (flags & (SET_EXAT | SET_PXAT)) != 0, expire_ms, cmdname)


cdef int set_in_shard(kref_t *k, wbuf_t *out, int db, int64_t now_ms, const char *val,
                      uint64_t vlen, int flags, int64_t expire_ms, bint *doit) noexcept nogil:
    """SET's shard-locked part: a status, *doit whether the value was stored (or
    would be, for an error). Called with the GIL held: the section is short and
    a worker has no other thread to let run (docs/adr/0017)."""
    cdef int st = ST_OK
    doit[0] = False
    shard_lock(k.shard)
    key_find_locked(k, db, now_ms)
    if flags & SET_GET and k.item and IT(k.item).type != T_STRING:
        st = ST_WRONGTYPE
    else:
        doit[0] = not ((flags & SET_NX and k.item) or (flags & SET_XX and not k.item))
        if flags & SET_GET:
            if k.item:
                str_reply(out, IT(k.item))
            else:
                wb_null(out)
        if doit[0]:
            st = str_store_locked(k, val, vlen, expire_ms, (flags & SET_KEEPTTL) != 0,
                                  STORE_AUTO, now_ms)
    shard_unlock(k.shard)
    return st


cdef int do_set(Client c, uint64_t keyi, uint64_t vali, int flags, int64_t expire_ms,
                bint reply_int) except -1:
    """The body of SET/SETNX/SETEX/GETSET. reply_int: SETNX's 1/0 reply."""
    cdef kref_t k
    cdef item_t *it
    cdef int st = ST_OK
    cdef bint doit
    kref_init(&k, c.argv[keyi], c.argl[keyi])
    st = set_in_shard(&k, &c.out, c.db, c.now_ms, c.argv[vali], c.argl[vali], flags,
                      expire_ms, &doit)
    if st == ST_OK and doit: notify_set(c, keyi, expire_ms)
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif reply_int:
        wb_int(&c.out, 1 if doit else 0)
    elif not flags & SET_GET:
        if doit:
            wb_ok(&c.out)
        else:
            wb_null(&c.out)
    return 0


cdef int get_in_shard(kref_t *k, wbuf_t *out, int db, int64_t now_ms) noexcept nogil:
    """GET's shard-locked part (called with the GIL held, as set_in_shard)."""
    cdef item_t *it
    cdef int st = ST_OK
    shard_lock(k.shard)
    if key_find_locked(k, db, now_ms):
        it = IT(k.item)
        if it.type == T_STRING:
            item_touch(it, now_ms)
            str_reply(out, it)
            my_wstat().hits += 1
        else:
            st = ST_WRONGTYPE
    else:
        wb_null(out)
        my_wstat().misses += 1
    shard_unlock(k.shard)
    return st


cdef int cmd_get(Client c) except -1:
    cdef kref_t k
    cdef int st
    kref_init(&k, c.argv[1], c.argl[1])
    st = get_in_shard(&k, &c.out, c.db, c.now_ms)
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    return 0


cdef int cmd_set(Client c) except -1:
    cdef int flags
    cdef int64_t expire_ms
    cdef uint64_t expire_arg
    if parse_set_options(c, 3, SET_NX | SET_XX | SET_GET | SET_KEEPTTL, &flags, &expire_arg) < 0:
        return 0
    if expire_of(c, flags, expire_arg, &expire_ms, "set") < 0:
        return 0
    return do_set(c, 1, 2, flags, expire_ms, False)


cdef int cmd_setnx(Client c) except -1:
    return do_set(c, 1, 2, SET_NX, 0, True)


cdef int _setex(Client c, int unit, const char *name) except -1:
    cdef int64_t expire_ms
    if expire_from_arg(c, 2, unit, False, &expire_ms, name) < 0:
        return 0
    return do_set(c, 1, 3, 0, expire_ms, False)


cdef int cmd_setex(Client c) except -1:
    return _setex(c, 1000, "setex")


cdef int cmd_psetex(Client c) except -1:
    return _setex(c, 1, "psetex")


cdef int cmd_getset(Client c) except -1:
    return do_set(c, 1, 2, SET_GET, 0, False)


cdef int cmd_getdel(Client c) except -1:
    cdef kref_t k
    cdef int st = ST_OK
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            if IT(k.item).type != T_STRING:
                st = ST_WRONGTYPE
            else:
                str_reply(&c.out, IT(k.item))
                key_remove_locked(&k)
                notify(NK_GENERIC, "del", k.key, k.klen, c.db)
        else:
            wb_null(&c.out)
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    return 0


cdef int cmd_getex(Client c) except -1:
    """As Redis: a missing key answers nil and a wrong type WRONGTYPE before the
    expiry value is checked; an absolute expiry in the past deletes the key."""
    cdef int flags, exp_st = EXP_VALUE_OK
    cdef int64_t expire_ms = 0
    cdef uint64_t expire_arg
    cdef kref_t k
    cdef int st = ST_OK
    if parse_set_options(c, 2, SET_PERSIST, &flags, &expire_arg) < 0:
        return 0
    if flags & SET_EXPIRE:
        exp_st = expire_check(c, expire_arg, 1000 if flags & (SET_EX | SET_EXAT) else 1,
                              (flags & (SET_EXAT | SET_PXAT)) != 0, &expire_ms)
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if not key_find_locked(&k, c.db, c.now_ms):
            wb_null(&c.out)
        elif IT(k.item).type != T_STRING:
            st = ST_WRONGTYPE
        elif exp_st == EXP_VALUE_OK:
            str_reply(&c.out, IT(k.item))
            if flags & SET_EXPIRE:
                if expire_ms <= c.now_ms:
                    key_remove_locked(&k)
                    notify(NK_GENERIC, "del", k.key, k.klen, c.db)
                else:
                    key_set_expire_locked(&k, expire_ms)
                    notify(NK_GENERIC, "expire", k.key, k.klen, c.db)
            elif flags & SET_PERSIST and IT(k.item).expire_ms:
                key_set_expire_locked(&k, 0)
                notify(NK_GENERIC, "persist", k.key, k.klen, c.db)
        else:
            st = ST_NOTINT                  # the expire value: exp_st says which error
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOTINT:
        reply_expire_status(c, exp_st, "getex")
    return 0


cdef int lock_keys(Client c, uint64_t first, uint64_t step, kref_t *ks, uint32_t *shards) except -1:
    """Prepare krefs for arguments first, first+step, ... and lock their shards in
    order. Returns the number of distinct shards locked (listed in `shards`).
    Many keys fall into few shards: the list is made distinct and ascending here
    with one flag per shard, so that shards_lock_many (an insertion sort) sees at
    most nshards entries, already in order, not one per key."""
    cdef uint64_t i, n = 0
    cdef uint32_t s, m = 0
    cdef uint8_t *seen
    i = first
    while i < c.argc:
        kref_init(&ks[n], c.argv[i], c.argl[i])
        shards[n] = ks[n].shard
        n += 1
        i += step
    if n > LOCK_KEYS_SORT_MAX:
        seen = <uint8_t *>malloc(g_hdr.nshards)
        if seen == NULL:
            raise MemoryError()
        memset(seen, 0, g_hdr.nshards)
        for i in range(n):
            seen[shards[i]] = 1
        for s in range(g_hdr.nshards):
            if seen[s]:
                shards[m] = s
                m += 1
        free(seen)
        n = m
    with nogil:
        return shards_lock_many(shards, <int>n)


cdef int cmd_mget(Client c) except -1:
    cdef uint64_t n = c.argc - 1, i
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * n)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * n)
    cdef int m
    cdef item_t *it
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    m = lock_keys(c, 1, 1, ks, shards)
    with nogil:
        wb_array(&c.out, <int64_t>n)
        for i in range(n):
            if key_find_locked(&ks[i], c.db, c.now_ms) and IT(ks[i].item).type == T_STRING:
                it = IT(ks[i].item)
                item_touch(it, c.now_ms)
                str_reply(&c.out, it)
                my_wstat().hits += 1
            else:
                wb_null(&c.out)
                my_wstat().misses += 1
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    return 0


cdef int _mset(Client c, bint nx) except -1:
    cdef uint64_t n, i
    cdef kref_t *ks
    cdef uint32_t *shards
    cdef int m, st = ST_OK
    cdef bint blocked = False
    if c.argc % 2 == 0:
        reply_arity(c, "msetnx" if nx else "mset")
        return 0
    n = (c.argc - 1) // 2
    ks = <kref_t *>malloc(sizeof(kref_t) * n)
    shards = <uint32_t *>malloc(4 * n)
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    m = lock_keys(c, 1, 2, ks, shards)
    with nogil:
        if nx:
            for i in range(n):
                if key_find_locked(&ks[i], c.db, c.now_ms):
                    blocked = True
                    break
        if not blocked:
            for i in range(n):
                key_find_locked(&ks[i], c.db, c.now_ms)    # refresh: earlier stores move slots
                if str_store_locked(&ks[i], c.argv[2 * i + 2], c.argl[2 * i + 2], 0, False,
                                    STORE_AUTO, c.now_ms) != ST_OK:
                    st = ST_NOMEM
                notify(NK_STRING, "set", ks[i].key, ks[i].klen, c.db)
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    if st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif nx:
        wb_int(&c.out, 0 if blocked else 1)
    else:
        wb_ok(&c.out)
    return 0


cdef int cmd_mset(Client c) except -1:
    return _mset(c, False)


cdef int cmd_msetnx(Client c) except -1:
    return _mset(c, True)


cdef int _reply_status(Client c, int st) except -1:
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOTINT:
        wb_error(&c.out, E_NOTINT)
    elif st == ST_OVERFLOW:
        wb_error(&c.out, E_OVERFLOW)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif st == ST_TOOBIG:
        wb_error(&c.out, E_STRLIMIT)
    return 0


cdef int _incr(Client c, int64_t by) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t result
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        st = str_incr_locked(&k, by, &result, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK: notify_arg(c, NK_STRING, "incrby", 1)
    if st == ST_OK:
        wb_int(&c.out, result)
    else:
        _reply_status(c, st)
    return 0


cdef int cmd_incr(Client c) except -1:
    return _incr(c, 1)


cdef int cmd_decr(Client c) except -1:
    return _incr(c, -1)


cdef int cmd_incrby(Client c) except -1:
    cdef int64_t by
    if not arg_i64(c, 2, &by):
        wb_error(&c.out, E_NOTINT)
        return 0
    return _incr(c, by)


cdef int cmd_decrby(Client c) except -1:
    cdef int64_t by
    if not arg_i64(c, 2, &by):
        wb_error(&c.out, E_NOTINT)
        return 0
    if by == (-9223372036854775807LL - 1):
        wb_error(&c.out, "ERR decrement would overflow")
        return 0
    return _incr(c, -by)


cdef int str_incrbyfloat_locked(kref_t *k, long double by, char *out, int cap, int *outlen,
                                int64_t now_ms) noexcept nogil:
    """INCRBYFLOAT on the found (or absent) key; the new value's text goes to out.
    Shard lock held. Keeps the TTL. ST_OK, ST_WRONGTYPE, ST_NOTFLOAT, ST_NANINF
    or ST_NOMEM."""
    cdef long double cur = 0
    cdef char old[5200]
    cdef uint64_t n
    cdef item_t *it
    if k.item:
        it = IT(k.item)
        if it.type != T_STRING:
            return ST_WRONGTYPE
        if it.encoding == ENC_INT:
            n = <uint64_t>fmt_i64(old, item_int(it))
        else:
            n = it.vlen
            if n >= sizeof(old):
                return ST_NOTFLOAT
            item_read(it, it.klen, old, n)
        if not cc_parse_ld(old, n, &cur):
            return ST_NOTFLOAT
    cur += by
    if isnan(cur) or isinf(cur):
        return ST_NANINF
    outlen[0] = cc_fmt_ld_human(out, cap, cur)
    return str_store_locked(k, out, <uint64_t>outlen[0], 0, True, STORE_RAW, now_ms)


cdef int cmd_incrbyfloat(Client c) except -1:
    cdef kref_t k
    cdef long double by
    cdef int st, n = 0
    cdef char tmp[5200]
    if not cc_parse_ld(c.argv[2], c.argl[2], &by):
        wb_error(&c.out, E_NOTFLOAT)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        st = str_incrbyfloat_locked(&k, by, tmp, sizeof(tmp), &n, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK: notify_arg(c, NK_STRING, "incrbyfloat", 1)
    if st == ST_OK:
        wb_bulk(&c.out, tmp, n)
    elif st == ST_NOTFLOAT:
        wb_error(&c.out, E_NOTFLOAT)
    elif st == ST_NANINF:
        wb_error(&c.out, E_NANINF)
    else:
        _reply_status(c, st)
    return 0


cdef int str_append_locked(kref_t *k, const char *add, uint64_t n, uint64_t *newlen,
                           int64_t now_ms) noexcept nogil:
    """APPEND to the found (or absent) key. Shard lock held. The bytes go in place
    while the item has room (its chunk, or the last page of its extents, so small
    appends to a big value rarely copy it); otherwise the value moves to a new
    item. ST_OK, ST_WRONGTYPE, ST_TOOBIG or ST_NOMEM."""
    cdef item_t *it
    cdef uint64_t cur
    cdef char *buf
    cdef int st
    if not k.item:
        newlen[0] = n
        return str_store_locked(k, add, n, 0, False, STORE_RAW, now_ms)
    it = IT(k.item)
    if it.type != T_STRING:
        return ST_WRONGTYPE
    cur = str_len(it)
    newlen[0] = cur + n
    if newlen[0] > g_hdr.proto_max_bulk_len:
        return ST_TOOBIG
    if it.encoding != ENC_INT and item_capacity(k.item) >= newlen[0]:
        item_write(it, it.klen + it.vlen, add, n)
        it.vlen = newlen[0]
        it.encoding = ENC_RAW
        item_bump(it)
        return ST_OK
    buf = <char *>malloc(newlen[0] if newlen[0] else 1)
    if buf == NULL:
        return ST_NOMEM
    if it.encoding == ENC_INT:
        fmt_i64(buf, item_int(it))
    else:
        item_read(it, it.klen, buf, cur)
    memcpy(buf + cur, add, n)
    st = str_store_locked(k, buf, newlen[0], 0, True, STORE_RAW, now_ms)
    free(buf)
    return st


cdef int cmd_append(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef uint64_t newlen = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        st = str_append_locked(&k, c.argv[2], c.argl[2], &newlen, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK: notify_arg(c, NK_STRING, "append", 1)
    if st == ST_OK:
        wb_int(&c.out, <int64_t>newlen)
    else:
        _reply_status(c, st)
    return 0


cdef int cmd_strlen(Client c) except -1:
    cdef kref_t k
    cdef int st = ST_OK
    cdef uint64_t n = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            if IT(k.item).type != T_STRING:
                st = ST_WRONGTYPE
            else:
                n = str_len(IT(k.item))
        shard_unlock(k.shard)
    if st == ST_OK:
        wb_int(&c.out, <int64_t>n)
    else:
        _reply_status(c, st)
    return 0


cdef bint getrange_bounds(int64_t *start, int64_t *end, int64_t n) noexcept nogil:
    """Redis's GETRANGE index rules on a string of n bytes: False when the range is
    empty, else start..end (inclusive) within the string."""
    if start[0] < 0 and end[0] < 0 and start[0] > end[0]:
        return False
    if start[0] < 0:
        start[0] += n
    if end[0] < 0:
        end[0] += n
    if start[0] < 0:
        start[0] = 0
    if end[0] < 0:
        end[0] = 0
    if end[0] >= n:
        end[0] = n - 1
    return not (start[0] > end[0] or n == 0)


cdef void str_reply_range(wbuf_t *w, item_t *it, int64_t start, int64_t end) noexcept nogil:
    """Bytes start..end (inclusive, within bounds) of a string item as a bulk reply,
    copied straight from the item: a small range of a big value costs little."""
    cdef char tmp[24]
    cdef uint64_t n = <uint64_t>(end - start + 1)
    if it.encoding == ENC_INT:
        fmt_i64(tmp, item_int(it))
        wb_bulk(w, tmp + start, n)
        return
    if not wb_reserve(w, n + 26):
        return
    wb_bulk_hdr(w, n)
    item_read(it, it.klen + <uint64_t>start, w.p + w.len, n)
    w.p[w.len + n] = 13
    w.p[w.len + n + 1] = 10
    w.len += n + 2


cdef int cmd_getrange(Client c) except -1:
    cdef kref_t k
    cdef int st = ST_OK
    cdef int64_t start, end
    cdef item_t *it
    if not arg_i64(c, 2, &start) or not arg_i64(c, 3, &end):
        wb_error(&c.out, E_NOTINT)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if not key_find_locked(&k, c.db, c.now_ms):
            wb_bulk(&c.out, "", 0)
        elif IT(k.item).type != T_STRING:
            st = ST_WRONGTYPE
        else:
            it = IT(k.item)
            if getrange_bounds(&start, &end, <int64_t>str_len(it)):
                str_reply_range(&c.out, it, start, end)
            else:
                wb_bulk(&c.out, "", 0)
        shard_unlock(k.shard)
    return _reply_status(c, st)


cdef void _item_zero(item_t *it, uint64_t pos, uint64_t n) noexcept nogil:
    """Write n zero bytes into the item's data at pos."""
    cdef char zeros[4096]
    cdef uint64_t step
    memset(zeros, 0, sizeof(zeros))
    while n:
        step = n if n < sizeof(zeros) else sizeof(zeros)
        item_write(it, pos, zeros, step)
        pos += step
        n -= step


cdef int str_setrange_locked(kref_t *k, uint64_t off, const char *src, uint64_t n,
                             uint64_t *newlen, int64_t now_ms) noexcept nogil:
    """SETRANGE on the found (or absent) key, n > 0 and off + n within
    proto-max-bulk-len. Shard lock held. In place when the item has room, else the
    value moves to a new item (zero-filled up to off). ST_OK, ST_WRONGTYPE or
    ST_NOMEM."""
    cdef item_t *it
    cdef uint64_t cur = 0
    cdef char *buf
    cdef int st
    if k.item:
        it = IT(k.item)
        if it.type != T_STRING:
            return ST_WRONGTYPE
        cur = str_len(it)
    newlen[0] = off + n if off + n > cur else cur
    if k.item and it.encoding != ENC_INT and item_capacity(k.item) >= newlen[0]:
        if off > it.vlen:
            _item_zero(it, it.klen + it.vlen, off - it.vlen)
        item_write(it, it.klen + off, src, n)
        it.vlen = newlen[0]
        it.encoding = ENC_RAW
        item_bump(it)
        return ST_OK
    buf = <char *>malloc(newlen[0])
    if buf == NULL:
        return ST_NOMEM
    if k.item:
        if it.encoding == ENC_INT:
            fmt_i64(buf, item_int(it))
        else:
            item_read(it, it.klen, buf, cur)
    if off > cur:
        memset(buf + cur, 0, off - cur)
    memcpy(buf + off, src, n)
    st = str_store_locked(k, buf, newlen[0], 0, True, STORE_RAW, now_ms)
    free(buf)
    return st


cdef int cmd_setrange(Client c) except -1:
    """As Redis: an empty value changes nothing and answers the current length
    (0 for a missing key) before the size limit is checked."""
    cdef kref_t k
    cdef int st = ST_OK
    cdef int64_t off
    cdef uint64_t newlen = 0
    if not arg_i64(c, 2, &off):
        wb_error(&c.out, E_NOTINT)
        return 0
    if off < 0:
        wb_error(&c.out, E_OFFSET)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        if k.item and IT(k.item).type != T_STRING:
            st = ST_WRONGTYPE
        elif c.argl[3] == 0:
            newlen = str_len(IT(k.item)) if k.item else 0
        elif <uint64_t>off + c.argl[3] > g_hdr.proto_max_bulk_len:
            st = ST_TOOBIG
        else:
            st = str_setrange_locked(&k, <uint64_t>off, c.argv[3], c.argl[3], &newlen, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK and c.argl[3]: notify_arg(c, NK_STRING, "setrange", 1)
    if st == ST_OK:
        wb_int(&c.out, <int64_t>newlen)
    else:
        _reply_status(c, st)
    return 0


cdef void register_string_commands():
    register_c('get', cmd_get)
    register_c('set', cmd_set)
    register_c('setnx', cmd_setnx)
    register_c('setex', cmd_setex)
    register_c('psetex', cmd_psetex)
    register_c('getset', cmd_getset)
    register_c('getdel', cmd_getdel)
    register_c('getex', cmd_getex)
    register_c('mget', cmd_mget)
    register_c('mset', cmd_mset)
    register_c('msetnx', cmd_msetnx)
    register_c('incr', cmd_incr)
    register_c('decr', cmd_decr)
    register_c('incrby', cmd_incrby)
    register_c('decrby', cmd_decrby)
    register_c('incrbyfloat', cmd_incrbyfloat)
    register_c('append', cmd_append)
    register_c('strlen', cmd_strlen)
    register_c('getrange', cmd_getrange)
    register_c('substr', cmd_getrange)
    register_c('setrange', cmd_setrange)
