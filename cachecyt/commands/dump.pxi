# DUMP and RESTORE: a key's value in Redis's serialization format (the RDB
# object encoding), so values move between Redis 7.0 and this server.
#
# Payload: one type byte, the object's RDB encoding, the RDB version as two
# little-endian bytes (10 for Redis 7.0), then the CRC-64 (Jones polynomial,
# bit-reflected, initial value 0, no final xor: Redis's crc64) of all the bytes
# before it, little-endian.
#
# DUMP copies the value's elements out under its shard lock (as the RESP bulks
# the type encoders write; a zset score as its 8 raw bytes) and encodes them
# after unlocking: strings as strings (Redis's INT8/16/32 forms for canonical
# integers of 11 chars or fewer, LZF past 20 bytes when that saves room), lists
# as QUICKLIST_2 of listpack nodes of at most 8 KiB, sets as SET, hashes as
# HASH, sorted sets as ZSET_2 (binary doubles). These are forms Redis 7.0 loads;
# its own bytes differ only where it picks a packed form.
#
# RESTORE checks the arguments in Redis's order (options, BUSYKEY, TTL, version
# and checksum, data), decodes every 7.0 form (and the older LIST, ZSET,
# ZIPLIST, ZIPMAP and QUICKLIST forms) into a flat run of elements without any
# lock, builds the value in a detached item with the type APIs (so it takes our
# encodings and thresholds as if made by commands, and is counted in used
# memory), and only then locks the key's shard to store it: a big payload
# does not hold the shard for the build. Streams and module values are
# "Bad data format", as are empty collections and duplicate members.
#
# Must not: read outside the payload whatever its bytes say (every length is
# checked), or hold a shard lock while decoding.

cdef extern from *:
    """
    #include <stdint.h>
    static uint64_t dump_crc_t[8][256];
    static int dump_crc_ready = 0;
    static void dump_crc_init(void) {
        for (int i = 0; i < 256; i++) {
            uint64_t c = (uint64_t)i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x95ac9329ac4bc9b5ULL : c >> 1;
            dump_crc_t[0][i] = c;
        }
        for (int k = 1; k < 8; k++)
            for (int i = 0; i < 256; i++)
                dump_crc_t[k][i] = (dump_crc_t[k - 1][i] >> 8) ^ dump_crc_t[0][dump_crc_t[k - 1][i] & 0xff];
        dump_crc_ready = 1;
    }
    /* Redis's crc64: reflected Jones polynomial, eight bytes a step. */
    static uint64_t dump_crc64(uint64_t crc, const unsigned char *p, size_t n) {
        if (!dump_crc_ready) dump_crc_init();
        while (n >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            v ^= crc;
            crc = dump_crc_t[7][v & 0xff] ^ dump_crc_t[6][(v >> 8) & 0xff]
                ^ dump_crc_t[5][(v >> 16) & 0xff] ^ dump_crc_t[4][(v >> 24) & 0xff]
                ^ dump_crc_t[3][(v >> 32) & 0xff] ^ dump_crc_t[2][(v >> 40) & 0xff]
                ^ dump_crc_t[1][(v >> 48) & 0xff] ^ dump_crc_t[0][v >> 56];
            p += 8;
            n -= 8;
        }
        while (n--) crc = dump_crc_t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return crc;
    }
    /* A score written as text (old ZSET, ziplist and listpack entries): all of
       s[0..n) must be the number. */
    static int dump_strtod(const char *s, size_t n, double *out) {
        char buf[256];
        char *end;
        if (n == 0 || n >= sizeof(buf)) return 0;
        memcpy(buf, s, n);
        buf[n] = 0;
        *out = strtod(buf, &end);
        return end == buf + n;
    }
    """
    uint64_t dump_crc64(uint64_t crc, const unsigned char *p, size_t n) nogil
    int dump_strtod(const char *s, size_t n, double *out) nogil

cdef const char *E_DUMP_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
cdef const char *E_DUMP_FORMAT = "ERR Bad data format"
cdef const char *E_DUMP_BUSY = "BUSYKEY Target key name already exists."
cdef const char *E_DUMP_TTL = "ERR Invalid TTL value, must be >= 0"
cdef const char *E_DUMP_IDLE = "ERR Invalid IDLETIME value, must be >= 0"
cdef const char *E_DUMP_FREQ = "ERR Invalid FREQ value, must be >= 0 and <= 255"

cdef enum:
    DUMP_RDB_VERSION = 10
    DUMP_NODE_BYTES = 8192       # a DUMPed list's listpack nodes (Redis's list-max-listpack-size -2)
    DUMP_BAD = 100               # status: the payload is not a value we can load
    # RDB object types
    RDB_STRING = 0
    RDB_LIST = 1
    RDB_SET = 2
    RDB_ZSET = 3
    RDB_HASH = 4
    RDB_ZSET_2 = 5
    RDB_HASH_ZIPMAP = 9
    RDB_LIST_ZIPLIST = 10
    RDB_SET_INTSET = 11
    RDB_ZSET_ZIPLIST = 12
    RDB_HASH_ZIPLIST = 13
    RDB_LIST_QUICKLIST = 14
    RDB_HASH_LISTPACK = 16
    RDB_ZSET_LISTPACK = 17
    RDB_LIST_QUICKLIST_2 = 18


def dump_crc(bytes data):
    """Redis's CRC-64 of data (tests)."""
    return dump_crc64(0, <const unsigned char *><const char *>data, len(data))


# ==================================== decoding ====================================
#
# The decoder appends the elements it reads to a flat buffer: each element a
# u64 length and its bytes; a zset member is followed by its score as 8 raw
# bytes. A hash's field and value are two elements in a row.

