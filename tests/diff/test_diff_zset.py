"""Differential test of sorted sets: random sequences of Z* commands (with wrong
types, bad arguments, inf/-inf/nan scores, exclusive ranges, negative indexes
and missing keys) run on cachecyt and on a real redis-server must get the same
reply bytes, in RESP2 and RESP3, in both encodings (the listpack threshold is
lowered for some sequences so that small zsets become skiplists, and the intset
one so that small sets of integers become hashtables).

Two things Redis leaves open are kept out: lex ranges run only on a key whose
members all have score 0 (on mixed scores the result depends on the internal
layout), and ZSCAN replies are compared as sets of pairs (the order in a
skiplist's hash table is Redis's own). ZRANDMEMBER only asks for more members
than the key holds, which returns all of them, compared as a set. Plain sets
(intset or hashtable) join the set operations as inputs (Redis 7.0: each member
scores 1) and as destinations they get overwritten."""
from diff.rawresp import RawConn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZKEYS = [b'z1', b'z2', b'str', b'none']
LEXKEY = b'lz'

MEMBERS = st.sampled_from([b'a', b'b', b'c', b'd', b'e', b'', b'ab', b'b\x00', b'\xff', b'x' * 80])

SCORES = st.sampled_from([b'0', b'1', b'-1', b'2', b'1.5', b'-0.5', b'0.1', b'1e20', b'3e300',
                          b'inf', b'-inf', b'+inf', b'nan', b'abc', b'', b' 1', b'1 ', b'0x10',
                          b'1e400', b'-0', b'123456789012345678', b'infinity'])

GOOD_SCORES = st.sampled_from([b'0', b'1', b'-1', b'2', b'3', b'1.5', b'-0.5', b'0.1', b'1e20',
                               b'inf', b'-inf', b'-0', b'123456789012345678'])
ZSCORES = st.one_of(GOOD_SCORES, GOOD_SCORES, GOOD_SCORES, SCORES)

BOUNDS = st.sampled_from([b'0', b'1', b'(1', b'-1', b'(-1', b'1.5', b'(1.5', b'inf', b'-inf',
                          b'+inf', b'(inf', b'(-inf', b'nan', b'(nan', b'(', b'', b'x', b'2', b'(2',
                          b'0x1'])

LEXBOUNDS = st.sampled_from([b'-', b'+', b'[a', b'(a', b'[b', b'(c', b'[', b'(', b'a', b'--',
                             b'[ab', b'(e', b'[\xff', b'+a'])

INDEXES = st.sampled_from([b'0', b'1', b'2', b'-1', b'-2', b'-100', b'100', b'x', b'',
                           b'9223372036854775807', b'-9223372036854775808'])

COUNTS = st.sampled_from([b'0', b'1', b'2', b'3', b'-1', b'-2', b'100', b'x', b'',
                          b'9223372036854775807', b'-9223372036854775808'])

SKEYS = [b's1', b's2']
SMEMBERS = st.one_of(MEMBERS, st.sampled_from([b'1', b'2', b'-3', b'10', b'01', b'9223372036854775807']))

zkey = st.sampled_from(ZKEYS)
anykey = st.sampled_from(ZKEYS + [LEXKEY])
opkey = st.sampled_from(ZKEYS + [LEXKEY] + SKEYS)


def _opts(*choices):
    return st.lists(st.sampled_from(choices), max_size=3)


@st.composite
def zadd(draw):
    opts = draw(_opts(b'NX', b'XX', b'GT', b'LT', b'CH', b'INCR', b'nx', b'ch')) if draw(st.booleans()) else []
    pairs = draw(st.lists(st.tuples(ZSCORES, MEMBERS), min_size=0, max_size=4))
    args = [b'ZADD', draw(zkey)] + opts
    for s, m in pairs:
        args += [s, m]
    if draw(st.integers(0, 7)) == 0 and pairs:
        args.pop()                      # an odd count
    return args


@st.composite
def lexadd(draw):
    members = draw(st.lists(MEMBERS, min_size=1, max_size=4))
    args = [b'ZADD', LEXKEY]
    for m in members:
        args += [b'0', m]
    return args


@st.composite
def zrange(draw):
    kind = draw(st.sampled_from(['rank', 'score', 'lex']))
    if kind == 'lex':
        args = [b'ZRANGE', LEXKEY, draw(LEXBOUNDS), draw(LEXBOUNDS), b'BYLEX']
    elif kind == 'score':
        args = [b'ZRANGE', draw(zkey), draw(BOUNDS), draw(BOUNDS), b'BYSCORE']
    else:
        args = [b'ZRANGE', draw(zkey), draw(INDEXES), draw(INDEXES)]
    args += draw(_opts(b'REV', b'WITHSCORES', b'LIMIT', b'BYSCORE'))
    if b'LIMIT' in args:
        i = args.index(b'LIMIT')
        args[i + 1:i + 1] = [draw(COUNTS), draw(COUNTS)]
    return args


