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
# How a snapshot is taken (docs/adr/0009-durability.md)
#   The snapshot point: snap_begin locks every shard, notes the next LSN (a
#   writer appends its effect record before unlocking its shards, so every
#   record below that LSN is in the shards and none above), marks every shard
#   SNAP_TODO and unlocks. From then on, whoever locks a shard still marked
#   TODO (shard_lock calls snap_on_lock) copies it first, into a buffer of its
#   own process, and marks it SNAP_DUMPED: the supervisor's dumper walking the
#   shards one by one, or a worker about to read or write it. The copy is the
#   cheap half (inline strings are memcpy'd as they lie; other items are
#   serialised): no write waits longer than one shard's copy. After the lock
#   is released, snap_flush_parts (the dumper after each shard, a worker after
#   each command and in its cron) hands the copies to the part writer, which
#   formats them into commands and writes the part file (in a worker on a
#   thread of its own, off the event loop); the part counts as done when its
#   file is written. The supervisor then joins the parts into one file.
# Expired keys are kept (with their absolute expiry): WAL records after the
# snapshot LSN replay with their own clock, and must see what they saw.

from posix.unistd cimport usleep, close as c_close
from posix.fcntl cimport open as c_open, O_WRONLY, O_CREAT, O_TRUNC
from libc.stdint cimport uintptr_t, uint16_t

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


# ---- dumping a shard in two steps ----------------------------------------------------
#
# Under the shard lock only a copy is taken (ser_shard_copy_locked): a string
# item held inline (the common case) is copied as it lies, header and bytes,
# with one memcpy; any other item (lists, hashes, sets, sorted sets, values in
# extents) is serialised there and then. Turning the copies into commands
# (copy_to_commands) happens after the lock is released, and in a worker on a
# thread of its own together with the file write: a write that finds its shard
# still to be dumped waits for the memcpy pass only, not for the formatting or
# the disk. The copy buffer is a run of entries, 8-byte aligned:
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


cdef void ser_shard_copy_locked(wbuf_t *w, uint32_t s) noexcept nogil:
    """Every key of shard s as copy entries (see above)."""
    cdef table_t *t = shard_table(shard_at(s))
    cdef uint64_t i, n, at
    cdef slot_t *sl
    cdef item_t *it
    cdef uint16_t ldb
    for i in range(t.mask + 1):
        sl = tbl_slot(t, i)
        if sl.item == 0:
            continue
        it = IT(sl.item)
        ldb = <uint16_t>_logical_db(it.db)
        n = _inline_bytes(it)
        at = w.len
        if n:
            if not wb_reserve(w, COPY_ENTRY_HDR + n + 8):
                return
            memcpy(w.p + at + COPY_ENTRY_HDR, it, n)
            _copy_entry_hdr(w, at, n, COPY_ITEM, ldb)
            w.len = at + COPY_ENTRY_HDR + _copy_pad(n)
        else:
            if not wb_reserve(w, COPY_ENTRY_HDR):
                return
            w.len = at + COPY_ENTRY_HDR
            ser_item(w, it)
            if w.oom or not wb_reserve(w, 8):
                w.oom = True
                return
            n = w.len - at - COPY_ENTRY_HDR
            _copy_entry_hdr(w, at, n, COPY_COMMANDS, ldb)
            w.len = at + COPY_ENTRY_HDR + _copy_pad(n)


