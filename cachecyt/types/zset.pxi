# Sorted sets: members (bytes) with double scores, ordered by score then member.
#
# A zset item's value area holds a zroot_t. Two encodings, as Redis 7.0:
#   ENC_LISTPACK  one chunk (zroot_t.lp): [uint32 count][uint32 bytes] then
#                 entries [double score][uint32 mlen][member], sorted. Used while
#                 count <= zset-max-listpack-entries and every member is at most
#                 zset-max-listpack-value bytes (and the chunk fits one page).
#   ENC_SKIPLIST  a skiplist of nodes (one chunk each, linked by offset, with
#                 spans so a rank is found in O(log n)) plus a member index
#                 (a dict_t of kind DICT_NODES, types/dict.pxi) for O(1) ZSCORE. Never converts back,
#                 as Redis (except results built by a STORE command).
# Long members (over ZS_INLINE_MAX bytes, up to proto-max-bulk-len) do not fit a
# node: the node holds the offset of an element chunk (types/dict.pxi elem_t,
# the member as its key, in page extents when it is bigger than a page) and the
# member's hash, and frees the element with itself. Comparisons read such a
# member piece by piece (zmem_t); a cursor on one has no contiguous pointer
# (zcur_t.m is NULL): replies stream it from the pages (zcur_emit), and the few
# paths that hash it or match it copy it out (zcur_bytes).
# Every element operation below expects the key's shard lock held, touches only
# C data and works on a zroot_t copied out of the item (zs_load / zs_store):
# the root may sit in extents when the key is very long.
#
# Commands reach elements by rank: a score or lex range is first turned into a
# rank interval [start, end) (zs_score_rank / zs_lex_rank), then walked with a
# cursor (zcur_t) forwards or backwards.

cdef extern from *:
    """
    #include <errno.h>
    #include <stdlib.h>
    static double zs_c_strtod(const char *s, char **end, int *erange) {
        double v;
        errno = 0;
        v = strtod(s, end);
        *erange = errno == ERANGE;
        return v;
    }
    """
    double zs_c_strtod(const char *s, char **end, int *erange) nogil
cdef extern from "<math.h>" nogil:
    double HUGE_VAL

cdef enum:
    ZS_MAXLEVEL = 32
    ZS_LP_HDR = 8                # uint32 count, uint32 bytes
    ZS_LP_ENTRY = 12             # double score + uint32 mlen, before the member
    ZS_INLINE_MAX = 64000        # longer members live in an element chunk of their own

ctypedef struct zroot_t:
    uint64_t lp                  # listpack chunk, or the skiplist's header node
    uint64_t length              # members
    uint64_t tail                # skiplist: last node (0 when empty)
    uint64_t idx                 # skiplist: member index, a dict_t of kind DICT_NODES (types/dict.pxi)
    uint64_t spare
    uint32_t level               # skiplist: levels in use (>= 1)
    uint32_t pad

ctypedef struct zlevel_t:
    uint64_t forward             # next node on this level, 0 = end
    uint64_t span                # ranks crossed by forward

ctypedef struct znode_t:
    double score
    uint64_t backward            # previous node on level 0 (0 for the first)
    uint32_t mlen                # member bytes
    uint32_t level
    # zlevel_t[level], then the member bytes, or for a long member (mlen >
    # ZS_INLINE_MAX) a zlong_t

ctypedef struct zlong_t:
    uint64_t elem                # element chunk holding the member as its key (types/dict.pxi)
    uint64_t hash                # cc_hash of the member (the index is probed without reading it)

ctypedef struct zmem_t:          # a member's bytes: contiguous (p), or a long member's element
    const char *p
    uint64_t elem                # used when p is NULL
    uint64_t len


cdef inline znode_t *ZN(uint64_t off) noexcept nogil:
    return <znode_t *>P(off)

cdef inline zlevel_t *zn_lv(znode_t *n) noexcept nogil:
    return <zlevel_t *>((<char *>n) + sizeof(znode_t))

cdef inline char *zn_member(znode_t *n) noexcept nogil:
    """The member bytes of a node whose member is not long (else its zlong_t)."""
    return (<char *>n) + sizeof(znode_t) + n.level * sizeof(zlevel_t)

cdef inline bint zn_long(znode_t *n) noexcept nogil:
    return n.mlen > ZS_INLINE_MAX

cdef inline zlong_t *zn_lg(znode_t *n) noexcept nogil:
    return <zlong_t *>zn_member(n)

cdef inline uint64_t zn_chunk_bytes(znode_t *n) noexcept nogil:
    """Bytes of the node chunk itself."""
    return sizeof(znode_t) + n.level * sizeof(zlevel_t) + (sizeof(zlong_t) if zn_long(n) else n.mlen)


cdef inline void zn_view(znode_t *n, zmem_t *v) noexcept nogil:
    """The node's member as a zmem_t (contiguous unless it spans pages)."""
    v.len = n.mlen
    v.elem = 0
    if not zn_long(n):
        v.p = zn_member(n)
        return
    v.elem = zn_lg(n).elem
    v.p = NULL if elem_big(n.mlen, 0) else elem_data(v.elem)


cdef inline const char *zmem_piece(zmem_t *v, uint64_t pos, uint64_t *avail) noexcept nogil:
    """Pointer to the member's bytes from pos on, and how many follow
    contiguously (to the end of a page of a long member)."""
    cdef uint64_t within
    if v.p != NULL:
        avail[0] = v.len - pos
        return v.p + pos
    within = pos & (PAGE_SIZE - 1)
    avail[0] = PAGE_SIZE - within
    if avail[0] > v.len - pos:
        avail[0] = v.len - pos
    return <const char *>(g_base + elem_extents(v.elem)[pos >> PAGE_SHIFT] + within)


cdef int zmem_cmp(zmem_t *a, zmem_t *b) noexcept nogil:
    """Byte order of two members, as zs_lexcmp, piece by piece."""
    cdef uint64_t pos = 0, n = a.len if a.len < b.len else b.len, na, nb, step
    cdef const char *pa
    cdef const char *pb
    cdef int c
    if a.p != NULL and b.p != NULL:
        return zs_lexcmp(a.p, a.len, b.p, b.len)
    while pos < n:
        pa = zmem_piece(a, pos, &na)
        pb = zmem_piece(b, pos, &nb)
        step = na if na < nb else nb
        if step > n - pos:
            step = n - pos
        c = memcmp(pa, pb, step)
        if c:
            return c
        pos += step
    return -1 if a.len < b.len else (1 if a.len > b.len else 0)


cdef int zn_lexcmp_key(znode_t *n, const char *m, uint64_t mlen) noexcept nogil:
    """Byte order of the node's member against m."""
    cdef zmem_t a, b
    if not zn_long(n):
        return zs_lexcmp(zn_member(n), n.mlen, m, mlen)
    zn_view(n, &a)
    b.p = m
    b.len = mlen
    b.elem = 0
    return zmem_cmp(&a, &b)


cdef inline int zn_cmp_key(znode_t *n, double score, const char *m, uint64_t mlen) noexcept nogil:
    """Order of the node against (score, m): <0, 0, >0."""
    if n.score < score:
        return -1
    if n.score > score:
        return 1
    return zn_lexcmp_key(n, m, mlen)


cdef int _zn_cmp_tie(znode_t *a, znode_t *b) noexcept nogil:
    cdef zmem_t va, vb
    if not zn_long(a) and not zn_long(b):
        return zs_lexcmp(zn_member(a), a.mlen, zn_member(b), b.mlen)
    zn_view(a, &va)
    zn_view(b, &vb)
    return zmem_cmp(&va, &vb)


cdef inline int zn_cmp(znode_t *a, znode_t *b) noexcept nogil:
    """Order of two nodes by (score, member)."""
    if a.score < b.score:
        return -1
    if a.score > b.score:
        return 1
    return _zn_cmp_tie(a, b)


cdef inline bint zn_key_eq(uint64_t off, const char *key, uint64_t klen) noexcept nogil:
    """Whether the node's member is key (the member index's key test)."""
    cdef znode_t *n = ZN(off)
    if n.mlen != klen:
        return False
    if not zn_long(n):
        return memcmp(zn_member(n), key, klen) == 0
    return zn_lexcmp_key(n, key, klen) == 0


cdef inline uint64_t zn_hash(znode_t *n) noexcept nogil:
    return zn_lg(n).hash if zn_long(n) else cc_hash(zn_member(n), n.mlen)


cdef void zn_free(uint64_t off) noexcept nogil:
    """Free a node and a long member's element."""
    if zn_long(ZN(off)):
        elem_free(zn_lg(ZN(off)).elem)
    slab_free(off)


cdef inline uint64_t zn_mem(uint64_t off) noexcept nogil:
    """Arena bytes of a node and a long member's element."""
    if zn_long(ZN(off)):
        return slab_chunk_size(off) + elem_mem(zn_lg(ZN(off)).elem)
    return slab_chunk_size(off)


cdef inline void zs_load(item_t *it, zroot_t *r) noexcept nogil:
    item_read(it, it.klen, <char *>r, sizeof(zroot_t))

cdef inline void zs_store(item_t *it, zroot_t *r) noexcept nogil:
    item_write(it, it.klen, <const char *>r, sizeof(zroot_t))


cdef inline int zs_cmp(double s1, const char *m1, uint64_t l1,
                       double s2, const char *m2, uint64_t l2) noexcept nogil:
    """Order of (score, member) pairs: <0, 0, >0."""
    if s1 < s2:
        return -1
    if s1 > s2:
        return 1
    return zs_lexcmp(m1, l1, m2, l2)


cdef inline int zs_lexcmp(const char *a, uint64_t la, const char *b, uint64_t lb) noexcept nogil:
    cdef int c = memcmp(a, b, la if la < lb else lb)
    if c:
        return c
    return -1 if la < lb else (1 if la > lb else 0)


# ---- listpack ----------------------------------------------------------------------

cdef inline uint32_t *lp_hdr(uint64_t lp) noexcept nogil:
    return <uint32_t *>P(lp)

cdef inline double lp_score(char *e) noexcept nogil:
    cdef double d
    memcpy(&d, e, 8)
    return d

cdef inline uint32_t lp_mlen(char *e) noexcept nogil:
    cdef uint32_t n
    memcpy(&n, e + 8, 4)
    return n

cdef inline char *lp_next(char *e) noexcept nogil:
    return e + ZS_LP_ENTRY + lp_mlen(e)


cdef char *lp_find(uint64_t lp, const char *m, uint64_t mlen) noexcept nogil:
    cdef uint32_t i, n = lp_hdr(lp)[0]
    cdef char *e = <char *>P(lp) + ZS_LP_HDR
    for i in range(n):
        if lp_mlen(e) == mlen and memcmp(e + ZS_LP_ENTRY, m, mlen) == 0:
            return e
        e = lp_next(e)
    return NULL


cdef uint64_t lp_insert(uint64_t lp, const char *m, uint64_t mlen, double score) noexcept nogil:
    """Insert a member known absent at its place; returns the (maybe moved)
    chunk, or 0 when out of memory (lp unchanged)."""
    cdef uint32_t used = lp_hdr(lp)[1], n = lp_hdr(lp)[0], i
    cdef uint64_t need = used + ZS_LP_ENTRY + mlen, nlp = lp
    cdef char *e
    cdef uint64_t pos
    cdef uint32_t ml = <uint32_t>mlen
    if score == 0:
        score = 0.0                  # Redis's listpack keeps -0 as the integer 0
    if need > slab_chunk_size(lp):
        nlp = slab_alloc(need)
        if nlp == 0:
            return 0
        memcpy(P(nlp), P(lp), used)
        slab_free(lp)
    e = <char *>P(nlp) + ZS_LP_HDR
    for i in range(n):
        if zs_cmp(score, m, mlen, lp_score(e), e + ZS_LP_ENTRY, lp_mlen(e)) < 0:
            break
        e = lp_next(e)
    pos = <uint64_t>(e - <char *>P(nlp))
    memmove(e + ZS_LP_ENTRY + mlen, e, used - pos)
    memcpy(e, &score, 8)
    memcpy(e + 8, &ml, 4)
    memcpy(e + ZS_LP_ENTRY, m, mlen)
    lp_hdr(nlp)[0] = n + 1
    lp_hdr(nlp)[1] = <uint32_t>need
    return nlp


cdef void lp_delete(uint64_t lp, char *e, uint32_t count) noexcept nogil:
    """Remove `count` consecutive entries starting at e."""
    cdef char *end = e
    cdef uint32_t i, used = lp_hdr(lp)[1]
    for i in range(count):
        end = lp_next(end)
    memmove(e, end, used - <uint64_t>(end - <char *>P(lp)))
    lp_hdr(lp)[0] -= count
    lp_hdr(lp)[1] = used - <uint32_t>(end - e)


cdef char *lp_at(uint64_t lp, uint64_t rank) noexcept nogil:
    cdef char *e = <char *>P(lp) + ZS_LP_HDR
    while rank > 0:
        e = lp_next(e)
        rank -= 1
    return e


# ---- skiplist ----------------------------------------------------------------------

