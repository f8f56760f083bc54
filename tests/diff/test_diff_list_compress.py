"""Differential test of lists with packed inner nodes: random list command
sequences against cachecyt and a real redis-server, both set to
list-compress-depth 1 or 2 and small nodes (list-max-listpack-size 4), so that
most nodes are inner ones and every command crosses packed nodes. Elements are
mostly long and repetitive (they pack) with some short and random ones."""
import pytest
from diff.rawresp import RawConn
from diff.test_diff_list import commands
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEED = st.lists(st.one_of(st.integers(0, 99).map(lambda i: b'item %d of a list that packs well, item' % i),
                          st.binary(max_size=8)), min_size=20, max_size=120)


@pytest.fixture(scope='module', params=[1, 2])
def addrs(request, server, redis_ref):
    conns = [RawConn(server), RawConn(redis_ref)]
    for conn in conns:
        assert conn.call('CONFIG', 'SET', 'list-compress-depth', str(request.param)) == b'+OK\r\n'
        assert conn.call('CONFIG', 'SET', 'list-max-listpack-size', '4') == b'+OK\r\n'
    yield server, redis_ref
    for conn in conns:
        conn.call('CONFIG', 'SET', 'list-compress-depth', '0')
        conn.call('CONFIG', 'SET', 'list-max-listpack-size', '-2')
        conn.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds=st.tuples(SEED, SEED), sequence=st.lists(commands(), min_size=1, max_size=25))
def test_packed_lists_same_replies_as_redis(addrs, seeds, sequence):
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            assert conn.call('FLUSHALL') == b'+OK\r\n'
            assert conn.call('RPUSH', 'la', *seeds[0]) == b':%d\r\n' % len(seeds[0])
            assert conn.call('LPUSH', 'lb', *seeds[1]) == b':%d\r\n' % len(seeds[1])
        sequence = sequence + [[b'LRANGE', b'la', b'0', b'-1'], [b'LRANGE', b'lb', b'0', b'-1'],
                               [b'LRANGE', b'lc', b'0', b'-1']]
        for i, args in enumerate(sequence):
            got, want = ours.call(*args), ref.call(*args)
            assert got == want, (f"step {i}: {args!r}\n  cachecyt: {got[:300]!r}\n"
                                 f"  redis:    {want[:300]!r}\n  sequence: {sequence[:i + 1]!r}")
