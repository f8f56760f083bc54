"""Scheduled backups, run by the supervisor on a thread of their own so that
serving never waits for them: every `backup-every` seconds a snapshot (asked
of the supervisor's snapshotter as BGSAVE asks it), a copy of the node's files
into a new directory of `backup-dir` (cluster/backup.py), then retention
(cluster/retention.py). A failed backup (disk full, directory not writable,
snapshot failed) is logged and counted; the status lives in the segment
header (shm/backupstat.pxi) for INFO persistence and the metrics endpoint.

The schedule keeps its pace from the newest backup in `backup-dir`: a node
restarted in the middle of an interval takes its next backup when the
interval ends, and at once when the newest backup is older than that."""
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

from cachecyt import _core
from cachecyt.cluster import backup as bk
from cachecyt.cluster import retention

log = logging.getLogger("cachecyt.backup")

POLL_S = 0.02                     # while waiting for the snapshot to finish


class Stopped(Exception):
    pass


class BackupScheduler:
    def __init__(self, cfg):
        self.cfg = cfg
        self.folder = cfg['backup-dir']
        self.every = cfg['backup-every']
        self.stop_event = threading.Event()
        self.thread = None
        self.next_due = 0.0
        self.failures = 0

    def enabled(self):
        return bool(self.folder and self.every)

    def start(self):
        if not self.enabled():
            return
        _core.backup_status_set('every', self.every)
        try:
            found = bk.list_backups(self.folder)
        except (OSError, ValueError) as e:
            log.error("cannot read the backups in %s: %s", self.folder, e)
            found = []
        if found:
            last = found[-1][1]['created']
            _core.backup_status_set('last_ok_ms', int(last * 1000))
            _core.backup_status_set('last_ok', 1)
            self.next_due = last + self.every
        _core.backup_status_set('kept', len(found))
        self.thread = threading.Thread(target=self.run, name="backups", daemon=True)
        self.thread.start()
        log.info("backups into %s every %ds", self.folder, self.every)

    def stop(self, timeout=5.0):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self):
        while not self.stop_event.wait(max(0.0, self.next_due - time.time())):
            started = time.time()
            try:
                self.backup_once()
            except Stopped:
                return
            self.prune()
            self.next_due = max(started + self.every, time.time())

    def backup_once(self):
        """One backup; its outcome goes to the log and the status."""
        t0 = time.monotonic()
        try:
            os.makedirs(self.folder, exist_ok=True)
            self.snapshot()
            path = self.copy()
        except Stopped:
            raise
        except Exception as e:          # OSError (ENOSPC, EACCES), BackupError, a bad file
            self.failures += 1
            _core.backup_status_set('failures', self.failures)
            _core.backup_status_set('last_ok', 0)
            log.error("backup into %s failed: %s", self.folder, e)
        else:
            _core.backup_status_set('last_ok_ms', int(time.time() * 1000))
            _core.backup_status_set('last_ok', 1)
            log.info("backup %s written in %.2fs", path, time.monotonic() - t0)
        finally:
            _core.backup_status_set('last_try_ms', int(time.time() * 1000))

    def snapshot(self):
        """A snapshot taken now: wait for a running one, ask for ours, wait
        for it (the snapshotter counts every snapshot it finishes)."""
        while _core.persist_get('snap_active') or _core.persist_get('bgsave_request'):
            self.pause()
        seq = _core.persist_get('snap_seq')
        _core.request_bgsave()
        while _core.persist_get('snap_seq') == seq:
            self.pause()
        if not _core.persist_get('last_bgsave_ok'):
            raise bk.BackupError("the snapshot failed (see the snapshot error above)")

    def copy(self):
        """The copy (cluster/backup.py copy_node_files) in a child process:
        reading and checksumming files there never holds this process's GIL,
        which the WAL writer and the metrics endpoint need."""
        cmd = [sys.executable, '-m', 'cachecyt.cluster.backup', 'copy', self.cfg['dir'],
               self.cfg['dbfilename'], self.cfg['appenddirname'], self.folder]
        if shutil.which('ionice'):
            cmd = ['ionice', '-c', '3', '-t'] + cmd    # idle I/O class: the WAL's fsyncs go first
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while True:
            try:
                out, err = child.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if self.stop_event.is_set():
                    child.terminate()
                    child.communicate()
                    raise Stopped() from None
        if child.returncode:
            lines = err.strip().splitlines() or [f"the copy ended with {child.returncode}"]
            raise bk.BackupError(lines[-1])
        return out.strip()

    def pause(self):
        if self.stop_event.wait(POLL_S):
            raise Stopped()

    def prune(self):
        try:
            whole, trimmed, _ = retention.prune(self.folder, retention.policy_of(self.cfg))
            _core.backup_status_set('kept', len(whole) + len(trimmed))
        except Exception as e:            # OSError, a manifest edited by hand ...
            log.error("backup retention in %s failed: %s", self.folder, e)
