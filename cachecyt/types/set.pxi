# Sets. A set's item holds a croot_t (types/hash.pxi): a set of integers is an
# intset (one chunk of sorted int64, binary search) while it has at most
# set-max-intset-entries members, otherwise a nested dict (types/dict.pxi) of
# member chunks. Conversion is one way, as Redis 7.0 (which has no set
# listpack): a member that is not a canonical int64, or one member too many,
# turns the intset into a dict. Everything here runs under the key's shard lock.

# ================================ Set type API =================================

cdef inline int64_t *iset(croot_t *r) noexcept nogil:
    return <int64_t *>P(r.off)


cdef inline uint64_t set_len(item_t *it) noexcept nogil:
    cdef croot_t *r = croot(it)
    if it.encoding == ENC_HASHTABLE:
        return DT(r.off).count
    return r.count


cdef int64_t iset_search(croot_t *r, int64_t v, bint *found) noexcept nogil:
    """Index of v in the intset, or where it would go."""
    cdef int64_t lo = 0, hi = <int64_t>r.count - 1, mid
    cdef int64_t *a = iset(r) if r.off else NULL
    found[0] = False
    while lo <= hi:
        mid = (lo + hi) >> 1
        if a[mid] == v:
            found[0] = True
            return mid
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid - 1
    return lo


cdef bint set_has(item_t *it, const char *m, uint64_t ml) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef int64_t v
    cdef bint found
    if it.encoding == ENC_HASHTABLE:
        return dict_find(DT(r.off), cc_hash(m, ml), m, ml) >= 0
    if not parse_i64(m, ml, &v):
        return False
    iset_search(r, v, &found)
    return found


cdef int set_to_dict(item_t *it) noexcept nogil:
    """Convert an intset to a dict. ST_OK or ST_NOMEM (unchanged)."""
    cdef croot_t *r = croot(it)
    cdef uint64_t cap = DICT_MIN, doff, i, e
    cdef char tmp[24]
    cdef int n
    while cap * 7 < r.count * 10 + 10:
        cap *= 2
    doff = dict_new(cap)
    if doff == 0:
        return ST_NOMEM
    for i in range(r.count):
        n = fmt_i64(tmp, iset(r)[i])
        e = elem_new(tmp, n, NULL, 0)
        if e == 0 or dict_insert(&doff, cc_hash(tmp, n), e) != ST_OK:
            if e:
                elem_free(e)
            dict_free(doff, True)
            return ST_NOMEM
    if r.off:
        slab_free(r.off)
    r.off = doff
    r.count = 0
    r.used = 0
    it.encoding = ENC_HASHTABLE
    return ST_OK


cdef int set_add(item_t *it, const char *m, uint64_t ml) noexcept nogil:
    """Add a member: ST_OK (added), ST_EXISTS or ST_NOMEM."""
    cdef croot_t *r = croot(it)
    cdef int64_t v, i
    cdef bint found
    cdef uint64_t h, e
    cdef int st
    if it.encoding == ENC_INTSET:
        if not parse_i64(m, ml, &v):
            if set_to_dict(it) != ST_OK:
                return ST_NOMEM
        else:
            i = iset_search(r, v, &found)
            if found:
                return ST_EXISTS
            st = lp_reserve(r, 8)
            if st == ST_TOOBIG:
                if set_to_dict(it) != ST_OK:
                    return ST_NOMEM
                return set_add(it, m, ml)
            if st != ST_OK:
                return st
            memmove(iset(r) + i + 1, iset(r) + i, 8 * (r.count - <uint64_t>i))
            iset(r)[i] = v
            r.count += 1
            r.used += 8
            if r.count > g_hdr.set_max_intset_entries:
                set_to_dict(it)                    # no memory: stays an intset
            return ST_OK
    h = cc_hash(m, ml)
    if dict_find(DT(r.off), h, m, ml) >= 0:
        return ST_EXISTS
    e = elem_new(m, ml, NULL, 0)
    if e == 0:
        return ST_NOMEM
    if dict_insert(&r.off, h, e) != ST_OK:
        elem_free(e)
        return ST_NOMEM
    return ST_OK


