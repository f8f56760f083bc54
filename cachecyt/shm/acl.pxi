# Security area of the segment: what every worker must see of the users and
# the security settings at once. It holds text, not compiled users: the ACL in
# ACL LIST form (one "user <name> <rules>" line per user), the ACL LOG as JSON,
# and the security settings (requirepass, TLS files, audit log) as JSON. Each
# worker compiles the text into its own Python objects (cachecyt/security/)
# and compares g_hdr.acl_version with what it compiled to know when to redo it.
#
# One robust process-shared mutex guards the whole area (never held with a shard
# lock, never by nogil code). A change: lock, read, modify, write, bump the
# version, unlock, then signal the other workers (SIG_ACL) so they recompile
# and close the connections of deleted users at once; a worker that has not
# yet handled the signal still sees the new version on its next command,
# because Client.execute compares the version before each command of a client
# not known to be unrestricted.
#
# The version starts at a random value so that a worker never takes the users
# compiled from one segment for those of another (tests make many segments).

cdef enum:
    ACL_TEXT_MAX = 1048576       # bytes of ACL text (ACL LIST form)
    ACL_LOG_MAX = 262144         # bytes of ACL LOG JSON
    SEC_SETTINGS_MAX = 16384     # bytes of security settings JSON
    SIG_ACL = 3                  # signal ring kind: users or security settings changed
    CF_AUDIT = 1 << 20           # cmd_t.flags: the audit log records this command

ctypedef struct acl_area_t:
    char lock[LOCK_STRIDE]       # pthread mutex guarding everything below
    uint64_t text_len            # bytes used in text; area lock
    uint64_t log_len             # bytes used in log; area lock
    uint64_t settings_len        # bytes used in settings; area lock
    uint64_t audit_gen           # bumped when the audit log file was rotated; atomic
    uint64_t initialized         # 1 once the first worker loaded aclfile/requirepass; area lock
    uint64_t pad[3]
    char text[ACL_TEXT_MAX]
    char log[ACL_LOG_MAX]
    char settings[SEC_SETTINGS_MAX]

cdef object g_acl_hook = None    # security.acl.check(client, command index) -> None or error text


cdef inline acl_area_t *acl_area() noexcept nogil:
    return <acl_area_t *>(g_base + g_hdr.acl_off)


cdef void acl_area_init(header_t *h, uint64_t off, uint64_t seed) noexcept:
    """Segment creation: an empty area (no text = only the default user)."""
    cdef acl_area_t *a = <acl_area_t *>(<char *>h + off)
    h.acl_off = off
    h.acl_version = seed | 1
    cc_mutex_init(<pthread_mutex_t *>a.lock)
    a.text_len = 0
    a.log_len = 0
    a.settings_len = 0
    a.initialized = 0


cdef int acl_denied(Client c, int idx) except -1:
    """The permission check of a client not known to be unrestricted under the
    current ACL version (Client.execute calls it only then). 1: refused, the
    error reply is written; 0: go on."""
    cdef bytes msg
    if g_acl_hook is None or c.tenant == TN_SYSTEM:    # a replay client runs what was logged
        return 0
    if g_acl_key_plans and acl_keys_pass(c, idx):
        return 0
    res = g_acl_hook(c, idx)
    if res is None:
        return 0
    msg = res.encode() if isinstance(res, str) else res
    wb_put(&c.out, "-", 1)
    wb_put(&c.out, msg, len(msg))
    wb_put(&c.out, "\r\n", 2)
    return 1


# ---- the C check of plain commands -------------------------------------------------
# A restricted user's plain commands (keys at fixed positions, no subcommand, no
# channels, not audited) are checked here, without a Python call: the user's
# plan holds each of its selectors (the root one, then each `(...)`) as the
# commands it allows (by command index; a command allowed only with some first
# arguments keeps their set), its key patterns with their read/write flags, or
# allkeys; and, per command, the access each key position needs (SET needs read
# too with GET). A request passes when one selector allows its command and all
# its keys, as in security/acl.py's judge(). Only an allow is taken here: a
# request no selector allows goes to the Python check, which finds the denial
# Redis reports and writes the ACL LOG entry, so the two cannot disagree on a
# denial. security/acl.py registers a user's plan under the ACL version it was
# made for; a change of the users makes every plan stale.

