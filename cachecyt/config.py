"""Configuration: the option table, loading conf/*.yaml, and value parsing.

Every option has one flat name (Redis's name where Redis has the setting). The
YAML file may group options in sections; sections are only for reading, and
names stay flat for CONFIG GET/SET and for command-line flags. The defaults
here are the embedded default configuration; conf/cachecyt.yaml documents the
same values (a test keeps them equal).
"""
import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import yaml

# Header values are indexes into these lists: append only.
POLICIES = ['noeviction', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random',
            'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl',
            'allkeys-adaptive', 'volatile-adaptive']
LOGLEVELS = ['debug', 'verbose', 'notice', 'warning']
FSYNC_POLICIES = ['no', 'everysec', 'always']
# The order Redis lists the choices in its error message.
_POLICY_CHOICES = ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl',
                   'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'noeviction']
_INTEGER = re.compile(r'-?[1-9][0-9]*|0\Z')

_UNITS = {'': 1, 'b': 1, 'k': 1000, 'kb': 1024, 'm': 1000 ** 2, 'mb': 1024 ** 2,
          'g': 1000 ** 3, 'gb': 1024 ** 3}


class ConfigError(ValueError):
    pass


def parse_memory(value) -> int:
    """A memory size in Redis's units: 100, 100b, 10k, 10kb, 1m, 1mb, 1g, 1gb."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError("argument must be a memory value")
        return value
    s = str(value).lower()
    digits = s.rstrip('bkmg')
    unit = s[len(digits):]
    if not digits.isascii() or not digits.isdigit() or unit not in _UNITS:
        raise ConfigError("argument must be a memory value")
    return int(digits) * _UNITS[unit]


def parse_int(lo, hi):
    """An integer written as Redis reads one (no spaces, no sign '+', no leading 0)."""
    def parse(value) -> int:
        s = str(value)
        if isinstance(value, bool) or not _INTEGER.fullmatch(s):
            raise ConfigError("argument couldn't be parsed into an integer")
        v = int(s)
        if not lo <= v <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return v
    return parse


def parse_memory_in(lo, hi):
    def parse(value) -> int:
        v = parse_memory(value)
        if not lo <= v <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return v
    return parse


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ('yes', 'true', '1'):
        return True
    if s in ('no', 'false', '0'):
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def parse_enum(choices, extra=()):
    """One of `choices` (listed in the error, as Redis lists them) or of `extra`
    (our own values, accepted but left out of Redis's message)."""
    def parse(value) -> str:
        s = str(value).lower()
        if s not in choices and s not in extra:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(choices))
        return s
    return parse


def parse_hz(value) -> int:
    """Redis accepts any non-negative hz and keeps it within 1..500."""
    return min(max(parse_int(0, INT_MAX)(value), 1), 500)


def parse_str(value) -> str:
    return '' if value is None else str(value)


def parse_save(value) -> str:
    """Snapshot rules as Redis writes them: "<seconds> <changes>" pairs, or ""."""
    s = ' '.join(str(value if value is not None else '').split())
    parts = s.split()
    if len(parts) % 2 or not all(p.isdigit() for p in parts):
        raise ConfigError("Invalid save parameters")
    return ' '.join(str(int(p)) for p in parts)


_DURATION_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}


def parse_duration(value) -> int:
    """Seconds of a duration: 900, 30s, 15m, 24h, 7d, 2w (0 = off)."""
    s = str(value).strip().lower()
    digits = s.rstrip('smhdw')
    unit = s[len(digits):]
    if isinstance(value, bool) or not digits.isascii() or not digits.isdigit() \
            or unit not in _DURATION_UNITS:
        raise ConfigError("argument must be a duration such as 30s, 15m, 24h or 7d")
    return int(digits) * _DURATION_UNITS[unit]


def save_rules(value: str):
    """[(seconds, changes)] of a parsed save option."""
    parts = [int(p) for p in value.split()]
    return list(zip(parts[0::2], parts[1::2]))


