# Blocking list and zset commands across workers (docs/adr/0005-blocking-across-workers.md).
#
# A node-wide registry in the segment (a robust mutex at blocked_off, entries
# in 64 KiB pages chained from blocked_head: no fixed size) lists every key a
# blocked client waits on, with the order in which clients blocked (seq). The
# lock order is: shard locks, then the registry lock; only allocator locks
# (innermost) are taken while the registry lock is held (a hand-over allocates
# and frees chunks), and a hand-over only tries a further shard lock, never
# waits for one.
#
#   block:  the command finds every key empty while holding the keys' shard
#           locks, and registers before unlocking: a push either comes before
#           (and is seen) or after (and finds the entry).
#   push:   under its shard lock the writer serves the first-ranked waiters
#           in place (hand-over, below); after unlocking it marks the entries
#           of the key ready and writes the eventfd of each worker owning one.
#           Nothing is done when no client is blocked anywhere (one atomic read).
#   wake:   the worker takes its ready entries (oldest first) and retries each
#           client's command. A client served by a hand-over finds its reply
#           there. Otherwise, under the shard lock, a waiter may pop only when no
#           earlier waiter on that key is left (first blocked, first served across
#           the node, and the elements go out in the order they were pushed); the
#           one that pops leaves the registry under the same lock (exactly once),
#           which marks the next waiter ready. A waiter that loses stays blocked.
#   leave:  served, timed out or disconnected, a client's entries are removed
#           and the other waiters on the same keys are marked ready again, since
#           their rank may have dropped.
#   hand-over: every waiter (BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN,
#           BZPOPMAX, BZMPOP) is served by the write itself, under the key's
#           shard lock, as Redis serves blocked clients before running anything
#           else; writes in MULTI/EXEC or a script serve theirs when the batch
#           ends. See "hand-over" below for the rules.

cdef extern from *:
    """
    #include <errno.h>
    #include <math.h>
    #include <stdlib.h>
    static inline long double cc_strtold(const char *s, char **end, int *err) {
        errno = 0;
        long double v = strtold(s, end);
        *err = errno;
        return v;
    }
    static inline long long cc_ld_to_ll(long double v) {
        /* as C's conversion on x86: out of range gives LLONG_MIN */
        if (!(v > -9223372036854775808.0L && v < 9223372036854775808.0L)) return LLONG_MIN;
        return (long long)v;
    }
    """
    long double cc_strtold(const char *s, char **end, int *err) nogil
    long long cc_ld_to_ll(long double v) nogil
    long double ceill(long double v) nogil

cdef const char *E_TIMEOUT_FLOAT = "ERR timeout is not a float or out of range"
cdef const char *E_TIMEOUT_NEG = "ERR timeout is negative"
cdef const char *E_TIMEOUT_RANGE = "ERR timeout is out of range"

g_wake = None                    # callable(worker slot): write that worker's eventfd


def set_wake_hook(f):
    """The worker installs how to wake a worker slot (its eventfd)."""
    global g_wake
    g_wake = f


# ---- the registry ------------------------------------------------------------------
#
# How it works: the entries live in 64 KiB pages taken from the slab allocator
# when a client blocks and no page has room, chained from g_hdr.blocked_head
# (newest page first). A page counts its entries in use (`used`) and keeps them
# below `hi`, so walks skip the free tail; a page whose last entry leaves is
# unlinked and freed, so the registry costs nothing when nobody waits and has no
# fixed size: a command waits on any number of keys, one entry each, and only
# running out of memory refuses a wait. Every walk holds the registry lock.
# Beside the lock, BW_BUCKETS counters count the entries per slice of key hash
# (changed under the registry lock and the key's shard lock): a write to a key
# whose counter is 0 knows at once that nobody waits on it, so only writes to
# waited keys (and a few colliding ones) walk the registry.

cdef extern from *:
    """
    #include <stdint.h>
    static int cc_bw_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
    }
    static inline void cc_bw_sort(uint64_t *a, size_t n) { qsort(a, n, 8, cc_bw_cmp); }
    static inline int cc_bw_has(const uint64_t *a, size_t n, uint64_t v) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (a[mid] < v) lo = mid + 1; else hi = mid;
        }
        return lo < n && a[lo] == v;
    }
    """
    void cc_bw_sort(uint64_t *a, size_t n) nogil
    int cc_bw_has(const uint64_t *a, size_t n, uint64_t v) nogil


ctypedef struct bwit_t:          # a walk over the entries in use
    bwpage_t *pg
    uint32_t i


cdef inline pthread_mutex_t *bw_mutex() noexcept nogil:
    return <pthread_mutex_t *>(g_base + g_hdr.blocked_off)

cdef inline void bw_lock() noexcept nogil:
    cc_lock(bw_mutex())          # a dead owner leaves whole entries: seq is written last

cdef inline void bw_unlock() noexcept nogil:
    cc_unlock(bw_mutex())

cdef inline uint32_t *bw_bucket(uint64_t h) noexcept nogil:
    return (<uint32_t *>(g_base + g_hdr.blocked_off + LOCK_STRIDE)) + (h >> 48)

cdef inline bint bw_waited(uint64_t h) noexcept nogil:
    """Whether a client may wait on a key of hash h (read under the key's
    shard lock, or after a write under it: registrations hold that lock)."""
    return cc_atomic_load(&g_hdr.blocked_count) != 0 and bw_bucket(h)[0] != 0

cdef inline bwpage_t *bw_page(uint64_t off) noexcept nogil:
    return <bwpage_t *>(g_base + off) if off else NULL

cdef inline void bw_iter(bwit_t *it) noexcept nogil:
    it.pg = bw_page(g_hdr.blocked_head)
    it.i = 0

cdef inline bwait_t *bw_next(bwit_t *it) noexcept nogil:
    """The next entry in use of the walk, or NULL at its end."""
    cdef bwait_t *e
    while it.pg != NULL:
        while it.i < it.pg.hi:
            e = &it.pg.e[it.i]
            it.i += 1
            if e.seq:
                return e
        it.pg = bw_page(it.pg.next)
        it.i = 0
    return NULL

cdef inline bwpage_t *bw_page_of(bwait_t *e) noexcept nogil:
    """The page holding entry e (a page is one whole arena page)."""
    cdef uint64_t rel = <uint64_t>((<char *>e) - g_base) - g_hdr.arena_off
    return bw_page(g_hdr.arena_off + ((rel >> PAGE_SHIFT) << PAGE_SHIFT))

cdef inline uint64_t bw_mix(uint64_t h, int32_t db) noexcept nogil:
    """One number for a key of a db (a collision only causes a spurious retry)."""
    return h ^ (<uint64_t>(db + 1) * <uint64_t>0x9E3779B97F4A7C15)


cdef uint64_t bw_page_alloc() noexcept nogil:
    """A registry page: node-wide, charged to no tenant (shm/tenantmem.pxi)."""
    global tn_charge
    cdef int saved = tn_charge
    cdef uint64_t off
    tn_charge = -1
    off = slab_alloc(PAGE_SIZE)
    tn_charge = saved
    return off


cdef void bw_page_free(uint64_t off) noexcept nogil:
    global tn_charge
    cdef int saved = tn_charge
    tn_charge = -1
    slab_free(off)
    tn_charge = saved


