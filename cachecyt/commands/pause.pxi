# CLIENT PAUSE / CLIENT UNPAUSE over the whole node (Redis 7.0 semantics). This
# file owns the pause state in the segment header and the clients each worker
# holds because of it; the CLIENT subcommands' argument checks are in
# commands/server.py, the timer and the wake-up glue in workers/.
#
# How it works
#   header.pause_state is one 64-bit word, end_ms * 4 + mode (PAUSE_WRITE or
#   PAUSE_ALL), 0 = no pause. CLIENT PAUSE merges with a CAS loop: the later end
#   and the stronger mode win (a pause whose end has passed counts as none).
#   UNPAUSE stores 0 and signals every worker (SIG_PAUSE). Nothing else writes it.
#
#   Client.execute asks pause_holds() before running a command (after the BUSY
#   check, as Redis orders them): in ALL mode every command is held, in WRITE
#   mode the write commands and those that may replicate (EVAL/EVALSHA/FCALL of
#   a script without no-writes, PUBLISH, SPUBLISH, PFCOUNT; EXEC when a queued
#   command is one of these). A held client keeps its request (paused_args),
#   sets CL_PAUSED, which stops its request loop as CL_BLOCKED does (requests
#   parsed ahead go back to the parser, so a pipeline keeps its order), and joins
#   this worker's list g_pause_held. Commands inside EXEC or a script (shards
#   held) are never held: a pause asked inside a transaction starts after it.
#
#   No polling: the first client held arms a loop timer at the pause end
#   (g_pause_hook); UNPAUSE wakes the workers through their signal rings. Either
#   way pause_resume() runs the held clients of this worker in the order they
#   were held; each runs its request through every check again (a new pause
#   holds it again) and then the requests buffered behind it.
#
#   While a pause is in force keys do not expire (active cycle skipped; a lookup
#   treats an expired key as missing without deleting it, so expired_keys does
#   not move) and nothing is evicted, as Redis does.

cdef enum:
    PAUSE_OFF = 0
    PAUSE_WRITE = 1
    PAUSE_ALL = 2
    PAUSE_MAYREP = 1             # g_pause_kind: held by a WRITE pause though not a write command
    PAUSE_SCRIPT = 2             # g_pause_kind: depends on the script's flags
    CS_PAUSED = 4                # cslot_t.cflags: held by CLIENT PAUSE (CLIENT LIST flag b)
    SIG_PAUSE = 12               # signal ring kind: the pause ended early, run held clients

cdef uint8_t g_pause_kind[MAX_COMMANDS]      # by command index, filled by pause_setup
cdef list g_pause_held = []                  # this worker's held clients, oldest first
g_pause_hook = None              # callable(end_ms): arm a timer calling pause_resume then
g_pause_script_hook = None       # callable(args) -> True when the script may write


def pause_setup(hook=None, script_hook=None):
    """Classify the commands (after the command table is built) and take the
    worker's timer hook and the scripting side's flag lookup."""
    global g_pause_hook, g_pause_script_hook
    cdef int i
    memset(g_pause_kind, 0, sizeof(g_pause_kind))
    for name in (b'publish', b'spublish', b'pfcount'):
        i = cmd_lookup(name, len(name))
        if i >= 0:
            g_pause_kind[i] = PAUSE_MAYREP
    for name in (b'eval', b'evalsha', b'fcall'):
        i = cmd_lookup(name, len(name))
        if i >= 0:
            g_pause_kind[i] = PAUSE_SCRIPT
    if hook is not None:
        g_pause_hook = hook
    if script_hook is not None:
        g_pause_script_hook = script_hook


cdef inline int pause_mode(int64_t now_ms) noexcept nogil:
    """The pause in force now: PAUSE_OFF once its end has passed."""
    cdef uint64_t st = cc_atomic_load(&g_hdr.pause_state)
    if st == 0 or <int64_t>(st >> 2) < now_ms:
        return PAUSE_OFF
    return <int>(st & 3)


cdef inline bint pause_active() noexcept nogil:
    """Expiry and eviction stand still (shm/keys.pxi, expire.pxi, evict.pxi)."""
    return g_hdr != NULL and g_hdr.pause_state != 0 and pause_mode(cc_now_ms()) != PAUSE_OFF


