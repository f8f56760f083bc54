"""The checks of a new connection: protected mode (no password for the default
user: only loopback clients are served, as Redis words it; the memcached
listeners answer a SERVER_ERROR line instead) and the binding of the
connection to the default user."""
import ipaddress

from cachecyt import _core
from cachecyt.security import acl

DENIED = (b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
          b"password is set for the default user. In this mode connections are only accepted from "
          b"the loopback interface. If you want to connect from external computers to Redis you may "
          b"adopt one of the following solutions: 1) Just disable protected mode sending the command "
          b"'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
          b"the same host the server is running, however MAKE SURE Redis is not publicly accessible "
          b"from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
          b"Alternatively you can just disable the protected mode by editing the Redis configuration "
          b"file, and setting the protected mode option to 'no', and then restarting the server. 3) "
          b"If you started the server manually just for testing, restart it with the "
          b"'--protected-mode no' option. 4) Setup a an authentication password for the default "
          b"user. NOTE: You only need to do one of the above things in order for the server to "
          b"start accepting connections from the outside.\r\n")


MC_DENIED = (b"SERVER_ERROR protected mode is enabled and no password is set for the default "
             b"user: only connections from the loopback interface are accepted. Set a password "
             b"for the default user or CONFIG SET protected-mode no from the loopback interface\r\n")


def is_loopback(peer):
    if not peer or isinstance(peer, str):            # unix socket
        return True
    try:
        return ipaddress.ip_address(peer[0].split('%')[0]).is_loopback
    except ValueError:
        return False


def admit(c, peer):
    """Bind a new connection to the default user; False (reply written, to be
    closed) when protected mode refuses it."""
    acl.bind_new(c)
    return not refused(peer)


def refused(peer):
    """Whether protected mode refuses a client from peer."""
    if not _core.get_setting('protected_mode') or is_loopback(peer):
        return False
    acl.sync()
    return acl.S.users[b'default'].nopass


def mc_admit(c, peer):
    """A new memcached connection: False (to be answered MC_DENIED and closed)
    when protected mode refuses it."""
    return not refused(peer)
