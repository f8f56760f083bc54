"""First checks of the core through the dispatcher: exact reply bytes."""


def test_set_get_roundtrip(client):
    assert client.call([b'SET', b'k', b'hello']) == b'+OK\r\n'
    assert client.call([b'GET', b'k']) == b'$5\r\nhello\r\n'
    assert client.call([b'get', b'missing']) == b'$-1\r\n'


def test_incr_keeps_integer_semantics(client):
    assert client.call([b'INCR', b'n']) == b':1\r\n'
    assert client.call([b'INCRBY', b'n', b'41']) == b':42\r\n'
    assert client.call([b'GET', b'n']) == b'$2\r\n42\r\n'
    client.call([b'SET', b's', b'abc'])
    assert client.call([b'INCR', b's']) == b'-ERR value is not an integer or out of range\r\n'


def test_unknown_command_and_arity(client):
    assert client.call([b'NOPE', b'a']) == \
        b"-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n"
    assert client.call([b'GET']) == b"-ERR wrong number of arguments for 'get' command\r\n"


def test_feed_pipelined_requests_reply_in_order(client):
    out = client.feed(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
    assert out == b"+OK\r\n+PONG\r\n$1\r\n1\r\n"
