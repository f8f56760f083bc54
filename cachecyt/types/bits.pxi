# Bit operations on string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
# BITFIELD_RO, with Redis 7.0's replies and error texts.
#
# Bits are numbered from the most significant bit of byte 0. A value is read a
# window at a time (bits_read: an integer-encoded value reads as its digits,
# bytes past the end as zeros) and written back only where it changed, so a
# small operation on a big value in extents neither copies nor allocates it.
# Growing a value (SETBIT or BITFIELD past the end) goes through SETRANGE's
# str_setrange_locked (types/string.pxi), which zero-fills.
#
# Must not: run Python under a shard lock. Every write here is deterministic
# given the key's state, so the WAL logs the command as asked (shm/wal.pxi).

cdef extern from *:
    """
    static uint64_t bits_popcount(const unsigned char *p, uint64_t n) {
        uint64_t c = 0, w;
        while (n >= 8) { memcpy(&w, p, 8); c += (uint64_t)__builtin_popcountll(w); p += 8; n -= 8; }
        while (n--) c += (uint64_t)__builtin_popcount(*p++);
        return c;
    }
    /* Field of `bits` bits at bit `off` of p (big-endian bit order). */
    static uint64_t bits_get_field(const unsigned char *p, uint64_t off, int bits) {
        uint64_t v = 0;
        for (int i = 0; i < bits; i++, off++)
            v = (v << 1) | ((p[off >> 3] >> (7 - (off & 7))) & 1);
        return v;
    }
    static void bits_set_field(unsigned char *p, uint64_t off, int bits, uint64_t v) {
        for (int i = bits - 1; i >= 0; i--, off++) {
            unsigned char m = (unsigned char)(1u << (7 - (off & 7)));
            if ((v >> i) & 1) p[off >> 3] |= m; else p[off >> 3] &= (unsigned char)~m;
        }
    }
    static int64_t bits_sign_extend(uint64_t v, int bits) {
        if (bits < 64 && (v & ((uint64_t)1 << (bits - 1)))) v |= UINT64_MAX << bits;
        return (int64_t)v;
    }
    /* Overflow of value + incr in an unsigned field of `bits` bits: 0 when it
       fits, else 1 (too big) or -1 (below 0), with *out the value to store for
       WRAP (wrapped) or SAT (clamped); ow: 0 wrap, 1 sat, 2 fail. */
    static int bits_overflow_u(uint64_t value, int64_t incr, int bits, int ow, uint64_t *out) {
        uint64_t max = bits == 64 ? UINT64_MAX : (((uint64_t)1 << bits) - 1);
        int64_t room_up = (int64_t)(max - value), room_down = -(int64_t)value;
        int dir = 0;
        if (value > max || (incr > 0 && incr > room_up)) dir = 1;
        else if (incr < 0 && incr < room_down) dir = -1;
        if (!dir) return 0;
        if (ow == 0) *out = (value + (uint64_t)incr) & ~(UINT64_MAX << bits);
        else if (ow == 1) *out = dir > 0 ? max : 0;
        return dir;
    }
    static int bits_overflow_i(int64_t value, int64_t incr, int bits, int ow, int64_t *out) {
        int64_t max = bits == 64 ? INT64_MAX : (((int64_t)1 << (bits - 1)) - 1);
        int64_t min = -max - 1;
        int64_t room_up = (int64_t)((uint64_t)max - (uint64_t)value);
        int64_t room_down = (int64_t)((uint64_t)min - (uint64_t)value);
        int dir = 0;
        if (value > max || (bits != 64 && incr > room_up) || (value >= 0 && incr > 0 && incr > room_up))
            dir = 1;
        else if (value < min || (bits != 64 && incr < room_down) || (value < 0 && incr < 0 && incr < room_down))
            dir = -1;
        if (!dir) return 0;
        if (ow == 0) {
            uint64_t s = (uint64_t)value + (uint64_t)incr;
            if (bits < 64) {
                if (s & ((uint64_t)1 << (bits - 1))) s |= UINT64_MAX << bits;
                else s &= ~(UINT64_MAX << bits);
            }
            *out = (int64_t)s;
        } else if (ow == 1) *out = dir > 0 ? max : min;
        return dir;
    }
    """
    uint64_t bits_popcount(const unsigned char *p, uint64_t n) nogil
    uint64_t bits_get_field(const unsigned char *p, uint64_t off, int bits) nogil
    void bits_set_field(unsigned char *p, uint64_t off, int bits, uint64_t v) nogil
    int64_t bits_sign_extend(uint64_t v, int bits) nogil
    int bits_overflow_u(uint64_t value, int64_t incr, int bits, int ow, uint64_t *out) nogil
    int bits_overflow_i(int64_t value, int64_t incr, int bits, int ow, int64_t *out) nogil

