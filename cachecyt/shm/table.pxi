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
# Growing without a pause (docs/adr/0023-shard-tables-grow-in-steps.md)
#   A table of up to g_tbl_once slots is rebuilt at once (tens of microseconds).
#   A bigger one is built beside the current table in steps while the current
#   table stays the only one anybody reads: lookups, SCAN, the snapshot walk,
#   the samplers and every other walk see one table as before. shard.build_off
#   is the table being built and shard.build_pos its progress: from minus the
#   16 KiB parts of its blocks up to 0 it zeroes one part per step (the first
#   touch of fresh pages costs page faults), then it copies the entries of the next
#   g_tbl_step slots of the current table per step. Every insert and delete in
#   the shard takes one step, and so does the expiry cycle (an idle shard
#   finishes too). Writes keep the copy true, so that
#     (B1) every entry of the current table at a slot < build_pos is in the new one,
#     (B2) the new one holds only entries of the current one (same hash, same item);
#   an insert at a slot < build_pos is placed in both, a delete removes the
#   entry from both, a replaced item is replaced in both, and a backward shift
#   that carries an entry from build_pos or after to before it copies it (a
#   shift across the end of the table may carry one the other way: the copy
#   then finds it present and skips it). When build_pos passes the last slot,
#   (B1) says the new table holds everything: one store makes it current, as an
#   at-once rebuild does, so SCAN and the snapshot walk keep their guarantees.
#   A growth starts at load 0.7 and is over after about slots / 512 (zeroing)
#   + slots / g_tbl_step writes, so the current table stays under ~0.71. A
#   shard whose last entry goes returns to MIN_TABLE at once; a shrink that
#   deletes outran starts at the next delete or expiry visit. A shrink that inserts
#   overtake (the new table would pass 0.7) is dropped. A dead owner's repair
#   drops the table being built (it may hold half a step).
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


cdef enum:
    TBL_ONCE_SLOTS = 8192        # tables up to this many slots are rebuilt at once (~100 us)
    TBL_STEP_SLOTS = 128         # slots of the current table copied per step (~2-5 us)
    TBL_IDLE_STEPS = 32          # steps the expiry cycle takes in a shard being built
    TBL_ZERO_BYTES = 16384       # bytes of a new table zeroed per step (first use of fresh
                                 # pages costs page faults: a whole block took ~0.15 ms)

cdef uint64_t g_tbl_once = TBL_ONCE_SLOTS     # this process's settings (tests lower them)
cdef uint64_t g_tbl_step = TBL_STEP_SLOTS


cdef inline uint64_t _tbl_block_bytes(uint64_t cap) noexcept nogil:
    return cap * sizeof(slot_t) if cap <= BLOCK_SLOTS else PAGE_SIZE


cdef inline uint64_t _tbl_zero_units(uint64_t cap) noexcept nogil:
    """Steps that zero one block of a table of `cap` slots."""
    cdef uint64_t b = _tbl_block_bytes(cap)
    return b // TBL_ZERO_BYTES if b > TBL_ZERO_BYTES else 1


cdef uint64_t tbl_alloc(uint64_t cap, bint zero) noexcept nogil:
    """A table of `cap` (power of two) slots, zeroed when asked, or 0."""
    cdef uint64_t nblocks = 1 if cap <= BLOCK_SLOTS else cap >> BLOCK_SHIFT
    cdef uint64_t bsize = _tbl_block_bytes(cap)
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
        if zero:
            memset(P(b), 0, bsize)
        t.blocks[i] = b
    return toff


cdef inline uint64_t tbl_new(uint64_t cap) noexcept nogil:
    """A zeroed table of `cap` (power of two) slots, or 0."""
    return tbl_alloc(cap, True)


cdef void tbl_free(uint64_t toff) noexcept nogil:
    cdef table_t *t = <table_t *>P(toff)
    cdef uint64_t i
    for i in range(t.nblocks):
        slab_free(t.blocks[i])
    slab_free(toff)


cdef inline uint64_t _tbl_place(table_t *t, uint64_t h, uint64_t item) noexcept nogil:
    """Put an entry known to be absent in its run; returns its slot."""
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
    return i


cdef void _tbl_place_once(table_t *t, uint64_t h, uint64_t item) noexcept nogil:
    """_tbl_place unless the item is in its run already (a table being built)."""
    cdef uint64_t i = home_of(h, t.mask)
    cdef slot_t *sl = tbl_slot(t, i)
    while sl.item:
        if sl.item == item:
            return
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
    sl.hash = h
    sl.item = item


