# Snapshots without fork: serialising shards, and applying serialised commands.
#
# A key is serialised as the RESP commands that rebuild it (SET, RPUSH, SADD,
# HSET or ZADD with every element, then PEXPIREAT, "\0mcflags" for a
# memcached flags word and "\0mcbinkey" for a key memcached was given in
# base64), preceded by SELECT when its logical db differs from the key before
# it in the same part. Snapshot files, WAL effect records and
# the state records of non-deterministic commands all carry such command
# streams, so one loader (apply_commands) restores all of them.
#
# How a snapshot is taken (docs/adr/0016-snapshot-in-steps.md)
#   The snapshot point: snap_begin locks every shard, notes the next LSN (a
#   writer appends its effect record before unlocking its shards, so every
#   record below that LSN is in the shards and none above), gives the
#   snapshot a new mark (persist_t.snap_mark, 8 bits), notes the logical db of
#   every physical one, marks every shard SNAP_TODO and unlocks. An item is
#   in the snapshot once its own mark (the top byte of item_t.lru_mark) equals
#   the snapshot's: items made after the point get it when stored, and an
#   item is copied, and given the mark, exactly once, by whichever comes first:
#   - the dumper (the supervisor) walking each shard's table in steps of
#     SNAP_STEP_SLOTS slots (or SNAP_STEP_BYTES of copies) under the shard
#     lock, formatting and writing each step's copies after unlocking;
#   - a process about to use an item of a shard still SNAP_TODO: finding it
#     (key_find_locked), replacing it (key_store_locked) or removing it
#     (key_detach_at_locked) copies it first into a batch of its own process
#     (per-item copy-on-write), so nothing changes an item the snapshot lacks.
#   A write therefore waits for one step of the dumper or one item's copy,
#   never for a whole shard. The walk must not miss an item that moves: a
#   table rebuilt (growth, shrink, repair) starts the walk of that shard over
#   (snap_on_rehash_locked; marked items are skipped), and a delete behind the
#   walk's position whose run reaches it moves the position back to the hole
#   (snap_on_delete_locked), since the backward shift may carry an entry not
#   yet walked behind it. A shard is SNAP_DUMPED when its walk ends.
#   Workers hand their batches (raw copies) to a thread that writes them to
#   part files (after a command once past SNAP_COW_HANDOFF bytes, and in
#   their cron); the supervisor waits for every batch (snap_cow_pending) and
#   appends them to the file after the walked sections.
# Expired keys are kept (with their absolute expiry): WAL records after the
# snapshot LSN replay with their own clock, and must see what they saw.

from posix.unistd cimport close as c_close
from posix.fcntl cimport open as c_open, O_WRONLY, O_CREAT, O_TRUNC
from libc.stdint cimport uintptr_t, uint16_t

cdef enum:
    SNAP_TODO = 1
    SNAP_DUMPED = 2
    SNAP_FAILED = 2                  # persist_t.snap_active: the snapshot is to be discarded
    SNAP_STEP_SLOTS = 4096           # slots one dumper step looks at under a shard lock
    SNAP_STEP_BYTES = 131072         # ... and copy bytes it stops after (one item may exceed it)
    SNAP_COW_HANDOFF = 262144        # a worker's batch goes to its writer after a command past this


cdef wbuf_t g_cow                    # this process's copies taken before a change (p NULL: none)
cdef uint32_t g_cow_mark = 0         # the snapshot they belong to
cdef int g_nparts = 0                # 1: hand g_cow to its writer after this command (client.pxi)
cdef uint64_t g_cow_files = 0        # part files this process has written


cdef inline uint8_t *snap_pending() noexcept nogil:
    return <uint8_t *>P(g_pp.pending_off)


cdef inline uint32_t snap_mark_now() noexcept nogil:
    """The mark a new item takes: that of the running (or last) snapshot."""
    return g_pp.snap_mark if g_pp != NULL else 0


cdef inline void _set_snap_mark(item_t *it, uint32_t m) noexcept nogil:
    it.lru_mark = (it.lru_mark & LRU_CLOCK_MASK) | (m << 24)

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
        zcur_emit(w, &cur)


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
        if it.iflags & IF_BINKEY:
            wb_array(w, 2)
            wb_bulk(w, "\x00mcbinkey", 9)     # memcached: stored with a base64 key (k answers in base64)
            _ser_key_bulk(w, it)
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


cdef inline bint _wb_start(wbuf_t *w, uint64_t cap) noexcept nogil:
    w.p = <char *>malloc(cap)
    w.cap = cap if w.p != NULL else 0
    w.len = 0
    w.resp = 2
    w.oom = w.p == NULL
    return w.p != NULL


