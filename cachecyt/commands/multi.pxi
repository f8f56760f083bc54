# Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (docs/adr/0006-transactions.md).
#
# A client's transaction state is a TxState kept on the Client (c.tx, None when
# it neither watches keys nor is in MULTI); nothing of it lives in shared memory.
#
#   queue:  in MULTI, Client.execute hands every request to tx_intercept. EXEC,
#           DISCARD, MULTI, WATCH, QUIT and RESET run at once; any other command
#           is checked (unknown, arity, maxmemory) and queued (+QUEUED), or
#           refused with its error, which dooms the transaction (EXECABORT).
#   watch:  WATCH records, per key, the version of its item (every write gives
#           the item a new one, shm/keys.pxi item_bump) or, for an absent key,
#           the newest version handed out so far (the mark). An absent key was
#           touched when it exists at EXEC, or when the shard deleted an item
#           written after the mark (shard_t.del_version): a key created and
#           deleted again in between. That test may also fire for another key
#           of the same shard created after the WATCH and deleted (a spurious
#           abort, never a missed change).
#   exec:   the shards of every queued command's keys and of every watched key
#           are held (shards_hold, in the lock order; commands whose keys the
#           table cannot describe hold them all), the watches are checked under
#           those locks, and the queued commands run through Client.execute
#           while no other process can see or change those shards. The client
#           stays in MULTI meanwhile (CLIENT INFO shows it, as in Redis), with
#           CL_EXEC set: its commands are not queued again, and blocking
#           commands never block.
#
# Must not: run anything under the held shards that waits for a shard outside
# them (the key positions in commands/table.py must be right: fix them there).

cdef const char *E_EXECABORT = "EXECABORT Transaction discarded because of previous errors."
cdef const char *E_EXEC_NO_MULTI = "ERR EXEC without MULTI"
cdef const char *E_DISCARD_NO_MULTI = "ERR DISCARD without MULTI"
cdef const char *E_MULTI_NESTED = "ERR MULTI calls can not be nested"
cdef const char *E_WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"


cdef class TxState:
    """One client's watched keys and, in MULTI, its queued requests."""
    cdef list queued             # requests queued since MULTI, each a list of bytes
    cdef list watched            # (logical db, key, item version or 0, mark)
    cdef set watched_keys        # (logical db, key) of the entries in watched
    cdef bint failed             # a queued command was refused: EXEC answers EXECABORT
    cdef bint denyoom            # a queued command may grow memory

    def __cinit__(self):
        self.queued = []
        self.watched = []
        self.watched_keys = set()


# ---- queueing ------------------------------------------------------------------------

cdef inline bint _runs_in_multi(cmd_t *cmd, bint oom_checked) noexcept:
    """Commands that run at once inside MULTI rather than being queued: EXEC,
    DISCARD, QUIT and RESET before the maxmemory check, MULTI and WATCH after
    it (as Redis orders its checks)."""
    if not oom_checked:
        return (cmd.cf == cmd_exec or cmd.cf == cmd_discard or cmd.cf == cmd_quit
                or (cmd.nlen == 5 and memcmp(cmd.name, "reset", 5) == 0))
    return cmd.cf == cmd_multi or cmd.cf == cmd_watch


cdef inline bint _is(cmd_t *cmd, const char *name) noexcept:
    return cmd.nlen == strlen(name) and memcmp(cmd.name, name, cmd.nlen) == 0


cdef bint _no_multi(cmd_t *cmd) noexcept:
    """Redis 7.0's no-multi commands: refused in MULTI (SAVE inside EXEC would
    wait for the snapshot while EXEC holds the shards it must walk)."""
    return _is(cmd, "save") or _is(cmd, "shutdown") or _is(cmd, "sync") or _is(cmd, "psync")


cdef int tx_intercept(Client c, int idx, uint64_t before) except -1:
    """In MULTI: queue the loaded request, or refuse it and doom the transaction.
    Returns 1 when that is done, 0 when the command must run now."""
    cdef TxState tx = <TxState>c.tx
    cdef cmd_t *cmd
    if idx < 0:
        tx.failed = True
        reply_unknown_command(c)
        count_error_reply(c, before)
        return 1
    cmd = &g_cmds[idx]
    if (cmd.arity > 0 and <int64_t>c.argc != cmd.arity) or <int64_t>c.argc < -cmd.arity:
        cmdstat_at(g_worker, idx).rejected += 1
        if cmd.cf == cmd_exec:
            exec_abort_arity(c)
        else:
            tx.failed = True
            reply_arity(c, cmd.name)
        count_error_reply(c, before)
        return 1
    if _no_multi(cmd):
        tx.failed = True
        cmdstat_at(g_worker, idx).rejected += 1
        wb_error(&c.out, "ERR Command not allowed inside a transaction")
        count_error_reply(c, before)
        return 1
    if (c.acl_ok != g_hdr.acl_version or cmd.flags & CF_AUDIT) and acl_denied(c, idx):
        tx.failed = True                         # NOPERM at queue time dooms it (Redis)
        cmdstat_at(g_worker, idx).rejected += 1
        count_error_reply(c, before)
        return 1
    if cc_atomic_load(&g_hdr.script_owner) and not cmd.flags & CF_ALLOWBUSY and script_gate(c, idx):
        _tx_refused_busy(c, tx, idx, before)     # -BUSY dooms the transaction (Redis)
        return 1
    if _runs_in_multi(cmd, False):
        return 0
    if g_hdr.maxmemory and evict_to_limit(c.now_ms) < 0:
        tx.failed = True
        cmdstat_at(g_worker, idx).rejected += 1
        wb_error(&c.out, E_OOM)
        count_error_reply(c, before)
        return 1
    if _runs_in_multi(cmd, True):
        return 0
    tx.queued.append(c.args())
    cslot_set_multi(c.cslot, <int32_t>len(tx.queued))
    if cmd.flags & CF_DENYOOM:
        tx.denyoom = True
    wb_put(&c.out, "+QUEUED\r\n", 9)
    return 1


