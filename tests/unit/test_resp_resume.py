"""The RESP parser resumes a request split across reads: every split point of a
frame, and one byte at a time, gives the same arguments as the whole frame, and
bytes after it survive for the next request."""
import pytest

from cachecyt import _core

FRAMES = [
    (b'*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$5\r\nvalue\r\n', [b'SET', b'split', b'value']),
    (b'*2\r\n$4\r\nECHO\r\n$0\r\n\r\n', [b'ECHO', b'']),
    (b'*2\r\n$4\r\nECHO\r\n$20000\r\n' + b'x' * 20000 + b'\r\n', [b'ECHO', b'x' * 20000]),
    (b'SET a "b c"\r\n', [b'SET', b'a', b'b c']),
]


def requests(chunks):
    p = _core.RespParser()
    out = []
    for chunk in chunks:
        p.feed(chunk)
        while (req := p.next_request()) is not None:
            out.append(req)
    return out


@pytest.mark.parametrize('frame,args', FRAMES)
def test_every_split_point(frame, args):
    trailer = b'*1\r\n$4\r\nPING\r\n'
    for cut in range(1, len(frame)):
        assert requests([frame[:cut], frame[cut:] + trailer]) == [args, [b'PING']], cut


@pytest.mark.parametrize('frame,args', FRAMES[:2] + FRAMES[3:])
def test_one_byte_at_a_time(frame, args):
    assert requests([frame[i:i + 1] for i in range(len(frame))]) == [args]