cdef uint64_t zn_new(uint32_t level, double score, const char *m, uint64_t mlen, uint64_t h) noexcept nogil:
    """A new unlinked node (h: cc_hash of m), or 0 when out of memory."""
    cdef bint lng = mlen > ZS_INLINE_MAX
    cdef uint64_t off = slab_alloc(sizeof(znode_t) + level * sizeof(zlevel_t) + (sizeof(zlong_t) if lng else mlen))
    cdef uint64_t e = 0
    cdef znode_t *n
    if off == 0:
        return 0
    if lng:
        e = elem_new(m, mlen, NULL, 0)
        if e == 0:
            slab_free(off)
            return 0
    n = ZN(off)
    n.score = score
    n.backward = 0
    n.mlen = <uint32_t>mlen
    n.level = level
    memset(zn_lv(n), 0, level * sizeof(zlevel_t))
    if lng:
        zn_lg(n).elem = e
        zn_lg(n).hash = h
    else:
        memcpy(zn_member(n), m, mlen)
    return off


cdef inline uint32_t zsl_random_level() noexcept nogil:
    cdef uint32_t level = 1
    cdef uint64_t x = cc_rand()
    while level < ZS_MAXLEVEL and (x & 3) == 0:     # p = 1/4
        level += 1
        x >>= 2
        if x == 0:
            x = cc_rand()
    return level


cdef int zsl_init(zroot_t *r) noexcept nogil:
    r.lp = zn_new(ZS_MAXLEVEL, 0.0, NULL, 0, 0)
    if r.lp == 0:
        return ST_NOMEM
    r.idx = dict_new_index(DICT_MIN)
    if r.idx == 0:
        slab_free(r.lp)
        return ST_NOMEM
    r.spare = 0
    r.length = 0
    r.tail = 0
    r.level = 1
    return ST_OK


cdef int zsl_insert(zroot_t *r, const char *m, uint64_t mlen, double score) noexcept nogil:
    """Insert a member known absent. ST_OK, ST_NOMEM, or ST_TOOBIG (a member
    longer than an element can hold, past 511 MiB)."""
    cdef uint64_t off, h = cc_hash(m, mlen)
    if mlen > <uint64_t>0xffffffffU:
        return ST_TOOBIG
    off = zn_new(zsl_random_level(), score, m, mlen, h)
    if off == 0:
        return ST_TOOBIG if mlen > ZS_INLINE_MAX and elem_too_big(mlen) else ST_NOMEM
    if dict_insert(&r.idx, h, off) != ST_OK:   # before linking: nothing to undo
        zn_free(off)
        return ST_NOMEM
    zsl_link(r, off)
    return ST_OK


cdef inline bint elem_too_big(uint64_t n) noexcept nogil:
    """Whether an element of n key bytes needs more extents than its chunk holds."""
    return ELEM_HDR + 8 * ((n + PAGE_SIZE - 1) >> PAGE_SHIFT) > PAGE_SIZE


cdef inline void zsl_prefetch_down(uint64_t x, int i) noexcept nogil:
    """While a walk at node x compares x's successor on level i, start loading
    the one on level i - 1, where the walk goes next if it stops at x: the two
    cache misses overlap instead of following each other."""
    cdef uint64_t d
    if i > 0:
        d = zn_lv(ZN(x))[i - 1].forward
        if d:
            cc_prefetch(P(d))


cdef void zsl_link(zroot_t *r, uint64_t off) noexcept nogil:
    """Link the unlinked node at off (its score, member and level set) in its
    place."""
    cdef uint64_t update[ZS_MAXLEVEL]
    cdef uint64_t rank[ZS_MAXLEVEL]
    cdef uint64_t x = r.lp, f
    cdef znode_t *xn
    cdef znode_t *nn = ZN(off)
    cdef int i
    cdef uint32_t level = nn.level
    i = <int>r.level - 1
    while i >= 0:
        rank[i] = 0 if i == <int>r.level - 1 else rank[i + 1]
        while True:
            f = zn_lv(ZN(x))[i].forward
            zsl_prefetch_down(x, i)
            if f == 0 or zn_cmp(ZN(f), nn) >= 0:
                break
            rank[i] += zn_lv(ZN(x))[i].span
            x = f
        update[i] = x
        i -= 1
    if level > r.level:
        for i in range(r.level, level):
            rank[i] = 0
            update[i] = r.lp
            zn_lv(ZN(r.lp))[i].span = r.length
        r.level = level
    for i in range(level):
        xn = ZN(update[i])
        zn_lv(nn)[i].forward = zn_lv(xn)[i].forward
        zn_lv(xn)[i].forward = off
        zn_lv(nn)[i].span = zn_lv(xn)[i].span - (rank[0] - rank[i])
        zn_lv(xn)[i].span = (rank[0] - rank[i]) + 1
    for i in range(level, r.level):
        zn_lv(ZN(update[i]))[i].span += 1
    nn.backward = 0 if update[0] == r.lp else update[0]
    f = zn_lv(nn)[0].forward
    if f:
        ZN(f).backward = off
    else:
        r.tail = off
    r.length += 1


cdef void zsl_update_score(zroot_t *r, uint64_t off, double score) noexcept nogil:
    """Give a linked node a new score, reusing the node (the member index still
    points at it): in place when its neighbours still frame the new score, else
    unlinked and linked again at its new place (as Redis's zslUpdateScore)."""
    cdef uint64_t update[ZS_MAXLEVEL]
    cdef znode_t *n = ZN(off)
    cdef uint64_t b = n.backward, f = zn_lv(n)[0].forward
    if (b == 0 or ZN(b).score < score) and (f == 0 or ZN(f).score > score):
        n.score = score
        return
    zsl_find_update(r, off, update)
    zsl_unlink(r, off, update)
    n.score = score
    n.backward = 0
    memset(zn_lv(n), 0, n.level * sizeof(zlevel_t))
    zsl_link(r, off)


cdef void zsl_unlink(zroot_t *r, uint64_t off, uint64_t *update) noexcept nogil:
    cdef int i
    cdef znode_t *n = ZN(off)
    cdef zlevel_t *ul
    for i in range(r.level):
        ul = zn_lv(ZN(update[i])) + i
        if ul.forward == off:
            ul.span += zn_lv(n)[i].span - 1
            ul.forward = zn_lv(n)[i].forward
        else:
            ul.span -= 1
    if zn_lv(n)[0].forward:
        ZN(zn_lv(n)[0].forward).backward = n.backward
    else:
        r.tail = n.backward
    while r.level > 1 and zn_lv(ZN(r.lp))[r.level - 1].forward == 0:
        r.level -= 1
    r.length -= 1


cdef void zsl_find_update(zroot_t *r, uint64_t off, uint64_t *update) noexcept nogil:
    """update[i] = the last node on level i before the linked node at off."""
    cdef uint64_t x = r.lp, f
    cdef znode_t *n = ZN(off)
    cdef int i = <int>r.level - 1
    while i >= 0:
        while True:
            f = zn_lv(ZN(x))[i].forward
            zsl_prefetch_down(x, i)
            if f == 0 or f == off or zn_cmp(ZN(f), n) >= 0:
                break
            x = f
        update[i] = x
        i -= 1


cdef void zsl_delete_node(zroot_t *r, uint64_t off) noexcept nogil:
    """Unlink and free a node, and drop it from the index."""
    cdef uint64_t update[ZS_MAXLEVEL]
    cdef int64_t slot = dict_find_elem(DT(r.idx), zn_hash(ZN(off)), off)
    zsl_find_update(r, off, update)
    zsl_unlink(r, off, update)
    if slot >= 0:
        dict_delete_at(&r.idx, <uint64_t>slot)
    zn_free(off)


cdef uint64_t zsl_at(zroot_t *r, uint64_t rank) noexcept nogil:
    """The node at 0-based rank (< length)."""
    cdef uint64_t x = r.lp, traversed = 0, want = rank + 1, f
    cdef int i = <int>r.level - 1
    while i >= 0:
        while True:
            f = zn_lv(ZN(x))[i].forward
            if f == 0 or traversed + zn_lv(ZN(x))[i].span > want:
                break
            traversed += zn_lv(ZN(x))[i].span
            x = f
        if traversed == want:
            return x
        i -= 1
    return 0


cdef uint64_t zsl_rank(zroot_t *r, double score, const char *m, uint64_t mlen) noexcept nogil:
    """0-based rank of the member (present) with its score."""
    cdef uint64_t x = r.lp, traversed = 0, f
    cdef int i = <int>r.level - 1
    while i >= 0:
        while True:
            f = zn_lv(ZN(x))[i].forward
            if f == 0 or zn_cmp_key(ZN(f), score, m, mlen) > 0:
                break
            traversed += zn_lv(ZN(x))[i].span
            x = f
        i -= 1
    return traversed - 1


cdef void zsl_clear(zroot_t *r) noexcept nogil:
    """Remove every member in O(n) (no per-node search): free the nodes, empty
    the header's levels and the index."""
    cdef uint64_t x = zn_lv(ZN(r.lp))[0].forward, nxt, fresh
    while x:
        nxt = zn_lv(ZN(x))[0].forward
        zn_free(x)
        x = nxt
    memset(zn_lv(ZN(r.lp)), 0, ZS_MAXLEVEL * sizeof(zlevel_t))
    fresh = dict_new_index(DICT_MIN)         # a small table, or the old one emptied
    if fresh:
        dict_free(r.idx, False)
        r.idx = fresh
    else:
        dict_clear(DT(r.idx))
    r.length = 0
    r.tail = 0
    r.level = 1


cdef void zsl_free(zroot_t *r) noexcept nogil:
    cdef uint64_t x = zn_lv(ZN(r.lp))[0].forward, nxt
    while x:
        nxt = zn_lv(ZN(x))[0].forward
        zn_free(x)
        x = nxt
    slab_free(r.lp)
    dict_free(r.idx, False)


# ---- encoding-independent element API -----------------------------------------------

cdef inline bint zs_is_lp(item_t *it) noexcept nogil:
    return it.encoding == ENC_LISTPACK


cdef inline bint zs_find(item_t *it, zroot_t *r, const char *m, uint64_t mlen, double *score) noexcept nogil:
    cdef uint64_t node
    return zs_find_node(it, r, m, mlen, score, &node)


cdef bint zs_find_node(item_t *it, zroot_t *r, const char *m, uint64_t mlen, double *score,
                       uint64_t *node) noexcept nogil:
    """Whether m is a member, its score, and its skiplist node (0 in a listpack)."""
    cdef char *e
    cdef int64_t slot
    node[0] = 0
    if zs_is_lp(it):
        e = lp_find(r.lp, m, mlen)
        if e == NULL:
            return False
        score[0] = lp_score(e)
        return True
    slot = dict_find(DT(r.idx), cc_hash(m, mlen), m, mlen)
    if slot < 0:
        return False
    node[0] = dict_elem(DT(r.idx), <uint64_t>slot)
    score[0] = ZN(node[0]).score
    return True


cdef int zs_convert(item_t *it, zroot_t *r) noexcept nogil:
    """Listpack -> skiplist. ST_OK or ST_NOMEM (unchanged)."""
    cdef zroot_t nr
    cdef uint32_t i, n = lp_hdr(r.lp)[0]
    cdef char *e
    cdef uint64_t pos = ZS_LP_HDR
    memset(&nr, 0, sizeof(zroot_t))
    if zsl_init(&nr) != ST_OK:
        return ST_NOMEM
    for i in range(n):
        e = <char *>P(r.lp) + pos
        if zsl_insert(&nr, e + ZS_LP_ENTRY, lp_mlen(e), lp_score(e)) != ST_OK:
            zsl_free(&nr)
            return ST_NOMEM
        pos += ZS_LP_ENTRY + lp_mlen(<char *>P(r.lp) + pos)
    slab_free(r.lp)
    r[0] = nr
    it.encoding = ENC_SKIPLIST
    return ST_OK


cdef int zs_insert(item_t *it, zroot_t *r, const char *m, uint64_t mlen, double score) noexcept nogil:
    """Add a member known absent, converting the encoding when a threshold is
    passed. ST_OK, ST_NOMEM or ST_TOOBIG."""
    cdef uint64_t nlp
    cdef int st
    if zs_is_lp(it):
        if (r.length + 1 > g_hdr.zset_max_listpack_entries or mlen > g_hdr.zset_max_listpack_value
                or lp_hdr(r.lp)[1] + ZS_LP_ENTRY + mlen > PAGE_SIZE):
            st = zs_convert(it, r)
            if st != ST_OK:
                return st
        else:
            nlp = lp_insert(r.lp, m, mlen, score)
            if nlp == 0:
                return ST_NOMEM
            r.lp = nlp
            r.length += 1
            return ST_OK
    return zsl_insert(r, m, mlen, score)


cdef bint zs_remove(item_t *it, zroot_t *r, const char *m, uint64_t mlen) noexcept nogil:
    cdef char *e
    cdef int64_t slot
    if zs_is_lp(it):
        e = lp_find(r.lp, m, mlen)
        if e == NULL:
            return False
        lp_delete(r.lp, e, 1)
        r.length -= 1
        return True
    slot = dict_find(DT(r.idx), cc_hash(m, mlen), m, mlen)
    if slot < 0:
        return False
    zsl_delete_node(r, dict_elem(DT(r.idx), <uint64_t>slot))
    return True


