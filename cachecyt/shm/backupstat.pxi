# Status of the scheduled backups (cluster/backup_schedule.py), in the segment
# header so that every worker's INFO persistence shows what the supervisor did.
# Only the supervisor writes these words (one thread: the backup scheduler);
# readers take each word as it is, a torn pair of them is harmless for INFO.

BACKUP_STATUS_FIELDS = ('last_ok_ms', 'last_try_ms', 'last_ok', 'failures', 'kept', 'every')


def backup_status():
    """{field: value} of BACKUP_STATUS_FIELDS; None without an attached segment."""
    if g_hdr == NULL:
        return None
    return {'last_ok_ms': g_hdr.backup_last_ok_ms, 'last_try_ms': g_hdr.backup_last_try_ms,
            'last_ok': g_hdr.backup_last_ok, 'failures': g_hdr.backup_failures,
            'kept': g_hdr.backup_kept, 'every': g_hdr.backup_every}


def backup_status_set(str k, v):
    """The supervisor records the outcome of a backup or a prune."""
    if g_hdr == NULL:
        raise RuntimeError("no segment attached")
    if k == 'last_ok_ms': g_hdr.backup_last_ok_ms = v
    elif k == 'last_try_ms': g_hdr.backup_last_try_ms = v
    elif k == 'last_ok': g_hdr.backup_last_ok = v
    elif k == 'failures': g_hdr.backup_failures = v
    elif k == 'kept': g_hdr.backup_kept = v
    elif k == 'every': g_hdr.backup_every = v
    else:
        raise KeyError(k)
