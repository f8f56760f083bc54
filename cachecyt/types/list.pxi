# Lists. A list is a chain of nodes, each a packed chunk of entries (like Redis's
# quicklist of listpacks), doubly linked by offset. The item's value area holds
# the root record (head, tail, element count, node count).
#
# Entry: varint(n) || n bytes || the same varint stored backwards, so a node is
# walked in both directions. Integers are kept as their text. A node holds at
# most list-max-listpack-size entries (> 0) or that many bytes (-1..-5 = 4..64
# KiB) and never more than one page; an element too big for any node lives in a
# "plain" node whose data is the offset of a blob item (key bytes = element).
# Redis 7.0 reports every list as "quicklist", whatever its size.
#
# Compression (list-compress-depth d > 0, as Redis's quicklist): the d nodes at
# each end stay raw, inner nodes are stored packed (types/listlz.pxi) when that
# moves them to a smaller slab class. Readers see a packed node through a view:
# the cursor's `d` points at the node's entries, or at a per-process buffer the
# node was unpacked into (one cursor reads a packed node at a time). Writers
# first make the node they change raw for good (node_own: a new chunk), and
# every write ends by settling the ends (list_done_locked: O(d) nodes), and a
# write in the middle by settling every node it changed (list_compact). A node
# found not worth packing is flagged, until its entries change, so walks do
# not pack it again. CONFIG SET of the depth affects the nodes later writes
# settle; readers take any node packed or raw.

# ================================ List type API ================================

ctypedef struct lroot_t:         # the value area of a T_LIST item
    uint64_t head                # first node, 0 when empty
    uint64_t tail                # last node
    uint64_t count               # elements
    uint64_t nodes               # nodes

ctypedef struct lnode_t:         # header of a node chunk; entries follow
    uint64_t prev                # node offsets, 0 at the ends
    uint64_t next
    uint32_t count               # entries
    uint32_t used                # bytes of entries (unpacked)
    uint8_t plain                # 1: data is the uint64 offset of a blob item
    uint8_t lz_tried             # raw, and packing these entries did not pay
    uint16_t pad
    uint32_t zlen                # bytes of the packed entries; 0 = raw

ctypedef struct lcur_t:          # a position in a list
    uint64_t node
    char *d                      # the node's entries (its own, or unpacked in cc_lz_view)
    uint32_t pos                 # byte offset of the entry in the node's data
    uint32_t i                   # entry index in the node

cdef enum:
    LNODE_HDR = 32
    LNODE_MAX = PAGE_SIZE - LNODE_HDR    # entry bytes a node can hold
    LIST_SAFETY = 8192                   # bytes cap of a node limited by count
    LIST_HEAD = 0
    LIST_TAIL = 1
    LZ_MIN_BYTES = 48                    # smaller nodes are never packed
    LZ_MIN_GAIN = 8                      # packing must save at least this much


cdef inline lnode_t *LN(uint64_t off) noexcept nogil:
    return <lnode_t *>(g_base + off)

cdef inline char *ln_data(uint64_t off) noexcept nogil:
    return <char *>(g_base + off + LNODE_HDR)

cdef inline uint32_t ln_stored(lnode_t *nd) noexcept nogil:
    """Bytes the node's data takes in its chunk (packed or raw)."""
    return nd.zlen if nd.zlen else nd.used


# ---- packed nodes (list-compress-depth) ----------------------------------------------

cdef char *node_view(uint64_t node) noexcept nogil:
    """The entries of a node: its own bytes, or (packed) unpacked into the
    process's view buffer, valid until the next packed node is viewed."""
    cdef lnode_t *nd = LN(node)
    if nd.zlen == 0:
        return ln_data(node)
    cc_lz_unpack(ln_data(node), nd.zlen, cc_lz_view, nd.used)
    return cc_lz_view


cdef void node_relink(lroot_t *r, uint64_t old, uint64_t node) noexcept nogil:
    """The chunk at `node` replaces `old` (same header) in the chain."""
    cdef lnode_t *nd = LN(node)
    if nd.prev:
        LN(nd.prev).next = node
    else:
        r.head = node
    if nd.next:
        LN(nd.next).prev = node
    else:
        r.tail = node


cdef uint64_t node_own(lroot_t *r, uint64_t node) noexcept nogil:
    """Make a node raw before it is changed: the node itself, its unpacked copy
    (the packed chunk is freed), or 0 when there is no memory (node untouched)."""
    cdef lnode_t *nd = LN(node)
    cdef uint64_t raw
    if nd.zlen == 0:
        return node
    raw = slab_alloc(LNODE_HDR + nd.used)
    if raw == 0:
        return 0
    memcpy(LN(raw), nd, LNODE_HDR)
    cc_lz_unpack(ln_data(node), nd.zlen, ln_data(raw), nd.used)
    LN(raw).zlen = 0
    LN(raw).lz_tried = 0
    node_relink(r, node, raw)
    slab_free(node)
    return raw


cdef bint cur_own(lroot_t *r, lcur_t *cur) noexcept nogil:
    """Make the cursor's node raw (see node_own); False when there is no memory."""
    cdef uint64_t node = node_own(r, cur.node)
    if node == 0:
        return False
    cur.node = node
    cur.d = ln_data(node)
    return True


cdef bint list_own_span(lroot_t *r, int where, uint64_t count) noexcept nogil:
    """Make raw the nodes holding the `count` elements at one end, before they
    are popped (so that popping cannot fail half way). False: no memory."""
    cdef uint64_t node = r.head if where == LIST_HEAD else r.tail, seen = 0, own
    while node and seen < count:
        own = node_own(r, node)
        if own == 0:
            return False
        seen += LN(own).count
        node = LN(own).next if where == LIST_HEAD else LN(own).prev
    return True


cdef uint64_t node_pack(lroot_t *r, uint64_t node) noexcept nogil:
    """Store a raw inner node packed when that saves LZ_MIN_GAIN bytes and a
    smaller slab class; else flag it as tried. Returns the node's offset."""
    cdef lnode_t *nd = LN(node)
    cdef uint64_t z, packed
    if nd.zlen or nd.plain or nd.lz_tried:
        return node
    if nd.used < LZ_MIN_BYTES:
        nd.lz_tried = 1
        return node
    z = cc_lz_pack(ln_data(node), nd.used, cc_lz_view, nd.used - LZ_MIN_GAIN)
    if z == 0 or class_at(slab_class_of(LNODE_HDR + z)).size >= slab_chunk_size(node):
        nd.lz_tried = 1
        return node
    packed = slab_alloc(LNODE_HDR + z)
    if packed == 0:
        return node
    memcpy(LN(packed), nd, LNODE_HDR)
    memcpy(ln_data(packed), cc_lz_view, z)
    LN(packed).zlen = <uint32_t>z
    node_relink(r, node, packed)
    slab_free(node)
    return packed


cdef uint64_t g_list_linked = 0     # nodes linked since the last settle (this process)


