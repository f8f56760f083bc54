"""Edge cases of the bitmap commands, LCS, MOVE and SORT on a private segment:
values big enough to live in extents, integer-encoded values, the records
the WAL gets (and that replaying them rebuilds the same keys), SORT's ACL
rule for BY/GET patterns, and MOVE keeping every type and the TTL."""
import test_wal_records as wal_records

from cachecyt import _core

BIG = 200_000                 # bytes: several 64 KiB pages, so the value sits in extents


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def test_setbit_on_a_value_in_extents_writes_in_place(client):
    call(client, 'SET', 'b', 'x' * BIG)
    assert call(client, 'SETBIT', 'b', 8 * 150_000 + 1, 1) == b':1\r\n'   # 'x' = 0b01111000
    assert call(client, 'SETBIT', 'b', 8 * 150_000, 1) == b':0\r\n'
    assert call(client, 'GETRANGE', 'b', 150_000, 150_000) == b'$1\r\n\xf8\r\n'
    assert call(client, 'STRLEN', 'b') == b':%d\r\n' % BIG
    assert call(client, 'BITCOUNT', 'b') == b':%d\r\n' % (4 * BIG + 1)
    assert call(client, 'BITPOS', 'b', 1, 150_000) == b':%d\r\n' % (8 * 150_000)
    assert call(client, 'BITPOS', 'b', 0, 10, -1) == b':80\r\n'


def test_setbit_past_the_end_of_a_big_value_zero_fills(client):
    call(client, 'SET', 'b', 'y' * BIG)
    assert call(client, 'SETBIT', 'b', 8 * (BIG + 5000) + 7, 1) == b':0\r\n'
    assert call(client, 'STRLEN', 'b') == b':%d\r\n' % (BIG + 5001)
    assert call(client, 'BITCOUNT', 'b', BIG, -1) == b':1\r\n'
    assert call(client, 'BITPOS', 'b', 1, BIG) == b':%d\r\n' % (8 * (BIG + 5000) + 7)
    assert call(client, 'GETRANGE', 'b', -1, -1) == b'$1\r\n\x01\r\n'


def test_bit_commands_read_an_integer_value_as_its_digits(client):
    call(client, 'SET', 'n', '12')                              # '1' = 0x31, '2' = 0x32
    assert call(client, 'OBJECT', 'ENCODING', 'n') == b'$3\r\nint\r\n'
    assert call(client, 'BITCOUNT', 'n') == b':6\r\n'
    assert call(client, 'GETBIT', 'n', 2) == b':1\r\n'
    assert call(client, 'BITFIELD_RO', 'n', 'GET', 'u16', 0) == b'*1\r\n:12594\r\n'
    assert call(client, 'BITFIELD', 'n', 'SET', 'u8', 8, 0x33) == b'*1\r\n:50\r\n'
    assert call(client, 'GET', 'n') == b'$2\r\n13\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'n') == b'$3\r\nraw\r\n'


def test_setbit_offset_limit_follows_proto_max_bulk_len(client):
    assert call(client, 'CONFIG', 'SET', 'proto-max-bulk-len', 1024 * 1024) == b'+OK\r\n'
    try:
        assert call(client, 'SETBIT', 'k', 8 * 1024 * 1024, 1) == \
            b'-ERR bit offset is not an integer or out of range\r\n'
        assert call(client, 'SETBIT', 'k', 8 * 1024 * 1024 - 1, 1) == b':0\r\n'
        assert call(client, 'BITFIELD', 'k', 'SET', 'u8', '#1048576', 1) == \
            b'-ERR bit offset is not an integer or out of range\r\n'
    finally:
        call(client, 'CONFIG', 'SET', 'proto-max-bulk-len', 512 * 1024 * 1024)


def test_bitop_over_big_values_and_an_empty_result_deletes(client):
    call(client, 'SET', 'a', b'\xff' * 10)
    call(client, 'SET', 'b', 'z' * BIG)
    assert call(client, 'BITOP', 'AND', 'd', 'a', 'b') == b':%d\r\n' % BIG
    assert call(client, 'BITCOUNT', 'd') == b':%d\r\n' % (10 * 5)      # 'z' = 0x7a: 5 bits set
    call(client, 'SET', 'd', 'old', 'EX', 100)
    assert call(client, 'BITOP', 'OR', 'd', 'nothere', 'alsonot') == b':0\r\n'
    assert call(client, 'EXISTS', 'd') == b':0\r\n'


