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
    uint64_t kres                # keys reserved by running commands: low 32 bits the count,
                                 # high 32 a sequence bumped by every change (CAS, no ABA)
    uint64_t pad2[2]


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


# ---- the exact key quota -------------------------------------------------------------
#
# How it works: a command that may add keys reserves, before it runs, as many
# keys as it names (tenant_gate: keys + reserved + n <= maxkeys, one CAS on the
# `kres` word); each key it then creates turns one reservation into a key
# (keys + 1, then reserved - 1: their sum never dips), and what it did not use is
# given back when it ends (tenant_done). A key created with no reservation left
# (a key found present by the gate and deleted meanwhile, a command naming its
# keys elsewhere) reserves one there and then, or is refused. Every check and
# reservation is a CAS on the one word holding the reserved count and a
# sequence, read before `keys`: a concurrent conversion still holds its unit in
# the word, so keys + reserved read this way never falls below the true sum, and
# the count never exceeds maxkeys, whatever the workers do at once. Only the
# commands the gate armed (tn_kgate = their tenant) are checked; replay, and
# commands that move a key without adding one (RENAME), just count.

cdef int tn_kgate = -1            # tenant slot whose key quota the running command obeys
cdef int64_t tn_kleft = 0         # its reservations not yet turned into keys
cdef bint tn_krefused = False     # it was refused a key (tenant_done rewrites the reply)

cdef extern from *:
    """
    static inline int tn_cas_u64(uint64_t *p, uint64_t old, uint64_t nw) {
        return __atomic_compare_exchange_n(p, &old, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    static inline uint64_t tn_load_u64(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
    static inline int64_t tn_load_i64(int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
    static inline void tn_add_i64(int64_t *p, int64_t d) { __atomic_add_fetch(p, d, __ATOMIC_SEQ_CST); }
    #define TN_KSEQ ((uint64_t)1 << 32)     /* one step of kres's sequence */
    #define TN_KMASK ((uint64_t)0xffffffffu) /* kres's reserved count */
    """
    const uint64_t TN_KSEQ
    const uint64_t TN_KMASK
    int tn_cas_u64(uint64_t *p, uint64_t old, uint64_t nw) nogil
    uint64_t tn_load_u64(uint64_t *p) nogil      # sequentially consistent: the order of
    int64_t tn_load_i64(int64_t *p) nogil        # the two counters' reads and writes matters
    void tn_add_i64(int64_t *p, int64_t d) nogil


cdef inline bint tn_reserve(tenant_t *t, int64_t n) noexcept nogil:
    """Reserve n keys of the tenant's quota: False when keys + reserved + n
    would pass maxkeys."""
    cdef uint64_t w
    cdef int64_t k
    while True:
        w = tn_load_u64(&t.kres)
        k = tn_load_i64(&t.keys)
        if k + <int64_t>(w & TN_KMASK) + n > <int64_t>t.maxkeys:
            return False
        if tn_cas_u64(&t.kres, w, w + TN_KSEQ + <uint64_t>n):
            return True


cdef inline void tn_unreserve(tenant_t *t, int64_t n) noexcept nogil:
    """Give back n reserved keys (never below none: a tenant redefined meanwhile)."""
    cdef uint64_t w
    while n > 0:
        w = tn_load_u64(&t.kres)
        if <int64_t>(w & TN_KMASK) < n:
            n = <int64_t>(w & TN_KMASK)
            if n == 0:
                return
        if tn_cas_u64(&t.kres, w, w + TN_KSEQ - <uint64_t>n):
            return


cdef inline bint tn_key_admit(uint32_t pdb) noexcept nogil:
    """A key is about to be created in physical db pdb (shard lock held): count
    it. False (nothing counted) when the running command's tenant is at its key
    quota."""
    cdef int t = tn_of_pdb(pdb)
    cdef tenant_t *tt
    global tn_kleft, tn_krefused
    if t < 0:
        return True
    tt = tn_at(t)
    if t == tn_kgate and tt.maxkeys:
        if tn_kleft > 0:
            tn_kleft -= 1
        elif not tn_reserve(tt, 1):
            tn_krefused = True
            return False
        tn_add_i64(&tt.keys, 1)
        tn_unreserve(tt, 1)
        return True
    cc_atomic_add_i(&tt.keys, 1)
    return True


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
