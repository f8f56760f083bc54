# The node-wide "script running" record: at most one Lua script (EVAL & co.,
# FCALL) runs at a time on the node, and while it runs it holds every shard
# (shards_hold_all), so its commands, declared keys or not, run as in a
# standalone Redis. This file owns the record in the segment header and the
# protocol that lets the other workers keep answering while a script runs; the
# Lua side (runtime, script cache, commands) is cachecyt/scripting/.
#
# How it works
#   header.script_owner is the worker slot + 1 of the script running, 0 when
#   none; a worker claims it by CAS. Each worker also publishes whether it is
#   inside a batch of requests (wstat_t.batch_seq: odd while inside, bumped on
#   entering and on leaving). A batch checks script_owner before each command
#   (one acquire load); entering a batch is seq_cst (an exchange, then the load), so
#   either the batch sees the record, or the owner, which publishes the record
#   and then reads every batch_seq, sees the batch inside and waits until it
#   leaves (its seq changes). Only then does the owner lock the shards: no
#   other worker can be found waiting on a shard mutex of the script, where it
#   could answer neither -BUSY nor SCRIPT KILL. The wait is bounded (a dead or
#   stuck worker cannot stall scripts): past the bound the owner locks anyway,
#   which is still correct (the mutexes order everything), only slower to answer.
#
#   A command in another worker that sees the record waits (outside its batch
#   while it waits: yielding the CPU for 300 µs, since most scripts take
#   microseconds, then asleep on a futex on the record that the owner wakes
#   when the script ends) while the script is younger than
#   busy-reply-threshold, then answers -BUSY. Commands flagged allow_busy
#   (SCRIPT, FUNCTION, SHUTDOWN, HELLO) always run: SCRIPT KILL sets
#   script_kill, which the script's Lua hook reads every 100000 instructions. The worker running the script reads no requests meanwhile:
#   its own clients wait until the script ends, as Redis's clients do before
#   the threshold.
#
#   Nothing waits for the record while holding a shard lock: a worker that
#   holds shards (EXEC) runs its commands without the check; the script, which
#   locks shards in order after publishing its record, waits for them.
#
#   The supervisor clears the record of a worker that died running a script
#   (script_forget_worker); the robust shard mutexes take care of the locks.
#
#   Past the threshold the worker running the script serves its own other
#   clients too, from the script's Lua hook (script_busy_tick, every 100000
#   instructions): the transport glue reads what they sent and runs it with
#   g_busy_serving set, so they get -BUSY, or run the allow_busy commands
#   (SCRIPT KILL, MULTI ...), as Redis answers clients while a script is busy.

cdef extern from *:
    """
    #include <unistd.h>
    static inline int scr_cas(uint64_t *p, uint64_t expect, uint64_t v) {
        return __atomic_compare_exchange_n(p, &expect, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    static inline void scr_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
    static inline void scr_publish(uint64_t *p, uint64_t v) { __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
    static inline void scr_sleep_us(unsigned us) { usleep(us); }
    #include <sched.h>
    static inline void scr_yield(void) { sched_yield(); }
    #include <linux/futex.h>
    #include <sys/syscall.h>
    #include <time.h>
    /* Sleep while the 32-bit word at p (shared memory: a process-shared futex)
       still holds v, at most us microseconds; woken early by scr_wake. */
    static inline void scr_futex_wait(uint64_t *p, uint64_t v, long us) {
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
        syscall(SYS_futex, (uint32_t *)p, FUTEX_WAIT, (uint32_t)v, &ts, NULL, 0);
    }
    static inline void scr_wake(uint64_t *p) {
        syscall(SYS_futex, (uint32_t *)p, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
    }
    """
    bint scr_cas(uint64_t *p, uint64_t expect, uint64_t v) nogil
    void scr_fence() nogil
    void scr_publish(uint64_t *p, uint64_t v) nogil
    void scr_sleep_us(unsigned us) nogil
    void scr_yield() nogil
    void scr_futex_wait(uint64_t *p, uint64_t v, long us) nogil
    void scr_wake(uint64_t *p) nogil