cdef void list_settle_ends(lroot_t *r) noexcept nogil:
    """After a write: the depth nodes at each end raw, and packed the nodes just
    inward of them that may have moved in from an end (one, plus one for each
    node this write linked). O(depth + new nodes)."""
    cdef uint64_t d = g_hdr.list_compress_depth, i, node, own, extra = g_list_linked
    cdef int side
    global g_list_linked
    g_list_linked = 0
    if d == 0 or r.nodes == 0:
        return
    for side in range(2):
        node = r.head if side == 0 else r.tail
        i = 0
        while node and i < d:
            own = node_own(r, node)
            if own:
                node = own
            node = LN(node).next if side == 0 else LN(node).prev
            i += 1
        while node and i < r.nodes - d and i <= d + extra:
            node = node_pack(r, node)
            node = LN(node).next if side == 0 else LN(node).prev
            i += 1


cdef void list_settle_inner(lroot_t *r) noexcept nogil:
    """After a write in the middle: pack every inner node not yet tried."""
    cdef uint64_t d = g_hdr.list_compress_depth, i = 0, node = r.head
    global g_list_linked
    g_list_linked = 0
    if d == 0 or r.nodes <= 2 * d:
        return
    while node:
        if i >= d and i < r.nodes - d:
            node = node_pack(r, node)
        node = LN(node).next
        i += 1


# ---- entries -----------------------------------------------------------------------

cdef inline uint32_t varint_size(uint64_t n) noexcept nogil:
    cdef uint32_t s = 1
    while n >= 128:
        n >>= 7
        s += 1
    return s

cdef inline uint64_t entry_size(uint64_t n) noexcept nogil:
    return n + 2 * varint_size(n)

cdef void entry_write(char *p, const char *s, uint64_t n) noexcept nogil:
    """Write the entry for s[:n] at p (entry_size(n) bytes)."""
    cdef uint32_t vs = varint_size(n), j
    cdef uint64_t v = n
    cdef uint8_t b
    for j in range(vs):
        b = v & 127
        v >>= 7
        if j + 1 < vs:
            b |= 128
        p[j] = <char>b
        p[vs + n + vs - 1 - j] = <char>b       # the same bytes, backwards
    memcpy(p + vs, s, n)

cdef inline uint64_t entry_len_at(const char *p, uint32_t *vs) noexcept nogil:
    """Element length of the entry at p; vs = its varint size."""
    cdef uint64_t n = 0
    cdef uint32_t j = 0
    cdef uint8_t b
    while True:
        b = <uint8_t>p[j]
        n |= <uint64_t>(b & 127) << (7 * j)
        j += 1
        if not b & 128:
            break
    vs[0] = j
    return n

cdef inline uint64_t entry_len_before(const char *end) noexcept nogil:
    """Size of the whole entry that ends just before `end`."""
    cdef uint64_t n = 0
    cdef uint32_t j = 0
    cdef uint8_t b
    while True:
        b = <uint8_t>end[-1 - <int64_t>j]
        n |= <uint64_t>(b & 127) << (7 * j)
        j += 1
        if not b & 128:
            break
    return n + 2 * j


cdef inline uint64_t ln_blob(uint64_t node) noexcept nogil:
    cdef uint64_t b
    memcpy(&b, ln_data(node), 8)
    return b


cdef inline uint64_t cur_elem(lcur_t *cur, const char **p) noexcept nogil:
    """Length of the element at the cursor; p = its bytes (NULL for a plain node,
    whose bytes are read from the blob item)."""
    cdef uint32_t vs
    cdef uint64_t n
    if LN(cur.node).plain:
        p[0] = NULL
        return IT(ln_blob(cur.node)).klen
    n = entry_len_at(cur.d + cur.pos, &vs)
    p[0] = cur.d + cur.pos + vs
    return n

cdef inline uint64_t cur_esize(lcur_t *cur) noexcept nogil:
    cdef uint32_t vs
    if LN(cur.node).plain:
        return 8
    return entry_size(entry_len_at(cur.d + cur.pos, &vs))


cdef void cur_reply(wbuf_t *w, lcur_t *cur) noexcept nogil:
    """The element at the cursor as a bulk reply."""
    cdef const char *p
    cdef uint64_t n = cur_elem(cur, &p)
    if p != NULL:
        wb_bulk(w, p, n)
        return
    if not wb_reserve(w, n + 26):
        return
    wb_bulk_hdr(w, n)
    item_read(IT(ln_blob(cur.node)), 0, w.p + w.len, n)
    w.p[w.len + n] = 13
    w.p[w.len + n + 1] = 10
    w.len += n + 2


cdef bint cur_eq(lcur_t *cur, const char *s, uint64_t n) noexcept nogil:
    cdef const char *p
    cdef uint64_t m = cur_elem(cur, &p)
    if m != n:
        return False
    if p != NULL:
        return memcmp(p, s, n) == 0
    return item_key_eq(IT(ln_blob(cur.node)), s, n)


# ---- cursor movement ------------------------------------------------------------

cdef inline void cur_at(lcur_t *cur, uint64_t node) noexcept nogil:
    """Put the cursor on a node (0: off the list), seeing its entries."""
    cur.node = node
    cur.d = node_view(node) if node else NULL

cdef inline void cur_at_last_entry(lcur_t *cur) noexcept nogil:
    cdef lnode_t *nd = LN(cur.node)
    cur.i = nd.count - 1
    cur.pos = 0 if nd.plain else <uint32_t>(nd.used - entry_len_before(cur.d + nd.used))

cdef inline bint cur_first(lroot_t *r, lcur_t *cur) noexcept nogil:
    cur_at(cur, r.head)
    cur.pos = 0
    cur.i = 0
    return r.head != 0

cdef bint cur_last(lroot_t *r, lcur_t *cur) noexcept nogil:
    cur_at(cur, r.tail)
    if r.tail == 0:
        return False
    cur_at_last_entry(cur)
    return True

cdef bint cur_next(lcur_t *cur) noexcept nogil:
    """Move to the next element; False at the end (cursor then invalid)."""
    cdef lnode_t *nd = LN(cur.node)
    if cur.i + 1 < nd.count:
        cur.pos += <uint32_t>cur_esize(cur)
        cur.i += 1
        return True
    cur_at(cur, nd.next)
    cur.pos = 0
    cur.i = 0
    return cur.node != 0

cdef bint cur_prev(lcur_t *cur) noexcept nogil:
    if cur.i > 0:
        cur.pos -= <uint32_t>entry_len_before(cur.d + cur.pos)
        cur.i -= 1
        return True
    cur_at(cur, LN(cur.node).prev)
    if cur.node == 0:
        return False
    cur_at_last_entry(cur)
    return True


