"""The metrics endpoint, alert rules and the ALERTS command against a real
node: figures checked against a scripted load, alerts fired and resolved by a
real load and delivered to a real HTTP receiver, and the shipped Prometheus
rules and Grafana dashboard checked to use only exported names."""
import json
import os
import re
import signal
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import redis
import yaml
from servers import ROOT, CachecytServer, free_port

from cachecyt.metrics import promtext

MAXMEMORY = 16 * 1024 * 1024

RULES = [
    {'name': 'ManyMisses', 'expr': 'rate(cachecyt_keyspace_misses_total[3s])', 'threshold': 300,
     'for': '1s', 'severity': 'critical', 'summary': 'lookups keep missing'},
    {'name': 'HitRatioLow', 'op': '<', 'threshold': 0.5, 'for': '1s',
     'expr': 'rate(cachecyt_keyspace_hits_total[3s]) / (rate(cachecyt_keyspace_hits_total[3s])'
             ' + rate(cachecyt_keyspace_misses_total[3s]))'},
    {'name': 'MemoryHigh', 'expr': 'cachecyt_memory_used_bytes / cachecyt_memory_max_bytes',
     'threshold': 0.5, 'severity': 'warning'},
    {'name': 'SlowKeys', 'expr': 'quantile(0.99, cachecyt_command_duration_seconds{cmd="keys"}[30s])',
     'threshold': 0.002, 'severity': 'warning'},
    {'name': 'HotKey', 'expr': 'max(cachecyt_hot_key_accesses)', 'threshold': 5000, 'severity': 'info'},
    {'name': 'ManyClients', 'expr': 'cachecyt_connected_clients', 'threshold': 20},
    {'name': 'Evicting', 'expr': 'rate(cachecyt_evicted_keys_total[5s])', 'threshold': 10},
    {'name': 'WorkerRestarted', 'expr': 'increase(cachecyt_worker_restarts_total[1m])',
     'threshold': 0, 'severity': 'critical'},
]


class Receiver:
    """A webhook receiver: answers 503 to the very first POST (the sender must
    retry), then 200; keeps every event it accepted."""

    def __init__(self):
        self.events = []
        self.attempts = 0
        owner = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                owner.attempts += 1
                if owner.attempts == 1:
                    self.send_response(503)
                else:
                    owner.events.append(json.loads(body))
                    self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *a):
                pass
        self.httpd = HTTPServer(('127.0.0.1', 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, name, status, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e['name'] == name and e['status'] == status:
                    return e
            time.sleep(0.1)
        raise AssertionError(f"no {status} event for {name}: {self.events}")


@pytest.fixture(scope='module')
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


@pytest.fixture(scope='module')
def node(receiver, tmp_path_factory):
    conf = tmp_path_factory.mktemp('conf') / 'alerts.yaml'
    conf.write_text(yaml.safe_dump({'alerts': RULES, 'alert-webhook': receiver.url,
                                    'alert-webhook-timeout': 2, 'alert-webhook-retries': 3}))
    srv = CachecytServer('--config', conf, '--maxmemory', MAXMEMORY, workers=2, metrics_port=True)
    srv.start()
    srv.receiver = receiver
    yield srv
    srv.stop()


@pytest.fixture
def rc(node):
    c = redis.Redis(port=node.port, protocol=2)
    c.flushall()
    yield c
    c.close()


def scrape(node, path='/metrics'):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}{path}", timeout=5) as resp:
        return resp.headers.get('Content-Type'), resp.read().decode()


def samples(node):
    """{(name, frozenset(labels)): value} of one scrape."""
    return {(n, frozenset(lb.items())): v for n, lb, v in promtext.parse(scrape(node)[1])}


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())), 0.0)


def test_scrape_is_prometheus_text(node):
    ctype, text = scrape(node)
    assert ctype.startswith('text/plain; version=0.0.4')
    types = promtext.type_names(text)
    for name, kind in types.items():
        assert re.fullmatch(r'cachecyt_[a-z0-9_]+', name)
        assert not (kind == 'counter') ^ name.endswith('_total'), name
    assert types['cachecyt_command_duration_seconds'] == 'histogram'
    promtext.parse(text)                       # every sample line parses


