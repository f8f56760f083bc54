"""Backups and point-in-time restore (`cachecyt backup ...`).

A backup is a directory `backup-<UTC time>` holding a copy of the node's
snapshots (`dump.ccyt`, and `dump.ccyt.prev` when there is one) and of its
WAL segments, plus `manifest.json` (creation time, snapshot LSNs and times,
every file's size and CRC-32, the LSNs and times of each WAL segment and the
ranges the backup restores to). It is taken from a running node: a snapshot
(BGSAVE, or the supervisor's scheduler asking its snapshotter), then a copy
into `<name>.partial`, renamed when whole (the WAL segment being written may
end in a torn record; restore stops at its last good one, as recovery does).

Restore writes a data directory a node can start from: the newest snapshot
taken at or before the target, and one WAL segment with the records after it
up to the target (`--lsn N`: records up to LSN N; `--until T`: records whose
time is at most T, the unix time in seconds or ISO 8601). Records carry the
time their write ran at, so the restored state is what the node had applied
at that instant. Given a directory of backups, restore takes the newest one
whose ranges hold the target, and names every restorable range when none
does. A directory a running node holds (its lock file) is refused, and a
non-empty one; --force replaces the data, stopping the node first.
Retention is cluster/retention.py's, the schedule cluster/backup_schedule.py's."""
import datetime
import fcntl
import json
import logging
import os
import shutil
import signal
import struct
import sys
import time
import zlib

from cachecyt.cluster import persist

log = logging.getLogger("cachecyt.backup")

LOCK_NAME = ".cachecyt.lock"
MANIFEST = "manifest.json"
PARTIAL = ".partial"


class BackupError(Exception):
    pass