cdef bwait_t *bw_free_slot_locked(bwit_t *cur) noexcept nogil:
    """A free entry at or after the walk position cur, in a page with room or in
    a new page (put first in the chain), or NULL when out of memory."""
    cdef uint64_t off
    cdef bwpage_t *pg
    while cur.pg != NULL:
        if cur.pg.used < BW_PER_PAGE:
            while cur.i < BW_PER_PAGE:
                if cur.pg.e[cur.i].seq == 0:
                    return &cur.pg.e[cur.i]
                cur.i += 1
        cur.pg = bw_page(cur.pg.next)
        cur.i = 0
    off = bw_page_alloc()
    if off == 0:
        return NULL
    pg = bw_page(off)
    memset(pg, 0, sizeof(bwpage_t))
    pg.next = g_hdr.blocked_head
    g_hdr.blocked_head = off
    cur.pg = pg
    cur.i = 0
    return &pg.e[0]


cdef void bw_free_entry_locked(bwait_t *e) noexcept nogil:
    """Free one entry (and the blobs it owns). Registry lock held."""
    cdef bwpage_t *pg = bw_page_of(e)
    if e.handed:                    # a reply nobody will send (disconnect, dead worker)
        item_free_shell(e.handed)
        e.handed = 0
    if e.dest:
        item_free_shell(e.dest)
        e.dest = 0
    e.seq = 0
    bw_bucket(e.hash)[0] -= 1
    pg.used -= 1
    while pg.hi and pg.e[pg.hi - 1].seq == 0:
        pg.hi -= 1
    cc_atomic_add(&g_hdr.blocked_count, -1)


cdef void bw_release_pages_locked() noexcept nogil:
    """Unlink and free the pages with no entry in use. Registry lock held."""
    cdef uint64_t off = g_hdr.blocked_head, nxt
    cdef uint64_t *link = &g_hdr.blocked_head
    while off:
        nxt = bw_page(off).next
        if bw_page(off).used == 0:
            link[0] = nxt
            bw_page_free(off)
        else:
            link = &bw_page(off).next
        off = nxt


cdef uint64_t bw_register_locked(uint64_t client, int db, uint64_t *hashes, int n,
                                 uint32_t want) noexcept nogil:
    """Entries for a client waiting on n keys for a value of type `want`: its
    seq, or 0 when out of memory (nothing registered). Registry lock held."""
    cdef uint64_t seq = cc_atomic_add(&g_hdr.blocked_seq, 1) + 1
    cdef bwit_t cur
    cdef bwait_t *e
    cdef bwpage_t *pg
    cdef int i
    bw_iter(&cur)
    for i in range(n):
        e = bw_free_slot_locked(&cur)
        if e == NULL:
            bw_drop_seq_locked(seq)
            return 0
        e.client = client
        e.hash = hashes[i]
        e.worker = g_worker
        e.db = db
        e.ready = 0
        e.want = want
        e.kind = 0
        e.where = 0
        e.count = 0
        e.handed = 0
        e.served = 0
        e.resp = 2
        e.dest = 0
        e.seq = seq
        bw_bucket(e.hash)[0] += 1
        pg = cur.pg
        pg.used += 1
        if cur.i + 1 > pg.hi:
            pg.hi = cur.i + 1
        cc_atomic_add(&g_hdr.blocked_count, 1)
    return seq


cdef void bw_drop_seq_locked(uint64_t seq) noexcept nogil:
    """Remove the entries registered as seq (a registration that ran out of memory)."""
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.seq == seq:
            bw_free_entry_locked(e)
        e = bw_next(&it)
    bw_release_pages_locked()


cdef uint64_t bw_remove_locked(uint64_t client) noexcept nogil:
    """Remove a client's entries and mark the other waiters on its keys ready.
    Returns the mask of worker slots to wake. Registry lock held."""
    cdef uint64_t mask = 0, n = 0, cap = 0
    cdef uint64_t *keys = NULL
    cdef uint64_t *grown
    cdef bint lost = False             # no memory to list the keys: wake every waiter
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.client == client:
            if n == cap and not lost:
                cap = cap * 2 if cap else 16
                grown = <uint64_t *>realloc(keys, cap * 8)
                if grown == NULL:
                    lost = True
                else:
                    keys = grown
            if not lost:
                keys[n] = bw_mix(e.hash, e.db)
                n += 1
            bw_free_entry_locked(e)
        e = bw_next(&it)
    if n or lost:
        if not lost:
            cc_bw_sort(keys, n)
        bw_iter(&it)
        e = bw_next(&it)
        while e != NULL:
            if lost or cc_bw_has(keys, n, bw_mix(e.hash, e.db)):
                e.ready = 1
                mask |= <uint64_t>1 << e.worker
            e = bw_next(&it)
        bw_release_pages_locked()
    free(keys)
    return mask


cdef uint64_t bw_rank_locked(uint64_t seq, int db, uint64_t h, uint32_t want) noexcept nogil:
    """Waiters for a `want` value at key (db, h) that blocked before `seq` (0 =
    all of them). Waiters for another type do not count: a BZPOPMIN waiting on a
    key that became a list must not hold up the BLPOPs behind it."""
    cdef uint64_t n = 0
    cdef bwit_t it
    cdef bwait_t *e
    if not bw_waited(h):
        return 0
    bw_lock()
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if (e.hash == h and e.db == db and e.want == want and not e.served
                and (seq == 0 or e.seq < seq)):
            n += 1
        e = bw_next(&it)
    bw_unlock()
    return n


cdef uint64_t bw_mark_ready(int db, uint64_t h) noexcept nogil:
    """Mark the waiters on key (db, h) ready: the mask of worker slots to wake."""
    cdef uint64_t mask = 0
    cdef bwit_t it
    cdef bwait_t *e
    if not bw_waited(h):
        return 0
    bw_lock()
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.hash == h and e.db == db:
            e.ready = 1
            mask |= <uint64_t>1 << e.worker
        e = bw_next(&it)
    bw_unlock()
    return mask


# ---- hand-over: a push serves the first-ranked waiters in place ------------------------
#
# How it works: under the pushed key's shard lock, with the registry lock taken,
# the writer serves the earliest unserved waiter on the key while the key has
# something for it: it builds that client's whole reply into a blob item, takes
# the elements, and leaves the blob in the waiter's entry (handed; every entry
# of the client is then `served` and ranks no more). What each kind does:
#   HO_POP / HO_MPOP    (BLPOP, BRPOP, BLMPOP): pop from the list.
#   HO_MOVE             (BLMOVE, BRPOPLPUSH): pop, and push onto the waiter's
#                       destination (its key is the blob in `dest`). The pusher
#                       holds its own shard and the registry lock, so it only
#                       tries the destination's shard (a held shard, or the
#                       same one, is free to use); if another process has it,
#                       the hand-over stops there and the waiter retries (block
#                       order still holds: nobody behind it is served first).
#                       With shards held (WAL on, EXEC, script) the tried
#                       shard joins the held set, so the WAL records are in
#                       before anyone else can touch the destination. The
#                       destination's own waiters are served next (chains,
#                       below); the writer took their shards up front
#                       (ho_lock_many), so the try is only a fallback.
#   HO_ZPOP / HO_ZMPOP  (BZPOPMIN, BZPOPMAX, BZMPOP): pop from the zset (ZADD,
#                       ZINCRBY and the STORE commands hand over).
# Inside MULTI/EXEC or a script the key is only remembered (ho_defer); when the
# outermost batch ends (wal_group_close, every shard of the batch still held)
# handover_deferred serves those keys, so waiters are served after the batch,
# in block order, before any other command can run on them, as in Redis.
# The pops are logged after the pusher's record (handover_log) and their
# keyspace events queued after its own (handover_finish).

