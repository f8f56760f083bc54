# Eviction under maxmemory: Redis's eight policies by sampling. A round picks a
# random shard, looks at up to maxmemory-samples entries (keys with a TTL only for
# volatile-*) from a random slot on, and deletes the best candidate: the longest
# idle (lru), the least frequent (lfu), the soonest to expire (ttl) or the first
# seen (random). Rounds repeat until used memory is back under the limit.

cdef inline uint64_t _evict_score(item_t *it, uint32_t policy, int64_t now_ms) noexcept nogil:
    if policy == POL_ALLKEYS_LRU or policy == POL_VOLATILE_LRU:
        return <uint64_t>(<uint32_t>(now_ms // 1000) - it.lru)
    if policy == POL_ALLKEYS_LFU or policy == POL_VOLATILE_LFU:
        return 255 - lfu_decayed(it.lru, now_ms)
    if policy == POL_VOLATILE_TTL:
        return (<uint64_t>0 - 1) - <uint64_t>it.expire_ms
    return 1


cdef int evict_one(int64_t now_ms) noexcept nogil:
    """Evict one key by the current policy. 1 when a key went, 0 when none could."""
    cdef uint32_t policy = g_hdr.policy
    cdef bint volatile = policy >= POL_VOLATILE_LRU
    cdef uint32_t samples = g_hdr.maxmemory_samples or 5
    cdef uint32_t start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1)), k, s
    cdef shard_t *sh
    cdef table_t *t
    cdef uint64_t i, seen, found, best_score, sc
    cdef int64_t best
    cdef slot_t *sl
    cdef item_t *it
    if policy == POL_NOEVICTION:
        return 0
    for k in range(g_hdr.nshards):
        s = (start + k) & (g_hdr.nshards - 1)
        shard_lock(s)
        sh = shard_at(s)
        t = shard_table(sh)
        best = -1
        best_score = 0
        found = 0
        seen = 0
        i = cc_rand() & t.mask
        while found < samples and seen <= t.mask and sh.count:
            sl = tbl_slot(t, i)
            if sl.item:
                it = IT(sl.item)
                if not volatile or it.expire_ms:
                    found += 1
                    sc = _evict_score(it, policy, now_ms)
                    if best < 0 or sc > best_score:
                        best = <int64_t>i
                        best_score = sc
                    if policy == POL_ALLKEYS_RANDOM or policy == POL_VOLATILE_RANDOM:
                        break
            i = (i + 1) & t.mask
            seen += 1
        if best >= 0:
            key_delete_locked(s, <uint64_t>best)
            shard_unlock(s)
            my_wstat().evicted += 1
            return 1
        shard_unlock(s)
    return 0


cdef inline bint over_maxmemory() noexcept nogil:
    return g_hdr.maxmemory != 0 and <uint64_t>cc_atomic_load_i(&g_hdr.used_memory) > g_hdr.maxmemory


cdef int evict_to_limit(int64_t now_ms) noexcept nogil:
    """Evict until used memory is within maxmemory. 0 on success, -1 when the
    policy cannot free enough (noeviction, or nothing evictable)."""
    while over_maxmemory():
        if not evict_one(now_ms):
            return -1
    return 0
