"""GET/SET throughput of cachecyt under eviction, one policy against another in
the same run: the cost of a policy's bookkeeping on the request path.

    python tools/traces_bench.py [--policies allkeys-lru,allkeys-adaptive] [--rounds 3]
                                 [--requests 200000] [--keyspace 200000] [--pipeline 16]

Starts cachecyt on a free loopback port with maxmemory holding about half the
keyspace (so SETs evict and GETs miss half the time), then, each round and for
each policy in turn (CONFIG SET maxmemory-policy, FLUSHALL), runs redis-benchmark
-t set,get over a random keyspace and prints the median requests per second and
each policy's ratio to the first one. The server is stopped at the end. Not
shipped: a developer tool that needs redis-benchmark on PATH."""
import argparse
import csv
import io
import statistics
import subprocess

import redis
from traces_replay import start_cachecyt


def run_benchmark(port, args):
    out = subprocess.run(['redis-benchmark', '-p', str(port), '-t', 'set,get', '-n', str(args.requests),
                          '-r', str(args.keyspace), '-d', str(args.data_size), '-c', str(args.clients),
                          '-P', str(args.pipeline), '--csv', '-q'],
                         check=True, capture_output=True, text=True).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] in ('SET', 'GET')]
    return {r[0]: float(r[1]) for r in rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--policies', default='allkeys-lru,allkeys-adaptive')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--requests', type=int, default=200000)
    ap.add_argument('--keyspace', type=int, default=200000)
    ap.add_argument('--data-size', type=int, default=100)
    ap.add_argument('--clients', type=int, default=50)
    ap.add_argument('--pipeline', type=int, default=16)
    ap.add_argument('--workers', type=int, default=2)
    args = ap.parse_args(argv)
    policies = args.policies.split(',')
    proc, port = start_cachecyt(args.workers)
    results = {p: {'SET': [], 'GET': []} for p in policies}
    try:
        r = redis.Redis(port=port)
        r.config_set('maxmemory', 0)
        p = r.pipeline(transaction=False)
        for i in range(2000):
            p.set(b'probe:%d' % i, b'x' * args.data_size)
        base = r.info('memory')['used_memory']
        p.execute()
        per_key = (r.info('memory')['used_memory'] - base) / 2000
        r.flushall()
        limit = int(r.info('memory')['used_memory'] + per_key * args.keyspace / 2)
        for _ in range(args.rounds):
            for policy in policies:
                r.config_set('maxmemory', 0)
                r.flushall()
                r.config_set('maxmemory-policy', policy)
                r.config_set('maxmemory', limit)
                got = run_benchmark(port, args)
                for t in ('SET', 'GET'):
                    results[policy][t].append(got.get(t, 0.0))
        r.close()
    finally:
        proc.terminate()
        proc.wait(10)
    first = policies[0]
    print(f'{"policy":18} {"SET rps":>10} {"GET rps":>10} {"SET x":>6} {"GET x":>6}')
    for policy in policies:
        s = statistics.median(results[policy]['SET'])
        g = statistics.median(results[policy]['GET'])
        s0 = statistics.median(results[first]['SET'])
        g0 = statistics.median(results[first]['GET'])
        print(f'{policy:18} {s:10.0f} {g:10.0f} {s / s0:6.3f} {g / g0:6.3f}')
    return results


if __name__ == '__main__':
    main()