cdef void _tx_refused_busy(Client c, TxState tx, int idx, uint64_t before) noexcept:
    """A script is busy (script_gate answered -BUSY): the transaction fails; an
    EXEC refused so answers EXECABORT with the reason and ends it."""
    tx.failed = True
    cmdstat_at(g_worker, idx).rejected += 1
    if g_cmds[idx].cf == cmd_exec:
        c.out.len = before
        tx_discard(c)
        wb_cstr(&c.out, "-EXECABORT Transaction discarded because of: ")
        wb_cstr(&c.out, script_busy_error())
        wb_put(&c.out, "\r\n", 2)
    count_error_reply(c, before)


cdef void exec_abort_arity(Client c) noexcept:
    """EXEC with arguments, in MULTI or not: Redis answers it as an aborted
    transaction, and discards the transaction and the watches."""
    tx_discard(c)
    wb_cstr(&c.out, "-EXECABORT Transaction discarded because of: "
                    "wrong number of arguments for 'exec' command\r\n")


cdef void tx_discard(Client c) noexcept:
    """Leave MULTI and forget the watches (EXEC, DISCARD, RESET)."""
    c.flags &= ~CL_MULTI
    c.tx = None
    cslot_set_multi(c.cslot, -1)


def tx_reset(Client c):
    """RESET: no transaction, no watched keys."""
    tx_discard(c)


def _test_unheld_locks():
    """Shard locks taken outside the held set while holding, since start: EXEC
    computed a held set that missed a key (tests)."""
    return g_unheld_locks


def tx_info(obj):
    """(in MULTI, queued commands or -1, watched keys) of a client, as CLIENT
    LIST shows them; anything else than a RESP Client has none."""
    cdef Client c
    if not isinstance(obj, Client) or (<Client>obj).tx is None:
        return (False, -1, 0)
    c = <Client>obj
    return (bool(c.flags & CL_MULTI),
            len((<TxState>c.tx).queued) if c.flags & CL_MULTI else -1,
            len((<TxState>c.tx).watched))


# ---- MULTI, DISCARD, WATCH, UNWATCH ------------------------------------------------------

cdef int cmd_multi(Client c) except -1:
    if c.flags & CL_MULTI:
        wb_error(&c.out, E_MULTI_NESTED)
        return 0
    if c.tx is None:
        c.tx = TxState()
    c.flags |= CL_MULTI
    cslot_set_multi(c.cslot, 0)
    wb_ok(&c.out)
    return 0


cdef int cmd_discard(Client c) except -1:
    if not c.flags & CL_MULTI:
        wb_error(&c.out, E_DISCARD_NO_MULTI)
        return 0
    tx_discard(c)
    wb_ok(&c.out)
    return 0


cdef int cmd_watch(Client c) except -1:
    cdef TxState tx
    cdef uint64_t i
    if c.flags & CL_MULTI:
        wb_error(&c.out, E_WATCH_IN_MULTI)
        return 0
    if c.tx is None:
        c.tx = TxState()
    tx = <TxState>c.tx
    for i in range(1, c.argc):
        _watch_key(c, tx, c.arg(i))
    wb_ok(&c.out)
    return 0


cdef int _watch_key(Client c, TxState tx, bytes key) except -1:
    """Record the key's state now. A key watched twice keeps its first record:
    a change since either WATCH is a change since the first."""
    cdef kref_t k
    cdef uint64_t version = 0, mark = 0
    cdef shard_t *sh
    if (c.db, key) in tx.watched_keys:
        return 0
    kref_init(&k, key, len(key))
    with nogil:
        shard_lock(k.shard)
        if key_find_locked(&k, <uint32_t>c.db, c.now_ms):
            version = IT(k.item).version
        else:
            mark = cc_atomic_load(&g_hdr.next_version)
            sh = shard_at(k.shard)
            if mark > sh.watch_mark:
                sh.watch_mark = mark
        shard_unlock(k.shard)
    tx.watched.append((c.db, key, version, mark))
    tx.watched_keys.add((c.db, key))
    return 0


cdef int cmd_unwatch(Client c) except -1:
    if c.tx is not None and not c.flags & CL_MULTI:
        c.tx = None
    wb_ok(&c.out)
    return 0


