"""The memcached text parser (sans-IO): every request reads the same whole,
split at every byte, and with the next request behind it; hostile input is
answered without losing the place in the stream."""
import pytest

from cachecyt import _core

SET, GET, CAS, ERRLINE = 5, 1, 10, 26

CASES = [
    (b'get a b c\r\n', (GET, [b'get', b'a', b'b', b'c'], None, None)),
    (b'get  a\n', (GET, [b'get', b'a'], None, None)),
    (b'set k 5 10 3\r\nabc\r\n', (SET, [b'set', b'k', b'5', b'10', b'3'], b'abc', None)),
    (b'set k 0 0 0 noreply\r\n\r\n', (SET, [b'set', b'k', b'0', b'0', b'0', b'noreply'], b'', None)),
    (b'cas k 0 0 2 77\r\nhi\r\n', (CAS, [b'cas', b'k', b'0', b'0', b'2', b'77'], b'hi', None)),
    (b'set k 0 0 4\r\na\r\nb\r\n', (SET, [b'set', b'k', b'0', b'0', b'4'], b'a\r\nb', None)),
]


def run(chunks, item_max=1024 * 1024):
    p = _core.McParser(item_max)
    out = []
    for chunk in chunks:
        p.feed(chunk)
        while (req := p.next_request()) is not None:
            if req[0] == ERRLINE:
                req = (ERRLINE, req[1], None, req[3])
            out.append(req)
            if req == 'close':
                return out
    return out


@pytest.mark.parametrize('frame,want', CASES)
def test_whole_split_and_trailing(frame, want):
    trailer = b'get z\r\n'
    after = (GET, [b'get', b'z'], None, None)
    assert run([frame + trailer]) == [want, after]
    assert run([bytes([b]) for b in frame + trailer]) == [want, after]
    for cut in range(1, len(frame)):
        assert run([frame[:cut], frame[cut:] + trailer]) == [want, after], cut


@pytest.mark.parametrize('line,err', [
    (b'\r\n', 'ERROR'), (b'bogus\r\n', 'ERROR'), (b'GET a\r\n', 'ERROR'), (b'get\r\n', 'ERROR'),
    (b'set a 0 0\r\n', 'ERROR'), (b'set a x 0 1\r\n', 'CLIENT_ERROR bad command line format'),
    (b'set a 0 0 -1\r\n', 'CLIENT_ERROR bad command line format'),
    (b'set ' + b'k' * 251 + b' 0 0 1\r\n', 'CLIENT_ERROR bad command line format'),
    (b'cas a 0 0 1 x\r\n', 'CLIENT_ERROR bad command line format'),
])
def test_bad_line_consumes_only_the_line(line, err):
    reqs = run([line + b'get z\r\n'])
    assert reqs[0][0] == ERRLINE and reqs[0][3] == err
    assert reqs[1] == (GET, [b'get', b'z'], None, None)


def test_too_large_swallows_the_data_block_as_it_arrives():
    big = b'x' * 5000
    chunks = [b'set a 0 0 5000\r\n', big[:100], big[100:], b'\r\nget z\r\n']
    reqs = run(chunks, item_max=2048)
    assert reqs[0][0] == SET and reqs[0][3] == 'SERVER_ERROR object too large for cache'
    assert reqs[1] == (GET, [b'get', b'z'], None, None)


def test_long_line_without_newline_closes_unless_multiget():
    assert run([b'x' * 3000]) == ['close']
    keys = b' '.join(b'k%d' % i for i in range(1000))
    reqs = run([b'get ' + keys[:2500], keys[2500:] + b'\r\n'])
    assert len(reqs) == 1 and len(reqs[0][1]) == 1001


def test_number_rules():
    # flags wrap to 32 bits, exptime and bytes are int32, as memcached reads them
    assert run([b'set a 4294967296 0 1\r\nx\r\n'])[0][0] == SET
    assert run([b'set a 0 9999999999 1\r\nx\r\n'])[0][0] == SET       # cut to int32
    assert run([b'set a 0 99999999999999999999 1\r\nx\r\n'])[0][3] == 'CLIENT_ERROR bad command line format'
    assert run([b'set a 0 -5 1\r\nx\r\n'])[0][0] == SET


def test_bad_data_chunk_consumes_exactly_bytes_plus_two():
    # memcached reads <bytes> + 2 and answers; the rest ("\r\n" here) is a line
    reqs = run([b'set k 0 0 1\r\nxyz\r\nget z\r\n'])
    assert [r[3] for r in reqs] == ['CLIENT_ERROR bad data chunk', 'ERROR', None]
