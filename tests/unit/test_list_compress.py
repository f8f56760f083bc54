"""List compression (list-compress-depth): the packer round-trips any bytes,
lists with packed inner nodes answer every command as a plain Python list
would under random operations (the invariant walk unpacks every packed node),
compressible lists take less memory and give it all back, and CONFIG SET of
the depth acts on later writes only."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachecyt import _core

from conftest import assert_core_sound


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def bulk_list(reply):
    """The elements of a RESP2 array of bulk strings."""
    assert reply.startswith(b'*')
    head, _, rest = reply.partition(b'\r\n')
    out = []
    for _ in range(int(head[1:])):
        n, _, rest = rest.partition(b'\r\n')
        out.append(rest[:int(n[1:])])
        rest = rest[int(n[1:]) + 2:]
    return out


def usage(client, key):
    return int(call(client, 'MEMORY', 'USAGE', key)[1:-2])


def used_memory(client):
    info = call(client, 'INFO', 'memory').decode()
    return int(info.split('used_memory:')[1].split('\r\n')[0])


@given(st.one_of(st.binary(max_size=3000),
                 st.lists(st.sampled_from([b'ab', b'abc', b'\x00', b'hello ', b'zz' * 40]),
                          max_size=400).map(b''.join)))
@settings(max_examples=300, deadline=None)
def test_packer_round_trips(data):
    packed, back = _core._test_lz_roundtrip(data)
    if packed:
        assert back == data
        assert packed <= len(data) + 16


def test_packer_shrinks_repetitive_data():
    data = b''.join(b'user:%06d:session-token\n' % i for i in range(1000))
    packed, back = _core._test_lz_roundtrip(data)
    assert back == data and packed < len(data) // 3


ELEM = st.one_of(st.sampled_from([b'a', b'', b'x' * 70, b'y' * 300, b'the same words again ' * 3]),
                 st.integers(0, 60).map(lambda i: b'item-%d-abcabcabcabcabc' % i),
                 st.binary(max_size=40))
IDX = st.integers(-30, 30)
OPS = st.one_of(
    st.tuples(st.sampled_from(['LPUSH', 'RPUSH']), st.lists(ELEM, min_size=1, max_size=20)),
    st.tuples(st.sampled_from(['LPOP', 'RPOP']), st.integers(1, 25)),
    st.tuples(st.just('LSET'), IDX, ELEM),
    st.tuples(st.just('LINSERT'), st.booleans(), ELEM, ELEM),
    st.tuples(st.just('LREM'), st.integers(-3, 3), ELEM),
    st.tuples(st.just('LTRIM'), IDX, IDX),
    st.tuples(st.just('LMOVE'), st.booleans(), st.booleans()),
    st.tuples(st.just('DEPTH'), st.integers(0, 3)),
)


def model_step(model, op):
    """Apply op to the Python list; the expected reply as a comparable value."""
    name = op[0]
    if name in ('LPUSH', 'RPUSH'):
        for e in op[1]:
            if name == 'LPUSH':
                model.insert(0, e)
            else:
                model.append(e)
        return len(model)
    if name in ('LPOP', 'RPOP'):
        n = min(op[1], len(model))
        got = model[:n] if name == 'LPOP' else model[::-1][:n]
        model[:] = model[n:] if name == 'LPOP' else model[:len(model) - n]
        return got
    if name == 'LSET':
        i = op[1] + len(model) if op[1] < 0 else op[1]
        if 0 <= i < len(model):
            model[i] = op[2]
            return True
        return False
    if name == 'LINSERT':
        if op[2] not in model:
            return -1 if model else 0
        model.insert(model.index(op[2]) + (1 if op[1] else 0), op[3])
        return len(model)
    if name == 'LREM':
        count, e, removed = op[1], op[2], 0
        order = range(len(model)) if count >= 0 else range(len(model) - 1, -1, -1)
        keep = [True] * len(model)
        for i in order:
            if model[i] == e and (count == 0 or removed < abs(count)):
                keep[i] = False
                removed += 1
        model[:] = [x for x, k in zip(model, keep) if k]
        return removed
    if name == 'LTRIM':
        n = len(model)
        start, stop = (op[1] + n if op[1] < 0 else op[1]), (op[2] + n if op[2] < 0 else op[2])
        start = max(start, 0)
        model[:] = model[start:stop + 1] if 0 <= stop and start <= stop else []
        return True
    return None


def run_op(client, op):
    name = op[0]
    if name in ('LPUSH', 'RPUSH'):
        return int(call(client, name, 'l', *op[1])[1:-2])
    if name in ('LPOP', 'RPOP'):
        reply = call(client, name, 'l', op[1])
        return [] if reply == b'*-1\r\n' else bulk_list(reply)
    if name == 'LSET':
        return call(client, 'LSET', 'l', op[1], op[2]) == b'+OK\r\n'
    if name == 'LINSERT':
        return int(call(client, 'LINSERT', 'l', 'AFTER' if op[1] else 'BEFORE', op[2], op[3])[1:-2])
    if name == 'LREM':
        return int(call(client, 'LREM', 'l', op[1], op[2])[1:-2])
    if name == 'LTRIM':
        return call(client, 'LTRIM', 'l', op[1], op[2]) == b'+OK\r\n'
    return None


@pytest.mark.parametrize('fill', [4, -1])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.lists(ELEM, min_size=0, max_size=200), ops=st.lists(OPS, max_size=30),
       depth=st.integers(1, 2))
def test_packed_lists_behave_as_python_lists(client, fill, start, ops, depth):
    call(client, 'FLUSHALL')
    call(client, 'CONFIG', 'SET', 'list-max-listpack-size', fill)
    call(client, 'CONFIG', 'SET', 'list-compress-depth', depth)
    model = list(start)
    if start:
        call(client, 'RPUSH', 'l', *start)
    for op in ops:
        if op[0] == 'DEPTH':
            call(client, 'CONFIG', 'SET', 'list-compress-depth', op[1])
            continue
        if op[0] == 'LMOVE':
            reply = call(client, 'LMOVE', 'l', 'l', 'LEFT' if op[1] else 'RIGHT', 'LEFT' if op[2] else 'RIGHT')
            if model:
                e = model.pop(0) if op[1] else model.pop()
                if op[2]:
                    model.insert(0, e)
                else:
                    model.append(e)
                assert reply == b'$%d\r\n%s\r\n' % (len(e), e)
            continue
        assert run_op(client, op) == model_step(model, op), op
        assert bulk_list(call(client, 'LRANGE', 'l', 0, -1)) == model
    for i in (0, len(model) // 2, -1):
        want = model[i] if model else None
        assert call(client, 'LINDEX', 'l', i) == (b'$-1\r\n' if want is None else b'$%d\r\n%s\r\n' % (len(want), want))
    assert_core_sound()


def fill_list(client, key, n):
    for i in range(0, n, 500):
        call(client, 'RPUSH', key, *[b'user:%06d:session-token-for-the-web-frontend' % j for j in range(i, i + 500)])


def test_compressible_list_takes_less_memory_and_gives_it_back(client):
    base = used_memory(client)
    fill_list(client, 'raw', 20000)
    call(client, 'CONFIG', 'SET', 'list-compress-depth', 1)
    fill_list(client, 'packed', 20000)
    raw, packed = usage(client, 'raw'), usage(client, 'packed')
    assert packed < raw // 2, (raw, packed)
    assert call(client, 'LRANGE', 'raw', 0, -1) == call(client, 'LRANGE', 'packed', 0, -1)
    assert call(client, 'LINDEX', 'packed', 12345) == call(client, 'LINDEX', 'raw', 12345)
    assert call(client, 'COPY', 'packed', 'copy') == b':1\r\n'
    assert usage(client, 'copy') <= packed           # copies drop the slack of the raw ends
    assert_core_sound()
    call(client, 'DEL', 'raw', 'packed', 'copy')
    assert used_memory(client) == base


def test_incompressible_nodes_stay_raw(client):
    import random
    rnd = random.Random(7)
    call(client, 'CONFIG', 'SET', 'list-compress-depth', 1)
    elems = [rnd.randbytes(64) for _ in range(2000)]
    call(client, 'RPUSH', 'l', *elems)
    call(client, 'CONFIG', 'SET', 'list-compress-depth', 0)
    call(client, 'RPUSH', 'm', *elems)
    assert usage(client, 'l') == usage(client, 'm')
    assert bulk_list(call(client, 'LRANGE', 'l', 0, -1)) == elems


def test_depth_set_at_run_time_acts_on_later_writes(client):
    fill_list(client, 'l', 20000)
    before = usage(client, 'l')
    call(client, 'CONFIG', 'SET', 'list-compress-depth', 2)
    assert usage(client, 'l') == before               # nothing rewritten by the CONFIG SET
    call(client, 'RPUSH', 'l', 'tail')
    assert usage(client, "l") < before                # the node that left the end got packed
    call(client, 'LSET', 'l', 10000, 'middle')        # a write in the middle settles the inner nodes
    assert usage(client, 'l') < before // 2
    call(client, 'CONFIG', 'SET', 'list-compress-depth', 0)
    call(client, 'LPUSH', 'l', 'head')
    assert call(client, 'LINDEX', 'l', 10001) == b'$6\r\nmiddle\r\n'
    assert call(client, 'LLEN', 'l') == b':20002\r\n'
    assert_core_sound()