# notify-keyspace-events: class characters and their bits (NK_* in
# commands/notify.pxi). 'A' is every class from g to d; n (new keys) and m (key
# misses) are only ever named on their own, as Redis does.
NOTIFY_BITS = {'K': 1, 'E': 2, 'g': 4, '$': 8, 'l': 16, 's': 32, 'h': 64, 'z': 128,
               'x': 256, 'e': 512, 't': 1024, 'm': 2048, 'd': 4096, 'n': 8192}
NOTIFY_ALL = sum(NOTIFY_BITS[ch] for ch in 'g$lshzxetd')
_NOTIFY_CLASSES = 'g$lshzxetdn'


def notify_flags(text: str) -> int:
    """Bits of a notify-keyspace-events string (as Redis parses it)."""
    flags = 0
    for ch in text:
        if ch == 'A':
            flags |= NOTIFY_ALL
        elif ch in NOTIFY_BITS:
            flags |= NOTIFY_BITS[ch]
        else:
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return flags


def notify_text(flags: int) -> str:
    """The canonical spelling CONFIG GET prints."""
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        out = 'A'
    else:
        out = ''.join(ch for ch in _NOTIFY_CLASSES if flags & NOTIFY_BITS[ch])
    return out + ''.join(ch for ch in 'KEm' if flags & NOTIFY_BITS[ch])


def parse_notify(value) -> str:
    """A spelling that keeps every bit (Redis's canonical one drops n next to A)."""
    flags = notify_flags(parse_str(value))
    text = notify_text(flags)
    if text.startswith('A') and flags & NOTIFY_BITS['n']:
        text = 'An' + text[1:]
    return text


# client-output-buffer-limit: three classes of (hard bytes, soft bytes, soft seconds).
OBL_CLASSES = {'normal': 0, 'slave': 1, 'replica': 1, 'pubsub': 2}
OBL_NAMES = ['normal', 'slave', 'pubsub']


def obl_parse(value) -> dict:
    """{class index: (hard, soft, seconds)} of the classes a value names."""
    words = parse_str(value).split()
    if len(words) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = {}
    for i in range(0, len(words), 4):
        k = OBL_CLASSES.get(words[i].lower())
        if k is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
            secs = parse_int(0, LL_MAX)(words[i + 3])
        except ConfigError:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.") from None
        out[k] = (hard, soft, secs)
    return out


def obl_text(limits: dict) -> str:
    return ' '.join(f"{OBL_NAMES[k]} {h} {s} {t}" for k, (h, s, t) in sorted(limits.items()))


def parse_obl(value) -> str:
    return obl_text(obl_parse(value))


def fmt_value(v) -> str:
    if isinstance(v, bool):
        return 'yes' if v else 'no'
    if isinstance(v, list):
        import json
        return json.dumps(v)
    return str(v)


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    parse: Callable
    settable: bool          # CONFIG SET may change it at run time
    shared: str = ''        # header field that carries it to every worker


INT_MAX = 2 ** 31 - 1
UINT_MAX = 2 ** 32 - 1
LL_MAX = 2 ** 63 - 1
MB = 1024 ** 2