cdef enum:
    SCR_WROTE = 1                # the script ran a write command: SCRIPT KILL refuses
    SCR_FUNCTION = 2             # FCALL (FUNCTION KILL), else EVAL (SCRIPT KILL)
    SCR_WAIT_OTHERS_MS = 200     # how long the owner waits for other batches to end
    SCR_SPIN_US = 300            # a waiter yields the CPU this long, then sleeps on a futex

cdef const char *E_BUSY_EVAL = ("BUSY Redis is busy running a script. You can only call "
                                "SCRIPT KILL or SHUTDOWN NOSAVE.")
cdef const char *E_BUSY_FUNCTION = ("BUSY Redis is busy running a script. You can only call "
                                    "FUNCTION KILL or SHUTDOWN NOSAVE.")


cdef inline void script_pause(int64_t since_us) noexcept nogil:
    """One step of waiting for another worker's script, outside the batch. Most
    scripts take microseconds: for the first SCR_SPIN_US only yield the CPU;
    then sleep on the record (a futex on script_owner's low word, never 0 while
    a script runs) until the owner ends it, at most 1 ms at a time, so the
    threshold and a dead owner are still noticed."""
    cdef uint64_t owner
    batch_leave()
    if cc_mono_us() - since_us < SCR_SPIN_US:
        scr_yield()
    else:
        cc_atomic_add(&g_hdr.script_waiters, 1)
        owner = cc_atomic_load(&g_hdr.script_owner)
        if owner != 0:
            scr_futex_wait(&g_hdr.script_owner, owner, 1000)
        cc_atomic_add(&g_hdr.script_waiters, -1)
    batch_enter()


cdef inline wstat_t *wstat_of(int w) noexcept nogil:
    return <wstat_t *>(g_base + g_hdr.wstats_off) + w


cdef inline void batch_enter() noexcept nogil:
    """This worker may lock shards from now on: publish it, then the caller
    reads script_owner (an acquire load). Only this worker writes its
    batch_seq, so the increment needs no atomic add: one seq_cst exchange
    publishes it and orders the load after it (every batch pays this, so no
    separate fence)."""
    cdef wstat_t *ws
    if g_hdr != NULL:
        ws = my_wstat()
        scr_publish(&ws.batch_seq, ws.batch_seq + 1)


cdef inline void batch_leave() noexcept nogil:
    cdef wstat_t *ws
    if g_hdr != NULL:
        ws = my_wstat()
        cc_atomic_store(&ws.batch_seq, ws.batch_seq + 1)


cdef inline bint script_elsewhere() noexcept nogil:
    """A script of another worker is running (or starting)."""
    cdef uint64_t owner = cc_atomic_load(&g_hdr.script_owner)
    return owner != 0 and owner != <uint64_t>g_worker + 1


cdef inline int64_t script_age_ms() noexcept nogil:
    cdef int64_t start = cc_atomic_load_i(&g_hdr.script_start_ms)
    return cc_now_ms() - start if start else 0


cdef inline bint script_past_threshold() noexcept nogil:
    return script_age_ms() >= <int64_t>g_hdr.busy_reply_threshold


cdef const char *script_busy_error() noexcept nogil:
    if cc_atomic_load(&g_hdr.script_flags) & SCR_FUNCTION:
        return E_BUSY_FUNCTION
    return E_BUSY_EVAL


cdef object g_script_caller = None           # the client whose script this worker runs
cdef bint g_busy_serving = False             # serving other clients from the script's hook
g_busy_hook = None               # callable(caller): read and run other clients' requests