cdef bint _pause_writes(Client c, int idx) except -1:
    """Whether a WRITE pause holds this command."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef int j
    if cmd.flags & CF_WRITE or g_pause_kind[idx] == PAUSE_MAYREP:
        return True
    if g_pause_kind[idx] == PAUSE_SCRIPT:
        return g_pause_script_hook is None or bool(g_pause_script_hook(c.args()))
    if cmd.cf == cmd_exec and c.tx is not None:
        for args in (<TxState>c.tx).queued:
            j = cmd_lookup(<bytes>args[0], len(<bytes>args[0]))
            if j < 0:
                continue
            if g_cmds[j].flags & CF_WRITE or g_pause_kind[j] == PAUSE_MAYREP:
                return True
            if g_pause_kind[j] == PAUSE_SCRIPT and (g_pause_script_hook is None
                                                    or g_pause_script_hook(args)):
                return True
    return False


cdef bint pause_holds(Client c, int idx) except -1:
    """Before running a command while header.pause_state is set: hold the client
    when the pause covers the command. True when held (nothing is answered)."""
    cdef uint64_t st = cc_atomic_load(&g_hdr.pause_state)
    cdef int mode = pause_mode(c.now_ms)
    if mode == PAUSE_OFF:
        scr_cas(&g_hdr.pause_state, st, 0)       # ended: the next commands skip the check
        return False
    if g_holding and not bh_collecting():
        return False                     # EXEC / a script holding its shards runs on (a held run ends here)
    if mode == PAUSE_WRITE and not _pause_writes(c, idx):
        return False
    c.flags |= CL_PAUSED
    c.paused_args = c.args()
    c.commands -= 1                      # counted when it runs
    my_wstat().commands -= 1
    g_pause_held.append(c)
    cc_atomic_add(&g_hdr.pause_held, 1)
    if c.cslot != NULL:
        c.cslot.cflags |= CS_PAUSED
    if g_pause_hook is not None:
        g_pause_hook(<int64_t>(cc_atomic_load(&g_hdr.pause_state) >> 2))
    return True


cdef void _pause_release(Client c) noexcept:
    c.flags &= ~CL_PAUSED
    cc_atomic_add(&g_hdr.pause_held, -1)
    if c.cslot != NULL:
        c.cslot.cflags &= ~CS_PAUSED


cdef int pause_forget(Client c) except -1:
    """The connection of a held client closed."""
    if c.flags & CL_PAUSED:
        _pause_release(c)
        c.paused_args = None
        if c in g_pause_held:
            g_pause_held.remove(c)
    return 0


cdef int _pause_run_again(Client c) except -1:
    """Run a held client's request again (a new pause may hold it again), then
    the requests buffered behind it, and write the replies."""
    _pause_release(c)
    args = c.paused_args
    c.paused_args = None
    if c.transport is None:
        return 0
    c._clock()
    c._load_list(args)
    batch_enter()
    try:
        c._execute_once()
    finally:
        batch_leave()
    if not c.flags & CL_PAUSED:
        c._replies_out()
    elif c.out.len:
        c._replies_out()                 # nothing runs while held: only writes
    return 0


def pause_resume():
    """Run this worker's held clients when the pause no longer holds them all
    (timer at the pause end, SIG_PAUSE after UNPAUSE); else arm the timer again."""
    cdef Client c
    cdef int mode
    if not g_pause_held:
        return
    mode = pause_mode(cc_now_ms())
    if mode == PAUSE_ALL:
        if g_pause_hook is not None:
            g_pause_hook(<int64_t>(cc_atomic_load(&g_hdr.pause_state) >> 2))
        return
    held = list(g_pause_held)
    g_pause_held.clear()
    for c in held:
        _pause_run_again(c)


def pause_clients(int64_t end_ms, int mode):
    """CLIENT PAUSE: merge (end, mode) into the node's pause."""
    cdef uint64_t old, new
    cdef int64_t now = cc_now_ms()
    cdef int64_t end
    cdef int m
    while True:
        old = cc_atomic_load(&g_hdr.pause_state)
        end, m = end_ms, mode
        if old and <int64_t>(old >> 2) >= now:
            end = max(end, <int64_t>(old >> 2))
            m = max(m, <int>(old & 3))
        new = (<uint64_t>max(end, 0) << 2) | <uint64_t>m
        if scr_cas(&g_hdr.pause_state, old, new):
            return


def unpause_clients():
    """CLIENT UNPAUSE: end the pause; the caller wakes every worker."""
    cc_atomic_store(&g_hdr.pause_state, 0)


def pause_held_count():
    """Clients held by CLIENT PAUSE on the node (part of INFO blocked_clients)."""
    return <int64_t>cc_atomic_load(&g_hdr.pause_held) if g_hdr != NULL else 0


def paused_client_ids():
    """Ids of the clients held by CLIENT PAUSE on every worker (CLIENT LIST b)."""
    cdef uint32_t i
    cdef cslot_t *s
    out = set()
    if g_hdr == NULL or not cc_atomic_load(&g_hdr.pause_held):
        return out
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        if s.cflags & CS_PAUSED and s.id != 0 and s.id != CS_BUSY:
            out.add(s.id)
    return out


def pause_clear_worker(int worker):
    """A restarted worker: the held clients its predecessor counted are gone."""
    cdef uint32_t i
    cdef cslot_t *s
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        if s.cflags & CS_PAUSED and s.worker == worker:
            s.cflags &= ~CS_PAUSED
            cc_atomic_add(&g_hdr.pause_held, -1)


SIGNAL_PAUSE = SIG_PAUSE
