"""Differential tests of transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH):
the same steps on cachecyt and on a real redis-server must get the same reply
bytes, error paths included. Steps run on two connections per server ('a' and
'b'; on cachecyt they may sit on different workers), so WATCH sees changes made
by another client. Random transactions reuse the string/keyspace strategies."""
import time

import pytest
import redis
from diff.rawresp import RawConn
from diff.strategies import commands
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def run_steps(addrs, steps):
    """steps: ('a' | 'b', *args), ('sleep', seconds) or ('a?', *args) for a step
    whose reply is not compared (it differs by design, e.g. HELLO's client id)."""
    conns = {side: [RawConn(addr) for addr in addrs] for side in 'ab'}
    try:
        for c in conns['a']:
            assert c.call('FLUSHALL') == b'+OK\r\n'
        for i, (who, *args) in enumerate(steps):
            if who == 'sleep':
                time.sleep(args[0])
                continue
            ours, ref = conns[who[0]]
            got, want = ours.call(*args), ref.call(*args)
            if not who.endswith('?'):
                assert got == want, (f"step {i}: {who} {args!r}\n  cachecyt: {got!r}\n"
                                     f"  redis:    {want!r}\n  steps: {steps[:i + 1]!r}")
    finally:
        for pair in conns.values():
            for c in pair:
                c.close()


