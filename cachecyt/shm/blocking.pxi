# Blocking list commands across workers (docs/adr/0005-blocking-across-workers.md).

cdef void signal_key_ready(int db, const char *key, uint64_t klen) noexcept:
    pass

cdef int cmd_blstub(Client c) except -1:
    wb_error(&c.out, "ERR not yet")
    return 0

cdef void register_blocking_commands():
    for n in ('blpop', 'brpop', 'blmove', 'brpoplpush', 'blmpop'):
        register_c(n, cmd_blstub)
