"""KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX, COPY, TOUCH, OBJECT and MEMORY through
the dispatcher: exact reply bytes, errors in Redis 7.0's words."""
import time

import pytest


def call(client, *args):
    return client.call([a if isinstance(a, bytes) else str(a).encode() for a in args])


def parse(data):
    """One RESP2 reply -> Python (bulk -> bytes, int -> int, array -> list)."""
    value, rest = _parse(data)
    assert rest == b''
    return value


def _parse(b):
    kind, line, rest = b[:1], b[1:b.index(b'\r\n')], b[b.index(b'\r\n') + 2:]
    if kind == b'$':
        n = int(line)
        if n < 0:
            return None, rest
        return rest[:n], rest[n + 2:]
    if kind == b'*':
        out = []
        for _ in range(int(line)):
            v, rest = _parse(rest)
            out.append(v)
        return out, rest
    if kind == b':':
        return int(line), rest
    return (kind + line), rest


def scan_all(client, *opts):
    """A whole SCAN iteration: (every key returned, as a list, calls made)."""
    cursor, keys, calls = b'0', [], 0
    while True:
        cursor, batch = parse(call(client, 'SCAN', cursor, *opts))
        keys += batch
        calls += 1
        if cursor == b'0':
            return keys, calls


def fill(client, n, prefix='key:'):
    for i in range(n):
        assert call(client, 'SET', f'{prefix}{i}', i) == b'+OK\r\n'
    return {f'{prefix}{i}'.encode() for i in range(n)}


# ---- KEYS ------------------------------------------------------------------------

def test_keys_all_and_pattern(client):
    names = fill(client, 50)
    assert sorted(parse(call(client, 'KEYS', '*'))) == sorted(names)
    assert sorted(parse(call(client, 'KEYS', 'key:1?'))) == [f'key:1{i}'.encode() for i in range(10)]
    assert parse(call(client, 'KEYS', 'key:4[5-9]')) and \
        sorted(parse(call(client, 'KEYS', 'key:4[5-9]'))) == [b'key:45', b'key:46', b'key:47', b'key:48', b'key:49']
    assert call(client, 'KEYS', 'nomatch*') == b'*0\r\n'


def test_keys_star_includes_empty_key_but_double_star_does_not(client):
    call(client, 'SET', '', 'v')
    assert call(client, 'KEYS', '*') == b'*1\r\n$0\r\n\r\n'
    assert call(client, 'KEYS', '**') == b'*0\r\n'


def test_keys_only_current_db_and_skips_expired(client):
    call(client, 'SET', 'a', '1')
    call(client, 'SET', 'gone', '1', 'PX', '1')
    call(client, 'SELECT', '2')
    call(client, 'SET', 'b', '1')
    assert call(client, 'KEYS', '*') == b'*1\r\n$1\r\nb\r\n'
    call(client, 'SELECT', '0')
    time.sleep(0.005)
    assert call(client, 'KEYS', '*') == b'*1\r\n$1\r\na\r\n'


def test_keys_of_big_key_in_extents(client):
    big = b'k' * 70000                         # key || value does not fit in a page
    assert call(client, 'SET', big, 'v') == b'+OK\r\n'
    assert parse(call(client, 'KEYS', '*')) == [big]
    assert parse(call(client, 'KEYS', 'k*k')) == [big]
    assert parse(call(client, 'KEYS', 'k*x')) == []


def test_keys_arity(client):
    assert call(client, 'KEYS') == b"-ERR wrong number of arguments for 'keys' command\r\n"


# ---- SCAN ------------------------------------------------------------------------

def test_scan_empty_db(client):
    assert call(client, 'SCAN', '0') == b'*2\r\n$1\r\n0\r\n*0\r\n'


def test_scan_returns_every_key(client):
    names = fill(client, 300)
    keys, calls = scan_all(client)
    assert set(keys) == names
    assert calls > 5                           # COUNT 10 spreads it over many calls
    keys, calls = scan_all(client, 'COUNT', '1000')
    assert set(keys) == names and calls == 1


def test_scan_match_and_type(client):
    fill(client, 100)
    call(client, 'SET', 'other', 'x')
    keys, _ = scan_all(client, 'MATCH', 'key:9*')
    assert sorted(keys) == sorted([b'key:9'] + [f'key:9{i}'.encode() for i in range(10)])
    keys, _ = scan_all(client, 'TYPE', 'STRING', 'MATCH', 'o*')
    assert keys == [b'other']
    assert scan_all(client, 'TYPE', 'list')[0] == []
    assert scan_all(client, 'TYPE', 'nosuchtype')[0] == []