def take():
    """The records the ring holds, as (db, payload, timestamp)."""
    return [(db, rec, ts) for _lsn, db, rec, ts in wal_records.take()]


def test_unchanged_bits_log_nothing_and_replay_rebuilds(wal):
    call(wal, 'SETBIT', 'k', 9, 1)
    call(wal, 'SETBIT', 'k', 9, 1)                      # as it was: not dirty, no record
    call(wal, 'BITFIELD', 'k', 'SET', 'u4', 8, 4)       # 0b0100 over 0b0100 (bit 9 set)
    call(wal, 'BITFIELD', 'k', 'OVERFLOW', 'SAT', 'INCRBY', 'i8', 16, 500)
    call(wal, 'SET', 'w_1', 3)
    call(wal, 'SET', 'w_2', 1)
    call(wal, 'RPUSH', 'l', 1, 2)
    call(wal, 'SORT', 'l', 'BY', 'w_*', 'GET', '#', 'GET', 'w_*', 'STORE', 'dst')
    call(wal, 'SORT', 'l', 'DESC')                      # a read: no record
    call(wal, 'MOVE', 'nothere', 3)                     # nothing moved: no record
    call(wal, 'BITOP', 'NOT', 'inv', 'k')
    call(wal, 'SET', 'a', 'ohmytext')
    call(wal, 'MOVE', 'a', 3)
    recs = take()
    names = [p.split(b'\r\n')[2].upper() for _db, p, _ts in recs]
    assert names.count(b'SETBIT') == 1 and names.count(b'BITFIELD') == 1
    assert names.count(b'SORT') == 1 and names.count(b'MOVE') == 1
    before = [call(wal, 'GET', 'k'), call(wal, 'LRANGE', 'dst', 0, -1), call(wal, 'GET', 'inv')]
    call(wal, 'FLUSHALL')
    take()
    _core.set_wal_mute(True)
    try:
        for db, payload, ts in recs:
            _core.apply_commands(wal, payload, db, ts)
    finally:
        _core.set_wal_mute(False)
    assert [call(wal, 'GET', 'k'), call(wal, 'LRANGE', 'dst', 0, -1), call(wal, 'GET', 'inv')] == before
    assert before[1] == b'*4\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n3\r\n'
    call(wal, 'SELECT', 3)
    assert call(wal, 'GET', 'a') == b'$8\r\nohmytext\r\n'


def test_read_only_forms_do_not_hide_the_next_write(wal):
    call(wal, 'RPUSH', 'l', 2, 1)
    call(wal, 'SORT_RO', 'l')
    call(wal, 'SET', 'a', 1)
    call(wal, 'BITFIELD_RO', 'a', 'GET', 'u8', 0)
    call(wal, 'SETBIT', 'b', 3, 1)
    names = [p.split(b'\r\n')[2].upper() for _db, p, _ts in take()]
    assert names == [b'RPUSH', b'SET', b'SETBIT']


def test_move_keeps_type_value_and_ttl(client):
    call(client, 'HSET', 'h', 'f', 'v' * 100)
    call(client, 'ZADD', 'z', 1, 'a', 2, 'b')
    call(client, 'RPUSH', 'l', *range(1000))
    call(client, 'SADD', 's', *range(300))
    call(client, 'SET', 'str', 'x' * BIG, 'PX', 1_000_000)
    for key in ('h', 'z', 'l', 's', 'str'):
        assert call(client, 'MOVE', key, 5) == b':1\r\n'
    assert call(client, 'DBSIZE') == b':0\r\n'
    call(client, 'SELECT', 5)
    assert call(client, 'HGET', 'h', 'f') == b'$100\r\n' + b'v' * 100 + b'\r\n'
    assert call(client, 'ZRANGE', 'z', 0, -1) == b'*2\r\n$1\r\na\r\n$1\r\nb\r\n'
    assert call(client, 'LLEN', 'l') == b':1000\r\n'
    assert call(client, 'SCARD', 's') == b':300\r\n'
    assert call(client, 'STRLEN', 'str') == b':%d\r\n' % BIG
    assert 0 < int(call(client, 'PTTL', 'str')[1:-2]) <= 1_000_000
    call(client, 'SET', 'clash', 1)
    call(client, 'SELECT', 0)
    call(client, 'SET', 'clash', 2)
    assert call(client, 'MOVE', 'clash', 5) == b':0\r\n'                 # the target has it
    assert call(client, 'GET', 'clash') == b'$1\r\n2\r\n'