SCENARIOS = {
    'nested multi': [('a', 'MULTI'), ('a', 'MULTI'), ('a', 'SET', 'k', '1'), ('a', 'EXEC'),
                     ('a', 'GET', 'k')],
    'exec discard without multi': [('a', 'EXEC'), ('a', 'DISCARD'), ('a', 'UNWATCH')],
    'watch inside multi': [('a', 'MULTI'), ('a', 'WATCH', 'k'), ('a', 'SET', 'k', '1'),
                           ('a', 'EXEC')],
    'arity error aborts': [('a', 'MULTI'), ('a', 'SET', 'k'), ('a', 'SET', 'k', '1'),
                           ('a', 'EXEC'), ('a', 'GET', 'k'), ('a', 'EXEC')],
    'unknown command aborts': [('a', 'MULTI'), ('a', 'NOPE', 'x'), ('a', 'SET', 'k', '1'),
                               ('a', 'EXEC'), ('a', 'EXISTS', 'k')],
    'runtime error does not roll back': [
        ('a', 'MULTI'), ('a', 'SET', 'k', 'x'), ('a', 'INCR', 'k'), ('a', 'LPUSH', 'k', '1'),
        ('a', 'SET', 'j', '2'), ('a', 'EXEC'), ('a', 'MGET', 'k', 'j')],
    'empty transaction': [('a', 'MULTI'), ('a', 'EXEC')],
    'discard': [('a', 'MULTI'), ('a', 'SET', 'k', '1'), ('a', 'DISCARD'), ('a', 'GET', 'k'),
                ('a', 'DISCARD')],
    'exec with arguments': [('a', 'MULTI'), ('a', 'SET', 'k', '1'), ('a', 'EXEC', 'x'),
                            ('a', 'EXEC'), ('a', 'GET', 'k')],
    'wrong arity of multi, watch, discard inside multi': [
        ('a', 'MULTI'), ('a', 'MULTI', 'x'), ('a', 'EXEC'), ('a', 'MULTI'), ('a', 'WATCH'),
        ('a', 'UNWATCH'), ('a', 'EXEC'), ('a', 'MULTI'), ('a', 'DISCARD', 'x'), ('a', 'EXEC')],
    'arity errors outside multi': [('a', 'MULTI', 'x'), ('a', 'WATCH'), ('a', 'EXEC', 'x'),
                                   ('a', 'UNWATCH', 'x')],
    'watched key changed by another client': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '2'), ('a', 'MULTI'),
        ('a', 'SET', 'k', '3'), ('a', 'EXEC'), ('a', 'GET', 'k')],
    'watched absent key created by another client': [
        ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '1'), ('a', 'MULTI'), ('a', 'GET', 'k'),
        ('a', 'EXEC')],
    'watched absent key created and deleted': [
        ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '1'), ('b', 'DEL', 'k'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC')],
    'watched key deleted': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'DEL', 'k'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC')],
    'watched key changed by the same client': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('a', 'SET', 'k', '2'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC')],
    'watched key given a ttl': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'EXPIRE', 'k', '100'),
        ('a', 'MULTI'), ('a', 'EXEC')],
    'no-op writes do not touch': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k', 'h', 'n'), ('b', 'PERSIST', 'k'),
        ('b', 'HDEL', 'k', 'f'), ('b', 'DEL', 'n'), ('b', 'GET', 'k'), ('a', 'MULTI'),
        ('a', 'EXEC')],
    'other types touch watched keys': [
        ('a', 'RPUSH', 'l', 'x'), ('a', 'HSET', 'h', 'f', 'v'), ('a', 'SADD', 's', 'm'),
        ('a', 'ZADD', 'z', '1', 'm'), ('a', 'WATCH', 'l'), ('b', 'LPUSH', 'l', 'y'),
        ('a', 'MULTI'), ('a', 'EXEC'), ('a', 'WATCH', 'h'), ('b', 'HINCRBY', 'h', 'g', '1'),
        ('a', 'MULTI'), ('a', 'EXEC'), ('a', 'WATCH', 's'), ('b', 'SREM', 's', 'm'),
        ('a', 'MULTI'), ('a', 'EXEC'), ('a', 'WATCH', 'z'), ('b', 'ZINCRBY', 'z', '1', 'm'),
        ('a', 'MULTI'), ('a', 'EXEC'), ('a', 'WATCH', 'z'), ('b', 'RENAME', 'z', 'z2'),
        ('a', 'MULTI'), ('a', 'EXEC')],
    'unwatch forgets': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '2'), ('a', 'UNWATCH'),
        ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC')],
    'discard releases watches': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('a', 'MULTI'), ('a', 'DISCARD'),
        ('b', 'SET', 'k', '2'), ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC')],
    'exec releases watches': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '2'), ('a', 'MULTI'),
        ('a', 'EXEC'), ('b', 'SET', 'k', '3'), ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC')],
    'watch several times': [
        ('a', 'WATCH', 'k', 'j'), ('a', 'WATCH', 'm'), ('b', 'SET', 'm', '1'), ('a', 'MULTI'),
        ('a', 'EXEC'), ('a', 'WATCH', 'k'), ('a', 'WATCH', 'k'), ('a', 'MULTI'), ('a', 'EXEC')],
    'flushall touches existing watched keys only': [
        ('a', 'SET', 'k', '1'), ('a', 'SET', 'other', '1'), ('a', 'WATCH', 'k'),
        ('b', 'FLUSHALL'), ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC'),
        ('a', 'SET', 'other', '1'), ('a', 'WATCH', 'absent'), ('b', 'FLUSHALL'),
        ('a', 'MULTI'), ('a', 'GET', 'absent'), ('a', 'EXEC')],
    'flushdb of another db': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'SELECT', '1'), ('b', 'FLUSHDB'),
        ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC'), ('a', 'WATCH', 'k'), ('b', 'SELECT', '0'),
        ('b', 'FLUSHDB'), ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC')],
    'swapdb touches watched keys': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('b', 'SWAPDB', '0', '1'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC'), ('b', 'SWAPDB', '0', '1'), ('a', 'WATCH', 'absent'),
        ('b', 'SWAPDB', '0', '1'), ('a', 'MULTI'), ('a', 'GET', 'absent'), ('a', 'EXEC')],
    'watch is per database': [
        ('a', 'WATCH', 'k'), ('b', 'SELECT', '1'), ('b', 'SET', 'k', '1'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC')],
    'select inside multi': [
        ('a', 'MULTI'), ('a', 'SELECT', '1'), ('a', 'SET', 'k', '1'), ('a', 'SELECT', '99'),
        ('a', 'EXEC'), ('a', 'GET', 'k'), ('a', 'SELECT', '0'), ('a', 'GET', 'k')],
    'whole keyspace commands inside multi': [
        ('a', 'SET', 'x', '1'), ('a', 'MULTI'), ('a', 'DBSIZE'), ('a', 'FLUSHDB'),
        ('a', 'SET', 'k', '1'), ('a', 'KEYS', '*'), ('a', 'SCAN', '0'), ('a', 'RANDOMKEY'),
        ('a', 'DBSIZE'), ('a', 'SWAPDB', '0', '1'), ('a', 'DBSIZE'), ('a', 'FLUSHALL'),
        ('a', 'EXEC'), ('a', 'DBSIZE')],
    'multi-key commands inside multi': [
        ('a', 'MULTI'), ('a', 'MSET', 'a', '1', 'b', '2', 'c', '3'), ('a', 'RENAME', 'a', 'd'),
        ('a', 'COPY', 'b', 'e'), ('a', 'SADD', 's1', 'x', 'y'), ('a', 'SADD', 's2', 'y'),
        ('a', 'SUNIONSTORE', 's3', 's1', 's2'), ('a', 'ZADD', 'z1', '1', 'm'),
        ('a', 'ZUNIONSTORE', 'z3', '2', 'z1', 'z2'), ('a', 'RPUSH', 'l1', 'p', 'q'),
        ('a', 'LMOVE', 'l1', 'l2', 'LEFT', 'RIGHT'), ('a', 'LMPOP', '2', 'l2', 'l1', 'LEFT'),
        ('a', 'SINTERCARD', '2', 's1', 's2'), ('a', 'MGET', 'd', 'e', 'c'), ('a', 'EXEC')],
    'blocking commands do not block inside multi': [
        ('a', 'MULTI'), ('a', 'BLPOP', 'l', '0'), ('a', 'BRPOP', 'l', 'm', '0'),
        ('a', 'BLMOVE', 'l', 'm', 'LEFT', 'LEFT', '0'), ('a', 'BRPOPLPUSH', 'l', 'm', '0'),
        ('a', 'BLMPOP', '0', '1', 'l', 'LEFT'), ('a', 'BZPOPMIN', 'z', '0'),
        ('a', 'BZMPOP', '0', '1', 'z', 'MIN'), ('a', 'RPUSH', 'l', 'x'),
        ('a', 'BLPOP', 'l', '0'), ('a', 'BLPOP', 'l', 'x'), ('a', 'EXEC')],
    'quit inside multi': [('a', 'MULTI'), ('a', 'SET', 'k', '1'), ('a', 'QUIT')],
    'reset inside multi': [
        ('a', 'SET', 'k', '1'), ('a', 'WATCH', 'k'), ('a', 'MULTI'), ('a', 'SET', 'j', '1'),
        ('a', 'RESET'), ('a', 'EXEC'), ('b', 'SET', 'k', '2'), ('a', 'MULTI'), ('a', 'GET', 'k'),
        ('a', 'EXEC'), ('a', 'EXISTS', 'j')],
    'resp3 replies': [
        ('a?', 'HELLO', '3'), ('a', 'MULTI'), ('a', 'SET', 'k', '1'), ('a', 'GET', 'k'),
        ('a', 'HSET', 'h', 'f', 'v'), ('a', 'HGETALL', 'h'), ('a', 'BLPOP', 'l', '0'),
        ('a', 'EXEC'), ('a', 'WATCH', 'k'), ('b', 'SET', 'k', '2'), ('a', 'MULTI'),
        ('a', 'GET', 'k'), ('a', 'EXEC')],
    'hello inside multi switches protocol mid-reply': [
        ('a', 'MULTI'), ('a', 'PING'), ('a', 'SET', 'k', '1'), ('a', 'EXEC'), ('a', 'MULTI'),
        ('a', 'ECHO', 'x'), ('a', 'GET', 'nothing'), ('a', 'EXEC')],
}


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_transaction_scenario(addrs, name):
    run_steps(addrs, SCENARIOS[name])


def test_watched_key_that_expires(addrs):
    """A key expiring after WATCH is a change; one already expired at WATCH is not."""
    run_steps(addrs, [
        ('a', 'SET', 'k', '1', 'PX', '100'), ('a', 'WATCH', 'k'), ('sleep', 0.2),
        ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC'),
        ('a', 'SET', 'k', '1', 'PX', '50'), ('sleep', 0.1), ('a', 'WATCH', 'k'),
        ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC'),
        ('a', 'SET', 'k', '1', 'PX', '100'), ('a', 'WATCH', 'k'), ('sleep', 0.2),
        ('a', 'GET', 'k'), ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'EXEC')])


