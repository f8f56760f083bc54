# Allocator: size classes over 64 KiB pages of the arena (memcached's slabs, with
# per-page free lists so an empty page goes back to the pool).
#
# How it works
#   The arena is npages pages. A page is free (in the pool) or owned by one size
#   class, cut into equal chunks. Each class keeps a doubly linked list of its
#   pages that still have a free chunk ("partial"); each page keeps its own free
#   list (a chunk index + 1 stored in the first 4 bytes of a freed chunk) and a
#   bump index for chunks never handed out. alloc pops from the first partial page,
#   free pushes onto the chunk's page; a page whose last chunk is freed goes back
#   to the pool unless it is the class's only partial page. Everything is O(1).
#   Callers get offsets; 0 means no memory.
#
# Locks: class lock, then page lock (both innermost: taken under shard locks,
# never the other way). used_memory is an atomic counter of chunk bytes, moved
# under the class lock together with class_t.chunks so the two never disagree.
#
# A process that dies holding a class lock may leave that class's counters and
# partial list half updated; the page free lists are always a chain (each push or
# pop is one store). The next holder (EOWNERDEAD) rebuilds the class from its
# pages (slab_repair_class_locked). Chunks the dead process had allocated but not
# yet linked anywhere stay allocated (a leak, not a corruption).

cdef inline uint32_t slab_class_of(uint64_t size) noexcept nogil:
    return g_cls_of[(size + 15) >> 4]


cdef inline uint64_t slab_chunk_size(uint64_t off) noexcept nogil:
    cdef uint64_t p = (off - g_hdr.arena_off) >> PAGE_SHIFT
    return class_at(page_at(p).cls).size


cdef inline void class_lock(uint32_t c) noexcept nogil:
    if cc_lock(class_mutex(c)):
        slab_repair_class_locked(c)


cdef enum:
    PAGE_FREE = 0xffffffff       # page_t.cls of a page in the pool (or never used)
    PAGE_TAKEN = 0xfffffffe      # out of the pool, not yet claimed by a class


cdef inline void page_lock() noexcept nogil:
    if cc_lock(page_mutex()):
        _page_repair_locked()


cdef void _page_repair_locked() noexcept nogil:
    """Rebuild the pool list and pages_used after the page lock's owner died.
    Every page below page_next marked free goes in the pool; a page marked
    taken may be about to be claimed by a live class-lock holder, so it stays
    out (if its taker died, it is lost: a leak)."""
    cdef uint64_t p = g_hdr.page_next, head = 0, used = 0
    while p > 0:
        p -= 1
        if page_at(p).cls == PAGE_FREE:
            page_at(p).next = head
            head = p + 1
        else:
            used += 1
    g_hdr.page_free_head = head
    g_hdr.pages_used = used


cdef uint64_t _page_take() noexcept nogil:
    """A free page index, or (uint64)-1. Takes the page lock. The page is
    marked taken until the caller (holding its class lock) claims it."""
    cdef uint64_t p = <uint64_t>-1
    page_lock()
    if g_hdr.page_free_head:
        p = g_hdr.page_free_head - 1
        page_at(p).cls = PAGE_TAKEN
        g_hdr.page_free_head = page_at(p).next
    elif g_hdr.page_next < g_hdr.npages:
        p = g_hdr.page_next
        page_at(p).cls = PAGE_TAKEN
        g_hdr.page_next += 1
    if p != <uint64_t>-1:
        g_hdr.pages_used += 1
    cc_unlock(page_mutex())
    return p


cdef void _page_give(uint64_t p) noexcept nogil:
    cdef page_t *pg = page_at(p)
    page_lock()
    pg.cls = PAGE_FREE
    pg.next = g_hdr.page_free_head
    g_hdr.page_free_head = p + 1
    g_hdr.pages_used -= 1
    cc_unlock(page_mutex())


cdef inline void _partial_unlink(class_t *cl, uint64_t p) noexcept nogil:
    cdef page_t *pg = page_at(p)
    if pg.prev:
        page_at(pg.prev - 1).next = pg.next
    else:
        cl.partial_head = pg.next
    if pg.next:
        page_at(pg.next - 1).prev = pg.prev
    pg.prev = 0
    pg.next = 0


cdef inline void _partial_push(class_t *cl, uint64_t p) noexcept nogil:
    cdef page_t *pg = page_at(p)
    pg.prev = 0
    pg.next = cl.partial_head
    if cl.partial_head:
        page_at(cl.partial_head - 1).prev = p + 1
    cl.partial_head = p + 1


cdef uint64_t slab_alloc(uint64_t size) noexcept nogil:
    """Offset of a chunk of at least `size` bytes (<= PAGE_SIZE), or 0."""
    cdef uint32_t c = slab_class_of(size)
    cdef class_t *cl = class_at(c)
    cdef page_t *pg
    cdef uint64_t p, off
    cdef uint32_t idx
    if size > PAGE_SIZE:
        return 0
    class_lock(c)
    if not cl.partial_head:
        p = _page_take()
        if p == <uint64_t>-1:
            cc_unlock(class_mutex(c))
            return 0
        pg = page_at(p)
        pg.used = 0
        pg.free_head = 0
        pg.bump = 0
        pg.cls = c                       # claimed last: a repair trusts pages of its class
        cl.pages += 1
        _partial_push(cl, p)
    p = cl.partial_head - 1
    pg = page_at(p)
    if pg.free_head:
        idx = pg.free_head - 1
        off = g_hdr.arena_off + (p << PAGE_SHIFT) + idx * cl.size
        pg.free_head = (<uint32_t *>P(off))[0]
    else:
        idx = pg.bump
        pg.bump += 1
        off = g_hdr.arena_off + (p << PAGE_SHIFT) + idx * cl.size
    if CACHECYT_DEBUG:
        if idx >= cl.per_page or pg.cls != c:
            dbg_fail("slab_alloc: free list of a page points outside the page")
        if pg.used >= cl.per_page:
            dbg_fail("slab_alloc: a full page is on the partial list")
    pg.used += 1
    if pg.used == cl.per_page:
        _partial_unlink(cl, p)
    cl.chunks += 1
    cc_atomic_max_i(&g_hdr.peak_memory, cc_atomic_add_i(&g_hdr.used_memory, cl.size))
    cc_unlock(class_mutex(c))
    tn_charge_bytes(<int64_t>cl.size)        # shm/tenantmem.pxi
    return off


