"""Fixtures of the differential tests: the same commands go to cachecyt and to
a real redis-server."""
import pytest


@pytest.fixture(scope='module')
def addrs(server, redis_ref):
    """(cachecyt address, redis-server address)."""
    return server, redis_ref
