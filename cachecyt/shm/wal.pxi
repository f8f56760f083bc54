# Write-ahead log, worker side: effect records into the shm log ring, and the
# hooks Client.execute calls around a write. The supervisor drains the ring to
# segment files (cluster/persist.py, which hands ring_write the file to write).
#
# Record (ring and file alike, little-endian; the CRC is 0 as a writer leaves
# it and filled in by the supervisor just before writing, see ring_write):
#   u32 len (whole record) | u32 crc32 of bytes 8..len | u64 lsn | i64 ts_ms |
#   u32 logical db | u32 kind (0) | payload: RESP commands (shm/snapshot.pxi)
# The payload is what replay runs with its clock at ts_ms: the command as
# asked when that is deterministic given the state and the clock (relative
# TTLs then come out the same), blocking pops as their non-blocking forms,
# and for SPOP (random) the whole resulting value of its key (a state record).
# Evictions append a DEL. An EXEC or a script run is one record holding the
# payloads of all its writes (groups, below).
#
# Order: with the WAL on, execute holds the shards of a write's keys (all
# shards for commands whose keys it cannot list) from before the command until
# its record is in the ring, and LSNs are handed out under the ring lock: the
# LSN order of two writes to one key is the order they were applied in.
#
# Ring: ring_pages pages from the arena, addressed modulo their total size; a
# record may wrap. Producers copy under the ring lock and publish by moving
# `tail`; the supervisor writes [head, tail) to the file from the ring pages
# and moves `head`. A write logged as asked that came in as a multibulk request
# is copied into the ring as the request's own bytes (_rec_raw). A full ring
# makes the writer wait (the supervisor is woken and drains it): back-pressure,
# never a dropped record.
#
# appendfsync always: the worker keeps a client's replies (Client.wal_held)
# until durable_lsn passes the client's last record; the supervisor raises
# durable_lsn after each group commit's fsync and writes the eventfd of every
# worker whose `waiting` flag is set. No one polls.

from posix.unistd cimport write as c_write

cdef extern from *:
    """
    #include <immintrin.h>
    static uint32_t cc_crc_t[8][256];
    static int cc_crc_ready = 0;
    static int cc_crc_clmul = 0;      /* the CPU has PCLMULQDQ and SSE4.1 */
    static void cc_crc_init(void) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            cc_crc_t[0][i] = c;
        }
        for (int k = 1; k < 8; k++)
            for (int i = 0; i < 256; i++)
                cc_crc_t[k][i] = (cc_crc_t[k - 1][i] >> 8) ^ cc_crc_t[0][cc_crc_t[k - 1][i] & 0xff];
        __builtin_cpu_init();
        cc_crc_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
        cc_crc_ready = 1;
    }
    /* Table step, eight bytes at a time (slicing-by-8, little-endian), on the
       inverted register value: the tails and CPUs without carry-less multiply. */
    static uint32_t cc_crc_table(uint32_t reg, const unsigned char *p, size_t n) {
        uint32_t a, b;
        while (n >= 8) {
            memcpy(&a, p, 4);
            memcpy(&b, p + 4, 4);
            a ^= reg;
            reg = cc_crc_t[7][a & 0xff] ^ cc_crc_t[6][(a >> 8) & 0xff] ^ cc_crc_t[5][(a >> 16) & 0xff]
                ^ cc_crc_t[4][a >> 24] ^ cc_crc_t[3][b & 0xff] ^ cc_crc_t[2][(b >> 8) & 0xff]
                ^ cc_crc_t[1][(b >> 16) & 0xff] ^ cc_crc_t[0][b >> 24];
            p += 8;
            n -= 8;
        }
        while (n--) reg = cc_crc_t[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
        return reg;
    }
    /* Carry-less multiply folding (Gopal et al., "Fast CRC computation for
       generic polynomials using PCLMULQDQ", Intel 2009), bit-reflected CRC-32
       of zlib. n is a multiple of 16, at least 64; reg is the inverted register
       value. Four 128-bit lanes are folded 512 bits forward at a time, then
       into one lane, which is folded 128 bits at a time; the last 128 bits are
       reduced to 64, then to 32 (Barrett). The constants are x^k mod P for the
       distances named, bit-reflected (the paper's table). */
    __attribute__((target("pclmul,sse4.1")))
    static uint32_t cc_crc_fold(uint32_t reg, const unsigned char *p, size_t n) {
        const __m128i far = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);    /* 512 +- 32 bits */
        const __m128i near = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);   /* 128 +- 32 bits */
        const __m128i k64 = _mm_set_epi64x(0, 0x163cd6124LL);               /* 64 bits */
        const __m128i barrett = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL); /* mu, P */
        const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
        __m128i l0 = _mm_loadu_si128((const __m128i *)p);
        __m128i l1 = _mm_loadu_si128((const __m128i *)(p + 16));
        __m128i l2 = _mm_loadu_si128((const __m128i *)(p + 32));
        __m128i l3 = _mm_loadu_si128((const __m128i *)(p + 48));
        __m128i t;
        l0 = _mm_xor_si128(l0, _mm_cvtsi32_si128((int)reg));
        p += 64;
        n -= 64;
    #define CC_FOLD(lane, k, data) \
        t = _mm_clmulepi64_si128(lane, k, 0x00); \
        lane = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x11), t), data)
        while (n >= 64) {
            CC_FOLD(l0, far, _mm_loadu_si128((const __m128i *)p));
            CC_FOLD(l1, far, _mm_loadu_si128((const __m128i *)(p + 16)));
            CC_FOLD(l2, far, _mm_loadu_si128((const __m128i *)(p + 32)));
            CC_FOLD(l3, far, _mm_loadu_si128((const __m128i *)(p + 48)));
            p += 64;
            n -= 64;
        }
        CC_FOLD(l0, near, l1);
        CC_FOLD(l0, near, l2);
        CC_FOLD(l0, near, l3);
        while (n >= 16) {
            CC_FOLD(l0, near, _mm_loadu_si128((const __m128i *)p));
            p += 16;
            n -= 16;
        }
    #undef CC_FOLD
        /* 128 -> 64 bits */
        t = _mm_clmulepi64_si128(l0, near, 0x10);
        l0 = _mm_xor_si128(_mm_srli_si128(l0, 8), t);
        t = _mm_srli_si128(l0, 4);
        l0 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(l0, low32), k64, 0x00), t);
        /* 64 -> 32 bits */
        t = _mm_clmulepi64_si128(_mm_and_si128(l0, low32), barrett, 0x10);
        t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
        return (uint32_t)_mm_extract_epi32(_mm_xor_si128(l0, t), 1);
    }
    /* zlib-compatible CRC-32: cc_crc32(cc_crc32(0, a), b) == crc32(a || b) */
    static uint32_t cc_crc32(uint32_t crc, const void *buf, size_t n) {
        const unsigned char *p = (const unsigned char *)buf;
        uint32_t reg;
        size_t bulk;
        if (!cc_crc_ready) cc_crc_init();
        reg = ~crc;
        if (cc_crc_clmul && n >= 64) {
            bulk = n & ~(size_t)15;
            reg = cc_crc_fold(reg, p, bulk);
            p += bulk;
            n -= bulk;
        }
        return ~cc_crc_table(reg, p, n);
    }
    static inline void wal_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
    #include <sys/uio.h>
    #include <errno.h>
    /* Write n bytes gathered from up to cnt buffers, all of them or fail:
       0, or the errno of the failed write. */
    static int wal_writev_all(int fd, struct iovec *iov, int cnt) {
        ssize_t w;
        while (cnt > 0) {
            w = writev(fd, iov, cnt > 1024 ? 1024 : cnt);
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno ? errno : EIO;
            }
            while (cnt > 0 && (size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov++;
                cnt--;
            }
            if (cnt > 0) {
                iov->iov_base = (char *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
            }
        }
        return 0;
    }
    """
    uint32_t cc_crc32(uint32_t crc, const void *buf, size_t n) nogil
    uint32_t cc_crc_table(uint32_t reg, const unsigned char *p, size_t n) nogil
    void wal_fence() nogil
    struct iovec:
        void *iov_base
        size_t iov_len
    int wal_writev_all(int fd, iovec *iov, int cnt) nogil