cdef bint list_seek(lroot_t *r, int64_t index, lcur_t *cur) noexcept nogil:
    """Cursor at element `index` (negative counts from the tail); False when out of
    range. Walks nodes from the nearer end, then entries from the nearer end."""
    cdef uint64_t i, acc = 0
    cdef uint64_t node
    cdef lnode_t *nd
    if index < 0:
        index += <int64_t>r.count
    if index < 0 or <uint64_t>index >= r.count:
        return False
    i = <uint64_t>index
    if i < r.count // 2:
        node = r.head
        while acc + LN(node).count <= i:
            acc += LN(node).count
            node = LN(node).next
    else:
        node = r.tail
        acc = r.count - LN(node).count
        while acc > i:
            node = LN(node).prev
            acc -= LN(node).count
    nd = LN(node)
    i -= acc                                   # index within the node
    cur_at(cur, node)
    if i < nd.count // 2 or nd.plain:
        cur.pos = 0
        cur.i = 0
        while cur.i < i:
            cur.pos += <uint32_t>cur_esize(cur)
            cur.i += 1
    else:
        cur_at_last_entry(cur)
        while cur.i > i:
            cur.pos -= <uint32_t>entry_len_before(cur.d + cur.pos)
            cur.i -= 1
    return True


# ---- nodes ---------------------------------------------------------------------

cdef inline uint64_t node_limit() noexcept nogil:
    """Entry bytes a packed node may hold under list-max-listpack-size."""
    cdef int64_t fill = g_hdr.list_max_listpack_size
    cdef uint64_t lim
    if fill >= 0:
        return LIST_SAFETY
    if fill < -5:
        fill = -5
    lim = <uint64_t>4096 << (-fill - 1)
    return LNODE_MAX if lim > LNODE_MAX else lim


cdef bint node_allows(lnode_t *nd, uint64_t esz) noexcept nogil:
    """May one more entry of esz bytes go into this node?"""
    cdef int64_t fill = g_hdr.list_max_listpack_size
    if nd.plain:
        return False
    if nd.count == 0:
        return True
    if nd.used + esz > LNODE_MAX:
        return False
    if fill >= 0:
        if nd.count >= (fill if fill > 0 else 1):
            return False
    return nd.used + esz <= node_limit()


cdef uint64_t node_new(uint64_t room) noexcept nogil:
    """A new empty packed node with room for `room` entry bytes, or 0."""
    cdef uint64_t off = slab_alloc(LNODE_HDR + room)
    if off == 0:
        return 0
    memset(LN(off), 0, LNODE_HDR)
    return off


cdef void node_link(lroot_t *r, uint64_t node, uint64_t prev, uint64_t next) noexcept nogil:
    """Put a node between prev and next (either 0 at an end)."""
    global g_list_linked
    LN(node).prev = prev
    LN(node).next = next
    if prev:
        LN(prev).next = node
    else:
        r.head = node
    if next:
        LN(next).prev = node
    else:
        r.tail = node
    r.nodes += 1
    g_list_linked += 1


cdef void node_unlink_free(lroot_t *r, uint64_t node) noexcept nogil:
    cdef lnode_t *nd = LN(node)
    if nd.prev:
        LN(nd.prev).next = nd.next
    else:
        r.head = nd.next
    if nd.next:
        LN(nd.next).prev = nd.prev
    else:
        r.tail = nd.prev
    r.nodes -= 1
    node_free(node)


cdef void node_free(uint64_t node) noexcept nogil:
    if LN(node).plain:
        item_free_shell(ln_blob(node))
    slab_free(node)


cdef uint64_t node_reserve(lroot_t *r, uint64_t node, uint64_t more) noexcept nogil:
    """Make room for `more` entry bytes in a raw node: the node itself or its
    moved copy, or 0."""
    cdef lnode_t *nd = LN(node)
    cdef uint64_t need = nd.used + more, room, noff
    if LNODE_HDR + need <= slab_chunk_size(node):
        return node
    room = nd.used + nd.used // 2
    if room < need:
        room = need
    if room > LNODE_MAX:
        room = LNODE_MAX
    noff = slab_alloc(LNODE_HDR + room)
    if noff == 0:
        return 0
    memcpy(LN(noff), nd, LNODE_HDR + nd.used)
    if nd.prev:
        LN(nd.prev).next = noff
    else:
        r.head = noff
    if nd.next:
        LN(nd.next).prev = noff
    else:
        r.tail = noff
    slab_free(node)
    return noff


cdef int node_insert(lroot_t *r, uint64_t *node, uint32_t pos, const char *s,
                     uint64_t n) noexcept nogil:
    """Insert s[:n] at byte `pos` of a packed node with room in its limit
    (node_allows). ST_OK or ST_NOMEM; *node may move."""
    cdef uint64_t esz = entry_size(n)
    cdef uint64_t nn = node_own(r, node[0])
    cdef lnode_t *nd
    cdef char *d
    if nn == 0:
        return ST_NOMEM
    nn = node_reserve(r, nn, esz)
    if nn == 0:
        return ST_NOMEM
    node[0] = nn
    nd = LN(nn)
    d = ln_data(nn)
    memmove(d + pos + esz, d + pos, nd.used - pos)
    entry_write(d + pos, s, n)
    nd.count += 1
    nd.used += <uint32_t>esz
    nd.lz_tried = 0
    r.count += 1
    return ST_OK


cdef uint64_t node_for(lroot_t *r, const char *s, uint64_t n, uint64_t prev,
                       uint64_t next) noexcept nogil:
    """A new node holding only s[:n], linked between prev and next; 0 = no memory.
    Elements too big for a page get a plain node (a blob item)."""
    cdef uint64_t esz = entry_size(n), node, blob
    if esz > LNODE_MAX:
        node = node_new(8)
        if node == 0:
            return 0
        blob = item_new(0, s, n, 0, T_STRING, ENC_RAW, 0)
        if blob == 0:
            slab_free(node)
            return 0
        memcpy(ln_data(node), &blob, 8)
        LN(node).plain = 1
        LN(node).count = 1
        LN(node).used = 8
        r.count += 1
    else:
        node = node_new(esz)
        if node == 0:
            return 0
        node_insert(r, &node, 0, s, n)          # has room: cannot fail
    node_link(r, node, prev, next)
    return node


cdef int list_push(lroot_t *r, int where, const char *s, uint64_t n) noexcept nogil:
    """LPUSH / RPUSH of one element: ST_OK or ST_NOMEM."""
    cdef uint64_t node = r.head if where == LIST_HEAD else r.tail
    cdef uint64_t esz = entry_size(n)
    if node and esz <= LNODE_MAX and node_allows(LN(node), esz):
        return node_insert(r, &node, 0 if where == LIST_HEAD else LN(node).used, s, n)
    if where == LIST_HEAD:
        node = node_for(r, s, n, 0, r.head)
    else:
        node = node_for(r, s, n, r.tail, 0)
    return ST_OK if node else ST_NOMEM


cdef int cur_delete(lroot_t *r, lcur_t *cur, bint forward) noexcept nogil:
    """Delete the element at the cursor; the cursor moves to the next element
    (forward) or the previous one. 1 when the cursor is still valid, else 0;
    -1 when a packed node could not be made raw (no memory, nothing deleted)."""
    cdef lnode_t *nd = LN(cur.node)
    cdef uint64_t esz, node = cur.node
    cdef char *d
    if nd.count == 1:
        r.count -= 1
        if forward:
            cur_at(cur, nd.next)
            cur.pos = 0
            cur.i = 0
        else:
            cur_at(cur, nd.prev)
            if cur.node:
                cur_at_last_entry(cur)
        node_unlink_free(r, node)
        return cur.node != 0
    if not cur_own(r, cur):
        return -1
    r.count -= 1
    node = cur.node
    nd = LN(node)
    esz = cur_esize(cur)
    d = ln_data(node)
    memmove(d + cur.pos, d + cur.pos + esz, nd.used - cur.pos - esz)
    nd.used -= <uint32_t>esz
    nd.count -= 1
    nd.lz_tried = 0
    if forward:
        if cur.i < nd.count:
            return True
        cur_at(cur, nd.next)
        cur.pos = 0
        cur.i = 0
        return cur.node != 0
    if cur.i > 0:
        cur.i -= 1
        cur.pos -= <uint32_t>entry_len_before(d + cur.pos)
        return True
    return cur_prev(cur)


