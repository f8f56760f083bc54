# Observability in the segment: per-command latency histograms, hot-key
# sketches, the SLOWLOG, LATENCY monitor events and the MONITOR ring. This file
# keeps the figures and hands them out as Python values; the commands that show
# them (SLOWLOG, LATENCY, HOTKEYS, MONITOR, INFO latencystats) live in
# commands/observe.py and commands/server.py. It never runs under a shard lock.
#
# Region at g_hdr.obs_off (sizes in shm/layout.pxi):
#   [obs_t: obs lock, slowlog head, monitor tail and wake flags, latency events]
#   [uint64 hist[MAX_WORKERS][MAX_COMMANDS][LAT_BUCKETS]]
#   [hotsketch_t x MAX_WORKERS][slowent_t x SLOW_CELLS][monitor ring: MON_BYTES]
# The region is sparse in practice: a (worker, command) row is touched only
# when that worker runs that command, and readers look only at rows whose
# cmdstat shows calls, so idle slots never take memory.
#
# Who writes what:
# - histograms and sketches: only the owning worker, without a lock (one add per
#   command on the hot path); readers sum them racily, as INFO does for cmdstats.
# - slowlog and latency events: any worker, under the obs lock, and only for a
#   command slower than its threshold (rare by definition).
# - monitor ring: any worker, lock-free (a ticket per record), only while some
#   client anywhere runs MONITOR.
#
# Latency buckets (LATENCY_BUCKETS_US): log-linear as HdrHistogram with two
# significant bits. 0..7 µs have a bucket each; from 8 µs on every power of two
# [2^e, 2^(e+1)) is cut into 4 equal buckets (widths 12.5%..25% of the value),
# up to 2^24 µs (16.8 s); the last bucket takes everything above. The index is a
# count-leading-zeros and two shifts.
#
# Hot keys: each worker samples about 1 key access in hotkeys-sample-rate (the
# gap between samples is random with that mean, so a periodic load cannot hide
# a key). A sampled key goes into a count-min sketch (HOT_DEPTH rows of
# HOT_WIDTH counters, conservative update: only the smallest counters grow),
# whose estimate decides whether the key enters the worker's HOT_TOP candidates
# (replacing the least counted). When the window reaches HOT_WINDOW samples,
# every counter is halved, so the figures follow the recent load. hotkeys()
# merges the candidates of every worker: a key served by several workers sums.
# A candidate entry is rewritten under a sequence counter (odd while writing) so
# a reader in another process never takes a torn key.
#
# MONITOR ring: a broadcast byte ring. A producer claims 16 + len rounded up to
# 16 bytes with an atomic add on mon_tail, writes the length and the line, and
# publishes the record by storing its position + 1 in the record's first word.
# Each worker that has MONITOR clients reads from its own cursor while records
# are published; a reader lapped by the producers (more than MON_BYTES behind)
# skips what was overwritten and goes on from the first whole record it finds in
# the newer half of the ring.
# Producers wake a reading worker through its eventfd only when no wake-up is
# already pending for it (mon_wake), so a busy node costs one write per drain,
# not one per command.

from libc.string cimport strncmp

cdef extern from *:
    """
    static inline uint32_t cc_load_u32(uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void cc_store_u32(uint32_t *p, uint32_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int cc_clz64(uint64_t v) { return __builtin_clzll(v); }
    """
    uint32_t cc_load_u32(uint32_t *p) nogil
    void cc_store_u32(uint32_t *p, uint32_t v) nogil
    int cc_clz64(uint64_t v) nogil

cdef enum:
    CS_MONITOR = 2               # cslot_t.cflags (shm/clients.pxi): the client runs MONITOR
    HOT_WINDOW = 65536           # samples per worker before the counters are halved
    SLOW_MAX_ARGC = 32           # Redis's SLOWLOG_ENTRY_MAX_ARGC
    SLOW_MAX_STRING = 128        # Redis's SLOWLOG_ENTRY_MAX_STRING
    MON_MAX_LINE = 262144        # a MONITOR line longer than this is cut

def _bucket_bounds():
    out = list(range(8))
    for e in range(3, 24):
        for sub in range(4):
            out.append(((5 + sub) << (e - 2)) - 1)
    out.append(float('inf'))
    return tuple(out)


LATENCY_BUCKETS_US = _bucket_bounds()   # inclusive upper bound of each bucket, µs


# ---- layout --------------------------------------------------------------------------

cdef inline uint64_t _obs_hdr_size() noexcept nogil:
    return _align(sizeof(obs_t), 64)

