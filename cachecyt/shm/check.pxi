# Invariant walk and test hooks of the shared-memory core. Nothing here is on a
# request path: the walk takes every lock and builds Python sets, which is fine
# for tests and a debug tool and far too slow for anything else.
#
# What the walk checks
#   Allocator: every owned page has a known class, its free list is a chain of
#   distinct chunks below the bump index, used = bump - free; each class's page,
#   chunk and partial-list bookkeeping matches its pages; used_memory is the sum
#   of live chunk sizes; pages_used is the number of owned pages; the pool list
#   holds only free pages.
#   Tables: each shard's directory, blocks and items are live chunks of a big
#   enough class; the occupied slot count is shard.count; each entry's hash is its
#   key's, its shard is this shard, and no empty slot lies between its home and
#   its slot (else lookups miss it); per-db key and TTL counters match.
#   Leaks: a live chunk that no table reaches (only judged when every item is a
#   string, list, hash, set or zset, whose chunks the walk knows completely).


cdef object _chunk_live(dict live, uint64_t off, uint64_t need, list errors, str what):
    """Record a reference to the chunk at off; it must be live and >= need bytes."""
    size = live.get(off)
    if size is None:
        errors.append(f"{what}: offset {off} is not a live chunk")
        return False
    if size < need:
        errors.append(f"{what}: chunk of {size} bytes at {off} holds {need}")
        return False
    return True


cdef _walk_allocator(list errors, dict live):
    """Fill live {chunk offset: chunk size} and check the allocator's books."""
    cdef uint64_t p, q, steps, c
    cdef uint32_t j
    cdef page_t *pg
    cdef class_t *cl
    nclasses = g_hdr.nclasses
    owned = 0
    class_pages = [0] * nclasses
    class_chunks = [0] * nclasses
    not_full = [set() for _ in range(nclasses)]
    free_pages = set()
    total = 0
    for p in range(g_hdr.npages):
        pg = page_at(p)
        if pg.cls == PAGE_FREE or pg.cls == PAGE_TAKEN:
            if p < g_hdr.page_next:
                free_pages.add(p)          # a taken page nobody claimed: lost
            elif pg.cls == PAGE_TAKEN:
                errors.append(f"page {p}: taken but never handed out by the pool")
            else:
                continue
            if pg.cls == PAGE_TAKEN:
                owned += 1                 # pages_used counts it until a repair
            continue
        if pg.cls >= nclasses:
            errors.append(f"page {p}: class {pg.cls} does not exist")
            continue
        if p >= g_hdr.page_next:
            errors.append(f"page {p}: owned but never handed out by the pool")
        cl = class_at(pg.cls)
        owned += 1
        class_pages[pg.cls] += 1
        if pg.bump > cl.per_page:
            errors.append(f"page {p}: bump {pg.bump} past {cl.per_page} chunks")
            continue
        freed = set()
        j = pg.free_head
        while j:
            if j > pg.bump or (j - 1) in freed:
                errors.append(f"page {p}: free list is broken at chunk {j - 1}")
                break
            freed.add(j - 1)
            j = (<uint32_t *>P(g_hdr.arena_off + (p << PAGE_SHIFT) + (j - 1) * cl.size))[0]
        if pg.used != pg.bump - len(freed):
            errors.append(f"page {p}: used {pg.used}, but {pg.bump - len(freed)} chunks are live")
        for j in range(pg.bump):
            if j not in freed:
                live[g_hdr.arena_off + (p << PAGE_SHIFT) + j * cl.size] = cl.size
                total += cl.size
        class_chunks[pg.cls] += pg.bump - len(freed)
        if pg.bump - len(freed) < cl.per_page:
            not_full[pg.cls].add(p)
    for c in range(nclasses):
        cl = class_at(c)
        if cl.pages != class_pages[c] or cl.chunks != class_chunks[c]:
            errors.append(f"class {c} ({cl.size} B): books say {cl.pages} pages, {cl.chunks} chunks; "
                          f"pages hold {class_pages[c]} pages, {class_chunks[c]} chunks")
        partial = set()
        q = cl.partial_head
        prev = 0
        while q:
            if q - 1 in partial or q > g_hdr.npages or page_at(q - 1).cls != c:
                errors.append(f"class {c}: partial list is broken at page {q - 1}")
                break
            if page_at(q - 1).prev != prev:
                errors.append(f"class {c}: page {q - 1} has a wrong back link")
            partial.add(q - 1)
            prev = q
            q = page_at(q - 1).next
        if partial != not_full[c]:
            errors.append(f"class {c}: partial list {sorted(partial)} != pages with room "
                          f"{sorted(not_full[c])}")
    if cc_atomic_load_i(&g_hdr.used_memory) != total:
        errors.append(f"used_memory {g_hdr.used_memory} != {total} bytes in live chunks")
    if g_hdr.pages_used != owned:
        errors.append(f"pages_used {g_hdr.pages_used} != {owned} owned pages")
    pool = set()
    q = g_hdr.page_free_head
    while q:
        if q - 1 in pool or q > g_hdr.npages or page_at(q - 1).cls != PAGE_FREE:
            errors.append(f"page pool is broken at page {q - 1}")
            break
        pool.add(q - 1)
        q = page_at(q - 1).next
    return free_pages - pool           # pages lost to the pool (leaks)


