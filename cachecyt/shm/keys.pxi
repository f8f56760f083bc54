# Keyspace API: find, store and delete keys of a logical database inside a
# shard, with lazy expiry. Every *_locked function expects the key's shard lock
# held (kref_t.shard) and touches only C data.

ctypedef struct kref_t:
    const char *key
    uint64_t klen
    uint64_t h              # cc_hash(key)
    uint32_t shard          # shard_of(h)
    uint32_t pdb            # physical db; set by key_find_locked
    int64_t slot            # slot of the key, -1 when absent
    uint64_t item           # item offset, 0 when absent


cdef inline void kref_init(kref_t *k, const char *key, uint64_t klen) noexcept nogil:
    k.key = key
    k.klen = klen
    k.h = cc_hash(key, klen)
    k.shard = shard_of(k.h)
    k.slot = -1
    k.item = 0


cdef uint64_t key_find_locked(kref_t *k, uint32_t ldb, int64_t now_ms) noexcept nogil:
    """The live item of the key, or 0. Deletes it first if it has expired."""
    cdef shard_t *sh = shard_at(k.shard)
    cdef int64_t i
    cdef item_t *it
    k.pdb = db_map()[ldb]
    i = tbl_find_locked(sh, k.h, k.pdb, k.key, k.klen)
    if i < 0:
        k.slot = -1
        k.item = 0
        return 0
    k.item = tbl_slot(shard_table(sh), <uint64_t>i).item
    it = IT(k.item)
    if it.expire_ms and it.expire_ms <= now_ms:
        if pause_active():                    # CLIENT PAUSE: expired, but not deleted
            k.slot = -1
            k.item = 0
            return 0
        notify_item(NK_EXPIRED, "expired", it)
        key_delete_locked(k.shard, <uint64_t>i)
        my_wstat().expired += 1
        k.slot = -1
        k.item = 0
        return 0
    k.slot = i
    snap_before_use_locked(k.shard, k.item)   # shm/snapshot.pxi: a snapshot copies it first
    return k.item


cdef void key_delete_locked(uint32_t s, uint64_t i) noexcept nogil:
    """Remove the entry at slot i of shard s and free its item."""
    item_free(key_detach_at_locked(s, i))


cdef uint64_t key_detach_at_locked(uint32_t s, uint64_t i) noexcept nogil:
    """Remove the entry at slot i of shard s from the keyspace and return its
    item, still allocated (the caller frees it, or keeps its value)."""
    cdef shard_t *sh = shard_at(s)
    cdef uint64_t off = tbl_slot(shard_table(sh), i).item
    cdef item_t *it = IT(off)
    cdef dbstat_t *ds = dbstat_at(s, it.db)
    if it.version > sh.del_version:
        sh.del_version = it.version          # WATCH of an absent key (commands/multi.pxi)
    ds.keys -= 1
    tn_count_keys(it.db, -1)
    if it.expire_ms:
        ds.expires -= 1
    snap_before_use_locked(s, off)            # shm/snapshot.pxi: a snapshot copies it first,
    snap_on_delete_locked(s, i)               # and notes entries the delete may shift
    tbl_delete_at_locked(sh, i)
    return off


cdef inline void key_remove_locked(kref_t *k) noexcept nogil:
    """Delete the key found by key_find_locked."""
    key_delete_locked(k.shard, <uint64_t>k.slot)
    k.slot = -1
    k.item = 0


cdef int key_store_locked(kref_t *k, uint64_t item) noexcept nogil:
    """Make `item` the key's value: replaces the found item (freed) or inserts.
    ST_OK or ST_NOMEM (then `item` is freed too)."""
    cdef shard_t *sh = shard_at(k.shard)
    cdef dbstat_t *ds = dbstat_at(k.shard, k.pdb)
    cdef item_t *it = IT(item)
    cdef uint64_t old = k.item
    if it.version <= sh.watch_mark:
        # made before a WATCH of an absent key in this shard: a version newer than
        # the WATCH's mark, so that deleting this item later counts as a change
        it.version = cc_atomic_add(&g_hdr.next_version, 1)
    evict_on_store_locked(k, item)            # shm/evict.pxi: the adaptive policy's bookkeeping
    snap_on_store_locked(k.shard, old, it)    # shm/snapshot.pxi: not in a running snapshot
    if old:
        if IT(old).expire_ms:
            ds.expires -= 1
        tbl_replace_locked(sh, <uint64_t>k.slot, item)
        item_free(old)
    else:
        if not tn_key_admit(k.pdb):           # shm/tenantmem.pxi: counts it, or over the key quota
            item_free(item)
            return ST_NOMEM
        if tbl_insert_locked(sh, k.h, item) != ST_OK:
            tn_count_keys(k.pdb, -1)
            item_free(item)
            return ST_NOMEM
        notify_pdb(NK_NEW, "new", k.key, k.klen, k.pdb)
        ds.keys += 1
        k.slot = tbl_find_locked(sh, k.h, k.pdb, k.key, k.klen)
    if it.expire_ms:
        ds.expires += 1
    k.item = item
    return ST_OK