cdef enum:
    HO_POP = 1                   # BLPOP / BRPOP: reply [key, element]
    HO_MPOP = 2                  # BLMPOP: reply [key, [elements]]
    HO_MOVE = 3                  # BLMOVE / BRPOPLPUSH: reply the element, pushed onto `dest`
    HO_ZPOP = 4                  # BZPOPMIN / BZPOPMAX: reply [key, member, score]
    HO_ZMPOP = 5                 # BZMPOP: reply [key, [[member, score] ...]]
    HO_MAX = 256                 # hand-overs of one command (or batch), at most

cdef enum:                       # keyspace events of hand-overs
    HE_LPOP = 0
    HE_RPOP = 1
    HE_LPUSH = 2
    HE_RPUSH = 3
    HE_ZPOPMIN = 4
    HE_ZPOPMAX = 5
    HE_DEL = 6

cdef int g_ho_n = 0                    # hand-overs since the last handover_finish
cdef uint64_t g_ho_mask = 0            # worker slots to wake for them
cdef wbuf_t g_ho_ev                    # their events: (u8 event, i32 db, u64 klen, key)*
cdef bint g_ho_ev_ready = False
cdef wbuf_t g_ho_rec                   # WAL records of their pops (wal_on only)
cdef bint g_ho_rec_ready = False
cdef uint64_t g_ho_ends[HO_MAX]        # where each of those records ends in g_ho_rec
cdef int32_t g_ho_dbs[HO_MAX]          # and its db
cdef int g_ho_nrec = 0
cdef wbuf_t g_ho_defer                 # keys pushed in a batch: (i32 db, u8 type, u64 klen, key)*
cdef bint g_ho_defer_ready = False
cdef wbuf_t g_ho_chain                 # destinations BLMOVE hand-overs pushed onto: (i32 db, u64 klen, key)*
cdef bint g_ho_chain_ready = False
cdef uint8_t g_ho_mine[65536]          # shards the running write locked itself (ho_lock_many)


cdef bint ho_buf(wbuf_t *w, bint *ready) noexcept nogil:
    """Make a hand-over buffer usable (allocated once per process)."""
    if not ready[0]:
        w.cap = 256
        w.p = <char *>malloc(w.cap)
        w.len = 0
        w.resp = 2
        w.oom = w.p == NULL
        if w.oom:
            return False
        ready[0] = True
    return not w.oom


cdef void ho_put_key(wbuf_t *w, int db, const char *key, uint64_t klen) noexcept nogil:
    cdef int32_t d = db
    wb_put(w, <const char *>&d, 4)
    wb_put(w, <const char *>&klen, 8)
    wb_put(w, key, klen)


cdef void ho_event(uint8_t ev, const char *key, uint64_t klen, int db) noexcept nogil:
    if ho_buf(&g_ho_ev, &g_ho_ev_ready):
        wb_put(&g_ho_ev, <const char *>&ev, 1)
        ho_put_key(&g_ho_ev, db, key, klen)


cdef void ho_record(int db, int nargs, const char *a0, const char *a1, uint64_t a1len,
                    const char *a2, uint64_t a2len, const char *a3, const char *a4) noexcept nogil:
    """The WAL record of one hand-over: a0 a1 [a2 [a3 a4]] (a2 NULL: two
    arguments; a3 NULL: three)."""
    global g_ho_nrec
    if not wal_on() or g_ho_nrec >= HO_MAX or not ho_buf(&g_ho_rec, &g_ho_rec_ready):
        return
    wb_array(&g_ho_rec, nargs)
    wb_bulk(&g_ho_rec, a0, strlen(a0))
    wb_bulk(&g_ho_rec, a1, a1len)
    if nargs > 2:
        wb_bulk(&g_ho_rec, a2, a2len)
    if nargs > 3:
        wb_bulk(&g_ho_rec, a3, strlen(a3))
        wb_bulk(&g_ho_rec, a4, strlen(a4))
    g_ho_ends[g_ho_nrec] = g_ho_rec.len
    g_ho_dbs[g_ho_nrec] = db
    g_ho_nrec += 1


cdef void ho_record_count(int db, const char *cmd, kref_t *k, bint with_count, uint64_t n) noexcept nogil:
    """LPOP/RPOP/ZPOPMIN/ZPOPMAX key [count]."""
    cdef char num[24]
    snprintf(num, 24, "%llu", <unsigned long long>n)
    ho_record(db, 3 if with_count else 2, cmd, k.key, k.klen, num, strlen(num), NULL, NULL)


cdef void bw_allow_handover_locked(uint64_t seq, uint32_t kind, int where, int64_t count,
                                   int resp, uint64_t dest) noexcept nogil:
    """Let writes serve the client registered as seq in place (dest: HO_MOVE's
    destination blob, owned by the first entry). Registry lock held."""
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.seq == seq:
            e.kind = kind
            e.where = <uint32_t>where
            e.count = count
            e.resp = <uint32_t>resp
            e.dest = dest
            dest = 0
        e = bw_next(&it)


cdef bwait_t *bw_first_waiter_locked(int db, uint64_t h, uint32_t want) noexcept nogil:
    """The earliest unserved waiter for a `want` value on key (db, h), or NULL."""
    cdef bwait_t *best = NULL
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if (e.hash == h and e.db == db and e.want == want and not e.served
                and (best == NULL or e.seq < best.seq)):
            best = e
        e = bw_next(&it)
    return best


cdef void ho_served_locked(bwait_t *e, uint64_t blob) noexcept nogil:
    """Leave the reply in e; none of the client's entries ranks any more."""
    global g_ho_n, g_ho_mask
    cdef uint64_t seq = e.seq
    cdef bwit_t it
    e.handed = blob
    g_ho_mask |= <uint64_t>1 << e.worker
    g_ho_n += 1
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.seq == seq:
            e.served = 1
            e.ready = 1
        e = bw_next(&it)


cdef void ho_mark_key_ready_locked(int db, uint64_t h) noexcept nogil:
    """A hand-over pushed onto key (db, h): its own waiters retry."""
    global g_ho_mask
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.hash == h and e.db == db:
            e.ready = 1
            g_ho_mask |= <uint64_t>1 << e.worker
        e = bw_next(&it)


cdef uint64_t ho_blob(wbuf_t *w) noexcept nogil:
    """The reply built in w as a blob item (0: no memory); w is freed."""
    cdef uint64_t blob = 0
    if not w.oom:
        blob = item_new(0, w.p, w.len, 0, T_STRING, ENC_RAW, 0)
    free(w.p)
    return blob


cdef bint ho_wbuf(wbuf_t *w, int resp) noexcept nogil:
    w.cap = 256
    w.len = 0
    w.resp = resp
    w.oom = False
    w.p = <char *>malloc(w.cap)
    return w.p != NULL


# -- lists

