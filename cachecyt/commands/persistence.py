"""Persistence commands of a worker: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF and
the INFO persistence section. They only ask the supervisor (through the
persistence state in the segment, shm/wal.pxi), which takes snapshots and
writes every file (cluster/persist.py)."""
import time

from cachecyt import _core
from cachecyt._core import OK, CommandError, Status

E_BGSAVE_RUNNING = "ERR Background save already in progress"


def _get(k, default=0):
    v = _core.persist_get(k)
    return default if v is None else v


def _require_state():
    if not _core.persist_ready():
        raise CommandError("ERR persistence is not available on this node")


def save(c, args):
    """A snapshot now; the reply waits for it (the worker serves nothing else
    meanwhile, as Redis's SAVE blocks the server)."""
    _require_state()
    if _get('snap_active') or _get('bgsave_request'):
        raise CommandError(E_BGSAVE_RUNNING)
    seq = _get('snap_seq')
    _core.request_bgsave()
    while _get('snap_seq') == seq:
        _core.snap_flush_parts()
        time.sleep(0.001)
    if not _get('last_bgsave_ok'):
        raise CommandError("ERR snapshot failed: see the server log")
    return OK


def bgsave(c, args):
    _require_state()
    schedule = len(args) == 2 and args[1].lower() == b'schedule'
    if len(args) > 2 or (len(args) == 2 and not schedule):
        raise CommandError("ERR syntax error")
    if _get('snap_active') or _get('bgsave_request'):
        if schedule:
            _core.request_bgsave()
            return Status("Background saving scheduled")
        raise CommandError(E_BGSAVE_RUNNING)
    _core.request_bgsave()
    return Status("Background saving started")


def bgrewriteaof(c, args):
    """Compaction: a snapshot, after which older WAL segments are deleted."""
    _require_state()
    if _get('rewrite_running'):
        raise CommandError("ERR Background append only file rewriting already in progress")
    if _get('snap_active') or _get('bgsave_request'):
        return Status("Background append only file rewriting scheduled")
    _core.persist_set('rewrite_running', 1)
    _core.request_bgsave()
    return Status("Background append only file rewriting started")


def lastsave(c, args):
    return _get('lastsave', int(time.time()))


def info_persistence():
    active = bool(_get('snap_active'))
    started = _get('snap_started_ms')
    current = int(time.time() - started / 1000) if active and started else -1
    ok = 'ok' if _get('last_bgsave_ok', 1) else 'err'
    aof = int(bool(_get('appendonly')))
    out = [('loading', _get('loading')), ('async_loading', 0),
           ('current_cow_peak', 0), ('current_cow_size', 0), ('current_cow_size_age', 0),
           ('current_fork_perc', '0.00'), ('current_save_keys_processed', 0),
           ('current_save_keys_total', 0),
           ('rdb_changes_since_last_save', _get('dirty')),
           ('rdb_bgsave_in_progress', int(active)),
           ('rdb_last_save_time', _get('lastsave', int(time.time()))),
           ('rdb_last_bgsave_status', ok),
           ('rdb_last_bgsave_time_sec', _get('last_bgsave_secs', -1)),
           ('rdb_current_bgsave_time_sec', current),
           ('rdb_saves', _get('snap_seq')), ('rdb_last_cow_size', 0),
           ('aof_enabled', aof),
           ('aof_rewrite_in_progress', int(bool(_get('rewrite_running')) and active)),
           ('aof_rewrite_scheduled', 0), ('aof_last_rewrite_time_sec', -1),
           ('aof_current_rewrite_time_sec', -1), ('aof_last_bgrewrite_status', ok),
           ('aof_rewrites', 0), ('aof_rewrites_consecutive_failures', 0),
           ('aof_last_write_status', 'err' if _get('wal_error') else 'ok'),
           ('aof_last_cow_size', 0), ('module_fork_in_progress', 0),
           ('module_fork_last_cow_size', 0)]
    out += backup_info()
    if aof:
        out += [('aof_current_size', _get('wal_bytes')), ('aof_base_size', _get('wal_base_bytes')),
                ('aof_pending_rewrite', 0), ('aof_buffer_length', _get('ring_used')),
                ('aof_pending_bio_fsync', 0), ('aof_delayed_fsync', 0),
                ('wal_next_lsn', _get('next_lsn')), ('wal_durable_lsn', _get('durable_lsn'))]
    return out


def backup_info():
    """Scheduled backups (cluster/backup_schedule.py): none unless backup-dir
    and backup-every are set."""
    st = _core.backup_status()
    if not st or not st['every']:
        return []
    status = 'ok' if st['last_ok'] else 'err'
    if not st['last_try_ms']:
        status = 'ok' if st['last_ok_ms'] else 'none'
    return [('backup_interval_sec', st['every']), ('backup_last_status', status),
            ('backup_last_success_time', st['last_ok_ms'] // 1000),
            ('backup_failures', st['failures']), ('backups_kept', st['kept'])]


HANDLERS = {'save': save, 'bgsave': bgsave, 'bgrewriteaof': bgrewriteaof, 'lastsave': lastsave}
