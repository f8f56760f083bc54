"""Differential test of the GEO commands: random sequences of GEOADD, GEOPOS,
GEODIST, GEOHASH, GEOSEARCH[STORE] and GEORADIUS[BYMEMBER][_RO] (with bad
coordinates, units, counts, option clashes, wrong types and missing keys) run
on cachecyt and on a real redis-server must get the same reply bytes, in RESP2
and RESP3, in both zset encodings.

Each member always sits at its own place, so distances never tie and even
the order of unsorted search replies (Redis walks the centre cell, then its
neighbours, each by score) is compared as it is. The places cluster around
Sicily, and a few sit near the poles' latitude limit and the 180th meridian,
where cells wrap."""
from diff.rawresp import RawConn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GKEYS = [b'g1', b'g2', b'str', b'none']

PLACES = {
    b'palermo': (b'13.361389', b'38.115556'),
    b'catania': (b'15.087269', b'37.502669'),
    b'messina': (b'15.554', b'38.193'),
    b'agrigento': (b'13.583333', b'37.316667'),
    b'syracuse': (b'15.2866', b'37.0755'),
    b'rome': (b'12.4964', b'41.9028'),
    b'naples': (b'14.2681', b'40.8518'),
    b'tunis': (b'10.1815', b'36.8065'),
    b'malta': (b'14.5146', b'35.8989'),
    b'north': (b'0.5', b'85.05'),
    b'south': (b'-120.25', b'-85.0511'),
    b'east': (b'179.99', b'0.001'),
    b'west': (b'-179.995', b'-0.002'),
    b'origin': (b'0', b'0'),
    b'': (b'1.25', b'2.5'),
    b'x' * 70: (b'13.5', b'37.9'),
}
members = st.sampled_from(sorted(PLACES) + [b'nope'])
placed = st.sampled_from(sorted(PLACES))

CENTRES = st.sampled_from([(b'15', b'37'), (b'13.361389', b'38.115556'), (b'0', b'0'),
                           (b'180', b'85.05112878'), (b'-180', b'-85.05112878'), (b'179.9', b'1'),
                           (b'181', b'0'), (b'0', b'86'), (b'x', b'1'), (b'1', b''), (b'nan', b'0'),
                           (b'14', b'37.5')])
RADII = st.sampled_from([b'0', b'1', b'50', b'100', b'200', b'500', b'1000', b'5000', b'20000',
                         b'-1', b'x', b'1.5', b'inf'])
UNITS = st.sampled_from([b'm', b'km', b'KM', b'mi', b'ft', b'parsec'])
km_units = st.sampled_from([b'km', b'km', b'mi', b'KM'])
COUNTS = st.sampled_from([b'1', b'2', b'3', b'10', b'0', b'-1', b'x'])
gkey = st.sampled_from(GKEYS)
dkey = st.sampled_from([b'd1', b'g2', b'str'])


@st.composite
def geoadd(draw):
    opts = draw(st.lists(st.sampled_from([b'NX', b'XX', b'CH', b'ch']), max_size=2))
    args = [b'GEOADD', draw(gkey)] + opts
    for m in draw(st.lists(placed, min_size=1, max_size=4)):
        args += list(PLACES[m]) + [m]
    if draw(st.integers(0, 9)) == 0:
        args[-3:-1] = list(draw(CENTRES))       # maybe an invalid position
    if draw(st.integers(0, 12)) == 0:
        args.pop()                              # a count not a multiple of 3
    return args


@st.composite
def lookups(draw):
    kind = draw(st.sampled_from([b'GEOPOS', b'GEOHASH', b'GEODIST']))
    if kind == b'GEODIST':
        args = [kind, draw(gkey), draw(members), draw(members)]
        if draw(st.booleans()):
            args.append(draw(UNITS))
        return args
    return [kind, draw(gkey)] + draw(st.lists(members, min_size=1, max_size=3))


