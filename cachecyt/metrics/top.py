"""`cachecyt top`: a live terminal view of one node, refreshed every second
from its metrics endpoint: ops/s, hit ratio, latency percentiles, memory, top
commands, hot keys, per-worker load and the active alerts.

Figures between two scrapes are rates over the interval (figures(), a pure
function of two parsed scrapes); render() lays them out with rich, which draws
the tables and redraws in place in a terminal, and prints plain frames one
after the other when the output is not one (or with --iterations)."""
import math
import time
import urllib.request

from cachecyt.metrics import promtext


class Scrape:
    """One parsed /metrics answer, with the monotonic time it was taken."""

    def __init__(self, text, t):
        self.t = t
        self.series = {}
        for name, labels, v in promtext.parse(text):
            self.series.setdefault(name, []).append((labels, v))

    def sum(self, name, **match):
        return sum(v for lb, v in self.series.get(name, ())
                   if all(lb.get(k) == x for k, x in match.items()))

    def by(self, name, label, **match):
        out = {}
        for lb, v in self.series.get(name, ()):
            if all(lb.get(k) == x for k, x in match.items()):
                out[lb.get(label)] = out.get(lb.get(label), 0.0) + v
        return out


def fetch(url, timeout=5.0) -> Scrape:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        text = resp.read().decode()
    return Scrape(text, time.monotonic())


def quantile(q, buckets):
    """buckets: {le float: cumulative count} -> seconds, or None."""
    return promtext.bucket_quantile(q, buckets)


def _latency(a, b, **match):
    """(p50, p99, p999, mean) seconds of the calls between two scrapes."""
    name = 'cachecyt_command_duration_seconds'
    ba, bb = a.by(name + '_bucket', 'le', **match), b.by(name + '_bucket', 'le', **match)
    inc = {(math.inf if le == '+Inf' else float(le)): max(0.0, v - ba.get(le, 0.0)) for le, v in bb.items()}
    n = b.sum(name + '_count', **match) - a.sum(name + '_count', **match)
    s = b.sum(name + '_sum', **match) - a.sum(name + '_sum', **match)
    mean = s / n if n > 0 else None
    return quantile(0.5, inc), quantile(0.99, inc), quantile(0.999, inc), mean


def figures(a: Scrape, b: Scrape) -> dict:
    """What the view shows, from two scrapes (a before b)."""
    dt = max(b.t - a.t, 1e-9)

    def rate(name, **m):
        return max(0.0, b.sum(name, **m) - a.sum(name, **m)) / dt
    hits = rate('cachecyt_keyspace_hits_total')
    misses = rate('cachecyt_keyspace_misses_total')
    p50, p99, p999, mean = _latency(a, b)
    f = {
        'uptime': b.sum('cachecyt_uptime_seconds'),
        'version': next((lb.get('version') for lb, _ in b.series.get('cachecyt_info', ())), '?'),
        'ops': rate('cachecyt_commands_total'),
        'hit_ratio': hits / (hits + misses) if hits + misses else None,
        'hits': hits, 'misses': misses,
        'p50': p50, 'p99': p99, 'p999': p999, 'mean': mean,
        'used': b.sum('cachecyt_memory_used_bytes'), 'peak': b.sum('cachecyt_memory_peak_bytes'),
        'max': b.sum('cachecyt_memory_max_bytes'), 'rss': b.sum('cachecyt_memory_rss_bytes'),
        'frag': b.sum('cachecyt_memory_fragmentation_ratio'),
        'keys': b.sum('cachecyt_keys'), 'expiring': b.sum('cachecyt_db_keys_expiring'),
        'clients': b.sum('cachecyt_connected_clients'),
        'evicted': rate('cachecyt_evicted_keys_total'), 'expired': rate('cachecyt_expired_keys_total'),
        'net_in': rate('cachecyt_net_input_bytes_total'), 'net_out': rate('cachecyt_net_output_bytes_total'),
    }
    ca, cb = a.by('cachecyt_commands_total', 'cmd'), b.by('cachecyt_commands_total', 'cmd')
    cmds = []
    for cmd, v in cb.items():
        r = max(0.0, v - ca.get(cmd, 0.0)) / dt
        if r > 0:
            lat = _latency(a, b, cmd=cmd)
            cmds.append({'cmd': cmd, 'ops': r, 'calls': v, 'mean': lat[3], 'p99': lat[1]})
    f['commands'] = sorted(cmds, key=lambda c: -c['ops'])[:10]
    workers = []
    up = b.by('cachecyt_worker_up', 'worker')
    for w in sorted(up, key=lambda x: int(x)):
        cpu = (b.sum('cachecyt_worker_cpu_seconds_total', worker=w)
               - a.sum('cachecyt_worker_cpu_seconds_total', worker=w)) / dt
        workers.append({'worker': w, 'up': bool(up[w]), 'cpu': max(0.0, cpu),
                        'ops': rate('cachecyt_worker_commands_total', worker=w),
                        'clients': b.sum('cachecyt_worker_connected_clients', worker=w),
                        'restarts': b.sum('cachecyt_worker_restarts_total', worker=w)})
    f['workers'] = workers
    hot = b.by('cachecyt_hot_key_accesses', 'key')
    f['hot_keys'] = sorted(hot.items(), key=lambda kv: -kv[1])[:10]
    f['alerts'] = [(lb.get('alert'), lb.get('severity'), 'firing' if v else 'pending')
                   for lb, v in b.series.get('cachecyt_alert_active', ())]
    return f


