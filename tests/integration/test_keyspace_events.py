"""Keyspace notifications next to a real redis-server: the same commands on both
produce the same messages on `__keyspace@<db>__:<key>` and
`__keyevent@<db>__:<event>`, in the same order (a subscriber on another
connection, PSUBSCRIBE '__key*__:*')."""
import time

import pytest

from rawclient import Raw


def pmessages(sub, until=b'__keyevent@0__:zz-end'):
    """(channel, message) of every pmessage up to the end marker."""
    out = []
    while True:
        f = sub.reply().split(b'\r\n')
        ch, msg = f[6], f[8]
        if ch == until:
            return out
        out.append((ch, msg))


def events(addr, commands, flags='KEA'):
    ctl, sub = Raw(addr), Raw(addr)
    try:
        ctl.call('FLUSHALL')
        ctl.call('CONFIG', 'SET', 'notify-keyspace-events', flags)
        sub.call('PSUBSCRIBE', '__key*__:*')
        for cmd in commands:
            ctl.call(*cmd)
        ctl.call('PUBLISH', '__keyevent@0__:zz-end', 'x')
        return pmessages(sub)
    finally:
        ctl.call('CONFIG', 'SET', 'notify-keyspace-events', '')
        ctl.close()
        sub.close()


CASES = {
    'strings': [('SET', 'k', 'v'), ('SET', 'k', 'v', 'EX', '100'), ('SETNX', 'k', 'w'),
                ('SETNX', 'k2', 'w'), ('SETEX', 'k3', '10', 'v'), ('PSETEX', 'k4', '1000', 'v'),
                ('GETSET', 'k', 'z'), ('MSET', 'a', '1', 'b', '2'), ('MSETNX', 'c', '1'),
                ('INCR', 'n'), ('DECR', 'n'), ('INCRBY', 'n', '5'), ('DECRBY', 'n', '2'),
                ('INCRBYFLOAT', 'f', '1.5'), ('APPEND', 'k', 'x'), ('SETRANGE', 'k', '1', 'yy'),
                ('SETRANGE', 'k', '1', ''), ('GETDEL', 'a'), ('GETEX', 'b', 'EX', '50'),
                ('GETEX', 'b', 'PERSIST'), ('GETEX', 'c', 'PXAT', '1'), ('INCR', 'k')],
    'keyspace': [('SET', 'a', '1'), ('SET', 'b', '2'), ('DEL', 'a', 'zz', 'b'), ('SET', 'c', '3'),
                 ('EXPIRE', 'c', '100'), ('EXPIRE', 'c', '50', 'NX'), ('PEXPIRE', 'c', '5000'),
                 ('PERSIST', 'c'), ('PERSIST', 'c'), ('RENAME', 'c', 'd'), ('RENAMENX', 'd', 'e'),
                 ('SET', 'f', '1'), ('RENAMENX', 'e', 'f'), ('RENAME', 'f', 'f'),
                 ('COPY', 'e', 'g'), ('COPY', 'e', 'g', 'DB', '2'), ('EXPIREAT', 'g', '1'),
                 ('UNLINK', 'e', 'f')],
    'lists': [('LPUSH', 'l', 'a', 'b'), ('RPUSH', 'l', 'c'), ('LPUSHX', 'nol', 'x'),
              ('RPUSHX', 'l', 'd'), ('LPOP', 'l'), ('RPOP', 'l', '2'), ('LPOP', 'l', '0'),
              ('LPOP', 'l'), ('RPOP', 'l'), ('RPUSH', 'm', 'a', 'b', 'c', 'a'), ('LSET', 'm', '0', 'z'),
              ('LSET', 'm', '9', 'z'), ('LINSERT', 'm', 'BEFORE', 'b', 'y'),
              ('LINSERT', 'm', 'AFTER', 'nope', 'y'), ('LREM', 'm', '0', 'nope'), ('LREM', 'm', '1', 'a'),
              ('LTRIM', 'm', '0', '1'), ('LTRIM', 'm', '5', '9'), ('RPUSH', 'a', '1'),
              ('LMOVE', 'a', 'b', 'LEFT', 'RIGHT'), ('RPOPLPUSH', 'b', 'b'), ('RPUSH', 'b', '2'),
              ('RPOPLPUSH', 'b', 'c'), ('LMOVE', 'nope', 'c', 'LEFT', 'LEFT')],
    'hashes': [('HSET', 'h', 'a', '1', 'b', '2'), ('HSET', 'h', 'a', '1'), ('HSETNX', 'h', 'a', '2'),
               ('HSETNX', 'h', 'c', '3'), ('HMSET', 'h', 'd', '4'), ('HINCRBY', 'h', 'a', '5'),
               ('HINCRBYFLOAT', 'h', 'b', '0.5'), ('HDEL', 'h', 'zz'), ('HDEL', 'h', 'a', 'b'),
               ('HDEL', 'h', 'c', 'd')],
    'blocking': [('RPUSH', 'l', 'a', 'b', 'c', 'd'), ('BLPOP', 'l', '1'), ('BRPOP', 'l', '1'),
                 ('LMPOP', '1', 'l', 'LEFT'), ('BLMOVE', 'l', 'm', 'LEFT', 'LEFT', '1'),
                 ('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c'), ('ZMPOP', '1', 'z', 'MIN'),
                 ('BZPOPMAX', 'z', '1'), ('BZMPOP', '1', '1', 'z', 'MIN', 'COUNT', '5')],
    'sets': [('SADD', 's', 'a', 'b'), ('SADD', 's', 'a'), ('SREM', 's', 'zz'), ('SREM', 's', 'a'),
             ('SREM', 's', 'b'), ('SADD', 't', 'a', 'b', 'c'), ('SPOP', 't'), ('SPOP', 't', '0'),
             ('SPOP', 't', '5'), ('SPOP', 't'), ('SADD', 'p', 'x', 'y'), ('SADD', 'q', 'y'),
             ('SMOVE', 'p', 'q', 'y'), ('SMOVE', 'p', 'q', 'nope'), ('SMOVE', 'p', 'q', 'x'),
             ('SMOVE', 'q', 'q', 'x'), ('SADD', 'u', '1', '2'), ('SADD', 'v', '2'),
             ('SINTERSTORE', 'd', 'u', 'v'), ('SINTERSTORE', 'd2', 'u', 'nope'),
             ('SUNIONSTORE', 'e', 'u'), ('SDIFFSTORE', 'e', 'u', 'u'), ('SDIFFSTORE', 'd', 'u', 'v')],
    'zsets': [('ZADD', 'z', '1', 'a', '2', 'b'), ('ZADD', 'z', '1', 'a'), ('ZADD', 'z', '3', 'a'),
              ('ZINCRBY', 'z', '2', 'b'), ('ZADD', 'z', 'INCR', '1', 'c'), ('ZREM', 'z', 'nope'),
              ('ZREM', 'z', 'a'), ('ZREM', 'z', 'b', 'c'), ('ZADD', 'y', '1', 'a', '2', 'b', '3', 'c'),
              ('ZPOPMIN', 'y'), ('ZPOPMAX', 'y', '0'), ('ZPOPMAX', 'y', '5'), ('ZPOPMIN', 'nope'),
              ('ZADD', 'x', '1', 'a', '2', 'b'), ('ZUNIONSTORE', 'zd', '1', 'x'),
              ('ZINTERSTORE', 'zd', '2', 'x', 'nope'), ('ZINTERSTORE', 'zd', '2', 'x', 'nope'),
              ('ZDIFFSTORE', 'zd', '1', 'x'), ('ZRANGESTORE', 'zr', 'x', '0', '0'),
              ('ZRANGESTORE', 'zr', 'x', '5', '9'), ('ZADD', 'w', '1', 'a', '2', 'b', '3', 'c', '4', 'd'),
              ('ZREMRANGEBYRANK', 'w', '0', '0'), ('ZREMRANGEBYSCORE', 'w', '9', '10'),
              ('ZREMRANGEBYSCORE', 'w', '2', '2'), ('ZREMRANGEBYLEX', 'w', '-', '+')],
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_events_match_redis(server, redis_ref, case):
    ours = events(server, CASES[case])
    theirs = events(redis_ref, CASES[case])
    assert ours == theirs


def test_new_key_events_match_redis(server, redis_ref):
    cmds = [('SET', 'k', 'v'), ('SET', 'k', 'w'), ('INCR', 'n'), ('APPEND', 'k', 'x')]
    assert events(server, cmds, 'KEAn') == events(redis_ref, cmds, 'KEAn')


def test_no_events_when_off_or_class_missing(server):
    assert events(server, [('SET', 'k', 'v'), ('DEL', 'k')], 'Kl') == []
    assert events(server, [('SET', 'k', 'v')], 'g$') == []             # neither K nor E


def test_expired_events_match_redis(server, redis_ref):
    def run(addr):
        ctl, sub = Raw(addr), Raw(addr)
        try:
            ctl.call('FLUSHALL')
            ctl.call('CONFIG', 'SET', 'notify-keyspace-events', 'Ex')
            sub.call('PSUBSCRIBE', '__key*__:*')
            ctl.call('SET', 'lazy', 'v', 'PX', '20')
            ctl.call('SET', 'active', 'v', 'PX', '20')
            time.sleep(0.05)
            ctl.call('GET', 'lazy')                     # expires on access if not already
            deadline = time.monotonic() + 5
            got = []
            while len(got) < 2 and time.monotonic() < deadline:   # the other by active expiry
                f = sub.reply().split(b'\r\n')
                got.append((f[6], f[8]))
            return sorted(got)
        finally:
            ctl.call('CONFIG', 'SET', 'notify-keyspace-events', '')
            ctl.close()
            sub.close()
    ours = run(server)
    assert ours == [(b'__keyevent@0__:expired', b'active'), (b'__keyevent@0__:expired', b'lazy')]
    assert ours == run(redis_ref)


def test_events_of_a_blocked_client_served_later_match_redis(server, redis_ref):
    def run(addr):
        ctl, sub, blocked = Raw(addr), Raw(addr), Raw(addr)
        try:
            ctl.call('FLUSHALL')
            ctl.call('CONFIG', 'SET', 'notify-keyspace-events', 'El')
            sub.call('PSUBSCRIBE', '__key*__:*')
            blocked.send(b'*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n5\r\n')
            time.sleep(0.1)
            ctl.call('RPUSH', 'q', 'v')
            assert blocked.reply() == b'*2\r\n$1\r\nq\r\n$1\r\nv\r\n'
            ctl.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
            ctl.call('PUBLISH', '__keyevent@0__:zz-end', 'x')
            return pmessages(sub)
        finally:
            ctl.call('CONFIG', 'SET', 'notify-keyspace-events', '')
            for c in (ctl, sub, blocked):
                c.close()
    ours = run(server)
    assert ours == [(b'__keyevent@0__:rpush', b'q'), (b'__keyevent@0__:lpop', b'q')]
    assert ours == run(redis_ref)