def test_oom_inside_multi(addrs):
    """Under maxmemory every command queued in MULTI is refused with -OOM (and
    dooms the transaction); EXEC of a queued write is refused as EXECABORT."""
    ours, ref = addrs
    admins = [RawConn(a) for a in addrs]
    try:
        for c in admins:
            c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
        steps_full = [('a', 'SET', 'big', 'x' * 200000), ('b', 'CONFIG', 'SET', 'maxmemory', '1'),
                      ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'SET', 'k', '1'), ('a', 'EXEC'),
                      ('b', 'CONFIG', 'SET', 'maxmemory', '0'),
                      ('a', 'MULTI'), ('a', 'GET', 'k'), ('a', 'SET', 'k', '1'),
                      ('b', 'CONFIG', 'SET', 'maxmemory', '1'), ('a', 'EXEC'),
                      ('b', 'CONFIG', 'SET', 'maxmemory', '0'),
                      ('a', 'MULTI'), ('a', 'GET', 'k'), ('b', 'CONFIG', 'SET', 'maxmemory', '1'),
                      ('a', 'EXEC'), ('a', 'MULTI'), ('a', 'DISCARD'),
                      ('b', 'CONFIG', 'SET', 'maxmemory', '0'), ('a', 'EXISTS', 'k')]
        run_steps(addrs, steps_full)
    finally:
        for c in admins:
            c.call('CONFIG', 'SET', 'maxmemory', '0')
            c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
            c.close()


