# Tenants, the per-command half (docs/adr/0014-tenants.md): binding a client to
# its tenant, the gate Client.execute runs for a client working in a tenant's
# hidden db (quotas, commands a tenant may not run, channel names), eviction
# of one tenant's keys, and the Python API of the tenant table. The
# definitions (names, members, quotas) are written by security/tenants.py.
#
# Gate order: the ops/s bucket, then the command's tenant kind (TNC_*: refused,
# answered here, or arguments rewritten), then the memory and key quotas for
# commands that may grow memory. A client not in a tenant never gets here:
# Client.execute tests `db >= tenant_base`, which only tenant clients (and
# replay clients restoring a tenant's keys) pass.
#
# Channels: a tenant client's channel names and patterns get the hidden prefix
# "\0<tenant>\0" on the way in (arguments rewritten here) and lose it on the
# way out (commands/pubsub.pxi calls tn_skip), so tenants share no channel.

cdef extern from *:
    """
    static inline int tn_cas_i64(int64_t *p, int64_t old, int64_t nw) {
        return __atomic_compare_exchange_n(p, &old, nw, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    """
    int tn_cas_i64(int64_t *p, int64_t old, int64_t nw) nogil

cdef enum:
    TNC_OK = 0                   # runs as for anyone, in the tenant's db
    TNC_DENY = 1                 # node-wide: refused with ACL's NOPERM text
    TNC_PY = 2                   # security/tenants.py decides (INFO, CLIENT, MEMORY ...)
    TNC_CHAN_ALL = 3             # every argument is a channel or pattern
    TNC_CHAN_ONE = 4             # argument 1 is a channel (PUBLISH)
    TNC_PUBSUB = 5               # PUBSUB: the subcommand's names
    TNC_SELECT = 6               # only db 0 (the tenant's own)
    TNC_FLUSHALL = 7             # runs as FLUSHDB

cdef uint8_t g_tn_cmd[MAX_COMMANDS]   # command index -> TNC_*
cdef uint8_t g_tn_grows[MAX_COMMANDS] # 1: may add keys or bytes (denyoom, SMOVE): quotas checked
cdef object g_tn_hook = None          # security.tenants.command(client, idx): None, bytes reply or str error
cdef uint64_t g_tn_hits0 = 0          # this worker's hits/misses when the tenant command started
cdef uint64_t g_tn_misses0 = 0
cdef int g_tn_flushdb = -1            # command index of FLUSHDB


# ---- binding ----------------------------------------------------------------------

cdef int tenant_bind(Client c, int t, bytes prefix) except -1:
    """Make client c a member of tenant slot t (-1: of none). Raises
    CommandError (and closes the connection after the reply) over the
    tenant's connection quota."""
    cdef tenant_t *tt
    cdef int64_t n
    if c.tenant == t:
        return 0
    tenant_unbind(c)
    if t < 0:
        return 0
    tt = tn_at(t)
    n = cc_atomic_add_i(&tt.conns, 1)
    if tt.maxconns and <uint64_t>n > tt.maxconns:
        cc_atomic_add_i(&tt.conns, -1)
        cc_atomic_add(&tt.rej_conns, 1)
        c.flags |= CL_CLOSE_AFTER_REPLY
        c.authenticated = False
        raise CommandError(f"ERR tenant '{tt.name.decode()}' over its connection quota")
    c.tenant = t
    c.tn_counted = True
    c.db = <int>(g_hdr.tenant_base + <uint32_t>t)
    c.tn_prefix = prefix
    return 0


cdef object g_tn_member_of = None     # security.tenants.member_of(user) -> (slot, prefix) or (-1, None)


cdef int tenant_on_user(Client c, bytes user) except -1:
    """The client is now authenticated as `user`: join that user's tenant (or leave one)."""
    if not g_hdr.tenants_off or g_tn_member_of is None:
        return 0
    if c.tenant >= 0 and not c.tn_counted:
        return 0                         # a script's client keeps its caller's tenant
    t, prefix = g_tn_member_of(user)
    return tenant_bind(c, t, prefix)


cdef int tenant_unbind(Client c) except -1:
    """Leave the client's tenant (connection closed, or another user)."""
    if c.tenant >= 0:
        if c.tn_counted:
            cc_atomic_add_i(&tn_at(c.tenant).conns, -1)
        c.tn_counted = False
        c.tenant = -1
        c.db = <int>g_mc_db if isinstance(c, McClient) else 0
        c.tn_prefix = None
    return 0