def test_commands_hits_misses_exact(node, rc):
    before = samples(node)
    for i in range(10):
        rc.set(f"k{i}", 'v' * 10)
    for i in range(7):
        assert rc.get(f"k{i}") is not None
    for i in range(3):
        assert rc.get(f"absent{i}") is None
    after = samples(node)

    def delta(name, **lb):
        return value(after, name, **lb) - value(before, name, **lb)
    assert delta('cachecyt_commands_total', cmd='set') == 10
    assert delta('cachecyt_commands_total', cmd='get') == 10
    assert delta('cachecyt_keyspace_hits_total') == 7
    assert delta('cachecyt_keyspace_misses_total') == 3
    # a histogram's count is the calls, its +Inf bucket too; its sum is plausible
    assert value(after, 'cachecyt_command_duration_seconds_count', cmd='get') == \
        value(after, 'cachecyt_commands_total', cmd='get')
    assert value(after, 'cachecyt_command_duration_seconds_bucket', cmd='get', le='+Inf') == \
        value(after, 'cachecyt_commands_total', cmd='get')
    assert 0 < value(after, 'cachecyt_command_duration_seconds_sum', cmd='get') < 1
    hits = value(after, 'cachecyt_keyspace_hits_total')
    misses = value(after, 'cachecyt_keyspace_misses_total')
    assert value(after, 'cachecyt_keyspace_hit_ratio') == pytest.approx(hits / (hits + misses))


def test_network_bytes_counted(node, rc):
    before = samples(node)
    rc.set('n', 'x' * 1000)
    rc.get('n')
    after = samples(node)
    for name in ('cachecyt_net_input_bytes_total', 'cachecyt_net_output_bytes_total'):
        assert value(after, name) - value(before, name) >= 1000


def test_keys_memory_and_clients_agree_with_info(node, rc):
    for i in range(50):
        rc.set(f"p{i}", 'x')
    for i in range(20):
        rc.set(f"t{i}", 'x', ex=100)
    info = rc.info()
    s = samples(node)
    assert value(s, 'cachecyt_keys') == 70
    assert value(s, 'cachecyt_db_keys', db='0') == 70
    assert value(s, 'cachecyt_db_keys_expiring', db='0') == 20
    assert value(s, 'cachecyt_memory_used_bytes') == info['used_memory']
    assert value(s, 'cachecyt_memory_peak_bytes') >= info['used_memory']
    assert value(s, 'cachecyt_memory_max_bytes') == MAXMEMORY
    assert value(s, 'cachecyt_memory_fragmentation_ratio') >= 1
    assert value(s, 'cachecyt_memory_rss_bytes') > value(s, 'cachecyt_memory_used_bytes')
    assert value(s, 'cachecyt_connected_clients') == info['connected_clients']
    assert value(s, 'cachecyt_connections_received_total') >= 1
    extra = [redis.Redis(port=node.port) for _ in range(3)]
    for c in extra:
        c.ping()
    assert value(samples(node), 'cachecyt_connected_clients') == info['connected_clients'] + 3
    for c in extra:
        c.close()


def test_per_worker_cpu_and_commands(node, rc):
    before = samples(node)
    for _ in range(30):                         # new connections land on both workers
        c = redis.Redis(port=node.port)
        c.ping()
        c.close()
    s = samples(node)
    for w in ('0', '1'):
        assert value(s, 'cachecyt_worker_up', worker=w) == 1
        assert value(s, 'cachecyt_worker_cpu_seconds_total', worker=w, mode='user') > 0
        assert value(s, 'cachecyt_worker_commands_total', worker=w) > \
            value(before, 'cachecyt_worker_commands_total', worker=w)
    # per worker counts every request, including those refused before a command ran
    total = sum(v for (n, _), v in s.items() if n == 'cachecyt_worker_commands_total')
    assert total >= sum(v for (n, _), v in s.items() if n == 'cachecyt_commands_total') > 0