cdef bint script_gate(Client c, int idx) noexcept:
    """Before a command of this worker while a script runs elsewhere: wait for
    it to end, or answer -BUSY once it is older than busy-reply-threshold.
    True when the command was answered (and must not run)."""
    cdef int64_t since = cc_mono_us()
    if g_busy_serving:                # a client of the script's own worker (see above)
        if g_cmds[idx].flags & CF_ALLOWBUSY:
            return False
        wb_error(&c.out, script_busy_error())
        return True
    if g_cmds[idx].flags & CF_ALLOWBUSY or g_holding:
        return False                  # holding shards (EXEC): waiting could deadlock
    while script_elsewhere():
        if script_past_threshold():
            wb_error(&c.out, script_busy_error())
            return True
        with nogil:
            script_pause(since)
    return False


cdef void script_wait_clear() noexcept nogil:
    """Inside a batch: wait (without answering -BUSY) until no script of another
    worker runs: memcached requests, blocked-client retries, active expiry."""
    cdef int64_t since = cc_mono_us()
    while script_elsewhere() and not g_holding:
        script_pause(since)


cdef void _wait_other_batches() noexcept nogil:
    """The owner, record published: wait until every other live worker has left
    the batch it was in (or started a new one, which sees the record)."""
    cdef int w
    cdef uint64_t seq
    cdef int64_t deadline = cc_now_ms() + SCR_WAIT_OTHERS_MS
    for w in range(MAX_WORKERS):
        if w == g_worker or wstat_of(w).pid == 0:
            continue
        seq = cc_atomic_load(&wstat_of(w).batch_seq)
        if not seq & 1:
            continue
        while cc_atomic_load(&wstat_of(w).batch_seq) == seq and cc_now_ms() < deadline:
            scr_yield()


# ---- the owner's side (called by cachecyt/scripting) --------------------------------

cdef bint g_script_holds = False             # script_begin took the shards (not EXEC)


cdef const char *script_begin_c(bint is_function) noexcept:
    """Claim the record and hold every shard. NULL when the script may run, or
    the -BUSY error text when another worker's script is past the threshold
    (the caller answers it). Inside EXEC, which already holds its shards, the
    record is only tried: waiting for it there could deadlock."""
    global g_script_holds
    cdef uint64_t me = <uint64_t>g_worker + 1
    cdef bint busy = False
    cdef int64_t since = cc_mono_us()
    if g_holding:
        if not scr_cas(&g_hdr.script_owner, 0, me) and cc_atomic_load(&g_hdr.script_owner) != me:
            return script_busy_error()
        cc_atomic_store(&g_hdr.script_kill, 0)
        cc_atomic_store(&g_hdr.script_flags, SCR_FUNCTION if is_function else 0)
        cc_atomic_store(<uint64_t *>&g_hdr.script_start_ms, <uint64_t>cc_now_ms())
        g_script_holds = False
        return NULL
    g_script_holds = True
    with nogil:
        while not scr_cas(&g_hdr.script_owner, 0, me):
            if cc_atomic_load(&g_hdr.script_owner) == me:
                break                                   # nested: the caller refuses it
            if script_past_threshold():
                busy = True
                break
            script_pause(since)
        if not busy:
            cc_atomic_store(&g_hdr.script_kill, 0)
            cc_atomic_store(&g_hdr.script_flags, SCR_FUNCTION if is_function else 0)
            cc_atomic_store(<uint64_t *>&g_hdr.script_start_ms, <uint64_t>cc_now_ms())
            scr_fence()
            _wait_other_batches()
            shards_hold_all()
    if busy:
        return script_busy_error()
    return NULL


cdef void script_end_c() noexcept:
    """Release the shards (when script_begin took them) and the record."""
    cdef bint held = g_script_holds
    with nogil:
        if held:
            shards_release()
        cc_atomic_store(<uint64_t *>&g_hdr.script_start_ms, 0)
        cc_atomic_store(&g_hdr.script_flags, 0)
        cc_atomic_store(&g_hdr.script_kill, 0)
        cc_atomic_store(&g_hdr.script_owner, 0)
        scr_fence()
        if cc_atomic_load(&g_hdr.script_waiters):
            scr_wake(&g_hdr.script_owner)


