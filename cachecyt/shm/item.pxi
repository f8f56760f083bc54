# Items: one record per key, in one chunk. Data is key || value, inline after the
# header when it fits in a page, otherwise spread over whole-page extents whose
# offsets follow the header (big values never need one contiguous block).

cdef inline item_t *IT(uint64_t off) noexcept nogil:
    return <item_t *>(g_base + off)

cdef inline char *item_inline(item_t *it) noexcept nogil:
    return (<char *>it) + ITEM_HDR

cdef inline uint64_t *item_extents(item_t *it) noexcept nogil:
    """The offsets after the header: extents, or index chunks (IF_EXTENTS2)."""
    return <uint64_t *>((<char *>it) + ITEM_HDR)

cdef inline uint64_t item_nextents(uint64_t datalen) noexcept nogil:
    return (datalen + PAGE_SIZE - 1) >> PAGE_SHIFT

cdef inline uint64_t item_nindex(uint64_t nextents) noexcept nogil:
    """Index chunks for an indirect item (each lists INDEX_SLOTS extents)."""
    return (nextents + INDEX_SLOTS - 1) // INDEX_SLOTS

cdef inline uint64_t item_dirlen(item_t *it) noexcept nogil:
    """Offsets stored after the header of an item with extents."""
    cdef uint64_t n = item_nextents(it.klen + it.vlen)
    return item_nindex(n) if it.iflags & IF_EXTENTS2 else n