from os import strerror as os_strerror
import logging as _logging
_plog = _logging.getLogger("cachecyt.persist")

cdef enum:
    FSYNC_NO = 0
    FSYNC_EVERYSEC = 1
    FSYNC_ALWAYS = 2
    REC_HDR = 32
    RING_PAGES_DEFAULT = 256          # 16 MiB

FSYNC_NAMES = ['no', 'everysec', 'always']

cdef uint32_t *g_keyshards = NULL     # scratch: shards of the running write's keys
cdef int g_keyshards_cap = 0
cdef uint8_t *g_hold_all = NULL       # per command index: hold every shard (2: if it stores)
cdef int g_wal_mute = 0               # recovery replays without logging
cdef wbuf_t g_rec                     # scratch: payload of the record being built
cdef bint g_rec_ready = False
cdef set g_waiters = set()            # clients whose replies wait for durability


cdef inline pthread_mutex_t *wal_mutex() noexcept nogil:
    return <pthread_mutex_t *>g_pp.lock


cdef inline bint wal_on() noexcept nogil:
    return g_pp != NULL and g_pp.appendonly and g_pp.ring_pages_off != 0 and not g_wal_mute


# ---- attaching and creating ---------------------------------------------------------

cdef void persist_attach() noexcept:
    global g_pp
    g_pp = NULL
    if g_hdr != NULL and g_hdr.persist_off:
        g_pp = <persist_t *>P(g_hdr.persist_off)


cdef void persist_detach() noexcept:
    global g_pp
    g_pp = NULL


def persist_create(int ring_pages, int efd, bint appendonly, int appendfsync):
    """Supervisor, at creation: the persistence state, and the ring when the WAL
    may be used (ring_pages > 0)."""
    cdef uint64_t off = slab_alloc(sizeof(persist_t)), pend, pages = 0, p
    cdef uint64_t *tab
    cdef int i
    if off == 0:
        raise MemoryError("segment too small for the persistence state")
    memset(P(off), 0, sizeof(persist_t))
    pend = slab_alloc(g_hdr.nshards)
    if pend == 0:
        raise MemoryError("segment too small for the persistence state")
    memset(P(pend), 0, g_hdr.nshards)
    if ring_pages > 0:
        pages = slab_alloc(8 * <uint64_t>ring_pages)
        if pages == 0:
            raise MemoryError("segment too small for the WAL ring")
        tab = <uint64_t *>P(pages)
        for i in range(ring_pages):
            p = slab_alloc(PAGE_SIZE)
            if p == 0:
                raise MemoryError("segment too small for the WAL ring")
            tab[i] = p
    g_hdr.persist_off = off
    persist_attach()
    if cc_mutex_init(wal_mutex()):
        raise OSError("pthread_mutex_init failed")
    g_pp.pending_off = pend
    g_pp.ring_pages_off = pages
    g_pp.ring_pages = <uint64_t>ring_pages
    g_pp.next_lsn = 1
    g_pp.efd = efd
    g_pp.appendonly = appendonly
    g_pp.appendfsync = appendfsync
    g_pp.last_bgsave_ok = 1
    g_pp.last_bgsave_secs = -1
    g_pp.lastsave = cc_now_ms() // 1000


cdef int ring_create(uint64_t npages) except -1:
    """The log ring, made at run time (CONFIG SET appendonly yes on a node that
    started without it), under the ring lock so it is made once."""
    cdef uint64_t pages, p, i
    cdef uint64_t *tab
    cc_lock(wal_mutex())
    try:
        if g_pp.ring_pages_off:
            return 0
        pages = slab_alloc(8 * npages)
        if pages == 0:
            raise ValueError("no memory for the WAL ring")
        tab = <uint64_t *>P(pages)
        for i in range(npages):
            p = slab_alloc(PAGE_SIZE)
            if p == 0:
                while i > 0:
                    i -= 1
                    slab_free(tab[i])
                slab_free(pages)
                raise ValueError("no memory for the WAL ring")
            tab[i] = p
        g_pp.ring_pages = npages
        g_pp.ring_pages_off = pages
    finally:
        cc_unlock(wal_mutex())
    return 0