def test_scan_skips_expired_and_other_dbs(client):
    call(client, 'SET', 'live', '1')
    call(client, 'SET', 'dead', '1', 'PX', '1')
    call(client, 'SELECT', '1')
    call(client, 'SET', 'elsewhere', '1')
    call(client, 'SELECT', '0')
    time.sleep(0.005)
    assert scan_all(client)[0] == [b'live']


def test_scan_complete_while_tables_grow_and_shrink(client):
    # 5 stable keys a shard; 50 more make a table double, deleting them makes it
    # halve twice (load < 10%)
    stable = fill(client, 40, 'stable:')
    seen, cursor, step = set(), b'0', 0
    while True:
        cursor, batch = parse(call(client, 'SCAN', cursor, 'COUNT', '5'))
        seen.update(batch)
        # between calls the shard tables double and halve again
        if step % 2 == 0:
            fill(client, 400, f'churn{step}:')
        else:
            for i in range(400):
                call(client, 'DEL', f'churn{step - 1}:{i}')
        step += 1
        if cursor == b'0':
            break
    assert stable <= seen


@pytest.mark.parametrize('cursor', ['abc', ' 1', '1 ', '0x10', '18446744073709551616', '-', '+', '1.5'])
def test_scan_invalid_cursor(client, cursor):
    assert call(client, 'SCAN', cursor) == b'-ERR invalid cursor\r\n'


@pytest.mark.parametrize('cursor', ['', '+0', '-0', '00'])
def test_scan_cursor_read_as_strtoul(client, cursor):
    call(client, 'SET', 'a', '1')
    assert call(client, 'SCAN', cursor) == b'*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n'


def test_scan_huge_cursors_are_accepted(client):
    for cursor in ('18446744073709551615', '-1'):
        reply = parse(call(client, 'SCAN', cursor))
        assert isinstance(reply[0], bytes) and isinstance(reply[1], list)


def test_scan_option_errors(client):
    syntax = b'-ERR syntax error\r\n'
    assert call(client, 'SCAN', '0', 'COUNT', '0') == syntax
    assert call(client, 'SCAN', '0', 'COUNT', '-1') == syntax
    assert call(client, 'SCAN', '0', 'COUNT') == syntax
    assert call(client, 'SCAN', '0', 'MATCH') == syntax
    assert call(client, 'SCAN', '0', 'FOO', 'bar') == syntax
    assert call(client, 'SCAN', '0', 'COUNT', 'x') == b'-ERR value is not an integer or out of range\r\n'
    assert call(client, 'SCAN', 'x', 'COUNT', '0') == b'-ERR invalid cursor\r\n'
    assert call(client, 'SCAN') == b"-ERR wrong number of arguments for 'scan' command\r\n"


def test_scan_last_option_wins(client):
    call(client, 'SET', 'ab', '1')
    call(client, 'SET', 'cd', '1')
    assert scan_all(client, 'MATCH', 'a*', 'MATCH', 'c*', 'COUNT', '5', 'COUNT', '100')[0] == [b'cd']


# ---- RANDOMKEY ---------------------------------------------------------------------

def test_randomkey(client):
    assert call(client, 'RANDOMKEY') == b'$-1\r\n'
    names = fill(client, 20)
    got = {parse(call(client, 'RANDOMKEY')) for _ in range(200)}
    assert got <= names and len(got) > 3


def test_randomkey_nil_when_every_key_expired(client):
    for i in range(5):
        call(client, 'SET', f'k{i}', 'v', 'PX', '1')
    time.sleep(0.005)
    assert call(client, 'RANDOMKEY') == b'$-1\r\n'


def test_randomkey_resp3_null(client):
    client.resp = 3
    assert call(client, 'RANDOMKEY') == b'_\r\n'


# ---- RENAME / RENAMENX -----------------------------------------------------------------