cdef inline uint64_t *item_extent_slot(item_t *it, uint64_t e) noexcept nogil:
    """Where the offset of extent e is kept: after the header, or in an index chunk."""
    if it.iflags & IF_EXTENTS2:
        return (<uint64_t *>P(item_extents(it)[e // INDEX_SLOTS])) + (e % INDEX_SLOTS)
    return item_extents(it) + e


cdef void _item_release_data(item_t *it) noexcept nogil:
    """Free the extents (and index chunks) of an item; entries still 0 are skipped,
    so a half-built item can be released too."""
    cdef uint64_t n = item_nextents(it.klen + it.vlen), e, d
    cdef uint64_t dirlen = item_dirlen(it)
    for e in range(n):
        if (it.iflags & IF_EXTENTS2) and item_extents(it)[e // INDEX_SLOTS] == 0:
            break
        if item_extent_slot(it, e)[0]:
            slab_free(item_extent_slot(it, e)[0])
    if it.iflags & IF_EXTENTS2:
        for d in range(dirlen):
            if item_extents(it)[d]:
                slab_free(item_extents(it)[d])


cdef int _item_build_extents(item_t *it) noexcept nogil:
    """Allocate the (zeroed first) index chunks and extents of an item whose klen,
    vlen and iflags are set. 0, or -1 when out of memory (all released)."""
    cdef uint64_t n = item_nextents(it.klen + it.vlen), e, d, c
    cdef uint64_t dirlen = item_dirlen(it)
    memset(item_extents(it), 0, 8 * dirlen)
    if it.iflags & IF_EXTENTS2:
        for d in range(dirlen):
            c = slab_alloc(PAGE_SIZE)
            if c == 0:
                _item_release_data(it)
                return -1
            memset(P(c), 0, PAGE_SIZE)
            item_extents(it)[d] = c
    for e in range(n):
        c = slab_alloc(PAGE_SIZE)
        if c == 0:
            _item_release_data(it)
            return -1
        item_extent_slot(it, e)[0] = c
    return 0


cdef uint64_t item_new(uint32_t pdb, const char *key, uint64_t klen, uint64_t vlen,
                       uint8_t type, uint8_t enc, int64_t now_ms) noexcept nogil:
    """A new item holding `key` and room for `vlen` value bytes, or 0 (no memory or too
    big). Value bytes are left for the caller to write. Data past one page goes to
    extents listed after the header, or, past INDEX_SLOTS' worth of those, to
    extents listed in index chunks (IF_EXTENTS2) whose offsets follow the header."""
    cdef uint64_t datalen = klen + vlen
    cdef uint64_t off, n, dirlen = 0
    cdef uint8_t iflags = 0
    cdef item_t *it
    if ITEM_HDR + datalen > PAGE_SIZE:
        n = item_nextents(datalen)
        iflags = IF_EXTENTS
        dirlen = n
        if ITEM_HDR + 8 * n > PAGE_SIZE:
            iflags |= IF_EXTENTS2
            dirlen = item_nindex(n)
            if ITEM_HDR + 8 * dirlen > PAGE_SIZE:
                return 0
    off = slab_alloc(ITEM_HDR + (datalen if iflags == 0 else 8 * dirlen))
    if off == 0:
        return 0
    it = IT(off)
    it.iflags = iflags
    it.klen = <uint32_t>klen
    it.vlen = vlen
    if iflags and _item_build_extents(it) < 0:
        slab_free(off)
        return 0
    it.version = cc_atomic_add(&g_hdr.next_version, 1)
    it.expire_ms = 0
    it.mcflags = 0
    it.type = type
    it.encoding = enc
    it.db = <uint8_t>pdb
    it.lru_mark = lru_initial(now_ms) | (snap_mark_now() << 24)
    item_write(it, 0, key, klen)
    return off


cdef void item_free(uint64_t off) noexcept nogil:
    """Free the item and everything its value owns (a collection's chunks)."""
    cdef int saved = tn_charge_item(off)     # the bytes go back to the item's tenant
    if IT(off).type != T_STRING:
        value_release(IT(off))
    item_free_shell(off)
    tn_charge_restore(saved)


cdef void item_free_shell(uint64_t off) noexcept nogil:
    """Free the item's own chunk and extents only: its value, if a collection,
    lives on in another item (RENAME moves values this way)."""
    cdef int saved = tn_charge_item(off)
    if IT(off).iflags & IF_EXTENTS:
        _item_release_data(IT(off))
    slab_free(off)
    tn_charge_restore(saved)


cdef uint64_t item_capacity(uint64_t off) noexcept nogil:
    """Value bytes this item can hold without a new allocation."""
    cdef item_t *it = IT(off)
    if it.iflags & IF_EXTENTS:
        return (item_nextents(it.klen + it.vlen) << PAGE_SHIFT) - it.klen
    return slab_chunk_size(off) - ITEM_HDR - it.klen


cdef uint64_t item_memory(uint64_t off) noexcept nogil:
    """Bytes of arena this item occupies (MEMORY USAGE)."""
    cdef item_t *it = IT(off)
    cdef uint64_t total = slab_chunk_size(off)
    if it.iflags & IF_EXTENTS:
        total += item_nextents(it.klen + it.vlen) * PAGE_SIZE
        if it.iflags & IF_EXTENTS2:
            total += item_dirlen(it) * PAGE_SIZE
    return total


cdef void item_write(item_t *it, uint64_t pos, const char *src, uint64_t n) noexcept nogil:
    """Copy n bytes into the item's data (key || value) at `pos`."""
    cdef uint64_t e, within, step
    if not (it.iflags & IF_EXTENTS):
        memcpy(item_inline(it) + pos, src, n)
        return
    while n:
        e = pos >> PAGE_SHIFT
        within = pos & (PAGE_SIZE - 1)
        step = PAGE_SIZE - within
        if step > n:
            step = n
        memcpy(g_base + item_extent_slot(it, e)[0] + within, src, step)
        pos += step
        src += step
        n -= step


cdef void item_read(item_t *it, uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    """Copy n bytes of the item's data at `pos` into dst."""
    cdef uint64_t e, within, step
    if not (it.iflags & IF_EXTENTS):
        memcpy(dst, item_inline(it) + pos, n)
        return
    while n:
        e = pos >> PAGE_SHIFT
        within = pos & (PAGE_SIZE - 1)
        step = PAGE_SIZE - within
        if step > n:
            step = n
        memcpy(dst, g_base + item_extent_slot(it, e)[0] + within, step)
        pos += step
        dst += step
        n -= step


cdef bint item_key_eq(item_t *it, const char *key, uint64_t klen) noexcept nogil:
    cdef uint64_t pos = 0, step
    cdef char tmp[256]
    if it.klen != klen:
        return False
    if not (it.iflags & IF_EXTENTS):
        return memcmp(item_inline(it), key, klen) == 0
    while pos < klen:
        step = klen - pos
        if step > 256:
            step = 256
        item_read(it, pos, tmp, step)
        if memcmp(tmp, key + pos, step) != 0:
            return False
        pos += step
    return True


cdef inline uint64_t item_value_pos(item_t *it) noexcept nogil:
    return it.klen


cdef inline char *item_value_inline(item_t *it) noexcept nogil:
    """Pointer to the value when the item is inline (callers check IF_EXTENTS)."""
    return item_inline(it) + it.klen


cdef inline int64_t item_int(item_t *it) noexcept nogil:
    cdef int64_t v
    memcpy(&v, item_inline(it) + it.klen, 8)
    return v


# ---- LRU clock and LFU counter (Redis's definitions) --------------------------

cdef enum:
    LFU_INIT_VAL = 5

cdef inline bint policy_is_lfu() noexcept nogil:
    return g_hdr.policy == POL_ALLKEYS_LFU or g_hdr.policy == POL_VOLATILE_LFU

# item_t.lru_mark: the low 24 bits are the policy's clock, the high 8 the mark
# of the last snapshot that has the item (shm/snapshot.pxi). The LRU clock is
# seconds modulo 2^24 (194 days), as Redis's is; idle times are differences
# modulo that.

cdef enum:
    LRU_CLOCK_MASK = 0xffffff

cdef inline uint32_t item_lru(item_t *it) noexcept nogil:
    return it.lru_mark & LRU_CLOCK_MASK

cdef inline void item_set_lru(item_t *it, uint32_t v) noexcept nogil:
    it.lru_mark = (it.lru_mark & ~(<uint32_t>LRU_CLOCK_MASK)) | (v & LRU_CLOCK_MASK)

cdef inline uint32_t lru_idle_s(uint32_t lru, int64_t now_ms) noexcept nogil:
    """Seconds since an LRU clock value (modulo the clock's 194 days). A value
    slightly ahead of now_ms (another worker's batch clock) counts as 0, so
    idle times past half the clock's range (97 days) read as 0 too."""
    cdef uint32_t d = (<uint32_t>(now_ms // 1000) - lru) & LRU_CLOCK_MASK
    return 0 if d > (LRU_CLOCK_MASK >> 1) else d

cdef inline uint32_t lru_initial(int64_t now_ms) noexcept nogil:
    if policy_is_lfu():
        return ((<uint32_t>(now_ms // 60000) & 0xffff) << 8) | LFU_INIT_VAL
    return <uint32_t>(now_ms // 1000) & LRU_CLOCK_MASK

cdef inline uint32_t lfu_decayed(uint32_t lru, int64_t now_ms) noexcept nogil:
    """The LFU counter after decay: one step per lfu-decay-time minutes idle."""
    cdef uint32_t now_min = <uint32_t>(now_ms // 60000) & 0xffff
    cdef uint32_t ldt = lru >> 8
    cdef uint32_t counter = lru & 0xff
    cdef uint32_t elapsed = now_min - ldt if now_min >= ldt else 65535 - ldt + now_min
    cdef uint32_t periods
    if g_hdr.lfu_decay_time == 0:
        return counter
    periods = elapsed // g_hdr.lfu_decay_time
    return 0 if periods > counter else counter - periods

cdef inline void item_touch(item_t *it, int64_t now_ms) noexcept nogil:
    """Record an access for the eviction policy."""
    cdef uint32_t counter
    cdef double base, p
    if policy_is_lfu():
        counter = lfu_decayed(item_lru(it), now_ms)
        if counter < 255:
            base = <double>counter - LFU_INIT_VAL
            if base < 0:
                base = 0
            p = 1.0 / (base * g_hdr.lfu_log_factor + 1)
            if (cc_rand() >> 11) * (1.0 / 9007199254740992.0) < p:
                counter += 1
        item_set_lru(it, ((<uint32_t>(now_ms // 60000) & 0xffff) << 8) | counter)
    else:
        item_set_lru(it, <uint32_t>(now_ms // 1000))
        if g_hdr.policy >= POL_ALLKEYS_ADAPTIVE:
            evict_on_touch(it)                # shm/evict.pxi: count the access in the sketch
