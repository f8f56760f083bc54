"""Differential test: random sequences of string and keyspace commands run on
cachecyt and on a real redis-server must get the same reply bytes, errors
included, in RESP2 and (after HELLO 3) in RESP3. Only replies that depend on the
clock (TTL, PTTL, EXPIRETIME, PEXPIRETIME) may differ, by a small tolerance.
Between examples, FLUSHALL must bring cachecyt's used_memory back to empty."""
import re

from diff.rawresp import RawConn
from diff.strategies import TIME_TOLERANCE, commands
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def reset(conn):
    assert conn.call('SELECT', '0') == b'+OK\r\n'
    assert conn.call('FLUSHALL') == b'+OK\r\n'


EMPTY_MEMORY = {}      # server address -> used_memory of its empty keyspace


def check_memory_given_back(conn, addr):
    """After FLUSHALL cachecyt's shared memory use is what it was when empty: every
    command of the examples before gave back what it took."""
    info = conn.call('INFO', 'memory')
    used = int(re.search(rb'used_memory:(\d+)', info).group(1))
    assert used == EMPTY_MEMORY.setdefault(addr, used)


def same_reply(args, ours, ref):
    tolerance = TIME_TOLERANCE.get(args[0].lower())
    if tolerance is not None and ours[:1] == ref[:1] == b':':
        a, b = int(ours[1:-2]), int(ref[1:-2])
        if a < 0 or b < 0:
            return a == b
        return abs(a - b) <= tolerance
    return ours == ref


def run_sequence(addrs, sequence, protocol=2):
    """Fresh connections per sequence: a failure cannot leak into the next one."""
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            if protocol == 3:
                assert conn.call('HELLO', '3').startswith(b'%')
            reset(conn)
        check_memory_given_back(ours, addrs[0])
        for i, args in enumerate(sequence):
            compare(ours, ref, i, args, sequence)


def compare(ours, ref, i, args, sequence):
    try:
        got = ours.call(*args)
    except ConnectionError as e:
        raise AssertionError(f"step {i}: {args!r}: cachecyt closed the connection: {e}"
                             f"\n  sequence: {sequence[:i + 1]!r}")
    want = ref.call(*args)
    assert same_reply(args, got, want), (
        f"step {i}: {args!r}\n  cachecyt: {got!r}\n  redis:    {want!r}\n"
        f"  sequence: {sequence[:i + 1]!r}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25))
def test_same_replies_as_redis(addrs, sequence):
    run_sequence(addrs, sequence)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(commands(), min_size=1, max_size=25))
def test_same_replies_as_redis_resp3(addrs, sequence):
    run_sequence(addrs, sequence, protocol=3)


def run_interleaved(addrs, steps, nconn=3):
    """Steps (connection index, command) over nconn connections per server: the
    connections land on different workers, so SELECT, SWAPDB and FLUSHALL state
    must be shared (or kept per connection) exactly as in Redis."""
    ours = [RawConn(addrs[0]) for _ in range(nconn)]
    ref = [RawConn(addrs[1]) for _ in range(nconn)]
    try:
        reset(ours[0])
        reset(ref[0])
        check_memory_given_back(ours[0], addrs[0])
        for i, (n, args) in enumerate(steps):
            compare(ours[n], ref[n], i, args, steps)
    finally:
        for c in ours + ref:
            c.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 2), commands()), min_size=1, max_size=30))
def test_same_replies_as_redis_across_connections(addrs, steps):
    run_interleaved(addrs, steps)