def active_alerts(rc):
    """ALERTS over RESP2: one flat field/value array per active alert."""
    rows = rc.execute_command('ALERTS')
    return {a[b'name'].decode(): a for a in (dict(zip(row[::2], row[1::2])) for row in rows)}


def wait_until(cond, timeout=15, what=''):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_miss_rate_alert_fires_and_resolves(node, rc, receiver):
    assert 'ManyMisses' not in active_alerts(rc)
    stop = time.monotonic() + 15
    pipe = rc.pipeline(transaction=False)
    while time.monotonic() < stop:              # a real load of misses: thousands a second
        for i in range(200):
            pipe.get(f"missing:{i}")
        pipe.execute()
        if {'ManyMisses', 'HitRatioLow'} <= {e['name'] for e in receiver.events}:
            break
    fired = receiver.wait_for('ManyMisses', 'firing')
    assert fired['severity'] == 'critical' and fired['value'] > 300
    low = receiver.wait_for('HitRatioLow', 'firing')
    assert low['value'] < 0.01 and low['op'] == '<' and low['severity'] == 'warning'
    assert fired['summary'] == 'lookups keep missing'
    a = active_alerts(rc)['ManyMisses']
    assert a[b'state'] == b'firing' and a[b'severity'] == b'critical'
    assert float(a[b'value']) > 300 and a[b'threshold'] == b'300'
    s = samples(node)
    assert value(s, 'cachecyt_alert_active', alert='ManyMisses', severity='critical') == 1
    # the load stops: within the 3s window the rate falls, the alert resolves
    resolved = receiver.wait_for('ManyMisses', 'resolved')
    assert resolved['value'] < 300
    receiver.wait_for('HitRatioLow', 'resolved')         # no lookups: no ratio, no alert
    assert 'ManyMisses' not in active_alerts(rc)
    assert ('cachecyt_alert_active', frozenset({('alert', 'ManyMisses'), ('severity', 'critical')})) \
        not in samples(node)
    assert receiver.attempts > len(receiver.events)     # the 503 was retried
    log = node.log_text()
    assert 'alert ManyMisses firing (critical)' in log and 'alert ManyMisses resolved' in log


def test_memory_alert_crossed_by_writes(node, rc, receiver):
    value_ = b'v' * 4000
    pipe = rc.pipeline(transaction=False)
    for i in range(2500):                       # ~10 MB of 16: above half of maxmemory
        pipe.set(f"big:{i}", value_)
    pipe.execute()
    assert rc.info()['used_memory'] > MAXMEMORY // 2
    wait_until(lambda: 'MemoryHigh' in active_alerts(rc), what='MemoryHigh in ALERTS')
    fired = receiver.wait_for('MemoryHigh', 'firing')
    assert fired['value'] > 0.5
    rc.flushall()
    receiver.wait_for('MemoryHigh', 'resolved')
    wait_until(lambda: 'MemoryHigh' not in active_alerts(rc), what='MemoryHigh gone from ALERTS')


def test_connection_count_alert(node, rc, receiver):
    extra = [redis.Redis(port=node.port) for _ in range(25)]
    for c in extra:
        c.ping()
    fired = receiver.wait_for('ManyClients', 'firing')
    assert fired['value'] > 20
    for c in extra:
        c.close()
    assert receiver.wait_for('ManyClients', 'resolved')['value'] <= 20


def test_eviction_rate_alert(node, rc, receiver):
    rc.config_set('maxmemory-policy', 'allkeys-lru')
    try:
        pipe = rc.pipeline(transaction=False)
        for i in range(6000):                   # 24 MB into 16: thousands of evictions
            pipe.set(f"ev:{i}", b'e' * 4000)
        pipe.execute()
        s = samples(node)
        assert value(s, 'cachecyt_evicted_keys_total') > 1000
        assert value(s, 'cachecyt_memory_used_bytes') <= MAXMEMORY * 1.01   # one write may overshoot
        assert receiver.wait_for('Evicting', 'firing')['value'] > 10
    finally:
        rc.config_set('maxmemory-policy', 'noeviction')
        rc.flushall()
    receiver.wait_for('Evicting', 'resolved')


