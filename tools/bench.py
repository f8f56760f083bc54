"""Throughput, latency and server CPU of cachecyt next to a stock redis-server.

    python tools/bench.py [--rounds 3] [--quick] [--workers N] [--markdown] [--memcached]
                          [--baseline DIR [--baseline-args ARGS]] [--cachecyt-args ARGS]
                          [--tls] [--acl]

Starts cachecyt (the default configuration on a free loopback port) and
redis-server (no persistence) on free loopback ports, stores the same keyspace in
both (`key:NNNNNNNNNNNN` -> 100-byte value, the keys `redis-benchmark -r` picks,
so every GET hits), then runs redis-benchmark against each, interleaved, for every
test and pipeline depth, several rounds, and prints the medians.

Server CPU per request is the utime + stime the server process and all its
descendants (cachecyt's workers) spent during a run, read from /proc/<pid>/stat
before and after, divided by the run's requests. On a small machine the load
generator competes with the server for cores, so ops/s moves with whatever else
runs; CPU per request is the steadier figure.

With --memcached the comparison is on the memcached text protocol instead:
cachecyt (with a free --memcached-port) next to a stock `memcached -t 2 -U 0
-m 1024`, both preloaded with the same keys over that protocol, and the load
comes from tools/mcload.py (redis-benchmark speaks only RESP; memcaslap cannot
pipeline): the same connections, depths, value size and keyspace.

Test `multi` (--tests multi) measures transactions: each request is MULTI, SET
of one key, GET of another, EXEC, sent by tools/mcload.py over RESP (redis-benchmark
sends one command per request); ops/s and CPU are per transaction.

With --baseline DIR the comparison is between two builds of cachecyt instead:
the one in DIR (a checkout built in place, e.g. `git archive` of an earlier
commit plus `python setup.py build_ext --inplace`) named "base", and this one;
--cachecyt-args and --baseline-args add server flags to either (e.g. a feature
switched off), so an overhead is measured in one interleaved run.

With --tls the load goes to each server's TLS port (a self-signed P-256
certificate made with openssl for the run, no client certificates) through
redis-benchmark --tls; the keyspace is preloaded over the plain ports.

With --acl each server is measured twice in the same run: as the default user
(every permission: cachecyt skips its check) and as a user restricted by key
patterns (`+@all ~key:* ~other:*`, so every command is checked: its keys
against the patterns). The table gives both and their ratio per server.

With --persistence the table is SET with the WAL off/everysec/always beside
redis-server's AOF no/everysec/always, plus cachecyt's CPU per request and the
off run's CPU over it (the ratio to "off" the CPU alone allows: steadier than
ops/s on a shared machine).

Both servers are stopped at the end, whatever happens. Not shipped: a developer
tool that only needs redis-server and redis-benchmark (or memcached) on PATH."""
import argparse
import atexit
import csv
import io
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import mcload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf('SC_CLK_TCK')


# ---- servers ----------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


PING = (b"PING\r\n", b"+PONG")
VERSION = (b"version\r\n", b"VERSION ")


