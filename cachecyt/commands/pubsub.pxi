# Pub/sub commands and delivery to this worker's subscribers
# (docs/adr/0008-pubsub-across-workers.md). The node-wide registry and the
# message rings are in shm/pubsub.pxi; this file keeps which of this worker's
# clients listen to what, answers SUBSCRIBE & co., PUBLISH and PUBSUB, and
# turns messages into `message` / `pmessage` / `smessage` frames.
#
# Delivery: PUBLISH counts receivers in the registry, writes the frames of its
# own worker's subscribers into their reply buffers at once, and sends the
# message to every other worker with a subscriber (its ring + eventfd). That
# worker delivers in its loop (pubsub_drain). Frames for clients other than the
# one running are flushed together after the batch (ps_flush_pending), where a
# subscriber whose transport buffer passes client-output-buffer-limit pubsub is
# cut off, as Redis does. Order per publisher holds: one ring per receiving
# worker, written in publish order, read in order.
#
# Subscriber mode (RESP2): a client with a subscription may run only
# (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET (ps_refuse, from
# Client.execute); PING answers ["pong", msg]. RESP3 clients run anything and
# get messages as push frames.

# Client.flags bits of pub/sub (CL_PUBSUB, CL_PS_PENDING) are defined with the
# others in commands/client.pxi.


cdef class PsState:
    """What one client of this worker is subscribed to (insertion order, as
    UNSUBSCRIBE without arguments walks it)."""
    cdef list names                  # by kind (PS_CHANNEL, PS_SHARD, PS_PATTERN): {name: True}
    cdef int64_t soft_since          # ms since when over the soft output limit, 0 = under

    def __cinit__(self):
        self.names = [{}, {}, {}]
        self.soft_since = 0


cdef dict g_ps_state = {}            # Client -> PsState, clients with a subscription
cdef list g_ps_local = [{}, {}, {}]   # kind -> {name: {Client: None}} on this worker
cdef list g_ps_pending = []          # clients with frames to flush
cdef char *g_asm = NULL              # a message being read from the ring
cdef uint64_t g_asm_len = 0
cdef uint64_t g_asm_cap = 0
cdef uint64_t g_seen_dropped = 0     # msgring.dropped of this worker when last looked at
cdef object _pslog = logging.getLogger("cachecyt.worker")
cdef object g_ps_defer = None        # loop.call_soon of the worker, or None: flush at once
cdef bint g_ps_scheduled = False     # a deferred flush is queued on the loop


cdef inline PsState ps_state(Client c):
    cdef PsState st = g_ps_state.get(c)
    if st is None:
        st = PsState()
        g_ps_state[c] = st
    return st


cdef inline Py_ssize_t ps_subs_count(PsState st):
    """What Redis's replies count: channels + patterns."""
    return len((<dict>st.names[PS_CHANNEL])) + len((<dict>st.names[PS_PATTERN]))


cdef int ps_update_flag(Client c, PsState st) except -1:
    cslot_set_subs(c.cslot, <int32_t>len((<dict>st.names[PS_CHANNEL])),
                   <int32_t>len((<dict>st.names[PS_PATTERN])),
                   <int32_t>len((<dict>st.names[PS_SHARD])))
    if len((<dict>st.names[0])) + len((<dict>st.names[1])) + len((<dict>st.names[2])):
        c.flags |= CL_PUBSUB
    else:
        c.flags &= ~CL_PUBSUB
        g_ps_state.pop(c, None)
    return 0


# ---- subscribing -----------------------------------------------------------------

cdef int ps_add(Client c, PsState st, int kind, bytes name) except -1:
    """Subscribe c to name (no-op when it already is). 0, or -1 without memory."""
    cdef const char *p = name
    cdef uint64_t n = len(name)
    cdef int rc
    if name in (<dict>st.names[kind]):
        return 0
    with nogil:
        rc = ps_count(kind, p, n, g_worker, 1)
    if rc != ST_OK:
        return -1
    (<dict>st.names[kind])[name] = True
    subs = (<dict>g_ps_local[kind]).get(name)
    if subs is None:
        subs = {}
        (<dict>g_ps_local[kind])[name] = subs
    subs[c] = None
    return 0


