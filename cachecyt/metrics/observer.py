"""The supervisor's observer: once a second it samples every metric into a
short history, evaluates the alert rules, logs and posts their events and
publishes the active set; the HTTP endpoint (http.py) answers scrapes from
fresh reads and the dashboard from the history.

Threads, not an event loop: the supervisor's main thread waits in
sigtimedwait and must stay free to restart workers within a second, so the
ticker, the HTTP server and the webhook each run in a daemon thread. They are
started after the supervisor blocked its signals, so they inherit the blocked
mask and every signal still goes to sigtimedwait. They only read the segment."""
import collections
import logging
import threading
import time

from cachecyt.metrics import alerts as alertmod, collect as collectmod

log = logging.getLogger("cachecyt.metrics")

TICK = 1.0                    # s between two samples
POINTS = 120                  # dashboard points kept: two minutes


class Observer:
    def __init__(self, cfg, workers):
        """`workers`: a callable returning [(slot, pid, restarts)]."""
        self.cfg = cfg
        self.workers = workers
        self.evaluator = alertmod.Evaluator(cfg['alerts'])
        self.history = alertmod.History(self.evaluator.keep_seconds())
        self.series_index = alertmod.SeriesIndex()
        self.points = collections.deque(maxlen=POINTS)   # the dashboard's, one per tick
        self.lock = threading.Lock()           # guards history and the evaluator's state
        self.active_path = alertmod.active_path(cfg['port'])
        self.webhook = None
        if cfg['alert-webhook']:
            self.webhook = alertmod.Webhook(cfg['alert-webhook'], cfg['alert-webhook-timeout'],
                                            cfg['alert-webhook-retries'], node=f"port {cfg['port']}")
        self.http = None
        self.stopping = threading.Event()
        self.thread = None
        self.published = None

    def start(self):
        from cachecyt.metrics import http
        port = http.metrics_port(self.cfg)
        if port:
            self.http = http.MetricsServer(self, http.listen_host(self.cfg['bind']), port)
            self.http.start()
            log.info("metrics and dashboard on http://%s:%d/", *self.http.address())
        alertmod.remove_active(self.active_path)      # one a crashed run left
        self.published = []
        if self.http is None and not self.evaluator.alerts:
            return                                # nothing reads the samples: take none
        self.thread = threading.Thread(target=self._run, name='observer', daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=5)
        if self.http:
            self.http.stop()
        if self.webhook:
            self.webhook.stop()
        alertmod.remove_active(self.active_path)

    def families(self):
        """A fresh read of every metric (a scrape)."""
        with self.lock:
            active = [(a['name'], a['severity'], a['state']) for a in self.evaluator.active()]
        return collectmod.collect(self.workers(), active)

    def _run(self):
        next_t = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("metrics sample failed")
            next_t += TICK
            delay = next_t - time.monotonic()
            if delay < 0:                         # fell behind (a stopped machine): do not catch up
                next_t, delay = time.monotonic(), 0
            self.stopping.wait(delay)

    def tick(self, t=None):
        t = time.monotonic() if t is None else t
        fams = self.families()
        sample = alertmod.sample_of(fams, self.series_index)
        with self.lock:
            prev = self.history.samples[-1] if self.history.samples else None
            self.history.add(t, (time.time(), sample))
            if self.http is not None and prev is not None and t > prev[0]:
                self.points.append(dashboard_point(prev[0], prev[1][1], t, time.time(), sample))
            events = self.evaluator.tick(_SampleView(self.history), t)
            active = self.evaluator.active()
        for kind, d in events:
            alertmod.log_event(kind, d)
            if self.webhook:
                self.webhook.send(kind, d)
        shown = [(a['name'], a['state']) for a in active]
        if shown != self.published:
            if active:
                alertmod.write_active(self.active_path, active)
            else:
                alertmod.remove_active(self.active_path)
            self.published = shown

    def alerts(self):
        with self.lock:
            return self.evaluator.active()

    def series(self):
        """The dashboard's data: a point per second over the last two minutes."""
        with self.lock:
            points = list(self.points)
            samples = list(self.history.samples)[-11:]
        return series_of(points, samples)


