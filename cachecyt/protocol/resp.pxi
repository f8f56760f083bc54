# RESP request parser (sans-IO) and reply buffer.
#
# The parser never touches a socket: rp_feed appends bytes, rp_next returns 1
# with a whole request's arguments as offsets into the buffer, 0 when it needs
# more bytes (keeping its place: a frame is never rescanned), or -1 with a
# protocol error message. Multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline
# ("GET k\r\n", with Redis's quoting rules) requests are accepted. Limits, as
# Redis 7: inline request <= 64 KiB, multibulk count <= INT_MAX (argument slots
# grow as arguments arrive, never from the announced count), bulk length <=
# proto-max-bulk-len.

cdef enum:
    INLINE_MAX = 65536
    MBULK_MAX = 2147483647
    RP_IDLE = 0
    RP_MBULK = 1

ctypedef struct rparser_t:
    char *buf                 # malloc'd input
    uint64_t len              # bytes in buf
    uint64_t cap
    uint64_t pos              # first byte not yet consumed
    uint64_t start            # first byte of the multibulk request being read (RP_MBULK)
    int kind                  # RP_IDLE, RP_MBULK
    int64_t nargs             # multibulk: arguments announced
    int64_t bulklen           # multibulk: length of the bulk being read, -1 before its header
    uint64_t argc             # arguments complete so far
    uint64_t argcap
    uint64_t *argoff          # offsets into buf (or into scratch when inline)
    uint64_t *arglen
    bint inline_args          # arguments live in scratch
    char *scratch             # inline arguments after unquoting
    uint64_t scratch_cap
    uint64_t max_bulk         # proto-max-bulk-len
    const char *err           # the last protocol error, as its reply line: "ERR Protocol error: ..."
    char errbuf[128]


cdef int rp_init(rparser_t *p) except -1:
    memset(p, 0, sizeof(rparser_t))
    p.cap = 16384
    p.buf = <char *>malloc(p.cap)
    p.argcap = 16
    p.argoff = <uint64_t *>malloc(8 * p.argcap)
    p.arglen = <uint64_t *>malloc(8 * p.argcap)
    p.max_bulk = 512 * 1024 * 1024
    p.bulklen = -1
    if p.buf == NULL or p.argoff == NULL or p.arglen == NULL:
        raise MemoryError()
    return 0


cdef void rp_free(rparser_t *p) noexcept:
    free(p.buf)
    free(p.argoff)
    free(p.arglen)
    free(p.scratch)
    p.buf = NULL
    p.argoff = NULL
    p.arglen = NULL
    p.scratch = NULL


cdef int rp_feed(rparser_t *p, const char *data, uint64_t n) except -1:
    cdef uint64_t need = p.len + n, cap
    cdef char *nb
    if need > p.cap:
        cap = p.cap or 16384                      # 0: an idle client's buffer was freed
        while cap < need:
            cap *= 2
        nb = <char *>realloc(p.buf, cap)
        if nb == NULL:
            raise MemoryError()
        p.buf = nb
        p.cap = cap
    memcpy(p.buf + p.len, data, n)
    p.len += n
    return 0


cdef void rp_compact(rparser_t *p) noexcept:
    """Drop consumed bytes. The arguments already read of a partial multibulk
    request sit before p.pos and must stay: keep from its first byte, and move
    their offsets with the bytes."""
    cdef uint64_t i, shift = p.start if p.kind == RP_MBULK else p.pos
    if shift == 0:
        return
    if p.len > shift:
        memmove(p.buf, p.buf + shift, p.len - shift)
    p.len -= shift
    p.pos -= shift
    p.start = p.start - shift if p.kind == RP_MBULK else 0
    if not p.inline_args:
        for i in range(p.argc):
            p.argoff[i] -= shift
    # the buffer keeps its size: a connection's cron shrinks it (client_buffers_cron)


cdef int _rp_push_arg(rparser_t *p, uint64_t off, uint64_t n) except -1:
    if p.argc == p.argcap:
        p.argcap *= 2
        p.argoff = <uint64_t *>realloc(p.argoff, 8 * p.argcap)
        p.arglen = <uint64_t *>realloc(p.arglen, 8 * p.argcap)
        if p.argoff == NULL or p.arglen == NULL:
            raise MemoryError()
    p.argoff[p.argc] = off
    p.arglen[p.argc] = n
    p.argc += 1
    return 0


cdef inline int64_t _find_crlf(rparser_t *p, uint64_t start) noexcept nogil:
    """Offset of the '\\r' of the next "\\r\\n" at or after start, -1 if not there yet."""
    cdef const char *q
    cdef uint64_t at = start
    while at < p.len:
        q = <const char *>memchr(p.buf + at, 13, p.len - at)
        if q == NULL:
            return -1
        if <uint64_t>(q - p.buf) + 1 >= p.len:
            return -1
        if q[1] == 10:
            return q - p.buf
        at = <uint64_t>(q - p.buf) + 1
    return -1


