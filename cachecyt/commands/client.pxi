# Client: one connection's state (parser, reply buffer, db, protocol version)
# and the request loop. The transport reads straight into the parser's buffer
# (asyncio's BufferedProtocol: get_buffer, then buffer_updated); every complete
# request then runs and all replies leave in one transport.write. feed() does
# the same from bytes and returns the replies (tests, tools). Commands that need
# the event loop or other workers (QUIT, SHUTDOWN, CLIENT KILL) leave an entry
# in `actions`.
#
# Lookahead: a read often holds many requests (pipelining). Up to LOOKAHEAD
# short multibulk requests are parsed first, the home slots then the items of
# their keys (argument 1) are prefetched, and then they run in order: the cache
# misses of a batch's key lookups overlap instead of coming one after another.
# The prefetch reads shard tables without their locks: its addresses are hints
# (checked to lie inside the segment), never used to read data. Requests parsed
# ahead have left the parser: a command that must stop the loop without closing
# the connection (blocking, CLIENT PAUSE) has to stop the lookahead or put them
# back (rp.pos to the start of the first one not run; the buffer is compacted
# only at the end of _run). Consecutive requests parsed ahead whose keys share
# a shard run under one hold of its lock (commands/batchhold.pxi).
#
# Clocks: one wall-clock read per batch of requests (now_ms, for expiry and
# idle time) and one monotonic read per command (its time in cmdstats runs from
# the end of the command before it).

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND

cdef extern from "<sys/socket.h>" nogil:
    Py_ssize_t send(int fd, const void *buf, size_t n, int flags)
    enum:
        MSG_NOSIGNAL
        MSG_DONTWAIT

cdef enum:                        # Client.flags: every bit is defined here
    CL_CLOSE_AFTER_REPLY = 1
    CL_CLOSE_ASAP = 2
    CL_BLOCKED = 4                # waiting in a blocking command (shm/blocking.pxi)
    CL_MULTI = 8                  # inside MULTI: requests are queued (commands/multi.pxi)
    CL_EXEC = 16                  # running a transaction: blocking commands do not block
    CL_HANDED = 32                # served by a push's hand-over: its pops are logged already
    CL_UNCHANGED = 64             # the write command changed nothing: not dirty, no record (shm/wal.pxi)
    CL_PUBSUB = 0x1000            # subscribed to something (commands/pubsub.pxi)
    CL_PS_PENDING = 0x2000        # frames wait in its buffer for ps_flush_pending
    CL_REPLY_OFF = 0x4000         # CLIENT REPLY OFF: replies are dropped
    CL_REPLY_SKIP = 0x8000        # CLIENT REPLY SKIP: the running command's reply is dropped
    CL_REPLY_SKIP_NEXT = 0x10000  # CLIENT REPLY SKIP was the last command
    CL_REPLY_MODES = CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT
    CL_PAUSED = 0x20000           # held by CLIENT PAUSE (commands/pause.pxi)
    CL_HELD = CL_BLOCKED | CL_PAUSED   # runs no request until released
    READ_ROOM = 16384             # free bytes offered to each socket read, at least
    LOOKAHEAD = 16                # requests parsed ahead of running them
    QARGS = 4                     # arguments of a request that may be parsed ahead


cdef extern from *:
    void cc_prefetch "__builtin_prefetch"(const void *p) nogil

import logging, traceback
_log = logging.getLogger("cachecyt.worker")

# flags Python code sets on a Client (security/throttle.py holds a connection)
CLIENT_BLOCKED = CL_BLOCKED
CLIENT_EXEC = CL_EXEC
CLIENT_REPLY_OFF = CL_REPLY_OFF
CLIENT_REPLY_SKIP = CL_REPLY_SKIP
CLIENT_REPLY_SKIP_NEXT = CL_REPLY_SKIP_NEXT


