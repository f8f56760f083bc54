"""Differential test of hashes and sets: random command sequences (wrong types,
bad arguments, negative counts, empty keys included) run on cachecyt and on a
real redis-server, in RESP2 and RESP3. Replies must be byte for byte the same,
except where Redis leaves the order open (members, fields, scans: compared as
sorted lists) or the choice random (SPOP, SRANDMEMBER, HRANDFIELD: checked by
their properties, and SPOP's pops are replayed on Redis with SREM so both
keyspaces stay equal). Small thresholds make encodings convert often."""
import re

import pytest
from diff.rawresp import RawConn, reply_end
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from([b'h', b's', b't', b'str', b'none'])
FIELDS = st.sampled_from([b'a', b'b', b'c', b'd', b'e', b'1', b'2', b'-3', b'10', b'7', b'01',
                          b'x' * 20, b''])
VALUES = st.sampled_from([b'0', b'1', b'-1', b'2.5', b'abc', b'', b'9223372036854775807',
                          b'1e3', b'x' * 20, b'inf'])
COUNTS = st.sampled_from([b'0', b'1', b'2', b'3', b'-1', b'-3', b'10', b'-10', b'x', b'',
                          b'-9223372036854775808', b'9223372036854775807'])
THRESHOLDS = [('hash-max-listpack-entries', b'4'), ('hash-max-listpack-value', b'8'),
              ('set-max-intset-entries', b'4')]


def cmd(name, *parts):
    return st.tuples(st.just(name), *parts).map(list)


def many(s, lo=1, hi=4):
    return st.lists(s, min_size=lo, max_size=hi)


def flat(name, key, rest):
    return st.tuples(key, rest).map(lambda t: [name, t[0], *t[1]])


def pairs(lo=1, hi=3):
    return st.lists(st.tuples(FIELDS, VALUES), min_size=lo, max_size=hi).map(
        lambda ps: [x for p in ps for x in p])


COMMANDS = st.one_of(
    flat(b'HSET', KEYS, pairs()), flat(b'HMSET', KEYS, pairs()),
    cmd(b'HSET', KEYS, FIELDS), cmd(b'HSETNX', KEYS, FIELDS, VALUES),
    cmd(b'HGET', KEYS, FIELDS), flat(b'HMGET', KEYS, many(FIELDS, 1, 6)),
    flat(b'HDEL', KEYS, many(FIELDS, 1, 6)), cmd(b'HLEN', KEYS), cmd(b'HEXISTS', KEYS, FIELDS),
    cmd(b'HKEYS', KEYS), cmd(b'HVALS', KEYS), cmd(b'HGETALL', KEYS),
    cmd(b'HINCRBY', KEYS, FIELDS, COUNTS), cmd(b'HINCRBYFLOAT', KEYS, FIELDS, VALUES),
    cmd(b'HSTRLEN', KEYS, FIELDS), cmd(b'HRANDFIELD', KEYS),
    cmd(b'HRANDFIELD', KEYS, COUNTS), cmd(b'HRANDFIELD', KEYS, COUNTS, st.just(b'WITHVALUES')),
    cmd(b'HSCAN', KEYS, st.just(b'0')), cmd(b'HSCAN', KEYS, st.just(b'0'), st.just(b'COUNT'), COUNTS),
    flat(b'SADD', KEYS, many(FIELDS, 1, 6)), flat(b'SREM', KEYS, many(FIELDS, 1, 6)),
    cmd(b'SMEMBERS', KEYS), cmd(b'SISMEMBER', KEYS, FIELDS), flat(b'SMISMEMBER', KEYS, many(FIELDS, 1, 6)),
    cmd(b'SCARD', KEYS), cmd(b'SPOP', KEYS), cmd(b'SPOP', KEYS, COUNTS),
    cmd(b'SRANDMEMBER', KEYS), cmd(b'SRANDMEMBER', KEYS, COUNTS),
    cmd(b'SMOVE', KEYS, KEYS, FIELDS),
    flat(b'SINTER', KEYS, many(KEYS, 0, 2)), flat(b'SUNION', KEYS, many(KEYS, 0, 2)),
    flat(b'SDIFF', KEYS, many(KEYS, 0, 2)),
    st.tuples(st.sampled_from([b'SINTERSTORE', b'SUNIONSTORE', b'SDIFFSTORE']), KEYS,
              many(KEYS, 1, 3)).map(lambda t: [t[0], t[1], *t[2]]),
    st.tuples(many(KEYS, 1, 3), COUNTS).map(lambda t: [b'SINTERCARD', b'%d' % len(t[0]), *t[0],
                                                      b'LIMIT', t[1]]),
    flat(b'SINTERCARD', COUNTS, many(KEYS, 1, 2)),
    cmd(b'SSCAN', KEYS, st.just(b'0')), cmd(b'SSCAN', KEYS, st.just(b'0'), st.just(b'MATCH'),
                                             st.sampled_from([b'*', b'1*', b'a'])),
    cmd(b'SET', KEYS, VALUES), cmd(b'DEL', KEYS), cmd(b'TYPE', KEYS), cmd(b'EXISTS', KEYS),
    cmd(b'OBJECT', st.just(b'ENCODING'), KEYS), cmd(b'RENAME', KEYS, KEYS),
    cmd(b'COPY', KEYS, KEYS, st.just(b'REPLACE')),
)


def parse(buf, pos=0):
    """(decoded reply, end): aggregates become lists, scalars stay raw bytes."""
    nl = buf.index(b'\r\n', pos)
    kind = buf[pos:pos + 1]
    if kind in b'*~%':
        n = int(buf[pos + 1:nl]) * (2 if kind == b'%' else 1)
        out, p = [], nl + 2
        for _ in range(max(n, 0)):
            item, p = parse(buf, p)
            out.append(item)
        return (kind, out), p
    end = reply_end(buf, pos)
    return buf[pos:end], end


