"""The ACL rule language without a server: rules change exactly what Redis's
would, and the ACL LIST form gives back the same user (the form in which users
travel between workers and to the aclfile)."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from cachecyt.security import users
from cachecyt.security.users import READ, WRITE, RuleError, User


def user(*rules):
    u = User(b'u')
    for r in rules:
        u.apply(r.encode() if isinstance(r, str) else r)
    return u


def test_new_user_describes_as_redis():
    assert user().describe() == b'user u off resetchannels -@all'
    assert users.new_default().describe() == b'user default on nopass ~* &* +@all'


def test_allowing_a_container_allows_its_subcommands():
    u = user('+config')
    assert u.may_run('config|get', []) and u.may_run('config|set', [])
    u.apply(b'-config|set')
    assert u.may_run('config|get', []) and not u.may_run('config|set', [])
    assert u.describe_commands() == b'-@all +config -config|set'


def test_first_args():
    u = user('+select|0')
    assert u.may_run('select', [b'SELECT', b'0'])
    assert not u.may_run('select', [b'SELECT', b'1'])
    assert not u.may_run('select', [b'SELECT'])
    u.apply(b'+select')                    # the whole command: first-args are dropped
    assert u.firstargs == {} and u.may_run('select', [b'SELECT', b'9'])


def test_key_patterns_by_access():
    u = user('%R~r*', '%W~w*', '~rw*')
    assert u.may_access_key(b'r1', READ) and not u.may_access_key(b'r1', WRITE)
    assert u.may_access_key(b'w1', WRITE) and not u.may_access_key(b'w1', READ | WRITE)
    assert u.may_access_key(b'rw1', READ | WRITE)
    assert not u.may_access_key(b'x', READ)
    u.apply(b'%W~r*')                      # the same pattern again: permissions add up
    assert u.describe_keys() == b'~r* %W~w* ~rw*'


def test_passwords():
    u = user('>one', '>two', '>one')
    assert u.passwords == [hashlib.sha256(b'one').hexdigest().encode(),
                           hashlib.sha256(b'two').hexdigest().encode()]
    assert u.password_ok(b'two') and not u.password_ok(b'three')
    u.apply(b'<one')
    assert not u.password_ok(b'one')
    with pytest.raises(RuleError, match="does not exist"):
        u.apply(b'<one')
    u.apply(b'nopass')
    assert u.password_ok(b'anything') and u.passwords == []


@pytest.mark.parametrize('rule, message', [
    ('+nosuch', users.UNKNOWN), ('+@nosuch', users.UNKNOWN), ('-select|0', users.UNKNOWN),
    ('+config|get|x', users.SUB_FIRSTARG), ('#zz', users.BAD_HASH), ('%Q~x', users.SYNTAX),
    ('what', users.SYNTAX), ('(on)', users.SYNTAX), ('(~x +nosuch)', users.UNKNOWN),
])
def test_bad_rules(rule, message):
    with pytest.raises(RuleError) as e:
        user(rule)
    assert str(e.value) == message


RULES = st.sampled_from(
    ['on', 'off', 'nopass', 'resetpass', '>a', '>b', '<a', 'allkeys', 'resetkeys', '~k*', '%R~r*',
     '%W~w*', 'allchannels', 'resetchannels', '&c*', '+@all', '-@all', '+@read', '-@write',
     '+@hash', '-@dangerous', '+@admin', '-@slow', '+get', '-get', '+config', '-config|set',
     '+config|get', '+client|list', '+select|0', '+debug|x', '-hget', 'reset',
     'skip-sanitize-payload', '(~s* +get)', '(+@hash %R~h* &c*)', '(+@all -@admin +select|0)',
     'clearselectors', '()'])


@settings(max_examples=200, deadline=None)
@given(st.lists(RULES, max_size=12))
def test_acl_list_form_round_trips(rules):
    u = User(b'u')
    for r in rules:
        try:
            u.apply(r.encode())
        except RuleError:
            pass                           # e.g. '~k*' after allkeys, '<a' without it
    again = users.parse_line(u.describe())
    assert again.allowed == u.allowed and again.future == u.future
    assert again.firstargs == u.firstargs
    assert (again.allkeys, again.patterns) == (u.allkeys, u.patterns)
    assert (again.allchannels, again.channels) == (u.allchannels, u.channels)
    assert (again.enabled, again.nopass, again.passwords) == (u.enabled, u.nopass, u.passwords)
    assert [s.describe_body() for s in again.selectors] == [s.describe_body() for s in u.selectors]
    assert again.describe() == u.describe()


def test_selector_rules_split_like_redis():
    assert users.split_args(b' ~a  "~b c" \'~d\\\'e\' "\\x41\\n" ') == \
        [b'~a', b'~b c', b"~d'e", b'A\n']
    assert users.split_args(b'"a"b') is None and users.split_args(b'"a') is None
    assert users.merge_selectors([b'on', b'(~a', b'+get)', b'(+set)']) == \
        ([b'on', b'(~a +get)', b'(+set)'], None)
    assert users.merge_selectors([b'on', b'(~a', b'+get']) == (None, 1)


def test_a_selector_allows_on_its_own():
    u = user('on', '~a*', '+get', '(~b* +set)')
    assert u.may_run('get', []) and not u.may_run('set', [])      # the root alone
    sel = u.selectors[0]
    assert sel.may_run('set', []) and sel.may_access_key(b'b1', WRITE)
    assert not sel.may_access_key(b'a1', WRITE) and not sel.may_run('get', [])
    u.apply(b'clearselectors')
    assert u.selectors == []


def test_default_user_takes_the_fast_path(client):
    from cachecyt import _core
    assert client.call([b'SET', b'k', b'v']) == b'+OK\r\n'
    assert client.acl_ok == _core.acl_version()          # next commands skip the check
    assert client.call([b'ACL', b'SETUSER', b'x', b'on']) == b'+OK\r\n'
    assert client.acl_ok != _core.acl_version()          # a change: checked once more ...
    assert client.call([b'GET', b'k']) == b'$1\r\nv\r\n'
    assert client.acl_ok == _core.acl_version()          # ... and fast again


def test_restricted_user_is_checked_each_time(client):
    from cachecyt import _core
    client.call([b'ACL', b'SETUSER', b'r', b'on', b'>pw', b'+get', b'~a*'])
    assert client.call([b'AUTH', b'r', b'pw']) == b'+OK\r\n'
    assert client.call([b'GET', b'a1']) == b'$-1\r\n'
    assert client.acl_ok != _core.acl_version()
    assert client.call([b'GET', b'b1']) == \
        b'-NOPERM this user has no permissions to access one of the keys used as arguments\r\n'


@pytest.mark.parametrize('rules', [
    ['~k*', '+@all'], ['%R~k*', '%W~w*', '+@read', '+set'], ['allkeys', '+get'], ['+@all'],
    ['~k*', '+@all', '-set', '+select|0'],
])
def test_one_step_check_agrees_with_the_full_one(client, rules):
    from cachecyt.security import acl
    client.call([b'ACL', b'SETUSER', b'p', b'on', *[r.encode() for r in rules]])
    acl.sync()
    u = acl.S.users[b'p']
    for req in ('GET k1', 'GET x', 'SET k1 v', 'SET w1 v', 'SET k1 v GET', 'SET w1 v GET',
                'MGET k1 k2', 'MGET k1 x', 'MSET k1 v w1 v', 'PING', 'SELECT 0', 'SELECT 1',
                'DEL k1 x', 'LPUSH k1 a', 'HGET k1 f', 'GETRANGE k1 0 1', 'EXISTS'):
        args = req.encode().split()
        name = args[0].decode().lower()
        if acl.plain_ok(u, name, args):
            assert acl.verdict(u, name, args) is None, req
        elif name not in acl.catalog.CONTAINERS and name not in acl.NUMKEYS:
            assert acl.verdict(u, name, args) is not None or name == 'select' or \
                acl._plain_plans[name] is False, req


def test_key_pattern_user_is_checked_in_the_core(client):
    """A user limited only by ~patterns: its plain commands on matching keys
    pass without the Python check; the rest still gets it (and its errors)."""
    from cachecyt import _core
    from cachecyt.security import acl
    client.call([b'ACL', b'SETUSER', b't', b'on', b'>pw', b'+@all', b'~t:*', b'~u:*'])
    assert client.call([b'AUTH', b't', b'pw']) == b'+OK\r\n'
    assert client.call([b'SET', b't:1', b'v']) == b'+OK\r\n'       # registers the plan
    calls = []

    def counting(c, idx):
        calls.append(acl.S.command_names[idx])
        return acl.check(c, idx)
    _core.set_acl_hook(counting)
    try:
        assert client.call([b'GET', b't:1']) == b'$1\r\nv\r\n'
        assert client.call([b'MSET', b't:2', b'a', b'u:3', b'b']) == b'+OK\r\n'
        assert client.call([b'PING']) == b'+PONG\r\n'
        assert calls == []
        assert client.call([b'GET', b'x:1']) == \
            b'-NOPERM this user has no permissions to access one of the keys used as arguments\r\n'
        assert client.call([b'MSET', b't:2', b'a', b'x', b'b']).startswith(b'-NOPERM')
        assert client.call([b'CONFIG', b'GET', b'maxmemory'])[:1] == b'*'     # audited class
        assert calls == ['get', 'mset', 'config']
        assert acl.log_entries(1)[0]['object'] == 'x'
        client.call([b'ACL', b'SETUSER', b't', b'resetkeys', b'~x:*'])     # a change: stale plan
        calls.clear()
        assert client.call([b'GET', b't:1']).startswith(b'-NOPERM')    # checked: new plan
        assert client.call([b'GET', b'x:1']) == b'$-1\r\n'
        assert calls == ['get']
    finally:
        _core.set_acl_hook(acl.check)


def test_selectors_and_first_args_are_checked_in_the_core(client):
    """Selectors, read/write patterns and first-argument rules: what one
    selector allows passes in the core; the rest gets the Python check, its
    error and ACL LOG entry, exactly as before."""
    from cachecyt import _core
    from cachecyt.security import acl
    client.call([b'ACL', b'SETUSER', b's', b'on', b'>pw', b'+get', b'+set', b'+mset',
                 b'+select|0', b'%R~r:*', b'~rw:*', b'(+lpush ~l:*)', b'(+del ~d:*)'])
    assert client.call([b'AUTH', b's', b'pw']) == b'+OK\r\n'
    calls = []

    def counting(c, idx):
        calls.append(acl.S.command_names[idx])
        return acl.check(c, idx)
    _core.set_acl_hook(counting)
    noperm_key = b'-NOPERM this user has no permissions to access one of the keys used as arguments\r\n'
    try:
        assert client.call([b'GET', b'rw:1']) == b'$-1\r\n'        # the first check registers
        calls.clear()
        assert client.call([b'SET', b'rw:1', b'v']) == b'+OK\r\n'
        assert client.call([b'GET', b'r:1']) == b'$-1\r\n'          # read-only pattern, read
        assert client.call([b'LPUSH', b'l:1', b'a']) == b':1\r\n'   # a second selector
        assert client.call([b'DEL', b'd:1']) == b':0\r\n'           # a third
        assert client.call([b'SELECT', b'0']) == b'+OK\r\n'         # first-argument rule
        assert calls == []
        assert client.call([b'SET', b'r:1', b'v']) == noperm_key           # write on read-only
        assert client.call([b'SET', b'rw:2', b'v', b'GET']) == b'$-1\r\n'  # GET needs read too
        assert client.call([b'SET', b'r:1', b'v', b'GET']) == noperm_key
        assert client.call([b'LPUSH', b'rw:1', b'a']) == noperm_key        # lpush: only l:*
        assert client.call([b'DEL', b'l:1']) == noperm_key
        assert client.call([b'SELECT', b'1']) == \
            b"-NOPERM this user has no permissions to run the 'select' command\r\n"
        assert client.call([b'MSET', b'rw:1', b'a', b'l:1', b'b']) == noperm_key
        assert calls == ['set', 'set', 'lpush', 'del', 'select', 'mset']
        assert acl.log_entries(1)[0]['object'] == 'l:1'
    finally:
        _core.set_acl_hook(acl.check)
