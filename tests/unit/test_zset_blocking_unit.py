"""BZPOPMIN, BZPOPMAX and BZMPOP without waiting: a zset with members is popped
at once, a client with no connection cannot wait and gets the timeout reply
(nil array), and the argument errors come in Redis 7.0's order and words.
Reply bytes were checked against redis-server 7.0.15 (RESP2 and RESP3)."""


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def bulk(*items):
    return b''.join(b'$%d\r\n%s\r\n' % (len(i), i) for i in items)


def arr(*items):
    items = [i if isinstance(i, bytes) else i.encode() for i in items]
    return b'*%d\r\n' % len(items) + bulk(*items)


def test_bzpop_pops_the_first_non_empty_key(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 3, 'c')
    assert call(client, 'BZPOPMIN', 'nokey', 'z', 0) == arr('z', 'a', '1')
    assert call(client, 'BZPOPMAX', 'z', '0.5') == arr('z', 'c', '3')
    assert call(client, 'BZPOPMIN', 'z', 0) == arr('z', 'b', '2')
    assert call(client, 'EXISTS', 'z') == b':0\r\n'              # emptied: removed
    assert call(client, 'BZPOPMIN', 'z', 0) == b'*-1\r\n'        # cannot wait here


def test_bzpop_resp3_score_is_a_double(client):
    call(client, 'HELLO', '3')
    call(client, 'ZADD', 'z', '1.5', 'a', 'inf', 'b')
    assert call(client, 'BZPOPMAX', 'z', 0) == b'*3\r\n$1\r\nz\r\n$1\r\nb\r\n,inf\r\n'
    assert call(client, 'BZPOPMIN', 'z', 0) == b'*3\r\n$1\r\nz\r\n$1\r\na\r\n,1.5\r\n'
    assert call(client, 'BZPOPMIN', 'z', '0.01') == b'_\r\n'
    assert call(client, 'BZMPOP', '0.01', 1, 'z', 'MIN') == b'_\r\n'


def test_bzmpop_replies_as_zmpop(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b', 3, 'c', 4, 'd')
    assert call(client, 'BZMPOP', 0, 2, 'nokey', 'z', 'MIN') == (
        b'*2\r\n$1\r\nz\r\n*1\r\n' + arr('a', '1'))
    assert call(client, 'BZMPOP', 0, 1, 'z', 'MAX', 'COUNT', 2) == (
        b'*2\r\n$1\r\nz\r\n*2\r\n' + arr('d', '4') + arr('c', '3'))
    assert call(client, 'BZMPOP', 0, 1, 'z', 'min', 'count', 10) == (
        b'*2\r\n$1\r\nz\r\n*1\r\n' + arr('b', '2'))
    assert call(client, 'BZMPOP', 0, 1, 'z', 'MIN') == b'*-1\r\n'


def test_wrong_type_is_an_error_before_waiting(client):
    call(client, 'SET', 's', 'v')
    call(client, 'ZADD', 'z', 1, 'a')
    wrongtype = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'
    assert call(client, 'BZPOPMIN', 's', 0) == wrongtype
    assert call(client, 'BZPOPMIN', 'nokey', 's', 'z', 0) == wrongtype
    assert call(client, 'BZMPOP', 0, 1, 's', 'MAX') == wrongtype
    assert call(client, 'BZPOPMAX', 'z', 's', 0) == arr('z', 'a', '1')   # s never looked at


def test_argument_errors(client):
    call(client, 'ZADD', 'z', 1, 'a')
    syntax = b'-ERR syntax error\r\n'
    assert call(client, 'BZPOPMIN', 'z', 'abc') == b'-ERR timeout is not a float or out of range\r\n'
    assert call(client, 'BZPOPMIN', 'z', '-1') == b'-ERR timeout is negative\r\n'
    assert call(client, 'BZPOPMIN', 'z') == (
        b"-ERR wrong number of arguments for 'bzpopmin' command\r\n")
    assert call(client, 'BZMPOP', 0, 0, 'z', 'MIN') == b'-ERR numkeys should be greater than 0\r\n'
    assert call(client, 'BZMPOP', 0, 'x', 'z', 'MIN') == b'-ERR numkeys should be greater than 0\r\n'
    assert call(client, 'BZMPOP', 0, 5, 'z', 'MIN') == syntax
    assert call(client, 'BZMPOP', 0, 1, 'z', 'FOO') == syntax
    assert call(client, 'BZMPOP', 0, 1, 'z', 'MIN', 'COUNT') == syntax
    assert call(client, 'BZMPOP', 0, 1, 'z', 'MIN', 'COUNT', 1, 'COUNT', 2) == syntax
    assert call(client, 'BZMPOP', 0, 1, 'z', 'MIN', 'COUNT', 0) == (
        b'-ERR count should be greater than 0\r\n')
    # as Redis: the other arguments are checked before the timeout
    assert call(client, 'BZMPOP', 'abc', 0, 'z', 'MIN') == b'-ERR numkeys should be greater than 0\r\n'
    assert call(client, 'BZMPOP', '-1', 1, 'z', 'MIN') == b'-ERR timeout is negative\r\n'
    assert call(client, 'ZCARD', 'z') == b':1\r\n'


def test_zmpop_still_parses_as_before(client):
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b')
    assert call(client, 'ZMPOP', 1, 'z', 'MAX', 'COUNT', 1) == (
        b'*2\r\n$1\r\nz\r\n*1\r\n' + arr('b', '2'))
    assert call(client, 'ZMPOP', 2, 'z', 'MIN') == b'-ERR syntax error\r\n'
    assert call(client, 'ZMPOP', 0, 'z', 'MIN') == b'-ERR numkeys should be greater than 0\r\n'
