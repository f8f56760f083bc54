# Memcached text protocol parser (sans-IO). It reads the same byte buffer the
# RESP parser owns (rparser_t: buf, len, pos; only those fields) and never
# touches a socket, the clock or the segment. mc_next returns MC_REQ with one
# request split into tokens (offsets into the buffer) and, for a storage
# command, its data block; MC_NEED when more bytes are needed; MC_CLOSE when
# the connection must be dropped (as memcached does for an over-long line).
#
# The stream never loses its place, as in memcached 1.6 (proto_text.c):
#   - a line is a run of bytes up to '\n' (a '\r' before it is dropped); tokens
#     are split on ' ' only;
#   - a storage header that cannot be read (bad number, key too long, wrong
#     token count) is answered and only the line is consumed: the data block
#     that follows is then read as command lines (memcached does the same);
#   - a header that is well formed but refused (object too large) consumes its
#     data block too, even before it has arrived (`swallow`);
#   - a data block not followed by "\r\n" is answered "CLIENT_ERROR bad data
#     chunk" and exactly <bytes> + 2 bytes are consumed.
# A line without '\n' longer than MC_LINE_MAX closes the connection unless it
# starts a multi-key get (memcached's rule). A storage header whose data block
# is not complete is parsed again when more bytes arrive (`need` bounds this
# to once per read).

cdef enum:
    MC_LINE_MAX = 2048            # bytes of a line still waiting for its '\n'
    MC_KEY_MAX = 250
    MC_TOKENS = 24                # memcached's MAX_TOKENS (its count has a final empty token)
    MC_NEED = 0
    MC_REQ = 1
    MC_CLOSE = -1

# commands (mcparser_t.cmd)
cdef enum:
    MC_UNKNOWN = 0
    MC_GET = 1
    MC_GETS = 2
    MC_GAT = 3
    MC_GATS = 4
    MC_SET = 5
    MC_ADD = 6
    MC_REPLACE = 7
    MC_APPEND = 8
    MC_PREPEND = 9
    MC_CAS = 10
    MC_INCR = 11
    MC_DECR = 12
    MC_DELETE = 13
    MC_TOUCH = 14
    MC_FLUSH_ALL = 15
    MC_VERSION = 16
    MC_VERBOSITY = 17
    MC_QUIT = 18
    MC_STATS = 19
    MC_MG = 20
    MC_MS = 21
    MC_MD = 22
    MC_MA = 23
    MC_MN = 24
    MC_ME = 25
    MC_ERRLINE = 26               # answer mcparser_t.err and do nothing else

ctypedef struct mcparser_t:
    int cmd                       # MC_*
    uint64_t ntok                 # tokens of the line
    uint64_t tokcap
    uint64_t *tokoff              # token offsets into the buffer
    uint64_t *toklen
    uint64_t data_off             # storage: offset of the data block
    uint64_t data_len             # storage: <bytes>
    bint noreply                  # the last token is "noreply"
    bint toobig                   # storage refused: SERVER_ERROR object too large
    uint32_t flags                # storage: client flags
    int64_t exptime               # storage: seconds as sent
    uint64_t cas                  # cas: unique as sent
    uint64_t swallow              # bytes of a refused data block still to drop
    uint64_t need                 # bytes from pos before the pending header can complete
    uint64_t item_max             # item-size-max
    const char *err               # MC_ERRLINE: the reply line


cdef int mp_init(mcparser_t *p, uint64_t item_max) except -1:
    memset(p, 0, sizeof(mcparser_t))
    p.tokcap = MC_TOKENS
    p.tokoff = <uint64_t *>malloc(8 * p.tokcap)
    p.toklen = <uint64_t *>malloc(8 * p.tokcap)
    p.item_max = item_max
    if p.tokoff == NULL or p.toklen == NULL:
        raise MemoryError()
    return 0


cdef void mp_free(mcparser_t *p) noexcept:
    free(p.tokoff)
    free(p.toklen)
    p.tokoff = NULL
    p.toklen = NULL


cdef inline bint mc_isspace(char c) noexcept nogil:
    return c == 32 or (c >= 9 and c <= 13)


