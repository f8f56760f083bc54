"""Retention of backups (cluster/retention.py) and the ranges a backup can
restore to (cluster/backup.py), on backup directories made of real files:
manifests as the node writes them, snapshot and WAL files as placeholders
(retention reads manifests only; restores are tested on a real node in
tests/integration/test_backup_schedule.py)."""
import json
import os

from cachecyt.cluster import backup as bk
from cachecyt.cluster import retention

HOUR = 3600 * 1000
DAY = 24 * HOUR
NOW = 1_800_000_000_000 - 1_800_000_000_000 % DAY + 12 * HOUR      # noon UTC


def make_backup(folder, created_ms, snaps, wal):
    """snaps: [(lsn, ts_ms)] oldest first; wal: [(first_lsn, last_lsn, first_ms, last_ms)]."""
    stamp = f"{created_ms:016d}"
    path = os.path.join(folder, f"backup-{stamp}")
    os.makedirs(os.path.join(path, "wal"))
    files, snapshots, summaries = {}, [], []
    for i, (lsn, ts) in enumerate(snaps):
        name = "dump.ccyt" + (".prev" if i < len(snaps) - 1 else "")
        files[name] = {"size": 1, "crc32": 0}
        snapshots.append({"file": name, "lsn": lsn, "ts_ms": ts})
    for first, last, first_ms, last_ms in wal:
        rel = os.path.join("wal", f"wal-{first:016x}.log")
        files[rel] = {"size": 1, "crc32": 0}
        summaries.append({"file": rel, "first_lsn": first, "last_lsn": last,
                          "first_ms": first_ms, "last_ms": last_ms})
    for rel in files:
        with open(os.path.join(path, rel), "wb") as f:
            f.write(b"x")
    manifest = {"created": created_ms / 1000, "snapshots": snapshots, "files": files,
                "wal": summaries}
    manifest["ranges"] = bk.restorable_ranges(manifest)
    with open(os.path.join(path, bk.MANIFEST), "w") as f:
        json.dump(manifest, f)
    return path


def chain(folder, n, every_ms, end_ms, lsns_per=10):
    """n backups, one every every_ms up to end_ms: each holds the previous
    backup's snapshot (.prev), its own, and the WAL between them."""
    paths = []
    for i in range(n):
        t = end_ms - (n - 1 - i) * every_ms
        lsn = 100 + (i + 1) * lsns_per
        prev = (lsn - lsns_per, t - every_ms)
        paths.append(make_backup(folder, t, [prev, (lsn, t)],
                                 [(prev[0] + 1, lsn + 2, prev[1] + 1, t + 5)]))
    return paths


def test_ranges_of_a_backup():
    m = {"snapshots": [{"lsn": 10, "ts_ms": 1000}, {"lsn": 20, "ts_ms": 2000}],
         "wal": [{"first_lsn": 8, "last_lsn": 15, "first_ms": 900, "last_ms": 1500},
                 {"first_lsn": 16, "last_lsn": 25, "first_ms": 1600, "last_ms": 2500}]}
    assert bk.restorable_ranges(m) == [{"from_lsn": 10, "to_lsn": 25, "from_ms": 1000, "to_ms": 2500}]
    # a hole in the WAL: the older snapshot restores to itself only
    m["wal"][0]["last_lsn"] = 13
    assert bk.restorable_ranges(m) == [
        {"from_lsn": 10, "to_lsn": 13, "from_ms": 1000, "to_ms": 1500},
        {"from_lsn": 20, "to_lsn": 25, "from_ms": 2000, "to_ms": 2500}]
    # a WAL from LSN 1 restores from the empty node on
    m = {"snapshots": [], "wal": [{"first_lsn": 1, "last_lsn": 4, "first_ms": 5, "last_ms": 9}]}
    assert bk.restorable_ranges(m) == [{"from_lsn": 0, "to_lsn": 4, "from_ms": 0, "to_ms": 9}]
    # ... unless a snapshot of LSN 0 holds data written before the WAL was on
    m["snapshots"] = [{"lsn": 0, "ts_ms": 3}]
    assert bk.restorable_ranges(m) == [{"from_lsn": 0, "to_lsn": 4, "from_ms": 3, "to_ms": 9}]
    # a WAL whose LSN 1 was written over earlier data, once that snapshot of
    # LSN 0 has left the backup, restores only from the snapshots it still has
    m = {"snapshots": [{"lsn": 3, "ts_ms": 7}], "wal_over_data": True,
         "wal": [{"first_lsn": 1, "last_lsn": 4, "first_ms": 5, "last_ms": 9}]}
    assert bk.restorable_ranges(m) == [{"from_lsn": 3, "to_lsn": 4, "from_ms": 7, "to_ms": 9}]
    m["snapshots"] = []
    assert bk.restorable_ranges(m) == []


