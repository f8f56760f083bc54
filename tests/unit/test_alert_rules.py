"""Alert rule expressions and the pending/firing/resolved state machine
(cachecyt/metrics/alerts.py), over series histories built by hand; the same
rules against a live node are in tests/integration/test_metrics_http.py."""
import pytest

from cachecyt import config as cfgmod
from cachecyt.metrics import alerts, promtext


def history(*samples, step=1.0):
    """samples: {(name, labels tuple): value} per second."""
    h = alerts.History()
    for i, s in enumerate(samples):
        h.add(i * step, s)
    return h


def ev(expr, h):
    return alerts.evaluate(alerts.parse_expr(expr), h)


HITS, MISSES = ('cachecyt_keyspace_hits_total', ()), ('cachecyt_keyspace_misses_total', ())


def test_arithmetic_and_selectors():
    h = history({('a', ()): 6.0, ('b', (('cmd', 'get'),)): 2.0, ('b', (('cmd', 'set'),)): 3.0})
    assert ev('a / (b + 1)', h) == 1.0
    assert ev('b', h) == 5.0
    assert ev('b{cmd="get"}', h) == 2.0
    assert ev('b{cmd!="get"}', h) == 3.0
    assert ev('b{cmd=~"g.*|s.t"}', h) == 5.0
    assert ev('max(b) - min(b) * 2', h) == -1.0
    assert ev('b{cmd=~"g|s"}', h) is None          # anchored, as Prometheus
    assert ev('count(b)', h) == 2.0
    assert ev('-a + 10', h) == 4.0
    assert ev('a / (b - 5)', h) is None            # division by zero: no data
    assert ev('nosuch', h) is None
    assert ev('max(nosuch)', h) is None


def test_rate_increase_and_counter_reset():
    h = history({HITS: 0.0}, {HITS: 100.0}, {HITS: 300.0})
    assert ev('rate(cachecyt_keyspace_hits_total[2s])', h) == 150.0
    assert ev('increase(cachecyt_keyspace_hits_total[1s])', h) == 200.0
    h = history({HITS: 500.0}, {HITS: 40.0})       # restarted from 0: 40 happened since
    assert ev('increase(cachecyt_keyspace_hits_total[1m])', h) == 40.0
    assert ev('rate(cachecyt_keyspace_hits_total[1m])', history({HITS: 5.0})) is None


def test_hit_ratio_expression():
    h = history({HITS: 0.0, MISSES: 0.0}, {HITS: 90.0, MISSES: 10.0})
    e = ('rate(cachecyt_keyspace_hits_total[1m]) / (rate(cachecyt_keyspace_hits_total[1m])'
         ' + rate(cachecyt_keyspace_misses_total[1m]))')
    assert ev(e, h) == pytest.approx(0.9)


def bucket(le, n, cmd='get'):
    return (('lat_bucket', (('cmd', cmd), ('le', le))), float(n))


def test_quantile_interpolates_like_prometheus():
    # 100 calls: 50 under 1ms, 40 in (1ms, 2ms], 10 in (2ms, 4ms]
    s = dict([bucket('0.001', 50), bucket('0.002', 90), bucket('0.004', 100), bucket('+Inf', 100)])
    h = history(s)
    assert ev('quantile(0.5, lat)', h) == pytest.approx(0.001)
    assert ev('quantile(0.7, lat)', h) == pytest.approx(0.0015)
    assert ev('quantile(0.99, lat)', h) == pytest.approx(0.0038)
    # over a window: only the calls since then count
    old = dict([bucket('0.001', 50), bucket('0.002', 90), bucket('0.004', 90), bucket('+Inf', 90)])
    assert ev('quantile(0.5, lat[1m])', history(old, s)) == pytest.approx(0.003)
    # beyond the last finite bucket: its bound; only +Inf: no data
    s = dict([bucket('0.001', 0), bucket('+Inf', 10)])
    assert ev('quantile(0.99, lat)', history(s)) == 0.001
    assert ev('quantile(0.99, lat)', history(dict([bucket('+Inf', 10)]))) is None


@pytest.mark.parametrize('expr, why', [
    ('rate(x)', 'needs a window'), ('a +', 'unexpected'), ('a $ b', 'cannot read'),
    ('a{cmd=get}', 'bad label matcher'), ('(a', 'expected'),
])
def test_bad_expressions(expr, why):
    with pytest.raises(alerts.RuleError, match=why):
        alerts.parse_expr(expr)


def test_rules_checked_by_the_config():
    cfg = cfgmod.Config()
    cfg.set('alerts', [{'name': 'M', 'expr': 'x', 'threshold': 1, 'for': '2m'}])
    assert alerts.Rule(cfg['alerts'][0]).for_s == 120
    for bad, why in [([{'name': 'M', 'expr': 'x'}], "'threshold' is missing"),
                     ([{'name': 'M', 'expr': 'x', 'threshold': 1, 'op': '=='}], 'op must be'),
                     ([{'name': 'M', 'expr': 'x', 'threshold': 1, 'colour': 1}], 'unknown field'),
                     ([{'name': 'M', 'expr': 'x', 'threshold': 1, 'for': 'soon'}], 'bad duration'),
                     ([{'name': 'M', 'expr': 'x', 'threshold': 1}] * 2, 'two alert rules'),
                     ({'name': 'M'}, 'must be a list')]:
        with pytest.raises(cfgmod.ConfigError, match=why):
            cfg.set('alerts', bad)


def test_pending_then_firing_then_resolved():
    ev_ = alerts.Evaluator([{'name': 'Hot', 'expr': 'x', 'threshold': 10, 'for': '2s',
                             'severity': 'critical'}])
    h = alerts.History()
    states = []
    for t, x in enumerate([5, 20, 20, 20, 20, 3, 20, 3]):
        h.add(float(t), {('x', ()): float(x)})
        events = ev_.tick(h, float(t))
        states.append((ev_.alerts[0].state, [k for k, _ in events]))
    assert states == [('inactive', []), ('pending', []), ('pending', []), ('firing', ['firing']),
                      ('firing', []), ('inactive', ['resolved']), ('pending', []), ('inactive', [])]


def test_below_rule_and_no_data_never_fires():
    ev_ = alerts.Evaluator([{'name': 'Low', 'expr': 'a / b', 'op': '<', 'threshold': 0.5}])
    h = alerts.History()
    h.add(0.0, {('a', ()): 1.0, ('b', ()): 0.0})
    assert ev_.tick(h, 0.0) == [] and ev_.active() == []
    h.add(1.0, {('a', ()): 1.0, ('b', ()): 4.0})
    (kind, d), = ev_.tick(h, 1.0)
    assert kind == 'firing' and d['value'] == 0.25 and ev_.active()[0]['state'] == 'firing'


def test_text_format_round_trip():
    f = promtext.Family('cachecyt_x_total', 'counter', 'X.')
    f.add(3, cmd='a"b\\c\nd').add(1.5, cmd='plain')
    text = promtext.write([f])
    assert '# TYPE cachecyt_x_total counter' in text
    assert promtext.parse(text) == [('cachecyt_x_total', {'cmd': 'a"b\\c\nd'}, 3.0),
                                    ('cachecyt_x_total', {'cmd': 'plain'}, 1.5)]
