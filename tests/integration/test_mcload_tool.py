"""tools/bench.py --memcached (load from tools/mcload.py) runs end to end on a
tiny load, prints a row per test and depth for cachecyt and memcached, and leaves
no server behind; mcload reports its counts and stops on a reply that is not a hit."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['--rounds', '1', '--requests', '2000', '--requests-pipelined', '10000', '--keyspace', '1000']


def run_tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', name), *args],
                          check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@pytest.mark.skipif(shutil.which('memcached') is None, reason="memcached is not installed")
def test_bench_memcached_prints_both_servers_and_stops_them():
    out = run_tool('bench.py', '--memcached', '-v', '--markdown', *TINY)
    assert out.returncode == 0, out.stderr
    header = [line for line in out.stdout.splitlines() if line.startswith('| test |')]
    assert header and 'cachecyt ops/s | memcached ops/s' in header[0]
    rows = [line for line in out.stdout.splitlines() if re.match(r'\| (GET|SET) \| \d+ \|', line)]
    assert [r.split('|')[1:3] for r in rows] == [[' GET ', ' 1 '], [' SET ', ' 1 '], [' GET ', ' 16 '], [' SET ', ' 16 ']]
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert float(cells[2].replace(',', '')) > 0 and float(cells[3].replace(',', '')) > 0
        assert float(cells[7]) >= 0 and float(cells[8]) >= 0
    names = re.findall(r'^(\w+) on port \d+, pid (\d+)', out.stderr, re.M)
    assert sorted(n for n, _ in names) == ['cachecyt', 'memcached']
    assert not any(alive(int(pid)) for _, pid in names)


def test_mcload_counts_every_request_and_stops_on_a_miss(mc_node):
    port = str(mc_node.memcached_port)
    out = run_tool('mcload.py', '--port', port, '--preload', '--keyspace', '500', '--connections', '4',
                   '--depth', '8', '--requests', '3000', '--json')
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res['requests'] == 3000 and res['rps'] > 0 and 0 < res['p50'] <= res['p99']
    # keys from 500 on were never stored: a get of one is a miss, which ends the run
    out = run_tool('mcload.py', '--port', port, '--keyspace', '100000', '--requests', '3000')
    assert out.returncode == 1
    assert "unexpected reply b'END\\r\\n'" in out.stderr


def test_mcload_refuses_a_host_that_is_not_loopback():
    out = run_tool('mcload.py', '--port', '11211', '--host', '192.0.2.1')
    assert out.returncode == 2 and 'not a loopback address' in out.stderr
