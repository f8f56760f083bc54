"""Client.feed with requests cut anywhere: the replies must not depend on how
the bytes were split across reads (a request's parsed arguments must survive
the buffer being compacted between reads)."""
import random

PIPELINE = (b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$10\r\nvvvvvvvvvv\r\n"
            b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"
            b"PING\r\n"
            b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n")
REPLIES = b"+OK\r\n$10\r\nvvvvvvvvvv\r\n+PONG\r\n$5\r\nhello\r\n"


def feed_in_pieces(client, data, cuts):
    out = b""
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        out += client.feed(data[start:cut])
        start = cut
    return out


def test_whole_input_at_once(client):
    assert client.feed(PIPELINE) == REPLIES


def test_one_byte_at_a_time(client):
    assert feed_in_pieces(client, PIPELINE, list(range(1, len(PIPELINE)))) == REPLIES


def test_every_single_cut(client):
    for cut in range(1, len(PIPELINE)):
        assert feed_in_pieces(client, PIPELINE, [cut]) == REPLIES, cut


def test_random_cuts_of_many_requests(client):
    rnd = random.Random(7)
    reqs = b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n" % i + b"x" * 100 + b"\r\n"
                    for i in range(300))
    for _ in range(20):
        cuts = rnd.sample(range(1, len(reqs)), rnd.randint(1, 200))
        assert feed_in_pieces(client, reqs, cuts) == b"+OK\r\n" * 300


def test_big_value_over_many_reads(client):
    value = bytes(range(256)) * 4096                       # 1 MiB
    req = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % len(value) + value + b"\r\n"
    assert feed_in_pieces(client, req, list(range(1000, len(req), 65536))) == b"+OK\r\n"
    assert client.feed(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n") == b"$%d\r\n" % len(value) + value + b"\r\n"


def test_bytearray_and_memoryview_input(client):
    assert client.feed(bytearray(PIPELINE[:30])) + client.feed(memoryview(PIPELINE)[30:]) == REPLIES


def resp(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_long_pipeline_mixing_request_shapes(client):
    # short multibulk requests, inline ones, many-argument ones and a SELECT,
    # more of them than are ever parsed ahead at once: replies stay in order
    reqs, want = [], []
    for i in range(60):
        key = b"k%d" % i
        reqs.append(resp(b"SET", key, b"v%d" % i))
        want.append(b"+OK\r\n")
        if i % 7 == 0:
            reqs.append(b"PING\r\n")
            want.append(b"+PONG\r\n")
        if i % 11 == 0:
            reqs.append(resp(b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"))
            want.append(b"+OK\r\n")
        reqs.append(resp(b"GET", key))
        want.append(b"$%d\r\nv%d\r\n" % (len(b"v%d" % i), i))
    reqs.append(resp(b"SELECT", b"1"))
    want.append(b"+OK\r\n")
    reqs.append(resp(b"GET", b"k1"))
    want.append(b"$-1\r\n")
    reqs.append(resp(b"MGET", b"a", b"b", b"c"))
    want.append(b"*3\r\n$-1\r\n$-1\r\n$-1\r\n")
    assert client.feed(b"".join(reqs)) == b"".join(want)


def test_protocol_error_after_parsed_requests(client):
    # requests before the bad frame are answered, then the error, then nothing
    data = resp(b"SET", b"a", b"1") + resp(b"GET", b"a") + b"*1\r\n%3\r\nbad\r\n" + resp(b"GET", b"a")
    assert client.feed(data) == b"+OK\r\n$1\r\n1\r\n-ERR Protocol error: expected '$', got '%'\r\n"


def test_quit_stops_the_rest_of_the_pipeline(client):
    data = resp(b"SET", b"a", b"1") + resp(b"QUIT") + resp(b"SET", b"a", b"2")
    assert client.feed(data) == b"+OK\r\n+OK\r\n"
    assert client.closing