cdef int zs_set_score(item_t *it, zroot_t *r, const char *m, uint64_t mlen, double score) noexcept nogil:
    """Change the score of a present member: a listpack's entry is removed and
    inserted again, a skiplist node moves. ST_OK or ST_NOMEM."""
    cdef int64_t slot
    if not zs_is_lp(it):
        slot = dict_find(DT(r.idx), cc_hash(m, mlen), m, mlen)
        if slot >= 0:
            zsl_update_score(r, dict_elem(DT(r.idx), <uint64_t>slot), score)
            return ST_OK
    zs_remove(it, r, m, mlen)
    return zs_insert(it, r, m, mlen, score)


cdef uint64_t zs_rank(item_t *it, zroot_t *r, const char *m, uint64_t mlen, double score) noexcept nogil:
    """0-based rank of a present member."""
    cdef char *e
    cdef uint64_t i = 0
    if zs_is_lp(it):
        e = <char *>P(r.lp) + ZS_LP_HDR
        while not (lp_mlen(e) == mlen and memcmp(e + ZS_LP_ENTRY, m, mlen) == 0):
            e = lp_next(e)
            i += 1
        return i
    return zsl_rank(r, score, m, mlen)


cdef uint64_t zs_score_rank(item_t *it, zroot_t *r, double s, bint le) noexcept nogil:
    """Members with score < s (le: <= s)."""
    cdef char *e
    cdef uint64_t i = 0, x, traversed = 0, f
    cdef int lvl
    if zs_is_lp(it):
        e = <char *>P(r.lp) + ZS_LP_HDR
        while i < r.length and (lp_score(e) < s or (le and lp_score(e) == s)):
            e = lp_next(e)
            i += 1
        return i
    x = r.lp
    lvl = <int>r.level - 1
    while lvl >= 0:
        while True:
            f = zn_lv(ZN(x))[lvl].forward
            if f == 0 or not (ZN(f).score < s or (le and ZN(f).score == s)):
                break
            traversed += zn_lv(ZN(x))[lvl].span
            x = f
        lvl -= 1
    return traversed


cdef uint64_t zs_lex_rank(item_t *it, zroot_t *r, const char *m, uint64_t mlen, bint le) noexcept nogil:
    """Members that sort before m (le: or equal), comparing members only."""
    cdef char *e
    cdef uint64_t i = 0, x, traversed = 0, f
    cdef int lvl, c
    if zs_is_lp(it):
        e = <char *>P(r.lp) + ZS_LP_HDR
        while i < r.length:
            c = zs_lexcmp(e + ZS_LP_ENTRY, lp_mlen(e), m, mlen)
            if c > 0 or (c == 0 and not le):
                break
            e = lp_next(e)
            i += 1
        return i
    x = r.lp
    lvl = <int>r.level - 1
    while lvl >= 0:
        while True:
            f = zn_lv(ZN(x))[lvl].forward
            if f == 0:
                break
            c = zn_lexcmp_key(ZN(f), m, mlen)
            if c > 0 or (c == 0 and not le):
                break
            traversed += zn_lv(ZN(x))[lvl].span
            x = f
        lvl -= 1
    return traversed


cdef void zs_delete_ranks(item_t *it, zroot_t *r, uint64_t start, uint64_t count) noexcept nogil:
    """Remove `count` members from rank `start` on."""
    cdef uint64_t x, nxt, i
    if count == 0:
        return
    if zs_is_lp(it):
        lp_delete(r.lp, lp_at(r.lp, start), <uint32_t>count)
        r.length -= count
        return
    if count == r.length:
        zsl_clear(r)
        return
    x = zsl_at(r, start)
    for i in range(count):
        nxt = zn_lv(ZN(x))[0].forward
        zsl_delete_node(r, x)
        x = nxt


cdef void zs_release(zroot_t *r, uint8_t enc) noexcept nogil:
    if enc == ENC_LISTPACK:
        slab_free(r.lp)
    else:
        zsl_free(r)


cdef uint64_t zs_memory(item_t *it) noexcept nogil:
    """Bytes of the chunks the value owns (not the item)."""
    cdef zroot_t r
    cdef uint64_t total = 0, x
    zs_load(it, &r)
    if zs_is_lp(it):
        return slab_chunk_size(r.lp)
    x = r.lp
    while x:
        total += zn_mem(x)
        x = zn_lv(ZN(x))[0].forward
    return total + dict_table_mem(r.idx)


# ---- cursor: walk members by rank ------------------------------------------------

ctypedef struct zcur_t:
    bint lp
    uint64_t base                # listpack chunk
    uint64_t pos                 # listpack: byte offset of the entry; skiplist: node
    uint64_t rank
    const char *m                # the member's bytes; NULL for a long member spanning pages
    uint64_t elem                # that long member's element (when m is NULL)
    uint64_t mlen
    double score


cdef inline void zcur_load(zcur_t *c) noexcept nogil:
    cdef char *e
    cdef znode_t *n
    cdef zmem_t v
    if c.lp:
        e = <char *>P(c.base) + c.pos
        c.m = e + ZS_LP_ENTRY
        c.mlen = lp_mlen(e)
        c.score = lp_score(e)
        return
    n = ZN(c.pos)
    c.mlen = n.mlen
    c.score = n.score
    if zn_long(n):
        zn_view(n, &v)
        c.m = v.p
        c.elem = v.elem
    else:
        c.m = zn_member(n)


cdef inline void zcur_emit(wbuf_t *w, zcur_t *c) noexcept nogil:
    """The member as a bulk string (a long one copied from its pages)."""
    if c.m != NULL:
        wb_bulk(w, c.m, c.mlen)
    else:
        elem_emit_key(w, c.elem)


cdef const char *zcur_bytes(zcur_t *c, char **heap) noexcept nogil:
    """The member's bytes contiguous: in place, or copied out into a malloc'd
    heap[0] the caller frees (NULL when out of memory)."""
    heap[0] = NULL
    if c.m != NULL:
        return c.m
    heap[0] = <char *>malloc(c.mlen)
    if heap[0] != NULL:
        elem_read(c.elem, 0, heap[0], c.mlen)
    return heap[0]


cdef void zcur_seek(zcur_t *c, item_t *it, zroot_t *r, uint64_t rank) noexcept nogil:
    """Position on rank (< length) and load the member."""
    c.lp = zs_is_lp(it)
    c.base = r.lp
    c.rank = rank
    if c.lp:
        c.pos = <uint64_t>(lp_at(r.lp, rank) - <char *>P(r.lp))
    elif rank + 1 == r.length:
        c.pos = r.tail
    else:
        c.pos = zsl_at(r, rank)
    zcur_load(c)


cdef void zcur_next(zcur_t *c) noexcept nogil:
    if c.lp:
        c.pos += ZS_LP_ENTRY + c.mlen
    else:
        c.pos = zn_lv(ZN(c.pos))[0].forward
    c.rank += 1
    zcur_load(c)


cdef void zcur_prev(zcur_t *c) noexcept nogil:
    """Step back (rank > 0). The listpack is walked from its start."""
    cdef char *e
    c.rank -= 1
    if c.lp:
        e = lp_at(c.base, c.rank)
        c.pos = <uint64_t>(e - <char *>P(c.base))
    else:
        c.pos = ZN(c.pos).backward
    zcur_load(c)


cdef int zs_insert_cur(item_t *it, zroot_t *r, zcur_t *cur) noexcept nogil:
    """zs_insert of the member (and score) under a cursor of another sorted set."""
    cdef char *heap = NULL
    cdef const char *m = zcur_bytes(cur, &heap)
    cdef int st
    if m == NULL:
        return ST_NOMEM
    st = zs_insert(it, r, m, cur.mlen, cur.score)
    free(heap)
    return st


cdef int zsl_insert_cur(zroot_t *r, zcur_t *cur, double score) noexcept nogil:
    """zsl_insert of the member under a cursor of another sorted set."""
    cdef char *heap = NULL
    cdef const char *m = zcur_bytes(cur, &heap)
    cdef int st
    if m == NULL:
        return ST_NOMEM
    st = zsl_insert(r, m, cur.mlen, score)
    free(heap)
    return st


# ---- creating and storing -------------------------------------------------------------

cdef uint64_t zs_new_item(kref_t *k, uint64_t size_hint, uint64_t maxlen, int64_t now_ms) noexcept nogil:
    """A new empty zset item for the key (not stored yet), in the encoding Redis
    would pick for `size_hint` members of up to `maxlen` bytes; 0 = no memory."""
    cdef zroot_t r
    cdef uint64_t off
    cdef bint lp = (size_hint <= g_hdr.zset_max_listpack_entries and maxlen <= g_hdr.zset_max_listpack_value
                    and g_hdr.zset_max_listpack_entries > 0)
    memset(&r, 0, sizeof(zroot_t))
    if lp:
        r.lp = slab_alloc(64)
        if r.lp == 0:
            return 0
        lp_hdr(r.lp)[0] = 0
        lp_hdr(r.lp)[1] = ZS_LP_HDR
    elif zsl_init(&r) != ST_OK:
        return 0
    off = item_new(k.pdb, k.key, k.klen, sizeof(zroot_t), T_ZSET,
                   ENC_LISTPACK if lp else ENC_SKIPLIST, now_ms)
    if off == 0:
        zs_release(&r, ENC_LISTPACK if lp else ENC_SKIPLIST)
        return 0
    zs_store(IT(off), &r)
    return off


cdef int zs_dup(item_t *dst, item_t *src) noexcept nogil:
    """value_dup for zsets: copy the listpack, or rebuild the skiplist."""
    cdef zroot_t r, nr
    cdef zcur_t cur
    cdef uint64_t i
    zs_load(src, &r)
    memset(&nr, 0, sizeof(zroot_t))
    if zs_is_lp(src):
        nr.lp = slab_alloc(slab_chunk_size(r.lp))
        if nr.lp == 0:
            return ST_NOMEM
        memcpy(P(nr.lp), P(r.lp), lp_hdr(r.lp)[1])
        nr.length = r.length
    else:
        if zsl_init(&nr) != ST_OK:
            return ST_NOMEM
        for i in range(r.length):
            if i == 0:
                zcur_seek(&cur, src, &r, 0)
            else:
                zcur_next(&cur)
            if zsl_insert_cur(&nr, &cur, cur.score) != ST_OK:
                zsl_free(&nr)
                return ST_NOMEM
    zs_store(dst, &nr)
    return ST_OK


cdef void zs_value_release(item_t *it) noexcept nogil:
    cdef zroot_t r
    zs_load(it, &r)
    zs_release(&r, it.encoding)


cdef inline const char *zs_encoding_name(item_t *it) noexcept nogil:
    return "listpack" if it.encoding == ENC_LISTPACK else "skiplist"


# ============================ Sorted set commands ============================

