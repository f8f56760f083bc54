# Eviction under maxmemory: Redis's eight policies by sampling, and the adaptive
# policy (allkeys-adaptive, volatile-adaptive; docs/adr/0012-adaptive-eviction.md).
# A Redis round looks at up to maxmemory-samples entries (keys with a TTL only for
# volatile-*) across shards, from a random shard and slot on, and deletes the best
# candidate: the longest idle (lru), the least frequent (lfu), the soonest to
# expire (ttl) or the first seen (random). Rounds repeat until used memory is
# back under the limit. Owns the window queues; the sketch is shm/sketch.pxi.

cdef inline uint64_t _evict_score(item_t *it, uint32_t policy, int64_t now_ms) noexcept nogil:
    if policy == POL_ALLKEYS_LRU or policy == POL_VOLATILE_LRU:
        return <uint64_t>lru_idle_s(item_lru(it), now_ms)
    if policy == POL_ALLKEYS_LFU or policy == POL_VOLATILE_LFU:
        return 255 - lfu_decayed(item_lru(it), now_ms)
    if policy == POL_VOLATILE_TTL:
        return (<uint64_t>0 - 1) - <uint64_t>it.expire_ms
    return 1


cdef inline bint _shard_has_candidates(uint32_t s, bint volatile) noexcept nogil:
    """Read without the lock: a hint that lets a round skip empty shards."""
    cdef uint32_t d
    if not volatile:
        return shard_at(s).count != 0
    for d in range(g_hdr.ndbs):
        if dbstat_at(s, d).expires > 0:
            return True
    return False


cdef int evict_one(int64_t now_ms) noexcept nogil:
    """Evict one key by the current policy. 1 when a key went, 0 when none could.

    Samples maxmemory-samples candidates (random policies: one) over shards
    from a random one on, each shard from a random slot on, remembering the best
    as (shard, item offset); then relocks that shard and deletes the item if it
    is still there (another worker may have deleted or replaced it: sample again).
    Sampling across shards makes the choice the best of N keys of the whole
    keyspace, as Redis's is, rather than the best of one shard."""
    cdef uint32_t policy = g_hdr.policy
    cdef bint volatile = policy >= POL_VOLATILE_LRU and policy != POL_ALLKEYS_ADAPTIVE
    cdef bint random_pick = policy == POL_ALLKEYS_RANDOM or policy == POL_VOLATILE_RANDOM
    cdef uint32_t samples = 1 if random_pick else (g_hdr.maxmemory_samples or 5)
    cdef uint32_t start, k, s, best_shard = 0
    cdef shard_t *sh
    cdef table_t *t
    cdef uint64_t i, seen, found, best_item, best_hash = 0, best_score, sc
    cdef slot_t *sl
    cdef item_t *it
    cdef int attempt
    if policy == POL_NOEVICTION:
        return 0
    if policy >= POL_ALLKEYS_ADAPTIVE:
        return evict_adaptive(now_ms)
    for attempt in range(8):
        start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1))
        found = 0
        best_item = 0
        best_score = 0
        for k in range(g_hdr.nshards):
            if found >= samples:
                break
            s = (start + k) & (g_hdr.nshards - 1)
            if not _shard_has_candidates(s, volatile):
                continue
            if not shard_lock_or_skip(s):
                continue
            sh = shard_at(s)
            t = shard_table(sh)
            seen = 0
            i = cc_rand() & t.mask
            while found < samples and seen <= t.mask:
                sl = tbl_slot(t, i)
                if sl.item:
                    it = IT(sl.item)
                    if not volatile or it.expire_ms:
                        found += 1
                        sc = _evict_score(it, policy, now_ms)
                        if best_item == 0 or sc > best_score:
                            best_item = sl.item
                            best_hash = sl.hash
                            best_shard = s
                            best_score = sc
                i = (i + 1) & t.mask
                seen += 1
            shard_unlock(s)
        if best_item == 0:
            return 0
        if _evict_item(best_shard, best_hash, best_item):
            my_wstat().evicted += 1
            return 1
    return 0


