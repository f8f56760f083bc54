"""Security settings at run time: the options CONFIG SET changes that have no
header field (requirepass, acllog-max-len, TLS files, audit log) travel as
JSON in the segment's security area; every worker applies them on SIG_ACL:
its config copy, its TLS context (new certificates for new connections) and
its audit log."""
import logging

from cachecyt import config as cfgmod
from cachecyt.security import acl

log = logging.getLogger("cachecyt.worker")

_applied = {}                   # setting -> value this worker last applied
_appliers = []                  # called with the settings dict (TLS, audit)


def config_set(values):
    """CONFIG SET: publish the values; requirepass also changes the default user."""
    if any(k.startswith('tls-') for k in values):
        from cachecyt.commands.server import NODE
        from cachecyt.security import tls
        merged = {k: v for k, v in NODE.config.items() if k.startswith('tls-')}
        merged.update(values)
        try:
            tls.validate(merged)
        except ValueError as e:
            from cachecyt._core import CommandError
            name = next(k for k in values if k.startswith('tls-'))
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - "
                               f"Unable to update TLS configuration. Check server logs.") from e
    if 'requirepass' in values:
        pw = values['requirepass'].encode()

        def set_default(us):
            d = us[b'default'] = us[b'default'].copy()
            d.apply(b'resetpass')
            d.apply(b'>' + pw if pw else b'nopass')
        acl.change(set_default)
    acl.change_settings(**values)
    apply()


def apply():
    """Take the current settings into this worker."""
    from cachecyt.commands.server import NODE
    acl.sync()
    current = dict(acl.S.settings)
    for name in cfgmod.SECURITY_SETTINGS:
        if name in current:
            NODE.config[name] = current[name]
    if current == _applied:
        return
    _applied.clear()
    _applied.update(current)
    merged = {name: NODE.config.get(name) for name in cfgmod.SECURITY_SETTINGS}
    for fn in _appliers:
        try:
            fn(merged)
        except Exception as e:          # a bad certificate must not take the worker down
            log.warning("could not apply security settings: %s", e)