cdef bint mc_strtoull(const char *s, uint64_t n, uint64_t *out) noexcept nogil:
    """memcached's safe_strtoull on s[:n] (as if followed by a NUL): leading
    white space and a sign are allowed, then digits; what follows must be white
    space. A negative number is refused unless it wraps to below 2^63."""
    cdef uint64_t i = 0, v = 0, d
    cdef bint neg = False, any = False
    while i < n and mc_isspace(s[i]):
        i += 1
    if i < n and (s[i] == 43 or s[i] == 45):
        neg = s[i] == 45
        i += 1
    while i < n and s[i] >= 48 and s[i] <= 57:
        d = <uint64_t>(s[i] - 48)
        if v > (18446744073709551615ULL - d) // 10:
            return False                          # ERANGE
        v = v * 10 + d
        any = True
        i += 1
    if not any:
        return False
    if i < n and not mc_isspace(s[i]):
        return False
    if neg:
        v = 0 - v
        if v >> 63:
            return False
    out[0] = v
    return True


cdef bint mc_strtol32(const char *s, uint64_t n, int64_t *out) noexcept nogil:
    """memcached's safe_strtol: a decimal `long` (white space and sign allowed,
    out of range refused) then cut to int32, as memcached stores it."""
    cdef uint64_t i = 0, v = 0, d
    cdef bint neg = False, any = False
    while i < n and mc_isspace(s[i]):
        i += 1
    if i < n and (s[i] == 43 or s[i] == 45):
        neg = s[i] == 45
        i += 1
    while i < n and s[i] >= 48 and s[i] <= 57:
        d = <uint64_t>(s[i] - 48)
        if v > (9223372036854775808ULL - d) // 10:
            return False                          # ERANGE
        v = v * 10 + d
        any = True
        i += 1
    if not any or (i < n and not mc_isspace(s[i])):
        return False
    if not neg and v > 9223372036854775807ULL:
        return False
    out[0] = <int64_t>(<int32_t>(<uint32_t>((0 - v) if neg else v)))
    return True


cdef inline bint mp_tok_is(rparser_t *b, mcparser_t *p, uint64_t i, const char *word) noexcept nogil:
    cdef uint64_t n = strlen(word)
    return p.toklen[i] == n and memcmp(b.buf + p.tokoff[i], word, n) == 0


cdef int _mp_tokenize(rparser_t *b, mcparser_t *p, uint64_t start, uint64_t end) except -1:
    """Split buf[start:end] on spaces into p.tokoff/p.toklen."""
    cdef uint64_t i = start, s
    p.ntok = 0
    while i < end:
        while i < end and b.buf[i] == 32:
            i += 1
        if i >= end:
            break
        s = i
        while i < end and b.buf[i] != 32:
            i += 1
        if p.ntok == p.tokcap:
            p.tokcap *= 2
            p.tokoff = <uint64_t *>realloc(p.tokoff, 8 * p.tokcap)
            p.toklen = <uint64_t *>realloc(p.toklen, 8 * p.tokcap)
            if p.tokoff == NULL or p.toklen == NULL:
                raise MemoryError()
        p.tokoff[p.ntok] = s
        p.toklen[p.ntok] = i - s
        p.ntok += 1
    return 0


cdef int _mp_errline(mcparser_t *p, const char *msg) noexcept nogil:
    p.cmd = MC_ERRLINE
    p.err = msg
    return MC_REQ


cdef bint _mp_multiget_start(rparser_t *b) noexcept nogil:
    """The unfinished line starts a get/gets (after at most 100 spaces)."""
    cdef uint64_t i = b.pos
    while i < b.len and b.buf[i] == 32:
        i += 1
    if i - b.pos > 100 or b.len - i < 5:
        return False
    return memcmp(b.buf + i, b"get ", 4) == 0 or memcmp(b.buf + i, b"gets ", 5) == 0


