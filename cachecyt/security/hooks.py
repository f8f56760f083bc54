"""What the rest of the server calls of the security package: a few plain
functions, so that commands/server.py and the workers import one module
(and nothing of it at import time runs before the core is installed)."""
from cachecyt import _core


def _acl():
    from cachecyt.security import acl
    return acl


def bind_new(c):
    """A new connection (or RESET): the default user."""
    _acl().bind_new(c)


def auth_required(c):
    acl = _acl()
    acl.sync()
    d = acl.S.users[b'default']
    return not (d.nopass and d.enabled)


def hello_auth(c, name, password):
    """None, or NO_REPLY when the failure's error goes out later."""
    from cachecyt.security import commands
    return commands.hello_auth(c, name, password)


def user_exists(name: bytes):
    acl = _acl()
    acl.sync()
    return name in acl.S.users


def row_user(row):
    return row.user.encode() if isinstance(row.user, str) else row.user


def on_signal(kind, arg, data):
    """A worker's signal ring message of the security package."""
    if kind == _core.SIGNAL_ACL:
        _acl().sync()
        from cachecyt.security import settings, tenants
        settings.apply()
        tenants.recheck()


def config_set(values):
    """CONFIG SET of options kept in the segment's security area."""
    from cachecyt.security import settings
    settings.config_set(values)


def categories(name):
    """Redis 7.0's ACL categories of a command or 'container|sub', or None."""
    from cachecyt.security import catalog
    cats = catalog.CATEGORIES.get(name)
    return None if cats is None else cats.split()
