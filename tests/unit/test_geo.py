"""GEO commands through the dispatcher: exact reply bytes as Redis 7.0 gives
them (values taken from redis-server 7.0.15 and Redis's documentation), the
edges of the coordinate ranges, searches across the 180th meridian, STORE
forms (onto themselves too) and the errors in Redis's words and order."""


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def bulk(*items):
    return b''.join(b'$%d\r\n%s\r\n' % (len(i), i) for i in items)


def arr(*items):
    return b'*%d\r\n' % len(items) + bulk(*items)


def sicily(client):
    assert call(client, 'GEOADD', 'Sicily', '13.361389', '38.115556', 'Palermo',
                '15.087269', '37.502669', 'Catania') == b':2\r\n'


def test_documented_values(client):
    sicily(client)
    assert call(client, 'GEODIST', 'Sicily', 'Palermo', 'Catania') == bulk(b'166274.1516')
    assert call(client, 'GEODIST', 'Sicily', 'Palermo', 'Catania', 'km') == bulk(b'166.2742')
    assert call(client, 'GEODIST', 'Sicily', 'Palermo', 'Catania', 'MI') == bulk(b'103.3182')
    assert call(client, 'GEODIST', 'Sicily', 'Palermo', 'nope') == b'$-1\r\n'
    assert call(client, 'GEOHASH', 'Sicily', 'Palermo', 'Catania', 'nope') == (
        b'*3\r\n' + bulk(b'sqc8b49rny0', b'sqdtr74hyu0') + b'$-1\r\n')
    assert call(client, 'GEOPOS', 'Sicily', 'Palermo', 'nope') == (
        b'*2\r\n*2\r\n' + bulk(b'13.36138933897018433', b'38.11555639549629859') + b'*-1\r\n')
    assert call(client, 'ZSCORE', 'Sicily', 'Palermo') == bulk(b'3479099956230698')
    assert call(client, 'GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'WITHDIST', 'ASC') == (
        b'*2\r\n*2\r\n' + bulk(b'Catania', b'56.4413') + b'*2\r\n' + bulk(b'Palermo', b'190.4424'))
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '15', '37', 'BYBOX', '400', '400', 'km',
                'DESC', 'COUNT', '1', 'WITHHASH', 'WITHCOORD') == (
        b'*1\r\n*3\r\n' + bulk(b'Palermo') + b':3479099956230698\r\n*2\r\n'
        + bulk(b'13.36138933897018433', b'38.11555639549629859'))


def test_resp3_coordinates_are_doubles(client):
    sicily(client)
    assert call(client, 'HELLO', '3').startswith(b'%')
    assert call(client, 'GEOPOS', 'Sicily', 'Catania', 'x') == (
        b'*2\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n_\r\n')


def test_limits_of_the_coordinate_ranges(client):
    assert call(client, 'GEOADD', 'w', '180', '85.05112878', 'a', '-180', '-85.05112878', 'b') == b':2\r\n'
    assert call(client, 'GEOPOS', 'w', 'a', 'b') == (
        b'*2\r\n*2\r\n' + bulk(b'180', b'85.0511287799999991')
        + b'*2\r\n' + bulk(b'-179.99999731779098511', b'-85.05112751263942528'))
    assert call(client, 'GEOHASH', 'w', 'a', 'b') == arr(b'bp05b5048p0', b'00bh0hbj200')
    assert call(client, 'GEOADD', 'w', '180.0001', '0', 'c') == (
        b'-ERR invalid longitude,latitude pair 180.000100,0.000000\r\n')
    assert call(client, 'GEOADD', 'w', '0', '-85.06', 'c') == (
        b'-ERR invalid longitude,latitude pair 0.000000,-85.060000\r\n')
    assert call(client, 'GEOADD', 'w', 'x', '0', 'c') == b'-ERR value is not a valid float\r\n'


def test_search_across_the_180th_meridian(client):
    call(client, 'GEOADD', 'w', '179.99', '0', 'e', '-179.995', '0', 'f')
    assert call(client, 'GEOSEARCH', 'w', 'FROMLONLAT', '-179.999', '0', 'BYRADIUS', '10', 'km',
                'ASC', 'WITHDIST') == (
        b'*2\r\n*2\r\n' + bulk(b'f', b'0.4452') + b'*2\r\n' + bulk(b'e', b'1.2237'))
    assert call(client, 'GEOHASH', 'w', 'e', 'f') == arr(b'xbpbpb08nb0', b'80000058h80')


def test_nx_xx_ch(client):
    sicily(client)
    assert call(client, 'GEOADD', 'Sicily', 'XX', '1', '1', 'new') == b':0\r\n'
    assert call(client, 'GEOADD', 'Sicily', 'NX', '1', '1', 'Palermo') == b':0\r\n'
    assert call(client, 'GEOADD', 'Sicily', 'CH', 'XX', '1', '1', 'Palermo', '2', '2', 'x') == b':1\r\n'
    assert call(client, 'GEOADD', 'Sicily', 'NX', 'XX', '1', '1', 'x') == b'-ERR syntax error\r\n'
    assert call(client, 'GEOADD', 'nokey', 'XX', '1', '1', 'x') == b':0\r\n'
    assert call(client, 'EXISTS', 'nokey') == b':0\r\n'


