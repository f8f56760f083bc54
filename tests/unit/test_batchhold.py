"""Held runs (commands/batchhold.pxi): pipelined requests whose keys share a
shard run under one hold of its lock. The replies and the effect records must
be exactly those of running the requests one by one, whatever else the
pipeline mixes in (other shards, MULTI/EXEC, blocking commands, keyless
commands), and a run must never lock a shard outside its held one."""
import itertools

from cachecyt import _core

from test_wal_records import replay, resp, take


def shard(key):
    return _core._test_shard_of(_core._test_hash(key))


def keys_in(s, n, prefix=b'k'):
    """n keys of shard s."""
    out = []
    for i in itertools.count():
        key = b'%s%d' % (prefix, i)
        if shard(key) == s:
            out.append(key)
            if len(out) == n:
                return out


def other_shard_key(s):
    return next(b'o%d' % i for i in itertools.count() if shard(b'o%d' % i) != s)


def one_by_one(client, reqs):
    return b''.join(client.feed(resp(*a)) for a in reqs)


def pipelined(client, reqs):
    return client.feed(b''.join(resp(*a) for a in reqs))


def run_both(core_client, reqs, reset):
    """Replies of reqs pipelined and one by one, on the same starting state."""
    got = pipelined(core_client, reqs)
    reset()
    want = one_by_one(core_client, reqs)
    return got, want


def test_same_shard_run_is_held_and_replies_match(client):
    a, b, c = keys_in(0, 3)
    reqs = [[b'SET', a, b'1'], [b'INCR', a], [b'ZADD', b, b'1', b'm'], [b'ZADD', b, b'2', b'n'],
            [b'GET', a], [b'LPUSH', c, b'x'], [b'ZCARD', b], [b'INCRBY', a, b'5']]
    runs, held = _core._test_bh_counts()
    unheld = _core._test_unheld_locks()
    got, want = run_both(client, reqs, lambda: client.call([b'FLUSHALL']))
    runs2, held2 = _core._test_bh_counts()
    assert got == want == (b'+OK\r\n:2\r\n:1\r\n:1\r\n$1\r\n2\r\n:1\r\n:2\r\n:7\r\n')
    assert runs2 == runs + 1 and held2 == held + len(reqs)   # one run held all 8
    assert _core._test_unheld_locks() == unheld


def test_mixed_pipeline_matches_one_by_one(client):
    a, b = keys_in(1, 2)
    o = other_shard_key(1)
    reqs = [[b'SET', a, b'1'], [b'SET', b, b'2'],                 # held
            [b'SET', o, b'3'],                                   # another shard: released
            [b'INCR', a], [b'INCR', b],                          # held again
            [b'PING'],                                           # no key
            [b'MULTI'], [b'INCR', a], [b'INCR', b], [b'EXEC'],     # a transaction inside
            [b'INCR', a], [b'DEL', a, b],                        # DEL of two keys may not run held
            [b'RPUSH', b, b'x'], [b'BLPOP', b, b'0'],             # a blocking pop that is served
            [b'GET', o], [b'ECHO', b'z']]
    got, want = run_both(client, reqs, lambda: client.call([b'FLUSHALL']))
    assert got == want
    assert b'*2\r\n:3\r\n:4\r\n' in got                         # EXEC's replies
    assert got.endswith(b'*2\r\n$%d\r\n%s\r\n$1\r\nx\r\n$1\r\n3\r\n$1\r\nz\r\n' % (len(b), b))


def test_wrong_type_and_errors_inside_a_run(client):
    a, b = keys_in(3, 2)
    reqs = [[b'SET', a, b'x'], [b'ZADD', a, b'1', b'm'], [b'INCR', a], [b'ZADD', b, b'nan', b'm'],
            [b'HSET', b, b'f', b'v'], [b'HGET', b, b'f']]
    got, want = run_both(client, reqs, lambda: client.call([b'FLUSHALL']))
    assert got == want
    assert got.count(b'-WRONGTYPE') == 1 and got.count(b'-ERR') == 2


def test_held_run_records_equal_one_by_one_and_replay(wal):
    a, b, c = keys_in(4, 3)
    o = other_shard_key(4)
    reqs = [[b'SET', a, b'1'], [b'INCR', a], [b'ZADD', b, b'1', b'm'], [b'SET', o, b'9'],
            [b'ZINCRBY', b, b'2', b'm'], [b'GET', a], [b'PEXPIRE', a, b'100000'],
            [b'SADD', c, b'x', b'y'], [b'SPOP', c], [b'INCR', a]]
    pipelined(wal, reqs)
    recs = take()
    assert [r[0] for r in recs] == list(range(recs[0][0], recs[0][0] + 9))   # LSNs in order, no gap
    assert [r[2] for r in recs][:5] == [resp(*reqs[i]) for i in (0, 1, 2, 3, 4)]
    assert wal.wal_lsn == recs[-1][0]                           # the client's last record
    state = [wal.call([b'GET', a]), wal.call([b'ZSCORE', b, b'm']), wal.call([b'SMEMBERS', c]),
             wal.call([b'GET', o])]
    wal.call([b'FLUSHALL'])
    take()
    replay(wal, recs)
    assert [wal.call([b'GET', a]), wal.call([b'ZSCORE', b, b'm']), wal.call([b'SMEMBERS', c]),
            wal.call([b'GET', o])] == state


def test_many_records_in_one_run_keep_their_order(wal):
    # 16 writes of one key: one run, one append, LSNs one after another
    a, = keys_in(5, 1)
    reqs = [[b'INCRBY', a, b'%d' % i] for i in range(1, 17)]
    out = pipelined(wal, reqs)
    assert out.endswith(b':136\r\n')
    recs = take()
    assert [r[2] for r in recs] == [resp(*q) for q in reqs]
    assert [r[0] for r in recs] == list(range(recs[0][0], recs[0][0] + 16))
