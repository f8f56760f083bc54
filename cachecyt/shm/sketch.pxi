# Frequency sketch of the adaptive eviction policy: how often each key hash was
# seen lately, in a few bits per key, shared by every worker. Owns the sketch
# pages and nothing else; takes no lock but when it is resized (every shard's).
#
# How it works. A count-min sketch of 4-bit counters, grouped in 64-byte blocks
# (one cache line): a key hash picks one block and, in each of the block's four
# 16-byte rows, one of 32 counters. The estimate is the smallest of the four; an
# access increments only the counters equal to that smallest (conservative
# update, fewer overestimates). After `sketch_period` increments every counter
# is halved, so old popularity fades (the "reset" of TinyLFU).
#
# The sketch is made when the adaptive policy first needs it, at about 4 bytes
# per key the memory left can hold (8 counters a key), from page-sized chunks
# listed in a directory chunk (header.sketch_dir, set by CAS: the first worker
# wins, a loser frees its copy). It is read and written only under some shard
# lock, which lets sketch_fit ("resizing" below) replace it. Counters are updated without atomics: two workers bumping one counter at once
# may lose one increment, which an estimate can afford.

cdef enum:
    SKETCH_BLOCK = 64            # bytes per block: 128 counters, 4 rows of 32
    SKETCH_BLOCKS_PER_PAGE = 1024
    SKETCH_MAX = 15              # largest counter value
    SKETCH_MAX_BLOCKS = 1 << 22  # 64 Mi keys: 4096 pages, listed in one directory chunk
    SKETCH_PERIOD = 10           # halve after this many increments per key of capacity

cdef uint64_t g_sketch_keys = 0  # this process: size the sketch for this many keys (offline replay)
cdef uint64_t g_sketch_period = SKETCH_PERIOD   # increments a key of capacity between halvings


