"""Security settings of a node at start and at run time: requirepass and the
aclfile (ACL SAVE / ACL LOAD, a bad file stops the start), protected mode, and
the audit log (events, redaction, rotation, loud write failures)."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import redis

from servers import ROOT, CachecytServer, free_port


def raw(port, data, replies, host='127.0.0.1'):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(data)
        got = b''
        while got.count(b'\r\n') < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_requirepass_at_start():
    with CachecytServer('--requirepass', 'startpw', workers=2) as srv:
        assert raw(srv.port, b"GET k\r\n", 1) == b"-NOAUTH Authentication required.\r\n"
        assert raw(srv.port, b"AUTH startpw\r\nGET k\r\n", 2) == b"+OK\r\n$-1\r\n"
        c = redis.Redis(port=srv.port, password='startpw')
        assert c.config_get('requirepass') == {'requirepass': 'startpw'}


def test_aclfile_load_save(tmp_path):
    path = tmp_path / 'users.acl'
    path.write_text("user default on nopass ~* &* +@all\n"
                    "user alice on >apw ~a:* resetchannels -@all +get +set\n"
                    "user sel on >spw ~a:* +get (~b:* +set)\n")
    with CachecytServer('--aclfile', str(path), workers=2) as srv:
        admin = redis.Redis(port=srv.port)
        alice = redis.Redis(port=srv.port, username='alice', password='apw')
        assert alice.set('a:1', 'x') and alice.get('a:1') == b'x'
        with pytest.raises(redis.exceptions.NoPermissionError):
            alice.get('b:1')
        admin.execute_command('ACL', 'SETUSER', 'bob', 'on', '>bpw', '+ping')
        assert admin.execute_command('ACL', 'SAVE') == b'OK'
        lines = path.read_text().splitlines()
        assert lines[0] == 'user alice on #' + __import__('hashlib').sha256(b'apw').hexdigest() + \
            ' ~a:* resetchannels -@all +get +set'
        assert lines[1].startswith('user bob on #') and lines[2].startswith('user default on nopass')
        assert lines[3] == 'user sel on #' + __import__('hashlib').sha256(b'spw').hexdigest() + \
            ' ~a:* resetchannels -@all +get (~b:* resetchannels -@all +set)'
        sel = redis.Redis(port=srv.port, username='sel', password='spw')
        assert sel.set('b:1', 'y') and sel.get('a:1') == b'x'       # the selector, the root
        with pytest.raises(redis.exceptions.NoPermissionError):
            sel.get('b:1')                                          # neither allows both
        assert admin.execute_command('ACL', 'LOAD') == b'OK'          # the saved file loads back
        assert admin.execute_command('ACL', 'LIST')[3].decode() == lines[3]
        # edit the file: ACL LOAD replaces every user and closes the deleted ones' connections
        path.write_text("user default on nopass ~* &* +@all\nuser carol on >cpw +@all ~*\n")
        bob = redis.Redis(port=srv.port, username='bob', password='bpw', single_connection_client=True)
        assert bob.ping()
        assert admin.execute_command('ACL', 'LOAD') == b'OK'
        assert admin.execute_command('ACL', 'USERS') == [b'carol', b'default']
        with pytest.raises(redis.ConnectionError):
            bob.execute_command('PING')
        path.write_text("user default on nopass +@all\nuser x on +nosuchcommand\n")
        with pytest.raises(redis.ResponseError, match="Unknown command or category name"):
            admin.execute_command('ACL', 'LOAD')
        assert admin.execute_command('ACL', 'USERS') == [b'carol', b'default']


def test_bad_aclfile_stops_the_start(tmp_path):
    path = tmp_path / 'bad.acl'
    path.write_text("user default on nopass +@all\nuser x on +@nosuchcategory\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(free_port()),
                          '--workers', '1', '--memcached-port', '0', '--aclfile', str(path)],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode != 0
    assert "bad.acl:2: Unknown command or category name in ACL" in out.stderr


def _outside_address():
    """An address of this host that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(('192.0.2.1', 9))            # no packet is sent for UDP connect
            addr = s.getsockname()[0]
        return None if addr.startswith('127.') else addr
    except OSError:
        return None