cdef bint ps_remove(Client c, PsState st, int kind, bytes name) except -1:
    """Unsubscribe c from name: True when it was subscribed."""
    cdef const char *p = name
    cdef uint64_t n = len(name)
    if (<dict>st.names[kind]).pop(name, None) is None:
        return False
    with nogil:
        ps_count(kind, p, n, g_worker, -1)
    subs = (<dict>g_ps_local[kind]).get(name)
    if subs is not None:
        subs.pop(c, None)
        if not subs:
            del (<dict>g_ps_local[kind])[name]
    return True


cdef const char *PS_SUB_NAMES[3]
PS_SUB_NAMES[:] = [b"subscribe", b"ssubscribe", b"psubscribe"]
cdef const char *PS_UNSUB_NAMES[3]
PS_UNSUB_NAMES[:] = [b"unsubscribe", b"sunsubscribe", b"punsubscribe"]


cdef void ps_reply(Client c, const char *what, const char *name, uint64_t n, bint null_name,
                   int64_t count) noexcept:
    cdef uint64_t k
    wb_push(&c.out, 3)
    wb_bulk(&c.out, what, strlen(what))
    if null_name:
        wb_null(&c.out)
    else:
        k = tn_skip(c, name, n)              # a tenant's hidden prefix (shm/tenants.pxi)
        wb_bulk(&c.out, name + k, n - k)
    wb_int(&c.out, count)


cdef inline int64_t ps_reply_count(PsState st, int kind) noexcept:
    if kind == PS_SHARD:
        return len((<dict>st.names[PS_SHARD]))
    return ps_subs_count(st)


cdef int ps_subscribe(Client c, int kind) except -1:
    cdef PsState st = ps_state(c)
    cdef uint64_t i
    cdef bytes name
    for i in range(1, c.argc):
        name = c.arg(i)
        if ps_add(c, st, kind, name) < 0:
            wb_error(&c.out, E_NOMEM)
            continue
        ps_reply(c, PS_SUB_NAMES[kind], c.argv[i], c.argl[i], False, ps_reply_count(st, kind))
    ps_update_flag(c, st)
    return 0


cdef int ps_unsubscribe(Client c, int kind) except -1:
    cdef PsState st = g_ps_state.get(c)
    cdef uint64_t i
    cdef bytes name
    if st is None:
        st = PsState()
    if c.argc == 1:
        if not (<dict>st.names[kind]):
            ps_reply(c, PS_UNSUB_NAMES[kind], NULL, 0, True, ps_reply_count(st, kind))
        for name in list((<dict>st.names[kind])):
            ps_remove(c, st, kind, name)
            ps_reply(c, PS_UNSUB_NAMES[kind], name, len(name), False, ps_reply_count(st, kind))
    else:
        for i in range(1, c.argc):
            ps_remove(c, st, kind, c.arg(i))
            ps_reply(c, PS_UNSUB_NAMES[kind], c.argv[i], c.argl[i], False, ps_reply_count(st, kind))
    ps_update_flag(c, st)
    return 0


cdef int cmd_subscribe(Client c) except -1:
    return ps_subscribe(c, PS_CHANNEL)

cdef int cmd_ssubscribe(Client c) except -1:
    return ps_subscribe(c, PS_SHARD)

cdef int cmd_psubscribe(Client c) except -1:
    return ps_subscribe(c, PS_PATTERN)

cdef int cmd_unsubscribe(Client c) except -1:
    return ps_unsubscribe(c, PS_CHANNEL)

cdef int cmd_sunsubscribe(Client c) except -1:
    return ps_unsubscribe(c, PS_SHARD)

cdef int cmd_punsubscribe(Client c) except -1:
    return ps_unsubscribe(c, PS_PATTERN)


def pubsub_forget(Client c):
    """Drop every subscription of a client (connection closed, RESET); no reply."""
    cdef PsState st = g_ps_state.pop(c, None)
    cdef int kind
    if st is not None:
        for kind in range(3):
            for name in list((<dict>st.names[kind])):
                ps_remove(c, st, kind, name)
    c.flags &= ~CL_PUBSUB