class _SampleView:
    """The history as alerts.evaluate wants it: (t, sample) pairs, without the
    wall-clock time the dashboard keeps beside each sample."""

    def __init__(self, hist):
        self.hist = hist

    @property
    def samples(self):
        return [(t, s) for t, (_, s) in self.hist.samples]

    def now(self):
        if not self.hist.samples:
            return (None, {})
        t, (_, s) = self.hist.samples[-1]
        return t, s

    def since(self, window):
        t_now = self.hist.samples[-1][0]
        for t, (_, s) in self.hist.samples:
            if t >= t_now - window - 0.5:
                return t, s
        return self.now()


def _sum(sample, name, **match):
    return sum(v for lk, v in alertmod.named(sample, name)
               if not match or all(dict(lk).get(k) == x for k, x in match.items()))


def _by(sample, name, label):
    return {dict(lk).get(label): v for lk, v in alertmod.named(sample, name)}


def dashboard_point(t0, a, t1, u1, b):
    """One point of the dashboard's charts: rates between samples a (at t0)
    and b (at t1, unix time u1)."""
    dt = t1 - t0
    ops = max(0.0, _sum(b, 'cachecyt_commands_total') - _sum(a, 'cachecyt_commands_total')) / dt
    hits = _sum(b, 'cachecyt_keyspace_hits_total') - _sum(a, 'cachecyt_keyspace_hits_total')
    miss = _sum(b, 'cachecyt_keyspace_misses_total') - _sum(a, 'cachecyt_keyspace_misses_total')
    hist = alertmod.History()
    hist.add(t0, a)
    hist.add(t1, b)
    sel = alertmod.Selector('cachecyt_command_duration_seconds', None, f'[{dt + 1:.3f}s]')
    p99 = alertmod._quantile(0.99, sel, hist)
    wa, wb = _by(a, 'cachecyt_worker_commands_total', 'worker'), _by(b, 'cachecyt_worker_commands_total', 'worker')
    return {'t': round(u1, 3), 'ops': round(ops, 1),
            'hit_ratio': round(hits / (hits + miss), 4) if hits + miss > 0 else None,
            'used_memory': _sum(b, 'cachecyt_memory_used_bytes'),
            'clients': _sum(b, 'cachecyt_connected_clients'),
            'p99_ms': None if p99 is None else round(p99 * 1000, 4),
            'workers': {w: round(max(0.0, v - wa.get(w, 0.0)) / dt, 1) for w, v in wb.items()}}


def series_of(points, samples):
    """The dashboard's JSON: the points as parallel lists, plus the top commands
    over the last ten samples and the hot keys of the newest."""
    out = {k: [p[k] for p in points] for k in ('t', 'ops', 'hit_ratio', 'used_memory', 'clients', 'p99_ms')}
    workers = sorted({w for p in points for w in p['workers']})
    out['workers'] = {w: [p['workers'].get(w) for p in points] for w in workers}
    out['top_commands'], out['hot_keys'] = {}, []
    if len(samples) >= 2:
        (t0, (_, a)), (t1, (_, b)) = samples[max(0, len(samples) - 11)], samples[-1]
        ca, cb = _by(a, 'cachecyt_commands_total', 'cmd'), _by(b, 'cachecyt_commands_total', 'cmd')
        rates = {c: (v - ca.get(c, 0.0)) / (t1 - t0) for c, v in cb.items() if t1 > t0}
        out['top_commands'] = dict(sorted(((c, round(r, 1)) for c, r in rates.items() if r > 0),
                                          key=lambda x: -x[1])[:10])
        hot = [(dict(lk).get('key'), v) for lk, v in alertmod.named(b, 'cachecyt_hot_key_accesses')]
        out['hot_keys'] = sorted(hot, key=lambda kv: -kv[1])[:10]
    return out


def supervisor_workers(sup):
    """The callable Observer wants, over a Supervisor's process table."""
    def workers():
        rows = []
        for slot in range(sup.nworkers):
            p = sup.procs.get(slot)
            rows.append((slot, p.pid if p is not None else 0, sup.restarts.get(slot, 0)))
        return rows
    return workers

