"""A pipelining load generator for the memcached text protocol (and RESP, to compare).

    python tools/mcload.py --port P [--protocol memcached|resp] [--test get|set]
                           [--connections 50] [--depth 16] [--requests N | --duration S]
                           [--keyspace 100000] [--data-size 100] [--preload] [--json]

N connections to a loopback server, each keeping `depth` requests in flight: it
writes `depth` requests, then one more for every reply it reads (replies read in
one go are answered with one write). Keys are `key:NNNNNNNNNNNN` drawn uniformly
from the keyspace, values `data-size` bytes; `--preload` first stores every key
so that each get hits. A reply that is not the expected hit or stored answer
stops the run with an error.

Latency is per request, from the write that carried it to the read that
completed its reply (time.perf_counter_ns). Reports ops/s and p50/p99 in ms.
The run is bounded: a fixed request count, or a duration (at most an hour), and
a stall of 10 s with no reply aborts it. Loopback only. Standard library +
uvloop (asyncio when uvloop is missing)."""
import argparse
import asyncio
import ipaddress
import json
import random
import socket
import sys
import time

STALL_SECONDS = 10.0
MAX_DURATION = 3600.0
MAX_REQUESTS = 100_000_000


def key(i):
    return b'key:%012d' % i


# ---- the two protocols ------------------------------------------------------------

class Memcached:
    """Request encoders and fixed-size expected replies for the memcached text protocol."""

    def __init__(self, size):
        self.value = b'v' * size
        self.size = size
        hit = len(b'VALUE ') + 16 + len(b' 0 %d\r\n' % size) + size + 2 + len(b'END\r\n')
        self.replies = {'get': (b'VALUE ', hit), 'set': (b'STORED\r\n', 8)}

    def request(self, test, i):
        if test == 'get':
            return b'get key:%012d\r\n' % i
        return b'set key:%012d 0 0 %d\r\n%s\r\n' % (i, self.size, self.value)


class Resp:
    """The same for RESP: GET key / SET key value as multibulk requests. Test
    'multi' is a transaction counted as one request: MULTI, SET of a key, GET of
    another (two shards in general), EXEC; its replies have a fixed size too."""

    def __init__(self, size):
        self.value = b'v' * size
        self.size = size
        hit = len(b'$%d\r\n' % size) + size + 2
        multi = len(b'+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n') + hit
        self.replies = {'get': (b'$%d\r\n' % size, hit), 'set': (b'+OK\r\n', 5),
                        'multi': (b'+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$', multi)}
        self.keyspace = 1

    def request(self, test, i):
        if test == 'get':
            return b'*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n' % i
        if test == 'multi':
            j = (i * 7919 + 1) % self.keyspace          # another preloaded key: GET hits
            return (b'*1\r\n$5\r\nMULTI\r\n' + self.request('set', i) + self.request('get', j)
                    + b'*1\r\n$4\r\nEXEC\r\n')
        return b'*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n' % (i, self.size, self.value)


PROTOCOLS = {'memcached': Memcached, 'resp': Resp}


# ---- the load -----------------------------------------------------------------------