cdef const char *E_BITOFFSET = "ERR bit offset is not an integer or out of range"
cdef const char *E_BITVALUE = "ERR bit is not an integer or out of range"
cdef const char *E_BITARG = "ERR The bit argument must be 1 or 0."
cdef const char *E_BITOPNOT = "ERR BITOP NOT must be called with a single source key."
cdef const char *E_BFTYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
                             "Note that u64 is not supported but i64 is.")
cdef const char *E_BFOVERFLOW = "ERR Invalid OVERFLOW type specified"
cdef const char *E_BFRO = "ERR BITFIELD_RO only supports the GET subcommand"

cdef enum:
    BITS_CHUNK = 4096
    BF_GET = 0
    BF_SET = 1
    BF_INCRBY = 2
    BF_WRAP = 0
    BF_SAT = 1
    BF_FAIL = 2
    BITS_RANGE_OK = 0            # range arguments of BITCOUNT / BITPOS, checked ahead
    BITS_RANGE_NOTINT = 1
    BITS_RANGE_SYNTAX = 2
    BITS_RANGE_EMPTY = 3         # both negative and start > end: nothing to count


ctypedef struct bfop_t:          # one BITFIELD operation
    uint64_t offset              # bit offset
    int64_t value                # SET value or INCRBY increment
    int op                       # BF_GET, BF_SET, BF_INCRBY
    int overflow                 # BF_WRAP, BF_SAT, BF_FAIL
    int bits                     # width, 1..64
    int sign                     # 1 signed (i), 0 unsigned (u)


# ================================ Bits API ==================================

