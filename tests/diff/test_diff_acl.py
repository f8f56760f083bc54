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
]

BAD = [
    ['x', '+foo'], ['x', '+@foo'], ['x', '-select|0'], ['x', '+config|get|x'],
    ['x', '+config|foo'], ['x', 'bogus'], ['x', '#abc'], ['x', '<nope'], ['x', '%X~a'],
    ['x', '~a', 'allkeys', '~b'], ['x', '&a', 'allchannels', '&b'],
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
]

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
    if kind in b'*%':
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
    on a hash seed: compare the rules after the last category sorted. Lines
    keep their length (bulk headers stay valid)."""
    out = []
    for line in reply.split(b'\r\n'):
        words = line.split(b' ')
        cats = [i for i, w in enumerate(words) if w[:2] in (b'+@', b'-@')]
        if cats:
            k = cats[-1] + 1
            words = words[:k] + sorted(words[k:])
        out.append(b' '.join(words))
    return b'\r\n'.join(out)


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