cdef int _mp_command(rparser_t *b, mcparser_t *p) noexcept nogil:
    """The command id of token 0 (MC_UNKNOWN when none)."""
    cdef const char *t = b.buf + p.tokoff[0]
    cdef uint64_t n = p.toklen[0]
    if n == 2 and t[0] == 109:                   # 'm': meta commands
        if t[1] == 103: return MC_MG
        if t[1] == 115: return MC_MS
        if t[1] == 100: return MC_MD
        if t[1] == 97: return MC_MA
        if t[1] == 110: return MC_MN
        if t[1] == 101: return MC_ME
        return MC_UNKNOWN
    if mp_tok_is(b, p, 0, "get"): return MC_GET
    if mp_tok_is(b, p, 0, "gets"): return MC_GETS
    if mp_tok_is(b, p, 0, "set"): return MC_SET
    if mp_tok_is(b, p, 0, "gat"): return MC_GAT
    if mp_tok_is(b, p, 0, "gats"): return MC_GATS
    if mp_tok_is(b, p, 0, "add"): return MC_ADD
    if mp_tok_is(b, p, 0, "replace"): return MC_REPLACE
    if mp_tok_is(b, p, 0, "append"): return MC_APPEND
    if mp_tok_is(b, p, 0, "prepend"): return MC_PREPEND
    if mp_tok_is(b, p, 0, "cas"): return MC_CAS
    if mp_tok_is(b, p, 0, "incr"): return MC_INCR
    if mp_tok_is(b, p, 0, "decr"): return MC_DECR
    if mp_tok_is(b, p, 0, "delete"): return MC_DELETE
    if mp_tok_is(b, p, 0, "touch"): return MC_TOUCH
    if mp_tok_is(b, p, 0, "flush_all"): return MC_FLUSH_ALL
    if mp_tok_is(b, p, 0, "version"): return MC_VERSION
    if mp_tok_is(b, p, 0, "verbosity"): return MC_VERBOSITY
    if mp_tok_is(b, p, 0, "quit"): return MC_QUIT
    if mp_tok_is(b, p, 0, "stats"): return MC_STATS
    return MC_UNKNOWN


cdef bint _mp_counts_ok(int cmd, uint64_t ntok) noexcept nogil:
    """memcached's WANT_TOKENS checks (ntok counts real tokens only)."""
    if cmd == MC_GET or cmd == MC_GETS or cmd == MC_GAT or cmd == MC_GATS:
        return ntok >= 2
    if cmd >= MC_SET and cmd <= MC_PREPEND:
        return ntok == 5 or ntok == 6
    if cmd == MC_CAS:
        return ntok == 6 or ntok == 7
    if cmd == MC_INCR or cmd == MC_DECR or cmd == MC_TOUCH:
        return ntok == 3 or ntok == 4
    if cmd == MC_DELETE:
        return ntok >= 2 and ntok <= 4
    if cmd == MC_FLUSH_ALL:
        return ntok <= 3
    if cmd == MC_VERBOSITY:
        return ntok == 2 or ntok == 3
    return True


cdef int mc_next(rparser_t *b, mcparser_t *p) except -2:
    """Parse the next request at b.pos. MC_REQ (b.pos moved past it), MC_NEED
    or MC_CLOSE. Drops a refused data block first."""
    cdef const char *nl
    cdef uint64_t line_end, end, avail
    cdef int r
    if p.swallow:
        avail = b.len - b.pos
        if avail > p.swallow:
            avail = p.swallow
        b.pos += avail
        p.swallow -= avail
        if p.swallow:
            return MC_NEED
    if p.need and b.len - b.pos < p.need:
        return MC_NEED
    p.need = 0
    nl = <const char *>memchr(b.buf + b.pos, 10, b.len - b.pos)
    if nl == NULL:
        if b.len - b.pos > MC_LINE_MAX and not _mp_multiget_start(b):
            return MC_CLOSE
        return MC_NEED
    line_end = <uint64_t>(nl - b.buf) + 1
    end = line_end - 1
    if end - b.pos > 1 and b.buf[end - 1] == 13:
        end -= 1
    _mp_tokenize(b, p, b.pos, end)
    p.noreply = False
    p.toobig = False
    p.err = NULL
    if p.ntok == 0 or p.toklen[0] < 2:
        b.pos = line_end
        return _mp_errline(p, "ERROR")
    p.cmd = _mp_command(b, p)
    if p.cmd == MC_UNKNOWN or not _mp_counts_ok(p.cmd, p.ntok):
        b.pos = line_end
        return _mp_errline(p, "ERROR")
    if (p.cmd >= MC_SET and p.cmd <= MC_CAS) or p.cmd == MC_MS:
        r = _mp_storage(b, p, line_end)
        return r
    b.pos = line_end
    return MC_REQ