cdef bint ho_pop_locked(int db, kref_t *k, lroot_t *r, bwait_t *e) noexcept nogil:
    """Serve a BLPOP / BRPOP / BLMPOP waiter from the list r at k."""
    cdef wbuf_t w
    cdef lcur_t cur
    cdef uint64_t i, n, blob
    n = 1 if e.kind == HO_POP else (<uint64_t>e.count if <uint64_t>e.count < r.count else r.count)
    if not list_own_span(r, e.where, n) or not ho_wbuf(&w, 2):   # RESP3 bytes are the same
        return False
    wb_array(&w, 2)
    wb_bulk(&w, k.key, k.klen)
    if e.kind == HO_MPOP:
        wb_array(&w, <int64_t>n)
    if e.where == LIST_HEAD:
        cur_first(r, &cur)
    else:
        cur_last(r, &cur)
    for i in range(n):
        if i:
            if e.where == LIST_HEAD:
                cur_next(&cur)
            else:
                cur_prev(&cur)
        cur_reply(&w, &cur)
    blob = ho_blob(&w)
    if blob == 0:
        return False
    list_trim(r, n if e.where == LIST_HEAD else 0, n if e.where == LIST_TAIL else 0)
    ho_record_count(db, "LPOP" if e.where == LIST_HEAD else "RPOP", k, e.kind == HO_MPOP, n)
    ho_event(HE_LPOP if e.where == LIST_HEAD else HE_RPOP, k.key, k.klen, db)
    ho_served_locked(e, blob)
    return True


cdef int ho_lock_dest(uint32_t s, uint32_t own) noexcept nogil:
    """Take shard s for a hand-over without waiting (the caller holds shard
    `own` and the registry lock). 0: not taken; 1: ours already; 2: locked now
    (the caller unlocks it); 3: locked and added to the held set."""
    global g_holding, g_held_lo, g_held_hi
    cdef int rc
    if s == own or (g_holding and g_held[s]) or g_ho_mine[s]:
        return 1
    rc = cc_trylock(shard_mutex(s))
    if rc < 0:
        return 0
    if rc == 1:
        shard_repair_locked(s)
    if not g_holding:
        return 2
    g_held[s] = 1
    g_holding += 1
    if s < g_held_lo:
        g_held_lo = s
    if s > g_held_hi:
        g_held_hi = s
    return 3


cdef bint ho_move_locked(int db, int64_t now_ms, kref_t *k, lroot_t *r, bwait_t *e) noexcept nogil:
    """Serve a BLMOVE / BRPOPLPUSH waiter: pop from the list r at k, push onto
    its destination. False (nothing done) when the destination is k itself, is
    not a list, or its shard is busy: the waiter then retries."""
    cdef uint64_t dklen = IT(e.dest).klen, n, blob = 0
    cdef char *dkey = <char *>malloc(dklen + 1)
    cdef kref_t dk
    cdef int lk, st
    cdef wbuf_t w
    cdef lcur_t cur
    cdef lroot_t rd
    cdef const char *p
    cdef int wto = <int>e.count
    if dkey == NULL:
        return False
    item_read(IT(e.dest), 0, dkey, dklen)
    kref_init(&dk, dkey, dklen)
    lk = 0
    if not (dk.h == k.h and dklen == k.klen and memcmp(dkey, k.key, dklen) == 0):
        lk = ho_lock_dest(dk.shard, k.shard)
    if lk == 0:
        free(dkey)
        return False
    st = list_find_locked(&dk, db, now_ms)
    if st != ST_WRONGTYPE and list_own_span(r, e.where, 1) and ho_wbuf(&w, 2):
        if e.where == LIST_HEAD:
            cur_first(r, &cur)
        else:
            cur_last(r, &cur)
        cur_reply(&w, &cur)
        n = cur_elem(&cur, &p)
        p = w.p + w.len - n - 2                      # the reply's copy of the element
        if not w.oom and st == ST_NOTFOUND:
            if list_create_locked(&dk, now_ms) == 0:
                w.oom = True
            elif dk.shard == k.shard:
                key_find_locked(k, db, now_ms)       # the insert may have moved k's slot
        if not w.oom:
            lroot_load(IT(dk.item), &rd)
            if list_push(&rd, wto, p, n) != ST_OK:
                w.oom = True
            list_done_locked(&dk, &rd, True, now_ms)
        if w.oom:
            free(w.p)
        else:
            blob = ho_blob(&w)
    if lk == 2:
        cc_unlock(shard_mutex(dk.shard))
    if blob:
        list_trim(r, 1 if e.where == LIST_HEAD else 0, 1 if e.where == LIST_TAIL else 0)
        ho_record(db, 5, "LMOVE", k.key, k.klen, dkey, dklen,
                  "LEFT" if e.where == LIST_HEAD else "RIGHT", "LEFT" if wto == LIST_HEAD else "RIGHT")
        ho_event(HE_LPUSH if wto == LIST_HEAD else HE_RPUSH, dkey, dklen, db)   # as Redis: push first
        ho_event(HE_LPOP if e.where == LIST_HEAD else HE_RPOP, k.key, k.klen, db)
        if ho_buf(&g_ho_chain, &g_ho_chain_ready):
            ho_put_key(&g_ho_chain, db, dkey, dklen)     # its waiters are served next (handover_chain)
        ho_mark_key_ready_locked(db, dk.h)
        ho_served_locked(e, blob)
    free(dkey)
    return blob != 0


cdef void ho_serve_list_locked(int db, int64_t now_ms, kref_t *k, lroot_t *r) noexcept nogil:
    """Serve the list waiters on k in block order while r has elements."""
    cdef bwait_t *e
    cdef bint ok
    bw_lock()
    while r.count and g_ho_n < HO_MAX:
        e = bw_first_waiter_locked(db, k.h, T_LIST)
        if e == NULL or e.kind == 0:
            break
        if e.kind == HO_MOVE:
            ok = ho_move_locked(db, now_ms, k, r, e)
        else:
            ok = ho_pop_locked(db, k, r, e)
        if not ok:
            break
        if r.count == 0:
            ho_event(HE_DEL, k.key, k.klen, db)
    bw_unlock()


cdef bint ho_defer(Client c, int kdb, kref_t *k, uint8_t type) noexcept nogil:
    """In a transaction or a script: remember the key of db kdb (served when
    the batch ends, handover_deferred). True when deferred."""
    cdef uint64_t pos = 0, klen
    cdef int32_t db
    if not (c.flags & CL_EXEC or c.clock_frozen):
        return False
    if not ho_buf(&g_ho_defer, &g_ho_defer_ready):
        return True
    while pos < g_ho_defer.len:
        memcpy(&db, g_ho_defer.p + pos, 4)
        memcpy(&klen, g_ho_defer.p + pos + 5, 8)
        if (db == kdb and klen == k.klen and <uint8_t>g_ho_defer.p[pos + 4] == type
                and memcmp(g_ho_defer.p + pos + 13, k.key, klen) == 0):
            return True
        pos += 13 + klen
    db = kdb
    wb_put(&g_ho_defer, <const char *>&db, 4)
    wb_put(&g_ho_defer, <const char *>&type, 1)
    wb_put(&g_ho_defer, <const char *>&k.klen, 8)
    wb_put(&g_ho_defer, k.key, k.klen)
    return True


cdef void handover_locked(Client c, kref_t *k, lroot_t *r) noexcept nogil:
    """After a push onto the list r at k (its shard locked): serve the waiters
    on k now, or after the transaction or script it runs in.
    handover_finish() then sends the events and wake-ups."""
    if not bw_waited(k.h) or ho_defer(c, c.db, k, T_LIST):
        return
    ho_serve_list_locked(c.db, c.now_ms, k, r)


# -- sorted sets

