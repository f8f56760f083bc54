"""Differential test of HyperLogLog: the same PFADD / PFCOUNT / PFMERGE go to
cachecyt and to a real redis-server; replies and the stored values (GET bytes:
header, cached cardinality, sparse opcodes, dense registers) must be byte for
byte the same. Covers small sparse values, sparse -> dense promotion past
hll-sparse-max-bytes, 100k-element dense values, merges of mixed encodings,
values carried from one server to the other with SET, and the errors of
non-HLL strings, other types and corrupt values."""
import random

import pytest
from diff.rawresp import RawConn


@pytest.fixture
def pair(addrs):
    ours, theirs = RawConn(addrs[0]), RawConn(addrs[1])
    for c in (ours, theirs):
        c.call('FLUSHALL')
        c.call('CONFIG', 'SET', 'hll-sparse-max-bytes', '3000')
    yield ours, theirs
    ours.close()
    theirs.close()


def both(pair, *args):
    """Run a command on both servers; the replies must be the same bytes."""
    a, b = pair[0].call(*args), pair[1].call(*args)
    assert a == b, (args[:3], a[:200], b[:200])
    return a


def elements(rnd, n):
    return [b'%d' % rnd.getrandbits(48) for _ in range(n)]


def fill(pair, key, rnd, n, batch=500):
    """PFADD n random elements in batches, comparing every reply."""
    for start in range(0, n, batch):
        both(pair, 'PFADD', key, *elements(rnd, min(batch, n - start)))


@pytest.mark.parametrize('n', [1, 3, 40, 400, 1500, 5000])
def test_pfadd_values_and_counts_match(pair, n):
    rnd = random.Random(n)
    fill(pair, 'h', rnd, n, batch=37)
    both(pair, 'GET', 'h')                  # the cache is still stale here
    both(pair, 'PFCOUNT', 'h')
    both(pair, 'GET', 'h')                  # the count is now cached in the value
    both(pair, 'PFCOUNT', 'h')


def test_sparse_promotes_to_dense_at_the_limit(pair):
    rnd = random.Random(7)
    for limit, per in (('200', 5), ('3000', 60)):
        for c in pair:
            c.call('CONFIG', 'SET', 'hll-sparse-max-bytes', limit)
        encodings = set()
        for _ in range(60):
            both(pair, 'PFADD', 'h' + limit, *elements(rnd, per))
            encodings.add(both(pair, 'PFDEBUG', 'ENCODING', 'h' + limit))
            both(pair, 'GET', 'h' + limit)
        assert encodings == {b'+sparse\r\n', b'+dense\r\n'}


def test_hundred_thousand_elements(pair):
    rnd = random.Random(100)
    fill(pair, 'big', rnd, 100_000, batch=5000)
    reply = both(pair, 'PFCOUNT', 'big')
    assert abs(int(reply[1:]) - 100_000) < 100_000 * 0.03
    both(pair, 'GET', 'big')


def test_pfadd_replies_for_repeats_and_empty_elements(pair):
    assert both(pair, 'PFADD', 'h') == b':1\r\n'           # creates the key
    assert both(pair, 'PFADD', 'h') == b':0\r\n'
    assert both(pair, 'PFADD', 'h', 'a', 'b') == b':1\r\n'
    assert both(pair, 'PFADD', 'h', 'a', 'b') == b':0\r\n'
    assert both(pair, 'PFADD', 'h', '') == b':1\r\n'
    both(pair, 'GET', 'h')
    assert both(pair, 'PFCOUNT', 'h') == b':3\r\n'
    assert both(pair, 'PFCOUNT', 'missing') == b':0\r\n'
    assert both(pair, 'TYPE', 'h') == b'+string\r\n'
    assert both(pair, 'OBJECT', 'ENCODING', 'h') == b'$3\r\nraw\r\n'


