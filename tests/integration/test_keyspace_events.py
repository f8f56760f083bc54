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
