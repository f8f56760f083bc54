# Shadow caches of the adaptive eviction policy: miniature simulations that
# choose its window share. Owns the shadow chunks (header.shadow_off) and the
# shadow lock; reads the frequency sketch (shm/sketch.pxi), sets
# header.window_permille (shm/evict.pxi). ADR 12 has the numbers.
#
# How it works. A hashed sample of the keys, one in 2^shadow_shift (the
# smallest rate whose sampled part of the cache fits 1000 keys; every key for
# a cache of fewer), is replayed through a few miniature caches, each
# the adaptive policy at one fixed window share and holding the cache's key
# count scaled down by the same rate. Every `period` sampled accesses the real
# window moves to the share of the miniature with the best recent hits (the
# scores lose 1/8 each period). A miniature holds only key hashes: no values,
# no keys; its frequencies are the shared sketch's estimates of those hashes,
# as the real policy's are.
#
# A miniature copies the real policy step for step: a new key enters a FIFO
# window (a key read there is kept once more at its end, as CLOCK does); while
# the cache has room, keys leaving the window join the main part; when it is
# full, the oldest key past the window meets the least used of
# maxmemory-samples random main keys (lowest sketch estimate, then oldest
# access) and the less frequent goes, the newcomer on a tie. Hill climbing,
# which this replaces, compared hit ratios of successive periods of the real
# cache and needed many periods to settle; the miniatures compare the shares
# side by side on the same accesses.
#
# Cost: an access of an unsampled key costs one hash mix; a sampled one, under
# a try-lock (a worker that finds it taken skips the access: nobody waits), one
# lookup in each miniature, and on a miss one eviction in each. Memory: each
# miniature is one chunk of ~22 bytes a simulated key, ~24 KiB at 1000; they are
# made at the first evictions and remade when the cache's key count moves by
# more than a quarter. Frequencies are read under the caller's shard lock (the
# sketch is swapped only under every shard lock). A worker dying while holding
# the shadow lock leaves the window where it was; eviction goes on.

from libc.math cimport sqrt

ctypedef struct shadow_t:
    uint64_t real_keys           # keys of the real cache the miniatures were sized for
    uint64_t tick                # sampled accesses so far
    uint64_t next_pick           # tick of the next choice of window share
    uint32_t n                   # miniatures
    uint32_t cap                 # keys each holds
    uint64_t mini[8]             # chunk offsets
    uint64_t score[8]            # hits, losing 1/8 every period

ctypedef struct mini_t:          # then mentry_t[nslots], uint16 ring[nslots], uint16 index[mask + 1]
    uint32_t permille            # window share
    uint32_t cap                 # keys held when full
    uint32_t count               # keys held
    uint32_t wcount              # keys in the window ring
    uint32_t whead               # ring position of the oldest
    uint32_t nslots              # cap + 1: the newcomer is in before the eviction
    uint32_t mask                # index slots - 1
    uint32_t free                # first free entry + 1, chained through .last; 0 = none
    uint32_t used                # entries ever handed out
    uint32_t streak              # choices in a row this miniature scored best
    uint64_t hits                # since the last choice
    uint64_t rng                 # its own random sequence: the real sampling's stays untouched

ctypedef struct mentry_t:
    uint64_t h                   # key hash
    uint32_t last                # tick of the last access
    uint32_t flags               # SE_*

cdef enum:
    SHADOW_MAX_N = 8
    SHADOW_MAX_CAP = 2000        # simulated keys a miniature can hold (one chunk)
    SE_USED = 1
    SE_WINDOW = 2
    SE_REF = 4

cdef uint64_t SHADOW_SALT = 0x5851f42d4c957f2dULL

