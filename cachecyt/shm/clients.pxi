# The shared client table: one cslot_t row per connected client of any worker,
# so CLIENT LIST / CLIENT KILL / INFO on one worker see the clients of all of
# them. A row is written only by the worker owning the client (connect, each
# command, SETNAME/HELLO/RESET); other processes only read it, without a lock,
# and may see a row mid-update (a torn name or idle time is acceptable for a
# listing). Acting on another worker's client goes through shm/ring.pxi.
#
# Rows are claimed with a CAS on `id` (0 = free, CS_BUSY = being filled) and
# published by storing the real id last. Readers scan only up to the header's
# clients_hiwater, so a listing touches the rows ever used, not all 16384. A restarted worker frees the rows its
# dead predecessor left (clients_clear_worker).
#
# Also here: counters of error replies by prefix (INFO errorstats), one table
# per worker, written only by that worker.

cdef enum:
    CS_NOEVICT = 1               # cslot_t.cflags: CLIENT NO-EVICT on

cdef extern from *:
    """
    #define CS_BUSY 0xffffffffffffffffULL
    """
    uint64_t CS_BUSY

cdef uint32_t g_cslot_hint = 0
cdef object g_qbuf_hook = None           # called when a client exceeds client-query-buffer-limit


cdef inline cslot_t *cslot_at(uint32_t i) noexcept nogil:
    return <cslot_t *>(g_base + g_hdr.clients_off) + i


cdef inline void cslot_touch(cslot_t *s, int64_t now_ms, int cmd) noexcept nogil:
    """A command starts (Client.execute): idle time and last command of the row."""
    if s != NULL:
        s.last_ms = now_ms
        s.cmd = cmd
        s.sub[0] = 0


cdef inline void cslot_set_db(cslot_t *s, int db) noexcept nogil:
    """A command ended: the db it left selected (SELECT, RESET)."""
    if s != NULL:
        s.db = db


cdef inline void cslot_set_multi(cslot_t *s, int32_t queued) noexcept nogil:
    """MULTI started (0), queued a command (their count) or ended (-1)."""
    if s != NULL:
        s.multi = queued


cdef inline void cslot_set_subs(cslot_t *s, int32_t channels, int32_t patterns,
                                int32_t shard_channels) noexcept nogil:
    """The client's subscriptions changed (commands/pubsub.pxi)."""
    if s != NULL:
        s.nsub = channels
        s.npsub = patterns
        s.nssub = shard_channels


cdef void _copy_text(char *dst, uint64_t cap, object text) noexcept:
    cdef bytes b = text if isinstance(text, bytes) else str(text or '').encode()
    cdef uint64_t n = len(b)
    if n >= cap:
        n = cap - 1
    memcpy(dst, <char *>b, n)
    dst[n] = 0


def clients_admit():
    """Count a new connection against maxclients over all workers: False (and
    not counted) when the node is full."""
    cdef uint64_t n = cc_atomic_add(&g_hdr.connected_clients, 1)
    if n > g_hdr.maxclients or n > MAX_CLIENT_SLOTS:
        cc_atomic_add(&g_hdr.connected_clients, -1)
        return False
    return True


def clients_leave():
    """A connection counted by clients_admit closed."""
    cc_atomic_add(&g_hdr.connected_clients, -1)


def client_slot_claim(Client c, int fd=-1):
    """Give the client a row of the shared table; False if none is free."""
    global g_cslot_hint
    cdef uint32_t i, k
    cdef uint64_t expected
    cdef cslot_t *s
    for k in range(MAX_CLIENT_SLOTS):
        i = (g_cslot_hint + k) % MAX_CLIENT_SLOTS
        s = cslot_at(i)
        expected = 0
        if s.id == 0 and cc_cas_u64(&s.id, &expected, CS_BUSY):
            g_cslot_hint = i + 1
            cc_atomic_max_i(<int64_t *>&g_hdr.clients_hiwater, i + 1)
            s.worker = g_worker
            s.db = c.db
            s.created_ms = c.created_ms
            s.last_ms = c.last_ms
            s.cmd = -1
            s.resp = c.out.resp
            s.cflags = 0
            s.fd = fd
            s.sub[0] = 0
            s.nsub = s.npsub = s.nssub = 0
            s.multi = -1
            _copy_text(s.addr, sizeof(s.addr), c.addr)
            _copy_text(s.laddr, sizeof(s.laddr), c.laddr)
            _copy_text(s.name, sizeof(s.name), c.name)
            cc_atomic_store(&s.id, c.id)
            c.cslot = s
            return True
    return False