def wait_for_ping(port, proc, timeout=20.0, probe=PING):
    """Until the server answers `probe` (a request and its reply's start) on port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
                s.sendall(probe[0])
                if s.recv(64).startswith(probe[1]):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer {probe[0].strip().decode()} within {timeout}s")


def make_certificate(tmp):
    """A self-signed certificate and key for 127.0.0.1 in tmp: (cert, key)."""
    cert, key = os.path.join(tmp, 'cert.pem'), os.path.join(tmp, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
                    '-days', '2', '-subj', '/CN=127.0.0.1'], check=True, capture_output=True)
    return cert, key


def tls_flags(port, cert, key):
    """Server flags of a TLS port (the same for cachecyt and redis-server)."""
    return ['--tls-port', str(port), '--tls-cert-file', cert, '--tls-key-file', key,
            '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no']


ACL_USER = ['bench', 'benchpw']
ACL_RULES = ['on', '>' + ACL_USER[1], '+@all', '~key:*', '~other:*']


class AsUser:
    """The same server, with the load authenticated as the restricted user."""

    def __init__(self, server, rules=None):
        self.server = server
        self.name = server.name + '+acl'
        self.port = server.port
        self.auth = ['--user', ACL_USER[0], '-a', ACL_USER[1]]
        with socket.create_connection(('127.0.0.1', server.preload_port)) as s:
            words = [w.encode() for w in ['ACL', 'SETUSER', ACL_USER[0], *(rules or ACL_RULES)]]
            s.sendall(b'*%d\r\n' % len(words) +
                      b''.join(b'$%d\r\n%s\r\n' % (len(w), w) for w in words))
            if not s.recv(64).startswith(b'+OK'):
                raise RuntimeError(f"{server.name}: ACL SETUSER failed")

    def cpu_seconds(self):
        return self.server.cpu_seconds()

    def stop(self):
        pass


class Server:
    """A server child process in its own session, so it and its children stop together."""

    def __init__(self, name, args, port, env=None, probe=PING):
        self.name = name
        self.probe = probe
        self.args = args
        self.port = port
        self.env = env
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix=f'bench-{name}-')
        self.log_path = os.path.join(self.dir, 'server.log')
        self.preload_port = port      # the plain port (port may become a TLS port)
        self.tls = False
        self.auth = []

    def start(self):
        with open(self.log_path, 'w') as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.dir, env=self.env, start_new_session=True)
        try:
            wait_for_ping(self.port, self.proc, probe=self.probe)
        except RuntimeError as e:
            with open(self.log_path, errors='replace') as f:
                raise RuntimeError(f"{self.name}: {e}\n{f.read()[-2000:]}") from None
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def pids(self):
        """The server process and every descendant (cachecyt's workers)."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for tid in os.listdir(f'/proc/{pid}/task'):
                    with open(f'/proc/{pid}/task/{tid}/children') as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return out

    def cpu_seconds(self):
        """utime + stime of the process tree, in seconds, by pid (a pid that
        leaves between two readings must not count against the next run)."""
        out = {}
        for pid in self.pids():
            try:
                with open(f'/proc/{pid}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            # fields[0] is field 3 (state); utime and stime are fields 14 and 15
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out


def _data_dir():
    """A fresh data directory, removed when the tool exits."""
    d = tempfile.mkdtemp(prefix='cachecyt-bench-data-')
    atexit.register(shutil.rmtree, d, True)
    return d


def start_cachecyt(workers, memcached=False, started=None, root=ROOT, name='cachecyt', extra=()):
    """cachecyt (from the source tree `root`) on a free port; with memcached=True
    its memcached port becomes server.port (the one the load goes to) once that
    port answers too. The server joins `started` before it starts, so a failed
    start is stopped too."""
    port, mc_port = free_port(), free_port() if memcached else 0
    # like the redis-server beside it: no snapshots (save ''), its own data
    # directory, no metrics endpoint; `extra` may turn any of them back on
    args = [sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(port),
            '--memcached-port', str(mc_port), '--save', '', '--metrics-port', '0',
            '--dir', _data_dir(), *extra]
    if workers:
        args += ['--workers', str(workers)]
    env = dict(os.environ)
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    server = Server(name, args, port, env)
    if started is not None:
        started.append(server)
    server.start()
    if memcached:
        wait_for_ping(mc_port, server.proc, probe=VERSION)
        server.port = mc_port
    return server


def start_memcached(started):
    port = free_port()
    args = ['memcached', '-t', '2', '-p', str(port), '-l', '127.0.0.1', '-U', '0', '-m', '1024']
    if os.geteuid() == 0:
        args += ['-u', 'nobody']      # memcached refuses to run as root
    server = Server('memcached', args, port, probe=VERSION)
    started.append(server)
    return server.start()


def memcached_version():
    out = subprocess.run(['memcached', '-V'], check=False, capture_output=True, text=True).stdout
    return out.split()[-1] if out.split() else '?'


def start_redis(extra=('--appendonly', 'no'), name='redis'):
    port = free_port()
    args = ['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
            '--daemonize', 'no', *extra]
    return Server(name, args, port).start()


# ---- persistence comparison (--persistence) -------------------------------------------

FSYNC_MODES = ['no', 'everysec', 'always']


def start_persistence_servers(args, servers, tmp):
    """cachecyt and redis-server with the WAL/AOF off, everysec and always,
    each writing into its own directory under tmp."""
    for mode in FSYNC_MODES:
        d = os.path.join(tmp, f"cachecyt-{mode}")
        os.makedirs(d)
        flags = ['--dir', d, '--save', '']
        flags += ['--appendonly', 'no'] if mode == 'no' else ['--appendonly', 'yes', '--appendfsync', mode]
        start_cachecyt(args.workers, started=servers, extra=flags, name=f"cachecyt-{mode}")
    for mode in FSYNC_MODES:
        d = os.path.join(tmp, f"redis-{mode}")
        os.makedirs(d)
        flags = ['--dir', d]
        flags += ['--appendonly', 'no'] if mode == 'no' else ['--appendonly', 'yes', '--appendfsync', mode]
        servers.append(start_redis(flags, name=f"redis-{mode}"))


def persistence_rows(results, args):
    rows = []
    for pipeline in args.pipelines:
        for test in args.tests:
            for mode in FSYNC_MODES:
                c = medians(results[(f"cachecyt-{mode}", test, pipeline)])
                r = medians(results[(f"redis-{mode}", test, pipeline)])
                base = medians(results[("cachecyt-no", test, pipeline)])
                rows.append([test.upper(), str(pipeline), 'off' if mode == 'no' else mode,
                             f"{c['rps']:,.0f}", f"{r['rps']:,.0f}", ratio(c['rps'], r['rps']),
                             ratio(c['rps'], base['rps']),
                             f"{c['p50']:.3f} / {c['p99']:.3f}", f"{r['p50']:.3f} / {r['p99']:.3f}",
                             f"{c['cpu_us']:.2f}", ratio(base['cpu_us'], c['cpu_us'])])
    return rows


PERSISTENCE_COLUMNS = ['test', 'P', 'WAL/AOF', 'cachecyt ops/s', 'redis ops/s', 'ratio',
                       'vs cachecyt off', 'cachecyt p50/p99 ms', 'redis p50/p99 ms',
                       'cachecyt CPU µs/req', 'off CPU / this CPU']


def print_rows(header, rows, markdown, text_columns=3):
    """A table as markdown or aligned text; the first text_columns are left-aligned
    in markdown, the rest are numbers."""
    if markdown:
        print('| ' + ' | '.join(header) + ' |')
        print('|' + '|'.join('---' if i < text_columns else '---:' for i in range(len(header))) + '|')
        for row in rows:
            print('| ' + ' | '.join(row) + ' |')
        return
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    print('  '.join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print('  '.join(v.rjust(w) for v, w in zip(row, widths)))


def redis_version():
    out = subprocess.run(['redis-server', '--version'], check=False, capture_output=True, text=True).stdout
    for part in out.split():
        if part.startswith('v='):
            return part[2:]
    return out.strip()


# ---- keyspace ---------------------------------------------------------------------

def preload(port, nkeys, size, batch=1000):
    """SET key:%012d for 0 <= i < nkeys to a `size`-byte value, pipelined."""
    value = (b'v' * size)
    vhdr = b'$%d\r\n' % size
    with socket.create_connection(('127.0.0.1', port)) as s:
        for start in range(0, nkeys, batch):
            n = min(batch, nkeys - start)
            req = b''.join(b'*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n' % i + vhdr + value + b'\r\n'
                           for i in range(start, start + n))
            s.sendall(req)
            want, got = 5 * n, b''
            while len(got) < want:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError(f"port {port} closed the connection during preload")
                got += chunk
            if got != b'+OK\r\n' * n:
                raise RuntimeError(f"port {port}: unexpected preload reply {got[:80]!r}")
        s.sendall(b'DBSIZE\r\n')
        reply = s.recv(64)
    if reply != b':%d\r\n' % nkeys:
        raise RuntimeError(f"port {port}: DBSIZE after preload is {reply!r}, want {nkeys}")


# ---- runs -------------------------------------------------------------------------

# Tests redis-benchmark has no -t name for: run as a command line (its CSV line
# is named by the command). `publish` goes to a channel nobody listens to: the
# cost of counting receivers. `publish-fanout` has FANOUT subscribers (separate
# processes that read and discard, so on cachecyt they spread over the workers)
# and measures delivery too.
CUSTOM = {'publish': lambda args: ['PUBLISH', 'bench:channel', 'x' * args.data_size],
          'publish-fanout': lambda args: ['PUBLISH', 'bench:fanout', 'x' * args.data_size],
          'eval': lambda args: ['eval', 'return redis.call("ping")', '0'],   # the EVAL case of its --help
          # a script per call that writes / reads one key of the keyspace
          'eval-set': lambda args: ['EVAL', "return redis.call('SET',KEYS[1],ARGV[1])", '1',
                                    'key:__rand_int__', 'x' * args.data_size],
          'eval-get': lambda args: ['EVAL', "return redis.call('GET',KEYS[1])", '1',
                                    'key:__rand_int__']}
FANOUT = 4
_READER = (
    "import socket, sys\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "s.sendall(b'*2\\r\\n$9\\r\\nSUBSCRIBE\\r\\n$12\\r\\nbench:fanout\\r\\n')\n"
    "b = bytearray(1 << 20)\n"
    "while s.recv_into(b):\n"
    "    pass\n")


def start_subscribers(port, n):
    """n reader processes subscribed to bench:fanout; returns once the server counts them."""
    procs = [subprocess.Popen([sys.executable, '-c', _READER, str(port)]) for _ in range(n)]
    deadline = time.monotonic() + 20
    with socket.create_connection(('127.0.0.1', port)) as s:
        while True:
            s.sendall(b'PUBSUB NUMSUB bench:fanout\r\n')
            if s.recv(256).endswith(b':%d\r\n' % n):
                return procs
            if time.monotonic() > deadline:
                stop_subscribers(procs)
                raise RuntimeError(f"port {port}: subscribers never registered")
            time.sleep(0.05)


def stop_subscribers(procs):
    for p in procs:
        p.kill()
        p.wait()


def run_benchmark(server, test, pipeline, args):
    """One redis-benchmark run; returns a dict of rps, p50, p99 (ms) and server µs/request."""
    n = args.requests_pipelined if pipeline > 1 else args.requests
    cmd = ['redis-benchmark', '-h', '127.0.0.1', '-p', str(server.port),
           '-d', str(args.data_size), '-c', str(args.clients), '-r', str(args.keyspace),
           '-n', str(n), '-P', str(pipeline), '--csv', *server.auth]
    if args.tls:
        cmd += ['--tls', '--insecure']
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    cmd += CUSTOM[test](args) if test in CUSTOM else ['-t', test]
    readers = start_subscribers(server.port, FANOUT) if test == 'publish-fanout' else []
    try:
        before = server.cpu_seconds()
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
        after = server.cpu_seconds()
    finally:
        stop_subscribers(readers)
    if out.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed on {server.name}: {out.stderr.strip()}")
    row = parse_csv(out.stdout, test.split('-')[0])
    cpu = sum(after[p] - before.get(p, 0.0) for p in after)
    row['cpu_us'] = cpu * 1e6 / n
    return row


def run_mcload(server, test, pipeline, args):
    """One tools/mcload.py run (memcached protocol, or RESP for the multi test);
    the same dict as run_benchmark."""
    n = args.requests_pipelined if pipeline > 1 else args.requests
    cmd = [sys.executable, os.path.join(ROOT, 'tools', 'mcload.py'), '--port', str(server.port),
           '--protocol', 'memcached' if args.memcached else 'resp',
           '--test', test, '--connections', str(args.clients), '--depth', str(pipeline),
           '--requests', str(n), '--keyspace', str(args.keyspace), '--data-size', str(args.data_size),
           '--json']
    before = server.cpu_seconds()
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    after = server.cpu_seconds()
    if out.returncode != 0:
        raise RuntimeError(f"mcload failed on {server.name}: {out.stderr.strip()}")
    res = json.loads(out.stdout)
    cpu = sum(after[p] - before.get(p, 0.0) for p in after)
    return {'rps': res['rps'], 'p50': res['p50'], 'p99': res['p99'], 'cpu_us': cpu * 1e6 / res['requests']}


def parse_csv(text, test):
    for rec in csv.DictReader(io.StringIO(text)):
        # "LRANGE_100 (first 100 elements)": the name is the first word; a helper
        # line such as "LPUSH (needed to benchmark LRANGE)" is not the test itself
        if rec['test'].split()[0].lower() == test.lower() and '(needed' not in rec['test']:
            return {'rps': float(rec['rps']), 'p50': float(rec['p50_latency_ms']),
                    'p99': float(rec['p99_latency_ms'])}
    raise RuntimeError(f"no {test} line in redis-benchmark output:\n{text}")


def run_all(servers, args):
    """{(server, test, pipeline): [row per round]}; servers alternate who goes first."""
    results = {}
    for rnd in range(args.rounds):
        order = servers if rnd % 2 == 0 else servers[::-1]
        for pipeline in args.pipelines:
            for test in args.tests:
                for server in order:
                    run = run_mcload if args.memcached or test == 'multi' else run_benchmark
                    row = run(server, test, pipeline, args)
                    results.setdefault((server.name, test, pipeline), []).append(row)
                    if args.verbose:
                        print(f"round {rnd + 1} {server.name:8} {test:4} P{pipeline:<3} "
                              f"{row['rps']:>11.0f} ops/s  p50 {row['p50']:.3f}  "
                              f"p99 {row['p99']:.3f} ms  {row['cpu_us']:.2f} µs/req", file=sys.stderr)
    return results


def medians(rows):
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


# ---- report -----------------------------------------------------------------------

def columns(other):
    """The table's header; `other` names the server cachecyt is compared with."""
    return ['test', 'P', 'cachecyt ops/s', f'{other} ops/s', 'ratio', 'cachecyt p50/p99 ms',
            f'{other} p50/p99 ms', 'cachecyt CPU µs/req', f'{other} CPU µs/req', 'CPU ratio']


def acl_rows(results, args, names):
    """Per server: default user vs the restricted user, ops/s and CPU."""
    rows = []
    for pipeline in args.pipelines:
        for test in args.tests:
            for name in names:
                d = medians(results[(name, test, pipeline)])
                a = medians(results[(name + '+acl', test, pipeline)])
                rows.append([test.upper(), str(pipeline), name, f"{d['rps']:,.0f}",
                             f"{a['rps']:,.0f}", ratio(a['rps'], d['rps']), f"{d['cpu_us']:.2f}",
                             f"{a['cpu_us']:.2f}", ratio(a['cpu_us'], d['cpu_us'])])
    return rows


ACL_COLUMNS = ['test', 'P', 'server', 'default ops/s', 'restricted ops/s', 'ratio',
               'default CPU µs/req', 'restricted CPU µs/req', 'CPU ratio']


def table_rows(results, args, other='redis'):
    rows = []
    for pipeline in args.pipelines:
        for test in args.tests:
            c = medians(results[('cachecyt', test, pipeline)])
            r = medians(results[(other, test, pipeline)])
            rows.append([test.upper(), str(pipeline), f"{c['rps']:,.0f}", f"{r['rps']:,.0f}",
                         ratio(c['rps'], r['rps']), f"{c['p50']:.3f} / {c['p99']:.3f}",
                         f"{r['p50']:.3f} / {r['p99']:.3f}", f"{c['cpu_us']:.2f}",
                         f"{r['cpu_us']:.2f}", ratio(c['cpu_us'], r['cpu_us'])])
    return rows


def ratio(a, b):
    """a / b to two places; '-' when b read as zero (a run shorter than a clock tick)."""
    return f"{a / b:.2f}" if b else "-"


def print_table(rows, markdown, other='redis'):
    print_rows(columns(other), rows, markdown, text_columns=2)


def machine(memcached=False):
    model = '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({model}), Linux {os.uname().release}, "
            f"Python {sys.version.split()[0]}, "
            + (f"memcached {memcached_version()}" if memcached else f"redis-server {redis_version()}"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--rounds', type=int, default=3, help='rounds; each figure is the median (3)')
    ap.add_argument('--requests', type=int, default=200000, help='requests per run at pipeline 1')
    ap.add_argument('--requests-pipelined', type=int, default=1000000,
                    help='requests per run at pipeline > 1')
    ap.add_argument('--clients', type=int, default=50, help='connections (redis-benchmark -c)')
    ap.add_argument('--keyspace', type=int, default=100000, help='keys preloaded and used (-r)')
    ap.add_argument('--data-size', type=int, default=100, help='value bytes (-d)')
    ap.add_argument('--pipelines', default='1,16', help='pipeline depths, comma separated')
    ap.add_argument('--tests', default='get,set',
                    help='redis-benchmark tests, comma separated; also eval, eval-set, eval-get, and multi: '
                         'transactions (MULTI, SET, GET, EXEC, one request) from tools/mcload.py')
    ap.add_argument('--workers', type=int, default=0, help='cachecyt workers (0: its default)')
    ap.add_argument('--threads', type=int, default=0, help='redis-benchmark --threads (0: off)')
    ap.add_argument('--quick', action='store_true', help='a fast smoke run: 1 round, few requests')
    ap.add_argument('--markdown', action='store_true', help='print the table as Markdown')
    ap.add_argument('--memcached', action='store_true',
                    help='compare with memcached on the memcached protocol, load from tools/mcload.py')
    ap.add_argument('--baseline', metavar='DIR',
                    help='compare with cachecyt built in DIR ("base") instead of redis-server')
    ap.add_argument('--baseline-args', default='', help='server flags for the baseline cachecyt')
    ap.add_argument('--cachecyt-args', default='', help='server flags for this cachecyt')
    ap.add_argument('--persistence', action='store_true',
                    help='SET with the WAL off/everysec/always next to redis appendonly no/everysec/always')
    ap.add_argument('--tls', action='store_true',
                    help="the load over each server's TLS port (redis-benchmark --tls)")
    ap.add_argument('--acl', action='store_true',
                    help='each server as the default user and as a user restricted by key patterns')
    ap.add_argument('--acl-rules', default='',
                    help='with --acl: the restricted user\'s rules, shell-quoted '
                         '(e.g. "on >benchpw -@all ~none:* \'(+get +set ~key:*)\'")')
    ap.add_argument('-v', '--verbose', action='store_true', help='print every run on stderr')
    args = ap.parse_args(argv)
    if args.persistence and '--tests' not in ' '.join(argv or sys.argv):
        args.tests = 'set'
    if args.quick:
        args.rounds = 1
        args.requests = 20000
        args.requests_pipelined = 100000
        args.keyspace = min(args.keyspace, 10000)
    args.pipelines = [int(p) for p in args.pipelines.split(',')]
    args.tests = [t.strip().lower() for t in args.tests.split(',')]
    if args.memcached and not set(args.tests) <= {'get', 'set'}:
        ap.error("--memcached runs only the get and set tests")
    return args


def main(argv=None):
    args = parse_args(argv)
    servers = []
    other = 'memcached' if args.memcached else 'base' if args.baseline else 'redis'
    mine = shlex.split(args.cachecyt_args)
    tmp = tempfile.mkdtemp(prefix='cachecyt-bench-')
    try:
        if args.persistence:
            start_persistence_servers(args, servers, tmp)
        elif args.memcached:
            start_cachecyt(args.workers, memcached=True, started=servers, extra=mine)
            start_memcached(servers)
        elif args.baseline:
            start_cachecyt(args.workers, started=servers, extra=mine)
            start_cachecyt(args.workers, started=servers, root=os.path.abspath(args.baseline),
                           name='base', extra=shlex.split(args.baseline_args))
        else:
            theirs = ['--appendonly', 'no']
            if args.tls:
                cert, key = make_certificate(tmp)
                mine += tls_flags(free_port(), cert, key)
                theirs += tls_flags(free_port(), cert, key)
            servers.append(start_cachecyt(args.workers, extra=mine))
            servers.append(start_redis(theirs))
            if args.tls:
                for s, flags in zip(servers, (mine, theirs)):
                    s.port = int(flags[flags.index('--tls-port') + 1])
        if args.verbose:
            for s in servers:
                print(f"{s.name} on port {s.port}, pid {s.proc.pid}", file=sys.stderr)
        for s in servers:
            if args.memcached:
                mcload.preload('127.0.0.1', s.port, 'memcached', args.keyspace, args.data_size)
            else:
                preload(s.preload_port, args.keyspace, args.data_size)
        if args.acl:
            rules = shlex.split(args.acl_rules) if args.acl_rules else None
            servers += [AsUser(s, rules) for s in servers]
        results = run_all(servers, args)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(machine(args.memcached) if not args.baseline else machine() + f", base: {args.baseline} "
          f"{args.baseline_args!r}, cachecyt: {args.cachecyt_args!r}")
    tool = 'tools/mcload.py (memcached protocol)' if args.memcached else 'redis-benchmark'
    print(f"{tool} -c {args.clients} -d {args.data_size} -r {args.keyspace}, "
          f"{args.requests} requests (P1) / {args.requests_pipelined} (pipelined), "
          f"median of {args.rounds} round(s)")
    if args.tls:
        print("over TLS (redis-benchmark --tls, self-signed P-256 certificate)")
    if args.persistence:
        print_rows(PERSISTENCE_COLUMNS, persistence_rows(results, args), args.markdown)
    elif args.acl:
        rules = shlex.split(args.acl_rules) if args.acl_rules else ACL_RULES
        print("restricted user: ACL SETUSER " + ' '.join([ACL_USER[0]] + [shlex.quote(r) for r in rules]))
        print_rows(ACL_COLUMNS, acl_rows(results, args, ['cachecyt', other]), args.markdown)
    else:
        print_table(table_rows(results, args, other), args.markdown, other)
    return 0


if __name__ == '__main__':
    sys.exit(main())