def test_pfmerge_and_multikey_pfcount_of_mixed_encodings(pair):
    rnd = random.Random(3)
    fill(pair, 's1', rnd, 30)
    fill(pair, 's2', rnd, 200)
    fill(pair, 'd1', rnd, 4000)
    fill(pair, 'd2', rnd, 20000)
    both(pair, 'PFCOUNT', 's1', 's2', 'missing', 's1')
    both(pair, 'PFCOUNT', 's1', 'd1', 'd2')
    assert both(pair, 'PFMERGE', 'ms', 's1', 's2') == b'+OK\r\n'
    both(pair, 'GET', 'ms')                 # sparse result
    both(pair, 'PFMERGE', 'md', 's1', 'd1', 'missing')
    both(pair, 'GET', 'md')                 # dense result
    both(pair, 'PFMERGE', 's1', 'd2')       # a sparse destination goes dense
    both(pair, 'GET', 's1')
    both(pair, 'PFMERGE', 'alone')          # a new empty HLL
    both(pair, 'GET', 'alone')
    for key in ('ms', 'md', 's1', 'alone'):
        both(pair, 'PFCOUNT', key)
        both(pair, 'GET', key)


def test_values_move_between_servers(pair):
    rnd = random.Random(11)
    theirs = pair[1]
    for n, key in ((50, 'sp'), (6000, 'de')):
        fill(pair, key, rnd, n)
        value = theirs.call('GET', key).split(b'\r\n', 1)[1][:-2]
        pair[0].call('SET', key + 'copy', value)
        theirs.call('SET', key + 'copy', value)
        both(pair, 'PFCOUNT', key + 'copy')
        both(pair, 'PFADD', key + 'copy', *elements(rnd, 50))
        both(pair, 'GET', key + 'copy')


def test_wrong_types(pair):
    both(pair, 'SET', 'str', 'hello world, not an HLL')
    both(pair, 'SET', 'int', '12345')
    both(pair, 'LPUSH', 'list', 'a')
    for key in ('str', 'int', 'list'):
        reply = both(pair, 'PFADD', key, 'x')
        assert reply.startswith(b'-WRONGTYPE')
        both(pair, 'PFCOUNT', key)
        both(pair, 'PFCOUNT', 'missing', key)
        both(pair, 'PFMERGE', key, 'missing')
        both(pair, 'PFMERGE', 'dest', key)
    assert both(pair, 'PFADD', 'str', 'x') == \
        b'-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n'
    assert both(pair, 'EXISTS', 'dest') == b':0\r\n'


@pytest.mark.parametrize('patch', [
    (18, b'\x01\x02'),             # opcodes past the 16384 registers
    (0, b'HYLX'),                  # bad magic
    (4, b'\x02'),                  # unknown encoding
    (16, b'\xff\xff\xff'),         # VAL runs on top of the XZERO
])
def test_corrupt_values(pair, patch):
    both(pair, 'PFADD', 'h', 'a', 'b', 'c')
    both(pair, 'SETRANGE', 'h', *patch)
    for args in (('PFCOUNT', 'h'), ('PFADD', 'h', 'zz'), ('PFCOUNT', 'h', 'missing'),
                 ('PFMERGE', 'd', 'h'), ('GET', 'h')):
        both(pair, *args)


def test_corrupt_dense_length_and_registers(pair):
    rnd = random.Random(5)
    fill(pair, 'd', rnd, 6000)
    both(pair, 'APPEND', 'd', 'hello')      # a dense value of the wrong length
    both(pair, 'PFCOUNT', 'd')
    both(pair, 'PFADD', 'd', 'x')
    fill(pair, 's', rnd, 20)
    both(pair, 'SETRANGE', 's', 16, b'\x7f\xff\x7f\xff')     # twice the registers
    both(pair, 'PFCOUNT', 's')
    both(pair, 'PFADD', 's', 'y')


def test_pfdebug(pair):
    both(pair, 'PFADD', 'h', 'a', 'b', 'c')
    both(pair, 'PFDEBUG', 'DECODE', 'h')
    both(pair, 'PFDEBUG', 'ENCODING', 'h')
    both(pair, 'PFDEBUG', 'TODENSE', 'h')
    both(pair, 'PFDEBUG', 'TODENSE', 'h')
    both(pair, 'PFDEBUG', 'GETREG', 'h')
    both(pair, 'PFDEBUG', 'DECODE', 'h')
    both(pair, 'PFDEBUG', 'NOPE', 'h')
    both(pair, 'PFDEBUG', 'GETREG', 'missing')
    both(pair, 'GET', 'h')
    assert both(pair, 'PFSELFTEST') == b'+OK\r\n'
