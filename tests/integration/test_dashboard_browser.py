"""The dashboard page on the metrics port, loaded in headless Chromium after a
real load: the page fetches its data, and the operations chart shows non-zero
ops. Skipped only when no Chromium is installed (Debian package `chromium`,
installed by `make system-packages` and .ci/run)."""
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
import redis

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')


NODE_KW = {'metrics_port': True}


def dump_dom(url, budget_ms=4000):
    """The page's DOM after its scripts ran for `budget_ms` of virtual time."""
    profile = tempfile.mkdtemp(prefix='cachecyt-chromium-')
    try:
        out = subprocess.run(
            [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
             '--no-first-run', '--disable-extensions', f'--user-data-dir={profile}',
             f'--virtual-time-budget={budget_ms}', '--dump-dom', url],
            capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def canvas(dom, cid):
    m = re.search(rf'<canvas id="{cid}"([^>]*)>', dom)
    assert m, f"no canvas {cid}"
    return dict(re.findall(r'data-([a-z]+)="([^"]*)"', m.group(1)))


def test_static_files_are_served_from_the_package(node):
    base = f"http://127.0.0.1:{node.metrics_port}"
    with urllib.request.urlopen(base + '/') as r:
        page = r.read().decode()
    assert r.headers['Content-Type'].startswith('text/html')
    srcs = re.findall(r'<script src="([^"]+)"', page)
    assert srcs == ['/static/chart.js']            # nothing from another host
    with urllib.request.urlopen(base + srcs[0]) as r:
        assert 'function drawChart' in r.read().decode()
    for bad in ('/static/../http.py', '/static/.hidden.js', '/nosuch'):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + bad)
        assert e.value.code == 404


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_charts_show_the_load(node):
    rc = redis.Redis(port=node.port)
    rc.flushall()
    rc.set('k', 'v')
    pipe = rc.pipeline(transaction=False)
    end = time.monotonic() + 2.5                  # a load across a few one-second samples
    while time.monotonic() < end:
        for _ in range(200):
            pipe.get('k')
        pipe.execute()
    time.sleep(1.2)                               # the sample after the load
    dom = dump_dom(f"http://127.0.0.1:{node.metrics_port}/")
    assert re.search(r'data-updates="[1-9]', dom), "the page never got its data"
    ops = canvas(dom, 'chart-ops')
    assert int(ops['points']) >= 2
    assert float(ops['max']) > 100
    workers = canvas(dom, 'chart-workers')
    assert int(workers['points']) >= 2
    hit = canvas(dom, 'chart-hit')
    assert float(hit['max']) == 1.0              # every GET found its key
    mem = canvas(dom, 'chart-mem')
    assert float(mem['last']) > 0
    assert re.search(r'<td>get</td><td>[1-9]\d*</td>', dom), 'get missing from the top commands'
    assert re.search(r'<table id="hotkeys"><tbody><tr><td>k</td><td>[1-9]', dom), 'k is the hot key'
    rc.close()