@st.composite
def legacy_range(draw):
    name = draw(st.sampled_from([b'ZRANGEBYSCORE', b'ZREVRANGEBYSCORE', b'ZRANGEBYLEX',
                                 b'ZREVRANGEBYLEX', b'ZREVRANGE']))
    if b'LEX' in name:
        args = [name, LEXKEY, draw(LEXBOUNDS), draw(LEXBOUNDS)]
    elif name == b'ZREVRANGE':
        args = [name, draw(zkey), draw(INDEXES), draw(INDEXES)]
    else:
        args = [name, draw(zkey), draw(BOUNDS), draw(BOUNDS)]
    args += draw(_opts(b'WITHSCORES', b'LIMIT'))
    if b'LIMIT' in args:
        i = args.index(b'LIMIT')
        args[i + 1:i + 1] = [draw(COUNTS), draw(COUNTS)]
    return args


@st.composite
def setop(draw):
    name = draw(st.sampled_from([b'ZUNION', b'ZINTER', b'ZDIFF', b'ZUNIONSTORE', b'ZINTERSTORE',
                                 b'ZDIFFSTORE', b'ZINTERCARD']))
    keys = draw(st.lists(opkey, min_size=1, max_size=3))
    num = draw(st.sampled_from([b'%d' % len(keys)] * 4 + [b'0', b'5', b'x', b'-1']))
    args = [name]
    if name.endswith(b'STORE'):
        args.append(draw(st.sampled_from(ZKEYS + SKEYS)))
    args += [num] + keys
    for opt in draw(st.lists(st.sampled_from(['weights', 'aggregate', 'withscores', 'limit']), max_size=3)):
        if opt == 'weights':
            args += [b'WEIGHTS'] + [draw(ZSCORES) for _ in keys]
        elif opt == 'aggregate':
            args += [b'AGGREGATE', draw(st.sampled_from([b'SUM', b'MIN', b'MAX', b'avg']))]
        elif opt == 'withscores':
            args.append(b'WITHSCORES')
        elif opt == 'limit':
            args += [b'LIMIT', draw(COUNTS)]
    return args


@st.composite
def sadd(draw):
    return [b'SADD', draw(st.sampled_from(SKEYS + [b'z1']))] + draw(st.lists(SMEMBERS, min_size=1, max_size=4))


def commands():
    k = zkey
    return st.one_of(
        zadd(), zadd(), lexadd(), st.just([b'SET', b'str', b'v']), zrange(), legacy_range(), setop(),
        setop(), sadd(),
        st.tuples(st.just(b'ZINCRBY'), k, ZSCORES, MEMBERS).map(list),
        st.tuples(st.just(b'ZREM'), anykey, MEMBERS, MEMBERS).map(list),
        st.tuples(st.sampled_from([b'ZSCORE', b'ZRANK', b'ZREVRANK']), anykey, MEMBERS).map(list),
        st.tuples(st.just(b'ZMSCORE'), anykey, MEMBERS, MEMBERS).map(list),
        st.tuples(st.sampled_from([b'ZCARD', b'TYPE', b'OBJECT']), anykey).map(
            lambda a: [a[0], b'ENCODING', a[1]] if a[0] == b'OBJECT' else list(a)),
        st.tuples(st.just(b'ZCOUNT'), k, BOUNDS, BOUNDS).map(list),
        st.tuples(st.sampled_from([b'ZLEXCOUNT', b'ZREMRANGEBYLEX']), st.just(LEXKEY),
                  LEXBOUNDS, LEXBOUNDS).map(list),
        st.tuples(st.just(b'ZREMRANGEBYSCORE'), k, BOUNDS, BOUNDS).map(list),
        st.tuples(st.just(b'ZREMRANGEBYRANK'), anykey, INDEXES, INDEXES).map(list),
        st.tuples(st.sampled_from([b'ZPOPMIN', b'ZPOPMAX']), anykey,
                  st.one_of(st.none(), COUNTS)).map(lambda a: [x for x in a if x is not None]),
        st.tuples(st.just(b'ZMPOP'), st.sampled_from([b'1', b'2', b'0', b'x']), k, anykey,
                  st.sampled_from([b'MIN', b'MAX', b'mid']),
                  st.sampled_from([(), (b'COUNT', b'2'), (b'COUNT', b'0'), (b'COUNT',)])).map(
            lambda a: list(a[:5]) + list(a[5])),
        st.tuples(st.just(b'ZRANGESTORE'), k, anykey, INDEXES, INDEXES).map(list),
        st.tuples(st.just(b'ZRANDMEMBER'), anykey,
                  st.sampled_from([(b'100',), (b'100', b'WITHSCORES'), (b'0',), (b'x',),
                                   (b'5', b'foo'), (b'-9223372036854775808',)])).map(
            lambda a: [a[0], a[1]] + list(a[2])),
        st.tuples(st.just(b'ZSCAN'), anykey, st.sampled_from([b'0', b'x']),
                  st.sampled_from([(b'COUNT', b'1000'), (b'MATCH', b'a*', b'COUNT', b'1000'),
                                   (b'COUNT', b'0'), (b'TYPE', b'zset')])).map(
            lambda a: [a[0], a[1], a[2]] + list(a[3])),
        st.sampled_from([[b'SET', b'str', b'v'], [b'DEL', b'z1'], [b'RENAME', b'z1', b'z2'],
                         [b'COPY', b'z2', b'z1'], [b'EXPIRE', b'z1', b'1000'],
                         [b'SCAN', b'0', b'TYPE', b'zset', b'COUNT', b'1000']]),
    )


