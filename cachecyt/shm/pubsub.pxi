# Pub/sub in the segment (docs/adr/0008-pubsub-across-workers.md): the
# node-wide registry of subscriptions and one message ring per worker. This
# file moves bytes and counts; it knows no client. commands/pubsub.pxi keeps
# each worker's own subscribers and turns messages into replies.
#
# Region pubsub_off: [registry lock][psreg_t] then, per worker slot,
# [ring lock][msgring_t][MSG_RING_BYTES of records].
#
# Registry: three dicts (types/dict.pxi) of name -> psrec_t (channels, shard
# channels, patterns), each record counting the clients subscribed on every
# worker, so PUBLISH knows the exact receiver count and which workers to send
# to, under one short lock. A worker changes only its own counts; a restarted
# worker takes its predecessor's counts off (pubsub_clear_worker). Lock order:
# shard locks, then the registry lock, then a ring lock; the registry lock is
# never held while a ring lock is taken.
#
# Message ring: bounded multi-producer single-consumer byte queue. A producer
# takes the ring lock, waits until the record fits, copies it at tail and
# publishes it by storing tail (release); the owner reads records up to tail
# with no lock and stores head after each. Records: 8-byte header (uint32 body
# bytes, uint32 RF_* flags), body, padding to 8 bytes; a record may wrap
# around the end of the ring (copies are modular). A message bigger than
# MSG_FRAG is cut into fragments (RF_MORE on all but the last) written under
# one hold of the lock, so they are consecutive. Wake-ups: the producer sets
# wake with an exchange after publishing and writes the owner's eventfd only
# when wake was 0; the owner clears wake before reading tail, so a message is
# never left unseen and a burst costs one eventfd write.
#
# Full ring: the producer waits (MSG_WAIT_US at most, waking the owner; not at
# all when the owner's process is gone) for the owner to drain; after that the
# message is dropped for that worker and counted
# in `dropped`. The owner, seeing dropped move, closes its subscribers (they may
# have missed a message, which Redis never lets a connected subscriber do): the
# same end as a subscriber over its output buffer limit.

cdef extern from *:
    """
    static inline void cc_store_sc(uint64_t *p, uint64_t v) {
        __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
    }
    static inline uint64_t cc_load_sc(uint64_t *p) {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    """
    void cc_store_sc(uint64_t *p, uint64_t v) nogil
    uint64_t cc_load_sc(uint64_t *p) nogil

cdef extern from "<unistd.h>" nogil:
    int usleep(unsigned int usec)

cdef extern from "<signal.h>" nogil:
    int kill(int pid, int sig)

cdef enum:
    PS_CHANNEL = 0               # registry kinds, also message kinds
    PS_SHARD = 1
    PS_PATTERN = 2
    RF_MORE = 1                  # record flags: another fragment of this message follows
    RF_ABORT = 2                 # the message being assembled was cut short: forget it
    MSG_FRAG = 262144            # largest record body
    MSG_WAIT_US = 200000         # longest wait of a producer for room in a full ring
    PS_RING_HDR = 128            # sizeof(msgring_t)


cdef uint64_t pubsub_region_size() noexcept nogil:
    return LOCK_STRIDE + sizeof(psreg_t) + <uint64_t>MAX_WORKERS * (LOCK_STRIDE + PS_RING_HDR + MSG_RING_BYTES)


cdef inline pthread_mutex_t *ps_mutex() noexcept nogil:
    return <pthread_mutex_t *>(g_base + g_hdr.pubsub_off)

cdef inline psreg_t *ps_reg() noexcept nogil:
    return <psreg_t *>(g_base + g_hdr.pubsub_off + LOCK_STRIDE)

cdef inline char *ps_ring_base(header_t *h, int w) noexcept nogil:
    return (<char *>h) + h.pubsub_off + LOCK_STRIDE + sizeof(psreg_t) + \
        <uint64_t>w * (LOCK_STRIDE + PS_RING_HDR + MSG_RING_BYTES)

cdef inline pthread_mutex_t *ring_mutex(int w) noexcept nogil:
    return <pthread_mutex_t *>ps_ring_base(g_hdr, w)

cdef inline msgring_t *msgring(int w) noexcept nogil:
    return <msgring_t *>(ps_ring_base(g_hdr, w) + LOCK_STRIDE)

cdef inline char *ring_data(int w) noexcept nogil:
    return ps_ring_base(g_hdr, w) + LOCK_STRIDE + PS_RING_HDR