# the policy's parameters (module state: the replay may change them, see _test_shadow_tune)
cdef uint32_t g_shadow_n = 6
cdef uint32_t g_shadow_shares[8]
g_shadow_shares[:6] = [10, 50, 200, 500, 800, 990]
cdef uint32_t g_shadow_period = 4          # sampled accesses between choices, per key of a miniature
cdef uint32_t g_shadow_decay = 3           # scores lose score >> decay each period
cdef uint32_t g_shadow_max_cap = 1000      # simulated keys at most (a cache of more is sampled)
cdef uint32_t g_shadow_margin = 63         # a share must beat the current one by score >> margin
cdef bint g_shadow_exact_clock = False     # order ties by access count instead of the item clock
cdef uint32_t g_shadow_first = 4           # the first choice after this many sampled accesses a key
cdef uint32_t g_shadow_confirm = 1         # choices in a row a new share must score best to be taken
cdef uint32_t g_shadow_noise = 0           # stay unless the best beats the current share by noise/10 sqrt(score)


cdef inline mentry_t *_me(mini_t *m, uint32_t i) noexcept nogil:
    return (<mentry_t *>((<char *>m) + sizeof(mini_t))) + i


cdef inline uint16_t *_mring(mini_t *m) noexcept nogil:
    return <uint16_t *>((<char *>m) + sizeof(mini_t) + sizeof(mentry_t) * m.nslots)


cdef inline uint16_t *_midx(mini_t *m) noexcept nogil:
    return _mring(m) + m.nslots


cdef inline uint32_t _mhome(mini_t *m, uint64_t h) noexcept nogil:
    return <uint32_t>(cc_mix(h ^ SHADOW_SALT) >> 20) & m.mask


cdef inline mini_t *_mini(shadow_t *sh, uint32_t i) noexcept nogil:
    return <mini_t *>P(sh.mini[i])


# ---- one miniature ------------------------------------------------------------------

cdef int64_t _mini_find(mini_t *m, uint64_t h) noexcept nogil:
    cdef uint16_t *idx = _midx(m)
    cdef uint32_t j = _mhome(m, h)
    while idx[j]:
        if _me(m, idx[j] - 1).h == h:
            return idx[j] - 1
        j = (j + 1) & m.mask
    return -1


cdef void _mini_unindex(mini_t *m, uint64_t h) noexcept nogil:
    """Remove hash h from the index (backward-shift delete: no tombstones)."""
    cdef uint16_t *idx = _midx(m)
    cdef uint32_t i = _mhome(m, h), k, home
    while _me(m, idx[i] - 1).h != h:
        i = (i + 1) & m.mask
    idx[i] = 0
    k = i
    while True:
        k = (k + 1) & m.mask
        if idx[k] == 0:
            return
        home = _mhome(m, _me(m, idx[k] - 1).h)
        if ((k - home) & m.mask) >= ((k - i) & m.mask):
            idx[i] = idx[k]
            idx[k] = 0
            i = k


cdef void _mini_remove(mini_t *m, uint32_t i) noexcept nogil:
    cdef mentry_t *e = _me(m, i)
    _mini_unindex(m, e.h)
    e.flags = 0
    e.last = m.free
    m.free = i + 1
    m.count -= 1


cdef inline void _ring_push(mini_t *m, uint32_t i) noexcept nogil:
    _mring(m)[(m.whead + m.wcount) % m.nslots] = <uint16_t>i
    m.wcount += 1


cdef inline uint32_t _ring_pop(mini_t *m) noexcept nogil:
    cdef uint32_t i = _mring(m)[m.whead]
    m.whead = (m.whead + 1) % m.nslots
    m.wcount -= 1
    return i


