# Sorted sets: the member index of skiplist-encoded zsets (member -> node, O(1)).
#
# An open-addressing table (linear probing, backward-shift delete) of its own.
# Slots {hash, node offset} live in blocks of at most ZX_BLOCK_SLOTS slots (one
# page); a directory chunk holds the block offsets, so the table never needs
# more than one page contiguous. A table smaller than one block has one block of
# exactly its size. It doubles past 3/4 full (rehash into a new table, then free
# the old one) and never shrinks. Every function expects the key's shard lock.

cdef enum:
    ZX_BLOCK_SHIFT = 12
    ZX_BLOCK_SLOTS = 4096        # 4096 * 16 bytes = one page
    ZX_MIN_SLOTS = 64

ctypedef struct zxslot_t:
    uint64_t hash
    uint64_t node                # znode_t offset; 0 = empty


cdef inline zxslot_t *zx_slot(uint64_t dir_off, uint64_t i) noexcept nogil:
    cdef uint64_t *dirp = <uint64_t *>P(dir_off)
    return (<zxslot_t *>P(dirp[i >> ZX_BLOCK_SHIFT])) + (i & (ZX_BLOCK_SLOTS - 1))


cdef uint64_t zx_new(uint64_t slots) noexcept nogil:
    """A table of `slots` (a power of two) empty slots: its directory, or 0."""
    cdef uint64_t nblocks = (slots + ZX_BLOCK_SLOTS - 1) >> ZX_BLOCK_SHIFT
    cdef uint64_t per = slots if slots < ZX_BLOCK_SLOTS else ZX_BLOCK_SLOTS
    cdef uint64_t dir_off = slab_alloc(8 * nblocks)
    cdef uint64_t b, blk
    if dir_off == 0:
        return 0
    for b in range(nblocks):
        blk = slab_alloc(per * sizeof(zxslot_t))
        if blk == 0:
            while b > 0:
                b -= 1
                slab_free((<uint64_t *>P(dir_off))[b])
            slab_free(dir_off)
            return 0
        memset(P(blk), 0, per * sizeof(zxslot_t))
        (<uint64_t *>P(dir_off))[b] = blk
    return dir_off


cdef void zx_free(uint64_t dir_off, uint64_t mask) noexcept nogil:
    cdef uint64_t nblocks = (mask + ZX_BLOCK_SLOTS) >> ZX_BLOCK_SHIFT, b
    for b in range(nblocks):
        slab_free((<uint64_t *>P(dir_off))[b])
    slab_free(dir_off)


cdef uint64_t zx_memory(uint64_t dir_off, uint64_t mask) noexcept nogil:
    cdef uint64_t nblocks = (mask + ZX_BLOCK_SLOTS) >> ZX_BLOCK_SHIFT, b
    cdef uint64_t total = slab_chunk_size(dir_off)
    for b in range(nblocks):
        total += slab_chunk_size((<uint64_t *>P(dir_off))[b])
    return total


cdef int64_t zx_find(uint64_t dir_off, uint64_t mask, uint64_t h, const char *m,
                     uint64_t mlen) noexcept nogil:
    """The slot holding member m, or -1."""
    cdef uint64_t i = h & mask
    cdef zxslot_t *sl
    cdef znode_t *nd
    while True:
        sl = zx_slot(dir_off, i)
        if sl.node == 0:
            return -1
        if sl.hash == h:
            nd = ZN(sl.node)
            if nd.mlen == mlen and memcmp(zn_member(nd), m, mlen) == 0:
                return <int64_t>i
        i = (i + 1) & mask


cdef void zx_put(uint64_t dir_off, uint64_t mask, uint64_t h, uint64_t node) noexcept nogil:
    """Insert (the member must be absent and the table not full)."""
    cdef uint64_t i = h & mask
    cdef zxslot_t *sl
    while True:
        sl = zx_slot(dir_off, i)
        if sl.node == 0:
            sl.hash = h
            sl.node = node
            return
        i = (i + 1) & mask


cdef void zx_delete_at(uint64_t dir_off, uint64_t mask, uint64_t i) noexcept nogil:
    """Empty slot i and shift later entries of the run back (no tombstones)."""
    cdef uint64_t j = i, home
    cdef zxslot_t *si
    cdef zxslot_t *sj
    while True:
        j = (j + 1) & mask
        sj = zx_slot(dir_off, j)
        if sj.node == 0:
            break
        home = sj.hash & mask
        # move j into the hole i unless its home lies cyclically in (i, j]
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            si = zx_slot(dir_off, i)
            si[0] = sj[0]
            i = j
    zx_slot(dir_off, i).node = 0


cdef int zx_grow(zroot_t *r) noexcept nogil:
    """Double the index. ST_OK or ST_NOMEM (the old index stays)."""
    cdef uint64_t nmask = r.idx_mask * 2 + 1, i
    cdef uint64_t nd = zx_new(nmask + 1)
    cdef zxslot_t *sl
    if nd == 0:
        return ST_NOMEM
    for i in range(r.idx_mask + 1):
        sl = zx_slot(r.idx, i)
        if sl.node:
            zx_put(nd, nmask, sl.hash, sl.node)
    zx_free(r.idx, r.idx_mask)
    r.idx = nd
    r.idx_mask = nmask
    return ST_OK