def test_latency_histogram_against_client_timing(node, rc):
    pipe = rc.pipeline(transaction=False)
    for i in range(60000):
        pipe.set(f"many:{i}", 'x')
    pipe.execute()
    took = []
    for _ in range(20):                         # KEYS over 60k keys: milliseconds each
        t0 = time.perf_counter()
        assert len(rc.keys('many:*')) == 60000
        took.append(time.perf_counter() - t0)
    s = samples(node)
    buckets = {lb_value(k, 'le'): v for k, v in s.items()
               if k[0] == 'cachecyt_command_duration_seconds_bucket' and ('cmd', 'keys') in k[1]}
    assert buckets['+Inf'] == 20
    les = sorted((float(le), n) for le, n in buckets.items() if le != '+Inf')
    assert len(les) >= 40 and all(a[1] <= b[1] for a, b in zip(les, les[1:]))   # cumulative
    # the server's p50 lies below the client's (which adds the network and
    # the parsing of 60k keys) and within the same order of magnitude
    p50 = next(le for le, n in les if n >= 10)
    took.sort()
    assert took[10] * 0.05 < p50 <= took[10] * 1.5
    fired = receiver_event(node, 'SlowKeys')
    assert fired['value'] > 0.002
    assert 'SlowKeys' in active_alerts(rc)
    rc.flushall()


def test_hot_key_exported_and_alerted(node, rc):
    rc.set('hot', 'v')
    for i in range(100):
        rc.set(f"cold{i}", 'v')
    pipe = rc.pipeline(transaction=False)
    for _ in range(10):
        for _ in range(2000):
            pipe.get('hot')
        for i in range(100):
            pipe.get(f"cold{i}")
        pipe.execute()
    s = samples(node)
    hot = {dict(k[1])['key']: v for k, v in s.items() if k[0] == 'cachecyt_hot_key_accesses'}
    assert max(hot, key=hot.get) == 'hot' and hot['hot'] > 5000
    assert not any(k.startswith('cold') for k in hot)
    assert receiver_event(node, 'HotKey')['value'] > 5000


def lb_value(key, label):
    return dict(key[1]).get(label)


def receiver_event(node, name):
    return node.receiver.wait_for(name, 'firing')


def test_worker_restart_counted_and_alerted(node, rc, receiver):
    pids = node.worker_pids()
    os.kill(pids[0], signal.SIGKILL)
    s = wait_until(lambda: (lambda s: sum(v for (n, _), v in s.items()
                                          if n == 'cachecyt_worker_restarts_total') == 1 and s)(samples(node)),
                   what='a restart counted')
    assert sum(v for (n, _), v in s.items() if n == 'cachecyt_worker_restarts_total') == 1
    receiver.wait_for('WorkerRestarted', 'firing')
    wait_until(lambda: len([p for p in node.worker_pids() if p not in pids]) == 1, what='new worker')
    wait_until(lambda: all(value(samples(node), 'cachecyt_worker_up', worker=w) == 1 for w in '01'),
               what='both workers up')
    _, text = scrape(node, '/api/alerts')
    assert 'WorkerRestarted' in {a['name'] for a in json.loads(text)}


def _names_in(expr):
    return set(re.findall(r'\bcachecyt_[a-z0-9_]+', expr))


def _family(name, families):
    if name in families:
        return name
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix) and families.get(name[:-len(suffix)]) == 'histogram':
            return name[:-len(suffix)]
    return None