cdef inline uint64_t tn_skip(Client c, const char *p, uint64_t n) noexcept:
    """Bytes of the hidden channel prefix at the start of p (0 for a client
    outside tenants, or a name without it)."""
    cdef Py_ssize_t k
    if c.tn_prefix is None:
        return 0
    k = len(<bytes>c.tn_prefix)
    if <uint64_t>k <= n and memcmp(p, <const char *><bytes>c.tn_prefix, k) == 0:
        return <uint64_t>k
    return 0


cdef bytes tn_channel_prefix(int pdb):
    """The hidden channel prefix of the tenant owning physical db pdb."""
    cdef int t = tn_of_pdb(<uint32_t>pdb)
    if t < 0:
        return b''
    return b"\x00" + tn_at(t).name + b"\x00"


# ---- the gate ---------------------------------------------------------------------

cdef int tenant_gate(Client c, int idx) except -2:
    """Before a command of a client in a hidden db. Returns the command index to
    run (FLUSHALL becomes FLUSHDB), or -1 when the reply is written already."""
    global tn_charge, g_tn_hits0, g_tn_misses0
    cdef tenant_t *t
    cdef int64_t retry
    cdef uint8_t kind
    if c.tenant < 0:                 # replay of a tenant's keys: only the charge
        tn_charge = tn_of_pdb(<uint32_t>c.db)
        return idx
    t = tn_at(c.tenant)
    if not t.active:
        wb_error(&c.out, "ERR the tenant of this connection was deleted")
        c.flags |= CL_CLOSE_AFTER_REPLY
        return -1
    if t.maxops and not _tn_take(t, c.now_ms, &retry):
        cc_atomic_add(&t.rej_ops, 1)
        _tn_error(c, t, b"over its ops/s quota, retry in %d ms" % retry)
        return -1
    kind = g_tn_cmd[idx]
    if kind != TNC_OK:
        idx = _tn_special(c, idx, kind)
        if idx < 0:
            return -1
    if g_tn_grows[idx] and (t.maxkeys or t.maxmemory) and _tn_refuse_growth(c, t, idx):
        return -1
    cc_atomic_add(&t.ops, 1)
    g_tn_hits0 = my_wstat().hits
    g_tn_misses0 = my_wstat().misses
    tn_charge = c.tenant
    return idx


cdef void tenant_charge_retry(Client c) noexcept:
    """A blocked tenant client's command runs again (Client.retry_blocked): its
    allocations are charged as the gate charged them the first time, and a key
    it creates is checked against the key quota (nothing reserved)."""
    global tn_charge, tn_kgate, tn_kleft
    tn_charge = tn_of_pdb(<uint32_t>c.db)
    if c.tenant >= 0:
        tn_kgate = c.tenant
        tn_kleft = 0


cdef void tenant_answered(Client c, cmdstat_t *cs, uint64_t before) noexcept:
    """The gate wrote the reply: count it as a refusal when it is an error."""
    if c.out.len > before and c.out.p[before] == 45:
        cs.rejected += 1
        count_error_reply(c, before)


cdef void tenant_done(Client c, uint64_t before) noexcept:
    """After the command (or a refusal after the gate): stop charging, give back
    the keys it reserved and did not create, count its hits and misses. A
    command refused a key by the quota answered an error from `before`: that
    error becomes the key quota's."""
    global tn_charge, tn_krefused
    cdef tenant_t *t
    tn_charge = -1
    tn_keys_done()
    if c.tn_keep:
        c.tn_keep = None
    if c.tenant >= 0:
        t = tn_at(c.tenant)
        if tn_krefused:
            tn_krefused = False
            _tn_key_refusal(c, t, before)
        if my_wstat().hits != g_tn_hits0:
            cc_atomic_add(&t.hits, <int64_t>(my_wstat().hits - g_tn_hits0))
        if my_wstat().misses != g_tn_misses0:
            cc_atomic_add(&t.misses, <int64_t>(my_wstat().misses - g_tn_misses0))


cdef void tn_keys_done() noexcept nogil:
    """Disarm the key quota check; give back the unused reservations."""
    global tn_kgate, tn_kleft
    if tn_kgate >= 0:
        if tn_kleft > 0:
            tn_unreserve(tn_at(tn_kgate), tn_kleft)
        tn_kgate = -1
        tn_kleft = 0


