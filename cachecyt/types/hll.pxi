# HyperLogLog: PFADD, PFCOUNT, PFMERGE over string values in Redis's own
# representation, so HLL values move between cachecyt and Redis with GET/SET.
#
# Value (all little-endian):
#   "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | 8-byte cached
#   cardinality, whose top bit (byte 15, bit 7) set means "stale"
#   dense:  16384 registers of 6 bits, register i at bit 6*i (LSB first)
#   sparse: run-length opcodes over the 16384 registers:
#           00llllll           ZERO  1..64 zero registers
#           01llllll llllllll  XZERO 1..16384 zero registers
#           1vvvvvll           VAL   1..4 registers holding 1..32
# An element hashes with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick
# the register, the run of zero bits above them (plus one) is the value. A
# sparse value grows by splitting the opcode that covers the register and is
# promoted to dense when a value passes 32 or it would pass
# hll-sparse-max-bytes. The count is Ertl's estimator over the histogram of
# register values (arXiv:1702.01284), computed in double in the same order of
# operations as Redis so the numbers are identical.
#
# Commands read the value into a buffer under the key's shard lock, change it
# there and write it back (in place when the length is unchanged). A dense
# value in one chunk is counted where it lies, without a copy. Each command's
# effect is deterministic given the state, so the WAL logs it as asked.

from libc.stdint cimport uint8_t
from libc.stdlib cimport calloc