def pubsub_clear_worker(int worker):
    """A worker slot (re)starts: its predecessor's subscribers are gone, and so
    are the messages left for them."""
    cdef msgring_t *r = msgring(worker)
    with nogil:
        cc_lock(ps_mutex())
        pubsub_clear_worker_locked(worker)
        cc_unlock(ps_mutex())
        cc_lock(ring_mutex(worker))
        r.head = r.tail
        r.partial = 0
        cc_unlock(ring_mutex(worker))
    global g_seen_dropped
    g_seen_dropped = cc_atomic_load(&r.dropped)


# ---- publishing ------------------------------------------------------------------

cdef int ps_catch_up() except -1:
    """Before a local delivery: what other workers published earlier and still
    waits in this worker's ring goes to local subscribers first, so a message
    never overtakes one published before it (on another worker) that caused it."""
    cdef msgring_t *r = msgring(g_worker)
    if cc_load_sc(&r.tail) != r.head:
        pubsub_drain()
    return 0


cdef int ps_publish(Client c, int kind) except -1:
    cdef uint64_t mask = 0, n
    cdef int w
    cdef const char *ch = c.argv[1]
    cdef uint64_t chlen = c.argl[1]
    with nogil:
        n = ps_receivers(kind, ch, chlen, &mask)
    if mask & ((<uint64_t>1) << g_worker):
        ps_catch_up()
        ps_deliver(kind, ch, chlen, c.argv[2], c.argl[2], c)
    mask &= ~((<uint64_t>1) << g_worker)
    if mask:
        for w in range(MAX_WORKERS):
            if mask & ((<uint64_t>1) << w):
                if chlen + 8 > MSG_FRAG or ring_send_message(w, kind, ch, <uint32_t>chlen,
                                                             c.argv[2], c.argl[2]) < 0:
                    _pslog.warning("pub/sub message for worker %d dropped: its inbox stayed full", w)
    wb_int(&c.out, <int64_t>n)
    return 0


cdef int cmd_publish(Client c) except -1:
    return ps_publish(c, PS_CHANNEL)

cdef int cmd_spublish(Client c) except -1:
    return ps_publish(c, PS_SHARD)


def pubsub_publish(bytes channel, bytes message):
    """PUBLISH from Python (keyspace notifications, tests): the receiver count.
    Frames for this worker's subscribers wait for ps_flush_pending."""
    cdef uint64_t mask = 0, n
    cdef int w
    cdef const char *ch = channel
    cdef uint64_t chlen = len(channel)
    with nogil:
        n = ps_receivers(PS_CHANNEL, ch, chlen, &mask)
    if mask & ((<uint64_t>1) << g_worker):
        ps_catch_up()
        ps_deliver(PS_CHANNEL, ch, chlen, message, len(message), None)   # sent by ps_flush_pending
    mask &= ~((<uint64_t>1) << g_worker)
    for w in range(MAX_WORKERS):
        if mask & ((<uint64_t>1) << w) and chlen + 8 <= MSG_FRAG:
            ring_send_message(w, PS_CHANNEL, ch, <uint32_t>chlen, message, len(message))
    return n


cdef inline void ps_frame(Client t, const char *what, uint64_t wn, int nparts, const char *pat,
                          uint64_t patlen, const char *ch, uint64_t chlen, const char *msg,
                          uint64_t msglen) noexcept:
    cdef uint64_t k
    wb_push(&t.out, nparts)
    wb_bulk(&t.out, what, wn)
    if nparts == 4:
        k = tn_skip(t, pat, patlen)
        wb_bulk(&t.out, pat + k, patlen - k)
    k = tn_skip(t, ch, chlen)
    wb_bulk(&t.out, ch + k, chlen - k)
    wb_bulk(&t.out, msg, msglen)


cdef inline int ps_mark(Client t, Client me) except -1:
    if t is not me and not (t.flags & CL_PS_PENDING):
        t.flags |= CL_PS_PENDING
        g_ps_pending.append(t)
    return 0


