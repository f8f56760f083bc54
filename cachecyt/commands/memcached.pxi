# Memcached text protocol: the McClient connection class and the mc_* handlers.
# Handlers are thin over the string API (types/string.pxi) and the keyspace API
# (shm/keys.pxi): memcached items are strings of one logical db (memcached-db),
# so RESP clients see them and memcached clients see strings RESP stored.
# See docs/adr/0004-memcached-protocol.md for how the two protocols share keys:
#   - client flags live in item_t.mcflags (any RESP write of the value clears them);
#   - the CAS unique is item_t.version, bumped by every write from either side
#     (touch and gat leave it, as memcached does);
#   - a key holding a collection is a miss for retrieval and refused by writes;
#   - exptime: 0 none, < 0 expired now, <= 30 days relative, else unix time.
# Counters memcached keeps per command (cmd_get, cmd_set ...) live in each
# worker's row of the segment (wstat_t.mc) and `stats` sums them, like hits,
# misses, items, bytes and connections: every figure is node-wide.
# Meta commands keep memcached's per-item state in item_t.iflags: stale (md I),
# win token given (W, then Z), fetched (h), key stored in base64 (k with b).

cdef enum:
    MC_RELATIVE_MAX = 2592000     # exptime seconds above this are unix times
    MS_STORED = 100               # store outcomes besides the ST_* codes
    MS_NOT_STORED = 101
    MS_EXISTS = 102
    MS_NOT_FOUND = 103
    MS_DELETED = 104

cdef const char *MC_WRONGTYPE = "SERVER_ERROR WRONGTYPE Operation against a key holding the wrong kind of value"
cdef const char *MC_BADFORMAT = "CLIENT_ERROR bad command line format"
cdef const char *MC_NONNUMERIC = "CLIENT_ERROR cannot increment or decrement non-numeric value"
cdef const char *MC_BADEXPTIME = "CLIENT_ERROR invalid exptime argument"

cdef extern from "<string.h>" nogil:
    const char *strchr(const char *s, int c)

# the flags meta commands accept (memcached 1.6); others: "CLIENT_ERROR invalid flag"
_META_ALL = b"bcfhklstuvqCDEFIJLMNOPRSTx"
META_FLAGS = {MC_MG: _META_ALL, MC_MS: _META_ALL, MC_MD: _META_ALL, MC_MA: _META_ALL, MC_ME: _META_ALL}



# ---- per-command accounting ---------------------------------------------------------
#
# Each memcached command has rows of its own beside the RESP commands': calls,
# µs, failures (cmdstats) and the latency histogram, named mc_<command> in INFO
# commandstats and latencystats, LATENCY HISTOGRAM and the metrics endpoint
# (commands/server.py lists them after the subcommand rows). Its keys go into
# the hot-key sketch on the same sampling countdown as RESP commands, under
# memcached-db, so HOTKEYS shows the keys memcached clients make hot.

MC_STAT_NAMES = ['mc_' + n for n in (
    'get', 'gets', 'gat', 'gats', 'set', 'add', 'replace', 'append', 'prepend', 'cas',
    'incr', 'decr', 'delete', 'touch', 'flush_all', 'version', 'verbosity', 'quit',
    'stats', 'mg', 'ms', 'md', 'ma', 'mn', 'me')]          # MC_GET (1) .. MC_ME (25)
cdef int g_mc_row[MC_ERRLINE]         # cmdstat row of each MC_* command, 0 = none (a RESP row)


cdef void mc_find_stat_rows(list names) noexcept:
    """Rows of the memcached commands among the subcommand rows (set_substat_names)."""
    cdef int cmd, row
    for cmd in range(MC_ERRLINE):
        g_mc_row[cmd] = 0
        if 1 <= cmd <= len(MC_STAT_NAMES) and MC_STAT_NAMES[cmd - 1] in names:
            row = MAX_COMMANDS - 1 - names.index(MC_STAT_NAMES[cmd - 1])
            if row >= g_ncmds:
                g_mc_row[cmd] = row


cdef inline bint mc_failed(wbuf_t *w, uint64_t before) noexcept nogil:
    """The reply from `before` is an error line (ERROR, CLIENT_ERROR, SERVER_ERROR)."""
    cdef uint64_t n = w.len - before
    cdef const char *p = w.p + before
    return ((n >= 5 and memcmp(p, "ERROR", 5) == 0) or
            (n >= 12 and (memcmp(p, "CLIENT_ERROR", 12) == 0 or memcmp(p, "SERVER_ERROR", 12) == 0)))


cdef inline mcstat_t *mcs() noexcept nogil:
    """This worker's memcached counters (in the segment; `stats` sums every worker's)."""
    return &my_wstat().mc
cdef uint64_t g_mc_item_max = 1024 * 1024
cdef uint32_t g_mc_db = 0
cdef int g_mc_verbosity = 0
g_mc_settings = {}                 # extra `stats settings` lines (port, threads ...)


def mc_configure(uint64_t item_max, uint32_t db, dict settings=None):
    """Set item-size-max, the logical db memcached clients use, and what
    `stats settings` reports (worker start)."""
    global g_mc_item_max, g_mc_db, g_mc_settings
    g_mc_item_max = item_max
    g_mc_db = db
    if settings is not None:
        g_mc_settings = settings


cdef inline int64_t mc_expire_ms(int64_t exptime, int64_t now_ms) noexcept nogil:
    """Absolute expiry in ms from a memcached exptime: 0 for none, -1 for
    already expired."""
    if exptime == 0:
        return 0
    if exptime < 0:
        return -1
    if exptime > MC_RELATIVE_MAX:
        return exptime * 1000 if exptime * 1000 > now_ms else -1
    return now_ms + exptime * 1000


cdef void mc_set_expire_locked(kref_t *k, int64_t expire_ms) noexcept nogil:
    """Set the TTL of the found key without bumping its version (memcached's
    touch keeps the CAS unique)."""
    cdef item_t *it = IT(k.item)
    cdef dbstat_t *ds = dbstat_at(k.shard, k.pdb)
    if it.expire_ms and not expire_ms:
        ds.expires -= 1
    elif expire_ms and not it.expire_ms:
        ds.expires += 1
    it.expire_ms = expire_ms


cdef void mc_value_out(wbuf_t *w, item_t *it) noexcept nogil:
    """The value bytes of a string item, then CRLF."""
    cdef char tmp[24]
    cdef int n
    if it.encoding == ENC_INT:
        n = fmt_i64(tmp, item_int(it))
        wb_put(w, tmp, n)
    elif wb_reserve(w, it.vlen):
        item_read(it, it.klen, w.p + w.len, it.vlen)
        w.len += it.vlen
    wb_put(w, "\r\n", 2)