# ---- EXEC ------------------------------------------------------------------------------

cdef int cmd_exec(Client c) except -1:
    cdef TxState tx
    cdef uint64_t at
    if not c.flags & CL_MULTI:
        wb_error(&c.out, E_EXEC_NO_MULTI)
        return 0
    tx = <TxState>c.tx
    if tx.failed:
        tx_discard(c)
        wb_error(&c.out, E_EXECABORT)
        return 0
    if tx.denyoom and g_hdr.maxmemory and evict_to_limit(c.now_ms) < 0:
        tx_discard(c)
        wb_put(&c.out, "-EXECABORT Transaction discarded because of: ", 45)
        wb_cstr(&c.out, E_OOM)
        wb_put(&c.out, "\r\n", 2)
        return 0
    try:
        return _exec_held(c, tx)       # still in MULTI meanwhile, as CLIENT INFO shows
    finally:
        tx_discard(c)


cdef int _exec_held(Client c, TxState tx) except -1:
    """Hold the shards of the transaction, check the watches, run the queue.
    The queued commands are accounted one by one (their own times, MONITOR
    lines); then the client's request is EXEC again, and EXEC's time runs from
    its start, as Redis's covers the commands it ran."""
    cdef uint64_t cap = len(tx.watched) + 1, n = 0
    cdef uint32_t *shards
    cdef bint everything = False
    cdef list args
    cdef const char *exec_name = c.argv[0]       # EXEC: no arguments (arity 1)
    cdef uint64_t exec_len = c.argl[0]
    cdef int64_t exec_start = c.t_mark
    for args in tx.queued:
        cap += len(args)
    shards = <uint32_t *>malloc(4 * cap)
    if shards == NULL:
        raise MemoryError()
    try:
        everything = _tx_shards(tx, shards, &n)
        with nogil:
            if everything:
                shards_hold_all()
            else:
                shards_hold(shards, <int>n)
                ho_hold_chain_held()          # BLMOVE waiters' chains (shm/blocking.pxi)
        try:
            if not _watches_hold(c, tx):
                wb_null_array(&c.out)
                return 0
            wb_array(&c.out, len(tx.queued))
            c.flags |= CL_EXEC
            c.t_mark = cc_mono_us()
            wal_group_open()                  # its writes are one WAL record (shm/wal.pxi)
            try:
                for args in tx.queued:
                    c._load_list(args)
                    c.execute()
            finally:
                wal_group_close(c)
        finally:
            c.flags &= ~CL_EXEC
            shards_release()
            c.argv[0] = exec_name
            c.argl[0] = exec_len
            c.argc = 1
            c.t_mark = exec_start
    finally:
        free(shards)
    return 0


cdef bint _tx_shards(TxState tx, uint32_t *shards, uint64_t *n) except? True:
    """The shards of every key the queued commands and the watches name, into
    shards[0..n). True when the transaction must hold every shard instead: a
    command whose keys the table does not describe (movable keys, Python
    handlers) or that reaches the whole keyspace (FLUSHDB, KEYS, SCAN ...)."""
    cdef list args
    cdef bytes key
    cdef cmd_t *cmd
    cdef int idx
    cdef int64_t i, last, argc
    for args in tx.queued:
        idx = cmd_lookup(<bytes>args[0], len(<bytes>args[0]))
        cmd = &g_cmds[idx]                    # queued commands exist
        if cmd.first == 0:
            if cmd.flags & (CF_WRITE | CF_READONLY):
                return True
            continue
        if cmd.flags & CF_MOVABLE or cmd.cf == NULL:
            return True
        argc = len(args)
        last = cmd.last if cmd.last >= 0 else argc + cmd.last
        if last >= argc:
            last = argc - 1
        i = cmd.first
        while i <= last:
            key = <bytes>args[i]
            shards[n[0]] = shard_of(cc_hash(key, len(key)))
            n[0] += 1
            i += cmd.step if cmd.step > 0 else 1
    for entry in tx.watched:
        key = <bytes>entry[1]
        shards[n[0]] = shard_of(cc_hash(key, len(key)))
        n[0] += 1
    return False


cdef bint _watches_hold(Client c, TxState tx) except? False:
    """True when no watched key changed since WATCH. Every watched key's shard
    is held. A key that expired since counts as changed (key_find_locked
    deletes it: absent now, present then)."""
    cdef kref_t k
    cdef bytes key
    cdef uint64_t version, mark
    cdef uint32_t ldb
    for entry in tx.watched:
        ldb = <uint32_t>entry[0]
        key = <bytes>entry[1]
        version = entry[2]
        mark = entry[3]
        kref_init(&k, key, len(key))
        with nogil:
            key_find_locked(&k, ldb, c.now_ms)
        if version:
            if k.item == 0 or IT(k.item).version != version:
                return False
        elif k.item or shard_at(k.shard).del_version > mark:
            return False
    return True


cdef void register_multi_commands():
    register_c('multi', cmd_multi)
    register_c('exec', cmd_exec)
    register_c('discard', cmd_discard)
    register_c('watch', cmd_watch)
    register_c('unwatch', cmd_unwatch)
