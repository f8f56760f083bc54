"""Shared fixtures. Integration tests talk to one cachecyt server per test
process (started once, 2 workers); CACHECYT_TEST_ADDR=host:port points them at
a server that is already running instead."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import CachecytServer, RedisServer  # noqa: E402


@pytest.fixture(scope='session')
def server():
    addr = os.environ.get('CACHECYT_TEST_ADDR')
    if addr:
        host, port = addr.rsplit(':', 1)
        yield (host, int(port))
        return
    srv = CachecytServer(workers=2).start()
    yield ('127.0.0.1', srv.port)
    srv.stop()


@pytest.fixture(scope='session')
def mc_node():
    """A node (2 workers) with its memcached listener on a free port."""
    srv = CachecytServer(workers=2, memcached_port=True).start()
    yield srv
    srv.stop()


@pytest.fixture(scope='module')
def node(request):
    """A node (2 workers) of this test module's own, for tests that change
    node-wide settings; the module's NODE_KW (e.g. {'memcached_port': True})
    starts it with options. A module may define its own `node` instead."""
    srv = CachecytServer(workers=2, **getattr(request.module, 'NODE_KW', {})).start()
    yield srv
    srv.stop()


@pytest.fixture(scope='session')
def redis_ref():
    """A real redis-server to compare replies with."""
    srv = RedisServer().start()
    yield ('127.0.0.1', srv.port)
    srv.stop()


@pytest.fixture
def r(server):
    """redis-py, RESP2, on an emptied node."""
    import redis
    client = redis.Redis(host=server[0], port=server[1], protocol=2)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def r3(server):
    """redis-py, RESP3, on an emptied node."""
    import redis
    client = redis.Redis(host=server[0], port=server[1], protocol=3)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def conns(server):
    """conns(n) -> n raw connections on each worker: ([on worker 0], [on worker 1])."""
    from rawclient import Raw, worker_of
    made = []

    def get(n):
        found = {0: [], 1: []}
        deadline = time.monotonic() + 10
        while (len(found[0]) < n or len(found[1]) < n) and time.monotonic() < deadline:
            c = Raw(server)
            made.append(c)
            w = worker_of(c)
            if len(found[w]) < n:
                found[w].append(c)
        assert len(found[0]) == n and len(found[1]) == n, "connections never reached both workers"
        return found[0], found[1]
    yield get
    for c in made:
        c.close()