OPTIONS = {o.name: o for o in [
    # network
    Option('port', 6379, parse_int(0, 65535), True, 'listen_port'),
    Option('bind', '127.0.0.1 -::1', parse_str, False),
    Option('tcp-backlog', 511, parse_int(0, INT_MAX), False),
    Option('timeout', 0, parse_int(0, INT_MAX), True, 'timeout'),
    Option('maxclients', 10000, parse_int(1, UINT_MAX), True, 'maxclients'),
    # processes and layout
    Option('workers', 0, parse_int(0, 64), False),
    Option('databases', 16, parse_int(1, 256), False),
    # tenants (security/tenants.py): each holds one hidden database past `databases`
    Option('max-tenants', 16, parse_int(0, 240), False),
    Option('tenants', [], lambda v: parse_tenants(v), False),
    Option('shards', 64, parse_int(1, 65536), False),
    Option('segment-size', 0, parse_memory, False),
    Option('hz', 10, parse_hz, True, 'hz'),
    Option('loglevel', 'notice', parse_enum(LOGLEVELS), True, 'loglevel'),
    # memory
    Option('maxmemory', 0, parse_memory, True, 'maxmemory'),
    Option('maxmemory-policy', 'noeviction', parse_enum(_POLICY_CHOICES, POLICIES[8:]), True, 'policy'),
    Option('maxmemory-samples', 5, parse_int(1, INT_MAX), True, 'maxmemory_samples'),
    Option('lfu-log-factor', 10, parse_int(0, INT_MAX), True, 'lfu_log_factor'),
    Option('lfu-decay-time', 1, parse_int(0, INT_MAX), True, 'lfu_decay_time'),
    # limits
    Option('proto-max-bulk-len', 512 * MB, parse_memory_in(MB, LL_MAX), True, 'proto_max_bulk_len'),
    Option('client-query-buffer-limit', 1024 * MB, parse_memory_in(MB, LL_MAX), True,
           'client_query_buffer_limit'),
    Option('client-output-buffer-limit',
           'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60', parse_obl, True,
           'obl'),
    # pub/sub (commands/pubsub.pxi, commands/notify.pxi)
    Option('notify-keyspace-events', '', parse_notify, True, 'notify_flags'),
    # compact encodings of collections (Redis's names and defaults)
    Option('list-max-listpack-size', -2, parse_int(-5, INT_MAX), True, 'list_max_listpack_size'),
    Option('list-compress-depth', 0, parse_int(0, INT_MAX), True, 'list_compress_depth'),
    Option('hash-max-listpack-entries', 512, parse_int(0, LL_MAX), True, 'hash_max_listpack_entries'),
    Option('hash-max-listpack-value', 64, parse_int(0, LL_MAX), True, 'hash_max_listpack_value'),
    Option('set-max-intset-entries', 512, parse_int(0, LL_MAX), True, 'set_max_intset_entries'),
    Option('set-max-listpack-entries', 128, parse_int(0, LL_MAX), True, 'set_max_listpack_entries'),
    Option('set-max-listpack-value', 64, parse_int(0, LL_MAX), True, 'set_max_listpack_value'),
    Option('zset-max-listpack-entries', 128, parse_int(0, LL_MAX), True, 'zset_max_listpack_entries'),
    Option('zset-max-listpack-value', 64, parse_int(0, LL_MAX), True, 'zset_max_listpack_value'),
    Option('hll-sparse-max-bytes', 3000, parse_memory, True, 'hll_sparse_max_bytes'),
    # observability (shm/stats.pxi, commands/observe.py)
    Option('slowlog-log-slower-than', 10000, parse_int(-1, LL_MAX), True, 'slowlog_log_slower_than'),
    Option('slowlog-max-len', 128, parse_int(0, LL_MAX), True, 'slowlog_max_len'),
    Option('latency-monitor-threshold', 0, parse_int(0, LL_MAX), True, 'latency_monitor_threshold'),
    Option('hotkeys-sample-rate', 8, parse_int(0, INT_MAX), True, 'hotkeys_sample_rate'),
    # memcached text protocol (commands/memcached.pxi)
    Option('memcached-port', 11211, parse_int(0, 65535), False),
    Option('memcached-db', 0, parse_int(0, 255), False),
    Option('item-size-max', MB, parse_memory_in(1024, 1024 * MB), False),
    # security (cachecyt/security/): settable ones without a header field travel
    # to every worker in the segment's security area
    Option('requirepass', '', parse_str, True),
    Option('aclfile', '', parse_str, False),
    Option('acllog-max-len', 128, parse_int(0, LL_MAX), True),
    # failed AUTH from one address, past the limit, answered slowly (security/throttle.py)
    Option('auth-fail-limit', 10, parse_int(0, INT_MAX), True),
    Option('auth-fail-window', 60, parse_int(1, INT_MAX), True),
    Option('auth-fail-delay', 100, parse_int(0, INT_MAX), True),
    Option('auth-fail-delay-max', 5000, parse_int(0, INT_MAX), True),
    Option('protected-mode', True, parse_bool, True, 'protected_mode'),
    Option('tls-port', 0, parse_int(0, 65535), False),
    Option('memcached-tls-port', 0, parse_int(0, 65535), False),
    Option('tls-cert-file', '', parse_str, True),
    Option('tls-key-file', '', parse_str, True),
    Option('tls-ca-cert-file', '', parse_str, True),
    Option('tls-auth-clients', 'yes', parse_enum(['no', 'yes', 'optional']), True),
    Option('audit-log-file', '', parse_str, True),
    Option('audit-log-max-size', 64 * MB, parse_memory, True),
    Option('audit-log-max-files', 5, parse_int(1, 1000), True),
    # observability (cachecyt/metrics/)
    Option('metrics-port', -1, parse_int(-1, 65535), False),
    Option('alerts', [], lambda v: parse_alerts(v), False),
    Option('alert-webhook', '', parse_str, False),
    Option('alert-webhook-timeout', 2, parse_int(1, 3600), False),
    Option('alert-webhook-retries', 3, parse_int(0, 100), False),
    # scripting (cachecyt/scripting): a script older than this gets other clients -BUSY
    Option('busy-reply-threshold', 5000, parse_int(0, LL_MAX), True, 'busy_reply_threshold'),
    # persistence (cluster/persist.py); "persist:" fields live in the persistence state
    Option('dir', './', parse_str, False),
    Option('dbfilename', 'dump.ccyt', parse_str, False),
    Option('appenddirname', 'appendonlydir', parse_str, False),
    Option('save', '3600 1 300 100 60 10000', parse_save, True, 'persist:save'),
    Option('appendonly', False, parse_bool, True, 'persist:appendonly'),
    Option('appendfsync', 'everysec', parse_enum(FSYNC_POLICIES), True, 'persist:appendfsync'),
    Option('auto-aof-rewrite-percentage', 100, parse_int(0, INT_MAX), True,
           'persist:rewrite_percentage'),
    Option('auto-aof-rewrite-min-size', 64 * MB, parse_memory, True, 'persist:rewrite_min_size'),
    Option('wal-segment-size', 64 * MB, parse_memory_in(MB, LL_MAX), False),
    Option('wal-ring-size', 16 * MB, parse_memory_in(MB, 1024 * MB), False),
    # scheduled backups and their retention (cluster/backup_schedule.py, cluster/retention.py)
    Option('backup-dir', '', parse_str, False),
    Option('backup-every', 15 * 60, parse_duration, False),
    Option('backup-keep-last', 1, parse_int(0, INT_MAX), False),
    Option('backup-keep-wal', 24 * 3600, parse_duration, False),
    Option('backup-keep-daily', 7, parse_int(0, INT_MAX), False),
]}

