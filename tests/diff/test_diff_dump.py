"""DUMP / RESTORE against a real redis-server: values of every type and encoding
made in Redis, DUMPed there and RESTOREd here (and the reverse) read back the
same with the type's commands; error replies match Redis's byte for byte."""
import struct
import threading
import time

import pytest
import redis

from cachecyt import _core

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope='module')
def both(server, redis_ref):
    c = redis.Redis(host=server[0], port=server[1])
    ref = redis.Redis(host=redis_ref[0], port=redis_ref[1])
    yield c, ref
    c.close()
    ref.close()


@pytest.fixture
def pair(both):
    c, ref = both
    c.flushall()
    ref.flushall()
    return c, ref


def read_back(cl, key):
    """The key's value as plain Python data, through the type's own commands."""
    t = cl.type(key)
    if t == b'string':
        return t, cl.get(key)
    if t == b'list':
        return t, cl.lrange(key, 0, -1)
    if t == b'set':
        return t, sorted(cl.smembers(key))
    if t == b'hash':
        return t, sorted(cl.hgetall(key).items())
    if t == b'zset':
        return t, cl.zrange(key, 0, -1, withscores=True)
    return t, None


def make_values(cl):
    """One key per type and encoding, built with commands."""
    cl.set('s:small', 'hello')
    cl.set('s:int8', '-12')
    cl.set('s:int16', '3000')
    cl.set('s:int32', '-2000000000')
    cl.set('s:int64', '9223372036854775807')
    cl.set('s:zeros', '007')
    cl.set('s:empty', '')
    cl.set('s:long', 'abcdefgh' * 2000)                      # compressible
    cl.set('s:binary', bytes(range(256)) * 3)
    cl.set('s:big', b'\x01\x02' * 70000)                     # past one page
    cl.rpush('l:small', 'a', 'b', '1', '-5', '100000', '2147483648', '')
    cl.rpush('l:big', *[str(i) * (i % 7 + 1) for i in range(3000)])
    cl.rpush('l:longelem', 'x' * 9000, 'y', 'z' * 70000, 'w')
    cl.sadd('set:int', 1, 2, 3, -7, 100000, 9223372036854775807)
    cl.sadd('set:mixed', 'a', 'b', '1')
    cl.sadd('set:big', *range(1000))
    cl.sadd('set:bigstr', *['m%d' % i for i in range(600)])
    cl.hset('h:small', mapping={'f1': 'v1', 'f2': '2', '3': 'x'})
    cl.hset('h:big', mapping={'f%d' % i: 'v%d' % i for i in range(700)})
    cl.hset('h:longval', mapping={'a': 'v' * 100, 'b': '1'})
    cl.zadd('z:small', {'a': 1, 'b': 2.5, 'c': -3.25, 'd': float('inf'), 'e': float('-inf')})
    cl.zadd('z:big', {'m%d' % i: i / 7 for i in range(500)})
    cl.zadd('z:longmem', {'x' * 100: 0.1, 'y': 1e300})


KEYS = ['s:small', 's:int8', 's:int16', 's:int32', 's:int64', 's:zeros', 's:empty', 's:long',
        's:binary', 's:big', 'l:small', 'l:big', 'l:longelem', 'set:int', 'set:mixed',
        'set:big', 'set:bigstr', 'h:small', 'h:big', 'h:longval', 'z:small', 'z:big', 'z:longmem']


def test_redis_dump_restores_here(pair):
    c, ref = pair
    make_values(ref)
    for key in KEYS:
        payload = ref.dump(key)
        assert c.restore(key, 0, payload) == b'OK', key
        assert read_back(c, key) == read_back(ref, key), key


def test_our_dump_restores_in_redis(pair):
    c, ref = pair
    make_values(c)
    for key in KEYS:
        payload = c.dump(key)
        assert ref.restore(key, 0, payload) == b'OK', key
        assert read_back(ref, key) == read_back(c, key), key
        assert c.restore(key + ':again', 0, payload) == b'OK'       # and here
        assert read_back(c, key + ':again') == read_back(c, key)


def test_string_payloads_match_redis_bytes(pair):
    """Strings Redis would not compress come out as Redis's own bytes."""
    c, ref = pair
    for v in [b'hello', b'-12', b'3000', b'-2000000000', b'2147483648', b'9223372036854775807',
              b'007', b'', b'-0', b'x' * 20, bytes(range(30))]:
        c.set('k', v)
        ref.set('k', v)
        assert c.dump('k') == ref.dump('k'), v


def test_dump_missing_key(pair):
    c, ref = pair
    assert c.dump('nope') is None
    assert ref.dump('nope') is None


def test_restored_encodings_follow_our_thresholds(pair):
    c, ref = pair
    make_values(ref)
    for key in KEYS:
        c.restore(key, 0, ref.dump(key))
        assert c.object('encoding', key) == ref.object('encoding', key), key


def test_old_forms(pair):
    """Payloads in forms Redis 7.0 still loads (built by hand: Redis 7.0 no
    longer writes them)."""
    c, ref = pair
    for name, payload in old_payloads().items():
        assert ref.restore(name, 0, payload) == b'OK', name
        assert c.restore(name, 0, payload) == b'OK', name
        assert read_back(c, name) == read_back(ref, name), name