cdef inline uint32_t _mini_window(mini_t *m) noexcept nogil:
    cdef uint32_t w = <uint32_t>(<uint64_t>m.cap * m.permille // 1000)
    return w if w else 1


cdef int64_t _mini_victim(mini_t *m, uint32_t samples, uint32_t *freq) noexcept nogil:
    """The least used of `samples` random main keys (lowest estimate, then the
    oldest access), or -1 when the tries found none."""
    cdef int64_t best = -1
    cdef uint64_t sc, best_sc = 0
    cdef uint32_t found = 0, visits = 0, i
    cdef mentry_t *e
    while found < samples and visits < 64 * samples:
        visits += 1
        m.rng += 0x9e3779b97f4a7c15ULL
        i = <uint32_t>(cc_mix(m.rng) % m.used)
        e = _me(m, i)
        if e.flags & SE_USED and not (e.flags & SE_WINDOW):
            found += 1
            sc = (<uint64_t>sketch_estimate(e.h) << 32) | e.last
            if best < 0 or sc < best_sc:
                best = i
                best_sc = sc
    freq[0] = <uint32_t>(best_sc >> 32)
    return best


cdef void _mini_evict(mini_t *m, uint32_t samples) noexcept nogil:
    """One eviction, as evict_adaptive makes it."""
    cdef uint32_t w = _mini_window(m), vfreq = 0, i
    cdef int64_t cand, v
    cdef mentry_t *e
    cdef int attempt
    for attempt in range(8):
        cand = -1
        while m.wcount > w:
            i = _ring_pop(m)
            e = _me(m, i)
            if e.flags & SE_REF:
                e.flags &= ~SE_REF
                _ring_push(m, i)         # read in the window: once more (CLOCK)
                continue
            e.flags &= ~SE_WINDOW
            cand = i
            break
        v = _mini_victim(m, samples, &vfreq)
        if cand >= 0 and v < 0 and attempt < 7:
            continue                     # no main key yet: the candidate joins the main part
        if cand >= 0 and (v < 0 or sketch_estimate(_me(m, cand).h) <= vfreq):
            _mini_remove(m, <uint32_t>cand)
            return
        if v >= 0:
            _mini_remove(m, <uint32_t>v)
            return
        if m.wcount:
            _mini_remove(m, _ring_pop(m))   # nothing in the main part: the window's oldest
            return


cdef void _mini_access(mini_t *m, uint64_t h, uint32_t tick, uint32_t samples) noexcept nogil:
    """A lookup of h: a hit, or a miss that stores it (evicting when full)."""
    cdef int64_t f = _mini_find(m, h)
    cdef uint32_t i, j
    cdef mentry_t *e
    if f >= 0:
        e = _me(m, <uint32_t>f)
        m.hits += 1
        e.last = tick
        if e.flags & SE_WINDOW:
            e.flags |= SE_REF
        return
    if m.free:
        i = m.free - 1
        m.free = _me(m, i).last
    else:
        i = m.used
        m.used += 1
    e = _me(m, i)
    e.h = h
    e.last = tick
    e.flags = SE_USED | SE_WINDOW
    j = _mhome(m, h)
    while _midx(m)[j]:
        j = (j + 1) & m.mask
    _midx(m)[j] = <uint16_t>(i + 1)
    _ring_push(m, i)
    m.count += 1
    if m.count + m.cap // 32 < m.cap:
        while m.wcount > _mini_window(m):    # room: keys past the window join the main part
            _me(m, _ring_pop(m)).flags &= ~(SE_WINDOW | SE_REF)
    elif m.count > m.cap:
        _mini_evict(m, samples)


cdef uint64_t _mini_make(uint32_t cap, uint32_t permille) noexcept nogil:
    """A zeroed miniature chunk, or 0 when memory is short."""
    cdef uint32_t nslots = cap + 1, slots = 4
    cdef uint64_t size, off
    cdef mini_t *m
    while slots < 2 * nslots:
        slots *= 2
    size = sizeof(mini_t) + sizeof(mentry_t) * nslots + 2 * nslots + 2 * slots
    if size > PAGE_SIZE:
        return 0
    off = slab_alloc(size)
    if off == 0:
        return 0
    memset(P(off), 0, size)
    m = <mini_t *>P(off)
    m.permille = permille
    m.cap = cap
    m.nslots = nslots
    m.mask = slots - 1
    m.rng = permille
    return off


# ---- the set of miniatures --------------------------------------------------------

cdef inline void shadow_access(uint64_t h, uint32_t lru) noexcept nogil:
    """An access of key hash h under the adaptive policy (a shard lock held);
    `lru` is the item's access clock, which orders equally frequent keys."""
    cdef uint64_t s = g_hdr.shadow_shift
    if g_hdr.shadow_off == 0:
        return
    if s and (cc_mix(h ^ SHADOW_SALT) >> (64 - s)) != 0:
        return
    _shadow_run(h, lru)


cdef inline bint _shadow_trylock() noexcept nogil:
    cdef uint64_t expected = 0
    return g_hdr.shadow_lock == 0 and cc_cas_u64(&g_hdr.shadow_lock, &expected, 1)


cdef void _shadow_run(uint64_t h, uint32_t lru) noexcept nogil:
    cdef shadow_t *sh
    cdef uint32_t i, samples = g_hdr.maxmemory_samples or 5
    if not _shadow_trylock():
        return                           # another worker is in: this access is not simulated
    if g_hdr.shadow_off:
        sh = <shadow_t *>P(g_hdr.shadow_off)
        sh.tick += 1
        if g_shadow_exact_clock:
            lru = <uint32_t>sh.tick
        for i in range(sh.n):
            _mini_access(_mini(sh, i), h, lru, samples)
        if sh.tick >= sh.next_pick:
            _shadow_pick(sh)
    cc_atomic_store(&g_hdr.shadow_lock, 0)


cdef void _shadow_pick(shadow_t *sh) noexcept nogil:
    """Move the real window to the share of the miniature with the best recent
    hits (the current share keeps its place on a tie)."""
    cdef uint32_t i, best = 0, cur = sh.n
    cdef mini_t *m
    for i in range(sh.n):
        m = _mini(sh, i)
        sh.score[i] = sh.score[i] - (sh.score[i] >> g_shadow_decay) + m.hits
        m.hits = 0
        if sh.score[i] > sh.score[best]:
            best = i
        if m.permille == g_hdr.window_permille:
            cur = i
    for i in range(sh.n):
        m = _mini(sh, i)
        m.streak = m.streak + 1 if i == best else 0
    if cur < sh.n and (_shadow_stays(sh, best, cur) or _mini(sh, best).streak < g_shadow_confirm):
        best = cur
    sh.next_pick = sh.tick + <uint64_t>g_shadow_period * (sh.cap if sh.cap > 64 else 64)
    if not g_window_fixed and _mini(sh, best).permille != g_hdr.window_permille:
        evict_window_set(_mini(sh, best).permille)      # shm/evict.pxi


cdef bint _shadow_stays(shadow_t *sh, uint32_t best, uint32_t cur) noexcept nogil:
    """True when the current share should be kept although `best` scored more."""
    if sh.score[best] <= sh.score[cur] + (sh.score[cur] >> g_shadow_margin):
        return True
    # off by default: measured, it trades rows (ADR 12, fourth pass)
    return g_shadow_noise != 0 and (<double>(sh.score[best] - sh.score[cur])
                                    <= g_shadow_noise * 0.1 * sqrt(<double>sh.score[cur]))


cdef void _shadow_free(uint64_t off) noexcept nogil:
    cdef shadow_t *sh = <shadow_t *>P(off)
    cdef uint32_t i
    for i in range(sh.n):
        if sh.mini[i]:
            slab_free(sh.mini[i])
    slab_free(off)


cdef void shadow_fit(uint64_t real_keys) noexcept nogil:
    """Make the miniatures for a cache of `real_keys` keys, or remake them when
    the cache's key count moved by more than a quarter. Called every few
    evictions (the cache is full then, so its key count is its size)."""
    cdef uint64_t old = g_hdr.shadow_off, off, cap
    cdef uint32_t shift = 0, i
    cdef shadow_t *sh
    if real_keys == 0:
        return
    if old:
        sh = <shadow_t *>P(old)
        if 4 * real_keys <= 5 * sh.real_keys and 4 * sh.real_keys <= 5 * real_keys:
            return
    while (real_keys >> shift) > g_shadow_max_cap:
        shift += 1
    cap = real_keys >> shift
    off = slab_alloc(sizeof(shadow_t))
    if off == 0:
        return
    sh = <shadow_t *>P(off)
    memset(sh, 0, sizeof(shadow_t))
    sh.real_keys = real_keys
    sh.cap = <uint32_t>cap
    sh.n = g_shadow_n
    sh.next_pick = <uint64_t>g_shadow_first * (cap if cap > 64 else 64)
    for i in range(sh.n):
        sh.mini[i] = _mini_make(<uint32_t>cap, g_shadow_shares[i])
        if sh.mini[i] == 0:
            _shadow_free(off)
            return
    if not _shadow_trylock():
        _shadow_free(off)                # busy: the next call tries again
        return
    old = g_hdr.shadow_off
    g_hdr.shadow_shift = shift
    g_hdr.shadow_off = off
    cc_atomic_store(&g_hdr.shadow_lock, 0)
    if old:
        _shadow_free(old)


cdef void shadow_chunks(list out) except *:
    """Chunks of the miniatures (the invariant walk, shm/check.pxi)."""
    cdef shadow_t *sh
    cdef uint32_t i
    if g_hdr.shadow_off == 0:
        return
    out.append(g_hdr.shadow_off)
    sh = <shadow_t *>P(g_hdr.shadow_off)
    for i in range(sh.n):
        out.append(sh.mini[i])


def _test_shadow_state():
    """The miniatures' shares, scores and size (tests, the replay tool)."""
    cdef shadow_t *sh
    if g_hdr.shadow_off == 0:
        return None
    sh = <shadow_t *>P(g_hdr.shadow_off)
    return {'shift': g_hdr.shadow_shift, 'cap': sh.cap, 'tick': sh.tick,
            'shares': [_mini(sh, i).permille for i in range(sh.n)],
            'scores': [sh.score[i] for i in range(sh.n)],
            'counts': [_mini(sh, i).count for i in range(sh.n)]}


def _test_shadow_tune(shares=None, period=None, decay=None, max_cap=None, margin=None, exact_clock=None,
                      noise=None, sketch_period=None, first=None, confirm=None):
    """Set this process's shadow parameters (taken when the miniatures are made);
    returns the current ones. For measuring variants offline."""
    global g_shadow_n, g_shadow_period, g_shadow_decay, g_shadow_max_cap, g_shadow_margin, g_shadow_exact_clock
    global g_shadow_noise, g_sketch_period, g_shadow_first, g_shadow_confirm
    cdef uint32_t i
    if shares is not None:
        if not 1 <= len(shares) <= SHADOW_MAX_N:
            raise ValueError('1 to 8 shares')
        for i in range(len(shares)):
            g_shadow_shares[i] = shares[i]
        g_shadow_n = len(shares)
    if period is not None:
        g_shadow_period = period
    if decay is not None:
        g_shadow_decay = decay
    if margin is not None:
        g_shadow_margin = margin
    if exact_clock is not None:
        g_shadow_exact_clock = exact_clock
    if noise is not None:
        g_shadow_noise = noise
    if first is not None:
        g_shadow_first = first
    if confirm is not None:
        g_shadow_confirm = confirm
    if sketch_period is not None:
        g_sketch_period = sketch_period
    if max_cap is not None:
        if not 1 <= max_cap <= SHADOW_MAX_CAP:
            raise ValueError('max_cap out of range')
        g_shadow_max_cap = max_cap
    return {'shares': [g_shadow_shares[i] for i in range(g_shadow_n)], 'period': g_shadow_period,
            'decay': g_shadow_decay, 'max_cap': g_shadow_max_cap, 'margin': g_shadow_margin,
            'exact_clock': g_shadow_exact_clock, 'noise': g_shadow_noise, 'first': g_shadow_first, 'confirm': g_shadow_confirm,
            'sketch_period': g_sketch_period}