cdef void _tn_key_refusal(Client c, tenant_t *t, uint64_t before) noexcept:
    """A key the command tried to create was refused (shm/tenantmem.pxi). When
    its reply is an error (the write did not happen), say why."""
    cdef bint mc = isinstance(c, McClient)
    cdef bytes msg
    if c.out.len <= before or c.out.p[before] != (83 if mc else 45):    # 'S'ERVER_ERROR, '-'
        return
    cc_atomic_add(&t.rej_keys, 1)
    c.out.len = before
    msg = (b"SERVER_ERROR" if mc else b"-ERR") + b" tenant '" + t.name + b"' over its key quota\r\n"
    wb_put(&c.out, <const char *>msg, len(msg))


cdef bint tn_arm_keys(int slot, tenant_t *t, int64_t n) noexcept nogil:
    """Reserve n keys for the command about to run and arm the check of each
    key it creates. False (nothing armed) when the quota has no room for n."""
    global tn_kgate, tn_kleft
    if n and not tn_reserve(t, n):
        return False
    tn_kgate = slot
    tn_kleft = n
    return True


cdef int _tn_error(Client c, tenant_t *t, bytes what) except -1:
    cdef bytes msg = b"-ERR tenant '" + t.name + b"' " + what + b"\r\n"
    wb_put(&c.out, <const char *>msg, len(msg))
    return 0


cdef bint _tn_take(tenant_t *t, int64_t now, int64_t *retry) noexcept nogil:
    """Take one command from the tenant's bucket (refilled at maxops per second,
    holding at most one second's worth). False: empty; retry = ms until it is not."""
    cdef int64_t rate = <int64_t>t.maxops, last = cc_atomic_load_i(&t.refill_ms), v
    if now > last and tn_cas_i64(&t.refill_ms, last, now):
        v = cc_atomic_add_i(&t.tokens, (now - last) * rate)
        if v > rate * 1000:
            cc_atomic_add_i(&t.tokens, rate * 1000 - v)
    v = cc_atomic_add_i(&t.tokens, -1000)
    if v >= 0:
        return True
    cc_atomic_add_i(&t.tokens, 1000)
    retry[0] = (-v + rate - 1) // rate
    if retry[0] < 1:
        retry[0] = 1
    return False


cdef bint _tn_refuse_growth(Client c, tenant_t *t, int idx) except -1:
    """The key and memory quotas of a command that may add keys or bytes: True
    when refused (error written). Its keys are reserved first: as many as it
    names, or, when the quota has no room for that many, as many of them as do
    not exist (an existing key may still change at the quota)."""
    if t.maxkeys and not (tn_arm_keys(c.tenant, t, _tn_key_bound(c, idx)) or
                          tn_arm_keys(c.tenant, t, _tn_keys_absent(c, idx))):
        cc_atomic_add(&t.rej_keys, 1)
        _tn_error(c, t, b"over its key quota")
        return True
    if t.maxmemory and not tn_memory_ok(c.tenant, t, c.now_ms):
        tn_keys_done()
        msg = b"-OOM tenant '" + t.name + b"' over its memory quota\r\n"
        wb_put(&c.out, <const char *>msg, len(msg))
        return True
    return False


cdef bint tn_memory_ok(int slot, tenant_t *t, int64_t now_ms) noexcept:
    """Within its memory quota, after evicting its own keys under an evicting
    policy. False (counted as a refusal) when still over it."""
    cdef uint32_t pol
    if cc_atomic_load_i(&t.used) <= <int64_t>t.maxmemory:
        return True
    pol = g_hdr.policy if t.policy == TN_POLICY_NODE else t.policy
    if pol != POL_NOEVICTION:
        with nogil:
            tn_evict_to_quota(slot, pol, now_ms)
    if cc_atomic_load_i(&t.used) <= <int64_t>t.maxmemory:
        return True
    cc_atomic_add(&t.rej_memory, 1)
    return False


cdef int64_t _tn_key_bound(Client c, int idx) noexcept:
    """How many keys the command names (its key positions): the most it may create."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef int64_t first = cmd.first, last = cmd.last, step = cmd.step, argc = <int64_t>c.argc
    if first <= 0 or step <= 0:                  # keys found by the command itself
        return 1 if argc > 1 else 0
    if last < 0:
        last += argc
    if last >= argc:
        last = argc - 1
    if last < first:
        return 0
    return (last - first) // step + 1


cdef int64_t _tn_keys_absent(Client c, int idx) noexcept:
    """How many of the keys the command names do not exist in the client's db."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef int64_t first = cmd.first, step = cmd.step, n = 0, i, last
    if first <= 0 or step <= 0:
        first, step = 1, 1
        last = 1
    else:
        last = cmd.last + <int64_t>c.argc if cmd.last < 0 else cmd.last
    if last >= <int64_t>c.argc:
        last = <int64_t>c.argc - 1
    i = first
    while i <= last:
        if not tn_key_exists(c, c.argv[i], c.argl[i]):
            n += 1
        i += step
    return n