def test_sort_patterns_need_read_access_to_every_key(client):
    call(client, 'RPUSH', 'k1', 2, 1)
    call(client, 'ACL', 'SETUSER', 'r', 'on', '>pw', '+@all', '~k*')
    call(client, 'ACL', 'SETUSER', 'all', 'on', '>pw', '+@all', '%R~*', '~k*')
    assert call(client, 'AUTH', 'r', 'pw') == b'+OK\r\n'
    assert call(client, 'SORT', 'k1') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert call(client, 'SORT', 'k1', 'BY', 'nosort') == b'*2\r\n$1\r\n2\r\n$1\r\n1\r\n'
    assert call(client, 'SORT', 'k1', 'BY', 'w_*') == \
        b'-ERR BY option of SORT denied due to insufficient ACL permissions.\r\n'
    assert call(client, 'SORT', 'k1', 'GET', '#') == \
        b'-ERR GET option of SORT denied due to insufficient ACL permissions.\r\n'
    assert call(client, 'AUTH', 'all', 'pw') == b'+OK\r\n'
    assert call(client, 'SORT', 'k1', 'BY', 'w_*', 'GET', '#') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'


def test_sort_store_of_a_set_without_order_sorts_it(client):
    call(client, 'SADD', 's', 'c', 'a', 'b', '10')
    assert call(client, 'SORT', 's', 'BY', 'nosort', 'STORE', 'd') == b':4\r\n'
    assert call(client, 'LRANGE', 'd', 0, -1) == b'*4\r\n$2\r\n10\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n'
    assert call(client, 'SORT', 'nothere', 'STORE', 'd') == b':0\r\n'
    assert call(client, 'EXISTS', 'd') == b':0\r\n'


def test_sort_of_big_elements_and_hash_fields_in_a_dict(client):
    big = b'e' * 70_000
    call(client, 'RPUSH', 'l', big, 'x')
    call(client, 'HSET', 'hx', *[b'f%d' % i for i in range(300) for _ in (0, 1)])
    call(client, 'HSET', 'hx', 'f', 'v' * 80_000)
    got = call(client, 'SORT', 'l', 'ALPHA', 'GET', '#', 'GET', 'h*->f')
    assert got == (b'*4\r\n$70000\r\n' + big + b'\r\n$-1\r\n$1\r\nx\r\n$80000\r\n'
                   + b'v' * 80_000 + b'\r\n')


def test_lcs_of_values_in_extents(client):
    call(client, 'SET', 'a', 'ab' * 100)
    call(client, 'SET', 'b', 'x' * 70_000 + 'ba' * 50)
    assert call(client, 'LCS', 'a', 'b', 'LEN') == b':100\r\n'
    call(client, 'CONFIG', 'SET', 'proto-max-bulk-len', 1024 * 1024)
    try:
        call(client, 'SET', 'c', 'q' * 1000)
        call(client, 'SET', 'd', 'q' * 1000)
        assert call(client, 'LCS', 'c', 'd', 'LEN') == \
            b'-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n'
    finally:
        call(client, 'CONFIG', 'SET', 'proto-max-bulk-len', 512 * 1024 * 1024)


def test_sort_store_key_is_checked_as_a_write(client):
    call(client, 'RPUSH', 'k1', 2, 1)
    call(client, 'ACL', 'SETUSER', 'ks', 'on', '>pw', '+@all', '~k*')
    assert call(client, 'AUTH', 'ks', 'pw') == b'+OK\r\n'
    assert call(client, 'SORT', 'k1', 'STORE', 'other') == \
        b'-NOPERM this user has no permissions to access one of the keys used as arguments\r\n'
    assert call(client, 'SORT', 'k1', 'STORE', 'other', 'STORE', 'k3') == b':2\r\n'   # the last one
    assert call(client, 'SORT', 'k1', 'LIMIT', 0, 1, 'STORE', 'k4') == b':1\r\n'