cdef inline uint64_t _hist_size() noexcept nogil:
    return <uint64_t>MAX_WORKERS * MAX_COMMANDS * LAT_BUCKETS * 8

cdef inline uint64_t _hot_off() noexcept nogil:
    return _obs_hdr_size() + _hist_size()

cdef inline uint64_t _slow_off() noexcept nogil:
    return _hot_off() + _align(sizeof(hotsketch_t) * MAX_WORKERS, 64)

cdef inline uint64_t _mon_off() noexcept nogil:
    return _slow_off() + _align(sizeof(slowent_t) * SLOW_CELLS, 64)

cdef uint64_t obs_region_size() noexcept nogil:
    return _mon_off() + MON_BYTES


cdef void obs_init(header_t *h) noexcept nogil:
    """A new segment: the obs lock and the defaults (Redis's) of the settings."""
    cdef obs_t *o = <obs_t *>(<char *>h + h.obs_off)
    cc_mutex_init(<pthread_mutex_t *>o.lock)
    h.slowlog_log_slower_than = 10000
    h.slowlog_max_len = 128
    h.latency_monitor_threshold = 0
    h.hotkeys_sample_rate = 8


cdef object obs_getattr(header_t *h, str k):
    if k == 'slowlog_log_slower_than': return h.slowlog_log_slower_than
    if k == 'slowlog_max_len': return h.slowlog_max_len
    if k == 'latency_monitor_threshold': return h.latency_monitor_threshold
    if k == 'hotkeys_sample_rate': return h.hotkeys_sample_rate
    if k == 'monitors': return cc_atomic_load(&h.monitors)
    if k == 'obs_off': return h.obs_off
    raise KeyError(k)


cdef obs_setattr(header_t *h, str k, v):
    if k == 'slowlog_log_slower_than': h.slowlog_log_slower_than = v
    elif k == 'slowlog_max_len': h.slowlog_max_len = v
    elif k == 'latency_monitor_threshold': h.latency_monitor_threshold = v
    elif k == 'hotkeys_sample_rate': h.hotkeys_sample_rate = v
    else:
        raise KeyError(k)


cdef inline obs_t *OBS() noexcept nogil:
    return <obs_t *>(g_base + g_hdr.obs_off)

cdef inline uint64_t *hist_row(int worker, int cmd) noexcept nogil:
    return <uint64_t *>(g_base + g_hdr.obs_off + _obs_hdr_size()) + \
        (<uint64_t>worker * MAX_COMMANDS + cmd) * LAT_BUCKETS

cdef inline hotsketch_t *hot_at(int worker) noexcept nogil:
    return <hotsketch_t *>(g_base + g_hdr.obs_off + _hot_off()) + worker

cdef inline slowent_t *slow_at(uint64_t i) noexcept nogil:
    return <slowent_t *>(g_base + g_hdr.obs_off + _slow_off()) + i

cdef inline char *mon_ring() noexcept nogil:
    return g_base + g_hdr.obs_off + _mon_off()

cdef inline void obs_lock() noexcept nogil:
    cc_lock(<pthread_mutex_t *>OBS().lock)      # a dead owner leaves at worst one odd entry

cdef inline void obs_unlock() noexcept nogil:
    cc_unlock(<pthread_mutex_t *>OBS().lock)

cdef inline bint worker_live(int w) noexcept nogil:
    return (<wstat_t *>(g_base + g_hdr.wstats_off) + w).pid != 0


# ---- the hot path ----------------------------------------------------------------------

cdef int g_hot_countdown = 1     # key accesses until this worker's next sample


cdef inline int lat_bucket(uint64_t us) noexcept nogil:
    cdef int e
    if us < 8:
        return <int>us
    e = 63 - cc_clz64(us)
    if e > 23:
        return LAT_BUCKETS - 1
    return 8 + (e - 3) * 4 + <int>((us >> (e - 2)) & 3)


cdef inline bint hot_due() noexcept nogil:
    """One more command with keys: True when its keys are this worker's next
    hot-key sample (the caller re-arms the countdown with hot_rearm)."""
    global g_hot_countdown
    g_hot_countdown -= 1
    return g_hot_countdown <= 0


cdef inline void hot_rearm(uint64_t rate) noexcept nogil:
    """The gap to the next sample: uniform in 1 .. 2 * rate - 1, rate commands
    on average (a multiply and a shift of 32 random bits, not a division)."""
    global g_hot_countdown
    g_hot_countdown = <int>(1 + (((cc_rand() >> 32) * (2 * rate - 1)) >> 32)) if rate > 1 else 1


