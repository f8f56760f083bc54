"""Lists through the Client: exact reply bytes of every list command, the node
chain at and around the node-size limits, and the generic key commands
(COPY, RENAME, OBJECT ENCODING, MEMORY USAGE, DEL) on lists."""
import time

import pytest

from cachecyt import _core


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def arr(*items):
    out = b'*%d\r\n' % len(items)
    for x in items:
        x = x if isinstance(x, bytes) else str(x).encode()
        out += b'$%d\r\n%s\r\n' % (len(x), x)
    return out


WRONGTYPE = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'


def test_push_pop_range(client):
    assert call(client, 'RPUSH', 'l', 'a', 'b', 'c') == b':3\r\n'
    assert call(client, 'LPUSH', 'l', 'x', 'y') == b':5\r\n'
    assert call(client, 'LRANGE', 'l', 0, -1) == arr('y', 'x', 'a', 'b', 'c')
    assert call(client, 'LRANGE', 'l', -2, 100) == arr('b', 'c')
    assert call(client, 'LRANGE', 'l', 3, 1) == b'*0\r\n'
    assert call(client, 'LPOP', 'l') == b'$1\r\ny\r\n'
    assert call(client, 'RPOP', 'l', 2) == arr('c', 'b')
    assert call(client, 'LPOP', 'l', 0) == b'*0\r\n'
    assert call(client, 'LLEN', 'l') == b':2\r\n'
    assert call(client, 'LPOP', 'l', 10) == arr('x', 'a')
    assert call(client, 'EXISTS', 'l') == b':0\r\n'
    assert call(client, 'LPOP', 'l') == b'$-1\r\n'
    assert call(client, 'LPOP', 'l', 1) == b'*-1\r\n'
    assert call(client, 'LPOP', 'l', -1) == b'-ERR value is out of range, must be positive\r\n'
    assert call(client, 'LPUSHX', 'l', 'a') == b':0\r\n'
    assert call(client, 'EXISTS', 'l') == b':0\r\n'


def test_wrongtype(client):
    call(client, 'SET', 's', 'v')
    for args in (('LPUSH', 's', 'a'), ('LPOP', 's'), ('LPOP', 's', 0), ('LLEN', 's'),
                 ('LRANGE', 's', 0, 1), ('LINDEX', 's', 0), ('LSET', 's', 0, 'a'),
                 ('LREM', 's', 0, 'a'), ('LTRIM', 's', 0, 1), ('LPOS', 's', 'a'),
                 ('LMOVE', 's', 'd', 'LEFT', 'LEFT'), ('LMPOP', 1, 's', 'LEFT')):
        assert call(client, *args) == WRONGTYPE, args
    call(client, 'RPUSH', 'l', 'a')
    assert call(client, 'LMOVE', 'l', 's', 'LEFT', 'LEFT') == WRONGTYPE
    assert call(client, 'LRANGE', 'l', 0, -1) == arr('a')


def test_index_set_insert_rem(client):
    call(client, 'RPUSH', 'l', 'a', 'b', 'a', 'c', 'a')
    assert call(client, 'LINDEX', 'l', -1) == b'$1\r\na\r\n'
    assert call(client, 'LINDEX', 'l', 5) == b'$-1\r\n'
    assert call(client, 'LSET', 'l', -2, 'C') == b'+OK\r\n'
    assert call(client, 'LSET', 'l', 9, 'C') == b'-ERR index out of range\r\n'
    assert call(client, 'LSET', 'nokey', 0, 'C') == b'-ERR no such key\r\n'
    assert call(client, 'LINSERT', 'l', 'AFTER', 'C', 'd') == b':6\r\n'
    assert call(client, 'LINSERT', 'l', 'BEFORE', 'zz', 'd') == b':-1\r\n'
    assert call(client, 'LINSERT', 'nokey', 'BEFORE', 'zz', 'd') == b':0\r\n'
    assert call(client, 'LINSERT', 'l', 'MIDDLE', 'zz', 'd') == b'-ERR syntax error\r\n'
    assert call(client, 'LRANGE', 'l', 0, -1) == arr('a', 'b', 'a', 'C', 'd', 'a')
    assert call(client, 'LREM', 'l', -1, 'a') == b':1\r\n'
    assert call(client, 'LRANGE', 'l', 0, -1) == arr('a', 'b', 'a', 'C', 'd')
    assert call(client, 'LREM', 'l', 0, 'a') == b':2\r\n'
    assert call(client, 'LTRIM', 'l', 1, -1) == b'+OK\r\n'
    assert call(client, 'LRANGE', 'l', 0, -1) == arr('C', 'd')
    assert call(client, 'LTRIM', 'l', 5, 10) == b'+OK\r\n'
    assert call(client, 'EXISTS', 'l') == b':0\r\n'