cdef void mc_u64_out(wbuf_t *w, uint64_t v) noexcept nogil:
    cdef char tmp[24]
    wb_put(w, tmp, fmt_u64(tmp, v))


cdef void mc_value_line(wbuf_t *w, item_t *it, const char *key, uint64_t klen, bint cas) noexcept nogil:
    """VALUE <key> <flags> <bytes> [<cas>]\\r\\n<data>\\r\\n"""
    wb_put(w, "VALUE ", 6)
    wb_put(w, key, klen)
    wb_put(w, " ", 1)
    mc_u64_out(w, it.mcflags)
    wb_put(w, " ", 1)
    mc_u64_out(w, str_len(it))
    if cas:
        wb_put(w, " ", 1)
        mc_u64_out(w, it.version)
    wb_put(w, "\r\n", 2)
    mc_value_out(w, it)


cdef int mc_read_u64_locked(item_t *it, uint64_t *out) noexcept nogil:
    """The item's value as memcached reads a number: ST_OK or ST_NOTINT."""
    cdef char tmp[72]
    if it.encoding == ENC_INT:
        if item_int(it) < 0:
            return ST_NOTINT
        out[0] = <uint64_t>item_int(it)
        return ST_OK
    if it.vlen == 0 or it.vlen > 64:
        return ST_NOTINT
    item_read(it, it.klen, tmp, it.vlen)
    return ST_OK if mc_strtoull(tmp, it.vlen, out) else ST_NOTINT


cdef int mc_store_value_locked(kref_t *k, const char *v, uint64_t n, uint32_t flags,
                               int64_t expire_ms, bint keep_ttl, int64_t now_ms) noexcept nogil:
    """Make the key a string holding v with these client flags."""
    cdef int st = str_store_locked(k, v, n, expire_ms, keep_ttl, STORE_AUTO, now_ms)
    if st == ST_OK:
        IT(k.item).mcflags = flags
    return st


cdef int mc_concat_locked(kref_t *k, const char *add, uint64_t n, bint front,
                          int64_t now_ms) noexcept nogil:
    """append (front=False) or prepend to the found string; flags, TTL kept."""
    cdef item_t *it = IT(k.item)
    cdef uint32_t flags = it.mcflags
    cdef uint64_t cur = str_len(it), newlen = 0
    cdef char *buf
    cdef int st
    if ITEM_HDR + k.klen + cur + n + 2 > g_mc_item_max:
        return ST_NOMEM
    if not front:
        st = str_append_locked(k, add, n, &newlen, now_ms)
        if st == ST_OK:
            IT(k.item).mcflags = flags
        return st
    buf = <char *>malloc(cur + n + 1)
    if buf == NULL:
        return ST_NOMEM
    memcpy(buf, add, n)
    if it.encoding == ENC_INT:
        fmt_i64(buf + n, item_int(it))
    else:
        item_read(it, it.klen, buf + n, cur)
    st = str_store_locked(k, buf, cur + n, 0, True, STORE_RAW, now_ms)
    free(buf)
    if st == ST_OK:
        IT(k.item).mcflags = flags
    return st


cdef void mc_invalidate_locked(kref_t *k, int64_t expire_ms) noexcept nogil:
    """md with I: the item stays, marked stale with a new CAS, and the next mg is
    given the right to recache (W); expire_ms -2 keeps the TTL."""
    cdef item_t *it = IT(k.item)
    if expire_ms != -2:
        mc_set_expire_locked(k, expire_ms)
    item_bump(it)
    it.iflags = (it.iflags | IF_STALE) & ~IF_WON


