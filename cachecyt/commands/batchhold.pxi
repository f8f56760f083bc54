# Held runs: consecutive pipelined requests on one shard take its lock once.
# Client._run_batch parses up to LOOKAHEAD requests ahead and knows the shard
# of each one's key (_prefetch). When a request may run inside a held run
# (bh_ok, below) and the next one's key lies in the same shard, the worker
# locks that shard once (shards_hold: shard_lock/shard_unlock of it are no-ops
# meanwhile) and keeps it for every following request on it; it lets go
# before a request on another shard or one that may not run held, and at the
# end of the lookahead. A hot key written by both workers (redis-benchmark's
# ZADD is ONE key) then changes hands once per run instead of once per
# request: the lock word and the value's cache lines stop moving between the
# cores on every call. docs/adr/0018-held-runs.md gives the measurements.
#
# Must not: wait for another shard while holding (a held request touches its
# key's shard only; eviction uses shard_lock_or_skip), hold across anything
# that may wait or serve others (blocking commands, MULTI/EXEC, scripts, a
# script running elsewhere, clients blocked anywhere on the node: a write
# could hand over to them), or hold for a tenant's db or with keyspace events
# on (their publishing and quota paths run outside shard locks).
#
# WAL: the effect records of a held run are framed here (bh_rec_add) instead
# of going to the ring one by one, and appended under ONE ring lock
# (wal_append_run) before the shard is released: every record gets its LSN
# while the shard is still held, so the LSN order of two writes to one key is
# still the order they were applied in (shm/wal.pxi "Order"). An eviction's
# DEL of a key in the held shard joins the run (wal_log_evict), after the
# records of the writes that came before it.

cdef uint8_t *g_bh_ok = NULL         # per command index: may run in a held run
cdef int g_bh_ncmds = -1             # commands in the table when g_bh_ok was made
cdef int64_t g_bh_shard = -1         # shard held for a run by this worker, -1 = none
cdef uint64_t g_bh_owner = 0         # id of the client whose run holds it
cdef wbuf_t g_bh_rec                 # the run's framed WAL records, LSNs not yet given
cdef bint g_bh_rec_ready = False
cdef uint64_t g_bh_nrec = 0          # records in g_bh_rec
cdef uint64_t g_bh_lsn = 0           # highest LSN the run's records got so far
cdef uint64_t g_bh_runs = 0          # runs held (tests, INFO-free counters)
cdef uint64_t g_bh_held_reqs = 0     # requests run inside a held run

cdef enum:
    BH_NO_SHARD = 0xffffffff         # Client.q_shard of a request without a key
    BH_REC_FLUSH = 65536             # buffered record bytes that force an append

# single-key commands whose handler still touches other keys or waits
BH_EXCLUDED = {'sort', 'sort_ro', 'georadius', 'georadiusbymember', 'migrate', 'restore',
               'object', 'debug', 'memory', 'watch', 'unwatch', 'exec', 'multi', 'discard'}


cdef int bh_configure() except -1:
    """Which commands may run held: a Cython handler, exactly one key (argument
    1) and nothing that blocks, publishes or administers."""
    global g_bh_ok, g_bh_ncmds
    cdef int i
    cdef cmd_t *cmd
    if g_bh_ok == NULL:
        g_bh_ok = <uint8_t *>malloc(MAX_COMMANDS)
        if g_bh_ok == NULL:
            raise MemoryError()
    memset(g_bh_ok, 0, MAX_COMMANDS)
    for i in range(g_ncmds):
        cmd = &g_cmds[i]
        name = cmd.name[:cmd.nlen].decode()
        if (cmd.cf != NULL and cmd.first == 1 and cmd.last == 1 and name not in BH_EXCLUDED
                and not cmd.flags & (CF_BLOCKING | CF_ADMIN | CF_PUBSUB | CF_NOSCRIPT
                                     | CF_MOVABLE | CF_MONITOR_FIRST)):
            g_bh_ok[i] = 1
    g_bh_ncmds = g_ncmds
    return 0


cdef inline bint bh_node_allows(Client c) noexcept:
    """Nothing on the node or the connection forbids holding now."""
    return (not c.flags & (CL_MULTI | CL_EXEC) and not c.clock_frozen
            and c.db < <int>g_hdr.tenant_base and not g_hdr.notify_flags
            and not cc_atomic_load(&g_hdr.blocked_count)
            and not cc_atomic_load(&g_hdr.script_owner))