cdef int pubsub_init(header_t *h) except -1:
    """Segment creation: the locks; the zeroed memory is an empty registry and
    empty rings."""
    cdef int w
    if cc_mutex_init(<pthread_mutex_t *>((<char *>h) + h.pubsub_off)):
        raise OSError("pthread_mutex_init failed")
    for w in range(MAX_WORKERS):
        if cc_mutex_init(<pthread_mutex_t *>ps_ring_base(h, w)):
            raise OSError("pthread_mutex_init failed")
    return 0


cdef int obl_store(header_t *h, v) except -1:
    """client-output-buffer-limit: v maps class index (0 normal, 1 replica,
    2 pubsub) to (hard, soft, seconds); classes not named keep their values."""
    cdef int k
    for k, triple in dict(v).items():
        h.obl[3 * k] = triple[0]
        h.obl[3 * k + 1] = triple[1]
        h.obl[3 * k + 2] = triple[2]
    return 0


# ---- the registry ------------------------------------------------------------------

cdef inline uint64_t *ps_dict_ref(int kind) noexcept nogil:
    cdef psreg_t *r = ps_reg()
    if kind == PS_SHARD:
        return &r.shard_channels
    if kind == PS_PATTERN:
        return &r.patterns
    return &r.channels

cdef inline psrec_t *ps_rec_of(uint64_t elem) noexcept nogil:
    cdef uint64_t roff
    elem_read(elem, elem_klen(elem), <char *>&roff, 8)
    return <psrec_t *>P(roff)


cdef int ps_count(int kind, const char *name, uint64_t n, int worker, int delta) noexcept nogil:
    """One subscription more (delta 1) or fewer (-1) to name on a worker.
    ST_OK, or ST_NOMEM when the arena has no room for a new entry."""
    cdef uint64_t *dp
    cdef uint64_t h = cc_hash(name, n), elem, roff
    cdef int64_t i
    cdef psrec_t *rec
    cc_lock(ps_mutex())
    dp = ps_dict_ref(kind)
    if dp[0] == 0:
        if delta < 0:
            cc_unlock(ps_mutex())
            return ST_OK
        dp[0] = dict_new(DICT_MIN)
        if dp[0] == 0:
            cc_unlock(ps_mutex())
            return ST_NOMEM
    i = dict_find(DT(dp[0]), h, name, n)
    if i < 0:
        if delta < 0:
            cc_unlock(ps_mutex())
            return ST_OK
        roff = slab_alloc(sizeof(psrec_t))
        if roff == 0:
            cc_unlock(ps_mutex())
            return ST_NOMEM
        memset(P(roff), 0, sizeof(psrec_t))
        elem = elem_new(name, n, <char *>&roff, 8)
        if elem == 0 or dict_insert(dp, h, elem) != ST_OK:
            if elem:
                elem_free(elem)
            slab_free(roff)
            cc_unlock(ps_mutex())
            return ST_NOMEM
        if kind == PS_PATTERN:
            ps_reg().npatterns += 1
        i = dict_find(DT(dp[0]), h, name, n)
    elem = dict_elem(DT(dp[0]), <uint64_t>i)
    rec = ps_rec_of(elem)
    if delta > 0:
        rec.count[worker] += 1
        rec.total += 1
        rec.mask |= (<uint64_t>1) << worker
    elif rec.count[worker] > 0:
        rec.count[worker] -= 1
        rec.total -= 1
        if rec.count[worker] == 0:
            rec.mask &= ~((<uint64_t>1) << worker)
    if rec.total == 0:
        _ps_drop_at(kind, dp, <uint64_t>i)
    cc_unlock(ps_mutex())
    return ST_OK


cdef void _ps_drop_at(int kind, uint64_t *dp, uint64_t i) noexcept nogil:
    """Remove the entry at slot i (registry lock held)."""
    cdef uint64_t elem = dict_delete_at(dp, i)
    cdef uint64_t roff
    elem_read(elem, elem_klen(elem), <char *>&roff, 8)
    slab_free(roff)
    elem_free(elem)
    if kind == PS_PATTERN:
        ps_reg().npatterns -= 1


cdef int _ps_name(uint64_t elem, char **buf, uint64_t *cap) noexcept nogil:
    """The name of an entry as contiguous bytes: in place, or copied into *buf
    (grown with realloc) when the element is big. Returns 0, or -1 (no memory)."""
    cdef uint64_t n = elem_klen(elem)
    cdef char *nb
    if n > cap[0]:
        nb = <char *>realloc(buf[0], n)
        if nb == NULL:
            return -1
        buf[0] = nb
        cap[0] = n
    elem_read(elem, 0, buf[0], n)
    return 0