def persist_get(str k):
    """A field of the persistence state (INFO, the supervisor, tests); None when
    this segment has none."""
    if g_pp == NULL:
        return None
    if k == 'appendonly': return g_pp.appendonly
    if k == 'appendfsync': return g_pp.appendfsync
    if k == 'next_lsn': return g_pp.next_lsn
    if k == 'durable_lsn': return cc_atomic_load(&g_pp.durable_lsn)
    if k == 'wal_error': return g_pp.wal_error
    if k == 'bgsave_request': return g_pp.bgsave_request
    if k == 'snap_active': return g_pp.snap_active
    if k == 'snap_seq': return cc_atomic_load(&g_pp.snap_seq)
    if k == 'dirty': return cc_atomic_load(&g_pp.dirty)
    if k == 'lastsave': return g_pp.lastsave
    if k == 'last_bgsave_ok': return g_pp.last_bgsave_ok
    if k == 'last_bgsave_secs': return g_pp.last_bgsave_secs
    if k == 'snap_started_ms': return g_pp.snap_started_ms
    if k == 'rewrite_running': return g_pp.rewrite_running
    if k == 'wal_bytes': return g_pp.wal_bytes
    if k == 'wal_base_bytes': return g_pp.wal_base_bytes
    if k == 'loading': return g_pp.loading
    if k == 'ring_used': return cc_atomic_load(&g_pp.tail) - g_pp.head
    if k == 'ring_size': return g_pp.ring_pages * PAGE_SIZE
    if k == 'save': return (<bytes>g_pp.save).decode()
    if k == 'rewrite_percentage': return g_pp.rewrite_percentage
    if k == 'rewrite_min_size': return g_pp.rewrite_min_size
    raise KeyError(k)


def persist_set(str k, v):
    if g_pp == NULL:
        raise KeyError(k)
    if k == 'appendonly':
        if v and g_pp.ring_pages_off == 0:
            ring_create(RING_PAGES_DEFAULT)
        if v and not g_pp.appendonly:
            # writes made while it was off are in no record: a snapshot covers them
            g_pp.rewrite_running = 1
            g_pp.bgsave_request = 1
            g_pp.appendonly = v
            cc_atomic_store(&g_pp.sleeping, 1)     # the writer's idle sleep is long
            with nogil:
                wake_supervisor()
        g_pp.appendonly = v
    elif k == 'appendfsync': g_pp.appendfsync = v
    elif k == 'next_lsn': g_pp.next_lsn = v
    elif k == 'durable_lsn':
        cc_atomic_store(&g_pp.durable_lsn, v)
        wal_fence()
    elif k == 'wal_error': g_pp.wal_error = v
    elif k == 'bgsave_request': g_pp.bgsave_request = v
    elif k == 'snap_seq': cc_atomic_store(&g_pp.snap_seq, v)
    elif k == 'dirty': cc_atomic_store(&g_pp.dirty, v)
    elif k == 'lastsave': g_pp.lastsave = v
    elif k == 'last_bgsave_ok': g_pp.last_bgsave_ok = v
    elif k == 'last_bgsave_secs': g_pp.last_bgsave_secs = v
    elif k == 'snap_started_ms': g_pp.snap_started_ms = v
    elif k == 'rewrite_running': g_pp.rewrite_running = v
    elif k == 'wal_bytes': g_pp.wal_bytes = v
    elif k == 'wal_base_bytes': g_pp.wal_base_bytes = v
    elif k == 'loading': g_pp.loading = v
    elif k == 'save':
        b = v.encode()[:255]
        memcpy(g_pp.save, <const char *>b, len(b))
        g_pp.save[len(b)] = 0
    elif k == 'rewrite_percentage': g_pp.rewrite_percentage = v
    elif k == 'rewrite_min_size': g_pp.rewrite_min_size = v
    else:
        raise KeyError(k)


cdef persist_reached(set reached):
    """The invariant walk (check.pxi): the chunks the persistence state owns."""
    cdef uint64_t i
    if g_pp == NULL:
        return
    reached.add(g_hdr.persist_off)
    reached.add(g_pp.pending_off)
    if g_pp.ring_pages_off:
        reached.add(g_pp.ring_pages_off)
        for i in range(g_pp.ring_pages):
            reached.add((<uint64_t *>P(g_pp.ring_pages_off))[i])


def persist_ready():
    return g_pp != NULL


def set_wal_mute(bint on):
    global g_wal_mute
    g_wal_mute = on


def persist_configure_commands():
    """Mark the write commands whose keys execute cannot list (numkeys forms,
    whole-keyspace commands): with the WAL on they hold every shard."""
    global g_hold_all
    cdef int i
    if g_hold_all == NULL:
        g_hold_all = <uint8_t *>malloc(MAX_COMMANDS)
    memset(g_hold_all, 0, MAX_COMMANDS)
    for i in range(g_ncmds):
        name = g_cmds[i].name[:g_cmds[i].nlen].decode()
        if g_cmds[i].flags & CF_WRITE and (g_cmds[i].first <= 0 or name in (
                'zunionstore', 'zinterstore', 'zdiffstore', 'sort')):
            g_hold_all[i] = 1
        elif name in ('georadius', 'georadiusbymember'):
            g_hold_all[i] = 2       # all with a STORE word (types/geo.pxi), else a read


# ---- the ring ----------------------------------------------------------------------

cdef inline char *wring_at(uint64_t pos) noexcept nogil:
    cdef uint64_t *tab = <uint64_t *>P(g_pp.ring_pages_off)
    cdef uint64_t np = g_pp.ring_pages, i = pos >> PAGE_SHIFT
    if np & (np - 1):
        i = i % np
    else:
        i = i & (np - 1)                    # a power of two (the default): no division
    return <char *>P(tab[i]) + (pos & (PAGE_SIZE - 1))


cdef void ring_copy_in(uint64_t pos, const char *src, uint64_t n) noexcept nogil:
    cdef uint64_t step
    while n:
        step = PAGE_SIZE - (pos & (PAGE_SIZE - 1))
        if step > n:
            step = n
        memcpy(wring_at(pos), src, step)
        pos += step
        src += step
        n -= step


cdef void ring_copy_out(uint64_t pos, char *dst, uint64_t n) noexcept nogil:
    cdef uint64_t step
    while n:
        step = PAGE_SIZE - (pos & (PAGE_SIZE - 1))
        if step > n:
            step = n
        memcpy(dst, wring_at(pos), step)
        pos += step
        dst += step
        n -= step


cdef inline void wake_supervisor() noexcept nogil:
    """After publishing (an atomic store, a full barrier): wake the supervisor
    if it sleeps. It sets `sleeping` before its last look at the ring."""
    cdef uint64_t one = 1
    wal_fence()
    if cc_atomic_load(&g_pp.sleeping):
        cc_atomic_store(&g_pp.sleeping, 0)
        c_write(<int>g_pp.efd, &one, 8)


