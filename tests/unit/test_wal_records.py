"""Effect records (shm/wal.pxi) on a private segment with a log ring: what a
write appends, in which form, and that replaying the records on an empty
keyspace rebuilds the same state."""
import os
import struct
import zlib

import pytest

from cachecyt import _core

REC = struct.Struct("<IIQqII")


def take():
    data, last, n = _core.ring_take(1 << 30)
    out, pos = [], 0
    while pos < len(data):
        length, crc, lsn, ts, db, kind = REC.unpack_from(data, pos)
        assert zlib.crc32(data[pos + 8:pos + length]) == crc
        out.append((lsn, db, data[pos + REC.size:pos + length], ts))
        pos += length
    assert n == len(out) and (not out or last == out[-1][0])
    return out


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_writes_append_records_in_lsn_order(wal):
    wal.call([b'SET', b'a', b'1'])
    wal.call([b'GET', b'a'])                          # reads append nothing
    wal.call([b'INCR', b'a'])
    wal.call([b'SELECT', b'2'])
    wal.call([b'SET', b'b', b'x', b'EX', b'100'])
    wal.call([b'LPUSH', b'b', b'x'])                  # an error reply: nothing changed, no record
    recs = take()
    assert [r[0] for r in recs] == [1, 2, 3]
    assert recs[0][2] == resp(b'SET', b'a', b'1') and recs[0][1] == 0
    assert recs[2][2] == resp(b'SET', b'b', b'x', b'EX', b'100') and recs[2][1] == 2
    assert _core.persist_get('dirty') == 3


def test_blocking_and_random_commands_are_rewritten(wal):
    wal.call([b'RPUSH', b'l', b'a', b'b'])
    wal.call([b'BLPOP', b'none', b'l', b'0'])
    wal.call([b'SADD', b's', b'1', b'2', b'3'])
    wal.call([b'SPOP', b's'])
    recs = take()
    assert recs[1][2] == resp(b'LMPOP', b'2', b'none', b'l', b'LEFT')
    spop = recs[3][2]
    assert spop.startswith(resp(b'DEL', b's') + b'*4\r\n$4\r\nSADD\r\n$1\r\ns\r\n')


def test_replay_rebuilds_the_state(wal):
    wal.call([b'SET', b'n', b'10'])
    wal.call([b'INCRBYFLOAT', b'n', b'0.5'])
    wal.call([b'HSET', b'h', b'f', b'1'])
    wal.call([b'HINCRBY', b'h', b'f', b'41'])
    wal.call([b'ZADD', b'z', b'1', b'a', b'2', b'b'])
    wal.call([b'ZPOPMIN', b'z'])
    wal.call([b'SADD', b's', *[b'%d' % i for i in range(20)]])
    wal.call([b'SPOP', b's', b'5'])
    wal.call([b'PEXPIRE', b'h', b'100000'])
    before = [wal.call([b'GET', b'n']), wal.call([b'HGETALL', b'h']),
              wal.call([b'ZRANGE', b'z', b'0', b'-1']), sorted(wal.call([b'SMEMBERS', b's']).split(b'\r\n'))]
    deadline = wal.call([b'PEXPIRETIME', b'h'])
    recs = take()
    wal.call([b'FLUSHALL'])
    take()
    _core.set_wal_mute(True)
    try:
        for lsn, db, payload, ts in recs:
            _core.apply_commands(wal, payload, db, ts)     # each with the clock it ran at
    finally:
        _core.set_wal_mute(False)
    assert take() == []                               # replay logs nothing
    after = [wal.call([b'GET', b'n']), wal.call([b'HGETALL', b'h']),
             wal.call([b'ZRANGE', b'z', b'0', b'-1']), sorted(wal.call([b'SMEMBERS', b's']).split(b'\r\n'))]
    assert after == before
    assert wal.call([b'PEXPIRETIME', b'h']) == deadline   # PEXPIRE relative to the record's time


def replay(client, recs):
    _core.set_wal_mute(True)
    try:
        for lsn, db, payload, ts in recs:
            _core.apply_commands(client, payload, db, ts)
    finally:
        _core.set_wal_mute(False)


def test_exec_is_one_record_across_dbs(wal):
    wal.call([b'SET', b'x', b'0'])
    wal.call([b'MULTI'])
    wal.call([b'INCRBY', b'x', b'5'])
    wal.call([b'GET', b'x'])                          # a read: nothing in the record
    wal.call([b'SELECT', b'3'])
    wal.call([b'SET', b'y', b'in3', b'PX', b'100000'])
    wal.call([b'SELECT', b'0'])
    wal.call([b'DECRBY', b'x', b'5'])
    assert wal.call([b'EXEC']).startswith(b'*6\r\n:5\r\n')
    recs = take()
    assert [r[0] for r in recs] == [1, 2]              # SET, then the whole EXEC
    assert recs[1][1] == 0 and recs[1][2] == (
        resp(b'INCRBY', b'x', b'5') + resp(b'SELECT', b'3') + resp(b'SET', b'y', b'in3', b'PX', b'100000')
        + resp(b'SELECT', b'0') + resp(b'DECRBY', b'x', b'5'))
    deadline = wal.call([b'SELECT', b'3']) and wal.call([b'PEXPIRETIME', b'y'])
    wal.call([b'FLUSHALL'])
    take()
    replay(wal, recs)
    assert take() == []
    wal.call([b'SELECT', b'3'])
    assert wal.call([b'PEXPIRETIME', b'y']) == deadline
    wal.call([b'SELECT', b'0'])
    assert wal.call([b'GET', b'x']) == b'$1\r\n0\r\n'


