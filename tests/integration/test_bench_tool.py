"""tools/bench.py runs end to end on a tiny load, prints its table, and leaves
no server behind, also when a run fails."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ['--rounds', '1', '--requests', '2000', '--requests-pipelined', '10000', '--keyspace', '1000']


def run_bench(*extra):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'bench.py'), '-v', *TINY, *extra],
                          check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)


def server_pids(stderr):
    return [int(p) for p in re.findall(r'on port \d+, pid (\d+)', stderr)]


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def test_prints_a_row_per_test_and_pipeline_and_stops_both_servers():
    out = run_bench('--markdown')
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if re.match(r'\| (GET|SET) \| \d+ \|', line)]
    assert [r.split('|')[1:3] for r in rows] == [[' GET ', ' 1 '], [' SET ', ' 1 '], [' GET ', ' 16 '], [' SET ', ' 16 ']]
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        assert float(cells[2].replace(',', '')) > 0 and float(cells[3].replace(',', '')) > 0
        # CPU µs per request of both servers: a tiny run may see no 10 ms clock tick
        assert float(cells[7]) >= 0 and float(cells[8]) >= 0
    pids = server_pids(out.stderr)
    assert len(pids) == 2
    assert not any(alive(p) for p in pids)


def test_servers_stopped_when_a_run_fails():
    out = run_bench('--tests', 'nosuchtest')
    assert out.returncode != 0
    pids = server_pids(out.stderr)
    assert len(pids) == 2
    assert not any(alive(p) for p in pids)


def test_tls_and_acl_modes_print_their_tables():
    out = run_bench('--markdown', '--tls', '--acl', '--pipelines', '16', '--tests', 'get')
    assert out.returncode == 0, out.stderr
    assert 'over TLS' in out.stdout and 'restricted user: ACL SETUSER bench' in out.stdout
    rows = [line.split('|')[1:4] for line in out.stdout.splitlines()
            if re.match(r'\| GET \| 16 \|', line)]
    assert rows == [[' GET ', ' 16 ', ' cachecyt '], [' GET ', ' 16 ', ' redis ']]
    # the load went through TLS as the restricted user: each server saw it
    assert re.search(r'round 1 cachecyt\+acl get', out.stderr) and re.search(r'round 1 redis\+acl', out.stderr)
    pids = server_pids(out.stderr)
    assert len(pids) == 2 and not any(alive(p) for p in pids)
