"""CLIENT UNBLOCK ends the wait of a client blocked in BLPOP & co. on any
worker, as a timeout or with an UNBLOCKED error; the client goes on with what it
pipelined. A waiter for another type never holds up the waiters behind it."""
import re
import time

from rawclient import encode


def client_id(c):
    return int(c.call('CLIENT', 'ID')[1:-2])


def wait_flag_b(c, cid):
    deadline = time.monotonic() + 5
    while True:
        line = c.call('CLIENT', 'LIST', 'ID', cid)
        if re.search(rb'flags=\w*b', line):
            return line
        assert time.monotonic() < deadline, line
        time.sleep(0.01)


def test_unblock_as_timeout_on_the_other_worker(conns):
    (a0, p0), (a1, p1) = conns(2)
    p0.call('DEL', 'ub1')
    cid = client_id(a1)
    a1.send(encode('BLPOP', 'ub1', 0) + encode('PING'))
    wait_flag_b(p0, cid)
    assert p0.call('CLIENT', 'UNBLOCK', cid) == b':1\r\n'
    assert a1.reply() == b'*-1\r\n'
    assert a1.reply() == b'+PONG\r\n'
    assert p0.call('CLIENT', 'UNBLOCK', cid) == b':0\r\n'         # no longer blocked
    assert b'flags=N' in p0.call('CLIENT', 'LIST', 'ID', cid)


def test_unblock_with_error_on_the_same_worker(conns):
    (a0, p0), _ = conns(2)
    p0.call('DEL', 'ub2')
    cid = client_id(a0)
    a0.send(encode('BZPOPMIN', 'ub2', 0))
    wait_flag_b(p0, cid)
    assert p0.call('CLIENT', 'UNBLOCK', cid, 'ERROR') == b':1\r\n'
    assert a0.reply() == b'-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'
    p0.call('ZADD', 'ub2', 1, 'm')                               # nobody waits any more
    assert p0.call('ZCARD', 'ub2') == b':1\r\n'


def test_unblock_errors_and_unknown_clients(server):
    from rawclient import Raw
    c = Raw(server)
    try:
        assert c.call('CLIENT', 'UNBLOCK', 'abc') == b'-ERR value is not an integer or out of range\r\n'
        assert c.call('CLIENT', 'UNBLOCK', 5, 'foo') == \
            b'-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n'
        assert c.call('CLIENT', 'UNBLOCK') == \
            b"-ERR wrong number of arguments for 'client|unblock' command\r\n"
        assert c.call('CLIENT', 'UNBLOCK', 5, 'timeout', 'x').startswith(
            b"-ERR unknown subcommand or wrong number of arguments for 'unblock'")
        assert c.call('CLIENT', 'UNBLOCK', 999999) == b':0\r\n'
        assert c.call('CLIENT', 'UNBLOCK', -1) == b':0\r\n'
        assert c.call('CLIENT', 'UNBLOCK', client_id(c)) == b':0\r\n'
    finally:
        c.close()


def blocked_id(c, cmd):
    """Id of the client blocked in `cmd`, once CLIENT LIST shows it blocked."""
    deadline = time.monotonic() + 5
    while True:
        m = re.search(rb'id=(\d+) [^\n]*flags=\w*b[^\n]*cmd=' + cmd.encode(), c.call('CLIENT', 'LIST'))
        if m:
            return int(m.group(1))
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_zset_waiter_does_not_hold_up_list_waiters(conns):
    """A BZPOPMIN blocked first on a key that then becomes a list keeps waiting;
    the BLPOP blocked behind it is served (as Redis serves by type)."""
    (z0, l0, p0), (z1, l1, p1) = conns(3)
    p0.call('DEL', 'ub3')
    z1.send(encode('BZPOPMIN', 'ub3', 0))
    zid = blocked_id(p0, 'bzpopmin')
    l0.send(encode('BLPOP', 'ub3', 0))
    blocked_id(p0, 'blpop')
    p1.call('RPUSH', 'ub3', 'x')
    assert l0.reply() == b'*2\r\n$3\r\nub3\r\n$1\r\nx\r\n'
    assert p0.call('CLIENT', 'UNBLOCK', zid) == b':1\r\n'
    assert z1.reply() == b'*-1\r\n'