def test_exec_of_one_write_is_the_plain_record(wal):
    wal.call([b'MULTI'])
    wal.call([b'SET', b'k', b'v'])
    wal.call([b'EXEC'])
    wal.call([b'MULTI'])
    wal.call([b'GET', b'k'])
    wal.call([b'EXEC'])                               # no write: no record
    assert [(r[0], r[2]) for r in take()] == [(1, resp(b'SET', b'k', b'v'))]


def test_clock_switch_in_a_stream(wal):
    """A group whose commands ran at different times carries `\\0clock`: each
    relative TTL replays against its own time."""
    import time
    t0 = int(time.time() * 1000) + 100000
    payload = (resp(b'SET', b'a', b'1', b'PX', b'1000') + resp(b'\x00clock', b'%d' % (t0 + 5000))
               + resp(b'SET', b'b', b'1', b'PX', b'1000'))
    _core.set_wal_mute(True)
    try:
        n, errors = _core.apply_commands(wal, payload, 0, t0)
    finally:
        _core.set_wal_mute(False)
    assert (n, errors) == (2, 0)
    assert wal.call([b'PEXPIRETIME', b'a']) == b':%d\r\n' % (t0 + 1000)
    assert wal.call([b'PEXPIRETIME', b'b']) == b':%d\r\n' % (t0 + 6000)


def test_script_is_one_record_on_first_and_cached_runs(wal, core):
    """A script's writes are one record whether it runs through the compiling
    path (first run) or from the compiled-script cache (later runs)."""
    from cachecyt.scripting import commands as scripting
    from cachecyt.scripting import store
    scripting.attach(core.name)
    try:
        body = b"redis.call('INCRBY', KEYS[1], 1) redis.call('INCRBY', KEYS[2], 1) return 1"
        for _ in range(3):
            assert wal.call([b'EVAL', body, b'2', b'a', b'b']) == b':1\r\n'
        recs = take()
        assert [r[0] for r in recs] == [1, 2, 3]
        assert all(r[2] == resp(b'INCRBY', b'a', b'1') + resp(b'INCRBY', b'b', b'1') for r in recs)
    finally:
        scripting.attach(None)
        store.remove_files(core.name)


def test_record_checksums_are_zlib_crc32_for_every_length(wal):
    # records from 40 bytes to well past the 64-byte blocks the folding code takes
    for n in (0, 1, 7, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 70000):
        wal.call([b'SET', b'k%d' % n, os.urandom(n)])
    assert len(take()) == 15                         # take() checks each CRC with zlib


@pytest.mark.parametrize("table", [False, True])
def test_checksum_matches_zlib_with_and_without_carry_less_multiply(table):
    data = os.urandom(4200)
    for n in list(range(0, 260)) + [1024, 4096, 4200]:
        for start in (0, 0xdeadbeef):
            assert _core.wal_crc32(data[:n], start, table) == zlib.crc32(data[:n], start), (n, start)


def test_records_of_requests_read_from_a_connection(wal):
    # requests as a connection sends them (the read buffer): the record is the
    # command as asked, whatever framing or company it came in
    big = b'x' * 70000
    wal.feed(resp(b'SET', b'a', b'1') + resp(b'set', b'b', b'2', b'PX', b'5000')
             + b'SET c 3\r\n'                                  # inline
             + resp(b'SET', b'k' * 10, big) + resp(b'GET', b'a') + resp(b'APPEND', b'a', b''))
    wal.feed(b'*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4xx')       # stray bytes after the value
    wal.feed(b'*0\r\n' + resp(b'SET', b'e', b'5')[:9])         # split across two reads
    wal.feed(resp(b'SET', b'e', b'5')[9:])
    recs = take()
    assert [r[2] for r in recs] == [resp(b'SET', b'a', b'1'), resp(b'set', b'b', b'2', b'PX', b'5000'),
                                    resp(b'SET', b'c', b'3'), resp(b'SET', b'k' * 10, big),
                                    resp(b'APPEND', b'a', b''), resp(b'SET', b'd', b'4'),
                                    resp(b'SET', b'e', b'5')]


def test_ring_written_to_a_file_reads_back_whole(wal, tmp_path):
    # the supervisor writes straight from the ring pages: records that wrap
    # around the ring and cross page ends come out whole, checksummed, in order
    from cachecyt.cluster import persist
    path = str(tmp_path / "wal-0000000000000001.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, persist.WAL_FILE_HDR.pack(persist.WAL_MAGIC, 1))
    sent = []
    for i in range(24):                               # 24 x ~30 KB through a 256 KB ring
        v = os.urandom(30000 + i)
        wal.feed(resp(b'SET', b'k%d' % i, v))
        sent.append(resp(b'SET', b'k%d' % i, v))
        if i % 5 == 4:
            assert _core.ring_first_lsn() == i - 3
            n, last, nrec = _core.ring_write(fd, 1 << 30)
            assert (last, nrec) == (i + 1, 5) and n > 5 * 30000
    while _core.ring_pending():
        _core.ring_write(fd, 70000)                   # a few records a call
    assert _core.ring_first_lsn() == 0 and _core.ring_write(fd, 1 << 30) == (0, 0, 0)
    os.close(fd)
    recs = list(persist.read_records(path))
    assert [r[0] for r in recs] == list(range(1, 25))
    assert [r[3] for r in recs] == sent


def test_failed_ring_write_keeps_the_records(wal, tmp_path):
    wal.call([b'SET', b'a', b'1'])
    fd = os.open(str(tmp_path / "ro"), os.O_RDONLY | os.O_CREAT, 0o644)
    with pytest.raises(OSError):
        _core.ring_write(fd, 1 << 30)                 # not writable: EBADF
    os.close(fd)
    assert [r[2] for r in take()] == [resp(b'SET', b'a', b'1')]
