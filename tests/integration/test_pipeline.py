"""Pipelining: many requests in one write must all be answered, in order, and a
request split across reads must be answered once it is complete."""
import socket

from diff.rawresp import RawConn, encode


def test_redis_py_pipeline_of_1000(r):
    pipe = r.pipeline(transaction=False)
    for i in range(250):
        pipe.set(f'k{i}', i)
        pipe.incr(f'k{i}')
        pipe.get(f'k{i}')
        pipe.exists(f'k{i}', 'missing')
    results = pipe.execute()
    assert len(results) == 1000
    for i in range(250):
        assert results[4 * i:4 * i + 4] == [True, i + 1, str(i + 1).encode(), 1]
    assert r.dbsize() == 250


def test_pipeline_with_errors_keeps_order(r):
    pipe = r.pipeline(transaction=False)
    pipe.set('s', 'text')
    pipe.incr('s')
    pipe.get('s')
    results = pipe.execute(raise_on_error=False)
    assert results[0] is True
    assert 'not an integer' in str(results[1])
    assert results[2] == b'text'


def test_raw_pipeline_in_one_write(server):
    with RawConn(server) as c:
        c.call('FLUSHALL')
        c.send(b''.join(encode('INCR', 'counter') for _ in range(5000)))
        replies = [c.read_reply() for _ in range(5000)]
    assert replies == [b':%d\r\n' % (i + 1) for i in range(5000)]


def test_request_split_byte_by_byte(server):
    frame = encode('SET', 'split', 'value') + encode('GET', 'split') + b'PING\r\n'
    with RawConn(server) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(frame)):
            c.send(frame[i:i + 1])
        assert c.read_reply() == b'+OK\r\n'
        assert c.read_reply() == b'$5\r\nvalue\r\n'
        assert c.read_reply() == b'+PONG\r\n'