cdef enum:
    ACL_READ = 1                      # security/users.py READ / WRITE
    ACL_WRITE = 2


cdef class AclSelPlan:
    cdef bytes allowed                # by command index: 1 = allowed whatever its arguments
    cdef dict firstargs               # command index -> set of allowed first arguments (lowercase)
    cdef bint allkeys
    cdef list patterns                # bytes
    cdef bytes pflags                 # ACL_READ | ACL_WRITE of each pattern


cdef class AclKeyPlan:
    cdef uint64_t version
    cdef bytes plain                  # by command index: 1 = checked here
    cdef list needs                   # by command index: bytes of each key position's access (last repeats)
    cdef list sels                    # AclSelPlan


cdef dict g_acl_key_plans = {}        # user name -> AclKeyPlan
cdef int g_acl_set_idx = -1           # SET: needs read only with its GET option


def acl_key_plan_set(bytes user, uint64_t version, bytes plain, list needs, list selectors):
    """selectors: [(allowed bytes, {index: set of first args}, allkeys, [(pattern, flags)])]."""
    global g_acl_set_idx
    cdef AclKeyPlan p = AclKeyPlan()
    cdef AclSelPlan sp
    p.version = version
    p.plain = plain
    p.needs = needs
    p.sels = []
    for allowed, firstargs, allkeys, patterns in selectors:
        sp = AclSelPlan()
        sp.allowed = allowed
        sp.firstargs = firstargs
        sp.allkeys = allkeys
        sp.patterns = [pat for pat, _f in patterns]
        sp.pflags = bytes(f for _p, f in patterns)
        p.sels.append(sp)
    g_acl_key_plans[user] = p
    g_acl_set_idx = cmd_lookup(b"set", 3)


def acl_key_plans_clear():
    g_acl_key_plans.clear()


cdef bint acl_keys_pass(Client c, int idx) except -1:
    """True when one selector of the client's plan allows this request."""
    cdef AclKeyPlan p
    cdef AclSelPlan sp
    cdef bytes needs
    cdef int set_need = 0
    obj = g_acl_key_plans.get(c.user)
    if obj is None:
        return False
    p = <AclKeyPlan>obj
    if p.version != cc_atomic_load(&g_hdr.acl_version) or not c.authenticated:
        return False
    if idx >= len(p.plain) or not p.plain[idx]:
        return False
    needs = <bytes>p.needs[idx]
    if idx == g_acl_set_idx:
        set_need = ACL_WRITE | (ACL_READ if _acl_has_get(c) else 0)
    for obj in p.sels:
        sp = <AclSelPlan>obj
        if not (sp.allowed[idx] or _acl_first_arg_ok(sp, c, idx)):
            continue
        if sp.allkeys or _acl_keys_ok(sp, c, idx, needs, set_need):
            return True
    return False


cdef bint _acl_has_get(Client c) except -1:
    cdef uint64_t i
    for i in range(3, c.argc):
        if c.argl[i] == 3 and c.arg(i).lower() == b"get":
            return True
    return False


cdef bint _acl_first_arg_ok(AclSelPlan sp, Client c, int idx) except -1:
    allowed = sp.firstargs.get(idx) if sp.firstargs else None
    return allowed is not None and c.argc > 1 and c.arg(1).lower() in allowed


cdef bint _acl_keys_ok(AclSelPlan sp, Client c, int idx, bytes needs, int set_need) except -1:
    """Every key of the request matches a pattern of the selector with the access it needs."""
    cdef cmd_t *cmd = &g_cmds[idx]
    cdef int64_t i, k = 0, last, n = <int64_t>c.argc, top = len(needs) - 1
    cdef int need
    if cmd.first <= 0 or cmd.first >= n:
        return True                   # no key in this request
    if cmd.step <= 0 or top < 0:
        return False
    last = cmd.last if cmd.last >= 0 else n + cmd.last
    if last > n - 1:
        last = n - 1
    i = cmd.first
    while i <= last:
        need = set_need if set_need else needs[k if k < top else top]
        if not _acl_key_matches(sp, c.argv[i], c.argl[i], need):
            return False
        i += cmd.step
        k += 1
    return True