cdef bint _evict_item(uint32_t s, uint64_t h, uint64_t item) noexcept nogil:
    """Delete the entry of shard s whose item is `item` (hash h), if it is still
    there: probe h's run for it."""
    cdef table_t *t
    cdef uint64_t i
    cdef slot_t *sl
    cdef bint done = False
    if not shard_lock_or_skip(s):
        return False
    t = shard_table(shard_at(s))
    i = home_of(h, t.mask)
    sl = tbl_slot(t, i)
    while sl.item:
        if sl.item == item:
            wal_log_evict(item, s)           # shm/wal.pxi
            notify_item(NK_EVICTED, "evicted", IT(item))
            key_delete_locked(s, i)
            done = True
            break
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
    shard_unlock(s)
    return done


cdef inline bint over_maxmemory() noexcept nogil:
    return g_hdr.maxmemory != 0 and <uint64_t>cc_atomic_load_i(&g_hdr.used_memory) > g_hdr.maxmemory


cdef uint64_t g_evict_maxkeys = 0     # this process: a key-count limit (offline replay only)

cdef inline bint _over_maxkeys() noexcept nogil:
    cdef uint64_t n = 0
    cdef uint32_t s
    if g_evict_maxkeys == 0:
        return False
    for s in range(g_hdr.nshards):
        n += shard_at(s).count
    return n > g_evict_maxkeys


cdef int evict_to_limit(int64_t now_ms) noexcept nogil:
    """Evict until used memory is within maxmemory. 0 on success, -1 when the
    policy cannot free enough (noeviction, or nothing evictable). Nothing is
    evicted while CLIENT PAUSE is in force (commands/pause.pxi), as Redis."""
    if g_hdr.pause_state and pause_active():
        return 0
    while over_maxmemory() or _over_maxkeys():
        if not evict_one(now_ms):
            return -1
    return 0


# ---- adaptive policy ---------------------------------------------------------------
#
# How it works (W-TinyLFU over a sharded table; numbers in docs/EVICTION.md).
# Every access of a key counts in the frequency sketch (sketch.pxi): a hit through
# item_touch, a write through evict_on_store_locked. A new key enters the window:
# it gets IF_WINDOW and an entry (hash, item, insertion sequence) at the tail of
# its shard's window queue. The window is the newest window_permille of the keys
# by insertion order over all shards (the sequence is global, so the shard queues
# together are one FIFO). A key whose sequence has fallen out of the window is a
# candidate: when memory must be freed, the oldest such key meets the victim of a
# sample of maxmemory-samples main keys (not in the window), and the one the
# sketch counts less often goes, the candidate on a tie; the winner is in the
# main part from then on. With no candidate the sample's victim goes. Keys that
# left the window while the cache still had room were admitted without a contest
# (header.window_admitted); an expired key is always the first to go.
# A key read while in the window gets a second chance when it reaches the end
# (IF_REF: back to the tail, as CLOCK does), so the window acts as an LRU.
# The sample's victim is the key with the lowest (frequency, TTL class, last
# access): an expired key first, then the least frequent, then among equals the
# one expiring soonest, then the longest idle.
# Scans and loops pass through the window and lose to keys seen more often;
# recency is served by the window, frequency by the main part. Shadow caches
# (shm/shadow.pxi: the policy simulated at a few window shares on a sample of
# the keys) move the window share to the best of them (evict_window_set).
#
# Queues: a directory chunk (header.window_dir) of nshards offsets; each shard's
# queue is one chunk [head, count, cap, pad] + cap entries, grown by doubling
# up to one page, guarded by the shard lock. Entries are checked when popped
# (the key may have been deleted or replaced: its slot no longer holds the item).

ctypedef struct wentry_t:
    uint64_t hash
    uint64_t item
    uint64_t seq

