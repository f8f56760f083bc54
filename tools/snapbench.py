"""What a snapshot of a big keyspace costs the clients of a running node.

    python tools/snapbench.py [--keys 5000000] [--mixed 0.1] [--workers 2]
                              [--clients 2] [--cachecyt-args ARGS] [--tree DIR]

Starts cachecyt (no save rules, no WAL, its own data directory) on a free
loopback port, loads --keys keys (`key:N` -> a 100-byte string, and 10000 `probe:N`; a --mixed share
of them are hashes, lists, sets and sorted sets of 8 elements) through
`redis-cli --pipe`, then measures with --clients connections each sending
GET and SET alternately, one request at a time:
  - for a few seconds without a snapshot (the baseline),
  - while a BGSAVE runs (from the command until INFO says it is done),
and prints the snapshot's time and file size, the p50/p99/p99.9/max latency
of those requests (and of the SETs alone) in both phases, and the extra
private memory of the node's processes during the snapshot (peak of the sum
of their anonymous memory, /proc/<pid>/smaps_rollup, over its level before;
the shared segment is not counted).

With --costs it runs in-process instead, on a private segment with the same
keyspace: the CPU time of each step of dumping every shard (the copy taken
under the shard lock, the formatting done after it; CPU time stays steady on a
busy machine where wall time does not), and the size and CPU speed of
compressing the snapshot payload with zlib (and lz4 / zstandard when they
import). Not shipped: a developer tool, needing redis-cli on PATH."""
import argparse
import os
import random
import shlex
import subprocess
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Server, free_port          # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PROBE_KEYS = 10000          # string keys the latency probes read and write (all shards)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load_stream(nkeys, mixed, seed=1):
    """The RESP commands that build the keyspace, in chunks."""
    rng = random.Random(seed)
    value = b"v" * 100
    chunk = []
    for i in range(nkeys):
        key = b"key:%d" % i
        if mixed and rng.random() < mixed:
            kind = i % 4
            els = [b"e%d-%d" % (i, j) for j in range(8)]
            if kind == 0:
                cmd = resp(b"HSET", key, *[x for e in els for x in (e, value[:20])])
            elif kind == 1:
                cmd = resp(b"RPUSH", key, *els)
            elif kind == 2:
                cmd = resp(b"SADD", key, *els)
            else:
                cmd = resp(b"ZADD", key, *[x for j, e in enumerate(els) for x in (b"%d" % j, e)])
        else:
            cmd = resp(b"SET", key, value)
        chunk.append(cmd)
        if len(chunk) == 10000:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)
    yield b"".join(resp(b"SET", b"probe:%d" % i, value) for i in range(PROBE_KEYS))


def load(port, nkeys, mixed):
    p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for data in load_stream(nkeys, mixed):
        p.stdin.write(data)
    p.stdin.close()
    out = p.stdout.read().decode()
    p.wait()
    if "errors: 0" not in out:
        raise RuntimeError(f"loading failed: {out}")


def anon_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Anonymous:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Prober(threading.Thread):
    """GET and SET alternately, one at a time, recording each latency (s)."""

    def __init__(self, port, nkeys, seed):
        super().__init__(daemon=True)
        self.r = redis.Redis(port=port, socket_timeout=30)
        self.nkeys = nkeys
        self.rng = random.Random(seed)
        self.lat = []
        self.wlat = []              # the SETs alone
        self.running = True

    def run(self):
        get = time.perf_counter
        while self.running:
            k = "probe:%d" % self.rng.randrange(PROBE_KEYS)
            t0 = get()
            if len(self.lat) & 1:
                self.r.set(k, "w" * 100)
                self.wlat.append(get() - t0)
            else:
                self.r.get(k)
            self.lat.append(get() - t0)


def percentiles(lat):
    s = sorted(lat)
    if not s:
        return {}
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000
    return {"n": len(s), "p50": pick(0.5), "p99": pick(0.99), "p99.9": pick(0.999), "max": s[-1] * 1000}


def phase(port, nkeys, clients, until):
    """Latencies of `clients` probers while until() is false: (all, SETs)."""
    ps = [Prober(port, nkeys, i) for i in range(clients)]
    for p in ps:
        p.start()
    until()
    for p in ps:
        p.running = False
    for p in ps:
        p.join()
    return [x for p in ps for x in p.lat], [x for p in ps for x in p.wlat]


