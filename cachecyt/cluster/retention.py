"""Retention of scheduled backups: which backups of a backup directory to keep
whole, which to trim to one snapshot, which to delete (`cachecyt backup
prune`, and the supervisor after each scheduled backup). It only looks at
manifests and removes files; taking backups is cluster/backup.py's.

The rules, with the options of conf/cachecyt.yaml's `backup` section:
  - the newest backup is always kept whole (it is the newest restorable point);
  - backup-keep-last N: the N newest backups are kept whole;
  - backup-keep-wal D: every instant of the last D stays restorable: walking
    back from the newest backup, the backups whose ranges (cluster/backup.py
    `restorable_ranges`) cover the window are kept whole, each chosen to reach
    as far back as possible, so no more are kept than the window needs;
  - backup-keep-daily N: of each of the last N days (UTC) that has backups,
    the newest one keeps its newest snapshot (its WAL and older snapshot are
    deleted: it restores to that one point);
  - every other backup is deleted, and so is a `.partial` directory (a backup
    that never finished) older than an hour.
"""
import datetime
import logging
import os
import shutil
import time

from cachecyt.cluster import backup as bk

log = logging.getLogger("cachecyt.backup")

PARTIAL_MAX_AGE = 3600            # s; an unfinished backup younger than this may still be copying


def policy_of(cfg):
    """The retention options of a configuration."""
    return {"keep_last": cfg["backup-keep-last"], "keep_daily": cfg["backup-keep-daily"],
            "keep_wal_ms": cfg["backup-keep-wal"] * 1000}


def plan(found, policy, now_ms):
    """found: [(path, manifest)] oldest first. Returns (whole, trim, delete):
    lists of paths."""
    if not found:
        return [], [], []
    paths = [p for p, _ in found]
    whole = {paths[-1]}
    whole.update(paths[-policy["keep_last"]:] if policy["keep_last"] else [])
    whole.update(window_cover(found, now_ms - policy["keep_wal_ms"]) if policy["keep_wal_ms"] else [])
    trim = [p for p in daily_newest(found, policy["keep_daily"], now_ms) if p not in whole]
    delete = [p for p in paths if p not in whole and p not in trim]
    return [p for p in paths if p in whole], trim, delete


def window_cover(found, since_ms):
    """Backups that together restore to every instant from since_ms to the end
    of the newest one (greedy interval cover, walking back in time). A stretch
    no backup holds is skipped: the next older backup continues the cover."""
    spans = [(r["from_ms"], r["to_ms"], p) for p, m in found for r in bk.ranges_of(p, m)]
    if not spans:
        return []
    cursor = max(to for _, to, _ in spans)
    keep = []
    while cursor >= since_ms:
        holding = [s for s in spans if s[0] <= cursor <= s[1]]
        if holding:
            start, _, path = min(holding)
            keep.append(path)
            if start >= cursor:           # reaches no further back: a point
                older = [s for s in spans if s[1] < cursor]
                if not older:
                    break
                cursor = max(s[1] for s in older)
            else:
                cursor = start
        else:
            older = [s[1] for s in spans if s[1] < cursor]
            if not older:
                break
            cursor = max(older)
    return keep


def daily_newest(found, days, now_ms):
    """The newest backup of each of the last `days` UTC days that have one."""
    if days <= 0:
        return []
    today = _day(now_ms / 1000)
    first = today - datetime.timedelta(days=days - 1)
    newest = {}
    for path, m in found:
        day = _day(m["created"])
        if first <= day <= today:
            newest[day] = path              # found is oldest first: the last one wins
    return sorted(newest.values())


def _day(unix_s):
    return datetime.datetime.fromtimestamp(unix_s, datetime.timezone.utc).date()


def prune(folder, policy, now_ms=None, dry_run=False):
    """Apply the policy to a backup directory. Returns (kept whole, trimmed,
    deleted) path lists."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    found = bk.list_backups(folder)
    whole, trim, delete = plan(found, policy, now_ms)
    if dry_run:
        return whole, trim, delete
    manifests = dict(found)
    for path in trim:
        trim_to_snapshot(path, manifests[path])
    for path in delete:
        shutil.rmtree(path)
        log.info("backup %s deleted (retention)", path)
    remove_stale_partials(folder, now_ms / 1000)
    return whole, trim, delete


def trim_to_snapshot(path, manifest):
    """Keep only the newest snapshot of a backup (and a manifest saying so)."""
    if not manifest["snapshots"]:
        return
    snap = max(manifest["snapshots"], key=lambda s: s["lsn"])
    gone = [rel for rel in manifest["files"] if rel != snap["file"]]
    if not gone:
        return
    manifest = dict(manifest, snapshots=[snap], wal=[], trimmed=True,
                    files={snap["file"]: manifest["files"][snap["file"]]})
    manifest["ranges"] = bk.restorable_ranges(manifest)
    bk._write_manifest(path, manifest)       # first: the manifest never names a missing file
    for rel in gone:
        try:
            os.unlink(os.path.join(path, rel))
        except FileNotFoundError:
            pass
    log.info("backup %s trimmed to its snapshot of LSN %d (retention)", path, snap["lsn"])


def remove_stale_partials(folder, now_s):
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        if name.startswith("backup-") and name.endswith(bk.PARTIAL) and os.path.isdir(p) \
                and now_s - os.path.getmtime(p) > PARTIAL_MAX_AGE:
            shutil.rmtree(p, ignore_errors=True)
            log.info("unfinished backup %s deleted", p)
