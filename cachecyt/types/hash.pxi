# Hashes. A hash's item holds a croot_t; small hashes are one listpack chunk
# (field, value pairs, each string preceded by its length as a varint, scanned
# linearly, insertion order kept), big ones a nested dict (types/dict.pxi) whose
# elements are field || value chunks. A listpack turns into a dict when a field
# or value longer than hash-max-listpack-value is written, when the hash passes
# hash-max-listpack-entries, or when the pairs no longer fit one page; never
# back (as Redis). Everything here runs under the key's shard lock, nogil.

ctypedef struct croot_t:         # root of a hash or set, in the item's value area
    uint64_t off                 # listpack / intset chunk (0 = none yet), or dict_t
    uint64_t count               # elements of the listpack / intset (a dict counts its own)
    uint64_t used                # bytes used in the listpack / intset chunk


cdef inline uint64_t coll_root_pad(uint64_t klen) noexcept nogil:
    """Bytes left unused between the key and the root record so that the root
    sits in one extent page: an item spread over extents has key || value split
    at page boundaries, and a key ending in the last 23 bytes of a page (klen
    mod 65536 above 65512) would split the 24-byte root. Decided by the key
    length alone, so every item of a collection (RENAME, COPY, MOVE) finds it."""
    cdef uint64_t r = klen & (PAGE_SIZE - 1)
    if ITEM_HDR + klen + sizeof(croot_t) <= PAGE_SIZE or r + sizeof(croot_t) <= PAGE_SIZE:
        return 0
    return PAGE_SIZE - r


cdef inline uint64_t coll_vlen(uint64_t klen) noexcept nogil:
    """The value area of a hash or set item under a key of this length."""
    return coll_root_pad(klen) + sizeof(croot_t)


cdef inline croot_t *croot(item_t *it) noexcept nogil:
    """The root record; items made by coll_new keep it in one piece."""
    cdef uint64_t pos
    if not (it.iflags & IF_EXTENTS):
        return <croot_t *>item_value_inline(it)
    pos = it.klen + coll_root_pad(it.klen)
    return <croot_t *>(g_base + item_extents(it)[pos >> PAGE_SHIFT] + (pos & (PAGE_SIZE - 1)))


cdef uint64_t coll_new(kref_t *k, uint8_t type, uint8_t enc, int64_t now_ms) noexcept nogil:
    """A new empty collection item stored under the found-absent key, or 0."""
    cdef uint64_t off
    cdef croot_t *r
    off = item_new(k.pdb, k.key, k.klen, coll_vlen(k.klen), type, enc, now_ms)
    if off == 0:
        return 0
    r = croot(IT(off))
    r.off = 0
    r.count = 0
    r.used = 0
    if key_store_locked(k, off) != ST_OK:
        return 0
    return off


# ---- listpack: varint-prefixed strings in one chunk ---------------------------------

cdef inline uint64_t lp_lensize(uint64_t n) noexcept nogil:
    cdef uint64_t s = 1
    while n >= 128:
        n >>= 7
        s += 1
    return s

cdef inline uint64_t lp_putlen(char *p, uint64_t n) noexcept nogil:
    cdef uint64_t s = 0
    while n >= 128:
        p[s] = <char>((n & 127) | 128)
        n >>= 7
        s += 1
    p[s] = <char>n
    return s + 1

cdef inline uint64_t lp_getlen(const char *p, uint64_t *n) noexcept nogil:
    cdef uint64_t v = 0, s = 0, shift = 0
    while (<uint8_t>p[s]) & 128:
        v |= (<uint64_t>((<uint8_t>p[s]) & 127)) << shift
        shift += 7
        s += 1
    v |= (<uint64_t>(<uint8_t>p[s])) << shift
    n[0] = v
    return s + 1


cdef inline uint64_t lp_entry(const char *base, uint64_t pos, const char **s, uint64_t *n) noexcept nogil:
    """The string at pos; returns the position after it."""
    pos += lp_getlen(base + pos, n)
    s[0] = base + pos
    return pos + n[0]


