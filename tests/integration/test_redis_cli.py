"""redis-cli, the stock command-line client, against cachecyt: arguments on the
command line, and commands read from stdin."""
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which('redis-cli') is None,
                                reason="redis-cli is not installed")


def cli(server, *args, stdin=None):
    out = subprocess.run(['redis-cli', '-h', server[0], '-p', str(server[1]), *args],
                         input=stdin, capture_output=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_set_and_get(server, r):
    assert cli(server, 'set', 'a', '1') == b'OK\n'
    assert cli(server, 'get', 'a') == b'1\n'
    assert cli(server, 'incr', 'a') == b'2\n'
    assert cli(server, 'get', 'missing') == b'\n'


def test_output_same_as_with_redis(server, redis_ref):
    """Errors, nil and integers as redis-cli prints them, raw and not."""
    calls = [('flushall',), ('set', 's', 'x'), ('incr', 's'), ('--no-raw', 'get', 'missing'),
             ('--no-raw', 'incr', 'n'), ('--no-raw', 'incr', 's'), ('--no-raw', 'mget', 's', 'n', 'q'),
             ('--no-raw', 'nosuchcommand', 'x'), ('--no-raw', 'set', 'k', 'v', 'px', '0')]
    for call in calls:
        assert cli(server, *call) == cli(redis_ref, *call), call


def test_commands_from_stdin(server, r):
    script = b'set b "hello world"\nappend b !\nget b\nstrlen b\n'
    assert cli(server, stdin=script) == b'OK\n12\nhello world!\n12\n'


def test_pipe_mode(server, r):
    body = b''.join(b'SET k%d %d\r\n' % (i, i) for i in range(100))
    out = cli(server, '--pipe', stdin=body)
    assert b'errors: 0, replies: 100' in out
    assert r.dbsize() == 100