cdef _walk_shard(uint32_t s, list errors, dict live, set reached, list keys, list expires):
    """Check shard s's table and entries; add every chunk it reaches to `reached`.
    Returns False when an item of a type the walk cannot follow was seen."""
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t
    cdef slot_t *sl
    cdef item_t *it
    cdef uint64_t i, b, n, home, used = 0, e
    cdef bytes key
    complete = True
    if not _chunk_live(live, sh.table_off, 16, errors, f"shard {s} table"):
        return complete
    reached.add(sh.table_off)
    t = shard_table(sh)
    n = t.mask + 1
    if n & t.mask or n < MIN_TABLE:
        errors.append(f"shard {s}: {n} slots is not a power of two >= {MIN_TABLE}")
        return complete
    if t.nblocks != (1 if n <= BLOCK_SLOTS else n >> BLOCK_SHIFT):
        errors.append(f"shard {s}: {t.nblocks} blocks for {n} slots")
        return complete
    if not _chunk_live(live, sh.table_off, 16 + 8 * t.nblocks, errors, f"shard {s} directory"):
        return complete
    for b in range(t.nblocks):
        if not _chunk_live(live, t.blocks[b], min(n, BLOCK_SLOTS) * sizeof(slot_t), errors,
                           f"shard {s} block {b}"):
            return complete
        reached.add(t.blocks[b])
    for i in range(n):
        sl = tbl_slot(t, i)
        if not sl.item:
            continue
        used += 1
        where = f"shard {s} slot {i}"
        if sl.item in reached:
            errors.append(f"{where}: item {sl.item} is referenced twice")
            continue
        if not _chunk_live(live, sl.item, ITEM_HDR, errors, where):
            continue
        reached.add(sl.item)
        it = IT(sl.item)
        if it.type == T_HASH or it.type == T_SET:
            _walk_collection(it, errors, live, reached, where)    # types/dict.pxi
        elif it.type == T_ZSET:
            zs_check(it, live, reached, errors, where)
        elif it.type == T_LIST:
            walk_list(it, errors, live, reached, where)      # types/list.pxi
        elif it.type != T_STRING:
            complete = False
        if it.db >= g_hdr.ndbs:
            errors.append(f"{where}: db {it.db} does not exist")
            continue
        if it.iflags & IF_EXTENTS:
            e = item_nextents(it.klen + it.vlen)
            if not _chunk_live(live, sl.item, ITEM_HDR + 8 * item_dirlen(it), errors, where):
                continue
            if it.iflags & IF_EXTENTS2:
                for b in range(item_dirlen(it)):
                    if _chunk_live(live, item_extents(it)[b], PAGE_SIZE, errors, f"{where} index {b}"):
                        reached.add(item_extents(it)[b])
            for b in range(e):
                if _chunk_live(live, item_extent_slot(it, b)[0], PAGE_SIZE, errors, f"{where} extent {b}"):
                    reached.add(item_extent_slot(it, b)[0])
        elif it.type in (T_STRING, T_LIST, T_ZSET) and not _chunk_live(live, sl.item, ITEM_HDR + it.klen + it.vlen,
                                                                       errors, where):
            continue
        key = PyBytes_FromStringAndSize(NULL, it.klen)
        item_read(it, 0, <char *>key, it.klen)
        if cc_hash(key, it.klen) != sl.hash and key not in _TEST_CHOSEN_HASH:
            errors.append(f"{where}: stored hash is not the hash of key {key[:40]!r}")
        if shard_of(sl.hash) != s:
            errors.append(f"{where}: hash belongs to shard {shard_of(sl.hash)}")
        home = home_of(sl.hash, t.mask)
        while home != i:
            if not tbl_slot(t, home).item:
                errors.append(f"{where}: empty slot {home} between the home and the entry "
                              f"of key {key[:40]!r}")
                break
            home = (home + 1) & t.mask
        keys[it.db] += 1
        if it.expire_ms:
            expires[it.db] += 1
    if used != sh.count:
        errors.append(f"shard {s}: count {sh.count} != {used} occupied slots")
    _tbl_check_build(s, errors, live, reached)      # shm/table.pxi: a table being built
    return complete