# ---- copies: taken under the shard lock, formatted after ------------------------------
#
# Under a shard lock only a copy is taken: a string item held inline (the
# common case) is copied as it lies, header and bytes, with one memcpy; any
# other item (lists, hashes, sets, sorted sets, values in extents) is
# serialised there and then. Turning copies into commands (copy_to_commands)
# happens after the lock is released. A run of copies is a run of entries,
# 8-byte aligned, each whole in itself (no pointers into the segment):
#   u32 length | u16 kind (COPY_ITEM, COPY_COMMANDS) | u16 logical db | bytes

cdef enum:
    COPY_ITEM = 1
    COPY_COMMANDS = 2
    COPY_ENTRY_HDR = 8


cdef inline uint64_t _copy_pad(uint64_t n) noexcept nogil:
    return (n + 7) & ~(<uint64_t>7)


cdef inline uint64_t _inline_bytes(item_t *it) noexcept nogil:
    """Bytes of a string item held inline (header, key, value), or 0 when it
    must be serialised instead."""
    if it.type != T_STRING or it.iflags & IF_EXTENTS:
        return 0
    return ITEM_HDR + it.klen + (8 if it.encoding == ENC_INT else it.vlen)


cdef void _copy_entry_hdr(wbuf_t *w, uint64_t at, uint64_t n, uint16_t kind, uint16_t ldb) noexcept nogil:
    cdef uint32_t n32 = <uint32_t>n
    memcpy(w.p + at, &n32, 4)
    memcpy(w.p + at + 4, &kind, 2)
    memcpy(w.p + at + 6, &ldb, 2)


cdef bint copy_item(wbuf_t *w, item_t *it, uint16_t ldb) noexcept nogil:
    """Append the copy entry of one item (its shard lock held). False when out
    of memory (the buffer is left as it was)."""
    cdef uint64_t n = _inline_bytes(it), at = w.len
    if n:
        if not wb_reserve(w, COPY_ENTRY_HDR + n + 8):
            return False
        memcpy(w.p + at + COPY_ENTRY_HDR, it, n)
        _copy_entry_hdr(w, at, n, COPY_ITEM, ldb)
        w.len = at + COPY_ENTRY_HDR + _copy_pad(n)
        return True
    if not wb_reserve(w, COPY_ENTRY_HDR):
        return False
    w.len = at + COPY_ENTRY_HDR
    ser_item(w, it)
    if w.oom or not wb_reserve(w, 8):
        w.len = at
        w.oom = False
        return False
    n = w.len - at - COPY_ENTRY_HDR
    _copy_entry_hdr(w, at, n, COPY_COMMANDS, ldb)
    w.len = at + COPY_ENTRY_HDR + _copy_pad(n)
    return True


cdef uint64_t copy_to_commands(const char *src, uint64_t len, wbuf_t *out) noexcept nogil:
    """The commands of the whole copy entries in src (SELECT first, and
    between dbs). Returns the bytes of src consumed: a last entry cut short
    is left for the next call."""
    cdef uint64_t pos = 0
    cdef uint32_t n
    cdef uint16_t kind, ldb
    cdef int cur = -1
    while pos + COPY_ENTRY_HDR <= len:
        memcpy(&n, src + pos, 4)
        memcpy(&kind, src + pos + 4, 2)
        memcpy(&ldb, src + pos + 6, 2)
        if pos + COPY_ENTRY_HDR + _copy_pad(n) > len:
            break
        if ldb != cur:
            ser_select(out, ldb)
            cur = ldb
        if kind == COPY_ITEM:
            ser_item(out, <item_t *>(src + pos + COPY_ENTRY_HDR))   # inline: reads only the copy
        else:
            wb_put(out, src + pos + COPY_ENTRY_HDR, n)
        pos += COPY_ENTRY_HDR + _copy_pad(n)
    return pos


# ---- the snapshot point, copy-before-change, and the dumper's walk ----------------------

