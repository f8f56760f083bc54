"""`cachecyt top` against a real node under a real load: two refreshes printed
non-interactively, with the figures the load implies."""
import os
import re
import subprocess
import sys
import threading

import redis
from servers import ROOT, CachecytServer, free_port

NKEYS = 100


NODE_KW = {'metrics_port': True}


def run_top(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               COLUMNS='160', TERM='dumb')
    return subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'top', *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_two_refreshes_show_the_load(node):
    rc = redis.Redis(port=node.port)
    rc.flushall()
    for i in range(NKEYS):
        rc.set(f"k{i}", 'v')
    stop = threading.Event()

    def load():                                 # only hits: GET of keys that exist
        c = redis.Redis(port=node.port)
        pipe = c.pipeline(transaction=False)
        while not stop.is_set():
            for i in range(50):
                pipe.get(f"k{i}")
            pipe.execute()
        c.close()
    t = threading.Thread(target=load)
    t.start()
    try:
        out = run_top('--metrics-port', node.metrics_port, '--iterations', 2, '--interval', 0.5)
    finally:
        stop.set()
        t.join()
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.count('top commands') == 2 and text.count('workers') >= 2
    frame = text[text.rindex('cachecyt '):]      # the second refresh
    ops = float(re.search(r'ops/s\s+(\d+)', frame).group(1))
    assert ops > 100
    assert re.search(r'hit ratio\s+100\.0%', frame)
    p50 = re.search(r'p50\s+([\d.]+) (µs|ms)', frame)   # from the latency histograms
    p99 = re.search(r'p99\s+([\d.]+) (µs|ms)', frame)
    assert p50 and p99
    us = [float(m.group(1)) * (1000 if m.group(2) == 'ms' else 1) for m in (p50, p99)]
    assert 0 <= us[0] <= us[1] < 100000
    assert re.search(rf'keys\s+{NKEYS}\b', frame)
    get = re.search(r'│\s*get\s*│\s*(\d+)\s*│\s*(\d+)', frame)
    assert get and int(get.group(1)) > 100 and int(get.group(2)) >= int(get.group(1)) // 2
    rows = re.findall(r'│\s*([01])\s*│\s*(yes|NO)\s*│', frame)
    assert sorted(rows) == [('0', 'yes'), ('1', 'yes')]
    assert re.search(r'│\s*none\s*│', frame)     # no alert rules, no alerts
    rc.close()


def test_unreachable_endpoint_is_a_clear_error():
    out = run_top('--metrics-port', free_port(), '--once')
    assert out.returncode == 1
    assert 'cannot read http://127.0.0.1:' in out.stderr


def test_default_metrics_port_follows_the_resp_port():
    port = free_port()
    while port + 3000 > 65535:
        port = free_port()
    srv = CachecytServer('--metrics-port', -1, workers=1, port=port).start()
    try:
        out = run_top('--port', port, '--once', '--interval', 0.2)
        assert out.returncode == 0, out.stderr
        assert f"http://127.0.0.1:{port + 3000}/metrics" in out.stdout
    finally:
        srv.stop()