cdef int _mp_storage(rparser_t *b, mcparser_t *p, uint64_t line_end) noexcept nogil:
    """A storage header (classic or ms) and its data block."""
    cdef int64_t v
    cdef uint64_t u, total
    cdef uint64_t klen = p.toklen[1]
    if p.cmd == MC_MS:
        if p.ntok < 3 or not mc_strtol32(b.buf + p.tokoff[2], p.toklen[2], &v) or v < 0:
            b.pos = line_end
            return _mp_errline(p, "CLIENT_ERROR bad command line format")
        p.data_len = <uint64_t>v
    else:
        p.noreply = mp_tok_is(b, p, p.ntok - 1, "noreply")
        if klen > MC_KEY_MAX:
            b.pos = line_end
            return _mp_errline(p, "CLIENT_ERROR bad command line format")
        if not (mc_strtoull(b.buf + p.tokoff[2], p.toklen[2], &u)
                and mc_strtol32(b.buf + p.tokoff[3], p.toklen[3], &p.exptime)
                and mc_strtol32(b.buf + p.tokoff[4], p.toklen[4], &v)):
            b.pos = line_end
            return _mp_errline(p, "CLIENT_ERROR bad command line format")
        p.flags = <uint32_t>u
        if p.cmd == MC_CAS and not mc_strtoull(b.buf + p.tokoff[5], p.toklen[5], &p.cas):
            b.pos = line_end
            return _mp_errline(p, "CLIENT_ERROR bad command line format")
        if v < 0 or v > 2147483645:
            b.pos = line_end
            return _mp_errline(p, "CLIENT_ERROR bad command line format")
        p.data_len = <uint64_t>v
    # memcached's item size: a 48-byte header, key + NUL, flags when not 0, data + CRLF
    if 48 + klen + 1 + (4 if p.flags else 0) + p.data_len + 2 > p.item_max:
        p.toobig = True
        b.pos = line_end
        p.swallow = p.data_len + 2
        return MC_REQ
    total = line_end - b.pos + p.data_len + 2
    if b.len - b.pos < total:
        p.need = total
        return MC_NEED
    p.data_off = line_end
    b.pos += total
    if b.buf[p.data_off + p.data_len] != 13 or b.buf[p.data_off + p.data_len + 1] != 10:
        return _mp_errline(p, "CLIENT_ERROR bad data chunk")
    return MC_REQ


cdef class McParser:
    """The parser alone, for tests: feed bytes, take requests as tuples
    (command, [tokens], data or None, error line or None)."""
    cdef rparser_t b
    cdef mcparser_t p

    def __cinit__(self, uint64_t item_max=1024 * 1024):
        rp_init(&self.b)
        mp_init(&self.p, item_max)

    def __dealloc__(self):
        rp_free(&self.b)
        mp_free(&self.p)

    def feed(self, bytes data):
        rp_feed(&self.b, data, len(data))

    def next_request(self):
        """A request tuple, None when more bytes are needed, or 'close'."""
        cdef int r = mc_next(&self.b, &self.p)
        cdef uint64_t i
        if r == MC_NEED:
            rp_compact(&self.b)
            return None
        if r == MC_CLOSE:
            return 'close'
        toks = [self.b.buf[self.p.tokoff[i]:self.p.tokoff[i] + self.p.toklen[i]]
                for i in range(self.p.ntok)]
        data = None
        if ((self.p.cmd >= MC_SET and self.p.cmd <= MC_CAS) or self.p.cmd == MC_MS) and not self.p.toobig:
            data = self.b.buf[self.p.data_off:self.p.data_off + self.p.data_len]
        err = self.p.err.decode() if self.p.err != NULL else None
        if self.p.toobig:
            err = "SERVER_ERROR object too large for cache"
        return (self.p.cmd, toks, data, err)
