# Tenants, the shared-memory half (docs/adr/0014-tenants.md): the tenant table
# and the charging of allocator bytes to a tenant. Included early (the
# allocator and items call into it); the gate that runs per command, quotas and
# the Python API are in shm/tenants.pxi.
#
# A tenant owns one hidden physical database: tenant slot t is physical (and
# logical, the db map is the identity past the visible ones) database
# tenant_base + t. Its clients run with that db selected, so every command that
# works on "the selected db" (KEYS, SCAN, DBSIZE, FLUSHDB ...) stays inside it.
#
# Memory: every chunk the allocator hands out or takes back while the thread's
# charge index (tn_charge, thread-local) is a tenant slot moves that tenant's
# `used` counter. Client.execute sets the index for the commands of a client
# working in a tenant db; item_free sets it from the freed item's db, so that
# expiry, eviction, lazy frees and an admin's FLUSHALL give the bytes back to
# the tenant that was charged for them. Outside tenants the cost is one
# thread-local load and compare per allocation.

cdef extern from *:
    """
    static __thread int tn_charge = -1;
    """
    int tn_charge

cdef enum:
    TN_NAME_MAX = 64             # bytes of a tenant name, NUL included
    TN_USERS_MAX = 1024          # bytes of the member list ("alice bob"), NUL included
    TN_POLICY_NODE = 0xffffffff  # tenant_t.policy: follow the node's maxmemory-policy
    TN_SYSTEM = -2               # Client.tenant of a replay client (may select hidden dbs)

ctypedef struct tenant_t:        # one tenant slot; definition fields under the ACL area lock
    uint64_t active              # 1 = defined; 0 = free slot
    char name[TN_NAME_MAX]
    char users[TN_USERS_MAX]     # member user names, space-separated
    uint64_t maxmemory           # bytes, 0 = no quota
    uint64_t maxkeys             # 0 = no quota
    uint64_t maxops              # commands per second, 0 = no quota
    uint64_t maxconns            # 0 = no quota
    uint32_t policy              # POL_* or TN_POLICY_NODE
    uint32_t pad
    int64_t used                 # allocator bytes charged; atomic
    int64_t conns                # connections bound now; atomic
    int64_t tokens               # ops/s bucket, in thousandths of a command; atomic
    int64_t refill_ms            # last refill of the bucket, unix ms; CAS
    uint64_t ops                 # commands run; atomic
    uint64_t hits                # key hits of its commands; atomic
    uint64_t misses              # key misses; atomic
    uint64_t evicted             # keys evicted under its memory quota; atomic
    uint64_t rej_memory          # writes refused over the memory quota; atomic
    uint64_t rej_keys            # writes refused over the key quota; atomic
    uint64_t rej_ops             # commands refused over the ops/s quota; atomic
    uint64_t rej_conns           # connections refused over the connection quota; atomic
    int64_t keys                 # keys in its db (the key quota's count); atomic
    uint64_t pad2[3]


cdef inline tenant_t *tn_at(int t) noexcept nogil:
    return <tenant_t *>(g_base + g_hdr.tenants_off) + t


cdef inline int tn_of_pdb(uint32_t pdb) noexcept nogil:
    """The tenant slot owning a physical db, or -1."""
    if pdb >= g_hdr.tenant_base and g_hdr.tenants_off:
        return <int>(pdb - g_hdr.tenant_base)
    return -1


cdef inline void tn_count_keys(uint32_t pdb, int64_t n) noexcept nogil:
    """n keys appeared in (or left, n < 0) physical db pdb: a tenant's db keeps
    its tenant's key total, so the key quota reads one counter (shm/keys.pxi and
    the shard repair in shm/table.pxi call this next to dbstat_t.keys)."""
    cdef int t = tn_of_pdb(pdb)
    if t >= 0:
        cc_atomic_add_i(&tn_at(t).keys, n)


cdef inline void tn_charge_bytes(int64_t n) noexcept nogil:
    """Allocator hook: move the charged tenant's bytes (n < 0 on a free)."""
    if tn_charge >= 0:
        cc_atomic_add_i(&tn_at(tn_charge).used, n)


cdef inline int tn_charge_item(uint64_t off) noexcept nogil:
    """Charge what follows to the tenant of the item at off; returns the index
    to restore with tn_charge_restore."""
    global tn_charge
    cdef int saved = tn_charge
    tn_charge = tn_of_pdb(IT(off).db)
    return saved


cdef inline void tn_charge_restore(int saved) noexcept nogil:
    global tn_charge
    tn_charge = saved


def tenant_region_size(uint32_t slots):
    return sizeof(tenant_t) * slots
