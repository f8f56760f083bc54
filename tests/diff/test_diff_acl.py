"""ACL commands compared with a real redis-server byte for byte: the same
SETUSER rules give the same ACL LIST / GETUSER replies and the same errors,
and the same requests are refused with the same texts. Runs on a node of its
own (users are changed)."""
import socket

import pytest

from servers import CachecytServer

SETUPS = [
    ['u1'],
    ['u2', 'on', '>pw', '~k*', '%R~r*', '+get', '+@hash', '-hget', '&ch*'],
    ['u3', '+@all', '-get', 'allkeys', '+get'],
    ['u4', '+@read', '-@read', '+set', '+set', '-set'],
    ['u5', 'on', '>p1', '~a', '%R~a', '%W~b', '%RW~c', '&x', '&y', '+@all', '-@dangerous'],
    ['u6', 'on', '>p1', '>p2', 'skip-sanitize-payload', '+@hash', '-@all', '+@string', '-set'],
    ['u7', 'reset'],
    ['u8', 'on', 'nopass', '+@read', '+@write', '-@keyspace', 'allchannels'],
    ['u9', '+select|0', '+config|get', '-@all', '+client|id', '+acl'],
    ['u10', 'on', '#' + 'a' * 64, '!' + 'a' * 64, 'allcommands', '-@admin', '%W~w*'],
    # selectors: typed over several arguments or in one, cleared, reset, quoted
    ['s1', 'on', '>pw', '~a*', '+get', '(~b*', '+set)', '(+@hash ~h* &c*)'],
    ['s3', 'on', 'nopass', '~a*', '+mset', '(~b* +mset)'],
    ['s4', 'on', 'nopass', '~*', '+set', '(+get ~x)', '(%R~y +@read)'],
    ['s5', 'on', 'nopass', '&x', '+publish', '(&y +publish ~k)'],
    ['s6', 'on', 'nopass', '+select|0', '(+select|1 +get)'],
    ['s7', '(~x)', '(~y)', 'clearselectors', '(~z +get)', '()', '("~a" \'~b\' "~\\x41")', '("a"b)'],
    ['s8', '(~x +get)', 'reset'],
    ['s9', 'on', 'nopass', '+@all', '-@all', '(+@all ~* &*)'],
]

BAD = [
    ['x', '+foo'], ['x', '+@foo'], ['x', '-select|0'], ['x', '+config|get|x'],
    ['x', '+config|foo'], ['x', 'bogus'], ['x', '#abc'], ['x', '<nope'], ['x', '%X~a'],
    ['x', '~a', 'allkeys', '~b'], ['x', '&a', 'allchannels', '&b'],
    ['x', '(~b*', '+set'], ['x', 'a', '(', 'y'], ['x', '(on)'], ['x', 'x)'], ['x', '(~b* +foo)'],
    ['x', '(~x allkeys ~y)'], ['x', '("~a b")'], ['x', '(>pw)'], ['x', '(', '+get', ')'],
]