ctypedef struct rdin_t:
    const uint8_t *p             # the payload
    uint64_t n                   # its bytes
    uint64_t pos                 # next byte to read
    wbuf_t out                   # flat elements
    uint64_t count               # elements (a zset member with its score counts once)
    uint64_t maxlen              # longest element
    bint zs                      # zset: every other text entry is a score
    bint want_score              # the next text entry is a score


cdef inline int rd_need(rdin_t *r, uint64_t k) noexcept nogil:
    return 0 if r.n - r.pos >= k else -1


cdef int rd_len(rdin_t *r, uint64_t *out, bint *enc) noexcept nogil:
    """A length (or, enc set, a string encoding number) as Redis writes them."""
    cdef uint8_t b
    cdef uint64_t v = 0
    cdef int i, k
    enc[0] = False
    if rd_need(r, 1) < 0:
        return -1
    b = r.p[r.pos]
    r.pos += 1
    if b >> 6 == 0:
        out[0] = b & 0x3f
    elif b >> 6 == 1:
        if rd_need(r, 1) < 0:
            return -1
        out[0] = (<uint64_t>(b & 0x3f) << 8) | r.p[r.pos]
        r.pos += 1
    elif b >> 6 == 3:
        enc[0] = True
        out[0] = b & 0x3f
    elif b == 0x80 or b == 0x81:
        k = 4 if b == 0x80 else 8
        if rd_need(r, k) < 0:
            return -1
        for i in range(k):
            v = (v << 8) | r.p[r.pos + i]
        r.pos += k
        out[0] = v
    else:
        return -1
    return 0


cdef int rd_plain_len(rdin_t *r, uint64_t *out) noexcept nogil:
    cdef bint enc
    if rd_len(r, out, &enc) < 0 or enc:
        return -1
    return 0


cdef int rd_string(rdin_t *r, const char **s, uint64_t *n, char **heap, char *tmp) noexcept nogil:
    """A string: s/n point into the payload, into tmp (>= 24 bytes: an integer
    form), or into heap (malloc'd, LZF; the caller frees it)."""
    cdef uint64_t v, clen, ulen
    cdef bint enc
    cdef int64_t iv
    heap[0] = NULL
    if rd_len(r, &v, &enc) < 0:
        return -1
    if not enc:
        if rd_need(r, v) < 0:
            return -1
        s[0] = <const char *>r.p + r.pos
        n[0] = v
        r.pos += v
        return 0
    if v == 0:
        if rd_need(r, 1) < 0:
            return -1
        iv = <signed char>r.p[r.pos]
        r.pos += 1
    elif v == 1:
        if rd_need(r, 2) < 0:
            return -1
        iv = <int16_t>(r.p[r.pos] | (<uint16_t>r.p[r.pos + 1] << 8))
        r.pos += 2
    elif v == 2:
        if rd_need(r, 4) < 0:
            return -1
        iv = <int32_t>(r.p[r.pos] | (<uint32_t>r.p[r.pos + 1] << 8) | (<uint32_t>r.p[r.pos + 2] << 16)
                       | (<uint32_t>r.p[r.pos + 3] << 24))
        r.pos += 4
    elif v == 3:
        if rd_plain_len(r, &clen) < 0 or rd_plain_len(r, &ulen) < 0 or rd_need(r, clen) < 0:
            return -1
        if ulen == 0 or ulen > (<uint64_t>1 << 40):
            return -1
        heap[0] = <char *>malloc(ulen)
        if heap[0] == NULL:
            return -1
        if cc_lz_unpack(<const char *>r.p + r.pos, clen, heap[0], ulen) != ulen:
            free(heap[0])
            heap[0] = NULL
            return -1
        r.pos += clen
        s[0] = heap[0]
        n[0] = ulen
        return 0
    else:
        return -1
    n[0] = <uint64_t>fmt_i64(tmp, iv)
    s[0] = tmp
    return 0


cdef int rd_put(rdin_t *r, const char *s, uint64_t n) noexcept nogil:
    """One element (or, in a zset's text form, a score) into the flat run."""
    cdef double d
    if r.want_score:
        if not dump_strtod(s, n, &d) or isnan(d):
            return -1
        wb_put(&r.out, <const char *>&d, 8)
        r.want_score = False
        return -1 if r.out.oom else 0
    wb_put(&r.out, <const char *>&n, 8)
    wb_put(&r.out, s, n)
    if n > r.maxlen:
        r.maxlen = n
    r.count += 1
    r.want_score = r.zs
    return -1 if r.out.oom else 0


cdef int rd_put_int(rdin_t *r, int64_t v) noexcept nogil:
    cdef char tmp[24]
    return rd_put(r, tmp, <uint64_t>fmt_i64(tmp, v))


cdef int rd_put_score(rdin_t *r, double d) noexcept nogil:
    if isnan(d):
        return -1
    wb_put(&r.out, <const char *>&d, 8)
    return -1 if r.out.oom else 0


cdef int rd_elements(rdin_t *r, uint64_t n, bint score_text, bint score_bin) noexcept nogil:
    """n strings (each followed by a score in the ZSET or ZSET_2 form)."""
    cdef const char *s
    cdef uint64_t sl, i
    cdef char *heap
    cdef char tmp[24]
    cdef uint8_t b
    cdef double d
    cdef int rc
    for i in range(n):
        if rd_string(r, &s, &sl, &heap, tmp) < 0:
            return -1
        rc = rd_put(r, s, sl)
        free(heap)
        if rc < 0:
            return -1
        if score_bin:
            if rd_need(r, 8) < 0:
                return -1
            memcpy(&d, r.p + r.pos, 8)
            r.pos += 8
            if rd_put_score(r, d) < 0:
                return -1
        elif score_text:
            if rd_need(r, 1) < 0:
                return -1
            b = r.p[r.pos]
            r.pos += 1
            if b == 253:
                return -1                       # NaN
            if b == 254 or b == 255:
                d = HUGE_VAL if b == 254 else -HUGE_VAL
            else:
                if rd_need(r, b) < 0 or not dump_strtod(<const char *>r.p + r.pos, b, &d):
                    return -1
                r.pos += b
            if rd_put_score(r, d) < 0:
                return -1
    return 0