cdef inline bint _line_too_long(rparser_t *p, int64_t cr) noexcept nogil:
    """A count line (from p.pos to cr, or to the end when cr < 0) over 64 KiB."""
    if cr < 0:
        return p.len - p.pos > INLINE_MAX
    return <uint64_t>cr - p.pos > INLINE_MAX


cdef bint parse_i64(const char *s, uint64_t n, int64_t *out) noexcept nogil:
    """Strict decimal int64 (Redis string2ll): no spaces, no '+', no leading zeros."""
    cdef uint64_t i = 0, v = 0, lim
    cdef bint neg = False
    if n == 0 or n > 20:
        return False
    if n == 1 and s[0] == 48:
        out[0] = 0
        return True
    if s[0] == 45:
        neg = True
        i = 1
        if n == 1:
            return False
    if s[i] < 49 or s[i] > 57:
        return False
    lim = 9223372036854775808ULL if neg else 9223372036854775807ULL
    while i < n:
        if s[i] < 48 or s[i] > 57:
            return False
        if v > (lim - <uint64_t>(s[i] - 48)) // 10:
            return False
        v = v * 10 + <uint64_t>(s[i] - 48)
        i += 1
    if neg:
        out[0] = <int64_t>(0 - v)
    else:
        out[0] = <int64_t>v
    return True


cdef int _rp_error(rparser_t *p, const char *msg) noexcept:
    p.err = msg
    return -1


cdef int _rp_inline(rparser_t *p) except -2:
    cdef const char *nl = <const char *>memchr(p.buf + p.pos, 10, p.len - p.pos)
    cdef uint64_t end, start = p.pos
    if nl == NULL:
        if p.len - p.pos > INLINE_MAX:
            return _rp_error(p, "ERR Protocol error: too big inline request")
        return 0
    end = <uint64_t>(nl - p.buf)
    if end - start > INLINE_MAX:        # Redis gives up before such a line ends
        return _rp_error(p, "ERR Protocol error: too big inline request")
    p.pos = end + 1
    if end > start and p.buf[end - 1] == 13:
        end -= 1
    p.inline_args = True
    p.argc = 0
    if split_args(p, p.buf + start, end - start) < 0:
        return _rp_error(p, "ERR Protocol error: unbalanced quotes in request")
    return 1


cdef inline int _hexval(char c) noexcept nogil:
    if 48 <= c <= 57: return c - 48
    if 97 <= c <= 102: return c - 87
    if 65 <= c <= 70: return c - 55
    return -1


cdef inline bint _is_space(char c) noexcept nogil:
    return c == 32 or c == 10 or c == 13 or c == 9 or c == 11 or c == 12


cdef inline bint _ends_token(char c) noexcept nogil:
    """An unquoted argument ends at space, tab, CR or LF only: Redis keeps a
    vertical tab or form feed inside it (though it skips them between arguments)."""
    return c == 32 or c == 10 or c == 13 or c == 9


cdef int split_args(rparser_t *p, const char *s, uint64_t n) except -2:
    """Split an inline line into arguments as redis-cli and Redis do (sdssplitargs):
    spaces separate, "..." takes \\n \\r \\t \\b \\a \\xHH escapes, '...' takes \\'.
    A closing quote must be followed by a space or the end. -1 when unbalanced."""
    cdef uint64_t i = 0, start
    cdef char c
    cdef int q
    if p.scratch_cap < n + 1:
        p.scratch = <char *>realloc(p.scratch, n + 1)
        p.scratch_cap = n + 1
        if p.scratch == NULL:
            raise MemoryError()
    cdef char *out = p.scratch
    cdef uint64_t o = 0
    while True:
        while i < n and _is_space(s[i]):
            i += 1
        if i >= n:
            return 0
        start = o
        q = 0
        while True:
            if q == 2:                                  # inside "..."
                if i >= n:
                    return -1
                if s[i] == 92 and i + 3 < n and s[i + 1] == 120 and _hexval(s[i + 2]) >= 0 and _hexval(s[i + 3]) >= 0:
                    out[o] = <char>(_hexval(s[i + 2]) * 16 + _hexval(s[i + 3]))
                    o += 1
                    i += 4
                elif s[i] == 92 and i + 1 < n:
                    i += 1
                    c = s[i]
                    if c == 110: c = 10
                    elif c == 114: c = 13
                    elif c == 116: c = 9
                    elif c == 98: c = 8
                    elif c == 97: c = 7
                    out[o] = c
                    o += 1
                    i += 1
                elif s[i] == 34:
                    i += 1
                    if i < n and not _is_space(s[i]):
                        return -1
                    break
                else:
                    out[o] = s[i]
                    o += 1
                    i += 1
            elif q == 1:                                # inside '...'
                if i >= n:
                    return -1
                if s[i] == 92 and i + 1 < n and s[i + 1] == 39:
                    out[o] = 39
                    o += 1
                    i += 2
                elif s[i] == 39:
                    i += 1
                    if i < n and not _is_space(s[i]):
                        return -1
                    break
                else:
                    out[o] = s[i]
                    o += 1
                    i += 1
            else:
                if i >= n or _ends_token(s[i]):
                    break
                if s[i] == 34:
                    q = 2
                elif s[i] == 39:
                    q = 1
                else:
                    out[o] = s[i]
                    o += 1
                i += 1
        _rp_push_arg(p, start, o - start)


