# Snapshots without fork: serialising shards, and applying serialised commands.
#
# A key is serialised as the RESP commands that rebuild it (SET, RPUSH, SADD,
# HSET or ZADD with every element, then PEXPIREAT, and "\0mcflags" for a
# memcached flags word), preceded by SELECT when its logical db differs from
# the key before it in the same part. Snapshot files, WAL effect records and
# the state records of non-deterministic commands all carry such command
# streams, so one loader (apply_commands) restores all of them.
#
# How a snapshot is taken (docs/adr/0009-durability.md)
#   The snapshot point: snap_begin locks every shard, notes the next LSN (a
#   writer appends its effect record before unlocking its shards, so every
#   record below that LSN is in the shards and none above), marks every shard
#   SNAP_TODO and unlocks. From then on, whoever locks a shard still marked
#   TODO (shard_lock calls snap_on_lock) serialises it first, into a buffer of
#   its own process, and marks it SNAP_DUMPED: the supervisor's dumper walking
#   the shards one by one, or a worker about to read or write it. No write
#   waits longer than one shard's serialisation. The buffer goes to a part file
#   after the lock is released (snap_flush_parts: the dumper after each shard,
#   a worker after each command and in its cron); the part counts as done when
#   its file is written. The supervisor then joins the parts into one file.
# Expired keys are kept (with their absolute expiry): WAL records after the
# snapshot LSN replay with their own clock, and must see what they saw.

from posix.unistd cimport usleep

cdef enum:
    SNAP_TODO = 1
    SNAP_DUMPED = 2


ctypedef struct part_t:
    uint32_t shard
    wbuf_t buf


cdef part_t *g_parts = NULL          # parts serialised by this process, not yet on disk
cdef int g_nparts = 0
cdef int g_parts_cap = 0
cdef int64_t g_dump_us = 0           # time spent serialising the parts not yet written


cdef inline uint8_t *snap_pending() noexcept nogil:
    return <uint8_t *>P(g_pp.pending_off)


# ---- serialising ---------------------------------------------------------------------