cdef const char *E_ZNAN = "ERR resulting score is not a number (NaN)"
cdef const char *E_ZXXNX = "ERR XX and NX options at the same time are not compatible"
cdef const char *E_ZGTLT = "ERR GT, LT, and/or NX options at the same time are not compatible"
cdef const char *E_ZINCR1 = "ERR INCR option supports a single increment-element pair"
cdef const char *E_ZMINMAX = "ERR min or max is not a float"
cdef const char *E_ZLEX = "ERR min or max not valid string range item"
cdef const char *E_ZLIMIT = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
cdef const char *E_ZLEXSCORES = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
cdef const char *E_ZPOSITIVE = "ERR value is out of range, must be positive"
cdef const char *E_ZRANGE = "ERR value is out of range"
cdef const char *E_ZWEIGHT = "ERR weight value is not a float"
cdef const char *E_ZTOOBIG = "ERR sorted set member too long"
cdef const char *E_ZRANDRANGE = (
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")


cdef inline bint zs_small_int(const char *s, uint64_t n, double *out) noexcept nogil:
    """A score written as [-]digits, at most 15 of them, read without strtod:
    every such integer is a double exactly, so the value is strtod's ("-0" too)."""
    cdef uint64_t i = 0, v = 0
    cdef bint neg = n > 0 and s[0] == 45        # '-'
    if neg:
        i = 1
    if n == i or n - i > 15:
        return False
    while i < n:
        if not (48 <= s[i] <= 57):
            return False
        v = v * 10 + <uint64_t>(s[i] - 48)
        i += 1
    out[0] = -<double>v if neg else <double>v
    return True


cdef bint zs_strtod(const char *s, uint64_t n, double *out, bint strict) noexcept nogil:
    """strtod over the whole argument, as Redis reads scores (strict: no empty
    string, no leading space, no overflow) and ranges (not strict). NaN is invalid."""
    cdef char buf[256]
    cdef char *tmp = buf
    cdef char *end
    cdef double v
    cdef bint ok
    cdef int erange = 0
    if zs_small_int(s, n, out):
        return True
    if n >= sizeof(buf):
        tmp = <char *>malloc(n + 1)
        if tmp == NULL:
            return False
    memcpy(tmp, s, n)
    tmp[n] = 0
    v = zs_c_strtod(tmp, &end, &erange)
    ok = end[0] == 0 and not isnan(v)
    if strict:
        ok = ok and n > 0 and not (tmp[0] == 32 or 9 <= tmp[0] <= 13) and <uint64_t>(end - tmp) == n
        ok = ok and not (erange and (v == HUGE_VAL or v == -HUGE_VAL or v == 0.0))
    if tmp != buf:
        free(tmp)
    out[0] = v
    return ok


cdef inline bint arg_double(Client c, uint64_t i, double *out) noexcept nogil:
    return zs_strtod(c.argv[i], c.argl[i], out, True)


cdef int zs_lookup_locked(kref_t *k, Client c) noexcept nogil:
    """Find the key: ST_OK (a zset), ST_NOTFOUND or ST_WRONGTYPE."""
    if not key_find_locked(k, c.db, c.now_ms):
        return ST_NOTFOUND
    if IT(k.item).type != T_ZSET:
        return ST_WRONGTYPE
    item_touch(IT(k.item), c.now_ms)
    return ST_OK


cdef int zs_lookup_read_locked(kref_t *k, Client c) noexcept nogil:
    """zs_lookup_locked for a read: counted in keyspace_hits / keyspace_misses."""
    cdef int st = zs_lookup_locked(k, c)
    if st == ST_NOTFOUND:
        my_wstat().misses += 1
    else:
        my_wstat().hits += 1
    return st


cdef void zs_commit_locked(kref_t *k, zroot_t *r) noexcept nogil:
    """Write the root back after a change; an emptied zset disappears."""
    cdef item_t *it = IT(k.item)
    zs_store(it, r)
    if r.length == 0:
        key_remove_locked(k)
    else:
        item_bump(it)


cdef int zs_reply_st(Client c, int st) except -1:
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    elif st == ST_TOOBIG:
        wb_error(&c.out, E_ZTOOBIG)
    return 0


# ---- ZADD / ZINCRBY --------------------------------------------------------------------

cdef enum:
    ZA_NX = 1
    ZA_XX = 2
    ZA_GT = 4
    ZA_LT = 8
    ZA_CH = 16
    ZA_INCR = 32
    # outcome of one element
    ZO_NOP = 0
    ZO_ADDED = 1
    ZO_UPDATED = 2
    ZO_SAME = 3                  # processed, score unchanged
    ZO_NAN = 4


cdef int zadd_one(item_t *it, zroot_t *r, int flags, double score, const char *m, uint64_t mlen,
                  double *newscore, int *st) noexcept nogil:
    """One member of ZADD as Redis's zsetAdd: a ZO_* outcome; st gets ST_NOMEM/TOOBIG."""
    cdef double cur
    cdef uint64_t node
    if zs_find_node(it, r, m, mlen, &cur, &node):
        if flags & ZA_NX:
            return ZO_NOP
        if flags & ZA_INCR:
            score += cur
            if isnan(score):
                return ZO_NAN
        if (flags & ZA_LT and score >= cur) or (flags & ZA_GT and score <= cur):
            return ZO_NOP
        newscore[0] = score
        if score != cur:
            if node:                              # the index was probed once: move the node
                zsl_update_score(r, node, score)
            else:
                st[0] = zs_set_score(it, r, m, mlen, score)
            return ZO_UPDATED
        return ZO_SAME
    if flags & ZA_XX:
        return ZO_NOP
    newscore[0] = score
    st[0] = zs_insert(it, r, m, mlen, score)
    return ZO_ADDED


cdef int zadd_generic(Client c, uint64_t scoreidx, int flags) except -1:
    cdef uint64_t n, j, off
    cdef double *scores
    cdef double few[16]                       # the scores of a call with few members
    cdef double newscore = 0
    cdef kref_t k
    cdef zroot_t r
    cdef int st = ST_OK, out
    cdef int64_t added = 0, updated = 0, processed = 0
    cdef bint nan = False
    while scoreidx < c.argc:
        if arg_eq(c, scoreidx, "nx"): flags |= ZA_NX
        elif arg_eq(c, scoreidx, "xx"): flags |= ZA_XX
        elif arg_eq(c, scoreidx, "ch"): flags |= ZA_CH
        elif arg_eq(c, scoreidx, "incr"): flags |= ZA_INCR
        elif arg_eq(c, scoreidx, "gt"): flags |= ZA_GT
        elif arg_eq(c, scoreidx, "lt"): flags |= ZA_LT
        else: break
        scoreidx += 1
    n = c.argc - scoreidx
    if n % 2 or n == 0:
        wb_error(&c.out, E_SYNTAX)
        return 0
    n //= 2
    if flags & ZA_NX and flags & ZA_XX:
        wb_error(&c.out, E_ZXXNX)
        return 0
    if (flags & ZA_NX and flags & (ZA_GT | ZA_LT)) or (flags & ZA_GT and flags & ZA_LT):
        wb_error(&c.out, E_ZGTLT)
        return 0
    if flags & ZA_INCR and n > 1:
        wb_error(&c.out, E_ZINCR1)
        return 0
    scores = &few[0]
    if n > 16:
        scores = <double *>malloc(8 * n)
    if scores == NULL:
        raise MemoryError()
    for j in range(n):
        if not arg_double(c, scoreidx + 2 * j, &scores[j]):
            if scores != &few[0]:
                free(scores)
            wb_error(&c.out, E_NOTFLOAT)
            return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_locked(&k, c)
        if st == ST_NOTFOUND and not flags & ZA_XX:
            # Redis 7.0 picks the encoding from the first member alone
            off = zs_new_item(&k, 1, c.argl[scoreidx + 1], c.now_ms)
            st = ST_NOMEM if off == 0 else key_store_locked(&k, off)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            for j in range(n):
                out = zadd_one(IT(k.item), &r, flags, scores[j], c.argv[scoreidx + 2 * j + 1],
                               c.argl[scoreidx + 2 * j + 1], &newscore, &st)
                if st != ST_OK:
                    break
                if out == ZO_NAN:
                    nan = True
                    break
                if out == ZO_ADDED: added += 1
                elif out == ZO_UPDATED: updated += 1
                if out != ZO_NOP: processed += 1
            zs_commit_locked(&k, &r)
            zs_handover_locked(c, &k)              # blocked clients take theirs now (shm/blocking.pxi)
        elif st == ST_NOTFOUND:
            st = ST_OK
        shard_unlock(k.shard)
    if scores != &few[0]:
        free(scores)
    if st != ST_OK:
        handover_finish()                       # members added before running out of memory
        return zs_reply_st(c, st)
    if added or updated: notify_arg(c, NK_ZSET, "zincr" if flags & ZA_INCR else "zadd", 1)
    handover_finish()
    signal_key_ready(c.db, c.argv[1], c.argl[1])    # a zset may have arrived (shm/blocking.pxi)
    if nan:
        wb_error(&c.out, E_ZNAN)
    elif flags & ZA_INCR:
        if processed:
            wb_double(&c.out, newscore)
        else:
            wb_null(&c.out)
    else:
        wb_int(&c.out, added + updated if flags & ZA_CH else added)
    return 0


cdef int cmd_zadd(Client c) except -1:
    return zadd_generic(c, 2, 0)


cdef int cmd_zincrby(Client c) except -1:
    return zadd_generic(c, 2, ZA_INCR)


# ---- ZREM ZSCORE ZMSCORE ZCARD ZRANK -------------------------------------------------

cdef int cmd_zrem(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef int64_t deleted = 0
    cdef uint64_t j
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            for j in range(2, c.argc):
                if zs_remove(IT(k.item), &r, c.argv[j], c.argl[j]):
                    deleted += 1
                    if r.length == 0:
                        break
            if deleted:
                zs_commit_locked(&k, &r)
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        return zs_reply_st(c, st)
    notify_removed(c, NK_ZSET, "zrem", deleted != 0, k.item == 0)
    wb_int(&c.out, deleted)
    return 0


cdef int cmd_zscore(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef double score
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            if zs_find(IT(k.item), &r, c.argv[2], c.argl[2], &score):
                wb_double(&c.out, score)
            else:
                wb_null(&c.out)
        shard_unlock(k.shard)
    if st == ST_NOTFOUND:
        wb_null(&c.out)
    return zs_reply_st(c, st)


cdef int cmd_zmscore(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef double score
    cdef uint64_t j
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st != ST_WRONGTYPE:
            wb_array(&c.out, c.argc - 2)
            if st == ST_OK:
                zs_load(IT(k.item), &r)
            for j in range(2, c.argc):
                if st == ST_OK and zs_find(IT(k.item), &r, c.argv[j], c.argl[j], &score):
                    wb_double(&c.out, score)
                else:
                    wb_null(&c.out)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


cdef int cmd_zcard(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    kref_init(&k, c.argv[1], c.argl[1])
    r.length = 0
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        return zs_reply_st(c, st)
    wb_int(&c.out, <int64_t>r.length)
    return 0


cdef int zrank_generic(Client c, bint rev) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef double score
    cdef int64_t rank = -1
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            if zs_find(IT(k.item), &r, c.argv[2], c.argl[2], &score):
                rank = <int64_t>zs_rank(IT(k.item), &r, c.argv[2], c.argl[2], score)
                if rev:
                    rank = <int64_t>r.length - 1 - rank
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        return zs_reply_st(c, st)
    if rank < 0:
        wb_null(&c.out)
    else:
        wb_int(&c.out, rank)
    return 0


cdef int cmd_zrank(Client c) except -1:
    return zrank_generic(c, False)


cdef int cmd_zrevrank(Client c) except -1:
    return zrank_generic(c, True)


# ---- ranges: rank, score and lex, turned into rank intervals ---------------------------

cdef enum:
    ZR_AUTO = 0
    ZR_RANK = 1
    ZR_SCORE = 2
    ZR_LEX = 3
    ZL_STR = 0                   # a lex bound: a string, '-' (below all), '+' (above all)
    ZL_MIN = 1
    ZL_MAX = 2

ctypedef struct zrange_t:
    int type
    bint rev
    bint withscores
    int64_t offset
    int64_t limit                # -1 = no limit
    int64_t start                # ZR_RANK
    int64_t end
    double min                   # ZR_SCORE
    double max
    bint minex
    bint maxex
    const char *lmin             # ZR_LEX
    uint64_t lminlen
    int lminkind
    bint lminex
    const char *lmax
    uint64_t lmaxlen
    int lmaxkind
    bint lmaxex


cdef bint zs_parse_score_bound(const char *s, uint64_t n, double *v, bint *ex) noexcept nogil:
    ex[0] = n > 0 and s[0] == 40                 # '('
    if ex[0]:
        return zs_strtod(s + 1, n - 1, v, False)
    return zs_strtod(s, n, v, False)


cdef bint zs_parse_lex_bound(const char *s, uint64_t n, const char **m, uint64_t *mlen,
                             int *kind, bint *ex) noexcept nogil:
    if n == 0:
        return False
    kind[0] = ZL_STR
    m[0] = s + 1
    mlen[0] = n - 1
    if s[0] == 43 or s[0] == 45:                 # '+' '-'
        if n != 1:
            return False
        kind[0] = ZL_MAX if s[0] == 43 else ZL_MIN
        ex[0] = True
        return True
    if s[0] == 40 or s[0] == 91:                 # '(' '['
        ex[0] = s[0] == 40
        return True
    return False


cdef uint64_t zs_lex_bound_rank(item_t *it, zroot_t *r, const char *m, uint64_t mlen,
                                int kind, bint le) noexcept nogil:
    if kind == ZL_MIN:
        return 0
    if kind == ZL_MAX:
        return r.length
    return zs_lex_rank(it, r, m, mlen, le)


cdef void zr_interval(item_t *it, zroot_t *r, zrange_t *q, uint64_t *a, uint64_t *b) noexcept nogil:
    """The ranks [a, b) the range selects, before REV, offset and limit."""
    cdef int64_t llen = <int64_t>r.length, s, e
    if q.type == ZR_RANK:
        s = q.start
        e = q.end
        if s < 0: s += llen
        if e < 0: e += llen
        if s < 0: s = 0
        if s > e or s >= llen:
            a[0] = b[0] = 0
            return
        if e >= llen: e = llen - 1
        if q.rev:
            a[0] = <uint64_t>(llen - 1 - e)
            b[0] = <uint64_t>(llen - s)
        else:
            a[0] = <uint64_t>s
            b[0] = <uint64_t>(e + 1)
        return
    if q.type == ZR_SCORE:
        a[0] = zs_score_rank(it, r, q.min, q.minex)
        b[0] = zs_score_rank(it, r, q.max, not q.maxex)
    else:
        a[0] = zs_lex_bound_rank(it, r, q.lmin, q.lminlen, q.lminkind, q.lminex)
        b[0] = zs_lex_bound_rank(it, r, q.lmax, q.lmaxlen, q.lmaxkind, not q.lmaxex)
    if b[0] < a[0]:
        b[0] = a[0]


cdef uint64_t zr_window(zrange_t *q, uint64_t a, uint64_t b, uint64_t *first) noexcept nogil:
    """Apply offset and limit: the count of members and the first rank (the last
    one walked backwards under REV)."""
    cdef uint64_t n = b - a
    if q.offset < 0:
        return 0
    if <uint64_t>q.offset >= n:
        return 0
    n -= <uint64_t>q.offset
    if q.limit >= 0 and <uint64_t>q.limit < n:
        n = <uint64_t>q.limit
    first[0] = (b - 1 - <uint64_t>q.offset) if q.rev else (a + <uint64_t>q.offset)
    return n


cdef inline void zs_reply_member(wbuf_t *w, zcur_t *cur, bint withscores) noexcept nogil:
    if withscores and w.resp == 3:
        wb_array(w, 2)
    zcur_emit(w, cur)
    if withscores:
        wb_double(w, cur.score)


cdef void zs_reply_ranks(wbuf_t *w, item_t *it, zroot_t *r, uint64_t first, uint64_t n,
                         bint rev, bint withscores) noexcept nogil:
    """Array of n members from rank `first`, forwards or backwards."""
    cdef zcur_t cur
    cdef uint64_t i
    wb_array(w, <int64_t>(n * 2 if withscores and w.resp == 2 else n))
    for i in range(n):
        if i == 0:
            zcur_seek(&cur, it, r, first)
        elif rev:
            zcur_prev(&cur)
        else:
            zcur_next(&cur)
        zs_reply_member(w, &cur, withscores)


cdef int zr_parse(Client c, uint64_t keyi, zrange_t *q, int type, bint rev, bint store) except -1:
    """Options and bounds of ZRANGE and its older forms; 0, or -1 after an error
    reply. keyi: the source key; bounds follow it."""
    cdef uint64_t j, mini = keyi + 1, maxi = keyi + 2, t
    cdef int direction = 1 if rev else 0
    memset(q, 0, sizeof(zrange_t))
    q.limit = -1
    q.type = type
    direction = -1 if type == ZR_AUTO else direction
    j = keyi + 3
    while j < c.argc:
        if arg_eq(c, j, "withscores") and not store:
            q.withscores = True
        elif arg_eq(c, j, "limit") and c.argc - j - 1 >= 2:
            if not arg_i64(c, j + 1, &q.offset) or not arg_i64(c, j + 2, &q.limit):
                wb_error(&c.out, E_NOTINT)
                return 1
            j += 2
        elif direction == -1 and arg_eq(c, j, "rev"):
            direction = 1
        elif q.type == ZR_AUTO and arg_eq(c, j, "bylex"):
            q.type = ZR_LEX
        elif q.type == ZR_AUTO and arg_eq(c, j, "byscore"):
            q.type = ZR_SCORE
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        j += 1
    q.rev = direction == 1
    if q.type == ZR_AUTO:
        q.type = ZR_RANK
    if q.limit != -1 and q.type == ZR_RANK:
        wb_error(&c.out, E_ZLIMIT)
        return 1
    if q.withscores and q.type == ZR_LEX:
        wb_error(&c.out, E_ZLEXSCORES)
        return 1
    if q.rev and q.type != ZR_RANK:
        t = mini
        mini = maxi
        maxi = t
    if q.type == ZR_RANK:
        if not arg_i64(c, mini, &q.start) or not arg_i64(c, maxi, &q.end):
            wb_error(&c.out, E_NOTINT)
            return 1
    elif q.type == ZR_SCORE:
        if (not zs_parse_score_bound(c.argv[mini], c.argl[mini], &q.min, &q.minex)
                or not zs_parse_score_bound(c.argv[maxi], c.argl[maxi], &q.max, &q.maxex)):
            wb_error(&c.out, E_ZMINMAX)
            return 1
    else:
        if (not zs_parse_lex_bound(c.argv[mini], c.argl[mini], &q.lmin, &q.lminlen, &q.lminkind, &q.lminex)
                or not zs_parse_lex_bound(c.argv[maxi], c.argl[maxi], &q.lmax, &q.lmaxlen, &q.lmaxkind, &q.lmaxex)):
            wb_error(&c.out, E_ZLEX)
            return 1
    if q.limit != -1 and q.type == ZR_RANK:
        pass
    if q.type == ZR_RANK:
        q.limit = -1
        q.offset = 0
    return 0


cdef int zrange_generic(Client c, int type, bint rev) except -1:
    cdef zrange_t q
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef uint64_t a, b, first = 0, n
    if zr_parse(c, 1, &q, type, rev, False):
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            zr_interval(IT(k.item), &r, &q, &a, &b)
            n = zr_window(&q, a, b, &first)
            zs_reply_ranks(&c.out, IT(k.item), &r, first, n, q.rev, q.withscores)
        elif st == ST_NOTFOUND:
            wb_array(&c.out, 0)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


cdef int cmd_zrange(Client c) except -1:
    return zrange_generic(c, ZR_AUTO, False)

cdef int cmd_zrevrange(Client c) except -1:
    return zrange_generic(c, ZR_RANK, True)

cdef int cmd_zrangebyscore(Client c) except -1:
    return zrange_generic(c, ZR_SCORE, False)

cdef int cmd_zrevrangebyscore(Client c) except -1:
    return zrange_generic(c, ZR_SCORE, True)

cdef int cmd_zrangebylex(Client c) except -1:
    return zrange_generic(c, ZR_LEX, False)

cdef int cmd_zrevrangebylex(Client c) except -1:
    return zrange_generic(c, ZR_LEX, True)


cdef int zs_store_result_locked(kref_t *dst, zroot_t *tmp, Client c, int64_t *count) noexcept nogil:
    """Make dst a zset holding the members of `tmp` (a skiplist, consumed):
    listpack when small enough, as Redis converts STORE results. An empty
    result deletes dst. ST_OK or ST_NOMEM."""
    cdef uint64_t off, maxlen = 0, i
    cdef zcur_t cur
    cdef zroot_t r
    cdef item_t fake
    count[0] = <int64_t>tmp.length
    key_find_locked(dst, c.db, c.now_ms)
    if tmp.length == 0:
        zsl_free(tmp)
        if dst.item:
            key_remove_locked(dst)
            notify(NK_GENERIC, "del", dst.key, dst.klen, c.db)
        return ST_OK
    fake.encoding = ENC_SKIPLIST
    for i in range(tmp.length):
        if i == 0:
            zcur_seek(&cur, &fake, tmp, 0)
        else:
            zcur_next(&cur)
        if cur.mlen > maxlen:
            maxlen = cur.mlen
    off = zs_new_item(dst, tmp.length, maxlen, c.now_ms)
    if off == 0:
        zsl_free(tmp)
        return ST_NOMEM
    if IT(off).encoding == ENC_SKIPLIST:
        zs_load(IT(off), &r)
        zsl_free(&r)
        zs_store(IT(off), tmp)
    else:
        zs_load(IT(off), &r)
        for i in range(tmp.length):
            if i == 0:
                zcur_seek(&cur, &fake, tmp, 0)
            else:
                zcur_next(&cur)
            if zs_insert_cur(IT(off), &r, &cur) != ST_OK:
                zs_store(IT(off), &r)
                item_free(off)
                zsl_free(tmp)
                return ST_NOMEM
        zs_store(IT(off), &r)
        zsl_free(tmp)
    if key_store_locked(dst, off) != ST_OK:
        return ST_NOMEM
    zs_handover_locked(c, dst)                  # shm/blocking.pxi
    return ST_OK


cdef int cmd_zrangestore(Client c) except -1:
    cdef zrange_t q
    cdef kref_t ks[2]
    cdef uint32_t shards[2]
    cdef int m, st
    cdef zroot_t r, tmp
    cdef zcur_t cur
    cdef uint64_t a, b, first = 0, n, i
    cdef int64_t count = 0
    if zr_parse(c, 2, &q, ZR_AUTO, False, True):
        return 0
    kref_init(&ks[0], c.argv[1], c.argl[1])
    kref_init(&ks[1], c.argv[2], c.argl[2])
    shards[0] = ks[0].shard
    shards[1] = ks[1].shard
    with nogil:
        m = shards_lock_many(shards, 2)
        st = zs_lookup_read_locked(&ks[1], c)
        if st != ST_WRONGTYPE:
            memset(&tmp, 0, sizeof(zroot_t))
            if zsl_init(&tmp) != ST_OK:
                st = ST_NOMEM
            elif st == ST_OK:
                zs_load(IT(ks[1].item), &r)
                zr_interval(IT(ks[1].item), &r, &q, &a, &b)
                n = zr_window(&q, a, b, &first)
                for i in range(n):
                    if i == 0:
                        zcur_seek(&cur, IT(ks[1].item), &r, first)
                    elif q.rev:
                        zcur_prev(&cur)
                    else:
                        zcur_next(&cur)
                    st = zsl_insert_cur(&tmp, &cur, cur.score)
                    if st != ST_OK:
                        break
            if st == ST_NOMEM or st == ST_TOOBIG:
                if tmp.lp:
                    zsl_free(&tmp)
            else:
                st = zs_store_result_locked(&ks[0], &tmp, c, &count)
        shards_unlock_many(shards, m)
    if st != ST_OK:
        return zs_reply_st(c, st)
    if count: notify_arg(c, NK_ZSET, "zrangestore", 1)
    handover_finish()
    if count:
        signal_key_ready(c.db, c.argv[1], c.argl[1])
    wb_int(&c.out, count)
    return 0


# ---- ZCOUNT ZLEXCOUNT ZREMRANGEBY* ---------------------------------------------------

cdef int zcount_generic(Client c, int type) except -1:
    cdef zrange_t q
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef uint64_t a = 0, b = 0
    memset(&q, 0, sizeof(zrange_t))
    q.type = type
    if type == ZR_SCORE:
        if (not zs_parse_score_bound(c.argv[2], c.argl[2], &q.min, &q.minex)
                or not zs_parse_score_bound(c.argv[3], c.argl[3], &q.max, &q.maxex)):
            wb_error(&c.out, E_ZMINMAX)
            return 0
    elif (not zs_parse_lex_bound(c.argv[2], c.argl[2], &q.lmin, &q.lminlen, &q.lminkind, &q.lminex)
            or not zs_parse_lex_bound(c.argv[3], c.argl[3], &q.lmax, &q.lmaxlen, &q.lmaxkind, &q.lmaxex)):
        wb_error(&c.out, E_ZLEX)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            zr_interval(IT(k.item), &r, &q, &a, &b)
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        return zs_reply_st(c, st)
    wb_int(&c.out, <int64_t>(b - a))
    return 0


cdef int cmd_zcount(Client c) except -1:
    return zcount_generic(c, ZR_SCORE)


cdef int cmd_zlexcount(Client c) except -1:
    return zcount_generic(c, ZR_LEX)


cdef int zremrange_generic(Client c, int type) except -1:
    cdef zrange_t q
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef uint64_t a = 0, b = 0
    memset(&q, 0, sizeof(zrange_t))
    q.type = type
    if type == ZR_RANK:
        if not arg_i64(c, 2, &q.start) or not arg_i64(c, 3, &q.end):
            wb_error(&c.out, E_NOTINT)
            return 0
    elif type == ZR_SCORE:
        if (not zs_parse_score_bound(c.argv[2], c.argl[2], &q.min, &q.minex)
                or not zs_parse_score_bound(c.argv[3], c.argl[3], &q.max, &q.maxex)):
            wb_error(&c.out, E_ZMINMAX)
            return 0
    elif (not zs_parse_lex_bound(c.argv[2], c.argl[2], &q.lmin, &q.lminlen, &q.lminkind, &q.lminex)
            or not zs_parse_lex_bound(c.argv[3], c.argl[3], &q.lmax, &q.lmaxlen, &q.lmaxkind, &q.lmaxex)):
        wb_error(&c.out, E_ZLEX)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            zr_interval(IT(k.item), &r, &q, &a, &b)
            if b > a:
                zs_delete_ranks(IT(k.item), &r, a, b - a)
                zs_commit_locked(&k, &r)
        shard_unlock(k.shard)
    if st == ST_WRONGTYPE:
        return zs_reply_st(c, st)
    if st == ST_OK: notify_removed(c, NK_ZSET, ZREMRANGE_EVENT[type], b > a, k.item == 0)
    wb_int(&c.out, <int64_t>(b - a))
    return 0


cdef const char *ZREMRANGE_EVENT[4]           # keyspace event of each ZREMRANGEBY* form
ZREMRANGE_EVENT[:] = [b"", b"zremrangebyrank", b"zremrangebyscore", b"zremrangebylex"]


cdef int cmd_zremrangebyrank(Client c) except -1:
    return zremrange_generic(c, ZR_RANK)

cdef int cmd_zremrangebyscore(Client c) except -1:
    return zremrange_generic(c, ZR_SCORE)

cdef int cmd_zremrangebylex(Client c) except -1:
    return zremrange_generic(c, ZR_LEX)


# ---- ZPOPMIN ZPOPMAX ZMPOP -----------------------------------------------------------

cdef int64_t zpop_locked(Client c, kref_t *k, bint max, int64_t count, bint counted,
                         bint nested) noexcept nogil:
    """Pop up to count members from the found zset and reply them: flat
    [m, s ...] (RESP3: pairs when a count was given), or ZMPOP's [key, [[m, s] ...]]."""
    cdef zroot_t r
    cdef zcur_t cur
    cdef item_t *it = IT(k.item)
    cdef uint64_t n, i, first
    cdef bint pairs = nested or (counted and c.out.resp == 3)
    zs_load(it, &r)
    n = r.length if <uint64_t>count > r.length else <uint64_t>count
    first = r.length - 1 if max else 0
    if nested:
        wb_array(&c.out, 2)
        wb_bulk(&c.out, k.key, k.klen)
        wb_array(&c.out, <int64_t>n)
    else:
        wb_array(&c.out, <int64_t>(n if pairs else n * 2))
    for i in range(n):
        if i == 0:
            zcur_seek(&cur, it, &r, first)
        elif max:
            zcur_prev(&cur)
        else:
            zcur_next(&cur)
        if pairs:
            wb_array(&c.out, 2)
        zcur_emit(&c.out, &cur)
        wb_double(&c.out, cur.score)
    zs_delete_ranks(it, &r, r.length - n if max else 0, n)
    zs_commit_locked(k, &r)
    return <int64_t>n


cdef int zpop_keys(Client c, uint64_t first, uint64_t nkeys, bint max, int64_t count,
                   bint counted, bint nested) except -1:
    """Pop from the first non-empty key among nkeys keys from argument `first`."""
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * nkeys)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * nkeys)
    cdef uint64_t i
    cdef int m, st = ST_NOTFOUND
    if ks == NULL or shards == NULL:
        free(ks); free(shards)
        raise MemoryError()
    for i in range(nkeys):
        kref_init(&ks[i], c.argv[first + i], c.argl[first + i])
        shards[i] = ks[i].shard
    with nogil:
        m = shards_lock_many(shards, <int>nkeys)
        for i in range(nkeys):
            st = zs_lookup_locked(&ks[i], c)
            if st == ST_OK and count == 0:
                wb_array(&c.out, 0)            # the type is checked even so
            elif st == ST_OK:
                zpop_locked(c, &ks[i], max, count, counted, nested)
                notify_removed_k(NK_ZSET, "zpopmax" if max else "zpopmin", &ks[i], c.db, True)
            if st != ST_NOTFOUND:
                break
        shards_unlock_many(shards, m)
    free(ks)
    free(shards)
    if st == ST_NOTFOUND:
        if nested:
            wb_null_array(&c.out)
        else:
            wb_array(&c.out, 0)
    return zs_reply_st(c, st)


cdef int zpop_generic(Client c, bint max) except -1:
    cdef int64_t count = 1
    if c.argc > 3:
        wb_error(&c.out, E_SYNTAX)
        return 0
    if c.argc == 3:
        if not arg_i64(c, 2, &count) or count < 0:
            wb_error(&c.out, E_ZPOSITIVE)
            return 0
    return zpop_keys(c, 1, 1, max, count, c.argc == 3, False)


cdef int cmd_zpopmin(Client c) except -1:
    return zpop_generic(c, False)


cdef int cmd_zpopmax(Client c) except -1:
    return zpop_generic(c, True)


cdef int zmpop_args(Client c, uint64_t numi, uint64_t *nkeys, bint *max,
                    int64_t *count) except -1:
    """numkeys key [key ...] MIN|MAX [COUNT count] from argument numi (ZMPOP,
    BZMPOP): 1 after replying an error."""
    cdef int64_t n
    cdef uint64_t j
    cdef bint counted = False
    count[0] = 1
    if not arg_i64(c, numi, &n) or n <= 0:
        wb_error(&c.out, "ERR numkeys should be greater than 0")
        return 1
    if <uint64_t>n > c.argc - numi - 2:
        wb_error(&c.out, E_SYNTAX)
        return 1
    nkeys[0] = <uint64_t>n
    j = numi + 1 + <uint64_t>n
    if arg_eq(c, j, "min"):
        max[0] = False
    elif arg_eq(c, j, "max"):
        max[0] = True
    else:
        wb_error(&c.out, E_SYNTAX)
        return 1
    j += 1
    while j < c.argc:
        if not counted and arg_eq(c, j, "count") and j + 1 < c.argc:
            if not arg_i64(c, j + 1, count) or count[0] <= 0:
                wb_error(&c.out, "ERR count should be greater than 0")
                return 1
            counted = True
            j += 2
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
    return 0


cdef int cmd_zmpop(Client c) except -1:
    """ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]"""
    cdef uint64_t nkeys
    cdef int64_t count
    cdef bint max
    if zmpop_args(c, 1, &nkeys, &max, &count):
        return 0
    return zpop_keys(c, 2, nkeys, max, count, True, True)


# ---- BZPOPMIN BZPOPMAX BZMPOP (the wait itself: shm/blocking.pxi) -------------------------

cdef void zpop_one_locked(Client c, kref_t *k, bint max) noexcept nogil:
    """Pop one member of the found, non-empty zset and reply [key, member, score]."""
    cdef zroot_t r
    cdef zcur_t cur
    cdef item_t *it = IT(k.item)
    cdef uint64_t rank
    zs_load(it, &r)
    rank = r.length - 1 if max else 0
    zcur_seek(&cur, it, &r, rank)
    wb_array(&c.out, 3)
    wb_bulk(&c.out, k.key, k.klen)
    zcur_emit(&c.out, &cur)
    wb_double(&c.out, cur.score)
    zs_delete_ranks(it, &r, rank, 1)
    zs_commit_locked(k, &r)


cdef int zblock_try(Client c, uint64_t first, uint64_t nkeys, bint max, int64_t count,
                    bint nested, bint *served) except -1:
    """One attempt of a blocking zset pop on keys first..first+nkeys-1, all their
    shards locked: pop from the first non-empty zset this client may serve from
    (no earlier waiter on it), or (first attempt, able to block) register the
    wait before unlocking. Returns 1 after an error reply."""
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * nkeys)
    cdef uint32_t *shards = <uint32_t *>malloc(4 * nkeys)
    cdef uint64_t *hashes = <uint64_t *>malloc(8 * nkeys)
    cdef uint64_t j, seq = c.block_seq, mask = 0
    cdef int m, st = ST_NOTFOUND, hit = -1
    cdef bint may_block = c.transport is not None and not c.flags & CL_EXEC
    cdef bint handed = False                       # served by a write (hand-over)
    served[0] = False
    if ks == NULL or shards == NULL or hashes == NULL:
        free(ks); free(shards); free(hashes)
        raise MemoryError()
    for j in range(nkeys):
        kref_init(&ks[j], c.argv[first + j], c.argl[first + j])
        shards[j] = ks[j].shard
        hashes[j] = ks[j].h
    with nogil:
        m = shards_lock_many(shards, <int>nkeys)
        if seq:
            bw_lock()
            handed = bw_take_handed_locked(c)       # a write served it already
            if handed:
                mask = bw_remove_locked(c.id)
            bw_unlock()
        for j in range(0 if handed else nkeys):
            st = zs_lookup_locked(&ks[j], c)
            if st == ST_WRONGTYPE:
                if seq:                            # while blocked: not a zset yet, keep waiting
                    st = ST_NOTFOUND
                    continue
                break
            if st == ST_OK:
                if bw_rank_locked(seq, c.db, ks[j].h, T_ZSET) == 0:
                    hit = <int>j
                    break
                st = ST_NOTFOUND
        if hit >= 0:
            if nested:
                zpop_locked(c, &ks[hit], max, count, True, True)
            else:
                zpop_one_locked(c, &ks[hit], max)
            notify_removed_k(NK_ZSET, "zpopmax" if max else "zpopmin", &ks[hit], c.db, True)
            served[0] = True
            if seq:
                bw_lock()
                mask = bw_remove_locked(c.id)
                bw_unlock()
        elif st != ST_WRONGTYPE and seq == 0 and may_block:
            bw_lock()
            seq = bw_register_locked(c.id, c.db, hashes, <int>nkeys, T_ZSET)
            if seq:
                bw_allow_handover_locked(seq, HO_ZMPOP if nested else HO_ZPOP, max, count, c.out.resp, 0)
            bw_unlock()
            if seq == 0:
                st = ST_NOMEM
        shards_unlock_many(shards, m)
    free(ks); free(shards); free(hashes)
    wake_workers(mask)
    if handed:
        served[0] = True
        c.block_seq = 0
        c.flags |= CL_HANDED                    # the writer logged the pops (shm/wal.pxi)
        return 0
    if served[0]:
        c.block_seq = 0
        return 0
    if st == ST_NOMEM and seq == 0 and may_block:
        wb_error(&c.out, E_NOMEM)
        return 1
    if st == ST_WRONGTYPE or st == ST_NOMEM:
        zs_reply_st(c, st)
        return 1
    c.block_seq = seq
    return 0


cdef int bzpop_generic(Client c, bint max) except -1:
    """BZPOPMIN / BZPOPMAX key [key ...] timeout"""
    cdef int64_t timeout_ms = 0
    cdef bint served
    if not c.flags & CL_BLOCKED and parse_timeout(c, c.argc - 1, &timeout_ms) < 0:
        return 0
    if zblock_try(c, 1, c.argc - 2, max, 1, False, &served):
        return 0
    return block_or_reply(c, timeout_ms, served)


cdef int cmd_bzpopmin(Client c) except -1:
    return bzpop_generic(c, False)


cdef int cmd_bzpopmax(Client c) except -1:
    return bzpop_generic(c, True)


cdef int cmd_bzmpop(Client c) except -1:
    """BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]"""
    cdef int64_t timeout_ms = 0, count
    cdef uint64_t nkeys
    cdef bint max, served
    if zmpop_args(c, 2, &nkeys, &max, &count):          # as Redis: before the timeout
        return 0
    if not c.flags & CL_BLOCKED and parse_timeout(c, 1, &timeout_ms) < 0:
        return 0
    if zblock_try(c, 3, nkeys, max, count, True, &served):
        return 0
    return block_or_reply(c, timeout_ms, served)


# ---- ZUNION ZINTER ZDIFF (+STORE) ZINTERCARD ----------------------------------------

cdef enum:
    ZOP_UNION = 0
    ZOP_INTER = 1
    ZOP_DIFF = 2
    AGG_SUM = 0
    AGG_MIN = 1
    AGG_MAX = 2

ctypedef struct zsrc_t:
    uint64_t item                # 0 = missing key (empty)
    uint64_t length
    double weight
    bint isset                   # a plain set (types/set.pxi): each member scores 1
    zroot_t r                    # a zset's root (unused for a set)

ctypedef struct zsit_t:
    zcur_t cur                   # the member: a zset's cursor; for a set m, mlen, score
    uint64_t pos                 # a set: intset index or dict slot of the member
    char *heap                   # a set: malloc'd copy of a big member, or NULL
    char tmp[24]                 # a set: an intset member as text


# Inputs may be plain sets, as in Redis 7.0: a set member counts with score 1
# (times its WEIGHT). Redis walks a set in its own order; the result does not
# depend on it (members are aggregated per member, sources in argument order).

cdef int zsrc_step(zsrc_t *s, zsit_t *i, uint64_t e) noexcept nogil:
    """Load member e of the input into i.cur (e counts up from 0 one step at a
    time, below s.length; i.heap starts NULL, zsit_done frees it). ST_OK, or
    ST_NOMEM when a big set member cannot be copied out."""
    cdef item_t *it = IT(s.item)
    cdef dict_t *d
    zsit_done(i)
    if not s.isset:
        if e == 0:
            zcur_seek(&i.cur, it, &s.r, 0)
        else:
            zcur_next(&i.cur)
        if i.cur.m == NULL:                     # a long member: hashed and compared whole
            i.cur.m = zcur_bytes(&i.cur, &i.heap)
            return ST_OK if i.cur.m != NULL else ST_NOMEM
        return ST_OK
    if it.encoding == ENC_HASHTABLE:
        d = DT(croot(it).off)
        i.pos = 0 if e == 0 else i.pos + 1
        while dict_elem(d, i.pos) == 0:
            i.pos += 1
    else:
        i.pos = e
    i.cur.m = set_member(it, i.pos, i.tmp, &i.heap, &i.cur.mlen)
    i.cur.score = 1.0
    return ST_OK if i.cur.m != NULL else ST_NOMEM


cdef inline void zsit_done(zsit_t *i) noexcept nogil:
    free(i.heap)
    i.heap = NULL


cdef inline bint zsrc_find(zsrc_t *s, const char *m, uint64_t mlen, double *score) noexcept nogil:
    """Whether the input (present) holds m, and its score."""
    if s.isset:
        score[0] = 1.0
        return set_has(IT(s.item), m, mlen)
    return zs_find(IT(s.item), &s.r, m, mlen, score)


cdef int zs_input_locked(kref_t *k, Client c) noexcept nogil:
    """Find an input of a set operation: ST_OK (a zset or a set), ST_NOTFOUND
    or ST_WRONGTYPE."""
    if not key_find_locked(k, c.db, c.now_ms):
        return ST_NOTFOUND
    if IT(k.item).type != T_ZSET and IT(k.item).type != T_SET:
        return ST_WRONGTYPE
    item_touch(IT(k.item), c.now_ms)
    return ST_OK


cdef int zs_input_read_locked(kref_t *k, Client c, zsrc_t *s) noexcept nogil:
    """zs_input_locked counted as a read (keyspace_hits / keyspace_misses), the
    input loaded into s (weight kept)."""
    cdef int st = zs_input_locked(k, c)
    s.item = 0
    s.length = 0
    s.isset = False
    if st == ST_NOTFOUND:
        my_wstat().misses += 1
        return st
    my_wstat().hits += 1
    if st != ST_OK:
        return st
    s.item = k.item
    if IT(k.item).type == T_SET:
        s.isset = True
        s.length = set_len(IT(k.item))
    else:
        zs_load(IT(k.item), &s.r)
        s.length = s.r.length
    return ST_OK


cdef inline double zs_aggregate(double target, double v, int agg) noexcept nogil:
    if agg == AGG_SUM:
        target = target + v
        return 0.0 if isnan(target) else target
    if agg == AGG_MIN:
        return v if v < target else target
    return v if v > target else target


cdef int zs_tmp_add(zroot_t *tmp, const char *m, uint64_t mlen, double score, int agg) noexcept nogil:
    """Add to the result skiplist, aggregating with a member already there."""
    cdef int64_t slot = dict_find(DT(tmp.idx), cc_hash(m, mlen), m, mlen)
    cdef uint64_t node
    cdef double s
    if slot < 0:
        return zsl_insert(tmp, m, mlen, score)
    node = dict_elem(DT(tmp.idx), <uint64_t>slot)
    s = zs_aggregate(ZN(node).score, score, agg)
    if s == ZN(node).score:
        return ST_OK
    zsl_delete_node(tmp, node)
    return zsl_insert(tmp, m, mlen, s)


cdef void zs_sort_srcs(zsrc_t *src, uint64_t n, uint64_t from_) noexcept nogil:
    """Stable insertion sort of src[from_:] by size, smallest first."""
    cdef uint64_t i, j
    cdef zsrc_t t
    for i in range(from_ + 1, n):
        t = src[i]
        j = i
        while j > from_ and src[j - 1].length > t.length:
            src[j] = src[j - 1]
            j -= 1
        src[j] = t


cdef int zs_setop_locked(zsrc_t *src, uint64_t n, int op, int agg, zroot_t *tmp,
                         int64_t limit, int64_t *card) noexcept nogil:
    """Compute the result into the skiplist tmp (card_only when card != NULL:
    count the intersection up to limit, 0 = no limit). ST_OK, ST_NOMEM or
    ST_TOOBIG (a set member past what an element holds, 511 MiB)."""
    cdef uint64_t i, e
    cdef zsit_t it
    cdef int st = ST_OK
    it.heap = NULL
    zs_sort_srcs(src, n, 1 if op == ZOP_DIFF else 0)
    if op == ZOP_UNION:
        for i in range(n):
            for e in range(src[i].length):
                st = zsrc_step(&src[i], &it, e)
                if st == ST_OK:
                    st = zs_tmp_add(tmp, it.cur.m, it.cur.mlen, zs_weighted(&src[i], it.cur.score), agg)
                if st != ST_OK:
                    break
            zsit_done(&it)
            if st != ST_OK:
                break
        return st
    for e in range(src[0].length):
        st = zsrc_step(&src[0], &it, e)
        if st != ST_OK:
            break
        st = zs_setop_member(src, n, op, agg, tmp, &it.cur, card)
        if st != ST_OK or (card != NULL and limit and card[0] >= limit):
            break
    zsit_done(&it)
    return st


cdef inline double zs_weighted(zsrc_t *s, double score) noexcept nogil:
    score = s.weight * score
    return 0.0 if isnan(score) else score


cdef int zs_setop_member(zsrc_t *src, uint64_t n, int op, int agg, zroot_t *tmp, zcur_t *cur,
                         int64_t *card) noexcept nogil:
    """ZINTER / ZDIFF: keep (insert or count) one member of the first input if
    the others say so."""
    cdef uint64_t j
    cdef double score, v
    if op == ZOP_DIFF:
        score = cur.score
        for j in range(1, n):
            if src[j].item and zsrc_find(&src[j], cur.m, cur.mlen, &v):
                return ST_OK
    else:
        score = zs_weighted(&src[0], cur.score)
        for j in range(1, n):
            if src[j].item == src[0].item:
                score = zs_aggregate(score, cur.score * src[j].weight, agg)
            elif src[j].item and zsrc_find(&src[j], cur.m, cur.mlen, &v):
                score = zs_aggregate(score, v * src[j].weight, agg)
            else:
                return ST_OK
    if card != NULL:
        card[0] += 1
        return ST_OK
    return zsl_insert(tmp, cur.m, cur.mlen, score)


cdef int zs_setop_parse(Client c, uint64_t numi, int op, bint store, bint card_only,
                        double *weights, uint64_t nkeys, int *agg, bint *withscores,
                        int64_t *limit) except -1:
    """The options after the keys; 0, or 1 after an error reply."""
    cdef uint64_t j = numi + 1 + nkeys, remaining, i
    while j < c.argc:
        remaining = c.argc - j
        if op != ZOP_DIFF and not card_only and remaining >= nkeys + 1 and arg_eq(c, j, "weights"):
            for i in range(nkeys):
                j += 1
                if not arg_double(c, j, &weights[i]):
                    wb_error(&c.out, E_ZWEIGHT)
                    return 1
        elif op != ZOP_DIFF and not card_only and remaining >= 2 and arg_eq(c, j, "aggregate"):
            j += 1
            if arg_eq(c, j, "sum"): agg[0] = AGG_SUM
            elif arg_eq(c, j, "min"): agg[0] = AGG_MIN
            elif arg_eq(c, j, "max"): agg[0] = AGG_MAX
            else:
                wb_error(&c.out, E_SYNTAX)
                return 1
        elif not store and not card_only and arg_eq(c, j, "withscores"):
            withscores[0] = True
        elif card_only and remaining >= 2 and arg_eq(c, j, "limit"):
            j += 1
            if not arg_i64(c, j, limit) or limit[0] < 0:
                wb_error(&c.out, "ERR LIMIT can't be negative")
                return 1
        else:
            wb_error(&c.out, E_SYNTAX)
            return 1
        j += 1
    return 0


cdef int zs_lock_srcs(Client c, uint64_t first, uint64_t nkeys, kref_t *ks, uint32_t *shards,
                      kref_t *dst) noexcept nogil:
    """krefs for the keys (and dst) and their shards locked; returns the lock count."""
    cdef uint64_t i, n = nkeys
    for i in range(nkeys):
        kref_init(&ks[i], c.argv[first + i], c.argl[first + i])
        shards[i] = ks[i].shard
    if dst != NULL:
        shards[n] = dst.shard
        n += 1
    return shards_lock_many(shards, <int>n)


cdef int zs_setop_generic(Client c, uint64_t numi, int op, bint store, bint card_only,
                          const char *name) except -1:
    cdef int64_t nkeys, limit = 0, card = 0
    cdef uint64_t i
    cdef kref_t dst
    cdef kref_t *ks
    cdef uint32_t *shards
    cdef zsrc_t *src
    cdef double *weights
    cdef int m, agg = AGG_SUM, st = ST_OK
    cdef bint withscores = False
    cdef zroot_t tmp
    cdef char buf[96]
    if not arg_i64(c, numi, &nkeys):
        wb_error(&c.out, E_NOTINT)
        return 0
    if nkeys < 1:
        snprintf(buf, sizeof(buf), "ERR at least 1 input key is needed for '%s' command", name)
        wb_error(&c.out, buf)
        return 0
    if <uint64_t>nkeys > c.argc - numi - 1:
        wb_error(&c.out, E_SYNTAX)
        return 0
    ks = <kref_t *>malloc(sizeof(kref_t) * nkeys)
    shards = <uint32_t *>malloc(4 * (nkeys + 1))
    src = <zsrc_t *>malloc(sizeof(zsrc_t) * nkeys)
    weights = <double *>malloc(8 * nkeys)
    if ks == NULL or shards == NULL or src == NULL or weights == NULL:
        free(ks); free(shards); free(src); free(weights)
        raise MemoryError()
    try:
        for i in range(<uint64_t>nkeys):
            weights[i] = 1.0
        if store:
            kref_init(&dst, c.argv[1], c.argl[1])
        # Redis checks the types of the inputs before reading the options
        with nogil:
            m = zs_lock_srcs(c, numi + 1, nkeys, ks, shards, NULL)
            for i in range(<uint64_t>nkeys):
                if zs_input_locked(&ks[i], c) == ST_WRONGTYPE:
                    st = ST_WRONGTYPE
            shards_unlock_many(shards, m)
        if st != ST_OK:
            return zs_reply_st(c, st)
        if zs_setop_parse(c, numi, op, store, card_only, weights, nkeys, &agg, &withscores, &limit):
            return 0
        memset(&tmp, 0, sizeof(zroot_t))
        with nogil:
            m = zs_lock_srcs(c, numi + 1, nkeys, ks, shards, &dst if store else NULL)
            for i in range(<uint64_t>nkeys):
                src[i].weight = weights[i]
                st = zs_input_read_locked(&ks[i], c, &src[i])
                if st == ST_WRONGTYPE:
                    break
                st = ST_OK
            if st == ST_OK and not card_only:
                st = zsl_init(&tmp)
            if st == ST_OK:
                st = zs_setop_locked(src, <uint64_t>nkeys, op, agg, &tmp, limit,
                                     &card if card_only else NULL)
            if st == ST_OK and store:
                st = zs_store_result_locked(&dst, &tmp, c, &card)
            elif st == ST_OK and not card_only:
                zs_reply_tmp(&c.out, &tmp, withscores)
                zsl_free(&tmp)
            elif tmp.lp:
                zsl_free(&tmp)
            shards_unlock_many(shards, m)
        if st != ST_OK:
            return zs_reply_st(c, st)
        if store and card: notify_arg(c, NK_ZSET, name, 1)
        handover_finish()
        if store and card:
            signal_key_ready(c.db, c.argv[1], c.argl[1])
        if store or card_only:
            wb_int(&c.out, card)
    finally:
        free(ks); free(shards); free(src); free(weights)
    return 0


cdef void zs_reply_tmp(wbuf_t *w, zroot_t *tmp, bint withscores) noexcept nogil:
    cdef item_t fake
    fake.encoding = ENC_SKIPLIST
    zs_reply_ranks(w, &fake, tmp, 0, tmp.length, False, withscores)


cdef int cmd_zunion(Client c) except -1:
    return zs_setop_generic(c, 1, ZOP_UNION, False, False, "zunion")

cdef int cmd_zinter(Client c) except -1:
    return zs_setop_generic(c, 1, ZOP_INTER, False, False, "zinter")

cdef int cmd_zdiff(Client c) except -1:
    return zs_setop_generic(c, 1, ZOP_DIFF, False, False, "zdiff")

cdef int cmd_zunionstore(Client c) except -1:
    return zs_setop_generic(c, 2, ZOP_UNION, True, False, "zunionstore")

cdef int cmd_zinterstore(Client c) except -1:
    return zs_setop_generic(c, 2, ZOP_INTER, True, False, "zinterstore")

cdef int cmd_zdiffstore(Client c) except -1:
    return zs_setop_generic(c, 2, ZOP_DIFF, True, False, "zdiffstore")

cdef int cmd_zintercard(Client c) except -1:
    return zs_setop_generic(c, 1, ZOP_INTER, False, True, "zintercard")


# ---- ZRANDMEMBER -----------------------------------------------------------------------

cdef inline bint zs_sparse_pick(uint64_t n, uint64_t size) noexcept nogil:
    """Pick n distinct ranks of size by rejection (O(n^2), no O(size) array)."""
    return n <= 256 and n * 4 <= size


cdef void zs_reply_random(Client c, item_t *it, zroot_t *r, int64_t count, bint withscores,
                          uint64_t *picks) noexcept nogil:
    """count > 0: distinct members (all of them, in order, when count >= size);
    count < 0: -count members with repeats. picks: room for count ranks when
    zs_sparse_pick, else for size ranks (unused when count < 0)."""
    cdef uint64_t n, i, j, t, size = r.length
    cdef zcur_t cur
    cdef bint uniq = count > 0
    n = <uint64_t>(count if count > 0 else -count)
    if uniq and n >= size:
        zs_reply_ranks(&c.out, it, r, 0, size, False, withscores)
        return
    if uniq and zs_sparse_pick(n, size):
        i = 0
        while i < n:                             # few of many: draw again on a repeat
            picks[i] = cc_rand() % size
            for j in range(i):
                if picks[j] == picks[i]:
                    break
            else:
                i += 1
    elif uniq:
        for i in range(size):
            picks[i] = i
        for i in range(n):                       # partial Fisher-Yates
            j = i + cc_rand() % (size - i)
            t = picks[i]
            picks[i] = picks[j]
            picks[j] = t
    wb_array(&c.out, <int64_t>(n * 2 if withscores and c.out.resp == 2 else n))
    for i in range(n):
        if c.out.oom:
            break                                # a reply larger than memory: the connection closes
        zcur_seek(&cur, it, r, picks[i] if uniq else cc_rand() % size)
        zs_reply_member(&c.out, &cur, withscores)


cdef int cmd_zrandmember(Client c) except -1:
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef int64_t count = 1
    cdef bint withscores = False
    cdef uint64_t *picks = NULL
    cdef zcur_t cur
    if c.argc >= 3:
        if not arg_i64(c, 2, &count):
            wb_error(&c.out, E_NOTINT)
            return 0
        if count == -9223372036854775807LL - 1:
            wb_error(&c.out, E_ZRANDRANGE)
            return 0
        if c.argc > 4 or (c.argc == 4 and not arg_eq(c, 3, "withscores")):
            wb_error(&c.out, E_SYNTAX)
            return 0
        withscores = c.argc == 4
        if withscores and count < -9223372036854775807LL // 2:
            wb_error(&c.out, E_ZRANGE)
            return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        if st == ST_OK:
            zs_load(IT(k.item), &r)
            if c.argc == 2:
                zcur_seek(&cur, IT(k.item), &r, cc_rand() % r.length)
                zcur_emit(&c.out, &cur)
            elif count == 0:
                wb_array(&c.out, 0)
            else:
                if count > 0 and <uint64_t>count < r.length:
                    picks = <uint64_t *>malloc(8 * (<uint64_t>count if zs_sparse_pick(<uint64_t>count, r.length)
                                                    else r.length))
                if count > 0 and <uint64_t>count < r.length and picks == NULL:
                    st = ST_NOMEM
                else:
                    zs_reply_random(c, IT(k.item), &r, count, withscores, picks)
                free(picks)
        elif st == ST_NOTFOUND:
            if c.argc == 2:
                wb_null(&c.out)
            else:
                wb_array(&c.out, 0)
        shard_unlock(k.shard)
    return zs_reply_st(c, st)


# ---- ZSCAN -----------------------------------------------------------------------------

cdef int zs_d2string(char *buf, double v) noexcept nogil:
    """A score as Redis writes it into a listpack (d2string): integers in full."""
    if isnan(v):
        memcpy(buf, b"nan", 3)
        return 3
    if isinf(v):
        return fmt_double(buf, v)
    if v == 0:
        if 1.0 / v < 0:
            memcpy(buf, b"-0", 2)
            return 2
        buf[0] = 48
        return 1
    if -4611686018427387903.0 <= v <= 4611686018427387903.0 and <double>(<int64_t>v) == v:
        return fmt_i64(buf, <int64_t>v)
    return snprintf(buf, 64, "%.17g", v)


cdef void zscan_emit(wbuf_t *w, const char *m, uint64_t mlen, double score, const char *pat,
                     uint64_t plen, uint64_t *n, bint lp) noexcept nogil:
    """Scores as Redis 7.0 writes them: a listpack's stored text, or %.17g."""
    cdef char buf[64]
    if pat != NULL and not glob_matchlen(pat, plen, m, mlen):
        return
    wb_bulk(w, m, mlen)
    wb_bulk(w, buf, <uint64_t>(zs_d2string(buf, score) if lp else fmt_double(buf, score)))
    n[0] += 2


ctypedef struct zscan_ctx_t:
    wbuf_t *w
    const char *pat
    uint64_t plen
    uint64_t *n


cdef void zscan_visit(void *ctx, uint64_t node) noexcept nogil:
    """dict_scan callback over the member index: emit the node's member."""
    cdef zscan_ctx_t *s = <zscan_ctx_t *>ctx
    cdef znode_t *nd = ZN(node)
    cdef char *buf
    if not zn_long(nd):
        zscan_emit(s.w, zn_member(nd), nd.mlen, nd.score, s.pat, s.plen, s.n, False)
        return
    buf = <char *>malloc(nd.mlen)
    if buf == NULL:
        s.w.oom = True                          # the reply fails as out of memory
        return
    elem_read(zn_lg(nd).elem, 0, buf, nd.mlen)
    zscan_emit(s.w, buf, nd.mlen, nd.score, s.pat, s.plen, s.n, False)
    free(buf)


cdef uint64_t zscan_step(item_t *it, zroot_t *r, uint64_t cursor, int64_t count, const char *pat,
                         uint64_t plen, wbuf_t *w, uint64_t *n) noexcept nogil:
    """Listpack: everything at once. Skiplist: the member index's homes in
    reverse-binary order (dict_scan), so members present for the whole scan are
    returned even if the index resizes meanwhile."""
    cdef zcur_t cur
    cdef uint64_t i
    cdef zscan_ctx_t ctx
    if zs_is_lp(it):
        for i in range(r.length):
            if i == 0:
                zcur_seek(&cur, it, r, 0)
            else:
                zcur_next(&cur)
            zscan_emit(w, cur.m, cur.mlen, cur.score, pat, plen, n, True)
        return 0
    ctx.w = w
    ctx.pat = pat
    ctx.plen = plen
    ctx.n = n
    return dict_scan(DT(r.idx), cursor, zscan_visit, &ctx, <uint64_t>(count if count > 0 else 1))


cdef int cmd_zscan(Client c) except -1:
    cdef uint64_t cursor, i = 3, n = 0
    cdef int64_t count = 10
    cdef const char *pat = NULL
    cdef uint64_t plen = 0
    cdef kref_t k
    cdef zroot_t r
    cdef int st
    cdef wbuf_t body
    cdef char num[24]
    if not parse_cursor(c.argv[2], c.argl[2], &cursor):
        wb_error(&c.out, E_CURSOR)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = zs_lookup_read_locked(&k, c)
        shard_unlock(k.shard)
    if st == ST_NOTFOUND:
        wb_put(&c.out, "*2\r\n$1\r\n0\r\n*0\r\n", 15)
        return 0
    if st != ST_OK:
        return zs_reply_st(c, st)
    while i < c.argc:
        if arg_eq(c, i, "count") and i + 1 < c.argc:
            if not arg_i64(c, i + 1, &count):
                wb_error(&c.out, E_NOTINT)
                return 0
            if count < 1:
                wb_error(&c.out, E_SYNTAX)
                return 0
        elif arg_eq(c, i, "match") and i + 1 < c.argc:
            pat = NULL if glob_is_all(c.argv[i + 1], c.argl[i + 1]) else c.argv[i + 1]
            plen = c.argl[i + 1]
        else:
            wb_error(&c.out, E_SYNTAX)
            return 0
        i += 2
    wb_init(&body)
    try:
        with nogil:
            shard_lock(k.shard)
            st = zs_lookup_locked(&k, c)
            if st == ST_OK:
                zs_load(IT(k.item), &r)
                cursor = zscan_step(IT(k.item), &r, cursor, count, pat, plen, &body, &n)
            shard_unlock(k.shard)
        if body.oom:
            raise MemoryError()
        if st == ST_WRONGTYPE:
            return zs_reply_st(c, st)
        if st == ST_NOTFOUND:
            cursor = 0
        wb_array(&c.out, 2)
        wb_bulk(&c.out, num, <uint64_t>fmt_u64(num, cursor))
        wb_array(&c.out, <int64_t>n)
        wb_put(&c.out, body.p, body.len)
    finally:
        free(body.p)
    return 0


cdef void register_zset_commands():
    register_c('zadd', cmd_zadd)
    register_c('zincrby', cmd_zincrby)
    register_c('zrem', cmd_zrem)
    register_c('zscore', cmd_zscore)
    register_c('zmscore', cmd_zmscore)
    register_c('zcard', cmd_zcard)
    register_c('zrank', cmd_zrank)
    register_c('zrevrank', cmd_zrevrank)
    register_c('zcount', cmd_zcount)
    register_c('zlexcount', cmd_zlexcount)
    register_c('zrange', cmd_zrange)
    register_c('zrevrange', cmd_zrevrange)
    register_c('zrangebyscore', cmd_zrangebyscore)
    register_c('zrevrangebyscore', cmd_zrevrangebyscore)
    register_c('zrangebylex', cmd_zrangebylex)
    register_c('zrevrangebylex', cmd_zrevrangebylex)
    register_c('zrangestore', cmd_zrangestore)
    register_c('zremrangebyrank', cmd_zremrangebyrank)
    register_c('zremrangebyscore', cmd_zremrangebyscore)
    register_c('zremrangebylex', cmd_zremrangebylex)
    register_c('zpopmin', cmd_zpopmin)
    register_c('zpopmax', cmd_zpopmax)
    register_c('zmpop', cmd_zmpop)
    register_c('bzpopmin', cmd_bzpopmin)
    register_c('bzpopmax', cmd_bzpopmax)
    register_c('bzmpop', cmd_bzmpop)
    register_c('zunion', cmd_zunion)
    register_c('zinter', cmd_zinter)
    register_c('zdiff', cmd_zdiff)
    register_c('zunionstore', cmd_zunionstore)
    register_c('zinterstore', cmd_zinterstore)
    register_c('zdiffstore', cmd_zdiffstore)
    register_c('zintercard', cmd_zintercard)
    register_c('zrandmember', cmd_zrandmember)
    register_c('zscan', cmd_zscan)


# ---- invariant walk (shm/check.pxi) ------------------------------------------------

cdef zs_check(item_t *it, dict live, set reached, list errors, str where):
    """Mark the chunks of a zset reached and check its order, length, spans and
    index (test hook, run under every lock)."""
    cdef zroot_t r
    cdef zcur_t cur
    cdef uint64_t i, x, nodes = 0, indexed = 0, nblocks
    cdef znode_t *n
    zs_load(it, &r)
    chunks = []
    if zs_is_lp(it):
        chunks.append((r.lp, lp_hdr(r.lp)[1] if r.lp in live else 0))
        if r.lp in live and lp_hdr(r.lp)[0] != r.length:
            errors.append(f"{where}: listpack holds {lp_hdr(r.lp)[0]} of {r.length} members")
    else:
        x = r.lp
        while x and x in live:
            n = ZN(x)
            chunks.append((x, zn_chunk_bytes(n)))
            if zn_long(n):
                _zs_check_long(n, live, reached, errors, where)
            x = zn_lv(n)[0].forward
            nodes += 1
        if nodes != r.length + 1:
            errors.append(f"{where}: skiplist has {nodes - 1} nodes, length {r.length}")
        if r.idx in live:
            indexed = _walk_index(r.idx, errors, live, reached, where)
            if indexed != r.length or DT(r.idx).count != r.length:
                errors.append(f"{where}: index holds {indexed} of {r.length} members")
        else:
            errors.append(f"{where}: member index is not a live chunk")
    for off, size in chunks:
        if _chunk_live(live, off, size, errors, where):
            reached.add(off)
    if errors:
        return
    for i in range(r.length):
        if i == 0:
            zcur_seek(&cur, it, &r, 0)
            prev_s, prev_m = cur.score, _zcur_py(&cur)
            continue
        zcur_next(&cur)
        if (cur.score, _zcur_py(&cur)) <= (prev_s, prev_m):
            errors.append(f"{where}: member {i} is out of order")
            return
        if not zs_is_lp(it) and i % 97 == 0:
            zcur_seek(&cur, it, &r, i)        # rank lookup through the spans
            if (cur.score, _zcur_py(&cur)) <= (prev_s, prev_m):
                errors.append(f"{where}: rank {i} found by spans is wrong")
                return
        prev_s, prev_m = cur.score, _zcur_py(&cur)


cdef _zs_check_long(znode_t *n, dict live, set reached, list errors, str where):
    """A long member's element: live, reached (with its pages), as long as the
    node says, and hashed as the node says."""
    cdef uint64_t e = zn_lg(n).elem, j
    if not _chunk_live(live, e, ELEM_HDR, errors, f"{where} long member"):
        return
    reached.add(e)
    if EL(e).klen != n.mlen or EL(e).vlen != 0:
        errors.append(f"{where}: long member element holds {EL(e).klen} bytes, node says {n.mlen}")
        return
    if elem_big(EL(e).klen, 0):
        for j in range((EL(e).klen + PAGE_SIZE - 1) >> PAGE_SHIFT):
            reached.add(elem_extents(e)[j])
    buf = bytearray(n.mlen)
    elem_read(e, 0, <char *>buf, n.mlen)
    if cc_hash(<char *>buf, n.mlen) != zn_lg(n).hash:
        errors.append(f"{where}: long member hash is stale")


cdef bytes _zcur_py(zcur_t *c):
    """The cursor's member as bytes (tests)."""
    cdef char *heap = NULL
    cdef const char *m = zcur_bytes(c, &heap)
    if m == NULL:
        raise MemoryError()
    try:
        return m[:c.mlen]
    finally:
        free(heap)


cdef inline uint64_t zs_index_of(item_t *it) noexcept nogil:
    """The member index of a skiplist-encoded zset (tests, introspection)."""
    cdef zroot_t r
    zs_load(it, &r)
    return r.idx
