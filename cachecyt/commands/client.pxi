# Client: one connection's state (parser, reply buffer, db, protocol version)
# and the request loop. feed() runs every complete request of the bytes read and
# returns all replies at once; the transport glue (workers/connection.py) writes
# them with one transport.write. Commands that need the event loop or other
# workers (QUIT, SHUTDOWN, CLIENT KILL) leave an entry in `actions`.

cdef enum:
    CL_CLOSE_AFTER_REPLY = 1
    CL_CLOSE_ASAP = 2

import logging, traceback
_log = logging.getLogger("cachecyt.worker")


cdef class Client:
    cdef rparser_t rp
    cdef wbuf_t out
    cdef const char **argv                   # arguments of the request being run
    cdef uint64_t *argl
    cdef uint64_t argc
    cdef uint64_t argcap
    cdef int64_t now_ms                       # clock of the request being run
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

    def __cinit__(self, *args, **kwargs):
        rp_init(&self.rp)
        wb_init(&self.out)
        self.argcap = 16
        self.cslot = NULL
        self.argv = <const char **>malloc(sizeof(char *) * self.argcap)
        self.argl = <uint64_t *>malloc(8 * self.argcap)
        self.actions = []
        self.db = 0
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

    def data_received(self, data):
        cdef bytes out = self.feed(data)
        if out:
            self.transport.write(out)
        if self.actions:
            self.run_actions()
        if self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP):
            self.transport.close()

    def run_actions(self):
        """Overridden by the transport glue: act on self.actions."""
        self.actions.clear()

    cpdef bytes feed(self, data):
        """Run every complete request in the bytes so far; return the replies."""
        cdef const unsigned char[:] view
        cdef int r
        cdef bytes result
        if isinstance(data, bytes):
            rp_feed(&self.rp, <bytes>data, len(<bytes>data))
        else:
            view = data
            if view.shape[0]:
                rp_feed(&self.rp, <const char *>&view[0], view.shape[0])
        self.net_in += len(data)
        while not (self.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP)):
            r = rp_next(&self.rp)
            if r == 0:
                if rp_pending(&self.rp) > self.qbuf_limit:
                    query_buffer_exceeded(self)
                    self.flags |= CL_CLOSE_ASAP
                break
            if r < 0:
                wb_put(&self.out, "-ERR ", 5)          # Redis: "-ERR Protocol error: ..."
                wb_cstr(&self.out, self.rp.err)
                wb_put(&self.out, "\r\n", 2)
                self.flags |= CL_CLOSE_AFTER_REPLY
                break
            self._load_args()
            self.execute()
        rp_compact(&self.rp)
        result = self.out.p[:self.out.len] if self.out.len else b""
        self.net_out += self.out.len
        self.out.len = 0
        if self.out.cap > 1024 * 1024:
            free(self.out.p)
            self._reset_out()
        return result

    cdef void _reset_out(self) noexcept:
        cdef int resp = self.out.resp
        self.out.p = <char *>malloc(16384)
        self.out.cap = 16384
        self.out.len = 0
        self.out.resp = resp

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

    cdef int execute(self) except -1:
        cdef int idx = cmd_lookup(self.argv[0], self.argl[0])
        cdef cmd_t *cmd
        cdef int64_t t0
        cdef uint64_t before = self.out.len
        cdef cmdstat_t *cs
        self.now_ms = cc_now_ms()
        self.last_ms = self.now_ms
        self.commands += 1
        my_wstat().commands += 1
        cslot_touch(self.cslot, self.now_ms, idx)
        if idx < 0:
            reply_unknown_command(self)
            count_error_reply(self, before)
            return 0
        cmd = &g_cmds[idx]
        cs = cmdstat_at(g_worker, idx)
        if (cmd.arity > 0 and <int64_t>self.argc != cmd.arity) or <int64_t>self.argc < -cmd.arity:
            reply_arity(self, cmd.name)
            cs.rejected += 1
            count_error_reply(self, before)
            return 0
        if cmd.flags & CF_DENYOOM and g_hdr.maxmemory:
            if evict_to_limit(self.now_ms) < 0:
                wb_error(&self.out, E_OOM)
                cs.rejected += 1
                count_error_reply(self, before)
                return 0
        t0 = cc_mono_us()
        try:
            if cmd.cf != NULL:
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
        cs.calls += 1
        cs.usec += <uint64_t>(cc_mono_us() - t0)
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
        self.execute()
        result = self.out.p[start:self.out.len]
        self.out.len = start
        return result
