"""memcached commands run in process (McClient.feed, no sockets) on a private
segment: exact reply bytes, the RESP view of the same keys, and an allocator
that balances after the value-rewriting commands (append, prepend, incr)."""
import pytest

from cachecyt import _core


@pytest.fixture
def mc(core):
    _core.mc_configure(1024 * 1024, 0)
    return _core.McClient()


def test_storage_and_retrieval(mc):
    assert mc.feed(b'set a 5 0 3\r\nabc\r\nadd a 0 0 1\r\nx\r\nappend a 0 0 2\r\nde\r\n'
                   b'prepend a 0 0 1\r\n_\r\nget a b\r\n') == \
        b'STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE a 5 6\r\n_abcde\r\nEND\r\n'


def test_noreply_hides_every_reply_of_its_command(mc):
    assert mc.feed(b'set a 0 0 1 noreply\r\nx\r\nincr a 1 noreply\r\ndelete zz noreply\r\n'
                   b'touch a 10 noreply\r\nflush_all noreply\r\nget a\r\n') == b'END\r\n'


def test_resp_sees_memcached_items_and_back(mc, client):
    mc.feed(b'set k 9 0 5\r\nhello\r\nset n 0 0 2\r\n41\r\n')
    assert client.call([b'GET', b'k']) == b'$5\r\nhello\r\n'
    assert client.call([b'INCR', b'n']) == b':42\r\n'
    assert mc.feed(b'incr n 18446744073709551573\r\nget n\r\n') == \
        b'18446744073709551615\r\nVALUE n 0 20\r\n18446744073709551615\r\nEND\r\n'
    assert client.call([b'INCR', b'n']) == b'-ERR value is not an integer or out of range\r\n'
    assert mc.feed(b'incr n 2\r\n') == b'1\r\n'
    assert client.call([b'INCR', b'n']) == b':2\r\n'
    client.call([b'SET', b'k', b'new'])
    assert mc.feed(b'get k\r\n') == b'VALUE k 0 3\r\nnew\r\nEND\r\n'


def test_cas_unique_moves_with_any_write(mc, client):
    mc.feed(b'set c 0 0 1\r\nx\r\n')
    unique = mc.feed(b'gets c\r\n').split(b'\r\n')[0].split()[-1]
    client.call([b'APPEND', b'c', b'y'])
    assert mc.feed(b'cas c 0 0 1 %s\r\nz\r\n' % unique) == b'EXISTS\r\n'
    unique = mc.feed(b'gets c\r\n').split(b'\r\n')[0].split()[-1]
    assert mc.feed(b'touch c 100\r\ncas c 0 0 1 %s\r\nz\r\n' % unique) == b'TOUCHED\r\nSTORED\r\n'


def test_memory_balances_after_rewrites(mc):
    for i in range(200):
        mc.feed(b'set k%d 0 0 3\r\n100\r\nincr k%d 5\r\nappend k%d 0 0 300\r\n%s\r\n'
                b'prepend k%d 0 0 70000\r\n%s\r\ndecr k%d 1\r\n'
                % (i, i, i, b'a' * 300, i, b'b' * 70000, i))
    assert mc.feed(b'flush_all\r\n') == b'OK\r\n'
    assert _core._test_check_invariants()['errors'] == []


def test_stats_rows(mc):
    mc.feed(b'set s 0 0 1\r\nx\r\nget s\r\nget nope\r\n')
    out = mc.feed(b'stats\r\n').decode()
    rows = dict(line.split(' ', 2)[1:] for line in out.split('\r\n') if line.startswith('STAT '))
    assert out.endswith('END\r\n')
    assert rows['curr_items'] == '1' and int(rows['cmd_get']) >= 2 and int(rows['get_misses']) >= 1
    assert mc.feed(b'stats nonsense\r\n') == b'ERROR\r\n'