ctypedef struct wqueue_t:
    uint32_t head
    uint32_t count
    uint32_t cap
    uint32_t pad

cdef enum:
    WQ_MAX = (PAGE_SIZE - 16) // 24      # entries in one page
    WINDOW_START = 10                    # per mille of the keys, as W-TinyLFU starts
    CLIMB_MAX_PERMILLE = 800
    WINDOW_LOOK = 8                      # shards whose queue heads an eviction reads first

cdef bint g_window_fixed = False         # this process: the replay fixed the window


cdef inline bint policy_is_adaptive() noexcept nogil:
    return g_hdr.policy == POL_ALLKEYS_ADAPTIVE or g_hdr.policy == POL_VOLATILE_ADAPTIVE


cdef inline wqueue_t *_wq(uint32_t s) noexcept nogil:
    """Shard s's window queue, or NULL."""
    cdef uint64_t off
    if g_hdr.window_dir == 0:
        return NULL
    off = (<uint64_t *>P(g_hdr.window_dir))[s]
    return <wqueue_t *>P(off) if off else NULL


cdef inline wentry_t *_wq_entry(wqueue_t *q, uint32_t i) noexcept nogil:
    return (<wentry_t *>((<char *>q) + 16)) + i


cdef bint _window_dir_ensure() noexcept nogil:
    cdef uint64_t d, expected = 0
    if g_hdr.window_dir:
        return True
    if g_hdr.nshards * 8 > PAGE_SIZE:
        return False
    d = slab_alloc(8 * g_hdr.nshards)
    if d == 0:
        return False
    memset(P(d), 0, 8 * g_hdr.nshards)
    if not g_window_fixed:
        g_hdr.window_permille = WINDOW_START
    if not cc_cas_u64(&g_hdr.window_dir, &expected, d):
        slab_free(d)
    return True


cdef wqueue_t *_wq_room_locked(uint32_t s) noexcept nogil:
    """Shard s's queue with room for one more entry (made or grown), or NULL when
    memory or the page size forbids; then the caller drops the oldest."""
    cdef uint64_t *dir = <uint64_t *>P(g_hdr.window_dir)
    cdef wqueue_t *q = _wq(s)
    cdef wqueue_t *nq
    cdef uint32_t cap, i
    cdef uint64_t off
    if q != NULL and q.count < q.cap:
        return q
    cap = 8 if q == NULL else 2 * q.cap
    if cap > WQ_MAX:
        cap = WQ_MAX
    if q != NULL and cap <= q.cap:
        return NULL
    off = slab_alloc(16 + 24 * cap)
    if off == 0:
        return NULL
    nq = <wqueue_t *>P(off)
    nq.head = 0
    nq.count = 0
    nq.cap = cap
    if q != NULL:
        for i in range(q.count):
            _wq_entry(nq, i)[0] = _wq_entry(q, (q.head + i) % q.cap)[0]
        nq.count = q.count
        slab_free(dir[s])
    dir[s] = off
    return nq