cdef void key_set_expire_locked(kref_t *k, int64_t expire_ms) noexcept nogil:
    """Set (or clear, with 0) the TTL of the found key."""
    cdef item_t *it = IT(k.item)
    cdef dbstat_t *ds = dbstat_at(k.shard, k.pdb)
    if it.expire_ms and not expire_ms:
        ds.expires -= 1
    elif expire_ms and not it.expire_ms:
        ds.expires += 1
    it.expire_ms = expire_ms
    item_bump(it)


cdef inline void item_bump(item_t *it) noexcept nogil:
    """Record a modification (WATCH, memcached CAS)."""
    it.version = cc_atomic_add(&g_hdr.next_version, 1)


# ---- multi-key locking ---------------------------------------------------------

cdef int shards_lock_many(uint32_t *shards, int n) noexcept nogil:
    """Sort the shard list, drop repeats and lock in ascending order (the lock
    order). Returns the number of distinct shards now locked."""
    cdef int i, m = 0
    cc_sort_u32(shards, <size_t>n)
    for i in range(n):
        if m == 0 or shards[m - 1] != shards[i]:
            shards[m] = shards[i]
            m += 1
    for i in range(m):
        shard_lock(shards[i])
    return m


cdef void shards_unlock_many(uint32_t *shards, int m) noexcept nogil:
    cdef int i = m
    while i > 0:
        i -= 1
        shard_unlock(shards[i])


cdef void shards_lock_all() noexcept nogil:
    cdef uint32_t s
    for s in range(g_hdr.nshards):
        shard_lock(s)


cdef void shards_unlock_all() noexcept nogil:
    cdef uint32_t s = g_hdr.nshards
    while s > 0:
        s -= 1
        shard_unlock(s)


cdef int shards_hold(uint32_t *shards, int n) noexcept nogil:
    """Lock these shards (sorted and deduplicated in place) and keep them held
    until shards_release: commands run meanwhile see them locked already."""
    cdef int i, m = shards_lock_many(shards, n)
    global g_holding, g_held_lo, g_held_hi
    for i in range(m):
        g_held[shards[i]] = 1
    if m:
        g_held_lo = shards[0]
        g_held_hi = shards[m - 1]
    g_holding = m
    return m


cdef void shards_hold_all() noexcept nogil:
    global g_holding, g_held_lo, g_held_hi
    cdef uint32_t s
    shards_lock_all()
    for s in range(g_hdr.nshards):
        g_held[s] = 1
    g_held_lo = 0
    g_held_hi = g_hdr.nshards - 1
    g_holding = <int>g_hdr.nshards


cdef void shards_release() noexcept nogil:
    """Unlock every held shard, highest first."""
    global g_holding
    cdef uint32_t s = g_held_hi + 1
    if not g_holding:
        return
    g_holding = 0
    while s > g_held_lo:
        s -= 1
        if g_held[s]:
            g_held[s] = 0
            cc_unlock(shard_mutex(s))


# ---- whole-database operations -------------------------------------------------

cdef uint64_t db_size(uint32_t ldb) noexcept nogil:
    """Keys in a logical db (sum of per-shard counters, read without locks)."""
    cdef int64_t total = 0
    cdef uint32_t s, pdb = db_map()[ldb]
    for s in range(g_hdr.nshards):
        total += dbstat_at(s, pdb).keys
    return <uint64_t>total if total > 0 else 0


cdef uint64_t db_expires(uint32_t ldb) noexcept nogil:
    cdef int64_t total = 0
    cdef uint32_t s, pdb = db_map()[ldb]
    for s in range(g_hdr.nshards):
        total += dbstat_at(s, pdb).expires
    return <uint64_t>total if total > 0 else 0


cdef uint64_t shard_flush_locked(uint32_t s, int pdb) noexcept nogil:
    """Delete every key of physical db `pdb` (all dbs when -1) in shard s."""
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t
    cdef uint64_t i = 0, n = 0
    cdef slot_t *sl
    while True:
        t = shard_table(sh)
        if i > t.mask:
            break
        sl = tbl_slot(t, i)
        if sl.item and (pdb < 0 or IT(sl.item).db == pdb):
            key_delete_locked(s, i)      # may shift a later entry into i, or shrink
            n += 1
            if shard_table(sh) != t:
                i = 0
            continue
        i += 1
    return n


cdef uint64_t db_flush(int ldb) noexcept nogil:
    """FLUSHDB (ldb >= 0) or FLUSHALL (ldb = -1), one shard at a time."""
    cdef uint32_t s
    cdef uint64_t n = 0
    cdef int pdb
    for s in range(g_hdr.nshards):
        shard_lock(s)
        pdb = -1 if ldb < 0 else db_map()[ldb]
        n += shard_flush_locked(s, pdb)
        shard_unlock(s)
    cc_atomic_add(&g_hdr.generation, 1)
    return n


cdef void db_swap(uint32_t a, uint32_t b) noexcept nogil:
    """SWAPDB: exchange two logical dbs under every shard lock."""
    cdef int32_t *m = db_map()
    cdef int32_t t
    shards_lock_all()
    t = m[a]
    m[a] = m[b]
    m[b] = t
    cc_atomic_add(&g_hdr.generation, 1)
    shards_unlock_all()


def keyspace_info():
    """[(logical db, keys, expires)] for the visible dbs that hold keys."""
    cdef uint32_t db
    out = []
    for db in range(g_hdr.tenant_base):
        n = db_size(db)
        if n:
            out.append((db, n, db_expires(db)))
    return out