cdef void bits_read(item_t *it, uint64_t vlen, uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    """Value bytes pos..pos+n of a string item of vlen bytes into dst; bytes
    past the end read as zeros. An integer-encoded value reads as its digits."""
    cdef char tmp[24]
    cdef uint64_t have = 0
    if pos < vlen:
        have = vlen - pos if vlen - pos < n else n
        if it.encoding == ENC_INT:
            fmt_i64(tmp, item_int(it))
            memcpy(dst, tmp + pos, have)
        else:
            item_read(it, it.klen + pos, dst, have)
    if have < n:
        memset(dst + have, 0, n - have)


cdef void bits_write_locked(item_t *it, uint64_t pos, const char *src, uint64_t n) noexcept nogil:
    """Overwrite value bytes pos..pos+n of a raw string item (within its length)."""
    item_write(it, it.klen + pos, src, n)
    it.encoding = ENC_RAW


cdef int bits_grow_locked(kref_t *k, uint64_t minlen, bint *grew, int64_t now_ms) noexcept nogil:
    """Make the found (or absent) string key a raw value of at least minlen bytes
    (zero-padded), as Redis's lookupStringForBitCommand. ST_OK or ST_NOMEM."""
    cdef char zero = 0
    cdef char digits[24]
    cdef uint64_t cur = str_len(IT(k.item)) if k.item else 0, newlen
    cdef int n
    grew[0] = False
    if not k.item or cur < minlen:
        grew[0] = True
        return str_setrange_locked(k, minlen - 1, &zero, 1, &newlen, now_ms)
    if IT(k.item).encoding == ENC_INT:
        n = fmt_i64(digits, item_int(IT(k.item)))
        return str_store_locked(k, digits, <uint64_t>n, 0, True, STORE_RAW, now_ms)
    return ST_OK


cdef uint64_t bits_count_range(item_t *it, uint64_t vlen, uint64_t sbit, uint64_t ebit) noexcept nogil:
    """Set bits in bit positions sbit..ebit (inclusive, within the value)."""
    cdef unsigned char buf[BITS_CHUNK]
    cdef uint64_t pos = sbit >> 3, last = ebit >> 3, step, total = 0
    cdef unsigned char first_mask = <unsigned char>(0xff >> (sbit & 7))
    cdef unsigned char last_mask = <unsigned char>(0xff << (7 - (ebit & 7)))
    cdef unsigned char b
    while pos <= last:
        step = last - pos + 1
        if step > BITS_CHUNK:
            step = BITS_CHUNK
        bits_read(it, vlen, pos, <char *>buf, step)
        if pos == sbit >> 3:
            buf[0] &= first_mask
        if pos + step - 1 == last:
            buf[step - 1] &= last_mask
        total += bits_popcount(buf, step)
        pos += step
    return total


cdef int64_t bits_find(item_t *it, uint64_t vlen, uint64_t sbit, uint64_t ebit, int bit) noexcept nogil:
    """The first position in sbit..ebit whose bit is `bit`, or -1."""
    cdef unsigned char buf[BITS_CHUNK]
    cdef uint64_t pos = sbit >> 3, last = ebit >> 3, step, i
    cdef unsigned char v
    cdef int j
    while pos <= last:
        step = last - pos + 1
        if step > BITS_CHUNK:
            step = BITS_CHUNK
        bits_read(it, vlen, pos, <char *>buf, step)
        for i in range(step):
            v = buf[i] if bit else <unsigned char>~buf[i]
            if pos + i == sbit >> 3:
                v &= <unsigned char>(0xff >> (sbit & 7))
            if pos + i == last:
                v &= <unsigned char>(0xff << (7 - (ebit & 7)))
            if v:
                j = 0
                while not (v & (0x80 >> j)):
                    j += 1
                return <int64_t>((pos + i) * 8 + <uint64_t>j)
        pos += step
    return -1


cdef bint bits_range(int64_t start, int64_t end, int64_t total, int64_t *s, int64_t *e) noexcept nogil:
    """Redis's index rules for a range over `total` units: False when empty."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= total:
        end = total - 1
    s[0] = start
    e[0] = end
    return start <= end


# ---- argument parsing -----------------------------------------------------------

cdef int bits_offset_arg(Client c, uint64_t i, int hash_bits, uint64_t *out) except -2:
    """A bit offset argument (BITFIELD: `#n` means n * hash_bits), within
    proto-max-bulk-len bytes. -1 after replying the error."""
    cdef int64_t v
    cdef bint hashed = hash_bits > 0 and c.argl[i] > 0 and c.argv[i][0] == 35     # '#'
    if not parse_i64(c.argv[i] + hashed, c.argl[i] - hashed, &v):
        wb_error(&c.out, E_BITOFFSET)
        return -1
    if hashed:
        if v > 0 and v > 9223372036854775807LL // hash_bits or v < 0:
            wb_error(&c.out, E_BITOFFSET)
            return -1
        v *= hash_bits
    if v < 0 or <uint64_t>(v >> 3) >= g_hdr.proto_max_bulk_len:
        wb_error(&c.out, E_BITOFFSET)
        return -1
    out[0] = <uint64_t>v
    return 0


cdef int bits_unit_arg(Client c, uint64_t i) noexcept nogil:
    """BYTE (0), BIT (1), or -1."""
    if arg_eq(c, i, "bit"):
        return 1
    if arg_eq(c, i, "byte"):
        return 0
    return -1


# ================================ Bits commands ==================================

cdef int cmd_setbit(Client c) except -1:
    cdef uint64_t off, newlen, vlen
    cdef int64_t on
    cdef kref_t k
    cdef int st = ST_OK
    cdef char old = 0, nb
    cdef unsigned char mask
    cdef bint changed = False
    if bits_offset_arg(c, 2, 0, &off) < 0:
        return 0
    if not arg_i64(c, 3, &on) or on & ~1:
        wb_error(&c.out, E_BITVALUE)
        return 0
    mask = <unsigned char>(0x80 >> (off & 7))
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        if k.item and IT(k.item).type != T_STRING:
            st = ST_WRONGTYPE
        else:
            vlen = str_len(IT(k.item)) if k.item else 0
            if k.item:
                bits_read(IT(k.item), vlen, off >> 3, &old, 1)
            if not k.item or (off >> 3) >= vlen or ((old & mask) != 0) != (on != 0):
                nb = <char>((old & ~mask) | (mask if on else 0))
                st = str_setrange_locked(&k, off >> 3, &nb, 1, &newlen, c.now_ms)
                changed = True
        shard_unlock(k.shard)
    if st != ST_OK:
        return _reply_status(c, st)
    if changed:
        notify_arg(c, NK_STRING, "setbit", 1)
    else:
        c.flags |= CL_UNCHANGED
    wb_int(&c.out, 1 if old & mask else 0)
    return 0


cdef int cmd_getbit(Client c) except -1:
    cdef uint64_t off
    cdef kref_t k
    cdef int st = ST_OK
    cdef char b = 0
    if bits_offset_arg(c, 2, 0, &off) < 0:
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            if IT(k.item).type != T_STRING:
                st = ST_WRONGTYPE
            else:
                bits_read(IT(k.item), str_len(IT(k.item)), off >> 3, &b, 1)
        shard_unlock(k.shard)
    if st != ST_OK:
        return _reply_status(c, st)
    wb_int(&c.out, 1 if b & (0x80 >> (off & 7)) else 0)
    return 0


cdef int bits_range_args(Client c, uint64_t si, uint64_t ei, uint64_t ui, int64_t *start,
                         int64_t *end, bint *isbit) noexcept nogil:
    """BITCOUNT's start, end and unit arguments (ui 0: none), checked in Redis's
    order; a BITS_RANGE_* status."""
    if not arg_i64(c, si, start) or not arg_i64(c, ei, end):
        return BITS_RANGE_NOTINT
    if start[0] < 0 and end[0] < 0 and start[0] > end[0]:
        return BITS_RANGE_EMPTY
    isbit[0] = False
    if ui:
        if bits_unit_arg(c, ui) < 0:
            return BITS_RANGE_SYNTAX
        isbit[0] = bits_unit_arg(c, ui) == 1
    return BITS_RANGE_OK


cdef int cmd_bitcount(Client c) except -1:
    """As Redis: a missing key answers 0 and a wrong type WRONGTYPE before the
    range arguments are looked at."""
    cdef kref_t k
    cdef int st = ST_OK, rst = BITS_RANGE_OK
    cdef int64_t start = 0, end = -1, s, e, total
    cdef bint isbit = False, found = False
    cdef uint64_t vlen, count = 0
    if c.argc == 4 or c.argc == 5:
        rst = bits_range_args(c, 2, 3, 4 if c.argc == 5 else 0, &start, &end, &isbit)
    elif c.argc != 2:
        rst = BITS_RANGE_SYNTAX
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            found = True
            if IT(k.item).type != T_STRING:
                st = ST_WRONGTYPE
            elif rst == BITS_RANGE_OK:
                vlen = str_len(IT(k.item))
                total = <int64_t>vlen * (8 if isbit else 1)
                if bits_range(start, end, total, &s, &e):
                    if not isbit:
                        s *= 8
                        e = e * 8 + 7
                    count = bits_count_range(IT(k.item), vlen, <uint64_t>s, <uint64_t>e)
        shard_unlock(k.shard)
    if st != ST_OK:
        return _reply_status(c, st)
    if found and rst == BITS_RANGE_NOTINT:
        wb_error(&c.out, E_NOTINT)
    elif found and rst == BITS_RANGE_SYNTAX:
        wb_error(&c.out, E_SYNTAX)
    else:
        wb_int(&c.out, <int64_t>count)
    return 0


cdef int bitpos_args(Client c, int64_t *start, int64_t *end, bint *isbit,
                     bint *end_given) noexcept nogil:
    """BITPOS's range arguments in Redis's order (start, unit, end)."""
    isbit[0] = False
    end_given[0] = False
    if c.argc < 3 or c.argc > 6:
        return BITS_RANGE_SYNTAX
    if c.argc == 3:
        return BITS_RANGE_OK
    if not arg_i64(c, 3, start):
        return BITS_RANGE_NOTINT
    if c.argc == 6:
        if bits_unit_arg(c, 5) < 0:
            return BITS_RANGE_SYNTAX
        isbit[0] = bits_unit_arg(c, 5) == 1
    if c.argc >= 5:
        if not arg_i64(c, 4, end):
            return BITS_RANGE_NOTINT
        end_given[0] = True
    return BITS_RANGE_OK


cdef int cmd_bitpos(Client c) except -1:
    cdef kref_t k
    cdef int64_t bit, start = 0, end = -1, s, e, total, pos = -1
    cdef int st = ST_OK, rst
    cdef bint isbit, end_given, found = False
    cdef uint64_t vlen
    if not arg_i64(c, 2, &bit):
        wb_error(&c.out, E_NOTINT)
        return 0
    if bit != 0 and bit != 1:
        wb_error(&c.out, E_BITARG)
        return 0
    rst = bitpos_args(c, &start, &end, &isbit, &end_given)
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            found = True
            if IT(k.item).type != T_STRING:
                st = ST_WRONGTYPE
            elif rst == BITS_RANGE_OK:
                vlen = str_len(IT(k.item))
                total = <int64_t>vlen * (8 if isbit else 1)
                if not bits_range(start, end, total, &s, &e):
                    pos = -1
                else:
                    if not isbit:
                        s *= 8
                        e = e * 8 + 7
                    pos = bits_find(IT(k.item), vlen, <uint64_t>s, <uint64_t>e, <int>bit)
                    if pos < 0 and bit == 0 and not end_given:
                        pos = ((e >> 3) + 1) * 8      # the zeros right of the value
        else:
            pos = -1 if bit else 0
        shard_unlock(k.shard)
    if st != ST_OK:
        return _reply_status(c, st)
    if found and rst == BITS_RANGE_NOTINT:
        wb_error(&c.out, E_NOTINT)
    elif found and rst == BITS_RANGE_SYNTAX:
        wb_error(&c.out, E_SYNTAX)
    else:
        wb_int(&c.out, pos)
    return 0


# ---- BITOP ---------------------------------------------------------------------------

cdef int bitop_kind(Client c) noexcept nogil:
    """0 AND, 1 OR, 2 XOR, 3 NOT, or -1."""
    if arg_eq(c, 1, "and"):
        return 0
    if arg_eq(c, 1, "or"):
        return 1
    if arg_eq(c, 1, "xor"):
        return 2
    if arg_eq(c, 1, "not"):
        return 3
    return -1


cdef void bitop_apply(int op, char **src, uint64_t *lens, uint64_t n, unsigned char *out,
                      uint64_t maxlen) noexcept nogil:
    """out[0..maxlen] = op over the n sources (shorter ones zero-padded)."""
    cdef uint64_t i, j
    cdef unsigned char acc, b
    for j in range(maxlen):
        acc = <unsigned char>src[0][j] if j < lens[0] else 0
        if op == 3:
            acc = ~acc
        for i in range(1, n):
            b = <unsigned char>src[i][j] if j < lens[i] else 0
            if op == 0:
                acc &= b
            elif op == 1:
                acc |= b
            else:
                acc ^= b
        out[j] = acc


cdef int bitop_locked(Client c, int op, kref_t *ks, uint64_t n, uint64_t *maxlen) noexcept nogil:
    """BITOP with every key's shard locked: ks[0] the destination, ks[1..n] the
    sources. ST_OK, ST_WRONGTYPE or ST_NOMEM."""
    cdef char **src = <char **>malloc(n * sizeof(char *))
    cdef uint64_t *lens = <uint64_t *>malloc(n * 8)
    cdef unsigned char *out = NULL
    cdef uint64_t i
    cdef int st = ST_OK
    maxlen[0] = 0
    if src == NULL or lens == NULL:
        free(src); free(lens)
        return ST_NOMEM
    memset(src, 0, n * sizeof(char *))
    memset(lens, 0, n * 8)
    for i in range(n):
        if not key_find_locked(&ks[i + 1], c.db, c.now_ms):
            continue
        if IT(ks[i + 1].item).type != T_STRING:
            st = ST_WRONGTYPE
            break
        lens[i] = str_len(IT(ks[i + 1].item))
        src[i] = <char *>malloc(lens[i] + 1)
        if src[i] == NULL:
            st = ST_NOMEM
            break
        bits_read(IT(ks[i + 1].item), lens[i], 0, src[i], lens[i])
        if lens[i] > maxlen[0]:
            maxlen[0] = lens[i]
    if st == ST_OK and maxlen[0]:
        out = <unsigned char *>malloc(maxlen[0])
        if out == NULL:
            st = ST_NOMEM
        else:
            bitop_apply(op, src, lens, n, out, maxlen[0])
    if st == ST_OK:
        key_find_locked(&ks[0], c.db, c.now_ms)
        if maxlen[0]:
            st = str_store_locked(&ks[0], <char *>out, maxlen[0], 0, False, STORE_RAW, c.now_ms)
            if st == ST_OK:
                notify(NK_STRING, "set", ks[0].key, ks[0].klen, c.db)
        elif ks[0].item:
            key_remove_locked(&ks[0])
            notify(NK_GENERIC, "del", ks[0].key, ks[0].klen, c.db)
    for i in range(n):
        free(src[i])
    free(src); free(lens); free(out)
    return st


cdef int cmd_bitop(Client c) except -1:
    cdef int op = bitop_kind(c), m, st
    cdef uint64_t nkeys = c.argc - 2, maxlen = 0
    cdef kref_t *ks
    cdef uint32_t *shards
    if op < 0:
        wb_error(&c.out, E_SYNTAX)
        return 0
    if op == 3 and c.argc != 4:
        wb_error(&c.out, E_BITOPNOT)
        return 0
    ks = <kref_t *>malloc(sizeof(kref_t) * nkeys)
    shards = <uint32_t *>malloc(4 * nkeys)
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    m = lock_keys(c, 2, 1, ks, shards)
    with nogil:
        st = bitop_locked(c, op, ks, nkeys - 1, &maxlen)
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    if st != ST_OK:
        return _reply_status(c, st)
    wb_int(&c.out, <int64_t>maxlen)
    return 0


# ---- BITFIELD ------------------------------------------------------------------------

cdef int bitfield_type_arg(Client c, uint64_t i, bfop_t *op) noexcept:
    """`i8`, `u16` ...: 0, or -1 after replying the error."""
    cdef int64_t bits
    if c.argl[i] > 0 and c.argv[i][0] in (105, 117):         # 'i', 'u'
        op.sign = c.argv[i][0] == 105
        if parse_i64(c.argv[i] + 1, c.argl[i] - 1, &bits) and 1 <= bits <= (64 if op.sign else 63):
            op.bits = <int>bits
            return 0
    wb_error(&c.out, E_BFTYPE)
    return -1


cdef int64_t bitfield_parse(Client c, bfop_t *ops, uint64_t *highest, bint *writes) except -2:
    """The operations of a BITFIELD into ops: their number, or -1 after replying
    an error. highest: the last bit a write reaches."""
    cdef uint64_t j = 2, rem
    cdef int64_t n = 0
    cdef int overflow = BF_WRAP
    cdef bfop_t *op
    writes[0] = False
    highest[0] = 0
    while j < c.argc:
        rem = c.argc - j - 1
        op = &ops[n]
        if arg_eq(c, j, "get") and rem >= 2:
            op.op = BF_GET
        elif arg_eq(c, j, "set") and rem >= 3:
            op.op = BF_SET
        elif arg_eq(c, j, "incrby") and rem >= 3:
            op.op = BF_INCRBY
        elif arg_eq(c, j, "overflow") and rem >= 1:
            if arg_eq(c, j + 1, "wrap"):
                overflow = BF_WRAP
            elif arg_eq(c, j + 1, "sat"):
                overflow = BF_SAT
            elif arg_eq(c, j + 1, "fail"):
                overflow = BF_FAIL
            else:
                wb_error(&c.out, E_BFOVERFLOW)
                return -1
            j += 2
            continue
        else:
            wb_error(&c.out, E_SYNTAX)
            return -1
        if bitfield_type_arg(c, j + 1, op) < 0:
            return -1
        if bits_offset_arg(c, j + 2, op.bits, &op.offset) < 0:
            return -1
        op.value = 0
        op.overflow = overflow
        if op.op != BF_GET:
            writes[0] = True
            if op.offset + <uint64_t>op.bits - 1 > highest[0]:
                highest[0] = op.offset + <uint64_t>op.bits - 1
            if not arg_i64(c, j + 3, &op.value):
                wb_error(&c.out, E_NOTINT)
                return -1
        n += 1
        j += 4 if op.op != BF_GET else 3
    return n


cdef int bitfield_write_op(bfop_t *op, unsigned char *buf, uint64_t rel, wbuf_t *w) noexcept nogil:
    """A SET or INCRBY on the 9-byte window buf (the field at bit rel): replies
    and updates buf. 1 when the stored value changed, 0 when not, -1 when
    OVERFLOW FAIL refused it (nil reply, nothing written)."""
    cdef uint64_t uold, unew, uwrapped
    cdef int64_t iold, inew, iwrapped
    cdef int ov
    if op.sign:
        iold = bits_sign_extend(bits_get_field(buf, rel, op.bits), op.bits)
        if op.op == BF_INCRBY:
            ov = bits_overflow_i(iold, op.value, op.bits, op.overflow, &iwrapped)
            inew = iwrapped if ov else <int64_t>(<uint64_t>iold + <uint64_t>op.value)
        else:
            ov = bits_overflow_i(op.value, 0, op.bits, op.overflow, &iwrapped)
            inew = iwrapped if ov else op.value
        if ov and op.overflow == BF_FAIL:
            wb_null(w)
            return -1
        wb_int(w, inew if op.op == BF_INCRBY else iold)
        bits_set_field(buf, rel, op.bits, <uint64_t>inew)
        return inew != iold
    uold = bits_get_field(buf, rel, op.bits)
    if op.op == BF_INCRBY:
        ov = bits_overflow_u(uold, op.value, op.bits, op.overflow, &uwrapped)
        unew = uwrapped if ov else uold + <uint64_t>op.value
    else:
        ov = bits_overflow_u(<uint64_t>op.value, 0, op.bits, op.overflow, &uwrapped)
        unew = uwrapped if ov else <uint64_t>op.value
    if ov and op.overflow == BF_FAIL:
        wb_null(w)
        return -1
    wb_int(w, <int64_t>(unew if op.op == BF_INCRBY else uold))
    bits_set_field(buf, rel, op.bits, unew)
    return unew != uold


cdef int bitfield_run_locked(Client c, kref_t *k, bfop_t *ops, int64_t n, bint grew) noexcept nogil:
    """Run the operations on the found key (grown already if any writes);
    returns how many changed it."""
    cdef unsigned char buf[9]
    cdef uint64_t vlen = 0, byte, rel, nbytes
    cdef int64_t i, changes = 0
    cdef int r
    cdef item_t *it = IT(k.item) if k.item else NULL
    if it != NULL:
        vlen = str_len(it)
    wb_array(&c.out, n)
    for i in range(n):
        byte = ops[i].offset >> 3
        rel = ops[i].offset & 7
        if it != NULL:
            bits_read(it, vlen, byte, <char *>buf, 9)
        else:
            memset(buf, 0, 9)
        if ops[i].op == BF_GET:
            if ops[i].sign:
                wb_int(&c.out, bits_sign_extend(bits_get_field(buf, rel, ops[i].bits), ops[i].bits))
            else:
                wb_int(&c.out, <int64_t>bits_get_field(buf, rel, ops[i].bits))
            continue
        r = bitfield_write_op(&ops[i], buf, rel, &c.out)
        if r < 0:
            continue
        if r or grew:
            changes += 1
        nbytes = (rel + <uint64_t>ops[i].bits + 7) >> 3
        bits_write_locked(it, byte, <char *>buf, nbytes)
    if changes:
        item_bump(it)
        item_touch(it, c.now_ms)
    return <int>changes


cdef int _bitfield(Client c, bint readonly_cmd) except -1:
    cdef bfop_t *ops = <bfop_t *>malloc(sizeof(bfop_t) * (c.argc // 2 + 1))
    cdef int64_t n
    cdef uint64_t highest
    cdef bint writes, grew = False
    cdef kref_t k
    cdef int st = ST_OK, changes = 0
    if ops == NULL:
        raise MemoryError()
    n = bitfield_parse(c, ops, &highest, &writes)
    if n < 0:
        free(ops)
        return 0
    if writes and readonly_cmd:
        free(ops)
        wb_error(&c.out, E_BFRO)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        key_find_locked(&k, c.db, c.now_ms)
        if k.item and IT(k.item).type != T_STRING:
            st = ST_WRONGTYPE
        elif writes:
            st = bits_grow_locked(&k, (highest >> 3) + 1, &grew, c.now_ms)
        if st == ST_OK:
            changes = bitfield_run_locked(c, &k, ops, n, grew)
        shard_unlock(k.shard)
    free(ops)
    if st != ST_OK:
        return _reply_status(c, st)
    if changes:
        notify_arg(c, NK_STRING, "setbit", 1)
    elif not readonly_cmd:
        c.flags |= CL_UNCHANGED             # only a write's flag: persist_end clears it
    return 0


cdef int cmd_bitfield(Client c) except -1:
    return _bitfield(c, False)


cdef int cmd_bitfield_ro(Client c) except -1:
    return _bitfield(c, True)


cdef void register_bits_commands():
    register_c('setbit', cmd_setbit)
    register_c('getbit', cmd_getbit)
    register_c('bitcount', cmd_bitcount)
    register_c('bitpos', cmd_bitpos)
    register_c('bitop', cmd_bitop)
    register_c('bitfield', cmd_bitfield)
    register_c('bitfield_ro', cmd_bitfield_ro)