# ---- packed forms inside a string: listpack, ziplist, intset, zipmap ----------------

cdef inline uint64_t lp_backlen_size(uint64_t l) noexcept nogil:
    if l <= 127:
        return 1
    if l < 16383:
        return 2
    if l < 2097151:
        return 3
    if l < 268435455:
        return 4
    return 5


cdef int rd_listpack(rdin_t *r, const uint8_t *b, uint64_t n) noexcept nogil:
    """Every entry of a listpack blob."""
    cdef uint64_t pos = 6, hdr, dl, l
    cdef uint8_t e
    cdef int64_t v = 0
    cdef int rc
    cdef bint text
    if n < 7 or (b[0] | (<uint64_t>b[1] << 8) | (<uint64_t>b[2] << 16) | (<uint64_t>b[3] << 24)) != n:
        return -1
    if b[n - 1] != 0xff:
        return -1
    while True:
        if pos >= n:
            return -1
        e = b[pos]
        if e == 0xff:
            return 0 if pos == n - 1 else -1
        dl = 0
        text = e >> 6 == 2 or e >> 4 == 14 or e == 0xf0
        if e < 0x80:                                    # 7-bit unsigned
            hdr = 1
            v = e
        elif e >> 6 == 2:                               # 6-bit string length
            hdr = 1
            dl = e & 0x3f
        elif e >> 5 == 6:                               # 13-bit signed
            hdr = 2
            if pos + 2 > n:
                return -1
            v = (<int64_t>(e & 0x1f) << 8) | b[pos + 1]
            if v >= 4096:
                v -= 8192
        elif e >> 4 == 14:                              # 12-bit string length
            hdr = 2
            if pos + 2 > n:
                return -1
            dl = (<uint64_t>(e & 0x0f) << 8) | b[pos + 1]
        elif e == 0xf0:                                 # 32-bit string length
            hdr = 5
            if pos + 5 > n:
                return -1
            dl = b[pos + 1] | (<uint64_t>b[pos + 2] << 8) | (<uint64_t>b[pos + 3] << 16) | (<uint64_t>b[pos + 4] << 24)
        elif 0xf1 <= e <= 0xf4:
            hdr = 1
            l = 2 if e == 0xf1 else 3 if e == 0xf2 else 4 if e == 0xf3 else 8
            if pos + 1 + l > n:
                return -1
            v = lp_read_int(b + pos + 1, l)
            hdr += l
        else:
            return -1
        if text:
            if pos + hdr + dl > n:
                return -1
            rc = rd_put(r, <const char *>b + pos + hdr, dl)
            l = hdr + dl
        else:
            rc = rd_put_int(r, v)
            l = hdr
        if rc < 0:
            return -1
        pos += l + lp_backlen_size(l)


cdef inline int64_t lp_read_int(const uint8_t *p, uint64_t l) noexcept nogil:
    """A little-endian signed integer of l bytes (2, 3, 4 or 8)."""
    cdef uint64_t u = 0
    cdef uint64_t i
    for i in range(l):
        u |= <uint64_t>p[i] << (8 * i)
    if l < 8 and u >> (8 * l - 1):
        u |= ~((<uint64_t>1 << (8 * l)) - 1)           # sign-extend
    return <int64_t>u


cdef int rd_ziplist(rdin_t *r, const uint8_t *b, uint64_t n) noexcept nogil:
    """Every entry of a ziplist blob (the 6.x packed form)."""
    cdef uint64_t pos = 10, dl, hdr
    cdef uint8_t e
    cdef int64_t v
    cdef int rc
    if n < 11 or (b[0] | (<uint64_t>b[1] << 8) | (<uint64_t>b[2] << 16) | (<uint64_t>b[3] << 24)) != n:
        return -1
    if b[n - 1] != 0xff:
        return -1
    while True:
        if pos >= n:
            return -1
        if b[pos] == 0xff:
            return 0 if pos == n - 1 else -1
        pos += 1 if b[pos] < 254 else 5                 # the previous entry's length
        if pos >= n:
            return -1
        e = b[pos]
        dl = 0
        hdr = 1
        if e >> 6 == 0:
            dl = e & 0x3f
        elif e >> 6 == 1:
            if pos + 2 > n:
                return -1
            dl = (<uint64_t>(e & 0x3f) << 8) | b[pos + 1]
            hdr = 2
        elif e >> 6 == 2:
            if pos + 5 > n:
                return -1
            dl = (<uint64_t>b[pos + 1] << 24) | (<uint64_t>b[pos + 2] << 16) | (<uint64_t>b[pos + 3] << 8) | b[pos + 4]
            hdr = 5
        if e >> 6 != 3:
            if pos + hdr + dl > n:
                return -1
            rc = rd_put(r, <const char *>b + pos + hdr, dl)
            pos += hdr + dl
        else:
            if e == 0xc0:
                dl = 2
            elif e == 0xd0:
                dl = 4
            elif e == 0xe0:
                dl = 8
            elif e == 0xf0:
                dl = 3
            elif e == 0xfe:
                dl = 1
            elif 0xf1 <= e <= 0xfd:
                dl = 0
            else:
                return -1
            if pos + 1 + dl > n:
                return -1
            if dl == 0:
                v = (e & 0x0f) - 1
            elif dl == 1:
                v = <signed char>b[pos + 1]
            else:
                v = lp_read_int(b + pos + 1, dl)
            rc = rd_put_int(r, v)
            pos += 1 + dl
        if rc < 0:
            return -1