def test_rename(client):
    assert call(client, 'RENAME', 'a', 'b') == b'-ERR no such key\r\n'
    assert call(client, 'RENAME', 'a', 'a') == b'-ERR no such key\r\n'
    call(client, 'SET', 'a', 'hello')
    assert call(client, 'RENAME', 'a', 'a') == b'+OK\r\n'
    assert call(client, 'RENAME', 'a', 'b') == b'+OK\r\n'
    assert call(client, 'EXISTS', 'a') == b':0\r\n'
    assert call(client, 'GET', 'b') == b'$5\r\nhello\r\n'
    call(client, 'SET', 'c', 'old')
    assert call(client, 'RENAME', 'b', 'c') == b'+OK\r\n'
    assert call(client, 'GET', 'c') == b'$5\r\nhello\r\n'
    assert call(client, 'DBSIZE') == b':1\r\n'


def test_rename_keeps_ttl_and_encoding(client):
    call(client, 'SET', 'n', '12345', 'EX', '100')
    assert call(client, 'RENAME', 'n', 'm') == b'+OK\r\n'
    assert call(client, 'TTL', 'm') == b':100\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'm') == b'$3\r\nint\r\n'
    assert call(client, 'INCR', 'm') == b':12346\r\n'
    call(client, 'SET', 'p', 'v')
    call(client, 'SET', 'q', 'w', 'EX', '50')
    call(client, 'RENAME', 'p', 'q')
    assert call(client, 'TTL', 'q') == b':-1\r\n'


def test_rename_many_in_one_shard_keeps_every_key(client):
    # renames insert and delete in the same shards: slots shift under our feet
    fill(client, 200)
    for i in range(200):
        assert call(client, 'RENAME', f'key:{i}', f'new:{i}') == b'+OK\r\n'
    assert call(client, 'DBSIZE') == b':200\r\n'
    for i in range(200):
        assert call(client, 'GET', f'new:{i}') == b'$%d\r\n%d\r\n' % (len(str(i)), i)


def test_rename_big_value(client):
    value = bytes(range(256)) * 1000           # in extents
    call(client, 'SET', 'big', value)
    assert call(client, 'RENAME', 'big', 'b' * 300) == b'+OK\r\n'
    assert parse(call(client, 'GET', 'b' * 300)) == value


def test_rename_expired_source_is_missing(client):
    call(client, 'SET', 'a', '1', 'PX', '1')
    time.sleep(0.005)
    assert call(client, 'RENAME', 'a', 'b') == b'-ERR no such key\r\n'


def test_renamenx(client):
    assert call(client, 'RENAMENX', 'a', 'b') == b'-ERR no such key\r\n'
    call(client, 'SET', 'a', '1')
    call(client, 'SET', 'b', '2')
    assert call(client, 'RENAMENX', 'a', 'a') == b':0\r\n'
    assert call(client, 'RENAMENX', 'a', 'b') == b':0\r\n'
    assert call(client, 'RENAMENX', 'a', 'c') == b':1\r\n'
    assert call(client, 'MGET', 'a', 'b', 'c') == b'*3\r\n$-1\r\n$1\r\n2\r\n$1\r\n1\r\n'


def test_renamenx_over_expired_destination(client):
    call(client, 'SET', 'a', '1')
    call(client, 'SET', 'b', '2', 'PX', '1')
    time.sleep(0.005)
    assert call(client, 'RENAMENX', 'a', 'b') == b':1\r\n'
    assert call(client, 'GET', 'b') == b'$1\r\n1\r\n'
    assert call(client, 'DBSIZE') == b':1\r\n'


# ---- COPY ------------------------------------------------------------------------

def test_copy(client):
    same = b'-ERR source and destination objects are the same\r\n'
    assert call(client, 'COPY', 'a', 'a') == same
    assert call(client, 'COPY', 'a', 'b') == b':0\r\n'
    call(client, 'SET', 'a', 'hello', 'EX', '100')
    assert call(client, 'COPY', 'a', 'a') == same
    assert call(client, 'COPY', 'a', 'a', 'DB', '0') == same
    assert call(client, 'COPY', 'a', 'b') == b':1\r\n'
    assert call(client, 'GET', 'b') == b'$5\r\nhello\r\n'
    assert call(client, 'TTL', 'b') == b':100\r\n'
    call(client, 'SET', 'a', 'changed')
    assert call(client, 'GET', 'b') == b'$5\r\nhello\r\n'
    assert call(client, 'COPY', 'a', 'b') == b':0\r\n'
    assert call(client, 'COPY', 'a', 'b', 'REPLACE') == b':1\r\n'
    assert call(client, 'GET', 'b') == b'$7\r\nchanged\r\n'
    assert call(client, 'TTL', 'b') == b':-1\r\n'


