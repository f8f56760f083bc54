"""The `cachecyt` command line.

  cachecyt server [--config FILE] [--<option> VALUE ...]

starts a node in the foreground (like `redis-server --port 7000 --maxmemory 1gb`);
every configuration option is accepted as a flag under its flat name."""
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


if __name__ == '__main__':
    main()