cdef uint64_t _slot_of_item_locked(uint32_t s, uint64_t h, uint64_t item) noexcept nogil:
    """Slot index + 1 of `item` in hash h's run of shard s, or 0 when it is gone."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i = home_of(h, t.mask)
    cdef slot_t *sl = tbl_slot(t, i)
    while sl.item:
        if sl.item == item and sl.hash == h:
            return i + 1
        i = (i + 1) & t.mask
        sl = tbl_slot(t, i)
    return 0


cdef bint _wq_pop_locked(uint32_t s, wqueue_t *q, wentry_t *out) noexcept nogil:
    """Pop the oldest entry; True when its key is still here and still in the
    window (its IF_WINDOW is cleared: it leaves the window either way)."""
    out[0] = _wq_entry(q, q.head)[0]
    q.head = (q.head + 1) % q.cap
    q.count -= 1
    if _slot_of_item_locked(s, out.hash, out.item) == 0:
        return False
    if not (IT(out.item).iflags & IF_WINDOW):
        return False
    IT(out.item).iflags &= ~IF_WINDOW
    return True


cdef void _window_push_locked(uint32_t s, uint64_t h, uint64_t item) noexcept nogil:
    cdef wqueue_t *q
    cdef wentry_t old
    cdef wentry_t *e
    if not _window_dir_ensure():
        return
    q = _wq_room_locked(s)
    if q == NULL:
        q = _wq(s)
        if q == NULL:
            return
        _wq_pop_locked(s, q, &old)       # full: the oldest joins the main part
    if _has_room():
        _window_admit_locked(s, q)       # before the push: `item` is not in the table yet
    e = _wq_entry(q, (q.head + q.count) % q.cap)
    e.hash = h
    e.item = item
    e.seq = cc_atomic_add(&g_hdr.window_seq, 1)
    q.count += 1
    IT(item).iflags |= IF_WINDOW


cdef inline bint _has_room() noexcept nogil:
    """The cache is not full (below the limit by more than 1/32): a key leaving
    the window needs no admission then, as nothing has to be evicted for it."""
    cdef uint64_t n = 0, used
    cdef uint32_t s
    if g_evict_maxkeys:
        for s in range(g_hdr.nshards):
            n += shard_at(s).count
        return n + g_evict_maxkeys // 32 < g_evict_maxkeys
    used = <uint64_t>cc_atomic_load_i(&g_hdr.used_memory)
    return used + g_hdr.maxmemory // 32 < g_hdr.maxmemory


cdef void _window_admit_locked(uint32_t s, wqueue_t *q) noexcept nogil:
    """Let this shard's keys that have left the window into the main part
    (while the cache has room). The window's size is estimated from this shard:
    keys are spread evenly over shards by hash."""
    cdef uint64_t w = shard_at(s).count * g_hdr.nshards * g_hdr.window_permille // 1000
    cdef wentry_t e
    if g_hdr.window_seq > w:             # other shards' queues: see _window_candidate
        g_hdr.window_admitted = g_hdr.window_seq - w
    while q.count and _wq_entry(q, q.head).seq + w <= g_hdr.window_seq:
        _wq_pop_locked(s, q, &e)


cdef void evict_window_set(uint64_t permille) noexcept nogil:
    """Give the window a new share. When it shrinks, the keys past the new
    share leave it without a contest (they are admitted, as W-TinyLFU moves a
    shrinking window's keys to the main part): otherwise every eviction would
    trade one window key for one main key and the window would keep its size."""
    cdef uint64_t total = g_evict_maxkeys, w, seq
    cdef uint32_t s
    if permille < g_hdr.window_permille:
        if total == 0:
            for s in range(g_hdr.nshards):
                total += shard_at(s).count
        w = total * permille // 1000
        seq = cc_atomic_load(&g_hdr.window_seq)
        if seq > w and seq - w > g_hdr.window_admitted:
            g_hdr.window_admitted = seq - w
    g_hdr.window_permille = permille


cdef void _window_repush_locked(uint32_t s, wqueue_t *q, wentry_t *e) noexcept nogil:
    """Put a just-popped live entry back at the tail, as new (there is room)."""
    cdef wentry_t *t = _wq_entry(q, (q.head + q.count) % q.cap)
    t.hash = e.hash
    t.item = e.item
    t.seq = cc_atomic_add(&g_hdr.window_seq, 1)
    q.count += 1
    IT(e.item).iflags |= IF_WINDOW


cdef void evict_on_store_locked(kref_t *k, uint64_t item) noexcept nogil:
    """Called by key_store_locked before `item` replaces k.item (0 = new key):
    count the write in the sketch; a new key (or the new item of a key still in
    the window) enters the window. Shard lock held."""
    if not policy_is_adaptive() or (g_hdr.maxmemory == 0 and g_evict_maxkeys == 0):
        return
    if g_hdr.sketch_dir == 0:
        sketch_ensure()
    sketch_add(k.h)
    shadow_access(k.h, item_lru(IT(item)))     # shm/shadow.pxi
    if k.item == 0 or IT(k.item).iflags & IF_WINDOW:
        _window_push_locked(k.shard, k.h, item)


cdef void evict_on_touch(item_t *it) noexcept nogil:
    """An access of `it` under the adaptive policy: count its key in the sketch."""
    cdef uint64_t h
    if it.iflags & IF_WINDOW:
        it.iflags |= IF_REF
    if g_hdr.sketch_dir == 0 or it.klen > PAGE_SIZE:
        return
    if it.iflags & IF_EXTENTS:
        h = cc_hash(<char *>P(item_extent_slot(it, 0)[0]), it.klen)
    else:
        h = cc_hash(item_inline(it), it.klen)
    sketch_add(h)
    shadow_access(h, item_lru(it))


cdef bint _window_candidate(bint volatile, uint32_t *cs, wentry_t *ce, uint32_t *freq,
                            int64_t now_ms, bint force) noexcept nogil:
    """The oldest key that has fallen out of the window, popped from its queue.
    Reads the queue heads of a few shards from a random one on, without their
    locks, to find the oldest (a hint: queues fill evenly, since keys spread
    evenly over shards by hash), or of every shard when those few have nothing
    overdue; then pops under the lock. True when one was found."""
    cdef uint32_t s, k, n, start, best_s = 0
    cdef uint64_t total, best_seq, w, seq
    cdef wqueue_t *q
    cdef bint found
    cdef int tries
    if g_hdr.window_dir == 0:
        return False
    for tries in range(16):
        n = WINDOW_LOOK if g_hdr.nshards > WINDOW_LOOK and tries == 0 else g_hdr.nshards
        start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1))
        total = 0
        found = False
        best_seq = 0xffffffffffffffffULL
        for k in range(n):
            s = (start + k) & (g_hdr.nshards - 1)
            total += shard_at(s).count
            q = _wq(s)
            # read without the lock: the queue may be moving to a bigger chunk,
            # so only trust indexes that stay inside a queue's largest size
            if q != NULL and q.count and q.cap <= WQ_MAX and q.head < q.cap:
                seq = _wq_entry(q, q.head).seq
                if seq < best_seq:
                    best_seq = seq
                    best_s = s
                    found = True
        w = total * g_hdr.nshards // n * g_hdr.window_permille // 1000
        if w == 0 or force:
            w = 1                        # the latest write is never the next one's victim
        if not found or best_seq + w > cc_atomic_load(&g_hdr.window_seq):
            if n < g_hdr.nshards:
                continue                 # look at every shard
            return False                 # the oldest entry is still inside the window
        if not shard_lock_or_skip(best_s):
            continue
        q = _wq(best_s)
        while q != NULL and q.count and _wq_entry(q, q.head).seq + w <= g_hdr.window_seq:
            if _wq_pop_locked(best_s, q, ce):
                if ce.seq <= g_hdr.window_admitted:
                    continue             # it left the window while there was room: admitted
                if IT(ce.item).iflags & IF_REF:
                    IT(ce.item).iflags &= ~IF_REF
                    _window_repush_locked(best_s, q, ce)   # read in the window: stays (CLOCK)
                    continue
                if volatile and IT(ce.item).expire_ms == 0:
                    continue             # volatile-adaptive: it cannot go, so it stays
                freq[0] = sketch_estimate(ce.hash)   # under a shard lock (sketch_fit)
                if 0 < IT(ce.item).expire_ms <= now_ms:
                    freq[0] = 0
                shard_unlock(best_s)
                cs[0] = best_s
                return True
        shard_unlock(best_s)
    return False


cdef inline uint64_t _adaptive_score(uint64_t h, item_t *it, int64_t now_ms) noexcept nogil:
    """Lower goes first: expired, then (frequency, TTL class, last access)."""
    cdef int64_t left
    cdef uint64_t ttl_class = 63
    if it.expire_ms:
        left = it.expire_ms - now_ms
        if left <= 0:
            return 0
        ttl_class = 0
        while left > 1 and ttl_class < 62:
            left >>= 1
            ttl_class += 1
    return ((<uint64_t>sketch_estimate(h) + 1) << 40) | (ttl_class << 32) | item_lru(it)


cdef int evict_adaptive(int64_t now_ms) noexcept nogil:
    """One eviction by the adaptive policy (see "How it works"). 1 when a key
    went, 0 when none could."""
    cdef bint volatile = g_hdr.policy == POL_VOLATILE_ADAPTIVE
    cdef uint32_t samples = g_hdr.maxmemory_samples or 5
    cdef uint32_t start, k, s, best_shard = 0, cs = 0
    cdef table_t *t
    cdef uint64_t i, seen, found, visits, best_item, best_hash = 0, best_score = 0, sc
    cdef slot_t *sl
    cdef item_t *it
    cdef wentry_t ce
    cdef uint32_t cfreq = 0
    cdef bint have_c
    cdef int attempt
    for attempt in range(8):
        start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1))
        found = 0
        visits = 0
        best_score = 1
        best_item = 0
        for k in range(g_hdr.nshards):
            if found >= samples:
                break
            s = (start + k) & (g_hdr.nshards - 1)
            if not _shard_has_candidates(s, volatile) or not shard_lock_or_skip(s):
                continue
            t = shard_table(shard_at(s))
            seen = 0
            i = cc_rand() & t.mask
            while found < samples and seen <= t.mask and visits < 64 * samples:
                visits += 1
                sl = tbl_slot(t, i)
                if sl.item:
                    it = IT(sl.item)
                    if ((not (it.iflags & IF_WINDOW) or 0 < it.expire_ms <= now_ms)
                            and (not volatile or it.expire_ms)):
                        found += 1
                        sc = _adaptive_score(sl.hash, it, now_ms)
                        if best_item == 0 or sc < best_score:
                            best_item = sl.item
                            best_hash = sl.hash
                            best_shard = s
                            best_score = sc
                i = (i + 1) & t.mask
                seen += 1
            shard_unlock(s)
        have_c = (best_item == 0 or best_score != 0) and _window_candidate(volatile, &cs, &ce, &cfreq,
                                                                           now_ms, False)
        if not have_c and best_item == 0:
            # no main key in the sample: the window's oldest, even inside the window
            have_c = _window_candidate(volatile, &cs, &ce, &cfreq, now_ms, True)
        if best_item == 0 and found == 0 and attempt < 7:
            continue                     # no main key yet: the candidate (or keys admitted
                                         # on the way, evict_window_set) joined the main part
        # the victim's frequency is in its score (taken under its shard's lock)
        if have_c and (best_item == 0 or cfreq <= (best_score >> 40) - 1):
            best_shard = cs
            best_hash = ce.hash
            best_item = ce.item
        if best_item == 0:
            return 0
        if _evict_item(best_shard, best_hash, best_item):
            my_wstat().evicted += 1
            _evict_shadow_tick()
            return 1
    return 0


cdef void _evict_shadow_tick() noexcept nogil:
    """Every 64 evictions (and at each one until they exist), let the shadow
    caches follow the cache's size: it is full now, so its key count is its
    size (the replay's key limit in the replay)."""
    cdef uint64_t total = 0
    cdef uint32_t s
    g_hdr.climb_evictions += 1
    if g_hdr.climb_evictions & 63 and g_hdr.shadow_off:
        return
    if g_evict_maxkeys:
        total = g_evict_maxkeys
    else:
        for s in range(g_hdr.nshards):
            total += shard_at(s).count
    shadow_fit(total)                    # shm/shadow.pxi


cdef void window_chunks(list out) except *:
    """Chunks of the window queues (the invariant walk, shm/check.pxi)."""
    cdef uint32_t s
    cdef uint64_t off
    if g_hdr.window_dir == 0:
        return
    out.append(g_hdr.window_dir)
    for s in range(g_hdr.nshards):
        off = (<uint64_t *>P(g_hdr.window_dir))[s]
        if off:
            out.append(off)
    shadow_chunks(out)                   # shm/shadow.pxi


# ---- offline replay (tools/traces_replay.py) ----------------------------------------
# A trace replayed through the code above in this process, with no sockets: each
# access is a lookup (a hit touches the item as GET does) or, on a miss, a SET of
# a one-byte value followed by eviction down to `capacity` keys. The clock moves
# ms_per_access per access, so LRU clocks and LFU decay see the trace's time.

def _test_replay(const int64_t[:] keys, uint64_t capacity, int64_t ms_per_access=1000,
                 int64_t start_ms=1700000000000, int64_t window_permille=-1, uint64_t seed=1):
    """Replay integer keys (8-byte keys in db 0) with room for `capacity` keys;
    returns (hits, evictions that failed). Uses the current segment, whose policy applies.
    window_permille >= 0 fixes the adaptive window (the shadow caches run but do
    not move it). `seed` seeds this process's sampling, so a replay gives the
    same numbers every run (0 keeps the current state)."""
    global g_evict_maxkeys, g_sketch_keys
    cdef Py_ssize_t n = keys.shape[0], i
    cdef uint64_t hits = 0, off, failed = 0
    cdef int64_t now, kv
    cdef kref_t k
    cdef char v = 120
    g_evict_maxkeys = capacity
    g_sketch_keys = capacity
    if seed:
        cc_seed(seed)
    global g_window_fixed
    if window_permille >= 0:
        g_window_fixed = True
        evict_window_set(<uint64_t>window_permille)
    try:
        with nogil:
            for i in range(n):
                now = start_ms + i * ms_per_access
                kv = keys[i]
                kref_init(&k, <const char *>&kv, 8)
                shard_lock(k.shard)
                if key_find_locked(&k, 0, now):
                    item_touch(IT(k.item), now)
                    my_wstat().hits += 1
                    hits += 1
                    shard_unlock(k.shard)
                    continue
                my_wstat().misses += 1
                off = item_new(k.pdb, <const char *>&kv, 8, 1, T_STRING, ENC_EMBSTR, now)
                if off:
                    item_write(IT(off), 8, &v, 1)
                    key_store_locked(&k, off)
                shard_unlock(k.shard)
                if evict_to_limit(now) < 0:
                    failed += 1
    finally:
        g_evict_maxkeys = 0
        g_sketch_keys = 0
        g_window_fixed = False
    return hits, failed


def _test_adaptive_state():
    """The adaptive policy's shared state, for tests and INFO-like reports."""
    cdef uint32_t s
    cdef uint64_t queued = 0
    cdef wqueue_t *q
    for s in range(g_hdr.nshards):
        q = _wq(s)
        if q != NULL:
            queued += q.count
    cdef uint64_t flagged = 0, i
    cdef table_t *t
    for s in range(g_hdr.nshards):
        t = shard_table(shard_at(s))
        for i in range(t.mask + 1):
            if tbl_slot(t, i).item and IT(tbl_slot(t, i).item).iflags & IF_WINDOW:
                flagged += 1
    return {'sketch_blocks': g_hdr.sketch_blocks if g_hdr.sketch_dir else 0, 'window_flagged': flagged,
            'window_permille': g_hdr.window_permille, 'window_queued': queued,
            'window_seq': g_hdr.window_seq,
            'sketch_adds': g_hdr.sketch_adds}


def _test_sketch(uint64_t h, int adds=0):
    """Add `adds` accesses of hash h to the sketch; its estimate after."""
    cdef int i
    for i in range(adds):
        sketch_add(h)
    return sketch_estimate(h)