def script_begin(bint is_function):
    """script_begin_c for Python: None, or the -BUSY error text."""
    cdef const char *busy = script_begin_c(is_function)
    return None if busy == NULL else busy.decode()


def script_end():
    script_end_c()


def script_wrote():
    """The running script ran a write command: it can no longer be killed."""
    g_hdr.script_flags |= SCR_WROTE


def script_kill_requested():
    return cc_atomic_load(&g_hdr.script_kill) != 0


# ---- everyone else -------------------------------------------------------------------

def script_kill(bint is_function):
    """SCRIPT KILL / FUNCTION KILL: 'ok', 'notbusy' or 'unkillable'."""
    cdef uint64_t flags
    if cc_atomic_load(&g_hdr.script_owner) == 0 or cc_atomic_load_i(&g_hdr.script_start_ms) == 0:
        return 'notbusy'
    flags = cc_atomic_load(&g_hdr.script_flags)
    if bool(flags & SCR_FUNCTION) != is_function:
        return 'notbusy'
    if flags & SCR_WROTE:
        return 'unkillable'
    cc_atomic_store(&g_hdr.script_kill, 1)
    return 'ok'


def script_set_caller(c):
    """The client whose script starts (None when it ends): never served from
    the script's hook, it is in the middle of its requests."""
    global g_script_caller
    g_script_caller = c


def script_set_busy_hook(hook):
    global g_busy_hook
    g_busy_hook = hook


def script_busy_tick():
    """The running script's Lua hook: past the threshold, serve this worker's
    other clients (they get -BUSY or run SCRIPT KILL and the like)."""
    global g_busy_serving
    if g_busy_hook is None or g_busy_serving or not script_past_threshold():
        return
    if cc_atomic_load(&g_hdr.script_owner) != <uint64_t>g_worker + 1:
        return
    g_busy_serving = True
    try:
        g_busy_hook(g_script_caller)
    except Exception:                  # never into the script: it would end with it
        _log.exception("serving clients while a script is busy")
    finally:
        g_busy_serving = False


def script_busy_reply():
    """The -BUSY text when a script of another worker is past the threshold
    (commands flagged allow_busy check it themselves), else None."""
    if (script_elsewhere() or g_busy_serving) and script_past_threshold():
        return script_busy_error().decode()
    return None


def script_status():
    """(owner slot or -1, age ms, flags) of the script running (tests, INFO)."""
    cdef uint64_t owner = cc_atomic_load(&g_hdr.script_owner)
    return (<int64_t>owner - 1, script_age_ms() if owner else 0, cc_atomic_load(&g_hdr.script_flags))


def script_forget_worker(int w):
    """The supervisor, after reaping worker w: drop a record it left."""
    if scr_cas(&g_hdr.script_owner, <uint64_t>w + 1, <uint64_t>w + 1):
        cc_atomic_store(<uint64_t *>&g_hdr.script_start_ms, 0)
        cc_atomic_store(&g_hdr.script_flags, 0)
        cc_atomic_store(&g_hdr.script_owner, 0)


def script_generations():
    """(script cache, function libraries) generations: bumped by every change."""
    return (cc_atomic_load(&g_hdr.script_gen), cc_atomic_load(&g_hdr.function_gen))


def script_bump_generation(bint functions):
    if functions:
        return cc_atomic_add(&g_hdr.function_gen, 1)
    return cc_atomic_add(&g_hdr.script_gen, 1)


def active_expire_unless_script(int worker, int nworkers, int budget_us=25000):
    """active_expire, skipped while a script of another worker runs (the cycle
    would wait on the script's shards)."""
    cdef uint64_t n = 0
    with nogil:
        batch_enter()
        if not script_elsewhere():
            n = expire_cycle(worker, nworkers, budget_us)
        batch_leave()
    return n