def _grafana_exprs(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ('expr', 'query') and isinstance(v, str):
                yield v
            else:
                yield from _grafana_exprs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _grafana_exprs(v)


def test_shipped_rules_and_dashboard_use_exported_names(node, rc):
    rc.set('a', 1)
    rc.get('a')
    families = promtext.type_names(scrape(node)[1])
    with open(os.path.join(ROOT, 'conf', 'prometheus-alerts.yaml')) as f:
        rules = yaml.safe_load(f)
    exprs = [r['expr'] for g in rules['groups'] for r in g['rules']]
    with open(os.path.join(ROOT, 'conf', 'grafana-dashboard.json')) as f:
        exprs += list(_grafana_exprs(json.load(f)))
    used = set().union(*(_names_in(e) for e in exprs))
    assert len(used) >= 10
    missing = sorted(n for n in used if _family(n, families) is None)
    assert not missing, f"names used but not exported: {missing}"


def test_taken_metrics_port_stops_the_start():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        srv = CachecytServer(workers=1, metrics_port=port)
        with pytest.raises(RuntimeError, match='cannot serve metrics'):
            srv.start()
        srv.stop()


def test_bad_rule_refused_at_start(tmp_path):
    conf = tmp_path / 'bad.yaml'
    conf.write_text(yaml.safe_dump({'alerts': [{'name': 'X', 'expr': 'rate(cachecyt_keys)',
                                                'threshold': 1}]}))
    srv = CachecytServer('--config', conf, workers=1, port=free_port())
    with pytest.raises(RuntimeError, match='needs a window'):
        srv.start()
    srv.stop()


def test_webhook_times_out_on_a_silent_receiver_then_gives_up():
    import socket
    from cachecyt.metrics.alerts import Webhook
    with socket.socket() as silent:             # accepts connections, never answers
        silent.bind(('127.0.0.1', 0))
        silent.listen(8)
        hook = Webhook(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=1, retries=1)
        t0 = time.monotonic()
        ok = hook._deliver({'name': 'X', 'status': 'firing'})
        took = time.monotonic() - t0
        hook.stop()
    assert ok is False
    assert 2.0 <= took < 4.0                    # two tries of 1 s and a 0.25 s pause


def test_sigterm_stops_a_node_while_it_is_scraped():
    srv = CachecytServer(workers=1, metrics_port=True).start()
    stop = threading.Event()
    scrapes = []

    def scraper():
        while not stop.is_set():
            try:
                scrapes.append(len(scrape(srv)[1]))
            except OSError:
                pass
    t = threading.Thread(target=scraper)
    t.start()
    try:
        wait_until(lambda: len(scrapes) >= 5, what='scrapes')
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(10)
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join()
        srv.stop()
    assert srv.proc.returncode == 0
    assert took < 6
    assert not os.path.exists(f"/dev/shm/cachecyt.{srv.port}.alerts")


def test_persistence_figures_follow_snapshots_and_the_log(tmp_path):
    """With the WAL on, the endpoint counts log records and snapshots as the
    node takes them."""
    srv = CachecytServer('--appendonly', 'yes', '--appendfsync', 'always', '--dir', str(tmp_path),
                         workers=2, metrics_port=True).start()
    try:
        c = redis.Redis(port=srv.port)
        s0 = samples(srv)
        assert value(s0, 'cachecyt_wal_enabled') == 1
        for i in range(20):
            c.set(f'k{i}', 'v')
        s1 = samples(srv)
        assert value(s1, 'cachecyt_wal_records_total') - value(s0, 'cachecyt_wal_records_total') >= 20
        assert value(s1, 'cachecyt_wal_durable_lsn') >= value(s1, 'cachecyt_wal_records_total')
        assert value(s1, 'cachecyt_changes_since_last_snapshot') >= 20
        before = value(s1, 'cachecyt_snapshots_total')
        c.execute_command('SAVE')
        s2 = samples(srv)
        assert value(s2, 'cachecyt_snapshots_total') == before + 1
        assert value(s2, 'cachecyt_last_snapshot_success') == 1
        assert value(s2, 'cachecyt_changes_since_last_snapshot') == 0
        assert abs(value(s2, 'cachecyt_last_snapshot_time_seconds') - time.time()) < 60
        c.close()
    finally:
        srv.stop()