cdef bint ho_zpop_locked(int db, kref_t *k, bwait_t *e) noexcept nogil:
    """Serve a BZPOPMIN / BZPOPMAX / BZMPOP waiter from the zset at k."""
    cdef zroot_t r
    cdef zcur_t cur
    cdef item_t *it = IT(k.item)
    cdef bint max = e.where != 0
    cdef uint64_t n, i, blob
    cdef wbuf_t w
    zs_load(it, &r)
    n = 1 if e.kind == HO_ZPOP else (<uint64_t>e.count if <uint64_t>e.count < r.length else r.length)
    if not ho_wbuf(&w, <int>e.resp):
        return False
    if e.kind == HO_ZPOP:
        wb_array(&w, 3)
        wb_bulk(&w, k.key, k.klen)
    else:
        wb_array(&w, 2)
        wb_bulk(&w, k.key, k.klen)
        wb_array(&w, <int64_t>n)
    for i in range(n):
        if i == 0:
            zcur_seek(&cur, it, &r, r.length - 1 if max else 0)
        elif max:
            zcur_prev(&cur)
        else:
            zcur_next(&cur)
        if e.kind == HO_ZMPOP:
            wb_array(&w, 2)
        wb_bulk(&w, cur.m, cur.mlen)
        wb_double(&w, cur.score)
    blob = ho_blob(&w)
    if blob == 0:
        return False
    zs_delete_ranks(it, &r, r.length - n if max else 0, n)
    zs_commit_locked(k, &r)
    ho_record_count(db, "ZPOPMAX" if max else "ZPOPMIN", k, e.kind == HO_ZMPOP, n)
    ho_event(HE_ZPOPMAX if max else HE_ZPOPMIN, k.key, k.klen, db)
    if k.item == 0:
        ho_event(HE_DEL, k.key, k.klen, db)
    ho_served_locked(e, blob)
    return True


cdef void ho_serve_zset_locked(int db, kref_t *k) noexcept nogil:
    """Serve the zset waiters on k in block order while it has members."""
    cdef bwait_t *e
    bw_lock()
    while k.item and IT(k.item).type == T_ZSET and g_ho_n < HO_MAX:
        e = bw_first_waiter_locked(db, k.h, T_ZSET)
        if e == NULL or e.kind == 0 or not ho_zpop_locked(db, k, e):
            break
    bw_unlock()


cdef void zs_handover_locked(Client c, kref_t *k) noexcept nogil:
    """After a write left a zset at k (found, its shard locked): serve the
    waiters on k now, or after the transaction or script it runs in."""
    if not bw_waited(k.h) or k.item == 0 or ho_defer(c, c.db, k, T_ZSET):
        return
    ho_serve_zset_locked(c.db, k)


# -- chains: a BLMOVE served by a hand-over pushes onto its destination, whose
# own waiters are served next, and so on (BLMOVE a b / BLMOVE b c / BLPOP c;
# or a circle: BRPOPLPUSH a b / BRPOPLPUSH b a), all before the write's reply,
# as Redis serves every key its served clients made ready before replying.
# Each destination needs its shard, and the writer may not wait for a shard
# while holding one above it (lock order). So the writer takes them up front:
# ho_lock_many locks the write's own shards and, under them, follows the
# BLMOVE waiters from the written key (waiters on it moving to d, waiters on d
# moving on ...); when that chain reaches a shard outside, it unlocks and holds
# every shard instead (in order). Holding the chain's keys' shards, no client
# can start waiting on them, so the chain found stays the chain served. A
# held set (WAL on: persist_begin; EXEC) is widened the same way when taken
# (ho_hold_chain, ho_hold_chain_held). The destinations' shards are then all
# ours; ho_lock_dest's try stays as the fallback should one not be.

cdef bint ho_in(uint32_t s, uint32_t *shards, int m) noexcept nogil:
    cdef int i
    if g_holding and g_held[s]:
        return True
    for i in range(m):
        if shards[i] == s:
            return True
    return False


cdef bint ho_chain_escapes_locked(uint64_t h, uint32_t *shards, int m) noexcept nogil:
    """Whether the BLMOVE waiters reachable from key hash h move elements to a
    key whose shard is not in shards[0..m) nor held (True too when the chain
    is too long to follow: the caller then holds every shard). Registry lock
    held."""
    cdef uint64_t hs[HO_MAX]
    cdef uint64_t dh
    cdef int nh = 1, i, j
    cdef bint seen
    cdef bwit_t it
    cdef bwait_t *e
    hs[0] = h
    i = 0
    while i < nh:
        bw_iter(&it)
        e = bw_next(&it)
        while e != NULL:
            if e.hash == hs[i] and e.kind == HO_MOVE and e.dest and not e.served:
                dh = _item_hash(IT(e.dest))
                if dh == 0 or not ho_in(shard_of(dh), shards, m):
                    return True
                seen = False
                for j in range(nh):
                    if hs[j] == dh:
                        seen = True
                        break
                if not seen:
                    if nh == HO_MAX:
                        return True
                    hs[nh] = dh
                    nh += 1
            e = bw_next(&it)
        i += 1
    return False


cdef int ho_lock_many(uint32_t *shards, int n, kref_t *to) noexcept nogil:
    """shards_lock_many for a write that may hand elements over at key `to`
    (a push, a move's destination, a key that arrives whole): -1 when a
    BLMOVE chain from `to` leaves those shards and every shard is held
    instead. ho_unlock_many(shards, result) undoes it."""
    cdef int m = shards_lock_many(shards, n), i
    cdef bint out
    if g_holding or not bw_waited(to.h):
        return m                 # nobody waits on `to` (exact: its shard is locked)
    bw_lock()
    out = ho_chain_escapes_locked(to.h, shards, m)
    bw_unlock()
    if out:
        shards_unlock_many(shards, m)
        shards_hold_all()
        return -1
    for i in range(m):
        g_ho_mine[shards[i]] = 1
    return m


cdef void ho_unlock_many(uint32_t *shards, int m) noexcept nogil:
    cdef int i
    if m < 0:
        shards_release()
        return
    for i in range(m):
        g_ho_mine[shards[i]] = 0
    shards_unlock_many(shards, m)


cdef void ho_hold_chain(Client c, int64_t first, int64_t last, int64_t step) noexcept:
    """persist_begin held the shards of the command's keys (arguments first..last
    by step): when a BLMOVE chain from one of them leaves that set, hold every
    shard instead."""
    cdef int64_t i = first
    cdef uint64_t h
    cdef bint out = False
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0 or not g_holding:
        return
    if step <= 0:
        step = 1
    with nogil:
        bw_lock()
        while i <= last and i < <int64_t>c.argc and not out:
            h = cc_hash(c.argv[i], c.argl[i])
            out = bw_bucket(h)[0] != 0 and ho_chain_escapes_locked(h, NULL, 0)
            i += step
        bw_unlock()
        if out:
            shards_release()
            shards_hold_all()


cdef void ho_hold_chain_held() noexcept nogil:
    """EXEC held its shards: when a BLMOVE chain from a key in one of them
    leaves the held set, hold every shard instead (its writes' waiters are
    served when it ends, handover_deferred)."""
    cdef bwit_t it
    cdef bwait_t *e
    cdef bint out = False
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0 or not g_holding:
        return
    bw_lock()
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL and not out:
        if e.kind == HO_MOVE and not e.served and g_held[shard_of(e.hash)]:
            out = ho_chain_escapes_locked(e.hash, NULL, 0)
        e = bw_next(&it)
    bw_unlock()
    if out:
        shards_release()
        shards_hold_all()