def _wrap(body):
    body += b'\x0a\x00'
    return body + struct.pack('<Q', _core.dump_crc(body))


def _s(b):
    return bytes([len(b)]) + b


def _ziplist(entries):
    out = b''
    prev = 0
    tail = 10
    for e in entries:
        if isinstance(e, int):
            enc = b'\xfe' + struct.pack('<b', e) if -128 <= e < 128 else b'\xc0' + struct.pack('<h', e)
            ent = bytes([prev]) + enc
        else:
            ent = bytes([prev, len(e)]) + e
        prev = len(ent)
        tail = 10 + len(out)
        out += ent
    total = 10 + len(out) + 1
    return struct.pack('<IIH', total, tail, len(entries)) + out + b'\xff'


def old_payloads():
    zl = _ziplist([b'a', 5, b'bb', 300])
    intset = struct.pack('<II', 2, 3) + struct.pack('<hhh', -4, 1, 9)
    zipmap = b'\x02' + _s(b'f1') + b'\x02\x00v1' + _s(b'f2') + b'\x03\x01abc?' + b'\xff'
    return {
        'old:list': _wrap(b'\x01\x03' + _s(b'a') + _s(b'bb') + b'\xc0\x07'),
        'old:set': _wrap(b'\x02\x02' + _s(b'x') + _s(b'y')),
        'old:zset': _wrap(b'\x03\x03' + _s(b'a') + _s(b'1.5') + _s(b'b') + b'\xfe' + _s(b'c') + b'\xff'),
        'old:hash': _wrap(b'\x04\x01' + _s(b'f') + _s(b'v')),
        'old:ziplist': _wrap(b'\x0a' + _s(zl)),
        'old:quicklist': _wrap(b'\x0e\x02' + _s(zl) + _s(_ziplist([b'z']))),
        'old:intset': _wrap(b'\x0b' + _s(intset)),
        'old:zsetzl': _wrap(b'\x0c' + _s(_ziplist([b'n', b'2.5', b'm', 3]))),
        'old:hashzl': _wrap(b'\x0d' + _s(_ziplist([b'f', b'v', b'g', 12]))),
        'old:zipmap': _wrap(b'\x09' + _s(zipmap)),
        'lzf:string': _wrap(b'\x00\xc3' + bytes([7, 25]) + b'\x02abc\xe0\x0d\x02'),
        'plain:node': _wrap(b'\x12\x02\x01' + _s(b'plain element') + b'\x02'
                            + _s(_listpack([b'q', 7]))),
    }


def _listpack(entries):
    out = b''
    for e in entries:
        ent = bytes([e]) if isinstance(e, int) else bytes([0x80 | len(e)]) + e
        out += ent + bytes([len(ent)])
    return struct.pack('<IH', 6 + len(out) + 1, len(entries)) + out + b'\xff'


def errors_of(cl, *args):
    try:
        return cl.execute_command(*args)
    except redis.ResponseError as e:
        return 'ERR:' + str(e)


def bad_payloads(ref):
    ref.set('src', 'value')
    good = ref.dump('src')
    ref.rpush('lsrc', 'a')
    body = good[:-10]
    return [
        good[:-1] + bytes([good[-1] ^ 1]),                   # CRC
        body + b'\x0b\x00' + good[-8:],                       # version 11
        _wrap(body)[:-8] + b'\0' * 8,                          # CRC of zero
        b'short',
        _wrap(b'\x0f\x00'),                                   # a stream
        _wrap(b'\x07\x00'),                                   # a module
        _wrap(b'\x08\x00'),                                   # no such type
        _wrap(b'\x01\x00'),                                   # empty list
        _wrap(b'\x02\x02' + _s(b'a') + _s(b'a')),             # duplicate set member
        _wrap(b'\x00\x40'),                                   # truncated length
        _wrap(b'\x00\x05ab'),                                 # string past the end
        _wrap(b'\x05\x01' + _s(b'm') + b'\x00\x00'),          # truncated double
        _wrap(b'\x12\x01\x03' + _s(b'x')),                    # bad container
        _wrap(b'\x10' + _s(b'\x07\x00\x00\x00\x00\x00\xfe')),  # bad listpack
        _wrap(b'\x00\xc3\x02\x19\x00a'),                      # LZF shorter than said
        _wrap(b'\x00'),                                       # nothing after the type
    ]


