"""The Prometheus text exposition format (version 0.0.4): a writer for the
families collect.py builds, and a parser for what `cachecyt top`, the alert
tests and the dashboard read back.

Our own small writer rather than prometheus_client: the supervisor rebuilds
every family from shared memory on each scrape, so a registry of long-lived
metric objects would only be filled and emptied again; the format itself is a
few lines of text."""
import math
import re

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


class Family:
    """One metric family: name, type (counter, gauge, histogram), help text and
    samples [(suffix, labels dict, value)]; suffix is '' or e.g. '_bucket'."""
    __slots__ = ('name', 'type', 'help', 'samples')

    def __init__(self, name, type_, help_):
        self.name = name
        self.type = type_
        self.help = help_
        self.samples = []

    def add(self, value, suffix='', **labels):
        self.samples.append((suffix, labels, value))
        return self


def _escape_label(v) -> str:
    return str(v).replace('\\', r'\\').replace('\n', r'\n').replace('"', r'\"')


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return '1' if v else '0'
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return '+Inf' if v > 0 else '-Inf'
    if math.isnan(v):
        return 'NaN'
    return repr(float(v))


def fmt_le(bound) -> str:
    return '+Inf' if math.isinf(bound) else repr(float(bound))


def write(families) -> str:
    out = []
    for f in families:
        out.append(f"# HELP {f.name} {f.help}")
        out.append(f"# TYPE {f.name} {f.type}")
        for suffix, labels, value in f.samples:
            if labels:
                ls = ','.join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
                out.append(f"{f.name}{suffix}{{{ls}}} {_fmt_value(value)}")
            else:
                out.append(f"{f.name}{suffix} {_fmt_value(value)}")
    return '\n'.join(out) + '\n'


_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def _unescape(v: str) -> str:
    return re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), v)


def parse(text: str):
    """[(name, labels dict, float value)] of every sample; comments skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(2) or '')}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def type_names(text: str):
    """{family name: type} from the # TYPE lines."""
    out = {}
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            _, _, name, kind = line.split(None, 3)
            out[name] = kind.strip()
    return out


def bucket_quantile(q, buckets):
    """The q-quantile of a histogram, {upper bound: cumulative count} (+Inf as
    math.inf), interpolated inside its bucket; None when it holds nothing."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lo_b = lo_n = 0.0
    for b in bounds:
        n = buckets[b]
        if n >= rank:
            if math.isinf(b):
                return bounds[-2]
            return lo_b + (b - lo_b) * ((rank - lo_n) / (n - lo_n) if n > lo_n else 1.0)
        lo_b, lo_n = b, n
    return bounds[-2]
