"""Alert rules over the exported metrics.

A rule (config `alerts:`, a YAML list) is

    - name: MemoryHigh
      expr: cachecyt_memory_used_bytes / cachecyt_memory_max_bytes
      op: ">"              # >, >=, <, <= (default >)
      threshold: 0.9
      for: 30s             # how long the condition must hold before firing (default 0)
      severity: warning    # free text; 'warning' by default
      summary: used memory above 90% of maxmemory

How it works. The supervisor's observer thread takes one sample of every
series each second (collect.py) and keeps the last few minutes. Each rule's
expression is evaluated on that history to one number, or to None ("no data":
a division by zero, a rate with one sample, no matching series), which never
fires. Expressions are arithmetic (+ - * / and parentheses) over:

    name{label="v",...}        the sum of the matching series now
    rate(name{...}[1m])        per-second increase over the window (counter resets handled)
    increase(name{...}[1m])    increase over the window
    max(name{...}) min(...) avg(...) count(...)   over the matching series now
    quantile(0.99, name{...}[1m])   from the histogram `name` (its _bucket series,
                               all matching series summed; over the window when one
                               is given, else since start), interpolated as Prometheus does

A rule goes inactive -> pending when its condition holds, pending -> firing
once it held for `for`, and firing -> inactive (an event "resolved") when it
stops holding. Firing and resolved are events: logged, queued for the
webhook, and the active set (pending and firing) is what the metrics endpoint
(`cachecyt_alert_active`) and the ALERTS command (through the file written by
`write_active`) report."""
import array
import collections
import json
import logging
import math
import os
import queue
import re
import threading
import time

from cachecyt.metrics import promtext

log = logging.getLogger("cachecyt.alerts")

OPS = {'>': lambda a, b: a > b, '>=': lambda a, b: a >= b,
       '<': lambda a, b: a < b, '<=': lambda a, b: a <= b}
_DURATION = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h)?\Z')
_UNIT_S = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, None: 1}


class RuleError(ValueError):
    pass