def costs(nkeys, mixed, shards):
    """In-process figures of dumping and compressing (see --costs)."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
    from conftest import make_segment
    from cachecyt import _core
    from cachecyt.commands import registry, server
    pages = max(1024, nkeys * 400 // 65536)
    seg = make_segment(shards=shards, pages=pages)
    registry.install()
    server.NODE = server.Node()
    c = _core.Client()
    t0 = time.monotonic()
    for data in load_stream(nkeys, mixed):
        n, errors = _core.apply_commands(c, data, 0, 0)
        assert errors == 0
    print(f"loaded {nkeys} keys in-process in {time.monotonic() - t0:.1f}s, {shards} shards")
    copy_ns = fmt_ns = size = worst = worst_step = 0
    for s in range(shards):
        a, b, n, step = _core.snap_shard_cost(s)
        copy_ns += a
        fmt_ns += b
        size += n
        worst = max(worst, a)
        worst_step = max(worst_step, step)
    print(f"dump CPU: copy under the locks {copy_ns / 1e6:.0f} ms (worst shard {worst / 1e6:.1f} ms, "
          f"worst step {worst_step / 1e3:.0f} µs), formatting after {fmt_ns / 1e6:.0f} ms; "
          f"{size / 2**20:.0f} MiB of commands")
    payload = b"".join(_core.serialize_key(b"key:%d" % i) for i in range(nkeys))
    compression(payload)
    seg.close()
    _core.Segment.unlink(seg.name)


def compression(payload):
    """Size and CPU speed of each codec on the payload, in 4 MiB pieces."""
    import zlib
    tries = [("zlib-1", lambda d: zlib.compress(d, 1), zlib.decompress),
             ("zlib-6", lambda d: zlib.compress(d, 6), zlib.decompress)]
    try:
        import lz4.frame
        tries.append(("lz4", lz4.frame.compress, lz4.frame.decompress))
    except ImportError:
        pass
    try:
        import zstandard
        for lvl in (1, 3):
            tries.append((f"zstd-{lvl}", zstandard.ZstdCompressor(level=lvl).compress,
                          zstandard.ZstdDecompressor().decompress))
    except ImportError:
        pass
    chunk = 1 << 22
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    mib = len(payload) / 2**20
    print(f"payload {mib:.1f} MiB")
    for name, comp, decomp in tries:
        t = time.thread_time()
        out = [comp(p) for p in pieces]
        tc = time.thread_time() - t
        t = time.thread_time()
        for o in out:
            decomp(o)
        td = time.thread_time() - t
        total = sum(len(o) for o in out)
        print(f"{name:8s} {total / 2**20:7.1f} MiB ({total / len(payload):.2f} of it)  "
              f"compress {mib / tc:6.0f} MiB/s  decompress {mib / td:6.0f} MiB/s (CPU)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=5_000_000)
    ap.add_argument("--mixed", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--baseline-secs", type=float, default=5.0)
    ap.add_argument("--cachecyt-args", default="")
    ap.add_argument("--costs", action="store_true", help="in-process dump and compression figures")
    ap.add_argument("--shards", type=int, default=64, help="with --costs")
    ap.add_argument("--tree", default=ROOT, help="source tree (built in place) of the cachecyt to run")
    a = ap.parse_args()
    if a.costs:
        return costs(a.keys, a.mixed, a.shards)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [a.tree] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    srv = Server("cachecyt", [sys.executable, "-m", "cachecyt.cli", "server", "--port", str(port),
                              "--workers", str(a.workers), "--save", "", "--memcached-port", "0",
                              "--metrics-port", "0", *shlex.split(a.cachecyt_args)], port, env=env)
    srv.args += ["--dir", srv.dir]
    srv.start()
    try:
        t0 = time.monotonic()
        load(port, a.keys, a.mixed)
        r = redis.Redis(port=port)
        print(f"loaded {r.dbsize()} keys in {time.monotonic() - t0:.1f}s; "
              f"used_memory {r.info('memory')['used_memory'] / 2**20:.0f} MiB")
        base, base_w = phase(port, a.keys, a.clients, lambda: time.sleep(a.baseline_secs))
        pids = srv.pids()
        mem0 = anon_kb(pids)
        peak = [mem0]
        done = {}

        def snapshot():
            saves = r.info("persistence")["rdb_saves"]
            t = time.monotonic()
            r.bgsave()
            while r.info("persistence")["rdb_saves"] <= saves:
                peak[0] = max(peak[0], anon_kb(pids))
                time.sleep(0.01)
            done["secs"] = time.monotonic() - t
            done["ok"] = r.info("persistence")["rdb_last_bgsave_status"]

        during, during_w = phase(port, a.keys, a.clients, snapshot)
        size = os.path.getsize(os.path.join(srv.dir, "dump.ccyt"))
        print(f"snapshot: {done['secs']:.2f}s, status {done['ok']}, file {size / 2**20:.0f} MiB, "
              f"extra private memory (peak) {(peak[0] - mem0) / 1024:.0f} MiB")
        for name, lat in (("without snapshot", base), ("during snapshot", during),
                          ("SETs without", base_w), ("SETs during", during_w)):
            p = percentiles(lat)
            print(f"{name:18s} n={p['n']:7d} p50 {p['p50']:.3f} ms  p99 {p['p99']:.3f} ms  "
                  f"p99.9 {p['p99.9']:.3f} ms  max {p['max']:.1f} ms")
        with open(srv.log_path, errors="replace") as f:
            slow = [ln.rstrip() for ln in f if "snapshot" in ln]
        for ln in slow[:12]:
            print("log:", ln)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
