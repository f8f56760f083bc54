"""Set commands on a private segment: exact reply bytes (RESP2 and RESP3),
intset/hashtable encodings at and around set-max-intset-entries, multi-key
operations and their STORE forms, random members by their properties. The
teardown's invariant walk also follows every set's chunks."""
import pytest
from test_hash_commands import redis_defaults_client



@pytest.fixture
def c():
    yield from redis_defaults_client()


WRONG = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'


def bulks(reply):
    """The bulk strings of a flat aggregate reply."""
    return reply.split(b'\r\n')[2:-1:2]


def test_sadd_srem_smembers(c):
    assert c('SADD', 's', '3', '1', '2', '1') == b':3\r\n'
    assert c('SMEMBERS', 's') == b'*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n'
    assert c('SCARD', 's') == b':3\r\n'
    assert c('SISMEMBER', 's', '2') == b':1\r\n'
    assert c('SISMEMBER', 's', 'x') == b':0\r\n'
    assert c('SMISMEMBER', 's', '1', 'x', '01') == b'*3\r\n:1\r\n:0\r\n:0\r\n'
    assert c('SREM', 's', '1', '9') == b':1\r\n'
    assert c('SREM', 's', '2', '3') == b':2\r\n'
    assert c('EXISTS', 's') == b':0\r\n'
    assert c('SMEMBERS', 's') == b'*0\r\n'
    assert c('SCARD', 's') == b':0\r\n'


def test_wrongtype(c):
    c('SET', 'str', 'x')
    c('SADD', 's', 'a')
    for args in (('SADD', 'str', 'a'), ('SMEMBERS', 'str'), ('SPOP', 'str'), ('SINTER', 's', 'str'),
                 ('SINTER', 'nokey', 'str'), ('SUNIONSTORE', 'd', 's', 'str'), ('SMOVE', 's', 'str', 'a'),
                 ('SSCAN', 'str', '0'), ('SINTERCARD', '2', 's', 'str')):
        assert c(*args) == WRONG, args
    assert c('SMOVE', 'nokey', 'str', 'a') == b':0\r\n'
    assert c('TYPE', 's') == b'+set\r\n'


@pytest.mark.parametrize('n,enc', [(512, b'intset'), (513, b'hashtable')])
def test_intset_threshold(c, n, enc):
    c('SADD', 's', *[b'%d' % i for i in range(n)])
    assert c('OBJECT', 'ENCODING', 's') == b'$%d\r\n%s\r\n' % (len(enc), enc)
    assert c('SCARD', 's') == b':%d\r\n' % n


@pytest.mark.parametrize('member', [b'a', b'01', b'-0', b'1.0', b'9223372036854775808', b' 1'])
def test_non_integer_converts(c, member):
    c('SADD', 's', '1', '2')
    assert c('OBJECT', 'ENCODING', 's') == b'$6\r\nintset\r\n'
    c('SADD', 's', member)
    assert c('OBJECT', 'ENCODING', 's') == b'$9\r\nhashtable\r\n'
    c('SREM', 's', member)
    assert c('OBJECT', 'ENCODING', 's') == b'$9\r\nhashtable\r\n'     # one way
    assert sorted(bulks(c('SMEMBERS', 's'))) == [b'1', b'2']


def test_first_member_decides_encoding(c):
    c('SADD', 'a', 'x', '1')
    c('SADD', 'b', '-9223372036854775808', '9223372036854775807')
    assert c('OBJECT', 'ENCODING', 'a') == b'$9\r\nhashtable\r\n'
    assert c('OBJECT', 'ENCODING', 'b') == b'$6\r\nintset\r\n'
    assert c('SMEMBERS', 'b') == b'*2\r\n$20\r\n-9223372036854775808\r\n$19\r\n9223372036854775807\r\n'


def test_set_operations(c):
    c('SADD', 'a', '1', '2', '3', 'x')
    c('SADD', 'b', '2', '3', '4')
    assert sorted(bulks(c('SINTER', 'a', 'b'))) == [b'2', b'3']
    assert sorted(bulks(c('SUNION', 'a', 'b'))) == [b'1', b'2', b'3', b'4', b'x']
    assert sorted(bulks(c('SDIFF', 'a', 'b'))) == [b'1', b'x']
    assert c('SINTER', 'a', 'nokey') == b'*0\r\n'
    assert c('SDIFF', 'nokey', 'a') == b'*0\r\n'
    assert c('SINTERSTORE', 'd', 'a', 'b') == b':2\r\n'
    assert c('OBJECT', 'ENCODING', 'd') == b'$6\r\nintset\r\n'
    assert c('SUNIONSTORE', 'd', 'a', 'b') == b':5\r\n'
    assert c('OBJECT', 'ENCODING', 'd') == b'$9\r\nhashtable\r\n'
    c('EXPIRE', 'd', '100')
    assert c('SDIFFSTORE', 'd', 'a', 'b') == b':2\r\n'
    assert c('TTL', 'd') == b':-1\r\n'
    assert c('SINTERSTORE', 'd', 'a', 'nokey') == b':0\r\n'
    assert c('EXISTS', 'd') == b':0\r\n'
    assert c('SINTERSTORE', 'a', 'a', 'b') == b':2\r\n'        # destination among the sources
    assert sorted(bulks(c('SMEMBERS', 'a'))) == [b'2', b'3']


