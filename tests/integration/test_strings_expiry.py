"""Keys that really expire: once its time has passed, every string and keyspace
command must treat the key as absent, as Redis does. Each step runs on cachecyt
and on a real redis-server; replies are compared byte for byte."""
import time

from diff.rawresp import RawConn

SETUP = [
    ('SET', 'k1', 'v', 'PX', '100'), ('SET', 'k2', '10', 'PX', '100'),
    ('SETEX', 'k3', '1', 'v'), ('PSETEX', 'k4', '100', 'v'), ('SET', 'k5', 'v'),
    ('PEXPIRE', 'k5', '100'), ('SET', 'k6', 'v'), ('PEXPIREAT', 'k6', 'NOW+100'),
    ('SET', 'k7', 'abc', 'PX', '100'), ('SET', 'k8', 'x', 'PX', '100'),
    ('SET', 'k9', 'v', 'PX', '100'), ('SET', 'k10', 'v'), ('GETEX', 'k10', 'PX', '100'),
    ('SET', 'k11', 'v', 'PX', '100'), ('SET', 'k12', '5', 'PX', '100'),
    ('SET', 'keep', 'v', 'PX', '100'), ('SET', 'keep', 'w', 'KEEPTTL'),
    ('SET', 'cleared', 'v', 'PX', '100'), ('SET', 'cleared', 'w'),
    ('SET', 'incr', '1', 'PX', '100'), ('INCR', 'incr'),
    ('SET', 'persisted', 'v', 'PX', '100'), ('PERSIST', 'persisted'),
]

AFTER = [
    ('GET', 'k1'), ('INCR', 'k2'), ('GET', 'k2'), ('EXISTS', 'k4', 'k5', 'k6'),
    ('TTL', 'k4'), ('PTTL', 'k5'), ('TYPE', 'k6'), ('APPEND', 'k7', 'd'), ('GET', 'k7'),
    ('SETNX', 'k8', 'y'), ('MSETNX', 'k9', 'a', 'k11', 'b'), ('MGET', 'k9', 'k10', 'k11'),
    ('GETEX', 'k10'), ('EXPIRE', 'k12', '100'), ('GETDEL', 'k12'), ('STRLEN', 'k1'),
    ('GETRANGE', 'k1', '0', '-1'), ('SETRANGE', 'k1', '2', 'zz'), ('GET', 'k1'),
    ('INCRBYFLOAT', 'k4', '1.5'), ('SET', 'k5', 'new', 'XX'), ('SET', 'k6', 'new', 'NX', 'GET'),
    ('GET', 'keep'), ('GET', 'cleared'), ('GET', 'incr'), ('GET', 'persisted'),
    ('DEL', 'k1', 'k2', 'k3', 'keep', 'cleared'), ('PERSIST', 'k5'), ('EXPIRETIME', 'k5'),
]


def run(conn, steps):
    out = []
    for step in steps:
        args = [str(int(time.time() * 1000) + 100) if a == 'NOW+100' else a for a in step]
        out.append(conn.call(*args))
    return out


def test_expired_keys_are_absent_to_every_command(server, redis_ref):
    with RawConn(server) as ours, RawConn(redis_ref) as ref:
        for conn in (ours, ref):
            conn.call('FLUSHALL')
        assert run(ours, SETUP) == run(ref, SETUP)
        time.sleep(1.3)                 # past every expiry above, SETEX's 1 s included
        for step, got, want in zip(AFTER, run(ours, AFTER), run(ref, AFTER)):
            assert got == want, step


def test_expired_keys_leave_dbsize(server):
    with RawConn(server) as c:
        c.call('FLUSHALL')
        for i in range(50):
            c.call('SET', f'short{i}', 'v', 'PX', '50')
        c.call('SET', 'long', 'v')
        deadline = time.monotonic() + 5
        while c.call('DBSIZE') != b':1\r\n' and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.call('DBSIZE') == b':1\r\n'
