"""Hypothesis strategies for string and keyspace commands. Arguments come from
small pools so that commands collide on the same keys and hit edge cases
(integer limits, float spellings, option combinations) more often than chance
would. Expiry values are either invalid, in the past or far in the future:
no key expires while an example runs, so both servers see the same keyspace."""
from hypothesis import strategies as st

KEYS = st.sampled_from([b'a', b'b', b'c', b'{a}', b'k' * 70000])

VALUES = st.one_of(
    st.sampled_from([b'', b'0', b'1', b'-1', b'10', b'abc', b'hello world', b'01', b'+1',
                     b' 1', b'1 ', b'1e3', b'3.14', b'inf', b'nan', b'-0', b'0x10',
                     b'9223372036854775807', b'-9223372036854775808', b'9223372036854775808',
                     b'99999999999999999999', b'1.7976931348623157e308', b'\x00\xff\r\n',
                     b'x' * 100, b'y' * 3000, b'z' * 70000]),
    st.binary(max_size=12),
)

INTS = st.one_of(
    st.sampled_from([b'0', b'1', b'-1', b'2', b'5', b'-5', b'100', b'', b'a', b'1.5', b' 1',
                     b'01', b'+1', b'-0', b'9223372036854775807', b'-9223372036854775808',
                     b'9223372036854775808', b'-9223372036854775809', b'4611686018427387904']),
    st.integers(-2 ** 64, 2 ** 64).map(lambda i: b'%d' % i),
)

FLOATS = st.one_of(
    st.sampled_from([b'1', b'-1', b'0', b'1.5', b'-0.5', b'1e3', b'1E3', b' 1', b'1 ', b'inf',
                     b'-inf', b'+inf', b'nan', b'abc', b'', b'.5', b'5.', b'0x10', b'1e308',
                     b'1e309', b'-1e308', b'1e-400', b'3.0e3', b'1.1', b'0.1',
                     b'9223372036854775807', b'123456789012345678901234567890',
                     b'1.7976931348623157e308', b'-0.0', b'00.5', b'1_0', b'1e4000',
                     b'-1e4900', b'1.18e4932', b'0x1p3', b'1e-4950', b'infinity', b'NaN']),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
)

# Expire values: invalid, far past or far future in every unit (s, ms, absolute).
EXPIRES = st.sampled_from([b'0', b'-1', b'-100', b'abc', b'1.5', b'', b' 1', b'01', b'+5',
                           b'100000000', b'4000000000', b'4000000000000',
                           b'9223372036854775', b'9223372036854776', b'9223372036854775807',
                           b'-9223372036854775808', b'9223372036854775808'])

INDICES = st.sampled_from([b'0', b'1', b'2', b'-1', b'-2', b'3', b'5', b'100', b'-100',
                           b'9223372036854775807', b'-9223372036854775808', b'x', b''])

# No offset near 512 MB that is valid: each would allocate half a gigabyte.
OFFSETS = st.sampled_from([b'0', b'1', b'3', b'10', b'-1', b'x', b'', b'100000', b'536870912',
                           b'536870913', b'9223372036854775807'])

DBS = st.sampled_from([b'0', b'1', b'2', b'15', b'16', b'-1', b'x', b'', b'01', b'1.0',
                       b'2147483647', b'2147483648', b'-2147483649'])

ANY = st.one_of(KEYS, VALUES, INTS, EXPIRES)


def cased(name):
    """The command name in lower, upper or mixed case."""
    return st.sampled_from([name.lower(), name.upper(), name.capitalize(),
                            name.swapcase().capitalize().swapcase()]).map(str.encode)


def cmd(name, *parts):
    """A command: its name in some case, then fixed argument strategies."""
    return st.tuples(cased(name), *parts).map(list)


def cmd_var(name, head, tail, min_size=0, max_size=4):
    """A command with fixed leading arguments then a variable list of more."""
    return st.tuples(cased(name), st.tuples(*head), st.lists(tail, min_size=min_size,
                                                             max_size=max_size)).map(
        lambda t: [t[0], *t[1], *[x for part in t[2] for x in part]])


SET_OPTION = st.one_of(
    st.sampled_from([(b'NX',), (b'XX',), (b'GET',), (b'KEEPTTL',), (b'nx',), (b'get',),
                     (b'keepttl',), (b'EX',), (b'bogus',)]),
    st.tuples(st.sampled_from([b'EX', b'PX', b'EXAT', b'PXAT', b'ex', b'px', b'exat', b'pxat']),
              EXPIRES),
)

