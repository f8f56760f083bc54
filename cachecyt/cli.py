"""The `cachecyt` command line.

  cachecyt server [--config FILE] [--<option> VALUE ...]

starts a node in the foreground (like `redis-server --port 7000 --maxmemory 1gb`);
every configuration option is accepted as a flag under its flat name.

  cachecyt top [--host H] [--port P | --metrics-port M] [--interval S] [--iterations N]

shows a live view of a node from its metrics endpoint."""
import logging
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


if __name__ == '__main__':
    main()
