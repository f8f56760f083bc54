"""Commands over very many keys (MSET, MGET, EXISTS, DEL with 400,000 keys) get
their whole answer, and in seconds: a step that grows with the square of the key
count would block the worker for minutes."""
from diff.rawresp import RawConn, encode

N = 400_000


def test_multi_key_commands_over_400k_keys(server):
    keys = [b'key:%d' % i for i in range(N)]
    with RawConn(server, timeout=8) as c:          # per reply
        c.call('FLUSHALL')
        c.send(encode('MSET', *[x for k in keys for x in (k, k[4:])]))
        assert c.read_reply() == b'+OK\r\n'
        c.send(encode('MGET', *keys, 'missing'))
        want = b'*%d\r\n' % (N + 1) + b''.join(b'$%d\r\n%s\r\n' % (len(k) - 4, k[4:]) for k in keys)
        assert c.read_reply() == want + b'$-1\r\n'
        assert c.call('EXISTS', *keys) == b':%d\r\n' % N
        assert c.call('MSETNX', *[x for k in keys for x in (k, b'1')]) == b':0\r\n'
        assert c.call('DBSIZE') == b':%d\r\n' % N
        assert c.call('DEL', *keys) == b':%d\r\n' % N
        assert c.call('DBSIZE') == b':0\r\n'