# Settable options that live in the segment's security area, not the header.
SECURITY_SETTINGS = ('requirepass', 'acllog-max-len', 'tls-cert-file', 'tls-key-file',
                     'tls-ca-cert-file', 'tls-auth-clients', 'audit-log-file',
                     'audit-log-max-size', 'audit-log-max-files', 'auth-fail-limit',
                     'auth-fail-window', 'auth-fail-delay', 'auth-fail-delay-max')


def parse_tenants(value) -> list:
    from cachecyt.security.tenants import parse_config
    return parse_config(value)


def parse_alerts(value) -> list:
    """The alert rules (cachecyt/metrics/alerts.py checks each one)."""
    from cachecyt.metrics.alerts import RuleError, parse_rules
    try:
        return parse_rules(value)
    except (RuleError, ValueError) as e:
        raise ConfigError(str(e)) from None


# Old names Redis still accepts for an option (CONFIG GET * lists both).
ALIASES = {'lua-time-limit': 'busy-reply-threshold',
           'list-max-ziplist-size': 'list-max-listpack-size',
           'hash-max-ziplist-entries': 'hash-max-listpack-entries',
           'hash-max-ziplist-value': 'hash-max-listpack-value',
           'zset-max-ziplist-entries': 'zset-max-listpack-entries',
           'zset-max-ziplist-value': 'zset-max-listpack-value'}


def option(name: str):
    """The Option of a name or alias (any case), or None."""
    name = name.lower()
    return OPTIONS.get(ALIASES.get(name, name))


def header_settings(cfg) -> dict:
    """Header field -> stored value for every option the segment header carries."""
    return {opt.shared: header_value(opt, cfg[name]) for name, opt in OPTIONS.items()
            if opt.shared and not opt.shared.startswith('persist:')}


