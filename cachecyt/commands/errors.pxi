# Every error text a handler sends, with Redis's exact wording. Handlers in
# Cython use these constants; Python handlers reach them through ERRORS.

cdef const char *E_SYNTAX = "ERR syntax error"
cdef const char *E_NOTINT = "ERR value is not an integer or out of range"
cdef const char *E_NOTFLOAT = "ERR value is not a valid float"
cdef const char *E_OVERFLOW = "ERR increment or decrement would overflow"
cdef const char *E_NANINF = "ERR increment would produce NaN or Infinity"
cdef const char *E_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
cdef const char *E_NOKEY = "ERR no such key"
cdef const char *E_OOM = "OOM command not allowed when used memory > 'maxmemory'."
cdef const char *E_NOMEM = "OOM out of memory in the shared segment"
cdef const char *E_DBINDEX = "ERR DB index is out of range"
cdef const char *E_EXPIRE = "ERR invalid expire time in '%s' command"
cdef const char *E_STRLIMIT = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
cdef const char *E_OFFSET = "ERR offset is out of range"
cdef const char *E_MAXCLIENTS = "ERR max number of clients reached"
cdef const char *E_POSITIVE = "ERR value is out of range, must be positive"

ERRORS = {
    'syntax': E_SYNTAX.decode(), 'notint': E_NOTINT.decode(), 'notfloat': E_NOTFLOAT.decode(),
    'overflow': E_OVERFLOW.decode(), 'naninf': E_NANINF.decode(),
    'wrongtype': E_WRONGTYPE.decode(), 'nokey': E_NOKEY.decode(), 'oom': E_OOM.decode(),
    'nomem': E_NOMEM.decode(), 'dbindex': E_DBINDEX.decode(), 'expire': E_EXPIRE.decode(),
    'strlimit': E_STRLIMIT.decode(), 'offset': E_OFFSET.decode(),
    'maxclients': E_MAXCLIENTS.decode(),
}


class CommandError(Exception):
    """Raised by a handler; the dispatcher sends '-' + str(self). The message carries
    its prefix (ERR, WRONGTYPE, NOPERM ...)."""