cdef bint set_rem(item_t *it, const char *m, uint64_t ml) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef int64_t v, i
    cdef bint found
    if it.encoding == ENC_HASHTABLE:
        i = dict_find(DT(r.off), cc_hash(m, ml), m, ml)
        if i < 0:
            return False
        elem_free(dict_delete_at(&r.off, <uint64_t>i))
        return True
    if not parse_i64(m, ml, &v):
        return False
    i = iset_search(r, v, &found)
    if not found:
        return False
    iset_rem_at(r, <uint64_t>i)
    return True


cdef inline void iset_rem_at(croot_t *r, uint64_t i) noexcept nogil:
    memmove(iset(r) + i, iset(r) + i + 1, 8 * (r.count - i - 1))
    r.count -= 1
    r.used -= 8


cdef uint64_t set_new(kref_t *k, const char *first, uint64_t fl, int64_t now_ms) noexcept nogil:
    """A new empty set under the absent key, encoded for its first member
    (intset for an integer, as Redis's setTypeCreate), or 0."""
    cdef int64_t v
    cdef bint ints = first == NULL or parse_i64(first, fl, &v)
    cdef uint64_t off = coll_new(k, T_SET, ENC_INTSET if ints else ENC_HASHTABLE, now_ms)
    cdef uint64_t doff
    if off == 0 or ints:
        return off
    doff = dict_new(DICT_MIN)
    if doff == 0:
        key_remove_locked(k)
        return 0
    croot(IT(off)).off = doff
    return off


# ---- members by id (intset index or dict slot) -----------------------------------------

cdef uint64_t *set_ids(item_t *it, uint64_t *n) noexcept nogil:
    """A malloc'd array naming every member, or NULL."""
    cdef uint64_t *ids
    cdef uint64_t i, m = 0
    cdef dict_t *d
    n[0] = set_len(it)
    ids = <uint64_t *>malloc(8 * n[0] + 8)
    if ids == NULL:
        return NULL
    if it.encoding == ENC_HASHTABLE:
        d = DT(croot(it).off)
        for i in range(dict_span(d)):
            if dict_slot(d, i).item:
                ids[m] = i
                m += 1
    else:
        for i in range(n[0]):
            ids[i] = i
    return ids


cdef inline uint64_t set_random_id(item_t *it) noexcept nogil:
    if it.encoding == ENC_HASHTABLE:
        return dict_random(DT(croot(it).off))
    return cc_rand() % croot(it).count


cdef void set_emit_id(wbuf_t *w, item_t *it, uint64_t id) noexcept nogil:
    if it.encoding == ENC_HASHTABLE:
        elem_emit_key(w, dict_elem(DT(croot(it).off), id))
    else:
        wb_bulk_int(w, iset(croot(it))[id])


cdef const char *set_member(item_t *it, uint64_t id, char *tmp, char **heap,
                            uint64_t *len) noexcept nogil:
    """The bytes of a member: in tmp (>= 24 bytes) for an integer, in the
    element, or in a malloc'd copy for a big one (heap[0], caller frees).
    NULL when out of memory."""
    cdef uint64_t e
    heap[0] = NULL
    if it.encoding != ENC_HASHTABLE:
        len[0] = <uint64_t>fmt_i64(tmp, iset(croot(it))[id])
        return tmp
    e = dict_elem(DT(croot(it).off), id)
    len[0] = elem_klen(e)
    if not elem_big(elem_klen(e), 0):
        return elem_data(e)
    heap[0] = <char *>malloc(len[0] + 1)
    if heap[0] != NULL:
        elem_read(e, 0, heap[0], len[0])
    return heap[0]


cdef void set_scan_compact(item_t *it, cscan_t *s) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef char tmp[24]
    cdef int n
    cdef uint64_t i
    for i in range(r.count):
        n = fmt_i64(tmp, iset(r)[i])
        if cscan_take(s, tmp, n):
            wb_bulk(s.w, tmp, n)
            s.n += 1


