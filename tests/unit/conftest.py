"""Unit tests of the core run against a private segment in this process: no
sockets, no server. Each test gets a fresh segment, unlinked afterwards."""
import os
import uuid

import pytest

from cachecyt import _core, config
from cachecyt.commands import registry, server


def make_segment(shards=8, databases=16, pages=256, **settings):
    name = f"/cachecyt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    base = config.header_settings(config.Config())     # the built-in defaults
    base.update(settings)
    shape = {'shards': shards, 'databases': databases, 'pages': pages, 'settings': base}
    seg = _core.Segment.create(name, shape, b'{}')
    seg.activate(0)
    _core.init_shards()
    return seg


@pytest.fixture
def core():
    """A fresh segment, made current for the core functions of this process."""
    seg = make_segment()
    registry.install()
    server.NODE = server.Node()
    yield seg
    try:
        _core.lazyfree_wait()          # UNLINK's frees finish before the walk and the unmap
        assert_core_sound()
    finally:
        seg.close()
        _core.Segment.unlink(seg.name)


def assert_core_sound(leaks_allowed=False):
    """Every table and the allocator pass the invariant walk, and the allocator
    balances: used_memory is exactly the live chunks, none of them unreachable."""
    report = _core._test_check_invariants()
    assert report['errors'] == []
    if not leaks_allowed:
        assert report['leaked_chunks'] in (0, None), report
        assert report['leaked_pages'] == 0, report
    return report


@pytest.fixture
def client(core):
    """A Client with no transport: client.call([b'SET', b'k', b'v']) -> reply bytes."""
    return _core.Client()


@pytest.fixture
def wal(core):
    """A Client on a segment with a WAL ring (4 pages, appendfsync everysec);
    the records it appends are read with _core.ring_take."""
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    _core.persist_create(4, efd, True, 1)
    yield _core.Client()
    os.close(efd)
