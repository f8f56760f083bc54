"""Scripting in one process (no server): EVAL & co., the sandbox, the Lua <->
RESP conversions, SCRIPT and FUNCTION against a private segment. The texts
checked here are Redis 7.0's (the differential tests compare the rest)."""
import pytest

from cachecyt import _core
from cachecyt.scripting import commands as scripting
from cachecyt.scripting import store


@pytest.fixture
def sc(core):
    scripting.attach(core.name)
    c = _core.Client()
    yield c
    scripting.attach(None)
    store.remove_files(core.name)


def call(c, *args):
    return c.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def test_eval_returns_and_conversions(sc):
    assert call(sc, 'EVAL', 'return 1', 0) == b':1\r\n'
    assert call(sc, 'EVAL', 'return 3.99', 0) == b':3\r\n'
    assert call(sc, 'EVAL', 'return -3.99', 0) == b':-3\r\n'
    assert call(sc, 'EVAL', 'return 1e20', 0) == b':-9223372036854775808\r\n'
    assert call(sc, 'EVAL', 'return {1,2,{3,"x"},nil,4}', 0) == b'*3\r\n:1\r\n:2\r\n*2\r\n:3\r\n$1\r\nx\r\n'
    assert call(sc, 'EVAL', 'return false', 0) == b'$-1\r\n'
    assert call(sc, 'EVAL', 'return true', 0) == b':1\r\n'
    assert call(sc, 'EVAL', "return {ok='fine'}", 0) == b'+fine\r\n'
    assert call(sc, 'EVAL', "return {err='bad'}", 0) == b'-bad\r\n'
    assert call(sc, 'EVAL', "return redis.error_reply('-My Error')", 0) == b'-My Error\r\n'
    assert call(sc, 'EVAL', 'return KEYS', 2, 'a', 'b', 'c') == b'*2\r\n$1\r\na\r\n$1\r\nb\r\n'
    assert call(sc, 'EVAL', 'return ARGV', 2, 'a', 'b', 'c') == b'*1\r\n$1\r\nc\r\n'


def test_redis_call_reaches_the_keyspace(sc):
    assert call(sc, 'EVAL', "return redis.call('set', KEYS[1], ARGV[1])", 1, 'k', 'v') == b'+OK\r\n'
    assert call(sc, 'GET', 'k') == b'$1\r\nv\r\n'
    assert call(sc, 'EVAL', "return redis.call('get', 'nokey')", 0) == b'$-1\r\n'
    assert call(sc, 'EVAL', "return type(redis.call('get', 'nokey'))", 0) == b'$7\r\nboolean\r\n'
    assert call(sc, 'EVAL', "return redis.call('incr', 'n') + 1", 0) == b':2\r\n'