def lock_data_dir(folder):
    """Held by a running node for its life: an open file with an flock."""
    f = open(os.path.join(folder, LOCK_NAME), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SystemExit(f"another cachecyt node uses the data directory {folder}")
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def dir_in_use(folder):
    path = os.path.join(folder, LOCK_NAME)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _crc_file(path):
    crc = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return crc
            crc = zlib.crc32(b, crc)


def snapshot_via(redis_client):
    """A fresh snapshot of the node redis_client talks to; returns its data
    directory, snapshot file name and WAL directory name."""
    cfg = redis_client.config_get("dir")
    data_dir = cfg["dir"]
    dbfilename = redis_client.config_get("dbfilename")["dbfilename"]
    walname = redis_client.config_get("appenddirname")["appenddirname"]
    saves = redis_client.info("persistence")["rdb_saves"]
    while redis_client.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
        saves = redis_client.info("persistence")["rdb_saves"]
    redis_client.bgsave()
    while redis_client.info("persistence")["rdb_saves"] <= saves:
        time.sleep(0.05)
    if redis_client.info("persistence")["rdb_last_bgsave_status"] != "ok":
        raise BackupError("the node's snapshot failed: see its log")
    return data_dir, dbfilename, walname


def create(redis_client, to, progress=None):
    """Take a backup of the node redis_client talks to into a new directory
    under `to`; returns its path."""
    return copy_node_files(*snapshot_via(redis_client), to, progress)


def copy_node_files(data_dir, dbfilename, walname, to, progress=None):
    """Copy a node's snapshots and WAL segments into a new backup directory
    under `to`. The copy is made in `<name>.partial` and renamed when whole, so
    a backup that failed (disk full) is never listed; it is removed."""
    name = "backup-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = os.path.join(to, name)
    work = dest + PARTIAL
    try:
        os.makedirs(os.path.join(work, "wal"))
        manifest = _copy_files(data_dir, dbfilename, walname, work, progress)
        _write_manifest(work, manifest)
        os.replace(work, dest)
        persist._fsync_dir(to)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dest


def _node_files(data_dir, dbfilename, walname):
    """[(source path, name in the backup)]: snapshots first, then WAL segments."""
    files = []
    for snap in (dbfilename + ".prev", dbfilename):
        if os.path.exists(os.path.join(data_dir, snap)):
            files.append((os.path.join(data_dir, snap), snap))
    for _, path in persist.wal_files(os.path.join(data_dir, walname)):
        files.append((path, os.path.join("wal", os.path.basename(path))))
    return files


def _copy_files(data_dir, dbfilename, walname, work, progress):
    files = _node_files(data_dir, dbfilename, walname)
    found = list_backups(os.path.dirname(work))
    prev = found[-1] if found else None
    manifest = {"created": time.time(), "node_dir": data_dir, "snapshots": [], "files": {}}
    linked = set()
    for i, (src, rel) in enumerate(files):
        try:
            manifest["files"][rel], same = _place(src, rel, os.path.join(work, rel), prev)
            if same:
                linked.add(rel)
        except FileNotFoundError:
            if not rel.startswith("wal"):
                raise
            # compacted away meanwhile: the ranges say what the rest restores
        if progress:
            progress(i + 1, len(files), rel)
    persist._fsync_dir(os.path.join(work, "wal"))
    for snap in (dbfilename + ".prev", dbfilename):
        if snap in manifest["files"]:
            lsn, ts = persist.verify_snapshot(os.path.join(work, snap))
            manifest["snapshots"].append({"file": snap, "lsn": lsn, "ts_ms": ts})
    known = {w["file"]: w for w in prev[1].get("wal", [])} if prev else {}
    manifest["wal"] = [known[rel] if rel in linked and rel in known else _wal_summary(work, rel)
                       for rel in sorted(manifest["files"]) if rel.startswith("wal")]
    manifest["wal_over_data"] = persist.wal_start_over_data(os.path.join(data_dir, walname))
    manifest["ranges"] = restorable_ranges(manifest)
    return manifest


def _place(src, rel, dst, prev):
    """Copy src to dst, or hard-link dst to the previous backup's copy when src
    has not changed since: a backup directory then holds each closed WAL
    segment and each snapshot once. Returns (dst's manifest entry, linked)."""
    same = _unchanged_in(prev, src, rel)
    if same is not None:
        try:
            os.link(os.path.join(prev[0], same[0]), dst)
            return dict(same[1]), True
        except OSError:
            pass                          # another file system, or no links: copy
    shutil.copyfile(src, dst)
    _fsync_file(dst)
    return {"size": os.path.getsize(dst), "crc32": _crc_file(dst)}, False


def _unchanged_in(prev, src, rel):
    """(name, entry) in the previous backup of a copy of src that is still
    whole: a WAL segment of the same name and size last written before that
    backup began; the snapshot of the same LSN, time, size and checksum."""
    if prev is None:
        return None
    path, m = prev
    st = os.stat(src)
    if rel.startswith("wal"):
        e = m["files"].get(rel)
        if e and e["size"] == st.st_size and st.st_mtime < m["created"] and \
                os.path.exists(os.path.join(path, rel)):
            return rel, e
        return None
    same = [(s["file"], (s["lsn"], s["ts_ms"])) for s in m["snapshots"]
            if m["files"][s["file"]]["size"] == st.st_size and os.path.exists(os.path.join(path, s["file"]))]
    if not same:
        return None
    try:
        # by LSN and time: a file checksum cannot tell two snapshots apart
        # whose data are equal (the header's own CRC cancels its difference)
        point, crc = persist.verify_snapshot(src), _crc_file(src)
    except (persist.CorruptFile, OSError):
        return None
    for r, key in same:
        if key == point and m["files"][r]["crc32"] == crc:
            return r, m["files"][r]
    return None


def _fsync_file(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_manifest(folder, manifest):
    tmp = os.path.join(folder, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(folder, MANIFEST))


# ---- what a backup can restore -----------------------------------------------------------
#
# A backup restores to LSN n (and to the instants between its records) when it
# holds a snapshot of some LSN s <= n and every record s+1 .. n. `ranges` in
# the manifest lists those stretches as {from_lsn, to_lsn, from_ms, to_ms}:
# one per snapshot whose records follow it without a gap (merged when they
# overlap), plus one from LSN 0 (the empty node, from_ms 0) when the WAL
# starts at LSN 1 from an empty node. A WAL whose LSN 1 was written over data
# the node already had (appendonly turned on at run time, a start from a
# snapshot of LSN 0: the node's <appenddirname>/start.json says so, and the
# manifest's wal_over_data) restores only from a snapshot: its records alone
# would rebuild the node without that data. A backup trimmed by retention
# keeps one snapshot and no WAL: its range is that one point.

def _wal_summary(folder, rel):
    """{file, first_lsn, last_lsn, first_ms, last_ms} of a WAL segment's good records."""
    out = {"file": rel, "first_lsn": 0, "last_lsn": 0, "first_ms": 0, "last_ms": 0}
    for rec in persist.read_records(os.path.join(folder, rel)):
        if rec[0] == "bad":
            break
        lsn, ts = rec[0], rec[1]
        if not out["first_lsn"]:
            out["first_lsn"], out["first_ms"] = lsn, ts
        out["last_lsn"], out["last_ms"] = lsn, ts
    return out


def _chains(wal):
    """Runs of consecutive LSNs over the segments: [(first, last, first_ms, last_ms)]."""
    runs = []
    for w in sorted((w for w in wal if w["first_lsn"]), key=lambda w: w["first_lsn"]):
        if runs and runs[-1][1] + 1 >= w["first_lsn"] and w["last_lsn"] > runs[-1][1]:
            runs[-1] = (runs[-1][0], w["last_lsn"], runs[-1][2], w["last_ms"])
        elif not runs or w["first_lsn"] > runs[-1][1] + 1:
            runs.append((w["first_lsn"], w["last_lsn"], w["first_ms"], w["last_ms"]))
    return runs


def restorable_ranges(manifest):
    """The stretches of LSNs and times the backup can restore to (see above)."""
    bases = [(s["lsn"], s["ts_ms"]) for s in manifest["snapshots"]]
    runs = _chains(manifest.get("wal", []))
    if runs and runs[0][0] == 1 and not manifest.get("wal_over_data") and \
            not any(lsn == 0 for lsn, _ in bases):
        bases.append((0, 0))              # the WAL from its first record: the empty node
    out = []
    for lsn, ts in sorted(bases):
        end_lsn, end_ms = lsn, ts
        for first, last, _, last_ms in runs:
            if first <= lsn + 1 <= last:
                end_lsn, end_ms = last, max(ts, last_ms)
        if out and out[-1]["to_lsn"] >= lsn:
            if end_lsn > out[-1]["to_lsn"]:
                out[-1].update(to_lsn=end_lsn, to_ms=end_ms)
            else:
                out[-1]["to_ms"] = max(out[-1]["to_ms"], ts)
        else:
            out.append({"from_lsn": lsn, "to_lsn": end_lsn, "from_ms": ts, "to_ms": end_ms})
    return out


def ranges_of(backup, manifest):
    """A manifest's ranges, computed from its files for backups made before
    manifests listed them."""
    if "ranges" not in manifest:
        manifest = dict(manifest, wal=[_wal_summary(backup, rel) for rel in sorted(manifest["files"])
                                       if rel.startswith("wal")])
        return restorable_ranges(manifest)
    return manifest["ranges"]


def covers(r, until_ms=None, lsn=None):
    if lsn is not None and not r["from_lsn"] <= lsn <= r["to_lsn"]:
        return False
    return until_ms is None or r["from_ms"] <= until_ms <= r["to_ms"]


def fmt_ms(ms):
    if ms == 0:
        return "the start"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def fmt_range(r):
    if r["from_lsn"] == r["to_lsn"]:
        return f"LSN {r['to_lsn']} at {fmt_ms(r['to_ms'])} (snapshot only)"
    return (f"LSN {r['from_lsn']}..{r['to_lsn']}, "
            f"{fmt_ms(r['from_ms'])} .. {fmt_ms(r['to_ms'])}")


def list_backups(folder):
    """[(path, manifest)] of the backups under folder, oldest first."""
    out = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            m = os.path.join(folder, name, MANIFEST)
            if name.startswith("backup-") and not name.endswith(PARTIAL) and os.path.exists(m):
                try:
                    with open(m) as f:
                        out.append((os.path.join(folder, name), json.load(f)))
                except (OSError, ValueError) as e:
                    log.warning("backup %s is left out: its manifest cannot be read (%s)",
                                os.path.join(folder, name), e)
    return out


def verify(backup, progress=None):
    """[] when every file matches the manifest and parses; else the problems."""
    with open(os.path.join(backup, MANIFEST)) as f:
        manifest = json.load(f)
    problems = []
    items = sorted(manifest["files"].items())
    for i, (rel, meta) in enumerate(items):
        path = os.path.join(backup, rel)
        if not os.path.exists(path):
            problems.append(f"{rel}: missing")
        elif os.path.getsize(path) != meta["size"] or _crc_file(path) != meta["crc32"]:
            problems.append(f"{rel}: size or checksum differs from the manifest")
        elif rel.startswith("wal"):
            bad = [r for r in persist.read_records(path) if r[0] == "bad"]
            if bad and rel != items[-1][0]:
                problems.append(f"{rel}: {bad[0][2]} at byte {bad[0][1]}")
        else:
            try:
                persist.verify_snapshot(path)
            except persist.CorruptFile as e:
                problems.append(f"{rel}: {e}")
        if progress:
            progress(i + 1, len(items), rel)
    return problems


def parse_until(text):
    """Unix seconds (may be fractional) or ISO 8601 -> unix ms."""
    try:
        return int(float(text) * 1000)
    except ValueError:
        pass
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp() * 1000)


def pick_backup(source, until_ms=None, lsn=None):
    """(path, manifest) of the backup to restore the target from: `source` is
    one backup, or a directory of backups (the newest one holding the target is
    taken). BackupError names the restorable ranges when none holds it."""
    if os.path.exists(os.path.join(source, MANIFEST)):
        with open(os.path.join(source, MANIFEST)) as f:
            found = [(source, json.load(f))]
    else:
        found = list_backups(source)
    if not found:
        raise BackupError(f"no backup in {source}")
    if until_ms is None and lsn is None:
        return found[-1]
    for path, m in reversed(found):
        if any(covers(r, until_ms, lsn) for r in ranges_of(path, m)):
            return path, m
    target = f"LSN {lsn}" if lsn is not None else fmt_ms(until_ms)
    if until_ms is not None and lsn is not None:
        target = f"LSN {lsn} at {fmt_ms(until_ms)}"
    spans = "; ".join(fmt_range(r) for r in merged_ranges(found))
    raise BackupError(f"no backup restores to {target}: restorable are {spans}")


def merged_ranges(found):
    """The ranges of several backups, joined where they touch, oldest first."""
    out = []
    for r in sorted((r for p, m in found for r in ranges_of(p, m)), key=lambda r: r["from_lsn"]):
        if out and r["from_lsn"] <= out[-1]["to_lsn"]:
            if r["to_lsn"] >= out[-1]["to_lsn"]:
                out[-1] = dict(out[-1], to_lsn=r["to_lsn"], to_ms=max(r["to_ms"], out[-1]["to_ms"]))
        else:
            out.append(dict(r))
    return out


def stop_node(folder, timeout=60.0):
    """SIGTERM the node whose lock holds `folder` and wait until it has let go
    of it. Returns its pid."""
    with open(os.path.join(folder, LOCK_NAME)) as f:
        text = f.read().strip()
    if not text.isdigit():
        raise BackupError(f"cannot tell which process uses {folder}")
    pid = int(text)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while dir_in_use(folder):
        if time.monotonic() > deadline:
            raise BackupError(f"the node (pid {pid}) using {folder} did not stop in {timeout:.0f}s")
        time.sleep(0.1)
    return pid


def restore(source, into, until_ms=None, lsn=None, force=False, dbfilename="dump.ccyt",
            walname="appendonlydir", progress=None):
    """Write a data directory holding the state at the target of a backup (or
    of the newest backup holding it, when `source` is a directory of them).
    A running node's directory is refused, and a non-empty one, unless force:
    then the node is stopped first (start it again to serve the restored
    state). Returns {backup, base_lsn, last_lsn, records, stopped_pid}."""
    backup, manifest = pick_backup(source, until_ms, lsn)
    running = dir_in_use(into)
    if running and not force:
        raise BackupError(f"a running node uses {into}: stop it first (or use --force to stop it "
                          f"and replace its data)")
    if not running and os.path.isdir(into) and \
            [n for n in os.listdir(into) if n != LOCK_NAME] and not force:
        raise BackupError(f"{into} is not empty (use --force to replace its data)")
    if verify(backup):
        raise BackupError(f"the backup {backup} does not verify: run `cachecyt backup verify`")
    stopped = stop_node(into) if running else None
    base, last, n = _write_data_dir(backup, manifest, into, until_ms, lsn, dbfilename, walname,
                                    progress)
    return {"backup": backup, "base_lsn": base, "last_lsn": last, "records": n,
            "stopped_pid": stopped}


def _write_data_dir(backup, manifest, into, until_ms, lsn, dbfilename, walname, progress):
    """The snapshot to start from and one WAL segment with the records after it
    up to the target. Returns (snapshot LSN, last LSN restored, records)."""
    snaps = sorted(manifest["snapshots"], key=lambda s: s["lsn"])
    chosen = None
    for s in snaps:
        if (lsn is None or s["lsn"] <= lsn) and (until_ms is None or s["ts_ms"] <= until_ms):
            chosen = s
    base_lsn = chosen["lsn"] if chosen else 0
    wal = sorted(rel for rel in manifest["files"] if rel.startswith("wal"))
    if chosen is None and wal and (persist.wal_files(os.path.join(backup, "wal"))[0][0] > 1
                                   or manifest.get("wal_over_data")):
        raise BackupError("no snapshot of the backup is old enough for that target")
    os.makedirs(os.path.join(into, walname), exist_ok=True)
    for name in os.listdir(into):
        p = os.path.join(into, name)
        if name.startswith(dbfilename):
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    for _, p in persist.wal_files(os.path.join(into, walname)):
        os.unlink(p)
    if chosen:
        shutil.copyfile(os.path.join(backup, chosen["file"]), os.path.join(into, dbfilename))
    # a WAL from LSN 1 after a snapshot of LSN 0 is written over that snapshot's data
    persist.note_wal_start(os.path.join(into, walname), chosen is not None and base_lsn == 0)
    last, n = base_lsn, 0
    out_path = os.path.join(into, walname, f"wal-{base_lsn + 1:016x}.log")
    with open(out_path, "wb") as out:
        out.write(persist.WAL_FILE_HDR.pack(persist.WAL_MAGIC, base_lsn + 1))
        for i, rel in enumerate(wal):
            for rec in persist.read_records(os.path.join(backup, rel)):
                if rec[0] == "bad":
                    break
                rlsn, ts, db, payload = rec
                if rlsn <= last:
                    continue
                if rlsn != last + 1 or (lsn is not None and rlsn > lsn) or \
                        (until_ms is not None and ts > until_ms):
                    break
                hdr = struct.pack("<QqII", rlsn, ts, db, 0)
                body = hdr + payload
                out.write(struct.pack("<II", 8 + len(body), zlib.crc32(body)) + body)
                last = rlsn
                n += 1
            if progress:
                progress(i + 1, len(wal), rel)
        out.flush()
        os.fsync(out.fileno())
    return base_lsn, last, n


def main(argv):
    """`python -m cachecyt.cluster.backup copy DATA_DIR DBFILENAME WALNAME TO`:
    the copy of a scheduled backup, in a process of its own (at a lower CPU
    priority) so that reading and checksumming files never holds the
    supervisor's GIL. Prints the backup's path; on failure the reason, exit 1."""
    if len(argv) != 5 or argv[0] != "copy":
        print("usage: python -m cachecyt.cluster.backup copy DATA_DIR DBFILENAME WALNAME TO",
              file=sys.stderr)
        return 2
    # stopped (the node shuts down): the partial copy is removed on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # the supervisor blocks the signals it waits for, and a child inherits that
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    os.nice(10)
    try:
        print(copy_node_files(*argv[1:]))
    except (OSError, BackupError, persist.CorruptFile) as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