cdef int lp_reserve(croot_t *r, uint64_t extra) noexcept nogil:
    """Room for `extra` more bytes in the packed chunk: ST_OK, ST_TOOBIG (over a
    page) or ST_NOMEM."""
    cdef uint64_t need = r.used + extra, size, noff
    if r.off and need <= slab_chunk_size(r.off):
        return ST_OK
    if need > PAGE_SIZE:
        return ST_TOOBIG
    size = need + need // 2
    if size < 32:
        size = 32
    if size > PAGE_SIZE:
        size = PAGE_SIZE
    noff = slab_alloc(size)
    if noff == 0:
        return ST_NOMEM
    if r.off:
        memcpy(P(noff), P(r.off), r.used)
        slab_free(r.off)
    r.off = noff
    return ST_OK


cdef int64_t lp_find_pair(croot_t *r, const char *f, uint64_t fl) noexcept nogil:
    """Byte position of the pair whose field is f, or -1."""
    cdef const char *base = <const char *>P(r.off)
    cdef uint64_t pos = 0, start, n
    cdef const char *s
    while pos < r.used:
        start = pos
        pos = lp_entry(base, pos, &s, &n)
        if n == fl and memcmp(s, f, fl) == 0:
            return <int64_t>start
        pos = lp_entry(base, pos, &s, &n)
    return -1


cdef inline uint64_t lp_pair(const char *base, uint64_t pos, const char **f, uint64_t *fl,
                             const char **v, uint64_t *vl) noexcept nogil:
    pos = lp_entry(base, pos, f, fl)
    return lp_entry(base, pos, v, vl)


cdef void lp_cut(croot_t *r, uint64_t pos, uint64_t n) noexcept nogil:
    """Remove n bytes at pos."""
    cdef char *base = <char *>P(r.off)
    memmove(base + pos, base + pos + n, r.used - pos - n)
    r.used -= n


cdef int lp_put_string(croot_t *r, uint64_t pos, uint64_t oldsize, const char *s, uint64_t n) noexcept nogil:
    """Replace the oldsize bytes at pos with the varint-prefixed string s."""
    cdef uint64_t size = lp_lensize(n) + n
    cdef int st
    cdef char *base
    if size > oldsize:
        st = lp_reserve(r, size - oldsize)
        if st != ST_OK:
            return st
    base = <char *>P(r.off)
    memmove(base + pos + size, base + pos + oldsize, r.used - pos - oldsize)
    r.used = r.used + size - oldsize
    pos += lp_putlen(base + pos, n)
    memcpy(base + pos, s, n)
    return ST_OK


# =============================== Hash type API =================================

cdef inline uint64_t hash_len(item_t *it) noexcept nogil:
    cdef croot_t *r = croot(it)
    if it.encoding == ENC_HASHTABLE:
        return DT(r.off).count
    return r.count


ctypedef struct hval_t:          # a value found in a hash
    const char *p                # its bytes (listpack, or an element that is not big)
    uint64_t len
    uint64_t elem                # the dict element when p is NULL


cdef bint hash_find(item_t *it, const char *f, uint64_t fl, hval_t *out) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef int64_t i
    cdef const char *s
    cdef uint64_t n
    cdef dict_t *d
    out.p = NULL
    out.elem = 0
    if it.encoding == ENC_HASHTABLE:
        d = DT(r.off)
        i = dict_find(d, cc_hash(f, fl), f, fl)
        if i < 0:
            return False
        out.elem = dict_elem(d, <uint64_t>i)
        out.len = elem_vlen(out.elem)
        if not elem_big(elem_klen(out.elem), out.len):
            out.p = elem_data(out.elem) + elem_klen(out.elem)
        return True
    if r.off == 0:
        return False
    i = lp_find_pair(r, f, fl)
    if i < 0:
        return False
    lp_pair(<const char *>P(r.off), <uint64_t>i, &s, &n, &out.p, &out.len)
    return True


cdef void hval_emit(wbuf_t *w, hval_t *v) noexcept nogil:
    if v.p != NULL:
        wb_bulk(w, v.p, v.len)
    else:
        elem_emit_val(w, v.elem)


cdef int hash_to_dict(item_t *it) noexcept nogil:
    """Convert a listpack hash to a dict. ST_OK or ST_NOMEM (unchanged)."""
    cdef croot_t *r = croot(it)
    cdef uint64_t cap = DICT_MIN, doff, pos = 0, e
    cdef const char *f
    cdef const char *v
    cdef uint64_t fl, vl
    cdef const char *base
    while cap * 7 < r.count * 10 + 10:
        cap *= 2
    doff = dict_new(cap)
    if doff == 0:
        return ST_NOMEM
    if r.off:
        base = <const char *>P(r.off)
        while pos < r.used:
            pos = lp_pair(base, pos, &f, &fl, &v, &vl)
            e = elem_new(f, fl, v, vl)
            if e == 0 or dict_insert(&doff, cc_hash(f, fl), e) != ST_OK:
                if e:
                    elem_free(e)
                dict_free(doff, True)
                return ST_NOMEM
        slab_free(r.off)
    r.off = doff
    r.count = 0
    r.used = 0
    it.encoding = ENC_HASHTABLE
    return ST_OK