cdef uint64_t snap_begin(int64_t now_ms) noexcept nogil:
    """The snapshot point (supervisor): returns its LSN, the last record whose
    effect the snapshot holds."""
    cdef uint32_t s, pdb
    cdef uint8_t *pend = snap_pending()
    shards_lock_all()
    for s in range(g_hdr.nshards):
        pend[s] = SNAP_TODO
    g_pp.snap_mark = (g_pp.snap_mark + 1) & 0xff
    for pdb in range(g_hdr.ndbs):
        g_pp.snap_ldb[pdb] = <uint16_t>_logical_db(<uint8_t>pdb)   # SWAPDB may follow
    g_pp.snap_walk_shard = g_hdr.nshards
    g_pp.snap_walk_pos = 0
    cc_atomic_store(&g_pp.snap_cow_pending, 0)
    cc_atomic_store(&g_pp.snap_cow_items, 0)
    g_pp.snap_lsn = g_pp.next_lsn - 1
    g_pp.snap_ts = now_ms
    cc_atomic_store(&g_pp.snap_remaining, g_hdr.nshards)
    cc_atomic_store(&g_pp.snap_active, 1)
    shards_unlock_all()
    return g_pp.snap_lsn


cdef inline bint _snap_lacks(uint32_t s, item_t *it) noexcept nogil:
    """A snapshot runs and still lacks this item of shard s (lock held)."""
    return (g_pp != NULL and g_pp.snap_active and snap_pending()[s] == SNAP_TODO
            and (it.lru_mark >> 24) != g_pp.snap_mark)


cdef inline void snap_before_use_locked(uint32_t s, uint64_t item) noexcept nogil:
    """The item of shard s (lock held) is about to be read, changed or
    removed: a running snapshot that lacks it copies it first."""
    if _snap_lacks(s, IT(item)):
        _snap_copy_before_change(IT(item))


cdef inline void snap_on_store_locked(uint32_t s, uint64_t old, item_t *it) noexcept nogil:
    """key_store_locked: the item replaced is copied first if the snapshot
    lacks it; the new one was made after the snapshot point, so the snapshot
    must not take it (it may have been built before the point and stored after)."""
    if g_pp == NULL:
        return
    if old:
        snap_before_use_locked(s, old)
    _set_snap_mark(it, g_pp.snap_mark)


cdef void _snap_copy_before_change(item_t *it) noexcept nogil:
    """Copy the item into this process's batch for the running snapshot and
    give it the snapshot's mark (its shard lock held)."""
    global g_cow_mark, g_nparts
    cdef uint32_t mark = g_pp.snap_mark
    if g_cow.p != NULL and g_cow.len and g_cow_mark != mark:
        g_cow.len = 0                        # left from a snapshot that ended: not wanted
    if g_cow.p == NULL:
        _wb_start(&g_cow, 65536)
    if g_cow.len == 0:
        cc_atomic_add(&g_pp.snap_cow_pending, 1)    # the snapshot waits for this batch
        g_cow_mark = mark
    if g_cow.p == NULL or not copy_item(&g_cow, it, g_pp.snap_ldb[it.db]):
        cc_atomic_store(&g_pp.snap_active, SNAP_FAILED)
    _set_snap_mark(it, mark)
    cc_atomic_add(&g_pp.snap_cow_items, 1)
    if g_cow.len >= SNAP_COW_HANDOFF:
        g_nparts = 1


cdef inline void snap_on_rehash_locked(shard_t *sh) noexcept nogil:
    """The shard's entries were placed again (table grown, shrunk or
    repaired): a walk of it starts over (marked items are skipped)."""
    if g_pp != NULL and g_pp.snap_active and g_pp.snap_walk_shard == <uint32_t>(sh - shard_at(0)):
        g_pp.snap_walk_pos = 0


cdef void snap_on_delete_locked(uint32_t s, uint64_t i) noexcept nogil:
    """Slot i of shard s is about to be emptied. The backward shift moves
    entries of the run after i towards i; if the walk of this shard is past
    i and that run reaches its position, an entry not yet walked could land
    behind it, so the walk goes back to i."""
    cdef uint64_t pos, k
    cdef table_t *t
    if g_pp == NULL or not g_pp.snap_active or g_pp.snap_walk_shard != s:
        return
    pos = g_pp.snap_walk_pos
    if i >= pos:
        return
    t = shard_table(shard_at(s))
    k = i + 1
    while k < pos and tbl_slot(t, k).item:
        k += 1
    if k >= pos:
        g_pp.snap_walk_pos = i