cdef int rd_intset(rdin_t *r, const uint8_t *b, uint64_t n) noexcept nogil:
    cdef uint32_t w, cnt, i
    if n < 8:
        return -1
    w = b[0] | (<uint32_t>b[1] << 8) | (<uint32_t>b[2] << 16) | (<uint32_t>b[3] << 24)
    cnt = b[4] | (<uint32_t>b[5] << 8) | (<uint32_t>b[6] << 16) | (<uint32_t>b[7] << 24)
    if (w != 2 and w != 4 and w != 8) or <uint64_t>cnt * w + 8 != n:
        return -1
    for i in range(cnt):
        if rd_put_int(r, lp_read_int(b + 8 + <uint64_t>i * w, w)) < 0:
            return -1
    return 0


cdef int rd_zipmap(rdin_t *r, const uint8_t *b, uint64_t n) noexcept nogil:
    """A zipmap blob (the 2.x hash form): a count byte, then per pair the
    field's length and bytes, the value's length, a free-space byte, the value
    and that many unused bytes; 0xff ends it."""
    cdef uint64_t pos = 1, l, spare
    cdef bint value = False
    while True:
        if pos >= n:
            return -1
        if b[pos] == 0xff:
            return 0 if not value else -1
        if b[pos] < 254:
            l = b[pos]
            pos += 1
        elif b[pos] == 254:
            if pos + 5 > n:
                return -1
            l = b[pos + 1] | (<uint64_t>b[pos + 2] << 8) | (<uint64_t>b[pos + 3] << 16) | (<uint64_t>b[pos + 4] << 24)
            pos += 5
        else:
            return -1
        spare = 0
        if value:
            if pos >= n:
                return -1
            spare = b[pos]
            pos += 1
        if pos + l + spare > n or rd_put(r, <const char *>b + pos, l) < 0:
            return -1
        pos += l + spare
        value = not value


cdef int rd_blob(rdin_t *r, int form) noexcept nogil:
    """One string of the payload holding a packed form (RDB type number)."""
    cdef const char *s
    cdef uint64_t n
    cdef char *heap
    cdef char tmp[24]
    cdef int rc
    if rd_string(r, &s, &n, &heap, tmp) < 0:
        return -1
    if s == tmp:
        rc = -1                                  # an integer is no packed form
    elif form == RDB_LIST_QUICKLIST_2 or form == RDB_HASH_LISTPACK or form == RDB_ZSET_LISTPACK:
        rc = rd_listpack(r, <const uint8_t *>s, n)
    elif form == RDB_SET_INTSET:
        rc = rd_intset(r, <const uint8_t *>s, n)
    elif form == RDB_HASH_ZIPMAP:
        rc = rd_zipmap(r, <const uint8_t *>s, n)
    else:
        rc = rd_ziplist(r, <const uint8_t *>s, n)
    free(heap)
    return rc


cdef int rd_quicklist(rdin_t *r, bint v2) noexcept nogil:
    cdef uint64_t nodes, container = 2, i
    cdef const char *s
    cdef uint64_t n
    cdef char *heap
    cdef char tmp[24]
    cdef int rc
    if rd_plain_len(r, &nodes) < 0:
        return -1
    for i in range(nodes):
        if v2:
            if rd_plain_len(r, &container) < 0 or (container != 1 and container != 2):
                return -1
        if container == 1:                       # a plain node: one element
            if rd_string(r, &s, &n, &heap, tmp) < 0:
                return -1
            rc = rd_put(r, s, n) if n else -1
            free(heap)
            if rc < 0:
                return -1
        elif rd_blob(r, RDB_LIST_QUICKLIST_2 if v2 else RDB_LIST_ZIPLIST) < 0:
            return -1
    return 0


cdef int rd_object(rdin_t *r, int *ttype) noexcept nogil:
    """The value after the type byte into r.out; ttype gets its T_* type."""
    cdef uint8_t t
    cdef uint64_t n
    cdef const char *s
    cdef char *heap
    cdef char tmp[24]
    cdef int rc
    if rd_need(r, 1) < 0:
        return -1
    t = r.p[r.pos]
    r.pos += 1
    if t == RDB_STRING:
        ttype[0] = T_STRING
        if rd_string(r, &s, &n, &heap, tmp) < 0:
            return -1
        rc = rd_put(r, s, n)
        free(heap)
        return rc
    if t == RDB_LIST or t == RDB_SET or t == RDB_HASH or t == RDB_ZSET or t == RDB_ZSET_2:
        ttype[0] = (T_LIST if t == RDB_LIST else T_SET if t == RDB_SET else
                    T_HASH if t == RDB_HASH else T_ZSET)
        if rd_plain_len(r, &n) < 0:
            return -1
        if t == RDB_HASH:
            if n > (<uint64_t>1 << 62):
                return -1
            n *= 2
        return rd_elements(r, n, t == RDB_ZSET, t == RDB_ZSET_2)
    if t == RDB_LIST_QUICKLIST or t == RDB_LIST_QUICKLIST_2:
        ttype[0] = T_LIST
        return rd_quicklist(r, t == RDB_LIST_QUICKLIST_2)
    if t == RDB_LIST_ZIPLIST:
        ttype[0] = T_LIST
    elif t == RDB_SET_INTSET:
        ttype[0] = T_SET
    elif t == RDB_ZSET_ZIPLIST or t == RDB_ZSET_LISTPACK:
        ttype[0] = T_ZSET
        r.zs = True
    elif t == RDB_HASH_ZIPLIST or t == RDB_HASH_LISTPACK or t == RDB_HASH_ZIPMAP:
        ttype[0] = T_HASH
    else:
        return -1                                # streams, modules, unknown types
    if rd_blob(r, t) < 0 or r.want_score:
        return -1
    return 0


