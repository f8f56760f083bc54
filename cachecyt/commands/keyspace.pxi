# Keyspace commands: commands on keys of any type and on whole databases.

cdef const char *TYPE_NAMES[5]
TYPE_NAMES[:] = ["string", "list", "set", "zset", "hash"]


cdef int _del(Client c, bint unlink) except -1:
    """DEL / UNLINK: keys deleted, all their shards locked together. UNLINK
    only detaches them under the locks and frees them after: a big collection
    goes to the worker's lazy-free thread (as Redis's UNLINK), others are freed
    at once, without holding any shard."""
    cdef uint64_t n = c.argc - 1, i
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * n)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * n)
    cdef uint64_t *gone = <uint64_t *>malloc(8 * n)
    cdef int m
    cdef int64_t deleted = 0
    if ks == NULL or shards == NULL or gone == NULL:
        free(ks); free(shards); free(gone)
        raise MemoryError()
    m = lock_keys(c, 1, 1, ks, shards)
    with nogil:
        for i in range(n):
            if key_find_locked(&ks[i], c.db, c.now_ms):
                if unlink:
                    gone[deleted] = key_detach_at_locked(ks[i].shard, <uint64_t>ks[i].slot)
                else:
                    key_remove_locked(&ks[i])
                notify(NK_GENERIC, "del", ks[i].key, ks[i].klen, c.db)
                deleted += 1
        shards_unlock_many(shards, m)
    for i in range(<uint64_t>deleted if unlink else 0):
        free_detached(gone[i])
    free(ks)
    free(shards)
    free(gone)
    wb_int(&c.out, deleted)
    return 0


cdef int cmd_del(Client c) except -1:
    return _del(c, False)

cdef int cmd_unlink(Client c) except -1:
    return _del(c, True)


# ---- lazy free (UNLINK) ----------------------------------------------------------
# An item detached from the keyspace is reachable by nobody else, so freeing it
# needs no shard lock, only the allocator's locks: a worker thread can do it
# while the event loop goes on. Items of at most LAZYFREE_EFFORT chunks are not
# worth the hand-over and are freed at once.

cdef enum:
    LAZYFREE_EFFORT = 64           # as Redis's LAZYFREE_THRESHOLD

g_lazy_queue = None                # queue.SimpleQueue of item offsets, read by its thread


cdef void free_detached(uint64_t off) except *:
    if value_effort(IT(off)) <= LAZYFREE_EFFORT:
        with nogil:
            item_free(off)
        return
    _lazy_start()
    cc_atomic_add(&my_wstat().lazy_queued, 1)
    g_lazy_queue.put(off)


cdef _lazy_start():
    global g_lazy_queue
    import queue, threading
    if g_lazy_queue is None:
        g_lazy_queue = queue.SimpleQueue()
        threading.Thread(target=_lazy_loop, args=(g_lazy_queue,), name="cachecyt-lazyfree",
                         daemon=True).start()


def _lazy_loop(q):
    cdef uint64_t off
    while True:
        off = q.get()
        with nogil:
            item_free(off)
            cc_atomic_add(&my_wstat().lazy_freed, 1)


def lazyfree_info():
    """(values waiting to be freed, values freed so far) over every worker."""
    cdef uint64_t queued = 0, freed = 0
    cdef int w
    cdef wstat_t *ws
    for w in range(MAX_WORKERS):
        ws = <wstat_t *>(g_base + g_hdr.wstats_off) + w
        queued += cc_atomic_load(&ws.lazy_queued)
        freed += cc_atomic_load(&ws.lazy_freed)
    return queued - freed, freed


def lazyfree_wait(double timeout=10.0):
    """Wait until this worker's lazy-free thread has freed what it was given."""
    import time
    deadline = time.monotonic() + timeout
    while (cc_atomic_load(&my_wstat().lazy_queued) != cc_atomic_load(&my_wstat().lazy_freed)
           and time.monotonic() < deadline):
        time.sleep(0.001)
    return cc_atomic_load(&my_wstat().lazy_queued) == cc_atomic_load(&my_wstat().lazy_freed)


cdef int cmd_exists(Client c) except -1:
    cdef uint64_t n = c.argc - 1, i
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * n)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * n)
    cdef int m
    cdef int64_t found = 0
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    m = lock_keys(c, 1, 1, ks, shards)
    with nogil:
        for i in range(n):
            if key_find_locked(&ks[i], c.db, c.now_ms):
                found += 1
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    wb_int(&c.out, found)
    return 0