cdef inline void _ser_bulk(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    wb_bulk(w, s, n)


cdef void _ser_key_bulk(wbuf_t *w, item_t *it) noexcept nogil:
    """The item's key as a bulk string (the key may sit in extents)."""
    if not wb_reserve(w, it.klen + 32):
        return
    wb_bulk_hdr(w, it.klen)
    item_read(it, 0, w.p + w.len, it.klen)
    w.len += it.klen
    wb_put(w, "\r\n", 2)


cdef void _ser_head(wbuf_t *w, int64_t n, const char *cmd, item_t *it) noexcept nogil:
    wb_array(w, n)
    _ser_bulk(w, cmd, strlen(cmd))
    _ser_key_bulk(w, it)


cdef void _ser_list(wbuf_t *w, item_t *it) noexcept nogil:
    cdef lroot_t r
    cdef lcur_t cur
    lroot_load(it, &r)
    _ser_head(w, 2 + <int64_t>r.count, "RPUSH", it)
    if cur_first(&r, &cur):
        while True:
            cur_reply(w, &cur)
            if not cur_next(&cur):
                break


cdef void _ser_zset(wbuf_t *w, item_t *it) noexcept nogil:
    cdef zroot_t r
    cdef zcur_t cur
    cdef char tmp[64]
    cdef int n
    cdef uint64_t i
    zs_load(it, &r)
    _ser_head(w, 2 + 2 * <int64_t>r.length, "ZADD", it)
    if r.length == 0:
        return
    zcur_seek(&cur, it, &r, 0)
    for i in range(r.length):
        if i:
            zcur_next(&cur)
        n = fmt_double(tmp, cur.score)
        wb_bulk(w, tmp, n)
        wb_bulk(w, cur.m, cur.mlen)


cdef void ser_item(wbuf_t *w, item_t *it) noexcept nogil:
    """The commands that rebuild the item (in its logical db, selected already)."""
    cdef char tmp[32]
    cdef int n
    if it.type == T_STRING:
        _ser_head(w, 3, "SET", it)
        str_reply(w, it)
        if it.mcflags:
            wb_array(w, 3)
            wb_bulk(w, "\x00mcflags", 8)   # a NUL-led name: no client can send it by mistake
            _ser_key_bulk(w, it)
            wb_bulk_int(w, it.mcflags)
    elif it.type == T_LIST:
        _ser_list(w, it)
    elif it.type == T_SET:
        _ser_head(w, 2 + <int64_t>set_len(it), "SADD", it)
        set_emit_all(w, it)
    elif it.type == T_HASH:
        _ser_head(w, 2 + 2 * <int64_t>hash_len(it), "HSET", it)
        hash_emit_all(w, it, HW_KEYS | HW_VALS)
    elif it.type == T_ZSET:
        _ser_zset(w, it)
    if it.expire_ms:
        _ser_head(w, 3, "PEXPIREAT", it)
        wb_bulk_int(w, it.expire_ms)


cdef void ser_select(wbuf_t *w, int ldb) noexcept nogil:
    wb_array(w, 2)
    wb_bulk(w, "SELECT", 6)
    wb_bulk_int(w, ldb)


cdef int _logical_db(uint8_t pdb) noexcept nogil:
    cdef int32_t *m = db_map()
    cdef uint32_t i
    for i in range(g_hdr.ndbs):
        if m[i] == pdb:
            return <int>i
    return 0


cdef void ser_shard_locked(wbuf_t *w, uint32_t s) noexcept nogil:
    """Every key of shard s (all dbs), with SELECTs between dbs."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i
    cdef slot_t *sl
    cdef item_t *it
    cdef int ldb, cur = -1
    for i in range(t.mask + 1):
        sl = tbl_slot(t, i)
        if sl.item == 0:
            continue
        it = IT(sl.item)
        ldb = _logical_db(it.db)
        if ldb != cur:
            ser_select(w, ldb)
            cur = ldb
        ser_item(w, it)


# ---- the snapshot point and the dump-before-write rule --------------------------------

cdef void snap_on_lock(uint32_t s) noexcept nogil:
    """Shard s was just locked by this process while a snapshot runs: if it is
    still to be dumped, serialise it now (before anyone changes it)."""
    global g_parts, g_nparts, g_parts_cap, g_dump_us
    cdef uint8_t *pend = snap_pending()
    cdef int64_t t0
    cdef part_t *np
    if pend[s] != SNAP_TODO:
        return
    if g_nparts == g_parts_cap:
        np = <part_t *>realloc(g_parts, sizeof(part_t) * (g_parts_cap * 2 + 8))
        if np == NULL:
            return                       # out of process memory: the dumper will do it
        g_parts = np
        g_parts_cap = g_parts_cap * 2 + 8
    np = &g_parts[g_nparts]
    np.shard = s
    np.buf.cap = 65536
    np.buf.len = 0
    np.buf.resp = 2
    np.buf.oom = False
    np.buf.p = <char *>malloc(np.buf.cap)
    if np.buf.p == NULL:
        return
    t0 = cc_mono_us()
    ser_shard_locked(&np.buf, s)
    g_dump_us += cc_mono_us() - t0
    pend[s] = SNAP_DUMPED
    g_nparts += 1


cdef uint64_t snap_begin(int64_t now_ms) noexcept nogil:
    """The snapshot point (supervisor): returns its LSN, the last record whose
    effect the snapshot holds."""
    cdef uint32_t s
    cdef uint8_t *pend = snap_pending()
    shards_lock_all()
    for s in range(g_hdr.nshards):
        pend[s] = SNAP_TODO
    g_pp.snap_lsn = g_pp.next_lsn - 1
    g_pp.snap_ts = now_ms
    cc_atomic_store(&g_pp.snap_remaining, g_hdr.nshards)
    cc_atomic_store(&g_pp.snap_active, 1)
    shards_unlock_all()
    return g_pp.snap_lsn


def snap_flush_parts():
    """Write the parts this process serialised to the snapshot's part files;
    each counts as done once written. Returns how many were written."""
    global g_nparts
    cdef int i, n = g_nparts
    cdef part_t *pt
    cdef bytes data
    if n == 0 or g_pp == NULL:
        return 0
    global g_dump_us
    t0 = cc_mono_us()
    folder = (<bytes>g_pp.snap_dir).decode()
    for i in range(n):
        pt = &g_parts[i]
        data = PyBytes_FromStringAndSize(pt.buf.p, pt.buf.len) if not pt.buf.oom else None
        free(pt.buf.p)
        pt.buf.p = NULL
        try:
            if data is None:
                raise MemoryError("part did not fit in memory")
            with open(f"{folder}/{pt.shard}.part", 'wb') as f:
                f.write(data)
        except Exception as e:
            _plog.error("snapshot part of shard %d not written: %s", pt.shard, e)
            cc_atomic_store(&g_pp.snap_active, 2)       # the snapshot fails
        snap_pending()[pt.shard] = 0
        cc_atomic_add(&g_pp.snap_remaining, -1)
    g_nparts = 0
    t1 = cc_mono_us()
    if g_dump_us + t1 - t0 > 100000 and g_worker >= 0:
        _plog.warning("snapshot: %d shard(s) serialised in %.1f ms and written in %.1f ms by pid %d",
                      n, g_dump_us / 1000, (t1 - t0) / 1000, getpid())
    g_dump_us = 0
    return n


def snap_dump_pass():
    """The supervisor's dumper: lock every shard in turn (snap_on_lock serialises
    those still to be dumped), writing each part after unlocking."""
    cdef uint32_t s
    for s in range(g_hdr.nshards):
        with nogil:
            shard_lock(s)
            shard_unlock(s)
        snap_flush_parts()


def snap_point(int64_t now_ms):
    """Take the snapshot point; returns its LSN."""
    cdef uint64_t lsn
    with nogil:
        lsn = snap_begin(now_ms)
    return lsn


def snap_state():
    """(active, remaining shards, lsn, ts) of the running snapshot."""
    if g_pp == NULL:
        return (0, 0, 0, 0)
    return (g_pp.snap_active, cc_atomic_load(&g_pp.snap_remaining), g_pp.snap_lsn, g_pp.snap_ts)


def snap_end():
    g_pp.snap_active = 0


def snap_set_dir(str folder):
    cdef bytes b = folder.encode()
    if len(b) >= 511:
        raise ValueError("snapshot directory path too long")
    memcpy(g_pp.snap_dir, <const char *>b, len(b))
    g_pp.snap_dir[len(b)] = 0


def serialize_key(bytes key, int db=0):
    """The rebuild commands of one key, or b"" (tests and state records)."""
    cdef kref_t k
    cdef wbuf_t w
    cdef bytes out
    wb_init(&w)
    kref_init(&k, key, len(key))
    shard_lock(k.shard)
    if key_find_locked(&k, db, cc_now_ms()):
        ser_item(&w, IT(k.item))
    shard_unlock(k.shard)
    out = w.p[:w.len]
    free(w.p)
    return out


# ---- applying command streams -------------------------------------------------------

cdef bint _is_mcflags(Client c) noexcept:
    return c.argl[0] == 8 and memcmp(c.argv[0], b"\x00mcflags", 8) == 0


cdef bint _is_clock(Client c) noexcept:
    """`\0clock <ms>`: the commands after it in this stream ran at that time
    (a transaction's record, shm/wal.pxi groups)."""
    return c.argl[0] == 6 and memcmp(c.argv[0], b"\x00clock", 6) == 0


cdef int _apply_mcflags(Client c) except -1:
    cdef kref_t k
    cdef int64_t v
    if c.argc != 3 or not parse_i64(c.argv[2], c.argl[2], &v):
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    shard_lock(k.shard)
    if key_find_locked(&k, c.db, c.now_ms):
        IT(k.item).mcflags = <uint32_t>v
    shard_unlock(k.shard)
    return 0


def apply_commands(Client c, data, int db, int64_t now_ms):
    """Run every command of a RESP stream on client c in db `db`, with the clock
    at now_ms (0: nothing counts as expired). Replies are dropped. Returns
    (commands run, error replies); raises ValueError on a malformed stream."""
    cdef rparser_t rp
    cdef int r
    cdef uint64_t n = 0, errors = 0, before
    cdef const char *base
    cdef int64_t clock = now_ms
    rp_init(&rp)
    rp.max_bulk = 1 << 62
    try:
        rp_feed(&rp, <const char *>data, len(data))
        c.db = db
        while True:
            r = rp_next(&rp)
            if r == 0:
                if rp.pos != rp.len or rp.kind != RP_IDLE:
                    raise ValueError("truncated command stream")
                break
            if r < 0:
                raise ValueError((<bytes>rp.err).decode())
            base = rp.scratch if rp.inline_args else rp.buf
            if rp.argc > c.argcap:
                c.argcap = rp.argc
                c.argv = <const char **>realloc(c.argv, sizeof(char *) * c.argcap)
                c.argl = <uint64_t *>realloc(c.argl, 8 * c.argcap)
                if c.argv == NULL or c.argl == NULL:
                    raise MemoryError()
            c.argc = rp.argc
            for i in range(c.argc):
                c.argv[i] = base + rp.argoff[i]
                c.argl[i] = rp.arglen[i]
            c.now_ms = clock
            c.t_mark = cc_mono_us()
            before = c.out.len
            if _is_mcflags(c):
                _apply_mcflags(c)
            elif _is_clock(c):
                if c.argc != 2 or not parse_i64(c.argv[1], c.argl[1], &clock):
                    raise ValueError("bad clock in a command stream")
                continue
            else:
                c.execute()
            if c.out.len > before and c.out.p[before] == 45:
                errors += 1
                if errors <= 5:
                    _plog.warning("replayed command %r failed: %s", c.arg(0),
                                  c.out.p[before:c.out.len].strip().decode(errors='replace'))
            c.out.len = 0
            n += 1
        return n, errors
    finally:
        rp_free(&rp)


def purge_expired(int64_t now_ms):
    """Delete every key expired at now_ms (after recovery). Returns the count."""
    cdef uint32_t s
    cdef uint64_t i, n = 0
    cdef table_t *t
    cdef slot_t *sl
    with nogil:
        for s in range(g_hdr.nshards):
            shard_lock(s)
            i = 0
            while True:
                t = shard_table(shard_at(s))
                if i > t.mask:
                    break
                sl = tbl_slot(t, i)
                if sl.item and IT(sl.item).expire_ms and IT(sl.item).expire_ms <= now_ms:
                    key_delete_locked(s, i)
                    n += 1
                    if shard_table(shard_at(s)) != t:
                        i = 0
                    continue
                i += 1
            shard_unlock(s)
    return n