cdef bint tn_key_exists(Client c, const char *key, uint64_t klen) noexcept:
    """The key exists in the client's db (a shard held elsewhere: taken as absent)."""
    cdef kref_t k
    cdef bint found
    kref_init(&k, key, klen)
    if not shard_lock_or_skip(k.shard):
        return False
    found = key_find_locked(&k, c.db, c.now_ms) != 0
    shard_unlock(k.shard)
    return found


cdef int _tn_special(Client c, int idx, uint8_t kind) except -2:
    """Commands a tenant client runs differently (see TNC_*)."""
    cdef uint64_t i
    if kind == TNC_DENY:
        msg = b"-NOPERM this user has no permissions to run the '" + g_cmds[idx].name + b"' command\r\n"
        wb_put(&c.out, <const char *>msg, len(msg))
        return -1
    if kind == TNC_SELECT:
        if c.argl[1] == 1 and c.argv[1][0] == 48:
            wb_ok(&c.out)
        elif c.arg(1).lstrip(b'-').isdigit():
            wb_error(&c.out, E_DBINDEX)
        else:
            wb_error(&c.out, E_NOTINT)
        return -1
    if kind == TNC_FLUSHALL:
        c.argv[0] = "FLUSHDB"            # also what the WAL records and replays
        c.argl[0] = 7
        return g_tn_flushdb
    if kind == TNC_CHAN_ALL:
        for i in range(1, c.argc):
            _tn_prefix_arg(c, i)
    elif kind == TNC_CHAN_ONE:
        _tn_prefix_arg(c, 1)
    elif kind == TNC_PUBSUB:
        _tn_pubsub_args(c)
    elif kind == TNC_PY and g_tn_hook is not None:
        res = g_tn_hook(c, idx)
        if res is None:
            return idx
        if isinstance(res, str):
            msg = b"-" + res.encode() + b"\r\n"
        else:
            msg = res
        wb_put(&c.out, <const char *>msg, len(msg))
        return -1
    return idx


cdef int _tn_prefix_arg(Client c, uint64_t i) except -1:
    """Argument i gets the tenant's channel prefix (kept alive in c.tn_keep)."""
    cdef bytes b = c.tn_prefix + c.arg(i)
    if c.tn_keep is None:
        c.tn_keep = []
    c.tn_keep.append(b)
    c.argv[i] = <const char *>b
    c.argl[i] = len(b)
    return 0


cdef int _tn_pubsub_args(Client c) except -1:
    cdef uint64_t i
    cdef bytes sub
    cdef bytes star
    if c.argc < 2:
        return 0
    if c.tn_keep is not None:
        del c.tn_keep[:]
    sub = c.arg(1).lower()
    if sub == b'channels' or sub == b'shardchannels':
        if c.argc == 2 and c.argcap >= 3:
            star = c.tn_prefix + b"*"
            c.tn_keep = [star] if c.tn_keep is None else c.tn_keep + [star]
            c.argv[2] = <const char *>star
            c.argl[2] = len(star)
            c.argc = 3
        elif c.argc == 3:
            _tn_prefix_arg(c, 2)
    elif sub == b'numsub' or sub == b'shardnumsub':
        for i in range(2, c.argc):
            _tn_prefix_arg(c, i)
    return 0


# ---- eviction within one tenant -----------------------------------------------------

cdef void tn_evict_to_quota(int t, uint32_t policy, int64_t now_ms) noexcept nogil:
    """Evict the tenant's keys until its bytes are within its quota (or none goes)."""
    cdef tenant_t *tt = tn_at(t)
    while cc_atomic_load_i(&tt.used) > <int64_t>tt.maxmemory:
        if not _tn_evict_one(t, policy, now_ms):
            return
        cc_atomic_add(&tt.evicted, 1)
        my_wstat().evicted += 1