cdef extern from *:
    """
    #include <math.h>
    #define HLL_REGS 16384
    #define HLL_HDR 16
    #define HLL_DENSE_SIZE (HLL_HDR + HLL_REGS * 6 / 8)
    #define HLL_SPARSE_VALMAX 32

    static uint64_t hll_murmur(const uint8_t *p, uint64_t n, uint64_t seed) {
        const uint64_t m = 0xc6a4a7935bd1e995ULL;
        uint64_t h = seed ^ (n * m), k;
        uint64_t blocks = n / 8, i;
        for (i = 0; i < blocks; i++, p += 8) {
            k = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24
              | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48
              | (uint64_t)p[7] << 56;
            k *= m;
            k ^= k >> 47;
            k *= m;
            h ^= k;
            h *= m;
        }
        switch (n & 7) {
        case 7: h ^= (uint64_t)p[6] << 48; /* fall through */
        case 6: h ^= (uint64_t)p[5] << 40; /* fall through */
        case 5: h ^= (uint64_t)p[4] << 32; /* fall through */
        case 4: h ^= (uint64_t)p[3] << 24; /* fall through */
        case 3: h ^= (uint64_t)p[2] << 16; /* fall through */
        case 2: h ^= (uint64_t)p[1] << 8;  /* fall through */
        case 1: h ^= (uint64_t)p[0]; h *= m;
        }
        h ^= h >> 47;
        h *= m;
        h ^= h >> 47;
        return h;
    }

    /* Register index of an element in *idx; returns its value (1..51). */
    static int hll_position(const char *ele, uint64_t n, long *idx) {
        uint64_t h = hll_murmur((const uint8_t *)ele, n, 0xadc83b19ULL);
        int v = 1;
        *idx = (long)(h & (HLL_REGS - 1));
        h >>= 14;
        h |= 1ULL << 50;
        while (!(h & 1)) { v++; h >>= 1; }
        return v;
    }

    static inline int hll_dget(const uint8_t *r, long i) {
        long bit = i * 6, b = bit >> 3;
        int s = (int)(bit & 7);
        if (s <= 2) return (r[b] >> s) & 63;
        return ((r[b] >> s) | (r[b + 1] << (8 - s))) & 63;
    }

    static inline void hll_dput(uint8_t *r, long i, int v) {
        long bit = i * 6, b = bit >> 3;
        int s = (int)(bit & 7);
        r[b] = (uint8_t)((r[b] & ~(63 << s)) | (v << s));
        if (s > 2)
            r[b + 1] = (uint8_t)((r[b + 1] & ~(63 >> (8 - s))) | (v >> (8 - s)));
    }

    /* Raise dense register i to v: 1 when it changed. */
    static int hll_dense_set(uint8_t *r, long i, int v) {
        if (hll_dget(r, i) >= v) return 0;
        hll_dput(r, i, v);
        return 1;
    }

    #define OP_ISZERO(p) ((*(p) & 0xc0) == 0)
    #define OP_ISXZERO(p) ((*(p) & 0xc0) == 0x40)
    #define OP_ZLEN(p) ((*(p) & 0x3f) + 1)
    #define OP_XLEN(p) ((((*(p) & 0x3f) << 8) | (p)[1]) + 1)
    #define OP_VVAL(p) (((*(p) >> 2) & 0x1f) + 1)
    #define OP_VLEN(p) ((*(p) & 3) + 1)

    static inline void op_val(uint8_t *p, int v, int n) { *p = (uint8_t)(0x80 | ((v - 1) << 2) | (n - 1)); }
    /* a zero run of n registers at p; returns the opcode's bytes */
    static inline int op_zero(uint8_t *p, int n) {
        if (n > 64) {
            p[0] = (uint8_t)(0x40 | ((n - 1) >> 8));
            p[1] = (uint8_t)((n - 1) & 0xff);
            return 2;
        }
        p[0] = (uint8_t)(n - 1);
        return 1;
    }

    /* Every register of a sparse body into raw[] (max with what is there):
       0, or -1 when the opcodes do not cover exactly 16384 registers. */
    static int hll_sparse_walk(const uint8_t *p, uint64_t n, uint8_t *raw, int *histo) {
        const uint8_t *end = p + n;
        long i = 0, k, len;
        int v;
        while (p < end) {
            if (OP_ISZERO(p)) {
                len = OP_ZLEN(p); p++;
                if (histo) histo[0] += (int)len;
                i += len;
            } else if (OP_ISXZERO(p)) {
                if (p + 1 >= end) return -1;
                len = OP_XLEN(p); p += 2;
                if (histo) histo[0] += (int)len;
                i += len;
            } else {
                len = OP_VLEN(p); v = OP_VVAL(p); p++;
                if (i + len > HLL_REGS) return -1;
                if (histo) histo[v] += (int)len;
                if (raw)
                    for (k = i; k < i + len; k++)
                        if (raw[k] < v) raw[k] = (uint8_t)v;
                i += len;
            }
        }
        return i == HLL_REGS ? 0 : -1;
    }

    /* The value at buf (len bytes, sparse) becomes dense, in place (buf holds
       HLL_DENSE_SIZE + 1 bytes at least). 0, or -1 when corrupt. */
    static int hll_to_dense(uint8_t *buf, uint64_t *len) {
        uint8_t *raw;
        long i;
        if (buf[4] == 0) return 0;
        raw = (uint8_t *)calloc(HLL_REGS, 1);
        if (raw == NULL) return -2;
        if (hll_sparse_walk(buf + HLL_HDR, *len - HLL_HDR, raw, NULL) < 0) { free(raw); return -1; }
        memset(buf + HLL_HDR, 0, HLL_DENSE_SIZE - HLL_HDR + 1);
        for (i = 0; i < HLL_REGS; i++)
            if (raw[i]) hll_dput(buf + HLL_HDR, i, raw[i]);
        free(raw);
        buf[4] = 0;
        *len = HLL_DENSE_SIZE;
        return 0;
    }

    /* Merge adjacent VAL opcodes of one value, looking at up to five opcodes
       from p (the opcode before the one changed). */
    static void hll_sparse_tidy(uint8_t *p, uint8_t *buf, uint64_t *len) {
        uint8_t *end = buf + *len;
        int left = 5, n;
        while (p < end && left-- > 0) {
            if (OP_ISXZERO(p)) { p += 2; continue; }
            if (OP_ISZERO(p)) { p++; continue; }
            if (p + 1 < end && !OP_ISZERO(p + 1) && !OP_ISXZERO(p + 1)
                    && OP_VVAL(p) == OP_VVAL(p + 1)) {
                n = OP_VLEN(p) + OP_VLEN(p + 1);
                if (n <= 4) {
                    op_val(p + 1, OP_VVAL(p), n);
                    memmove(p, p + 1, (size_t)(end - p - 1));
                    end--;
                    (*len)--;
                    continue;
                }
            }
            p++;
        }
    }

    /* Raise register i of the sparse value to v (buf has room for the dense
       form). 1 changed, 0 not, -1 corrupt, -2 out of memory. May promote. */
    static int hll_sparse_set(uint8_t *buf, uint64_t *len, long i, int v, uint64_t maxbytes) {
        uint8_t *start = buf + HLL_HDR, *end = buf + *len, *p = start, *prev = NULL, *next;
        uint8_t seq[5], *q = seq;
        long first = 0, span = 0, last;
        int kind, oplen, cur = 0, seqlen, delta, rc;
        if (v > HLL_SPARSE_VALMAX) goto promote;
        while (p < end) {
            if (OP_ISZERO(p)) { span = OP_ZLEN(p); oplen = 1; }
            else if (OP_ISXZERO(p)) { span = OP_XLEN(p); oplen = 2; }
            else { span = OP_VLEN(p); oplen = 1; }
            if (i <= first + span - 1) break;
            prev = p;
            p += oplen;
            first += span;
        }
        if (span == 0 || p >= end) return -1;
        kind = OP_ISZERO(p) ? 0 : OP_ISXZERO(p) ? 1 : 2;
        next = p + (kind == 1 ? 2 : 1);
        if (kind == 2) {
            cur = OP_VVAL(p);
            if (cur >= v) return 0;
            if (span == 1) { op_val(p, v, 1); goto done; }
        }
        if (kind == 0 && span == 1) { op_val(p, v, 1); goto done; }
        last = first + span - 1;
        if (kind == 2) {
            if (i != first) { op_val(q, cur, (int)(i - first)); q++; }
            op_val(q, v, 1); q++;
            if (i != last) { op_val(q, cur, (int)(last - i)); q++; }
        } else {
            if (i != first) q += op_zero(q, (int)(i - first));
            op_val(q, v, 1); q++;
            if (i != last) q += op_zero(q, (int)(last - i));
        }
        seqlen = (int)(q - seq);
        delta = seqlen - (kind == 1 ? 2 : 1);
        if (delta > 0 && *len + delta > maxbytes) goto promote;
        if (*len + delta > HLL_DENSE_SIZE * 3) return -1;    /* beyond any sane sparse form */
        if (delta && next < end) memmove(next + delta, next, (size_t)(end - next));
        memcpy(p, seq, (size_t)seqlen);
        *len += delta;
    done:
        hll_sparse_tidy(prev ? prev : start, buf, len);
        return 1;
    promote:
        rc = hll_to_dense(buf, len);
        if (rc < 0) return rc;
        return hll_dense_set(buf + HLL_HDR, i, v);
    }

    /* PFADD of one element to the value in buf: 1 changed, 0 not, <0 error. */
    static int hll_add(uint8_t *buf, uint64_t *len, const char *ele, uint64_t n, uint64_t maxbytes) {
        long idx;
        int v = hll_position(ele, n, &idx);
        if (buf[4] == 0) return hll_dense_set(buf + HLL_HDR, idx, v);
        return hll_sparse_set(buf, len, idx, v, maxbytes);
    }

    /* Histogram of register values of a value: 0, or -1 when corrupt. */
    static int hll_histo(const uint8_t *buf, uint64_t len, int *histo) {
        long i;
        memset(histo, 0, 64 * sizeof(int));
        if (buf[4] == 0) {
            for (i = 0; i < HLL_REGS; i++) histo[hll_dget(buf + HLL_HDR, i)]++;
            return 0;
        }
        return hll_sparse_walk(buf + HLL_HDR, len - HLL_HDR, NULL, histo);
    }

    static void hll_raw_histo(const uint8_t *raw, int *histo) {
        long i;
        memset(histo, 0, 64 * sizeof(int));
        for (i = 0; i < HLL_REGS; i++) histo[raw[i]]++;
    }

    /* Merge a value's registers into raw[] (max): 0, or -1 when corrupt. */
    static int hll_merge(uint8_t *raw, const uint8_t *buf, uint64_t len) {
        long i;
        int v;
        if (buf[4] == 0) {
            for (i = 0; i < HLL_REGS; i++) {
                v = hll_dget(buf + HLL_HDR, i);
                if (raw[i] < v) raw[i] = (uint8_t)v;
            }
            return 0;
        }
        return hll_sparse_walk(buf + HLL_HDR, len - HLL_HDR, raw, NULL);
    }

    static double hll_sigma(double x) {
        double y = 1, z = x, zp;
        if (x == 1.) return INFINITY;
        do {
            x *= x;
            zp = z;
            z += x * y;
            y += y;
        } while (zp != z);
        return z;
    }

    static double hll_tau(double x) {
        double y = 1.0, z, zp;
        if (x == 0. || x == 1.) return 0.;
        z = 1 - x;
        do {
            x = sqrt(x);
            zp = z;
            y *= 0.5;
            z -= pow(1 - x, 2) * y;
        } while (zp != z);
        return z / 3;
    }

    /* Ertl's improved estimator over the register histogram (q = 50). */
    static uint64_t hll_estimate(const int *histo) {
        double m = HLL_REGS, z;
        int j;
        z = m * hll_tau((m - histo[51]) / m);
        for (j = 50; j >= 1; --j) {
            z += histo[j];
            z *= 0.5;
        }
        z += m * hll_sigma(histo[0] / m);
        return (uint64_t)llroundl(0.721347520444481703680 * m * m / z);
    }

    /* Whether a string value is an HLL Redis would accept. */
    static int hll_is_valid(const uint8_t *v, uint64_t n) {
        if (n < HLL_HDR || memcmp(v, "HYLL", 4) != 0 || v[4] > 1) return 0;
        if (v[4] == 0 && n != HLL_DENSE_SIZE) return 0;
        return 1;
    }

    static inline void hll_invalidate(uint8_t *buf) { buf[15] |= 0x80; }
    static inline int hll_cache_valid(const uint8_t *buf) { return (buf[15] & 0x80) == 0; }
    static uint64_t hll_cache_get(const uint8_t *buf) {
        uint64_t c = 0;
        int i;
        for (i = 7; i >= 0; i--) c = (c << 8) | buf[8 + i];
        return c;
    }
    static void hll_cache_put(uint8_t *buf, uint64_t c) {
        int i;
        for (i = 0; i < 8; i++) buf[8 + i] = (uint8_t)(c >> (8 * i));
    }

    /* A new empty sparse value (18 bytes) at buf. */
    static uint64_t hll_new(uint8_t *buf) {
        memset(buf, 0, HLL_HDR);
        memcpy(buf, "HYLL", 4);
        buf[4] = 1;
        return HLL_HDR + op_zero(buf + HLL_HDR, HLL_REGS);
    }
    """
    int HLL_REGS, HLL_HDR, HLL_DENSE_SIZE
    int hll_add(uint8_t *buf, uint64_t *len, const char *ele, uint64_t n, uint64_t maxbytes) nogil
    int hll_histo(const uint8_t *buf, uint64_t len, int *histo) nogil
    void hll_raw_histo(const uint8_t *raw, int *histo) nogil
    int hll_merge(uint8_t *raw, const uint8_t *buf, uint64_t len) nogil
    int hll_to_dense(uint8_t *buf, uint64_t *len) nogil
    int hll_dense_set(uint8_t *r, long i, int v) nogil
    int hll_sparse_set(uint8_t *buf, uint64_t *len, long i, int v, uint64_t maxbytes) nogil
    uint64_t hll_estimate(const int *histo) nogil
    int hll_is_valid(const uint8_t *v, uint64_t n) nogil
    void hll_invalidate(uint8_t *buf) nogil
    int hll_cache_valid(const uint8_t *buf) nogil
    uint64_t hll_cache_get(const uint8_t *buf) nogil
    void hll_cache_put(uint8_t *buf, uint64_t c) nogil
    uint64_t hll_new(uint8_t *buf) nogil
    int hll_dget(const uint8_t *r, long i) nogil
    void hll_dput_ "hll_dput"(uint8_t *r, long i, int v) nogil