cdef int rp_next(rparser_t *p) except -2:
    """Parse one request. 1: complete (p.argc arguments); 0: need more data;
    -1: protocol error (p.err). Empty inline lines and "*0" are skipped."""
    cdef int64_t cr, v
    cdef uint64_t avail
    cdef char c
    while True:
        if p.kind == RP_IDLE:
            p.argc = 0
            p.inline_args = False
            if p.pos >= p.len:
                return 0
            if p.buf[p.pos] != 42:                   # not '*': inline
                v = _rp_inline(p)
                if v == 1 and p.argc == 0:
                    continue
                return <int>v
            p.start = p.pos
            cr = _find_crlf(p, p.pos)
            if _line_too_long(p, cr):
                return _rp_error(p, "ERR Protocol error: too big mbulk count string")
            if cr < 0:
                return 0
            if not parse_i64(p.buf + p.pos + 1, <uint64_t>cr - p.pos - 1, &v) or v > MBULK_MAX:
                return _rp_error(p, "ERR Protocol error: invalid multibulk length")
            p.pos = <uint64_t>cr + 2
            if v <= 0:
                continue
            p.kind = RP_MBULK
            p.nargs = v
            p.bulklen = -1
        # multibulk arguments
        while <int64_t>p.argc < p.nargs:
            if p.bulklen < 0:
                if p.pos >= p.len:
                    return 0
                c = p.buf[p.pos]
                if c != 36:
                    snprintf(p.errbuf, sizeof(p.errbuf), "ERR Protocol error: expected '$', got '%c'", c)
                    return _rp_error(p, p.errbuf)
                cr = _find_crlf(p, p.pos)
                if _line_too_long(p, cr):
                    return _rp_error(p, "ERR Protocol error: too big bulk count string")
                if cr < 0:
                    return 0
                if not parse_i64(p.buf + p.pos + 1, <uint64_t>cr - p.pos - 1, &v) or v < 0 or <uint64_t>v > p.max_bulk:
                    return _rp_error(p, "ERR Protocol error: invalid bulk length")
                p.pos = <uint64_t>cr + 2
                p.bulklen = v
            avail = p.len - p.pos
            if avail < <uint64_t>p.bulklen + 2:
                return 0
            _rp_push_arg(p, p.pos, <uint64_t>p.bulklen)
            p.pos += <uint64_t>p.bulklen + 2
            p.bulklen = -1
        p.kind = RP_IDLE
        return 1


cdef uint64_t rp_pending(rparser_t *p) noexcept:
    """Bytes held for a request not yet complete (client-query-buffer-limit),
    counting the arguments it already has."""
    if p.kind == RP_MBULK:
        return p.len - p.start
    return p.len - p.pos


# ---- the sans-IO parser as a Python object (tests, tools) ------------------------

class ProtocolError(Exception):
    pass

NEED_DATA = None


cdef class RespParser:
    """feed(bytes); next_request() -> list of bytes, or NEED_DATA; raises ProtocolError."""
    cdef rparser_t p

    def __cinit__(self, uint64_t max_bulk=512 * 1024 * 1024):
        rp_init(&self.p)
        self.p.max_bulk = max_bulk

    def __dealloc__(self):
        rp_free(&self.p)

    def feed(self, bytes data):
        rp_feed(&self.p, data, len(data))

    def next_request(self):
        cdef int r = rp_next(&self.p)
        cdef uint64_t i
        cdef const char *base
        if r < 0:
            raise ProtocolError(self.p.err.decode())
        if r == 0:
            rp_compact(&self.p)
            return NEED_DATA
        base = self.p.scratch if self.p.inline_args else self.p.buf
        args = [base[self.p.argoff[i]:self.p.argoff[i] + self.p.arglen[i]] for i in range(self.p.argc)]
        rp_compact(&self.p)
        return args

    @property
    def buffered(self):
        return self.p.len - self.p.pos