cdef bint _tn_evict_one(int t, uint32_t policy, int64_t now_ms) noexcept nogil:
    """One key of tenant t by the policy (sampled as evict_one does, over the
    tenant's db only). The adaptive policies act as their LFU counterparts here."""
    cdef uint32_t pdb = g_hdr.tenant_base + <uint32_t>t
    cdef bint volatile, random_pick
    cdef uint32_t samples, start, k, s, best_shard = 0
    cdef table_t *tb
    cdef uint64_t i, seen, found, best_item, best_hash = 0, best_score, sc
    cdef slot_t *sl
    cdef item_t *it
    cdef int attempt
    if policy == POL_ALLKEYS_ADAPTIVE:
        policy = POL_ALLKEYS_LFU
    elif policy == POL_VOLATILE_ADAPTIVE:
        policy = POL_VOLATILE_LFU
    volatile = policy >= POL_VOLATILE_LRU
    random_pick = policy == POL_ALLKEYS_RANDOM or policy == POL_VOLATILE_RANDOM
    samples = 1 if random_pick else (g_hdr.maxmemory_samples or 5)
    for attempt in range(8):
        start = <uint32_t>(cc_rand() & (g_hdr.nshards - 1))
        found = 0
        best_item = 0
        best_score = 0
        for k in range(g_hdr.nshards):
            if found >= samples:
                break
            s = (start + k) & (g_hdr.nshards - 1)
            if (dbstat_at(s, pdb).expires if volatile else dbstat_at(s, pdb).keys) <= 0:
                continue
            if not shard_lock_or_skip(s):
                continue
            tb = shard_table(shard_at(s))
            seen = 0
            i = cc_rand() & tb.mask
            while found < samples and seen <= tb.mask:
                sl = tbl_slot(tb, i)
                if sl.item and IT(sl.item).db == pdb:
                    it = IT(sl.item)
                    if not volatile or it.expire_ms:
                        found += 1
                        sc = _evict_score(it, policy, now_ms)
                        if best_item == 0 or sc > best_score:
                            best_item = sl.item
                            best_hash = sl.hash
                            best_shard = s
                            best_score = sc
                i = (i + 1) & tb.mask
                seen += 1
            shard_unlock(s)
        if best_item == 0:
            return False
        if _evict_item(best_shard, best_hash, best_item):
            return True
    return False


# ---- Python API (security/tenants.py) ---------------------------------------------------

TENANT_FIELDS = ('maxmemory', 'maxkeys', 'maxops', 'maxconns')
TENANT_COUNTERS = ('used', 'conns', 'ops', 'hits', 'misses', 'evicted', 'rej_memory', 'rej_keys',
                   'rej_ops', 'rej_conns')


def tenant_slots():
    """(slots, first hidden db) of this segment."""
    return (g_hdr.tenant_slots if g_hdr.tenants_off else 0, g_hdr.tenant_base)


def tenant_version():
    return cc_atomic_load(&g_hdr.tenant_version)


cdef tenant_t *_tn_checked(int t) except NULL:
    if not g_hdr.tenants_off or t < 0 or <uint32_t>t >= g_hdr.tenant_slots:
        raise IndexError("no such tenant slot")
    return tn_at(t)


def tenant_get(int t):
    """The definition and counters of slot t as a dict, or None when free."""
    cdef tenant_t *tt = _tn_checked(t)
    if not tt.active:
        return None
    return {
        'name': tt.name.decode(), 'users': tt.users.decode().split(),
        'maxmemory': tt.maxmemory, 'maxkeys': tt.maxkeys, 'maxops': tt.maxops,
        'maxconns': tt.maxconns,
        'policy': None if tt.policy == TN_POLICY_NODE else tt.policy,
        'used': max(cc_atomic_load_i(&tt.used), 0), 'conns': max(cc_atomic_load_i(&tt.conns), 0),
        'ops': tt.ops, 'hits': tt.hits, 'misses': tt.misses, 'evicted': tt.evicted,
        'rej_memory': tt.rej_memory, 'rej_keys': tt.rej_keys, 'rej_ops': tt.rej_ops,
        'rej_conns': tt.rej_conns,
        'reserved': <int64_t>(tn_load_u64(&tt.kres) & TN_KMASK),
        'keys': db_size(g_hdr.tenant_base + <uint32_t>t),
        'expires': db_expires(g_hdr.tenant_base + <uint32_t>t),
    }


