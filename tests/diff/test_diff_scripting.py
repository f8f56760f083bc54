"""Differential test of scripting: each case runs on cachecyt and on a real
redis-server 7.0 from the same empty state and must get the same reply bytes,
errors included (their texts carry the script's sha and line), in RESP2 and in
RESP3. Cases are sequences of commands: setup, then the script."""
import pytest
from diff.rawresp import RawConn

LIB = ("#!lua name=lib1\n"
       "redis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n"
       "redis.register_function{function_name='f2', callback=function(k, a) error('boom') end,"
       " flags={'no-writes'}, description='d'}\n"
       "redis.register_function('f3', function(keys, args) return {keys, args} end)")
LIB2 = ("#!lua name=lib2\n"
        "redis.register_function{function_name='g', callback=function(k, a) return redis.call('ping') end,"
        " flags={'no-writes', 'allow-oom'}, description='about g'}")

CASES = [
    # conversions Lua -> RESP
    [['EVAL', 'return 1', '0']],
    [['EVAL', 'return 3.99', '0']],
    [['EVAL', 'return -3.99', '0']],
    [['EVAL', 'return 1e20', '0']],
    [['EVAL', 'return 0/0', '0']],
    [['EVAL', 'return {1,2,{3,"x"},nil,4}', '0']],
    [['EVAL', 'return {1,false,3}', '0']],
    [['EVAL', 'return true', '0']],
    [['EVAL', 'return false', '0']],
    [['EVAL', 'return nil', '0']],
    [['EVAL', 'return {}', '0']],
    [['EVAL', 'return {a=1}', '0']],
    [['EVAL', "return {ok='fine'}", '0']],
    [['EVAL', "return {err='bad'}", '0']],
    [['EVAL', "return {err='-bad'}", '0']],
    [['EVAL', "return {err='a\\r\\nb'}", '0']],
    [['EVAL', "return redis.error_reply('My Error')", '0']],
    [['EVAL', "return redis.error_reply('-My Error')", '0']],
    [['EVAL', "return redis.status_reply('X')", '0']],
    [['EVAL', 'return {double=3.5}', '0']],
    [['EVAL', 'return {map={a=1}}', '0']],
    [['EVAL', 'return {set={a=true}}', '0']],
    [['EVAL', "return {big_number='123'}", '0']],
    [['EVAL', "return {verbatim_string={format='txt', string='x'}}", '0']],
    [['EVAL', 'return KEYS', '2', 'a', 'b', 'c']],
    [['EVAL', 'return ARGV', '2', 'a', 'b', 'c', 'd']],
    [['EVAL', 'return {#KEYS, #ARGV}', '0']],
    # RESP -> Lua
    [['EVAL', "return redis.call('ping')", '0']],
    [['EVAL', "return redis.call('get', 'nokey')", '0']],
    [['EVAL', "return type(redis.call('get', 'nokey'))", '0']],
    [['EVAL', "return redis.call('hgetall', 'nokey')", '0']],
    [['EVAL', "return redis.call('set', 'k', 1.5)", '0'], ['GET', 'k']],
    [['EVAL', "return {redis.call('incr', 'n'), type(redis.call('incr','n'))}", '0']],
    [['RPUSH', 'l', 'a', 'b', 'c'], ['EVAL', "return redis.call('lrange', KEYS[1], 0, -1)", '1', 'l']],
    [['HSET', 'h', 'a', '1'], ['EVAL', "redis.setresp(3); return redis.call('hgetall', 'h')", '0']],
    [['HSET', 'h', 'a', '1'], ['EVAL', "redis.setresp(3); return redis.call('hgetall', 'h').map.a", '0']],
    [['EVAL', "redis.setresp(3); return redis.call('get', 'nokey') == nil", '0']],
    [['EVAL', "redis.setresp(3); return true", '0']],
    [['EVAL', "redis.setresp(3); return false", '0']],
    [['SADD', 's', 'x'], ['EVAL', "redis.setresp(3); return redis.call('smembers', 's')", '0']],
    [['ZADD', 'z', '1.5', 'x'], ['EVAL', "redis.setresp(3); return redis.call('zscore', 'z', 'x')", '0']],
    [['EVAL', "return redis.call('select', '1')", '0']],
    # the time stands still inside a script: a key with 1 ms to live outlives a 5 ms script
    [['EVAL', "redis.call('set', 'tk', 'v', 'px', 1) local t = redis.call('time') repeat"
              " local n = redis.call('time') until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 5000"
              " return {redis.call('get', 'tk'), redis.call('exists', 'tk')}", '0']],
    [['EVAL', "return redis.call('echo', 'x')", '0']],
    [['EVAL', "return redis.call('dbsize')", '0']],
    [['SET', 'k', 'v'], ['EVAL', "redis.call('del', KEYS[1]); return redis.call('exists', KEYS[1])", '1', 'k']],
    # errors of the script
    [['EVAL', 'return x', '0']],
    [['EVAL', 'x = 1', '0']],
    [['EVAL', 'function f() return 1 end return f()', '0']],
    [['EVAL', "error('boom')", '0']],
    [['EVAL', "error('x', 0)", '0']],
    [['EVAL', "error({err='X y'})", '0']],
    [['EVAL', "error({err=5})", '0']],
    [['EVAL', "local function f() error('deep') end\nreturn f()", '0']],
    [['EVAL', 'return 1 +', '0']],
    [['EVAL', 'x x', '0']],
    [['EVAL', 'return os', '0']],
    [['EVAL', 'return type(print)', '0']],
    [['EVAL', 'return type(require)', '0']],
    [['EVAL', 'return type(dofile)', '0']],
    [['EVAL', 'return type(loadstring)', '0']],
    [['EVAL', 'return {type(redis.call), type(cjson.encode), type(cjson.null), type(bit.band)}', '0']],
    [['FUNCTION', 'LOAD', "#!lua name=spin\nwhile true do end\nredis.register_function('f', function() end)"]],
    [['EVAL', "return loadstring('return 1')()", '0']],
    [['EVAL', 'return loadstring(string.dump(function() return 1 end))', '0']],
    [['EVAL', "return rawget(_G, 'x')", '0']],
    [['EVAL', 'redis.call = nil', '0']],
    [['EVAL', 'cjson.encode = nil', '0']],
    [['EVAL', "rawset(_G, 'y', 1)", '0']],
    [['EVAL', 'local t = {}; t.x = 1; return t.x', '0']],
    [['EVAL', "local t={} for k,v in pairs(_G) do t[#t+1]=k end table.sort(t) return t", '0']],
    [['EVAL', "local t={} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t", '0']],
    # errors of redis.call
    [['EVAL', "return redis.call('nosuch')", '0']],
    [['EVAL', "return redis.call('get')", '0']],
    [['EVAL', "return redis.call('get','a','b')", '0']],
    [['EVAL', "\nreturn redis.call('lpush', 'xs')", '0']],
    [['EVAL', 'return redis.call()', '0']],
    [['EVAL', 'return redis.call(1)', '0']],
    [['EVAL', "return redis.call('get', {})", '0']],
    [['SET', 's', '1'], ['EVAL', "return redis.call('lpush','s','b')", '0']],
    [['SET', 's', '1'], ['EVAL', "return redis.pcall('lpush','s','b')", '0']],
    [['SET', 's', '1'], ['EVAL', "local t = redis.pcall('lpush','s','x'); return {t['err'], type(t)}", '0']],
    [['EVAL', "return redis.pcall('nosuch')", '0']],
    [['EVAL', 'return redis.pcall()', '0']],
    [['EVAL', "return redis.call('eval', 'return 1', 0)", '0']],
    [['EVAL', "return redis.call('blpop', 'nolist', 0)", '0']],
    [['EVAL', "return redis.call('shutdown')", '0']],
    [['EVAL', "return redis.call('script', 'load', 'return 1')", '0']],
    [['EVAL', "return redis.call('client', 'id')", '0']],
    [['EVAL', "return redis.call('config', 'get', 'hz')", '0']],
    [['EVAL', "return redis.call('hello')", '0']],
    [['EVAL_RO', "return redis.call('set','a','b')", '0']],
    [['EVAL_RO', "return redis.pcall('set','a','b')", '0']],
    [['EVAL_RO', "return redis.call('get','a')", '0']],
    # the redis library
    [['EVAL', "return redis.sha1hex('')", '0']],
    [['EVAL', "return redis.sha1hex()", '0']],
    [['EVAL', "return redis.log(redis.LOG_WARNING, 'hi')", '0']],
    [['EVAL', "return redis.log(99, 'hi')", '0']],
    [['EVAL', 'return redis.log()', '0']],
    [['EVAL', 'return redis.setresp(4)', '0']],
    [['EVAL', 'return redis.REDIS_VERSION_NUM > 0', '0']],
    # cjson, cmsgpack, bit, struct
    [['EVAL', 'return cjson.encode({1,2,3})', '0']],
    [['EVAL', 'return cjson.encode({a=1})', '0']],
    [['EVAL', "return cjson.encode({a={1,2,'x'}, b=cjson.null, c=1.5, d='a/b\"'})", '0']],
    [['EVAL', 'return cjson.encode({[1]=1,[3]=3})', '0']],
    [['EVAL', 'return cjson.encode({})', '0']],
    [['EVAL', "return cjson.decode('[1,2,{\"a\":3}]')[3].a", '0']],
    [['EVAL', "return cjson.encode(cjson.decode('{\"a\":[1,2.5,null,true]}'))", '0']],
    [['EVAL', "return cjson.decode('bad')", '0']],
    [['EVAL', 'return cmsgpack.pack({1,2,3})', '0']],
    [['EVAL', 'return cmsgpack.pack({})', '0']],
    [['EVAL', "return cmsgpack.pack(1.5, 0.1, -1, 300, 70000, 2^40, -2^40, true, false, 'abc')", '0']],
    [['EVAL', 'return cmsgpack.pack({1,2,{a=1.5}})', '0']],
    [['EVAL', 'return cmsgpack.pack({[1]=1,[3]=3})', '0']],
    [['EVAL', "local a,b,c = cmsgpack.unpack(cmsgpack.pack(1,'x',{1,2})) return {a,b,c[2]}", '0']],
    [['EVAL', 'return {cmsgpack.unpack_one(cmsgpack.pack(1,2), 0)}', '0']],
    [['EVAL', "return cmsgpack.unpack(cmsgpack.pack({1,2,'x'}))", '0']],
    [['EVAL', 'return {bit.tobit(2^32+5), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28),'
              ' bit.arshift(-256, 4), bit.tohex(-1, -4), bit.bxor(5,3), bit.bor(1,2,4),'
              ' bit.rol(1, 33), bit.bswap(1), bit.band(7, 3), bit.tohex(255)}', '0']],
    [['EVAL', "return struct.pack('>I2', 258)", '0']],
    [['EVAL', "return {struct.unpack('>I2', 'ab')}", '0']],
    [['EVAL', "return struct.size('>I2i4')", '0']],
    [['EVAL', "return cjson.encode({1e20, 0.1, -0, 1/3, 'a\\0b', '\\1\\127', 'é'})", '0']],
    [['EVAL', 'return cjson.encode({{}, {{}}})', '0']],
    [['EVAL', 'return cjson.encode(0/0)', '0']],
    [['EVAL', 'return cjson.decode(\'"\\\\u00e9"\')', '0']],
    [['EVAL', "return cjson.decode('[1e2, -0.5, 123456789012]')", '0']],
    [['EVAL', "return type(cjson.decode('null'))", '0']],
    [['EVAL', "return struct.pack('<i4h', -2, 3)", '0']],
    [['EVAL', "return {struct.unpack('<i4h', struct.pack('<i4h', -2, 3))}", '0']],
    [['EVAL', "return struct.pack('>d', 1.5)", '0']],
    [['EVAL', "return struct.pack('s', 'ab')", '0']],
    [['EVAL', "return {struct.unpack('s', 'ab\\0c')}", '0']],
    [['EVAL', "return struct.pack('c3', 'abcdef')", '0']],
    [['EVAL', "return struct.pack('BbHhLlIi', 1, -1, 2, -2, 3, -3, 4, -4)", '0']],
    [['EVAL', "return struct.pack('z', 1)", '0']],
    [['EVAL', 'return {bit.tohex(65535, 2), bit.tohex(1, 9), bit.ror(1, 1), bit.band(-1, 0xffffffff)}', '0']],
    [['EVAL', "return bit.band('x')", '0']],
    [['EVAL', 'return redis.sha1hex(1)', '0']],
    [['EVAL', 'return redis.sha1hex({})', '0']],
    [['EVAL', 'return redis.status_reply(1)', '0']],
    [['EVAL', 'return redis.error_reply({})', '0']],
    # numkeys and the script cache
    [['EVAL', 'return 1', '1']],
    [['EVAL', 'return 1', '-1']],
    [['EVAL', 'return 1', 'abc', 'd']],
    [['EVAL', 'return 1']],
    [['EVALSHA', 'x']],
    [['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '0']],
    [['SCRIPT', 'LOAD', 'return 1'], ['EVALSHA', 'E0E1F9FABFC9D4800C877A703B823AC0578FF8DB', '0'],
     ['SCRIPT', 'EXISTS', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', 'ffff'],
     ['SCRIPT', 'FLUSH'], ['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '0']],
    [['EVAL', 'return 2', '0'], ['EVALSHA', '7f923f79fe76194c868d7e1d0820de36700eb649', '0']],
    [['EVALSHA_RO', '7f923f79fe76194c868d7e1d0820de36700eb649', '0']],
    [['SCRIPT'], ['SCRIPT', 'nosuch'], ['SCRIPT', 'EXISTS'], ['SCRIPT', 'LOAD'],
     ['SCRIPT', 'LOAD', 'x x'], ['SCRIPT', 'FLUSH', 'async'], ['SCRIPT', 'FLUSH', 'bad'],
     ['SCRIPT', 'FLUSH', 'sync', 'x'], ['SCRIPT', 'KILL'], ['SCRIPT', 'KILL', 'x'], ['FUNCTION', 'KILL']],
    # functions
    [['FUNCTION', 'LOAD', LIB], ['FCALL', 'f1', '1', 'k', 'v'], ['GET', 'k'], ['FCALL', 'f2', '0'],
     ['FCALL_RO', 'f1', '1', 'k', 'v'], ['FCALL_RO', 'f2', '0'], ['FCALL', 'f3', '1', 'a', 'b'],
     ['FCALL', 'nosuch', '0'], ['FCALL', 'f1', '5'], ['FUNCTION', 'LIST', 'LIBRARYNAME', 'nomatch*'],
     ['FUNCTION', 'STATS'], ['FUNCTION', 'LOAD', LIB],
     ['FUNCTION', 'LOAD', "#!lua name=lib2\nredis.register_function('f1', function() return 1 end)"],
     ['FUNCTION', 'LOAD', 'REPLACE', LIB], ['FUNCTION', 'DELETE', 'nosuch'],
     ['FUNCTION', 'DELETE', 'lib1'], ['FUNCTION', 'LIST'], ['FCALL', 'f1', '0']],
    # one function per library: Redis lists the functions of a library in hash order
    [['FUNCTION', 'LOAD', LIB2], ['FUNCTION', 'LIST'], ['FUNCTION', 'LIST', 'WITHCODE'],
     ['FUNCTION', 'LIST', 'LIBRARYNAME', 'lib*'], ['FUNCTION', 'LIST', 'bad'], ['FCALL_RO', 'g', '0']],
    [['FUNCTION', 'LOAD', 'return 1'], ['FUNCTION', 'LOAD', '#!lua\nreturn 1'],
     ['FUNCTION', 'LOAD', '#!js name=x\nreturn 1'], ['FUNCTION', 'LOAD', '#!lua name=x\nreturn 1'],
     ['FUNCTION', 'LOAD', '#!lua name=x foo=bar\nreturn 1'],
     ['FUNCTION', 'LOAD', "#!lua name=x-y\nredis.register_function('a', function() end)"],
     ['FUNCTION', 'LOAD', "#!lua name=x\nredis.register_function('a-b', function() end)"],
     ['FUNCTION', 'LOAD', '#!lua name=x\nx='],
     ['FUNCTION', 'LOAD', "#!lua name=x\nredis.register_function('a', function() end, 5)"],
     ['FUNCTION', 'FLUSH', 'bad'], ['FUNCTION', 'RESTORE', 'bad'], ['FUNCTION', 'FLUSH'],
     ['FUNCTION'], ['FUNCTION', 'nosuch']],
]


# cjson.decode as lua-cjson: what it accepts beyond JSON, and its error texts
JSON_TEXTS = ['{', '[1,2', '{"a":}', 'nul', 'tru', '"abc', '[1,]', '{"a" 1}', '', '   ', '1 2',
              '[1] x', '{1:2}', '"\\x"', '"\\u12"', '-', '01', '1.', '1e', '[', ']', '{"a":1,}',
              'abc', '"a\nb"', '[1,2]]', 'NaN', '-Infinity', '0x10', '"\\ud800"',
              '"\\ud800\\u0041"', '"\\udc00"', '"\\ud83d\\ude00"', '"\\u00e9\\/\\b"', '+1',
              '.5', '-.5', '1e+', 'inf', 'trues', 'true false', '[true', 'nulla', '{"a":1 "b":2}',
              '"a\tb"', '0x', '00', '-01', '1.5e3x', '[1 2]', '{"a":1,"a":2}', ' [ 1 , { "b" : null } ] ',
              '1e400', '123456789012345678', '"\xff\xfe"', 'a\0b', '\0ab', '[1]\0x',
              '[' * 1001, '{"a":' * 1001, '[' * 300 + ']' * 300]
CASES += [[['EVAL', 'return cjson.decode(ARGV[1])', '0', text]] for text in JSON_TEXTS]
CASES += [[['EVAL', 'return cjson.encode({cjson.decode(ARGV[1])})', '0', text]] for text in JSON_TEXTS]
CASES += [[['EVAL', 'return cjson.decode()', '0']], [['EVAL', 'return cjson.decode(1, 2)', '0']],
          [['EVAL', 'return cjson.decode({})', '0']], [['EVAL', 'return cjson.decode(nil)', '0']],
          [['EVAL', 'return cjson.decode(12)', '0']]]


def reset(conn):
    for cmd in (['SELECT', '0'], ['FLUSHALL'], ['SCRIPT', 'FLUSH'], ['FUNCTION', 'FLUSH']):
        assert conn.call(*cmd) == b'+OK\r\n'


@pytest.mark.parametrize('protocol', [2, 3])
@pytest.mark.parametrize('case', CASES, ids=lambda c: c[-1][1][:40] if len(c[-1]) > 1 else c[-1][0])
def test_same_replies(addrs, case, protocol):
    compare(addrs, case, protocol, script_runs=1)


def compare(addrs, case, protocol, script_runs):
    """Run the case's commands on both servers (each script command
    `script_runs` times) and compare every reply."""
    with RawConn(addrs[0]) as ours, RawConn(addrs[1]) as ref:
        for conn in (ours, ref):
            if protocol == 3:
                assert conn.call('HELLO', '3').startswith(b'%')
            reset(conn)
        for args in case:
            for _ in range(script_runs if args[0].upper() in SCRIPT_COMMANDS else 1):
                got, want = ours.call(*args), ref.call(*args)
                assert got == want, f"{args}: ours {got!r}, redis {want!r}"


# A script this worker has already compiled runs on the C fast path
# (scripting/luacall.pxi): every case again, each script sent twice (the second
# time it is cached), and sequences where one cached script must not see what
# the one before it left (redis.setresp, KEYS and ARGV).
SCRIPT_COMMANDS = {'EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO'}
SEQUENCES = [
    [['EVAL', 'redis.setresp(3); return true', '0'], ['EVAL', 'return true', '0'],
     ['EVAL', 'return false', '0'], ['EVAL', 'redis.setresp(3); return false', '0'],
     ['EVAL', "return redis.call('get', 'nokey')", '0']],
    [['EVAL', 'return {KEYS, ARGV}', '3', 'a', 'b', 'c', 'd', 'e'],
     ['EVAL', 'return {KEYS, ARGV}', '1', 'x'], ['EVAL', 'return {KEYS, ARGV}', '0']],
    [['RPUSH', 'l', 'a', '', 'c'], ['HSET', 'h', 'f', 'v'],
     ['EVAL', "return {redis.call('lrange', 'l', 0, -1), redis.call('hgetall', 'h'),"
              " redis.call('mget', 'l', 'nokey'), redis.call('lpos', 'l', 'c'),"
              " redis.call('zrange', 'nokey', 0, -1)}", '0']],
    [['EVAL', "return {1.5, -2.5, 2^63, -2^63, 1e300, 0/0, 'x', true, false}", '0'],
     ['EVAL', 'return 2^63', '0'], ['EVAL', 'return -2^63', '0'], ['EVAL', 'return -0.5', '0']],
]


@pytest.mark.parametrize('protocol', [2, 3])
@pytest.mark.parametrize('case', CASES + SEQUENCES,
                         ids=lambda c: c[-1][1][:40] if len(c[-1]) > 1 else c[-1][0])
def test_same_replies_cached(addrs, case, protocol):
    compare(addrs, case, protocol, script_runs=2)
