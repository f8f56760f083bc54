"""The `cachecyt` command line.

  cachecyt server [--config FILE] [--<option> VALUE ...]

starts a node in the foreground (like `redis-server --port 7000 --maxmemory 1gb`);
every configuration option is accepted as a flag under its flat name.

  cachecyt top [--host H] [--port P | --metrics-port M] [--interval S] [--iterations N]

shows a live view of a node from its metrics endpoint.

  cachecyt backup create|list|verify|restore|prune ...

takes, lists, checks, restores (to an instant or an LSN) and prunes backups.

  cachecyt tenant [--host H] [--port P] [--user U --password W] create|set|delete|list|info ...

defines and inspects tenants on a running node (the TENANT command)."""
import logging
import os
import sys

import click

from cachecyt import __version__, config as cfgmod


@click.group()
@click.version_option(__version__, prog_name='cachecyt')
def main():
    """cachecyt: an in-memory cache for Redis and memcached clients."""


def parse_overrides(args):
    """['--port', '7000', '--maxmemory=1gb'] -> [('port', '7000'), ('maxmemory', '1gb')]"""
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith('--'):
            raise click.UsageError(f"unexpected argument {a!r}; options look like --port 7000")
        name = a[2:]
        if '=' in name:
            name, value = name.split('=', 1)
        else:
            if i + 1 >= len(args):
                raise click.UsageError(f"option --{name} needs a value")
            i += 1
            value = args[i]
        out.append((name, value))
        i += 1
    return out


def build_config(config_file, extra):
    cfg = cfgmod.Config()
    try:
        if config_file:
            cfg.load_yaml(config_file)
        for name, value in parse_overrides(extra):
            cfg.set(name, value)
        cfgmod.validate_shape(cfg)
    except cfgmod.ConfigError as e:
        raise click.UsageError(str(e))
    return cfg


@main.command(context_settings={'ignore_unknown_options': True, 'allow_extra_args': True})
@click.option('--config', 'config_file', type=click.Path(exists=True, dir_okay=False),
              help='YAML configuration file (default: built-in defaults, as conf/cachecyt.yaml)')
@click.pass_context
def server(ctx, config_file):
    """Start a node in the foreground; stop it with SIGINT or SIGTERM."""
    cfg = build_config(config_file, ctx.args)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(process)d:S %(asctime)s %(levelname)s %(message)s")
    from cachecyt.cluster.supervisor import Supervisor
    sys.exit(Supervisor(cfg).run())


@main.command()
@click.option('--host', default='127.0.0.1', show_default=True, help='node address')
@click.option('--port', default=6379, show_default=True, type=click.IntRange(1, 65535),
              help="the node's RESP port (its metrics port is this + 3000 by default)")
@click.option('--metrics-port', default=None, type=click.IntRange(1, 65535),
              help="the node's metrics-port, when it is not port + 3000")
@click.option('--url', default=None, help='metrics URL (instead of --host/--metrics-port)')
@click.option('--interval', default=1.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help='seconds between refreshes')
@click.option('--iterations', default=0, type=click.IntRange(0), help='stop after N refreshes (0: never)')
@click.option('--once', is_flag=True, help='print one refresh and exit (same as --iterations 1)')
def top(host, port, metrics_port, url, interval, iterations, once):
    """Live view of a node: ops/s, hit ratio, latency, memory, commands, workers."""
    from urllib.error import URLError
    from cachecyt.metrics import top as topmod
    from cachecyt.metrics.http import METRICS_PORT_OFFSET
    url = url or f"http://{host}:{metrics_port or port + METRICS_PORT_OFFSET}/metrics"
    try:
        topmod.run(url, interval, 1 if once else iterations)
    except (URLError, OSError) as e:
        raise click.ClickException(f"cannot read {url}: {getattr(e, 'reason', e)}")


@main.group()
def backup():
    """Backups of a node's snapshots and WAL, and point-in-time restore."""


def _bar(label):
    state = {}

    def step(done, total, what):
        if 'bar' not in state:
            state['bar'] = click.progressbar(length=total, label=label)
            state['bar'].__enter__()
        state['bar'].update(1)
        if done == total:
            state['bar'].__exit__(None, None, None)
    return step


_TO_HELP = "backups directory (default: backup-dir of --config)"
_CONFIG = click.option('--config', 'config_file', type=click.Path(exists=True, dir_okay=False),
                       help="the node's YAML configuration (backup-dir, retention, file names)")