def test_lpos(client):
    call(client, 'RPUSH', 'l', 'a', 'b', 'c', 'a', 'b', 'a')
    assert call(client, 'LPOS', 'l', 'a') == b':0\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'RANK', 2) == b':3\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'RANK', -1) == b':5\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'COUNT', 0) == b'*3\r\n:0\r\n:3\r\n:5\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'COUNT', 2, 'RANK', -1) == b'*2\r\n:5\r\n:3\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'COUNT', 0, 'MAXLEN', 4) == b'*2\r\n:0\r\n:3\r\n'
    assert call(client, 'LPOS', 'l', 'z') == b'$-1\r\n'
    assert call(client, 'LPOS', 'nokey', 'z', 'COUNT', 1) == b'*0\r\n'
    assert call(client, 'LPOS', 'l', 'a', 'RANK', 0).startswith(b"-ERR RANK can't be zero")
    assert call(client, 'LPOS', 'l', 'a', 'COUNT', -1) == b"-ERR COUNT can't be negative\r\n"


def test_move_and_mpop(client):
    call(client, 'RPUSH', 'a', '1', '2', '3')
    assert call(client, 'LMOVE', 'a', 'b', 'LEFT', 'RIGHT') == b'$1\r\n1\r\n'
    assert call(client, 'RPOPLPUSH', 'a', 'a') == b'$1\r\n3\r\n'
    assert call(client, 'LRANGE', 'a', 0, -1) == arr('3', '2')
    assert call(client, 'LMOVE', 'nokey', 'b', 'LEFT', 'RIGHT') == b'$-1\r\n'
    assert call(client, 'LMPOP', 2, 'nokey', 'a', 'RIGHT', 'COUNT', 5) == b'*2\r\n$1\r\na\r\n' + arr('2', '3')
    assert call(client, 'LMPOP', 1, 'a', 'LEFT') == b'*-1\r\n'
    assert call(client, 'LMPOP', 0, 'a', 'LEFT') == b'-ERR numkeys should be greater than 0\r\n'
    assert call(client, 'LMPOP', 1, 'a', 'LEFT', 'COUNT', 0) == b'-ERR count should be greater than 0\r\n'
    assert call(client, 'LMPOP', 2, 'a', 'LEFT') == b'-ERR syntax error\r\n'


def test_pop_with_extra_arguments_is_an_arity_error(client):
    """LPOP/RPOP take at most a count: more is an arity error, not a syntax error."""
    assert call(client, 'LPOP', 'a', 1, 2) == b"-ERR wrong number of arguments for 'lpop' command\r\n"
    assert call(client, 'RPOP', 'a', 1, 2) == b"-ERR wrong number of arguments for 'rpop' command\r\n"


@pytest.mark.parametrize('fill', [-1, -2, -5, 1, 3, 128])
def test_nodes_under_each_fill(client, fill):
    """Pushes, inserts, sets and removals in the middle agree with a Python list
    whatever the node size, including elements bigger than a node and a page."""
    call(client, 'CONFIG', 'SET', 'list-max-listpack-size', fill)
    model = []
    for i in range(300):
        v = (b'%d-' % i) * (1 + i % 7)
        call(client, 'RPUSH' if i % 3 else 'LPUSH', 'l', v)
        model.append(v) if i % 3 else model.insert(0, v)
    big = b'B' * 70000
    mid = b'M' * 5000
    call(client, 'LINSERT', 'l', 'BEFORE', model[150], big)
    model.insert(150, big)
    call(client, 'LSET', 'l', 20, mid)
    model[20] = mid
    call(client, 'LINSERT', 'l', 'AFTER', model[100], b'x')
    model.insert(101, b'x')
    assert call(client, 'LREM', 'l', 0, model[7]) == b':1\r\n'
    del model[7]
    assert call(client, 'LRANGE', 'l', 0, -1) == arr(*model)
    for i in (0, 1, 150, -1, -150, len(model) - 1):
        assert call(client, 'LINDEX', 'l', i) == arr(model[i])[4:]
    assert call(client, 'OBJECT', 'ENCODING', 'l') == b'$9\r\nquicklist\r\n'
    assert call(client, 'COPY', 'l', 'l2') == b':1\r\n'
    assert call(client, 'RENAME', 'l', 'l3') == b'+OK\r\n'
    assert call(client, 'LRANGE', 'l2', 0, -1) == call(client, 'LRANGE', 'l3', 0, -1)
    assert int(call(client, 'MEMORY', 'USAGE', 'l3')[1:-2]) > 70000 + 5000
    call(client, 'LTRIM', 'l3', 10, -10)
    assert call(client, 'LRANGE', 'l3', 0, -1) == arr(*model[10:-9])
    assert call(client, 'DEL', 'l2', 'l3') == b':2\r\n'