def test_protected_mode():
    addr = _outside_address()
    if addr is None:
        pytest.skip("this host has no non-loopback address")
    with CachecytServer('--bind', '0.0.0.0', workers=2) as srv:
        denied = raw(srv.port, b"PING\r\n", 1, host=addr)
        assert denied.startswith(b"-DENIED Redis is running in protected mode because protected mode "
                                 b"is enabled and no password is set for the default user.")
        assert denied.endswith(b"start accepting connections from the outside.\r\n")
        assert raw(srv.port, b"PING\r\n", 1) == b"+PONG\r\n"           # loopback is served
        local = redis.Redis(port=srv.port)
        local.config_set('requirepass', 'pw')                          # a password: served, must AUTH
        assert raw(srv.port, b"PING\r\n", 1, host=addr) == b"-NOAUTH Authentication required.\r\n"
        local.config_set('requirepass', '')
        local.config_set('protected-mode', 'no')
        assert raw(srv.port, b"PING\r\n", 1, host=addr) == b"+PONG\r\n"
        assert local.config_get('protected-mode') == {'protected-mode': 'no'}


def mc_line(host, port, request=b"version\r\n", wrap=None):
    """The first reply line a memcached client at host gets, and whether the
    server closed the connection after it."""
    with socket.create_connection((host, port), timeout=5) as raw_sock:
        s = wrap(raw_sock) if wrap else raw_sock
        s.sendall(request)
        got = b''
        while b'\r\n' not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        line = got.split(b'\r\n')[0]
        s.settimeout(0.5)
        try:
            closed = s.recv(1) == b''
        except socket.timeout:
            closed = False                          # still open
        except OSError:
            closed = True                           # reset
        return line, closed


def test_protected_mode_on_the_memcached_port():
    addr = _outside_address()
    if addr is None:
        pytest.skip("this host has no non-loopback address")
    with CachecytServer('--bind', '0.0.0.0', workers=2, memcached_port=True) as srv:
        line, closed = mc_line(addr, srv.memcached_port)
        assert line.startswith(b"SERVER_ERROR protected mode is enabled and no password is set "
                               b"for the default user") and closed
        assert mc_line('127.0.0.1', srv.memcached_port)[0].startswith(b"VERSION ")
        local = redis.Redis(port=srv.port)
        local.config_set('requirepass', 'pw')       # a password: served, must authenticate
        assert mc_line(addr, srv.memcached_port, b"get k\r\n") == \
            (b"CLIENT_ERROR unauthenticated", False)
        local.config_set('requirepass', '')
        local.config_set('protected-mode', 'no')
        assert mc_line(addr, srv.memcached_port)[0].startswith(b"VERSION ")


def _events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_audit_log(tmp_path):
    log = tmp_path / 'audit.jsonl'
    with CachecytServer('--audit-log-file', str(log), workers=2) as srv:
        c = redis.Redis(port=srv.port)
        c.set('k', 'v')                                   # not audited
        c.execute_command('ACL', 'SETUSER', 'eve', 'on', '>evepw', '+@all', '~*')
        c.config_set('maxmemory', '0')
        c.config_set('requirepass', 'hidden-pw')
        c.config_set('requirepass', '')
        c.flushall()
        assert raw(srv.port, b"AUTH eve wrong\r\nAUTH eve evepw\r\nFLUSHDB\r\n", 3) == \
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+OK\r\n"
        c.execute_command('ACL', 'SETUSER', 'mallory', 'on', '>mpw', '+get')
        m = redis.Redis(port=srv.port, username='mallory', password='mpw')
        with pytest.raises(redis.exceptions.NoPermissionError):
            m.flushall()
        time.sleep(0.1)
        ev = _events(log)
        cmds = [(e['event'], e.get('command'), e.get('result'), e['user']) for e in ev
                if e.get('command') != 'client']          # redis-py's CLIENT SETINFO
        assert ('command', 'acl', None, 'default') in cmds
        assert ('command', 'config', None, 'default') in cmds
        assert ('command', 'flushall', None, 'default') in cmds
        assert ('command', 'flushdb', None, 'eve') in cmds
        assert ('command', 'flushall', 'denied', 'mallory') in cmds
        auths = [(e['username'], e['result']) for e in ev if e['event'] == 'auth']
        assert ('eve', 'failure') in auths and ('eve', 'success') in auths
        setuser = next(e for e in ev if e.get('command') == 'acl')
        assert setuser['args'] == ['SETUSER', 'eve', 'on', '(redacted)', '+@all', '~*']
        assert 'evepw' not in log.read_text() and 'hidden-pw' not in log.read_text()
        assert all(e['client'].startswith('127.0.0.1:') and e['time'].endswith('Z') for e in ev)