def test_error_replies_match_redis(pair):
    c, ref = pair
    for cl in (c, ref):
        cl.set('exists', 'x')
        cl.set('src', 'value')
    good = ref.dump('src')
    cases = [
        ('RESTORE', 'exists', 0, good),
        ('RESTORE', 'new', -1, good),
        ('RESTORE', 'new', 'abc', good),
        ('RESTORE', 'exists', -1, good),
        ('RESTORE', 'new', 0, good, 'BOGUS'),
        ('RESTORE', 'new', 0, good, 'IDLETIME'),
        ('RESTORE', 'new', 0, good, 'IDLETIME', -1),
        ('RESTORE', 'new', 0, good, 'IDLETIME', 'x'),
        ('RESTORE', 'new', 0, good, 'FREQ', 256),
        ('RESTORE', 'new', 0, good, 'FREQ', -1),
        ('RESTORE', 'new', 0, good, 'FREQ', 5, 'IDLETIME', 5),
        ('RESTORE', 'new', 0, good, 'IDLETIME', 5, 'FREQ', 5),
        ('RESTORE', 'new', 0),
        ('DUMP',),
        ('DUMP', 'a', 'b'),
    ]
    for p in bad_payloads(ref):
        cases.append(('RESTORE', 'new', 0, p))
        cases.append(('RESTORE', 'exists', 0, p))
        cases.append(('RESTORE', 'exists', 0, p, 'REPLACE'))
    for args in cases:
        assert errors_of(c, *args) == errors_of(ref, *args), args
        assert read_back(c, 'exists') == read_back(ref, 'exists'), args
        assert read_back(c, 'new') == read_back(ref, 'new'), args
        c.delete('new')
        ref.delete('new')


def test_duplicate_fields_refused(pair):
    """Redis 7.0 (sanitize-dump-payload no) keeps a small hash with a repeated
    field, a value it cannot handle later; we refuse it as it refuses repeated
    set and zset members."""
    c, _ = pair
    p = _wrap(b'\x04\x02' + _s(b'f') + _s(b'1') + _s(b'f') + _s(b'2'))
    assert errors_of(c, 'RESTORE', 'h', 0, p) == 'ERR:Bad data format'
    assert not c.exists('h')


def test_replace_ttl_absttl(pair):
    c, ref = pair
    ref.set('src', 'v')
    payload = ref.dump('src')
    for cl in (c, ref):
        cl.set('k', 'old')
        assert cl.restore('k', 0, payload, replace=True)
        assert cl.get('k') == b'v' and cl.ttl('k') == -1
        assert cl.restore('t', 5000, payload)
        assert 4000 < cl.pttl('t') <= 5000
        cl.execute_command('RESTORE', 'a', 4102444800000, payload, 'ABSTTL')
        assert cl.pexpiretime('a') == 4102444800000
        # an absolute TTL in the past: no key, and REPLACE deletes the old one
        assert cl.execute_command('RESTORE', 'gone', 1000, payload, 'ABSTTL') == b'OK'
        assert not cl.exists('gone')
        cl.set('old', 'x')
        assert cl.execute_command('RESTORE', 'old', 1000, payload, 'ABSTTL', 'REPLACE') == b'OK'
        assert not cl.exists('old')


def test_idletime_and_freq(pair):
    c, ref = pair
    ref.set('src', 'v')
    payload = ref.dump('src')
    c.execute_command('RESTORE', 'k', 0, payload, 'IDLETIME', 1000)
    assert 1000 <= c.object('idletime', 'k') <= 1002
    c.config_set('maxmemory-policy', 'allkeys-lfu')
    try:
        c.execute_command('RESTORE', 'f', 0, payload, 'FREQ', 100)
        assert c.object('freq', 'f') == 100
    finally:
        c.config_set('maxmemory-policy', 'noeviction')


def test_restore_wakes_blocked_pop_and_notifies(pair, server):
    c, ref = pair
    ref.rpush('src', 'x', 'y')
    payload = ref.dump('src')
    c.config_set('notify-keyspace-events', 'KEA')
    try:
        p = c.pubsub()
        p.psubscribe('__keyspace@0__:dst')
        p.get_message(timeout=1)
        assert c.restore('dst', 0, payload)
        msgs = []
        for _ in range(5):
            m = p.get_message(timeout=1)
            if m:
                msgs.append(m['data'])
        assert b'restore' in msgs
        p.close()
    finally:
        c.config_set('notify-keyspace-events', '')
    other = redis.Redis(host=server[0], port=server[1])
    got = []
    t = threading.Thread(target=lambda: got.append(other.blpop('waiting', timeout=5)))
    t.start()
    time.sleep(0.2)
    c.restore('waiting', 0, payload)
    t.join()
    other.close()
    assert got == [(b'waiting', b'x')]


def test_watch_sees_restore(pair, server):
    c, _ = pair
    c.set('src', 'v')
    payload = c.dump('src')
    w = redis.Redis(host=server[0], port=server[1])
    pipe = w.pipeline()
    pipe.watch('k')
    c.restore('k', 0, payload)
    pipe.multi()
    pipe.set('k', 'other')
    with pytest.raises(redis.WatchError):
        pipe.execute()
    w.close()


def test_big_list_both_ways(pair):
    c, ref = pair
    n = 200000
    ref.rpush('big', *range(n))
    assert c.restore('big', 0, ref.dump('big'))
    assert c.llen('big') == n
    assert c.lindex('big', n - 1) == str(n - 1).encode()
    assert ref.restore('back', 0, c.dump('big'))
    assert ref.lrange('back', 0, -1) == ref.lrange('big', 0, -1)
