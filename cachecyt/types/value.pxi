# Values of any type: what item_free, COPY and RENAME need from each type.
#
# A string's value is its bytes in the item. A collection's value is a small root
# record in the item's value area (vlen bytes) whose offsets lead to chunks the
# type owns. Every type file adds its case to the three functions below:
#   value_release: free every chunk the value owns (not the item itself);
#   value_dup:     deep-copy the value into a new item whose value area has the
#                  same size (a COPY), ST_OK or ST_NOMEM (nothing left allocated);
#   value_memory:  arena bytes the value owns outside its item (MEMORY USAGE).
# RENAME moves a value without either: the root record is copied byte for byte to
# the new item and the old item is freed with item_free_shell.

cdef void value_release(item_t *it) noexcept nogil:
    cdef lroot_t lr
    if it.type == T_HASH or it.type == T_SET:
        coll_release(it)                    # types/hash.pxi
    elif it.type == T_ZSET:
        zs_value_release(it)
    elif it.type == T_LIST:                 # types/list.pxi: the node chain
        lroot_load(it, &lr)
        list_release(&lr)
        lroot_save(it, &lr)
    # strings own nothing outside the item


cdef int value_dup(item_t *dst, item_t *src) noexcept nogil:
    """Strings: the value bytes. Collections: see the type files."""
    cdef lroot_t ls, ld
    if src.type == T_STRING:
        item_copy_value(dst, src)
        return ST_OK
    if src.type == T_HASH or src.type == T_SET:
        return coll_dup(dst, src)           # types/hash.pxi
    if src.type == T_ZSET:
        return zs_dup(dst, src)
    if src.type == T_LIST:
        lroot_load(src, &ls)
        if list_dup(&ld, &ls) != ST_OK:
            return ST_NOMEM
        lroot_save(dst, &ld)
        return ST_OK
    return ST_WRONGTYPE                     # a type with no duplicate yet


cdef uint64_t value_memory(item_t *it) noexcept nogil:
    """Arena bytes a collection value owns outside its item (MEMORY USAGE)."""
    cdef lroot_t lr
    if it.type == T_LIST:
        lroot_load(it, &lr)
        return list_memory(&lr)
    if it.type == T_HASH or it.type == T_SET:
        return coll_memory(it)
    if it.type == T_ZSET:
        return zs_memory(it)
    return 0


cdef uint64_t value_effort(item_t *it) noexcept nogil:
    """About how many chunks freeing the value takes (Redis's lazyfree effort):
    0 for a string, a collection's elements (a list's nodes)."""
    cdef lroot_t lr
    cdef zroot_t zr
    if it.type == T_LIST:
        lroot_load(it, &lr)
        return lr.nodes
    if it.type == T_HASH:
        return hash_len(it)
    if it.type == T_SET:
        return set_len(it)
    if it.type == T_ZSET:
        zs_load(it, &zr)
        return zr.length
    return 0