def test_the_window_keeps_the_backups_that_cover_it(tmp_path):
    folder = str(tmp_path)
    paths = chain(folder, 8, HOUR, NOW)          # one an hour, each covers the hour before it
    policy = {"keep_last": 1, "keep_daily": 0, "keep_wal_ms": 3 * HOUR + HOUR // 2}
    whole, trim, delete = retention.plan(bk.list_backups(folder), policy, NOW)
    # instants back to NOW - 3.5h: the backups ending at NOW, -1h, -2h, -3h; the one
    # ending at -3h covers -4h..-3h, so the window needs nothing older
    assert whole == paths[-4:] and trim == [] and delete == paths[:-4]


def test_keep_last_and_the_newest_always_stay(tmp_path):
    folder = str(tmp_path)
    paths = chain(folder, 5, HOUR, NOW)
    whole, _, delete = retention.plan(bk.list_backups(folder),
                                      {"keep_last": 0, "keep_daily": 0, "keep_wal_ms": 0}, NOW)
    assert whole == paths[-1:] and delete == paths[:-1]
    whole, _, _ = retention.plan(bk.list_backups(folder),
                                 {"keep_last": 3, "keep_daily": 0, "keep_wal_ms": 0}, NOW)
    assert whole == paths[-3:]


def test_daily_backups_keep_one_snapshot_each(tmp_path):
    folder = str(tmp_path)
    paths = chain(folder, 10, 12 * HOUR, NOW)    # two a day for five days
    policy = {"keep_last": 1, "keep_daily": 3, "keep_wal_ms": 0}
    whole, trim, delete = retention.prune(folder, policy, now_ms=NOW)
    # today: the newest (whole); yesterday and the day before: the newest of each
    assert whole == [paths[-1]] and trim == [paths[-5], paths[-3]]
    assert delete == paths[:-5] + [paths[-4], paths[-2]]
    assert [p for p, _ in bk.list_backups(folder)] == [paths[-5], paths[-3], paths[-1]]
    for p in trim:
        assert sorted(os.listdir(p)) == ["dump.ccyt", bk.MANIFEST, "wal"]
        m = json.load(open(os.path.join(p, bk.MANIFEST)))
        assert m["trimmed"] and list(m["files"]) == ["dump.ccyt"]
        (r,) = m["ranges"]
        assert r["from_lsn"] == r["to_lsn"] == m["snapshots"][0]["lsn"]
    # pruning again changes nothing
    assert retention.prune(folder, policy, now_ms=NOW) == ([paths[-1]], trim, [])


def test_a_hole_in_the_window_is_stepped_over(tmp_path):
    folder = str(tmp_path)
    a = make_backup(folder, NOW - 5 * HOUR, [(10, NOW - 6 * HOUR), (20, NOW - 5 * HOUR)],
                    [(11, 20, NOW - 6 * HOUR, NOW - 5 * HOUR)])
    old = make_backup(folder, NOW - 4 * HOUR, [(30, NOW - 4 * HOUR)], [])
    # made while the WAL lost records: its older snapshot does not reach its newer one
    b = make_backup(folder, NOW, [(40, NOW - 2 * HOUR), (60, NOW)], [(55, 62, NOW - HOUR, NOW + 1)])
    policy = {"keep_last": 1, "keep_daily": 0, "keep_wal_ms": 10 * HOUR}
    whole, _, delete = retention.plan(bk.list_backups(folder), policy, NOW)
    assert whole == [a, old, b] and delete == []


def test_restore_names_the_restorable_ranges(tmp_path):
    folder = str(tmp_path)
    chain(folder, 3, HOUR, NOW)
    try:
        bk.pick_backup(folder, until_ms=NOW - 10 * HOUR)
    except bk.BackupError as e:
        text = str(e)
    assert text.startswith("no backup restores to ")
    assert "restorable are LSN 100..132, " in text and bk.fmt_ms(NOW - 3 * HOUR) in text
    path, _ = bk.pick_backup(folder, until_ms=NOW - HOUR - 10)
    assert path.endswith(f"{NOW - HOUR:016d}")
    path, _ = bk.pick_backup(folder, lsn=131)
    assert path.endswith(f"{NOW:016d}")


def test_prune_by_hand_reads_the_node_configuration(tmp_path):
    from click.testing import CliRunner
    from cachecyt import cli
    folder = str(tmp_path / "store")
    os.makedirs(folder)
    paths = chain(folder, 3, HOUR, NOW)
    conf = tmp_path / "node.yaml"
    conf.write_text(f"backup:\n  backup-dir: {folder}\n  backup-keep-last: 2\n"
                    f"  backup-keep-wal: 0\n  backup-keep-daily: 0\n")
    run = CliRunner().invoke
    out = run(cli.main, ["backup", "prune", "--config", str(conf), "--dry-run"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [f"keep   {paths[1]}", f"keep   {paths[2]}",
                                       f"would delete {paths[0]}"]
    assert len(bk.list_backups(folder)) == 3
    out = run(cli.main, ["backup", "prune", "--config", str(conf), "--keep-last", "1"])
    assert out.exit_code == 0 and out.output.splitlines()[-2:] == [
        f"delete {paths[0]}", f"delete {paths[1]}"]
    assert [p for p, _ in bk.list_backups(folder)] == paths[2:]
    out = run(cli.main, ["backup", "list", "--config", str(conf)])
    assert paths[2] in out.output and "restorable: LSN 120..132" in out.output
    out = run(cli.main, ["backup", "prune", "--keep-wal", "soon"])
    assert out.exit_code == 2 and "backup-dir" in out.output
    out = run(cli.main, ["backup", "prune", "--config", str(conf), "--keep-wal", "soon"])
    assert out.exit_code == 2 and "argument must be a duration" in out.output