cdef int hash_set(item_t *it, const char *f, uint64_t fl, const char *v, uint64_t vl,
                  bint nx, bint *created) noexcept nogil:
    """Set field f to v (nx: only when absent). ST_OK or ST_NOMEM; created says
    whether the field is new."""
    cdef croot_t *r = croot(it)
    cdef int64_t i
    cdef int st
    cdef uint64_t h, e, old, pos, fsize
    cdef const char *s
    cdef uint64_t n
    cdef dict_t *d
    created[0] = False
    if it.encoding == ENC_LISTPACK and (fl > g_hdr.hash_max_listpack_value
                                        or vl > g_hdr.hash_max_listpack_value):
        if hash_to_dict(it) != ST_OK:
            return ST_NOMEM
    if it.encoding == ENC_LISTPACK:
        i = lp_find_pair(r, f, fl) if r.off else -1
        if i >= 0:
            if nx:
                return ST_OK
            pos = lp_entry(<const char *>P(r.off), <uint64_t>i, &s, &n)
            fsize = pos - <uint64_t>i
            lp_entry(<const char *>P(r.off), pos, &s, &n)
            st = lp_put_string(r, pos, lp_lensize(n) + n, v, vl)
        else:
            st = lp_reserve(r, lp_lensize(fl) + fl + lp_lensize(vl) + vl)
            if st == ST_OK:
                lp_put_string(r, r.used, 0, f, fl)
                lp_put_string(r, r.used, 0, v, vl)
                r.count += 1
                created[0] = True
                if r.count > g_hdr.hash_max_listpack_entries:
                    hash_to_dict(it)                   # no memory: stays a listpack
                return ST_OK
        if st == ST_TOOBIG:
            if hash_to_dict(it) != ST_OK:
                return ST_NOMEM
            return hash_set(it, f, fl, v, vl, nx, created)
        return st
    d = DT(r.off)
    h = cc_hash(f, fl)
    i = dict_find(d, h, f, fl)
    if i >= 0 and nx:
        return ST_OK
    e = elem_new(f, fl, v, vl)
    if e == 0:
        return ST_NOMEM
    if i >= 0:
        old = dict_elem(d, <uint64_t>i)
        dict_replace_at(d, <uint64_t>i, e)
        elem_free(old)
        return ST_OK
    if dict_insert(&r.off, h, e) != ST_OK:
        elem_free(e)
        return ST_NOMEM
    created[0] = True
    return ST_OK


cdef bint hash_del(item_t *it, const char *f, uint64_t fl) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef int64_t i
    cdef uint64_t pos
    cdef const char *s
    cdef uint64_t n
    if it.encoding == ENC_HASHTABLE:
        i = dict_find(DT(r.off), cc_hash(f, fl), f, fl)
        if i < 0:
            return False
        elem_free(dict_delete_at(&r.off, <uint64_t>i))
        return True
    if r.off == 0:
        return False
    i = lp_find_pair(r, f, fl)
    if i < 0:
        return False
    pos = lp_pair(<const char *>P(r.off), <uint64_t>i, &s, &n, &s, &n)
    lp_cut(r, <uint64_t>i, pos - <uint64_t>i)
    r.count -= 1
    return True


cdef void coll_release(item_t *it) noexcept nogil:
    """value_release for hashes and sets."""
    cdef croot_t *r = croot(it)
    if r.off == 0:
        return
    if it.encoding == ENC_HASHTABLE:
        dict_free(r.off, True)
    else:
        slab_free(r.off)
    r.off = 0


cdef int coll_dup(item_t *dst, item_t *src) noexcept nogil:
    """value_dup for hashes and sets."""
    cdef croot_t *s = croot(src)
    cdef croot_t *d = croot(dst)
    d.count = s.count
    d.used = s.used
    d.off = 0
    if s.off == 0:
        return ST_OK
    if src.encoding == ENC_HASHTABLE:
        return dict_dup(&d.off, s.off)
    d.off = slab_alloc(slab_chunk_size(s.off))
    if d.off == 0:
        return ST_NOMEM
    memcpy(P(d.off), P(s.off), s.used)
    return ST_OK


