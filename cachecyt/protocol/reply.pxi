# Reply buffer: RESP2/RESP3 encoders appending to one malloc'd buffer per
# client; the whole buffer goes out in one transport.write after a read's
# requests have all run. nogil-safe: may be filled while a shard lock is held.

ctypedef struct wbuf_t:
    char *p
    uint64_t len
    uint64_t cap
    int resp                  # 2 or 3
    bint oom                  # an allocation failed; the connection must close


cdef int wb_init(wbuf_t *w) except -1:
    w.cap = 16384
    w.p = <char *>malloc(w.cap)
    w.len = 0
    w.resp = 2
    w.oom = False
    if w.p == NULL:
        raise MemoryError()
    return 0


cdef inline bint wb_reserve(wbuf_t *w, uint64_t n) noexcept nogil:
    cdef uint64_t cap
    cdef char *np
    if w.len + n <= w.cap:
        return True
    cap = w.cap * 2
    while cap < w.len + n:
        cap *= 2
    np = <char *>realloc(w.p, cap)
    if np == NULL:
        w.oom = True
        return False
    w.p = np
    w.cap = cap
    return True


cdef inline void wb_put(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    if wb_reserve(w, n):
        memcpy(w.p + w.len, s, n)
        w.len += n


cdef inline void wb_cstr(wbuf_t *w, const char *s) noexcept nogil:
    wb_put(w, s, strlen(s))


cdef inline int fmt_i64(char *dst, int64_t v) noexcept nogil:
    """Decimal digits of v into dst (>= 21 bytes); returns the length."""
    cdef char tmp[24]
    cdef int n = 0, i
    cdef uint64_t u = <uint64_t>v
    if v < 0:
        u = <uint64_t>0 - u
    while True:
        tmp[n] = <char>(48 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    i = 0
    if v < 0:
        dst[0] = 45
        i = 1
    while n > 0:
        n -= 1
        dst[i] = tmp[n]
        i += 1
    return i


cdef inline void wb_prefixed_int(wbuf_t *w, char prefix, int64_t v) noexcept nogil:
    if wb_reserve(w, 24):
        w.p[w.len] = prefix
        w.len += 1 + fmt_i64(w.p + w.len + 1, v)
        w.p[w.len] = 13
        w.p[w.len + 1] = 10
        w.len += 2


cdef inline void wb_int(wbuf_t *w, int64_t v) noexcept nogil:
    wb_prefixed_int(w, 58, v)                       # ':'


cdef inline void wb_status(wbuf_t *w, const char *s) noexcept nogil:
    wb_put(w, "+", 1)
    wb_cstr(w, s)
    wb_put(w, "\r\n", 2)


cdef inline void wb_ok(wbuf_t *w) noexcept nogil:
    wb_put(w, "+OK\r\n", 5)


cdef inline void wb_error(wbuf_t *w, const char *s) noexcept nogil:
    """An error line; s carries its prefix ("ERR ...", "WRONGTYPE ...")."""
    wb_put(w, "-", 1)
    wb_cstr(w, s)
    wb_put(w, "\r\n", 2)


cdef inline void wb_bulk_hdr(wbuf_t *w, uint64_t n) noexcept nogil:
    wb_prefixed_int(w, 36, <int64_t>n)              # '$'


cdef inline void wb_bulk(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    if wb_reserve(w, n + 26):
        wb_bulk_hdr(w, n)
        memcpy(w.p + w.len, s, n)
        w.p[w.len + n] = 13
        w.p[w.len + n + 1] = 10
        w.len += n + 2


cdef inline void wb_bulk_int(wbuf_t *w, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int n = fmt_i64(tmp, v)
    wb_bulk(w, tmp, n)


cdef inline void wb_null(wbuf_t *w) noexcept nogil:
    if w.resp == 3:
        wb_put(w, "_\r\n", 3)
    else:
        wb_put(w, "$-1\r\n", 5)


cdef inline void wb_null_array(wbuf_t *w) noexcept nogil:
    if w.resp == 3:
        wb_put(w, "_\r\n", 3)
    else:
        wb_put(w, "*-1\r\n", 5)


cdef inline void wb_array(wbuf_t *w, int64_t n) noexcept nogil:
    wb_prefixed_int(w, 42, n)                       # '*'


cdef inline void wb_map(wbuf_t *w, int64_t n) noexcept nogil:
    if w.resp == 3:
        wb_prefixed_int(w, 37, n)                   # '%'
    else:
        wb_prefixed_int(w, 42, n * 2)


cdef inline void wb_set(wbuf_t *w, int64_t n) noexcept nogil:
    if w.resp == 3:
        wb_prefixed_int(w, 126, n)                  # '~'
    else:
        wb_prefixed_int(w, 42, n)


cdef inline void wb_push(wbuf_t *w, int64_t n) noexcept nogil:
    if w.resp == 3:
        wb_prefixed_int(w, 62, n)                   # '>'
    else:
        wb_prefixed_int(w, 42, n)


cdef inline void wb_bool(wbuf_t *w, bint v) noexcept nogil:
    if w.resp == 3:
        wb_put(w, "#t\r\n" if v else "#f\r\n", 4)
    else:
        wb_int(w, 1 if v else 0)


cdef void wb_double(wbuf_t *w, double d) noexcept nogil:
    """A double: RESP3 ',' type, RESP2 bulk string, formatted as Redis does (%.17g)."""
    cdef char tmp[64]
    cdef int n = fmt_double(tmp, d)
    if w.resp == 3:
        wb_put(w, ",", 1)
        wb_put(w, tmp, n)
        wb_put(w, "\r\n", 2)
    else:
        wb_bulk(w, tmp, n)


cdef int fmt_double(char *dst, double d) noexcept nogil:
    if isinf(d):
        if d > 0:
            memcpy(dst, b"inf", 3)
            return 3
        memcpy(dst, b"-inf", 4)
        return 4
    if isnan(d):
        memcpy(dst, b"nan", 3)
        return 3
    return snprintf(dst, 64, "%.17g", d)


cdef void wb_verbatim(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    """RESP3 verbatim text (txt), a bulk string in RESP2."""
    if w.resp == 3:
        wb_prefixed_int(w, 61, <int64_t>n + 4)      # '='
        wb_put(w, "txt:", 4)
        wb_put(w, s, n)
        wb_put(w, "\r\n", 2)
    else:
        wb_bulk(w, s, n)
