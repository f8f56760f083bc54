# Shard tables: one open-addressing table per shard, under that shard's lock.
#
# How it works
#   Slots are {hash, item offset}; offset 0 is empty. A key's home slot is
#   (hash >> shard_bits) & mask: the low bits chose the shard, the next ones the
#   slot, so a table that doubles splits home b into b and b + old size. Probing
#   is linear. Deletion is tombstone-free: later entries of the run shift back
#   into the hole unless that would move them before their home.
#   Slots live in blocks of BLOCK_SLOTS (one page each), reached through the
#   table_t directory, so no table needs a contiguous region larger than a page.
#   Growth (load > 0.7) and shrink (load < 0.1) build a new table and switch
#   shard.table_off in one store; a dead writer leaves the old table intact.
#
# SCAN cursor: over home slots in reverse-binary order (the dict.c technique). A
# visit to home b returns every entry of the run from b whose home is b. Since
# growing or shrinking only splits or merges homes along the high bits, a full
# scan returns every key present throughout, possibly some twice.
#
# A dead lock owner (EOWNERDEAD) may have left a shift half done (an entry in two
# slots, or a slot with another entry's hash) or counters off: shard_lock rebuilds
# the shard's table and counts, rehashing every entry from its key. What it cannot
# see are chunks the dead process had allocated and not yet linked (a half-built
# table, a replaced item not yet freed): those leak. Reclaiming them needs every
# root of the arena, which only the data types know; the invariant walk in
# check.pxi counts them. The supervisor sweeps every lock after reaping a worker
# (sweep_locks) so a repair does not wait for the next request on that shard.

cdef inline slot_t *tbl_slot(table_t *t, uint64_t i) noexcept nogil:
    if CACHECYT_DEBUG:
        if i > t.mask:
            dbg_fail("tbl_slot: slot index past the table")
    return (<slot_t *>P(t.blocks[i >> BLOCK_SHIFT])) + (i & (BLOCK_SLOTS - 1))

cdef inline table_t *shard_table(shard_t *sh) noexcept nogil:
    return <table_t *>P(sh.table_off)

cdef inline uint64_t home_of(uint64_t h, uint64_t mask) noexcept nogil:
    return (h >> g_hdr.shard_bits) & mask

cdef inline uint32_t shard_of(uint64_t h) noexcept nogil:
    return <uint32_t>(h & (g_hdr.nshards - 1))


cdef void _dbg_check_held(shard_t *sh) noexcept nogil:
    """Debug builds: a *_locked function runs with its shard's lock held by the
    calling thread."""
    if not cc_mutex_held(shard_mutex(<uint32_t>(sh - shard_at(0)))):
        dbg_fail("a *_locked table function ran without its shard lock")


cdef uint64_t tbl_new(uint64_t cap) noexcept nogil:
    """A zeroed table of `cap` (power of two) slots, or 0."""
    cdef uint64_t nblocks = 1 if cap <= BLOCK_SLOTS else cap >> BLOCK_SHIFT
    cdef uint64_t bsize = cap * sizeof(slot_t) if cap <= BLOCK_SLOTS else PAGE_SIZE
    cdef uint64_t toff = slab_alloc(16 + 8 * nblocks)
    cdef uint64_t i, b
    cdef table_t *t
    if toff == 0:                        # no memory, or a directory bigger than a chunk
        return 0
    t = <table_t *>P(toff)
    t.mask = cap - 1
    t.nblocks = nblocks
    for i in range(nblocks):
        b = slab_alloc(bsize)
        if b == 0:
            while i > 0:
                i -= 1
                slab_free(t.blocks[i])
            slab_free(toff)
            return 0
        memset(P(b), 0, bsize)
        t.blocks[i] = b
    return toff


cdef void tbl_free(uint64_t toff) noexcept nogil:
    cdef table_t *t = <table_t *>P(toff)
    cdef uint64_t i
    for i in range(t.nblocks):
        slab_free(t.blocks[i])
    slab_free(toff)


cdef inline void _tbl_place(table_t *t, uint64_t h, uint64_t item) noexcept nogil:
    cdef uint64_t i = home_of(h, t.mask)
    cdef slot_t *sl = tbl_slot(t, i)
    cdef uint64_t probes = 0
    while sl.item:
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
        if CACHECYT_DEBUG:
            probes += 1
            if probes > t.mask:
                dbg_fail("_tbl_place: no empty slot in the table")
    sl.hash = h
    sl.item = item                 # published last


