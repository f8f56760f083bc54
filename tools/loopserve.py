"""A one-process RESP server for counting the instructions of the request path
through the event loop: a private segment, the worker's Connection protocol on
uvloop, one listening port, nothing else (no supervisor, no cron, no signals).

    valgrind --tool=callgrind --toggle-collect=uv__io_poll python tools/loopserve.py PORT &
    redis-benchmark -p PORT -t get -c 1 -P 1 -n 2000        # warm up
    callgrind_control -z; redis-benchmark -p PORT -t get -c 1 -P 1 -n 20000
    callgrind_control -d                                     # Ir / 20000 = per request

What is collected is everything the loop runs for a socket event (uvloop, the
protocol callbacks, parsing, the command, the write), in user space only: the
kernel's share is the same system calls for every build. Not shipped: a
developer tool (docs/BENCHMARKS.md, "Pipeline 1: the event path")."""
import asyncio
import os
import sys
import uuid

import uvloop

from cachecyt import _core, config
from cachecyt.commands import registry, server
from cachecyt.workers.connection import Connection


def main():
    port = int(sys.argv[1])
    name = f"/cachecyt-loopserve-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    cfg = config.Config()
    shape = {'shards': 64, 'databases': 16, 'pages': 4096,
             'settings': config.header_settings(cfg)}
    seg = _core.Segment.create(name, shape, b'{}')
    try:
        seg.activate(0)
        _core.init_shards()
        registry.install()
        server.NODE.configure(cfg, 0, 1, port, ())
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(loop.create_server(Connection, '127.0.0.1', port))
        print("ready", flush=True)
        try:
            loop.run_forever()
        except KeyboardInterrupt:
            pass
        srv.close()
    finally:
        seg.close()
        _core.Segment.unlink(name)


if __name__ == '__main__':
    main()