def test_copy_to_other_db(client):
    call(client, 'SET', 'a', '42')
    assert call(client, 'COPY', 'a', 'a', 'DB', '3') == b':1\r\n'
    assert call(client, 'COPY', 'a', 'a', 'DB', '3') == b':0\r\n'
    assert call(client, 'COPY', 'a', 'z', 'db', '1', 'db', '3') == b':1\r\n'   # last DB wins
    call(client, 'SELECT', '3')
    assert call(client, 'MGET', 'a', 'z') == b'*2\r\n$2\r\n42\r\n$2\r\n42\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'a') == b'$3\r\nint\r\n'
    call(client, 'SELECT', '1')
    assert call(client, 'DBSIZE') == b':0\r\n'


def test_copy_option_errors(client):
    call(client, 'SET', 'a', '1')
    assert call(client, 'COPY', 'a', 'b', 'DB', '16') == b'-ERR DB index is out of range\r\n'
    assert call(client, 'COPY', 'a', 'b', 'DB', '-1') == b'-ERR DB index is out of range\r\n'
    assert call(client, 'COPY', 'a', 'b', 'DB', 'x') == b'-ERR value is not an integer or out of range\r\n'
    assert call(client, 'COPY', 'a', 'b', 'DB', '4294967296') == \
        b'-ERR value is out of range, value must between -2147483648 and 2147483647\r\n'
    assert call(client, 'COPY', 'a', 'b', 'DB') == b'-ERR syntax error\r\n'
    assert call(client, 'COPY', 'a', 'b', 'FOO') == b'-ERR syntax error\r\n'
    assert call(client, 'COPY', 'a') == b"-ERR wrong number of arguments for 'copy' command\r\n"


def test_copy_big_value_and_raw_encoding(client):
    value = b'xy' * 50000
    call(client, 'SET', 'big', value)
    call(client, 'APPEND', 'big', 'z')
    assert call(client, 'COPY', 'big', 'small-key') == b':1\r\n'
    assert parse(call(client, 'GET', 'small-key')) == value + b'z'
    assert call(client, 'OBJECT', 'ENCODING', 'small-key') == b'$3\r\nraw\r\n'
    call(client, 'SET', 's', 'short')
    assert call(client, 'COPY', 's', 'k' * 70000) == b':1\r\n'     # inline into extents
    assert call(client, 'GET', 'k' * 70000) == b'$5\r\nshort\r\n'


# ---- TOUCH -------------------------------------------------------------------------

def test_touch(client):
    call(client, 'SET', 'a', '1')
    call(client, 'SET', 'b', '1')
    assert call(client, 'TOUCH', 'a', 'b', 'c', 'a') == b':3\r\n'
    assert call(client, 'TOUCH', 'nope') == b':0\r\n'
    assert call(client, 'TOUCH') == b"-ERR wrong number of arguments for 'touch' command\r\n"


def test_touch_counts_lfu_access(client):
    call(client, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')
    call(client, 'SET', 'a', '1')
    assert call(client, 'OBJECT', 'FREQ', 'a') == b':5\r\n'
    for _ in range(200):
        call(client, 'TOUCH', 'a')
    assert parse(call(client, 'OBJECT', 'FREQ', 'a')) > 5


# ---- OBJECT ------------------------------------------------------------------------

def test_object_encoding(client):
    call(client, 'SET', 'i', '123')
    call(client, 'SET', 'e', 'x' * 44)
    call(client, 'SET', 'r', 'x' * 45)
    call(client, 'SET', 'a', 'abc')
    call(client, 'APPEND', 'a', 'd')
    assert call(client, 'OBJECT', 'ENCODING', 'i') == b'$3\r\nint\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'e') == b'$6\r\nembstr\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'r') == b'$3\r\nraw\r\n'
    assert call(client, 'OBJECT', 'encoding', 'a') == b'$3\r\nraw\r\n'
    assert call(client, 'OBJECT', 'ENCODING', 'none') == b'$-1\r\n'


