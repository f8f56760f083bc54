# memcached text-protocol authentication, as memcached's `-Y` (ASCII auth): while
# the default user needs a password, a new memcached connection must first send
# `set <any key> <flags> <exptime> <bytes>` with the data "<user> <password>";
# every other request is refused with "CLIENT_ERROR unauthenticated". The pair
# is checked against the ACL users (security/acl.py), so both protocols share
# one set of users. An authenticated user's requests are checked as the RESP
# command they amount to (get, set, append, incrby, del, expire, getex,
# flushall, info) on their keys: refused with "CLIENT_ERROR access denied".
# McClient._run calls mc_auth_gate only while the client is not authenticated
# as a user with every permission under the current ACL version (the acl_ok
# test of Client.execute). Failed logins are throttled as failed AUTHs are
# (security/throttle.py): past the allowance the failure's reply is held back
# and the connection runs nothing meanwhile. A tenant member's login binds the
# connection to its tenant (commands/mctenant.pxi), or is refused over the
# tenant's connection quota (SERVER_ERROR, then the connection closes).

cdef object g_mc_login = None      # security.acl.mc_login(client, user, password) -> bool
cdef object g_mc_check = None      # security.acl.mc_check(client, command, keys) -> bool
cdef object g_mc_result = None     # security.throttle.mc_result(client, failure reply or None) -> held?


cdef object _mc_request(McClient c):
    """(RESP command name, keys) a memcached request amounts to, or None."""
    cdef int cmd = c.mp.cmd
    cdef uint64_t i, first = 1, last = 1
    if cmd == MC_GET or cmd == MC_GETS:
        name, last = 'get', c.mp.ntok - 1
    elif cmd == MC_GAT or cmd == MC_GATS:
        name, first, last = 'getex', 2, c.mp.ntok - 1
    elif cmd == MC_MG:
        name = 'get'
    elif cmd == MC_SET or cmd == MC_ADD or cmd == MC_REPLACE or cmd == MC_CAS or cmd == MC_MS:
        name = 'set'
    elif cmd == MC_APPEND or cmd == MC_PREPEND:
        name = 'append'
    elif cmd == MC_INCR or cmd == MC_DECR or cmd == MC_MA:
        name = 'incrby'
    elif cmd == MC_DELETE or cmd == MC_MD:
        name = 'del'
    elif cmd == MC_TOUCH:
        name = 'expire'
    elif cmd == MC_FLUSH_ALL:
        return ('flushall', [])
    elif cmd == MC_STATS:
        return ('info', [])
    else:
        return None
    keys = [c.tok(i)[:c.tlen(i)] for i in range(first, last + 1) if i < c.mp.ntok]
    return (name, keys)


cdef int mc_auth_gate(McClient c) except -1:
    """1 when the request was answered here (refused, or an auth attempt);
    0 when the connection needs no authentication and the request runs."""
    cdef bytes data
    if g_mc_login is None:
        return 0
    if c.authenticated or g_mc_login(c, None, None):   # binds a fresh connection
        req = _mc_request(c)
        if req is None or g_mc_check(c, req[0], req[1]):
            return 0
        c.line("CLIENT_ERROR access denied")
        return 1
    if c.mp.cmd != MC_SET:
        c.line("CLIENT_ERROR unauthenticated")
        return 1
    data = c.rp.buf[c.mp.data_off:c.mp.data_off + c.mp.data_len]
    user, sep, password = data.partition(b' ')
    if not sep or not user:
        c.line("CLIENT_ERROR bad authentication token format")
        return 1
    try:
        ok = g_mc_login(c, user, password)
    except CommandError as e:                      # over its tenant's connection quota
        msg = b"SERVER_ERROR " + str(e).partition(' ')[2].encode() + b"\r\n"
        wb_put(&c.out, <const char *>msg, len(msg))
        return 1
    if ok:
        if g_mc_result is not None:
            g_mc_result(c, None)
        c.line("STORED")
    elif g_mc_result is None or not g_mc_result(
            c, b"" if c.mp.noreply else b"CLIENT_ERROR authentication failure\r\n"):
        c.line("CLIENT_ERROR authentication failure")
    return 1


def set_mc_hooks(login, check, result=None):
    global g_mc_login, g_mc_check, g_mc_result
    g_mc_login = login
    g_mc_check = check
    g_mc_result = result
