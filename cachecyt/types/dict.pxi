# Nested tables: the open-addressing table a big collection (hash, set, a sorted
# set's member index) keeps its elements in, inside the segment. It owns only
# slots and element chunks; it takes no lock: the whole collection is guarded by
# its key's shard lock, which every caller holds.
#
# API (element = opaque chunk with a key part; the caller hashes the key with
# cc_hash and decides what the value part means):
#   elem_new(key, klen, val, vlen) -> offset or 0   an element chunk
#   elem_free(off), elem_mem(off), elem_klen/elem_vlen(off)
#   elem_key_eq(off, key, klen), elem_read(off, pos, dst, n) (pos into key||value)
#   elem_emit_key / elem_emit_val(w, off)           append as a RESP bulk string
#   dict_new(cap) -> offset or 0, dict_free(off, free_elems)
#   dict_find(d, h, key, klen) -> slot index or -1, dict_elem(d, i)
#   dict_find_elem(d, h, elem) -> slot index of that very element or -1
#   dict_insert(&doff, h, elem)  (absent key; may move the dict: doff updated)
#   dict_delete_at(&doff, i) -> the element (not freed; may shrink the dict)
#   dict_set_elem(d, i, elem)   replace an element in place (same key)
#   dict_random(d) -> slot index of a uniformly chosen element (d.count > 0)
#   dict_scan(d, cursor, fn, ctx, count) -> next cursor (0 = done)
#
# Element chunk: elem_t {klen, vlen} then key || value. When 8 + klen + vlen
# exceeds a page, the header is followed by the offsets of whole-page extents
# holding key || value (as items do), so no element needs more than a page.
#
# How it works
#   Slots are slot_t {hash, element offset}, offset 0 = empty; home slot is
#   hash & mask; linear probing; deletion shifts later entries of the run back
#   (no tombstones), so lookup, insert and delete are O(1) on average. Slots live
#   in blocks of at most BLOCK_SLOTS (one page), listed in the dict_t directory,
#   so a table of millions of slots never needs a contiguous region above a
#   page. Growth doubles at load > 0.7, shrink halves at load < 0.1; both build
#   a new dict_t that drains the old one a few runs per insert or delete (see
#   "resizing by draining"), so no single command moves the whole table.
#   The directory is inline in dict_t: at most 8185 blocks, 33M slots.
# Random element: uniform by rejection (random slot until one is occupied);
#   the load is at least 0.1 except in a tiny table, so ~10 draws at worst;
#   after 256 misses, the first element from a random slot on.
# SCAN cursor: homes in reverse-binary order (as shm/table.pxi): visiting home
#   b returns every entry of the run from b whose home is b. Doubling splits
#   home b into b and b + size, halving merges them: both differ only in high
#   bits, which the reversed cursor increments first, so a full scan returns
#   every element present throughout (some maybe twice) across resizes.

ctypedef struct elem_t:
    uint32_t klen                # key bytes
    uint32_t vlen                # value bytes (0 for set members)

ctypedef struct dict_t:
    uint64_t count               # elements (those still in the old table included)
    uint64_t mask                # slots - 1
    uint64_t nblocks             # slot blocks
    uint64_t mem                 # bytes of element chunks (MEMORY USAGE)
    uint64_t old                 # the table a resize is draining into this one, 0 = none
    uint64_t old_next            # old slots passed so far, from old_start on
    uint64_t old_start           # where the drain began: an empty slot of the old table
    uint64_t kind                # DICT_ELEMS, or DICT_NODES: a sorted set's member index
    uint64_t blocks[1]           # offsets of slot blocks

ctypedef void (*dict_visit_t)(void *ctx, uint64_t elem) noexcept nogil

cdef enum:
    DICT_HDR = 64                # sizeof(dict_t) without blocks
    DICT_ELEMS = 0               # slots hold element chunks (hash, set)
    DICT_NODES = 1               # slots hold skiplist nodes, keyed by member (types/zset.pxi)
    ELEM_HDR = 8
    DICT_MIN = 8                 # smallest slot count
    DICT_MAX_BLOCKS = (PAGE_SIZE - DICT_HDR) // 8


# ---- element chunks ------------------------------------------------------------