cdef bint _acl_key_matches(AclSelPlan sp, const char *key, uint64_t klen, int need) except -1:
    cdef bytes pat
    cdef Py_ssize_t j = 0
    for pat in sp.patterns:
        if sp.pflags[j] & need == need and glob_matchlen(pat, len(pat), key, klen):
            return True
        j += 1
    return False


def set_acl_hook(hook):
    global g_acl_hook
    g_acl_hook = hook


def acl_version():
    return cc_atomic_load(&g_hdr.acl_version)


def acl_lock():
    """Take the area lock (Python callers; pair with acl_unlock in a finally)."""
    with nogil:
        cc_lock(<pthread_mutex_t *>acl_area().lock)


def acl_unlock():
    cc_unlock(<pthread_mutex_t *>acl_area().lock)


def acl_text():
    """(version, ACL text, initialized). Caller holds the area lock or accepts
    a retry: the version read after the text tells whether it changed meanwhile."""
    cdef acl_area_t *a = acl_area()
    return (cc_atomic_load(&g_hdr.acl_version), a.text[:a.text_len], bool(a.initialized))


def acl_store(bytes text):
    """Replace the ACL text and bump the version. Caller holds the area lock."""
    cdef acl_area_t *a = acl_area()
    if len(text) > ACL_TEXT_MAX:
        raise MemoryError("ACL text too large")
    memcpy(a.text, <char *>text, len(text))
    a.text_len = len(text)
    a.initialized = 1
    cc_atomic_add(&g_hdr.acl_version, 2)


def acl_log_text():
    cdef acl_area_t *a = acl_area()
    return a.log[:a.log_len]


def acl_log_store(bytes text):
    """Replace the ACL LOG JSON (caller holds the area lock); False if too big."""
    cdef acl_area_t *a = acl_area()
    if len(text) > ACL_LOG_MAX:
        return False
    memcpy(a.log, <char *>text, len(text))
    a.log_len = len(text)
    return True


def sec_settings_text():
    cdef acl_area_t *a = acl_area()
    return a.settings[:a.settings_len]


def sec_settings_store(bytes text):
    """Replace the security settings JSON and bump the version (area lock held)."""
    cdef acl_area_t *a = acl_area()
    if len(text) > SEC_SETTINGS_MAX:
        raise MemoryError("security settings too large")
    memcpy(a.settings, <char *>text, len(text))
    a.settings_len = len(text)
    cc_atomic_add(&g_hdr.acl_version, 2)


def audit_generation(bint bump=False):
    """Rotation count of the audit log file (bumped by the worker that rotated it)."""
    if bump:
        return cc_atomic_add(&acl_area().audit_gen, 1)
    return cc_atomic_load(&acl_area().audit_gen)


def client_acl_reset(Client c):
    """Make the client's next command go through the permission check."""
    c.acl_ok = 0


def client_acl_fast(Client c):
    """The client may run anything under the current ACL version: no check."""
    c.acl_ok = cc_atomic_load(&g_hdr.acl_version)


def client_slot_set_user(Client c, bytes user):
    """Publish the client's user in its row of the shared client table."""
    tenant_on_user(c, user)                  # shm/tenants.pxi: the user's tenant, if any
    if c.cslot != NULL:
        _copy_text(c.cslot.user, sizeof(c.cslot.user), user)


def client_users():
    """{client id: user name} of every published row of the shared client table."""
    cdef uint32_t i
    cdef cslot_t *s
    cdef uint64_t cid
    out = {}
    for i in range(min(cc_atomic_load(&g_hdr.clients_hiwater), MAX_CLIENT_SLOTS)):
        s = cslot_at(i)
        cid = cc_atomic_load(&s.id)
        if cid != 0 and cid != CS_BUSY:
            out[cid] = s.user.decode('utf-8', 'replace') or 'default'
    return out


def set_audited(list indexes):
    """Mark the commands the audit log records (CF_AUDIT); every other loses the mark."""
    cdef int i
    for i in range(g_ncmds):
        g_cmds[i].flags &= ~CF_AUDIT
    for i in indexes:
        if 0 <= i < g_ncmds:
            g_cmds[i].flags |= CF_AUDIT


SIGNAL_ACL = SIG_ACL
ACL_AREA_SIZE = sizeof(acl_area_t)
