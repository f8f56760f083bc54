"""Hit ratios of eviction policies on cache traces, offline or against live servers.

    python tools/traces_replay.py offline TRACE... [--sizes 1,2,5,10,20 | --entries 1000,2000]
                                  [--policies lru,lfu,allkeys-lru,...] [--markdown]
    python tools/traces_replay.py live TRACE [--entries N] [--policy allkeys-lru]
                                  [--limit N] [--batch 64] [--workers 2]

offline: every policy at every cache size (percent of the trace's distinct keys
with --sizes, or a number of entries with --entries). `lru` and `lfu` are exact
reference policies (tools/traces.py); a maxmemory-policy name replays the trace
through the core's own policy code (the server's eviction, no sockets) with the
cache limited to that many keys, in a private segment.

live: starts cachecyt and a stock redis-server on free loopback ports with the
same policy, each given the maxmemory that holds about --entries keys of this
trace on that server (measured by storing 2000 keys first), replays the trace as
GET then SET on a miss, in pipelined batches (a key repeated within a batch after
a miss counts as the hit it would have been), and prints both hit ratios. Both
servers are stopped at the end.

TRACE is a name from tools/traces.py (OLTP, gli, ...) or synthetic:KIND
(zipf, zipf+scan, zipf+onehit). Not shipped: a developer tool."""
import argparse
import array
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import traces  # noqa: E402

REFERENCE = {'lru': traces.lru_hit_ratio, 'lfu': traces.lfu_hit_ratio}
DEFAULT_POLICIES = ['lru', 'lfu', 'allkeys-lru', 'allkeys-lfu', 'allkeys-adaptive']
LABELS = {'lru': 'LRU', 'lfu': 'LFU', 'allkeys-lru': 'sampled LRU',
          'allkeys-lfu': 'sampled LFU', 'allkeys-adaptive': 'adaptive'}


def load_trace(name: str, length: int = 200_000) -> array.array:
    if name.startswith('synthetic:'):
        return traces.synthetic(name.split(':', 1)[1], length=length)
    return traces.load(name)


# ---- offline ------------------------------------------------------------------------

def core_hit_ratio(trace, size: int, policy: str, samples: int = 5, ms_per_access: int = 10,
                   shards: int = 16, window=-1, seed=1, state=None, warm=None, **settings) -> float:
    """Hit ratio (percent) of a maxmemory-policy of the core at `size` keys.
    window >= 0 fixes the adaptive policy's window share (per mille). A dict
    given as `state` receives the adaptive policy's state at the end. `warm`
    = (trace, window) is replayed first, not counted."""
    from cachecyt import _core, config
    base = config.header_settings(config.Config())
    base.update(policy=config.POLICIES.index(policy), maxmemory_samples=samples, **settings)
    pages = 64 + size * 256 // 65536 + 2 * len(trace) // 65536 // 64 + 8
    name = f"/cachecyt-replay-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    seg = _core.Segment.create(name, {'shards': shards, 'databases': 1, 'pages': pages,
                                      'settings': base}, b'{}')
    try:
        seg.activate(0)
        _core.init_shards()
        start = 1700000000000
        if warm:
            _core._test_replay(warm[0], size, ms_per_access, start, window_permille=warm[1], seed=seed)
            start += len(warm[0]) * ms_per_access
            seed = 0
        hits, failed = _core._test_replay(trace, size, ms_per_access, start, window_permille=window,
                                          seed=seed)
        if state is not None:
            state.update(_core._test_adaptive_state(), shadow=_core._test_shadow_state())
        if failed:
            raise RuntimeError(f'{policy}: {failed} evictions failed at {size} keys')
    finally:
        seg.close()
        _core.Segment.unlink(name)
    return 100.0 * hits / len(trace)


def hit_ratio(trace, size: int, policy: str, **kw) -> float:
    if policy in REFERENCE:
        return REFERENCE[policy](trace, size)
    return core_hit_ratio(trace, size, policy, **kw)


def offline(args):
    policies = args.policies.split(',')
    rows = []
    if args.markdown:
        print_markdown_head(policies)
    for name in args.traces:
        trace = load_trace(name, args.length)
        keys = traces.distinct(trace)
        if args.entries:
            sizes = [int(x) for x in args.entries.split(',')]
            tags = [str(s) for s in sizes]
        else:
            pcts = [float(x) for x in args.sizes.split(',')]
            sizes = [max(1, round(keys * p / 100)) for p in pcts]
            tags = [f'{p:g}%' for p in pcts]
        for size, tag in zip(sizes, tags):
            t0 = time.monotonic()
            ratios = [hit_ratio(trace, size, p, samples=args.samples) for p in policies]
            rows.append((name, tag, size, ratios))
            if args.verbose:
                print(f'# {name} {tag} {time.monotonic() - t0:.1f}s', file=sys.stderr)
            if args.markdown:
                best = max(ratios)
                cells = [f'**{r:.2f}**' if r == best else f'{r:.2f}' for r in ratios]
                print(f'| {name} | {tag} | {size} | ' + ' | '.join(cells) + ' |', flush=True)
            else:
                print(f'{name:10} {tag:>6} {size:>8} ' + ' '.join(f'{r:7.2f}' for r in ratios), flush=True)
    if args.markdown:
        print_markdown_mean(rows, policies)
    return rows