def parse_duration(v) -> float:
    """Seconds from 30, '30s', '500ms', '5m', '1h'."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return float(v)
    m = _DURATION.match(str(v).strip())
    if not m:
        raise RuleError(f"bad duration {v!r} (use e.g. 30s, 500ms, 5m)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


# ---- expressions --------------------------------------------------------------------

_TOKEN = re.compile(r'''\s*(?:
    (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?) |
    (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*) |
    (?P<labels>\{[^}]*\}) |
    (?P<window>\[[^\]]*\]) |
    (?P<op>[-+*/(),]))''', re.X)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
FUNCS = {'rate', 'increase', 'max', 'min', 'avg', 'count', 'sum', 'quantile'}


def _tokens(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"cannot read expression at {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Selector:
    """name{matchers}[window]: picks series from a sample."""

    def __init__(self, name, labels_text, window_text):
        self.name = name
        self.matchers = []
        body = (labels_text or '{}')[1:-1].strip()
        pos = 0
        while pos < len(body):
            m = _MATCHER.match(body, pos)
            if not m:
                raise RuleError(f"bad label matcher in {labels_text!r}")
            op, v = m.group(2), m.group(3)
            self.matchers.append((m.group(1), op, re.compile(rf'(?:{v})\Z') if op == '=~' else v))
            pos = m.end()
        self.window = parse_duration(window_text[1:-1]) if window_text else None

    def match(self, labels: dict) -> bool:
        for k, op, v in self.matchers:
            have = labels.get(k, '')
            if op == '=' and have != v or op == '!=' and have == v:
                return False
            if op == '=~' and not v.match(have):
                return False
        return True

    def series(self, sample, suffix=''):
        """{labels tuple: value} of the matching series in one sample."""
        if not self.matchers:
            return dict(named(sample, self.name + suffix))
        return {lk: v for lk, v in named(sample, self.name + suffix) if self.match(dict(lk))}


def parse_expr(text: str):
    """The expression as a tree of tuples; raises RuleError."""
    toks = _tokens(text)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take(kind=None, value=None):
        nonlocal pos
        t = peek()
        if (kind and t[0] != kind) or (value and t[1] != value):
            raise RuleError(f"expected {value or kind} in expression {text!r}")
        pos += 1
        return t

    def selector():
        name = take('name')[1]
        labels = take()[1] if peek()[0] == 'labels' else None
        window = take()[1] if peek()[0] == 'window' else None
        return ('sel', Selector(name, labels, window))

    def factor():
        kind, v = peek()
        if kind == 'num':
            take()
            return ('num', float(v))
        if v == '(':
            take()
            e = expr()
            take('op', ')')
            return e
        if v == '-':
            take()
            return ('neg', factor())
        if kind == 'name' and v in FUNCS and pos + 1 < len(toks) and toks[pos + 1][1] == '(':
            take()
            take('op', '(')
            q = None
            if v == 'quantile':
                q = float(take('num')[1])
                take('op', ',')
            arg = selector()
            take('op', ')')
            if v in ('rate', 'increase') and arg[1].window is None:
                raise RuleError(f"{v}() needs a window, e.g. {v}({arg[1].name}[1m])")
            return ('fn', v, arg[1], q)
        if kind == 'name':
            return selector()
        raise RuleError(f"unexpected {v!r} in expression {text!r}")

    def term():
        e = factor()
        while peek()[1] in ('*', '/'):
            e = ('bin', take()[1], e, factor())
        return e

    def expr():
        e = term()
        while peek()[1] in ('+', '-'):
            e = ('bin', take()[1], e, term())
        return e

    tree = expr()
    if pos != len(toks):
        raise RuleError(f"unexpected {toks[pos][1]!r} in expression {text!r}")
    return tree


class History:
    """The last samples: deque of (monotonic t, {(name, labels tuple): value})."""

    def __init__(self, keep=600.0):
        self.keep = keep
        self.samples = collections.deque()

    def add(self, t, sample):
        self.samples.append((t, sample))
        while self.samples and self.samples[0][0] < t - self.keep:
            self.samples.popleft()

    def now(self):
        return self.samples[-1] if self.samples else (None, {})

    def since(self, window):
        """The oldest sample no older than `window` seconds before the newest."""
        t_now = self.samples[-1][0]
        for t, s in self.samples:
            if t >= t_now - window - 0.5:     # half a tick of slack for scheduling jitter
                return t, s
        return self.samples[-1]


class SeriesIndex:
    """Series key (name, labels tuple) -> position, shared by every sample of a
    history, so a sample is one array of floats rather than a dict of its own."""

    def __init__(self):
        self.keys = []
        self.pos = {}
        self.by_name = {}             # series name -> [(labels tuple, position)]

    def position(self, key):
        i = self.pos.get(key)
        if i is None:
            i = self.pos[key] = len(self.keys)
            self.keys.append(key)
            self.by_name.setdefault(key[0], []).append((key[1], i))
        return i


class Sample:
    """The values of one sample, by position in a SeriesIndex (NaN: the series
    did not exist then). Reads as a mapping of series key -> value."""
    __slots__ = ('index', 'values')

    def __init__(self, index, values):
        self.index = index
        self.values = values

    def items(self):
        keys = self.index.keys
        for i, v in enumerate(self.values):
            if v == v:
                yield keys[i], v

    def get(self, key, default=None):
        i = self.index.pos.get(key)
        if i is None or i >= len(self.values) or self.values[i] != self.values[i]:
            return default
        return self.values[i]

    def named(self, name):
        """[(labels tuple, value)] of the series called `name`."""
        vals, n = self.values, len(self.values)
        return [(lk, vals[i]) for lk, i in self.index.by_name.get(name, ())
                if i < n and vals[i] == vals[i]]

    def __len__(self):
        return sum(1 for v in self.values if v == v)


def named(sample, name):
    """[(labels tuple, value)] of the series called `name` in a Sample or a
    plain {(name, labels tuple): value} mapping."""
    if isinstance(sample, Sample):
        return sample.named(name)
    return [(lk, v) for (n, lk), v in sample.items() if n == name]


def sample_of(families, index=None):
    """A Sample of every series of the families (a fresh index unless given)."""
    index = index or SeriesIndex()
    pairs = []
    for f in families:
        for suffix, labels, value in f.samples:
            pairs.append((index.position((f.name + suffix, tuple(sorted(labels.items())))), float(value)))
    values = array.array('d', [math.nan]) * len(index.keys)
    for i, v in pairs:
        values[i] = v
    return Sample(index, values)


def _increase(new, old):
    return new - old if new >= old else new       # a reset: the counter restarted from 0


def evaluate(tree, hist: History):
    """A number, or None when there is no data."""
    op = tree[0]
    if op == 'num':
        return tree[1]
    if op == 'neg':
        v = evaluate(tree[1], hist)
        return None if v is None else -v
    if op == 'bin':
        a, b = evaluate(tree[2], hist), evaluate(tree[3], hist)
        if a is None or b is None:
            return None
        if tree[1] == '/':
            return a / b if b else None
        return a + b if tree[1] == '+' else a - b if tree[1] == '-' else a * b
    if op == 'sel':
        vals = tree[1].series(hist.now()[1])
        return sum(vals.values()) if vals else None
    return _function(tree[1], tree[2], tree[3], hist)


def _function(fn, sel, q, hist):
    t_now, now = hist.now()
    if fn in ('rate', 'increase'):
        t_old, old = hist.since(sel.window)
        if t_now is None or t_now - t_old <= 0:
            return None
        new_s, old_s = sel.series(now), sel.series(old)
        if not new_s:
            return None
        inc = sum(_increase(v, old_s.get(k, 0.0)) for k, v in new_s.items())
        return inc / (t_now - t_old) if fn == 'rate' else inc
    if fn == 'quantile':
        return _quantile(q, sel, hist)
    vals = list(sel.series(now).values())
    if fn == 'count':
        return float(len(vals))
    if not vals:
        return None
    return {'max': max, 'min': min, 'sum': sum, 'avg': lambda x: sum(x) / len(x)}[fn](vals)


def _quantile(q, sel, hist):
    """Prometheus's histogram_quantile over the _bucket series summed by `le`."""
    def by_le(sample):
        out = collections.defaultdict(float)
        for lk, v in sel.series(sample, '_bucket').items():
            le = dict(lk).get('le')
            if le is not None:
                out[math.inf if le == '+Inf' else float(le)] += v
        return out
    t_now, now = hist.now()
    if t_now is None:
        return None
    cur = by_le(now)
    if sel.window is not None:
        _, old = hist.since(sel.window)
        prev = by_le(old)
        cur = {le: _increase(v, prev.get(le, 0.0)) for le, v in cur.items()}
    return promtext.bucket_quantile(q, cur)


