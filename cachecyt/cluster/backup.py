"""Backups and point-in-time restore (`cachecyt backup ...`).

A backup is a directory `backup-<UTC time>` holding a copy of the node's
snapshots (`dump.ccyt`, and `dump.ccyt.prev` when there is one) and of its
WAL segments, plus `manifest.json` (creation time, snapshot LSNs and times,
every file's size and CRC-32). It is taken from a running node: BGSAVE, wait
for it, then copy (the WAL segment being written may end in a torn record;
restore stops at its last good one, as recovery does).

Restore writes a data directory a node can start from: the newest snapshot
taken at or before the target, and one WAL segment with the records after it
up to the target (`--lsn N`: records up to LSN N; `--until T`: records whose
time is at most T, the unix time in seconds or ISO 8601). Records carry the
time their write ran at, so the restored state is what the node had applied
at that instant. A directory a running node holds (its lock file) is refused;
a non-empty one only with --force."""
import datetime
import fcntl
import json
import os
import shutil
import struct
import time
import zlib

from cachecyt.cluster import persist

LOCK_NAME = ".cachecyt.lock"
MANIFEST = "manifest.json"


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


def create(redis_client, to, progress=None):
    """Take a backup of the node redis_client talks to into a new directory
    under `to`; returns its path."""
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
    name = "backup-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = os.path.join(to, name)
    os.makedirs(os.path.join(dest, "wal"))
    files = []
    for snap in (dbfilename + ".prev", dbfilename):
        if os.path.exists(os.path.join(data_dir, snap)):
            files.append((os.path.join(data_dir, snap), snap))
    for _, path in persist.wal_files(os.path.join(data_dir, walname)):
        files.append((path, os.path.join("wal", os.path.basename(path))))
    manifest = {"created": time.time(), "node_dir": data_dir, "snapshots": [], "files": {}}
    for i, (src, rel) in enumerate(files):
        shutil.copyfile(src, os.path.join(dest, rel))
        manifest["files"][rel] = {"size": os.path.getsize(os.path.join(dest, rel)),
                                  "crc32": _crc_file(os.path.join(dest, rel))}
        if progress:
            progress(i + 1, len(files), rel)
    for snap in (dbfilename + ".prev", dbfilename):
        if snap in manifest["files"]:
            lsn, ts = persist.verify_snapshot(os.path.join(dest, snap))
            manifest["snapshots"].append({"file": snap, "lsn": lsn, "ts_ms": ts})
    with open(os.path.join(dest, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1)
    return dest


def list_backups(folder):
    """[(path, manifest)] of the backups under folder, oldest first."""
    out = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            m = os.path.join(folder, name, MANIFEST)
            if name.startswith("backup-") and os.path.exists(m):
                with open(m) as f:
                    out.append((os.path.join(folder, name), json.load(f)))
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


def restore(backup, into, until_ms=None, lsn=None, force=False, dbfilename="dump.ccyt",
            walname="appendonlydir", progress=None):
    """Write a data directory holding the backup's state at the target.
    Returns (snapshot LSN, last LSN restored, records)."""
    if dir_in_use(into):
        raise BackupError(f"a running node uses {into}: stop it first")
    if os.path.isdir(into) and [n for n in os.listdir(into) if n != LOCK_NAME] and not force:
        raise BackupError(f"{into} is not empty (use --force to replace its data)")
    if verify(backup):
        raise BackupError("the backup does not verify: run `cachecyt backup verify`")
    with open(os.path.join(backup, MANIFEST)) as f:
        manifest = json.load(f)
    snaps = sorted(manifest["snapshots"], key=lambda s: s["lsn"])
    chosen = None
    for s in snaps:
        if (lsn is None or s["lsn"] <= lsn) and (until_ms is None or s["ts_ms"] <= until_ms):
            chosen = s
    base_lsn = chosen["lsn"] if chosen else 0
    wal = sorted(rel for rel in manifest["files"] if rel.startswith("wal"))
    if chosen is None and wal and persist.wal_files(os.path.join(backup, "wal"))[0][0] > 1:
        raise BackupError("no snapshot of the backup is old enough for that target")
    os.makedirs(os.path.join(into, walname), exist_ok=True)
    for name in os.listdir(into):
        p = os.path.join(into, name)
        if name.startswith(dbfilename):
            os.unlink(p)
    for _, p in persist.wal_files(os.path.join(into, walname)):
        os.unlink(p)
    if chosen:
        shutil.copyfile(os.path.join(backup, chosen["file"]), os.path.join(into, dbfilename))
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
