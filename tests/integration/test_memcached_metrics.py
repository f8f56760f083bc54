"""memcached commands in the node's figures, driven by pymemcache: their own
rows (mc_get, mc_set ...) in INFO commandstats and latencystats, LATENCY
HISTOGRAM and the metrics endpoint, failures counted, CONFIG RESETSTAT, and
the keys memcached clients make hot in HOTKEYS and cachecyt_hot_key_accesses."""
import base64
import re
import socket
import urllib.request

import pytest
import redis
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

from servers import CachecytServer


@pytest.fixture(scope='module')
def node():
    srv = CachecytServer('--hotkeys-sample-rate', 1, '--memcached-db', 3, workers=2,
                         memcached_port=True, metrics_port=True).start()
    yield srv
    srv.stop()


@pytest.fixture
def rn(node):
    c = redis.Redis(port=node.port)
    c.config_resetstat()
    yield c
    c.close()


@pytest.fixture
def mc(node):
    c = Client(('127.0.0.1', node.memcached_port), default_noreply=False)
    yield c
    c.close()


def mc_rows(rn):
    return {k[len('cmdstat_'):]: v for k, v in rn.info('commandstats').items() if k.startswith('cmdstat_mc_')}


def scrape(node):
    url = f"http://127.0.0.1:{node.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=10).read().decode()


def metric(text, name, **labels):
    want = ','.join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf'^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def test_each_command_has_its_row(rn, mc):
    for i in range(30):
        mc.set(f'k{i}', b'1')
    for i in range(20):
        mc.get(f'k{i}')
    mc.get_many(['k1', 'k2', 'absent'])          # one command, three keys
    mc.incr('k0', 5)
    mc.delete('k3')
    mc.touch('k4', 100)
    mc.add('k5', b'x')                           # not stored: a normal reply, not a failure
    rows = mc_rows(rn)
    assert rows['mc_set']['calls'] == 30
    assert rows['mc_get']['calls'] == 21
    assert rows['mc_incr']['calls'] == rows['mc_delete']['calls'] == rows['mc_touch']['calls'] == 1
    assert rows['mc_add']['calls'] == 1
    assert all(r['failed_calls'] == 0 and r['rejected_calls'] == 0 for r in rows.values())
    assert rows['mc_get']['usec'] > 0
    # RESP commands keep their own rows: no cmdstat_get / cmdstat_set from memcached
    resp = rn.info('commandstats')
    assert 'cmdstat_get' not in resp and 'cmdstat_set' not in resp


def test_error_replies_count_as_failed(rn, mc):
    mc.set('text', b'abc')
    with pytest.raises(MemcacheClientError):
        mc.incr('text', 1)                       # CLIENT_ERROR ... non-numeric value
    with socket.create_connection(('127.0.0.1', mc.server[1])) as s:
        s.sendall(b'gat soon key\r\n')           # an exptime that is no number
        assert s.recv(100) == b'CLIENT_ERROR invalid exptime argument\r\n'
    rows = mc_rows(rn)
    assert rows['mc_incr'] == {'calls': 1, 'usec': rows['mc_incr']['usec'],
                               'usec_per_call': rows['mc_incr']['usec_per_call'],
                               'rejected_calls': 0, 'failed_calls': 1}
    assert rows['mc_gat']['failed_calls'] == 1
    assert rows['mc_set']['failed_calls'] == 0


def test_latency_percentiles_and_histogram(rn, mc):
    for i in range(200):
        mc.get('lat')
    lat = rn.info('latencystats')['latency_percentiles_usec_mc_get']
    assert 0 <= lat['p50'] <= lat['p99'] <= lat['p99.9'] < 1e6      # a miss may take under 1 µs
    hist = rn.execute_command('LATENCY', 'HISTOGRAM', 'mc_get')[b'mc_get']
    assert hist[b'calls'] == 200
    assert max(hist[b'histogram_usec'].values()) == 200    # cumulative: the last bound has all


def test_metrics_endpoint(node, rn, mc):
    for i in range(40):
        mc.set(f'm{i}', b'v')
    mc.get_many([f'm{i}' for i in range(10)])
    text = scrape(node)
    assert metric(text, 'cachecyt_commands_total', cmd='mc_set') == 40
    assert metric(text, 'cachecyt_commands_total', cmd='mc_get') == 1
    assert metric(text, 'cachecyt_command_duration_seconds_count', cmd='mc_set') == 40
    assert metric(text, 'cachecyt_command_duration_seconds_bucket', cmd='mc_set', le='+Inf') == 40


def test_resetstat_clears_memcached_rows(rn, mc):
    mc.set('r', b'1')
    assert mc_rows(rn)['mc_set']['calls'] == 1
    rn.config_resetstat()
    assert 'mc_set' not in mc_rows(rn)
    assert 'latency_percentiles_usec_mc_set' not in rn.info('latencystats')


def test_hot_keys_of_memcached_clients(node, rn, mc):
    rn.execute_command('HOTKEYS')                # nothing asserted: only the state before
    for i in range(300):
        mc.get('popular')
        mc.set(f'cold{i}', b'x')
        if i % 3 == 0:
            mc.get_many(['popular', f'cold{i}'])
    # a meta get with a base64 key counts the decoded key, as stored
    with socket.create_connection(('127.0.0.1', node.memcached_port)) as s:
        key = base64.b64encode(b'meta-hot').decode()
        for _ in range(150):
            s.sendall(f'mg {key} b v\r\n'.encode())
            assert s.recv(100).startswith(b'EN')       # a miss: EN
    hot = {(db, key): n for db, key, n in rn.execute_command('HOTKEYS', 'COUNT', 5)}
    # every access is sampled (rate 1): 300 gets + 100 multi-gets of 'popular'
    assert hot[(3, b'popular')] == 400
    assert hot[(3, b'meta-hot')] == 150
    assert not any(k.startswith(b'cold') for _, k in hot)
    text = scrape(node)
    assert metric(text, 'cachecyt_hot_key_accesses', db='3', key='popular') == 400