cdef int list_insert_at(lroot_t *r, int64_t index, const char *s, uint64_t n) noexcept nogil:
    """Insert s[:n] so that it becomes element `index` (0..count). A full node is
    split at the insertion point. ST_OK or ST_NOMEM."""
    cdef lcur_t cur
    cdef uint64_t esz = entry_size(n), node, right
    cdef lnode_t *nd
    cdef uint32_t tail_bytes
    if index <= 0:
        return list_push(r, LIST_HEAD, s, n)
    if <uint64_t>index >= r.count:
        return list_push(r, LIST_TAIL, s, n)
    list_seek(r, index, &cur)
    node = node_own(r, cur.node)
    if node == 0:
        return ST_NOMEM
    nd = LN(node)
    if cur.i == 0:                             # between two nodes: try the previous one
        if nd.prev and esz <= LNODE_MAX and node_allows(LN(nd.prev), esz):
            node = nd.prev
            return node_insert(r, &node, LN(node).used, s, n)
        if esz <= LNODE_MAX and node_allows(nd, esz):
            return node_insert(r, &node, 0, s, n)
        return ST_OK if node_for(r, s, n, nd.prev, node) else ST_NOMEM
    if esz <= LNODE_MAX and node_allows(nd, esz):
        return node_insert(r, &node, cur.pos, s, n)
    # split: entries from the cursor on move to a new node after this one
    tail_bytes = nd.used - cur.pos
    right = node_new(tail_bytes)
    if right == 0:
        return ST_NOMEM
    memcpy(ln_data(right), ln_data(node) + cur.pos, tail_bytes)
    LN(right).count = nd.count - cur.i
    LN(right).used = tail_bytes
    nd.count = cur.i
    nd.used = cur.pos
    nd.lz_tried = 0
    node_link(r, right, node, nd.next)
    if esz <= LNODE_MAX and node_allows(nd, esz):
        return node_insert(r, &node, nd.used, s, n)
    if esz <= LNODE_MAX and node_allows(LN(right), esz):
        return node_insert(r, &right, 0, s, n)
    return ST_OK if node_for(r, s, n, node, right) else ST_NOMEM


cdef bint nodes_mergeable(lnode_t *a, lnode_t *b) noexcept nogil:
    cdef int64_t fill = g_hdr.list_max_listpack_size
    if a.plain or b.plain or a.used + b.used > LNODE_MAX:
        return False
    if fill >= 0 and a.count + b.count > <uint64_t>(fill if fill > 0 else 1):
        return False
    return a.used + b.used <= node_limit()


cdef void list_compact(lroot_t *r) noexcept nogil:
    """Merge neighbouring nodes whose entries fit in one (after removals and
    splits in the middle), so that a list keeps few, full nodes; then pack the
    inner nodes that changed."""
    cdef uint64_t node = r.head, nxt, merged
    while node and LN(node).next:
        nxt = LN(node).next
        if not nodes_mergeable(LN(node), LN(nxt)):
            node = nxt
            continue
        merged = node_own(r, node)
        if merged:
            node = merged
            nxt = node_own(r, nxt)
        if merged:
            merged = node_reserve(r, node, LN(nxt).used) if nxt else 0
        if merged == 0:
            break                                # no memory: the list stays valid as it is
        node = merged
        memcpy(ln_data(node) + LN(node).used, ln_data(nxt), LN(nxt).used)
        LN(node).used += LN(nxt).used
        LN(node).count += LN(nxt).count
        LN(node).lz_tried = 0
        node_unlink_free(r, nxt)
    list_settle_inner(r)


cdef int list_trim(lroot_t *r, uint64_t from_head, uint64_t from_tail) noexcept nogil:
    """Remove elements at both ends, whole nodes at a time where possible.
    ST_OK, or ST_NOMEM when a packed end node could not be made raw."""
    cdef lcur_t cur
    while from_head and r.head:
        if LN(r.head).count <= from_head:
            from_head -= LN(r.head).count
            r.count -= LN(r.head).count
            node_unlink_free(r, r.head)
        else:
            cur_first(r, &cur)
            while from_head:
                if cur_delete(r, &cur, True) < 0:
                    return ST_NOMEM
                from_head -= 1
    while from_tail and r.tail:
        if LN(r.tail).count <= from_tail:
            from_tail -= LN(r.tail).count
            r.count -= LN(r.tail).count
            node_unlink_free(r, r.tail)
        else:
            cur_last(r, &cur)
            while from_tail:
                if cur_delete(r, &cur, False) < 0:
                    return ST_NOMEM
                from_tail -= 1
    return ST_OK


cdef void list_release(lroot_t *r) noexcept nogil:
    cdef uint64_t node = r.head, nxt
    while node:
        nxt = LN(node).next
        node_free(node)
        node = nxt
    r.head = r.tail = 0
    r.count = r.nodes = 0


cdef int list_dup(lroot_t *dst, lroot_t *src) noexcept nogil:
    """Deep copy of src's nodes into the empty root dst: ST_OK or ST_NOMEM (then
    nothing is left allocated)."""
    cdef uint64_t node = src.head, copy, blob
    cdef lnode_t *nd
    memset(dst, 0, sizeof(lroot_t))
    while node:
        nd = LN(node)
        copy = slab_alloc(LNODE_HDR + ln_stored(nd))
        if copy == 0:
            list_release(dst)
            return ST_NOMEM
        memcpy(LN(copy), nd, LNODE_HDR + ln_stored(nd))
        if nd.plain:
            blob = item_dup_blob(ln_blob(node))
            if blob == 0:
                slab_free(copy)
                list_release(dst)
                return ST_NOMEM
            memcpy(ln_data(copy), &blob, 8)
        node_link(dst, copy, dst.tail, 0)
        dst.count += nd.count
        node = nd.next
    return ST_OK


cdef uint64_t item_dup_blob(uint64_t blob) noexcept nogil:
    """A copy of a blob item (element bytes as its key), or 0."""
    cdef item_t *it = IT(blob)
    cdef uint64_t off = item_new(0, "", 0, it.klen, T_STRING, ENC_RAW, 0)
    cdef uint64_t pos = 0, step
    cdef char buf[4096]
    if off == 0:
        return 0
    IT(off).klen = it.klen              # the bytes are the key: same total length
    IT(off).vlen = 0
    while pos < it.klen:
        step = it.klen - pos
        if step > 4096:
            step = 4096
        item_read(it, pos, buf, step)
        item_write(IT(off), pos, buf, step)
        pos += step
    return off