def tenant_define(int t, str name, list users, uint64_t maxmemory, uint64_t maxkeys,
                  uint64_t maxops, uint64_t maxconns, policy):
    """Write slot t's definition (ACL area lock held by the caller). A new
    tenant (free slot) starts with zeroed counters and a full ops/s bucket."""
    cdef tenant_t *tt = _tn_checked(t)
    cdef bytes nb = name.encode(), ub = b" ".join(u if isinstance(u, bytes) else u.encode()
                                                 for u in users)
    if len(nb) >= TN_NAME_MAX or len(ub) >= TN_USERS_MAX:
        raise ValueError("tenant name or member list too long")
    if not tt.active:
        memset(tt, 0, sizeof(tenant_t))
        tt.refill_ms = cc_now_ms()
    memcpy(tt.name, <char *>nb, len(nb))
    tt.name[len(nb)] = 0
    memcpy(tt.users, <char *>ub, len(ub))
    tt.users[len(ub)] = 0
    tt.maxmemory = maxmemory
    tt.maxkeys = maxkeys
    if maxops != tt.maxops:
        tt.tokens = <int64_t>maxops * 1000
    tt.maxops = maxops
    tt.maxconns = maxconns
    tt.policy = TN_POLICY_NODE if policy is None else <uint32_t>policy
    tt.active = 1
    cc_atomic_add(&g_hdr.tenant_version, 1)


def tenant_release(int t):
    """Free slot t and delete every key of its db (ACL area lock held)."""
    cdef tenant_t *tt = _tn_checked(t)
    tt.active = 0
    cc_atomic_add(&g_hdr.tenant_version, 1)
    with nogil:
        db_flush(<int>(g_hdr.tenant_base + <uint32_t>t))


def tenant_bind_client(Client c, int t, bytes prefix=None):
    tenant_bind(c, t, prefix)


def tenant_unbind_client(Client c):
    tenant_unbind(c)


def tenant_share(Client dst, Client src):
    """A script's client runs as its caller's tenant (no connection counted)."""
    dst.tn_counted = False
    dst.tenant = src.tenant
    dst.tn_prefix = src.tn_prefix


def encode_reply(Client c, value):
    """A Python reply value as RESP bytes in the client's protocol."""
    cdef wbuf_t w
    wb_init(&w)
    w.resp = c.out.resp
    try:
        encode_value(&w, value)
        return w.p[:w.len]
    finally:
        free(w.p)


def tenant_set_commands(dict kinds, hook, member_of, grows=()):
    """Install the tenant kind of every command index (others: TNC_OK), the
    Python decider of the TNC_PY ones, the user -> tenant lookup and the
    indexes of the commands whose quotas are checked before they run."""
    global g_tn_hook, g_tn_flushdb, g_tn_member_of
    g_tn_member_of = member_of
    cdef int i
    for i in range(MAX_COMMANDS):
        g_tn_cmd[i] = TNC_OK
        g_tn_grows[i] = 0
    for i, kind in kinds.items():
        g_tn_cmd[i] = kind
    for i in grows:
        g_tn_grows[i] = 1
    g_tn_hook = hook
    g_tn_flushdb = cmd_lookup(b"flushdb", 7)


def tenant_charge_test(int t, uint64_t size):
    """Tests: allocate and free `size` bytes charged to slot t; returns the
    tenant's used bytes after the allocation and after the free."""
    global tn_charge
    cdef uint64_t off
    tn_charge = t
    off = slab_alloc(size)
    a = cc_atomic_load_i(&tn_at(t).used)
    slab_free(off)
    b = cc_atomic_load_i(&tn_at(t).used)
    tn_charge = -1
    return a, b


TNC = {'ok': TNC_OK, 'deny': TNC_DENY, 'py': TNC_PY, 'chan_all': TNC_CHAN_ALL,
       'chan_one': TNC_CHAN_ONE, 'pubsub': TNC_PUBSUB, 'select': TNC_SELECT,
       'flushall': TNC_FLUSHALL}
POLICY_NODE = None


def _test_key_admit(int t, int64_t reserve, int creations):
    """Tests: arm tenant slot t's key quota as the gate does with `reserve`
    keys reserved, then ask to create `creations` keys in its db. Returns
    (whether the reservation was had, each creation's answer, reserved count
    while armed); the keys counted are uncounted again (none was stored)."""
    cdef tenant_t *tt = tn_at(t)
    cdef uint32_t pdb = g_hdr.tenant_base + <uint32_t>t
    global tn_krefused
    had = tn_arm_keys(t, tt, reserve)
    held = <int64_t>(tn_load_u64(&tt.kres) & TN_KMASK)
    answers = [tn_key_admit(pdb) for _ in range(creations)]
    tn_keys_done()
    tn_krefused = False
    tn_count_keys(pdb, -sum(answers))
    return had, answers, held