cdef uint64_t coll_memory(item_t *it) noexcept nogil:
    """Arena bytes a hash or set owns outside its item (MEMORY USAGE)."""
    cdef croot_t *r = croot(it)
    if r.off == 0:
        return 0
    if it.encoding == ENC_HASHTABLE:
        return dict_table_mem(r.off) + DT(r.off).mem
    return slab_chunk_size(r.off)


# ---- walking every field -------------------------------------------------------------

cdef enum:
    HW_KEYS = 1
    HW_VALS = 2


cdef void hash_emit_all(wbuf_t *w, item_t *it, int what) noexcept nogil:
    """Every field and/or value into w, in storage order."""
    cdef croot_t *r = croot(it)
    cdef uint64_t pos = 0, i, e
    cdef const char *f
    cdef const char *v
    cdef uint64_t fl, vl
    cdef dict_t *d
    if it.encoding == ENC_HASHTABLE:
        d = DT(r.off)
        for i in range(dict_span(d)):
            e = dict_elem(d, i)
            if e:
                if what & HW_KEYS:
                    elem_emit_key(w, e)
                if what & HW_VALS:
                    elem_emit_val(w, e)
        return
    if r.off == 0:
        return
    while pos < r.used:
        pos = lp_pair(<const char *>P(r.off), pos, &f, &fl, &v, &vl)
        if what & HW_KEYS:
            wb_bulk(w, f, fl)
        if what & HW_VALS:
            wb_bulk(w, v, vl)


# ============================= Hash type commands ==============================

cdef const char *E_HASH_NOTINT = "ERR hash value is not an integer"
cdef const char *E_HASH_NOTFLOAT = "ERR hash value is not a float"
cdef const char *E_RANGE = "ERR value is out of range"


cdef int hash_lookup(Client c, kref_t *k) noexcept nogil:
    """Lock the key's shard and find it: ST_OK (k.item may be 0) or
    ST_WRONGTYPE (the lock is released)."""
    shard_lock(k.shard)
    if key_find_locked(k, c.db, c.now_ms) and IT(k.item).type != T_HASH:
        shard_unlock(k.shard)
        return ST_WRONGTYPE
    return ST_OK


cdef inline void coll_drop_if_empty(kref_t *k, uint64_t n) noexcept nogil:
    """An emptied collection disappears (k.slot must be current)."""
    if k.item and n == 0:
        key_remove_locked(k)


cdef inline void read_hit(item_t *it, int64_t now_ms) noexcept nogil:
    """Count a keyspace hit or miss of a read command, as Redis's lookupKeyRead."""
    if it != NULL:
        item_touch(it, now_ms)
        my_wstat().hits += 1
    else:
        my_wstat().misses += 1


cdef int reply_st(Client c, int st) except -1:
    """The error reply of a failed status (ST_OK replies nothing)."""
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif st == ST_NOTINT:
        wb_error(&c.out, E_NOTINT)
    elif st == ST_OVERFLOW:
        wb_error(&c.out, E_OVERFLOW)
    return 0


cdef int _hset(Client c, bint nx, int mode) except -1:
    """HSET (mode 0: reply the fields added), HMSET (1: +OK), HSETNX (nx)."""
    cdef kref_t k
    cdef int st
    cdef uint64_t i, added = 0
    cdef bint created
    cdef item_t *it
    if c.argc % 2:
        reply_arity(c, "hmset" if mode else "hset")
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            if not k.item and coll_new(&k, T_HASH, ENC_LISTPACK, c.now_ms) == 0:
                st = ST_NOMEM
            else:
                it = IT(k.item)
                # as Redis: a long field or value converts before anything is written
                for i in range(2, c.argc):
                    if it.encoding == ENC_LISTPACK and c.argl[i] > g_hdr.hash_max_listpack_value:
                        if hash_to_dict(it) != ST_OK:
                            st = ST_NOMEM
                        break
                i = 2
                while st == ST_OK and i < c.argc:
                    st = hash_set(it, c.argv[i], c.argl[i], c.argv[i + 1], c.argl[i + 1], nx, &created)
                    if created:
                        added += 1
                    i += 2
                item_bump(it)
                coll_drop_if_empty(&k, hash_len(it))
            shard_unlock(k.shard)
    if st != ST_OK:
        return reply_st(c, st)
    if added or not nx: notify_arg(c, NK_HASH, "hset", 1)
    if mode:
        wb_ok(&c.out)
    else:
        wb_int(&c.out, <int64_t>added)
    return 0


