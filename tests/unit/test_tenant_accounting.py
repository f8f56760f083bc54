"""Tenant accounting in the core (shm/tenantmem.pxi, shm/tenants.pxi): the
allocator's bytes of a tenant's commands are charged to it and come back to
it however the keys go (DEL, UNLINK, expiry, an admin's FLUSHALL, eviction);
the gate's quotas; the hidden db is the tenant client's whole keyspace."""
import os
import uuid

import pytest

from cachecyt import _core, config
from cachecyt.commands import registry, server
from tests.unit.conftest import assert_core_sound


@pytest.fixture
def tcore():
    name = f"/cachecyt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    shape = {'shards': 8, 'databases': 16, 'pages': 256, 'tenants': 2,
             'settings': config.header_settings(config.Config())}
    seg = _core.Segment.create(name, shape, b'{}')
    seg.activate(0)
    _core.init_shards()
    registry.install()
    server.NODE = server.Node()
    yield seg
    try:
        _core.lazyfree_wait()
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


def define(t, name, **quotas):
    q = {'maxmemory': 0, 'maxkeys': 0, 'maxops': 0, 'maxconns': 0, **quotas}
    _core.tenant_define(t, name, [], q['maxmemory'], q['maxkeys'], q['maxops'], q['maxconns'],
                        quotas.get('policy'))


def member(t, name):
    c = _core.Client()
    c.call([b'PING'])                  # bound to the default user first, as a connection is
    _core.tenant_bind_client(c, t, b"\x00" + name.encode() + b"\x00")
    return c


def used(t):
    return _core.tenant_get(t)['used']


def test_segment_has_hidden_dbs(tcore):
    assert _core.tenant_slots() == (2, 16)
    assert tcore.header()['ndbs'] == 18


def test_charge_balances_over_types(tcore):
    define(0, 'a')
    c = member(0, 'a')
    before = tcore.header()['used_memory']
    c.call([b'SET', b's', b'x' * 200000])                 # extents
    c.call([b'HSET', b'h'] + [x for i in range(300) for x in (b'f%d' % i, b'v%d' % i)])
    c.call([b'RPUSH', b'l'] + [b'item%d' % i for i in range(2000)])
    c.call([b'SADD', b'st'] + [b'%d' % i for i in range(600)])
    c.call([b'ZADD', b'z'] + [x for i in range(300) for x in (b'%d' % i, b'm%d' % i)])
    grown = tcore.header()['used_memory'] - before
    assert used(0) == grown > 200000                       # every byte of these commands
    assert c.call([b'DEL', b's', b'h', b'l', b'st', b'z']) == b':5\r\n'
    assert used(0) == 0


def test_frees_outside_the_tenant_go_back_to_it(tcore):
    define(0, 'a')
    c = member(0, 'a')
    admin = _core.Client()
    c.call([b'SET', b'k1', b'v' * 5000])
    c.call([b'RPUSH', b'big'] + [b'x' * 100] * 1000)
    assert used(0) > 0
    assert admin.call([b'DBSIZE']) == b':0\r\n'            # not in the admin's db
    c.call([b'UNLINK', b'big'])
    _core.lazyfree_wait()
    c.call([b'SET', b'k2', b'v', b'PX', b'1'])
    assert admin.call([b'FLUSHALL']) == b'+OK\r\n'         # the admin's FLUSHALL frees them
    assert used(0) == 0
    assert c.call([b'DBSIZE']) == b':0\r\n'


def test_other_tenant_not_charged(tcore):
    define(0, 'a')
    define(1, 'b')
    a, b = member(0, 'a'), member(1, 'b')
    a.call([b'SET', b'k', b'v' * 1000])
    assert used(1) == 0 and used(0) > 1000
    assert b.call([b'GET', b'k']) == b'$-1\r\n'
    b.call([b'SET', b'k', b'w'])
    assert a.call([b'GET', b'k']).endswith(b'v' * 1000 + b'\r\n')


def test_key_quota_and_existing_key(tcore):
    define(0, 'a', maxkeys=2)
    c = member(0, 'a')
    c.call([b'SET', b'k1', b'1'])
    c.call([b'SET', b'k2', b'2'])
    assert c.call([b'SET', b'k3', b'3']) == b"-ERR tenant 'a' over its key quota\r\n"
    assert c.call([b'SET', b'k1', b'again']) == b'+OK\r\n'
    assert c.call([b'DEL', b'k2']) == b':1\r\n'
    assert c.call([b'SET', b'k3', b'3']) == b'+OK\r\n'
    assert _core.tenant_get(0)['rej_keys'] == 1


def test_memory_quota_noeviction_and_lru(tcore):
    define(0, 'a', maxmemory=50000)
    c = member(0, 'a')
    replies = [c.call([b'SET', b'k%d' % i, b'x' * 1000]) for i in range(100)]
    assert b"-OOM tenant 'a' over its memory quota\r\n" in replies
    assert c.call([b'GET', b'k0']).startswith(b'$1000')
    define(0, 'a', maxmemory=50000, policy=config.POLICIES.index('allkeys-lru'))
    for i in range(100, 200):
        assert c.call([b'SET', b'k%d' % i, b'x' * 1000]) == b'+OK\r\n'
    d = _core.tenant_get(0)
    assert d['evicted'] > 0 and d['used'] <= 50000 + 2000
    assert c.call([b'EXISTS', b'k199']) == b':1\r\n'