# ============================== Set type commands ==============================



cdef int set_lookup(Client c, kref_t *k) noexcept nogil:
    """Lock the key's shard and find it: ST_OK (k.item may be 0) or
    ST_WRONGTYPE (the lock is released)."""
    shard_lock(k.shard)
    if key_find_locked(k, c.db, c.now_ms) and IT(k.item).type != T_SET:
        shard_unlock(k.shard)
        return ST_WRONGTYPE
    return ST_OK


cdef int cmd_sadd(Client c) except -1:
    cdef kref_t k
    cdef int st, r
    cdef uint64_t i, added = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = set_lookup(c, &k)
        if st == ST_OK:
            if not k.item and set_new(&k, c.argv[2], c.argl[2], c.now_ms) == 0:
                st = ST_NOMEM
            else:
                for i in range(2, c.argc):
                    r = set_add(IT(k.item), c.argv[i], c.argl[i])
                    if r == ST_OK:
                        added += 1
                    elif r == ST_NOMEM:
                        st = r
                        break
                item_bump(IT(k.item))
                coll_drop_if_empty(&k, set_len(IT(k.item)))
            shard_unlock(k.shard)
    if st != ST_OK:
        return reply_st(c, st)
    if added: notify_arg(c, NK_SET, "sadd", 1)
    wb_int(&c.out, <int64_t>added)
    return 0