cdef uint64_t wal_append(const char *payload, uint64_t n, uint32_t db, int64_t ts) noexcept nogil:
    """Append one record; returns its LSN, or 0 when it can never fit the ring.
    Waits (back-pressure) while the ring is full."""
    cdef char hdr[REC_HDR]
    cdef uint64_t total = REC_HDR + n, size = g_pp.ring_pages * PAGE_SIZE, lsn
    cdef uint32_t crc = 0, len32 = <uint32_t>total, kind = 0
    if total > size or total > 0xffffffffULL:
        return 0
    memcpy(hdr, &len32, 4)
    memcpy(hdr + 16, &ts, 8)
    memcpy(hdr + 24, &db, 4)
    memcpy(hdr + 28, &kind, 4)
    _wal_lock_room(total, size)
    lsn = g_pp.next_lsn
    g_pp.next_lsn = lsn + 1
    memcpy(hdr + 8, &lsn, 8)
    memcpy(hdr + 4, &crc, 4)                # the supervisor computes it (ring_take)
    ring_copy_in(g_pp.tail, hdr, REC_HDR)
    ring_copy_in(g_pp.tail + REC_HDR, payload, n)
    cc_atomic_store(&g_pp.tail, g_pp.tail + total)
    cc_unlock(wal_mutex())
    if g_pp.appendfsync == FSYNC_ALWAYS or (g_pp.tail - g_pp.head) * 4 > size:
        wake_supervisor()                   # a commit to run, or a quarter full
    return lsn


cdef inline void _wal_lock_room(uint64_t total, uint64_t size) noexcept nogil:
    """Take the ring lock with room for total bytes; waits (back-pressure)
    while the ring is full."""
    while True:
        cc_lock(wal_mutex())
        if g_pp.tail + total - cc_atomic_load(&g_pp.head) <= size:
            return
        cc_unlock(wal_mutex())
        cc_atomic_store(&g_pp.sleeping, 1)  # make sure the drain runs
        wake_supervisor()
        usleep(200)


cdef uint64_t wal_append_run(char *recs, uint64_t n, uint64_t nrec) noexcept nogil:
    """Append nrec records framed one after another in recs (n bytes, headers
    complete but for the LSN, which is filled in here) under one ring lock;
    returns the last LSN. The caller keeps n within half the ring."""
    cdef uint64_t size = g_pp.ring_pages * PAGE_SIZE, lsn = 0, pos = 0, i
    cdef uint32_t rlen
    _wal_lock_room(n, size)
    lsn = g_pp.next_lsn
    for i in range(nrec):
        memcpy(recs + pos + 8, &lsn, 8)
        memcpy(&rlen, recs + pos, 4)
        pos += rlen
        lsn += 1
    g_pp.next_lsn = lsn
    ring_copy_in(g_pp.tail, recs, n)
    cc_atomic_store(&g_pp.tail, g_pp.tail + n)
    cc_unlock(wal_mutex())
    if g_pp.appendfsync == FSYNC_ALWAYS or (g_pp.tail - g_pp.head) * 4 > size:
        wake_supervisor()
    return lsn - 1


def ring_take(uint64_t maxbytes):
    """The published records not yet taken, whole records only, up to about
    maxbytes, as bytes with their CRCs: (bytes, last LSN, records). Moves head
    past them. (The supervisor writes with ring_write, which copies nothing.)"""
    cdef uint64_t head = g_pp.head, pos, last, nrec
    cdef bytes out
    cdef char *dst
    with nogil:
        pos = _ring_whole(maxbytes, &last, &nrec)
    if pos == head:
        return b"", 0, 0
    out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(pos - head))
    dst = <char *>out
    with nogil:
        ring_copy_out(head, dst, pos - head)
        _seal_records(dst, pos - head)
    cc_atomic_store(&g_pp.head, pos)
    return out, last, nrec


cdef uint64_t _ring_whole(uint64_t maxbytes, uint64_t *last, uint64_t *nrec) noexcept nogil:
    """Where the published records from head up to about maxbytes end (whole
    records; at least one when any), their last LSN and their count."""
    cdef uint64_t head = g_pp.head, tail = cc_atomic_load(&g_pp.tail), pos = head
    cdef uint32_t rlen
    cdef char rh[16]
    last[0] = 0
    nrec[0] = 0
    while pos < tail:
        if (pos & (PAGE_SIZE - 1)) + 16 <= PAGE_SIZE:     # the usual case: in one page
            memcpy(rh, wring_at(pos), 16)
        else:
            ring_copy_out(pos, rh, 16)
        memcpy(&rlen, rh, 4)
        if pos + rlen - head > maxbytes and pos > head:
            break
        memcpy(last, rh + 8, 8)
        pos += rlen
        nrec[0] += 1
    return pos


cdef void _seal_in_ring(uint64_t pos, uint64_t end) noexcept nogil:
    """Fill in the CRC of every record of [pos, end) where it lies in the ring
    (the consumer owns the bytes between head and tail); a record crossing a
    page end is summed in two steps."""
    cdef uint32_t rlen, crc
    cdef uint64_t at, n, step
    cdef char rh[8]
    while pos < end:
        ring_copy_out(pos, rh, 8)
        memcpy(&rlen, rh, 4)
        crc = 0
        at = pos + 8
        n = rlen - 8
        while n:
            step = PAGE_SIZE - (at & (PAGE_SIZE - 1))
            if step > n:
                step = n
            crc = cc_crc32(crc, wring_at(at), step)
            at += step
            n -= step
        ring_copy_in(pos + 4, <const char *>&crc, 4)
        pos += rlen


def ring_first_lsn():
    """Supervisor: the LSN of the oldest record not yet taken, 0 when none."""
    cdef uint64_t lsn = 0
    if g_pp == NULL or g_pp.ring_pages_off == 0 or cc_atomic_load(&g_pp.tail) == g_pp.head:
        return 0
    ring_copy_out(g_pp.head + 8, <char *>&lsn, 8)
    return lsn


