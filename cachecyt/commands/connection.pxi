# Connection commands that sit on the hot path (PING, ECHO) or end the
# connection (QUIT). HELLO, CLIENT and RESET live in commands/server.py.

cdef int cmd_ping(Client c) except -1:
    if c.argc > 2:
        reply_arity(c, "ping")
    elif c.flags & CL_PUBSUB and c.out.resp == 2:
        ps_ping(c)
    elif c.argc == 2:
        wb_bulk(&c.out, c.argv[1], c.argl[1])
    else:
        wb_put(&c.out, "+PONG\r\n", 7)
    return 0


cdef int cmd_echo(Client c) except -1:
    wb_bulk(&c.out, c.argv[1], c.argl[1])
    return 0


cdef int cmd_quit(Client c) except -1:
    wb_ok(&c.out)
    c.flags |= CL_CLOSE_AFTER_REPLY
    return 0


cdef void register_connection_commands():
    register_c('ping', cmd_ping)
    register_c('echo', cmd_echo)
    register_c('quit', cmd_quit)
