"""Server and connection commands (HELLO, RESET, CLIENT, CONFIG, COMMAND, INFO,
TIME, SHUTDOWN) answer as Redis 7.0 does: the deterministic replies are
compared byte for byte with a real redis-server."""
import re
import subprocess
import time

import pytest

from rawclient import Raw, decode
from servers import CachecytServer

# Commands whose whole reply (error text included) must equal Redis's.
SAME_AS_REDIS = [
    ('HELLO', '4'), ('HELLO', 'abc'), ('HELLO', '3', 'foo'), ('HELLO', '3', 'AUTH', 'default'),
    ('HELLO', '3', 'AUTH', 'bob', 'x'), ('HELLO', '3', 'SETNAME', 'a b'), ('HELLO', '2', 'SETNAME'),
    ('CLIENT',), ('CLIENT', 'foo'), ('CLIENT', 'SETINFO', 'lib-name', 'redis-py'),
    ('CLIENT', 'ID', 'x'), ('CLIENT', 'GETNAME', 'x'), ('CLIENT', 'SETNAME'),
    ('CLIENT', 'SETNAME', 'a b'), ('CLIENT', 'SETNAME', 'a\nb'), ('CLIENT', 'SETNAME', ''),
    ('CLIENT', 'GETNAME'), ('CLIENT', 'NO-EVICT', 'maybe'), ('CLIENT', 'NO-EVICT'),
    ('CLIENT', 'NO-EVICT', 'ON'), ('CLIENT', 'NO-EVICT', 'off'), ('CLIENT', 'INFO', 'x'),
    ('CLIENT', 'KILL'), ('CLIENT', 'KILL', '1.2.3.4:5'), ('CLIENT', 'KILL', 'ID', 'x'),
    ('CLIENT', 'KILL', 'ID', '0'), ('CLIENT', 'KILL', 'ID', '99999'),
    ('CLIENT', 'KILL', 'TYPE', 'foo'), ('CLIENT', 'KILL', 'USER', 'bob'),
    ('CLIENT', 'KILL', 'SKIPME', 'maybe'), ('CLIENT', 'KILL', 'MAXAGE', '1'),
    ('CLIENT', 'KILL', 'FOO', 'bar'), ('CLIENT', 'KILL', 'ID'), ('CLIENT', 'KILL', 'ID', '1', 'ID'),
    ('CLIENT', 'KILL', 'LADDR', '1.2.3.4:5'), ('CLIENT', 'KILL', 'ADDR', '1.2.3.4:5', 'SKIPME', 'no'),
    ('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'yes', 'ID', '99999'),
    ('CLIENT', 'LIST', 'ID', 'x'), ('CLIENT', 'LIST', 'TYPE', 'foo'), ('CLIENT', 'LIST', 'foo'),
    ('CLIENT', 'LIST', 'ID'), ('CLIENT', 'LIST', 'ID', '99999'), ('CLIENT', 'LIST', 'TYPE', 'pubsub'),
    ('CONFIG',), ('CONFIG', 'foo'), ('CONFIG', 'GET'), ('CONFIG', 'GET', 'maxmemory'),
    ('CONFIG', 'GET', 'nosuch-option'), ('CONFIG', 'RESETSTAT', 'x'),
    ('CONFIG', 'SET', 'maxmemory'), ('CONFIG', 'SET', 'maxmemory', '1mb', 'timeout'),
    ('CONFIG', 'SET', 'nosuch', '1'), ('CONFIG', 'SET', 'NOSUCH', '1'),
    ('CONFIG', 'SET', 'databases', '4'), ('CONFIG', 'SET', 'DATABASES', '4'),
    ('CONFIG', 'SET', 'maxmemory', 'abc'), ('CONFIG', 'SET', 'MAXMEMORY', '1.5mb'),
    ('CONFIG', 'SET', 'maxmemory', '-1'), ('CONFIG', 'SET', 'maxmemory', '10', 'MAXMEMORY', '20'),
    ('CONFIG', 'SET', 'timeout', '-1'), ('CONFIG', 'SET', 'timeout', 'abc'),
    ('CONFIG', 'SET', 'timeout', ' 5'), ('CONFIG', 'SET', 'timeout', '99999999999'),
    ('CONFIG', 'SET', 'maxmemory', '1mb', 'timeout', 'x'),
    ('CONFIG', 'SET', 'maxmemory-policy', 'foo'), ('CONFIG', 'SET', 'loglevel', 'nothing'),
    ('CONFIG', 'SET', 'maxclients', '0'), ('CONFIG', 'SET', 'maxclients', 'abc'),
    ('CONFIG', 'SET', 'proto-max-bulk-len', '100'), ('CONFIG', 'SET', 'proto-max-bulk-len', 'abc'),
    ('CONFIG', 'SET', 'client-query-buffer-limit', '100'), ('CONFIG', 'SET', 'hz', '-1'),
    ('CONFIG', 'SET', 'maxmemory-samples', '0'), ('CONFIG', 'SET', 'lfu-log-factor', '-1'),
    ('CONFIG', 'SET', 'lfu-decay-time', 'x'), ('CONFIG', 'SET', 'tcp-backlog', '10'),
    ('COMMAND', 'COUNT', 'x'), ('COMMAND', 'foo'), ('COMMAND', 'GETKEYS'),
    ('COMMAND', 'GETKEYS', 'get', 'a'), ('COMMAND', 'GETKEYS', 'mset', 'a', '1', 'b', '2'),
    ('COMMAND', 'GETKEYS', 'del', 'a', 'b', 'c'), ('COMMAND', 'GETKEYS', 'nosuch', 'a'),
    ('COMMAND', 'GETKEYS', 'get'), ('COMMAND', 'GETKEYS', 'get', 'a', 'b'),
    ('COMMAND', 'GETKEYS', 'ping', 'x'), ('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'x'),
    ('COMMAND', 'LIST', 'FILTERBY', 'foo', 'x'), ('COMMAND', 'LIST', 'FILTERBY'),
    ('COMMAND', 'LIST', 'x'), ('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'x', 'y'),
    ('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'nosuch'), ('COMMAND', 'INFO', 'nosuch'),
    ('COMMAND', 'INFO', 'get'), ('COMMAND', 'INFO', 'nosuch', 'GET'),
    ('PING', 'a', 'b'), ('PING',), ('PING', 'x'), ('ECHO', 'x'), ('ECHO',), ('RESET',),
    ('SHUTDOWN', 'foo'), ('SHUTDOWN', 'ABORT'), ('SHUTDOWN', 'NOSAVE', 'SAVE'),
    ('SHUTDOWN', 'NOW', 'ABORT'), ('SHUTDOWN', 'ABORT', 'ABORT'), ('INFO', 'nosuch'),
    ('TIME', 'x'),
]


@pytest.fixture
def pair(server, redis_ref):
    ours, ref = Raw(server), Raw(redis_ref)
    yield ours, ref
    ours.close()
    ref.close()


@pytest.mark.parametrize('cmd', SAME_AS_REDIS, ids=lambda c: ' '.join(c))
def test_reply_equals_redis(pair, cmd):
    ours, ref = pair
    assert ours.call(*cmd) == ref.call(*cmd)


@pytest.mark.parametrize('cmd', [('PING',), ('PING', 'x'), ('ECHO', 'hi'), ('CONFIG', 'GET', 'maxmemory'),
                                 ('CLIENT', 'GETNAME'), ('CLIENT', 'LIST', 'ID', '99999'),
                                 ('COMMAND', 'GETKEYS', 'mset', 'a', '1', 'b', '2')])
def test_resp3_reply_equals_redis(pair, cmd):
    ours, ref = pair
    ours.call('HELLO', '3')
    ref.call('HELLO', '3')
    assert ours.call(*cmd) == ref.call(*cmd)


def _without_id(reply: bytes) -> bytes:
    return re.sub(rb'\$2\r\nid\r\n:\d+\r\n', b'$2\r\nid\r\n:N\r\n', reply)


@pytest.mark.parametrize('cmd', [('HELLO',), ('HELLO', '3'), ('HELLO', '2'),
                                 ('HELLO', '3', 'AUTH', 'default', 'any'),
                                 ('HELLO', '2', 'auth', 'default', '', 'setname', 'me')])
def test_hello_shape_equals_redis(pair, cmd):
    ours, ref = pair
    assert _without_id(ours.call(*cmd)) == _without_id(ref.call(*cmd))


def test_hello_reports_client_id_and_sets_name(server):
    c = Raw(server)
    cid = int(c.call('CLIENT', 'ID')[1:-2])
    assert b':%d\r\n' % cid in c.call('HELLO', '3', 'SETNAME', 'web1')
    assert c.call('CLIENT', 'GETNAME') == b'$4\r\nweb1\r\n'
    c.close()


def test_reset_returns_to_defaults_but_keeps_no_evict(server):
    c = Raw(server)
    c.call('HELLO', '3', 'SETNAME', 'x')
    c.call('SELECT', '3')
    c.call('CLIENT', 'NO-EVICT', 'on')
    assert c.call('RESET') == b'+RESET\r\n'
    info = c.call('CLIENT', 'INFO').decode()
    assert info.startswith('$')                      # back to RESP2
    assert ' name= ' in info and ' db=0 ' in info and ' resp=2' in info and ' flags=e ' in info
    c.close()


def test_time(r):
    sec, usec = r.time()
    assert abs(sec - time.time()) < 5 and 0 <= usec < 1_000_000


def test_help_replies_are_status_lines(server):
    c = Raw(server)
    for container in ('CLIENT', 'CONFIG', 'COMMAND'):
        reply = c.call(container, 'HELP')
        assert reply.startswith(b'*') and b'\r\n+' + container.encode() + b' <subcommand>' in reply
        assert reply.endswith(b'+HELP\r\n+    Prints this help.\r\n')
    c.close()


# ---- COMMAND -----------------------------------------------------------------------

@pytest.fixture
def cmd(server):
    """Run a command on a raw connection and decode its reply."""
    c = Raw(server)
    yield lambda *args: decode(c.call(*args))
    c.close()


def test_command_count_matches_list_of_top_level_commands(cmd):
    count = cmd('COMMAND', 'COUNT')
    names = cmd('COMMAND', 'LIST')
    assert count == len([n for n in names if b'|' not in n]) and count > 40
    assert b'client|list' in names and b'config|set' in names
    assert len(cmd('COMMAND')) == count


def test_command_list_filters(cmd):
    assert cmd('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'config*') == [
        b'config', b'config|help', b'config|get', b'config|set', b'config|resetstat']
    strings = cmd('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'string')
    assert b'get' in strings and b'ping' not in strings


def test_redis_py_parses_command_table(r, r3):
    from redis._parsers.commands import CommandsParser
    for client in (r, r3):
        table = client.command()
        assert table['get']['arity'] == 2 and 'readonly' in table['get']['flags']
        assert table['mset']['step_count'] == 2
    parser = CommandsParser(r)
    assert parser.get_keys(r, 'MSET', 'a', '1', 'b', '2') == ['a', 'b']
    assert parser.get_keys(r, 'GET', 'k') == ['k']


def test_command_info_of_a_container_lists_subcommands(cmd):
    (info,) = cmd('COMMAND', 'INFO', 'config')
    assert info[:6] == [b'config', -2, [], 0, 0, 0]
    subs = {s[0]: s[1] for s in info[9]}
    assert subs[b'config|get'] == -3 and subs[b'config|set'] == -4


def test_command_docs(cmd):
    docs = cmd('COMMAND', 'DOCS', 'get', 'nosuch')
    assert docs[0] == b'get' and len(docs) == 2
    doc = dict(zip(docs[1][::2], docs[1][1::2]))
    assert doc[b'group'] == b'string' and doc[b'summary']
    cmd('HELLO', '3')
    assert len(cmd('COMMAND', 'DOCS')) == cmd('COMMAND', 'COUNT')


def test_redis_cli_talks_to_us(server):
    out = subprocess.run(['redis-cli', '-p', str(server[1]), 'CONFIG', 'GET', 'maxmemory'],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.split() == ['maxmemory', '0']
    out = subprocess.run(['redis-cli', '-p', str(server[1]), 'COMMAND', 'DOCS', 'client'],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and 'client|list' in out.stdout


def test_interactive_redis_cli_loads_command_docs(server):
    c = Raw(server)

    def docs_calls():
        m = re.search(rb'cmdstat_command\|docs:calls=(\d+)', c.call('INFO', 'commandstats'))
        return int(m.group(1)) if m else 0
    before = docs_calls()
    # interactive mode (a terminal; TERM=dumb keeps line editing simple) asks
    # COMMAND DOCS for its hints before the first prompt
    out = subprocess.run(['script', '-qc', f"redis-cli -p {server[1]}", '/dev/null'],
                         input='PING\nquit\n', capture_output=True, text=True, timeout=10,
                         env={'TERM': 'dumb', 'PATH': '/usr/bin:/bin:/usr/local/bin'})
    assert f"127.0.0.1:{server[1]}> PONG" in out.stdout.replace('\r', '')
    assert docs_calls() > before
    c.close()


# ---- INFO --------------------------------------------------------------------------

def test_info_default_sections(r, server):
    text = Raw(server).call('INFO').decode()
    titles = re.findall(r'^# (\w+)', text, re.M)
    assert titles == ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU',
                      'Modules', 'Errorstats', 'Cluster', 'Keyspace']
    info = r.info()
    assert info['redis_version'] == '7.0.15' and 'cachecyt_version' in info
    assert info['role'] == 'master' and info['loading'] == 0 and info['cluster_enabled'] == 0
    assert info['used_cpu_user'] > 0


def test_info_everything_adds_commandstats(server):
    c = Raw(server)
    titles = re.findall(r'^# (\w+)', c.call('INFO', 'everything').decode(), re.M)
    assert 'Commandstats' in titles
    assert re.findall(r'^# (\w+)', c.call('INFO', 'keyspace', 'clients').decode(),
                      re.M) == ['Clients', 'Keyspace']


def test_info_stats_count_hits_misses_and_commands(r):
    r.config_resetstat()
    r.set('k', 'v')
    r.get('k')
    r.get('missing')
    stats = r.info('stats')
    assert stats['keyspace_hits'] == 1 and stats['keyspace_misses'] == 1
    assert stats['total_commands_processed'] >= 4
    assert {'evicted_keys', 'expired_keys', 'instantaneous_ops_per_sec'} <= set(stats)


def test_info_errorstats_counts_by_prefix(r, server):
    r.config_resetstat()
    c = Raw(server)
    c.call('NOSUCHCOMMAND')
    c.call('GET')
    c.call('HELLO', '9')
    c.call('SET', 'k', 'v')
    c.call('INCR', 'k')
    c.close()
    errs = r.info('errorstats')
    assert errs['errorstat_ERR'] == {'count': 3}
    assert errs['errorstat_NOPROTO'] == {'count': 1}
    assert r.info('stats')['total_error_replies'] == 4


def test_commandstats_of_subcommands_equal_redis(pair):
    def stats(c):
        c.call('CONFIG', 'RESETSTAT')
        for cmd in [('CONFIG', 'GET', 'maxmemory'), ('CONFIG', 'SET', 'maxmemory'), ('CONFIG',),
                    ('CONFIG', 'SET', 'maxmemory', 'x'), ('CONFIG', 'nosuch'), ('COMMAND', 'COUNT'),
                    ('CLIENT', 'ID'), ('CLIENT', 'ID'), ('COMMAND', 'GETKEYS', 'get', 'k')]:
            c.call(*cmd)
        text = decode(c.call('INFO', 'commandstats')).decode()
        return {m[0]: m[1:] for m in re.findall(
            r'cmdstat_(\S+?):calls=(\d+),usec=\d+,usec_per_call=[\d.]+,rejected_calls=(\d+),'
            r'failed_calls=(\d+)', text) if m[0] != 'info'}
    ours, ref = pair
    assert stats(ours) == stats(ref)


def test_info_commandstats_and_keyspace(r):
    r.config_resetstat()
    r.set('a', 1)
    r.set('b', 2, ex=100)
    stats = r.info('commandstats')
    assert stats['cmdstat_set']['calls'] == 2
    assert r.info('keyspace')['db0']['keys'] == 2 and r.info('keyspace')['db0']['expires'] == 1


def test_info_resp3_is_verbatim(server):
    c = Raw(server)
    c.call('HELLO', '3')
    assert c.call('INFO', 'server').startswith(b'=')
    c.close()


# ---- SHUTDOWN ----------------------------------------------------------------------

@pytest.mark.parametrize('flags', [(), ('NOSAVE', 'NOW', 'FORCE')])
def test_shutdown_stops_the_node(flags):
    srv = CachecytServer(workers=2).start()
    try:
        c = Raw(('127.0.0.1', srv.port))
        other = Raw(('127.0.0.1', srv.port))
        assert other.call('PING') == b'+PONG\r\n'
        c.send(b'*%d\r\n$8\r\nSHUTDOWN\r\n' % (1 + len(flags)) +
               b''.join(b'$%d\r\n%s\r\n' % (len(f), f.encode()) for f in flags))
        assert c.closed_by_server(5)
        assert other.closed_by_server(5)
        assert srv.proc.wait(4) == 0
        assert 'did not stop' not in srv.log_text()
    finally:
        srv.stop()
