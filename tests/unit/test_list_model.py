"""Lists against a Python list model under every kind of node size: random
pushes, pops, inserts, sets, removals and trims, with big and empty elements;
after each step the whole list reads back as the model, and the invariant walk
(nodes, links, counts, reachable chunks) holds at the end."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachecyt import _core

ELEM = st.one_of(st.sampled_from([b'', b'a', b'b', b'x' * 3000, b'y' * 70000, b'z' * 300]),
                 st.binary(max_size=5))
OPS = st.one_of(
    st.tuples(st.sampled_from(['LPUSH', 'RPUSH']), st.lists(ELEM, min_size=1, max_size=6)),
    st.tuples(st.sampled_from(['LPOP', 'RPOP']), st.integers(0, 5)),
    st.tuples(st.just('LINSERT'), st.integers(-3, 40), ELEM, st.booleans()),
    st.tuples(st.just('LSET'), st.integers(-40, 40), ELEM),
    st.tuples(st.just('LREM'), st.integers(-2, 2), ELEM),
    st.tuples(st.just('LTRIM'), st.integers(-10, 10), st.integers(-10, 40)),
)


def apply(client, model, op):
    name = op[0]
    if name in ('LPUSH', 'RPUSH'):
        client.call([name.encode(), b'l'] + op[1])
        for e in op[1]:
            model.insert(0, e) if name == 'LPUSH' else model.append(e)
    elif name in ('LPOP', 'RPOP'):
        client.call([name.encode(), b'l', b'%d' % op[1]])
        for _ in range(min(op[1], len(model))):
            model.pop(0 if name == 'LPOP' else -1)
    elif name == 'LINSERT' and model:
        pivot = model[op[1] % len(model)]
        where = b'AFTER' if op[3] else b'BEFORE'
        client.call([b'LINSERT', b'l', where, pivot, op[2]])
        i = model.index(pivot)
        model.insert(i + 1 if op[3] else i, op[2])
    elif name == 'LSET' and -len(model) <= op[1] < len(model):
        client.call([b'LSET', b'l', b'%d' % op[1], op[2]])
        model[op[1]] = op[2]
    elif name == 'LREM':
        client.call([b'LREM', b'l', b'%d' % op[1], op[2]])
        k = abs(op[1]) or len(model)
        idx = [i for i, e in enumerate(model) if e == op[2]]
        drop = set(idx[:k] if op[1] >= 0 else idx[::-1][:k])
        model[:] = [e for i, e in enumerate(model) if i not in drop]
    elif name == 'LTRIM':
        client.call([b'LTRIM', b'l', b'%d' % op[1], b'%d' % op[2]])
        n = len(model)
        s, e = op[1] + n if op[1] < 0 else op[1], op[2] + n if op[2] < 0 else op[2]
        s = max(s, 0)
        model[:] = [] if s > e or s >= n else model[s:min(e, n - 1) + 1]


def encode_array(items):
    return b'*%d\r\n' % len(items) + b''.join(b'$%d\r\n%s\r\n' % (len(x), x) for x in items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(fill=st.sampled_from([-1, -2, -5, 1, 2, 7]), ops=st.lists(OPS, max_size=30))
def test_lists_behave_as_python_lists(client, fill, ops):
    client.call([b'FLUSHALL'])
    client.call([b'CONFIG', b'SET', b'list-max-listpack-size', b'%d' % fill])
    model = []
    for op in ops:
        apply(client, model, op)
        assert client.call([b'LRANGE', b'l', b'0', b'-1']) == encode_array(model), op
        assert client.call([b'LLEN', b'l']) == b':%d\r\n' % len(model)
    report = _core._test_check_invariants()
    assert report['errors'] == [] and report['leaked_chunks'] == 0, report