cdef const char *E_HLL_TYPE = "WRONGTYPE Key is not a valid HyperLogLog string value."
cdef const char *E_HLL_CORRUPT = "INVALIDOBJ Corrupted HLL object detected"

cdef enum:
    HLL_ST_NOTHLL = 100           # a string, but not an HLL
    HLL_ST_CORRUPT = 101          # an HLL whose registers do not add up


# =============================== HLL value API ===============================

cdef inline uint64_t hll_max_bytes() noexcept nogil:
    return g_hdr.hll_sparse_max_bytes


cdef int hll_check_locked(item_t *it) noexcept nogil:
    """ST_OK when the item is an HLL string, ST_WRONGTYPE or HLL_ST_NOTHLL."""
    cdef uint8_t head[16]
    if it.type != T_STRING:
        return ST_WRONGTYPE
    if it.encoding == ENC_INT or it.vlen < 16:
        return HLL_ST_NOTHLL
    item_read(it, it.klen, <char *>head, 16)
    if not hll_is_valid(head, it.vlen):
        return HLL_ST_NOTHLL
    return ST_OK


cdef uint8_t *hll_read_locked(item_t *it, uint64_t *cap) noexcept nogil:
    """A malloc'd copy of the HLL item's value with room to grow to dense (and to
    the largest sparse form), or NULL when out of memory."""
    cdef uint64_t n = it.vlen
    cap[0] = (n if n > <uint64_t>HLL_DENSE_SIZE * 3 else <uint64_t>HLL_DENSE_SIZE * 3) + 16
    cdef uint8_t *buf = <uint8_t *>malloc(cap[0])     # bytes past the value are never read
    if buf != NULL:
        item_read(it, it.klen, <char *>buf, n)
    return buf