cdef uint64_t ps_receivers(int kind, const char *ch, uint64_t n, uint64_t *mask) noexcept nogil:
    """Clients that a message on ch reaches over the node, and in mask the
    workers they are on: the channel's subscribers plus, for a plain channel,
    those of every matching pattern."""
    cdef uint64_t total = 0, i, elem, cap = 0
    cdef uint64_t doff
    cdef int64_t j
    cdef dict_t *d
    cdef psrec_t *rec
    cdef char *pat = NULL
    mask[0] = 0
    cc_lock(ps_mutex())
    doff = ps_dict_ref(kind)[0]
    if doff and DT(doff).count:
        j = dict_find(DT(doff), cc_hash(ch, n), ch, n)
        if j >= 0:
            rec = ps_rec_of(dict_elem(DT(doff), <uint64_t>j))
            total = rec.total
            mask[0] = rec.mask
    if kind == PS_CHANNEL and ps_reg().npatterns:
        d = DT(ps_reg().patterns)
        for i in range(d.mask + 1):
            elem = dict_elem(d, i)
            if not elem:
                continue
            if elem_big(elem_klen(elem), 8):
                if _ps_name(elem, &pat, &cap) < 0:
                    continue
                if not glob_matchlen(pat, elem_klen(elem), ch, n):
                    continue
            elif not glob_matchlen(elem_data(elem), elem_klen(elem), ch, n):
                continue
            rec = ps_rec_of(elem)
            total += rec.total
            mask[0] |= rec.mask
    cc_unlock(ps_mutex())
    free(pat)
    return total


cdef void pubsub_clear_worker_locked(int worker) noexcept nogil:
    """Take every subscription counted for a worker slot off the registry."""
    cdef int kind
    cdef uint64_t *dp
    cdef uint64_t i
    cdef uint64_t elem
    cdef psrec_t *rec
    for kind in range(3):
        dp = ps_dict_ref(kind)
        if dp[0] == 0:
            continue
        i = 0
        while i <= DT(dp[0]).mask:
            elem = dict_elem(DT(dp[0]), i)
            if elem:
                rec = ps_rec_of(elem)
                if rec.count[worker]:
                    rec.total -= rec.count[worker]
                    rec.count[worker] = 0
                    rec.mask &= ~((<uint64_t>1) << worker)
                    if rec.total == 0:
                        _ps_drop_at(kind, dp, i)
                        i = 0                # the table moved or shifted: look again
                        continue
            i += 1


# ---- message rings ---------------------------------------------------------------

cdef inline uint64_t _pad8(uint64_t n) noexcept nogil:
    return (n + 7) & ~(<uint64_t>7)


cdef void _msg_copy_in(int w, uint64_t pos, const char *src, uint64_t n) noexcept nogil:
    cdef uint64_t at = pos & (MSG_RING_BYTES - 1)
    cdef uint64_t first = MSG_RING_BYTES - at
    cdef char *d = ring_data(w)
    if n <= first:
        memcpy(d + at, src, n)
    else:
        memcpy(d + at, src, first)
        memcpy(d, src + first, n - first)