cdef uint64_t list_memory(lroot_t *r) noexcept nogil:
    """Bytes of arena the nodes (and blobs) take."""
    cdef uint64_t node = r.head, total = 0
    while node:
        total += slab_chunk_size(node)
        if LN(node).plain:
            total += item_memory(ln_blob(node))
        node = LN(node).next
    return total


cdef walk_list(item_t *it, list errors, dict live, set reached, str where):
    """Invariant walk (shm/check.pxi): every node and blob is a live chunk reached
    once, the links agree both ways and the counts add up."""
    cdef lroot_t r
    cdef uint64_t node, prev = 0, count = 0, nodes = 0, b
    cdef item_t *blob
    lroot_load(it, &r)
    node = r.head
    while node:
        if node in reached or not _chunk_live(live, node, LNODE_HDR + ln_stored(LN(node)), errors, where):
            errors.append(f"{where}: list node {node} is bad or shared")
            return
        reached.add(node)
        if LN(node).prev != prev:
            errors.append(f"{where}: list node {node} links back to {LN(node).prev}, not {prev}")
        if LN(node).count == 0:
            errors.append(f"{where}: empty list node {node}")
        if LN(node).zlen:
            _check_packed_node(node, errors, where)
        if LN(node).plain:
            b = ln_blob(node)
            if _chunk_live(live, b, ITEM_HDR, errors, where + " blob"):
                reached.add(b)
                blob = IT(b)
                if blob.iflags & IF_EXTENTS:
                    for e in range(item_nextents(blob.klen)):
                        reached.add(item_extents(blob)[e])
        count += LN(node).count
        nodes += 1
        prev = node
        node = LN(node).next
    if prev != r.tail or count != r.count or nodes != r.nodes:
        errors.append(f"{where}: list root says tail {r.tail}, {r.count} elements, {r.nodes} "
                      f"nodes; the chain has {prev}, {count}, {nodes}")


cdef _check_packed_node(uint64_t node, list errors, str where):
    """A packed node unpacks to exactly `used` bytes holding `count` entries."""
    cdef lnode_t *nd = LN(node)
    cdef size_t u
    cdef uint64_t pos = 0, n = 0
    cdef uint32_t vs
    if nd.plain or nd.zlen >= nd.used:
        errors.append(f"{where}: list node {node} is packed but plain or not smaller")
        return
    u = cc_lz_unpack(ln_data(node), nd.zlen, cc_lz_view, LNODE_MAX)
    if u != nd.used:
        errors.append(f"{where}: packed list node {node} unpacks to {<int64_t>u} bytes, not {nd.used}")
        return
    while pos < u:
        pos += entry_size(entry_len_at(cc_lz_view + pos, &vs))
        n += 1
    if pos != u or n != nd.count:
        errors.append(f"{where}: packed list node {node} holds {n} entries, not {nd.count}")


# ---- the root record in an item ----------------------------------------------------

cdef inline void lroot_load(item_t *it, lroot_t *r) noexcept nogil:
    item_read(it, it.klen, <char *>r, sizeof(lroot_t))

cdef inline void lroot_save(item_t *it, lroot_t *r) noexcept nogil:
    item_write(it, it.klen, <const char *>r, sizeof(lroot_t))


cdef uint64_t list_create_locked(kref_t *k, int64_t now_ms) noexcept nogil:
    """A new empty list stored at the absent key k, or 0 (no memory)."""
    cdef lroot_t r
    cdef uint64_t off = item_new(k.pdb, k.key, k.klen, sizeof(lroot_t), T_LIST, ENC_QUICKLIST, now_ms)
    if off == 0:
        return 0
    memset(&r, 0, sizeof(r))
    lroot_save(IT(off), &r)
    if key_store_locked(k, off) != ST_OK:
        return 0
    return off


cdef int list_find_locked(kref_t *k, int db, int64_t now_ms) noexcept nogil:
    """Look the key up: ST_OK (k.item the list), ST_NOTFOUND or ST_WRONGTYPE."""
    if not key_find_locked(k, db, now_ms):
        return ST_NOTFOUND
    if IT(k.item).type != T_LIST:
        return ST_WRONGTYPE
    return ST_OK


cdef void list_done_locked(kref_t *k, lroot_t *r, bint changed, int64_t now_ms) noexcept nogil:
    """After an operation on the list at k: settle packed nodes at the ends,
    save the root, or delete the key when the list is empty."""
    if changed:
        list_settle_ends(r)
    lroot_save(IT(k.item), r)
    if r.count == 0:
        key_remove_locked(k)
        return
    if changed:
        item_bump(IT(k.item))
    item_touch(IT(k.item), now_ms)


cdef void list_pop_reply(wbuf_t *w, lroot_t *r, int where) noexcept nogil:
    """Pop one element from an end and reply it as a bulk string. The caller
    has made that end raw (list_own_span)."""
    cdef lcur_t cur
    if where == LIST_HEAD:
        cur_first(r, &cur)
    else:
        cur_last(r, &cur)
    cur_reply(w, &cur)
    cur_delete(r, &cur, where == LIST_HEAD)


cdef void list_range_reply(wbuf_t *w, lroot_t *r, int64_t start, int64_t stop) noexcept nogil:
    """LRANGE's array for normalized 0 <= start <= stop < count."""
    cdef lcur_t cur
    cdef int64_t i
    wb_array(w, stop - start + 1)
    list_seek(r, start, &cur)
    for i in range(start, stop + 1):
        cur_reply(w, &cur)
        cur_next(&cur)


# ============================== List type commands ==============================

cdef const char *E_INDEX = "ERR index out of range"
cdef const char *E_RANKZERO = ("ERR RANK can't be zero: use 1 to start from the first match, "
                               "2 from the second ... or use negative to start from the end of the list")
cdef const char *E_COUNTNEG = "ERR COUNT can't be negative"
cdef const char *E_MAXLENNEG = "ERR MAXLEN can't be negative"
cdef const char *E_NUMKEYS = "ERR numkeys should be greater than 0"
cdef const char *E_COUNTPOS = "ERR count should be greater than 0"


cdef int reply_status(Client c, int st) except -1:
    """The error reply of a list status; 1 if one was sent, else 0."""
    if st == ST_WRONGTYPE:
        wb_error(&c.out, E_WRONGTYPE)
    elif st == ST_NOMEM:
        wb_error(&c.out, E_NOMEM)
    else:
        return 0
    return 1


cdef int push_locked(Client c, kref_t *k, int where, bint only_existing,
                     int64_t *len_out) noexcept nogil:
    """Push arguments 2.. onto the list at k; ST_OK (len_out = the new length, 0
    when only_existing and the key is absent), ST_WRONGTYPE or ST_NOMEM."""
    cdef int st = list_find_locked(k, c.db, c.now_ms)
    cdef lroot_t r
    cdef uint64_t i
    if st == ST_WRONGTYPE:
        return st
    len_out[0] = 0
    if st == ST_NOTFOUND:
        if only_existing:
            return ST_OK
        if list_create_locked(k, c.now_ms) == 0:
            return ST_NOMEM
    lroot_load(IT(k.item), &r)
    st = ST_OK
    for i in range(2, c.argc):
        if list_push(&r, where, c.argv[i], c.argl[i]) != ST_OK:
            st = ST_NOMEM
            break
    len_out[0] = <int64_t>r.count
    handover_locked(c, k, &r)                   # blocked clients take theirs now (shm/blocking.pxi)
    list_done_locked(k, &r, True, c.now_ms)
    handover_chain(c.now_ms)                    # and the waiters on where they moved it
    return st