# ---- random transactions -----------------------------------------------------------------

CLOCK_DEPENDENT = {b'ttl', b'pttl', b'expiretime', b'pexpiretime'}


def timeless(cmds):
    return [c for c in cmds if c and c[0].lower() not in CLOCK_DEPENDENT]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(commands(), max_size=5), queued=st.lists(commands(), max_size=8),
       resp=st.sampled_from([2, 3]))
def test_random_transactions(addrs, before, queued, resp):
    """Random commands (errors included) queued in MULTI: the same +QUEUED or
    error replies, then the same EXEC reply (EXECABORT or every result)."""
    steps = [('a?', 'HELLO', '3')] if resp == 3 else []
    steps += [('a', *c) for c in timeless(before)]
    steps += [('a', 'SELECT', '0'), ('a', 'MULTI')] + [('a', *c) for c in timeless(queued)]
    steps += [('a', 'EXEC'), ('a', 'SELECT', '0'), ('a', 'DBSIZE')]
    run_steps(addrs, steps)


# keys in different shards of cachecyt (64 by default): WATCH of an absent key
# may fail spuriously when another key of its shard is created and deleted
WATCH_KEYS = [b'a', b'b', b'c']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup=st.lists(st.tuples(st.sampled_from(['SET', 'DEL', 'INCR', 'EXPIRE']),
                                st.sampled_from(WATCH_KEYS)), max_size=3),
       watched=st.lists(st.sampled_from(WATCH_KEYS), min_size=1, max_size=3),
       meddle=st.lists(st.tuples(st.sampled_from(['a', 'b']),
                                 st.sampled_from(['SET', 'DEL', 'INCR', 'GET', 'EXPIRE',
                                                  'PERSIST', 'FLUSHALL', 'UNWATCH'])),
                       max_size=3),
       target=st.sampled_from(WATCH_KEYS))
def test_random_watch(addrs, setup, watched, meddle, target):
    """WATCH, other commands by this or another client, then MULTI/EXEC: the
    transaction runs or is refused exactly as in Redis."""
    def command(name, key):
        if name == 'SET':
            return (name, key, '5')
        if name == 'EXPIRE':
            return (name, key, '1000')
        if name in ('FLUSHALL', 'UNWATCH'):
            return (name,)
        return (name, key)
    steps = [('b', *command(n, k)) for n, k in setup]
    steps += [('a', 'WATCH', *watched)]
    steps += [(who, *command(n, target)) for who, n in meddle]
    steps += [('a', 'MULTI'), ('a', 'INCR', target), ('a', 'EXEC'), ('a', 'MGET', *WATCH_KEYS)]
    run_steps(addrs, steps)


def test_key_positions_match_redis(addrs):
    """EXEC holds the shards of the keys the command table names: its key
    positions (and movablekeys) must agree with Redis's for every command both
    servers know."""
    ours_r, ref_r = redis.Redis(*addrs[0]), redis.Redis(*addrs[1])
    try:
        mine, theirs = ours_r.command(), ref_r.command()
    finally:
        ours_r.close()
        ref_r.close()
    wrong = []
    for name, info in mine.items():
        if name not in theirs:
            continue
        want = theirs[name]
        if want.get('subcommands'):
            # a container (OBJECT, MEMORY): Redis puts the key positions on its
            # subcommands; ours are those of the subcommands that take a key
            subs = {(x[3], x[4], x[5]) for x in want['subcommands'] if x[3]}
            assert len(subs) <= 1 and (info['first_key_pos'], info['last_key_pos'],
                                       info['step_count']) in subs | {(0, 0, 0)}, name
            continue
        got_keys = (info['first_key_pos'], info['last_key_pos'], info['step_count'])
        want_keys = (want['first_key_pos'], want['last_key_pos'], want['step_count'])
        got_mov = 'movablekeys' in info['flags']
        want_mov = 'movablekeys' in want['flags']
        if got_keys != want_keys or got_mov != want_mov:
            wrong.append((name, got_keys, got_mov, want_keys, want_mov))
    assert wrong == []


