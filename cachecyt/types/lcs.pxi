# LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common
# subsequence of two string values, with Redis 7.0's replies.
#
# How it works: both values are copied out under their shards' locks, then the
# classic dynamic-programming table (lengths of the LCS of every pair of
# prefixes, uint32 each) is filled without any lock, and walked back from the
# end to produce the string and the matching ranges (last match first, as
# Redis reports them). The table's size is refused past proto-max-bulk-len, as
# Redis does.

cdef const char *E_LCS_TYPE = "ERR The specified keys must contain string values"
cdef const char *E_LCS_BOTH = "ERR If you want both the length and indexes, please just use IDX."
cdef const char *E_LCS_LONG = "ERR String too long for LCS"
cdef const char *E_LCS_BIG = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
cdef const char *E_LCS_NOMEM = "ERR Insufficient memory, failed allocating transient memory for LCS"


cdef int lcs_copy_values(Client c, char **a, uint64_t *alen, char **b, uint64_t *blen) except -1:
    """Both values into new buffers (a missing key is ""). ST_OK, ST_WRONGTYPE
    or ST_NOMEM."""
    cdef kref_t ka, kb
    cdef uint32_t shards[2]
    cdef int m, st = ST_OK
    kref_init(&ka, c.argv[1], c.argl[1])
    kref_init(&kb, c.argv[2], c.argl[2])
    shards[0] = ka.shard
    shards[1] = kb.shard
    a[0] = NULL
    b[0] = NULL
    alen[0] = 0
    blen[0] = 0
    with nogil:
        m = shards_lock_many(shards, 2)
        key_find_locked(&ka, c.db, c.now_ms)
        key_find_locked(&kb, c.db, c.now_ms)
        if (ka.item and IT(ka.item).type != T_STRING) or (kb.item and IT(kb.item).type != T_STRING):
            st = ST_WRONGTYPE
        else:
            st = _lcs_copy_one(&ka, a, alen)
            if st == ST_OK:
                st = _lcs_copy_one(&kb, b, blen)
        shards_unlock_many(shards, m)
    return st


cdef int _lcs_copy_one(kref_t *k, char **out, uint64_t *n) noexcept nogil:
    if k.item:
        n[0] = str_len(IT(k.item))
    out[0] = <char *>malloc(n[0] + 1)
    if out[0] == NULL:
        return ST_NOMEM
    if k.item:
        bits_read(IT(k.item), n[0], 0, out[0], n[0])
    return ST_OK


cdef void lcs_fill(const char *a, uint64_t alen, const char *b, uint64_t blen, uint32_t *t) noexcept nogil:
    """t[i * (blen + 1) + j] = length of the LCS of a[:i] and b[:j]."""
    cdef uint64_t i, j, w = blen + 1
    cdef uint32_t up, left
    for j in range(w):
        t[j] = 0
    for i in range(1, alen + 1):
        t[i * w] = 0
        for j in range(1, w):
            if a[i - 1] == b[j - 1]:
                t[i * w + j] = t[(i - 1) * w + j - 1] + 1
            else:
                up = t[(i - 1) * w + j]
                left = t[i * w + j - 1]
                t[i * w + j] = up if up > left else left


cdef void lcs_emit_range(wbuf_t *w, uint64_t as_, uint64_t ae, uint64_t bs, uint64_t be,
                         bint withlen) noexcept nogil:
    wb_array(w, 3 if withlen else 2)
    wb_array(w, 2)
    wb_int(w, <int64_t>as_)
    wb_int(w, <int64_t>ae)
    wb_array(w, 2)
    wb_int(w, <int64_t>bs)
    wb_int(w, <int64_t>be)
    if withlen:
        wb_int(w, <int64_t>(ae - as_ + 1))