cdef void slab_free(uint64_t off) noexcept nogil:
    cdef uint64_t p = (off - g_hdr.arena_off) >> PAGE_SHIFT
    cdef page_t *pg = page_at(p)
    cdef uint32_t c = pg.cls
    cdef class_t *cl = class_at(c)
    cdef uint32_t idx = <uint32_t>((off - g_hdr.arena_off - (p << PAGE_SHIFT)) // cl.size)
    cdef bint was_full
    if CACHECYT_DEBUG:
        _debug_check_free(off, p, pg)
    class_lock(c)
    was_full = pg.used == cl.per_page
    (<uint32_t *>P(off))[0] = pg.free_head
    pg.free_head = idx + 1
    pg.used -= 1
    cl.chunks -= 1
    if was_full:
        _partial_push(cl, p)
    if pg.used == 0 and not (cl.partial_head == p + 1 and pg.next == 0):
        _partial_unlink(cl, p)
        cl.pages -= 1
        _page_give(p)
    cc_atomic_add_i(&g_hdr.used_memory, -<int64_t>cl.size)
    cc_unlock(class_mutex(c))
    tn_charge_bytes(-<int64_t>cl.size)


cdef void _debug_check_free(uint64_t off, uint64_t p, page_t *pg) noexcept nogil:
    """Debug builds: the chunk being freed is a live chunk of an owned page."""
    cdef class_t *cl
    cdef uint32_t idx, j, steps = 0
    if off < g_hdr.arena_off or p >= g_hdr.npages or pg.cls >= g_hdr.nclasses:
        dbg_fail("slab_free: offset is not in an owned page")
    cl = class_at(pg.cls)
    if (off - g_hdr.arena_off - (p << PAGE_SHIFT)) % cl.size:
        dbg_fail("slab_free: offset is not at a chunk boundary")
    idx = <uint32_t>((off - g_hdr.arena_off - (p << PAGE_SHIFT)) // cl.size)
    if idx >= pg.bump or pg.used == 0:
        dbg_fail("slab_free: chunk was never handed out")
    cc_lock(class_mutex(pg.cls))
    j = pg.free_head
    while j and steps <= cl.per_page:
        if j - 1 == idx:
            cc_unlock(class_mutex(pg.cls))
            dbg_fail("slab_free: chunk freed twice")
        j = (<uint32_t *>P(g_hdr.arena_off + (p << PAGE_SHIFT) + (j - 1) * cl.size))[0]
        steps += 1
    cc_unlock(class_mutex(pg.cls))


cdef uint32_t _page_free_count(uint64_t p, class_t *cl) noexcept nogil:
    """Chunks on page p's free list (bounded: a loop counts as per_page + 1)."""
    cdef page_t *pg = page_at(p)
    cdef uint32_t j = pg.free_head, n = 0
    while j and n <= cl.per_page:
        if j > pg.bump:
            return <uint32_t>cl.per_page + 1
        j = (<uint32_t *>P(g_hdr.arena_off + (p << PAGE_SHIFT) + (j - 1) * cl.size))[0]
        n += 1
    return n


cdef void slab_repair_class_locked(uint32_t c) noexcept nogil:
    """Rebuild class c after its lock owner died: per-page used counts, the partial
    list, the page and chunk counters, and used_memory by the chunk difference.
    Sound under the class lock alone: pages change owner only under it."""
    cdef class_t *cl = class_at(c)
    cdef page_t *pg
    cdef uint64_t p, pages = 0, chunks = 0, before = cl.chunks
    cdef uint32_t nfree
    cl.partial_head = 0
    for p in range(g_hdr.npages):
        pg = page_at(p)
        if pg.cls != c:
            continue
        nfree = _page_free_count(p, cl)
        if nfree > pg.bump:                  # a broken chain: forget the freed chunks
            pg.free_head = 0
            nfree = 0
        pg.used = pg.bump - nfree
        pages += 1
        chunks += pg.used
        if pg.used < cl.per_page:
            _partial_push(cl, p)
    cl.pages = pages
    cl.chunks = chunks
    cc_atomic_add_i(&g_hdr.used_memory, (<int64_t>chunks - <int64_t>before) * <int64_t>cl.size)


def _test_alloc(uint64_t size):
    return slab_alloc(size)

def _test_free(uint64_t off):
    slab_free(off)

def _test_write(uint64_t off, bytes data):
    memcpy(P(off), <char *>data, len(data))

def _test_read(uint64_t off, uint64_t n):
    return (<char *>P(off))[:n]

def _test_chunk_size(uint64_t off):
    return slab_chunk_size(off)

def alloc_stats():
    """Per-class pages and chunks (read without locks: for INFO and tests)."""
    out = []
    cdef uint32_t c
    for c in range(g_hdr.nclasses):
        cl = class_at(c)
        out.append({'size': cl.size, 'pages': cl.pages, 'chunks': cl.chunks})
    return out