cdef int _push(Client c, int where, bint only_existing) except -1:
    cdef kref_t k
    cdef int st, m
    cdef uint32_t sh[1]
    cdef int64_t n = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        sh[0] = k.shard
        m = ho_lock_many(sh, 1, &k)            # with the shards of BLMOVE chains from k
        st = push_locked(c, &k, where, only_existing, &n)
        ho_unlock_many(sh, m)
    if not reply_status(c, st):
        wb_int(&c.out, n)
        if n:
            notify_arg(c, NK_LIST, "lpush" if where == LIST_HEAD else "rpush", 1)
            handover_finish()
            signal_key_ready(c.db, c.argv[1], c.argl[1])
    handover_finish()                           # a push that ran out of memory part way
    return 0


cdef int cmd_lpush(Client c) except -1:
    return _push(c, LIST_HEAD, False)

cdef int cmd_rpush(Client c) except -1:
    return _push(c, LIST_TAIL, False)

cdef int cmd_lpushx(Client c) except -1:
    return _push(c, LIST_HEAD, True)

cdef int cmd_rpushx(Client c) except -1:
    return _push(c, LIST_TAIL, True)


cdef void pop_many_reply(wbuf_t *w, lroot_t *r, int where, int64_t count) noexcept nogil:
    """An array of up to `count` elements popped from one end (made raw by the
    caller: list_own_span)."""
    cdef int64_t i
    if count > <int64_t>r.count:
        count = <int64_t>r.count
    wb_array(w, count)
    for i in range(count):
        list_pop_reply(w, r, where)