class Run:
    """What the connections share: the request budget, the deadline, the latencies."""

    def __init__(self, args, proto, loop):
        self.args = args
        self.proto = proto
        self.loop = loop
        self.remaining = args.requests if not args.duration else MAX_REQUESTS
        self.deadline = time.monotonic() + args.duration if args.duration else None
        self.latencies = []
        self.open = 0
        self.done = loop.create_future()
        self.last_reply = time.monotonic()

    def take(self, n):
        """How many of n more requests may be sent (0 once the budget or time is spent)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.remaining = 0
        n = min(n, self.remaining)
        self.remaining -= n
        return n

    def fail(self, msg):
        if not self.done.done():
            self.done.set_exception(RuntimeError(msg))

    def closed(self):
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class LoadConnection(asyncio.Protocol):
    def __init__(self, run):
        self.run = run
        self.test = run.args.test
        self.prefix, self.reply_len = run.proto.replies[self.test]
        self.keyspace = run.args.keyspace
        self.sent = []          # send time of each request in flight, oldest first
        self.head = 0
        self.buf = b''
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send(self.run.take(self.run.args.depth))

    def send(self, n):
        if n == 0:
            if self.head == len(self.sent):
                self.transport.close()
            return
        req = self.run.proto.request
        rnd = random.randrange
        ks = self.keyspace
        self.transport.write(b''.join(req(self.test, rnd(ks)) for _ in range(n)))
        now = time.perf_counter_ns()
        self.sent.extend([now] * n)

    def data_received(self, data):
        now = time.perf_counter_ns()
        buf = self.buf + data if self.buf else data
        n, pos, size, prefix = 0, 0, self.reply_len, self.prefix
        while len(buf) - pos >= size:
            if not buf.startswith(prefix, pos):
                self.run.fail(f"unexpected reply {bytes(buf[pos:pos + 80])!r}")
                self.transport.close()
                return
            pos += size
            n += 1
        self.buf = buf[pos:]
        if n == 0:
            if self.buf and not prefix.startswith(self.buf[:len(prefix)]):
                self.run.fail(f"unexpected reply {bytes(self.buf[:80])!r}")
                self.transport.close()
            return
        lat = self.run.latencies
        for t in self.sent[self.head:self.head + n]:
            lat.append(now - t)
        self.head += n
        if self.head > 4096:
            del self.sent[:self.head]
            self.head = 0
        self.run.last_reply = time.monotonic()
        self.send(self.run.take(n))

    def connection_lost(self, exc):
        if self.head != len(self.sent):
            self.run.fail(f"connection closed with {len(self.sent) - self.head} requests in flight")
        self.run.closed()


async def watchdog(run):
    while not run.done.done():
        await asyncio.sleep(0.5)
        if time.monotonic() - run.last_reply > STALL_SECONDS:
            run.fail(f"no reply for {STALL_SECONDS:.0f}s")


async def load(args):
    loop = asyncio.get_running_loop()
    run = Run(args, PROTOCOLS[args.protocol](args.data_size), loop)
    run.proto.keyspace = args.keyspace
    transports = []
    start = time.perf_counter()
    try:
        for _ in range(args.connections):
            run.open += 1
            t, _p = await loop.create_connection(lambda: LoadConnection(run), args.host, args.port)
            transports.append(t)
        dog = loop.create_task(watchdog(run))
        try:
            await run.done
        finally:
            dog.cancel()
        elapsed = time.perf_counter() - start
    finally:
        for t in transports:
            t.abort()
    return summary(run.latencies, elapsed)


def summary(latencies, elapsed):
    lat = sorted(latencies)
    n = len(lat)

    def pct(p):
        return lat[min(n - 1, int(p * n))] / 1e6 if n else 0.0
    return {'requests': n, 'seconds': elapsed, 'rps': n / elapsed if elapsed else 0.0,
            'p50': pct(0.50), 'p99': pct(0.99)}


# ---- preload ------------------------------------------------------------------------

def preload(host, port, protocol, nkeys, size, batch=1000):
    """Store key:NNNNNNNNNNNN for 0 <= i < nkeys, pipelined on one connection."""
    proto = PROTOCOLS[protocol](size)
    ok, ok_len = proto.replies['set']
    with socket.create_connection((host, port)) as s:
        for start in range(0, nkeys, batch):
            n = min(batch, nkeys - start)
            s.sendall(b''.join(proto.request('set', i) for i in range(start, start + n)))
            want, got = ok_len * n, b''
            while len(got) < want:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError(f"port {port} closed the connection during preload")
                got += chunk
            if got != ok * n:
                raise RuntimeError(f"port {port}: unexpected preload reply {got[:80]!r}")


# ---- command line -------------------------------------------------------------------

def loopback(host):
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--host', default='127.0.0.1', help='a loopback address (127.0.0.1)')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--protocol', choices=sorted(PROTOCOLS), default='memcached')
    ap.add_argument('--test', choices=['get', 'set', 'multi'], default='get',
                    help="get, set, or (RESP) multi: MULTI, SET, GET, EXEC as one request")
    ap.add_argument('--connections', type=int, default=50, help='connections (50)')
    ap.add_argument('--depth', type=int, default=1, help='requests in flight per connection (1)')
    ap.add_argument('--requests', type=int, default=100000, help='requests in all (100000)')
    ap.add_argument('--duration', type=float, default=0.0, help='seconds instead of a request count')
    ap.add_argument('--keyspace', type=int, default=100000, help='keys used (100000)')
    ap.add_argument('--data-size', type=int, default=100, help='value bytes (100)')
    ap.add_argument('--preload', action='store_true', help='store every key before the run')
    ap.add_argument('--json', action='store_true', help='print the result as one JSON object')
    args = ap.parse_args(argv)
    if args.test == 'multi' and args.protocol != 'resp':
        ap.error("--test multi needs --protocol resp")
    if not loopback(args.host):
        ap.error(f"--host {args.host} is not a loopback address")
    if not (1 <= args.connections <= 10000 and 1 <= args.depth <= 10000 and args.keyspace >= 1):
        ap.error("--connections and --depth must be 1..10000, --keyspace at least 1")
    if not (0 < args.requests <= MAX_REQUESTS and 0 <= args.duration <= MAX_DURATION):
        ap.error(f"--requests must be 1..{MAX_REQUESTS}, --duration 0..{MAX_DURATION:.0f}")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    try:
        if args.preload:
            preload(args.host, args.port, args.protocol, args.keyspace, args.data_size)
        res = asyncio.run(load(args))
    except (RuntimeError, OSError) as e:
        print(f"mcload: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{args.protocol} {args.test} c{args.connections} P{args.depth}: {res['requests']} requests "
              f"in {res['seconds']:.2f}s, {res['rps']:,.0f} ops/s, p50 {res['p50']:.3f} ms, "
              f"p99 {res['p99']:.3f} ms")
    return 0


if __name__ == '__main__':
    sys.exit(main())