UNORDERED = {b'SMEMBERS', b'HKEYS', b'HVALS', b'SINTER', b'SUNION', b'SDIFF'}


def pair_list(items):
    return sorted(zip(items[::2], items[1::2]))


def normal(args, raw):
    """The reply with the order Redis leaves open removed."""
    name = args[0].upper()
    if raw[:1] not in b'*~%':
        return raw
    (kind, items), _ = parse(raw)
    if name in UNORDERED:
        return kind, sorted(items)
    if name == b'HGETALL':
        return kind, pair_list(items)
    return raw


def members(conn, key):
    """The set's members (or hash's fields) as a Python set, {} if absent."""
    t = conn.call('TYPE', key)
    name = 'SMEMBERS' if t == b'+set\r\n' else 'HKEYS' if t == b'+hash\r\n' else None
    if name is None:
        return set()
    (kind, items), _ = parse(conn.call(name, key))
    return {e.split(b'\r\n')[1] for e in items}


def check_random(ours, ref, args):
    """SPOP, SRANDMEMBER, HRANDFIELD: same reply shape, elements drawn from the
    key, distinct when the count asks so; SPOP's pops are replayed on Redis."""
    name = args[0].upper()
    key = args[1]
    before = members(ref, key)
    got = ours.call(*args)
    if name == b'SPOP' and got[:1] in b'$*~' and not got.startswith(b'-'):
        if got[:1] == b'$':
            popped = elems = [got] if not got.startswith(b'$-1') else []
        else:
            elems = parse(got)[0][1]
            popped = elems
        for e in popped:
            val = e.split(b'\r\n')[1]
            ref.call('SREM', key, val)
        want_shape = None
    else:
        want = ref.call(*args)
        if got[:1] in b'-_:' or got.startswith(b'$-1') or want[:1] in b'-_' or want.startswith(b'$-1'):
            assert got == want, (args, got, want)
            return
        if got[:1] == b'$':
            assert want[:1] == b'$'
            elems = [got]
        else:
            (kind, elems), _ = parse(got)
            (wkind, welems), _ = parse(want)
            assert kind == wkind and len(elems) == len(welems), (args, got, want)
        want_shape = True
    flat_elems = []
    for e in elems:
        if isinstance(e, tuple):
            flat_elems.extend(e[1][:1])
        else:
            flat_elems.append(e)
    withvalues = len(args) == 4
    if withvalues and not any(isinstance(e, tuple) for e in elems):
        flat_elems = flat_elems[::2]
    vals = [e.split(b'\r\n')[1] for e in flat_elems]
    assert set(vals) <= before, (args, got, before)
    if len(args) >= 3 and not args[2].startswith(b'-') and want_shape is not None:
        assert len(set(vals)) == len(vals), (args, got)


def full_scan(conn, args):
    """Run HSCAN/SSCAN from cursor 0 to the end: (error or None, sorted union)."""
    args = list(args)
    seen = set()
    while True:
        raw = conn.call(*args)
        if raw[:1] != b'*':
            return raw, None
        (kind, items), _ = parse(raw)
        inner = items[1][1]
        if args[0].upper() == b'HSCAN':
            seen.update(zip(inner[::2], inner[1::2]))
        else:
            seen.update(inner)
        cursor = items[0].split(b'\r\n')[1]
        if cursor == b'0':
            return None, sorted(seen)
        args[2] = cursor


def reset(conn, resp):
    if resp == 3:
        assert conn.call('HELLO', '3').startswith(b'%')
    assert conn.call('FLUSHALL') == b'+OK\r\n'
    for name, v in THRESHOLDS:
        assert conn.call('CONFIG', 'SET', name, v) == b'+OK\r\n'


@pytest.fixture(scope='module')
def addrs(server, redis_ref):
    yield server, redis_ref
    for addr, defaults in ((server, (b'512', b'64', b'512')), (redis_ref, (b'512', b'64', b'512'))):
        with RawConn(addr) as c:
            for (name, _), v in zip(THRESHOLDS, defaults):
                c.call('CONFIG', 'SET', name, v)


def run(addrs, sequence, resp):
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        reset(ours, resp)
        reset(ref, resp)
        for i, args in enumerate(sequence):
            name = args[0].upper()
            if name in (b'SPOP', b'SRANDMEMBER', b'HRANDFIELD'):
                check_random(ours, ref, args)
                continue
            if name in (b'HSCAN', b'SSCAN'):
                assert full_scan(ours, args) == full_scan(ref, args), args
                continue
            got, want = ours.call(*args), ref.call(*args)
            assert normal(args, got) == normal(args, want), (
                f"step {i}: {args!r}\n  cachecyt: {got!r}\n  redis:    {want!r}\n"
                f"  sequence: {sequence[:i + 1]!r}")
        for key in (b'h', b's', b't', b'str', b'none'):
            assert members(ours, key) == members(ref, key), key
        used = int(re.search(rb'used_memory:(\d+)', ours.call('INFO', 'memory')).group(1))
        assert ours.call('FLUSHALL') == b'+OK\r\n'
        assert used > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(COMMANDS, min_size=1, max_size=30))
def test_hashset_same_replies_as_redis(addrs, sequence):
    run(addrs, sequence, 2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(COMMANDS, min_size=1, max_size=30))
def test_hashset_same_replies_as_redis_resp3(addrs, sequence):
    run(addrs, sequence, 3)
