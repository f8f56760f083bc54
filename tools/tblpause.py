"""How long one SET waits when it makes its shard's table grow, in one process;
or, with --server, GET latency on a node while new keys pour in.

    python tools/tblpause.py [--shards 4] [--keys 1600000] [--step N]
    python tools/tblpause.py --server [--baseline DIR] [--keys 7000000]

Makes a private segment with a few shards, SETs keys one request at a time and
times each request (thread CPU time, so that other processes on a shared
machine do not count). The slowest requests are the ones that grew a
table; each is printed with the slots it grew to. With S shards and K keys per
shard this is the pause a node with 64 shards sees at 64*K keys. Also prints the
99th and 99.9th percentile.

With --server, a node (2 workers, from this tree and then from the baseline
tree DIR if given) gets --keys SETs of new keys
(one connection, pipelines of 1000, paced at --rate keys/s so that the
node is not saturated) while one redis-py connection sends GETs one at a time
and times each (wall clock: a shared machine adds its own noise, so compare
the two builds in the same run). Prints the GET latency percentiles, the
maximum and how many took over 1 ms and 5 ms, and the commands the node
itself timed over 1 ms (SLOWLOG, which counts no queueing). Not shipped: a developer tool."""
import argparse
import os
import sys
import time
import uuid

from cachecyt import _core, config
from cachecyt.commands import registry


LOADER = r'''
import socket, sys, time
port, n, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(('127.0.0.1', port))
batch, start, done = 1000, time.monotonic(), 0
while done < n:
    s.sendall(b''.join(b'*3\r\n$3\r\nSET\r\n$14\r\nkey:%010d\r\n$1\r\nv\r\n' % (done + i)
                       for i in range(batch)))
    got = 0
    while got < batch:
        got += s.recv(65536).count(b'\n')
    done += batch
    ahead = done / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
'''


def server_run(root, name, nkeys, rate):
    """GET latencies (ns) on a node from tree `root` while nkeys SETs of new keys run."""
    import subprocess

    import bench
    import redis
    started = []
    try:
        server = bench.start_cachecyt(2, started=started, root=root, name=name)
        r = redis.Redis(port=server.port)
        r.set('probe', 'x')
        r.config_set('slowlog-log-slower-than', 1000)
        r.config_set('slowlog-max-len', 100000)
        load = subprocess.Popen([sys.executable, '-c', LOADER, str(server.port), str(nkeys), str(rate)])
        times = []
        clock = time.perf_counter_ns
        while load.poll() is None:
            t0 = clock()
            r.get('probe')
            times.append(clock() - t0)
        keys = r.dbsize()
        slow = [e['duration'] for e in r.slowlog_get(100000)]
        return times, keys, slow
    finally:
        for s in started:
            s.stop()


def server_main(args):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    trees = [('this', os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
    if args.baseline:
        trees.append(('base', os.path.abspath(args.baseline)))
    for name, root in trees:
        times, keys, slow = server_run(root, name, args.keys, args.rate)
        times.sort()
        n = len(times)
        print(f"{name}: {n} GETs during {args.keys} SETs ({keys} keys): p50 {times[n // 2] / 1e3:.0f} us, "
              f"p99 {times[n * 99 // 100] / 1e3:.0f} us, p99.9 {times[n * 999 // 1000] / 1e3:.0f} us, "
              f"max {times[-1] / 1e6:.1f} ms, >1 ms: {sum(t > 1e6 for t in times)}, "
              f">5 ms: {sum(t > 5e6 for t in times)}; commands the node timed over 1 ms "
              f"(SLOWLOG): {len(slow)}, over 5 ms: {sum(d > 5000 for d in slow)}, "
              f"longest {max(slow, default=0) / 1e3:.1f} ms", flush=True)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--shards', type=int, default=4)
    ap.add_argument('--keys', type=int, default=1600000)
    ap.add_argument('--server', action='store_true', help='measure GET latency on a node instead')
    ap.add_argument('--baseline', default=None, help='with --server: the other source tree')
    ap.add_argument('--rate', type=int, default=150000, help='with --server: keys loaded per second')
    ap.add_argument('--pages', type=int, default=8192)
    ap.add_argument('--slow', type=int, default=500, help='print requests over this many us')
    ap.add_argument('--step', type=int, default=None, help='slots copied per step of a table build')
    args = ap.parse_args(argv)
    if args.server:
        return server_main(args)
    name = f"/cachecyt-tblpause-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shape = {'shards': args.shards, 'databases': 16, 'pages': args.pages,
             'settings': config.header_settings(config.Config())}
    seg = _core.Segment.create(name, shape, b'{}')
    try:
        seg.activate(0)
        _core.init_shards()
        registry.install()
        if args.step and hasattr(_core, '_test_table_tuning'):
            _core._test_table_tuning(step=args.step)
        c = _core.Client()
        clock = time.thread_time_ns
        times = []
        slow = []
        for i in range(args.keys):
            req = [b'SET', b'key:%012d' % i, b'v']
            t0 = clock()
            c.call(req)
            dt = clock() - t0
            times.append(dt)
            if dt > args.slow * 1000:
                slow.append((i, dt))
        times.sort()
        n = len(times)
        print(f"{args.keys} SETs, {args.shards} shards: p50 {times[n // 2] / 1e3:.1f} us, "
              f"p99 {times[n * 99 // 100] / 1e3:.1f} us, p99.9 {times[n * 999 // 1000] / 1e3:.1f} us, "
              f"max {times[-1] / 1e6:.2f} ms")
        for i, dt in slow:
            per_shard = (i + 1) / args.shards
            print(f"  SET #{i + 1} (~{per_shard:.0f} keys/shard = ~{per_shard * 64 / 1e6:.1f}M keys "
                  f"on 64 shards): {dt / 1e6:.2f} ms")
    finally:
        seg.close()
        _core.Segment.unlink(name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
