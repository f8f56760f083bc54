# Tenants over the memcached protocol (docs/adr/0014-tenants.md): a memcached
# connection authenticated as a tenant member works in its tenant's hidden db
# (the db its RESP connections call db 0), not in memcached-db, and obeys the
# same gate as its RESP connections: a deleted tenant closes it, then the
# ops/s bucket, then, for requests that may add keys or bytes, the key quota
# (reserved exactly, shm/tenantmem.pxi) and the memory quota (evicting the
# tenant's own keys under an evicting policy). Its requests are charged to the
# tenant (bytes, ops, hits and misses) as RESP commands are, and `stats` shows
# the tenant's figures instead of the node's. Errors are memcached's
# SERVER_ERROR lines with the RESP errors' words. McClient._run calls
# mc_tenant_gate only for a client whose db is a tenant's (db >= tenant_base).


cdef int mc_tenant_gate(McClient c) except -1:
    """Before a request of a tenant member: 1 when answered here (refused)."""
    global tn_charge, g_tn_hits0, g_tn_misses0
    cdef tenant_t *t
    cdef int64_t retry
    if c.tenant < 0:
        return 0
    t = tn_at(c.tenant)
    if not t.active:
        c.line("SERVER_ERROR the tenant of this connection was deleted")
        c.flags |= CL_CLOSE_AFTER_REPLY
        return 1
    if t.maxops and not _tn_take(t, c.now_ms, &retry):
        cc_atomic_add(&t.rej_ops, 1)
        _mc_tn_error(c, t, b"over its ops/s quota, retry in %d ms" % retry)
        return 1
    if c.mp.cmd == MC_STATS and c.mp.ntok > 1 and c.tok_is(1, "reset"):
        c.line("CLIENT_ERROR access denied")         # node-wide counters: not a tenant's
        return 1
    if (t.maxkeys or t.maxmemory) and _mc_tn_grows(c):
        if t.maxkeys and not (tn_arm_keys(c.tenant, t, 1) or
                              tn_arm_keys(c.tenant, t, _mc_tn_key_absent(c))):
            cc_atomic_add(&t.rej_keys, 1)
            _mc_tn_error(c, t, b"over its key quota")
            return 1
        if t.maxmemory and not tn_memory_ok(c.tenant, t, c.now_ms):
            tn_keys_done()
            _mc_tn_error(c, t, b"over its memory quota")
            return 1
    cc_atomic_add(&t.ops, 1)
    g_tn_hits0 = my_wstat().hits
    g_tn_misses0 = my_wstat().misses
    tn_charge = c.tenant
    return 0


cdef int _mc_tn_error(McClient c, tenant_t *t, bytes what) except -1:
    cdef bytes msg = b"SERVER_ERROR tenant '" + t.name + b"' " + what + b"\r\n"
    wb_put(&c.out, <const char *>msg, len(msg))
    return 0


cdef bint _mc_tn_grows(McClient c) noexcept:
    """The request may add a key or bytes: storage commands, incr/decr, ms, ma,
    and mg with N (it creates a missing item)."""
    cdef int cmd = c.mp.cmd
    if (MC_SET <= cmd <= MC_DECR) or cmd == MC_MS or cmd == MC_MA:
        return True
    return cmd == MC_MG and _mc_meta_has(c, 2, 78)


cdef bint _mc_meta_has(McClient c, uint64_t first, char flag) noexcept:
    cdef uint64_t i
    for i in range(first, c.mp.ntok):
        if c.tlen(i) and c.tok(i)[0] == flag:
            return True
    return False


cdef int64_t _mc_tn_key_absent(McClient c) noexcept:
    """1 when the request's key does not exist in the tenant's db (as stored:
    a meta command's key given in base64 with b is decoded), else 0."""
    cdef char buf[MC_KEY_MAX + 4]
    cdef uint64_t n
    if c.mp.ntok < 2:
        return 0
    if c.mp.cmd >= MC_MG and _mc_meta_has(c, 3 if c.mp.cmd == MC_MS else 2, 98):
        n = b64_decode(c.tok(1), c.tlen(1), buf, MC_KEY_MAX)
        if n == 0:
            return 0                                # refused by the command itself
        return 0 if tn_key_exists(c, buf, n) else 1
    return 0 if tn_key_exists(c, c.tok(1), c.tlen(1)) else 1


def mc_tenant_stats(int slot, bytes what):
    """`stats`, `stats settings` and `stats slabs` of a tenant member: the
    tenant's own figures where the node's would tell of other tenants."""
    d = tenant_get(slot)
    node = dict(mc_general_stats() if what == b"" else
                mc_settings_stats() if what == b"settings" else mc_slabs_stats())
    if what == b"":
        rows = [(k, node[k]) for k in ('pid', 'uptime', 'time', 'version', 'pointer_size')]
        rows += [('curr_connections', d['conns']), ('get_hits', d['hits']),
                 ('get_misses', d['misses']), ('limit_maxbytes', d['maxmemory'] or node['limit_maxbytes']),
                 ('threads', node['threads']), ('bytes', d['used']), ('curr_items', d['keys']),
                 ('evictions', d['evicted']), ('cmd_total', d['ops']), ('tenant', d['name'])]
        return rows
    if what == b"settings":
        node['maxbytes'] = d['maxmemory'] or node['maxbytes']
        node['maxconns'] = d['maxconns'] or node['maxconns']
        pol = g_hdr.policy if d['policy'] is None else d['policy']
        node['evictions'] = 'off' if pol == POL_NOEVICTION else 'on'
        return list(node.items())
    node['total_malloced'] = d['used']
    return list(node.items())


def mc_flush_db(int db=-1, bytes prefix=None):
    """flush_all after its delay: empty memcached-db, or the db of the tenant
    whose channel prefix is given (unless that tenant was deleted meanwhile),
    and log it (shm/wal.pxi)."""
    cdef int t
    if db < 0:
        db = <int>g_mc_db
    t = tn_of_pdb(<uint32_t>db)
    if t >= 0 and (not tn_at(t).active or prefix != b"\x00" + tn_at(t).name + b"\x00"):
        return
    wal_flush_db(db)
