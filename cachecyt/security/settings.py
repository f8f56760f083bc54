"""Security settings every worker applies when they change (SIG_ACL): the
TLS certificates of its listeners and the audit log."""


def apply():
    pass
