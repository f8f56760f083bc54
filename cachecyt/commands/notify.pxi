# Keyspace notifications (notify-keyspace-events), as Redis 7.0: an event on
# key k in db d is published on `__keyspace@d__:k` (message: the event name)
# when K is set, and on `__keyevent@d__:<event>` (message: the key) when E is
# set, if the event's class flag is on.
#
# Write handlers call notify() next to the change, often with a shard lock
# held: it only checks the flags (one load; nothing else when they are off) and
# queues the event in this process's memory. The queue is published after the
# command (Client.execute), after an expiry cycle (pubsub_flush from the
# worker's cron) or after an eviction, never under a shard lock.

cdef enum:
    NK_KEYSPACE = 1              # bits of header.notify_flags (config.NOTIFY_BITS)
    NK_KEYEVENT = 2
    NK_GENERIC = 4
    NK_STRING = 8
    NK_LIST = 16
    NK_SET = 32
    NK_HASH = 64
    NK_ZSET = 128
    NK_EXPIRED = 256
    NK_EVICTED = 512
    NK_STREAM = 1024
    NK_KEYMISS = 2048
    NK_MODULE = 4096
    NK_NEW = 8192

ctypedef struct nkrec_t:         # one queued event; the key bytes follow
    const char *event            # a static string
    uint32_t klen
    int32_t db                   # logical db

cdef char *g_nk = NULL           # queued events: nkrec_t + key, 8-byte aligned
cdef uint64_t g_nk_len = 0
cdef uint64_t g_nk_cap = 0


cdef inline void notify(uint64_t type_flag, const char *event, const char *key, uint64_t klen,
                        int db) noexcept nogil:
    """Queue a keyspace event (any lock may be held)."""
    if g_hdr.notify_flags & type_flag:
        _nk_queue(event, key, klen, db, NULL)


cdef inline void notify_item(uint64_t type_flag, const char *event, item_t *it) noexcept nogil:
    """Queue an event about the key of an item still allocated (expiry, eviction)."""
    if g_hdr.notify_flags & type_flag:
        _nk_queue(event, NULL, it.klen, _nk_logical_db(it.db), it)


cdef int _nk_logical_db(uint32_t pdb) noexcept nogil:
    cdef uint32_t i
    cdef int32_t *dm = db_map()
    for i in range(g_hdr.ndbs):
        if <uint32_t>dm[i] == pdb:
            return <int>i
    return <int>pdb


cdef void _nk_queue(const char *event, const char *key, uint64_t klen, int db,
                    item_t *it) noexcept nogil:
    cdef uint64_t need = _pad8(sizeof(nkrec_t) + klen), cap
    cdef char *nb
    cdef nkrec_t *r
    if not (g_hdr.notify_flags & (NK_KEYSPACE | NK_KEYEVENT)):
        return
    if g_nk_len + need > g_nk_cap:
        cap = g_nk_cap * 2 if g_nk_cap else 4096
        while cap < g_nk_len + need:
            cap *= 2
        nb = <char *>realloc(g_nk, cap)
        if nb == NULL:
            return                                  # no memory: the event is lost
        _nk_set_buf(nb, cap)
    r = <nkrec_t *>(g_nk + g_nk_len)
    r.event = event
    r.klen = <uint32_t>klen
    r.db = db
    if it != NULL:
        item_read(it, 0, g_nk + g_nk_len + sizeof(nkrec_t), klen)
    else:
        memcpy(g_nk + g_nk_len + sizeof(nkrec_t), key, klen)
    _nk_set_len(g_nk_len + need)


cdef inline void _nk_set_buf(char *p, uint64_t cap) noexcept nogil:
    global g_nk, g_nk_cap
    g_nk = p
    g_nk_cap = cap

cdef inline void _nk_set_len(uint64_t n) noexcept nogil:
    global g_nk_len
    g_nk_len = n


