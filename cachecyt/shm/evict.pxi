# Eviction under maxmemory: Redis's eight policies by sampling. A round looks at
# up to maxmemory-samples entries (keys with a TTL only for volatile-*) across
# shards, from a random shard and slot on, and deletes the best candidate: the
# longest idle (lru), the least frequent (lfu), the soonest to expire (ttl) or
# the first seen (random). Rounds repeat until used memory is back under the limit.

cdef inline uint64_t _evict_score(item_t *it, uint32_t policy, int64_t now_ms) noexcept nogil:
    if policy == POL_ALLKEYS_LRU or policy == POL_VOLATILE_LRU:
        return <uint64_t>(<uint32_t>(now_ms // 1000) - it.lru)
    if policy == POL_ALLKEYS_LFU or policy == POL_VOLATILE_LFU:
        return 255 - lfu_decayed(it.lru, now_ms)
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
    cdef bint volatile = policy >= POL_VOLATILE_LRU
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


cdef int evict_to_limit(int64_t now_ms) noexcept nogil:
    """Evict until used memory is within maxmemory. 0 on success, -1 when the
    policy cannot free enough (noeviction, or nothing evictable)."""
    while over_maxmemory():
        if not evict_one(now_ms):
            return -1
    return 0