cdef uint8_t *hll_new_buf(uint64_t *len) noexcept nogil:
    """A malloc'd new empty sparse HLL, with room to grow."""
    cdef uint8_t *buf = <uint8_t *>malloc(<uint64_t>HLL_DENSE_SIZE * 3 + 16)
    if buf != NULL:
        len[0] = hll_new(buf)
    return buf


cdef int hll_write_locked(kref_t *k, const uint8_t *buf, uint64_t n, int64_t now_ms) noexcept nogil:
    """Store buf as the key's value (raw encoding, TTL kept): in place when the
    length is the same. ST_OK or ST_NOMEM."""
    cdef item_t *it
    if k.item:
        it = IT(k.item)
        if it.encoding != ENC_INT and it.vlen == n:
            item_write(it, it.klen, <const char *>buf, n)
            it.encoding = ENC_RAW
            item_bump(it)
            return ST_OK
    return str_store_locked(k, <const char *>buf, n, 0, True, STORE_RAW, now_ms)


cdef int hll_reply_status(Client c, int st) except -1:
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == HLL_ST_NOTHLL:
        wb_error(&c.out, E_HLL_TYPE)
    elif st == HLL_ST_CORRUPT:
        wb_error(&c.out, E_HLL_CORRUPT)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    return 0


# =============================== HLL commands ===============================