cdef const char *mc_win_flags(item_t *it, int64_t recache, int64_t now_ms) noexcept nogil:
    """The W / Z / X flags of an mg hit: the first reader of a stale item, or of
    one whose TTL is below the R token, wins (W) the right to recache; later
    readers see Z (a win was given); X marks a stale item."""
    cdef bint stale = (it.iflags & IF_STALE) != 0
    if it.iflags & IF_WON:
        return " Z X" if stale else " Z"
    if stale or (recache >= 0 and it.expire_ms and (it.expire_ms - now_ms) // 1000 < recache):
        it.iflags |= IF_WON
        return " X W" if stale else " W"
    return NULL


cdef inline int64_t item_idle_s(item_t *it, int64_t now_ms) noexcept nogil:
    """Seconds since the item was last accessed, as the policy's clock records it
    (minutes under LFU)."""
    cdef int64_t d
    if policy_is_lfu():
        d = ((now_ms // 60000) & 0xffff) - (item_lru(it) >> 8)
        if d < 0:
            d += 65536
        return d * 60
    return lru_idle_s(item_lru(it), now_ms)


cdef int mc_store_locked(kref_t *k, int cmd, const char *v, uint64_t n, uint32_t flags,
                         int64_t expire_ms, uint64_t cas, int64_t now_ms) noexcept nogil:
    """set/add/replace/append/prepend/cas on the found (or absent) key.
    MS_STORED, MS_NOT_STORED, MS_EXISTS, MS_NOT_FOUND, ST_WRONGTYPE or ST_NOMEM."""
    cdef int st
    if k.item and IT(k.item).type != T_STRING:
        return ST_WRONGTYPE
    if cmd == MC_ADD and k.item:
        item_touch(IT(k.item), now_ms)
        return MS_NOT_STORED
    if (cmd == MC_REPLACE or cmd == MC_APPEND or cmd == MC_PREPEND) and not k.item:
        return MS_NOT_STORED
    if cmd == MC_CAS:
        if not k.item:
            return MS_NOT_FOUND
        if IT(k.item).version != cas:
            return MS_EXISTS
    if cmd == MC_APPEND or cmd == MC_PREPEND:
        st = mc_concat_locked(k, v, n, cmd == MC_PREPEND, now_ms)
        if st != ST_OK:
            return st
        IT(k.item).iflags &= ~(IF_STALE | IF_WON | IF_FETCHED)
        return MS_STORED
    if expire_ms < 0:
        if k.item:
            key_remove_locked(k)
        return MS_STORED
    st = mc_store_value_locked(k, v, n, flags, expire_ms, False, now_ms)
    return MS_STORED if st == ST_OK else st


cdef int mc_arith_locked(kref_t *k, bint incr, uint64_t delta, uint64_t *result,
                         int64_t now_ms) noexcept nogil:
    """incr/decr of the found key: incr wraps at 2^64, decr stops at 0.
    ST_OK, MS_NOT_FOUND, ST_WRONGTYPE, ST_NOTINT or ST_NOMEM. Flags and TTL kept."""
    cdef item_t *it
    cdef uint64_t cur
    cdef uint32_t flags
    cdef char tmp[24]
    cdef int st
    if not k.item:
        return MS_NOT_FOUND
    it = IT(k.item)
    if it.type != T_STRING:
        return ST_WRONGTYPE
    if mc_read_u64_locked(it, &cur) != ST_OK:
        return ST_NOTINT
    if incr:
        cur = cur + delta
    else:
        cur = 0 if delta > cur else cur - delta
    result[0] = cur
    if it.encoding == ENC_INT and cur <= 9223372036854775807ULL:
        memcpy(item_value_inline(it), &cur, 8)
        item_bump(it)
        item_touch(it, now_ms)
        return ST_OK
    flags = it.mcflags
    st = str_store_locked(k, tmp, fmt_u64(tmp, cur), 0, True, STORE_AUTO, now_ms)
    if st == ST_OK:
        IT(k.item).mcflags = flags
    return st


# ================================ the connection ================================

cdef class McClient(Client):
    """One memcached text-protocol connection. It shares Client's read buffer,
    reply buffer, accounting and transport glue, and replaces the request loop."""
    cdef mcparser_t mp
    cdef const char *mkey                     # key of the meta command being run (decoded when b)
    cdef uint64_t mklen
    cdef char mkbuf[MC_KEY_MAX + 4]
    cdef bint mb                              # the key came base64-encoded (flag b)
    cdef int m_hit                            # mg: h (fetched before) and l (seconds since
    cdef int64_t m_idle                       # the last access), read before this access
    cdef bint m_t_none                        # mg N: t asked before N reads "no TTL" (memcached)
    cdef bint m_t_old                         # mg T: t asked before T reads the expiry before it
    cdef int64_t m_t_expire                   # ... which was this (ms, 0 = none)

    def __cinit__(self, *args, **kwargs):
        mp_init(&self.mp, g_mc_item_max)
        self.db = g_mc_db

    def __dealloc__(self):
        mp_free(&self.mp)

    cdef int _run_batch(self) except -1:
        cdef int r, held
        cdef uint64_t before
        self._clock()
        batch_enter()                                 # see shm/script.pxi
        while not (self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP | CL_BLOCKED)):
            r = mc_next(&self.rp, &self.mp)
            if r == MC_NEED:
                if rp_pending(&self.rp) > self.qbuf_limit:
                    self.flags |= CL_CLOSE_ASAP
                break
            if r == MC_CLOSE:
                self.flags |= CL_CLOSE_AFTER_REPLY
                break
            before = self.out.len
            self.commands += 1
            my_wstat().commands += 1
            if g_hdr.script_owner:
                script_wait_clear()
            held = persist_mc_begin(self) if g_pp != NULL else 0    # shm/wal.pxi
            try:
                if ((self.authenticated and self.acl_ok == g_hdr.acl_version) or not mc_auth_gate(self)) \
                        and (self.db < <int>g_hdr.tenant_base or not mc_tenant_gate(self)):
                    self.mc_execute()
            except MemoryError:
                self.out.len = before
                wb_cstr(&self.out, "SERVER_ERROR out of memory\r\n")
            except Exception:
                _log.error("internal error in a memcached command, closing the connection:\n%s",
                           traceback.format_exc())
                self.out.len = before
                wb_cstr(&self.out, "SERVER_ERROR internal error\r\n")
                self.flags |= CL_CLOSE_AFTER_REPLY
            if held:
                persist_mc_end(self, before, held)
            if tn_charge != -1:
                tenant_done(self, before)                    # commands/mctenant.pxi
            self.mc_account(before)
            if self.mp.noreply:
                self.out.len = before
        batch_leave()
        rp_compact(&self.rp)
        return 0

    cdef void mc_account(self, uint64_t before) noexcept:
        """The command just run: its cmdstat and histogram rows (its time runs
        from the end of the command before it, as a RESP command's), then, on
        the hot-key countdown, its keys into this worker's sketch."""
        cdef int cmd = self.mp.cmd
        cdef int64_t t1 = cc_mono_us()
        cdef uint64_t usec = <uint64_t>(t1 - self.t_mark) if t1 > self.t_mark else 0
        cdef cmdstat_t *cs
        self.t_mark = t1
        if cmd <= 0 or cmd >= MC_ERRLINE or g_mc_row[cmd] == 0 or g_hdr == NULL:
            return
        cs = cmdstat_at(g_worker, g_mc_row[cmd])
        cs.calls += 1
        cs.usec += usec
        if mc_failed(&self.out, before):
            cs.failed += 1
        hist_row(g_worker, g_mc_row[cmd])[lat_bucket(usec)] += 1
        if g_hdr.hotkeys_sample_rate and hot_due():
            self.mc_hot_sample(cmd)

    cdef void mc_hot_sample(self, int cmd) noexcept:
        """The countdown ran out: the keys of this command are one sample."""
        cdef uint64_t rate = g_hdr.hotkeys_sample_rate, i, first = 1
        hot_rearm(rate)
        if cmd >= MC_MG and cmd != MC_MN:
            if self.mklen:                      # the key as stored (base64 decoded)
                hot_touch(g_worker, self.db, self.mkey, self.mklen, rate)
            return
        if cmd == MC_GAT or cmd == MC_GATS:
            first = 2
        elif cmd > MC_TOUCH:                    # flush_all, version, stats ...: no key
            return
        elif cmd != MC_GET and cmd != MC_GETS:  # storage, incr/decr, delete, touch: one key
            if self.mp.ntok > 1:
                hot_touch(g_worker, self.db, self.tok(1), self.tlen(1), rate)
            return
        for i in range(first, self.mp.ntok):
            hot_touch(g_worker, self.db, self.tok(i), self.tlen(i), rate)

    # ---- helpers ------------------------------------------------------------------

    cdef inline const char *tok(self, uint64_t i) noexcept nogil:
        return self.rp.buf + self.mp.tokoff[i]

    cdef inline uint64_t tlen(self, uint64_t i) noexcept nogil:
        return self.mp.toklen[i]

    cdef inline bint tok_is(self, uint64_t i, const char *word) noexcept nogil:
        return mp_tok_is(&self.rp, &self.mp, i, word)

    cdef inline void line(self, const char *s) noexcept nogil:
        wb_cstr(&self.out, s)
        wb_put(&self.out, "\r\n", 2)

    cdef inline void noreply_from_last(self) noexcept:
        self.mp.noreply = self.tok_is(self.mp.ntok - 1, "noreply")

    # ---- dispatch -------------------------------------------------------------------

    cdef int mc_execute(self) except -1:
        cdef int cmd = self.mp.cmd
        if cmd == MC_ERRLINE:
            self.line(self.mp.err)
        elif cmd == MC_GET or cmd == MC_GETS:
            self.mc_get(1, cmd == MC_GETS, False, 0)
        elif cmd == MC_GAT or cmd == MC_GATS:
            self.mc_gat()
        elif cmd >= MC_SET and cmd <= MC_CAS:
            self.mc_store()
        elif cmd == MC_INCR or cmd == MC_DECR:
            self.mc_arith()
        elif cmd == MC_DELETE:
            self.mc_delete()
        elif cmd == MC_TOUCH:
            self.mc_touch()
        elif cmd == MC_FLUSH_ALL:
            self.mc_flush_all()
        elif cmd == MC_VERSION:
            self.line("VERSION 1.6.0-cachecyt")
        elif cmd == MC_VERBOSITY:
            self.noreply_from_last()
            self.line("OK")
        elif cmd == MC_QUIT:
            self.flags |= CL_CLOSE_ASAP
        elif cmd == MC_STATS:
            self.mc_stats()
        elif cmd == MC_MN:
            self.line("MN")
        else:
            self.mc_meta(cmd)
        return 0

    # ---- retrieval ------------------------------------------------------------------

    cdef int mc_get(self, uint64_t first, bint cas, bint touch, int64_t expire_ms) except -1:
        """get/gets/gat/gats of the keys from token `first`."""
        cdef uint64_t i, before = self.out.len
        cdef kref_t k
        cdef item_t *it
        cdef bint bad = False
        for i in range(first, self.mp.ntok):
            if self.tlen(i) > MC_KEY_MAX:
                bad = True
                break
            kref_init(&k, self.tok(i), self.tlen(i))
            mcs().cmd_get += 1
            if touch:
                mcs().cmd_touch += 1
            with nogil:
                shard_lock(k.shard)
                if key_find_locked(&k, self.db, self.now_ms) and IT(k.item).type == T_STRING:
                    it = IT(k.item)
                    item_touch(it, self.now_ms)
                    it.iflags |= IF_FETCHED
                    if touch and expire_ms >= 0:
                        mc_set_expire_locked(&k, expire_ms)
                    mc_value_line(&self.out, it, k.key, k.klen, cas)
                    if touch and expire_ms < 0:       # served once, then gone (memcached)
                        key_remove_locked(&k)
                    my_wstat().hits += 1
                    if touch:
                        mcs().touch_hits += 1
                else:
                    my_wstat().misses += 1
                    if touch:
                        mcs().touch_misses += 1
                shard_unlock(k.shard)
        if bad:
            self.out.len = before
            self.line(MC_BADFORMAT)
            return 0
        self.line("END")
        return 0

    cdef int mc_gat(self) except -1:
        cdef int64_t exptime
        if not mc_strtol32(self.tok(1), self.tlen(1), &exptime):
            self.line(MC_BADEXPTIME)
            return 0
        return self.mc_get(2, self.mp.cmd == MC_GATS, True, mc_expire_ms(exptime, self.now_ms))

    # ---- storage --------------------------------------------------------------------

    cdef int mc_store(self) except -1:
        cdef kref_t k
        cdef int st
        cdef mcparser_t *p = &self.mp
        cdef int64_t expire_ms = mc_expire_ms(p.exptime, self.now_ms)
        mcs().cmd_set += 1
        kref_init(&k, self.tok(1), self.tlen(1))
        if p.toobig:
            mcs().store_too_large += 1
            if p.cmd == MC_SET:             # memcached drops the old value: never serve stale data
                with nogil:
                    shard_lock(k.shard)
                    if key_find_locked(&k, self.db, self.now_ms) and IT(k.item).type == T_STRING:
                        key_remove_locked(&k)
                    shard_unlock(k.shard)
            self.line("SERVER_ERROR object too large for cache")
            return 0
        with nogil:
            shard_lock(k.shard)
            key_find_locked(&k, self.db, self.now_ms)
            st = mc_store_locked(&k, p.cmd, self.rp.buf + p.data_off, p.data_len, p.flags,
                                 expire_ms, p.cas, self.now_ms)
            shard_unlock(k.shard)
        if p.cmd == MC_CAS:
            if st == MS_STORED:
                mcs().cas_hits += 1
            elif st == MS_EXISTS:
                mcs().cas_badval += 1
            elif st == MS_NOT_FOUND:
                mcs().cas_misses += 1
        self.store_reply(st)
        return 0

    cdef void store_reply(self, int st) noexcept:
        if st == MS_STORED:
            self.line("STORED")
        elif st == MS_NOT_STORED:
            self.line("NOT_STORED")
        elif st == MS_EXISTS:
            self.line("EXISTS")
        elif st == MS_NOT_FOUND:
            self.line("NOT_FOUND")
        elif st == ST_WRONGTYPE:
            self.line(MC_WRONGTYPE)
        else:
            mcs().store_no_memory += 1
            self.line("SERVER_ERROR out of memory storing object")

    # ---- other commands -------------------------------------------------------------

    cdef int mc_arith(self) except -1:
        cdef uint64_t delta, result = 0
        cdef kref_t k
        cdef int st
        cdef bint incr = self.mp.cmd == MC_INCR
        self.noreply_from_last()
        if self.tlen(1) > MC_KEY_MAX:
            self.line(MC_BADFORMAT)
            return 0
        if not mc_strtoull(self.tok(2), self.tlen(2), &delta):
            self.line("CLIENT_ERROR invalid numeric delta argument")
            return 0
        kref_init(&k, self.tok(1), self.tlen(1))
        with nogil:
            shard_lock(k.shard)
            key_find_locked(&k, self.db, self.now_ms)
            st = mc_arith_locked(&k, incr, delta, &result, self.now_ms)
            shard_unlock(k.shard)
        if st == MS_NOT_FOUND:
            if incr:
                mcs().incr_misses += 1
            else:
                mcs().decr_misses += 1
            self.line("NOT_FOUND")
            return 0
        if incr:
            mcs().incr_hits += 1
        else:
            mcs().decr_hits += 1
        if st == ST_OK:
            mc_u64_out(&self.out, result)
            wb_put(&self.out, "\r\n", 2)
        elif st == ST_NOTINT:
            self.line(MC_NONNUMERIC)
        else:
            self.store_reply(st)
        return 0

    cdef int mc_delete(self) except -1:
        cdef kref_t k
        cdef int st = MS_NOT_FOUND
        cdef uint64_t n = self.mp.ntok
        cdef bint zero
        if n > 2:
            zero = self.tok_is(2, "0")
            self.noreply_from_last()
            if not ((n == 3 and (zero or self.mp.noreply)) or (n == 4 and zero and self.mp.noreply)):
                self.line("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
                return 0
        if self.tlen(1) > MC_KEY_MAX:
            self.line(MC_BADFORMAT)
            return 0
        kref_init(&k, self.tok(1), self.tlen(1))
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, self.db, self.now_ms):
                if IT(k.item).type != T_STRING:
                    st = ST_WRONGTYPE
                else:
                    key_remove_locked(&k)
                    st = MS_DELETED
            shard_unlock(k.shard)
        if st == MS_DELETED:
            mcs().delete_hits += 1
            self.line("DELETED")
        elif st == ST_WRONGTYPE:
            self.line(MC_WRONGTYPE)
        else:
            mcs().delete_misses += 1
            self.line("NOT_FOUND")
        return 0

    cdef int mc_touch(self) except -1:
        cdef kref_t k
        cdef int64_t exptime, expire_ms
        cdef int st = MS_NOT_FOUND
        self.noreply_from_last()
        if self.tlen(1) > MC_KEY_MAX:
            self.line(MC_BADFORMAT)
            return 0
        if not mc_strtol32(self.tok(2), self.tlen(2), &exptime):
            self.line(MC_BADEXPTIME)
            return 0
        expire_ms = mc_expire_ms(exptime, self.now_ms)
        mcs().cmd_touch += 1
        kref_init(&k, self.tok(1), self.tlen(1))
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, self.db, self.now_ms):
                if IT(k.item).type != T_STRING:
                    st = ST_WRONGTYPE
                else:
                    st = ST_OK
                    if expire_ms < 0:
                        key_remove_locked(&k)
                    else:
                        mc_set_expire_locked(&k, expire_ms)
            shard_unlock(k.shard)
        if st == ST_OK:
            mcs().touch_hits += 1
            self.line("TOUCHED")
        elif st == ST_WRONGTYPE:
            self.line(MC_WRONGTYPE)
        else:
            mcs().touch_misses += 1
            self.line("NOT_FOUND")
        return 0

    cdef int mc_flush_all(self) except -1:
        cdef int64_t delay = 0
        self.noreply_from_last()
        if self.mp.ntok != (2 if self.mp.noreply else 1):
            if not mc_strtol32(self.tok(1), self.tlen(1), &delay):
                self.line(MC_BADEXPTIME)
                return 0
        mcs().cmd_flush += 1
        if delay > 0:
            self.actions.append(('mc_flush', delay))
        else:
            with nogil:
                db_flush(self.db)
        self.line("OK")
        return 0

    cdef int mc_stats(self) except -1:
        cdef bytes what = self.tok(1)[:self.tlen(1)] if self.mp.ntok > 1 else b""
        if self.tenant >= 0 and what in (b"", b"settings", b"slabs"):
            rows = mc_tenant_stats(self.tenant, what)        # commands/mctenant.pxi
        elif what == b"":
            rows = mc_general_stats()
        elif what == b"settings":
            rows = mc_settings_stats()
        elif what == b"items":
            rows = mc_items_stats(self.db)
        elif what == b"slabs":
            rows = mc_slabs_stats()
        elif what == b"reset":
            mc_stats_reset()
            self.line("RESET")
            return 0
        else:
            self.line("ERROR")
            return 0
        for name, value in rows:
            line = f"STAT {name} {value}\r\n".encode()
            wb_put(&self.out, line, len(line))
        self.line("END")
        return 0

    # ---- meta commands ----------------------------------------------------------------

    cdef int mc_meta(self, int cmd) except -1:
        """mg ms md ma me: <cmd> <key> <flag>*. Each flag is one letter and an
        optional token; return flags come back in the order they were asked."""
        cdef uint64_t i
        cdef char f
        mcs().cmd_meta += 1
        self.mklen = 0                          # no key yet (the hot-key sample reads it)
        if self.mp.ntok < 2:
            self.line("ERROR")
            return 0
        if self.tlen(1) > MC_KEY_MAX:
            self.line(MC_BADFORMAT)
            return 0
        first = 3 if cmd == MC_MS else 2
        cdef bytes valid = META_FLAGS[cmd]
        cdef uint8_t seen[128]
        memset(seen, 0, 128)
        for i in range(first, self.mp.ntok):
            f = self.tok(i)[0]
            if f <= 0 or strchr(valid, f) == NULL or seen[f]:
                if cmd == MC_MD or cmd == MC_MA:
                    self.line("CLIENT_ERROR invalid or duplicate flag")
                elif seen[f]:
                    self.line("CLIENT_ERROR duplicate flag")
                else:
                    self.line("CLIENT_ERROR invalid flag")
                return 0
            seen[f] = 1
        self.mkey = self.tok(1)
        self.mklen = self.tlen(1)
        self.mb = self.meta_flag(first, 98, NULL, NULL)
        if self.mb:
            if not self.decode_key():
                self.line("CLIENT_ERROR error decoding key")
                return 0
        if cmd == MC_MG:
            return self.mc_mg(first)
        if cmd == MC_MS:
            return self.mc_ms(first)
        if cmd == MC_MD:
            return self.mc_md(first)
        if cmd == MC_MA:
            return self.mc_ma(first)
        return self.mc_me()

    cdef bint decode_key(self) noexcept:
        """The key token as base64 (flag b), into mkbuf."""
        cdef uint64_t n = b64_decode(self.tok(1), self.tlen(1), self.mkbuf, MC_KEY_MAX)
        if n == 0:
            return False
        self.mkey = self.mkbuf
        self.mklen = n
        return True

    cdef void meta_key_out(self, item_t *it) noexcept nogil:
        """The k return flag: an item stored with a base64 key (ms b) gives its
        key back in base64 followed by b, any other item its key as is."""
        cdef bint binary = self.mb if it == NULL else (it.iflags & IF_BINKEY) != 0
        wb_put(&self.out, "k", 1)
        if not binary:
            wb_put(&self.out, self.mkey, self.mklen)
            return
        if self.mb:
            wb_put(&self.out, self.tok(1), self.tlen(1))
        else:
            b64_encode_out(&self.out, self.mkey, self.mklen)
        wb_put(&self.out, " b", 2)

    cdef bint flag_before(self, uint64_t first, char a, char b) noexcept nogil:
        """Whether flag a comes before flag b in the request."""
        cdef uint64_t i
        for i in range(first, self.mp.ntok):
            if self.tok(i)[0] == a:
                return True
            if self.tok(i)[0] == b:
                return False
        return False

    cdef bint meta_flag(self, uint64_t first, char f, int64_t *val, bint *bad) noexcept:
        """Whether flag f was given; its numeric token into val."""
        cdef uint64_t i
        for i in range(first, self.mp.ntok):
            if self.tok(i)[0] == f:
                if val != NULL and not parse_i64(self.tok(i) + 1, self.tlen(i) - 1, val):
                    bad[0] = True
                return True
        return False

    cdef void meta_ret_flags(self, uint64_t first, item_t *it, const char *ret) noexcept nogil:
        """The return flags asked for that this reply carries (`ret`: some of
        k O b c f t s), in request order. c without an item is 0, as memcached."""
        cdef uint64_t i
        cdef char f
        for i in range(first, self.mp.ntok):
            f = self.tok(i)[0]
            if strchr(ret, f) == NULL:
                continue
            if f == 99 and it == NULL:
                wb_put(&self.out, " c0", 3)
            elif f == 104 or f == 108:    # h, l: as read before this access (mg)
                wb_put(&self.out, " ", 1)
                wb_put(&self.out, &f, 1)
                mc_u64_out(&self.out, <uint64_t>(self.m_hit if f == 104 else self.m_idle))
            elif f == 79 or f == 107:     # O, k (then b: the key is still base64)
                wb_put(&self.out, " ", 1)
                if f == 107:
                    self.meta_key_out(it)
                else:
                    wb_put(&self.out, self.tok(i), self.tlen(i))
            elif it != NULL and (f == 102 or f == 116 or f == 99 or f == 115):
                wb_put(&self.out, " ", 1)
                wb_put(&self.out, &f, 1)
                if f == 102:
                    mc_u64_out(&self.out, it.mcflags)
                elif f == 99:
                    mc_u64_out(&self.out, it.version)
                elif f == 115:
                    mc_u64_out(&self.out, str_len(it))
                else:
                    self.ttl_out(self.m_t_expire if self.m_t_old else it.expire_ms)

    cdef void ttl_out(self, int64_t expire_ms) noexcept nogil:
        """A t return flag's value: seconds left, or -1 for no TTL."""
        if expire_ms == 0 or self.m_t_none:
            wb_put(&self.out, "-1", 2)
        else:
            mc_u64_out(&self.out, <uint64_t>((expire_ms - self.now_ms + 999) // 1000))

    cdef int mc_mg(self, uint64_t first) except -1:
        cdef kref_t k
        cdef item_t *it = NULL
        cdef int64_t ttl = 0, vttl = 0
        cdef int64_t recache = -1
        cdef bint bad = False, want_v, quiet, touch, vivify
        want_v = self.meta_flag(first, 118, NULL, &bad)
        quiet = self.meta_flag(first, 113, NULL, &bad)
        touch = self.meta_flag(first, 84, &ttl, &bad)
        vivify = self.meta_flag(first, 78, &vttl, &bad)
        self.meta_flag(first, 82, &recache, &bad)
        if bad:
            self.line(MC_BADFORMAT)
            return 0
        mcs().cmd_get += 1
        kref_init(&k, self.mkey, self.mklen)
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, self.db, self.now_ms) and IT(k.item).type == T_STRING:
                it = IT(k.item)
                self.m_hit = 1 if it.iflags & IF_FETCHED else 0
                self.m_idle = item_idle_s(it, self.now_ms)
                item_touch(it, self.now_ms)
                it.iflags |= IF_FETCHED
                if touch:
                    self.m_t_old = self.flag_before(first, 116, 84)    # t before T: as it was
                    self.m_t_expire = it.expire_ms
                    mc_set_expire_locked(&k, mc_expire_ms(ttl, self.now_ms))
                my_wstat().hits += 1
                self.meta_value(first, it, want_v, "VA", "HD", "kObcfhlts",
                                mc_win_flags(it, recache, self.now_ms))
                self.m_t_old = False
            else:
                my_wstat().misses += 1
                if vivify and not k.item:          # an empty placeholder; W: this client fills it
                    if mc_store_value_locked(&k, "", 0, 0, mc_expire_ms(vttl, self.now_ms),
                                             False, self.now_ms) == ST_OK:
                        it = IT(k.item)
                        it.iflags |= IF_WON | IF_FETCHED      # memcached counts this fetch
                        self.m_hit = 0
                        self.m_idle = 0
                        self.m_t_none = self.flag_before(first, 116, 78)
                        self.meta_value(first, it, want_v, "VA", "HD", "kObcfhlts", " W")
                        self.m_t_none = False
            shard_unlock(k.shard)
        if it == NULL and not quiet:
            self.meta_line("EN", first, "kOb")
        return 0

    cdef void meta_value(self, uint64_t first, item_t *it, bint want_v, const char *va,
                         const char *hd, const char *ret, const char *extra=NULL) noexcept nogil:
        """A meta reply for a found item: VA <size> <flags> and the value, or HD <flags>."""
        if want_v:
            wb_cstr(&self.out, va)
            wb_put(&self.out, " ", 1)
            mc_u64_out(&self.out, str_len(it))
        else:
            wb_cstr(&self.out, hd)
        self.meta_ret_flags(first, it, ret)
        if extra != NULL:
            wb_cstr(&self.out, extra)
        wb_put(&self.out, "\r\n", 2)
        if want_v:
            mc_value_out(&self.out, it)

    cdef int mc_ms(self, uint64_t first) except -1:
        cdef kref_t k
        cdef int st, cmd = MC_SET
        cdef int64_t ttl = 0, fl = 0, cas = 0
        cdef bint bad = False, quiet, has_cas, ret_cas, invalidate, stale = False
        cdef uint64_t i
        cdef mcparser_t *p = &self.mp
        quiet = self.meta_flag(first, 113, NULL, &bad)
        self.meta_flag(first, 84, &ttl, &bad)
        self.meta_flag(first, 70, &fl, &bad)
        has_cas = self.meta_flag(first, 67, &cas, &bad)
        for i in range(first, p.ntok):
            if self.tok(i)[0] == 77 and self.tlen(i) == 2:         # M<mode>
                f = self.tok(i)[1] | 32
                cmd = {101: MC_ADD, 97: MC_APPEND, 112: MC_PREPEND, 114: MC_REPLACE,
                       115: MC_SET}.get(f, -1)
                if cmd < 0:
                    self.line("CLIENT_ERROR invalid mode for ms STORE")
                    return 0
        if bad or fl < 0 or fl > 4294967295:
            self.line(MC_BADFORMAT)
            return 0
        if p.toobig:
            self.line("SERVER_ERROR object too large for cache")
            return 0
        if has_cas and (cmd == MC_SET or cmd == MC_REPLACE):
            cmd = MC_CAS
        invalidate = self.meta_flag(first, 73, NULL, &bad)
        mcs().cmd_set += 1
        kref_init(&k, self.mkey, self.mklen)
        with nogil:
            shard_lock(k.shard)
            key_find_locked(&k, self.db, self.now_ms)
            stale = (cmd == MC_CAS and invalidate and k.item != 0
                     and IT(k.item).type == T_STRING and <uint64_t>cas < IT(k.item).version)
            if stale:                       # an older CAS with I: stored, but marked stale
                cmd = MC_SET
            if (has_cas and (cmd == MC_APPEND or cmd == MC_PREPEND) and k.item != 0
                    and IT(k.item).type == T_STRING and IT(k.item).version != <uint64_t>cas):
                st = MS_EXISTS              # append/prepend compare the CAS too
            else:
                st = mc_store_locked(&k, cmd, self.rp.buf + p.data_off, p.data_len, <uint32_t>fl,
                                     mc_expire_ms(ttl, self.now_ms), <uint64_t>cas, self.now_ms)
            if stale and st == MS_STORED:
                IT(k.item).iflags |= IF_STALE
            if self.mb and st == MS_STORED:
                IT(k.item).iflags |= IF_BINKEY
            if st == MS_STORED and not quiet:
                self.meta_value(first, IT(k.item), False, "", "HD", "kObc")
            shard_unlock(k.shard)
        if st == MS_NOT_STORED:
            self.meta_line("NS", first, "kObc")
        elif st == MS_EXISTS:
            self.meta_line("EX", first, "kObc")
        elif st == MS_NOT_FOUND:
            self.meta_line("NF", first, "kObc")
        elif st != MS_STORED:
            self.store_reply(st)
        return 0

    cdef int mc_md(self, uint64_t first) except -1:
        cdef kref_t k
        cdef int st = MS_NOT_FOUND
        cdef int64_t cas = 0, ttl = 0
        cdef bint bad = False, quiet, has_cas, invalidate, touch
        quiet = self.meta_flag(first, 113, NULL, &bad)
        has_cas = self.meta_flag(first, 67, &cas, &bad)
        invalidate = self.meta_flag(first, 73, NULL, &bad)
        touch = self.meta_flag(first, 84, &ttl, &bad)
        if bad:
            self.line(MC_BADFORMAT)
            return 0
        kref_init(&k, self.mkey, self.mklen)
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, self.db, self.now_ms):
                if IT(k.item).type != T_STRING:
                    st = ST_WRONGTYPE
                elif has_cas and IT(k.item).version != <uint64_t>cas:
                    st = MS_EXISTS
                elif invalidate:            # kept, marked stale, a new CAS; the next mg wins
                    mc_invalidate_locked(&k, mc_expire_ms(ttl, self.now_ms) if touch else -2)
                    st = MS_DELETED
                else:
                    key_remove_locked(&k)
                    st = MS_DELETED
            shard_unlock(k.shard)
        if st == MS_DELETED:
            mcs().delete_hits += 1
            if not quiet:
                self.meta_line("HD", first, "kOb")
        elif st == MS_EXISTS:
            self.meta_line("EX", first, "kObc")
        elif st == ST_WRONGTYPE:
            self.line(MC_WRONGTYPE)
        else:
            mcs().delete_misses += 1
            self.meta_line("NF", first, "kOb")
        return 0

    cdef void meta_line(self, const char *code, uint64_t first, const char *ret) noexcept:
        wb_cstr(&self.out, code)
        self.meta_ret_flags(first, NULL, ret)
        wb_put(&self.out, "\r\n", 2)

    cdef int mc_ma(self, uint64_t first) except -1:
        cdef kref_t k
        cdef int st
        cdef int64_t delta = 1, initial = 0, vttl = 0
        cdef uint64_t result = 0
        cdef bint bad = False, quiet, want_v, vivify, incr = True, vivified = False
        cdef uint64_t i
        cdef char tmp[24]
        quiet = self.meta_flag(first, 113, NULL, &bad)
        want_v = self.meta_flag(first, 118, NULL, &bad)
        vivify = self.meta_flag(first, 78, &vttl, &bad)
        self.meta_flag(first, 74, &initial, &bad)
        self.meta_flag(first, 68, &delta, &bad)
        for i in range(first, self.mp.ntok):
            if self.tok(i)[0] == 77 and self.tlen(i) == 2:
                f = self.tok(i)[1]
                if f in (73, 105, 43):
                    incr = True
                elif f in (68, 100, 45):
                    incr = False
                else:
                    self.line("CLIENT_ERROR invalid mode for ma MODE")
                    return 0
        if bad or delta < 0 or initial < 0:
            self.line(MC_BADFORMAT)
            return 0
        kref_init(&k, self.mkey, self.mklen)
        with nogil:
            shard_lock(k.shard)
            key_find_locked(&k, self.db, self.now_ms)
            if not k.item and vivify:
                st = mc_store_value_locked(&k, tmp, fmt_u64(tmp, <uint64_t>initial), 0,
                                           mc_expire_ms(vttl, self.now_ms), False, self.now_ms)
                result = <uint64_t>initial
                vivified = True
            else:
                st = mc_arith_locked(&k, incr, <uint64_t>delta, &result, self.now_ms)
            # quiet hides HD, but not the reply of an item just made by N (memcached)
            if st == ST_OK and not (quiet and not vivified):
                self.meta_value(first, IT(k.item), want_v, "VA", "HD", "kObtc")
            shard_unlock(k.shard)
        if st == MS_NOT_FOUND:
            self.meta_line("NF", first, "kOb")
        elif st == ST_NOTINT:
            self.line(MC_NONNUMERIC)
        elif st != ST_OK:
            self.store_reply(st)
        return 0

    cdef int mc_me(self) except -1:
        cdef kref_t k
        cdef item_t *it
        cdef bint found = False
        cdef int64_t exp = -1
        cdef uint64_t cas = 0, size = 0
        cdef int64_t idle = 0
        cdef bint fetched = False
        kref_init(&k, self.mkey, self.mklen)
        with nogil:
            shard_lock(k.shard)
            if key_find_locked(&k, self.db, self.now_ms) and IT(k.item).type == T_STRING:
                it = IT(k.item)
                found = True
                cas = it.version
                size = item_memory(k.item)
                idle = item_idle_s(it, self.now_ms)
                fetched = (it.iflags & IF_FETCHED) != 0
                if it.expire_ms:
                    exp = (it.expire_ms - self.now_ms + 999) // 1000
            shard_unlock(k.shard)
        if not found:
            self.line("EN")
            return 0
        line = (f"ME {self.tok(1)[:self.tlen(1)].decode('latin-1')} exp={exp} la={idle} cas={cas} "
                f"fetch={'yes' if fetched else 'no'} cls=1 size={size}\r\n").encode('latin-1')
        wb_put(&self.out, line, len(line))
        return 0


# ================================ stats ==========================================

cdef dict mc_counters():
    """The memcached command counters summed over every worker slot."""
    cdef int i, j
    cdef uint64_t *f
    cdef mcstat_t total
    cdef uint64_t *t = <uint64_t *>&total
    memset(&total, 0, sizeof(mcstat_t))
    for i in range(MAX_WORKERS):
        f = <uint64_t *>&_wstat_at(i).mc
        for j in range(sizeof(mcstat_t) // 8):
            t[j] += f[j]
    return total


cdef void mc_stats_reset() noexcept nogil:
    """stats reset: every worker's memcached counters (a reset racing another
    worker's increment may lose that one count)."""
    cdef int i
    for i in range(MAX_WORKERS):
        memset(&_wstat_at(i).mc, 0, sizeof(mcstat_t))


cdef inline int _b64_val(char c) noexcept nogil:
    if c >= 65 and c <= 90: return c - 65
    if c >= 97 and c <= 122: return c - 71
    if c >= 48 and c <= 57: return c + 4
    if c == 43: return 62
    if c == 47: return 63
    return -1


cdef void b64_encode_out(wbuf_t *w, const char *s, uint64_t n) noexcept nogil:
    """Standard padded base64 of s."""
    cdef const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    cdef char q[4]
    cdef uint64_t i = 0
    cdef uint32_t v
    while i < n:
        v = (<uint8_t>s[i]) << 16
        if i + 1 < n:
            v |= (<uint8_t>s[i + 1]) << 8
        if i + 2 < n:
            v |= <uint8_t>s[i + 2]
        q[0] = abc[(v >> 18) & 63]
        q[1] = abc[(v >> 12) & 63]
        q[2] = abc[(v >> 6) & 63] if i + 1 < n else 61
        q[3] = abc[v & 63] if i + 2 < n else 61
        wb_put(w, q, 4)
        i += 3


cdef uint64_t b64_decode(const char *s, uint64_t n, char *dst, uint64_t cap) noexcept nogil:
    """Standard base64 (padded) into dst; bytes written, 0 when invalid or longer than cap."""
    cdef uint64_t i, o = 0
    cdef int a, b, c, d
    if n == 0 or n % 4:
        return 0
    for i in range(0, n, 4):
        a = _b64_val(s[i])
        b = _b64_val(s[i + 1])
        c = -2 if s[i + 2] == 61 and i + 4 == n else _b64_val(s[i + 2])
        d = -2 if s[i + 3] == 61 and i + 4 == n else _b64_val(s[i + 3])
        if a < 0 or b < 0 or c == -1 or d == -1 or (c == -2 and d != -2) or o + 3 > cap:
            return 0
        dst[o] = <char>((a << 2) | (b >> 4))
        o += 1
        if c >= 0:
            dst[o] = <char>(((b & 15) << 4) | (c >> 2))
            o += 1
            if d >= 0:
                dst[o] = <char>(((c & 3) << 6) | d)
                o += 1
    return o


cdef wstat_t *_wstat_at(int i) noexcept nogil:
    return (<wstat_t *>P(g_hdr.wstats_off)) + i


def mc_general_stats():
    cdef int i
    cdef uint64_t hits = 0, misses = 0, evicted = 0, conns = 0, threads = 0
    cdef wstat_t *ws
    cdef int64_t now = cc_now_ms()
    import cachecyt
    for i in range(MAX_WORKERS):
        ws = _wstat_at(i)
        hits += ws.hits
        misses += ws.misses
        evicted += ws.evicted
        conns += ws.connections
        if ws.pid:
            threads += 1
    cdef dict s = mc_counters()
    return [
        ('pid', getpid()), ('uptime', (now - g_hdr.start_ms) // 1000), ('time', now // 1000),
        ('version', '1.6.0-cachecyt-' + cachecyt.__version__), ('pointer_size', 64),
        ('curr_connections', cc_atomic_add(&g_hdr.connected_clients, 0)),
        ('total_connections', conns), ('cmd_get', s['cmd_get']), ('cmd_set', s['cmd_set']),
        ('cmd_flush', s['cmd_flush']), ('cmd_touch', s['cmd_touch']), ('cmd_meta', s['cmd_meta']),
        ('get_hits', hits), ('get_misses', misses),
        ('delete_misses', s['delete_misses']), ('delete_hits', s['delete_hits']),
        ('incr_misses', s['incr_misses']), ('incr_hits', s['incr_hits']),
        ('decr_misses', s['decr_misses']), ('decr_hits', s['decr_hits']),
        ('cas_misses', s['cas_misses']), ('cas_hits', s['cas_hits']), ('cas_badval', s['cas_badval']),
        ('touch_hits', s['touch_hits']), ('touch_misses', s['touch_misses']),
        ('store_too_large', s['store_too_large']), ('store_no_memory', s['store_no_memory']),
        ('limit_maxbytes', g_hdr.maxmemory or g_seg_size), ('threads', threads),
        ('bytes', g_hdr.used_memory), ('curr_items', db_size(g_mc_db)), ('evictions', evicted),
    ]


def mc_settings_stats():
    rows = [('maxbytes', g_hdr.maxmemory or g_seg_size), ('maxconns', g_hdr.maxclients),
            ('evictions', 'off' if g_hdr.policy == POL_NOEVICTION else 'on'),
            ('cas_enabled', 'yes'), ('item_size_max', g_mc_item_max)]
    rows.extend(g_mc_settings.items())
    return rows


def mc_items_stats(uint32_t db):
    n = db_size(db)
    if not n:
        return []
    return [('items:1:number', n), ('items:1:evicted', 0), ('items:1:outofmemory', 0)]


def mc_slabs_stats():
    rows = []
    for i, size in enumerate(class_sizes()):
        rows.append((f'{i + 1}:chunk_size', size))
    rows.append(('active_slabs', len(rows)))
    rows.append(('total_malloced', g_hdr.used_memory))
    return rows
