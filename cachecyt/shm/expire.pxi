# Active expiry: each worker sweeps its share of the shards (s % nworkers ==
# worker) a few dozen slots at a time from a per-shard cursor, deleting expired
# keys, and keeps going on a shard while more than 10% of the keys with a TTL it
# looked at had expired (Redis's adaptive rule), within a time budget.

cdef enum:
    EXPIRE_STEP = 64             # slots looked at per shard per round


cdef uint64_t shard_expire_step_locked(uint32_t s, int64_t now_ms, uint64_t *with_ttl) noexcept nogil:
    cdef shard_t *sh = shard_at(s)
    cdef table_t *t
    cdef uint64_t i, seen = 0, n = 0
    cdef slot_t *sl
    cdef item_t *it
    tbl_idle_step_locked(sh)              # shm/table.pxi: a table being built gets on
    t = shard_table(sh)
    i = sh.expire_cursor & t.mask
    while seen < EXPIRE_STEP and seen <= t.mask:
        sl = tbl_slot(t, i)
        seen += 1
        if sl.item:
            it = IT(sl.item)
            if it.expire_ms:
                with_ttl[0] += 1
                if it.expire_ms <= now_ms:
                    notify_item(NK_EXPIRED, "expired", it)
                    key_delete_locked(s, i)     # the next entry may now sit at i
                    n += 1
                    t = shard_table(sh)
                    i &= t.mask
                    continue
        i = (i + 1) & t.mask
    sh.expire_cursor = i
    return n


cdef uint32_t g_expire_next = 0           # where this process's next cycle starts,
                                          # as an index among its own shards


cdef uint64_t expire_cycle(int worker, int nworkers, int64_t budget_us) noexcept nogil:
    """One active expiry cycle over this worker's shards. Returns keys expired.
    A cycle cut short by its budget is resumed at the next shard by the next
    cycle, so every shard gets its turn however busy the first ones are."""
    global g_expire_next
    cdef int64_t start = cc_mono_us(), now_ms = cc_now_ms()
    cdef uint64_t total = 0, n, with_ttl
    cdef uint32_t s, j, idx
    cdef uint32_t mine = (g_hdr.nshards - <uint32_t>worker + <uint32_t>nworkers - 1) // <uint32_t>nworkers
    cdef int rounds
    if worker >= nworkers or <uint32_t>worker >= g_hdr.nshards:
        return 0
    if pause_active():                   # CLIENT PAUSE: keys do not expire (commands/pause.pxi)
        return 0
    for j in range(mine):
        idx = (g_expire_next + j) % mine
        s = <uint32_t>worker + idx * <uint32_t>nworkers
        rounds = 0
        while True:
            with_ttl = 0
            shard_lock(s)
            n = shard_expire_step_locked(s, now_ms, &with_ttl)
            shard_unlock(s)
            total += n
            rounds += 1
            if n * 10 <= with_ttl or rounds >= 16 or cc_mono_us() - start > budget_us:
                break
        if cc_mono_us() - start > budget_us:
            g_expire_next = (idx + 1) % mine
            break
    my_wstat().expired += total
    expire_latency_event(cc_mono_us() - start)
    return total


cdef inline void expire_latency_event(int64_t usec) noexcept nogil:
    """A cycle at or above latency-monitor-threshold is an expire-cycle event."""
    cdef uint64_t limit = g_hdr.latency_monitor_threshold
    if limit and usec >= <int64_t>(limit * 1000):
        latency_add("expire-cycle", <uint64_t>usec // 1000)


def active_expire(int worker, int nworkers, int budget_us=25000):
    cdef uint64_t n
    with nogil:
        n = expire_cycle(worker, nworkers, budget_us)
    return n