def client_slot_release(Client c):
    global g_cslot_hint
    cdef uint32_t i
    tenant_unbind(c)                         # shm/tenants.pxi
    if c.cslot != NULL:
        i = <uint32_t>(c.cslot - cslot_at(0))
        if i < g_cslot_hint:
            g_cslot_hint = i                   # claims look for the lowest free row first
        cc_atomic_store(&c.cslot.id, 0)
        c.cslot = NULL


def client_slot_sync(Client c):
    """Copy name, db, protocol and flags of the client to its row."""
    cdef cslot_t *s = c.cslot
    if s == NULL:
        return
    _copy_text(s.name, sizeof(s.name), c.name)
    s.db = c.db
    s.resp = c.out.resp
    s.cflags = (s.cflags & (CS_MONITOR | CS_PAUSED)) | (CS_NOEVICT if c.no_evict else 0)


def client_slot_set_sub(Client c, bytes sub):
    """Name the subcommand of the command running (CLIENT LIST's cmd=client|list)."""
    if c.cslot != NULL:
        _copy_text(c.cslot.sub, sizeof(c.cslot.sub), sub.lower())


def clients_table():
    """Every published row: [(id, worker, addr, laddr, name, db, created_ms,
    last_ms, cmd, resp, no_evict, fd, sub, psub, ssub, multi, read buffer bytes)],
    cmd as Redis names it ('get', 'client|list' or 'NULL')."""
    cdef uint32_t i
    cdef cslot_t *s
    cdef uint64_t cid
    out = []
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        cid = cc_atomic_load(&s.id)
        if cid == 0 or cid == CS_BUSY:
            continue
        if 0 <= s.cmd < g_ncmds:
            cmd = g_cmds[s.cmd].name.decode()
            if s.sub[0]:
                cmd += '|' + s.sub.decode('utf-8', 'replace')
        else:
            cmd = 'NULL'
        out.append((cid, s.worker, s.addr.decode('utf-8', 'replace'),
                    s.laddr.decode('utf-8', 'replace'), s.name, s.db, s.created_ms,
                    s.last_ms, cmd, s.resp, bool(s.cflags & CS_NOEVICT), s.fd,
                    s.nsub, s.npsub, s.nssub, s.multi, s.qbuf_cap))
    return out


def clients_clear_worker(int worker):
    """Free the rows a dead worker in this slot left; returns how many, which
    are also taken off connected_clients."""
    cdef uint32_t i
    cdef cslot_t *s
    cdef int n = 0
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        if s.id != 0 and s.id != CS_BUSY and s.worker == worker:
            cc_atomic_store(&s.id, 0)
            n += 1
    if n:
        cc_atomic_add(&g_hdr.connected_clients, -n)
    return n


def client_set_limits(Client c, uint64_t max_bulk, uint64_t qbuf_limit):
    """proto-max-bulk-len and client-query-buffer-limit of one client's parser."""
    c.rp.max_bulk = max_bulk
    c.qbuf_limit = qbuf_limit


def client_query_head(Client c, uint64_t n=64):
    """The first n unparsed bytes of the client's query buffer (log lines)."""
    cdef uint64_t avail = c.rp.len - c.rp.pos
    if n > avail:
        n = avail
    return c.rp.buf[c.rp.pos:c.rp.pos + n]


def set_query_buffer_hook(f):
    """f(client) is called when a client's unfinished request exceeds the limit."""
    global g_qbuf_hook
    g_qbuf_hook = f


