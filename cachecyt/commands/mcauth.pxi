# memcached text-protocol authentication, as memcached's `-Y` (ASCII auth): while
# the default user needs a password, a new memcached connection must first send
# `set <any key> <flags> <exptime> <bytes>` with the data "<user> <password>";
# every other request is refused with "CLIENT_ERROR unauthenticated". The pair
# is checked against the ACL users (security/acl.py), so both protocols share
# one set of users. McClient._run calls mc_auth_gate only while the client has
# not authenticated: a single flag test per request afterwards.

cdef object g_mc_login = None      # security.acl.mc_login(client, user, password) -> bool


cdef int mc_auth_gate(McClient c) except -1:
    """1 when the request was answered here (refused, or an auth attempt);
    0 when the connection needs no authentication and the request runs."""
    cdef bytes data
    if g_mc_login is None:
        return 0
    if g_mc_login(c, None, None):          # binds a fresh connection; True: no password needed
        return 0
    if c.mp.cmd != MC_SET:
        c.line("CLIENT_ERROR unauthenticated")
        return 1
    data = c.rp.buf[c.mp.data_off:c.mp.data_off + c.mp.data_len]
    user, sep, password = data.partition(b' ')
    if not sep or not user:
        c.line("CLIENT_ERROR bad authentication token format")
    elif g_mc_login(c, user, password):
        c.line("STORED")
    else:
        c.line("CLIENT_ERROR authentication failure")
    return 1


def set_mc_login_hook(hook):
    global g_mc_login
    g_mc_login = hook