cdef int cmd_type(Client c) except -1:
    cdef kref_t k
    cdef int t = -1
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            t = IT(k.item).type
        shard_unlock(k.shard)
    if t < 0:
        wb_status(&c.out, "none")
    else:
        wb_status(&c.out, TYPE_NAMES[t])
    return 0


# ---- TTLs -----------------------------------------------------------------------

cdef enum:
    EXP_NX = 1
    EXP_XX = 2
    EXP_GT = 4
    EXP_LT = 8


cdef void _reply_unsupported_option(Client c, uint64_t i) noexcept:
    """Redis prints the option as a C string: it ends at a NUL byte, and CR/LF
    become spaces."""
    cdef const char *nul = <const char *>memchr(c.argv[i], 0, c.argl[i])
    cdef uint64_t n = <uint64_t>(nul - c.argv[i]) if nul != NULL else c.argl[i]
    wb_put(&c.out, "-ERR Unsupported option ", 24)
    _sanitized(&c.out, c.argv[i], n, n)
    wb_put(&c.out, "\r\n", 2)


cdef int _expire(Client c, int unit, bint absolute, const char *name) except -1:
    """EXPIRE PEXPIRE EXPIREAT PEXPIREAT with NX XX GT LT (Redis 7)."""
    cdef int64_t v, when
    cdef int flags = 0
    cdef uint64_t i
    cdef kref_t k
    cdef int result = 0
    cdef int64_t cur
    for i in range(3, c.argc):
        if arg_eq(c, i, "nx"): flags |= EXP_NX
        elif arg_eq(c, i, "xx"): flags |= EXP_XX
        elif arg_eq(c, i, "gt"): flags |= EXP_GT
        elif arg_eq(c, i, "lt"): flags |= EXP_LT
        else:
            _reply_unsupported_option(c, i)
            return 0
    if flags & EXP_NX and flags & (EXP_XX | EXP_GT | EXP_LT):
        wb_error(&c.out, "ERR NX and XX, GT or LT options at the same time are not compatible")
        return 0
    if flags & EXP_GT and flags & EXP_LT:
        wb_error(&c.out, "ERR GT and LT options at the same time are not compatible")
        return 0
    if not arg_i64(c, 2, &v):
        wb_error(&c.out, E_NOTINT)
        return 0
    if unit == 1000 and (v > 9223372036854775807LL // 1000 or v < (-9223372036854775807LL - 1) // 1000):
        _reply_invalid_expire(c, name)
        return 0
    when = v * unit
    if not absolute:
        if (when > 0 and c.now_ms > 9223372036854775807LL - when):
            _reply_invalid_expire(c, name)
            return 0
        when += c.now_ms
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            cur = IT(k.item).expire_ms
            result = 1
            if flags & EXP_NX and cur:
                result = 0
            elif flags & EXP_XX and not cur:
                result = 0
            elif flags & EXP_GT and (not cur or when <= cur):
                result = 0          # a persistent key counts as an infinite TTL
            elif flags & EXP_LT and cur and when >= cur:
                result = 0
            if result:
                if when <= c.now_ms:
                    key_remove_locked(&k)
                else:
                    key_set_expire_locked(&k, when)
                notify(NK_GENERIC, "del" if when <= c.now_ms else "expire", k.key, k.klen, c.db)
        shard_unlock(k.shard)
    wb_int(&c.out, result)
    return 0


cdef int cmd_expire(Client c) except -1:
    return _expire(c, 1000, False, "expire")

cdef int cmd_pexpire(Client c) except -1:
    return _expire(c, 1, False, "pexpire")

cdef int cmd_expireat(Client c) except -1:
    return _expire(c, 1000, True, "expireat")

cdef int cmd_pexpireat(Client c) except -1:
    return _expire(c, 1, True, "pexpireat")


cdef int _ttl(Client c, bint ms, bint absolute) except -1:
    """TTL PTTL EXPIRETIME PEXPIRETIME: -2 no key, -1 no TTL."""
    cdef kref_t k
    cdef int64_t r = -2, e
    # a script's clock stands still for expiry, but its TTL/PTTL read the real
    # clock, as Redis 7.0's do
    cdef int64_t now = cc_now_ms() if c.clock_frozen else c.now_ms
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms):
            e = IT(k.item).expire_ms
            if not e:
                r = -1
            else:
                r = e if absolute else e - now
                if r < 0:
                    r = 0
                if not ms:
                    r = (r + 500) // 1000 if not absolute else r // 1000
        shard_unlock(k.shard)
    wb_int(&c.out, r)
    return 0