cdef bint dump_payload_ok(const uint8_t *p, uint64_t n) noexcept nogil:
    """Redis's verifyDumpPayload: a version it knows and a matching CRC."""
    cdef uint64_t crc
    cdef uint16_t ver
    if n < 10:
        return False
    ver = p[n - 10] | (<uint16_t>p[n - 9] << 8)
    if ver > DUMP_RDB_VERSION:
        return False
    crc = dump_crc64(0, p, n - 8)
    return memcmp(&crc, p + n - 8, 8) == 0


# ==================================== building ====================================

cdef inline const char *flat_next(const char **q, uint64_t *n) noexcept nogil:
    """The element at q (advanced past it); its length into n."""
    cdef const char *s
    memcpy(n, q[0], 8)
    s = q[0] + 8
    q[0] = s + n[0]
    return s


cdef uint64_t dump_new_item(int ttype, uint32_t pdb, const char *key, uint64_t klen, rdin_t *r,
                            int64_t now_ms) noexcept nogil:
    """An empty item of the type outside the keyspace, or 0 (no memory)."""
    cdef uint64_t off
    cdef lroot_t lr
    cdef croot_t *cr
    cdef kref_t k
    if ttype == T_LIST:
        off = item_new(pdb, key, klen, sizeof(lroot_t), T_LIST, ENC_QUICKLIST, now_ms)
        if off:
            memset(&lr, 0, sizeof(lr))
            lroot_save(IT(off), &lr)
        return off
    if ttype == T_ZSET:
        kref_init(&k, key, klen)
        k.pdb = pdb
        return zs_new_item(&k, r.count, r.maxlen, now_ms)
    off = item_new(pdb, key, klen, coll_vlen(klen), <uint8_t>ttype,
                   ENC_LISTPACK if ttype == T_HASH else ENC_INTSET, now_ms)
    if off:
        cr = croot(IT(off))
        cr.off = 0
        cr.count = 0
        cr.used = 0
    return off


cdef uint64_t dump_new_string(uint32_t pdb, const char *key, uint64_t klen, const char *v, uint64_t n,
                              int64_t now_ms) noexcept nogil:
    """A string item as SET would store v, outside the keyspace, or 0."""
    cdef int64_t iv
    cdef uint64_t off
    if n <= 20 and ITEM_HDR + klen + 8 <= PAGE_SIZE and parse_i64(v, n, &iv):
        off = item_new(pdb, key, klen, 8, T_STRING, ENC_INT, now_ms)
        if off:
            item_write(IT(off), klen, <const char *>&iv, 8)
        return off
    off = item_new(pdb, key, klen, n, T_STRING, ENC_EMBSTR, now_ms)
    if off:
        item_write(IT(off), klen, v, n)
    return off