cdef int _walk_step_locked(uint32_t s, wbuf_t *cp) noexcept nogil:
    """One step of the dumper in shard s (lock held): copy the items the
    snapshot lacks among the next SNAP_STEP_SLOTS slots (fewer once
    SNAP_STEP_BYTES are copied). Returns 1 when the walk of the shard is over."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i, end, start = cp.len
    cdef uint32_t mark = g_pp.snap_mark
    cdef slot_t *sl
    cdef item_t *it
    if snap_pending()[s] != SNAP_TODO:
        return 1
    if g_pp.snap_walk_shard != s:
        g_pp.snap_walk_shard = s
        g_pp.snap_walk_pos = 0
    i = g_pp.snap_walk_pos
    end = i + SNAP_STEP_SLOTS
    if end > t.mask + 1:
        end = t.mask + 1
    while i < end and cp.len - start < SNAP_STEP_BYTES:
        sl = tbl_slot(t, i)
        if sl.item:
            it = IT(sl.item)
            if (it.lru_mark >> 24) != mark:
                if not copy_item(cp, it, g_pp.snap_ldb[it.db]):
                    cc_atomic_store(&g_pp.snap_active, SNAP_FAILED)    # the walk goes on, marking
                    cp.len = start
                _set_snap_mark(it, mark)
        i += 1
    g_pp.snap_walk_pos = i
    if i <= t.mask:
        return 0
    snap_pending()[s] = SNAP_DUMPED
    g_pp.snap_walk_shard = g_hdr.nshards
    cc_atomic_add(&g_pp.snap_remaining, -1)
    return 1


def snap_dump_shard(uint32_t s, sink, uint64_t chunk=1 << 20):
    """The dumper (supervisor): walk shard s in steps, each under the shard
    lock, formatting each step's copies after it; sink(bytes) gets about
    `chunk` bytes of commands at a time and must not raise. Memory held: one
    step's copies and one chunk. Returns (steps, longest step under the lock, µs)."""
    cdef wbuf_t cp, out
    cdef int done = 0
    cdef int64_t t0, took, worst = 0
    cdef uint64_t steps = 0
    if not _wb_start(&cp, 65536) or not _wb_start(&out, chunk + 65536):
        free(cp.p)
        raise MemoryError()
    try:
        while not done:
            with nogil:
                shard_lock(s)
                t0 = cc_mono_us()
                done = _walk_step_locked(s, &cp)
                took = cc_mono_us() - t0
                shard_unlock(s)
                copy_to_commands(cp.p, cp.len, &out)
                cp.len = 0
            steps += 1
            if took > worst:
                worst = took
            if out.oom:
                cc_atomic_store(&g_pp.snap_active, SNAP_FAILED)
                out.len = 0
                out.oom = False
            if out.len >= chunk or (done and out.len):
                data = out.p[:out.len]
                out.len = 0
                sink(data)
        return steps, worst
    finally:
        free(cp.p)
        free(out.p)


