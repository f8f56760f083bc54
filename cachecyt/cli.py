"""The `cachecyt` command line.

  cachecyt server [--config FILE] [--<option> VALUE ...]

starts a node in the foreground (like `redis-server --port 7000 --maxmemory 1gb`);
every configuration option is accepted as a flag under its flat name.

  cachecyt top [--host H] [--port P | --metrics-port M] [--interval S] [--iterations N]

shows a live view of a node from its metrics endpoint.

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


@backup.command('create')
@click.option('--host', default='127.0.0.1')
@click.option('--port', default=6379, type=int)
@click.option('--to', 'to', required=True, type=click.Path(file_okay=False), help='backups directory')
def backup_create(host, port, to):
    """Snapshot the node now and copy its snapshots and WAL into TO."""
    import redis
    from cachecyt.cluster import backup as bk
    os.makedirs(to, exist_ok=True)
    path = bk.create(redis.Redis(host=host, port=port), to, progress=_bar('copying'))
    click.echo(path)


@backup.command('list')
@click.option('--to', 'to', required=True, type=click.Path(file_okay=False), help='backups directory')
def backup_list(to):
    """The backups in a directory, oldest first."""
    import datetime
    from cachecyt.cluster import backup as bk
    for path, m in bk.list_backups(to):
        size = sum(f['size'] for f in m['files'].values())
        snaps = ', '.join(f"LSN {s['lsn']}" for s in m['snapshots']) or 'no snapshot'
        when = datetime.datetime.fromtimestamp(m['created'], datetime.timezone.utc).isoformat()
        click.echo(f"{path}  {when}  {size} bytes  snapshots: {snaps}")


@backup.command('verify')
@click.argument('path', type=click.Path(exists=True, file_okay=False))
def backup_verify(path):
    """Check every file of a backup against its manifest and formats."""
    from cachecyt.cluster import backup as bk
    problems = bk.verify(path, progress=_bar('verifying'))
    for p in problems:
        click.echo(p, err=True)
    if problems:
        sys.exit(1)
    click.echo("ok")


@backup.command('restore')
@click.option('--from', 'src', required=True, type=click.Path(exists=True, file_okay=False))
@click.option('--into', required=True, type=click.Path(file_okay=False), help='data directory to write')
@click.option('--until', default=None, help='unix time (s) or ISO 8601: state as of that instant')
@click.option('--lsn', default=None, type=int, help='state after the record with this LSN')
@click.option('--force', is_flag=True, help='replace the data of a non-empty directory')
def backup_restore(src, into, until, lsn, force):
    """Write a data directory with the backup's state (a node started on it
    serves that state)."""
    from cachecyt.cluster import backup as bk
    os.makedirs(into, exist_ok=True)
    try:
        until_ms = bk.parse_until(until) if until else None
        base, last, n = bk.restore(src, into, until_ms=until_ms, lsn=lsn, force=force,
                                   progress=_bar('restoring'))
    except (bk.BackupError, ValueError) as e:
        raise click.ClickException(str(e))
    click.echo(f"restored: snapshot LSN {base}, {n} WAL records, state as of LSN {last}")


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


@tenant.command('create')
@click.argument('name')
@_tenant_options
@click.pass_context
def tenant_create(ctx, name, **kw):
    """Define tenant NAME."""
    _tenant_call(ctx, 'CREATE', name, *_option_words(kw))
    click.echo('OK')


@tenant.command('set')
@click.argument('name')
@_tenant_options
@click.pass_context
def tenant_set(ctx, name, **kw):
    """Change the members or quotas of tenant NAME."""
    _tenant_call(ctx, 'SET', name, *_option_words(kw))
    click.echo('OK')


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