cdef void _msg_copy_out(int w, uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    cdef uint64_t at = pos & (MSG_RING_BYTES - 1)
    cdef uint64_t first = MSG_RING_BYTES - at
    cdef char *d = ring_data(w)
    if n <= first:
        memcpy(dst, d + at, n)
    else:
        memcpy(dst, d + at, first)
        memcpy(dst + first, d, n - first)


cdef bint _ring_room(int w, uint64_t need, int64_t *waited_us, bint *woke) noexcept:
    """Wait (ring lock held) until need bytes are free in worker w's ring; False
    when the wait budget is spent. Wakes the owner once while waiting."""
    cdef msgring_t *r = msgring(w)
    cdef int64_t pid
    while r.tail - cc_atomic_load(&r.head) + need > MSG_RING_BYTES:
        if waited_us[0] >= MSG_WAIT_US:
            return False
        pid = (<wstat_t *>(g_base + g_hdr.wstats_off) + w).pid
        if pid <= 0 or kill(<int>pid, 0) != 0:
            return False                 # the owner is dead: nobody will drain before its restart
        if not woke[0]:
            woke[0] = True
            cc_xchg_u64(&r.wake, 1)
            ps_wake_worker(w)
        with nogil:
            usleep(50)
        waited_us[0] += 50
    return True


cdef void _ring_put(int w, uint32_t flags, const char *a, uint64_t na,
                    const char *b, uint64_t nb) noexcept nogil:
    """Write one record whose body is a || b at tail and publish it (lock held, room checked)."""
    cdef msgring_t *r = msgring(w)
    cdef uint32_t hdr[2]
    cdef uint64_t pos = r.tail
    hdr[0] = <uint32_t>(na + nb)
    hdr[1] = flags
    _msg_copy_in(w, pos, <char *>hdr, 8)
    if na:
        _msg_copy_in(w, pos + 8, a, na)
    if nb:
        _msg_copy_in(w, pos + 8 + na, b, nb)
    cc_atomic_store(&r.tail, pos + 8 + _pad8(na + nb))


cdef int ring_send_message(int w, int kind, const char *ch, uint32_t chlen,
                           const char *msg, uint64_t msglen) noexcept:
    """Queue a message for worker w and wake it: 0, or -1 when dropped (its
    ring stayed full). Body: uint32 kind, uint32 channel bytes, channel, payload."""
    cdef msgring_t *r = msgring(w)
    cdef uint32_t head[2]
    cdef uint64_t total = 8 + chlen + msglen, done = 0, take, need, part_a, skip
    cdef int64_t waited = 0
    cdef bint woke = False
    cdef const char *src_a
    head[0] = kind
    head[1] = chlen
    with nogil:
        cc_lock(ring_mutex(w))
    if r.partial:
        if not _ring_room(w, 8, &waited, &woke):
            cc_unlock(ring_mutex(w))
            cc_atomic_add(&r.dropped, 1)
            return -1
        _ring_put(w, RF_ABORT, NULL, 0, NULL, 0)
        r.partial = 0
    # the header and channel go in the first fragment; a message that fits in
    # the ring waits for room for all of it, so it is never cut
    if total <= MSG_FRAG and not _ring_room(w, 8 + _pad8(total), &waited, &woke):
        cc_unlock(ring_mutex(w))
        cc_atomic_add(&r.dropped, 1)
        return -1
    while done < total:
        take = total - done
        if take > MSG_FRAG:
            take = MSG_FRAG
        need = 8 + _pad8(take)
        if not _ring_room(w, need, &waited, &woke):
            if done:
                r.partial = 1
            cc_unlock(ring_mutex(w))
            cc_atomic_add(&r.dropped, 1)
            return -1
        if done == 0:
            _ring_put_first(w, RF_MORE if take < total else 0, <char *>head, ch, chlen, msg, take - 8 - chlen if take >= 8 + chlen else 0)
        else:
            skip = done - 8 - chlen
            _ring_put(w, RF_MORE if done + take < total else 0, msg + skip, take, NULL, 0)
        done += take
    cc_unlock(ring_mutex(w))
    if cc_xchg_u64(&r.wake, 1) == 0:
        ps_wake_worker(w)
    return 0


cdef void _ring_put_first(int w, uint32_t flags, const char *head, const char *ch, uint64_t chlen,
                          const char *msg, uint64_t nmsg) noexcept nogil:
    """The first record of a message: kind and channel length, channel, the start of the payload."""
    cdef msgring_t *r = msgring(w)
    cdef uint32_t hdr[2]
    cdef uint64_t pos = r.tail
    hdr[0] = <uint32_t>(8 + chlen + nmsg)
    hdr[1] = flags
    _msg_copy_in(w, pos, <char *>hdr, 8)
    _msg_copy_in(w, pos + 8, head, 8)
    _msg_copy_in(w, pos + 16, ch, chlen)
    if nmsg:
        _msg_copy_in(w, pos + 16 + chlen, msg, nmsg)
    cc_atomic_store(&r.tail, pos + 8 + _pad8(8 + chlen + nmsg))


cdef int ps_wake_worker(int w) noexcept:
    """Write worker w's eventfd (the hook the worker installed)."""
    try:
        if g_wake is not None:
            g_wake(w)
    except Exception:
        pass
    return 0


cdef int ps_mark_reached(set reached) except -1:
    """Invariant walk (shm/check.pxi): the registry's chunks are reachable.
    The caller holds every lock the walk needs; test-only."""
    cdef int kind
    cdef uint64_t doff, i, j, e
    cdef dict_t *d
    for kind in range(3):
        doff = ps_dict_ref(kind)[0]
        if not doff:
            continue
        d = DT(doff)
        reached.add(doff)
        for i in range(d.nblocks):
            reached.add(d.blocks[i])
        for i in range(d.mask + 1):
            e = dict_elem(d, i)
            if not e:
                continue
            reached.add(e)
            reached.add(<uint64_t>(<char *>ps_rec_of(e) - g_base))
            if elem_big(EL(e).klen, EL(e).vlen):
                for j in range((EL(e).klen + EL(e).vlen + PAGE_SIZE - 1) >> PAGE_SHIFT):
                    reached.add(elem_extents(e)[j])
    return 0