cdef int hll_pfadd_locked(Client c, kref_t *k, int *updated) noexcept nogil:
    """PFADD on the found (or absent) key. ST_OK (updated: 1 when a register
    changed or the key was made), ST_WRONGTYPE, HLL_ST_NOTHLL, HLL_ST_CORRUPT
    or ST_NOMEM. As Redis, registers raised before a corrupt part is met stay."""
    cdef uint8_t *buf
    cdef uint64_t n = 0, cap, i
    cdef int st = ST_OK, r
    if k.item:
        st = hll_check_locked(IT(k.item))
        if st != ST_OK:
            return st
        buf = hll_read_locked(IT(k.item), &cap)
        n = IT(k.item).vlen
    else:
        buf = hll_new_buf(&n)
        updated[0] = 1
    if buf == NULL:
        return ST_NOMEM
    for i in range(2, c.argc):
        r = hll_add(buf, &n, c.argv[i], c.argl[i], hll_max_bytes())
        if r == 1:
            updated[0] = 1
        elif r < 0:
            st = ST_NOMEM if r == -2 else HLL_ST_CORRUPT
            break
    if updated[0]:
        if st == ST_OK:
            hll_invalidate(buf)
        r = hll_write_locked(k, buf, n, c.now_ms)
        if st == ST_OK:
            st = r
    free(buf)
    return st