cdef int64_t _tbl_find_item(table_t *t, uint64_t h, uint64_t item) noexcept nogil:
    """Slot of the entry (h, item) in t, or -1."""
    cdef uint64_t i = home_of(h, t.mask)
    cdef slot_t *sl = tbl_slot(t, i)
    while sl.item:
        if sl.item == item:
            return <int64_t>i
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
    return -1


cdef void _tbl_unlink(table_t *t, uint64_t i, table_t *bt, int64_t bp) noexcept nogil:
    """Empty slot i of t and close the gap (backward shift). With bt, the
    table being built from t (build_pos bp): an entry the shift carries from
    bp or after to before bp is copied to bt, to keep (B1)."""
    cdef uint64_t j = i, k = i, home
    cdef slot_t *hole = tbl_slot(t, i)
    cdef slot_t *sl
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
            if bt != NULL and <int64_t>j < bp and <int64_t>k >= bp:
                _tbl_place_once(bt, sl.hash, sl.item)
            j = k
            hole = sl
    hole.item = 0
    hole.hash = 0


cdef int tbl_resize_locked(shard_t *sh, uint64_t cap) noexcept nogil:
    """Rebuild the shard's table with `cap` slots at once. ST_OK or ST_NOMEM."""
    cdef uint64_t noff = tbl_new(cap), ooff = sh.table_off, i, moved = 0
    cdef table_t *old
    cdef table_t *nt
    cdef slot_t *sl
    if noff == 0:
        return ST_NOMEM
    _tbl_build_drop(sh)
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


# ---- building a table in steps (see "Growing without a pause") -------------------

cdef inline table_t *_tbl_build(shard_t *sh) noexcept nogil:
    return <table_t *>P(sh.build_off)


cdef int tbl_rebuild_locked(shard_t *sh, uint64_t cap) noexcept nogil:
    """Give the shard a table of `cap` slots: at once when both tables are
    small, else start building it in steps. ST_OK or ST_NOMEM."""
    cdef uint64_t off
    if cap <= g_tbl_once and shard_table(sh).mask < g_tbl_once:
        return tbl_resize_locked(sh, cap)
    off = tbl_alloc(cap, False)            # its blocks are zeroed by the first steps
    if off == 0:
        return ST_NOMEM
    sh.build_pos = -<int64_t>((<table_t *>P(off)).nblocks * _tbl_zero_units(cap))
    sh.build_off = off
    return ST_OK


cdef void _tbl_build_drop(shard_t *sh) noexcept nogil:
    """Forget the table being built, if any."""
    cdef uint64_t off = sh.build_off
    if off == 0:
        return
    sh.build_off = 0               # unreachable first: a death below leaks, never frees twice
    sh.build_pos = 0
    tbl_free(off)