cdef int cmd_ttl(Client c) except -1:
    return _ttl(c, False, False)

cdef int cmd_pttl(Client c) except -1:
    return _ttl(c, True, False)

cdef int cmd_expiretime(Client c) except -1:
    return _ttl(c, False, True)

cdef int cmd_pexpiretime(Client c) except -1:
    return _ttl(c, True, True)


cdef int cmd_persist(Client c) except -1:
    cdef kref_t k
    cdef int r = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, c.db, c.now_ms) and IT(k.item).expire_ms:
            key_set_expire_locked(&k, 0)
            r = 1
        shard_unlock(k.shard)
    if r: notify_arg(c, NK_GENERIC, "persist", 1)
    wb_int(&c.out, r)
    return 0


# ---- databases --------------------------------------------------------------------

cdef bint _arg_int32(Client c, uint64_t i, int *out) noexcept nogil:
    """Argument i as a C int (Redis getIntFromObject)."""
    cdef int64_t v
    if not arg_i64(c, i, &v) or v < -2147483648LL or v > 2147483647LL:
        return False
    out[0] = <int>v
    return True


cdef int cmd_select(Client c) except -1:
    cdef int64_t v
    if not arg_i64(c, 1, &v):
        wb_error(&c.out, E_NOTINT)
    elif v < -2147483648LL or v > 2147483647LL:
        wb_error(&c.out, "ERR value is out of range, value must between -2147483648 and 2147483647")
    elif v < 0 or v >= (g_hdr.ndbs if c.tenant == TN_SYSTEM else g_hdr.tenant_base):
        wb_error(&c.out, E_DBINDEX)          # tenants' dbs lie past tenant_base (shm/tenantmem.pxi)
    else:
        c.db = <int>v
        wb_ok(&c.out)
    return 0


cdef int cmd_swapdb(Client c) except -1:
    cdef int a, b
    if not _arg_int32(c, 1, &a):
        wb_error(&c.out, "ERR invalid first DB index")
    elif not _arg_int32(c, 2, &b):
        wb_error(&c.out, "ERR invalid second DB index")
    elif a < 0 or a >= <int>g_hdr.tenant_base or b < 0 or b >= <int>g_hdr.tenant_base:
        wb_error(&c.out, E_DBINDEX)
    else:
        with nogil:
            db_swap(a, b)
        wb_ok(&c.out)
        signal_db_ready(a)                  # lists may have arrived for blocked clients
        signal_db_ready(b)
    return 0


cdef int cmd_dbsize(Client c) except -1:
    wb_int(&c.out, <int64_t>db_size(c.db))
    return 0


cdef int _flush(Client c, int db) except -1:
    if c.argc > 2 or (c.argc == 2 and not (arg_eq(c, 1, "async") or arg_eq(c, 1, "sync"))):
        wb_error(&c.out, E_SYNTAX)
        return 0
    with nogil:
        db_flush(db)
    wb_ok(&c.out)
    return 0


cdef int cmd_flushdb(Client c) except -1:
    return _flush(c, c.db)


cdef int cmd_flushall(Client c) except -1:
    return _flush(c, -1)


cdef void register_keyspace_commands():
    register_c('del', cmd_del)
    register_c('unlink', cmd_unlink)
    register_c('exists', cmd_exists)
    register_c('type', cmd_type)
    register_c('expire', cmd_expire)
    register_c('pexpire', cmd_pexpire)
    register_c('expireat', cmd_expireat)
    register_c('pexpireat', cmd_pexpireat)
    register_c('ttl', cmd_ttl)
    register_c('pttl', cmd_pttl)
    register_c('expiretime', cmd_expiretime)
    register_c('pexpiretime', cmd_pexpiretime)
    register_c('persist', cmd_persist)
    register_c('select', cmd_select)
    register_c('swapdb', cmd_swapdb)
    register_c('dbsize', cmd_dbsize)
    register_c('flushdb', cmd_flushdb)
    register_c('flushall', cmd_flushall)