QUERIES = [
    ['ACL', 'USERS'], ['ACL', 'CAT'], ['ACL', 'CAT', 'foo'],
    ['ACL', 'GETUSER', 'nouser'], ['ACL', 'DELUSER', 'default'], ['ACL', 'WHOAMI'],
    ['ACL', 'GENPASS', '0'], ['ACL', 'GENPASS', 'x'], ['ACL', 'HELP'], ['ACL', 'FOO'], ['ACL'],
    ['ACL', 'SAVE'], ['ACL', 'LOAD'], ['ACL', 'LOG', 'x'], ['ACL', 'LOG', '-1'],
    ['AUTH', 'x'], ['AUTH', 'a', 'b', 'c'], ['AUTH', 'nouser', 'b'],
    ['ACL', 'DRYRUN', 'nouser', 'get', 'k'], ['ACL', 'DRYRUN', 'u2', 'get', 'k1'],
    ['ACL', 'DRYRUN', 'u2', 'get', 'zz'], ['ACL', 'DRYRUN', 'u2', 'set', 'k1', 'v'],
    ['ACL', 'DRYRUN', 'u2', 'foo'], ['ACL', 'DRYRUN', 'u2', 'get'],
    ['ACL', 'DRYRUN', 'u2', 'publish', 'chx', 'm'], ['ACL', 'DRYRUN', 'u2', 'publish', 'zz', 'm'],
    ['ACL', 'DRYRUN', 'u5', 'set', 'b', 'v'], ['ACL', 'DRYRUN', 'u5', 'get', 'b'],
    ['ACL', 'DRYRUN', 'u9', 'select', '0'], ['ACL', 'DRYRUN', 'u9', 'select', '1'],
    ['ACL', 'DRYRUN', 'u9', 'config', 'set', 'a', 'b'],
] + [['ACL', 'DRYRUN', *q.split()] for q in (
    's1 get a1', 's1 get b1', 's1 set b1 v', 's1 set a1 v', 's1 mget a1 b1', 's1 hset h1 f v',
    's1 hset a1 f v', 's1 publish c1 m', 's1 publish d1 m', 's1 lpush x v', 's1 hmget zz a',
    's3 mset a1 v b1 v', 's3 mset b1 v a1 v', 's3 mset a1 v a2 v', 's3 mset c1 v a2 v b3 v',
    's4 get y', 's4 get z', 's4 set y 1', 's4 lrange y 0 1', 's5 publish z m', 's5 publish y m',
    's5 get k', 's6 select 1', 's6 select 2', 's6 get q', 's7 get z', 's7 get a', 's9 flushall')]

# as user u2 (password pw): requests refused or served
AS_U2 = [['GET', 'k1'], ['GET', 'zz'], ['SET', 'k1', 'v'], ['HSET', 'k1', 'f', 'v'], ['HGET', 'k1', 'f'],
         ['CONFIG', 'SET', 'maxmemory', '0'], ['MGET', 'k1', 'r1'], ['HGETALL', 'r1'], ['FOO'],
         ['HLEN'], ['ACL', 'WHOAMI'], ['PING']]


def encode(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in b'+-:':
        return line
    if kind == b'$':
        n = int(rest)
        return line if n < 0 else line + f.read(n + 2)
    if kind in b'*%~':
        n = int(rest) * (2 if kind == b'%' else 1)
        return line + b''.join(read_reply(f) for _ in range(max(n, 0)))
    raise AssertionError(f"unexpected reply {line!r}")


class Raw:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port))
        self.f = self.s.makefile('rb')

    def __call__(self, *args):
        self.s.sendall(encode(args))
        return read_reply(self.f)

    def close(self):
        self.f.close()
        self.s.close()


@pytest.fixture(scope='module')
def both(redis_ref):
    srv = CachecytServer(workers=2).start()
    ours, ref = Raw(srv.port), Raw(redis_ref[1])
    for setup in SETUPS:
        assert ours('ACL', 'SETUSER', *setup) == ref('ACL', 'SETUSER', *setup) == b'+OK\r\n'
    yield ours, ref, srv.port, redis_ref[1]
    ours.close()
    for setup in SETUPS:
        ref('ACL', 'DELUSER', setup[0])
    ref('ACL', 'LOG', 'RESET')
    ref.close()
    srv.stop()


def single_commands_sorted(reply: bytes):
    """Redis names single commands in its command dict's order, which depends
    on a hash seed: compare the rules after the last category sorted, in the
    root and in each selector. Lines keep their length (bulk headers stay
    valid)."""
    out = []
    for line in reply.split(b'\r\n'):
        out.append(b' ('.join(_sorted_tail(part) for part in line.split(b' (')))
    return b'\r\n'.join(out)


def _sorted_tail(part):
    """One selector's text (or the root's) with its single commands sorted."""
    closed = part.endswith(b')')
    words = (part[:-1] if closed else part).split(b' ')
    cats = [i for i, w in enumerate(words) if w[:2] in (b'+@', b'-@')]
    if cats:
        k = cats[-1] + 1
        words = words[:k] + sorted(words[k:])
    return b' '.join(words) + (b')' if closed else b'')


def test_list_and_getuser_equal(both):
    ours, ref, _, _ = both
    assert single_commands_sorted(ours('ACL', 'LIST')) == single_commands_sorted(ref('ACL', 'LIST'))
    for setup in SETUPS + [['default']]:
        assert single_commands_sorted(ours('ACL', 'GETUSER', setup[0])) == \
            single_commands_sorted(ref('ACL', 'GETUSER', setup[0])), setup