cdef class Client:
    cdef rparser_t rp
    cdef wbuf_t out
    cdef const char **argv                   # arguments of the request being run
    cdef uint64_t *argl
    cdef uint64_t argc
    cdef uint64_t argcap
    cdef int64_t now_ms                       # wall clock of the batch being run, ms
    cdef int64_t t_mark                       # monotonic µs at the end of the last command
    cdef Py_ssize_t read_room                 # free bytes of the read buffer last handed out
    cdef uint64_t qb_peak                     # most bytes buffered since the last client_buffers_cron
    cdef uint64_t q_off[LOOKAHEAD * QARGS]     # requests parsed ahead: argument offsets in rp.buf
    cdef uint64_t q_len[LOOKAHEAD * QARGS]
    cdef uint64_t q_argc[LOOKAHEAD]
    cdef uint64_t q_start[LOOKAHEAD + 1]      # where each request parsed ahead starts in rp.buf
    cdef slot_t *q_slot[LOOKAHEAD]
    cdef uint32_t q_shard[LOOKAHEAD]          # shard of each one's key (commands/batchhold.pxi)
    cdef public int db
    cdef public uint64_t id
    cdef public object name                   # bytes or None
    cdef public int flags
    cdef public object transport
    cdef public list actions
    cdef public int64_t created_ms
    cdef public int64_t last_ms               # last request, ms
    cdef public str addr
    cdef public str laddr
    cdef public object lib_name
    cdef public object lib_ver
    cdef public str last_cmd
    cdef public uint64_t qbuf_limit
    cdef public bint no_evict
    cdef public int64_t net_in
    cdef public int64_t net_out
    cdef public uint64_t commands
    cdef cslot_t *cslot                       # row in the shared client table (shm/clients.pxi)
    cdef public object blocked_args           # the blocking request waiting (list of bytes), or None
    cdef public object paused_args            # the request CLIENT PAUSE holds (list of bytes), or None
    cdef public uint64_t block_seq            # its place in the node's wait order, 0 = not registered
    cdef object tx                            # TxState (commands/multi.pxi) or None
    cdef public uint64_t acl_ok               # == g_hdr.acl_version: may run anything, skip the check (shm/acl.pxi)
    cdef public object user                   # security.acl.User it is authenticated as; None = not yet bound
    cdef public bint authenticated            # AUTH done, or the default user needed none at connect
    cdef bint clock_frozen                    # a script's client: now_ms stays at the script's start
    cdef public uint64_t wal_lsn              # LSN of this client's last effect record (shm/wal.pxi)
    cdef public object wal_held               # replies waiting for that record to be durable, or None
    cdef public int tenant                    # tenant slot, -1 = none, TN_SYSTEM = replay (shm/tenants.pxi)
    cdef public object tn_prefix              # bytes: the tenant's hidden channel prefix, or None
    cdef public list tn_keep                  # rewritten arguments of the running command
    cdef public bint tn_counted               # counted in its tenant's connections (not a script's client)
    cdef public int wfd                       # socket the replies may be sent on directly, -1 = none (_send_direct)

    def __cinit__(self, *args, **kwargs):
        rp_init(&self.rp)
        wb_init(&self.out)
        self.argcap = 16
        self.cslot = NULL
        self.argv = <const char **>malloc(sizeof(char *) * self.argcap)
        self.argl = <uint64_t *>malloc(8 * self.argcap)
        self.actions = []
        self.db = 0
        self.tenant = -1
        self.wfd = -1
        self.name = None
        self.addr = "?"
        self.laddr = "?"
        self.last_cmd = "NULL"
        self.qbuf_limit = 1024 * 1024 * 1024
        self.created_ms = cc_now_ms()
        self.last_ms = self.created_ms
        if g_hdr != NULL:
            self.id = cc_atomic_add(&g_hdr.next_client_id, 1)
            self.rp.max_bulk = g_hdr.proto_max_bulk_len or self.rp.max_bulk

    def __dealloc__(self):
        rp_free(&self.rp)
        free(self.out.p)
        free(self.argv)
        free(self.argl)

    @property
    def resp(self):
        return self.out.resp

    @resp.setter
    def resp(self, int v):
        self.out.resp = v

    @property
    def query_buffer(self):
        return self.rp.len - self.rp.pos

    @property
    def closing(self):
        return bool(self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP))

    def close_after_reply(self):
        self.flags |= CL_CLOSE_AFTER_REPLY

    def close_now(self):
        """Drop the connection without a reply (CLIENT KILL, idle timeout)."""
        self.flags |= CL_CLOSE_ASAP
        if self.transport is not None:
            self.transport.close()

    # ---- the request loop -------------------------------------------------------

    def get_buffer(self, Py_ssize_t sizehint):
        """Where the transport reads the next bytes: the client itself, whose
        buffer (__getbuffer__) is the free end of the parser's buffer."""
        return self

    def __getbuffer__(self, Py_buffer *view, int flags):
        """The free end of the read buffer, writable: a socket read lands in the
        parser's buffer without an intermediate bytes object. Valid until
        buffer_updated; never a view of requests already buffered."""
        self._reserve_read()
        self.read_room = <Py_ssize_t>(self.rp.cap - self.rp.len)
        view.buf = self.rp.buf + self.rp.len
        view.obj = self
        view.len = self.read_room
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = <char *>"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = &self.read_room
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def buffer_updated(self, Py_ssize_t nbytes):
        """nbytes were read into the space get_buffer gave: run what is complete."""
        self.rp.len += <uint64_t>nbytes
        if self.rp.len > self.qb_peak:
            self.qb_peak = self.rp.len
        self.net_in += nbytes
        wstat_io(nbytes, 0)                        # shm/stats.pxi
        self._replies_out(True)

    def data_received(self, data):
        self._take_input(data)
        self._replies_out(False)

    cdef int _replies_out(self, bint from_read=False) except -1:
        """Run the complete requests, write the replies, act on what they asked.
        from_read: called by the transport's read of this socket, which is then
        open for certain (the replies may go straight to it: _send_direct)."""
        if self.transport is None:            # refused or closed: nothing to answer
            return 0
        self._run_batch()
        if self.out.len:
            if self.wal_held is not None or persist_must_hold(self):
                persist_hold(self, self._out_bytes())   # appendfsync always (shm/wal.pxi)
            elif not (from_read and self._send_direct()):
                self.transport.write(self._out_bytes())
        if self.actions:
            self.run_actions()
        if g_ps_pending:
            ps_after_batch()                  # frames for other subscribers (commands/pubsub.pxi)
        if self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP) and self.wal_held is None:
            self.transport.close()
        return 0

    def run_actions(self):
        """Overridden by the transport glue: act on self.actions."""
        self.actions.clear()

    cdef bint _send_direct(self) except -1:
        """Send the replies with one send() on the socket, without a bytes object
        or the transport's write path, when nothing the transport holds must go
        before them. True when all left; after a partial send the rest stays in
        the reply buffer (the transport writes it and waits for the socket). A
        TLS connection has no wfd: its bytes must go through the transport."""
        cdef Py_ssize_t n
        if self.wfd < 0 or self.flags & CL_CLOSE_ASAP or self.transport.get_write_buffer_size():
            return False
        n = send(self.wfd, self.out.p, self.out.len, MSG_NOSIGNAL | MSG_DONTWAIT)
        if n <= 0:
            return False                      # EAGAIN, or an error the transport reports
        self.net_out += n
        wstat_io(0, n)
        if <uint64_t>n < self.out.len:
            memmove(self.out.p, self.out.p + n, self.out.len - n)
            self.out.len -= n
            return False
        self.out.len = 0
        if self.out.cap > 1024 * 1024:
            free(self.out.p)
            self._reset_out()
        return True

    cpdef bytes feed(self, data):
        """Run every complete request in the bytes so far; return the replies."""
        self._take_input(data)
        return self._run()

    cdef int _take_input(self, data) except -1:
        cdef const unsigned char[:] view
        if isinstance(data, bytes):
            rp_feed(&self.rp, <bytes>data, len(<bytes>data))
            self.net_in += len(<bytes>data)
            wstat_io(len(<bytes>data), 0)
        else:
            view = data
            if view.shape[0]:
                rp_feed(&self.rp, <const char *>&view[0], view.shape[0])
            self.net_in += view.shape[0]
            wstat_io(view.shape[0], 0)
        return 0

    cdef int _reserve_read(self) except -1:
        """At least READ_ROOM free bytes after the buffered input."""
        cdef uint64_t cap = self.rp.cap
        cdef char *nb
        if cap - self.rp.len >= READ_ROOM:
            return 0
        cap = cap or READ_ROOM                    # 0: freed while idle (client_buffers_cron)
        while cap - self.rp.len < READ_ROOM:
            cap *= 2
        nb = <char *>realloc(self.rp.buf, cap)
        if nb == NULL:
            raise MemoryError()
        self.rp.buf = nb
        self.rp.cap = cap
        return 0

    cdef inline void _clock(self) noexcept:
        if not self.clock_frozen:
            self.now_ms = cc_now_ms()
        self.last_ms = self.now_ms
        self.t_mark = cc_mono_us()

    def freeze_clock(self, bint frozen):
        """Scripting: from now until unfrozen, every command of this client sees
        this moment as the time (expiry inside a script, as Redis)."""
        if frozen:
            self.now_ms = cc_now_ms()
        self.clock_frozen = frozen

    cdef bytes _run(self):
        """Run every complete request buffered; return the replies."""
        self._run_batch()
        return self._out_bytes()

    cdef int _run_batch(self) except -1:
        """Run every complete request buffered, leaving the replies in self.out.
        A client blocked in BLPOP & co. runs nothing until it is served or times
        out: the requests parsed ahead of the blocking one go back to the parser."""
        cdef int r
        cdef uint64_t j, k
        self._clock()
        batch_enter()                                 # see shm/script.pxi
        if self.flags & CL_HELD and rp_pending(&self.rp) > self.qbuf_limit:
            query_buffer_exceeded(self)               # what it pipelines while blocked counts too
            self.flags |= CL_CLOSE_ASAP
        while not (self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP | CL_HELD)):
            k = 0
            while True:
                self.q_start[k] = self.rp.pos
                r = rp_next(&self.rp)
                if r != 1 or self.rp.inline_args or self.rp.argc > QARGS or k == LOOKAHEAD:
                    break
                self._queue(k)
                k += 1
            if k > 1:
                self._prefetch(k)
                try:
                    self._run_queued(k)
                finally:
                    bh_release(self)                  # a held run ends with the lookahead
            elif k == 1:
                self._run_queued(k)
            if self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP | CL_HELD):
                break
            if r == 1:                               # a request not parsed ahead
                self._load_args()
                self._execute_once()
            elif r == 0:
                if rp_pending(&self.rp) > self.qbuf_limit:
                    query_buffer_exceeded(self)
                    self.flags |= CL_CLOSE_ASAP
                break
            else:
                wb_error(&self.out, self.rp.err)      # "ERR Protocol error: ..."
                self.flags |= CL_CLOSE_AFTER_REPLY
                break
        batch_leave()
        rp_compact(&self.rp)
        if self.cslot != NULL:
            self.cslot.qbuf_cap = <uint32_t>min(self.rp.cap, 0xffffffff)
        if self.out.oom:
            # a reply could not be buffered (out of process memory): its bytes are
            # incomplete, so nothing more may be sent on this connection
            _log.warning("client id=%d addr=%s closed: its reply did not fit in memory",
                         self.id, self.addr)
            self.out.len = 0
            self.out.oom = False
            self.flags |= CL_CLOSE_ASAP
            free(self.out.p)
            self._reset_out()
        return 0

    cdef int _run_queued(self, uint64_t k) except -1:
        """Run the k requests parsed ahead; consecutive ones on one shard run
        held (commands/batchhold.pxi)."""
        cdef uint64_t j
        for j in range(k):
            if self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP):
                break
            self._load_queued(j)
            if k > 1:
                bh_before(self, j, k)
            self._execute_once()
            if self.flags & CL_HELD:
                self._put_back(self.q_start[j + 1])
                break
        return 0

    cdef bytes _out_bytes(self):
        """The replies in self.out as bytes, counted as sent; self.out is emptied."""
        cdef bytes result
        if not self.out.len:
            return b""
        result = PyBytes_FromStringAndSize(self.out.p, self.out.len)
        self.net_out += self.out.len
        wstat_io(0, self.out.len)
        self.out.len = 0
        if self.out.cap > 1024 * 1024:
            free(self.out.p)
            self._reset_out()
        return result

    cdef void _put_back(self, uint64_t pos) noexcept:
        """Unparse everything from pos on (requests parsed ahead, a partial frame):
        the parser reads it again when the client runs requests again."""
        self.rp.pos = pos
        self.rp.kind = RP_IDLE
        self.rp.argc = 0
        self.rp.bulklen = -1
        self.rp.inline_args = False

    # ---- blocking commands (shm/blocking.pxi) ----------------------------------------

    def on_blocked(self, int64_t timeout_ms):
        """The transport glue arms the timeout (0 = none)."""

    def on_unblocked(self):
        """The transport glue disarms the timeout."""

    def retry_blocked(self):
        """A key this client waits on was pushed to: run the command again (its
        checks passed and it was counted as a request when it first ran). When
        served, its reply and the requests buffered behind it go out."""
        cdef uint64_t before = self.out.len
        if not self.flags & CL_BLOCKED or self.transport is None:
            return
        self._clock()
        self._load_list(self.blocked_args)
        batch_enter()
        script_wait_clear()
        if self.db >= <int>g_hdr.tenant_base:
            tenant_charge_retry(self)                 # shm/tenants.pxi
        try:
            self._run_loaded(cmd_lookup(self.argv[0], self.argl[0]), before, True)
        finally:
            batch_leave()
        if self.out.len > before:
            self._unblock()

    def block_timeout(self):
        """The timeout passed: answer null (or the reply a push left just before)
        and go on with the buffered requests."""
        if not self.flags & CL_BLOCKED:
            return
        self._clock()
        if not block_take_handed(self):
            wb_null_array(&self.out)
        self._unblock()

    def unblock_request(self, bint error):
        """CLIENT UNBLOCK: end the wait as a timeout, or with an UNBLOCKED
        error. False when the client was not blocked."""
        if not self.flags & CL_BLOCKED:
            return False
        self._clock()
        if block_take_handed(self):
            pass                        # a push served it first: that reply goes out
        elif error:
            wb_error(&self.out, "UNBLOCKED client unblocked via CLIENT UNBLOCK")
        else:
            wb_null_array(&self.out)
        self._unblock()
        return True

    def unblock_closed(self):
        """The connection closed while blocked: leave the wait queue."""
        forget_waiter(self)
        block_leave(self)
        pause_forget(self)                  # commands/pause.pxi
        self.flags &= ~CL_BLOCKED
        self.blocked_args = None

    cdef int _unblock(self) except -1:
        block_leave(self)
        self.flags &= ~(CL_BLOCKED | CL_HANDED)
        self.blocked_args = None
        self.on_unblocked()
        self._replies_out()
        return 0

    cdef int _load_list(self, list args) except -1:
        cdef uint64_t i, n = len(args)
        if n > self.argcap:
            self.argcap = n
            self.argv = <const char **>realloc(self.argv, sizeof(char *) * n)
            self.argl = <uint64_t *>realloc(self.argl, 8 * n)
            if self.argv == NULL or self.argl == NULL:
                raise MemoryError()
        for i in range(n):
            self.argv[i] = <bytes>args[i]
            self.argl[i] = len(<bytes>args[i])
        self.argc = n
        return 0

    cdef void _reset_out(self) noexcept:
        cdef int resp = self.out.resp
        self.out.p = <char *>malloc(16384)
        self.out.cap = 16384
        self.out.len = 0
        self.out.resp = resp

    cdef inline void _queue(self, uint64_t k) noexcept:
        """Keep the arguments of the request just parsed as request k of the lookahead."""
        cdef uint64_t i
        self.q_argc[k] = self.rp.argc
        for i in range(self.rp.argc):
            self.q_off[k * QARGS + i] = self.rp.argoff[i]
            self.q_len[k * QARGS + i] = self.rp.arglen[i]

    cdef inline void _load_queued(self, uint64_t k) noexcept:
        cdef uint64_t i
        self.argc = self.q_argc[k]
        for i in range(self.argc):
            self.argv[i] = self.rp.buf + self.q_off[k * QARGS + i]
            self.argl[i] = self.q_len[k * QARGS + i]

    cdef void _prefetch(self, uint64_t k) noexcept:
        """Prefetch the home slots, then the items, of the keys of k requests."""
        cdef uint64_t j, h
        cdef slot_t *sl
        if g_hdr == NULL:
            return
        for j in range(k):
            self.q_slot[j] = NULL
            self.q_shard[j] = BH_NO_SHARD
            if self.q_argc[j] >= 2:
                h = cc_hash(self.rp.buf + self.q_off[j * QARGS + 1], self.q_len[j * QARGS + 1])
                self.q_shard[j] = shard_of(h)
                self.q_slot[j] = home_slot_hint(h)
                if self.q_slot[j] != NULL:
                    cc_prefetch(self.q_slot[j])
        for j in range(k):
            sl = self.q_slot[j]
            if sl != NULL and sl.item and sl.item + 128 <= g_seg_size:
                cc_prefetch(IT(sl.item))
                cc_prefetch(<char *>IT(sl.item) + 64)

    cdef int _load_args(self) except -1:
        cdef uint64_t i
        cdef const char *base = self.rp.scratch if self.rp.inline_args else self.rp.buf
        if self.rp.argc > self.argcap:
            self.argcap = self.rp.argc
            self.argv = <const char **>realloc(self.argv, sizeof(char *) * self.argcap)
            self.argl = <uint64_t *>realloc(self.argl, 8 * self.argcap)
            if self.argv == NULL or self.argl == NULL:
                raise MemoryError()
        self.argc = self.rp.argc
        for i in range(self.argc):
            self.argv[i] = base + self.rp.argoff[i]
            self.argl[i] = self.rp.arglen[i]
        return 0

    cdef inline int _execute_once(self) except -1:
        """Run the loaded request under the connection's CLIENT REPLY mode."""
        cdef uint64_t before = self.out.len
        self.execute()
        if self.flags & CL_REPLY_MODES:
            reply_mode_after(self, before)
        return 0

    cdef int execute(self) except -1:
        """Check and run the loaded request. The caller has read the clocks (_clock)."""
        cdef int idx = cmd_lookup(self.argv[0], self.argl[0])
        cdef cmd_t *cmd
        cdef uint64_t before = self.out.len
        cdef cmdstat_t *cs
        self.commands += 1
        my_wstat().commands += 1
        cslot_touch(self.cslot, self.now_ms, idx)
        if self.flags & (CL_MULTI | CL_EXEC) == CL_MULTI and tx_intercept(self, idx, before):
            return 0
        if idx < 0:
            reply_unknown_command(self)
            count_error_reply(self, before)
            return 0
        cmd = &g_cmds[idx]
        cs = cmdstat_at(g_worker, idx)
        if (cmd.arity > 0 and <int64_t>self.argc != cmd.arity) or <int64_t>self.argc < -cmd.arity:
            if cmd.cf == cmd_exec:
                exec_abort_arity(self)           # commands/multi.pxi
            else:
                reply_arity(self, cmd.name)
            cs.rejected += 1
            count_error_reply(self, before)
            return 0
        if (self.acl_ok != g_hdr.acl_version or cmd.flags & CF_AUDIT) and acl_denied(self, idx):
            cs.rejected += 1
            count_error_reply(self, before)
            return 0
        if self.db >= <int>g_hdr.tenant_base:          # a tenant's db (shm/tenants.pxi)
            idx = tenant_gate(self, idx)
            if idx < 0:
                tenant_answered(self, cs, before)
                return 0
            cmd = &g_cmds[idx]
            cs = cmdstat_at(g_worker, idx)
        if cc_atomic_load(&g_hdr.script_owner) and script_gate(self, idx):   # shm/script.pxi
            return self._refused_late(cs, before)
        if g_hdr.pause_state and not self.flags & CL_EXEC and pause_holds(self, idx):
            return self._held_late()                   # commands/pause.pxi
        if cmd.flags & CF_DENYOOM and g_hdr.maxmemory and not self.flags & CL_EXEC:
            if evict_to_limit(self.now_ms) < 0:
                wb_error(&self.out, E_OOM)
                return self._refused_late(cs, before)
        if self.flags & CL_PUBSUB and ps_refuse(self, idx):   # RESP2 subscriber mode
            return self._refused_late(cs, before)
        return self._run_loaded(idx, before, False)

    cdef int _refused_late(self, cmdstat_t *cs, uint64_t before) except -1:
        """A check after the tenant gate refused the command: count it, and end
        what the gate began (the tenant's charge and key reservation)."""
        cs.rejected += 1
        count_error_reply(self, before)
        if tn_charge != -1:
            tenant_done(self, before)
        return 0

    cdef int _held_late(self) except -1:
        """CLIENT PAUSE held the command after the tenant gate: undo the gate's
        charge (it is charged again when the command runs)."""
        if tn_charge != -1:
            tenant_done(self, self.out.len)
        return 0

    cdef int _run_loaded(self, int idx, uint64_t before, bint retry) except -1:
        """Run the handler of the loaded request, every check passed: persistence
        around it, then its keyspace events and statistics. execute and the retry
        of a blocked command share it. As Redis, a blocking command counts as a
        call when it first runs; a retry adds only its time (and an error)."""
        cdef cmd_t *cmd = &g_cmds[idx]
        cdef cmdstat_t *cs = cmdstat_at(g_worker, idx)
        cdef int64_t t1
        cdef int held = 0
        if cmd.flags & CF_WRITE and g_pp != NULL:
            held = persist_begin(self, idx)           # shm/wal.pxi
        if cmd.flags & CF_MONITOR_FIRST and g_hdr.monitors and not retry:
            monitor_feed(self)
        try:
            if held == 2:
                pass                                  # refused: the WAL cannot be written
            elif cmd.cf != NULL:
                cmd.cf(self)
            else:
                value = g_py_handlers[idx](self, self.args())
                if value is not NO_REPLY:
                    encode_value(&self.out, value)
        except CommandError as e:
            self.out.len = before
            msg = str(e).replace('\r', ' ').replace('\n', ' ').encode()
            wb_put(&self.out, "-", 1)
            wb_put(&self.out, msg, len(msg))
            wb_put(&self.out, "\r\n", 2)
        except MemoryError:
            self.out.len = before
            wb_error(&self.out, E_NOMEM)
        except Exception:
            _log.error("internal error in %s, closing the connection:\n%s",
                       cmd.name.decode(), traceback.format_exc())
            self.out.len = before
            wb_error(&self.out, "ERR internal error")
            self.flags |= CL_CLOSE_AFTER_REPLY
        if cmd.flags & CF_WRITE and g_pp != NULL:
            persist_end(self, idx, before, held)
        if g_nparts:
            snap_flush_parts()                        # shm/snapshot.pxi
        if g_nk_len:
            nk_flush()                        # keyspace events of the command (commands/notify.pxi)
        if tn_charge != -1:
            tenant_done(self, before)
        t1 = cc_mono_us()
        cs.usec += <uint64_t>(t1 - self.t_mark)
        if not retry:
            cs.calls += 1
            obs_record(self, idx, t1 - self.t_mark)     # shm/stats.pxi
        self.t_mark = t1
        cslot_set_db(self.cslot, self.db)
        if self.out.len > before and self.out.p[before] == 45:
            cs.failed += 1
            count_error_reply(self, before)
        return 0

    # ---- helpers for handlers -------------------------------------------------------

    cdef inline bytes arg(self, uint64_t i):
        return self.argv[i][:self.argl[i]]

    def args(self):
        """The current request's arguments as bytes (Python handlers)."""
        cdef uint64_t i
        return [self.argv[i][:self.argl[i]] for i in range(self.argc)]

    def reply(self, value):
        """Append a reply (Python handlers that answer more than once, e.g. push)."""
        encode_value(&self.out, value)

    def take_output(self):
        cdef bytes b = self.out.p[:self.out.len]
        self.out.len = 0
        return b

    def call(self, list args):
        """Run one request given as a list of bytes and return its reply bytes
        (tests; MULTI/EXEC and scripting build on it)."""
        cdef uint64_t i, n = len(args)
        cdef uint64_t start = self.out.len
        cdef bytes result
        if n == 0:
            return b""
        if n > self.argcap:
            self.argcap = n
            self.argv = <const char **>realloc(self.argv, sizeof(char *) * n)
            self.argl = <uint64_t *>realloc(self.argl, 8 * n)
        for i in range(n):
            if not isinstance(args[i], bytes):
                args[i] = str(args[i]).encode()
            self.argv[i] = <bytes>args[i]
            self.argl[i] = len(<bytes>args[i])
        self.argc = n
        self._clock()
        self.execute()
        result = self.out.p[start:self.out.len]
        self.out.len = start
        return result