cdef int tbl_resize_locked(shard_t *sh, uint64_t cap) noexcept nogil:
    """Rebuild the shard's table with `cap` slots. ST_OK or ST_NOMEM."""
    cdef uint64_t noff = tbl_new(cap), ooff = sh.table_off, i, moved = 0
    cdef table_t *old
    cdef table_t *nt
    cdef slot_t *sl
    if noff == 0:
        return ST_NOMEM
    nt = <table_t *>P(noff)
    if ooff:
        old = <table_t *>P(ooff)
        for i in range(old.mask + 1):
            sl = tbl_slot(old, i)
            if sl.item:
                _tbl_place(nt, sl.hash, sl.item)
                moved += 1
    if CACHECYT_DEBUG:
        if moved != sh.count or moved > cap - 1:
            dbg_fail("tbl_resize_locked: shard count differs from the occupied slots")
    sh.table_off = noff            # one store switches tables
    snap_on_rehash_locked(sh)      # shm/snapshot.pxi: a dump walking this table starts over
    if ooff:
        tbl_free(ooff)
    return ST_OK


cdef int64_t tbl_find_locked(shard_t *sh, uint64_t h, uint32_t pdb,
                             const char *key, uint64_t klen) noexcept nogil:
    """Slot index of (pdb, key), or -1. Caller holds the shard lock."""
    cdef table_t *t = shard_table(sh)
    cdef uint64_t i = home_of(h, t.mask)
    cdef slot_t *sl = tbl_slot(t, i)
    cdef item_t *it
    cdef uint64_t probes = 0
    if CACHECYT_DEBUG:
        _dbg_check_held(sh)
    while sl.item:
        if sl.hash == h:
            it = IT(sl.item)
            if it.db == pdb and item_key_eq(it, key, klen):
                return <int64_t>i
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
        if CACHECYT_DEBUG:
            probes += 1
            if probes > t.mask:
                dbg_fail("tbl_find_locked: probe ran over the whole table")
    return -1


cdef int tbl_insert_locked(shard_t *sh, uint64_t h, uint64_t item) noexcept nogil:
    """Add an entry known to be absent. ST_OK or ST_NOMEM (table full, no memory)."""
    cdef table_t *t = shard_table(sh)
    if CACHECYT_DEBUG:
        _dbg_check_held(sh)
    if (sh.count + 1) * 10 > (t.mask + 1) * 7:
        if tbl_resize_locked(sh, (t.mask + 1) * 2) != ST_OK and sh.count + 1 > t.mask:
            return ST_NOMEM
        t = shard_table(sh)
    _tbl_place(t, h, item)
    sh.count += 1
    return ST_OK


