"""ACL rules through real clients: each rule kind allows what it should and
refuses what it should, with Redis's error texts; users are shared by both
workers at once; DELUSER closes the user's connections on every worker; AUTH
failures land in ACL LOG. One node of our own (its users are changed)."""
import hashlib

import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


NOPERM_KEY = "this user has no permissions to access one of the keys used as arguments"
WRONGPASS = "invalid username-password pair or user is disabled."


@pytest.fixture
def admin(node):
    c = redis.Redis(port=node.port)
    yield c
    for name in c.execute_command('ACL', 'USERS'):
        if name != b'default':
            c.execute_command('ACL', 'DELUSER', name)
    c.execute_command('ACL', 'LOG', 'RESET')
    c.flushall()
    c.close()


def as_user(node, name, password='pw', **kw):
    # no retries: a refused login must fail at once, not after backoffs
    kw.setdefault('retry', Retry(NoBackoff(), 0))
    return redis.Redis(port=node.port, username=name, password=password, **kw)


def setuser(admin, name, *rules):
    assert admin.execute_command('ACL', 'SETUSER', name, *rules) == b'OK'


def noperm_cmd(name):
    return f"this user has no permissions to run the '{name}' command"


def test_on_off_and_passwords(node, admin):
    setuser(admin, 'u', 'on', '>pw', '+@all', '~*')
    assert as_user(node, 'u').ping()
    with pytest.raises(redis.AuthenticationError, match=WRONGPASS):
        as_user(node, 'u', 'bad').ping()
    setuser(admin, 'u', 'off')
    with pytest.raises(redis.AuthenticationError, match=WRONGPASS):
        as_user(node, 'u').ping()
    setuser(admin, 'u', 'on', '>second', '<pw')
    assert as_user(node, 'u', 'second').ping()
    with pytest.raises(redis.AuthenticationError):
        as_user(node, 'u', 'pw').ping()
    digest = hashlib.sha256(b'hashed').hexdigest()
    setuser(admin, 'u', '#' + digest)
    assert as_user(node, 'u', 'hashed').ping()
    setuser(admin, 'u', '!' + digest)
    with pytest.raises(redis.AuthenticationError):
        as_user(node, 'u', 'hashed').ping()


def test_nopass_and_resetpass(node, admin):
    setuser(admin, 'n', 'on', 'nopass', '+@all')
    assert as_user(node, 'n', 'anything').ping()
    setuser(admin, 'n', 'resetpass')
    with pytest.raises(redis.AuthenticationError):
        as_user(node, 'n', 'anything').ping()
    assert admin.execute_command('ACL', 'GETUSER', 'n')[b'passwords'] == []


def test_key_patterns_read_write(node, admin):
    setuser(admin, 'k', 'on', '>pw', '+@all', '~app:*', '%R~ro:*', '%W~wo:*')
    k = as_user(node, 'k')
    assert k.set('app:1', 'v') and k.get('app:1') == b'v'
    assert k.get('ro:1') is None
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.set('ro:1', 'v')
    assert k.set('wo:1', 'v')
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.get('wo:1')
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.get('other')
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.object('encoding', 'other')      # a subcommand's key counts too
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.memory_usage('other')
    assert k.object('encoding', 'app:1') == b'embstr'
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.mget('app:1', 'other')            # every key counts
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.execute_command('SET', 'wo:1', 'v', 'GET')   # SET ... GET reads the key too
    assert k.rpush('wo:l', 'x') == 1        # an insert needs only write
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        k.lpop('wo:l')                      # a pop returns the value: read and write


def test_allkeys_and_resetkeys(node, admin):
    setuser(admin, 'a', 'on', '>pw', '+@all', 'allkeys')
    a = as_user(node, 'a')
    assert a.set('anything', 1)
    setuser(admin, 'a', 'resetkeys')
    with pytest.raises(redis.exceptions.NoPermissionError, match=NOPERM_KEY):
        a.get('anything')
    assert a.ping()                         # a command without keys still runs
    with pytest.raises(redis.ResponseError, match="Adding a pattern after the"):
        admin.execute_command('ACL', 'SETUSER', 'a', 'allkeys', '~x')


def test_commands_and_categories(node, admin):
    setuser(admin, 'c', 'on', '>pw', 'allkeys', '+@string', '-set', '+hget')
    c = as_user(node, 'c')
    assert c.incr('n') == 1 and c.get('n') == b'1'
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('set')):
        c.set('n', 2)
    assert c.hget('h', 'f') is None
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('hset')):
        c.hset('h', 'f', 'v')
    setuser(admin, 'c', '-@string')
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('get')):
        c.get('n')
    setuser(admin, 'c', 'allcommands')
    assert c.set('n', 5)
    setuser(admin, 'c', 'nocommands', '+get')
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('ping')):
        c.ping()


def test_subcommands_and_first_args(node, admin):
    setuser(admin, 's', 'on', '>pw', 'allkeys', '+config|get', '+select|0', '+acl|whoami')
    s = as_user(node, 's')
    assert s.config_get('maxmemory')
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('config|set')):
        s.config_set('maxmemory', '0')
    assert s.execute_command('SELECT', 0)
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('select')):
        s.execute_command('SELECT', 1)
    assert s.execute_command('ACL', 'WHOAMI') == b's'
    setuser(admin, 's', '-config|get', '+config', '-config|set')
    assert s.config_get('maxmemory')
    with pytest.raises(redis.exceptions.NoPermissionError, match=noperm_cmd('config|set')):
        s.config_set('maxmemory', '0')