cdef inline elem_t *EL(uint64_t off) noexcept nogil:
    return <elem_t *>(g_base + off)

cdef inline bint elem_big(uint64_t klen, uint64_t vlen) noexcept nogil:
    return ELEM_HDR + klen + vlen > PAGE_SIZE

cdef inline char *elem_data(uint64_t off) noexcept nogil:
    """key || value of an element that is not big."""
    return (<char *>EL(off)) + ELEM_HDR

cdef inline uint64_t *elem_extents(uint64_t off) noexcept nogil:
    return <uint64_t *>((<char *>EL(off)) + ELEM_HDR)

cdef inline uint64_t elem_klen(uint64_t off) noexcept nogil:
    return EL(off).klen

cdef inline uint64_t elem_vlen(uint64_t off) noexcept nogil:
    return EL(off).vlen


cdef void _elem_copy(uint64_t off, uint64_t pos, char *buf, uint64_t n, bint to_elem) noexcept nogil:
    """Copy n bytes between buf and the element's key || value at pos."""
    cdef elem_t *e = EL(off)
    cdef uint64_t x, within, step
    if not elem_big(e.klen, e.vlen):
        if to_elem:
            memcpy(elem_data(off) + pos, buf, n)
        else:
            memcpy(buf, elem_data(off) + pos, n)
        return
    while n:
        x = pos >> PAGE_SHIFT
        within = pos & (PAGE_SIZE - 1)
        step = PAGE_SIZE - within
        if step > n:
            step = n
        if to_elem:
            memcpy(g_base + elem_extents(off)[x] + within, buf, step)
        else:
            memcpy(buf, g_base + elem_extents(off)[x] + within, step)
        pos += step
        buf += step
        n -= step


