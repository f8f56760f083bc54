"""The option table: parsing in Redis's words, the YAML file, and the command
line's --<option> flags. No server process."""
import os

import click
import pytest
import yaml
from click.testing import CliRunner

from cachecyt import cli, config as cfgmod

MB = 1024 ** 2


@pytest.mark.parametrize('text,value', [
    ('0', 0), ('100', 100), ('100b', 100), ('1k', 1000), ('1kb', 1024), ('1K', 1000),
    ('2mb', 2 * MB), ('2MB', 2 * MB), ('1m', 10 ** 6), ('1g', 10 ** 9), ('1gb', 1024 ** 3),
    (5, 5)])
def test_memory_units(text, value):
    assert cfgmod.parse_memory(text) == value


@pytest.mark.parametrize('text', ['abc', '1.5mb', '-1', '10tb', '', ' 10', 'mb', '١٢'])
def test_bad_memory_values(text):
    with pytest.raises(cfgmod.ConfigError, match='^argument must be a memory value$'):
        cfgmod.parse_memory(text)


@pytest.mark.parametrize('text', ['abc', ' 5', '+5', '05', '1.5', '0x10', '', '1_000'])
def test_integers_are_read_strictly(text):
    with pytest.raises(cfgmod.ConfigError, match="^argument couldn't be parsed into an integer$"):
        cfgmod.OPTIONS['timeout'].parse(text)


def test_integer_bounds_message():
    with pytest.raises(cfgmod.ConfigError,
                       match='^argument must be between 0 and 2147483647 inclusive$'):
        cfgmod.OPTIONS['timeout'].parse('-1')
    with pytest.raises(cfgmod.ConfigError,
                       match='^argument must be between 1048576 and 9223372036854775807 inclusive$'):
        cfgmod.OPTIONS['proto-max-bulk-len'].parse('100')
    assert cfgmod.OPTIONS['maxclients'].parse('4294967295') == 2 ** 32 - 1


def test_hz_is_kept_within_1_and_500():
    hz = cfgmod.OPTIONS['hz'].parse
    assert (hz('0'), hz('10'), hz('1000')) == (1, 10, 500)


def test_enum_message_lists_choices_in_redis_order():
    with pytest.raises(cfgmod.ConfigError) as e:
        cfgmod.OPTIONS['maxmemory-policy'].parse('foo')
    assert str(e.value) == ("argument(s) must be one of the following: volatile-lru, volatile-lfu, "
                            "volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, "
                            "allkeys-random, noeviction")
    assert cfgmod.OPTIONS['maxmemory-policy'].parse('ALLKEYS-LRU') == 'allkeys-lru'


def test_header_values_round_trip():
    for opt in cfgmod.OPTIONS.values():
        if opt.shared:
            value = opt.default
            assert cfgmod.from_header(opt, cfgmod.header_value(opt, value)) == value


def test_every_run_time_option_lives_in_the_header():
    # a worker started after a CONFIG SET must see it: only the header survives
    # (or in the segment's security area, for the security options)
    assert all(o.shared or o.name in cfgmod.SECURITY_SETTINGS
               for o in cfgmod.OPTIONS.values() if o.settable)


def test_yaml_file_equals_builtin_defaults():
    path = cfgmod.default_config_path()
    with open(path) as f:
        names = [n for n, _ in cfgmod.flatten(yaml.safe_load(f))]
    assert sorted(names) == sorted(cfgmod.OPTIONS)
    cfg = cfgmod.Config()
    cfg.load_yaml(path)
    assert cfg == cfgmod.Config()


def test_yaml_sections_and_unknown_option(tmp_path):
    good = tmp_path / 'good.yaml'
    good.write_text("memory:\n  maxmemory: 10mb\n  maxmemory-policy: allkeys-lru\n"
                    "network:\n  timeout: 5\nhz: 20\n")
    cfg = cfgmod.Config()
    cfg.load_yaml(str(good))
    assert (cfg['maxmemory'], cfg['maxmemory-policy'], cfg['timeout'], cfg['hz']) == (
        10 * MB, 'allkeys-lru', 5, 20)
    bad = tmp_path / 'bad.yaml'
    bad.write_text("memory:\n  maxmemorry: 10mb\n")
    with pytest.raises(cfgmod.ConfigError, match="unknown option 'maxmemorry'"):
        cfgmod.Config().load_yaml(str(bad))


def test_flags_override_the_file(tmp_path):
    f = tmp_path / 'c.yaml'
    f.write_text("memory:\n  maxmemory: 10mb\nnetwork:\n  timeout: 5\n")
    cfg = cli.build_config(str(f), ['--maxmemory', '100mb', '--hz=50', '--maxmemory_policy', 'allkeys-lfu'])
    assert (cfg['maxmemory'], cfg['timeout'], cfg['hz'], cfg['maxmemory-policy']) == (
        100 * MB, 5, 50, 'allkeys-lfu')


@pytest.mark.parametrize('args,message', [
    (['--bogus', '1'], "unknown option 'bogus'"),
    (['--maxmemory', 'lots'], 'argument must be a memory value'),
    (['--shards', '3'], "'shards' must be a power of two"),
    (['--port'], 'option --port needs a value'),
    (['port', '1'], 'unexpected argument'),
])
def test_bad_flags_are_usage_errors(args, message):
    with pytest.raises(click.UsageError, match=message):
        cli.build_config(None, args)


def test_cli_reports_unknown_option_in_config_file(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text("limits:\n  nosuch: 1\n")
    result = CliRunner().invoke(cli.main, ['server', '--config', str(bad)])
    assert result.exit_code == 2
    assert "unknown option 'nosuch'" in result.output


def test_cli_rejects_missing_config_file():
    result = CliRunner().invoke(cli.main, ['server', '--config', '/nonexistent.yaml'])
    assert result.exit_code == 2 and 'does not exist' in result.output
    assert os.path.exists(cfgmod.default_config_path())