# ---- rules --------------------------------------------------------------------------

class Rule:
    def __init__(self, d: dict):
        if not isinstance(d, dict):
            raise RuleError("each alert rule is a mapping with name, expr, threshold")
        unknown = set(d) - {'name', 'expr', 'op', 'threshold', 'for', 'severity', 'summary'}
        if unknown:
            raise RuleError(f"alert rule: unknown field(s) {', '.join(sorted(unknown))}")
        for k in ('name', 'expr', 'threshold'):
            if k not in d:
                raise RuleError(f"alert rule {d.get('name', '?')!r}: '{k}' is missing")
        self.name = str(d['name'])
        self.expr = str(d['expr'])
        self.tree = parse_expr(self.expr)
        self.op = str(d.get('op', '>'))
        if self.op not in OPS:
            raise RuleError(f"alert rule {self.name!r}: op must be one of {', '.join(OPS)}")
        try:
            self.threshold = float(d['threshold'])
        except (TypeError, ValueError):
            raise RuleError(f"alert rule {self.name!r}: threshold must be a number") from None
        self.for_s = parse_duration(d.get('for', 0))
        self.severity = str(d.get('severity', 'warning'))
        self.summary = str(d.get('summary', ''))

    def windows(self):
        def walk(t):
            if t[0] == 'sel':
                yield t[1].window or 0
            elif t[0] == 'fn':
                yield t[2].window or 0
            elif t[0] == 'bin':
                yield from walk(t[2])
                yield from walk(t[3])
            elif t[0] == 'neg':
                yield from walk(t[1])
        return list(walk(self.tree))


def parse_rules(value):
    """The `alerts` option: a list of rule mappings (validated; kept as given)."""
    if value in (None, '', []):
        return []
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        raise RuleError("'alerts' must be a list of rules")
    names = set()
    for d in value:
        r = Rule(d)
        if r.name in names:
            raise RuleError(f"two alert rules are named {r.name!r}")
        names.add(r.name)
    return value


class Alert:
    """The state of one rule: inactive (since None), pending or firing."""

    def __init__(self, rule):
        self.rule = rule
        self.state = 'inactive'
        self.since = None            # monotonic time the condition started holding
        self.since_unix = None
        self.fired_unix = None
        self.value = None

    def as_dict(self):
        r = self.rule
        return {'name': r.name, 'severity': r.severity, 'state': self.state,
                'value': self.value, 'op': r.op, 'threshold': r.threshold, 'expr': r.expr,
                'summary': r.summary, 'since': self.since_unix, 'fired_at': self.fired_unix}