cdef int cmd_pfadd(Client c) except -1:
    cdef kref_t k
    cdef int st, updated = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        st = hll_pfadd_locked(c, &k, &updated)
        shard_unlock(k.shard)
    if st == ST_OK and updated: notify_arg(c, NK_STRING, "pfadd", 1)
    if st == ST_OK:
        wb_int(&c.out, updated)
    else:
        hll_reply_status(c, st)
    return 0


cdef int hll_count_one_locked(Client c, kref_t *k, uint64_t *card) noexcept nogil:
    """PFCOUNT of one found key: the cached cardinality, or a new count that is
    then cached in the value. ST_OK or an error status."""
    cdef item_t *it = IT(k.item)
    cdef uint8_t head[16]
    cdef uint8_t *buf
    cdef uint64_t cap
    cdef int histo[64]
    cdef int st = hll_check_locked(it)
    if st != ST_OK:
        return st
    it.encoding = ENC_RAW
    item_read(it, it.klen, <char *>head, 16)
    if hll_cache_valid(head):
        card[0] = hll_cache_get(head)
        return ST_OK
    if not (it.iflags & IF_EXTENTS):
        buf = <uint8_t *>item_value_inline(it)            # counted where it lies
        if hll_histo(buf, it.vlen, histo) < 0:
            return HLL_ST_CORRUPT
        card[0] = hll_estimate(histo)
        hll_cache_put(buf, card[0])
        item_bump(it)
        return ST_OK
    buf = hll_read_locked(it, &cap)
    if buf == NULL:
        return ST_NOMEM
    if hll_histo(buf, it.vlen, histo) < 0:
        free(buf)
        return HLL_ST_CORRUPT
    card[0] = hll_estimate(histo)
    hll_cache_put(buf, card[0])
    item_write(it, it.klen, <const char *>buf, 16)
    item_bump(it)
    free(buf)
    return ST_OK


cdef int hll_merge_item_locked(uint8_t *raw, item_t *it, bint *dense) noexcept nogil:
    """Merge an HLL item's registers into raw[]: ST_OK or an error status."""
    cdef uint8_t *buf
    cdef uint64_t cap
    cdef int st = hll_check_locked(it), r
    if st != ST_OK:
        return st
    if it.iflags & IF_EXTENTS:
        buf = hll_read_locked(it, &cap)
        if buf == NULL:
            return ST_NOMEM
        r = hll_merge(raw, buf, it.vlen)
        dense[0] = dense[0] or buf[4] == 0
        free(buf)
    else:
        buf = <uint8_t *>item_value_inline(it)
        r = hll_merge(raw, buf, it.vlen)
        dense[0] = dense[0] or buf[4] == 0
    return ST_OK if r == 0 else HLL_ST_CORRUPT


cdef int hll_merge_keys_locked(Client c, kref_t *ks, uint64_t n, uint8_t *raw,
                               bint *dense) noexcept nogil:
    """Merge the registers of every existing key of ks into raw[]."""
    cdef uint64_t i
    cdef int st
    for i in range(n):
        if key_find_locked(&ks[i], c.db, c.now_ms):
            st = hll_merge_item_locked(raw, IT(ks[i].item), dense)
            if st != ST_OK:
                return st
    return ST_OK


cdef int hll_pfmerge_locked(Client c, kref_t *ks, uint64_t n) noexcept nogil:
    """PFMERGE: ks[0] is the destination (merged too). ST_OK or an error status."""
    cdef uint8_t *raw = <uint8_t *>calloc(HLL_REGS, 1)
    cdef uint8_t *buf = NULL
    cdef uint64_t len = 0, cap
    cdef bint dense = False
    cdef long j
    cdef int st, r = 0
    if raw == NULL:
        return ST_NOMEM
    st = hll_merge_keys_locked(c, ks, n, raw, &dense)
    if st == ST_OK:
        if key_find_locked(&ks[0], c.db, c.now_ms):
            buf = hll_read_locked(IT(ks[0].item), &cap)
            len = IT(ks[0].item).vlen
        else:
            buf = hll_new_buf(&len)
        if buf == NULL:
            st = ST_NOMEM
    if st == ST_OK and dense:
        r = hll_to_dense(buf, &len)
    if st == ST_OK and r == 0:
        for j in range(HLL_REGS):
            if raw[j] == 0:
                continue
            if buf[4] == 0:
                hll_dense_set(buf + HLL_HDR, j, raw[j])
            else:
                r = hll_sparse_set(buf, &len, j, raw[j], hll_max_bytes())
                if r < 0:
                    break
        r = 0 if r >= 0 else r
    if st == ST_OK and r < 0:
        st = ST_NOMEM if r == -2 else HLL_ST_CORRUPT
    if st == ST_OK:
        hll_invalidate(buf)
        st = hll_write_locked(&ks[0], buf, len, c.now_ms)
    free(buf)
    free(raw)
    return st


