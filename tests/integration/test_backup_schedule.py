"""Scheduled backups, retention and restores with real nodes and real files:
a node taking a backup every second prunes to its retention and reports
its status (INFO persistence, metrics, an alert rule); a backup directory it
cannot write is a counted, logged failure; restore refuses a running node's
directory unless --force (which stops the node); restoring to an instant of
a pruned window names what is still restorable."""
import glob
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
import redis
import yaml
from servers import ROOT, CachecytServer

from cachecyt.metrics import promtext

STARTED = []


@pytest.fixture(autouse=True)
def stop_nodes():
    yield
    while STARTED:
        STARTED.pop().stop()


def start(*flags, **kw):
    srv = CachecytServer(*flags, workers=1, **kw)
    STARTED.append(srv)
    srv.start()
    return srv, redis.Redis(port=srv.port, socket_timeout=10)


def wait_until(cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cli(*args, ok=True):
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'backup', *map(str, args)],
                       capture_output=True, text=True, env=env)
    assert (p.returncode == 0) == ok, p.stdout + p.stderr
    return p.stdout + p.stderr


def metrics(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/metrics", timeout=5) as resp:
        return {n: v for n, labels, v in promtext.parse(resp.read().decode()) if not labels}


def full_log(srv):
    """The node's whole log (log_text() is its tail)."""
    with open(srv.log_path, errors='replace') as f:
        return f.read()


def backups(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, 'backup-*')) if not p.endswith('.partial'))


def test_scheduled_backups_keep_to_the_retention(tmp_path):
    store = tmp_path / 'backups'
    srv, r = start('--dir', tmp_path / 'data', '--save', '', '--appendonly', 'yes',
                   '--appendfsync', 'always', '--backup-dir', store, '--backup-every', '1s',
                   '--backup-keep-last', 2, '--backup-keep-wal', 0, '--backup-keep-daily', 0,
                   metrics_port=True)
    t0 = time.time()
    for i in range(50):
        r.set(f"k{i}", i)
    wait_until(lambda: full_log(srv).count(' written in ') >= 3, 'three backups')
    wait_until(lambda: len(backups(store)) == 2, 'retention to keep two')
    info = r.info('persistence')
    assert info['backup_interval_sec'] == 1 and info['backup_last_status'] == 'ok'
    assert info['backups_kept'] == 2 and info['backup_failures'] == 0
    assert info['backup_last_success_time'] >= int(t0)
    m = metrics(srv)
    assert m['cachecyt_backup_failures_total'] == 0 and m['cachecyt_backups_kept'] == 2
    assert m['cachecyt_backup_last_success'] == 1 and m['cachecyt_backup_interval_seconds'] == 1
    assert m['cachecyt_backup_last_success_time_seconds'] >= t0
    assert 'deleted (retention)' in full_log(srv)
    srv.stop()                                   # the directory holds still from here on
    assert cli('verify', backups(store)[-1]).strip().endswith('ok')
    assert cli('verify', store).strip().endswith('ok')       # every backup of the directory
    out = cli('list', '--to', store)            # a backup may have ended after the retention check
    assert out.count('restores to: LSN') == len(backups(store)) >= 2 and 'restorable: LSN' in out


def test_failed_backup_is_logged_counted_and_alerts(tmp_path):
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('a file where the backup directory should be')
    store = blocker / 'backups'
    conf = tmp_path / 'node.yaml'
    conf.write_text(yaml.safe_dump({'alerts': [{
        'name': 'BackupFailed', 'expr': 'increase(cachecyt_backup_failures_total[1m])',
        'threshold': 0, 'severity': 'critical'}]}))
    srv, r = start('--config', conf, '--dir', tmp_path / 'data', '--save', '',
                   '--backup-dir', store, '--backup-every', '1s', metrics_port=True)
    r.set('k', 'v')
    wait_until(lambda: r.info('persistence')['backup_failures'] >= 2, 'two failed backups')
    info = r.info('persistence')
    assert info['backup_last_status'] == 'err' and info['backup_last_success_time'] == 0
    assert re.search(r'ERROR backup into \S+ failed: .*Not a directory', full_log(srv))
    m = metrics(srv)
    assert m['cachecyt_backup_failures_total'] >= 2 and m['cachecyt_backup_last_success'] == 0
    wait_until(lambda: any(a[b'name'] == b'BackupFailed' and a[b'state'] == b'firing'
                           for a in map(_pairs, r.execute_command('ALERTS'))), 'the alert')
    # the directory becomes writable: the next backup succeeds, the count stays
    blocker.unlink()
    wait_until(lambda: r.info('persistence')['backup_last_status'] == 'ok', 'a good backup')
    failures = r.info('persistence')['backup_failures']
    assert failures >= 2 and metrics(srv)['cachecyt_backup_failures_total'] == failures
    assert len(backups(store)) >= 1