def _test_check_invariants():
    """Walk the allocator and every shard table under all locks. Returns
    {'errors': [text], 'leaked_chunks': n or None, 'leaked_pages': n}; leaks are
    reported apart because a process killed mid-write may leave some behind."""
    cdef uint32_t s, c, d
    cdef dbstat_t *ds
    errors = []
    live = {}
    reached = set()
    complete = True
    shards_lock_all()
    for c in range(g_hdr.nclasses):
        class_lock(c)
    page_lock()
    try:
        lost_pages = _walk_allocator(errors, live)
        for s in range(g_hdr.nshards):
            keys = [0] * g_hdr.ndbs
            expires = [0] * g_hdr.ndbs
            complete = _walk_shard(s, errors, live, reached, keys, expires) and complete
            for d in range(g_hdr.ndbs):
                ds = dbstat_at(s, d)
                if ds.keys != keys[d] or ds.expires != expires[d]:
                    errors.append(f"shard {s} db {d}: counters say {ds.keys} keys, {ds.expires} "
                                  f"with TTL; table holds {keys[d]}, {expires[d]}")
        _check_tenant_keys(errors)
        persist_reached(reached)                # shm/wal.pxi: the persistence state
        ps_mark_reached(reached)                   # the pub/sub registry (shm/pubsub.pxi)
    finally:
        cc_unlock(page_mutex())
        c = g_hdr.nclasses
        while c > 0:
            c -= 1
            cc_unlock(class_mutex(c))
        shards_unlock_all()
    owned = []
    sketch_chunks(owned)                 # shm/sketch.pxi, shm/evict.pxi: not reached from any key
    window_chunks(owned)
    reached.update(owned)
    leaked = len(set(live) - reached) if complete else None
    return {'errors': errors, 'leaked_chunks': leaked, 'leaked_pages': len(lost_pages)}


# ---- test hooks ------------------------------------------------------------------
# Store, find and delete string keys under a hash the test chooses, to force keys
# into one home slot. A key stored under a chosen hash is found only through the
# same hash, so the walk is told not to expect cc_hash(key) for it.

_TEST_CHOSEN_HASH = set()       # keys stored under a chosen hash


def _test_hash(bytes key):
    return cc_hash(key, len(key))


cdef void _test_kref(kref_t *k, bytes key, object h) except *:
    kref_init(k, key, len(key))
    if h is not None:
        k.h = h
        k.shard = shard_of(k.h)
        _TEST_CHOSEN_HASH.add(key)


def _test_store(bytes key, bytes value, h=None, int64_t expire_ms=0, uint32_t db=0):
    """SET key value (raw string) in logical db `db`, hashed as `h` when given.
    Returns True, or False when out of memory."""
    cdef kref_t k
    cdef uint64_t off
    cdef int st = ST_NOMEM
    cdef int64_t now = cc_now_ms()
    _test_kref(&k, key, h)
    shard_lock(k.shard)
    key_find_locked(&k, db, now)
    off = item_new(k.pdb, k.key, k.klen, len(value), T_STRING, ENC_RAW, now)
    if off:
        item_write(IT(off), k.klen, value, len(value))
        IT(off).expire_ms = expire_ms
        st = key_store_locked(&k, off)
    shard_unlock(k.shard)
    return st == ST_OK


def _test_find(bytes key, h=None, uint32_t db=0):
    """The value of key (hashed as `h` when given), or None."""
    cdef kref_t k
    cdef bytes out = None
    _test_kref(&k, key, h)
    shard_lock(k.shard)
    if key_find_locked(&k, db, cc_now_ms()):
        out = PyBytes_FromStringAndSize(NULL, IT(k.item).vlen)
        item_read(IT(k.item), k.klen, <char *>out, IT(k.item).vlen)
    shard_unlock(k.shard)
    return out


def _test_delete(bytes key, h=None, uint32_t db=0):
    """Delete key; True when it existed."""
    cdef kref_t k
    cdef bint found
    _test_kref(&k, key, h)
    shard_lock(k.shard)
    found = key_find_locked(&k, db, cc_now_ms()) != 0
    if found:
        key_remove_locked(&k)
    shard_unlock(k.shard)
    return found


def _test_shard_info(uint32_t s):
    """{'slots', 'count', 'repairs', 'entries': [(slot, hash)]} of shard s (no lock:
    call it while no other process writes)."""
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t = shard_table(sh)
    cdef uint64_t i
    entries = []
    for i in range(t.mask + 1):
        if tbl_slot(t, i).item:
            entries.append((i, tbl_slot(t, i).hash))
    return {'slots': t.mask + 1, 'count': sh.count, 'repairs': sh.repairs, 'entries': entries}