def test_invariant_walk_knows_list_chunks(client):
    """The walk reaches every node and blob of a list: nothing counts as leaked,
    and deleting the list gives back every chunk."""
    call(client, 'RPUSH', 'l', *[b'x' * (i % 50) for i in range(5000)])
    call(client, 'RPUSH', 'l', b'y' * 200000)
    call(client, 'LINSERT', 'l', 'BEFORE', b'x' * 7, b'z' * 9000)
    report = _core._test_check_invariants()
    assert report['errors'] == [] and report['leaked_chunks'] == 0, report
    used = int(call(client, 'MEMORY', 'USAGE', 'l')[1:-2])
    assert used > 200000 + 9000
    call(client, 'DEL', 'l')
    report = _core._test_check_invariants()
    assert report['errors'] == [] and report['leaked_chunks'] == 0, report


def test_blocking_forms_without_a_connection(client):
    """With an element they pop at once; a client with no connection cannot wait
    and gets the timeout reply (as inside MULTI in Redis)."""
    call(client, 'RPUSH', 'l', 'a', 'b')
    assert call(client, 'BLPOP', 'nokey', 'l', 0) == arr('l', 'a')
    assert call(client, 'BRPOPLPUSH', 'l', 'm', 0) == b'$1\r\nb\r\n'
    assert call(client, 'BLMPOP', 0, 1, 'm', 'LEFT', 'COUNT', 5) == b'*2\r\n$1\r\nm\r\n' + arr('b')
    assert call(client, 'BRPOP', 'l', 0) == b'*-1\r\n'
    assert call(client, 'BLMOVE', 'l', 'm', 'LEFT', 'LEFT', '0.5') == b'*-1\r\n'
    assert call(client, 'BLPOP', 'l', 'x') == b'-ERR timeout is not a float or out of range\r\n'
    assert call(client, 'BLPOP', 'l', '-0.5') == b'-ERR timeout is negative\r\n'
    assert call(client, 'BLPOP', 'l', '1e400') == b'-ERR timeout is negative\r\n'


def test_nodes_merge_after_removals(client):
    """LREM of every other element leaves half-empty nodes, which merge: the
    list's memory falls with its contents."""
    a, b = b'a' * 20, b'b' * 20
    call(client, 'RPUSH', 'l', *([a, b] * 5000))
    full = int(call(client, 'MEMORY', 'USAGE', 'l')[1:-2])
    assert call(client, 'LREM', 'l', 0, a) == b':5000\r\n'
    half = int(call(client, 'MEMORY', 'USAGE', 'l')[1:-2])
    assert half < full * 0.6, (full, half)
    assert call(client, 'LRANGE', 'l', 0, -1) == arr(*([b] * 5000))


def test_generic_key_commands_on_lists(client):
    call(client, 'RPUSH', 'l', 'a', 'b')
    call(client, 'SET', 's', 'v')
    assert call(client, 'SCAN', 0, 'TYPE', 'list') == b'*2\r\n$1\r\n0\r\n' + arr('l')
    assert call(client, 'TYPE', 'l') == b'+list\r\n'
    assert call(client, 'EXPIRE', 'l', 100) == b':1\r\n'
    assert call(client, 'TTL', 'l') == b':100\r\n'
    assert call(client, 'RENAME', 'l', 'm') == b'+OK\r\n'
    assert call(client, 'TTL', 'm') == b':100\r\n'
    assert call(client, 'COPY', 'm', 's', 'REPLACE') == b':1\r\n'
    call(client, 'RPUSH', 's', 'c')
    assert call(client, 'LRANGE', 'm', 0, -1) == arr('a', 'b')
    assert call(client, 'LRANGE', 's', 0, -1) == arr('a', 'b', 'c')
    assert call(client, 'PEXPIRE', 'm', 1) == b':1\r\n'
    time.sleep(0.01)
    assert call(client, 'LLEN', 'm') == b':0\r\n'
    assert call(client, 'EXISTS', 'm') == b':0\r\n'


def test_lists_are_evicted(client):
    call(client, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random')
    call(client, 'CONFIG', 'SET', 'maxmemory', 2 * 1024 * 1024)
    for i in range(200):
        reply = call(client, 'RPUSH', f'l{i}', *[b'x' * 100] * 200)
        assert reply.startswith(b':'), reply
    keys = int(call(client, 'DBSIZE')[1:-2])
    assert 0 < keys < 200
    call(client, 'CONFIG', 'SET', 'maxmemory', 0)