cdef int cmd_hset(Client c) except -1:
    return _hset(c, False, 0)

cdef int cmd_hmset(Client c) except -1:
    return _hset(c, False, 1)

cdef int cmd_hsetnx(Client c) except -1:
    return _hset(c, True, 0)


cdef enum:
    HR_GET = 1
    HR_EXISTS = 2
    HR_STRLEN = 3


cdef int _hget_one(Client c, int what) except -1:
    cdef kref_t k
    cdef hval_t v
    cdef int st
    cdef bint found = False
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            if k.item:
                found = hash_find(IT(k.item), c.argv[2], c.argl[2], &v)
            if what == HR_GET:
                if found:
                    hval_emit(&c.out, &v)
                else:
                    wb_null(&c.out)
            elif what == HR_EXISTS:
                wb_int(&c.out, 1 if found else 0)
            else:
                wb_int(&c.out, <int64_t>v.len if found else 0)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int cmd_hget(Client c) except -1:
    return _hget_one(c, HR_GET)

cdef int cmd_hexists(Client c) except -1:
    return _hget_one(c, HR_EXISTS)

cdef int cmd_hstrlen(Client c) except -1:
    return _hget_one(c, HR_STRLEN)


cdef int cmd_hmget(Client c) except -1:
    cdef kref_t k
    cdef hval_t v
    cdef int st
    cdef uint64_t i
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            wb_array(&c.out, <int64_t>(c.argc - 2))
            for i in range(2, c.argc):
                if k.item and hash_find(IT(k.item), c.argv[i], c.argl[i], &v):
                    hval_emit(&c.out, &v)
                else:
                    wb_null(&c.out)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int cmd_hdel(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef uint64_t i, n = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            if k.item:
                for i in range(2, c.argc):
                    if hash_del(IT(k.item), c.argv[i], c.argl[i]):
                        n += 1
                        if hash_len(IT(k.item)) == 0:
                            break
                if n:
                    item_bump(IT(k.item))
                coll_drop_if_empty(&k, hash_len(IT(k.item)))
            shard_unlock(k.shard)
    if st != ST_OK:
        return reply_st(c, st)
    notify_removed(c, NK_HASH, "hdel", n != 0, k.item == 0)
    wb_int(&c.out, <int64_t>n)
    return 0


cdef int cmd_hlen(Client c) except -1:
    cdef kref_t k
    cdef int st
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            wb_int(&c.out, <int64_t>hash_len(IT(k.item)) if k.item else 0)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int _hgetall(Client c, int what) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t n
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            n = <int64_t>hash_len(IT(k.item)) if k.item else 0
            if what == HW_KEYS | HW_VALS:
                wb_map(&c.out, n)
            else:
                wb_array(&c.out, n)
            if k.item:
                hash_emit_all(&c.out, IT(k.item), what)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int cmd_hkeys(Client c) except -1:
    return _hgetall(c, HW_KEYS)

cdef int cmd_hvals(Client c) except -1:
    return _hgetall(c, HW_VALS)

cdef int cmd_hgetall(Client c) except -1:
    return _hgetall(c, HW_KEYS | HW_VALS)


cdef int hash_incr_locked(kref_t *k, Client c, bint isfloat, int64_t by, long double fby,
                          char *out, uint64_t cap, int *outlen, int64_t *result) noexcept nogil:
    """HINCRBY / HINCRBYFLOAT on the found (or absent) key. Shard lock held."""
    cdef hval_t v
    cdef char buf[5200]
    cdef int64_t cur = 0
    cdef long double fcur = 0
    cdef bint created
    cdef int st
    cdef item_t *it
    if k.item and hash_find(IT(k.item), c.argv[2], c.argl[2], &v):
        if v.len >= sizeof(buf):
            return ST_NOTFLOAT if isfloat else ST_NOTINT
        if v.p != NULL:
            memcpy(buf, v.p, v.len)
        else:
            elem_read(v.elem, elem_klen(v.elem), buf, v.len)
        if isfloat:
            if not cc_parse_ld(buf, v.len, &fcur):
                return ST_NOTFLOAT
        elif not parse_i64(buf, v.len, &cur):
            return ST_NOTINT
    if isfloat:
        fcur += fby
        if isnan(fcur) or isinf(fcur):
            return ST_NANINF
        outlen[0] = cc_fmt_ld_human(out, cap, fcur)
    else:
        if (by < 0 and cur < (-9223372036854775807LL - 1) - by) or (by > 0 and cur > 9223372036854775807LL - by):
            return ST_OVERFLOW
        cur += by
        result[0] = cur
        outlen[0] = fmt_i64(out, cur)
    if not k.item and coll_new(k, T_HASH, ENC_LISTPACK, c.now_ms) == 0:
        return ST_NOMEM
    it = IT(k.item)
    st = hash_set(it, c.argv[2], c.argl[2], out, <uint64_t>outlen[0], False, &created)
    item_bump(it)
    coll_drop_if_empty(k, hash_len(it))
    return st


cdef int _hincr(Client c, bint isfloat) except -1:
    cdef kref_t k
    cdef int64_t by = 0, result = 0
    cdef long double fby = 0
    cdef int st, n = 0
    cdef char out[5200]
    if isfloat:
        if not cc_parse_ld(c.argv[3], c.argl[3], &fby):
            wb_error(&c.out, E_NOTFLOAT)
            return 0
        if isnan(fby) or isinf(fby):
            wb_error(&c.out, "ERR value is NaN or Infinity")
            return 0
    elif not arg_i64(c, 3, &by):
        wb_error(&c.out, E_NOTINT)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            st = hash_incr_locked(&k, c, isfloat, by, fby, out, sizeof(out), &n, &result)
            shard_unlock(k.shard)
    if st == ST_OK: notify_arg(c, NK_HASH, "hincrbyfloat" if isfloat else "hincrby", 1)
    if st == ST_OK:
        if isfloat:
            wb_bulk(&c.out, out, n)
        else:
            wb_int(&c.out, result)
    elif st == ST_NOTINT:
        wb_error(&c.out, E_HASH_NOTINT)
    elif st == ST_NOTFLOAT:
        wb_error(&c.out, E_HASH_NOTFLOAT)
    elif st == ST_NANINF:
        wb_error(&c.out, E_NANINF)
    else:
        reply_st(c, st)
    return 0


cdef int cmd_hincrby(Client c) except -1:
    return _hincr(c, False)

cdef int cmd_hincrbyfloat(Client c) except -1:
    return _hincr(c, True)


# ---- HRANDFIELD ------------------------------------------------------------------------

cdef uint64_t *hash_ids(item_t *it, uint64_t *n) noexcept nogil:
    """A malloc'd array naming every field (listpack: pair positions; dict: slot
    indices), or NULL."""
    cdef croot_t *r = croot(it)
    cdef uint64_t *ids
    cdef uint64_t pos = 0, i, m = 0
    cdef const char *s
    cdef uint64_t l
    cdef dict_t *d
    n[0] = hash_len(it)
    ids = <uint64_t *>malloc(8 * n[0] + 8)
    if ids == NULL:
        return NULL
    if it.encoding == ENC_HASHTABLE:
        d = DT(r.off)
        for i in range(dict_span(d)):
            if dict_slot(d, i).item:
                ids[m] = i
                m += 1
    else:
        while pos < r.used:
            ids[m] = pos
            m += 1
            pos = lp_pair(<const char *>P(r.off), pos, &s, &l, &s, &l)
    return ids


cdef void hash_emit_id(wbuf_t *w, item_t *it, uint64_t id, bint withvalues) noexcept nogil:
    """The field (and value) named by id; a pair is an array of two in RESP3."""
    cdef const char *f
    cdef const char *v
    cdef uint64_t fl, vl, e
    if withvalues and w.resp == 3:
        wb_array(w, 2)
    if it.encoding == ENC_HASHTABLE:
        e = dict_elem(DT(croot(it).off), id)
        elem_emit_key(w, e)
        if withvalues:
            elem_emit_val(w, e)
        return
    lp_pair(<const char *>P(croot(it).off), id, &f, &fl, &v, &vl)
    wb_bulk(w, f, fl)
    if withvalues:
        wb_bulk(w, v, vl)


cdef int hash_randfield_locked(wbuf_t *w, item_t *it, int64_t count, bint withvalues) noexcept nogil:
    """HRANDFIELD with a count: distinct fields (count > 0) or count draws with
    repeats (count < 0). ST_OK or ST_NOMEM."""
    cdef uint64_t n = hash_len(it), want, i
    cdef uint64_t *ids
    cdef bint pairs = withvalues and w.resp == 2
    if count < 0:
        want = <uint64_t>(-count)
        wb_array(w, <int64_t>(want * 2 if pairs else want))
        if it.encoding == ENC_HASHTABLE:
            for i in range(want):
                hash_emit_id(w, it, dict_random(DT(croot(it).off)), withvalues)
                if w.oom:
                    break
            return ST_OK
        ids = hash_ids(it, &n)
        if ids == NULL:
            return ST_NOMEM
        for i in range(want):
            hash_emit_id(w, it, ids[cc_rand() % n], withvalues)
            if w.oom:
                break
        free(ids)
        return ST_OK
    want = <uint64_t>count if <uint64_t>count < n else n
    if it.encoding == ENC_HASHTABLE and want < n:
        ids = dict_pick(DT(croot(it).off), want)
    else:
        ids = hash_ids(it, &n)
        if ids != NULL and want < n:
            pick_distinct(ids, n, want)
    if ids == NULL:
        return ST_NOMEM
    wb_array(w, <int64_t>(want * 2 if pairs else want))
    for i in range(want):
        hash_emit_id(w, it, ids[i], withvalues)
    free(ids)
    return ST_OK


cdef int arg_count_range(Client c, uint64_t i, int64_t *out) except -1:
    """A count in -LONG_MAX..LONG_MAX as Redis's getRangeLongFromObjectOrReply;
    1 after replying the error."""
    if not arg_i64(c, i, out):
        wb_error(&c.out, E_NOTINT)
        return 1
    if out[0] == -9223372036854775807LL - 1:
        wb_error(&c.out, "ERR value is out of range, value must between "
                         "-9223372036854775807 and 9223372036854775807")
        return 1
    return 0


cdef int cmd_hrandfield(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t count = 0
    cdef bint withvalues = False
    if c.argc >= 3:
        if arg_count_range(c, 2, &count):
            return 0
        if c.argc > 4 or (c.argc == 4 and not arg_eq(c, 3, "withvalues")):
            wb_error(&c.out, E_SYNTAX)
            return 0
        if c.argc == 4:
            withvalues = True
            if count < -4611686018427387903LL or count > 4611686018427387903LL:
                wb_error(&c.out, E_RANGE)
                return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = hash_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            if c.argc == 2:
                if k.item:
                    hash_emit_id(&c.out, IT(k.item), hash_one_id(IT(k.item)), False)
                else:
                    wb_null(&c.out)
            elif not k.item or count == 0:
                wb_array(&c.out, 0)
            else:
                st = hash_randfield_locked(&c.out, IT(k.item), count, withvalues)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef uint64_t hash_one_id(item_t *it) noexcept nogil:
    cdef uint64_t pos = 0, k
    cdef const char *s
    cdef uint64_t l
    if it.encoding == ENC_HASHTABLE:
        return dict_random(DT(croot(it).off))
    k = cc_rand() % croot(it).count
    while k:
        pos = lp_pair(<const char *>P(croot(it).off), pos, &s, &l, &s, &l)
        k -= 1
    return pos


# ---- HSCAN and SSCAN --------------------------------------------------------------------

ctypedef struct cscan_t:         # what a collection scan collects
    wbuf_t *w
    const char *pat              # MATCH pattern or NULL
    uint64_t plen
    uint64_t n                   # bulk strings emitted
    bint values                  # emit each element's value after its key (HSCAN)


cdef bint cscan_take(cscan_t *s, const char *key, uint64_t klen) noexcept nogil:
    return s.pat == NULL or glob_matchlen(s.pat, s.plen, key, klen)


cdef void cscan_visit(void *ctx, uint64_t e) noexcept nogil:
    """dict_scan callback: emit the element when its key matches."""
    cdef cscan_t *s = <cscan_t *>ctx
    cdef char *tmp
    cdef bint ok
    if s.pat != NULL:
        if not elem_big(elem_klen(e), elem_vlen(e)):
            ok = cscan_take(s, elem_data(e), elem_klen(e))
        else:
            tmp = <char *>malloc(elem_klen(e) + 1)
            if tmp == NULL:
                return
            elem_read(e, 0, tmp, elem_klen(e))
            ok = cscan_take(s, tmp, elem_klen(e))
            free(tmp)
        if not ok:
            return
    elem_emit_key(s.w, e)
    s.n += 1
    if s.values:
        elem_emit_val(s.w, e)
        s.n += 1


cdef int cscan_options(Client c, uint64_t first, int64_t *count, cscan_t *s) except -1:
    """MATCH and COUNT from argument `first`. 1 after replying the error."""
    cdef uint64_t i = first
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
            s.pat = NULL if glob_is_all(c.argv[i + 1], c.argl[i + 1]) else c.argv[i + 1]
            s.plen = c.argl[i + 1]
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        i += 2
    return 0


cdef void hash_scan_compact(item_t *it, cscan_t *s) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef uint64_t pos = 0
    cdef const char *f
    cdef const char *v
    cdef uint64_t fl, vl
    while r.off and pos < r.used:
        pos = lp_pair(<const char *>P(r.off), pos, &f, &fl, &v, &vl)
        if cscan_take(s, f, fl):
            wb_bulk(s.w, f, fl)
            wb_bulk(s.w, v, vl)
            s.n += 2


cdef int coll_scan(Client c, uint8_t type) except -1:
    """HSCAN / SSCAN key cursor [MATCH pattern] [COUNT count]: compact encodings
    answer whole with cursor 0, dicts a reverse-binary step (types/dict.pxi)."""
    cdef kref_t k
    cdef uint64_t cursor
    cdef int64_t count = 10
    cdef cscan_t s
    cdef wbuf_t body
    cdef int st = ST_OK
    cdef bint found = False
    cdef char num[24]
    cdef item_t *it
    if not parse_cursor(c.argv[2], c.argl[2], &cursor):
        wb_error(&c.out, E_CURSOR)
        return 0
    s.pat = NULL
    s.plen = 0
    s.n = 0
    s.values = type == T_HASH
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            found = True
            if IT(k.item).type != type:
                st = ST_WRONGTYPE
        shard_unlock(k.shard)
    if st != ST_OK:
        return reply_st(c, st)
    if not found:
        my_wstat().misses += 1
        wb_array(&c.out, 2)
        wb_bulk(&c.out, "0", 1)
        wb_array(&c.out, 0)
        return 0
    if cscan_options(c, 3, &count, &s):
        return 0
    wb_init(&body)
    body.resp = c.out.resp
    s.w = &body
    try:
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, c.db, c.now_ms) and IT(k.item).type == type:
                it = IT(k.item)
                read_hit(it, c.now_ms)
                if it.encoding == ENC_HASHTABLE:
                    cursor = dict_scan(DT(croot(it).off), cursor, cscan_visit, &s, <uint64_t>count)
                else:
                    if type == T_HASH:
                        hash_scan_compact(it, &s)
                    else:
                        set_scan_compact(it, &s)
                    cursor = 0
            else:
                cursor = 0
            shard_unlock(k.shard)
        if body.oom:
            raise MemoryError()
        wb_array(&c.out, 2)
        wb_bulk(&c.out, num, <uint64_t>fmt_u64(num, cursor))
        wb_array(&c.out, <int64_t>s.n)
        wb_put(&c.out, body.p, body.len)
    finally:
        free(body.p)
    return 0


cdef int cmd_hscan(Client c) except -1:
    return coll_scan(c, T_HASH)


cdef void register_hash_commands():
    register_c('hset', cmd_hset)
    register_c('hmset', cmd_hmset)
    register_c('hsetnx', cmd_hsetnx)
    register_c('hget', cmd_hget)
    register_c('hexists', cmd_hexists)
    register_c('hstrlen', cmd_hstrlen)
    register_c('hmget', cmd_hmget)
    register_c('hdel', cmd_hdel)
    register_c('hlen', cmd_hlen)
    register_c('hkeys', cmd_hkeys)
    register_c('hvals', cmd_hvals)
    register_c('hgetall', cmd_hgetall)
    register_c('hincrby', cmd_hincrby)
    register_c('hincrbyfloat', cmd_hincrbyfloat)
    register_c('hrandfield', cmd_hrandfield)
    register_c('hscan', cmd_hscan)
