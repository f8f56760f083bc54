"""SAVE, SHUTDOWN, SYNC and PSYNC are refused inside MULTI and doom the
transaction, as Redis 7.0's no-multi commands (SAVE run by EXEC would wait for
a snapshot of shards EXEC holds)."""
import pytest


@pytest.mark.parametrize('cmd', [b'SAVE', b'SHUTDOWN'])
def test_no_multi_commands_are_refused_and_abort_exec(client, cmd):
    assert client.call([b'DEL', b'nm']) == b':0\r\n'
    assert client.call([b'MULTI']) == b'+OK\r\n'
    assert client.call([b'SET', b'nm', b'v']) == b'+QUEUED\r\n'
    assert client.call([cmd]) == b'-ERR Command not allowed inside a transaction\r\n'
    assert client.call([b'EXEC']) == b'-EXECABORT Transaction discarded because of previous errors.\r\n'
    assert client.call([b'GET', b'nm']) == b'$-1\r\n'