cdef uint64_t lcs_walk(const char *a, uint64_t alen, const char *b, uint64_t blen, uint32_t *t,
                       char *result, wbuf_t *ranges, int64_t minlen, bint withlen) noexcept nogil:
    """Walk the table back from the end: the LCS into result (when not NULL) and
    the matching ranges (when ranges is not NULL), longest-suffix first. Returns
    the number of ranges written."""
    cdef uint64_t i = alen, j = blen, w = blen + 1, idx = t[alen * w + blen], nranges = 0
    cdef uint64_t as_ = alen, ae = 0, bs = 0, be = 0     # as_ == alen: no range open
    cdef bint emit
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            if result != NULL:
                result[idx - 1] = a[i - 1]
            if as_ == alen:
                as_ = i - 1
                ae = i - 1
                bs = j - 1
                be = j - 1
            elif as_ == i and bs == j:
                as_ -= 1
                bs -= 1
            else:
                emit = True
            if as_ == 0 or bs == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if t[(i - 1) * w + j] > t[i * w + j - 1]:
                i -= 1
            else:
                j -= 1
            if as_ != alen:
                emit = True
        if emit:
            if ranges != NULL and (minlen == 0 or <int64_t>(ae - as_ + 1) >= minlen):
                lcs_emit_range(ranges, as_, ae, bs, be, withlen)
                nranges += 1
            as_ = alen
    return nranges


cdef int lcs_options(Client c, bint *getlen, bint *getidx, bint *withlen, int64_t *minlen) except -1:
    """LCS's options; 1 after replying an error."""
    cdef uint64_t j = 3
    getlen[0] = getidx[0] = withlen[0] = False
    minlen[0] = 0
    while j < c.argc:
        if arg_eq(c, j, "idx"):
            getidx[0] = True
        elif arg_eq(c, j, "len"):
            getlen[0] = True
        elif arg_eq(c, j, "withmatchlen"):
            withlen[0] = True
        elif arg_eq(c, j, "minmatchlen") and j + 1 < c.argc:
            if not arg_i64(c, j + 1, minlen):
                wb_error(&c.out, E_NOTINT)
                return 1
            if minlen[0] < 0:
                minlen[0] = 0
            j += 1
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        j += 1
    if getlen[0] and getidx[0]:
        wb_error(&c.out, E_LCS_BOTH)
        return 1
    return 0


cdef int cmd_lcs(Client c) except -1:
    cdef char *a
    cdef char *b
    cdef uint64_t alen, blen, cells
    cdef int st = lcs_copy_values(c, &a, &alen, &b, &blen)
    try:
        if st != ST_OK:
            if st == ST_WRONGTYPE:
                wb_error(&c.out, E_LCS_TYPE)
            else:
                wb_error(&c.out, E_LCS_NOMEM)
            return 0
        return _lcs_reply(c, a, alen, b, blen)
    finally:
        free(a)
        free(b)


cdef int _lcs_reply(Client c, char *a, uint64_t alen, char *b, uint64_t blen) except -1:
    cdef bint getlen, getidx, withlen
    cdef int64_t minlen
    cdef uint64_t cells, n, nranges
    cdef uint32_t *t
    cdef char *result = NULL
    cdef wbuf_t ranges
    if lcs_options(c, &getlen, &getidx, &withlen, &minlen):
        return 0
    if alen >= 0xFFFFFFFE or blen >= 0xFFFFFFFE:
        wb_error(&c.out, E_LCS_LONG)
        return 0
    cells = (alen + 1) * (blen + 1)
    if cells * 4 > g_hdr.proto_max_bulk_len:
        wb_error(&c.out, E_LCS_BIG)
        return 0
    t = <uint32_t *>malloc(cells * 4)
    if t == NULL:
        wb_error(&c.out, E_LCS_NOMEM)
        return 0
    with nogil:
        lcs_fill(a, alen, b, blen, t)
    n = t[alen * (blen + 1) + blen]
    try:
        if getlen:
            wb_int(&c.out, <int64_t>n)
            return 0
        if not getidx:
            result = <char *>malloc(n + 1)
            if result == NULL:
                raise MemoryError()
            lcs_walk(a, alen, b, blen, t, result, NULL, 0, False)
            wb_bulk(&c.out, result, n)
            return 0
        wb_init(&ranges)
        try:
            ranges.resp = c.out.resp
            nranges = lcs_walk(a, alen, b, blen, t, NULL, &ranges, minlen, withlen)
            wb_map(&c.out, 2)
            wb_bulk(&c.out, "matches", 7)
            wb_array(&c.out, <int64_t>nranges)
            wb_put(&c.out, ranges.p, ranges.len)
            wb_bulk(&c.out, "len", 3)
            wb_int(&c.out, <int64_t>n)
        finally:
            free(ranges.p)
    finally:
        free(t)
        free(result)
    return 0


cdef void register_lcs_commands():
    register_c('lcs', cmd_lcs)