cdef int ps_deliver(int kind, const char *ch, uint64_t chlen, const char *msg, uint64_t msglen,
                    Client me) except -1:
    """Write the frames of a message for this worker's subscribers: channel
    subscribers first, then those of each matching pattern (as Redis)."""
    cdef bytes chb = ch[:chlen]
    cdef bytes pat
    cdef Client t
    cdef dict subs = (<dict>g_ps_local[kind]).get(chb)
    if subs is not None:
        for t in subs:
            if kind == PS_SHARD:
                ps_frame(t, "smessage", 8, 3, NULL, 0, ch, chlen, msg, msglen)
            else:
                ps_frame(t, "message", 7, 3, NULL, 0, ch, chlen, msg, msglen)
            ps_mark(t, me)
    if kind == PS_CHANNEL and g_ps_local[PS_PATTERN]:
        for pat, subs in (<dict>g_ps_local[PS_PATTERN]).items():
            if glob_matchlen(pat, len(pat), ch, chlen):
                for t in subs:
                    ps_frame(t, "pmessage", 8, 4, pat, len(pat), ch, chlen, msg, msglen)
                    ps_mark(t, me)
    return 0


def pubsub_set_defer(call_soon):
    """The worker's loop.call_soon: frames for subscribers then go out once per
    loop iteration (one write per subscriber for all the PUBLISHes the
    iteration's reads ran, as Redis writes once per event-loop turn)."""
    global g_ps_defer
    g_ps_defer = call_soon


cdef int ps_after_batch() except -1:
    """A batch of requests (or a ring drain) left frames for subscribers:
    send them now, or once at the end of this loop iteration."""
    global g_ps_scheduled
    if g_ps_defer is None:
        return ps_flush_pending()
    if not g_ps_scheduled:
        g_ps_scheduled = True
        g_ps_defer(_ps_deferred_flush)
    return 0


def _ps_deferred_flush():
    global g_ps_scheduled
    g_ps_scheduled = False
    ps_flush_pending()


cdef int ps_flush_pending() except -1:
    """Send the frames waiting in subscribers' buffers; cut off the ones over
    client-output-buffer-limit pubsub."""
    cdef Client t
    cdef list todo
    cdef int64_t now
    global g_ps_pending
    if not g_ps_pending:
        return 0
    todo = g_ps_pending
    g_ps_pending = []
    now = cc_now_ms()
    for t in todo:
        t.flags &= ~CL_PS_PENDING
        if t.transport is None or not t.out.len or t.flags & CL_CLOSE_ASAP:
            continue
        data = PyBytes_FromStringAndSize(t.out.p, t.out.len)
        t.net_out += t.out.len
        t.out.len = 0
        t.transport.write(data)
        ps_check_output_limit(t, now)
    return 0


cdef int ps_check_output_limit(Client t, int64_t now) except -1:
    cdef uint64_t hard = g_hdr.obl[6], soft = g_hdr.obl[7], secs = g_hdr.obl[8]
    cdef uint64_t size
    cdef PsState st
    if not hard and not soft:
        return 0
    size = t.transport.get_write_buffer_size()
    st = g_ps_state.get(t)
    if hard and size >= hard:
        return ps_cut_off(t)
    if soft and size >= soft:
        if st is not None:
            if st.soft_since == 0:
                st.soft_since = now
            elif now - st.soft_since > <int64_t>secs * 1000:
                return ps_cut_off(t)
        return 0
    if st is not None:
        st.soft_since = 0
    return 0


cdef int ps_cut_off(Client t) except -1:
    """Close a subscriber over its output buffer limit now, without flushing."""
    _pslog.warning("Client id=%d addr=%s closed for overcoming of output buffer limits.",
                   t.id, t.addr)
    t.flags |= CL_CLOSE_ASAP
    try:
        t.transport.abort()
    except Exception:
        t.transport.close()
    return 0


# ---- the inbox -------------------------------------------------------------------

