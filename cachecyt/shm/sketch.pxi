# Frequency sketch of the adaptive eviction policy: how often each key hash was
# seen lately, in a few bits per key, shared by every worker. Owns the sketch
# pages and nothing else; never takes a lock.
#
# How it works. A count-min sketch of 4-bit counters, grouped in 64-byte blocks
# (one cache line): a key hash picks one block and, in each of the block's four
# 16-byte rows, one of 32 counters. The estimate is the smallest of the four; an
# access increments only the counters equal to that smallest (conservative
# update, fewer overestimates). After `sketch_period` increments every counter
# is halved, so old popularity fades (the "reset" of TinyLFU).
#
# The sketch is sized once, when the adaptive policy first needs it, to about
# 4 bytes per key the memory left can hold (8 counters a key), from page-sized
# chunks listed in a directory chunk (header.sketch_dir, set by CAS: the first
# worker wins, a loser frees its copy). It is never freed or resized while the
# segment lives, so a racing reader or writer can never touch a freed chunk.
# Counters are updated without atomics: two workers bumping one counter at once
# may lose one increment, which an estimate can afford.

cdef enum:
    SKETCH_BLOCK = 64            # bytes per block: 128 counters, 4 rows of 32
    SKETCH_BLOCKS_PER_PAGE = 1024
    SKETCH_MAX_PAGES = 8191      # one directory chunk: the block count, then page offsets
    SKETCH_MAX = 15              # largest counter value

cdef uint64_t g_sketch_keys = 0  # this process: size the sketch for this many keys (offline replay)


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


cdef bint sketch_ensure() noexcept nogil:
    """Make the sketch if there is none. True when one exists afterwards. May be
    called under a shard lock (only the allocator's locks are taken)."""
    cdef uint64_t keys, blocks = 1, pages, p, d, expected
    cdef uint64_t *dir
    if g_hdr.sketch_dir:
        return True
    keys = _sketch_keys_wanted()
    while blocks * 16 < keys and blocks < <uint64_t>SKETCH_MAX_PAGES * SKETCH_BLOCKS_PER_PAGE:
        blocks <<= 1                 # 16 keys a block: 4 bytes a key
    pages = (blocks + SKETCH_BLOCKS_PER_PAGE - 1) // SKETCH_BLOCKS_PER_PAGE
    d = slab_alloc(8 * (pages + 1))
    if d == 0:
        return False
    dir = <uint64_t *>P(d)
    dir[0] = blocks
    for p in range(pages):
        dir[1 + p] = slab_alloc(PAGE_SIZE if blocks >= SKETCH_BLOCKS_PER_PAGE else blocks * SKETCH_BLOCK)
        if dir[1 + p] == 0:
            _sketch_free(d, p)
            return False
        memset(P(dir[1 + p]), 0, PAGE_SIZE if blocks >= SKETCH_BLOCKS_PER_PAGE else blocks * SKETCH_BLOCK)
    g_hdr.sketch_period = 10 * blocks * 16
    expected = 0
    if cc_cas_u64(&g_hdr.sketch_dir, &expected, d):     # shm/ring.pxi
        g_hdr.sketch_blocks = blocks   # for INFO and the walk; readers use dir[0]
    else:
        _sketch_free(d, pages)
    return True


cdef void _sketch_free(uint64_t d, uint64_t pages) noexcept nogil:
    cdef uint64_t *dir = <uint64_t *>P(d)
    cdef uint64_t p
    for p in range(pages):
        slab_free(dir[1 + p])
    slab_free(d)


cdef void sketch_chunks(list out) except *:
    """Offsets of every chunk the sketch owns (the invariant walk, shm/check.pxi)."""
    cdef uint64_t *dir
    cdef uint64_t p, pages
    if g_hdr.sketch_dir == 0:
        return
    dir = <uint64_t *>P(g_hdr.sketch_dir)
    pages = (dir[0] + SKETCH_BLOCKS_PER_PAGE - 1) // SKETCH_BLOCKS_PER_PAGE
    out.append(g_hdr.sketch_dir)
    for p in range(pages):
        out.append(dir[1 + p])
