"""Cache traces: read the files under ../shared/traces, generate synthetic ones,
and replay them through reference policies (exact LRU and exact LFU).

A trace is an array('q') of integer keys, one per access. The readers follow
the formats of the README beside the traces:
  arc/*.lis.zst      text `start n ignore req`: the n blocks from start, each one access
  lirs/*.trace.gz    text, one integer per line; other lines (`*`) are skipped
  cache2k/*.trace.xz big-endian signed 32-bit integers

The reference policies count every access (a miss inserts the key) with the
cache size in entries, the convention of the README's reference LRU numbers.
The server's own policies are replayed by tools/traces_replay.py through the
core itself. Not shipped: a developer tool; needs zstd and xz on PATH for the
compressed formats."""
import array
import gzip
import heapq
import os
import random
import subprocess
import sys
from collections import OrderedDict

# ../shared/traces beside the checkout, unless CACHECYT_TRACES names another place
TRACE_DIR = os.environ.get('CACHECYT_TRACES',
                           os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        '..', '..', 'shared', 'traces'))

TRACES = {
    'OLTP': 'arc/OLTP.lis.zst', 'P3': 'arc/P3.lis.zst',
    **{n: f'lirs/{n}.trace.gz' for n in ('gli', 'cs', 'cpp', 'ps', 'sprite', 'multi1', 'multi2',
                                          'multi3', '2_pools', 'loop', 'scan', 'zigzag')},
    **{n: f'cache2k/{n}.trace.xz' for n in ('web07', 'web12', 'orm-busy')},
}


def _decompress(path: str) -> bytes:
    if path.endswith('.gz'):
        with gzip.open(path, 'rb') as f:
            return f.read()
    tool = 'zstd' if path.endswith('.zst') else 'xz'
    return subprocess.run([tool, '-dc', path], check=True, capture_output=True).stdout


def load(name: str) -> array.array:
    """The accesses of a named trace (a key of TRACES) or of a trace file path."""
    path = os.path.join(TRACE_DIR, TRACES[name]) if name in TRACES else name
    data = _decompress(path)
    out = array.array('q')
    if '/arc/' in path or path.endswith('.lis.zst') or path.endswith('.lis'):
        for line in data.split(b'\n'):
            f = line.split()
            if len(f) >= 2:
                start, n = int(f[0]), int(f[1])
                out.extend(range(start, start + n))
    elif path.endswith('.xz'):
        raw = array.array('i', data[:len(data) // 4 * 4])
        if sys.byteorder == 'little':
            raw.byteswap()
        out.fromlist(raw.tolist())
    else:
        for line in data.split(b'\n'):
            try:
                out.append(int(line))
            except ValueError:
                pass
    return out


# ---- reference policies ---------------------------------------------------------

def lru_hit_ratio(trace, size: int) -> float:
    """Exact LRU with `size` entries: hits / accesses, in percent."""
    cache = OrderedDict()
    hits = 0
    for k in trace:
        if k in cache:
            cache.move_to_end(k)
            hits += 1
        else:
            cache[k] = None
            if len(cache) > size:
                cache.popitem(last=False)
    return 100.0 * hits / len(trace)


def lfu_hit_ratio(trace, size: int) -> float:
    """Exact in-cache LFU (counts kept while cached, ties evict the least recent),
    with a lazy-deletion heap: hits / accesses, in percent."""
    count = {}
    heap = []
    hits = 0
    for t, k in enumerate(trace):
        c = count.get(k)
        if c is not None:
            hits += 1
            count[k] = c + 1
            heapq.heappush(heap, (c + 1, t, k))
            continue
        if len(count) >= size:
            while True:
                c, _, v = heapq.heappop(heap)
                if count.get(v) == c:
                    del count[v]
                    break
        count[k] = 1
        heapq.heappush(heap, (1, t, k))
        if len(heap) > 4 * size + 64:
            heap = [(c, t2, v) for c, t2, v in heap if count.get(v) == c]
            heapq.heapify(heap)
    return 100.0 * hits / len(trace)


# ---- synthetic traces -------------------------------------------------------------

def zipf(n_keys: int, alpha: float, length: int, seed: int = 1) -> array.array:
    """`length` accesses over n_keys keys with P(rank r) ~ 1 / r**alpha; rank 1 is
    a random key, so keys carry no order."""
    rng = random.Random(seed)
    weights = [1.0 / (r ** alpha) for r in range(1, n_keys + 1)]
    total = sum(weights)
    cum, acc = [], 0.0
    for w in weights:
        acc += w / total
        cum.append(acc)
    perm = list(range(n_keys))
    rng.shuffle(perm)
    import bisect
    out = array.array('q')
    for _ in range(length):
        out.append(perm[min(bisect.bisect_left(cum, rng.random()), n_keys - 1)])
    return out


def mix(base, every: int, burst, seed: int = 2) -> array.array:
    """`base` with a burst spliced in after every `every` accesses (scans)."""
    out = array.array('q')
    for i in range(0, len(base), every):
        out.extend(base[i:i + every])
        out.extend(burst)
    return out


def synthetic(kind: str, length: int = 200_000, n_keys: int = 20_000, alpha: float = 0.9,
              seed: int = 1) -> array.array:
    """Named synthetic traces for tests and the live mode:
      zipf         Zipf(alpha) over n_keys keys
      zipf+scan    the same, with a scan of n_keys/2 keys never seen before every length/10
      zipf+onehit  the same, half of the accesses one-hit wonders (fresh keys)"""
    z = zipf(n_keys, alpha, length, seed)
    if kind == 'zipf':
        return z
    if kind == 'zipf+scan':
        out = array.array('q')
        nxt = 10 * n_keys
        step = max(1, length // 10)
        for i in range(0, length, step):
            out.extend(z[i:i + step])
            out.extend(range(nxt, nxt + n_keys // 2))
            nxt += n_keys // 2
        return out
    if kind == 'zipf+onehit':
        out = array.array('q')
        nxt = 10 * n_keys
        for k in z:
            out.append(k)
            out.append(nxt)
            nxt += 1
        return out
    raise ValueError(f'unknown synthetic trace {kind!r}')


def ttl_mix(trace, seed: int = 3, fractions=((0.5, 0), (0.3, 60_000), (0.2, 5_000))):
    """A TTL in ms per distinct key (0 = none), drawn once per key by `fractions`
    ((share, ttl_ms), ...): for live replays that mix persistent and expiring keys."""
    rng = random.Random(seed)
    ttl = {}
    for k in trace:
        if k not in ttl:
            x, acc = rng.random(), 0.0
            ttl[k] = 0
            for share, t in fractions:
                acc += share
                if x < acc:
                    ttl[k] = t
                    break
    return ttl


def distinct(trace) -> int:
    return len(set(trace))


if __name__ == '__main__':
    for name in sys.argv[1:] or ['gli']:
        t = load(name)
        print(name, len(t), 'accesses', distinct(t), 'keys')