def test_audit_log_rotation_and_failures(tmp_path):
    log = tmp_path / 'audit.jsonl'
    with CachecytServer('--audit-log-file', str(log), '--audit-log-max-size', '2kb',
                        '--audit-log-max-files', '2', workers=2) as srv:
        clients = [redis.Redis(port=srv.port, single_connection_client=True) for _ in range(4)]
        for i in range(60):
            clients[i % 4].config_get('maxmemory')
        time.sleep(0.1)
        files = [log, tmp_path / 'audit.jsonl.1', tmp_path / 'audit.jsonl.2']
        assert all(f.exists() for f in files)
        assert not (tmp_path / 'audit.jsonl.3').exists()
        for f in files:
            assert f.stat().st_size <= 2048
            _events(f)                                          # every line whole JSON
        clients[0].config_set('audit-log-file', str(tmp_path / 'missing-dir' / 'audit.jsonl'))
        clients[1].config_get('maxmemory')
        time.sleep(0.2)
        assert "AUDIT LOG WRITE FAILED" in srv.log_text()


def test_memcached_ascii_auth():
    with CachecytServer('--requirepass', 'pw', workers=2, memcached_port=True) as srv:
        admin = redis.Redis(port=srv.port, password='pw')
        admin.execute_command('ACL', 'SETUSER', 'mc', 'on', '>mcpw', '+@all', '~*')
        mc = srv.memcached_port
        assert raw(mc, b"get a\r\nversion\r\n", 2) == b"CLIENT_ERROR unauthenticated\r\n" * 2
        assert raw(mc, b"set x 0 0 3\r\nabc\r\n", 1) == b"CLIENT_ERROR bad authentication token format\r\n"
        assert raw(mc, b"set x 0 0 8\r\nmc wrong\r\nget a\r\n", 2) == \
            b"CLIENT_ERROR authentication failure\r\nCLIENT_ERROR unauthenticated\r\n"
        assert raw(mc, b"set x 0 0 7\r\nmc mcpw\r\nset a 0 0 1\r\n1\r\nget a\r\n", 4) == \
            b"STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n"
        assert raw(mc, b"set x 0 0 10\r\ndefault pw\r\nget x\r\n", 2) == b"STORED\r\nEND\r\n"
        log = admin.execute_command('ACL', 'LOG', '1')[0]
        assert (log[b'reason'], log[b'username']) == (b'auth', b'mc')
        admin.execute_command('ACL', 'SETUSER', 'ro', 'on', '>ropw', '+get', '%R~a*')
        assert raw(mc, b"set x 0 0 7\r\nro ropw\r\nget a\r\nget zz\r\nset a 0 0 1\r\n2\r\n"
                       b"delete a\r\n", 5) == (b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n"
                                              b"CLIENT_ERROR access denied\r\n"
                                              b"CLIENT_ERROR access denied\r\n"
                                              b"CLIENT_ERROR access denied\r\n")
        log = admin.execute_command('ACL', 'LOG', '1')[0]
        assert (log[b'reason'], log[b'object'], log[b'username']) == (b'command', b'del', b'ro')
        admin.config_set('requirepass', '')           # no password: memcached needs no login
        assert raw(mc, b"get a\r\n", 2) == b"VALUE a 0 1\r\n1\r\nEND\r\n"
