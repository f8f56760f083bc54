"""Differential test of the list commands: random sequences run on cachecyt and
on a real redis-server must get the same reply bytes, errors included, in RESP2
and RESP3. Keys collide on purpose and one of them may hold a string (WRONGTYPE);
counts and indexes include negatives, zero, limits and non-numbers. Blocking
commands appear with timeouts that expire at once or bad ones. After each
example FLUSHALL must give back every byte the lists took."""
import re

from diff.rawresp import RawConn
from diff.strategies import INTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from([b'la', b'lb', b'lc', b'str'])
ELEMS = st.one_of(
    st.sampled_from([b'', b'a', b'b', b'1', b'-1', b'01', b'x' * 100, b'y' * 9000,
                     b'z' * 70000, b'\x00\r\n', b'9223372036854775808']),
    st.binary(max_size=6))
IDX = st.one_of(
    st.sampled_from([b'0', b'1', b'-1', b'2', b'-2', b'5', b'-5', b'100', b'-100', b'x', b'',
                     b'9223372036854775807', b'-9223372036854775808', b'1.5']),
    st.integers(-8, 8).map(lambda i: b'%d' % i))
COUNT = st.one_of(INTS, st.integers(-3, 6).map(lambda i: b'%d' % i))
RANK = st.sampled_from([b'1', b'2', b'-1', b'-2', b'0', b'3', b'x', b'-9223372036854775807'])
WHERE = st.sampled_from([b'LEFT', b'RIGHT', b'left', b'up'])
TIMEOUT = st.sampled_from([b'0.01', b'x', b'-1', b'', b' 1', b'1e400', b'nan'])


def opt_count(name):
    return st.one_of(st.just([]), COUNT.map(lambda c: [name, c]))


def cmd(*parts):
    """A strategy of one command from strategies (or constants) and lists of them."""
    parts = [p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]
    return st.tuples(*parts).map(lambda t: [y for x in t for y in (x if isinstance(x, list) else [x])])


def lpos():
    opts = st.lists(st.one_of(RANK.map(lambda v: [b'RANK', v]), COUNT.map(lambda v: [b'COUNT', v]),
                              COUNT.map(lambda v: [b'MAXLEN', v]), st.just([b'FOO'])), max_size=2)
    return cmd(b'LPOS', KEYS, ELEMS, opts.map(lambda pairs: [y for x in pairs for y in x]))


def mpop(name, first):
    keys = st.lists(KEYS, min_size=1, max_size=3)
    numkeys = st.one_of(st.just(None), st.sampled_from([b'0', b'-1', b'x', b'5']))
    return st.tuples(keys, numkeys, WHERE, opt_count(b'COUNT')).map(
        lambda t: [name] + first + [t[1] if t[1] is not None else b'%d' % len(t[0])] + t[0]
        + [t[2]] + t[3])


def commands():
    return st.one_of(
        cmd(st.sampled_from([b'LPUSH', b'RPUSH', b'LPUSHX', b'RPUSHX']), KEYS,
            st.lists(ELEMS, min_size=1, max_size=4)),
        cmd(st.sampled_from([b'LPOP', b'RPOP']), KEYS, st.one_of(st.just([]), COUNT.map(lambda c: [c]))),
        cmd(b'LLEN', KEYS),
        cmd(b'LRANGE', KEYS, IDX, IDX),
        cmd(b'LINDEX', KEYS, IDX),
        cmd(b'LSET', KEYS, IDX, ELEMS),
        cmd(b'LINSERT', KEYS, st.sampled_from([b'BEFORE', b'AFTER', b'after', b'x']), ELEMS, ELEMS),
        cmd(b'LREM', KEYS, IDX, ELEMS),
        cmd(b'LTRIM', KEYS, IDX, IDX),
        lpos(),
        cmd(b'LMOVE', KEYS, KEYS, WHERE, WHERE),
        cmd(b'RPOPLPUSH', KEYS, KEYS),
        mpop(b'LMPOP', []),
        cmd(st.sampled_from([b'BLPOP', b'BRPOP']), KEYS, TIMEOUT),
        cmd(b'BLMOVE', KEYS, KEYS, WHERE, WHERE, TIMEOUT),
        cmd(b'BRPOPLPUSH', KEYS, KEYS, TIMEOUT),
        TIMEOUT.flatmap(lambda t: mpop(b'BLMPOP', [t])),
        cmd(b'SET', b'str', ELEMS),
        cmd(st.sampled_from([b'DEL', b'TYPE', b'EXISTS']), KEYS),
        cmd(b'OBJECT', b'ENCODING', KEYS),
        cmd(b'COPY', KEYS, KEYS, st.sampled_from([[], [b'REPLACE']])),
        cmd(b'RENAME', KEYS, KEYS),
    )


EMPTY = {}


def used_memory(conn):
    return int(re.search(rb'used_memory:(\d+)', conn.call('INFO', 'memory')).group(1))


def run_sequence(addrs, sequence, protocol=2):
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            if protocol == 3:
                assert conn.call('HELLO', '3').startswith(b'%')
            assert conn.call('FLUSHALL') == b'+OK\r\n'
        assert used_memory(ours) == EMPTY.setdefault(addrs[0], used_memory(ours))
        for i, args in enumerate(sequence):
            got, want = ours.call(*args), ref.call(*args)
            assert got == want, (f"step {i}: {args!r}\n  cachecyt: {got[:300]!r}\n"
                                 f"  redis:    {want[:300]!r}\n  sequence: {sequence[:i + 1]!r}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25))
def test_lists_same_replies_as_redis(addrs, sequence):
    run_sequence(addrs, sequence)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25))
def test_lists_same_replies_as_redis_resp3(addrs, sequence):
    run_sequence(addrs, sequence, protocol=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 2), commands()), min_size=1, max_size=30))
def test_lists_same_replies_across_connections(addrs, steps):
    """Three connections per server, which land on different workers: every
    worker sees the same lists."""
    ours = [RawConn(addrs[0]) for _ in range(3)]
    ref = [RawConn(addrs[1]) for _ in range(3)]
    try:
        for conn in (ours[0], ref[0]):
            assert conn.call('FLUSHALL') == b'+OK\r\n'
        for i, (n, args) in enumerate(steps):
            got, want = ours[n].call(*args), ref[n].call(*args)
            assert got == want, (f"step {i} on connection {n}: {args!r}\n  cachecyt: {got[:300]!r}\n"
                                 f"  redis:    {want[:300]!r}\n  steps: {steps[:i + 1]!r}")
    finally:
        for c in ours + ref:
            c.close()