def snap_format_copies(data):
    """(commands, bytes consumed) of the whole copy entries at the start of
    data (a batch file written by snap_flush_parts)."""
    cdef const unsigned char[:] v = data
    cdef wbuf_t out
    cdef uint64_t used = 0
    if not _wb_start(&out, len(data) + len(data) // 4 + 4096):
        raise MemoryError()
    try:
        if len(data):
            with nogil:
                used = copy_to_commands(<const char *>&v[0], v.shape[0], &out)
        if out.oom:
            raise MemoryError()
        return out.p[:out.len], used
    finally:
        free(out.p)


def snap_flush_parts():
    """Hand this process's copies for the running snapshot to a writer: in a
    worker a thread (the event loop goes on), in the supervisor this call.
    The batch counts as pending for the snapshot until its file is written.
    Returns the bytes handed over."""
    global g_nparts, g_cow_files
    cdef char *buf = g_cow.p
    cdef uint64_t n = g_cow.len
    g_nparts = 0
    if g_pp == NULL or n == 0:
        return 0
    if g_cow_mark != g_pp.snap_mark or not g_pp.snap_active:
        g_cow.len = 0                        # the snapshot it was for has ended
        return 0
    g_cow.p = NULL                           # the writer owns it now
    g_cow.len = 0
    g_cow.cap = 0
    g_cow_files += 1
    path = f"{(<bytes>g_pp.snap_dir).decode()}/cow-{getpid()}-{g_cow_files}.part"
    if g_worker >= 0:
        import threading
        threading.Thread(target=_write_copies, args=(<uintptr_t>buf, n, path, g_cow_mark),
                         name="snapshot-copies", daemon=True).start()
    else:
        _write_copies(<uintptr_t>buf, n, path, g_cow_mark)
    return n


def _write_copies(uintptr_t addr, uint64_t n, str path, uint32_t mark):
    """Write one batch of copies to its part file and free it; the snapshot
    stops waiting for it (and fails if it could not be written)."""
    cdef char *buf = <char *>addr
    cdef bytes bpath = path.encode()
    cdef const char *cpath = bpath
    cdef uint64_t done = 0
    cdef ssize_t r
    cdef int fd
    cdef bint ok
    with nogil:
        fd = c_open(cpath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        ok = fd >= 0
        if ok:
            while done < n:
                r = c_write(fd, buf + done, n - done)
                if r <= 0:
                    ok = False
                    break
                done += <uint64_t>r
            if c_close(fd) != 0:
                ok = False
        free(buf)
    if g_pp.snap_mark == mark and g_pp.snap_active:
        if not ok:
            _plog.error("snapshot: copies of changed keys not written to %s", path)
            cc_atomic_store(&g_pp.snap_active, SNAP_FAILED)
        cc_atomic_add(&g_pp.snap_cow_pending, -1)


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


def snap_copies_state():
    """(batches of copies not yet written, items copied before a change) of
    the running snapshot."""
    if g_pp == NULL:
        return (0, 0)
    return (cc_atomic_load(&g_pp.snap_cow_pending), cc_atomic_load(&g_pp.snap_cow_items))


def _test_snap_walk():
    """(shard, next slot) of the dumper's walk (tests)."""
    return g_pp.snap_walk_shard, g_pp.snap_walk_pos


def _test_slot_key(uint32_t s, uint64_t i):
    """The key at slot i of shard s, or None (tests: no copy is taken)."""
    cdef table_t *t
    cdef item_t *it
    cdef bytes out = None
    shard_lock(s)
    t = shard_table(shard_at(s))
    if i <= t.mask and tbl_slot(t, i).item:
        it = IT(tbl_slot(t, i).item)
        out = PyBytes_FromStringAndSize(NULL, it.klen)
        item_read(it, 0, <char *>out, it.klen)
    shard_unlock(s)
    return out


def snap_end():
    g_pp.snap_active = 0
    g_pp.snap_walk_shard = g_hdr.nshards


def snap_set_dir(str folder):
    cdef bytes b = folder.encode()
    if len(b) >= 511:
        raise ValueError("snapshot directory path too long")
    memcpy(g_pp.snap_dir, <const char *>b, len(b))
    g_pp.snap_dir[len(b)] = 0


def keyspace_keys():
    """Keys of every db, hidden ones included (shard counters read without
    their locks: exact when nothing writes, as at start)."""
    cdef uint32_t s
    cdef uint64_t n = 0
    for s in range(g_hdr.nshards):
        n += shard_at(s).count
    return n


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


cdef bint _is_mcbinkey(Client c) noexcept:
    return c.argl[0] == 9 and memcmp(c.argv[0], b"\x00mcbinkey", 9) == 0


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


cdef int _apply_mcbinkey(Client c) except -1:
    """`\0mcbinkey <key>`: the string was stored by a memcached meta command
    with a base64 key (flag b), so `k` gives the key back in base64."""
    cdef kref_t k
    if c.argc != 2:
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    shard_lock(k.shard)
    if key_find_locked(&k, c.db, c.now_ms) and IT(k.item).type == T_STRING:
        IT(k.item).iflags |= IF_BINKEY
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
        c.tenant = TN_SYSTEM                 # may select the tenants' hidden dbs
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
            elif _is_mcbinkey(c):
                _apply_mcbinkey(c)
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


def snap_shard_cost(uint32_t s):
    """(CPU ns of the copies under the lock, CPU ns of formatting them, bytes
    of commands, CPU ns of the longest step) for shard s, copied in the
    dumper's steps (tools/snapbench.py; marks are left alone)."""
    import time
    cdef wbuf_t cp, out
    cdef table_t *t
    cdef slot_t *sl
    cdef uint64_t i = 0, start
    cdef int64_t copy_ns = 0, fmt_ns = 0, worst = 0, a, b
    if not _wb_start(&cp, 65536) or not _wb_start(&out, 65536):
        free(cp.p)
        raise MemoryError()
    try:
        while True:
            a = time.thread_time_ns()
            with nogil:
                shard_lock(s)
                t = shard_table(shard_at(s))
                start = i
                while i <= t.mask and i - start < SNAP_STEP_SLOTS and cp.len < SNAP_STEP_BYTES:
                    sl = tbl_slot(t, i)
                    if sl.item:
                        copy_item(&cp, IT(sl.item), 0)
                    i += 1
                shard_unlock(s)
            b = time.thread_time_ns()
            with nogil:
                copy_to_commands(cp.p, cp.len, &out)
                cp.len = 0
            copy_ns += b - a
            fmt_ns += time.thread_time_ns() - b
            worst = max(worst, b - a)
            if i > t.mask:
                return copy_ns, fmt_ns, out.len, worst
    finally:
        free(cp.p)
        free(out.p)