cdef void copy_to_commands(const char *src, uint64_t len, wbuf_t *out) noexcept nogil:
    """The commands of a shard's copy entries, with SELECT between dbs."""
    cdef uint64_t pos = 0
    cdef uint32_t n
    cdef uint16_t kind, ldb
    cdef int cur = -1
    while pos + COPY_ENTRY_HDR <= len:
        memcpy(&n, src + pos, 4)
        memcpy(&kind, src + pos + 4, 2)
        memcpy(&ldb, src + pos + 6, 2)
        if ldb != cur:
            ser_select(out, ldb)
            cur = ldb
        if kind == COPY_ITEM:
            ser_item(out, <item_t *>(src + pos + COPY_ENTRY_HDR))   # inline: reads only the copy
        else:
            wb_put(out, src + pos + COPY_ENTRY_HDR, n)
        pos += COPY_ENTRY_HDR + _copy_pad(n)


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
    ser_shard_copy_locked(&np.buf, s)
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
    """Hand the parts this process copied to the part writer: in a worker a
    thread of its own (the event loop goes on), in the supervisor this call.
    Each part counts as done once its file is written. Returns how many."""
    global g_nparts, g_parts, g_parts_cap, g_dump_us
    cdef int n = g_nparts
    cdef part_t *batch
    if n == 0 or g_pp == NULL:
        return 0
    batch = g_parts                      # the writer owns these now
    g_parts = NULL
    g_parts_cap = 0
    g_nparts = 0
    if g_dump_us > 50000 and g_worker >= 0:
        _plog.warning("snapshot: %d shard(s) copied in %.1f ms by pid %d", n, g_dump_us / 1000, getpid())
    g_dump_us = 0
    folder = (<bytes>g_pp.snap_dir).decode()
    if g_worker >= 0:
        import threading
        threading.Thread(target=_write_parts, args=(<uintptr_t>batch, n, folder),
                         name="snapshot-parts", daemon=True).start()
    else:
        _write_parts(<uintptr_t>batch, n, folder)
    return n


def _write_parts(uintptr_t addr, int n, str folder):
    """Turn each copied part into commands and write its part file."""
    cdef part_t *batch = <part_t *>addr
    cdef part_t *pt
    cdef wbuf_t out
    cdef int i, fd
    cdef bint ok
    cdef bytes path
    cdef int64_t t0 = cc_mono_us()
    try:
        for i in range(n):
            pt = &batch[i]
            path = f"{folder}/{pt.shard}.part".encode()
            ok = _write_part(pt, path)
            if not ok:
                _plog.error("snapshot part of shard %d not written", pt.shard)
                cc_atomic_store(&g_pp.snap_active, 2)       # the snapshot fails
            snap_pending()[pt.shard] = 0
            cc_atomic_add(&g_pp.snap_remaining, -1)
    finally:
        free(batch)
    if cc_mono_us() - t0 > 200000 and g_worker >= 0:
        _plog.info("snapshot: %d part(s) formatted and written in %.1f ms (pid %d, off the event loop)",
                   n, (cc_mono_us() - t0) / 1000, getpid())


cdef bint _write_part(part_t *pt, bytes path) noexcept:
    """Format one copied part and write it to path; frees the copy."""
    cdef wbuf_t out
    cdef const char *cpath = path
    cdef bint ok = not pt.buf.oom
    cdef uint64_t done = 0
    cdef ssize_t r
    cdef int fd
    with nogil:
        out.cap = pt.buf.len + pt.buf.len // 4 + 4096
        out.len = 0
        out.resp = 2
        out.oom = False
        out.p = <char *>malloc(out.cap)
        if out.p == NULL:
            ok = False
        if ok:
            copy_to_commands(pt.buf.p, pt.buf.len, &out)
            ok = not out.oom
        free(pt.buf.p)
        pt.buf.p = NULL
        if ok:
            fd = c_open(cpath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            ok = fd >= 0
            if ok:
                while done < out.len:
                    r = c_write(fd, out.p + done, out.len - done)
                    if r <= 0:
                        ok = False
                        break
                    done += <uint64_t>r
                if c_close(fd) != 0:
                    ok = False
        free(out.p)
    return ok


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
    """(CPU ns of the copy under the lock, CPU ns of formatting that copy, bytes
    of commands) for shard s: what dumping it costs in each step (tools/snapbench.py)."""
    import time
    cdef wbuf_t cp, out
    cdef int64_t t0, t1, t2
    wb_init(&cp)
    wb_init(&out)
    try:
        t0 = time.thread_time_ns()
        with nogil:
            shard_lock(s)
            ser_shard_copy_locked(&cp, s)
            shard_unlock(s)
        t1 = time.thread_time_ns()
        with nogil:
            copy_to_commands(cp.p, cp.len, &out)
        t2 = time.thread_time_ns()
        return t1 - t0, t2 - t1, out.len
    finally:
        free(cp.p)
        free(out.p)