cdef int _hll_multi(Client c, bint store) except -1:
    """PFCOUNT of several keys (store False) or PFMERGE (store True)."""
    cdef uint64_t n = c.argc - 1
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * n)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * n)
    cdef uint8_t *raw = NULL
    cdef int m, st = ST_OK
    cdef int histo[64]
    cdef uint64_t card = 0
    cdef bint dense = False
    if not store:
        raw = <uint8_t *>calloc(HLL_REGS, 1)
    if ks == NULL or shards == NULL or (raw == NULL and not store):
        free(ks); free(shards); free(raw)
        raise MemoryError()
    m = lock_keys(c, 1, 1, ks, shards)
    with nogil:
        if store:
            st = hll_pfmerge_locked(c, ks, n)
        else:
            st = hll_merge_keys_locked(c, ks, n, raw, &dense)
            if st == ST_OK:
                hll_raw_histo(raw, histo)
                card = hll_estimate(histo)
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    free(raw)
    if st != ST_OK:
        return hll_reply_status(c, st)
    if store:
        notify_arg(c, NK_STRING, "pfadd", 1)
        wb_ok(&c.out)
    else:
        wb_int(&c.out, <int64_t>card)
    return 0


cdef int cmd_pfcount(Client c) except -1:
    cdef kref_t k
    cdef int st = ST_OK
    cdef uint64_t card = 0
    if c.argc > 2:
        return _hll_multi(c, False)
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            st = hll_count_one_locked(c, &k, &card)
        shard_unlock(k.shard)
    if st == ST_OK:
        wb_int(&c.out, <int64_t>card)
    else:
        hll_reply_status(c, st)
    return 0


cdef int cmd_pfmerge(Client c) except -1:
    return _hll_multi(c, True)


# ---- PFDEBUG / PFSELFTEST ------------------------------------------------------

cdef bytes hll_decode(const uint8_t *buf, uint64_t n):
    """PFDEBUG DECODE's text of a sparse value: z:len (ZERO), Z:len (XZERO),
    v:value,len (VAL)."""
    cdef uint64_t i = HLL_HDR
    cdef list out = []
    while i < n:
        if buf[i] & 0xc0 == 0:
            out.append(b'z:%d' % ((buf[i] & 0x3f) + 1))
            i += 1
        elif buf[i] & 0xc0 == 0x40:
            if i + 1 >= n:
                break
            out.append(b'Z:%d' % ((((buf[i] & 0x3f) << 8) | buf[i + 1]) + 1))
            i += 2
        else:
            out.append(b'v:%d,%d' % (((buf[i] >> 2) & 0x1f) + 1, (buf[i] & 3) + 1))
            i += 1
    return b' '.join(out)


cdef int hll_debug_reply(Client c, bytes sub, uint8_t *buf, uint64_t n, bint *changed) except -1:
    """Run PFDEBUG's subcommand on the value copy in buf; changed: buf went dense."""
    cdef long j
    cdef bytes text
    if sub in (b'getreg', b'todense'):
        if buf[4] == 1:
            if hll_to_dense(buf, &n) < 0:
                wb_error(&c.out, E_HLL_CORRUPT)
                return 0
            changed[0] = True
        if sub == b'todense':
            wb_int(&c.out, 1 if changed[0] else 0)
            return 0
        wb_array(&c.out, HLL_REGS)
        for j in range(HLL_REGS):
            wb_int(&c.out, hll_dget(buf + HLL_HDR, j))
    elif sub == b'decode':
        if buf[4] != 1:
            wb_error(&c.out, "ERR HLL encoding is not sparse")
            return 0
        text = hll_decode(buf, n)
        wb_bulk(&c.out, text, len(text))
    elif sub == b'encoding':
        wb_status(&c.out, "sparse" if buf[4] == 1 else "dense")
    else:
        wb_error(&c.out, b"ERR Unknown PFDEBUG subcommand '%s'" % c.argv[1][:c.argl[1]])
    return 0


