"""CLIENT PAUSE holds the commands of every worker's clients (WRITE: writes and
what may replicate; ALL: everything) until UNPAUSE or the pause end, in order;
keys do not expire meanwhile. Also: CLIENT LIST's qbuf while a command runs,
and a busy script answered -BUSY and killed from its own worker."""
import re
import select
import time

import pytest

from rawclient import encode


@pytest.fixture
def unpause(server):
    """Whatever a test leaves, the node ends unpaused."""
    import redis
    yield
    redis.Redis(host=server[0], port=server[1]).execute_command('CLIENT', 'UNPAUSE')


def silent(c, wait=0.2):
    """Nothing arrived on the raw connection within wait seconds."""
    return not c.buf and not select.select([c.sock], [], [], wait)[0]


def info_field(c, section, name):
    text = c.call('INFO', section).decode()
    return int(re.search(rf'^{name}:(\d+)', text, re.M).group(1))


def test_write_on_the_other_worker_is_held_until_unpause(conns, unpause):
    (a0, p0), (a1, p1) = conns(2)
    p0.call('SET', 'pz', 'old')
    assert a0.call('CLIENT', 'PAUSE', 60000, 'WRITE') == b'+OK\r\n'
    a1.send(encode('SET', 'pz', 'new') + encode('GET', 'pz'))
    assert silent(a1)
    assert p1.call('GET', 'pz') == b'$3\r\nold\r\n'            # reads go on
    assert info_field(p0, 'clients', 'blocked_clients') == 1
    assert re.search(rb'flags=b .*cmd=set ', p0.call('CLIENT', 'LIST'))
    assert a0.call('CLIENT', 'UNPAUSE') == b'+OK\r\n'
    assert a1.reply() == b'+OK\r\n'
    assert a1.reply() == b'$3\r\nnew\r\n'                       # its pipeline kept its order
    assert info_field(p0, 'clients', 'blocked_clients') == 0


def test_all_holds_reads_until_the_pause_ends(conns, unpause):
    (a0, _), (a1, _) = conns(2)
    start = time.monotonic()
    assert a0.call('CLIENT', 'PAUSE', 300) == b'+OK\r\n'
    a1.send(encode('PING'))
    assert a1.reply() == b'+PONG\r\n'
    assert time.monotonic() - start >= 0.29


def test_a_shorter_weaker_pause_does_not_end_a_longer_one(conns, unpause):
    (a0, p0), (a1, _) = conns(2)
    assert a0.call('CLIENT', 'PAUSE', 60000, 'WRITE') == b'+OK\r\n'
    assert a0.call('CLIENT', 'PAUSE', 10, 'WRITE') == b'+OK\r\n'
    a1.send(encode('SET', 'pz2', 'v'))
    assert silent(a1, 0.3)
    assert p0.call('CLIENT', 'UNPAUSE') == b'+OK\r\n'
    assert a1.reply() == b'+OK\r\n'


def test_script_flags_and_publish_under_a_write_pause(conns, unpause):
    (a0, p0), (a1, p1) = conns(2)
    assert a0.call('CLIENT', 'PAUSE', 60000, 'WRITE') == b'+OK\r\n'
    assert p1.call('EVAL', '#!lua flags=no-writes\nreturn 7', 0) == b':7\r\n'
    a1.send(encode('PUBLISH', 'pch', 'x') + encode('EVAL', 'return 8', 0))
    assert silent(a1)
    assert p0.call('CLIENT', 'UNPAUSE') == b'+OK\r\n'
    assert a1.reply() == b':0\r\n'
    assert a1.reply() == b':8\r\n'


def test_keys_do_not_expire_during_a_pause(conns, unpause):
    (a0, p0), (_, p1) = conns(2)
    p0.call('SET', 'pexp', 'v', 'PX', 30)
    assert a0.call('CLIENT', 'PAUSE', 60000, 'WRITE') == b'+OK\r\n'
    before = info_field(p0, 'stats', 'expired_keys')
    time.sleep(0.25)
    assert p1.call('GET', 'pexp') == b'$-1\r\n'               # expired for readers
    assert info_field(p0, 'stats', 'expired_keys') == before   # but not removed
    assert a0.call('CLIENT', 'UNPAUSE') == b'+OK\r\n'
    assert p1.call('GET', 'pexp') == b'$-1\r\n'
    assert info_field(p0, 'stats', 'expired_keys') == before + 1


def test_pause_errors_as_redis(conns):
    (a0, _), _ = conns(2)
    assert a0.call('CLIENT', 'PAUSE', -1) == b'-ERR timeout is negative\r\n'
    assert a0.call('CLIENT', 'PAUSE', 'x') == b'-ERR timeout is not an integer or out of range\r\n'
    assert a0.call('CLIENT', 'PAUSE', 1, 'foo') == b'-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n'
    assert a0.call('CLIENT', 'PAUSE', 1, 'write', 'x') == (
        b"-ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.\r\n")


def test_qbuf_shows_the_request_running(conns):
    (a0, _), _ = conns(2)
    assert b' qbuf=26 ' in a0.call('CLIENT', 'LIST')
    a0.send(encode('CLIENT', 'INFO') + encode('PING'))
    assert b' qbuf=40 ' in a0.reply()
    assert a0.reply() == b'+PONG\r\n'


def test_busy_script_is_killed_from_its_own_worker(conns):
    (a0, p0, k0), (_, _, p1) = conns(3)
    old = p1.call('CONFIG', 'GET', 'lua-time-limit').split(b'\r\n')[-2]
    p1.call('CONFIG', 'SET', 'lua-time-limit', 50)
    try:
        p0.call('SET', 'bx', 1)
        a0.send(encode('EVAL', 'while true do end', 0))
        time.sleep(0.2)
        assert p0.call('MULTI') == b'+OK\r\n'
        assert p0.call('INCR', 'bx').startswith(b'-BUSY ')
        assert k0.call('SCRIPT', 'KILL') == b'+OK\r\n'
        assert a0.reply().startswith(b'-ERR Script killed by user with SCRIPT KILL...')
        assert p0.call('INCR', 'bx') == b'+QUEUED\r\n'
        assert p0.call('EXEC') == b'-EXECABORT Transaction discarded because of previous errors.\r\n'
        assert p0.call('GET', 'bx') == b'$1\r\n1\r\n'
    finally:
        p1.call('CONFIG', 'SET', 'lua-time-limit', old)


def read_buffer(c, cid):
    line = c.call('CLIENT', 'LIST', 'ID', cid).decode()
    return int(re.search(r' qbuf=(\d+)', line).group(1)) + int(re.search(r'qbuf-free=(\d+)', line).group(1))


def test_read_buffer_shows_on_other_workers_and_shrinks_to_its_peak(conns):
    (a0, _), (_, p1) = conns(2)
    cid = int(a0.call('CLIENT', 'ID')[1:-2])
    assert 16384 <= read_buffer(p1, cid) < 32768
    assert a0.call('SET', 'qbig', 'A' * 400000) == b'+OK\r\n'
    big = read_buffer(p1, cid)
    assert big > 400000                              # kept after the request, as Redis
    deadline = time.monotonic() + 3
    while read_buffer(p1, cid) >= big:               # the cron shrinks it to the recent peak
        assert time.monotonic() < deadline
        a0.call('SET', 'qbig', 'small')
        time.sleep(0.05)
    assert read_buffer(p1, cid) > 0