cdef inline void elem_read(uint64_t off, uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    _elem_copy(off, pos, dst, n, False)


cdef uint64_t elem_new(const char *key, uint64_t klen, const char *val, uint64_t vlen) noexcept nogil:
    """A new element chunk holding key and value, or 0 (no memory, too big)."""
    cdef uint64_t off, n, i, x
    if klen > <uint64_t>0xffffffffU or vlen > <uint64_t>0xffffffffU:
        return 0
    if not elem_big(klen, vlen):
        off = slab_alloc(ELEM_HDR + klen + vlen)
        if off == 0:
            return 0
    else:
        n = (klen + vlen + PAGE_SIZE - 1) >> PAGE_SHIFT
        if ELEM_HDR + 8 * n > PAGE_SIZE:
            return 0
        off = slab_alloc(ELEM_HDR + 8 * n)
        if off == 0:
            return 0
        for i in range(n):
            x = slab_alloc(PAGE_SIZE)
            if x == 0:
                while i > 0:
                    i -= 1
                    slab_free(elem_extents(off)[i])
                slab_free(off)
                return 0
            elem_extents(off)[i] = x
    EL(off).klen = <uint32_t>klen
    EL(off).vlen = <uint32_t>vlen
    _elem_copy(off, 0, <char *>key, klen, True)
    if vlen:
        _elem_copy(off, klen, <char *>val, vlen, True)
    return off


cdef uint64_t elem_mem(uint64_t off) noexcept nogil:
    """Arena bytes of the element (chunk and extents)."""
    cdef elem_t *e = EL(off)
    cdef uint64_t total = slab_chunk_size(off)
    if elem_big(e.klen, e.vlen):
        total += ((e.klen + e.vlen + PAGE_SIZE - 1) >> PAGE_SHIFT) * PAGE_SIZE
    return total


cdef void elem_free(uint64_t off) noexcept nogil:
    cdef elem_t *e = EL(off)
    cdef uint64_t i, n
    if elem_big(e.klen, e.vlen):
        n = (e.klen + e.vlen + PAGE_SIZE - 1) >> PAGE_SHIFT
        for i in range(n):
            slab_free(elem_extents(off)[i])
    slab_free(off)


cdef bint elem_key_eq(uint64_t off, const char *key, uint64_t klen) noexcept nogil:
    cdef elem_t *e = EL(off)
    cdef uint64_t pos = 0, step
    cdef char tmp[256]
    if e.klen != klen:
        return False
    if not elem_big(e.klen, e.vlen):
        return memcmp(elem_data(off), key, klen) == 0
    while pos < klen:
        step = klen - pos
        if step > 256:
            step = 256
        elem_read(off, pos, tmp, step)
        if memcmp(tmp, key + pos, step) != 0:
            return False
        pos += step
    return True


cdef void _elem_emit(wbuf_t *w, uint64_t off, uint64_t pos, uint64_t n) noexcept nogil:
    if not wb_reserve(w, n + 26):
        return
    wb_bulk_hdr(w, n)
    elem_read(off, pos, w.p + w.len, n)
    w.p[w.len + n] = 13
    w.p[w.len + n + 1] = 10
    w.len += n + 2


cdef inline void elem_emit_key(wbuf_t *w, uint64_t off) noexcept nogil:
    _elem_emit(w, off, 0, EL(off).klen)

cdef inline void elem_emit_val(wbuf_t *w, uint64_t off) noexcept nogil:
    _elem_emit(w, off, EL(off).klen, EL(off).vlen)


# ---- the table -------------------------------------------------------------------
# Slot ids: 0..mask are the slots of the table itself; while a resize drains the
# previous table into it, ids mask+1.. name the old table's slots. An id stays
# valid until the next insert or delete on the dict.

cdef inline dict_t *DT(uint64_t off) noexcept nogil:
    return <dict_t *>(g_base + off)

cdef slot_t g_no_slot                         # what a block not yet allocated reads as: empty

cdef inline slot_t *_tslot(dict_t *t, uint64_t i) noexcept nogil:
    """Slot i of one table (no old-table ids), for reading, or for writing one
    that holds an element. A block not allocated yet reads as empty slots."""
    cdef uint64_t b = t.blocks[i >> BLOCK_SHIFT]
    if b == 0:
        return &g_no_slot
    return (<slot_t *>P(b)) + (i & (BLOCK_SLOTS - 1))


cdef slot_t *_tslot_new(dict_t *t, uint64_t i) noexcept nogil:
    """Slot i for storing an element: allocates its block first if needed
    (NULL when out of memory). Big tables get their blocks on first use, so
    making one costs no more than its directory and the page faults of a
    resize are spread over the inserts that follow."""
    cdef uint64_t *bp = &t.blocks[i >> BLOCK_SHIFT]
    if bp[0] == 0:
        bp[0] = slab_alloc(PAGE_SIZE)
        if bp[0] == 0:
            return NULL
        memset(P(bp[0]), 0, PAGE_SIZE)
    return (<slot_t *>P(bp[0])) + (i & (BLOCK_SLOTS - 1))

cdef inline slot_t *dict_slot(dict_t *d, uint64_t id) noexcept nogil:
    if id <= d.mask:
        return _tslot(d, id)
    return _tslot(DT(d.old), id - d.mask - 1)

cdef inline uint64_t dict_span(dict_t *d) noexcept nogil:
    """Number of slot ids (both tables while a resize drains)."""
    return d.mask + 1 + (DT(d.old).mask + 1 if d.old else 0)

cdef inline uint64_t dict_elem(dict_t *d, uint64_t id) noexcept nogil:
    return dict_slot(d, id).item

cdef inline void dict_set_elem(dict_t *d, uint64_t id, uint64_t elem) noexcept nogil:
    dict_slot(d, id).item = elem


cdef uint64_t dict_new(uint64_t cap) noexcept nogil:
    """An empty dict of `cap` (power of two) slots, or 0."""
    cdef uint64_t nblocks = 1 if cap <= BLOCK_SLOTS else cap >> BLOCK_SHIFT
    cdef uint64_t bsize = cap * sizeof(slot_t) if cap <= BLOCK_SLOTS else PAGE_SIZE
    cdef uint64_t doff, i, b
    cdef dict_t *d
    if nblocks > DICT_MAX_BLOCKS:
        return 0
    doff = slab_alloc(DICT_HDR + 8 * nblocks)
    if doff == 0:
        return 0
    d = DT(doff)
    d.count = 0
    d.mem = 0
    d.mask = cap - 1
    d.nblocks = nblocks
    d.old = 0
    d.old_next = 0
    d.old_start = 0
    d.kind = DICT_ELEMS
    if nblocks > 1:                             # blocks come on first use (_tslot_new)
        memset(d.blocks, 0, 8 * nblocks)
        return doff
    b = slab_alloc(bsize)
    if b == 0:
        slab_free(doff)
        return 0
    memset(P(b), 0, bsize)
    d.blocks[0] = b
    return doff


cdef void _table_free(uint64_t toff, bint free_elems) noexcept nogil:
    """Free one table (and its elements when asked)."""
    cdef dict_t *t = DT(toff)
    cdef uint64_t i
    cdef slot_t *sl
    if free_elems and t.count:
        for i in range(t.mask + 1):
            sl = _tslot(t, i)
            if sl.item:
                elem_free(sl.item)
    for i in range(t.nblocks):
        if t.blocks[i]:
            slab_free(t.blocks[i])
    slab_free(toff)


cdef uint64_t dict_new_index(uint64_t cap) noexcept nogil:
    """An empty member index (DICT_NODES) of `cap` slots, or 0."""
    cdef uint64_t doff = dict_new(cap)
    if doff:
        DT(doff).kind = DICT_NODES
    return doff


cdef void dict_clear(dict_t *d) noexcept nogil:
    """Empty the dict in place (its elements are not freed)."""
    cdef uint64_t b
    dict_settle(d)
    for b in range(d.nblocks):
        if d.blocks[b]:
            memset(P(d.blocks[b]), 0, (d.mask + 1) * sizeof(slot_t) if d.nblocks == 1 else PAGE_SIZE)
    d.count = 0
    d.mem = 0


cdef void dict_free(uint64_t doff, bint free_elems) noexcept nogil:
    if DT(doff).old:
        _table_free(DT(doff).old, free_elems)
    _table_free(doff, free_elems)


cdef uint64_t _table_mem(uint64_t toff) noexcept nogil:
    cdef dict_t *t = DT(toff)
    cdef uint64_t total = slab_chunk_size(toff), i
    for i in range(t.nblocks):
        if t.blocks[i]:
            total += slab_chunk_size(t.blocks[i])
    return total


cdef uint64_t dict_table_mem(uint64_t doff) noexcept nogil:
    """Arena bytes of the directories and slot blocks (elements apart)."""
    return _table_mem(doff) + (_table_mem(DT(doff).old) if DT(doff).old else 0)


cdef inline bint _dict_place(dict_t *d, uint64_t h, uint64_t elem) noexcept nogil:
    """Store an element in the first free slot from its home; False when its
    block could not be allocated."""
    cdef uint64_t i = h & d.mask
    cdef slot_t *sl = _tslot(d, i)
    while sl.item:
        i = (i + 1) & d.mask
        sl = _tslot(d, i)
    sl = _tslot_new(d, i)
    if sl == NULL:
        return False
    sl.hash = h
    sl.item = elem
    return True


# ---- resizing by draining ------------------------------------------------------------
# A resize makes a new table (twice or half the slots) that points to the old
# one, and moves the old entries over a few runs at a time, at each insert and
# delete: no command pays for moving a million entries at once. The drain walks
# the old table from one of its empty slots and moves whole runs (maximal blocks
# of occupied slots), so an entry not yet moved is always still reachable from
# its home; nothing is ever inserted into the old table. A lookup tries the new
# table, then the old. Tables of at most DRAIN_MIN slots are moved at once.

cdef enum:
    DRAIN_STEP = 64              # old slots passed per insert or delete (whole runs)
    DRAIN_MIN = BLOCK_SLOTS      # smaller tables are resized in one go


cdef void _dict_drain(dict_t *d, uint64_t budget) noexcept nogil:
    """Move runs of the old table into d until `budget` slots were passed (the
    run under way is finished); free the old table once it is empty."""
    cdef dict_t *o = DT(d.old)
    cdef slot_t *sl
    while o.count and d.old_next <= o.mask:
        sl = _tslot(o, (d.old_start + d.old_next) & o.mask)
        if sl.item:
            if not _dict_place(d, sl.hash, sl.item):
                return                          # out of memory: try again later
            sl.item = 0
            sl.hash = 0
            o.count -= 1
        elif budget == 0:
            return                              # stop only between runs
        d.old_next += 1
        if budget:
            budget -= 1
    if o.count == 0:
        _table_free(d.old, False)
        d.old = 0
        d.old_next = 0
        d.old_start = 0


cdef inline void dict_settle(dict_t *d) noexcept nogil:
    """Finish a resize under way."""
    if d.old:
        _dict_drain(d, <uint64_t>-1)


cdef int dict_resize(uint64_t *dp, uint64_t cap) noexcept nogil:
    """Start moving the dict at dp[0] into a new one of `cap` slots (at once for
    a small table). ST_OK or ST_NOMEM (nothing changed)."""
    cdef uint64_t noff, start = 0
    cdef dict_t *old = DT(dp[0])
    cdef dict_t *nd
    dict_settle(old)
    noff = dict_new(cap)
    if noff == 0:
        return ST_NOMEM
    nd = DT(noff)
    nd.count = old.count
    nd.mem = old.mem
    nd.kind = old.kind
    while _tslot(old, start).item:              # a table is never full
        start += 1
    nd.old = dp[0]
    nd.old_start = start
    dp[0] = noff
    if old.mask < DRAIN_MIN or old.count == 0:
        dict_settle(nd)
    return ST_OK


cdef inline uint64_t _own_count(dict_t *d) noexcept nogil:
    """Entries in d's own table (not counting the old one being drained)."""
    return d.count - (DT(d.old).count if d.old else 0)


cdef inline bint _key_eq(dict_t *t, uint64_t e, const char *key, uint64_t klen) noexcept nogil:
    if t.kind == DICT_NODES:
        return zn_key_eq(e, key, klen)
    return elem_key_eq(e, key, klen)


cdef inline uint64_t _mem_of(dict_t *d, uint64_t e) noexcept nogil:
    """Element bytes a dict counts (a member index counts none: its nodes belong
    to the skiplist)."""
    return 0 if d.kind == DICT_NODES else elem_mem(e)


cdef int64_t _table_find(dict_t *t, uint64_t h, const char *key, uint64_t klen) noexcept nogil:
    cdef uint64_t i = h & t.mask
    cdef slot_t *sl = _tslot(t, i)
    while sl.item:
        if sl.hash == h and _key_eq(t, sl.item, key, klen):
            return <int64_t>i
        i = (i + 1) & t.mask
        sl = _tslot(t, i)
    return -1


cdef int64_t dict_find(dict_t *d, uint64_t h, const char *key, uint64_t klen) noexcept nogil:
    """Slot id of the element with this key, or -1."""
    cdef int64_t i = _table_find(d, h, key, klen)
    if i >= 0 or not d.old:
        return i
    i = _table_find(DT(d.old), h, key, klen)
    return i + <int64_t>d.mask + 1 if i >= 0 else -1


cdef int64_t _table_find_elem(dict_t *t, uint64_t h, uint64_t elem) noexcept nogil:
    cdef uint64_t i = h & t.mask
    cdef slot_t *sl = _tslot(t, i)
    while sl.item:
        if sl.item == elem:
            return <int64_t>i
        i = (i + 1) & t.mask
        sl = _tslot(t, i)
    return -1


cdef int64_t dict_find_elem(dict_t *d, uint64_t h, uint64_t elem) noexcept nogil:
    """Slot id of this very element (hash h), or -1: no key is compared."""
    cdef int64_t i = _table_find_elem(d, h, elem)
    if i >= 0 or not d.old:
        return i
    i = _table_find_elem(DT(d.old), h, elem)
    return i + <int64_t>d.mask + 1 if i >= 0 else -1


cdef int dict_insert(uint64_t *dp, uint64_t h, uint64_t elem) noexcept nogil:
    """Add an element whose key is absent. ST_OK or ST_NOMEM (table full and no
    memory to grow; the element is not freed)."""
    cdef dict_t *d = DT(dp[0])
    if d.old:
        _dict_drain(d, DRAIN_STEP)
    if (_own_count(d) + 1) * 10 > (d.mask + 1) * 7:
        dict_settle(d)
        if dict_resize(dp, (d.mask + 1) * 2) != ST_OK and d.count + 1 > d.mask:
            return ST_NOMEM
        d = DT(dp[0])
    if not _dict_place(d, h, elem):
        return ST_NOMEM
    d.count += 1
    d.mem += _mem_of(d, elem)
    return ST_OK


cdef uint64_t _table_delete(dict_t *t, uint64_t i) noexcept nogil:
    """Empty slot i of one table and close the gap (backward shift); returns the
    element. Counts are the caller's."""
    cdef uint64_t j = i, k = i, home
    cdef slot_t *hole = _tslot(t, i)
    cdef slot_t *sl
    cdef uint64_t elem = hole.item
    while True:
        k = (k + 1) & t.mask
        sl = _tslot(t, k)
        if not sl.item:
            break
        home = sl.hash & t.mask
        # the entry at k may move to the hole at j unless its home lies in (j, k]
        if (j <= k and (home <= j or home > k)) or (j > k and (home <= j and home > k)):
            hole.hash = sl.hash
            hole.item = sl.item
            j = k
            hole = sl
    hole.item = 0
    hole.hash = 0
    return elem


cdef uint64_t dict_delete_at(uint64_t *dp, uint64_t id) noexcept nogil:
    """Remove the element at slot id and close the gap; returns the element (not
    freed). May start shrinking the dict (dp[0] updated)."""
    cdef dict_t *d = DT(dp[0])
    cdef uint64_t elem
    if id <= d.mask:
        elem = _table_delete(d, id)
    else:
        elem = _table_delete(DT(d.old), id - d.mask - 1)
        DT(d.old).count -= 1
    d.count -= 1
    d.mem -= _mem_of(d, elem)
    if d.old:
        _dict_drain(d, DRAIN_STEP)
    elif d.mask + 1 > DICT_MIN and d.count * 10 < d.mask + 1:
        dict_resize(dp, (d.mask + 1) // 2)          # no memory: stay big
    return elem


cdef void dict_replace_at(dict_t *d, uint64_t id, uint64_t elem) noexcept nogil:
    """Put a new element (same key) at slot id; the old one is not freed."""
    cdef slot_t *sl = dict_slot(d, id)
    d.mem -= _mem_of(d, sl.item)
    d.mem += _mem_of(d, elem)
    sl.item = elem


cdef uint64_t dict_random(dict_t *d) noexcept nogil:
    """Slot id of a uniformly chosen element; d.count > 0. Each element holds one
    slot of one table, so a uniform slot id that is occupied is a uniform element."""
    cdef uint64_t span = dict_span(d), i, tries
    for tries in range(256):
        i = cc_rand() % span
        if dict_slot(d, i).item:
            return i
    i = cc_rand() % span
    while not dict_slot(d, i).item:
        i = i + 1 if i + 1 < span else 0
    return i


cdef uint64_t _scan_home(dict_t *t, uint64_t v, dict_visit_t fn, void *ctx) noexcept nogil:
    """Visit the entries of table t whose home is v (the run from slot v)."""
    cdef uint64_t i = v, steps = 0, seen = 0
    cdef slot_t *sl = _tslot(t, i)
    while sl.item and steps <= t.mask:
        if (sl.hash & t.mask) == v:
            fn(ctx, sl.item)
            seen += 1
        i = (i + 1) & t.mask
        sl = _tslot(t, i)
        steps += 1
    return seen


cdef uint64_t dict_scan(dict_t *d, uint64_t cursor, dict_visit_t fn, void *ctx,
                        uint64_t count) noexcept nogil:
    """Visit the elements of homes from `cursor` in reverse-binary order until
    at least `count` were visited (or ten homes per count passed); returns the
    next cursor, 0 when the scan is complete. While a resize drains, a home v of
    the smaller table is visited there and, in the larger table, as the homes
    v and v + size that split from it."""
    cdef dict_t *small = d
    cdef dict_t *big = NULL
    cdef uint64_t v, seen = 0, visits = count * 10
    if d.old:
        big = DT(d.old)
        if big.mask < d.mask:
            small = big
            big = d
    v = cursor & small.mask
    while True:
        seen += _scan_home(small, v, fn, ctx)
        if big != NULL:
            seen += _scan_home(big, v, fn, ctx)
            seen += _scan_home(big, v + small.mask + 1, fn, ctx)
        v = rev_next(v, small.mask)
        if visits:
            visits -= 1
        if v == 0 or seen >= count or visits == 0:
            return v


cdef int dict_dup(uint64_t *dp, uint64_t src) noexcept nogil:
    """A deep copy of dict src into dp[0]: ST_OK or ST_NOMEM (nothing left)."""
    cdef dict_t *s = DT(src)
    cdef uint64_t doff = dict_new(s.mask + 1), i, e
    cdef dict_t *d
    cdef slot_t *sl
    if doff == 0:
        return ST_NOMEM
    d = DT(doff)
    for i in range(dict_span(s)):
        sl = dict_slot(s, i)
        if not sl.item:
            continue
        e = elem_dup(sl.item)
        if e == 0 or not _dict_place(d, sl.hash, e):
            if e:
                elem_free(e)
            dict_free(doff, True)
            return ST_NOMEM
        d.count += 1
    d.mem = s.mem
    dp[0] = doff
    return ST_OK


cdef uint64_t elem_dup(uint64_t off) noexcept nogil:
    cdef elem_t *e = EL(off)
    cdef char *buf
    cdef uint64_t n
    if not elem_big(e.klen, e.vlen):
        n = slab_alloc(ELEM_HDR + e.klen + e.vlen)
        if n:
            memcpy(P(n), P(off), ELEM_HDR + e.klen + e.vlen)
        return n
    buf = <char *>malloc(e.klen + e.vlen)
    if buf == NULL:
        return 0
    elem_read(off, 0, buf, e.klen + e.vlen)
    n = elem_new(buf, e.klen, buf + e.klen, e.vlen)
    free(buf)
    return n


cdef void pick_distinct(uint64_t *ids, uint64_t n, uint64_t count) noexcept nogil:
    """Move `count` distinct, uniformly chosen entries of ids[0..n) to its front
    (a partial Fisher-Yates shuffle)."""
    cdef uint64_t i, j, t
    for i in range(count):
        j = i + cc_rand() % (n - i)
        t = ids[i]
        ids[i] = ids[j]
        ids[j] = t


cdef uint64_t *dict_pick(dict_t *d, uint64_t count) noexcept nogil:
    """A malloc'd array of `count` (<= d.count) distinct slot indices chosen
    uniformly, or NULL (no memory). Few of many: random draws, remembered in a
    small open-addressing set; otherwise every occupied slot, shuffled."""
    cdef uint64_t *out = <uint64_t *>malloc(8 * (count if count else 1))
    cdef uint64_t *seen
    cdef uint64_t cap = 16, n = 0, i, j
    if out == NULL:
        return NULL
    if count * 4 >= d.count:
        free(out)
        out = <uint64_t *>malloc(8 * d.count)
        if out == NULL:
            return NULL
        for i in range(dict_span(d)):
            if dict_slot(d, i).item:
                out[n] = i
                n += 1
        pick_distinct(out, n, count)
        return out
    while cap < count * 2:
        cap *= 2
    seen = <uint64_t *>malloc(8 * cap)
    if seen == NULL:
        free(out)
        return NULL
    memset(seen, 0xff, 8 * cap)
    while n < count:
        i = dict_random(d)
        j = (i * 0x9e3779b97f4a7c15ULL >> 20) & (cap - 1)
        while seen[j] != <uint64_t>-1 and seen[j] != i:
            j = (j + 1) & (cap - 1)
        if seen[j] == i:
            continue
        seen[j] = i
        out[n] = i
        n += 1
    free(seen)
    return out


cdef _walk_collection(item_t *it, list errors, dict live, set reached, str where):
    """Invariant walk (shm/check.pxi) of a hash or set: its chunks are live and
    reached; a dict's count and mem match its slots, and no empty slot lies
    between an element's home and its slot. Test-only: builds Python objects."""
    cdef croot_t *r = croot(it)
    cdef dict_t *d
    cdef uint64_t i, n = 0, n_old = 0, mem = 0
    if r.off == 0:
        errors.append(f"{where}: collection without elements")
        return
    if it.encoding != ENC_HASHTABLE:
        if _chunk_live(live, r.off, r.used, errors, f"{where} packed chunk"):
            reached.add(r.off)
        return
    d = DT(r.off)
    if not _walk_table(r.off, errors, live, reached, where, &n, &mem):
        return
    if d.old:
        if DT(d.old).old:
            errors.append(f"{where}: the table being drained drains another")
        if not _walk_table(d.old, errors, live, reached, where + " (old)", &n_old, &mem):
            return
        if n_old != DT(d.old).count:
            errors.append(f"{where}: old table count {DT(d.old).count}, slots say {n_old}")
        for i in range(d.old_next):
            if dict_slot(d, d.mask + 1 + ((d.old_start + i) & DT(d.old).mask)).item:
                errors.append(f"{where}: an entry left in the drained part of the old table")
                break
    if n + n_old != d.count or mem != d.mem:
        errors.append(f"{where}: dict count {d.count} / mem {d.mem}, slots say {n + n_old} / {mem}")


cdef bint _walk_table(uint64_t toff, list errors, dict live, set reached, str where,
                      uint64_t *count, uint64_t *mem):
    """One table of a dict: its chunks live, its elements counted, and no empty
    slot between an element's home and its slot."""
    cdef dict_t *d = DT(toff)
    cdef uint64_t i, j, e, n = 0
    if not _chunk_live(live, toff, DICT_HDR + 8 * d.nblocks, errors, f"{where} dict"):
        return False
    reached.add(toff)
    for i in range(d.nblocks):
        if d.blocks[i] == 0:
            continue
        if not _chunk_live(live, d.blocks[i], min(d.mask + 1, BLOCK_SLOTS) * sizeof(slot_t),
                           errors, f"{where} dict block {i}"):
            return False
        reached.add(d.blocks[i])
    for i in range(d.mask + 1):
        e = _tslot(d, i).item
        if not e:
            continue
        n += 1
        if d.kind == DICT_ELEMS:                # a member index's nodes: the skiplist's walk
            if not _chunk_live(live, e, ELEM_HDR, errors, f"{where} element {i}"):
                continue
            reached.add(e)
            mem[0] += elem_mem(e)
            if elem_big(EL(e).klen, EL(e).vlen):
                for j in range((EL(e).klen + EL(e).vlen + PAGE_SIZE - 1) >> PAGE_SHIFT):
                    reached.add(elem_extents(e)[j])
        j = _tslot(d, i).hash & d.mask
        while j != i:
            if not _tslot(d, j).item:
                errors.append(f"{where}: empty slot {j} between the home and element {i}")
                break
            j = (j + 1) & d.mask
    count[0] = n
    return True


cdef uint64_t _walk_index(uint64_t doff, list errors, dict live, set reached, str where):
    """Invariant walk of a sorted set's member index: its tables' chunks live and
    reached; returns the members it holds."""
    cdef uint64_t n = 0, n_old = 0, mem = 0
    if not _walk_table(doff, errors, live, reached, where + " index", &n, &mem):
        return 0
    if DT(doff).old:
        _walk_table(DT(doff).old, errors, live, reached, where + " index (old)", &n_old, &mem)
    return n + n_old


def _test_dict_state(bytes key, uint32_t db=0):
    """(elements, slots, elements still in the old table, its slots, slot blocks
    allocated) of the hash or set at key, or None when it has no table."""
    cdef kref_t k
    cdef dict_t *d
    cdef dict_t *o
    cdef uint64_t i, blocks = 0
    kref_init(&k, key, len(key))
    shard_lock(k.shard)
    try:
        if not key_find_locked(&k, db, cc_now_ms()):
            return None
        if IT(k.item).encoding == ENC_SKIPLIST:
            d = DT(zs_index_of(IT(k.item)))
        elif IT(k.item).encoding == ENC_HASHTABLE:
            d = DT(croot(IT(k.item)).off)
        else:
            return None
        for i in range(d.nblocks):
            blocks += d.blocks[i] != 0
        if not d.old:
            return (d.count, d.mask + 1, 0, 0, blocks)
        o = DT(d.old)
        return (d.count, d.mask + 1, o.count, o.mask + 1, blocks)
    finally:
        shard_unlock(k.shard)