def _bytes(n):
    for unit, size in (('GiB', 1024 ** 3), ('MiB', 1024 ** 2), ('KiB', 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _dur(s):
    if s is None:
        return '-'
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.2f} ms"


def _pct(x):
    return '-' if x is None else f"{x * 100:.1f}%"


def render(f, source=''):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    head = Text(f"cachecyt {f['version']}  {source}  up {int(f['uptime'])}s", style='bold')
    summary = Table(show_header=False, box=None, padding=(0, 2))
    for _ in range(3):
        summary.add_column(style='cyan')
        summary.add_column(justify='right')
    mem = _bytes(f['used']) + (f" / {_bytes(f['max'])}" if f['max'] else '')
    summary.add_row('ops/s', f"{f['ops']:.0f}", 'hit ratio', _pct(f['hit_ratio']), 'clients', f"{f['clients']:.0f}")
    summary.add_row('p50', _dur(f['p50']), 'p99', _dur(f['p99']), 'p99.9', _dur(f['p999']))
    summary.add_row('mean', _dur(f['mean']), 'memory', mem, 'peak', _bytes(f['peak']))
    summary.add_row('rss', _bytes(f['rss']), 'frag', f"{f['frag']:.2f}", 'keys', f"{f['keys']:.0f}")
    summary.add_row('expiring', f"{f['expiring']:.0f}", 'evicted/s', f"{f['evicted']:.0f}",
                    'expired/s', f"{f['expired']:.0f}")
    summary.add_row('net in', _bytes(f['net_in']) + '/s', 'net out', _bytes(f['net_out']) + '/s', '', '')
    cmds = Table(title='top commands', title_justify='left')
    for col in ('command', 'ops/s', 'calls', 'mean', 'p99'):
        cmds.add_column(col, justify='left' if col == 'command' else 'right')
    for c in f['commands']:
        cmds.add_row(c['cmd'], f"{c['ops']:.0f}", f"{c['calls']:.0f}", _dur(c['mean']), _dur(c['p99']))
    workers = Table(title='workers', title_justify='left')
    for col in ('worker', 'up', 'ops/s', 'cpu', 'clients', 'restarts'):
        workers.add_column(col, justify='right')
    for w in f['workers']:
        workers.add_row(w['worker'], 'yes' if w['up'] else 'NO', f"{w['ops']:.0f}", _pct(w['cpu']),
                        f"{w['clients']:.0f}", f"{w['restarts']:.0f}")
    parts = [head, summary, cmds, workers]
    if f['hot_keys']:
        hot = Table(title='hot keys', title_justify='left')
        hot.add_column('key')
        hot.add_column('accesses', justify='right')
        for k, n in f['hot_keys']:
            hot.add_row(k, f"{n:.0f}")
        parts.append(hot)
    alerts = Table(title='alerts', title_justify='left')
    for col in ('alert', 'severity', 'state'):
        alerts.add_column(col)
    for name, sev, state in f['alerts']:
        alerts.add_row(name, sev, state, style='red' if state == 'firing' else 'yellow')
    if not f['alerts']:
        alerts.add_row('none', '', '')
    parts.append(alerts)
    return Group(*parts)


def run(url, interval=1.0, iterations=0, console=None):
    """Refresh every `interval` s; `iterations` frames then stop (0: until ^C).
    Redraws in place on a terminal, else prints each frame."""
    from rich.console import Console
    from rich.live import Live
    console = console or Console()
    prev = fetch(url)
    n = 0
    live = None
    if console.is_terminal and not iterations:
        live = Live(console=console, screen=False, auto_refresh=False)
        live.start()
    try:
        while not iterations or n < iterations:
            time.sleep(max(0.0, interval - (time.monotonic() - prev.t)))
            cur = fetch(url)
            view = render(figures(prev, cur), url)
            if live:
                live.update(view, refresh=True)
            else:
                console.print(view)
            prev = cur
            n += 1
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            live.stop()