GETEX_OPTION = st.one_of(
    st.sampled_from([(b'PERSIST',), (b'persist',), (b'EX',), (b'NX',), (b'KEEPTTL',),
                     (b'bogus',)]),
    st.tuples(st.sampled_from([b'EX', b'PX', b'EXAT', b'PXAT', b'px']), EXPIRES),
)

EXPIRE_OPTION = st.sampled_from([(b'NX',), (b'XX',), (b'GT',), (b'LT',), (b'nx',), (b'gt',),
                                 (b'bogus',), (b'',)])

FLUSH_ARGS = st.sampled_from([[], [b'ASYNC'], [b'sync'], [b'SYNC'], [b'bogus'],
                              [b'async', b'x']])


def structured():
    """Well-formed commands (and well-formed arity with bad values)."""
    return st.one_of(
        cmd('get', KEYS),
        cmd_var('set', (KEYS, VALUES), SET_OPTION, max_size=3),
        cmd('setnx', KEYS, VALUES),
        cmd('setex', KEYS, EXPIRES, VALUES),
        cmd('psetex', KEYS, EXPIRES, VALUES),
        cmd('getset', KEYS, VALUES),
        cmd('getdel', KEYS),
        cmd_var('getex', (KEYS,), GETEX_OPTION, max_size=2),
        cmd_var('mget', (KEYS,), st.tuples(KEYS)),
        cmd_var('mset', (KEYS, VALUES), st.tuples(KEYS, VALUES), max_size=3),
        cmd_var('msetnx', (KEYS, VALUES), st.tuples(KEYS, VALUES), max_size=3),
        cmd('append', KEYS, VALUES),
        cmd('strlen', KEYS),
        cmd('getrange', KEYS, INDICES, INDICES),
        cmd('substr', KEYS, INDICES, INDICES),
        cmd('setrange', KEYS, OFFSETS, VALUES),
        cmd('incr', KEYS),
        cmd('decr', KEYS),
        cmd('incrby', KEYS, INTS),
        cmd('decrby', KEYS, INTS),
        cmd('incrbyfloat', KEYS, FLOATS),
        cmd_var('del', (KEYS,), st.tuples(KEYS)),
        cmd_var('unlink', (KEYS,), st.tuples(KEYS)),
        cmd_var('exists', (KEYS,), st.tuples(KEYS)),
        cmd('type', KEYS),
        *[cmd_var(name, (KEYS, EXPIRES), EXPIRE_OPTION, max_size=2)
          for name in ('expire', 'pexpire', 'expireat', 'pexpireat')],
        *[cmd(name, KEYS) for name in ('ttl', 'pttl', 'expiretime', 'pexpiretime', 'persist')],
        cmd('dbsize'),
        cmd('select', DBS),
        cmd('swapdb', DBS, DBS),
        st.tuples(cased('flushdb'), FLUSH_ARGS).map(lambda t: [t[0], *t[1]]),
        st.tuples(cased('flushall'), FLUSH_ARGS).map(lambda t: [t[0], *t[1]]),
        cmd_var('ping', (), st.tuples(VALUES), max_size=2),
        cmd('echo', VALUES),
    )


NAMES = ['get', 'set', 'setnx', 'setex', 'psetex', 'getset', 'getdel', 'getex', 'mget', 'mset',
         'msetnx', 'append', 'strlen', 'getrange', 'substr', 'setrange', 'incr', 'decr', 'incrby',
         'decrby', 'incrbyfloat', 'del', 'unlink', 'exists', 'type', 'expire', 'pexpire',
         'expireat', 'pexpireat', 'ttl', 'pttl', 'expiretime', 'pexpiretime', 'persist',
         'dbsize', 'select', 'swapdb', 'ping', 'echo']


def any_arity():
    """A known command with 0-5 arbitrary arguments: mostly wrong arity."""
    return st.tuples(st.sampled_from(NAMES).flatmap(cased), st.lists(ANY, max_size=5)).map(
        lambda t: [t[0], *t[1]])


def unknown():
    """Names the server does not know, with a few arguments."""
    return st.tuples(st.sampled_from([b'foo', b'GETT', b'sett', b'', b'get\r\n', b'x' * 200,
                                      b'KEYSPACE', b'\xff']),
                     st.lists(st.one_of(KEYS, st.binary(max_size=140)), max_size=3)).map(
        lambda t: [t[0], *t[1]])


def commands():
    return st.one_of(structured(), structured(), structured(), any_arity(), unknown())


# Replies that depend on the moment a command runs, and how far they may differ.
TIME_TOLERANCE = {b'ttl': 1, b'pttl': 1500, b'expiretime': 1, b'pexpiretime': 1500}