def pubsub_drain():
    """Deliver every message other workers left in this worker's ring (called
    when its eventfd fires); returns how many."""
    cdef msgring_t *r = msgring(g_worker)
    cdef uint64_t tail, head, n
    cdef uint32_t hdr[2]
    cdef uint32_t kind, chlen
    cdef char *nb
    cdef int count = 0
    global g_asm, g_asm_len, g_asm_cap, g_seen_dropped
    if g_hdr == NULL:
        return 0
    cc_store_sc(&r.wake, 0)
    while True:
        tail = cc_load_sc(&r.tail)
        head = r.head
        if head == tail:
            break
        while head < tail:
            _msg_copy_out(g_worker, head, <char *>hdr, 8)
            n = hdr[0]
            if hdr[1] & RF_ABORT:
                g_asm_len = 0
            else:
                if g_asm_len + n > g_asm_cap:
                    nb = <char *>realloc(g_asm, g_asm_len + n)
                    if nb == NULL:
                        raise MemoryError()
                    g_asm = nb
                    g_asm_cap = g_asm_len + n
                _msg_copy_out(g_worker, head + 8, g_asm + g_asm_len, n)
                g_asm_len += n
            head += 8 + _pad8(n)
            cc_atomic_store(&r.head, head)
            if hdr[1] & (RF_MORE | RF_ABORT):
                continue
            if g_asm_len >= 8:
                memcpy(&kind, g_asm, 4)
                memcpy(&chlen, g_asm + 4, 4)
                ps_deliver(kind, g_asm + 8, chlen, g_asm + 8 + chlen, g_asm_len - 8 - chlen, None)
                count += 1
            g_asm_len = 0
            if g_asm_cap > MSG_RING_BYTES:
                free(g_asm)
                g_asm = NULL
                g_asm_cap = 0
    n = cc_atomic_load(&r.dropped)
    if n != g_seen_dropped:
        g_seen_dropped = n
        ps_drop_all_subscribers()
    if g_ps_pending:
        ps_after_batch()
    return count


cdef int ps_drop_all_subscribers() except -1:
    """Messages for this worker were dropped (its inbox stayed full): close every
    subscriber of this worker rather than let one miss a message silently."""
    cdef Client t
    _pslog.warning("pub/sub inbox of worker %d overflowed: closing its subscribers", g_worker)
    for t in list(g_ps_state):
        if t.transport is not None:
            ps_cut_off(t)
    return 0


# ---- subscriber mode -------------------------------------------------------------

cdef const char *PS_ALLOWED[9]
PS_ALLOWED[:] = [b"subscribe", b"ssubscribe", b"psubscribe", b"unsubscribe", b"sunsubscribe",
                 b"punsubscribe", b"ping", b"quit", b"reset"]


cdef bint ps_is_subscription(int idx) noexcept:
    """Whether a command is one of (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE."""
    cdef int i
    if idx < 0:
        return False
    for i in range(6):
        if strcmp(g_cmds[idx].name, PS_ALLOWED[i]) == 0:
            return True
    return False


