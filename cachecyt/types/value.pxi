# Values of any type: what item_free, COPY and RENAME need from each type.
#
# A string's value is its bytes in the item. A collection's value is a small root
# record in the item's value area (vlen bytes) whose offsets lead to chunks the
# type owns. Every type file adds its case to the two functions below:
#   value_release: free every chunk the value owns (not the item itself);
#   value_dup:     deep-copy the value into a new item whose value area has the
#                  same size (a COPY), ST_OK or ST_NOMEM (nothing left allocated).
# RENAME moves a value without either: the root record is copied byte for byte to
# the new item and the old item is freed with item_free_shell.

cdef void value_release(item_t *it) noexcept nogil:
    if it.type == T_HASH or it.type == T_SET:
        coll_release(it)                    # types/hash.pxi
    elif it.type == T_ZSET:
        zs_value_release(it)
    # strings own nothing outside the item


cdef int value_dup(item_t *dst, item_t *src) noexcept nogil:
    """Strings: the value bytes. Collections: see the type files."""
    if src.type == T_STRING:
        item_copy_value(dst, src)
        return ST_OK
    if src.type == T_HASH or src.type == T_SET:
        return coll_dup(dst, src)           # types/hash.pxi
    if src.type == T_ZSET:
        return zs_dup(dst, src)
    return ST_WRONGTYPE                     # a type with no duplicate yet
