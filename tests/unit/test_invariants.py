"""The invariant walk and the debug-build checks catch real corruption, and the
release build compiles the checks out. (Every core test also ends with the walk.)"""
import os
import subprocess
import sys

import pytest
from conftest import make_segment
from test_locks import ROOT

from cachecyt import _core

DEBUG = _core._test_debug_build()


def walk_errors():
    return _core._test_check_invariants()['errors']


@pytest.fixture
def broken():
    """A segment a test may corrupt: thrown away without the teardown walk."""
    seg = make_segment()
    yield seg
    seg.close()
    _core.Segment.unlink(seg.name)


def test_walk_of_a_healthy_core_is_clean(core):
    for i in range(300):
        _core._test_store(b'k%d' % i, b'v' * i, expire_ms=0 if i % 2 else 10**13)
    report = _core._test_check_invariants()
    assert report == {'errors': [], 'leaked_chunks': 0, 'leaked_pages': 0}


def test_walk_catches_a_wrong_shard_count(broken):
    _core._test_store(b'a', b'1')
    s = _core._test_shard_of(_core._test_hash(b'a'))
    _core._test_corrupt_count(s, 1)
    assert walk_errors() == [f"shard {s}: count 2 != 1 occupied slots"]


def test_walk_catches_a_hole_inside_a_probe_run(broken):
    h = 3 | (2 << 3)                      # shard 3, home 2
    for k in (b'x', b'y', b'z'):
        _core._test_store(k, k, h)
    _core._test_corrupt_clear_slot(3, 2)
    errors = walk_errors()
    assert any('empty slot 2 between the home and the entry' in e for e in errors)
    assert _core._test_find(b'z', h) is None          # what a hole does to lookups
    assert _core._test_check_invariants()['leaked_chunks'] == 1


def test_walk_catches_a_slot_pointing_at_a_freed_chunk(broken):
    _core._test_store(b'gone', b'v')
    s = _core._test_shard_of(_core._test_hash(b'gone'))
    slot = _core._test_shard_info(s)['entries'][0][0]
    item = _core._test_slot_item(s, slot)
    _core._test_free(item)
    assert any(f'offset {item} is not a live chunk' in e for e in walk_errors())


def test_walk_catches_allocator_books_that_disagree(broken):
    off = _core._test_alloc(100)
    _core._test_write(off, b'\0\0\0\0')
    _core._test_free(off)
    _core._test_write(off, b'\x05\0\0\0')              # a free list pointing past the bump
    assert any('free list is broken' in e for e in walk_errors())


def run_child(body):
    """Run body in a child on a fresh segment; the segment is removed here, since
    a child that aborts cannot remove it."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = ("import sys; sys.path.insert(0, 'tests/unit')\n"
            "from conftest import make_segment\nfrom cachecyt import _core\n"
            "seg = make_segment()\nprint(seg.name, flush=True)\n" + body + "\n")
    proc = subprocess.run([sys.executable, '-c', code], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.stdout:
        _core.Segment.unlink(proc.stdout.split('\n', 1)[0])
    return proc


@pytest.mark.skipif(not DEBUG, reason="needs the CACHECYT_DEBUG=1 build")
def test_debug_build_aborts_on_a_double_free():
    proc = run_child("keep = _core._test_alloc(100)\noff = _core._test_alloc(100)\n"
                     "_core._test_free(off)\n_core._test_free(off)")
    assert proc.returncode == -6, proc.stderr
    assert 'invariant violated: slab_free: chunk freed twice' in proc.stderr


@pytest.mark.skipif(not DEBUG, reason="needs the CACHECYT_DEBUG=1 build")
def test_debug_build_aborts_on_a_free_of_a_never_allocated_chunk():
    proc = run_child("off = _core._test_alloc(100)\n_core._test_free(off + 4 * 112)")
    assert proc.returncode == -6, proc.stderr
    assert 'chunk was never handed out' in proc.stderr


@pytest.mark.skipif(not DEBUG, reason="needs the CACHECYT_DEBUG=1 build")
def test_debug_build_aborts_on_a_table_access_without_the_lock():
    proc = run_child("_core._test_store(b'k', b'v')\n_core._test_find_unlocked(b'k')")
    assert proc.returncode == -6, proc.stderr
    assert 'ran without its shard lock' in proc.stderr


@pytest.mark.skipif(DEBUG, reason="checks the release build")
def test_release_build_compiles_the_checks_out():
    """The same double free goes unnoticed in the release build: the checks cost
    nothing there (the walk still sees the damage)."""
    proc = run_child("off = _core._test_alloc(100)\n_core._test_free(off)\n_core._test_free(off)\n"
                     "print(_core._test_check_invariants()['errors'])")
    assert proc.returncode == 0, proc.stderr
    assert 'invariant violated' not in proc.stderr
    assert 'free list is broken at chunk 0' in proc.stdout