def _test_lock_shard(uint32_t s):
    """Take shard s's lock (repairing the shard if its last owner died)."""
    with nogil:
        shard_lock(s)


def _test_unlock_shard(uint32_t s):
    shard_unlock(s)


def _test_lock_class(uint32_t c):
    """Take size class c's lock (repairing the class if its last owner died)."""
    with nogil:
        class_lock(c)


def _test_unlock_class(uint32_t c):
    cc_unlock(class_mutex(c))


def _test_expire_cycle(int worker=0, int nworkers=1, int budget_us=1000000):
    """One active expiry cycle; the keys it removed."""
    return active_expire(worker, nworkers, budget_us)


def _test_shard_of(uint64_t h):
    return shard_of(h)


def _test_home(uint64_t h, uint32_t s):
    """Home slot of hash h in shard s's current table."""
    return home_of(h, shard_table(shard_at(s)).mask)


def _test_debug_build():
    """True when built with CACHECYT_DEBUG=1."""
    return bool(CACHECYT_DEBUG)


def _test_fill(uint64_t start, uint64_t n, uint64_t vlen):
    """Store keys fill:<i> for i in [start, start + n) with a value of vlen bytes
    made from i, in one nogil loop (lock tests kill a process in here). Returns
    the keys stored before memory ran out."""
    cdef uint64_t i, j, off, done = 0
    cdef char key[32]
    cdef int klen
    cdef char *val = <char *>malloc(vlen + 1)
    cdef kref_t k
    cdef int64_t now = cc_now_ms()
    if val == NULL:
        raise MemoryError()
    with nogil:
        for i in range(start, start + n):
            klen = snprintf(key, 32, "fill:%llu", <unsigned long long>i)
            for j in range(vlen):
                val[j] = <char>(97 + (i + j) % 26)
            kref_init(&k, key, klen)
            shard_lock(k.shard)
            key_find_locked(&k, 0, now)
            off = item_new(k.pdb, key, klen, vlen, T_STRING, ENC_RAW, now)
            if off:
                item_write(IT(off), klen, val, vlen)
                if key_store_locked(&k, off) == ST_OK:
                    done += 1
            shard_unlock(k.shard)
            if not off:
                break
    free(val)
    return done


def _test_fill_value(uint64_t i, uint64_t vlen):
    return bytes(97 + (i + j) % 26 for j in range(vlen))


# ---- corruption hooks: tests prove the walk and the debug checks catch these -------

def _test_corrupt_count(uint32_t s, int64_t delta):
    shard_at(s).count += delta


def _test_corrupt_clear_slot(uint32_t s, uint64_t i):
    """Empty slot i of shard s without closing the gap (a torn backward shift)."""
    cdef slot_t *sl = tbl_slot(shard_table(shard_at(s)), i)
    sl.item = 0
    sl.hash = 0


def _test_slot_item(uint32_t s, uint64_t i):
    return tbl_slot(shard_table(shard_at(s)), i).item


def _test_set_slot(uint32_t s, uint64_t i, uint64_t h, uint64_t item):
    """Write slot i of shard s as a torn shift may leave it."""
    cdef slot_t *sl = tbl_slot(shard_table(shard_at(s)), i)
    sl.hash = h
    sl.item = item


def _test_lock_pages():
    with nogil:
        page_lock()


def _test_unlock_pages():
    cc_unlock(page_mutex())


def _test_corrupt_pool():
    """Forget the page pool, as a death in the middle of a pool update may."""
    g_hdr.page_free_head = 0
    g_hdr.pages_used += 3


def _test_find_unlocked(bytes key):
    """tbl_find_locked without the lock: a bug the debug build must catch."""
    cdef kref_t k
    kref_init(&k, key, len(key))
    return tbl_find_locked(shard_at(k.shard), k.h, 0, k.key, k.klen)


cdef void _check_tenant_keys(list errors) except *:
    """Each tenant's key total (shm/tenantmem.pxi) equals the keys of its db."""
    cdef uint32_t t, s
    cdef int64_t total
    if not g_hdr.tenants_off:
        return
    for t in range(g_hdr.tenant_slots):
        total = 0
        for s in range(g_hdr.nshards):
            total += dbstat_at(s, g_hdr.tenant_base + t).keys
        if total != tn_at(t).keys:
            errors.append(f"tenant slot {t}: counter says {tn_at(t).keys} keys, its db holds {total}")