def test_object_refcount(client):
    call(client, 'SET', 'small', '5')
    call(client, 'SET', 'large', '10000')
    call(client, 'SET', 'neg', '-1')
    call(client, 'SET', 's', 'abc')
    assert call(client, 'OBJECT', 'REFCOUNT', 'small') == b':2147483647\r\n'
    assert call(client, 'OBJECT', 'REFCOUNT', 'large') == b':1\r\n'
    assert call(client, 'OBJECT', 'REFCOUNT', 'neg') == b':1\r\n'
    assert call(client, 'OBJECT', 'REFCOUNT', 's') == b':1\r\n'
    assert call(client, 'OBJECT', 'REFCOUNT', 'none') == b'$-1\r\n'
    call(client, 'CONFIG', 'SET', 'maxmemory', '100000000')
    call(client, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
    assert call(client, 'OBJECT', 'REFCOUNT', 'small') == b':1\r\n'


def test_object_freq_and_idletime_follow_the_policy(client):
    lfu_off = (b'-ERR An LFU maxmemory policy is not selected, access frequency not tracked. '
               b'Please note that when switching between policies at runtime LRU and LFU data '
               b'will take some time to adjust.\r\n')
    lfu_on = (b'-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note '
              b'that when switching between policies at runtime LRU and LFU data will take some '
              b'time to adjust.\r\n')
    call(client, 'SET', 'a', '1')
    assert call(client, 'OBJECT', 'IDLETIME', 'a') == b':0\r\n'
    assert call(client, 'OBJECT', 'FREQ', 'a') == lfu_off
    assert call(client, 'OBJECT', 'FREQ', 'none') == b'$-1\r\n'
    call(client, 'CONFIG', 'SET', 'maxmemory-policy', 'volatile-lfu')
    assert call(client, 'OBJECT', 'IDLETIME', 'a') == lfu_on
    assert call(client, 'OBJECT', 'IDLETIME', 'none') == b'$-1\r\n'
    call(client, 'SET', 'b', '1')
    assert call(client, 'OBJECT', 'FREQ', 'b') == b':5\r\n'


def test_object_help_and_errors(client):
    help_reply = call(client, 'OBJECT', 'HELP')
    assert help_reply.startswith(
        b'*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+ENCODING <key>\r\n')
    assert help_reply.endswith(b'+HELP\r\n+    Prints this help.\r\n')
    assert call(client, 'object', 'foo') == b"-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n"
    assert call(client, 'OBJECT', 'ENCODING') == \
        b"-ERR wrong number of arguments for 'object|encoding' command\r\n"
    assert call(client, 'OBJECT', 'ENCODING', 'a', 'b') == \
        b"-ERR wrong number of arguments for 'object|encoding' command\r\n"
    assert call(client, 'OBJECT', 'HELP', 'x') == \
        b"-ERR wrong number of arguments for 'object|help' command\r\n"
    assert call(client, 'OBJECT') == b"-ERR wrong number of arguments for 'object' command\r\n"


# ---- MEMORY ------------------------------------------------------------------------

def test_memory_usage(client):
    call(client, 'SET', 'a', 'x')
    call(client, 'SET', 'big', 'x' * 200000)
    small = parse(call(client, 'MEMORY', 'USAGE', 'a'))
    big = parse(call(client, 'MEMORY', 'USAGE', 'big'))
    assert 40 < small < 128
    assert 200000 < big < 300000
    assert call(client, 'MEMORY', 'USAGE', 'a', 'SAMPLES', '0') == b':%d\r\n' % small
    assert call(client, 'MEMORY', 'USAGE', 'none') == b'$-1\r\n'


def test_memory_errors_and_help(client):
    call(client, 'SET', 'a', 'x')
    assert call(client, 'MEMORY', 'USAGE', 'a', 'SAMPLES') == b'-ERR syntax error\r\n'
    assert call(client, 'MEMORY', 'USAGE', 'a', 'SAMPLES', '-1') == b'-ERR syntax error\r\n'
    assert call(client, 'MEMORY', 'USAGE', 'a', 'SAMPLES', 'x') == \
        b'-ERR value is not an integer or out of range\r\n'
    assert call(client, 'MEMORY', 'USAGE', 'a', 'FOO') == b'-ERR syntax error\r\n'
    assert call(client, 'MEMORY', 'USAGE') == b"-ERR wrong number of arguments for 'memory|usage' command\r\n"
    assert call(client, 'MEMORY', 'foo') == b"-ERR unknown subcommand 'foo'. Try MEMORY HELP.\r\n"
    assert call(client, 'MEMORY', 'HELP', 'x') == b"-ERR wrong number of arguments for 'memory|help' command\r\n"
    assert call(client, 'MEMORY', 'PURGE') == b'+OK\r\n'
    assert call(client, 'MEMORY', 'HELP').startswith(
        b'*14\r\n+MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+DOCTOR\r\n')