def _backup_config(config_file, to=None):
    """The configuration of --config (defaults without it), with backup-dir
    replaced by --to when given; a usage error when neither names one."""
    cfg = build_config(config_file, [])
    if to:
        cfg['backup-dir'] = to
    if not cfg['backup-dir']:
        raise click.UsageError("name the backups directory (--to / --from DIR), or give "
                               "--config FILE with a backup-dir")
    return cfg


@backup.command('create')
@click.option('--host', default='127.0.0.1')
@click.option('--port', default=None, type=int, help='default: port of --config, else 6379')
@click.option('--user', default=None, help='ACL user (default: the default user)')
@click.option('--password', default=None, help='default: requirepass of --config')
@click.option('--to', 'to', type=click.Path(file_okay=False), help=_TO_HELP)
@_CONFIG
def backup_create(host, port, user, password, to, config_file):
    """Snapshot the node now and copy its snapshots and WAL into TO."""
    import redis
    from cachecyt.cluster import backup as bk
    cfg = _backup_config(config_file, to)
    os.makedirs(cfg['backup-dir'], exist_ok=True)
    node = redis.Redis(host=host, port=port or cfg['port'], username=user,
                       password=password or cfg['requirepass'] or None)
    try:
        path = bk.create(node, cfg['backup-dir'], progress=_bar('copying'))
    except (bk.BackupError, OSError, redis.RedisError) as e:
        raise click.ClickException(f"backup failed: {e}")
    click.echo(path)


@backup.command('list')
@click.option('--to', 'to', type=click.Path(file_okay=False), help=_TO_HELP)
@_CONFIG
def backup_list(to, config_file):
    """The backups in a directory, oldest first, with what each can restore
    to; then the restorable ranges of all of them together."""
    from cachecyt.cluster import backup as bk
    to = _backup_config(config_file, to)['backup-dir']
    found = bk.list_backups(to)
    for path, m in found:
        size = sum(f['size'] for f in m['files'].values())
        spans = '; '.join(bk.fmt_range(r) for r in bk.ranges_of(path, m)) or 'nothing'
        click.echo(f"{path}  created {bk.fmt_ms(int(m['created'] * 1000))}  {size} bytes  "
                   f"restores to: {spans}")
    if found:
        click.echo("restorable: " + '; '.join(bk.fmt_range(r) for r in bk.merged_ranges(found)))
    else:
        click.echo(f"no backup in {to}")


@backup.command('verify')
@click.argument('path', type=click.Path(exists=True, file_okay=False))
def backup_verify(path):
    """Check every file of a backup (or of every backup of a directory)
    against its manifest and formats."""
    from cachecyt.cluster import backup as bk
    if os.path.exists(os.path.join(path, bk.MANIFEST)):
        paths = [path]
    else:
        paths = [p for p, _ in bk.list_backups(path)]
        if not paths:
            raise click.ClickException(f"no backup in {path}")
    bad = 0
    for one in paths:
        problems = bk.verify(one, progress=_bar('verifying'))
        for p in problems:
            click.echo(f"{one}: {p}" if len(paths) > 1 else p, err=True)
        bad += bool(problems)
    if bad:
        sys.exit(1)
    click.echo("ok")


@backup.command('restore')
@click.option('--from', 'src', type=click.Path(exists=True, file_okay=False),
              help='a backup, or a directory of backups (default: backup-dir of --config): '
                   'the newest backup holding the target is used')
@click.option('--into', required=True, type=click.Path(file_okay=False), help='data directory to write')
@click.option('--until', default=None, help='unix time (s) or ISO 8601: state as of that instant')
@click.option('--lsn', default=None, type=int, help='state after the record with this LSN')
@click.option('--force', is_flag=True,
              help='replace the data of a non-empty directory; stop the node running on it first')
@_CONFIG
def backup_restore(src, into, until, lsn, force, config_file):
    """Write a data directory with the backup's state (a node started on it
    serves that state)."""
    from cachecyt.cluster import backup as bk
    cfg = _backup_config(config_file, src)
    os.makedirs(into, exist_ok=True)
    try:
        until_ms = bk.parse_until(until) if until else None
        done = bk.restore(cfg['backup-dir'], into, until_ms=until_ms, lsn=lsn, force=force,
                          dbfilename=cfg['dbfilename'], walname=cfg['appenddirname'],
                          progress=_bar('restoring'))
    except (bk.BackupError, ValueError, OSError) as e:
        raise click.ClickException(str(e))
    if done['stopped_pid']:
        click.echo(f"stopped the node (pid {done['stopped_pid']}) that used {into}; "
                   f"start it again to serve the restored state")
    click.echo(f"restored from {done['backup']}: snapshot LSN {done['base_lsn']}, "
               f"{done['records']} WAL records, state as of LSN {done['last_lsn']}")