def _pairs(row):
    return dict(zip(row[0::2], row[1::2])) if isinstance(row, list) else row


def test_restore_into_a_running_node_needs_force(tmp_path):
    data, store = tmp_path / 'data', tmp_path / 'backups'
    srv, r = start('--dir', data, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always')
    r.set('gen', 'one')
    cli('create', '--port', srv.port, '--to', store)
    r.set('gen', 'two')
    out = cli('restore', '--from', store, '--into', data, ok=False)
    assert f"a running node uses {data}: stop it first (or use --force" in out
    assert r.get('gen') == b'two' and srv.proc.poll() is None
    out = cli('restore', '--from', store, '--into', data, '--force')
    assert f"stopped the node (pid {srv.proc.pid})" in out
    srv.proc.wait(10)
    srv2, r2 = start('--dir', data, '--save', '', '--appendonly', 'yes')
    assert r2.get('gen') == b'one'


def test_pitr_across_a_pruned_window_names_the_restorable_range(tmp_path):
    data, store = tmp_path / 'data', tmp_path / 'backups'
    # 1 MB WAL segments, and more than that written between backups: each
    # backup's snapshot lets the node delete the segments before the previous one
    srv, r = start('--dir', data, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
                   '--wal-segment-size', '1mb')
    when = []
    for i in range(3):
        r.set('v', i)
        when.append(time.time())
        time.sleep(0.05)
        pipe = r.pipeline(transaction=False)
        for n in range(300):
            pipe.set(f"junk:{i}:{n}", b'x' * 4000)
        pipe.execute()
        cli('create', '--port', srv.port, '--to', store)
    cli('create', '--port', srv.port, '--to', store)      # nothing written since the last one
    srv.stop()
    assert len(backups(store)) == 4
    # files unchanged since the backup before are links to its copies, not copies
    first, second, third, fourth = backups(store)
    assert os.stat(f"{first}/dump.ccyt").st_ino == os.stat(f"{second}/dump.ccyt.prev").st_ino
    # a new snapshot of the same data is a new file (its LSN and time differ)
    assert os.stat(f"{third}/dump.ccyt").st_ino == os.stat(f"{fourth}/dump.ccyt.prev").st_ino
    assert os.stat(f"{third}/dump.ccyt").st_ino != os.stat(f"{fourth}/dump.ccyt").st_ino
    (seg,) = os.listdir(f"{fourth}/wal")
    assert os.stat(f"{third}/wal/{seg}").st_ino == os.stat(f"{fourth}/wal/{seg}").st_ino
    # before pruning, every instant is restorable, from the directory of backups
    into = tmp_path / 'early'
    cli('restore', '--from', store, '--into', into, '--until', f"{when[0] + 0.01:.3f}")
    _, rr = start('--dir', into, '--save', '')
    assert rr.get('v') == b'0'
    out = cli('prune', '--to', store, '--keep-last', 2, '--keep-wal', 0, '--keep-daily', 0)
    assert out.count('delete ') == 2 and backups(store) == [third, fourth]
    out = cli('list', '--to', store)
    (span,) = re.findall(r'restorable: (LSN \d+\.\.\d+, \S+ \.\. \S+)', out)
    refused = cli('restore', '--from', store, '--into', tmp_path / 'x', '--until',
                  f"{when[0] + 0.01:.3f}", ok=False)
    assert 'no backup restores to ' in refused and f"restorable are {span}" in refused
    into = tmp_path / 'late'
    cli('restore', '--from', store, '--into', into, '--until', f"{when[2] + 0.01:.3f}")
    _, rr = start('--dir', into, '--save', '')
    assert rr.get('v') == b'2'


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (needs the right to mount; skipped without it)."""
    where = tmp_path / 'small'
    where.mkdir()
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', str(where)],
                       capture_output=True, text=True)
    if p.returncode:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    yield where
    subprocess.run(['umount', '-l', str(where)])


def test_disk_full_backup_fails_cleanly_then_recovers(tmp_path, small_disk):
    srv, r = start('--dir', tmp_path / 'data', '--save', '', '--backup-dir', small_disk,
                   '--backup-every', '1s', '--backup-keep-last', 1, '--backup-keep-wal', 0,
                   '--backup-keep-daily', 0)
    r.mset({f"big:{i}": os.urandom(8000) for i in range(64)})    # 512 KB that compress to no less
    wait_until(lambda: r.info('persistence')['backup_failures'] >= 1, 'a failed backup')
    assert 'No space left on device' in full_log(srv)
    wait_until(lambda: not glob.glob(f"{small_disk}/*.partial"), 'the partial copy removed',
               timeout=5)
    r.flushall()
    wait_until(lambda: r.info('persistence')['backup_last_status'] == 'ok', 'a good backup')
    wait_until(lambda: len(backups(small_disk)) == 1, 'retention to keep one')
    assert not glob.glob(f"{small_disk}/*.partial")
