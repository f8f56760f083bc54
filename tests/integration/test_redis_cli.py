"""redis-cli, the stock command-line client, against cachecyt: arguments on the
command line, and commands read from stdin."""
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which('redis-cli') is None,
                                reason="redis-cli is not installed")


def cli(server, *args, stdin=None):
    out = subprocess.run(['redis-cli', '-h', server[0], '-p', str(server[1]), *args],
                         input=stdin, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_set_and_get(server, r):
    assert cli(server, 'set', 'a', '1') == b'OK\n'
    assert cli(server, 'get', 'a') == b'1\n'
    assert cli(server, 'incr', 'a') == b'2\n'
    assert cli(server, 'get', 'missing') == b'\n'


def test_error_and_raw_output(server, r):
    cli(server, 'set', 's', 'x')
    assert cli(server, 'incr', 's') == b'ERR value is not an integer or out of range\n'
    assert cli(server, '--no-raw', 'get', 'missing') == b'(nil)\n'
    assert cli(server, '--no-raw', 'incr', 'n') == b'(integer) 1\n'


def test_commands_from_stdin(server, r):
    script = b'set b "hello world"\nappend b !\nget b\nstrlen b\n'
    assert cli(server, stdin=script) == b'OK\n12\nhello world!\n12\n'


def test_pipe_mode(server, r):
    body = b''.join(b'SET k%d %d\r\n' % (i, i) for i in range(100))
    out = cli(server, '--pipe', stdin=body)
    assert b'errors: 0, replies: 100' in out
    assert r.dbsize() == 100
