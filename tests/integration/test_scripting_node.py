"""Scripting on a running node (2 workers): the script cache and the function
libraries are one for the node, a script is atomic with respect to every
worker, a long script makes the other workers answer -BUSY and SCRIPT KILL /
FUNCTION KILL stop it from there, and the node stays up."""
import threading
import time

from rawclient import encode

BUSY = b'-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n'
BUSY_F = b'-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n'
LOOP = 'local i = 0 while true do i = i + 1 end'
SHA1 = b'e0e1f9fabfc9d4800c877a703b823ac0578ff8db'       # of 'return 1'


def wait_busy(conn, want=BUSY, timeout=10.0):
    """Poll until the script sent on another connection runs (a command gets
    -BUSY past the threshold): under load it may start late."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = conn.call('GET', 'x')
        if reply.startswith(b'-BUSY'):
            assert reply == want
            return
        time.sleep(0.01)
    raise AssertionError("the script never made the node busy")


def test_script_cache_is_shared_by_the_workers(conns):
    (a,), (b,) = conns(1)
    a.call('SCRIPT', 'FLUSH')
    assert a.call('SCRIPT', 'LOAD', 'return 1') == b'$40\r\n' + SHA1 + b'\r\n'
    assert b.call('EVALSHA', SHA1, 0) == b':1\r\n'
    assert b.call('SCRIPT', 'EXISTS', SHA1) == b'*1\r\n:1\r\n'
    assert b.call('EVAL', 'return 2', 0) == b':2\r\n'          # EVAL caches too
    assert a.call('EVALSHA', '7f923f79fe76194c868d7e1d0820de36700eb649', 0) == b':2\r\n'
    assert b.call('SCRIPT', 'FLUSH') == b'+OK\r\n'
    assert a.call('EVALSHA', SHA1, 0) == b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
    assert a.call('SCRIPT', 'EXISTS', SHA1) == b'*1\r\n:0\r\n'


def test_cached_scripts_are_forgotten_when_another_worker_flushes(conns):
    (a,), (b,) = conns(1)
    a.call('SCRIPT', 'FLUSH')
    assert a.call('SCRIPT', 'LOAD', 'return 1') == b'$40\r\n' + SHA1 + b'\r\n'
    for _ in range(3):                                     # compiled, then run from a's cache
        assert a.call('EVALSHA', SHA1, 0) == b':1\r\n'
        assert a.call('EVAL', 'return 1', 0) == b':1\r\n'
    assert b.call('SCRIPT', 'FLUSH') == b'+OK\r\n'
    assert a.call('EVALSHA', SHA1, 0) == b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
    assert a.call('EVAL', 'return 1', 0) == b':1\r\n'        # cached again, for every worker
    assert b.call('EVALSHA', SHA1, 0) == b':1\r\n'


def test_ttl_inside_a_script_reads_the_real_clock(conns):
    """Redis 7.0 freezes the time a script sees for expiry, not for TTL/PTTL."""
    (a,), _ = conns(1)
    assert a.call('SET', 'ttlk', 'v', 'PX', '100000') == b'+OK\r\n'
    script = ("local before = redis.call('pttl', KEYS[1]) local t = redis.call('time') repeat"
              " local n = redis.call('time') until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 30000"
              " return {before, redis.call('pttl', KEYS[1]), redis.call('ttl', KEYS[1])}")
    for _ in range(2):                                     # compiled, then cached
        reply = a.call('EVAL', script, 1, 'ttlk').split(b'\r\n')
        before, after, secs = int(reply[1][1:]), int(reply[2][1:]), int(reply[3][1:])
        assert before - after >= 29, reply
        assert secs == (after + 500) // 1000 or secs == (after - 1 + 500) // 1000


def test_function_libraries_are_shared_by_the_workers(conns):
    (a,), (b,) = conns(1)
    a.call('FUNCTION', 'FLUSH')
    lib = "#!lua name=bank\nredis.register_function('bal', function(k) return redis.call('get', k[1]) end)"
    assert a.call('FUNCTION', 'LOAD', lib) == b'$4\r\nbank\r\n'
    assert b.call('SET', 'acct', '5') == b'+OK\r\n'
    assert b.call('FCALL', 'bal', 1, 'acct') == b'$1\r\n5\r\n'
    assert b.call('FUNCTION', 'LOAD', lib) == b"-ERR Library 'bank' already exists\r\n"
    assert b.call('FUNCTION', 'DELETE', 'bank') == b'+OK\r\n'
    assert a.call('FCALL', 'bal', 1, 'acct') == b'-ERR Function not found\r\n'


def test_busy_script_is_reported_and_killed(conns):
    (a,), (b,) = conns(1)
    assert b.call('CONFIG', 'SET', 'busy-reply-threshold', '200') == b'+OK\r\n'
    try:
        assert b.call('CONFIG', 'GET', 'lua-time-limit') == b'*2\r\n$14\r\nlua-time-limit\r\n$3\r\n200\r\n'
        for _ in range(2):                                  # compiled, then cached (fast path)
            a.send(encode('EVAL', LOOP, 0))
            wait_busy(b)                                    # waits for the threshold, then BUSY
            assert b.call('PING') == BUSY
            assert b.call('SCRIPT', 'LOAD', 'return 1') == BUSY
            assert b.call('FUNCTION', 'KILL') == BUSY
            assert b.call('SCRIPT', 'KILL') == b'+OK\r\n'
            assert a.reply().startswith(b'-ERR Script killed by user with SCRIPT KILL... script: ')
            assert a.call('PING') == b'+PONG\r\n'
        assert b.call('SET', 'x', '1') == b'+OK\r\n'
        assert b.call('SCRIPT', 'KILL') == b'-NOTBUSY No scripts in execution right now.\r\n'
    finally:
        b.call('CONFIG', 'SET', 'busy-reply-threshold', '5000')


def test_busy_function_is_killed_by_function_kill(conns):
    (a,), (b,) = conns(1)
    b.call('FUNCTION', 'FLUSH')
    lib = "#!lua name=spin\nredis.register_function('spin', function() %s end)" % LOOP
    assert b.call('FUNCTION', 'LOAD', lib) == b'$4\r\nspin\r\n'
    b.call('CONFIG', 'SET', 'busy-reply-threshold', '100')
    try:
        a.send(encode('FCALL', 'spin', 0))
        wait_busy(b, BUSY_F)
        assert b.call('SCRIPT', 'KILL') == BUSY_F
        assert b.call('FUNCTION', 'KILL') == b'+OK\r\n'
        assert a.reply().startswith(b'-ERR Script killed by user with SCRIPT KILL... script: spin, on ')
    finally:
        b.call('CONFIG', 'SET', 'busy-reply-threshold', '5000')
        b.call('FUNCTION', 'FLUSH')


def test_script_that_wrote_cannot_be_killed(conns):
    (a,), (b,) = conns(1)
    b.call('CONFIG', 'SET', 'busy-reply-threshold', '100')
    try:
        # writes, then spins for about 0.6 s (redis.call('time') keeps it honest)
        a.send(encode('EVAL', "redis.call('set', KEYS[1], 'w') local t = redis.call('time')[1] "
                      "local u = tonumber(redis.call('time')[2]) + 1000000 * (tonumber(t) % 100) "
                      "repeat local n = redis.call('time') "
                      "until tonumber(n[2]) + 1000000 * (tonumber(n[1]) % 100) - u > 600000 "
                      "return 'done'", 1, 'w'))
        wait_busy(b)
        assert b.call('SCRIPT', 'KILL').startswith(b'-UNKILLABLE Sorry the script already executed')
        assert a.reply() == b'$4\r\ndone\r\n'
        assert b.call('GET', 'w') == b'$1\r\nw\r\n'
    finally:
        b.call('CONFIG', 'SET', 'busy-reply-threshold', '5000')


def test_other_workers_never_see_a_script_half_done(conns):
    """A command of another worker waits for the script (below the threshold)
    and then sees all of its writes: 'before' is never visible."""
    (a,), (b,) = conns(1)
    b.call('DEL', 'p')
    a.send(encode('EVAL', "redis.call('set', 'p', 'before') local t = redis.call('time') "
                  "repeat local n = redis.call('time') until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 150000 "
                  "redis.call('set', 'p', 'after') return 1", 0))
    deadline = time.monotonic() + 10
    seen = b'$-1\r\n'
    while seen == b'$-1\r\n' and time.monotonic() < deadline:
        seen = b.call('GET', 'p')
    assert seen == b'$5\r\nafter\r\n'
    assert a.reply() == b':1\r\n'


TRANSFER = """
local from, to = KEYS[1], KEYS[2]
local amount = tonumber(ARGV[1])
local have = tonumber(redis.call('get', from) or '0')
if have < amount then return 0 end
redis.call('decrby', from, amount)
redis.call('incrby', to, amount)
return 1
"""
TOTAL = "local s = 0 for i = 1, tonumber(ARGV[1]) do s = s + tonumber(redis.call('get', 'acct:' .. i) or '0') end return s"


def test_transfers_keep_the_sum_under_load_from_both_workers(conns):
    accounts, each = 8, 1000
    w0, w1 = conns(2)
    w0[0].call('DEL', *[f'acct:{i}' for i in range(1, accounts + 1)])
    for i in range(1, accounts + 1):
        assert w0[0].call('SET', f'acct:{i}', each) == b'+OK\r\n'
    errors, sums = [], []

    def mover(conn, seed):
        import random
        rnd = random.Random(seed)
        for _ in range(300):
            x, y = rnd.sample(range(1, accounts + 1), 2)
            r = conn.call('EVAL', TRANSFER, 2, f'acct:{x}', f'acct:{y}', rnd.randint(1, 50))
            if r not in (b':0\r\n', b':1\r\n'):
                errors.append(r)

    def auditor(conn):
        for _ in range(100):
            sums.append(conn.call('EVAL', TOTAL, 0, accounts))

    threads = [threading.Thread(target=mover, args=(w0[0], 1)), threading.Thread(target=mover, args=(w1[0], 2)),
               threading.Thread(target=auditor, args=(w0[1],)), threading.Thread(target=auditor, args=(w1[1],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    want = b':%d\r\n' % (accounts * each)
    assert set(sums) == {want}
    assert w1[0].call('EVAL', TOTAL, 0, accounts) == want


def test_memcached_requests_wait_for_a_script(mc_node):
    """A memcached get on any worker runs after the script, never inside it."""
    import socket

    from rawclient import Raw
    scripts = [Raw(('127.0.0.1', mc_node.port)) for _ in range(2)]
    try:
        assert scripts[0].call('DEL', 'm') in (b':0\r\n', b':1\r\n')
        for r in scripts:
            r.send(encode('EVAL', "redis.call('set', 'm', 'a') local t = redis.call('time') "
                          "repeat local n = redis.call('time') "
                          "until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 100000 "
                          "redis.call('set', 'm', 'bb') return 1", 0))
        seen = []
        deadline = time.monotonic() + 10
        while len(seen) < 20 and time.monotonic() < deadline:
            with socket.create_connection(('127.0.0.1', mc_node.memcached_port), timeout=5) as s:
                s.sendall(b'get m\r\n')
                data = b''
                while not data.endswith(b'END\r\n'):
                    data += s.recv(4096)
            if data != b'END\r\n':                      # the first script has started
                seen.append(data)
        assert seen and all(d == b'VALUE m 0 2\r\nbb\r\nEND\r\n' for d in seen), seen
        assert [r.reply() for r in scripts] == [b':1\r\n', b':1\r\n']
    finally:
        for r in scripts:
            r.sock.close()