# keys of distinct shards on cachecyt (see WATCH_KEYS); no SWAPDB: an absent
# watched key swapped in and out again is a documented difference (ADR 6)
K = st.sampled_from(['a', 'b', 'c', '{a}'])
TX_STEP = st.one_of(
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ('WATCH', *ks)),
    st.sampled_from([('UNWATCH',), ('MULTI',), ('MULTI',), ('EXEC',), ('EXEC',), ('DISCARD',),
                     ('FLUSHALL',), ('SELECT', '0'), ('SELECT', '1'), ('BOGUS',), ('EXEC', 'x')]),
    st.tuples(st.sampled_from(['SET', 'INCR', 'DEL', 'GET', 'PERSIST', 'LPUSH', 'APPEND']), K).map(
        lambda t: (t[0], t[1], 'x') if t[0] in ('SET', 'LPUSH', 'APPEND') else t),
    st.tuples(K, K).map(lambda t: ('RENAME', *t)),
    st.tuples(K, K).map(lambda t: ('MSET', t[0], '1', t[1], '2')),
    K.map(lambda k: ('EXPIRE', k, '1000')),
    K.map(lambda k: ('SET', k)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(['a', 'b']), TX_STEP), min_size=1, max_size=30))
def test_random_interleaved_transactions(addrs, steps):
    """Two clients interleaving WATCH, MULTI, EXEC, DISCARD and writes on the same
    keys: every reply, null EXECs included, as in Redis."""
    run_steps(addrs, [(who, *cmd) for who, cmd in steps] + [('a', 'SELECT', '0'),
                                                             ('a', 'MGET', 'a', 'b', 'c', '{a}')])


def used_memory(conn):
    info = conn.call('INFO', 'memory')
    return int(info.split(b'used_memory:')[1].split(b'\r\n')[0])


def test_transaction_crossing_maxmemory_runs_to_its_end(addrs):
    """maxmemory is checked when EXEC starts, not for each command inside it:
    a transaction whose first write crosses the limit still runs its others."""
    pairs = [[RawConn(a) for a in addrs] for _ in range(2)]
    try:
        for c, admin in zip(*pairs):
            c.call('FLUSHALL')
            admin.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
            admin.call('CONFIG', 'SET', 'maxmemory', str(used_memory(admin) + 100000))
        replies = []
        for c, admin in zip(*pairs):
            # SETRANGE makes a 300 KB value from small arguments (Redis counts the
            # memory of queued arguments; this keeps the queue small)
            steps = [('MULTI',), ('SETRANGE', 'big', '300000', 'x'), ('SET', 'small', '1'),
                     ('GET', 'small'), ('EXEC',), ('SET', 'after', '1')]
            replies.append([c.call(*s) for s in steps])
        assert replies[0] == replies[1]
        assert replies[0][4] == b'*3\r\n:300001\r\n+OK\r\n$1\r\n1\r\n'
        assert replies[0][5].startswith(b'-OOM ')
    finally:
        for admin in pairs[1]:
            admin.call('CONFIG', 'SET', 'maxmemory', '0')
        for c in pairs[0] + pairs[1]:
            c.close()


@pytest.mark.parametrize('args', [
    ('eval', 'x', '2', 'a', 'b', 'c'), ('eval', 'x', '0'), ('eval', 'x', '5', 'a'),
    ('eval', 'x', 'abc', 'a'), ('fcall', 'f', '1', 'k', 'a'), ('evalsha_ro', 'x', '1', 'k'),
    ('zunionstore', 'd', '2', 'a', 'b', 'weights', '1', '2'), ('zunionstore', 'd', '0', 'a'),
    ('zunion', '2', 'a', 'b'), ('lmpop', '2', 'a', 'b', 'left'), ('blmpop', '0', '2', 'a', 'b', 'left'),
    ('sintercard', '2', 'a', 'b'), ('zmpop', '1', 'z', 'min'), ('zintercard', '3', 'a', 'b'),
])
def test_command_getkeys_of_numkeys_commands(server, redis_ref, args):
    """COMMAND GETKEYS finds the keys of commands that name them by a count."""
    from rawclient import Raw
    got = []
    for addr in (server, redis_ref):
        c = Raw(addr)
        try:
            got.append(c.call('COMMAND', 'GETKEYS', *args))
        finally:
            c.close()
    assert got[0] == got[1]