cdef void query_buffer_exceeded(Client c) noexcept:
    """Client.feed saw the limit crossed; the client is being closed."""
    if g_qbuf_hook is not None:
        try:
            g_qbuf_hook(c)
        except Exception:
            pass


# ---- error replies by prefix (INFO errorstats) -------------------------------------

cdef inline errstat_t *errstat_at(int worker, int i) noexcept nogil:
    return <errstat_t *>(g_base + g_hdr.errstats_off) + (<uint64_t>worker * MAX_ERRSTATS + i)


cdef void count_error_reply(Client c, uint64_t at) noexcept:
    """The reply written at c.out[at] is an error: count it (total_error_replies)
    and under its prefix, the text before the first space."""
    cdef const char *p = c.out.p + at + 1
    cdef uint64_t n = 0, end = c.out.len - at - 1
    cdef int i
    cdef errstat_t *e
    if g_hdr == NULL:
        return
    my_wstat().errors += 1
    while n < end and n < 23 and p[n] != 32 and p[n] != 13:
        n += 1
    for i in range(MAX_ERRSTATS):
        e = errstat_at(g_worker, i)
        if e.prefix[0] == 0:
            memcpy(e.prefix, p, n)
            e.prefix[n] = 0
            e.count = 1
            return
        if strlen(e.prefix) == n and memcmp(e.prefix, p, n) == 0:
            e.count += 1
            return


def error_stats():
    """{prefix: count} summed over every worker slot."""
    cdef int w, i
    cdef errstat_t *e
    out = {}
    for w in range(MAX_WORKERS):
        for i in range(MAX_ERRSTATS):
            e = errstat_at(w, i)
            if e.prefix[0] == 0:
                break
            k = e.prefix.decode('utf-8', 'replace')
            out[k] = out.get(k, 0) + e.count
    return out


def reset_error_stats():
    """CONFIG RESETSTAT."""
    memset(g_base + g_hdr.errstats_off, 0, sizeof(errstat_t) * MAX_WORKERS * MAX_ERRSTATS)


def total_commands():
    """Commands processed by every worker (INFO's instantaneous_ops_per_sec)."""
    cdef int w
    cdef uint64_t n = 0
    for w in range(MAX_WORKERS):
        n += (<wstat_t *>(g_base + g_hdr.wstats_off) + w).commands
    return n


def config_changed():
    """A CONFIG SET wrote settings to the header: bump the epoch workers compare."""
    cc_atomic_add(&g_hdr.config_epoch, 1)


CLIENT_SLOTS = MAX_CLIENT_SLOTS


# ---- subcommand statistics (INFO commandstats shows "config|get" as Redis 7) -------
# Subcommands of the Python container commands have no row of their own in the
# C command table; their counters take cmdstat rows from the top of each
# worker's MAX_COMMANDS rows down (row MAX_COMMANDS-1-k for subcommand k), which
# CONFIG RESETSTAT already clears with the rest.

def substat_add(int k, uint64_t usec, bint rejected, bint failed):
    """Count one call of subcommand k by this worker."""
    if k < 0 or k >= MAX_COMMANDS - g_ncmds:
        raise ValueError("no row for this subcommand")
    cdef cmdstat_t *cs = cmdstat_at(g_worker, MAX_COMMANDS - 1 - k)
    if rejected:
        cs.rejected += 1
        return
    cs.calls += 1
    cs.usec += usec
    if failed:
        cs.failed += 1


def substat_totals(int n):
    """[(calls, usec, rejected, failed)] of subcommands 0..n-1 over every worker."""
    cdef int k, w
    cdef cmdstat_t *cs
    out = []
    for k in range(n):
        calls = usec = rej = fail = 0
        for w in range(MAX_WORKERS):
            cs = cmdstat_at(w, MAX_COMMANDS - 1 - k)
            calls += cs.calls
            usec += cs.usec
            rej += cs.rejected
            fail += cs.failed
        out.append((calls, usec, rej, fail))
    return out