class Evaluator:
    """Runs every rule against the history; returns the events of this tick."""

    def __init__(self, rules):
        self.alerts = [Alert(Rule(d)) for d in rules]

    def keep_seconds(self):
        ws = [w for a in self.alerts for w in a.rule.windows()]
        return max([300.0] + [w + 5 for w in ws])

    def tick(self, hist, t=None):
        t = time.monotonic() if t is None else t
        events = []
        for a in self.alerts:
            r = a.rule
            try:
                v = evaluate(r.tree, hist)
            except (ArithmeticError, ValueError):
                v = None
            a.value = v
            holds = v is not None and OPS[r.op](v, r.threshold)
            if holds and a.state == 'inactive':
                a.state, a.since, a.since_unix = 'pending', t, time.time()
            if holds and a.state == 'pending' and t - a.since >= r.for_s:
                a.state, a.fired_unix = 'firing', time.time()
                events.append(('firing', a.as_dict()))
            if not holds and a.state != 'inactive':
                if a.state == 'firing':
                    d = a.as_dict()
                    d['state'] = 'resolved'
                    d['resolved_at'] = time.time()
                    events.append(('resolved', d))
                a.state, a.since, a.since_unix, a.fired_unix = 'inactive', None, None, None
        return events

    def active(self):
        return [a.as_dict() for a in self.alerts if a.state != 'inactive']


def log_event(kind, d):
    v = 'no data' if d['value'] is None else f"{d['value']:.6g}"
    if kind == 'firing':
        log.warning("alert %s firing (%s): %s = %s %s %g%s", d['name'], d['severity'], d['expr'], v,
                    d['op'], d['threshold'], f" - {d['summary']}" if d['summary'] else '')
    else:
        log.info("alert %s resolved: %s = %s", d['name'], d['expr'], v)


# ---- the active set for workers (ALERTS) ---------------------------------------------

def active_path(port: int) -> str:
    """Where the supervisor publishes the active alerts: a small file on the
    shared-memory file system beside the segment, replaced atomically; it
    exists only while some alert is pending or firing."""
    return f"/dev/shm/cachecyt.{port}.alerts"


def write_active(path, active):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, 'w') as f:
        json.dump(active, f)
    os.replace(tmp, path)


def remove_active(path):
    """No alert is active: no file (ALERTS reads a missing file as none)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_active(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


# ---- webhook --------------------------------------------------------------------------

class Webhook:
    """POSTs each event as JSON to a URL from its own thread: a slow or dead
    receiver delays only other deliveries. Each event is tried `retries` + 1
    times with `timeout` seconds per try and a doubling pause between tries."""

    def __init__(self, url, timeout=2.0, retries=3, node=''):
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.node = node
        self.q = queue.Queue(maxsize=1000)
        self.thread = threading.Thread(target=self._run, name='alert-webhook', daemon=True)
        self.thread.start()

    def send(self, kind, d):
        try:
            self.q.put_nowait(dict(d, status=kind, node=self.node))
        except queue.Full:
            log.warning("alert webhook queue full; event of %s dropped", d['name'])

    def stop(self):
        self.q.put(None)
        self.thread.join(timeout=self.timeout + 1)

    def _run(self):
        while True:
            ev = self.q.get()
            if ev is None:
                return
            self._deliver(ev)

    def _deliver(self, ev):
        import urllib.error
        import urllib.request
        body = json.dumps(ev).encode()
        pause = 0.25
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=body, method='POST',
                                         headers={'Content-Type': 'application/json',
                                                  'User-Agent': 'cachecyt-alerts'})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    why = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:
                why = f"HTTP {e.code}"
            except (OSError, ValueError) as e:
                why = str(e)
            if attempt < self.retries:
                log.info("alert webhook %s: %s; retrying in %.2fs", self.url, why, pause)
                time.sleep(pause)
                pause *= 2
        log.warning("alert webhook %s: %s; event %s/%s given up after %d tries",
                    self.url, why, ev['name'], ev['status'], self.retries + 1)
        return False


def alerts_reply(port):
    """The ALERTS command (run by a worker): one map per active alert, firing
    first, from the file the supervisor publishes."""
    rows = sorted(read_active(active_path(port)), key=lambda a: (a['state'] != 'firing', a['name']))
    out = []
    for a in rows:
        v = a.get('value')
        out.append({'name': a['name'], 'severity': a['severity'], 'state': a['state'],
                    'value': '' if v is None else f"{v:.6g}", 'op': a['op'],
                    'threshold': f"{a['threshold']:g}", 'expr': a['expr'], 'summary': a['summary'],
                    'since': int(a['since'] or 0)})
    return out