cdef int dump_fill(item_t *it, int ttype, rdin_t *r) noexcept nogil:
    """Add the decoded elements to the empty item: ST_OK, ST_NOMEM, or DUMP_BAD
    (a duplicate member or field)."""
    cdef const char *q = r.out.p
    cdef const char *s
    cdef const char *v
    cdef uint64_t n, vn, i
    cdef lroot_t lr
    cdef zroot_t zr
    cdef double d, old
    cdef bint created
    cdef int st = ST_OK
    if ttype == T_LIST:
        lroot_load(it, &lr)
        for i in range(r.count):
            s = flat_next(&q, &n)
            st = list_push(&lr, LIST_TAIL, s, n)
            if st != ST_OK:
                break
        list_settle_ends(&lr)
        lroot_save(it, &lr)
        return st
    if ttype == T_ZSET:
        zs_load(it, &zr)
        for i in range(r.count):
            s = flat_next(&q, &n)
            memcpy(&d, q, 8)
            q += 8
            if zs_find(it, &zr, s, n, &old):
                st = DUMP_BAD
            else:
                st = zs_insert(it, &zr, s, n, d)
            if st != ST_OK:
                break
        zs_store(it, &zr)
        return st
    if ttype == T_HASH:
        if r.count % 2:
            return DUMP_BAD
        for i in range(r.count // 2):
            s = flat_next(&q, &n)
            v = flat_next(&q, &vn)
            st = hash_set(it, s, n, v, vn, False, &created)
            if st == ST_OK and not created:
                st = DUMP_BAD
            if st != ST_OK:
                break
        return st
    for i in range(r.count):
        s = flat_next(&q, &n)
        st = set_add(it, s, n)
        if st == ST_EXISTS:
            st = DUMP_BAD
        if st != ST_OK:
            break
    return st


cdef uint64_t dump_build(int ttype, uint32_t pdb, const char *key, uint64_t klen, rdin_t *r,
                         int64_t now_ms, int *st) noexcept nogil:
    """The decoded value as a new item outside the keyspace, or 0 with st
    ST_NOMEM or DUMP_BAD. No lock needed: no one else can see the item."""
    cdef const char *q = r.out.p
    cdef const char *s
    cdef uint64_t n, off
    st[0] = ST_OK
    if ttype == T_STRING:
        s = flat_next(&q, &n)
        off = dump_new_string(pdb, key, klen, s, n, now_ms)
        if off == 0:
            st[0] = ST_NOMEM
        return off
    if r.count == 0:
        st[0] = DUMP_BAD                          # Redis refuses an empty collection
        return 0
    off = dump_new_item(ttype, pdb, key, klen, r, now_ms)
    if off == 0:
        st[0] = ST_NOMEM
        return 0
    st[0] = dump_fill(IT(off), ttype, r)
    if st[0] != ST_OK:
        item_free(off)
        return 0
    return off


# ==================================== encoding ====================================

cdef void rw_len(wbuf_t *w, uint64_t n) noexcept nogil:
    cdef uint8_t b[9]
    cdef int i
    if n < 64:
        b[0] = <uint8_t>n
        wb_put(w, <const char *>b, 1)
    elif n < 16384:
        b[0] = <uint8_t>(0x40 | (n >> 8))
        b[1] = <uint8_t>(n & 0xff)
        wb_put(w, <const char *>b, 2)
    elif n < (<uint64_t>1 << 32):
        b[0] = 0x80
        for i in range(4):
            b[1 + i] = <uint8_t>(n >> (24 - 8 * i))
        wb_put(w, <const char *>b, 5)
    else:
        b[0] = 0x81
        for i in range(8):
            b[1 + i] = <uint8_t>(n >> (56 - 8 * i))
        wb_put(w, <const char *>b, 9)


cdef void rw_string(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    """A string as Redis's rdbSaveRawString writes it: an integer form for a
    canonical int32 of up to 11 chars, LZF past 20 bytes when that is at least
    4 bytes shorter, else the length and the bytes."""
    cdef int64_t v
    cdef uint8_t b[5]
    cdef size_t z
    cdef char *dst
    if n <= 11 and parse_i64(s, n, &v) and -2147483648LL <= v <= 2147483647LL:
        if -128 <= v <= 127:
            b[0] = 0xc0
            b[1] = <uint8_t>(v & 0xff)
            wb_put(w, <const char *>b, 2)
        elif -32768 <= v <= 32767:
            b[0] = 0xc1
            b[1] = <uint8_t>(v & 0xff)
            b[2] = <uint8_t>((v >> 8) & 0xff)
            wb_put(w, <const char *>b, 3)
        else:
            b[0] = 0xc2
            b[1] = <uint8_t>(v & 0xff)
            b[2] = <uint8_t>((v >> 8) & 0xff)
            b[3] = <uint8_t>((v >> 16) & 0xff)
            b[4] = <uint8_t>((v >> 24) & 0xff)
            wb_put(w, <const char *>b, 5)
        return
    if n > 20:
        dst = <char *>malloc(n)
        if dst != NULL:
            z = cc_lz_pack(s, n, dst, n - 4)
            if z:
                b[0] = 0xc3
                wb_put(w, <const char *>b, 1)
                rw_len(w, z)
                rw_len(w, n)
                wb_put(w, dst, z)
                free(dst)
                return
            free(dst)
    rw_len(w, n)
    wb_put(w, s, n)


cdef void lp_put_entry(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    """One listpack entry (an integer form for a canonical int64), with its
    back length."""
    cdef uint8_t b[16]
    cdef uint64_t l, hl, i
    cdef int64_t v
    if n <= 20 and parse_i64(s, n, &v):
        if 0 <= v <= 127:
            b[0] = <uint8_t>v
            l = 1
        elif -4096 <= v <= 4095:
            b[0] = <uint8_t>(0xc0 | ((<uint64_t>v >> 8) & 0x1f))
            b[1] = <uint8_t>(v & 0xff)
            l = 2
        else:
            if -32768 <= v <= 32767:
                b[0] = 0xf1
                l = 2
            elif -8388608 <= v <= 8388607:
                b[0] = 0xf2
                l = 3
            elif -2147483648LL <= v <= 2147483647LL:
                b[0] = 0xf3
                l = 4
            else:
                b[0] = 0xf4
                l = 8
            for i in range(l):
                b[1 + i] = <uint8_t>((<uint64_t>v >> (8 * i)) & 0xff)
            l += 1
        wb_put(w, <const char *>b, l)
    else:
        if n < 64:
            b[0] = <uint8_t>(0x80 | n)
            hl = 1
        elif n < 4096:
            b[0] = <uint8_t>(0xe0 | (n >> 8))
            b[1] = <uint8_t>(n & 0xff)
            hl = 2
        else:
            b[0] = 0xf0
            for i in range(4):
                b[1 + i] = <uint8_t>((n >> (8 * i)) & 0xff)
            hl = 5
        wb_put(w, <const char *>b, hl)
        wb_put(w, s, n)
        l = hl + n
    hl = lp_backlen_size(l)
    if hl == 1:
        b[0] = <uint8_t>l
    else:
        for i in range(hl):                      # most significant 7 bits first
            b[i] = <uint8_t>((l >> (7 * (hl - 1 - i))) & 127)
            if i:
                b[i] |= 128
    wb_put(w, <const char *>b, hl)


cdef inline bint dump_next(const char *p, uint64_t n, uint64_t *pos, const char **s, uint64_t *len) noexcept nogil:
    """The next element copied out under the lock: a RESP bulk or integer."""
    cdef uint64_t i = pos[0] + 1, v = 0
    cdef char kind
    if i > n:
        return False
    kind = p[pos[0]]
    if kind == 58:                               # ':' an integer: its digits
        s[0] = p + i
        while p[i] != 13:
            i += 1
        len[0] = i - pos[0] - 1
        pos[0] = i + 2
        return True
    while p[i] != 13:
        v = v * 10 + <uint64_t>(p[i] - 48)
        i += 1
    s[0] = p + i + 2
    len[0] = v
    pos[0] = i + 2 + v + 2
    return True


cdef void dump_list_nodes(wbuf_t *w, const char *p, uint64_t n, uint64_t *nodes) noexcept nogil:
    """The copied elements as QUICKLIST_2 packed nodes into w."""
    cdef wbuf_t lp
    cdef uint64_t pos = 0, sl, cnt = 0
    cdef const char *s
    lp.p = <char *>malloc(DUMP_NODE_BYTES + 64)
    lp.cap = DUMP_NODE_BYTES + 64 if lp.p != NULL else 0
    lp.len = 6
    lp.oom = lp.p == NULL
    lp.resp = 2
    nodes[0] = 0
    while pos < n or cnt:
        if pos < n:
            dump_next(p, n, &pos, &s, &sl)
            if cnt and lp.len + sl + 16 > DUMP_NODE_BYTES:
                dump_close_node(w, &lp, cnt)
                nodes[0] += 1
                cnt = 0
            lp_put_entry(&lp, s, sl)
            cnt += 1
        if pos >= n and cnt:
            dump_close_node(w, &lp, cnt)
            nodes[0] += 1
            cnt = 0
    if lp.oom:
        w.oom = True
    free(lp.p)


cdef void dump_close_node(wbuf_t *w, wbuf_t *lp, uint64_t cnt) noexcept nogil:
    cdef uint32_t total
    cdef uint16_t c16 = <uint16_t>(cnt if cnt < 65535 else 65535)
    wb_put(lp, "\xff", 1)
    if lp.oom:
        w.oom = True
        return
    total = <uint32_t>lp.len
    memcpy(lp.p, &total, 4)
    memcpy(lp.p + 4, &c16, 2)
    rw_len(w, 2)                                 # packed container
    rw_string(w, lp.p, lp.len)
    lp.len = 6


cdef void dump_encode(wbuf_t *w, int ttype, uint64_t count, const char *p, uint64_t n) noexcept nogil:
    """The RDB object (type byte and encoding) of the copied elements."""
    cdef uint64_t pos = 0, sl, i, nodes
    cdef const char *s
    cdef wbuf_t body
    cdef uint8_t t
    if ttype == T_LIST:
        t = RDB_LIST_QUICKLIST_2
        body.p = <char *>malloc(n + 64)
        body.cap = n + 64 if body.p != NULL else 0
        body.len = 0
        body.oom = body.p == NULL
        body.resp = 2
        dump_list_nodes(&body, p, n, &nodes)
        wb_put(w, <const char *>&t, 1)
        rw_len(w, nodes)
        wb_put(w, body.p, body.len)
        if body.oom:
            w.oom = True
        free(body.p)
        return
    t = (RDB_STRING if ttype == T_STRING else RDB_SET if ttype == T_SET else
         RDB_HASH if ttype == T_HASH else RDB_ZSET_2)
    wb_put(w, <const char *>&t, 1)
    if ttype != T_STRING:
        rw_len(w, count)
    while pos < n:
        dump_next(p, n, &pos, &s, &sl)
        rw_string(w, s, sl)
        if ttype == T_ZSET:
            dump_next(p, n, &pos, &s, &sl)       # the score's 8 bytes
            wb_put(w, s, 8)


cdef int dump_copy_locked(item_t *it, wbuf_t *w, uint64_t *count) noexcept nogil:
    """The value's elements as RESP bulks into w (a zset score as a bulk of its
    8 bytes), and the element count (pairs for a hash). Shard lock held."""
    cdef lroot_t lr
    cdef lcur_t cur
    cdef zroot_t zr
    cdef zcur_t zc
    cdef uint64_t i
    count[0] = 1
    if it.type == T_STRING:
        str_reply(w, it)
    elif it.type == T_LIST:
        lroot_load(it, &lr)
        count[0] = lr.count
        if cur_first(&lr, &cur):
            while True:
                cur_reply(w, &cur)
                if not cur_next(&cur):
                    break
    elif it.type == T_SET:
        count[0] = set_len(it)
        set_emit_all(w, it)
    elif it.type == T_HASH:
        count[0] = hash_len(it)
        hash_emit_all(w, it, HW_KEYS | HW_VALS)
    elif it.type == T_ZSET:
        zs_load(it, &zr)
        count[0] = zr.length
        for i in range(zr.length):
            if i == 0:
                zcur_seek(&zc, it, &zr, 0)
            else:
                zcur_next(&zc)
            zcur_emit(w, &zc)
            wb_bulk(w, <const char *>&zc.score, 8)
    else:
        return ST_WRONGTYPE
    return ST_OK


# ==================================== commands ====================================

cdef int cmd_dump(Client c) except -1:
    cdef kref_t k
    cdef wbuf_t copy, out
    cdef uint64_t count = 0, crc
    cdef int st = ST_NOTFOUND, ttype = 0
    cdef uint8_t ver[2]
    kref_init(&k, c.argv[1], c.argl[1])
    wb_init(&copy)
    copy.resp = 2
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            ttype = IT(k.item).type
            st = dump_copy_locked(IT(k.item), &copy, &count)
            read_hit(IT(k.item), c.now_ms)
        else:
            read_hit(NULL, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_NOTFOUND:
        free(copy.p)
        wb_null(&c.out)
        return 0
    if st != ST_OK:
        free(copy.p)
        wb_error(&c.out, E_WRONGTYPE)
        return 0
    if copy.oom:
        free(copy.p)
        raise MemoryError()
    wb_init(&out)
    with nogil:
        dump_encode(&out, ttype, count, copy.p, copy.len)
        ver[0] = DUMP_RDB_VERSION
        ver[1] = 0
        wb_put(&out, <const char *>ver, 2)
        crc = dump_crc64(0, <const unsigned char *>out.p, out.len)
        wb_put(&out, <const char *>&crc, 8)
    free(copy.p)
    if out.oom:
        free(out.p)
        raise MemoryError()
    wb_bulk(&c.out, out.p, out.len)
    free(out.p)
    return 0


cdef int restore_options(Client c, bint *replace, bint *absttl, int64_t *idle, int64_t *freq) except -1:
    """RESTORE's options after the payload, as Redis parses them; 1 after
    replying with an error."""
    cdef uint64_t j = 4
    while j < c.argc:
        if arg_eq(c, j, "replace"):
            replace[0] = True
        elif arg_eq(c, j, "absttl"):
            absttl[0] = True
        elif arg_eq(c, j, "idletime") and j + 1 < c.argc and freq[0] == -1:
            if not arg_i64(c, j + 1, idle):
                wb_error(&c.out, E_NOTINT)
                return 1
            if idle[0] < 0:
                wb_error(&c.out, E_DUMP_IDLE)
                return 1
            j += 1
        elif arg_eq(c, j, "freq") and j + 1 < c.argc and idle[0] == -1:
            if not arg_i64(c, j + 1, freq):
                wb_error(&c.out, E_NOTINT)
                return 1
            if freq[0] < 0 or freq[0] > 255:
                wb_error(&c.out, E_DUMP_FREQ)
                return 1
            j += 1
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        j += 1
    return 0


cdef void restore_clock(item_t *it, int64_t idle, int64_t freq, int64_t now_ms) noexcept nogil:
    """IDLETIME (LRU policies) or FREQ (LFU policies) as the item's clock, as
    Redis's objectSetLRUOrLFU; the other is ignored."""
    cdef int64_t now_s
    if policy_is_lfu():
        if freq >= 0:
            item_set_lru(it, ((<uint32_t>(now_ms // 60000) & 0xffff) << 8) | <uint32_t>freq)
    elif idle >= 0:
        now_s = (now_ms // 1000) & LRU_CLOCK_MASK
        if idle > now_s:
            item_set_lru(it, <uint32_t>((now_s + (LRU_CLOCK_MASK >> 1)) % LRU_CLOCK_MASK))
        else:
            item_set_lru(it, <uint32_t>(now_s - idle))


cdef int restore_store_locked(kref_t *k, Client c, uint64_t off, bint replace, int64_t expire_ms,
                              int64_t idle, int64_t freq, bint *deleted) noexcept nogil:
    """Put the built item at the key: ST_OK, ST_EXISTS (BUSYKEY), ST_NOMEM, or
    ST_NOTFOUND when the TTL had passed (the item is dropped, an existing key
    deleted under REPLACE). The item is freed unless stored. Shard locked."""
    key_find_locked(k, c.db, c.now_ms)
    if k.item and not replace:
        item_free(off)
        return ST_EXISTS
    if expire_ms and expire_ms <= c.now_ms:
        item_free(off)
        if k.item:
            key_remove_locked(k)
            deleted[0] = True
        return ST_NOTFOUND
    IT(off).db = <uint8_t>k.pdb              # the db map may have moved (SWAPDB) since the build
    IT(off).expire_ms = expire_ms
    restore_clock(IT(off), idle, freq, c.now_ms)
    return key_store_locked(k, off)


cdef int restore_decode(Client c, rdin_t *r, int *ttype) except -1:
    """Check and decode the payload argument; 1 after replying with an error."""
    cdef int st
    memset(r, 0, sizeof(rdin_t))
    r.p = <const uint8_t *>c.argv[3]
    r.n = c.argl[3]
    if not dump_payload_ok(r.p, r.n):
        wb_error(&c.out, E_DUMP_PAYLOAD)
        return 1
    wb_init(&r.out)
    # Redis reads the value from the whole argument: a value that runs into
    # the footer's bytes loads there too
    with nogil:
        st = rd_object(r, ttype)
    if st < 0:
        if r.out.oom:
            free(r.out.p)
            raise MemoryError()
        free(r.out.p)
        wb_error(&c.out, E_DUMP_FORMAT)
        return 1
    return 0


cdef int cmd_restore(Client c) except -1:
    cdef bint replace = False, absttl = False, exists = False, deleted = False
    cdef int64_t idle = -1, freq = -1, ttl
    cdef kref_t k
    cdef rdin_t r
    cdef int ttype = 0, st
    cdef uint64_t off
    cdef uint32_t pdb
    cdef uint32_t sh[1]
    cdef int m
    if restore_options(c, &replace, &absttl, &idle, &freq):
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    if not replace:
        with nogil:
            shard_lock(k.shard)
            exists = key_find_locked(&k, c.db, c.now_ms) != 0
            shard_unlock(k.shard)
        if exists:
            wb_error(&c.out, E_DUMP_BUSY)
            return 0
    if not arg_i64(c, 2, &ttl):
        wb_error(&c.out, E_NOTINT)
        return 0
    if ttl < 0:
        wb_error(&c.out, E_DUMP_TTL)
        return 0
    if restore_decode(c, &r, &ttype):
        return 0
    if ttl and not absttl:
        ttl += c.now_ms
    pdb = db_map()[c.db]
    with nogil:
        off = dump_build(ttype, pdb, k.key, k.klen, &r, c.now_ms, &st)
        if off:
            sh[0] = k.shard
            m = ho_lock_many(sh, 1, &k)           # shm/blocking.pxi: k's waiters are served now
            st = restore_store_locked(&k, c, off, replace, ttl, idle, freq, &deleted)
            if st == ST_OK:
                handover_arrived_locked(c, &k, c.db)
            ho_unlock_many(sh, m)
    free(r.out.p)
    return restore_reply(c, st, ttype, deleted)


cdef int restore_reply(Client c, int st, int ttype, bint deleted) except -1:
    if st == DUMP_BAD:
        wb_error(&c.out, E_DUMP_FORMAT)
    elif st == ST_EXISTS:
        wb_error(&c.out, E_DUMP_BUSY)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif st == ST_TOOBIG:
        wb_error(&c.out, E_ZTOOBIG)
    elif st == ST_NOTFOUND:                      # the TTL had passed: no key
        if deleted:
            notify(NK_GENERIC, "del", c.argv[1], c.argl[1], c.db)
        else:
            c.flags |= CL_UNCHANGED              # nothing changed: no effect record (shm/wal.pxi)
        wb_ok(&c.out)
    else:
        notify(NK_GENERIC, "restore", c.argv[1], c.argl[1], c.db)
        handover_finish()                         # the events and wake-ups of waiters it served
        wb_ok(&c.out)
        if ttype == T_LIST:
            signal_key_ready(c.db, c.argv[1], c.argl[1])     # a blocked pop may take it (shm/blocking.pxi)
    return 0


cdef void register_dump_commands():
    register_c('dump', cmd_dump)
    register_c('restore', cmd_restore)