cdef int _pop(Client c, int where) except -1:
    """LPOP / RPOP key [count]."""
    cdef kref_t k
    cdef int st
    cdef int64_t count = -1
    cdef lroot_t r
    if c.argc > 3:
        reply_arity(c, "lpop" if where == LIST_HEAD else "rpop")
        return 0
    if c.argc == 3 and (not arg_i64(c, 2, &count) or count < 0):
        wb_error(&c.out, E_POSITIVE)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_NOTFOUND:
            if count < 0:
                wb_null(&c.out)
            else:
                wb_null_array(&c.out)
        elif st == ST_OK:
            lroot_load(IT(k.item), &r)
            if not list_own_span(&r, where, 1 if count < 0 else <uint64_t>count):
                st = ST_NOMEM
            elif count < 0:
                list_pop_reply(&c.out, &r, where)
            else:
                pop_many_reply(&c.out, &r, where, count)
            list_done_locked(&k, &r, count != 0 and st == ST_OK, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK: notify_removed(c, NK_LIST, "lpop" if where == LIST_HEAD else "rpop", count != 0, k.item == 0)
    reply_status(c, st)
    return 0


cdef int cmd_lpop(Client c) except -1:
    return _pop(c, LIST_HEAD)

cdef int cmd_rpop(Client c) except -1:
    return _pop(c, LIST_TAIL)


cdef int cmd_llen(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef lroot_t r
    r.count = 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK:
            lroot_load(IT(k.item), &r)
            item_touch(IT(k.item), c.now_ms)
        shard_unlock(k.shard)
    if not reply_status(c, st):
        wb_int(&c.out, <int64_t>r.count)
    return 0


cdef int cmd_lrange(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t start, stop, n
    cdef lroot_t r
    if not arg_i64(c, 2, &start) or not arg_i64(c, 3, &stop):
        wb_error(&c.out, E_NOTINT)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_NOTFOUND:
            wb_array(&c.out, 0)
        elif st == ST_OK:
            lroot_load(IT(k.item), &r)
            n = <int64_t>r.count
            if start < 0:
                start += n
            if stop < 0:
                stop += n
            if start < 0:
                start = 0
            if stop >= n:
                stop = n - 1
            if start > stop or start >= n:
                wb_array(&c.out, 0)
            else:
                list_range_reply(&c.out, &r, start, stop)
            item_touch(IT(k.item), c.now_ms)
        shard_unlock(k.shard)
    reply_status(c, st)
    return 0


cdef int cmd_lindex(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t index
    cdef lroot_t r
    cdef lcur_t cur
    cdef bint ok = arg_i64(c, 2, &index)        # judged after the key, as Redis
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_NOTFOUND:
            wb_null(&c.out)
        elif st == ST_OK and not ok:
            st = ST_NOTINT
        elif st == ST_OK:
            lroot_load(IT(k.item), &r)
            if list_seek(&r, index, &cur):
                cur_reply(&c.out, &cur)
            else:
                wb_null(&c.out)
            item_touch(IT(k.item), c.now_ms)
        shard_unlock(k.shard)
    if st == ST_NOTINT:
        wb_error(&c.out, E_NOTINT)
    reply_status(c, st)
    return 0


cdef int cmd_lset(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t index
    cdef lroot_t r
    cdef lcur_t cur
    cdef bint ok = arg_i64(c, 2, &index)        # judged after the key, as Redis
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK and not ok:
            st = ST_NOTINT
        elif st == ST_OK:
            lroot_load(IT(k.item), &r)
            if list_seek(&r, index, &cur):
                if index < 0:
                    index += <int64_t>r.count
                if cur_delete(&r, &cur, True) < 0:
                    st = ST_NOMEM
                else:
                    st = list_insert_at(&r, index, c.argv[3], c.argl[3])
                list_compact(&r)
                if st == ST_OK:
                    wb_ok(&c.out)
                list_done_locked(&k, &r, True, c.now_ms)
            else:
                st = ST_EXISTS               # stands for: index out of range
        shard_unlock(k.shard)
    if st == ST_OK: notify_arg(c, NK_LIST, "lset", 1)
    if st == ST_NOTFOUND:
        wb_error(&c.out, E_NOKEY)
    elif st == ST_EXISTS:
        wb_error(&c.out, E_INDEX)
    elif st == ST_NOTINT:
        wb_error(&c.out, E_NOTINT)
    else:
        reply_status(c, st)
    return 0


cdef int cmd_linsert(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef bint after
    cdef int64_t index = 0, result = 0
    cdef lroot_t r
    cdef lcur_t cur
    cdef bint found = False
    if arg_eq(c, 2, "after"):
        after = True
    elif arg_eq(c, 2, "before"):
        after = False
    else:
        wb_error(&c.out, E_SYNTAX)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK:
            lroot_load(IT(k.item), &r)
            if cur_first(&r, &cur):
                while True:
                    if cur_eq(&cur, c.argv[3], c.argl[3]):
                        found = True
                        break
                    index += 1
                    if not cur_next(&cur):
                        break
            if found:
                st = list_insert_at(&r, index + 1 if after else index, c.argv[4], c.argl[4])
                list_compact(&r)
                result = <int64_t>r.count
                list_done_locked(&k, &r, True, c.now_ms)
            else:
                result = -1
        shard_unlock(k.shard)
    if st == ST_OK and found: notify_arg(c, NK_LIST, "linsert", 1)
    if st == ST_NOTFOUND:
        wb_int(&c.out, 0)
    elif not reply_status(c, st):
        wb_int(&c.out, result)
    return 0


cdef int cmd_lrem(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t count, removed = 0
    cdef lroot_t r
    cdef lcur_t cur
    cdef bint forward, valid
    cdef int m
    if not arg_i64(c, 2, &count):
        wb_error(&c.out, E_NOTINT)
        return 0
    forward = count >= 0
    if count < 0:
        count = -count if count > -9223372036854775807LL - 1 else 9223372036854775807LL
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK:
            lroot_load(IT(k.item), &r)
            valid = cur_first(&r, &cur) if forward else cur_last(&r, &cur)
            while valid:
                if cur_eq(&cur, c.argv[3], c.argl[3]):
                    m = cur_delete(&r, &cur, forward)
                    if m < 0:
                        st = ST_NOMEM
                        break
                    valid = m != 0
                    removed += 1
                    if count and removed == count:
                        break
                else:
                    valid = cur_next(&cur) if forward else cur_prev(&cur)
            if removed:
                list_compact(&r)
            list_done_locked(&k, &r, removed != 0, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK or removed: notify_removed(c, NK_LIST, "lrem", removed != 0, k.item == 0)
    if st == ST_NOTFOUND:
        wb_int(&c.out, 0)
    elif not reply_status(c, st):
        wb_int(&c.out, removed)
    return 0


cdef int cmd_ltrim(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t start, stop, n
    cdef lroot_t r
    if not arg_i64(c, 2, &start) or not arg_i64(c, 3, &stop):
        wb_error(&c.out, E_NOTINT)
        return 0
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK:
            lroot_load(IT(k.item), &r)
            n = <int64_t>r.count
            if start < 0:
                start += n
            if stop < 0:
                stop += n
            if start < 0:
                start = 0
            if start > stop or start >= n:
                st = list_trim(&r, <uint64_t>n, 0)
            else:
                if stop >= n:
                    stop = n - 1
                st = list_trim(&r, <uint64_t>start, <uint64_t>(n - stop - 1))
            list_done_locked(&k, &r, True, c.now_ms)
        shard_unlock(k.shard)
    if st == ST_OK: notify_removed(c, NK_LIST, "ltrim", True, k.item == 0)
    if not reply_status(c, st):
        wb_ok(&c.out)
    return 0


cdef int lpos_options(Client c, int64_t *rank, int64_t *count, int64_t *maxlen) except -2:
    """RANK / COUNT / MAXLEN of LPOS; -1 after replying an error."""
    cdef uint64_t i = 3
    cdef int64_t v
    while i < c.argc:
        if i + 1 >= c.argc or not (arg_eq(c, i, "rank") or arg_eq(c, i, "count")
                                   or arg_eq(c, i, "maxlen")):
            wb_error(&c.out, E_SYNTAX)
            return -1
        if not arg_i64(c, i + 1, &v):           # COUNT/MAXLEN: their own words, as Redis
            wb_error(&c.out, E_NOTINT if arg_eq(c, i, "rank") else
                     E_COUNTNEG if arg_eq(c, i, "count") else E_MAXLENNEG)
            return -1
        if arg_eq(c, i, "rank"):
            if v == 0:
                wb_error(&c.out, E_RANKZERO)
                return -1
            rank[0] = v
        elif arg_eq(c, i, "count"):
            if v < 0:
                wb_error(&c.out, E_COUNTNEG)
                return -1
            count[0] = v
        else:
            if v < 0:
                wb_error(&c.out, E_MAXLENNEG)
                return -1
            maxlen[0] = v
        i += 2
    return 0


cdef int cmd_lpos(Client c) except -1:
    cdef kref_t k
    cdef int st
    cdef int64_t rank = 1, count = -1, maxlen = 0, index, matches = 0, seen = 0, skip
    cdef lroot_t r
    cdef lcur_t cur
    cdef bint forward, valid
    cdef wbuf_t body
    if lpos_options(c, &rank, &count, &maxlen) < 0:
        return 0
    forward = rank > 0
    skip = (rank - 1) if rank > 0 else (-(rank + 1))
    wb_init(&body)
    body.resp = c.out.resp
    kref_init(&k, c.argv[1], c.argl[1])
    with nogil:
        shard_lock(k.shard)
        st = list_find_locked(&k, c.db, c.now_ms)
        if st == ST_OK:
            lroot_load(IT(k.item), &r)
            valid = cur_first(&r, &cur) if forward else cur_last(&r, &cur)
            index = 0 if forward else <int64_t>r.count - 1
            while valid and (maxlen == 0 or seen < maxlen):
                if cur_eq(&cur, c.argv[2], c.argl[2]):
                    if skip > 0:
                        skip -= 1
                    else:
                        wb_int(&body, index)
                        matches += 1
                        if count != 0 and matches >= (count if count > 0 else 1):
                            break
                seen += 1
                if forward:
                    index += 1
                    valid = cur_next(&cur)
                else:
                    index -= 1
                    valid = cur_prev(&cur)
            item_touch(IT(k.item), c.now_ms)
        shard_unlock(k.shard)
    if not reply_status(c, st):
        if count >= 0:
            wb_array(&c.out, matches)
            wb_put(&c.out, body.p, body.len)
        elif matches:
            wb_put(&c.out, body.p, body.len)
        else:
            wb_null(&c.out)
    free(body.p)
    return 0


# ---- moving between lists (LMOVE, RPOPLPUSH, LMPOP) -------------------------------

cdef int arg_where(Client c, uint64_t i) noexcept nogil:
    """LEFT -> LIST_HEAD, RIGHT -> LIST_TAIL, else -1."""
    if arg_eq(c, i, "left"):
        return LIST_HEAD
    if arg_eq(c, i, "right"):
        return LIST_TAIL
    return -1


cdef int move_locked(Client c, kref_t *src, kref_t *dst, int wfrom, int wto) noexcept nogil:
    """Pop from src and push onto dst, replying the element (nil when src is
    absent). Both shards locked. ST_OK, ST_NOTFOUND, ST_WRONGTYPE or ST_NOMEM."""
    cdef int st = list_find_locked(src, c.db, c.now_ms)
    cdef int dst_st
    cdef lroot_t rs, rd
    cdef lcur_t cur
    cdef const char *p
    cdef uint64_t n, start
    cdef char *tmp
    if st != ST_OK:
        return st
    dst_st = list_find_locked(dst, c.db, c.now_ms)
    if dst_st == ST_WRONGTYPE:
        return ST_WRONGTYPE
    key_find_locked(src, c.db, c.now_ms)        # dst's lookup may have moved src's slot
    lroot_load(IT(src.item), &rs)
    if wfrom == LIST_HEAD:
        cur_first(&rs, &cur)
    else:
        cur_last(&rs, &cur)
    if not cur_own(&rs, &cur):
        return ST_NOMEM
    # the reply is the element: it is also the copy pushed onto dst
    start = c.out.len
    cur_reply(&c.out, &cur)
    if c.out.oom:
        return ST_NOMEM
    n = cur_elem(&cur, &p)
    tmp = c.out.p + start + (c.out.len - start - n - 2)
    if dst_st == ST_NOTFOUND:
        if list_create_locked(dst, c.now_ms) == 0:
            c.out.len = start
            return ST_NOMEM
        key_find_locked(src, c.db, c.now_ms)
    if src.item == dst.item:
        if list_push(&rs, wto, tmp, n) != ST_OK:
            c.out.len = start
            return ST_NOMEM
        if wfrom == LIST_HEAD:
            cur_first(&rs, &cur)
        else:
            cur_last(&rs, &cur)
        cur_delete(&rs, &cur, wfrom == LIST_HEAD)
        list_done_locked(src, &rs, True, c.now_ms)
        return ST_OK
    lroot_load(IT(dst.item), &rd)
    if list_push(&rd, wto, tmp, n) != ST_OK:
        c.out.len = start
        list_done_locked(dst, &rd, True, c.now_ms)
        return ST_NOMEM
    cur_delete(&rs, &cur, wfrom == LIST_HEAD)
    key_find_locked(src, c.db, c.now_ms)
    list_done_locked(src, &rs, True, c.now_ms)
    # src is saved before the hand-over: a BLMOVE waiter served from dst may push onto it
    key_find_locked(dst, c.db, c.now_ms)
    handover_locked(c, dst, &rd)
    list_done_locked(dst, &rd, True, c.now_ms)
    handover_chain(c.now_ms)
    return ST_OK


cdef int do_move(Client c, int wfrom, int wto) except -1:
    """LMOVE / RPOPLPUSH: 1 when an element moved, 0 when the source is empty
    (nothing replied: the blocking forms wait), 2 after an error reply."""
    cdef kref_t src, dst
    cdef uint32_t shards[2]
    cdef int m, st
    kref_init(&src, c.argv[1], c.argl[1])
    kref_init(&dst, c.argv[2], c.argl[2])
    shards[0] = src.shard
    shards[1] = dst.shard
    with nogil:
        m = ho_lock_many(shards, 2, &dst)      # shm/blocking.pxi: BLMOVE chains from dst
        st = move_locked(c, &src, &dst, wfrom, wto)
        ho_unlock_many(shards, m)
    if st == ST_NOTFOUND:
        return 0
    if reply_status(c, st):
        return 2
    notify_move(c, wfrom, wto, src.item == 0)
    handover_finish()
    signal_key_ready(c.db, c.argv[2], c.argl[2])
    return 1


cdef int cmd_lmove(Client c) except -1:
    cdef int wfrom = arg_where(c, 3), wto = arg_where(c, 4)
    if wfrom < 0 or wto < 0:
        wb_error(&c.out, E_SYNTAX)
        return 0
    if do_move(c, wfrom, wto) == 0:
        wb_null(&c.out)
    return 0


cdef int cmd_rpoplpush(Client c) except -1:
    if do_move(c, LIST_TAIL, LIST_HEAD) == 0:
        wb_null(&c.out)
    return 0


cdef int mpop_args(Client c, uint64_t first, uint64_t *nkeys, int *where,
                   int64_t *count) except -2:
    """numkeys key [key ...] LEFT|RIGHT [COUNT count] from argument `first`;
    -1 after replying an error."""
    cdef int64_t n
    cdef uint64_t i
    if not arg_i64(c, first, &n) or n <= 0:
        wb_error(&c.out, E_NUMKEYS)
        return -1
    if <uint64_t>n > c.argc - first - 2:
        wb_error(&c.out, E_SYNTAX)
        return -1
    nkeys[0] = <uint64_t>n
    i = first + 1 + <uint64_t>n
    where[0] = arg_where(c, i)
    if where[0] < 0:
        wb_error(&c.out, E_SYNTAX)
        return -1
    count[0] = 1
    i += 1
    if i < c.argc:
        if not arg_eq(c, i, "count") or i + 2 != c.argc:
            wb_error(&c.out, E_SYNTAX)
            return -1
        if not arg_i64(c, i + 1, count) or count[0] <= 0:
            wb_error(&c.out, E_COUNTPOS)
            return -1
    return 0


cdef int mpop_try(Client c, uint64_t first, uint64_t nkeys, int where, int64_t count) except -1:
    """Pop from the first non-empty list of keys first.. first+nkeys-1 and reply
    [key, [elements]]. 1 when popped, 0 when all are empty (nothing replied),
    2 after a WRONGTYPE reply."""
    cdef kref_t k
    cdef int st = ST_NOTFOUND
    cdef lroot_t r
    cdef uint64_t j
    for j in range(first, first + nkeys):
        kref_init(&k, c.argv[j], c.argl[j])
        with nogil:
            shard_lock(k.shard)
            st = list_find_locked(&k, c.db, c.now_ms)
            if st == ST_OK:
                lroot_load(IT(k.item), &r)
                if not list_own_span(&r, where, <uint64_t>count):
                    lroot_save(IT(k.item), &r)          # the nodes made raw so far stay linked
                    st = ST_NOMEM
            if st == ST_OK:
                wb_array(&c.out, 2)
                wb_bulk(&c.out, c.argv[j], c.argl[j])
                pop_many_reply(&c.out, &r, where, count)
                list_done_locked(&k, &r, True, c.now_ms)
                notify_removed_k(NK_LIST, "lpop" if where == LIST_HEAD else "rpop", &k, c.db, True)
            shard_unlock(k.shard)
        if st == ST_OK:
            return 1
        if st == ST_WRONGTYPE or st == ST_NOMEM:
            reply_status(c, st)
            return 2
    return 0


cdef int cmd_lmpop(Client c) except -1:
    cdef uint64_t nkeys
    cdef int where
    cdef int64_t count
    if mpop_args(c, 1, &nkeys, &where, &count) < 0:
        return 0
    if mpop_try(c, 2, nkeys, where, count) == 0:
        wb_null_array(&c.out)
    return 0


cdef void register_list_commands():
    register_c('lpush', cmd_lpush)
    register_c('rpush', cmd_rpush)
    register_c('lpushx', cmd_lpushx)
    register_c('rpushx', cmd_rpushx)
    register_c('lpop', cmd_lpop)
    register_c('rpop', cmd_rpop)
    register_c('llen', cmd_llen)
    register_c('lrange', cmd_lrange)
    register_c('lindex', cmd_lindex)
    register_c('lset', cmd_lset)
    register_c('linsert', cmd_linsert)
    register_c('lrem', cmd_lrem)
    register_c('ltrim', cmd_ltrim)
    register_c('lpos', cmd_lpos)
    register_c('lmove', cmd_lmove)
    register_c('rpoplpush', cmd_rpoplpush)
    register_c('lmpop', cmd_lmpop)