cdef void handover_chain(int64_t now_ms) noexcept nogil:
    """Serve the waiters on the keys BLMOVE hand-overs pushed onto, in the
    order pushed (serving them may push further on). Called by the writer
    right after its key's hand-over, with that list saved and its shards
    still locked."""
    cdef uint64_t pos = 0, klen
    cdef int32_t db
    cdef char *key
    cdef kref_t k
    cdef lroot_t r
    cdef int lk, before
    if not g_ho_chain_ready:
        return
    while pos < g_ho_chain.len:
        memcpy(&db, g_ho_chain.p + pos, 4)
        memcpy(&klen, g_ho_chain.p + pos + 4, 8)
        key = <char *>malloc(klen + 1)         # the queue may grow (and move) meanwhile
        if key == NULL:
            break
        memcpy(key, g_ho_chain.p + pos + 12, klen)
        pos += 12 + klen
        kref_init(&k, key, klen)
        lk = ho_lock_dest(k.shard, 0xFFFFFFFF) if bw_waited(k.h) else 0
        if lk:
            if list_find_locked(&k, db, now_ms) == ST_OK:
                lroot_load(IT(k.item), &r)
                before = g_ho_n
                ho_serve_list_locked(db, now_ms, &k, &r)
                list_done_locked(&k, &r, g_ho_n != before, now_ms)
            if lk == 2:
                cc_unlock(shard_mutex(k.shard))
        free(key)
    g_ho_chain.len = 0
    g_ho_chain.oom = False


# -- keys that arrive whole

cdef void handover_arrived_locked(Client c, kref_t *k, int db) noexcept nogil:
    """A command wrote the key at k of db whole (RENAME, COPY, MOVE, SORT ...
    STORE, GEO* STORE, RESTORE; its shard locked, ho_lock_many when it may be
    a list): if it is a list or a zset with waiters, serve them now as a push
    does, or when the transaction or script ends. The caller then runs
    handover_finish() after its own keyspace events."""
    cdef lroot_t r
    cdef int before
    cdef uint8_t type
    if not bw_waited(k.h) or not key_find_locked(k, db, c.now_ms):
        return
    type = IT(k.item).type
    if type == T_LIST and not ho_defer(c, db, k, T_LIST):
        lroot_load(IT(k.item), &r)
        before = g_ho_n
        ho_serve_list_locked(db, c.now_ms, k, &r)
        list_done_locked(k, &r, g_ho_n != before, c.now_ms)
        handover_chain(c.now_ms)
    elif type == T_ZSET and not ho_defer(c, db, k, T_ZSET):
        ho_serve_zset_locked(db, k)


# -- after the write

cdef int handover_deferred(Client c) except -1:
    """The outermost transaction or script ended (its shards still held): serve
    the waiters on the keys it wrote, log the pops after its record and send
    the events and wake-ups (shm/wal.pxi wal_group_close)."""
    cdef uint64_t pos = 0, klen
    cdef int32_t db
    cdef uint8_t type
    cdef int before
    cdef kref_t k
    cdef lroot_t r
    cdef int64_t now_ms = cc_now_ms() if c is None else c.now_ms
    if not g_ho_defer_ready or g_ho_defer.len == 0:
        return 0
    with nogil:
        while pos < g_ho_defer.len:
            memcpy(&db, g_ho_defer.p + pos, 4)
            type = <uint8_t>g_ho_defer.p[pos + 4]
            memcpy(&klen, g_ho_defer.p + pos + 5, 8)
            kref_init(&k, g_ho_defer.p + pos + 13, klen)
            shard_lock(k.shard)
            if key_find_locked(&k, db, now_ms) and IT(k.item).type == type:
                if type == T_LIST:
                    lroot_load(IT(k.item), &r)
                    before = g_ho_n
                    ho_serve_list_locked(db, now_ms, &k, &r)
                    list_done_locked(&k, &r, g_ho_n != before, now_ms)
                    handover_chain(now_ms)
                else:
                    ho_serve_zset_locked(db, &k)
            shard_unlock(k.shard)
            pos += 13 + klen
    g_ho_defer.len = 0
    if g_ho_nrec:
        handover_log(c)
    handover_finish()
    return 0


cdef const char *ho_event_name(uint8_t ev) noexcept nogil:
    if ev == HE_LPOP: return "lpop"
    if ev == HE_RPOP: return "rpop"
    if ev == HE_LPUSH: return "lpush"
    if ev == HE_RPUSH: return "rpush"
    if ev == HE_ZPOPMIN: return "zpopmin"
    if ev == HE_ZPOPMAX: return "zpopmax"
    return "del"


cdef void handover_finish() noexcept:
    """After the writing command's own keyspace events: those of its hand-overs
    (as Redis: the write, then the pops of the clients it served), then wake
    the served clients' workers."""
    global g_ho_n, g_ho_mask
    cdef uint64_t mask = g_ho_mask, pos = 0, klen
    cdef int32_t db
    cdef uint8_t ev
    cdef const char *name
    if g_ho_n == 0:
        return
    if g_ho_ev_ready:
        while pos < g_ho_ev.len:
            ev = <uint8_t>g_ho_ev.p[pos]
            memcpy(&db, g_ho_ev.p + pos + 1, 4)
            memcpy(&klen, g_ho_ev.p + pos + 5, 8)
            name = ho_event_name(ev)
            notify(NK_GENERIC if ev == HE_DEL else (NK_ZSET if ev >= HE_ZPOPMIN else NK_LIST),
                   name, g_ho_ev.p + pos + 13, klen, db)
            pos += 13 + klen
        g_ho_ev.len = 0
        g_ho_ev.oom = False
    g_ho_n = 0
    g_ho_mask = 0
    try:
        if g_nk_len:
            nk_flush()          # the events go out before the served clients' replies
        wake_workers(mask)
    except Exception:
        pass


cdef void handover_log(Client c) noexcept:
    """Append the hand-over pops' WAL records after the writer's own (called by
    persist_end once that one is in, or at the end of a batch); the reply then
    waits for the last."""
    cdef uint64_t lsn, pos = 0
    cdef int i
    cdef int64_t now_ms = cc_now_ms() if c is None else c.now_ms
    global g_ho_nrec
    if not g_ho_rec_ready or g_ho_nrec == 0:
        return
    if not g_ho_rec.oom:
        for i in range(g_ho_nrec):
            lsn = wal_append(g_ho_rec.p + pos, g_ho_ends[i] - pos, <uint32_t>g_ho_dbs[i], now_ms)
            if lsn and c is not None:
                c.wal_lsn = lsn
            pos = g_ho_ends[i]
    g_ho_rec.len = 0
    g_ho_rec.oom = False
    g_ho_nrec = 0


cdef bint bw_take_handed_locked(Client c) noexcept nogil:
    """If a pusher served this client, move its reply to the client's output and
    leave the registry; True then. Registry lock held."""
    cdef uint64_t blob = 0, n
    cdef bwit_t it
    cdef bwait_t *e
    bw_iter(&it)
    e = bw_next(&it)
    while e != NULL:
        if e.client == c.id and e.handed:
            blob = e.handed
            e.handed = 0
            break
        e = bw_next(&it)
    if blob == 0:
        return False
    n = IT(blob).klen
    if wb_reserve(&c.out, n):
        item_read(IT(blob), 0, c.out.p + c.out.len, n)
        c.out.len += n
    item_free_shell(blob)
    return True