cdef bint ps_refuse(Client c, int idx) except -1:
    """A RESP2 client in subscriber mode ran a command not allowed there: reply
    the error and return True."""
    cdef int i
    cdef bytes full
    if c.out.resp != 2:
        return False
    for i in range(9):
        if strcmp(g_cmds[idx].name, PS_ALLOWED[i]) == 0:
            return False
    full = <bytes>g_cmds[idx].name
    if c.argc > 1 and full in PS_CONTAINERS:
        full += b"|" + c.arg(1).lower()
    wb_put(&c.out, "-ERR Can't execute '", 20)
    _sanitized(&c.out, full, len(full), 128)
    wb_cstr(&c.out, "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            "are allowed in this context\r\n")
    return True

PS_CONTAINERS = {b'client', b'config', b'command', b'pubsub', b'object', b'memory', b'script',
                 b'function', b'xinfo', b'xgroup', b'acl', b'cluster', b'debug', b'latency',
                 b'module', b'slowlog'}


cdef void ps_ping(Client c) noexcept:
    """PING of a RESP2 subscriber: ["pong", message or ""]."""
    wb_put(&c.out, "*2\r\n$4\r\npong\r\n", 14)
    if c.argc == 2:
        wb_bulk(&c.out, c.argv[1], c.argl[1])
    else:
        wb_put(&c.out, "$0\r\n\r\n", 6)


# ---- PUBSUB ----------------------------------------------------------------------

cdef void _ps_collect(int kind, const char *pat, uint64_t patlen, bint all_names,
                      wbuf_t *tmp, int64_t *count, uint64_t strip) noexcept nogil:
    """Bulk strings of every registered name (matching pat) into tmp, less
    their first `strip` bytes (a tenant's hidden prefix, which pat holds)."""
    cdef uint64_t doff, i, elem, cap = 0
    cdef char *buf = NULL
    cdef dict_t *d
    cc_lock(ps_mutex())
    doff = ps_dict_ref(kind)[0]
    if doff:
        d = DT(doff)
        for i in range(d.mask + 1):
            elem = dict_elem(d, i)
            if not elem or _ps_name(elem, &buf, &cap) < 0:
                continue
            if all_names or glob_matchlen(pat, patlen, buf, elem_klen(elem)):
                wb_bulk(tmp, buf + strip, elem_klen(elem) - strip)
                count[0] += 1
    cc_unlock(ps_mutex())
    free(buf)


cdef uint64_t _ps_count_prefixed(int kind, const char *prefix, uint64_t plen) noexcept nogil:
    """Registered names starting with prefix (a tenant's patterns, for NUMPAT)."""
    cdef uint64_t doff, i, elem, cap = 0, n = 0
    cdef char *buf = NULL
    cdef dict_t *d
    cc_lock(ps_mutex())
    doff = ps_dict_ref(kind)[0]
    if doff:
        d = DT(doff)
        for i in range(d.mask + 1):
            elem = dict_elem(d, i)
            if (elem and elem_klen(elem) >= plen and _ps_name(elem, &buf, &cap) >= 0
                    and memcmp(buf, prefix, plen) == 0):
                n += 1
    cc_unlock(ps_mutex())
    free(buf)
    return n


cdef uint64_t ps_total(int kind, const char *name, uint64_t n) noexcept nogil:
    cdef uint64_t doff, total = 0
    cdef int64_t j
    cc_lock(ps_mutex())
    doff = ps_dict_ref(kind)[0]
    if doff:
        j = dict_find(DT(doff), cc_hash(name, n), name, n)
        if j >= 0:
            total = ps_rec_of(dict_elem(DT(doff), <uint64_t>j)).total
    cc_unlock(ps_mutex())
    return total


PUBSUB_HELP = [
    b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CHANNELS [<pattern>]",
    b"    Return the currently active channels matching a <pattern> (default: '*').",
    b"NUMPAT",
    b"    Return number of subscriptions to patterns.",
    b"NUMSUB [<channel> ...]",
    b"    Return the number of subscribers for the specified channels, excluding",
    b"    pattern subscriptions(default: no channels).",
    b"SHARDCHANNELS [<pattern>]",
    b"    Return the currently active shard level channels matching a <pattern> (default: '*').",
    b"SHARDNUMSUB [<shardchannel> ...]",
    b"    Return the number of subscribers for the specified shard level channel(s)",
    b"HELP",
    b"    Prints this help.",
]


cdef int cmd_pubsub(Client c) except -1:
    cdef bytes sub = c.arg(1).lower()
    cdef int kind, arity
    cdef int64_t count = 0
    cdef uint64_t i, n
    cdef wbuf_t tmp
    cdef const char *pat = NULL
    cdef uint64_t patlen = 0, strip
    cdef bint all_names
    arity = {b'channels': -2, b'shardchannels': -2, b'numsub': -2, b'shardnumsub': -2,
             b'numpat': 2, b'help': 2}.get(sub, 0)
    if arity == 0:
        wb_put(&c.out, "-ERR unknown subcommand '", 25)
        _sanitized(&c.out, c.argv[1], c.argl[1], 128)
        wb_cstr(&c.out, "'. Try PUBSUB HELP.\r\n")
        return 0
    if (arity > 0 and c.argc != <uint64_t>arity) or (arity < 0 and c.argc < <uint64_t>(-arity)):
        reply_subcommand_arity(c, 2)
        return 0
    if sub == b'help':
        wb_array(&c.out, len(PUBSUB_HELP))
        for line in PUBSUB_HELP:
            wb_put(&c.out, "+", 1)
            wb_put(&c.out, <bytes>line, len(<bytes>line))
            wb_put(&c.out, "\r\n", 2)
    elif sub == b'numpat' and c.tn_prefix is not None:      # a tenant's own patterns only
        pat = <bytes>c.tn_prefix
        patlen = len(<bytes>c.tn_prefix)
        with nogil:
            n = _ps_count_prefixed(PS_PATTERN, pat, patlen)
        wb_int(&c.out, <int64_t>n)
    elif sub == b'numpat':
        with nogil:
            cc_lock(ps_mutex())
            n = ps_reg().npatterns
            cc_unlock(ps_mutex())
        wb_int(&c.out, <int64_t>n)
    elif sub == b'channels' or sub == b'shardchannels':
        if c.argc > 3:
            wb_put(&c.out, "-ERR unknown subcommand or wrong number of arguments for '", 58)
            _sanitized(&c.out, c.argv[1], c.argl[1], 128)
            wb_cstr(&c.out, "'. Try PUBSUB HELP.\r\n")
            return 0
        kind = PS_CHANNEL if sub == b'channels' else PS_SHARD
        all_names = c.argc == 2
        if not all_names:
            pat = c.argv[2]
            patlen = c.argl[2]
        wb_init(&tmp)
        strip = tn_skip(c, pat, patlen) if pat != NULL else 0
        with nogil:
            _ps_collect(kind, pat, patlen, all_names, &tmp, &count, strip)
        wb_array(&c.out, count)
        wb_put(&c.out, tmp.p, tmp.len)
        free(tmp.p)
    else:
        kind = PS_CHANNEL if sub == b'numsub' else PS_SHARD
        wb_array(&c.out, <int64_t>(2 * (c.argc - 2)))
        for i in range(2, c.argc):
            strip = tn_skip(c, c.argv[i], c.argl[i])
            wb_bulk(&c.out, c.argv[i] + strip, c.argl[i] - strip)
            with nogil:
                n = ps_total(kind, c.argv[i], c.argl[i])
            wb_int(&c.out, <int64_t>n)
    return 0


def pubsub_info():
    """INFO stats lines: channels, patterns and shard channels with a subscriber
    over the node."""
    cdef uint64_t ch = 0, pat = 0, sch = 0
    if g_hdr != NULL:
        with nogil:
            cc_lock(ps_mutex())
            if ps_reg().channels:
                ch = DT(ps_reg().channels).count
            if ps_reg().shard_channels:
                sch = DT(ps_reg().shard_channels).count
            pat = ps_reg().npatterns
            cc_unlock(ps_mutex())
    return [('pubsub_channels', ch), ('pubsub_patterns', pat), ('pubsubshard_channels', sch)]


cdef void register_pubsub_commands():
    register_c('subscribe', cmd_subscribe)
    register_c('unsubscribe', cmd_unsubscribe)
    register_c('psubscribe', cmd_psubscribe)
    register_c('punsubscribe', cmd_punsubscribe)
    register_c('ssubscribe', cmd_ssubscribe)
    register_c('sunsubscribe', cmd_sunsubscribe)
    register_c('publish', cmd_publish)
    register_c('spublish', cmd_spublish)
    register_c('pubsub', cmd_pubsub)


def _test_ring_state(int worker):
    """(head, tail, dropped) of a worker's message ring (tests)."""
    cdef msgring_t *r = msgring(worker)
    return (r.head, cc_atomic_load(&r.tail), cc_atomic_load(&r.dropped))


def _test_pubsub_reset():
    """Forget this process's subscribers and every count in the registry (tests
    that play several workers in one process)."""
    cdef int w
    g_ps_state.clear()
    for d in g_ps_local:
        d.clear()
    g_ps_pending.clear()
    for w in range(MAX_WORKERS):
        pubsub_clear_worker(w)