cdef inline void obs_record(Client c, int idx, int64_t usec) noexcept:
    """Account one command that ran for usec (Client.execute, after cmdstats):
    its histogram bucket, then the slowlog, latency monitor, hot-key sample and
    MONITOR feed when each is switched on."""
    cdef header_t *h = g_hdr
    if usec < 0:
        usec = 0
    hist_row(g_worker, idx)[lat_bucket(<uint64_t>usec)] += 1
    if h.slowlog_log_slower_than >= 0 and usec >= h.slowlog_log_slower_than:
        slowlog_add(c, <uint64_t>usec)
    if h.latency_monitor_threshold and <uint64_t>usec >= h.latency_monitor_threshold * 1000:
        latency_add("fast-command" if g_cmds[idx].flags & CF_FAST else "command",
                    <uint64_t>usec // 1000)
    if h.hotkeys_sample_rate and hot_due():
        hot_sample(c, idx)
    if h.monitors and not (g_cmds[idx].flags & (CF_ADMIN | CF_MONITOR_FIRST)):
        monitor_feed(c)


cdef inline void wstat_io(uint64_t nin, uint64_t nout) noexcept nogil:
    """Count bytes read from or written to a client socket by this worker."""
    cdef wstat_t *ws
    if g_hdr == NULL:
        return
    ws = my_wstat()
    if nin:
        ws.net_in += nin
        ws.reads += 1
    if nout:
        ws.net_out += nout
        ws.writes += 1


def client_memory(Client c):
    """CLIENT LIST's buffer figures of a client of this worker: (qbuf, qbuf-free,
    argv-mem, rbs, rbp, obl, omem, tot-mem) in bytes. qbuf counts, as Redis 7.0,
    every byte of the read being run, the request running and those before it
    included (the buffer is compacted after the batch)."""
    cdef uint64_t qbuf = c.rp.len
    cdef uint64_t argv_mem = 0, i
    if c.argv != NULL:
        for i in range(c.argc):                  # the request running (CLIENT LIST itself)
            argv_mem += c.argl[i]
    return (qbuf, c.rp.cap - c.rp.len, argv_mem, c.rp.cap, c.rp.len, c.out.len, c.out.cap,
            c.rp.cap + c.out.cap + c.rp.scratch_cap + 16 * c.rp.argcap)


g_memory_hook = None             # callable(sub: str) -> reply value (commands/observe.py)


def set_memory_hook(f):
    global g_memory_hook
    g_memory_hook = f


cdef int memory_report(Client c) except -1:
    """MEMORY STATS / DOCTOR: the figures come from the Python side (INFO's)."""
    if g_memory_hook is None:
        reply_unknown_subcommand(c)
        return 0
    encode_value(&c.out, g_memory_hook(c.arg(1).lower().decode()))
    return 0


# ---- latency histograms ----------------------------------------------------------------

g_sub_names = []                 # names of the subcommand rows (commands/server.py STAT_NAMES)


def set_substat_names(list names):
    """Name the rows substat_add uses (row MAX_COMMANDS-1-k is names[k]); the
    memcached commands find theirs among them (commands/memcached.pxi)."""
    global g_sub_names
    g_sub_names = list(names)
    mc_find_stat_rows(g_sub_names)


def substat_latency(int k, uint64_t usec):
    """One call of subcommand k by this worker took usec: its histogram bucket."""
    if 0 <= k < MAX_COMMANDS - g_ncmds:
        hist_row(g_worker, MAX_COMMANDS - 1 - k)[lat_bucket(usec)] += 1


cdef list _row_sum(int row):
    """Bucket counts of one command row over every worker that ran it."""
    cdef uint64_t acc[LAT_BUCKETS]
    cdef int w, b
    cdef uint64_t *r
    cdef bint any_ = False
    memset(acc, 0, sizeof(acc))
    for w in range(MAX_WORKERS):
        if cmdstat_at(w, row).calls == 0:       # never ran there: do not touch the row
            continue
        r = hist_row(w, row)
        for b in range(LAT_BUCKETS):
            acc[b] += r[b]
        any_ = True
    if not any_:
        return None
    return [acc[b] for b in range(LAT_BUCKETS)]


def command_latency_buckets():
    """{command name: [count per bucket]} summed over workers; bucket i counts
    commands that took at most LATENCY_BUCKETS_US[i] µs (and more than the bound
    before it). Commands with subcommands (CLIENT, CONFIG, COMMAND, SLOWLOG,
    LATENCY) appear only by subcommand, as 'config|get' (as Redis's latencystats),
    so summing every row counts each call once."""
    out = {}
    cdef int i, k
    containers = {n.split('|', 1)[0] for n in g_sub_names}
    for i in range(g_ncmds):
        name = g_cmds[i].name.decode()
        if name in containers:                  # counted under its subcommands
            continue
        row = _row_sum(i)
        if row is not None and any(row):
            out[name] = row
    for k, name in enumerate(g_sub_names):
        if k >= MAX_COMMANDS - g_ncmds:
            break
        row = _row_sum(MAX_COMMANDS - 1 - k)
        if row is not None and any(row):
            out[name] = row
    return out


def latency_percentile(list counts, double q):
    """The upper bound (µs) of the bucket holding quantile q (0..1) of counts."""
    total = sum(counts)
    if not total:
        return 0.0
    rank = max(1, int(-(-q * total // 1)))
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            b = LATENCY_BUCKETS_US[i]
            return float(b if b != float('inf') else LATENCY_BUCKETS_US[LAT_BUCKETS - 2] + 1)
    return float(LATENCY_BUCKETS_US[LAT_BUCKETS - 2] + 1)


def reset_latency_stats():
    """CONFIG RESETSTAT: zero the rows that have counts (call before the
    cmdstats are zeroed: their calls say which rows were used)."""
    cdef int w, row
    for w in range(MAX_WORKERS):
        for row in range(MAX_COMMANDS):
            if cmdstat_at(w, row).calls:
                memset(hist_row(w, row), 0, LAT_BUCKETS * 8)


# ---- hot keys ----------------------------------------------------------------------------

cdef void hot_sample(Client c, int idx) noexcept:
    """The countdown ran out: take the keys of this command as one sample."""
    cdef uint64_t rate = g_hdr.hotkeys_sample_rate
    cdef int first = g_cmds[idx].first, last = g_cmds[idx].last, step = g_cmds[idx].step
    cdef int64_t i, end
    hot_rearm(rate)
    if first <= 0 or <int64_t>c.argc <= first or step <= 0:
        return
    end = last if last >= 0 else <int64_t>c.argc + last
    if end >= <int64_t>c.argc:
        end = <int64_t>c.argc - 1
    i = first
    while i <= end:
        hot_touch(g_worker, c.db, c.argv[i], c.argl[i], rate)
        i += step


# A lower bound of the smallest candidate count of each sketch this process
# writes (a worker writes only its own). A sampled key whose new estimate is not
# above it can neither be a candidate (a candidate's estimate only grows past the
# count it was given) nor replace one, so the candidate scan is skipped: under a
# flat load, where most sampled keys are seen once or twice, that is most samples.
cdef uint32_t g_hot_floor[MAX_WORKERS]


cdef void hot_age(int worker, hotsketch_t *sk) noexcept nogil:
    cdef int i
    for i in range(HOT_DEPTH * HOT_WIDTH):
        sk.cms[i] >>= 1
    for i in range(HOT_TOP):
        sk.tcount[i] >>= 1
    sk.samples >>= 1
    g_hot_floor[worker] >>= 1


cdef void hot_touch(int worker, int db, const char *key, uint64_t klen, uint64_t rate) noexcept nogil:
    """Count one sampled access of (db, key) in this worker's sketch. The
    candidates are found by hash in two compact arrays (a few cache lines); a
    key is compared only on a hash match."""
    cdef hotsketch_t *sk = hot_at(worker)
    cdef uint64_t h = cc_hash(key, klen) ^ (<uint64_t>(db + 1) * 0x9E3779B97F4A7C15ULL)
    cdef uint32_t est = 0xffffffff
    cdef uint32_t *cell[HOT_DEPTH]
    cdef int r, i, victim = 0
    cdef hotent_t *e
    if h == 0:
        h = 1                                    # 0 marks a free candidate
    if sk.rate != rate:                          # counts taken at another rate do not add up
        memset(sk.cms, 0, sizeof(sk.cms))
        memset(sk.thash, 0, sizeof(sk.thash))
        memset(sk.tcount, 0, sizeof(sk.tcount))
        sk.samples = 0
        sk.rate = rate
        g_hot_floor[worker] = 0
    for r in range(HOT_DEPTH):
        cell[r] = &sk.cms[r * HOT_WIDTH + ((h >> (r * 16)) & (HOT_WIDTH - 1))]
        if cell[r][0] < est:
            est = cell[r][0]
    est += 1
    for r in range(HOT_DEPTH):
        if cell[r][0] < est:
            cell[r][0] = est
    sk.samples += 1
    if 0 < klen <= HOT_KEY_MAX and est > g_hot_floor[worker]:
        for i in range(HOT_TOP):
            if sk.thash[i] == h:
                e = &sk.top[i]
                if e.klen == klen and e.db == db and memcmp(e.key, key, klen) == 0:
                    sk.tcount[i] = est
                    victim = -1
                    break
            if sk.tcount[i] < sk.tcount[victim]:
                victim = i
        if victim >= 0:
            g_hot_floor[worker] = sk.tcount[victim]     # the smallest; a replacement only raises it
        if victim >= 0 and est > sk.tcount[victim]:
            e = &sk.top[victim]
            cc_store_u32(&e.ver, e.ver + 1)      # odd: being rewritten
            sk.tcount[victim] = 0
            sk.thash[victim] = h
            e.db = <uint16_t>db
            e.klen = <uint16_t>klen
            memcpy(e.key, key, klen)
            sk.tcount[victim] = est
            cc_store_u32(&e.ver, e.ver + 1)
    if sk.samples >= HOT_WINDOW:
        hot_age(worker, sk)


def hotkeys(int count=10, int min_permille=10):
    """[(db, key bytes, estimated hits)] most frequent first, merged over workers.
    Estimated hits are sampled accesses times the sample rate, over the recent
    window (counts halve every HOT_WINDOW samples of a worker). Only keys whose
    share of the sampled accesses is at least min_permille / 1000 are returned
    (0: every candidate)."""
    cdef int w, i
    cdef hotsketch_t *sk
    cdef hotent_t *e
    cdef uint32_t ver, n, klen
    cdef char buf[HOT_KEY_MAX]
    merged = {}
    total = 0
    if g_hdr == NULL:
        return []
    for w in range(MAX_WORKERS):
        if not worker_live(w):
            continue
        sk = hot_at(w)
        if sk.samples == 0:
            continue
        total += sk.samples * sk.rate
        for i in range(HOT_TOP):
            e = &sk.top[i]
            ver = cc_load_u32(&e.ver)
            if ver & 1 or sk.thash[i] == 0:
                continue
            klen = e.klen
            n = sk.tcount[i]
            db = e.db
            if klen == 0 or klen > HOT_KEY_MAX or n == 0:
                continue
            memcpy(buf, e.key, klen)
            if cc_load_u32(&e.ver) != ver:
                continue
            k = (db, buf[:klen])
            merged[k] = merged.get(k, 0) + n * sk.rate
    out = [(db, key, hits) for (db, key), hits in merged.items()
           if hits * 1000 >= min_permille * total]
    out.sort(key=lambda t: (-t[2], t[0], t[1]))
    return out[:max(count, 0)]


def hotkeys_reset():
    """Forget every worker's sketch (CONFIG RESETSTAT)."""
    cdef int w
    for w in range(MAX_WORKERS):
        if worker_live(w) or w == g_worker:
            hot_at(w).rate = 0               # the owner clears the rest at its next sample


def _test_hot_touch(int worker, int db, bytes key, int times=1):
    """Count key `times` sampled accesses by `worker` (unit tests of the sketch)."""
    cdef int i
    for i in range(times):
        hot_touch(worker, db, key, len(key), g_hdr.hotkeys_sample_rate or 1)


# ---- SLOWLOG -----------------------------------------------------------------------------

cdef uint32_t _put_arg(char *dst, uint32_t room, const char *s, uint64_t n,
                       const char *suffix, uint64_t slen) noexcept nogil:
    """Append (uint32 len, s, suffix) at dst; bytes used, 0 when it does not fit."""
    cdef uint32_t need = <uint32_t>(4 + n + slen)
    cdef uint32_t total = <uint32_t>(n + slen)
    if need > room:
        return 0
    memcpy(dst, &total, 4)
    memcpy(dst + 4, s, n)
    if slen:
        memcpy(dst + 4 + n, suffix, slen)
    return need


cdef void slowlog_add(Client c, uint64_t usec) noexcept:
    """Log the command just run, with Redis's truncation of its arguments:
    at most 32 (the last says how many more), each at most 128 bytes (and how
    many more)."""
    cdef obs_t *o = OBS()
    cdef uint64_t maxlen = g_hdr.slowlog_max_len
    cdef uint64_t argc = c.argc, stored, j, n
    cdef uint32_t used = 0, took
    cdef slowent_t *e
    cdef char more[48]
    cdef int mlen
    if maxlen > SLOW_CELLS:
        maxlen = SLOW_CELLS
    obs_lock()
    o.slow_next_id += 1
    if maxlen == 0:
        o.slow_count = 0
        obs_unlock()
        return
    e = slow_at(o.slow_head)
    e.id = o.slow_next_id - 1
    e.time = <int64_t>(cc_now_ms() // 1000)
    e.usec = usec
    stored = argc if argc < SLOW_MAX_ARGC else SLOW_MAX_ARGC
    for j in range(stored):
        if stored != argc and j == stored - 1:
            mlen = snprintf(more, sizeof(more), "... (%lu more arguments)",
                            <unsigned long>(argc - stored + 1))
            took = _put_arg(e.data + used, SLOW_DATA - used, more, mlen, NULL, 0)
        elif c.argl[j] > SLOW_MAX_STRING:
            mlen = snprintf(more, sizeof(more), "... (%lu more bytes)",
                            <unsigned long>(c.argl[j] - SLOW_MAX_STRING))
            took = _put_arg(e.data + used, SLOW_DATA - used, c.argv[j], SLOW_MAX_STRING, more, mlen)
        else:
            took = _put_arg(e.data + used, SLOW_DATA - used, c.argv[j], c.argl[j], NULL, 0)
        if took == 0:
            stored = j
            break
        used += took
    e.argc = <uint32_t>stored
    e.len = used
    _cslot_text(e.addr, sizeof(e.addr), c, False)
    _cslot_text(e.name, sizeof(e.name), c, True)
    o.slow_head = (o.slow_head + 1) % SLOW_CELLS
    n = o.slow_count + 1
    o.slow_count = n if n < maxlen else maxlen
    obs_unlock()


cdef void _cslot_text(char *dst, uint64_t cap, Client c, bint name) noexcept:
    """The client's address or name from its shared-table row ("" without one)."""
    dst[0] = 0
    if c.cslot == NULL:
        return
    if name:
        strncpy(dst, c.cslot.name, cap - 1)
    else:
        strncpy(dst, c.cslot.addr, cap - 1)
    dst[cap - 1] = 0


def slowlog_get(int64_t count=10):
    """Newest first: [(id, unix s, µs, [args], addr, name)]; count < 0 = all."""
    cdef obs_t *o = OBS()
    cdef uint64_t i, n, cell
    cdef uint32_t pos, alen, j
    cdef slowent_t *e
    out = []
    obs_lock()
    try:
        n = o.slow_count
        if g_hdr.slowlog_max_len < n:
            n = g_hdr.slowlog_max_len
        if count >= 0 and <uint64_t>count < n:
            n = count
        for i in range(n):
            cell = (o.slow_head + SLOW_CELLS - 1 - i) % SLOW_CELLS
            e = slow_at(cell)
            args = []
            pos = 0
            for j in range(e.argc):
                memcpy(&alen, e.data + pos, 4)
                args.append(e.data[pos + 4:pos + 4 + alen])
                pos += 4 + alen
            out.append((e.id, e.time, e.usec, args, e.addr.decode('utf-8', 'replace'),
                        e.name))
    finally:
        obs_unlock()
    return out


def slowlog_len():
    cdef uint64_t n = OBS().slow_count
    return min(n, g_hdr.slowlog_max_len)


def slowlog_reset():
    obs_lock()
    OBS().slow_count = 0
    obs_unlock()


# ---- LATENCY events ------------------------------------------------------------------------

cdef void latency_add(const char *event, uint64_t ms) noexcept nogil:
    """One sample of an event, as Redis keeps them: one per second (the largest),
    the last LAT_SAMPLES, and the largest ever."""
    cdef obs_t *o = OBS()
    cdef latevent_t *ev = NULL
    cdef latsample_t *prev
    cdef int i
    cdef int32_t now = <int32_t>(cc_now_ms() // 1000)
    obs_lock()
    for i in range(LAT_EVENTS):
        if strncmp(o.events[i].name, event, 32) == 0:
            ev = &o.events[i]
            break
        if ev == NULL and o.events[i].name[0] == 0:
            ev = &o.events[i]
    if ev == NULL:
        obs_unlock()
        return
    if ev.name[0] == 0:
        memset(ev, 0, sizeof(latevent_t))
        strncpy(ev.name, event, 31)
    if ms > 0xffffffffULL:
        ms = 0xffffffffULL
    prev = &ev.samples[(ev.idx + LAT_SAMPLES - 1) % LAT_SAMPLES]
    if prev.time == now:
        if ms > prev.ms:
            prev.ms = <uint32_t>ms
    else:
        ev.samples[ev.idx].time = now
        ev.samples[ev.idx].ms = <uint32_t>ms
        ev.idx = (ev.idx + 1) % LAT_SAMPLES
    if ms > ev.max:
        ev.max = <uint32_t>ms
    obs_unlock()


def latency_add_sample(str event, uint64_t ms):
    """Record a sample of a named event (e.g. from Python code paths, tests)."""
    cdef bytes b = event.encode()[:31]
    latency_add(b, ms)


def latency_events():
    """{event: (max ms, [(unix s, ms) oldest first])} of every event with samples."""
    cdef obs_t *o = OBS()
    cdef latevent_t *ev
    cdef latsample_t s
    cdef int i, j
    out = {}
    obs_lock()
    try:
        for i in range(LAT_EVENTS):
            ev = &o.events[i]
            if ev.name[0] == 0:
                continue
            samples = []
            for j in range(LAT_SAMPLES):
                s = ev.samples[(ev.idx + j) % LAT_SAMPLES]
                if s.time:
                    samples.append((s.time, s.ms))
            out[ev.name.decode()] = (ev.max, samples)
    finally:
        obs_unlock()
    return out


def latency_reset(names=None):
    """Forget the named events (all when None); how many were reset."""
    cdef obs_t *o = OBS()
    cdef int i, n = 0
    wanted = None if names is None else {x if isinstance(x, bytes) else x.encode() for x in names}
    obs_lock()
    for i in range(LAT_EVENTS):
        if o.events[i].name[0] == 0:
            continue
        name = o.events[i].name
        if wanted is None or name in wanted:
            memset(&o.events[i], 0, sizeof(latevent_t))
            n += 1
    obs_unlock()
    return n


# ---- MONITOR -------------------------------------------------------------------------------

cdef uint64_t g_mon_cursor = 0   # next byte of the monitor ring this worker reads


cdef void _repr_into(wbuf_t *w, const char *s, uint64_t n) noexcept:
    """Bytes quoted as Redis writes them in MONITOR lines (sdscatrepr)."""
    cdef uint64_t i
    cdef unsigned char ch
    cdef char hx[5]
    wb_put(w, '"', 1)
    for i in range(n):
        ch = <unsigned char>s[i]
        if ch == 92 or ch == 34:
            wb_put(w, "\\", 1)
            wb_put(w, <char *>&ch, 1)
        elif ch == 10:
            wb_put(w, "\\n", 2)
        elif ch == 13:
            wb_put(w, "\\r", 2)
        elif ch == 9:
            wb_put(w, "\\t", 2)
        elif ch == 7:
            wb_put(w, "\\a", 2)
        elif ch == 8:
            wb_put(w, "\\b", 2)
        elif 32 <= ch < 127:
            wb_put(w, <char *>&ch, 1)
        else:
            snprintf(hx, 5, "\\x%02x", ch)
            wb_put(w, hx, 4)
    wb_put(w, '"', 1)


cdef void monitor_feed(Client c) noexcept:
    """Publish the command just run to every MONITOR client of the node."""
    cdef wbuf_t w
    cdef char head[96]
    cdef int64_t now = cc_now_us()
    cdef uint64_t i
    cdef int n, wk
    cdef const char *addr = "lua"                # a script's calls have no connection
    if c.cslot != NULL:
        addr = <const char *>c.cslot.addr
    w.cap = 256
    w.len = 0
    w.oom = False
    w.p = <char *>malloc(w.cap)
    if w.p == NULL:
        return
    n = snprintf(head, sizeof(head), "+%ld.%06ld [%d %s] ", <long>(now // 1000000),
                 <long>(now % 1000000), c.db, addr)
    wb_put(&w, head, n)
    for i in range(c.argc):
        if i:
            wb_put(&w, " ", 1)
        _repr_into(&w, c.argv[i], c.argl[i])
    wb_put(&w, "\r\n", 2)
    if not w.oom:
        monitor_publish(w.p, w.len if w.len <= MON_MAX_LINE else MON_MAX_LINE)
    free(w.p)
    for wk in range(MAX_WORKERS):
        if OBS().mon_clients[wk] and cc_xchg_u64(&OBS().mon_wake[wk], 1) == 0:
            if g_wake is not None:
                try:
                    g_wake(wk)
                except Exception:
                    pass


cdef void _ring_copy_in(uint64_t pos, const char *src, uint64_t n) noexcept nogil:
    cdef char *ring = mon_ring()
    cdef uint64_t at = pos & (MON_BYTES - 1)
    cdef uint64_t first = MON_BYTES - at
    if first >= n:
        memcpy(ring + at, src, n)
    else:
        memcpy(ring + at, src, first)
        memcpy(ring, src + first, n - first)


cdef void _ring_copy_out(uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    cdef char *ring = mon_ring()
    cdef uint64_t at = pos & (MON_BYTES - 1)
    cdef uint64_t first = MON_BYTES - at
    if first >= n:
        memcpy(dst, ring + at, n)
    else:
        memcpy(dst, ring + at, first)
        memcpy(dst + first, ring, n - first)


cdef void monitor_publish(const char *line, uint64_t n) noexcept nogil:
    cdef uint64_t rec = 16 + ((n + 15) & ~<uint64_t>15)
    cdef uint64_t pos = cc_atomic_add(&OBS().mon_tail, <int64_t>rec) - rec
    cdef uint64_t *hdr = <uint64_t *>(mon_ring() + (pos & (MON_BYTES - 1)))
    hdr[1] = n
    _ring_copy_in(pos + 16, line, n)
    cc_atomic_store(&hdr[0], pos + 1)


def monitor_take():
    """Every MONITOR line published since this worker last took them, as one
    bytes (lines overwritten before this worker read them are skipped)."""
    cdef obs_t *o = OBS()
    cdef uint64_t tail, n
    cdef uint64_t *hdr
    cdef wbuf_t w
    cdef uint64_t mark
    cc_atomic_store(&o.mon_wake[g_worker], 0)
    wb_init(&w)
    try:
        while True:
            tail = cc_atomic_load(&o.mon_tail)
            if g_mon_cursor >= tail:
                break
            if tail - g_mon_cursor > MON_BYTES:
                _skip_lapped(tail)
                continue
            hdr = <uint64_t *>(mon_ring() + (g_mon_cursor & (MON_BYTES - 1)))
            if cc_atomic_load(&hdr[0]) != g_mon_cursor + 1:
                break                            # not published yet: its producer wakes us
            n = hdr[1]
            if n > MON_MAX_LINE:
                _skip_lapped(tail)
                continue
            mark = w.len
            if not wb_reserve(&w, n):
                raise MemoryError()
            _ring_copy_out(g_mon_cursor + 16, w.p + w.len, n)
            w.len += n
            if cc_atomic_load(&o.mon_tail) - g_mon_cursor > MON_BYTES:
                w.len = mark                      # overwritten while copied
                continue
            _mon_advance(16 + ((n + 15) & ~<uint64_t>15))
        return w.p[:w.len]
    finally:
        free(w.p)


cdef void _skip_lapped(uint64_t tail) noexcept:
    """Producers overwrote what this worker had not read: go on from the first
    published record in the newer half of the ring (a record's first word is its
    own position + 1, which line bytes match only by a rare accident; the length
    is checked too), or from the tail."""
    global g_mon_cursor
    cdef uint64_t p = tail - MON_BYTES // 2 if tail > MON_BYTES // 2 else 0
    cdef uint64_t *hdr
    p = (p + 15) & ~<uint64_t>15
    while p < tail:
        hdr = <uint64_t *>(mon_ring() + (p & (MON_BYTES - 1)))
        if cc_atomic_load(&hdr[0]) == p + 1 and hdr[1] <= MON_MAX_LINE and \
                p + 16 + hdr[1] <= tail:
            g_mon_cursor = p
            return
        p += 16
    g_mon_cursor = tail


cdef void _mon_advance(uint64_t n) noexcept:
    global g_mon_cursor
    g_mon_cursor += n


def monitor_register(Client c, int delta):
    """A MONITOR client of this worker starts (+1) or ends (-1)."""
    global g_mon_cursor
    cdef obs_t *o = OBS()
    if c is not None and c.cslot != NULL:
        if delta > 0:
            c.cslot.cflags |= CS_MONITOR
        else:
            c.cslot.cflags &= ~CS_MONITOR
    if delta > 0 and o.mon_clients[g_worker] == 0:
        # a wake-up owed while this worker had no monitor was never taken: clear
        # it, or producers would think one is pending and never wake us again
        cc_atomic_store(&o.mon_wake[g_worker], 0)
        g_mon_cursor = cc_atomic_load(&o.mon_tail)   # only what is run from now on
    o.mon_clients[g_worker] += delta
    cc_atomic_add(&g_hdr.monitors, delta)


def monitor_client_ids():
    """Ids of the clients in MONITOR mode, on every worker (CLIENT LIST flags)."""
    cdef uint32_t i
    cdef cslot_t *s
    cdef uint64_t cid
    out = set()
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        cid = cc_atomic_load(&s.id)
        if cid != 0 and cid != CS_BUSY and s.cflags & CS_MONITOR:
            out.add(cid)
    return out


def monitor_clear_worker(int worker):
    """A worker slot (re)starts: drop the MONITOR clients its predecessor had."""
    cdef obs_t *o = OBS()
    cdef uint64_t n = o.mon_clients[worker]
    cc_atomic_store(&o.mon_wake[worker], 0)      # a wake-up the dead one never took
    if n:
        o.mon_clients[worker] = 0
        cc_atomic_add(&g_hdr.monitors, -<int64_t>n)