def test_sintercard(c):
    c('SADD', 'a', '1', '2', '3')
    c('SADD', 'b', '1', '2', '3', '4')
    assert c('SINTERCARD', '2', 'a', 'b') == b':3\r\n'
    assert c('SINTERCARD', '2', 'a', 'b', 'LIMIT', '2') == b':2\r\n'
    assert c('SINTERCARD', '2', 'a', 'b', 'LIMIT', '0') == b':3\r\n'
    assert c('SINTERCARD', '1', 'nokey') == b':0\r\n'
    assert c('SINTERCARD', '0', 'a') == b'-ERR numkeys should be greater than 0\r\n'
    assert c('SINTERCARD', '3', 'a', 'b') == b"-ERR Number of keys can't be greater than number of args\r\n"
    assert c('SINTERCARD', '1', 'a', 'LIMIT', '-1') == b"-ERR LIMIT can't be negative\r\n"
    assert c('SINTERCARD', '1', 'a', 'FOO', '1') == b'-ERR syntax error\r\n'


def test_smove(c):
    c('SADD', 'a', '1', 'x')
    assert c('SMOVE', 'a', 'b', 'x') == b':1\r\n'
    assert c('OBJECT', 'ENCODING', 'b') == b'$9\r\nhashtable\r\n'
    assert c('SMOVE', 'a', 'b', 'zz') == b':0\r\n'
    assert c('SMOVE', 'a', 'a', '1') == b':1\r\n'
    assert c('SMOVE', 'a', 'c', '1') == b':1\r\n'
    assert c('EXISTS', 'a') == b':0\r\n'
    assert c('OBJECT', 'ENCODING', 'c') == b'$6\r\nintset\r\n'


def test_spop(c):
    assert c('SPOP', 'nokey') == b'$-1\r\n'
    assert c('SPOP', 'nokey', '3') == b'*0\r\n'
    assert c('SPOP', 's', '-1') == b'-ERR value is out of range, must be positive\r\n'
    assert c('SPOP', 's', 'x') == b'-ERR value is out of range, must be positive\r\n'
    assert c('SPOP', 's', '1', '2') == b'-ERR syntax error\r\n'
    members = {b'%d' % i for i in range(100)} | {b'm%d' % i for i in range(100)}
    c('SADD', 's', *members)
    popped = bulks(c('SPOP', 's', '50'))
    assert len(popped) == len(set(popped)) == 50 and set(popped) <= members
    one = c('SPOP', 's').split(b'\r\n')[1]
    assert one in members and one not in popped
    rest = bulks(c('SPOP', 's', '1000'))
    assert set(rest) | set(popped) | {one} == members
    assert c('EXISTS', 's') == b':0\r\n'


def test_srandmember(c):
    assert c('SRANDMEMBER', 'nokey') == b'$-1\r\n'
    assert c('SRANDMEMBER', 'nokey', '-3') == b'*0\r\n'
    c('SADD', 's', '1', '2', '3')
    assert c('SRANDMEMBER', 's', '0') == b'*0\r\n'
    assert c('SRANDMEMBER', 's', '10') == b'*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n'
    many = bulks(c('SRANDMEMBER', 's', '-20'))
    assert len(many) == 20 and set(many) <= {b'1', b'2', b'3'}
    two = bulks(c('SRANDMEMBER', 's', '2'))
    assert len(set(two)) == 2
    assert c('SRANDMEMBER', 's', '-9223372036854775808').startswith(b'-ERR value is out of range')
    c('SADD', 'big', *[b'm%d' % i for i in range(5000)])
    for n in (1, 10, 2000, 4999):
        got = bulks(c('SRANDMEMBER', 'big', str(n)))
        assert len(got) == len(set(got)) == n


def test_resp3_shapes(c):
    c('HELLO', '3')
    c('SADD', 's', '1', '2')
    assert c('SMEMBERS', 's') == b'~2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert c('SMEMBERS', 'nokey') == b'~0\r\n'
    assert c('SINTER', 's', 's') == b'~2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert c('SPOP', 'nokey', '2') == b'~0\r\n'
    assert c('SPOP', 's', '0') == b'~0\r\n'
    assert c('SRANDMEMBER', 's', '5') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert c('SPOP', 'nokey') == b'_\r\n'


def test_sscan(c):
    c('SADD', 's', '1', '2', '10')
    assert c('SSCAN', 's', '0', 'MATCH', '1*') == b'*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$2\r\n10\r\n'
    c('SADD', 'big', *[b'm%d' % i for i in range(3000)])
    cursor, seen = b'0', []
    while True:
        parts = c('SSCAN', 'big', cursor, 'COUNT', '100').split(b'\r\n')
        cursor = parts[2]
        seen += parts[5::2]
        if cursor == b'0':
            break
    assert set(seen) == {b'm%d' % i for i in range(3000)}


def test_copy_rename_del(c):
    c('SADD', 'a', *[b'm%d' % i for i in range(600)])
    c('SADD', 'i', '1', '2')
    assert c('COPY', 'a', 'b') == b':1\r\n'
    assert c('COPY', 'i', 'j') == b':1\r\n'
    c('SREM', 'a', 'm0')
    assert c('SISMEMBER', 'b', 'm0') == b':1\r\n'
    assert c('RENAME', 'j', 'k') == b'+OK\r\n'
    assert c('SMEMBERS', 'k') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert c('SCAN', '0', 'TYPE', 'set', 'COUNT', '100').count(b'\r\n') > 4
    assert c('DEL', 'a', 'b', 'i', 'k') == b':4\r\n'