cdef int nk_flush() except -1:
    """Publish the queued events (no lock held)."""
    cdef uint64_t pos = 0, end = g_nk_len
    cdef nkrec_t *r
    cdef bytes key, ev, db, pre
    cdef uint64_t flags = g_hdr.notify_flags
    _nk_set_len(0)
    while pos < end:
        r = <nkrec_t *>(g_nk + pos)
        key = (g_nk + pos + sizeof(nkrec_t))[:r.klen]
        ev = <bytes>r.event
        db = b'%d' % r.db
        pre = b''
        if r.db >= <int>g_hdr.tenant_base:       # a tenant's key: its channels, its db 0
            pre = tn_channel_prefix(r.db)
            db = b'0'
        pos += _pad8(sizeof(nkrec_t) + r.klen)
        if flags & NK_KEYSPACE:
            pubsub_publish(pre + b'__keyspace@' + db + b'__:' + key, ev)
        if flags & NK_KEYEVENT:
            pubsub_publish(pre + b'__keyevent@' + db + b'__:' + ev, key)
    if g_nk_cap > 1048576:
        free(g_nk)
        _nk_set_buf(NULL, 0)
    return 0


def pubsub_flush():
    """Publish queued keyspace events and send pending frames (the worker's
    cron, after active expiry)."""
    if g_nk_len:
        nk_flush()
    ps_flush_pending()


def _test_notify(int type_flag, str event, bytes key, int db):
    """notify() from Python (tests)."""
    cdef bytes ev = event.encode()
    notify(type_flag, ev, key, len(key), db)
    nk_flush()


cdef inline void notify_arg(Client c, uint64_t type_flag, const char *event, uint64_t i) noexcept:
    """Queue an event about the key in argument i of the running command."""
    if g_hdr.notify_flags & type_flag:
        _nk_queue(event, c.argv[i], c.argl[i], c.db, NULL)


cdef inline void notify_pdb(uint64_t type_flag, const char *event, const char *key, uint64_t klen,
                            uint32_t pdb) noexcept nogil:
    """notify() for a physical db (code below the command layer)."""
    if g_hdr.notify_flags & type_flag:
        _nk_queue(event, key, klen, _nk_logical_db(pdb), NULL)


cdef inline void notify_set(Client c, uint64_t keyi, int64_t expire_ms) noexcept:
    """SET and its variants: `set`, and `expire` when it gave a TTL (as Redis)."""
    notify_arg(c, NK_STRING, "set", keyi)
    if expire_ms:
        notify_arg(c, NK_GENERIC, "expire", keyi)


cdef inline void notify_rename(Client c) noexcept:
    notify_arg(c, NK_GENERIC, "rename_from", 1)
    notify_arg(c, NK_GENERIC, "rename_to", 2)


cdef inline void notify_removed(Client c, uint64_t type_flag, const char *event, bint changed,
                                bint gone) noexcept:
    """An element removal on the key in argument 1: its event, then `del` when
    the collection was emptied and deleted (as Redis)."""
    if changed:
        notify_arg(c, type_flag, event, 1)
        if gone:
            notify_arg(c, NK_GENERIC, "del", 1)


cdef inline void notify_removed_k(uint64_t type_flag, const char *event, kref_t *k, int db,
                                  bint changed) noexcept nogil:
    """notify_removed for code under the shard lock: the key is gone when k.item is 0."""
    if changed:
        notify(type_flag, event, k.key, k.klen, db)
        if k.item == 0:
            notify(NK_GENERIC, "del", k.key, k.klen, db)


cdef inline void notify_move(Client c, int wfrom, int wto, bint src_gone) noexcept:
    """LMOVE & co. as Redis: the push on the destination, the pop on the
    source, then `del` when the source was emptied."""
    notify_arg(c, NK_LIST, "lpush" if wto == LIST_HEAD else "rpush", 2)
    notify_removed(c, NK_LIST, "lpop" if wfrom == LIST_HEAD else "rpop", True, src_gone)


cdef inline void notify_move_k(kref_t *src, kref_t *dst, int wfrom, int wto, int db) noexcept nogil:
    """notify_move for code under the shard locks (BLMOVE)."""
    notify(NK_LIST, "lpush" if wto == LIST_HEAD else "rpush", dst.key, dst.klen, db)
    notify_removed_k(NK_LIST, "lpop" if wfrom == LIST_HEAD else "rpop", src, db, True)