cdef bint block_take_handed(Client c) noexcept:
    """At a timeout or CLIENT UNBLOCK: end the wait (leave the registry) and
    take the reply a pusher left, if one did first (the client was served
    before its wait ended). Both under one registry lock, so no push can serve
    it in between. True when a reply was taken."""
    cdef bint taken = False
    cdef uint64_t mask = 0
    if c.block_seq == 0 or g_hdr == NULL:
        return False
    with nogil:
        bw_lock()
        taken = bw_take_handed_locked(c)
        mask = bw_remove_locked(c.id)
        bw_unlock()
    c.block_seq = 0
    if taken:
        c.flags |= CL_HANDED
    try:
        wake_workers(mask)
    except Exception:
        pass
    return taken


cdef void wake_workers(uint64_t mask):
    cdef int w
    if mask == 0 or g_wake is None:
        return
    for w in range(MAX_WORKERS):
        if mask & (<uint64_t>1 << w):
            g_wake(w)


cdef void signal_key_ready(int db, const char *key, uint64_t klen) noexcept:
    """A list at key may have become non-empty: wake whoever waits on it."""
    cdef uint64_t mask
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0:
        return
    mask = bw_mark_ready(db, cc_hash(key, klen))
    try:
        if mask and g_nk_len:
            nk_flush()          # the push's keyspace events go out before the waiters' pops
        wake_workers(mask)
    except Exception:
        pass


cdef void signal_db_ready(int db) noexcept:
    """Every waiter of a logical db retries (SWAPDB brought other keys in)."""
    cdef uint64_t mask = 0
    cdef bwit_t it
    cdef bwait_t *e
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0:
        return
    with nogil:
        bw_lock()
        bw_iter(&it)
        e = bw_next(&it)
        while e != NULL:
            if e.db == db:
                e.ready = 1
                mask |= <uint64_t>1 << e.worker
            e = bw_next(&it)
        bw_unlock()
    try:
        wake_workers(mask)
    except Exception:
        pass


def take_ready_clients(int worker):
    """Ids of this worker's clients whose keys were pushed to, oldest first; their
    ready marks are cleared."""
    cdef uint64_t n = 0, cap, i
    cdef uint64_t *pairs
    cdef bwit_t it
    cdef bwait_t *e
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0:
        return []
    with nogil:
        bw_lock()
        cap = cc_atomic_load(&g_hdr.blocked_count)
        pairs = <uint64_t *>malloc(16 * cap + 16)          # (seq, client) per ready entry
        if pairs != NULL:
            bw_iter(&it)
            e = bw_next(&it)
            while e != NULL and n < cap:
                if e.ready and e.worker == worker:
                    e.ready = 0
                    pairs[2 * n] = e.seq
                    pairs[2 * n + 1] = e.client
                    n += 1
                e = bw_next(&it)
        bw_unlock()
    if pairs == NULL:
        raise MemoryError()
    try:
        found = {}
        for i in range(n):
            found.setdefault(pairs[2 * i + 1], pairs[2 * i])
    finally:
        free(pairs)
    return sorted(found, key=found.get)


def blocked_clear_worker(int worker):
    """Drop the entries a dead predecessor in this worker slot left."""
    cdef uint64_t mask = 0, client
    cdef bwit_t it
    cdef bwait_t *e
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0:
        return
    with nogil:
        bw_lock()
        while True:
            bw_iter(&it)
            e = bw_next(&it)
            while e != NULL and e.worker != worker:
                e = bw_next(&it)
            if e == NULL:
                break
            client = e.client
            mask |= bw_remove_locked(client)
        bw_unlock()
    wake_workers(mask)


def block_owner(uint64_t client):
    """The worker slot of a client waiting in a blocking command, or -1."""
    cdef int worker = -1
    cdef bwit_t it
    cdef bwait_t *e
    if g_hdr == NULL or cc_atomic_load(&g_hdr.blocked_count) == 0:
        return -1
    with nogil:
        bw_lock()
        bw_iter(&it)
        e = bw_next(&it)
        while e != NULL:
            if e.client == client:
                worker = e.worker
                break
            e = bw_next(&it)
        bw_unlock()
    return worker


def blocked_clients():
    """Clients blocked in the whole node (INFO blocked_clients): distinct waits."""
    cdef bwit_t it
    cdef bwait_t *e
    seqs = set()
    if cc_atomic_load(&g_hdr.blocked_count) == 0:
        return 0
    bw_lock()
    try:
        bw_iter(&it)
        e = bw_next(&it)
        while e != NULL:
            seqs.add(e.seq)
            e = bw_next(&it)
    finally:
        bw_unlock()
    return len(seqs)


# ---- timeouts ------------------------------------------------------------------------

cdef int parse_timeout(Client c, uint64_t i, int64_t *out_ms) except -2:
    """Redis's blocking timeout (seconds, a float): the timeout in ms (0 =
    forever), or -1 after replying an error."""
    cdef char buf[128]
    cdef char *end
    cdef int err
    cdef long double v
    cdef long long ms
    if c.argl[i] == 0 or c.argl[i] >= sizeof(buf) or c.argv[i][0] in b' \t\n\r\v\f':
        wb_error(&c.out, E_TIMEOUT_FLOAT)
        return -1
    memcpy(buf, c.argv[i], c.argl[i])
    buf[c.argl[i]] = 0
    v = cc_strtold(buf, &end, &err)
    if end != buf + c.argl[i] or err != 0 or v != v:
        wb_error(&c.out, E_TIMEOUT_FLOAT)
        return -1
    ms = cc_ld_to_ll(ceill(v * 1000.0))        # rounded up: 0.001 s is 1 ms, never "forever"
    if ms < 0:
        wb_error(&c.out, E_TIMEOUT_NEG)
        return -1
    if ms > 0 and ms > 9223372036854775807LL - c.now_ms:
        wb_error(&c.out, E_TIMEOUT_RANGE)
        return -1
    out_ms[0] = ms
    return 0


# ---- the commands ----------------------------------------------------------------------

cdef enum:
    BL_POP = 0                   # BLPOP / BRPOP: reply [key, element]
    BL_MPOP = 1                  # BLMPOP: reply [key, [elements]]
    BL_MOVE = 2                  # BLMOVE / BRPOPLPUSH: reply the element


cdef void bw_allow_list_handover_locked(uint64_t seq, int kind, int where, int64_t count,
                                        int wto, kref_t *dst) noexcept nogil:
    """Let pushes serve this list waiter in place (a BLMOVE's destination key
    goes in a blob; without memory for it the waiter retries instead)."""
    cdef uint64_t dest = 0
    if kind == BL_MOVE:
        dest = item_new(0, dst.key, dst.klen, 0, T_STRING, ENC_RAW, 0)
        if dest:
            bw_allow_handover_locked(seq, HO_MOVE, where, wto, 2, dest)
        return
    bw_allow_handover_locked(seq, HO_MPOP if kind == BL_MPOP else HO_POP, where, count, 2, 0)