cdef void tbl_delete_at_locked(shard_t *sh, uint64_t i) noexcept nogil:
    """Remove the entry at slot i (the item is not freed) and close the gap."""
    cdef table_t *t = shard_table(sh)
    cdef uint64_t j = i, k = i, home
    cdef slot_t *hole = tbl_slot(t, i)
    cdef slot_t *sl
    if CACHECYT_DEBUG:
        _dbg_check_held(sh)
        if not hole.item or sh.count == 0:
            dbg_fail("tbl_delete_at_locked: deleting an empty slot")
    while True:
        k = (k + 1) & t.mask
        sl = tbl_slot(t, k)
        if not sl.item:
            break
        home = home_of(sl.hash, t.mask)
        # the entry at k may move to the hole at j unless its home lies in (j, k]
        if (j <= k and (home <= j or home > k)) or (j > k and (home <= j and home > k)):
            hole.hash = sl.hash
            hole.item = sl.item
            j = k
            hole = sl
    hole.item = 0
    hole.hash = 0
    sh.count -= 1
    if t.mask + 1 > MIN_TABLE and sh.count * 10 < (t.mask + 1):
        tbl_resize_locked(sh, (t.mask + 1) // 2)


# ---- shard locks -------------------------------------------------------------

cdef uint64_t _item_hash(item_t *it) noexcept nogil:
    """cc_hash of the item's key, read from the item (extents included)."""
    cdef char small[256]
    cdef char *buf = small
    cdef uint64_t h
    if it.klen > 256:
        buf = <char *>malloc(it.klen)
        if buf == NULL:
            return 0
    item_read(it, 0, buf, it.klen)
    h = cc_hash(buf, it.klen)
    if buf != small:
        free(buf)
    return h


cdef void shard_repair_locked(uint32_t s) noexcept nogil:
    """Rebuild shard s after its lock owner died: drop duplicate slots, recount.

    A backward shift writes a slot's hash, then its item: a death in between
    leaves a slot whose hash belongs to another entry, or one entry in two
    slots. So the slots are collected, deduplicated by item, and placed again
    under the hash of each item's own key."""
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t = shard_table(sh)
    cdef uint64_t n = t.mask + 1, i, m = 0, h
    cdef uint64_t *pairs = <uint64_t *>malloc(n * 16)   # (item, hash) pairs
    cdef slot_t *sl
    cdef item_t *it
    if pairs == NULL:
        return
    for i in range(n):
        sl = tbl_slot(t, i)
        if sl.item:
            pairs[2 * m] = sl.item
            pairs[2 * m + 1] = sl.hash
            m += 1
            sl.item = 0
            sl.hash = 0
    cc_sort_pairs(pairs, m)
    for i in range(g_hdr.ndbs):
        tn_count_keys(i, -dbstat_at(s, i).keys)
        dbstat_at(s, i).keys = 0
        dbstat_at(s, i).expires = 0
    sh.count = 0
    for i in range(m):
        if i and pairs[2 * i] == pairs[2 * i - 2]:
            continue                       # the same entry in two slots
        it = IT(pairs[2 * i])
        h = _item_hash(it)
        if h == 0 or shard_of(h) != s:
            h = pairs[2 * i + 1]           # no memory to rehash, or a chosen test hash
        _tbl_place(t, h, pairs[2 * i])
        sh.count += 1
        dbstat_at(s, it.db).keys += 1
        tn_count_keys(it.db, 1)
        if it.expire_ms:
            dbstat_at(s, it.db).expires += 1
    sh.repairs += 1
    free(pairs)
    snap_on_rehash_locked(sh)


# Held shards. EXEC and scripts lock up front every shard their commands may
# touch (ascending: the lock order) and run those commands with the locks held;
# meanwhile shard_lock and shard_unlock of a held shard do nothing in this
# process. The worker is single-threaded, so "held" is a per-process fact.
cdef uint8_t g_held[65536]                    # 1 for each shard held (shards <= 65536)
cdef int g_holding = 0                        # shards currently held
cdef uint32_t g_held_lo = 0, g_held_hi = 0      # lowest and highest shard held
cdef uint64_t g_unheld_locks = 0              # shard_lock of a shard outside the held set (tests)

cdef inline void shard_lock(uint32_t s) noexcept nogil:
    global g_unheld_locks
    if g_holding:
        if g_held[s]:
            return
        g_unheld_locks += 1                   # a held set that missed a key: may deadlock
    if cc_lock(shard_mutex(s)):
        shard_repair_locked(s)

cdef inline void shard_unlock(uint32_t s) noexcept nogil:
    if g_holding and g_held[s]:
        return
    cc_unlock(shard_mutex(s))

cdef inline bint shard_lock_or_skip(uint32_t s) noexcept nogil:
    """shard_lock for code that may pick another shard (eviction sampling): while
    this process holds shards, one outside them is only tried, since waiting for
    it out of order could deadlock. True when locked."""
    cdef int rc
    if not g_holding or g_held[s]:
        shard_lock(s)
        return True
    rc = cc_trylock(shard_mutex(s))
    if rc < 0:
        return False
    if rc == 1:
        shard_repair_locked(s)
    return True


cdef int shards_init() except -1:
    """Give every shard an empty table (supervisor, at creation)."""
    cdef uint32_t s
    for s in range(g_hdr.nshards):
        if tbl_resize_locked(shard_at(s), MIN_TABLE) != ST_OK:
            raise MemoryError("segment too small for the shard tables")
    return 0


def init_shards():
    shards_init()


def sweep_locks():
    """Repair now the locks a dead process held, rather than at the next request
    on them: try every shard, class and page lock once. Never waits: a lock a
    live process holds is skipped (if its previous owner died, that holder
    already repaired it). Returns the shards that were repaired. The supervisor
    calls it after reaping a worker; it must not block on a stuck worker."""
    cdef uint32_t s, c
    cdef int rc
    repaired = []
    for s in range(g_hdr.nshards):
        rc = cc_trylock(shard_mutex(s))
        if rc < 0:
            continue
        if rc == 1:
            shard_repair_locked(s)
            repaired.append(s)
        cc_unlock(shard_mutex(s))
    for c in range(g_hdr.nclasses):
        rc = cc_trylock(class_mutex(c))
        if rc < 0:
            continue
        if rc == 1:
            slab_repair_class_locked(c)
        cc_unlock(class_mutex(c))
    rc = cc_trylock(page_mutex())
    if rc >= 0:
        if rc == 1:
            _page_repair_locked()
        cc_unlock(page_mutex())
    return repaired