cdef inline uint8_t *_sketch_block(uint64_t h) noexcept nogil:
    """The block of hash h. The directory's first word is the block count, so a
    reader always sees the count that goes with the pages."""
    cdef uint64_t *dir = <uint64_t *>P(g_hdr.sketch_dir)
    cdef uint64_t b = (cc_mix(h) >> 20) & (dir[0] - 1)
    return (<uint8_t *>P(dir[1 + b // SKETCH_BLOCKS_PER_PAGE])) + (b % SKETCH_BLOCKS_PER_PAGE) * SKETCH_BLOCK


cdef inline uint32_t _sketch_nibble(uint64_t h, int row) noexcept nogil:
    """Counter index 0..31 of row `row` for hash h (5 bits per row from the hash)."""
    return <uint32_t>((h >> (44 + 5 * row)) & 31) if row < 4 else 0


cdef inline uint32_t _counter_get(uint8_t *blk, int row, uint32_t j) noexcept nogil:
    cdef uint8_t b = blk[row * 16 + (j >> 1)]
    return (b >> ((j & 1) * 4)) & 15


cdef inline void _counter_inc(uint8_t *blk, int row, uint32_t j) noexcept nogil:
    blk[row * 16 + (j >> 1)] += <uint8_t>(1 << ((j & 1) * 4))


cdef inline uint32_t sketch_estimate(uint64_t h) noexcept nogil:
    """Accesses seen lately for key hash h (0..15); 0 when there is no sketch."""
    cdef uint8_t *blk
    cdef uint32_t best = SKETCH_MAX, c
    cdef int row
    if g_hdr.sketch_dir == 0:
        return 0
    blk = _sketch_block(h)
    for row in range(4):
        c = _counter_get(blk, row, _sketch_nibble(h, row))
        if c < best:
            best = c
    return best


cdef void sketch_add(uint64_t h) noexcept nogil:
    """Count one access of key hash h (no-op without a sketch)."""
    cdef uint8_t *blk
    cdef uint32_t low = SKETCH_MAX, c
    cdef uint32_t j[4]
    cdef int row
    if g_hdr.sketch_dir == 0:
        return
    blk = _sketch_block(h)
    for row in range(4):
        j[row] = _sketch_nibble(h, row)
        c = _counter_get(blk, row, j[row])
        if c < low:
            low = c
    if low >= SKETCH_MAX:
        return
    for row in range(4):
        if _counter_get(blk, row, j[row]) == low:
            _counter_inc(blk, row, j[row])
    g_hdr.sketch_adds += 1
    if g_hdr.sketch_adds >= g_hdr.sketch_period:
        g_hdr.sketch_adds = 0
        _sketch_halve()


cdef void _sketch_halve() noexcept nogil:
    """Halve every counter: each nibble of each byte, a shift and a mask."""
    cdef uint64_t *dir = <uint64_t *>P(g_hdr.sketch_dir)
    cdef uint64_t pages = (dir[0] + SKETCH_BLOCKS_PER_PAGE - 1) // SKETCH_BLOCKS_PER_PAGE
    cdef uint64_t p, i, words
    cdef uint64_t *w
    words = (dir[0] if dir[0] < SKETCH_BLOCKS_PER_PAGE else SKETCH_BLOCKS_PER_PAGE) * SKETCH_BLOCK // 8
    for p in range(pages):
        w = <uint64_t *>P(dir[1 + p])
        for i in range(words):
            w[i] = (w[i] >> 1) & 0x7777777777777777ULL


cdef uint64_t _sketch_keys_wanted() noexcept nogil:
    """Keys to size the sketch for: the offline replay's capacity, or twice the
    keys held now, or what the memory left under the limit holds at about 256
    bytes a key (small items, the common case), whichever is more."""
    cdef uint64_t keys = g_sketch_keys, now = 0
    cdef uint32_t s
    cdef int64_t room = <int64_t>g_hdr.maxmemory - cc_atomic_load_i(&g_hdr.used_memory)
    if keys == 0:
        keys = <uint64_t>room // 256 if room > 0 else 0
        for s in range(g_hdr.nshards):
            now += shard_at(s).count
        if keys < 2 * now:
            keys = 2 * now
    return keys if keys > 1024 else 1024


cdef inline uint64_t _sketch_pages(uint64_t blocks) noexcept nogil:
    return (blocks + SKETCH_BLOCKS_PER_PAGE - 1) // SKETCH_BLOCKS_PER_PAGE


cdef inline uint64_t _chunk_bytes(uint64_t total, uint64_t p) noexcept nogil:
    """Bytes of page p of an array of `total` bytes cut in page-sized chunks."""
    return PAGE_SIZE if total - p * PAGE_SIZE >= PAGE_SIZE else total - p * PAGE_SIZE


cdef bint sketch_ensure() noexcept nogil:
    """Make the sketch if there is none. True when one exists afterwards. May be
    called under a shard lock (only the allocator's locks are taken)."""
    cdef uint64_t d, expected
    if g_hdr.sketch_dir:
        return True
    d = _sketch_make(_sketch_blocks_for(_sketch_keys_wanted()))
    if d == 0:
        return False
    expected = 0
    if cc_cas_u64(&g_hdr.sketch_dir, &expected, d):     # shm/ring.pxi
        _sketch_installed(d)
    else:
        _sketch_free(d)
    return True


cdef uint64_t _sketch_blocks_for(uint64_t keys) noexcept nogil:
    cdef uint64_t blocks = 1
    while blocks * 16 < keys and blocks < SKETCH_MAX_BLOCKS:
        blocks <<= 1                 # 16 keys a block: 4 bytes a key
    return blocks


cdef uint64_t _sketch_make(uint64_t blocks) noexcept nogil:
    """A zeroed sketch of `blocks` blocks: its directory chunk's offset, or 0
    when memory is short."""
    cdef uint64_t pages = _sketch_pages(blocks)
    cdef uint64_t d = slab_alloc(8 * (1 + pages)), p, n
    cdef uint64_t *dir
    if d == 0:
        return 0
    dir = <uint64_t *>P(d)
    memset(dir, 0, 8 * (1 + pages))
    dir[0] = blocks
    for p in range(pages):
        n = _chunk_bytes(blocks * SKETCH_BLOCK, p)
        dir[1 + p] = slab_alloc(n)
        if dir[1 + p] == 0:
            _sketch_free(d)
            return 0
        memset(P(dir[1 + p]), 0, n)
    return d


cdef void _sketch_installed(uint64_t d) noexcept nogil:
    """Settings that go with the sketch now in place."""
    cdef uint64_t blocks = (<uint64_t *>P(d))[0]
    g_hdr.sketch_blocks = blocks     # for INFO and the walk; readers use dir[0]
    g_hdr.sketch_period = g_sketch_period * blocks * 16
    g_hdr.sketch_adds = 0


cdef void _sketch_free(uint64_t d) noexcept nogil:
    """Free a directory and every page it lists (pages not made yet are 0)."""
    cdef uint64_t *dir = <uint64_t *>P(d)
    cdef uint64_t p, pages = _sketch_pages(dir[0])
    for p in range(pages):
        if dir[1 + p]:
            slab_free(dir[1 + p])
    slab_free(d)


# ---- resizing ----------------------------------------------------------------------
#
# The keys worth counting change with CONFIG SET maxmemory and with the size of
# the keys stored: sketch_fit (each worker's cron) compares the sketch with what
# _sketch_keys_wanted asks for now and makes a new one when it is two times too
# small or four times too big. Every access of the sketch happens under some
# shard lock (a write or a read of the key, or an eviction's sample), so the
# swap is made holding every shard: no worker can be inside the old sketch, and
# after the swap none can reach it; it is freed at once. The counts carry over:
# a key's counters sit at the same place in its block whichever the block count,
# and its block in a bigger sketch is one of the copies of its block in the
# smaller one; shrinking keeps the larger of the counters that fold together
# (estimates may only err high, as a count-min sketch's do).

cdef inline uint8_t *_sketch_block_at(uint64_t d, uint64_t b) noexcept nogil:
    return (<uint8_t *>P((<uint64_t *>P(d))[1 + b // SKETCH_BLOCKS_PER_PAGE])) + \
        (b % SKETCH_BLOCKS_PER_PAGE) * SKETCH_BLOCK


cdef void _sketch_fold(uint64_t old, uint64_t new) noexcept nogil:
    """Carry the counts of sketch `old` into the zeroed sketch `new`."""
    cdef uint64_t ob = (<uint64_t *>P(old))[0], nb = (<uint64_t *>P(new))[0], b
    cdef uint8_t *src
    cdef uint8_t *dst
    cdef int i
    cdef uint8_t x, y
    if nb >= ob:
        for b in range(nb):
            memcpy(_sketch_block_at(new, b), _sketch_block_at(old, b & (ob - 1)), SKETCH_BLOCK)
        return
    for b in range(ob):
        src = _sketch_block_at(old, b)
        dst = _sketch_block_at(new, b & (nb - 1))
        for i in range(SKETCH_BLOCK):
            x = src[i]
            y = dst[i]
            dst[i] = ((x & 0x0f) if (x & 0x0f) > (y & 0x0f) else (y & 0x0f)) | \
                ((x & 0xf0) if (x & 0xf0) > (y & 0xf0) else (y & 0xf0))


cdef bint _sketch_fit() noexcept nogil:
    """Resize the sketch if it is far from the size wanted now. Takes every
    shard lock: the caller holds none. True when it was resized."""
    cdef uint64_t old = g_hdr.sketch_dir, want, have, d
    if old == 0 or g_hdr.policy < POL_ALLKEYS_ADAPTIVE or g_hdr.maxmemory == 0:
        return False
    want = _sketch_blocks_for(_sketch_keys_wanted())
    have = (<uint64_t *>P(old))[0]
    if want < 2 * have and 4 * want > have:
        return False
    d = _sketch_make(want)
    if d == 0:
        return False
    shards_hold_all()
    old = g_hdr.sketch_dir           # another worker may have resized meanwhile
    if (<uint64_t *>P(old))[0] == have:
        _sketch_fold(old, d)
        cc_atomic_store(&g_hdr.sketch_dir, d)
        _sketch_installed(d)
        d = old
    shards_release()
    _sketch_free(d)                  # the old sketch, or the new one if it came too late
    return d == old


def sketch_fit():
    """Resize the adaptive policy's frequency sketch when the keys it should
    count moved far from its size (CONFIG SET maxmemory, smaller keys than
    assumed); the worker's cron calls it. True when it was resized."""
    cdef bint done = False
    with nogil:
        batch_enter()                # shm/script.pxi: a running script holds its shards
        if not script_elsewhere():
            done = _sketch_fit()
        batch_leave()
    return done


cdef void sketch_chunks(list out) except *:
    """Offsets of every chunk the sketch owns (the invariant walk, shm/check.pxi)."""
    cdef uint64_t *dir
    cdef uint64_t p, pages
    if g_hdr.sketch_dir == 0:
        return
    dir = <uint64_t *>P(g_hdr.sketch_dir)
    pages = _sketch_pages(dir[0])
    out.append(g_hdr.sketch_dir)
    for p in range(pages):
        out.append(dir[1 + p])
