"""Big hashes and sets resize by draining: a doubling (or halving) makes the new
table and moves the old one's entries a few runs per insert or delete, so no
command moves the whole table; every element stays readable, scannable and
countable while both tables are in use. The invariant walk after each test
checks both tables and the drained part of the old one."""
from cachecyt import _core
from rawclient import decode


def fill(client, key, n, start=0, cmd=b'HSET'):
    for i in range(start, start + n):
        args = [cmd, key, b'f%d' % i] + ([b'v%d' % i] if cmd == b'HSET' else [])
        client.call(args)


def grow_until_draining(client, key, cmd=b'HSET'):
    """Insert until a resize is under way; returns the number inserted."""
    n = 0
    while True:
        fill(client, key, 1, n, cmd)
        n += 1
        state = _core._test_dict_state(key)
        if state and state[2]:
            return n


def test_growth_drains_a_little_per_insert(client):
    n = grow_until_draining(client, b'h')
    count, slots, old_count, old_slots, blocks = _core._test_dict_state(b'h')
    assert slots == 2 * old_slots and old_slots >= 8192
    assert count == n and old_count > n // 2          # most entries still to move
    assert blocks < slots // 4096                    # blocks come on first use
    left = [old_count]
    while left[-1]:
        fill(client, b'h', 1, n)
        n += 1
        left.append(_core._test_dict_state(b'h')[2])
    steps = [a - b for a, b in zip(left, left[1:])]
    assert max(steps) < 200                          # a few runs, never the whole table
    assert len(left) > 50
    assert client.call([b'HLEN', b'h']) == b':%d\r\n' % n


def test_reads_writes_and_scans_while_draining(client):
    n = grow_until_draining(client, b'h')
    assert _core._test_dict_state(b'h')[2]
    for i in range(0, n, 97):                        # every element readable, from either table
        assert client.call([b'HGET', b'h', b'f%d' % i]) == b'$%d\r\nv%d\r\n' % (len(b'v%d' % i), i)
    assert client.call([b'HSET', b'h', b'f1', b'new']) == b':0\r\n'
    assert client.call([b'HGET', b'h', b'f1']) == b'$3\r\nnew\r\n'
    assert client.call([b'HDEL', b'h', b'f2', b'f3']) == b':2\r\n'
    assert _core._test_dict_state(b'h')[2]           # still draining: the scan sees both tables
    seen, cursor = set(), b'0'
    while True:
        reply = decode(client.call([b'HSCAN', b'h', cursor, b'COUNT', b'500']))
        cursor, items = reply
        seen.update(items[0::2])
        if cursor == b'0':
            break
    assert seen == {b'f%d' % i for i in range(n)} - {b'f2', b'f3'}
    assert len(decode(client.call([b'HRANDFIELD', b'h', b'50']))) == 50
    assert len(decode(client.call([b'HGETALL', b'h']))) == 2 * (n - 2)
    assert client.call([b'COPY', b'h', b'h2']) == b':1\r\n'
    assert client.call([b'HLEN', b'h2']) == b':%d\r\n' % (n - 2)


def test_set_shrinks_by_draining(client):
    n = grow_until_draining(client, b's', cmd=b'SADD')
    while _core._test_dict_state(b's')[2]:
        fill(client, b's', 1, n, cmd=b'SADD')
        n += 1
    slots = _core._test_dict_state(b's')[1]
    i = 0
    while not _core._test_dict_state(b's')[2]:       # delete until a halving starts
        assert client.call([b'SREM', b's', b'f%d' % i]) == b':1\r\n'
        i += 1
    count, new_slots, old_count, old_slots, _ = _core._test_dict_state(b's')
    assert old_slots == slots and new_slots == slots // 2
    members = set(decode(client.call([b'SMEMBERS', b's'])))
    assert members == {b'f%d' % j for j in range(i, n)}
    popped = decode(client.call([b'SPOP', b's', b'10']))
    assert len(set(popped)) == 10 and set(popped) <= members
    assert client.call([b'SCARD', b's']) == b':%d\r\n' % (n - i - 10)
    assert client.call([b'DEL', b's']) == b':1\r\n'   # frees both tables (checked by the walk)


def test_zset_member_index_drains_too(client):
    """A big sorted set's member index is a dict of skiplist nodes: it resizes
    by draining, and ZSCORE, ZREM, ZSCAN and ranks stay right meanwhile."""
    n = 0
    while True:
        client.call([b'ZADD', b'z', b'%d' % n, b'm%d' % n])
        n += 1
        state = _core._test_dict_state(b'z')
        if state and state[2]:
            break
    assert state[1] == 2 * state[3] and state[2] > n // 2
    for i in range(0, n, 89):
        assert client.call([b'ZSCORE', b'z', b'm%d' % i]) == b'$%d\r\n%d\r\n' % (len(b'%d' % i), i)
    assert client.call([b'ZREM', b'z', b'm0', b'm1']) == b':2\r\n'
    assert client.call([b'ZRANK', b'z', b'm2']) == b':0\r\n'
    assert _core._test_dict_state(b'z')[2]
    seen, cursor = set(), b'0'
    while True:
        cursor, items = decode(client.call([b'ZSCAN', b'z', cursor, b'COUNT', b'300']))
        seen.update(items[0::2])
        if cursor == b'0':
            break
    assert seen == {b'm%d' % i for i in range(2, n)}
    while _core._test_dict_state(b'z')[2]:
        client.call([b'ZADD', b'z', b'%d' % n, b'm%d' % n])
        n += 1
    assert client.call([b'ZCARD', b'z']) == b':%d\r\n' % (n - 2)
    assert client.call([b'ZRANGE', b'z', b'-1', b'-1']) == b'*1\r\n$%d\r\nm%d\r\n' % (len(b'm%d' % (n - 1)), n - 1)
    assert client.call([b'ZREMRANGEBYRANK', b'z', b'0', b'-1']) == b':%d\r\n' % (n - 2)