def _search_opts(draw, store_words, keyed):
    """Options in any order; keyed: STORE/STOREDIST take a key (GEORADIUS)."""
    words = [b'WITHDIST', b'WITHHASH', b'WITHCOORD', b'ASC', b'DESC', b'ANY', b'COUNT'] + store_words
    out = []
    for w in draw(st.lists(st.sampled_from(words), max_size=4, unique=True)):
        out.append(w)
        if w == b'COUNT':
            out.append(draw(COUNTS))
        elif w in (b'STORE', b'STOREDIST') and keyed:
            out.append(draw(dkey))
    return out


@st.composite
def radius_search(draw):
    name = draw(st.sampled_from([b'GEORADIUS', b'GEORADIUS_RO', b'GEORADIUSBYMEMBER',
                                 b'GEORADIUSBYMEMBER_RO', b'georadius']))
    args = [name, draw(gkey)]
    if name.upper().startswith(b'GEORADIUSBYMEMBER'):
        args.append(draw(members))
    else:
        args += list(draw(CENTRES))
    args += [draw(RADII), draw(st.one_of(km_units, UNITS))]
    return args + _search_opts(draw, [b'STORE', b'STOREDIST'], True)


@st.composite
def geosearch(draw):
    store = draw(st.booleans())
    args = [b'GEOSEARCHSTORE', draw(dkey)] if store else [b'GEOSEARCH']
    args.append(draw(gkey))
    parts = []
    if draw(st.integers(0, 12)):
        if draw(st.booleans()):
            parts.append([b'FROMMEMBER', draw(members)])
        else:
            parts.append([b'FROMLONLAT'] + list(draw(CENTRES)))
    if draw(st.integers(0, 12)):
        if draw(st.booleans()):
            parts.append([b'BYRADIUS', draw(RADII), draw(st.one_of(km_units, UNITS))])
        else:
            parts.append([b'BYBOX', draw(RADII), draw(RADII), draw(st.one_of(km_units, UNITS))])
    if draw(st.integers(0, 15)) == 0:
        parts.append([b'BYRADIUS', b'10', b'km'])      # both shapes, or one twice
    parts.append(_search_opts(draw, [b'STOREDIST'] if store else [], False))
    order = draw(st.permutations(range(len(parts))))
    for i in order:
        args += parts[i]
    return args


@st.composite
def other(draw):
    return draw(st.sampled_from([
        [b'SET', b'str', b'x'], [b'DEL', b'g1'], [b'ZRANGE', b'd1', b'0', b'-1', b'WITHSCORES'],
        [b'ZRANGE', b'g2', b'0', b'-1', b'WITHSCORES'], [b'TYPE', b'd1'], [b'EXISTS', b'str'],
        [b'ZADD', b'g1', b'4503599627370495', b'edge'], [b'ZADD', b'g1', b'0', b'zero'],
        [b'OBJECT', b'ENCODING', b'g1'], [b'OBJECT', b'ENCODING', b'd1']]))


def commands():
    return st.one_of(geoadd(), geoadd(), lookups(), radius_search(), geosearch(), geosearch(), other())


def run_sequence(addrs, sequence, protocol, small):
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            if protocol == 3:
                assert conn.call('HELLO', '3').startswith(b'%')
            assert conn.call('FLUSHALL') == b'+OK\r\n'
            assert conn.call('CONFIG', 'SET', 'zset-max-listpack-entries',
                             '3' if small else '128') == b'+OK\r\n'
        # a populated key to start from
        seed = [b'GEOADD', b'g1']
        for m in sorted(PLACES):
            seed += list(PLACES[m]) + [m]
        for i, args in enumerate([seed] + sequence):
            got, want = ours.call(*args), ref.call(*args)
            assert got == want, (
                f"step {i}: {args!r}\n  cachecyt: {got!r}\n  redis:    {want!r}\n"
                f"  sequence: {sequence[:i + 1]!r}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25), small=st.booleans())
def test_geo_same_replies_as_redis(addrs, sequence, small):
    run_sequence(addrs, sequence, 2, small)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25), small=st.booleans())
def test_geo_same_replies_as_redis_resp3(addrs, sequence, small):
    run_sequence(addrs, sequence, 3, small)
