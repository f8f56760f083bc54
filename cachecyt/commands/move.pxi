# MOVE key db: the key, its value and TTL go to another database of this node.
# A key hashes to the same shard in every database, so one shard lock covers
# both ends; the value moves the way RENAME moves it (commands/keys.pxi). A
# tenant's client never gets here: security/tenants.py refuses MOVE for them,
# since a tenant sees one database.

cdef int keymove_locked(kref_t *src, kref_t *dst, int sdb, int ddb, int64_t now_ms) noexcept nogil:
    """ST_OK, ST_NOTFOUND (no source key), ST_EXISTS (the target db has it) or
    ST_NOMEM. The key's shard locked."""
    cdef uint64_t noff
    cdef uint32_t lru
    if not key_find_locked(src, sdb, now_ms):
        return ST_NOTFOUND
    if key_find_locked(dst, ddb, now_ms):
        return ST_EXISTS
    key_find_locked(src, sdb, now_ms)           # the lookup of dst may have moved slots
    lru = item_lru(IT(src.item))
    noff = item_shell_copy(src.item, dst.pdb, dst.key, dst.klen, now_ms)
    if noff == 0:
        return ST_NOMEM
    item_copy_value(IT(noff), IT(src.item))     # a collection's root moves as bytes
    item_set_lru(IT(noff), lru)
    if key_store_locked(dst, noff) != ST_OK:
        return ST_NOMEM
    if key_find_locked(src, sdb, now_ms):       # the store may have moved the slot
        item_free_shell(key_detach_at_locked(src.shard, <uint64_t>src.slot))
    return ST_OK


cdef int cmd_move(Client c) except -1:
    cdef int64_t db
    cdef kref_t src, dst
    cdef int st, m
    cdef uint32_t sh[1]
    if arg_int32(c, 2, &db):
        return 0
    if db < 0 or db >= g_hdr.tenant_base:
        wb_error(&c.out, E_DBINDEX)
        return 0
    if db == c.db:
        wb_error(&c.out, E_SAMEOBJ)
        return 0
    kref_init(&src, c.argv[1], c.argl[1])
    kref_init(&dst, c.argv[1], c.argl[1])
    with nogil:
        sh[0] = src.shard
        m = ho_lock_many(sh, 1, &dst)          # shm/blocking.pxi: the waiters in db are served now
        st = keymove_locked(&src, &dst, c.db, <int>db, c.now_ms)
        if st == ST_OK:
            handover_arrived_locked(c, &dst, <int>db)
        ho_unlock_many(sh, m)
    if st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
        return 0
    if st != ST_OK:
        c.flags |= CL_UNCHANGED             # nothing moved: no effect record (shm/wal.pxi)
        wb_int(&c.out, 0)
        return 0
    notify(NK_GENERIC, "move_from", c.argv[1], c.argl[1], c.db)
    notify(NK_GENERIC, "move_to", c.argv[1], c.argl[1], <int>db)
    handover_finish()
    wb_int(&c.out, 1)
    signal_key_ready(<int>db, c.argv[1], c.argl[1])     # a list may have arrived (shm/blocking.pxi)
    return 0


cdef void register_move_commands():
    register_c('move', cmd_move)