cdef int cmd_srem(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef uint64_t i, n = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = set_lookup(c, &k)
        if st == ST_OK:
            if k.item:
                for i in range(2, c.argc):
                    if set_rem(IT(k.item), c.argv[i], c.argl[i]):
                        n += 1
                        if set_len(IT(k.item)) == 0:
                            break
                if n:
                    item_bump(IT(k.item))
                coll_drop_if_empty(&k, set_len(IT(k.item)))
            shard_unlock(k.shard)
    if st != ST_OK:
        return reply_st(c, st)
    notify_removed(c, NK_SET, "srem", n != 0, k.item == 0)
    wb_int(&c.out, <int64_t>n)
    return 0


cdef void set_emit_all(wbuf_t *w, item_t *it) noexcept nogil:
    cdef croot_t *r = croot(it)
    cdef dict_t *d
    cdef uint64_t i
    if it.encoding == ENC_HASHTABLE:
        d = DT(r.off)
        for i in range(dict_span(d)):
            if dict_slot(d, i).item:
                elem_emit_key(w, dict_slot(d, i).item)
    else:
        for i in range(r.count):
            wb_bulk_int(w, iset(r)[i])


cdef enum:
    SQ_CARD = 1
    SQ_ISMEMBER = 2
    SQ_MISMEMBER = 3
    SQ_MEMBERS = 4


cdef int _sread(Client c, int what) except -1:
    cdef kref_t k
    cdef int st
    cdef uint64_t i
    cdef item_t *it = NULL
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = set_lookup(c, &k)
        if st == ST_OK:
            if k.item:
                it = IT(k.item)
            read_hit(it, c.now_ms)
            if what == SQ_CARD:
                wb_int(&c.out, <int64_t>set_len(it) if it != NULL else 0)
            elif what == SQ_ISMEMBER:
                wb_int(&c.out, 1 if it != NULL and set_has(it, c.argv[2], c.argl[2]) else 0)
            elif what == SQ_MISMEMBER:
                wb_array(&c.out, <int64_t>(c.argc - 2))
                for i in range(2, c.argc):
                    wb_int(&c.out, 1 if it != NULL and set_has(it, c.argv[i], c.argl[i]) else 0)
            else:
                wb_set(&c.out, <int64_t>set_len(it) if it != NULL else 0)
                if it != NULL:
                    set_emit_all(&c.out, it)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int cmd_scard(Client c) except -1:
    return _sread(c, SQ_CARD)

cdef int cmd_sismember(Client c) except -1:
    return _sread(c, SQ_ISMEMBER)

cdef int cmd_smismember(Client c) except -1:
    return _sread(c, SQ_MISMEMBER)

cdef int cmd_smembers(Client c) except -1:
    return _sread(c, SQ_MEMBERS)


cdef void set_remove_id(kref_t *k, item_t *it, uint64_t id) noexcept nogil:
    cdef croot_t *r = croot(it)
    if it.encoding == ENC_HASHTABLE:
        elem_free(dict_delete_at(&r.off, id))
    else:
        iset_rem_at(r, id)


cdef int cmd_spop(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t count = 1
    cdef uint64_t n, i, id
    cdef item_t *it
    if c.argc == 3:
        if not arg_i64(c, 2, &count) or count < 0:
            wb_error(&c.out, E_POSITIVE)
            return 0
    elif c.argc > 3:
        wb_error(&c.out, E_SYNTAX)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = set_lookup(c, &k)
        if st == ST_OK:
            if not k.item:
                if c.argc == 2:
                    wb_null(&c.out)
                else:
                    wb_set(&c.out, 0)
            else:
                it = IT(k.item)
                n = set_len(it)
                if c.argc == 3:
                    if <uint64_t>count > n:
                        count = <int64_t>n
                    wb_set(&c.out, count)
                for i in range(<uint64_t>count):
                    id = set_random_id(it)
                    set_emit_id(&c.out, it, id)
                    set_remove_id(&k, it, id)
                if count:
                    item_bump(it)
                coll_drop_if_empty(&k, set_len(it))
                notify_removed_k(NK_SET, "spop", &k, c.db, count != 0)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int set_randmember_locked(wbuf_t *w, item_t *it, int64_t count) noexcept nogil:
    cdef uint64_t n = set_len(it), want, i
    cdef uint64_t *ids
    if count < 0:
        want = <uint64_t>(-count)
        wb_array(w, <int64_t>want)
        for i in range(want):
            set_emit_id(w, it, set_random_id(it))
            if w.oom:
                break
        return ST_OK
    want = <uint64_t>count if <uint64_t>count < n else n
    if it.encoding == ENC_HASHTABLE and want < n:
        ids = dict_pick(DT(croot(it).off), want)
    else:
        ids = set_ids(it, &n)
        if ids != NULL and want < n:
            pick_distinct(ids, n, want)
    if ids == NULL:
        return ST_NOMEM
    wb_array(w, <int64_t>want)
    for i in range(want):
        set_emit_id(w, it, ids[i])
    free(ids)
    return ST_OK


cdef int cmd_srandmember(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t count = 0
    if c.argc == 3:
        if arg_count_range(c, 2, &count):
            return 0
    elif c.argc > 3:
        wb_error(&c.out, E_SYNTAX)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        st = set_lookup(c, &k)
        if st == ST_OK:
            read_hit(IT(k.item) if k.item else NULL, c.now_ms)
            if c.argc == 2:
                if k.item:
                    set_emit_id(&c.out, IT(k.item), set_random_id(IT(k.item)))
                else:
                    wb_null(&c.out)
            elif not k.item or count == 0:
                wb_array(&c.out, 0)
            else:
                st = set_randmember_locked(&c.out, IT(k.item), count)
            shard_unlock(k.shard)
    return reply_st(c, st)


cdef int smove_locked(Client c, kref_t *src, kref_t *dst, int *moved) noexcept nogil:
    cdef int st
    cdef const char *m = c.argv[3]
    cdef uint64_t ml = c.argl[3]
    moved[0] = 0
    key_find_locked(src, c.db, c.now_ms)
    key_find_locked(dst, c.db, c.now_ms)
    if not src.item:
        return ST_OK
    if IT(src.item).type != T_SET or (dst.item and IT(dst.item).type != T_SET):
        return ST_WRONGTYPE
    if src.item == dst.item:
        moved[0] = 1 if set_has(IT(src.item), m, ml) else 0
        return ST_OK
    if not set_rem(IT(src.item), m, ml):
        return ST_OK
    moved[0] = 1
    item_bump(IT(src.item))
    if set_len(IT(src.item)) == 0:
        key_remove_locked(src)
        key_find_locked(dst, c.db, c.now_ms)        # its slot may have moved
    notify_removed_k(NK_SET, "srem", src, c.db, True)
    if not dst.item and set_new(dst, m, ml, c.now_ms) == 0:
        return ST_NOMEM
    st = set_add(IT(dst.item), m, ml)
    if st == ST_NOMEM:
        coll_drop_if_empty(dst, set_len(IT(dst.item)))
        return ST_NOMEM
    if st == ST_OK:                    # already a member: dst is unchanged (WATCH)
        notify(NK_SET, "sadd", dst.key, dst.klen, c.db)
        item_bump(IT(dst.item))
    return ST_OK


cdef int cmd_smove(Client c) except -1:
    cdef kref_t src, dst
    cdef uint32_t shards[2]
    cdef int m, st, moved
    kref_init(&src, c.argv[1], c.argl[1])
    kref_init(&dst, c.argv[2], c.argl[2])
    shards[0] = src.shard
    shards[1] = dst.shard
    with nogil:
        m = shards_lock_many(shards, 2)
        st = smove_locked(c, &src, &dst, &moved)
        shards_unlock_many(shards, m)
    if st != ST_OK:
        return reply_st(c, st)
    wb_int(&c.out, moved)
    return 0


# ---- SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD -------------------------

cdef enum:
    SOP_INTER = 1
    SOP_UNION = 2
    SOP_DIFF = 3

cdef const char *SOP_STORE_EVENT[4]          # keyspace event of each STORE form
SOP_STORE_EVENT[:] = [b"", b"sinterstore", b"sunionstore", b"sdiffstore"]


ctypedef struct setop_t:
    item_t **sets                # the source sets, NULL for a missing key
    uint64_t nsets
    item_t *out                  # result set being built (STORE, SUNION), or NULL
    wbuf_t *w                    # reply body when not building
    uint64_t n                   # members in the result
    uint64_t limit               # SINTERCARD LIMIT, 0 = none
    bint count_only              # SINTERCARD


cdef int setop_take(setop_t *op, item_t *src, uint64_t id) noexcept nogil:
    """A member of the result: counted, emitted, or added to op.out."""
    cdef char tmp[24]
    cdef char *heap
    cdef const char *m
    cdef uint64_t ml
    cdef int st
    if op.count_only:
        op.n += 1
        return ST_OK
    if op.out == NULL:
        set_emit_id(op.w, src, id)
        op.n += 1
        return ST_OK
    m = set_member(src, id, tmp, &heap, &ml)
    if m == NULL:
        return ST_NOMEM
    st = set_add(op.out, m, ml)
    free(heap)
    if st == ST_OK:
        op.n += 1
        return ST_OK
    return ST_NOMEM if st == ST_NOMEM else ST_OK


cdef bint set_has_id_of(item_t *other, item_t *src, uint64_t id) noexcept nogil:
    """Whether `other` holds member `id` of src."""
    cdef char tmp[24]
    cdef char *heap
    cdef const char *m
    cdef uint64_t ml
    cdef bint r
    if src.encoding != ENC_HASHTABLE and other.encoding != ENC_HASHTABLE:
        iset_search(croot(other), iset(croot(src))[id], &r)
        return r
    m = set_member(src, id, tmp, &heap, &ml)
    if m == NULL:
        return False
    r = set_has(other, m, ml)
    free(heap)
    return r


cdef int setop_run(setop_t *op, int kind) noexcept nogil:
    cdef uint64_t i, i2, j, id, nids, smallest = 0
    cdef uint64_t *ids
    cdef item_t *src
    cdef bint keep
    cdef int st = ST_OK
    if kind == SOP_INTER:
        for i in range(op.nsets):
            if op.sets[i] == NULL:
                return ST_OK
            if set_len(op.sets[i]) < set_len(op.sets[smallest]):
                smallest = i
    for i in range(op.nsets):
        if kind != SOP_UNION and i != smallest:
            continue
        src = op.sets[i]
        if src == NULL:
            if kind == SOP_DIFF:
                return ST_OK
            continue
        ids = set_ids(src, &nids)
        if ids == NULL:
            return ST_NOMEM
        for j in range(nids):
            id = ids[j]
            keep = True
            if kind == SOP_INTER:
                for i2 in range(op.nsets):
                    if i2 != smallest and not set_has_id_of(op.sets[i2], src, id):
                        keep = False
                        break
            elif kind == SOP_DIFF:
                for i2 in range(1, op.nsets):
                    if op.sets[i2] != NULL and set_has_id_of(op.sets[i2], src, id):
                        keep = False
                        break
            if keep:
                st = setop_take(op, src, id)
                if st != ST_OK or (op.limit and op.n >= op.limit):
                    break
        free(ids)
        if st != ST_OK or (op.limit and op.n >= op.limit):
            break
    return st


cdef uint64_t set_detached(uint32_t pdb, const char *key, uint64_t klen, int64_t now_ms) noexcept nogil:
    """An empty intset item outside the keyspace (a result being built), or 0."""
    cdef uint64_t off
    cdef croot_t *r
    off = item_new(pdb, key, klen, coll_vlen(klen), T_SET, ENC_INTSET, now_ms)
    if off == 0:
        return 0
    r = croot(IT(off))
    r.off = 0
    r.count = 0
    r.used = 0
    return off


cdef int setop_locked(Client c, kref_t *ks, uint64_t nkeys, kref_t *dst, int kind,
                      setop_t *op) noexcept nogil:
    """Find the source keys, run the operation and store (dst) or emit the
    result. Shards locked."""
    cdef uint64_t i, tmp = 0
    cdef int st
    cdef const char *dkey = ""
    cdef uint64_t dklen = 0
    if dst != NULL:
        dkey = dst.key
        dklen = dst.klen
    for i in range(nkeys):
        op.sets[i] = NULL
        if key_find_locked(&ks[i], c.db, c.now_ms):
            if IT(ks[i].item).type != T_SET:
                return ST_WRONGTYPE
            op.sets[i] = IT(ks[i].item)
        if dst == NULL:                     # Redis reads the sources of a STORE as writes
            read_hit(op.sets[i], c.now_ms)
    op.nsets = nkeys
    if dst != NULL or (kind == SOP_UNION and not op.count_only):
        tmp = set_detached(db_map()[c.db], dkey, dklen, c.now_ms)
        if tmp == 0:
            return ST_NOMEM
        op.out = IT(tmp)
    st = setop_run(op, kind)
    if st != ST_OK:
        item_free(tmp)
        return st
    if dst == NULL:
        if tmp:
            set_emit_all(op.w, op.out)
            item_free(tmp)
        return ST_OK
    key_find_locked(dst, c.db, c.now_ms)
    if op.n == 0:
        item_free(tmp)
        if dst.item:
            key_remove_locked(dst)
            notify(NK_GENERIC, "del", dst.key, dst.klen, c.db)
        return ST_OK
    st = key_store_locked(dst, tmp)
    if st == ST_OK: notify(NK_SET, SOP_STORE_EVENT[kind], dst.key, dst.klen, c.db)
    return st


cdef int _setop(Client c, int kind, bint store) except -1:
    cdef uint64_t first = 2 if store else 1
    cdef uint64_t nkeys = c.argc - first
    cdef kref_t *ks = <kref_t *>malloc(sizeof(kref_t) * (c.argc))
    cdef uint32_t *shards = <uint32_t *>malloc(4 * c.argc)
    cdef item_t **sets = <item_t **>malloc(sizeof(item_t *) * c.argc)
    cdef setop_t op
    cdef wbuf_t body
    cdef int m, st
    if ks == NULL or shards == NULL or sets == NULL:
        free(ks); free(shards); free(sets)
        raise MemoryError()
    memset(&op, 0, sizeof(op))
    op.sets = sets
    wb_init(&body)
    body.resp = c.out.resp
    op.w = &body
    try:
        m = lock_keys(c, 1, 1, ks, shards)
        with nogil:
            st = setop_locked(c, ks + first - 1, nkeys, ks if store else NULL, kind, &op)
            shards_unlock_many(shards, m)
        if body.oom:
            raise MemoryError()
        if st != ST_OK:
            reply_st(c, st)
        elif store:
            wb_int(&c.out, <int64_t>op.n)
        else:
            wb_set(&c.out, <int64_t>op.n)
            wb_put(&c.out, body.p, body.len)
    finally:
        free(body.p)
        free(ks)
        free(shards)
        free(sets)
    return 0


cdef int cmd_sinter(Client c) except -1:
    return _setop(c, SOP_INTER, False)

cdef int cmd_sunion(Client c) except -1:
    return _setop(c, SOP_UNION, False)

cdef int cmd_sdiff(Client c) except -1:
    return _setop(c, SOP_DIFF, False)

cdef int cmd_sinterstore(Client c) except -1:
    return _setop(c, SOP_INTER, True)

cdef int cmd_sunionstore(Client c) except -1:
    return _setop(c, SOP_UNION, True)

cdef int cmd_sdiffstore(Client c) except -1:
    return _setop(c, SOP_DIFF, True)


cdef int cmd_sintercard(Client c) except -1:
    """SINTERCARD numkeys key [key ...] [LIMIT limit]: only the numkeys keys
    are looked up; every argument's shard is locked (a few extra at worst)."""
    cdef int64_t numkeys, limit = 0
    cdef uint64_t i
    cdef kref_t *ks
    cdef uint32_t *shards
    cdef item_t **sets
    cdef setop_t op
    cdef int m, st
    if not arg_i64(c, 1, &numkeys) or numkeys < 1:
        wb_error(&c.out, "ERR numkeys should be greater than 0")
        return 0
    if numkeys > <int64_t>c.argc - 2:
        wb_error(&c.out, "ERR Number of keys can't be greater than number of args")
        return 0
    i = 2 + <uint64_t>numkeys
    while i < c.argc:
        if arg_eq(c, i, "limit") and i + 1 < c.argc:
            if not arg_i64(c, i + 1, &limit) or limit < 0:
                wb_error(&c.out, "ERR LIMIT can't be negative")
                return 0
            i += 2
        else:
            wb_error(&c.out, E_SYNTAX)
            return 0
    ks = <kref_t *>malloc(sizeof(kref_t) * c.argc)
    shards = <uint32_t *>malloc(4 * c.argc)
    sets = <item_t **>malloc(sizeof(item_t *) * c.argc)
    if ks == NULL or shards == NULL or sets == NULL:
        free(ks); free(shards); free(sets)
        raise MemoryError()
    memset(&op, 0, sizeof(op))
    op.sets = sets
    op.count_only = True
    op.limit = <uint64_t>limit
    try:
        m = lock_keys(c, 2, 1, ks, shards)
        with nogil:
            st = setop_locked(c, ks, <uint64_t>numkeys, NULL, SOP_INTER, &op)
            shards_unlock_many(shards, m)
        if st != ST_OK:
            reply_st(c, st)
        else:
            wb_int(&c.out, <int64_t>op.n)
    finally:
        free(ks)
        free(shards)
        free(sets)
    return 0


cdef int cmd_sscan(Client c) except -1:
    return coll_scan(c, T_SET)


cdef void register_set_commands():
    register_c('sadd', cmd_sadd)
    register_c('srem', cmd_srem)
    register_c('smembers', cmd_smembers)
    register_c('sismember', cmd_sismember)
    register_c('smismember', cmd_smismember)
    register_c('scard', cmd_scard)
    register_c('spop', cmd_spop)
    register_c('srandmember', cmd_srandmember)
    register_c('smove', cmd_smove)
    register_c('sinter', cmd_sinter)
    register_c('sunion', cmd_sunion)
    register_c('sdiff', cmd_sdiff)
    register_c('sinterstore', cmd_sinterstore)
    register_c('sunionstore', cmd_sunionstore)
    register_c('sdiffstore', cmd_sdiffstore)
    register_c('sintercard', cmd_sintercard)
    register_c('sscan', cmd_sscan)