def test_channels(node, admin):
    setuser(admin, 'p', 'on', '>pw', '+@all', 'allkeys', 'resetchannels', '&news.*')
    dry = ['ACL', 'DRYRUN', 'p']
    assert admin.execute_command(*dry, 'PUBLISH', 'news.1', 'x') == b'OK'
    assert admin.execute_command(*dry, 'PUBLISH', 'sport', 'x') == \
        b"This user has no permissions to access the 'sport' channel"
    setuser(admin, 'p', 'allchannels')
    assert admin.execute_command(*dry, 'PUBLISH', 'sport', 'x') == b'OK'


def test_reset(node, admin):
    setuser(admin, 'r', 'on', '>pw', '+@all', '~*', '&*')
    setuser(admin, 'r', 'reset')
    assert admin.execute_command('ACL', 'GETUSER', 'r') == {
        b'flags': [b'off', b'sanitize-payload'], b'passwords': [], b'commands': b'-@all',
        b'keys': b'', b'channels': b'', b'selectors': []}


def test_noauth_with_requirepass(node, admin):
    admin.config_set('requirepass', 'topsecret')
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=node.port, retry=Retry(NoBackoff(), 0)).ping()   # its HELLO is refused
        with socket.create_connection(('127.0.0.1', node.port)) as s:
            s.sendall(b"GET k\r\nAUTH nope\r\nAUTH topsecret\r\nGET k\r\n")
            got = b''
            while got.count(b'\r\n') < 4:
                got += s.recv(4096)
        assert got == (b"-NOAUTH Authentication required.\r\n"
                       b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                       b"+OK\r\n$-1\r\n")
        assert redis.Redis(port=node.port, password='topsecret').ping()
        assert admin.ping()                       # authenticated before: stays so
    finally:
        admin.config_set('requirepass', '')


def test_users_shared_by_workers_at_once(node, admin):
    # many connections land on both workers; each sees a change made on either
    setuser(admin, 'v', 'on', '>pw', '+get', '~*')
    clients = [as_user(node, 'v', single_connection_client=True) for _ in range(6)]
    try:
        for c in clients:
            assert c.get('x') is None
        setuser(admin, 'v', '-get')
        for c in clients:
            with pytest.raises(redis.exceptions.NoPermissionError):
                c.get('x')
    finally:
        for c in clients:
            c.close()


def test_deluser_closes_connections_on_every_worker(node, admin):
    setuser(admin, 'd', 'on', '>pw', '+@all', '~*')
    clients = [as_user(node, 'd', single_connection_client=True, retry=Retry(NoBackoff(), 0)) for _ in range(6)]
    for c in clients:
        assert c.ping()
    assert admin.execute_command('ACL', 'DELUSER', 'd') == 1
    for c in clients:
        with pytest.raises((redis.ConnectionError, redis.AuthenticationError)):
            c.execute_command('PING')
        c.close()


def test_auth_failures_are_logged(node, admin):
    setuser(admin, 'b', 'on', '>right', '+@all')
    with socket.create_connection(('127.0.0.1', node.port)) as s:
        s.sendall(b"AUTH b wrong\r\n" * 5)
        got = b''
        while got.count(b'\r\n') < 5:
            got += s.recv(4096)
    assert got == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n" * 5
    entries = admin.execute_command('ACL', 'LOG')
    assert entries[0][b'reason'] == b'auth'
    assert entries[0][b'username'] == b'b'
    assert entries[0][b'object'] == b'AUTH'
    assert entries[0][b'count'] == 5
    assert entries[0][b'client-info'].startswith(b'id=')


def test_denied_commands_are_logged(node, admin):
    setuser(admin, 'l', 'on', '>pw', '+get', '~a*')
    c = as_user(node, 'l')
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.get('zzz')
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.set('a1', 1)
    key, cmd = admin.execute_command('ACL', 'LOG', '2')[::-1]
    assert (key[b'reason'], key[b'object'], key[b'username']) == (b'key', b'zzz', b'l')
    assert (cmd[b'reason'], cmd[b'object']) == (b'command', b'set')
    assert b'user=l' in cmd[b'client-info']


def test_client_list_and_kill_by_user(node, admin):
    setuser(admin, 'q', 'on', '>pw', '+@all', '~*')
    clients = [as_user(node, 'q', single_connection_client=True, retry=Retry(NoBackoff(), 0)) for _ in range(4)]
    for c in clients:
        c.ping()
    listing = admin.execute_command('CLIENT', 'LIST').decode()
    assert listing.count('user=q ') == 4
    assert admin.execute_command('CLIENT', 'KILL', 'USER', 'q') == 4
    with pytest.raises(redis.ResponseError, match="No such user 'zz'"):
        admin.execute_command('CLIENT', 'KILL', 'USER', 'zz')


def test_hello_auth(node, admin):
    setuser(admin, 'h', 'on', '>pw', '+@all', '~*')
    h3 = as_user(node, 'h', protocol=3)            # redis-py sends HELLO 3 AUTH h pw
    assert h3.execute_command('ACL', 'WHOAMI') == b'h'
    with socket.create_connection(('127.0.0.1', node.port)) as s:
        s.sendall(b"HELLO 2 AUTH h nope\r\n")
        assert s.recv(4096) == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert admin.execute_command('ACL', 'LOG', '1')[0][b'object'] == b'HELLO'


def test_deleting_own_user_answers_then_closes(node, admin):
    setuser(admin, 'self', 'on', '>pw', '+@all', '~*')
    with socket.create_connection(('127.0.0.1', node.port)) as s:
        s.sendall(b"AUTH self pw\r\nACL DELUSER self\r\nPING\r\n")
        got = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got == b"+OK\r\n:1\r\n"
