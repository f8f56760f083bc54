"""CPU per EVAL of the scripting path alone, in one process (no sockets).

    python tools/evalbench.py [one|ping|get|set ...] [--calls 20000]

Makes a private segment, attaches scripting to it, then feeds one Client 16
pipelined EVALs at a time (Client.feed) and prints the best of 5 rounds in CPU
microseconds per EVAL. The first EVAL compiles the script; the rest run from
the compiled-script cache (scripting/luacall.pxi), so this measures that path:
what tools/corebench.py is for GET and SET. Not shipped: a developer tool."""
import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cachecyt import _core, config                       # noqa: E402
from cachecyt.commands import registry                   # noqa: E402
from cachecyt.scripting import commands as scripting     # noqa: E402
from cachecyt.scripting import store                     # noqa: E402

SCRIPTS = {'one': b"return 1", 'ping': b"return redis.call('ping')",
           'get': b"return redis.call('GET',KEYS[1])",
           'set': b"return redis.call('SET',KEYS[1],ARGV[1])"}


def request(body, i):
    args = [b'EVAL', body, b'1', b'key:%06d' % i, b'v' * 100]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def measure(client, body, calls):
    batch = b''.join(request(body, i) for i in range(16))
    client.feed(batch)
    best = float('inf')
    for _ in range(5):
        t = time.process_time()
        for _ in range(calls // 16):
            client.feed(batch)
        best = min(best, (time.process_time() - t) / calls * 1e6)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('scripts', nargs='*', default=list(SCRIPTS), help=', '.join(SCRIPTS))
    ap.add_argument('--calls', type=int, default=20000)
    args = ap.parse_args()
    if set(args.scripts) - set(SCRIPTS):
        ap.error(f"scripts are {', '.join(SCRIPTS)}")
    name = f"/cachecyt-evalbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shape = {'shards': 64, 'databases': 16, 'pages': 4096,
             'settings': config.header_settings(config.Config())}
    seg = _core.Segment.create(name, shape, b'{}')
    try:
        seg.activate(0)
        _core.init_shards()
        registry.install()
        scripting.attach(name)
        client = _core.Client()
        for which in args.scripts:
            print(f"{which}: {measure(client, SCRIPTS[which], args.calls):.2f} CPU µs per EVAL")
    finally:
        scripting.attach(None)
        seg.close()
        _core.Segment.unlink(name)
        store.remove_files(name)


if __name__ == '__main__':
    main()