cdef inline slot_t *home_slot_hint(uint64_t h) noexcept nogil:
    """Address of the home slot of hash h, read without the shard lock, or NULL.
    For prefetching only: a table replaced meanwhile may give a wrong slot, but
    never an address outside the segment."""
    cdef uint64_t toff = shard_at(shard_of(h)).table_off
    cdef uint64_t i, b, boff
    cdef table_t *t
    if toff == 0 or toff + sizeof(table_t) > g_seg_size:
        return NULL
    t = <table_t *>P(toff)
    i = home_of(h, t.mask)
    b = i >> BLOCK_SHIFT
    if toff + sizeof(table_t) + b * 8 > g_seg_size:
        return NULL
    boff = t.blocks[b]
    if boff == 0 or boff + (i & (BLOCK_SLOTS - 1)) * sizeof(slot_t) + sizeof(slot_t) > g_seg_size:
        return NULL
    return (<slot_t *>P(boff)) + (i & (BLOCK_SLOTS - 1))


cdef void reply_mode_after(Client c, uint64_t before) noexcept:
    """CLIENT REPLY OFF/SKIP: drop the reply of the command just run, except the
    confirmations of (P|S)(UN)SUBSCRIBE, which Redis 7 sends as pushes whatever
    the mode. A SKIP asked by this command applies to the next one."""
    if c.flags & (CL_REPLY_OFF | CL_REPLY_SKIP) and c.out.len > before:
        if not ps_is_subscription(cmd_lookup(c.argv[0], c.argl[0])):
            c.out.len = before
    c.flags &= ~CL_REPLY_SKIP
    if c.flags & CL_REPLY_SKIP_NEXT:
        c.flags = (c.flags & ~CL_REPLY_SKIP_NEXT) | CL_REPLY_SKIP


