"""Start of the node and of each worker: users from the aclfile (or
requirepass) into the segment once, then every worker takes the security
settings and installs what applies them (TLS reload, audit log)."""
from cachecyt import config as cfgmod
from cachecyt.security import acl, settings, users


def init_segment(cfg):
    """Supervisor, after creating the segment: a bad aclfile or unusable TLS
    files stop the start."""
    from cachecyt.security import tls
    if cfg['tls-port'] or cfg['memcached-tls-port']:
        try:
            tls.validate(cfg)
        except ValueError as e:
            raise SystemExit(f"cannot load the TLS certificates: {e}") from None
    extra = {name: cfg[name] for name in cfgmod.SECURITY_SETTINGS}
    try:
        acl.initialize(cfg['requirepass'], cfg['aclfile'], extra)
    except (OSError, users.RuleError) as e:
        raise SystemExit(f"cannot load the ACL file: {e}") from None


def start_worker(cfg):
    from cachecyt.security import audit, tenants, tls
    tenants.start_worker(cfg)
    init_segment(cfg)                   # no-op unless the segment was made without it (tests)
    if tls.reload not in settings._appliers:
        settings._appliers += [tls.reload, audit.configure]
    settings.apply()