def test_ops_bucket(tcore):
    define(0, 'a', maxops=5)
    c = member(0, 'a')
    replies = [c.call([b'PING']) for _ in range(8)]
    assert replies[:5] == [b'+PONG\r\n'] * 5
    assert replies[5].startswith(b"-ERR tenant 'a' over its ops/s quota, retry in ")
    assert _core.tenant_get(0)['rej_ops'] == 3


def test_connection_quota(tcore):
    define(0, 'a', maxconns=1)
    member(0, 'a')
    with pytest.raises(_core.CommandError, match="over its connection quota"):
        member(0, 'a')
    assert _core.tenant_get(0)['conns'] == 1


def test_deleted_tenant_refuses_and_flushes(tcore):
    define(0, 'a')
    c = member(0, 'a')
    c.call([b'SET', b'k', b'v'])
    _core.tenant_release(0)
    assert c.call([b'GET', b'k']) == b'-ERR the tenant of this connection was deleted\r\n'
    assert _core.tenant_get(0) is None


def test_key_quota_reserves_every_key_a_command_names(tcore):
    define(0, 'a', maxkeys=3)
    c = member(0, 'a')
    assert c.call([b'MSET', b'k1', b'1', b'k2', b'2']) == b'+OK\r\n'
    # two new keys, room for one: refused whole, nothing written
    assert c.call([b'MSET', b'k3', b'3', b'k4', b'4']) == b"-ERR tenant 'a' over its key quota\r\n"
    assert c.call([b'EXISTS', b'k3', b'k4']) == b':0\r\n'
    # one new key and one existing: fits
    assert c.call([b'MSET', b'k1', b'x', b'k3', b'3']) == b'+OK\r\n'
    # at the quota, writes to existing keys only still run
    assert c.call([b'MSET', b'k1', b'y', b'k2', b'z']) == b'+OK\r\n'
    assert c.call([b'APPEND', b'k4', b'new']) == b"-ERR tenant 'a' over its key quota\r\n"
    d = _core.tenant_get(0)
    assert (d['keys'], d['reserved'], d['rej_keys']) == (3, 0, 2)


def test_key_quota_smove_destination(tcore):
    define(0, 'a', maxkeys=2)
    c = member(0, 'a')
    c.call([b'SADD', b's', b'm1', b'm2'])
    c.call([b'SET', b'x', b'1'])
    assert c.call([b'SMOVE', b's', b'd', b'm1']) == b"-ERR tenant 'a' over its key quota\r\n"
    assert c.call([b'SMEMBERS', b's']).count(b'$2') == 2        # nothing moved
    c.call([b'DEL', b'x'])
    assert c.call([b'SMOVE', b's', b'd', b'm1']) == b':1\r\n'
    assert _core.tenant_get(0)['keys'] == 2


def test_key_quota_reservation_given_back_on_every_path(tcore):
    define(0, 'a', maxkeys=10)
    c = member(0, 'a')
    c.call([b'SET', b'k', b'v'])
    c.call([b'SET', b'k', b'w'])                                 # existing key: unused reservation
    c.call([b'RPUSH', b'k', b'x'])                               # WRONGTYPE
    c.call([b'MSET', b'a', b'1', b'b'])                          # arity error inside the handler
    c.call([b'SETNX', b'k', b'z'])
    c.call([b'MULTI'])
    c.call([b'SET', b'm', b'1'])
    c.call([b'EXEC'])
    d = _core.tenant_get(0)
    assert (d['keys'], d['reserved']) == (2, 0)


def test_pubsub_numpat_counts_own_patterns(tcore):
    define(0, 'a')
    define(1, 'b')
    subs = [member(0, 'a'), member(1, 'b'), _core.Client()]
    subs[0].call([b'PSUBSCRIBE', b'n*', b'x*'])
    subs[1].call([b'PSUBSCRIBE', b'n*'])
    subs[2].call([b'PSUBSCRIBE', b'q*'])
    assert member(0, 'a').call([b'PUBSUB', b'NUMPAT']) == b':2\r\n'
    assert member(1, 'b').call([b'PUBSUB', b'NUMPAT']) == b':1\r\n'
    assert _core.Client().call([b'PUBSUB', b'NUMPAT']) == b':4\r\n'    # the node's, as Redis
    for cl in subs:
        cl.call([b'PUNSUBSCRIBE'])


def test_key_created_past_its_reservation_takes_one_or_is_refused(tcore):
    """A command creating more keys than the gate reserved for it (a key
    deleted after the gate saw it) reserves each extra one at creation, and is
    refused when none is left; the reservation never outlives the command."""
    define(0, 'a', maxkeys=3)
    c = member(0, 'a')
    c.call([b'SET', b'k1', b'v'])
    had, answers, held = _core._test_key_admit(0, 1, 3)
    assert (had, answers, held) == (True, [True, True, False], 1)
    assert _core.tenant_get(0)['reserved'] == 0
    assert _core._test_key_admit(0, 3, 0)[0] is False           # 1 key + 3 > 3
    c.call([b'SET', b'k2', b'v'])
    c.call([b'SET', b'k3', b'v'])
    assert _core._test_key_admit(0, 0, 1)[1] == [False]
    define(1, 'b')                                                 # no key quota: just counted
    assert _core._test_key_admit(1, 0, 2)[1] == [True, True]