cdef enum:
    QB_RESIZE_THRESHOLD = 32768   # a read buffer above this may shrink to its recent peak
    QB_IDLE_FREE_MS = 2000        # an empty read buffer idle this long is freed


def client_buffers_cron(clients, int64_t now_ms):
    """The read buffers of this worker's clients, hz times a second (as Redis's
    clientsCronResizeQueryBuffer): free the buffer of a client idle over 2 s
    with nothing buffered; shrink one over 32 KiB of which the peak since the
    last pass used less than half, to that peak. The peak restarts from what is
    buffered now."""
    cdef Client c
    cdef uint64_t keep
    cdef char *nb
    for obj in clients:
        if not isinstance(obj, Client):
            continue
        c = <Client>obj
        if c.rp.len == 0 and now_ms - c.last_ms > QB_IDLE_FREE_MS:
            if c.rp.cap:
                free(c.rp.buf)
                c.rp.buf = NULL
                c.rp.cap = 0
        elif c.rp.cap > QB_RESIZE_THRESHOLD and c.qb_peak < c.rp.cap // 2:
            keep = max(c.rp.len, c.qb_peak, 1)
            nb = <char *>realloc(c.rp.buf, keep)
            if nb != NULL:
                c.rp.buf = nb
                c.rp.cap = keep
        c.qb_peak = c.rp.len
        if c.cslot != NULL:
            c.cslot.qbuf_cap = <uint32_t>min(c.rp.cap, 0xffffffff)