def test_errors(sc):
    sha = b'03c387736bb5cc009ff35151572cee04677aa374'
    assert call(sc, 'EVAL', 'return x', 0) == (
        b"-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: "
        + sha + b", on @user_script:1.\r\n")
    assert call(sc, 'EVAL', 'return 1', 1) == b"-ERR Number of keys can't be greater than number of args\r\n"
    assert call(sc, 'EVAL', 'return 1', -1) == b"-ERR Number of keys can't be negative\r\n"
    assert call(sc, 'EVALSHA', 'ffff', 0) == b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
    assert call(sc, 'EVAL', 'return 1 +', 0).startswith(b"-ERR Error compiling script (new function): user_script:1:")
    assert call(sc, 'SET', 's', '1') == b'+OK\r\n'
    assert call(sc, 'EVAL', "return redis.call('lpush','s','b')", 0).startswith(
        b'-WRONGTYPE Operation against a key holding the wrong kind of value script: ')
    assert call(sc, 'EVAL', "return redis.pcall('lpush','s','b')", 0) == (
        b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n')


def test_script_cache(sc):
    assert call(sc, 'SCRIPT', 'LOAD', 'return 1') == b'$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n'
    assert call(sc, 'EVALSHA', 'E0E1F9FABFC9D4800C877A703B823AC0578FF8DB', 0) == b':1\r\n'
    assert call(sc, 'SCRIPT', 'EXISTS', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', 'ff') == b'*2\r\n:1\r\n:0\r\n'
    assert call(sc, 'SCRIPT', 'FLUSH') == b'+OK\r\n'
    assert call(sc, 'EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', 0).startswith(b'-NOSCRIPT')
    assert call(sc, 'SCRIPT', 'KILL') == b'-NOTBUSY No scripts in execution right now.\r\n'


def test_functions(sc):
    code = ("#!lua name=lib1\nredis.register_function('f1', function(keys, args) "
            "return redis.call('set', keys[1], args[1]) end)\n"
            "redis.register_function{function_name='f2', callback=function(k, a) error('boom') end, "
            "flags={'no-writes'}, description='d'}")
    assert call(sc, 'FUNCTION', 'LOAD', code) == b'$4\r\nlib1\r\n'
    assert call(sc, 'FCALL', 'f1', 1, 'k', 'v') == b'+OK\r\n'
    assert call(sc, 'FCALL', 'f2', 0) == b'-ERR user_function:3: boom script: f2, on @user_function:3.\r\n'
    assert call(sc, 'FCALL_RO', 'f1', 1, 'k', 'v') == (
        b'-ERR Can not execute a script with write flag using *_ro command.\r\n')
    assert call(sc, 'FUNCTION', 'LOAD', code) == b"-ERR Library 'lib1' already exists\r\n"
    dump = call(sc, 'FUNCTION', 'DUMP')
    assert call(sc, 'FUNCTION', 'DELETE', 'lib1') == b'+OK\r\n'
    assert call(sc, 'FCALL', 'f1', 0) == b'-ERR Function not found\r\n'
    payload = dump[dump.index(b'\r\n') + 2:-2]
    assert call(sc, 'FUNCTION', 'RESTORE', payload) == b'+OK\r\n'
    assert call(sc, 'FCALL', 'f1', 1, 'k', 'w') == b'+OK\r\n'
    assert call(sc, 'FUNCTION', 'FLUSH') == b'+OK\r\n'
    assert call(sc, 'FUNCTION', 'LIST') == b'*0\r\n'


def test_lua_time_limit_is_an_alias_of_busy_reply_threshold():
    from cachecyt import config
    cfg = config.Config()
    assert cfg['busy-reply-threshold'] == 5000
    cfg.set('lua-time-limit', '250')
    assert cfg['busy-reply-threshold'] == 250
    assert cfg.matching('*-time-limit') == [('lua-time-limit', '250')]
    assert ('busy-reply-threshold', '250') in cfg.matching('*')


def test_sandbox(sc):
    assert call(sc, 'EVAL', 'return type(os)', 0).startswith(
        b"-ERR user_script:1: Script attempted to access nonexistent global variable 'os'")
    assert call(sc, 'EVAL', "return type(redis.call.f)", 0).startswith(b'-ERR ')     # no Python inside
    assert call(sc, 'EVAL', "rawset(_G, 'y', 1)", 0).startswith(b'-ERR Attempt to modify a readonly table')
    assert call(sc, 'EVAL', "string.len = nil", 0).startswith(
        b'-ERR user_script:1: Attempt to modify a readonly table')
    assert call(sc, 'EVAL', 'return loadstring(string.dump(function() return 1 end))', 0) == b'$-1\r\n'
    # what one script leaves cannot reach the next one
    assert call(sc, 'EVAL', 'KEYS[1] = "changed" return KEYS[1]', 1, 'k') == b'$7\r\nchanged\r\n'
    assert call(sc, 'EVAL', 'return KEYS[1]', 1, 'k') == b'$1\r\nk\r\n'


def test_script_kill_needs_a_running_script(sc):
    assert call(sc, 'FUNCTION', 'KILL') == b'-NOTBUSY No scripts in execution right now.\r\n'
    assert _core.script_status()[0] == -1           # no record left behind by the scripts above


def test_library_that_loops_is_stopped(sc):
    code = "#!lua name=spin\nwhile true do end\nredis.register_function('f', function() end)"
    assert call(sc, 'FUNCTION', 'LOAD', code) == (
        b'-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n')
    assert call(sc, 'FUNCTION', 'LIST') == b'*0\r\n'


def test_cached_scripts_survive_the_fast_path_starting_over(sc):
    """The compiled-script tables of the fast path are bounded (4096 bodies):
    past that they start over, and every script still answers, again from the
    cache once it ran through the Python path."""
    for i in range(4200):
        assert call(sc, 'EVAL', f'return {i}', 0) == b':%d\r\n' % i
    for i in (0, 1, 4199):
        for _ in range(3):
            assert call(sc, 'EVAL', f'return {i}', 0) == b':%d\r\n' % i
    sha = scripting._sha(b'return 7')
    assert call(sc, 'EVALSHA', sha, 0) == b':7\r\n'
    assert call(sc, 'SCRIPT', 'FLUSH') == b'+OK\r\n'
    assert call(sc, 'EVALSHA', sha, 0) == b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
    assert call(sc, 'EVAL', 'return 7', 0) == b':7\r\n'
    assert call(sc, 'EVALSHA', sha, 0) == b':7\r\n'
