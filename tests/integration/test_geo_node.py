"""GEO commands on a real node: COMMAND INFO (key specs included) and the
@geo category as Redis 7.0; the destination key of GEORADIUS ... STORE is a
key for COMMAND GETKEYS and for ACL key patterns (as Redis), and GEO writes
logged to the WAL come back the same after kill -9 of the whole node
(a GEORADIUS without STORE is a read: not logged)."""
import os
import shutil
import signal
import tempfile

import redis
from rawclient import Raw
from servers import CachecytServer

GEO = ['geoadd', 'geopos', 'geodist', 'geohash', 'geosearch', 'geosearchstore', 'georadius',
       'georadius_ro', 'georadiusbymember', 'georadiusbymember_ro']


def test_command_info_as_redis(server, redis_ref):
    ours, ref = Raw(server), Raw(redis_ref)
    for name in GEO:
        assert ours.call('COMMAND', 'INFO', name) == ref.call('COMMAND', 'INFO', name), name
    assert sorted(ours.call('ACL', 'CAT', 'geo').split(b'\r\n')) == sorted(
        ref.call('ACL', 'CAT', 'geo').split(b'\r\n'))
    ours.close()
    ref.close()


def test_store_destination_is_a_key(r, redis_ref):
    ref = redis.Redis(host=redis_ref[0], port=redis_ref[1])
    for conn in (r, ref):
        args = ['GEORADIUS', 'k', '1', '1', '1', 'km', 'STORE', 'd', 'STOREDIST', 'e']
        assert conn.command_getkeys(*args) == ['k', 'd', 'e']
        assert conn.command_getkeys('GEOSEARCHSTORE', 'd', 's', 'FROMLONLAT',
                                    '1', '1', 'BYRADIUS', '1', 'km') == ['d', 's']
        conn.execute_command('ACL', 'SETUSER', 'geo', 'on', 'nopass', '~k', '+@all')
        user = redis.Redis(port=conn.connection_pool.connection_kwargs['port'],
                           username='geo', password='x')
        assert user.execute_command('GEORADIUS', 'k', '1', '1', '1', 'km', 'STORE', 'k') == 0
        try:
            user.execute_command('GEORADIUSBYMEMBER', 'k', 'm', '1', 'km', 'STORE', 'd')
            raise AssertionError('the STORE key was not checked')
        except redis.exceptions.NoPermissionError as e:
            assert 'no permissions to access one of the keys' in str(e)
        conn.execute_command('ACL', 'DELUSER', 'geo')


def test_geo_writes_replay_after_kill9():
    data = tempfile.mkdtemp(prefix='cachecyt-geo-')
    flags = ('--dir', data, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    srv = CachecytServer(*flags, workers=2).start()
    try:
        r = redis.Redis(port=srv.port, socket_timeout=10)
        r.execute_command('GEOADD', 'Sicily', '13.361389', '38.115556', 'Palermo',
                          '15.087269', '37.502669', 'Catania', '12.4964', '41.9028', 'Rome')
        r.execute_command('GEOADD', 'Sicily', 'XX', 'CH', '14.5', '37.1', 'Catania')
        dirty = r.info('persistence')['rdb_changes_since_last_save']
        assert len(r.execute_command('GEORADIUS', 'Sicily', '15', '37', '300', 'km')) == 2
        assert r.info('persistence')['rdb_changes_since_last_save'] == dirty    # a read: no record
        r.execute_command('GEORADIUS', 'Sicily', '15', '37', '300', 'km', 'STOREDIST', 'near')
        assert r.info('persistence')['rdb_changes_since_last_save'] == dirty + 1
        r.execute_command('GEOSEARCHSTORE', 'box', 'Sicily', 'FROMMEMBER', 'Rome', 'BYBOX', '2000',
                          '2000', 'km', 'COUNT', '2')
        want = {k: r.zrange(k, 0, -1, withscores=True) for k in ('Sicily', 'near', 'box')}
        assert len(want['near']) == 2 and len(want['box']) == 2
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        srv.stop()
        srv = CachecytServer(*flags, workers=2).start()
        r = redis.Redis(port=srv.port, socket_timeout=10)
        assert {k: r.zrange(k, 0, -1, withscores=True) for k in want} == want
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)