@backup.command('prune')
@click.option('--to', 'to', type=click.Path(exists=True, file_okay=False), help=_TO_HELP)
@_CONFIG
@click.option('--keep-last', type=click.IntRange(0), help='default: backup-keep-last')
@click.option('--keep-daily', type=click.IntRange(0), help='default: backup-keep-daily')
@click.option('--keep-wal', help='a duration such as 24h (default: backup-keep-wal)')
@click.option('--dry-run', is_flag=True, help='say what would go, delete nothing')
def backup_prune(to, config_file, keep_last, keep_daily, keep_wal, dry_run):
    """Apply the retention rules (conf/cachecyt.yaml, backup section) to the
    backups of a directory, as the node does after each scheduled backup."""
    from cachecyt.cluster import retention
    cfg = _backup_config(config_file, to)
    try:
        for name, value in (('backup-keep-last', keep_last), ('backup-keep-daily', keep_daily),
                            ('backup-keep-wal', keep_wal)):
            if value is not None:
                cfg.set(name, value)
    except cfgmod.ConfigError as e:
        raise click.UsageError(str(e))
    whole, trimmed, deleted = retention.prune(cfg['backup-dir'], retention.policy_of(cfg),
                                              dry_run=dry_run)
    verb = 'would ' if dry_run else ''
    for path in whole:
        click.echo(f"keep   {path}")
    for path in trimmed:
        click.echo(f"{verb}trim   {path} (to its newest snapshot)")
    for path in deleted:
        click.echo(f"{verb}delete {path}")


# ---- tenants (security/tenants.py): the TENANT command of a running node --------------

@main.group()
@click.option('--host', default='127.0.0.1', show_default=True, help='node address')
@click.option('--port', default=6379, show_default=True, type=click.IntRange(1, 65535))
@click.option('--user', default=None, help='ACL user allowed TENANT')
@click.option('--password', default=None)
@click.pass_context
def tenant(ctx, host, port, user, password):
    """Define, change, delete and inspect tenants."""
    ctx.obj = {'host': host, 'port': port, 'user': user, 'password': password}


def _tenant_call(ctx, *args):
    import redis
    o = ctx.obj
    r = redis.Redis(host=o['host'], port=o['port'], username=o['user'], password=o['password'])
    try:
        return r.execute_command('TENANT', *args)
    except redis.RedisError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


def _tenant_options(f):
    for name, kind in (('policy', str), ('maxconns', int), ('maxops', int), ('maxkeys', int),
                       ('maxmemory', str), ('users', str)):
        f = click.option(f'--{name}', default=None, type=kind,
                         help={'users': 'member users, comma-separated',
                               'maxmemory': 'bytes (10mb ...), 0 = none',
                               'policy': 'maxmemory-policy, or node'}.get(name, '0 = none'))(f)
    return f


def _option_words(kw):
    words = []
    for k, v in kw.items():
        if v is not None:
            words += [k, str(v)]
    return words


def _tenant_define(verb, doc):
    """The `create` and `set` subcommands: TENANT <verb> NAME with options."""
    @click.argument('name')
    @_tenant_options
    @click.pass_context
    def run(ctx, name, **kw):
        _tenant_call(ctx, verb.upper(), name, *_option_words(kw))
        click.echo('OK')
    run.__doc__ = doc
    return tenant.command(verb)(run)


tenant_create = _tenant_define('create', "Define tenant NAME.")
tenant_set = _tenant_define('set', "Change the members or quotas of tenant NAME.")


@tenant.command('delete')
@click.argument('name')
@click.pass_context
def tenant_delete(ctx, name):
    """Delete tenant NAME and all of its keys."""
    _tenant_call(ctx, 'DELETE', name)
    click.echo('OK')


@tenant.command('list')
@click.pass_context
def tenant_list(ctx):
    """Names of the tenants."""
    for name in _tenant_call(ctx, 'LIST'):
        click.echo(name.decode())


@tenant.command('info')
@click.argument('name', required=False)
@click.pass_context
def tenant_info(ctx, name):
    """Quotas and figures of tenant NAME (or of every tenant)."""
    rows = [[name.encode(), _tenant_call(ctx, 'INFO', name)]] if name else _tenant_call(ctx, 'INFO')
    for tname, flat in rows:
        click.echo(f"{tname.decode()}:")
        for k, v in zip(flat[::2], flat[1::2]):
            click.echo(f"  {k.decode()}: {v.decode() if isinstance(v, bytes) else v}")


if __name__ == '__main__':
    main()