def test_cat_same_members(both):
    ours, ref, _, _ = both
    for cat in ('hash', 'admin', 'dangerous', 'keyspace', 'connection', 'fast'):
        a, b = ours('ACL', 'CAT', cat), ref('ACL', 'CAT', cat)
        assert sorted(a.split(b'\r\n')) == sorted(b.split(b'\r\n')), cat


@pytest.mark.parametrize('rules', BAD, ids=lambda r: ' '.join(r))
def test_rule_errors_equal(both, rules):
    ours, ref, _, _ = both
    assert ours('ACL', 'SETUSER', *rules) == ref('ACL', 'SETUSER', *rules)


@pytest.mark.parametrize('query', QUERIES, ids=lambda q: ' '.join(q))
def test_replies_equal(both, query):
    ours, ref, _, _ = both
    assert ours(*query) == ref(*query)


def test_refusals_equal(both):
    _, _, our_port, ref_port = both
    ours, ref = Raw(our_port), Raw(ref_port)
    try:
        assert ours('AUTH', 'u2', 'pw') == ref('AUTH', 'u2', 'pw') == b'+OK\r\n'
        for req in AS_U2:
            assert ours(*req) == ref(*req), req
    finally:
        ours.close()
        ref.close()


def test_log_entries_alike(both):
    ours, ref, _, _ = both
    a, b = ours('ACL', 'LOG', '3'), ref('ACL', 'LOG', '3')
    # same entries in the same order; age and client details differ
    fields = lambda reply: [x for x in reply.split(b'\r\n') if x in  # noqa: E731
                            (b'command', b'key', b'auth', b'toplevel', b'config|set', b'u2', b'zz')]
    assert fields(a) == fields(b)


# as user s1 (password pw, three selectors): served or refused, and logged alike
AS_S1 = [['GET', 'a1'], ['GET', 'b1'], ['SET', 'b1', 'v'], ['SET', 'a1', 'v'], ['HSET', 'h1', 'f', 'v'],
         ['HSET', 'a1', 'f', 'v'], ['MGET', 'a1', 'b1'], ['PUBLISH', 'c1', 'm'], ['PUBLISH', 'd1', 'm'],
         ['HGET', 'b1', 'f'], ['DEL', 'b1'], ['DEL', 'h1']]


def log_fields(reply: bytes):
    """(reason, object, username) of each entry of an ACL LOG reply (RESP2)."""
    words = [w for w in reply.split(b'\r\n') if w and w[:1] not in b'*$']
    values = dict.fromkeys((b'reason', b'object', b'username'))
    out = []
    for name, value in zip(words[::2], words[1::2]):
        if name in values:
            values[name] = value
            if name == b'username':
                out.append((values[b'reason'], values[b'object'], value))
    return out


def test_selector_refusals_and_log_equal(both):
    _, _, our_port, ref_port = both
    ours, ref = Raw(our_port), Raw(ref_port)
    try:
        assert ours('ACL', 'LOG', 'RESET') == ref('ACL', 'LOG', 'RESET')
        assert ours('AUTH', 's1', 'pw') == ref('AUTH', 's1', 'pw') == b'+OK\r\n'
        for req in AS_S1:
            assert ours(*req) == ref(*req), req
        assert ours('AUTH', 'default', 'x') == b'+OK\r\n'   # nopass: any password
        ref('AUTH', 'default', 'x')
        got = log_fields(ours('ACL', 'LOG'))
        assert got == log_fields(ref('ACL', 'LOG'))
        assert (b'key', b'a1', b's1') in got and (b'command', b'publish', b's1') in got
    finally:
        ours.close()
        ref.close()


def test_getuser_in_resp3_equal(both):
    """RESP3: flags are a set, each selector a map."""
    _, _, our_port, ref_port = both
    ours, ref = Raw(our_port), Raw(ref_port)
    try:
        ours('HELLO', '3')
        ref('HELLO', '3')
        for name in ('s1', 'u6', 'u8', 'default'):
            assert single_commands_sorted(ours('ACL', 'GETUSER', name)) == \
                single_commands_sorted(ref('ACL', 'GETUSER', name)), name
    finally:
        ours.close()
        ref.close()