def print_markdown_head(policies):
    head = ['trace', 'size', 'entries'] + [LABELS.get(p, p) for p in policies]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head), flush=True)


def print_markdown_mean(rows, policies):
    n = len(rows)
    if n:
        means = [sum(r[3][i] for r in rows) / n for i in range(len(policies))]
        print('| mean | | | ' + ' | '.join(f'{m:.2f}' for m in means) + ' |')


# ---- live ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'server exited with {proc.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'port {port} did not open')


def start_cachecyt(workers: int):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.Popen([sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(port),
                             '--workers', str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port


def start_redis():
    port = free_port()
    tmp = tempfile.mkdtemp(prefix='replay-redis-')
    proc = subprocess.Popen(['redis-server', '--port', str(port), '--save', '', '--appendonly', 'no',
                             '--dir', tmp, '--daemonize', 'no'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port, tmp


def key_of(k: int) -> bytes:
    return b'k:%d' % k


def calibrate(r, entries: int, value: bytes) -> int:
    """maxmemory (bytes) that holds about `entries` keys of this shape on server r."""
    r.flushall()
    base = int(r.info('memory')['used_memory'])
    p = r.pipeline(transaction=False)
    for i in range(2000):
        p.set(b'calib:%d' % (10**9 + i), value)
    p.execute()
    per_key = (int(r.info('memory')['used_memory']) - base) / 2000
    r.flushall()
    return int(base + entries * per_key)


def replay_live(r, trace, batch: int, value: bytes, ttl=None) -> float:
    hits = 0
    for i in range(0, len(trace), batch):
        chunk = trace[i:i + batch]
        p = r.pipeline(transaction=False)
        for k in chunk:
            p.get(key_of(k))
        got = p.execute()
        p = r.pipeline(transaction=False)
        stored = set()
        for k, v in zip(chunk, got):
            if v is not None or k in stored:
                hits += 1
                continue
            stored.add(k)
            t = ttl.get(k, 0) if ttl else 0
            if t:
                p.set(key_of(k), value, px=t)
            else:
                p.set(key_of(k), value)
        p.execute(raise_on_error=False)  # an OOM reply (nothing left to evict) is a miss
    return 100.0 * hits / len(trace)


def live(args):
    import redis
    trace = load_trace(args.traces[0], args.length)
    if args.limit:
        trace = trace[:args.limit]
    entries = args.entries or max(1, traces.distinct(trace) // 10)
    value = b'x' * args.value_size
    ttl = traces.ttl_mix(trace) if args.ttl_mix else None
    procs = []
    results = {}
    try:
        cp, cport = start_cachecyt(args.workers)
        procs.append((cp, None))
        rp, rport, tmp = start_redis()
        procs.append((rp, tmp))
        for label, port, policy in (('cachecyt', cport, args.policy),
                                    ('redis', rport, args.redis_policy or args.policy)):
            r = redis.Redis(port=port)
            r.config_set('maxmemory', 0)
            limit = calibrate(r, entries, value)
            r.config_set('maxmemory-policy', policy)
            r.config_set('maxmemory-samples', args.samples)
            r.config_set('maxmemory', limit)
            t0 = time.monotonic()
            results[label] = replay_live(r, trace, args.batch, value, ttl)
            print(f'{label:9} {policy:18} maxmemory={limit} hit ratio {results[label]:.2f}% '
                  f'({time.monotonic() - t0:.1f}s)', flush=True)
            r.close()
    finally:
        for proc, tmp in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('mode', choices=['offline', 'live'])
    ap.add_argument('traces', nargs='+')
    ap.add_argument('--sizes', default='1,2,5,10,20', help='percent of distinct keys')
    ap.add_argument('--entries', default='', help='cache sizes in entries (offline), or one (live)')
    ap.add_argument('--policies', default=','.join(DEFAULT_POLICIES))
    ap.add_argument('--samples', type=int, default=5, help='maxmemory-samples')
    ap.add_argument('--length', type=int, default=200_000, help='length of synthetic traces')
    ap.add_argument('--markdown', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('--policy', default='allkeys-adaptive', help='live: cachecyt policy')
    ap.add_argument('--redis-policy', default='', help='live: redis policy (default: --policy)')
    ap.add_argument('--limit', type=int, default=0, help='live: replay only the first N accesses')
    ap.add_argument('--batch', type=int, default=64, help='live: accesses per pipeline')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--value-size', type=int, default=64)
    ap.add_argument('--ttl-mix', action='store_true', help='live: give keys TTLs (traces.ttl_mix)')
    args = ap.parse_args(argv)
    if args.mode == 'live':
        args.entries = int(args.entries) if args.entries else 0
        live(args)
    else:
        offline(args)


if __name__ == '__main__':
    main()
