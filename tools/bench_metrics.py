"""Cost of the metrics endpoint: GET/SET ops/s of a node scraped once a second
against the same node shape with metrics off.

    python tools/bench_metrics.py [--rounds 5] [--requests 300000] [--workers 2]

Starts two cachecyt nodes on free loopback ports: one with metrics-port 0 and
no alert rules (no observer thread at all), one with a metrics port, which a
thread of this tool scrapes (GET /metrics) every second while a run goes on.
Both get the same keyspace (`key:NNNNNNNNNNNN` -> 100-byte values, so GETs
hit); redis-benchmark then runs GET and SET against each, interleaved, for
several rounds, and the medians are compared.

On a small shared machine ops/s moves by more than the few per cent asked
about, so the tool also reports the steadier figure: CPU time of the whole
node (supervisor and workers, from /proc/<pid>/stat) per request, on and off.
Not shipped: a developer tool."""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

from servers import CachecytServer  # noqa: E402

KEYS = 100000
CLK_TCK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def node_cpu(srv):
    """CPU seconds of a node's supervisor and its live workers."""
    total = cpu_seconds(srv.proc.pid)
    for pid in srv.worker_pids():
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def preload(port):
    subprocess.run(['redis-benchmark', '-p', str(port), '-t', 'set', '-n', str(KEYS * 3), '-r', str(KEYS),
                    '-d', '100', '-P', '32', '-c', '20', '-q'], check=True, capture_output=True)


def bench(port, test, requests):
    out = subprocess.run(['redis-benchmark', '-p', str(port), '-t', test, '-n', str(requests),
                          '-r', str(KEYS), '-d', '100', '-P', '16', '-c', '50', '--csv'],
                         check=True, capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][1])


class Scraper:
    """GET /metrics once a second until stopped; counts scrapes and bytes."""

    def __init__(self, url):
        self.url = url
        self.stop = threading.Event()
        self.scrapes = 0
        self.bytes = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(1.0):
            with urllib.request.urlopen(self.url, timeout=5) as r:
                self.bytes += len(r.read())
            self.scrapes += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--requests', type=int, default=300000)
    ap.add_argument('--workers', type=int, default=2)
    ns = ap.parse_args()
    off = CachecytServer(workers=ns.workers).start()
    on = CachecytServer(workers=ns.workers, metrics_port=True).start()
    try:
        for srv in (off, on):
            preload(srv.port)
        url = f"http://127.0.0.1:{on.metrics_port}/metrics"
        res = {(t, m): [] for t in ('get', 'set') for m in ('off', 'on')}
        cpu_req = {(t, m): [] for t in ('get', 'set') for m in ('off', 'on')}
        scrape_cpu = []
        for r in range(ns.rounds):
            for test in ('get', 'set'):
                order = [('off', off), ('on', on)] if r % 2 == 0 else [('on', on), ('off', off)]
                for mode, srv in order:
                    n0 = node_cpu(srv)
                    if mode == 'on':
                        c0 = cpu_seconds(on.proc.pid)
                        with Scraper(url) as sc:
                            res[(test, mode)].append(bench(srv.port, test, ns.requests))
                        if sc.scrapes:
                            scrape_cpu.append((cpu_seconds(on.proc.pid) - c0, sc.scrapes, sc.bytes))
                    else:
                        res[(test, mode)].append(bench(srv.port, test, ns.requests))
                    cpu_req[(test, mode)].append((node_cpu(srv) - n0) / ns.requests * 1e6)
            print(f"round {r + 1}: " + ", ".join(f"{t} {m} {res[(t, m)][-1]:.0f}" for t, m in res),
                  file=sys.stderr)
        print("| test | ops/s off | ops/s scraped | change | node CPU µs/request off | scraped | change |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for test in ('get', 'set'):
            a, b = statistics.median(res[(test, 'off')]), statistics.median(res[(test, 'on')])
            ca, cb = statistics.median(cpu_req[(test, 'off')]), statistics.median(cpu_req[(test, 'on')])
            print(f"| {test.upper()} | {a:,.0f} | {b:,.0f} | {(b - a) / a * 100:+.1f}% "
                  f"| {ca:.2f} | {cb:.2f} | {(cb - ca) / ca * 100:+.1f}% |")
        cpu = sum(c for c, _, _ in scrape_cpu)
        n = sum(s for _, s, _ in scrape_cpu)
        size = sum(b for _, _, b in scrape_cpu)
        if n:
            print(f"\nsupervisor CPU while scraped: {cpu / n * 1000:.1f} ms per scrape (sampler included), "
                  f"{size / n / 1024:.1f} KiB per scrape, {n} scrapes")
    finally:
        off.stop()
        on.stop()


if __name__ == '__main__':
    main()