def ring_write(int fd, uint64_t maxbytes):
    """Supervisor: write the published records not yet taken (whole records,
    up to about maxbytes) to fd straight from the ring pages, their CRCs filled
    in where they lie, and move head past them: (bytes, last LSN, records).
    Nothing is copied out of the ring. On a failed write head stays: the
    records are written again by the next call (the caller cuts what part of
    them reached the file)."""
    cdef uint64_t head, end, last, nrec, pos, step
    cdef iovec *iov
    cdef int cnt = 0, err = 0
    if g_pp == NULL or g_pp.ring_pages_off == 0:
        return 0, 0, 0
    head = g_pp.head
    with nogil:
        end = _ring_whole(maxbytes, &last, &nrec)
    if end == head:
        return 0, 0, 0
    iov = <iovec *>malloc(sizeof(iovec) * ((end - head) // PAGE_SIZE + 2))
    if iov == NULL:
        raise MemoryError()
    try:
        with nogil:
            _seal_in_ring(head, end)
            pos = head
            while pos < end:
                step = PAGE_SIZE - (pos & (PAGE_SIZE - 1))
                if step > end - pos:
                    step = end - pos
                iov[cnt].iov_base = wring_at(pos)
                iov[cnt].iov_len = step
                cnt += 1
                pos += step
            err = wal_writev_all(fd, iov, cnt)
    finally:
        free(iov)
    if err:
        raise OSError(err, os_strerror(err))
    cc_atomic_store(&g_pp.head, end)
    return end - head, last, nrec


cdef void _seal_records(char *p, uint64_t n) noexcept nogil:
    """Fill in the CRC of every record (off the writers' path: it guards the
    files, the ring is memory)."""
    cdef uint64_t pos = 0
    cdef uint32_t rlen, crc
    while pos < n:
        memcpy(&rlen, p + pos, 4)
        crc = cc_crc32(0, p + pos + 8, rlen - 8)
        memcpy(p + pos + 4, &crc, 4)
        pos += rlen


def wal_crc32(data, uint32_t crc=0, bint table=False):
    """The CRC the supervisor seals records with (tests: it must equal zlib.crc32);
    table=True forces the table code a CPU without carry-less multiply runs."""
    cdef const unsigned char[:] v = data
    if v.shape[0] == 0:
        return crc
    if table:
        cc_crc32(0, NULL, 0)                # the tables are made on first use
        return ~cc_crc_table(~crc, &v[0], v.shape[0]) & 0xffffffff
    return cc_crc32(crc, &v[0], v.shape[0])


def ring_pending():
    return cc_atomic_load(&g_pp.tail) - g_pp.head if g_pp != NULL and g_pp.ring_pages_off else 0


def supervisor_sleeping(bint on):
    cc_atomic_store(&g_pp.sleeping, on)
    wal_fence()


def take_waiting(int worker):
    """Supervisor: whether worker waits for durability; clears the flag."""
    cdef uint64_t v = cc_atomic_load(&g_pp.waiting[worker])
    if v:
        cc_atomic_store(&g_pp.waiting[worker], 0)
    return v != 0


# ---- records of writes (Client.execute) -----------------------------------------------

cdef int persist_begin(Client c, int idx) except -1:
    """Before a write command: with the WAL on, hold its keys' shards. Returns
    1 when shards were taken (persist_end releases them)."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef int64_t first = cmd.first, last = cmd.last, step = cmd.step, i, n = 0
    c.flags &= ~CL_UNCHANGED
    if g_pp.wal_error and g_pp.appendonly and not g_wal_mute:
        wb_error(&c.out, "MISCONF Errors writing to the AOF file: see the server log")
        return 2
    if not wal_on() or g_holding:
        return 0
    if g_hold_all == NULL:
        persist_configure_commands()
    if g_hold_all[idx] == 1 or (g_hold_all[idx] == 2 and geo_has_store_word(c)):
        shards_hold_all()
        return 1
    if last < 0:
        last = <int64_t>c.argc + last
    if step <= 0:
        step = 1
    if last >= <int64_t>c.argc:
        last = <int64_t>c.argc - 1
    if <int64_t>c.argc > g_keyshards_cap:
        _grow_keyshards(<int>c.argc)
    i = first
    while i <= last:
        g_keyshards[n] = shard_of(cc_hash(c.argv[i], c.argl[i]))
        n += 1
        i += step
    if n == 0:
        return 0
    shards_hold(g_keyshards, <int>n)     # the GIL stays: a worker has one thread
    ho_hold_chain(c, first, last, step)  # BLMOVE waiters' chains from its keys (shm/blocking.pxi)
    return 1


cdef int _grow_keyshards(int n) except -1:
    global g_keyshards, g_keyshards_cap
    cdef uint32_t *p = <uint32_t *>realloc(g_keyshards, 4 * <size_t>(n + 16))
    if p == NULL:
        raise MemoryError()
    g_keyshards = p
    g_keyshards_cap = n + 16
    return 0


cdef int persist_end(Client c, int idx, uint64_t before, int held) except -1:
    """After a write command: count it and, with the WAL on, append its effect
    record, then release the shards persist_begin held. (No try/finally: on the
    path every write takes, saving the exception state costs more than the
    record; nothing here raises before the release.)"""
    cdef uint64_t lsn = 1, rawn = 0
    cdef const char *raw
    cdef bint oom = False
    cdef bint unchanged = (c.flags & CL_UNCHANGED) != 0    # e.g. SETBIT of a bit as it was
    c.flags &= ~CL_UNCHANGED
    if (g_pp != NULL and not g_wal_mute and c.out.len > before and c.out.p[before] != 45
            and not unchanged
            and not c.flags & CL_HANDED):       # a push's hand-over logged its pops (shm/blocking.pxi)
        cc_atomic_add(&g_pp.dirty, 1)
        if wal_on():
            raw = NULL
            if not g_cmds[idx].flags & (CF_BLOCKING | CF_RANDOM):
                raw = _rec_raw(c, &rawn)
            if raw == NULL:
                oom = _build_record(c, idx)
                raw = g_rec.p
                rawn = g_rec.len
            if oom:
                pass
            elif g_group_depth:
                _group_add(raw, rawn, <uint32_t>c.db, c.now_ms)
            elif bh_collecting():
                lsn = bh_rec_add(raw, rawn, <uint32_t>c.db, c.now_ms)   # commands/batchhold.pxi
            else:
                lsn = wal_append(raw, rawn, <uint32_t>c.db, c.now_ms)
                if lsn:
                    c.wal_lsn = lsn
    if g_ho_nrec:
        if bh_collecting():
            bh_rec_flush()                      # the writer's record goes first
        handover_log(c)                         # the pops a push did for blocked clients
    if held == 1:
        shards_release()
    if oom:
        raise MemoryError()
    if lsn == 0:
        _plog.error("effect record of %d bytes does not fit the WAL ring", g_rec.len)
        c.out.len = before
        wb_error(&c.out, "MISCONF the effect record of this write does not fit the WAL ring")
    return 0


cdef inline uint64_t _digits(uint64_t v) noexcept nogil:
    cdef uint64_t n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


cdef bint _rec_count_is(const char *p, uint64_t v) noexcept nogil:
    """The decimal digits at p (as many as v has) are v."""
    cdef uint64_t i = _digits(v)
    while i:
        i -= 1
        if p[i] != 48 + <char>(v % 10):
            return False
        v //= 10
    return True


cdef const char *_rec_raw(Client c, uint64_t *n) noexcept nogil:
    """The request's own bytes when they are the record's payload as it stands
    (the command as asked): arguments parsed from a multibulk request in the
    read buffer, untouched and one after another. The parser takes only
    canonical counts (no sign, no leading zero) and CRLF ends every line, so
    headers of canonical length between the arguments are their canonical
    encoding: the bytes are what re-encoding argv would give, without the
    formatting. NULL otherwise (inline requests, arguments a transaction, a
    script or a tenant's rewrite made, stray bytes after an argument)."""
    cdef const char *lo = c.rp.buf
    cdef const char *hi = c.rp.buf + c.rp.len
    cdef const char *p
    cdef const char *start
    cdef uint64_t i, argc = c.argc
    if argc == 0 or c.argv[0] < lo or c.argv[0] >= hi:
        return NULL
    start = c.argv[0] - (_digits(c.argl[0]) + 3) - (_digits(argc) + 3)
    if start < lo or start[0] != 42:        # '*'
        return NULL
    if not _rec_count_is(start + 1, argc):  # a handler that changed argc
        return NULL
    p = c.argv[0]
    i = 0
    while True:
        if c.argv[i] != p:
            return NULL
        p += c.argl[i]
        if p + 2 > hi or p[0] != 13 or p[1] != 10:
            return NULL
        p += 2
        i += 1
        if i == argc:
            break
        p += _digits(c.argl[i]) + 3         # "$<len>\r\n"
    n[0] = <uint64_t>(p - start)
    return start


cdef void _rec_reset() noexcept:
    global g_rec_ready
    if not g_rec_ready:
        g_rec.cap = 16384
        g_rec.p = <char *>malloc(g_rec.cap)
        g_rec.resp = 2
        g_rec_ready = True
    g_rec.len = 0
    g_rec.oom = g_rec.p == NULL


cdef bint _build_record(Client c, int idx) noexcept:
    """The payload of the running write's effect record into g_rec; True
    when it did not fit in memory."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef uint64_t i
    _rec_reset()
    if g_rec.oom:
        return True
    if cmd.flags & CF_BLOCKING:
        _rec_blocking(c, cmd)
    elif cmd.flags & CF_RANDOM:
        _rec_state(c, cmd)
    else:
        wb_array(&g_rec, c.argc)
        for i in range(c.argc):
            wb_bulk(&g_rec, c.argv[i], c.argl[i])
    return g_rec.oom


cdef void _rec_args(Client c, const char *name, uint64_t first, uint64_t last,
                    const char *extra1, const char *extra2) noexcept:
    """name, argv[first..last], then up to two extra words, as one command."""
    cdef int64_t n = 1 + <int64_t>(last + 1 - first) + (extra1 != NULL) + (extra2 != NULL)
    cdef uint64_t i
    wb_array(&g_rec, n)
    wb_bulk(&g_rec, name, strlen(name))
    for i in range(first, last + 1):
        wb_bulk(&g_rec, c.argv[i], c.argl[i])
    if extra1 != NULL:
        wb_bulk(&g_rec, extra1, strlen(extra1))
    if extra2 != NULL:
        wb_bulk(&g_rec, extra2, strlen(extra2))


cdef void _rec_blocking(Client c, cmd_t *cmd) noexcept:
    """A served blocking pop as its non-blocking form: the same keys in the same
    state give the same result on replay (LMPOP pops from the first non-empty)."""
    cdef bytes name = cmd.name[:cmd.nlen]
    cdef char num[24]
    cdef uint64_t nkeys
    if name in (b'blpop', b'brpop', b'bzpopmin', b'bzpopmax'):
        nkeys = c.argc - 2
        snprintf(num, 24, "%llu", <unsigned long long>nkeys)
        wb_array(&g_rec, <int64_t>nkeys + 3)
        if name[1] == 122:                  # 'z'
            wb_bulk(&g_rec, "ZMPOP", 5)
        else:
            wb_bulk(&g_rec, "LMPOP", 5)
        wb_bulk(&g_rec, num, strlen(num))
        for i in range(1, c.argc - 1):
            wb_bulk(&g_rec, c.argv[i], c.argl[i])
        if name == b'blpop':
            wb_bulk(&g_rec, "LEFT", 4)
        elif name == b'brpop':
            wb_bulk(&g_rec, "RIGHT", 5)
        elif name == b'bzpopmin':
            wb_bulk(&g_rec, "MIN", 3)
        else:
            wb_bulk(&g_rec, "MAX", 3)
    elif name == b'blmove':
        _rec_args(c, "LMOVE", 1, 4, NULL, NULL)
    elif name == b'brpoplpush':
        _rec_args(c, "RPOPLPUSH", 1, 2, NULL, NULL)
    elif name == b'blmpop':
        _rec_args(c, "LMPOP", 2, c.argc - 1, NULL, NULL)
    elif name == b'bzmpop':
        _rec_args(c, "ZMPOP", 2, c.argc - 1, NULL, NULL)
    else:
        _rec_state(c, cmd)


cdef void _rec_state(Client c, cmd_t *cmd) noexcept:
    """A state record: for each key of the command, DEL then the commands that
    rebuild its value now (SPOP: which members went is random)."""
    cdef int64_t first = cmd.first, last = cmd.last, i
    cdef kref_t k
    if last < 0:
        last = <int64_t>c.argc + last
    i = first
    while 0 < i <= last and i < <int64_t>c.argc:
        wb_array(&g_rec, 2)
        wb_bulk(&g_rec, "DEL", 3)
        wb_bulk(&g_rec, c.argv[i], c.argl[i])
        kref_init(&k, c.argv[i], c.argl[i])
        shard_lock(k.shard)                 # held already: a no-op
        if key_find_locked(&k, c.db, c.now_ms):
            ser_item(&g_rec, IT(k.item))
        shard_unlock(k.shard)
        i += cmd.step if cmd.step > 0 else 1


cdef void wal_log_evict(uint64_t item, uint32_t s) noexcept nogil:
    """An eviction deletes `item` (its shard s locked): append DEL of its key.
    Inside a group, the DEL of a key in a held shard joins the group (the group
    may have written that key); other shards' DELs go to the ring at once."""
    cdef wbuf_t w
    cdef item_t *it = IT(item)
    if not wal_on():
        return
    if g_group_depth and g_held[s]:
        w.len = g_group.len
        _ser_head(&g_group, 2, "DEL", it)
        _group_note(g_group.len - w.len, <uint32_t>_logical_db(it.db), cc_now_ms())
        return
    w.cap = it.klen + 64
    w.len = 0
    w.resp = 2
    w.oom = False
    w.p = <char *>malloc(w.cap)
    if w.p == NULL:
        return
    _ser_head(&w, 2, "DEL", it)
    if w.oom:
        pass
    elif bh_collecting() and <int64_t>s == g_bh_shard:
        bh_rec_add(w.p, w.len, <uint32_t>_logical_db(it.db), cc_now_ms())   # after the run's writes
    else:
        wal_append(w.p, w.len, <uint32_t>_logical_db(it.db), cc_now_ms())
    free(w.p)


# ---- groups: a transaction or a script is one record ------------------------------------
#
# EXEC and EVAL/FCALL open a group (while holding their shards): the effect
# records of the commands they run are gathered here instead of going to the
# ring, and closing the group appends them as ONE record, before the shards are
# released. Recovery and restore apply a record whole or not at all, so a crash
# never keeps part of a transaction. The group's payload is an ordinary command
# stream: SELECT where the db changes between commands and a NUL-led `\0clock
# <ms>` pseudo-command where the clock does (apply_commands honours both); a
# group of one command is byte for byte the record that command alone gives.
# Groups nest (EVAL inside EXEC): the outermost close appends.

cdef int g_group_depth = 0
cdef wbuf_t g_group                   # the open group's commands
cdef bint g_group_ready = False
cdef uint64_t g_group_n = 0           # commands in it
cdef uint32_t g_group_db0, g_group_db   # db of its first / last command
cdef int64_t g_group_ts0, g_group_ts    # clock of its first / last command


cdef int wal_group_open() except -1:
    global g_group_depth, g_group_n, g_group_ready
    if g_group_depth == 0:
        if not g_group_ready:
            wb_init(&g_group)
            g_group_ready = True
        g_group.len = 0
        g_group.oom = False
        g_group_n = 0
    g_group_depth += 1
    return 0


cdef void _group_note(uint64_t n, uint32_t db, int64_t ts) noexcept nogil:
    """The last n bytes of g_group are one more command, run in db at ts: put
    the SELECT / clock switch it needs in front of it."""
    global g_group_n, g_group_db0, g_group_db, g_group_ts0, g_group_ts
    cdef wbuf_t pre
    cdef char *cmd
    if g_group_n == 0:
        g_group_db0 = g_group_db = db
        g_group_ts0 = g_group_ts = ts
    elif db != g_group_db or ts != g_group_ts:
        pre.cap = 128
        pre.len = 0
        pre.resp = 2
        pre.oom = False
        pre.p = <char *>malloc(pre.cap)
        if pre.p == NULL:
            g_group.oom = True
            return
        if db != g_group_db:
            ser_select(&pre, <int>db)
            g_group_db = db
        if ts != g_group_ts:
            wb_array(&pre, 2)
            wb_bulk(&pre, "\x00clock", 6)
            wb_bulk_int(&pre, ts)
            g_group_ts = ts
        if not pre.oom and wb_reserve(&g_group, pre.len):
            cmd = g_group.p + g_group.len - n
            memmove(cmd + pre.len, cmd, n)
            memcpy(cmd, pre.p, pre.len)
            g_group.len += pre.len
        else:
            g_group.oom = True
        free(pre.p)
    g_group_n += 1


cdef void _group_add(const char *p, uint64_t n, uint32_t db, int64_t ts) noexcept nogil:
    wb_put(&g_group, p, n)
    _group_note(n, db, ts)


cdef int wal_group_close(Client c) except -1:
    """Close a group; the outermost appends it as one record and makes it the
    client's last record (appendfsync always holds its reply for it), then
    serves the clients blocked on the keys the batch wrote (shm/blocking.pxi)."""
    _group_close_record(c)
    if g_group_depth == 0:
        handover_deferred(c)
    return 0


cdef int _group_close_record(Client c) except -1:
    global g_group_depth, g_group_n
    cdef uint64_t lsn
    g_group_depth -= 1
    if g_group_depth > 0 or g_group_n == 0:
        return 0
    g_group_n = 0
    if g_group.oom:
        _plog.error("a transaction's records did not fit in memory: not logged")
        return 0
    with nogil:
        lsn = wal_append(g_group.p, g_group.len, g_group_db0, g_group_ts0)
    if lsn == 0:
        _plog.error("transaction record of %d bytes does not fit the WAL ring: not logged", g_group.len)
    elif c is not None:
        c.wal_lsn = lsn
    return 0


def wal_group_begin():
    """A script starts (scripting/commands.py): its writes become one record."""
    wal_group_open()


def wal_group_end(Client c):
    wal_group_close(c)


def wal_flush_db(uint32_t db):
    """flush_all after its delay (memcached): empty the db and log it when it
    takes effect, as a FLUSHDB run at that moment."""
    cdef uint64_t lsn
    if not wal_on() or g_holding:
        with nogil:
            db_flush(db)
        return
    with nogil:
        shards_hold_all()
    try:
        with nogil:
            db_flush(db)
        cc_atomic_add(&g_pp.dirty, 1)
        _rec_reset()
        wb_array(&g_rec, 1)
        wb_bulk(&g_rec, "FLUSHDB", 7)
        with nogil:
            lsn = wal_append(g_rec.p, g_rec.len, db, cc_now_ms())
    finally:
        shards_release()


# ---- replies held for durability (appendfsync always) ----------------------------------

cdef inline bint persist_must_hold(Client c) noexcept:
    return (g_pp != NULL and g_pp.appendfsync == FSYNC_ALWAYS and g_pp.appendonly
            and c.wal_lsn > cc_atomic_load(&g_pp.durable_lsn))


cdef int persist_hold(Client c, bytes out) except -1:
    """Keep the client's replies until its last record is durable."""
    if c.wal_held is None:
        c.wal_held = [out]
        g_waiters.add(c)
    else:
        c.wal_held.append(out)
    cc_atomic_store(&g_pp.waiting[g_worker], 1)
    with nogil:
        wake_supervisor()
    wal_fence()
    if cc_atomic_load(&g_pp.durable_lsn) >= c.wal_lsn:   # a commit finished meanwhile
        release_durable()
    return 0


def release_durable():
    """Send the held replies whose records are durable now (the worker's eventfd
    was written by the supervisor after a commit)."""
    cdef Client c
    cdef uint64_t durable
    if g_pp == NULL or not g_waiters:
        return 0
    durable = cc_atomic_load(&g_pp.durable_lsn)
    done = [c for c in g_waiters if (<Client>c).wal_lsn <= durable]
    for c in done:
        g_waiters.discard(c)
        held = c.wal_held
        c.wal_held = None
        if c.transport is not None:
            c.transport.write(b"".join(held))
            if c.flags & (CL_CLOSE_AFTER_REPLY | CL_CLOSE_ASAP):
                c.transport.close()
    if g_waiters:
        cc_atomic_store(&g_pp.waiting[g_worker], 1)
        if cc_atomic_load(&g_pp.durable_lsn) > durable:
            return len(done) + release_durable()
        with nogil:
            wake_supervisor()
    return len(done)


def forget_waiter(Client c):
    g_waiters.discard(c)
    c.wal_held = None


def request_bgsave():
    """A worker asks the supervisor for a snapshot."""
    g_pp.bgsave_request = 1
    cc_atomic_store(&g_pp.sleeping, 1)
    with nogil:
        wake_supervisor()


# ---- memcached writes ---------------------------------------------------------------------
#
# A memcached write is logged as a state record of its key (DEL, then the
# commands rebuilding the value with its flags and expiry): exptime, CAS and
# the flags word then need no translation into RESP. flush_all is FLUSHDB of
# the memcached db; a delayed one is logged when it takes effect (wal_flush_db).
# A meta command whose key came base64-encoded (flag b) logs the decoded key.

cdef inline bint _mc_is_write(int cmd) noexcept:
    return (MC_SET <= cmd <= MC_DELETE or cmd == MC_TOUCH or cmd == MC_GAT or cmd == MC_GATS
            or cmd == MC_MS or cmd == MC_MD or cmd == MC_MA or cmd == MC_FLUSH_ALL)


cdef int persist_mc_begin(McClient c) except -1:
    """Before a memcached command: hold the shards of a write's keys."""
    cdef uint64_t first, i
    cdef int n = 0
    if not wal_on() or g_holding or not _mc_is_write(c.mp.cmd):
        return 0
    if c.mp.cmd == MC_FLUSH_ALL:
        if c.mp.ntok != (2 if c.mp.noreply else 1):
            return 0                        # delayed: not logged (a known gap)
        with nogil:
            shards_hold_all()
        return 1
    first = 2 if c.mp.cmd == MC_GAT or c.mp.cmd == MC_GATS else 1
    if c.mp.ntok <= first:
        return 0
    if <int64_t>c.mp.ntok > g_keyshards_cap:
        _grow_keyshards(<int>c.mp.ntok)
    for i in range(first, c.mp.ntok if first == 2 else 2):
        if not _mc_log_key(c, i):
            return 0                        # a bad base64 key: the command fails
        g_keyshards[n] = shard_of(cc_hash(g_mc_lkey, g_mc_lklen))
        n += 1
    with nogil:
        shards_hold(g_keyshards, n)
    return 1


cdef char g_mc_lkbuf[MC_KEY_MAX + 8]
cdef const char *g_mc_lkey = NULL     # the key token i as stored (_mc_log_key)
cdef uint64_t g_mc_lklen = 0


cdef bint _mc_log_key(McClient c, uint64_t i) noexcept:
    """The key of token i as the keyspace holds it: decoded when a meta
    command carries flag b. False when that base64 is invalid."""
    global g_mc_lkey, g_mc_lklen
    cdef uint64_t j
    g_mc_lkey = c.tok(i)
    g_mc_lklen = c.tlen(i)
    if c.mp.cmd == MC_MS or c.mp.cmd == MC_MD or c.mp.cmd == MC_MA:
        for j in range(2, c.mp.ntok):
            if c.tlen(j) == 1 and c.tok(j)[0] == 98:        # b
                g_mc_lklen = b64_decode(c.tok(i), c.tlen(i), g_mc_lkbuf, MC_KEY_MAX)
                g_mc_lkey = g_mc_lkbuf
                return g_mc_lklen != 0
    return True


cdef int persist_mc_end(McClient c, uint64_t before, int held) except -1:
    """After it: the state record of every key it named, then release."""
    cdef uint64_t first, i, lsn
    cdef kref_t k
    try:
        if held and c.out.len > before and not _mc_failed(c, before):
            cc_atomic_add(&g_pp.dirty, 1)
            _rec_reset()
            if c.mp.cmd == MC_FLUSH_ALL:
                wb_array(&g_rec, 1)
                wb_bulk(&g_rec, "FLUSHDB", 7)
            else:
                first = 2 if c.mp.cmd == MC_GAT or c.mp.cmd == MC_GATS else 1
                for i in range(first, c.mp.ntok if first == 2 else 2):
                    _mc_log_key(c, i)
                    wb_array(&g_rec, 2)
                    wb_bulk(&g_rec, "DEL", 3)
                    wb_bulk(&g_rec, g_mc_lkey, g_mc_lklen)
                    kref_init(&k, g_mc_lkey, g_mc_lklen)
                    if key_find_locked(&k, c.db, c.now_ms) and IT(k.item).type == T_STRING:
                        ser_item(&g_rec, IT(k.item))
            if g_rec.oom:
                raise MemoryError()
            with nogil:
                lsn = wal_append(g_rec.p, g_rec.len, <uint32_t>c.db, c.now_ms)   # a tenant's db for its members
            if lsn:
                c.wal_lsn = lsn
    finally:
        if held == 1:
            shards_release()
    return 0


cdef bint _mc_failed(McClient c, uint64_t before) noexcept:
    """A reply that says nothing changed (errors, NOT_STORED, NOT_FOUND, EXISTS)."""
    cdef const char *p = c.out.p + before
    cdef uint64_t n = c.out.len - before
    return ((n >= 5 and memcmp(p, b"ERROR", 5) == 0) or (n >= 12 and memcmp(p, b"CLIENT_ERROR", 12) == 0)
            or (n >= 12 and memcmp(p, b"SERVER_ERROR", 12) == 0)
            or (n >= 10 and memcmp(p, b"NOT_STORED", 10) == 0)
            or (n >= 9 and memcmp(p, b"NOT_FOUND", 9) == 0) or (n >= 6 and memcmp(p, b"EXISTS", 6) == 0))