def test_store_forms(client):
    sicily(client)
    assert call(client, 'GEORADIUS', 'Sicily', '15', '37', '200', 'km', 'STORE', 'd') == b':2\r\n'
    assert call(client, 'ZRANGE', 'd', '0', '-1', 'WITHSCORES') == arr(
        b'Palermo', b'3479099956230698', b'Catania', b'3479447370796909')
    assert call(client, 'GEOSEARCHSTORE', 'd', 'Sicily', 'FROMMEMBER', 'Palermo', 'BYRADIUS', '100',
                'km', 'STOREDIST') == b':1\r\n'
    assert call(client, 'ZRANGE', 'd', '0', '-1', 'WITHSCORES') == arr(b'Palermo', b'0')
    # nothing found, or no source: the destination goes away
    assert call(client, 'GEORADIUSBYMEMBER', 'nokey', 'x', '1', 'km', 'STORE', 'd') == b':0\r\n'
    assert call(client, 'EXISTS', 'd') == b':0\r\n'
    # onto the source itself
    assert call(client, 'GEOSEARCHSTORE', 'Sicily', 'Sicily', 'FROMLONLAT', '15', '37', 'BYRADIUS',
                '100', 'km', 'STOREDIST') == b':1\r\n'
    assert call(client, 'ZRANGE', 'Sicily', '0', '-1') == arr(b'Catania')


def test_count_any_stops_early(client):
    args = []
    for i in range(20):
        args += ['15.%02d' % i, '37', 'm%d' % i]
    call(client, 'GEOADD', 'g', *args)
    reply = call(client, 'GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '500', 'km',
                 'COUNT', '3', 'ANY')
    assert reply.startswith(b'*3\r\n')
    assert call(client, 'GEOSEARCH', 'g', 'FROMLONLAT', '15', '37', 'BYRADIUS', '500', 'km',
                'COUNT', '2') == arr(b'm0', b'm1')


def test_errors_in_redis_words(client):
    sicily(client)
    call(client, 'SET', 'str', 'x')
    E = b'-ERR '
    assert call(client, 'GEOSEARCH', 'str', 'x', 'y', 'z', 'w', 'v') == (
        b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n')
    assert call(client, 'GEOSEARCH', 'Sicily', 'BYRADIUS', '1', 'km', 'x', 'y') == (
        E + b'syntax error\r\n')
    assert call(client, 'geosearch', 'Sicily', 'BYRADIUS', '1', 'km', 'ASC', 'WITHDIST') == (
        E + b'exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch\r\n')
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '1', 'ASC', 'WITHDIST') == (
        E + b'exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH\r\n')
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMMEMBER', 'nope', 'BYRADIUS', '1', 'km') == (
        E + b'could not decode requested zset member\r\n')
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km',
                'ANY') == E + b'the ANY argument requires COUNT argument\r\n'
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km',
                'COUNT', '0') == E + b'COUNT must be > 0\r\n'
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '1', 'BYBOX', '1', '-1', 'km') == (
        E + b'height or width cannot be negative\r\n')
    assert call(client, 'GEOSEARCH', 'Sicily', 'FROMLONLAT', '1', '1', 'BYBOX', '1', 'h', 'km') == (
        E + b'need numeric height\r\n')
    assert call(client, 'GEORADIUS', 'Sicily', '1', '1', 'r', 'km') == E + b'need numeric radius\r\n'
    assert call(client, 'GEORADIUS', 'Sicily', '1', '1', '-1', 'km') == E + b'radius cannot be negative\r\n'
    assert call(client, 'GEORADIUS', 'Sicily', '1', '1', '1', 'yd') == (
        E + b'unsupported unit provided. please use M, KM, FT, MI\r\n')
    assert call(client, 'GEORADIUS', 'Sicily', '1', '1', '1', 'km', 'STORE', 'd', 'WITHDIST') == (
        E + b'STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n')
    assert call(client, 'GEOSEARCHSTORE', 'd', 'Sicily', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km',
                'WITHHASH') == (
        E + b'GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n')
    assert call(client, 'GEORADIUS_RO', 'Sicily', '1', '1', '1', 'km', 'STORE', 'd') == (
        E + b'syntax error\r\n')
    assert call(client, 'GEODIST', 'Sicily', 'a', 'b', 'km', 'x') == E + b'syntax error\r\n'
    # a missing key still has its options checked; a member centre is not looked for
    assert call(client, 'GEORADIUSBYMEMBER', 'nokey', 'x', 'r', 'km', 'ASC') == b'*0\r\n'
    assert call(client, 'GEORADIUSBYMEMBER', 'nokey', 'x', '1', 'km', 'bad') == E + b'syntax error\r\n'


def test_infinite_radius_from_the_top_corner(client):
    # the centre's cell index is out of range there; Redis wraps only the
    # coordinate a neighbour moves along, so part of the world is left out
    call(client, 'GEOADD', 'e', '13.361389', '38.115556', 'palermo', '-120.25', '-85.0511', 'south',
         '-179.995', '-0.002', 'west', '0', '0', 'origin')
    assert call(client, 'GEORADIUS', 'e', '180', '85.05112878', 'inf', 'km') == arr(b'origin', b'palermo')
    assert call(client, 'GEORADIUS', 'e', '-180', '-85.05112878', 'inf', 'km') == arr(
        b'south', b'west', b'origin', b'palermo')