def header_value(opt: Option, value):
    """The value as the segment header stores it."""
    if opt.name == 'maxmemory-policy':
        return POLICIES.index(value)
    if opt.name == 'loglevel':
        return LOGLEVELS.index(value)
    if opt.name == 'appendfsync':
        return FSYNC_POLICIES.index(value)
    if opt.name == 'save':
        return value
    if opt.name == 'notify-keyspace-events':
        return notify_flags(value)
    if opt.name == 'client-output-buffer-limit':
        return obl_parse(value)
    return int(value)


def from_header(opt: Option, raw: int):
    """The option's value from its header field (inverse of header_value)."""
    if opt.name == 'maxmemory-policy':
        return POLICIES[raw]
    if opt.name == 'loglevel':
        return LOGLEVELS[raw]
    if opt.name == 'notify-keyspace-events':
        return notify_text(raw)
    if opt.name == 'client-output-buffer-limit':
        if not isinstance(raw, dict):
            raw = dict(enumerate(zip(raw[0::3], raw[1::3], raw[2::3])))
        return obl_text(raw)
    if raw is None:                      # no persistence state (a private test segment)
        return opt.default
    if opt.name == 'appendfsync':
        return FSYNC_POLICIES[raw]
    if isinstance(opt.default, bool):
        return bool(raw)
    return raw


def validate_shape(cfg: dict):
    if cfg['shards'] & (cfg['shards'] - 1):
        raise ConfigError("'shards' must be a power of two")
    if cfg['memcached-db'] >= cfg['databases']:
        raise ConfigError("'memcached-db' must be below 'databases'")
    if cfg['databases'] + cfg['max-tenants'] > 256:
        raise ConfigError("'databases' plus 'max-tenants' must be at most 256")
    if len(cfg['tenants']) > cfg['max-tenants']:
        raise ConfigError("more 'tenants' than 'max-tenants'")
    if cfg['memcached-port'] and cfg['memcached-port'] == cfg['port']:
        raise ConfigError("'memcached-port' must differ from 'port'")
    ports = [cfg[n] for n in ('port', 'memcached-port', 'tls-port', 'memcached-tls-port') if cfg[n]]
    if len(ports) != len(set(ports)):
        raise ConfigError("'port', 'memcached-port', 'tls-port' and 'memcached-tls-port' must differ")
    if (cfg['tls-port'] or cfg['memcached-tls-port']) and not (cfg['tls-cert-file'] and cfg['tls-key-file']):
        raise ConfigError("a TLS port needs 'tls-cert-file' and 'tls-key-file'")
    if (cfg['tls-port'] or cfg['memcached-tls-port']) and cfg['tls-auth-clients'] != 'no' \
            and not cfg['tls-ca-cert-file']:
        raise ConfigError("'tls-auth-clients' needs 'tls-ca-cert-file' (or set it to 'no')")


class Config(dict):
    """Flat name -> parsed value, starting from the defaults."""

    def __init__(self):
        super().__init__({name: o.default for name, o in OPTIONS.items()})

    def set(self, name: str, value):
        name = name.lower().replace('_', '-')
        opt = option(name)
        if opt is None:
            raise ConfigError(f"unknown option '{name}'")
        self[opt.name] = opt.parse(value)

    def load_yaml(self, path):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        for name, value in flatten(data):
            self.set(name, value)

    def matching(self, pattern: str):
        """(name, formatted value) of every option whose name matches a glob."""
        pattern = pattern.lower()
        pairs = list(self.items()) + [(a, self[n]) for a, n in ALIASES.items()]
        return [(n, fmt_value(v)) for n, v in pairs if fnmatch.fnmatchcase(n, pattern)]

    def worker_count(self) -> int:
        return self['workers'] or os.cpu_count() or 1


def flatten(data: dict):
    """YAML sections are groupings only: yield (flat name, value)."""
    for key, value in data.items():
        if isinstance(value, dict):
            yield from flatten(value)
        else:
            yield key, value


def default_config_path():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), 'conf', 'cachecyt.yaml')