cdef inline bint bh_may_hold(Client c) except -1:
    """The loaded request may run inside a held run."""
    cdef int idx
    if g_bh_ncmds != g_ncmds:                # first use, or commands registered since
        bh_configure()
    idx = cmd_lookup(c.argv[0], c.argl[0])
    return idx >= 0 and g_bh_ok[idx] != 0 and bh_node_allows(c)


cdef int bh_before(Client c, uint64_t j, uint64_t k) except -1:
    """Before request j (loaded) of k parsed ahead: keep the held shard, let it
    go, or start holding the shard j shares with request j + 1."""
    global g_bh_shard, g_bh_runs, g_bh_held_reqs, g_bh_owner
    cdef uint32_t s = c.q_shard[j]
    if g_hdr == NULL:
        return 0
    if g_bh_shard >= 0 and g_bh_owner != c.id:
        return 0                             # another client's run (re-entered): not ours to touch
    if g_bh_shard >= 0:
        if s == <uint32_t>g_bh_shard and bh_may_hold(c):
            g_bh_held_reqs += 1
            return 0
        bh_release(c)
    if s == BH_NO_SHARD or j + 1 >= k or c.q_shard[j + 1] != s or g_holding:
        return 0
    if not bh_may_hold(c):
        return 0
    shards_hold(&s, 1)
    g_bh_shard = s
    g_bh_owner = c.id
    g_bh_runs += 1
    g_bh_held_reqs += 1
    return 0


cdef int bh_release(Client c) except -1:
    """End the held run: its WAL records into the ring, then unlock."""
    global g_bh_shard, g_bh_lsn
    if g_bh_shard < 0 or (c is not None and g_bh_owner != c.id):
        return 0
    bh_rec_flush()
    if g_bh_lsn and c is not None:
        c.wal_lsn = g_bh_lsn                 # appendfsync always holds the replies for it
    g_bh_lsn = 0
    g_bh_shard = -1
    shards_release()
    return 0


# ---- the run's WAL records ----------------------------------------------------------

cdef inline bint bh_collecting() noexcept nogil:
    return g_bh_shard >= 0


cdef uint64_t bh_rec_add(const char *payload, uint64_t n, uint32_t db, int64_t ts) noexcept nogil:
    """Frame one effect record of the held run (its LSN comes at the flush,
    bh_release gives the client the last). 0 when it can never fit the ring
    (as wal_append), else nonzero. A record that cannot be buffered is
    appended at once, after those buffered before it."""
    global g_bh_rec_ready, g_bh_nrec, g_bh_lsn
    cdef uint64_t lsn
    cdef char hdr[REC_HDR]
    cdef uint64_t total = REC_HDR + n
    cdef uint32_t len32 = <uint32_t>total, zero = 0
    if not g_bh_rec_ready:
        g_bh_rec.p = <char *>malloc(BH_REC_FLUSH)
        g_bh_rec.cap = BH_REC_FLUSH if g_bh_rec.p != NULL else 0
        g_bh_rec.len = 0
        g_bh_rec.resp = 2
        g_bh_rec.oom = False
        g_bh_rec_ready = g_bh_rec.p != NULL
    if g_bh_nrec and (g_bh_rec.len + total > BH_REC_FLUSH
                      or g_bh_rec.len + total > g_pp.ring_pages * PAGE_SIZE // 2):
        bh_rec_flush()
    if not g_bh_rec_ready or total > BH_REC_FLUSH or not wb_reserve(&g_bh_rec, total):
        g_bh_rec.oom = False
        bh_rec_flush()                       # what came before goes first
        lsn = wal_append(payload, n, db, ts)
        if lsn > g_bh_lsn:
            g_bh_lsn = lsn
        return lsn
    memset(hdr, 0, REC_HDR)
    memcpy(hdr, &len32, 4)
    memcpy(hdr + 16, &ts, 8)
    memcpy(hdr + 24, &db, 4)
    memcpy(hdr + 28, &zero, 4)
    wb_put(&g_bh_rec, hdr, REC_HDR)
    wb_put(&g_bh_rec, payload, n)
    g_bh_nrec += 1
    return 1


cdef uint64_t bh_rec_flush() noexcept nogil:
    """Append the buffered records under one ring lock; returns the last LSN
    (0 when none)."""
    global g_bh_nrec, g_bh_lsn
    cdef uint64_t lsn = 0
    if g_bh_nrec:
        lsn = wal_append_run(g_bh_rec.p, g_bh_rec.len, g_bh_nrec)
        if lsn > g_bh_lsn:
            g_bh_lsn = lsn
    g_bh_rec.len = 0
    g_bh_nrec = 0
    return lsn


def _test_bh_counts():
    """(runs held, requests run held) by this process."""
    return g_bh_runs, g_bh_held_reqs