cdef void tbl_step_locked(shard_t *sh) noexcept nogil:
    """One step of the build under way: zero one block of the new table, or
    copy the entries of the next g_tbl_step slots of the current one; after
    the last slot the new table becomes current."""
    cdef uint64_t noff = sh.build_off, ooff = sh.table_off, p, end
    cdef table_t *bt = <table_t *>P(noff)
    cdef table_t *t
    cdef slot_t *sl
    cdef uint64_t units, part
    if sh.build_pos < 0:
        units = _tbl_zero_units(bt.mask + 1)
        p = bt.nblocks * units - <uint64_t>(-sh.build_pos)        # the next unit to zero
        part = _tbl_block_bytes(bt.mask + 1) // units
        memset(P(bt.blocks[p // units] + (p % units) * part), 0, part)
        sh.build_pos += 1
        return
    t = shard_table(sh)
    p = <uint64_t>sh.build_pos
    end = p + g_tbl_step
    if end > t.mask + 1:
        end = t.mask + 1
    while p < end:
        sl = tbl_slot(t, p)
        if sl.item:
            _tbl_place_once(bt, sl.hash, sl.item)
        p += 1
    sh.build_pos = <int64_t>end
    if end <= t.mask:
        return
    sh.build_off = 0               # a death from here on leaks a table, never loses one
    sh.build_pos = 0
    sh.table_off = noff            # one store switches tables
    snap_on_rehash_locked(sh)      # shm/snapshot.pxi: a dump walking this table starts over
    tbl_free(ooff)


cdef void tbl_finish_locked(shard_t *sh) noexcept nogil:
    """Take every remaining step of the build under way now."""
    while sh.build_off:
        tbl_step_locked(sh)


cdef void tbl_idle_step_locked(shard_t *sh) noexcept nogil:
    """A few steps of a build under way, for shards nobody writes to (the
    expiry cycle calls it), so that its memory is not held for ever; or the
    start of a shrink that deletes outran (they shrink one build at a time).
    Walks holding a slot index must read the table again after it."""
    cdef int n = 0
    cdef uint64_t slots = shard_table(sh).mask + 1
    if not sh.build_off and slots > MIN_TABLE and sh.count * 10 < slots:
        tbl_rebuild_locked(sh, slots // 2)
        return
    while sh.build_off and n < TBL_IDLE_STEPS:
        tbl_step_locked(sh)
        n += 1


cdef void _tbl_before_grow_locked(shard_t *sh) noexcept nogil:
    """An insert comes to a shard that is being rebuilt, or is loaded past 0.7:
    take a step, drop a shrink the inserts have overtaken, or start a growth."""
    cdef table_t *t = shard_table(sh)
    cdef table_t *bt
    if sh.build_off:
        bt = _tbl_build(sh)
        if bt.mask >= t.mask or (sh.count + 1) * 10 <= (bt.mask + 1) * 7:
            tbl_step_locked(sh)
            t = shard_table(sh)            # the step may have switched tables
            if sh.build_off and (sh.count + 1) * 10 > (t.mask + 1) * 9:
                tbl_finish_locked(sh)      # never reached with the default step: a safety net
            return
        _tbl_build_drop(sh)                # a shrink the new table could not hold
    if (sh.count + 1) * 10 > (t.mask + 1) * 7:
        tbl_rebuild_locked(sh, (t.mask + 1) * 2)


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
    cdef uint64_t i
    if CACHECYT_DEBUG:
        _dbg_check_held(sh)
    if sh.build_off or (sh.count + 1) * 10 > (t.mask + 1) * 7:
        _tbl_before_grow_locked(sh)
        t = shard_table(sh)
        if sh.count + 1 > t.mask:
            return ST_NOMEM
    i = _tbl_place(t, h, item)
    sh.count += 1
    if sh.build_off and <int64_t>i < sh.build_pos:
        _tbl_place(_tbl_build(sh), h, item)    # (B1)
    return ST_OK


cdef void tbl_replace_locked(shard_t *sh, uint64_t i, uint64_t item) noexcept nogil:
    """Make `item` the entry at slot i in place of its item (same key)."""
    cdef slot_t *sl = tbl_slot(shard_table(sh), i)
    cdef int64_t j
    if sh.build_off and sh.build_pos > 0:
        j = _tbl_find_item(_tbl_build(sh), sl.hash, sl.item)
        if j >= 0:
            tbl_slot(_tbl_build(sh), <uint64_t>j).item = item      # (B2)
    sl.item = item


cdef void tbl_delete_at_locked(shard_t *sh, uint64_t i) noexcept nogil:
    """Remove the entry at slot i (the item is not freed) and close the gap."""
    cdef table_t *t = shard_table(sh)
    cdef slot_t *hole = tbl_slot(t, i)
    cdef table_t *bt
    cdef int64_t j
    if CACHECYT_DEBUG:
        _dbg_check_held(sh)
        if not hole.item or sh.count == 0:
            dbg_fail("tbl_delete_at_locked: deleting an empty slot")
    if sh.build_off and sh.build_pos > 0:
        bt = _tbl_build(sh)
        j = _tbl_find_item(bt, hole.hash, hole.item)
        if j >= 0:
            _tbl_unlink(bt, <uint64_t>j, NULL, 0)                # (B2)
        _tbl_unlink(t, i, bt, sh.build_pos)
    else:
        _tbl_unlink(t, i, NULL, 0)
    sh.count -= 1
    if sh.count == 0 and t.mask + 1 > MIN_TABLE:
        _tbl_reset_empty_locked(sh)
    elif sh.build_off:
        tbl_step_locked(sh)
    elif t.mask + 1 > MIN_TABLE and sh.count * 10 < (t.mask + 1):
        tbl_rebuild_locked(sh, (t.mask + 1) // 2)


cdef void _tbl_reset_empty_locked(shard_t *sh) noexcept nogil:
    """The shard's last entry is gone: back to the smallest table at once,
    with nothing to copy (FLUSHALL, or a shard emptied by DEL)."""
    cdef uint64_t noff = tbl_new(MIN_TABLE), ooff = sh.table_off
    if noff == 0:
        return
    _tbl_build_drop(sh)
    sh.table_off = noff
    snap_on_rehash_locked(sh)
    tbl_free(ooff)


# ---- checks and test hooks ------------------------------------------------------

cdef _tbl_check_build(uint32_t s, list errors, dict live, set reached):
    """The invariant walk (shm/check.pxi) of the table shard s is building:
    its chunks are live (and reached), it holds entries of the current table
    only (B2), each once and in its run, and every entry of the current table
    before build_pos (B1). Called with every lock held."""
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t = shard_table(sh)
    cdef table_t *bt
    cdef slot_t *sl
    cdef uint64_t i, n, b, home
    where = f"shard {s} table being built"
    if sh.build_off == 0:
        if sh.build_pos != 0:
            errors.append(f"{where}: none, yet progress {sh.build_pos}")
        return
    if not _chunk_live(live, sh.build_off, 16, errors, where):
        return
    reached.add(sh.build_off)
    bt = _tbl_build(sh)
    n = bt.mask + 1
    if n & bt.mask or n < MIN_TABLE or bt.nblocks != (1 if n <= BLOCK_SLOTS else n >> BLOCK_SHIFT):
        errors.append(f"{where}: {n} slots in {bt.nblocks} blocks")
        return
    if not _chunk_live(live, sh.build_off, 16 + 8 * bt.nblocks, errors, f"{where}, directory"):
        return
    for b in range(bt.nblocks):
        if not _chunk_live(live, bt.blocks[b], _tbl_block_bytes(n), errors, f"{where}, block {b}"):
            return
        reached.add(bt.blocks[b])
    if (sh.build_pos < -<int64_t>(bt.nblocks * _tbl_zero_units(n))
            or sh.build_pos > <int64_t>(t.mask + 1)):
        errors.append(f"{where}: progress {sh.build_pos} out of range")
        return
    if sh.build_pos < 0:
        return                                  # blocks still to zero: no entries yet
    current = {}
    for i in range(t.mask + 1):
        sl = tbl_slot(t, i)
        if sl.item:
            current[sl.item] = (i, sl.hash)
    copied = set()
    for i in range(n):
        sl = tbl_slot(bt, i)
        if not sl.item:
            continue
        if sl.item in copied:
            errors.append(f"{where}: item {sl.item} twice")
        copied.add(sl.item)
        if current.get(sl.item, (0, None))[1] != sl.hash:
            errors.append(f"{where}: slot {i} holds an entry the current table lacks")
        home = home_of(sl.hash, bt.mask)
        while home != i:
            if not tbl_slot(bt, home).item:
                errors.append(f"{where}: slot {i} is cut off from its home {home}")
                break
            home = (home + 1) & bt.mask
    for item, (i, h) in current.items():
        if <int64_t>i < sh.build_pos and item not in copied:
            errors.append(f"{where}: entry at slot {i} of the current table, before "
                          f"progress {sh.build_pos}, was not copied")


def _test_table_tuning(once=None, step=None):
    """Set this process's rebuild thresholds (slots rebuilt at once, slots
    copied per step); returns the previous (once, step)."""
    global g_tbl_once, g_tbl_step
    prev = (g_tbl_once, g_tbl_step)
    if once is not None:
        g_tbl_once = once
    if step is not None:
        g_tbl_step = max(1, step)
    return prev


def _test_build_state(uint32_t s):
    """None, or (slots of the table being built, progress) for shard s."""
    cdef shard_t *sh = shard_at(s)
    if sh.build_off == 0:
        return None
    return (_tbl_build(sh).mask + 1, sh.build_pos)


def _test_build_step(uint32_t s, int steps=1):
    """Take steps of shard s's build (under its lock); True while one is under way."""
    cdef shard_t *sh = shard_at(s)
    with nogil:
        shard_lock(s)
        while sh.build_off and steps > 0:
            tbl_step_locked(sh)
            steps -= 1
        shard_unlock(s)
    return sh.build_off != 0


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
    _tbl_build_drop(sh)                    # it may hold half a step
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
