"""The node's figures as Prometheus metric families, read from the segment the
supervisor has mapped. Every counter is read without a lock: workers write
their own rows (wstat_t, cmdstat_t), the header fields are atomics or plain
words, and a scrape that sees a row mid-update is off by one call at most.
No worker is asked anything.

Names follow Prometheus conventions: a `cachecyt_` prefix, `_total` on
counters, base units in the name (`_seconds`, `_bytes`). docs/METRICS.md lists
them; conf/prometheus-alerts.yaml and conf/grafana-dashboard.json use exactly
these names (tests/integration/test_metrics_http.py checks it)."""
import itertools
import math
import os
import time

import cachecyt
from cachecyt import _core
from cachecyt.commands import server as cmdserver
from cachecyt.metrics.promtext import Family

PAGE = 65536
_TICK = os.sysconf('SC_CLK_TCK')


def proc_cpu(pid):
    """(user, system) CPU seconds of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def proc_rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return 0


def command_rows():
    """{command: (calls, usec, rejected, failed)}: the C table's rows plus the
    subcommand rows of CLIENT/CONFIG/COMMAND ('config|get'), as INFO commandstats."""
    stats = _core.command_stats()
    for name in cmdserver.SUBCOMMANDS:
        stats.pop(name, None)
    totals = _core.substat_totals(len(cmdserver.STAT_NAMES))
    for name, row in zip(cmdserver.STAT_NAMES, totals):
        if row[0] or row[2]:
            stats[name] = row
    return stats


def _exported(bound_us) -> bool:
    """Which of the core's latency bounds the endpoint exports: every one up to
    7 µs, then two per doubling (2^k - 1 and 3 * 2^k - 1 µs), about 50 in all.
    The core keeps four per doubling; a coarser set keeps a scrape small and,
    as each exported bound is one of the core's, its cumulative count is exact."""
    if math.isinf(bound_us) or bound_us <= 7:
        return True
    n = int(bound_us) + 1
    return n & (n - 1) == 0 or (n % 3 == 0 and (n // 3) & (n // 3 - 1) == 0)


_EXPORT = None                  # [(index into the core's buckets, le label)], computed once


def _export_bounds():
    global _EXPORT
    if _EXPORT is None:
        bounds = getattr(_core, 'LATENCY_BUCKETS_US', ())
        _EXPORT = [(i, _le(b if math.isinf(b) else b / 1e6)) for i, b in enumerate(bounds) if _exported(b)]
    return _EXPORT


def latency_histograms():
    """{command: [(le label, cumulative count)]} from the core's per-command
    latency buckets (integer µs, inclusive bounds; the last is +Inf), or {}
    when the core keeps none."""
    fn = getattr(_core, 'command_latency_buckets', None)
    if fn is None:
        return {}
    export = _export_bounds()
    out = {}
    for name, counts in fn().items():
        cum = list(itertools.accumulate(counts))
        out[name.decode() if isinstance(name, bytes) else name] = [(le, cum[i]) for i, le in export]
    return out


def hot_keys(count=10):
    """[(db, key, estimated recent accesses)] from the core's hot-key sketch
    (empty when sampling is off or no key stands out)."""
    fn = getattr(_core, 'hotkeys', None)
    if fn is None:
        return []
    out = []
    for db, key, n in fn(count):
        if isinstance(key, bytes):
            key = key.decode('utf-8', 'backslashreplace')
        out.append((db, key, n))
    return out


def collect(workers=(), alerts=()):
    """Every family. `workers`: [(slot, pid, restarts)] known to the supervisor;
    `alerts`: the active alerts [(name, severity, state)]."""
    fams = []

    def fam(name, type_, help_):
        f = Family(name, type_, help_)
        fams.append(f)
        return f

    hdr = _core.get_setting
    fam('cachecyt_info', 'gauge', 'Constant 1, labelled with the version.').add(
        1, version=cachecyt.__version__, redis_version=cachecyt.REDIS_VERSION)
    start_ms = hdr('start_ms')
    fam('cachecyt_start_time_seconds', 'gauge', 'Unix time the node started.').add(start_ms / 1000)
    fam('cachecyt_uptime_seconds', 'gauge', 'Seconds since the node started.').add(
        max(0.0, time.time() - start_ms / 1000))

    _commands(fam)
    _keyspace(fam, hdr)
    _memory(fam, hdr, workers)
    _connections(fam, hdr)
    _persistence(fam)
    _backups(fam)
    _workers(fam, workers)
    _tenants(fam)
    hk = fam('cachecyt_hot_key_accesses', 'gauge',
             'Estimated recent accesses of each hot key (sampled sketch).')
    for db, key, n in hot_keys():
        hk.add(n, db=str(db), key=key)
    active = fam('cachecyt_alert_active', 'gauge',
                 'Alerts of the configured rules: 1 firing, 0 pending (condition met, not yet for long enough).')
    for name, severity, state in alerts:
        active.add(1 if state == 'firing' else 0, alert=name, severity=severity)
    return fams


TENANT_FAMILIES = [     # (metric, type, help, field of security.tenants.all_tenants())
    ('cachecyt_tenant_used_memory_bytes', 'gauge', 'Bytes allocated for a tenant\'s keys.', 'used'),
    ('cachecyt_tenant_maxmemory_bytes', 'gauge', 'A tenant\'s memory quota (0 = none).', 'maxmemory'),
    ('cachecyt_tenant_keys', 'gauge', 'Keys of a tenant.', 'keys'),
    ('cachecyt_tenant_maxkeys', 'gauge', 'A tenant\'s key quota (0 = none).', 'maxkeys'),
    ('cachecyt_tenant_connected_clients', 'gauge', 'Connections of a tenant\'s users.', 'conns'),
    ('cachecyt_tenant_commands_total', 'counter', 'Commands a tenant\'s clients ran.', 'ops'),
    ('cachecyt_tenant_hits_total', 'counter', 'Key lookups of a tenant that found the key.', 'hits'),
    ('cachecyt_tenant_misses_total', 'counter', 'Key lookups of a tenant that found no key.', 'misses'),
    ('cachecyt_tenant_evicted_keys_total', 'counter', 'Keys evicted under a tenant\'s memory quota.',
     'evicted'),
]


def _tenants(fam):
    from cachecyt.security import tenants
    rows = sorted(tenants.all_tenants().items())
    for name, type_, help_, field in TENANT_FAMILIES:
        f = fam(name, type_, help_)
        for tname, (_slot, d) in rows:
            f.add(d[field], tenant=tname)
    rej = fam('cachecyt_tenant_rejected_total', 'counter',
              'Commands or connections of a tenant refused over a quota, by quota.')
    for tname, (_slot, d) in rows:
        for quota in ('memory', 'keys', 'ops', 'conns'):
            rej.add(d['rej_' + quota], tenant=tname, quota=quota)


def _commands(fam):
    rows = command_rows()
    calls = fam('cachecyt_commands_total', 'counter', 'Commands run, by command.')
    failed = fam('cachecyt_commands_failed_total', 'counter', 'Commands that replied an error, by command.')
    rejected = fam('cachecyt_commands_rejected_total', 'counter',
                   'Commands refused before running (arity, OOM ...), by command.')
    for name in sorted(rows):
        c, _, rej, fail = rows[name]
        calls.add(c, cmd=name)
        failed.add(fail, cmd=name)
        rejected.add(rej, cmd=name)
    hist = fam('cachecyt_command_duration_seconds', 'histogram',
               'Time to run a command, by command.')
    buckets = latency_histograms()
    for name in sorted(rows):
        c, usec = rows[name][0], rows[name][1]
        rows_ = buckets.get(name, [('+Inf', c)])
        for le, n in rows_:
            hist.add(n, '_bucket', cmd=name, le=le)
        hist.add(usec / 1e6, '_sum', cmd=name)
        hist.add(rows_[-1][1], '_count', cmd=name)
    errs = fam('cachecyt_error_replies_total', 'counter', 'Error replies, by error prefix.')
    for prefix, n in sorted(_core.error_stats().items()):
        errs.add(n, prefix=prefix)


def _le(b):
    return '+Inf' if math.isinf(b) else repr(b)


def _keyspace(fam, hdr):
    stats = _core.worker_stats()

    def total(k):
        return sum(w[k] for w in stats)
    hits, misses = total('hits'), total('misses')
    fam('cachecyt_keyspace_hits_total', 'counter', 'Key lookups that found the key.').add(hits)
    fam('cachecyt_keyspace_misses_total', 'counter', 'Key lookups that found no key.').add(misses)
    fam('cachecyt_keyspace_hit_ratio', 'gauge',
        'Hits / (hits + misses) since the start or CONFIG RESETSTAT (0 before any lookup).').add(
        hits / (hits + misses) if hits + misses else 0.0)
    keys = fam('cachecyt_db_keys', 'gauge', 'Keys, by logical database.')
    exp = fam('cachecyt_db_keys_expiring', 'gauge', 'Keys with a time to live, by logical database.')
    n_keys = 0
    for db, n, e in _core.keyspace_info():
        keys.add(n, db=str(db))
        exp.add(e, db=str(db))
        n_keys += n
    fam('cachecyt_keys', 'gauge', 'Keys in every database.').add(n_keys)
    fam('cachecyt_expired_keys_total', 'counter', 'Keys deleted because their time to live ran out.').add(
        total('expired'))
    fam('cachecyt_evicted_keys_total', 'counter', 'Keys evicted to stay within maxmemory.').add(total('evicted'))
    fam('cachecyt_net_input_bytes_total', 'counter', 'Bytes read from clients.').add(total('net_in'))
    fam('cachecyt_net_output_bytes_total', 'counter', 'Bytes written to clients.').add(total('net_out'))


def _memory(fam, hdr, workers):
    used, peak = hdr('used_memory'), hdr('peak_memory')
    arena = hdr('pages_used') * PAGE
    fam('cachecyt_memory_used_bytes', 'gauge', 'Bytes in live allocations (what maxmemory limits).').add(used)
    fam('cachecyt_memory_peak_bytes', 'gauge', 'Most bytes ever used.').add(peak)
    fam('cachecyt_memory_max_bytes', 'gauge', 'The maxmemory setting (0: no limit).').add(hdr('maxmemory'))
    fam('cachecyt_memory_arena_bytes', 'gauge', 'Bytes of arena pages handed to size classes.').add(arena)
    fam('cachecyt_memory_fragmentation_ratio', 'gauge', 'Arena bytes / used bytes.').add(
        arena / used if used else 1.0)
    rss = proc_rss(os.getpid()) + sum(proc_rss(pid) for _, pid, _ in workers)
    fam('cachecyt_memory_rss_bytes', 'gauge', 'Resident memory of the supervisor and the workers.').add(rss)
    fam('cachecyt_segment_bytes', 'gauge', 'Size of the shared-memory segment (sparse).').add(hdr('seg_size'))


def _persistence(fam):
    """Snapshot and WAL figures (cluster/persist.py, shm/wal.pxi), when the
    node has persistence state."""
    get = _core.persist_get
    if get('appendonly') is None:
        return
    fam('cachecyt_loading', 'gauge', '1 while the node recovers its data at start.').add(get('loading'))
    fam('cachecyt_changes_since_last_snapshot', 'gauge',
        'Writes since the last good snapshot.').add(get('dirty'))
    fam('cachecyt_snapshot_in_progress', 'gauge', '1 while a snapshot is being taken.').add(
        1 if get('snap_active') else 0)
    fam('cachecyt_snapshots_total', 'counter', 'Snapshots finished, good or not.').add(get('snap_seq'))
    fam('cachecyt_last_snapshot_time_seconds', 'gauge',
        'Unix time of the last good snapshot (0: none).').add(get('lastsave'))
    fam('cachecyt_last_snapshot_success', 'gauge', '1 when the last snapshot succeeded.').add(
        1 if get('last_bgsave_ok') else 0)
    fam('cachecyt_last_snapshot_duration_seconds', 'gauge',
        'Duration of the last snapshot (-1: none yet).').add(get('last_bgsave_secs'))
    fam('cachecyt_wal_enabled', 'gauge', '1 when writes are logged (appendonly).').add(
        1 if get('appendonly') else 0)
    fam('cachecyt_wal_records_total', 'counter', 'Records appended to the write-ahead log.').add(
        max(0, get('next_lsn') - 1))
    fam('cachecyt_wal_durable_lsn', 'gauge', 'Last log record written (fsynced under always).').add(
        get('durable_lsn'))
    fam('cachecyt_wal_file_bytes', 'gauge', 'Bytes in write-ahead log segment files.').add(get('wal_bytes'))
    fam('cachecyt_wal_ring_used_bytes', 'gauge', 'Log bytes waiting in the shared ring.').add(
        get('ring_used') or 0)
    fam('cachecyt_wal_write_error', 'gauge', '1 while the log cannot be written (writes refused).').add(
        1 if get('wal_error') else 0)


def _backups(fam):
    """Scheduled backups (cluster/backup_schedule.py, shm/backupstat.pxi)."""
    st = _core.backup_status()
    if st is None:
        return
    fam('cachecyt_backup_interval_seconds', 'gauge',
        'Seconds between scheduled backups (0: none scheduled).').add(st['every'])
    fam('cachecyt_backup_failures_total', 'counter',
        'Scheduled backups that failed since the start (see the log).').add(st['failures'])
    fam('cachecyt_backup_last_success_time_seconds', 'gauge',
        'Unix time of the newest good backup (0: none).').add(st['last_ok_ms'] / 1000)
    fam('cachecyt_backup_last_success', 'gauge',
        '1 when the last scheduled backup succeeded (or none failed yet).').add(
        1 if st['last_ok'] or not st['last_try_ms'] else 0)
    fam('cachecyt_backups_kept', 'gauge', 'Backups in backup-dir after the last retention pass.').add(
        st['kept'])


def _connections(fam, hdr):
    stats = _core.worker_stats()
    fam('cachecyt_connected_clients', 'gauge', 'Clients connected now.').add(hdr('connected_clients'))
    fam('cachecyt_max_clients', 'gauge', 'The maxclients setting.').add(hdr('maxclients'))
    fam('cachecyt_connections_received_total', 'counter', 'Connections accepted.').add(
        sum(w['connections'] for w in stats))
    fam('cachecyt_connections_rejected_total', 'counter', 'Connections refused (maxclients).').add(
        sum(w['rejected_connections'] for w in stats))


def _workers(fam, workers):
    by_slot = {w['slot']: w for w in _core.worker_stats()}
    up = fam('cachecyt_worker_up', 'gauge', 'Whether the worker of a slot is running.')
    cpu = fam('cachecyt_worker_cpu_seconds_total', 'counter', 'CPU time of each worker process, by mode.')
    cmds = fam('cachecyt_worker_commands_total', 'counter', 'Commands run by each worker slot.')
    clients = fam('cachecyt_worker_connected_clients', 'gauge', 'Clients connected to each worker.')
    restarts = fam('cachecyt_worker_restarts_total', 'counter', 'Times the supervisor restarted a worker slot.')
    for slot, pid, n_restarts in workers:
        w = str(slot)
        times = proc_cpu(pid) if pid else None
        up.add(1 if times is not None and slot in by_slot else 0, worker=w)
        if times is not None:
            cpu.add(times[0], worker=w, mode='user')
            cpu.add(times[1], worker=w, mode='system')
        row = by_slot.get(slot)
        cmds.add(row['commands'] if row else 0, worker=w)
        clients.add(row['clients'] if row else 0, worker=w)
        restarts.add(n_restarts, worker=w)
    times = proc_cpu(os.getpid())
    fam('cachecyt_supervisor_cpu_seconds_total', 'counter', 'CPU time of the supervisor, by mode.').add(
        times[0], mode='user').add(times[1], mode='system')
