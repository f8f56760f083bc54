"""CPU per request of the request loop alone, in one process, for two builds.

    python tools/corebench.py --baseline DIR [--rounds 9] [--settings 'hotkeys_sample_rate=0']

Each run is a fresh process that imports cachecyt from a source tree (this one,
or the baseline checkout in DIR built in place), makes a private segment,
preloads keys, then feeds one Client a pipelined batch of GET or SET requests
over and over (no sockets: Client.feed) and reports CPU nanoseconds per request
(process time, the steadiest figure on a shared machine). Test zadd feeds ZADDs
as redis-benchmark -t zadd -r 100000 sends them (a random integer score, a
member out of 100,000, one key grown to about 100,000 members first), from 1000
different batches so that scores keep changing. Runs of the two builds
alternate, and the median of the rounds is printed: it isolates what the core
adds per command (e.g. the observability accounting) from the network and the
load generator, which redis-benchmark (tools/bench.py) measures as a whole.
Not shipped: a developer tool."""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import json, os, random, sys, time, uuid
from cachecyt import _core, config
from cachecyt.commands import registry
spec = json.loads(sys.argv[1])
name = f"/cachecyt-corebench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
base = config.header_settings(config.Config())
shape = {'shards': 64, 'databases': 16, 'pages': 4096, 'settings': base}
seg = _core.Segment.create(name, shape, b'{}')
try:
    seg.activate(0)
    _core.init_shards()
    registry.install()
    for k, v in spec['settings'].items():
        _core.set_setting(k, v)
    c = _core.Client()
    nkeys, depth = 10000, spec['depth']
    value = b'v' * 100
    c.feed(b''.join(b'*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n' % i + value + b'\r\n'
                    for i in range(nkeys)))
    if spec['test'] == 'get':
        batches = [b''.join(b'*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n' % ((i * 7919) % nkeys)
                            for i in range(depth))]
    elif spec['test'] == 'zadd':             # as redis-benchmark -t zadd -r 100000: one growing key
        rnd = random.Random(1)
        def zadd():
            s, m = b'%d' % rnd.randrange(100000), b'element:%012d' % rnd.randrange(100000)
            return b'*4\r\n$4\r\nZADD\r\n$6\r\nmyzset\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (
                len(s), s, len(m), m)
        batches = [b''.join(zadd() for _ in range(depth)) for _ in range(1000)]
        for b in batches * 10:               # the key grows towards 100,000 members
            c.feed(b)
    else:
        batches = [b''.join(b'*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n' % ((i * 7919) % nkeys)
                            + value + b'\r\n' for i in range(depth))]
    for i in range(200):                     # warm up
        c.feed(batches[i % len(batches)])
    n = spec['batches']
    t0 = time.process_time()
    for i in range(n):
        c.feed(batches[i % len(batches)])
    print(json.dumps({'ns': (time.process_time() - t0) * 1e9 / (n * depth)}))
finally:
    seg.close()
    _core.Segment.unlink(name)
'''


def run(tree, test, depth, batches, settings):
    env = dict(os.environ)
    env['PYTHONPATH'] = tree
    spec = json.dumps({'test': test, 'depth': depth, 'batches': batches, 'settings': settings})
    out = subprocess.run([sys.executable, '-c', CHILD, spec], env=env, cwd=tree, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])['ns']


def parse_settings(text):
    out = {}
    for part in text.split(','):
        if part.strip():
            k, v = part.split('=', 1)
            out[k.strip()] = int(v)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--baseline', required=True, help='source tree of the other build')
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--depth', type=int, default=16, help='requests per feed (pipeline depth)')
    ap.add_argument('--batches', type=int, default=20000, help='feeds per run')
    ap.add_argument('--tests', default='get,set', help='get, set, zadd (random scores, one key)')
    ap.add_argument('--settings', default='', help='header settings for this build, k=v,...')
    ap.add_argument('--baseline-settings', default='', help='header settings for the baseline')
    args = ap.parse_args(argv)
    trees = [('this', ROOT, parse_settings(args.settings)),
             ('base', os.path.abspath(args.baseline), parse_settings(args.baseline_settings))]
    results = {}
    for rnd in range(args.rounds):
        order = trees if rnd % 2 == 0 else trees[::-1]
        for test in args.tests.split(','):
            for name, tree, settings in order:
                ns = run(tree, test, args.depth, args.batches, settings)
                results.setdefault((test, name), []).append(ns)
                print(f"round {rnd + 1} {test} {name}: {ns:.1f} ns/request", file=sys.stderr)
    print(f"| test | this ns/req | base ns/req | overhead |  (median of {args.rounds}, depth {args.depth})")
    print("|---|---:|---:|---:|")
    for test in args.tests.split(','):
        a = statistics.median(results[(test, 'this')])
        b = statistics.median(results[(test, 'base')])
        print(f"| {test.upper()} | {a:.1f} | {b:.1f} | {(a / b - 1) * 100:+.1f}% |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
