"""Audit log: one JSON line per security event, appended by every worker to one
file (O_APPEND: lines of different workers never interleave), rotated by size.

Events: AUTH success and failure (and HELLO AUTH), every audited command
(acl.AUDITED: ACL, CONFIG, FLUSHDB, FLUSHALL, SHUTDOWN, CLIENT, DEBUG-class
and other admin commands), including those refused for lack of permission.
Each line: time (ISO 8601 UTC with ms), event, client address, client id,
user, command, arguments (values of passwords and password rules replaced by
"(redacted)"), and a result where it is known (success, failure, denied).

Rotation: the worker that finds the file past audit-log-max-size renames
file -> file.1 -> ... -> file.<max-files> under the segment's security lock
and bumps the area's rotation count; every worker reopens its file when it
sees a new count. Writes take the same lock (audited events are rare), so the
size check and the append of one worker never race another's. A write that fails is reported on the worker's log at
error level, at most once a second, and counted (INFO-visible through the
worker log): the audit trail must not fail silently.
"""
import json
import logging
import os
import time

from cachecyt import _core
from cachecyt.security import acl

log = logging.getLogger("cachecyt.audit")


class Audit:
    path = ''
    max_size = 64 * 1024 * 1024
    max_files = 5
    fd = -1
    gen = -1
    failures = 0
    last_alarm = 0.0


A = Audit()


def configure(settings):
    """Applier of the security settings: open, switch or close the log."""
    path = settings.get('audit-log-file') or ''
    A.max_size = int(settings.get('audit-log-max-size') or A.max_size)
    A.max_files = int(settings.get('audit-log-max-files') or A.max_files)
    if path != A.path:
        _close()
        A.path = path
    acl.AUDIT_HOOK = record if A.path else None
    _core.set_audited([_core.command_index(n) for n in acl.AUDITED] if A.path else [])


def _close():
    if A.fd >= 0:
        os.close(A.fd)
        A.fd = -1


def _open():
    gen = _core.audit_generation()
    if A.fd >= 0 and gen == A.gen:
        return
    _close()
    A.fd = os.open(A.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    A.gen = gen


SECRET_RULE = (b'>', b'<', b'#', b'!')


def redact(name, args):
    """Arguments as text, with passwords hidden."""
    out = [a.decode('utf-8', 'replace') for a in args]
    low = name.lower()
    if low == 'auth':
        return out[:1] if len(out) == 1 else out[:-1] + ['(redacted)']
    if low == 'acl' and len(args) > 2 and args[1].lower() == b'setuser':
        return [('(redacted)' if a[:1] in SECRET_RULE else a.decode('utf-8', 'replace')) for a in args]
    if low == 'config' and len(args) > 2 and args[1].lower() == b'set':
        return [('(redacted)' if i > 2 and args[i - 1].lower() == b'requirepass' else x)
                for i, x in enumerate(out)]
    if low == 'hello':
        for i, a in enumerate(args):
            if a.lower() == b'auth' and i + 2 < len(args):
                out[i + 2] = '(redacted)'
    return out


def record(c, name, args, result):
    """One event: name is the command ('auth' for logins: args = [user])."""
    if not A.path:
        return
    now = time.time()
    event = {'time': time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
             'event': 'auth' if name == 'auth' and result in ('success', 'failure') else 'command',
             'client': c.addr, 'id': c.id,
             'user': (c.user or b'default').decode('utf-8', 'replace')}
    if event['event'] == 'auth':
        event['username'] = args[0].decode('utf-8', 'replace')
    else:
        event['command'] = name
        event['args'] = redact(name, args)[1:]
    if result:
        event['result'] = result
    write((json.dumps(event) + '\n').encode())


def write(line: bytes):
    """Append one line; size check, rotation and write under the security
    lock, so that no worker writes past the size another just checked."""
    try:
        _core.acl_lock()
        try:
            _open()
            if os.fstat(A.fd).st_size + len(line) > A.max_size:
                _rotate_locked()
            os.write(A.fd, line)
        finally:
            _core.acl_unlock()
    except OSError as e:
        A.failures += 1
        now = time.monotonic()
        if now - A.last_alarm >= 1:
            A.last_alarm = now
            log.error("AUDIT LOG WRITE FAILED (%d failures so far) for %s: %s",
                      A.failures, A.path, e)


def _rotate_locked():
    for i in range(A.max_files - 1, 0, -1):
        if os.path.exists(f"{A.path}.{i}"):
            os.replace(f"{A.path}.{i}", f"{A.path}.{i + 1}")
    os.replace(A.path, f"{A.path}.1")
    _core.audit_generation(True)
    _open()