cdef int block_try(Client c, uint64_t first, uint64_t nkeys, int where, int64_t count,
                   int kind, int wto, bint *served) except -1:
    """One attempt of a blocking command on keys first..first+nkeys-1, all their
    shards locked: serve from the first list with an element for this client, or
    (first attempt, able to block) register the wait before unlocking.
    served: an element was popped (and replied). Returns 1 after an error reply."""
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * (nkeys + 1))
    cdef uint32_t *shards = <uint32_t *>malloc(4 * (nkeys + 1))
    cdef uint64_t *hashes = <uint64_t *>malloc(8 * (nkeys + 1))
    cdef uint64_t j, seq = c.block_seq, mask = 0
    cdef int m, st = ST_NOTFOUND, hit = -1
    cdef bint may_block = c.transport is not None and not c.flags & CL_EXEC
    cdef bint full = False                         # no memory for the wait's entries
    cdef bint handed = False                       # served by a push (hand-over)
    cdef lroot_t r
    cdef kref_t dst
    served[0] = False
    if ks == NULL or shards == NULL or hashes == NULL:
        free(ks); free(shards); free(hashes)
        raise MemoryError()
    for j in range(nkeys):
        kref_init(&ks[j], c.argv[first + j], c.argl[first + j])
        shards[j] = ks[j].shard
        hashes[j] = ks[j].h
    if kind == BL_MOVE:
        kref_init(&dst, c.argv[2], c.argl[2])
        shards[nkeys] = dst.shard
    with nogil:
        if kind == BL_MOVE:                        # the element may go on down a chain
            m = ho_lock_many(shards, <int>nkeys + 1, &dst)
        else:
            m = shards_lock_many(shards, <int>nkeys)
        if seq:
            bw_lock()
            handed = bw_take_handed_locked(c)       # a push served it already
            if handed:
                mask = bw_remove_locked(c.id)
            bw_unlock()
        for j in range(0 if handed else nkeys):
            st = list_find_locked(&ks[j], c.db, c.now_ms)
            if st == ST_WRONGTYPE:
                if seq:                            # while blocked: not a list yet, keep waiting
                    st = ST_NOTFOUND
                    continue
                break
            if st == ST_OK:
                lroot_load(IT(ks[j].item), &r)
                if r.count and bw_rank_locked(seq, c.db, ks[j].h, T_LIST) == 0:
                    hit = <int>j
                    break
                st = ST_NOTFOUND
        if hit >= 0 and kind != BL_MOVE and not list_own_span(&r, where, <uint64_t>count):
            lroot_save(IT(ks[hit].item), &r)        # the nodes made raw so far stay linked
            hit = -1
            st = ST_NOMEM
        if hit >= 0:
            if kind == BL_MOVE:
                st = move_locked(c, &ks[0], &dst, where, wto)
                if st == ST_OK: notify_move_k(&ks[0], &dst, where, wto, c.db)
            else:
                wb_array(&c.out, 2)
                wb_bulk(&c.out, c.argv[first + hit], c.argl[first + hit])
                if kind == BL_MPOP:
                    pop_many_reply(&c.out, &r, where, count)
                else:
                    list_pop_reply(&c.out, &r, where)
                list_done_locked(&ks[hit], &r, True, c.now_ms)
                notify_removed_k(NK_LIST, "lpop" if where == LIST_HEAD else "rpop", &ks[hit], c.db, True)
            if st == ST_OK:
                served[0] = True
                if seq:
                    bw_lock()
                    mask = bw_remove_locked(c.id)
                    bw_unlock()
        elif st == ST_NOTFOUND and seq == 0 and may_block:
            bw_lock()
            seq = bw_register_locked(c.id, c.db, hashes, <int>nkeys, T_LIST)
            if seq:
                bw_allow_list_handover_locked(seq, kind, where, count, wto, &dst)
            bw_unlock()
            if seq == 0:
                st = ST_NOMEM
                full = True
        ho_unlock_many(shards, m)
    free(ks); free(shards); free(hashes)
    wake_workers(mask)
    if handed:
        served[0] = True
        c.block_seq = 0
        c.flags |= CL_HANDED                    # the pusher logged the pops (shm/wal.pxi)
        return 0
    if served[0]:
        c.block_seq = 0
        if kind == BL_MOVE:
            handover_finish()
            signal_key_ready(c.db, c.argv[2], c.argl[2])
        return 0
    if st == ST_NOMEM and full:
        wb_error(&c.out, E_NOMEM)
        return 1
    if reply_status(c, st):
        return 1
    c.block_seq = seq
    return 0


cdef int block_or_reply(Client c, int64_t timeout_ms, bint served) except -1:
    """After an attempt: block the client (first attempt) or answer the timeout
    reply when it cannot block."""
    if served or c.flags & CL_BLOCKED:
        return 0
    if c.block_seq == 0:
        wb_null_array(&c.out)
        return 0
    c.flags |= CL_BLOCKED
    c.blocked_args = c.args()
    c.on_blocked(timeout_ms)
    return 0


cdef int _bpop(Client c, int where) except -1:
    cdef int64_t timeout_ms = 0
    cdef bint served
    if not c.flags & CL_BLOCKED and parse_timeout(c, c.argc - 1, &timeout_ms) < 0:
        return 0
    if block_try(c, 1, c.argc - 2, where, 1, BL_POP, 0, &served):
        return 0
    return block_or_reply(c, timeout_ms, served)


cdef int cmd_blpop(Client c) except -1:
    return _bpop(c, LIST_HEAD)

cdef int cmd_brpop(Client c) except -1:
    return _bpop(c, LIST_TAIL)


cdef int _bmove(Client c, int wfrom, int wto, uint64_t ti) except -1:
    cdef int64_t timeout_ms = 0
    cdef bint served
    if not c.flags & CL_BLOCKED and parse_timeout(c, ti, &timeout_ms) < 0:
        return 0
    if block_try(c, 1, 1, wfrom, 1, BL_MOVE, wto, &served):
        return 0
    if not served and c.flags & CL_EXEC:
        wb_null(&c.out)              # as Redis in a transaction: a null bulk, not the timeout's array
        return 0
    return block_or_reply(c, timeout_ms, served)


cdef int cmd_blmove(Client c) except -1:
    cdef int wfrom = arg_where(c, 3), wto = arg_where(c, 4)
    if wfrom < 0 or wto < 0:
        wb_error(&c.out, E_SYNTAX)
        return 0
    return _bmove(c, wfrom, wto, 5)


cdef int cmd_brpoplpush(Client c) except -1:
    return _bmove(c, LIST_TAIL, LIST_HEAD, 3)


cdef int cmd_blmpop(Client c) except -1:
    cdef int64_t timeout_ms = 0, count
    cdef uint64_t nkeys
    cdef int where
    cdef bint served
    if mpop_args(c, 2, &nkeys, &where, &count) < 0:        # as Redis: before the timeout
        return 0
    if not c.flags & CL_BLOCKED and parse_timeout(c, 1, &timeout_ms) < 0:
        return 0
    if block_try(c, 3, nkeys, where, count, BL_MPOP, 0, &served):
        return 0
    return block_or_reply(c, timeout_ms, served)


cdef void register_blocking_commands():
    register_c('blpop', cmd_blpop)
    register_c('brpop', cmd_brpop)
    register_c('blmove', cmd_blmove)
    register_c('brpoplpush', cmd_brpoplpush)
    register_c('blmpop', cmd_blmpop)


# ---- leaving the blocked state (Client methods call these) ----------------------------

cdef void block_leave(Client c) noexcept:
    """Remove the client's wait from the registry (timeout, disconnect) and wake
    the waiters that may now be first."""
    cdef uint64_t mask
    if c.block_seq == 0:
        return
    with nogil:
        bw_lock()
        mask = bw_remove_locked(c.id)
        bw_unlock()
    c.block_seq = 0
    try:
        wake_workers(mask)
    except Exception:
        pass