cdef int cmd_pfdebug(Client c) except -1:
    """PFDEBUG GETREG|DECODE|ENCODING|TODENSE key (GETREG and TODENSE make a
    sparse value dense, as Redis)."""
    cdef kref_t k
    cdef int st = ST_OK
    cdef uint8_t *buf = NULL
    cdef uint64_t cap
    cdef bint changed = False
    cdef bytes sub = c.argv[1][:c.argl[1]].lower()
    kref_init(&k, c.argv[2], c.argl[2])
    shard_lock(k.shard)
    try:
        if not key_find_locked(&k, c.db, c.now_ms):
            wb_error(&c.out, "ERR The specified key does not exist")
            return 0
        st = hll_check_locked(IT(k.item))
        if st == ST_OK:
            buf = hll_read_locked(IT(k.item), &cap)
            if buf == NULL:
                raise MemoryError()
            hll_debug_reply(c, sub, buf, IT(k.item).vlen, &changed)
            if changed:
                st = hll_write_locked(&k, buf, HLL_DENSE_SIZE, c.now_ms)
    finally:
        shard_unlock(k.shard)
        free(buf)
    return hll_reply_status(c, st)


cdef int hll_selftest() noexcept nogil:
    """PFSELFTEST's checks: 0 when all pass, else the number of the one that
    failed. (1) every dense register keeps any value 0..63 without disturbing
    its neighbours; (2) the same elements added to a sparse and to a dense
    value give the same registers and count; (3) counts of 1..50000 distinct
    elements stay within 5 standard errors (1.04/sqrt(16384) each)."""
    cdef uint8_t *sp = <uint8_t *>calloc(<uint64_t>HLL_DENSE_SIZE * 3 + 16, 1)
    cdef uint8_t *de = <uint8_t *>calloc(<uint64_t>HLL_DENSE_SIZE * 3 + 16, 1)
    cdef uint64_t sn, dn, i, card, checkpoint = 10
    cdef long j
    cdef int v, fail = 0
    cdef int h1[64]
    cdef int h2[64]
    cdef char ele[24]
    cdef double err
    if sp == NULL or de == NULL:
        free(sp); free(de)
        return -1
    for v in range(64):
        for j in range(HLL_REGS):
            hll_dput_(de + HLL_HDR, j, (v + j) & 63)
        for j in range(HLL_REGS):
            if hll_dget(de + HLL_HDR, j) != ((v + j) & 63):
                fail = 1
    sn = hll_new(sp)
    dn = hll_new(de)
    hll_to_dense(de, &dn)
    i = 1
    while i <= 50000 and not fail:
        snprintf(ele, 24, "%llu", <unsigned long long>i)
        if hll_add(sp, &sn, ele, strlen(ele), 3000) != hll_add(de, &dn, ele, strlen(ele), 3000):
            fail = 2
        if i == checkpoint:
            if hll_histo(sp, sn, h1) < 0 or hll_histo(de, dn, h2) < 0 or memcmp(h1, h2, sizeof(h1)) != 0:
                fail = 2
            card = hll_estimate(h2)
            err = (<double>card - <double>i) / <double>i
            if err < 0:
                err = -err
            if err > 5 * 1.04 / 128.0 and i >= 100:
                fail = 3
            checkpoint *= 2
        i += 1
    free(sp)
    free(de)
    return fail


cdef int cmd_pfselftest(Client c) except -1:
    cdef int r
    with nogil:
        r = hll_selftest()
    if r == 0:
        wb_ok(&c.out)
    else:
        wb_error(&c.out, b"ERR TESTFAILED check %d of the HyperLogLog self test failed" % r)
    return 0


cdef void register_hll_commands():
    register_c('pfadd', cmd_pfadd)
    register_c('pfcount', cmd_pfcount)
    register_c('pfmerge', cmd_pfmerge)
    register_c('pfdebug', cmd_pfdebug)
    register_c('pfselftest', cmd_pfselftest)