def setop_commands():
    """Mostly set operations over zsets and plain sets, and reads of their results."""
    return st.one_of(
        zadd(), sadd(), sadd(), setop(), setop(), setop(),
        st.tuples(st.just(b'ZRANGE'), zkey, st.just(b'0'), st.just(b'-1'), st.just(b'WITHSCORES')).map(list),
        st.tuples(st.sampled_from([b'TYPE', b'OBJECT']), st.sampled_from(ZKEYS + SKEYS)).map(
            lambda a: [a[0], b'ENCODING', a[1]] if a[0] == b'OBJECT' else list(a)),
    )


def _parse(buf, pos=0):
    """(value, end) of a RESP reply, enough to normalise ZSCAN and SCAN replies."""
    nl = buf.index(b'\r\n', pos)
    kind, head = buf[pos:pos + 1], buf[pos + 1:nl]
    if kind in b'*~%':
        n = int(head) * (2 if kind == b'%' else 1)
        out, p = [], nl + 2
        for _ in range(max(n, 0)):
            v, p = _parse(buf, p)
            out.append(v)
        return out, p
    if kind == b'$':
        n = int(head)
        return buf[nl + 2:nl + 2 + n], nl + 4 + n
    return buf[pos:nl], nl + 2


def normalise(args, reply):
    if args[0] in (b'ZSCAN', b'SCAN') and reply[:1] == b'*':
        cursor, items = _parse(reply)[0]
        if args[0] == b'SCAN':
            return cursor, sorted(items)
        return cursor, sorted(zip(items[::2], items[1::2]))
    if args[0] == b'ZRANDMEMBER' and reply[:1] == b'*':
        items = _parse(reply)[0]
        if items and not isinstance(items[0], list) and b'WITHSCORES' in args:
            items = [list(p) for p in zip(items[::2], items[1::2])]
        return sorted(items)
    return reply


def run_sequence(addrs, sequence, protocol, small):
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            if protocol == 3:
                assert conn.call('HELLO', '3').startswith(b'%')
            assert conn.call('FLUSHALL') == b'+OK\r\n'
            assert conn.call('CONFIG', 'SET', 'zset-max-listpack-entries',
                             '3' if small else '128') == b'+OK\r\n'
            assert conn.call('CONFIG', 'SET', 'set-max-intset-entries',
                             '2' if small else '512') == b'+OK\r\n'
        for i, args in enumerate(sequence):
            got, want = ours.call(*args), ref.call(*args)
            assert normalise(args, got) == normalise(args, want), (
                f"step {i}: {args!r}\n  cachecyt: {got!r}\n  redis:    {want!r}\n"
                f"  sequence: {sequence[:i + 1]!r}")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=30), small=st.booleans())
def test_zset_same_replies_as_redis(addrs, sequence, small):
    run_sequence(addrs, sequence, 2, small)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=30), small=st.booleans())
def test_zset_same_replies_as_redis_resp3(addrs, sequence, small):
    run_sequence(addrs, sequence, 3, small)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(setop_commands(), min_size=1, max_size=25), small=st.booleans(),
       protocol=st.sampled_from([2, 3]))
def test_zset_setops_with_sets_same_replies_as_redis(addrs, sequence, small, protocol):
    run_sequence(addrs, sequence, protocol, small)
