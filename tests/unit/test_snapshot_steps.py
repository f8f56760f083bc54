"""Snapshots in steps (shm/snapshot.pxi, docs/adr/0016-snapshot-in-steps.md),
in-process: the dumper walks a shard a step at a time and, between its steps,
keys are overwritten, appended to, deleted (entries shift back behind the
walk) and added (the table grows and the walk starts over). The commands the
snapshot holds must rebuild the keyspace of the snapshot point exactly:
every key of that instant once, with its value of that instant, and no key
made after it."""
import os
import random
import time

import pytest

from cachecyt import _core
from conftest import make_segment


@pytest.fixture
def one_shard(tmp_path):
    """A segment of one shard (a big table walked in many steps), with the
    persistence state the snapshot needs."""
    from cachecyt.commands import registry, server
    seg = make_segment(shards=1, pages=1024)
    registry.install()
    server.NODE = server.Node()
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    _core.persist_create(0, efd, False, 1)
    _core.snap_set_dir(str(tmp_path))
    yield _core.Client(), tmp_path
    os.close(efd)
    _core._test_check_invariants()
    seg.close()
    _core.Segment.unlink(seg.name)


def parse(stream):
    """[(command, args)] of a RESP command stream."""
    out, pos = [], 0
    while pos < len(stream):
        assert stream[pos:pos + 1] == b"*"
        end = stream.index(b"\r\n", pos)
        n = int(stream[pos + 1:end])
        pos = end + 2
        args = []
        for _ in range(n):
            end = stream.index(b"\r\n", pos)
            ln = int(stream[pos + 1:end])
            args.append(stream[end + 2:end + 2 + ln])
            pos = end + 2 + ln + 2
        out.append(args)
    return out


def snapshot_state(payloads):
    """{key: value or list} rebuilt from the snapshot's commands; a key
    given twice fails the test (each key must be copied exactly once)."""
    state = {}
    for payload in payloads:
        for args in parse(payload):
            cmd = args[0].upper()
            if cmd == b"SELECT":
                assert args[1] == b"0"
                continue
            assert args[1] not in state, f"{args[1]!r} is in the snapshot twice"
            assert cmd in (b"SET", b"RPUSH"), cmd
            state[args[1]] = args[2] if cmd == b"SET" else args[2:]
    return state


def take_snapshot(client, folder, between_steps):
    """Walk the shard with a step per sink call, running between_steps()
    after each; returns the snapshot's payloads (walk, then copies)."""
    payloads = []
    _core.snap_point(int(time.time() * 1000))

    def sink(data):
        payloads.append(data)
        between_steps()

    _core.snap_dump_shard(0, sink, 1)
    _core.snap_flush_parts()
    deadline = time.time() + 10
    while _core.snap_copies_state()[0]:
        assert time.time() < deadline
        time.sleep(0.005)
    assert _core.snap_state()[:2] == (1, 0)            # no failure, every shard walked
    _core.snap_end()
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            commands, used = _core.snap_format_copies(f.read())
        assert used == os.path.getsize(os.path.join(folder, name))
        payloads.append(commands)
        os.unlink(os.path.join(folder, name))
    return payloads


def test_changes_between_steps_leave_the_snapshot_point_intact(one_shard):
    client, folder = one_shard
    rng = random.Random(7)
    n = 20000
    for i in range(n):
        assert client.call([b"SET", b"k%d" % i, b"v%d" % i]) == b"+OK\r\n"
    for i in range(50):
        client.call([b"RPUSH", b"l%d" % i, b"a", b"b"])
    expected = {b"k%d" % i: b"v%d" % i for i in range(n)}
    expected.update({b"l%d" % i: [b"a", b"b"] for i in range(50)})
    steps = [0]
    made = [0]

    def between_steps():
        steps[0] += 1
        for _ in range(40):
            k = b"k%d" % rng.randrange(n)
            op = rng.randrange(4)
            if op == 0:
                client.call([b"SET", k, b"changed"])
            elif op == 1:
                client.call([b"APPEND", k, b"+"])
            else:
                client.call([b"DEL", k])              # entries after it shift back
            client.call([b"RPUSH", b"l%d" % rng.randrange(50), b"c"])
        for _ in range(250):                          # the table grows while walked
            client.call([b"SET", b"new%d" % made[0], b"x"])
            made[0] += 1

    got = snapshot_state(take_snapshot(client, str(folder), between_steps))
    assert steps[0] >= 6, steps                       # many steps, with changes between them
    assert _core.snap_copies_state()[1] > 0           # some keys were copied before a change
    assert got == expected
    # the next snapshot has the keyspace as it is now, each key once again
    now = {}
    for args in parse(b"".join(_core.serialize_key(k) for k in
                               [b"k%d" % i for i in range(n)] + [b"l%d" % i for i in range(50)] +
                               [b"new%d" % i for i in range(made[0])])):
        if args[0] in (b"SET", b"RPUSH"):
            now[args[1]] = args[2] if args[0] == b"SET" else args[2:]
    assert snapshot_state(take_snapshot(client, str(folder), lambda: None)) == now


def test_deletes_just_behind_the_walk_do_not_hide_keys_from_it(one_shard):
    """Deleting the keys in the slots just behind the walk's position shifts
    entries from its position on back behind it: the walk must go back for
    them (or the snapshot would lack keys that were never changed)."""
    client, folder = one_shard
    n = 20000
    for i in range(n):
        client.call([b"SET", b"k%d" % i, b"v%d" % i])
    gone = set()

    def between_steps():
        shard, pos = _core._test_snap_walk()
        if shard != 0:
            return
        for i in range(max(0, pos - 24), pos):
            key = _core._test_slot_key(0, i)
            if key is not None:
                client.call([b"DEL", key])
                gone.add(key)

    got = snapshot_state(take_snapshot(client, str(folder), between_steps))
    assert len(gone) > 100
    assert got == {b"k%d" % i: b"v%d" % i for i in range(n)}


def test_a_mass_delete_during_the_walk_shrinks_the_table(one_shard):
    """Deleting nearly every key mid-walk copies each one first and shrinks
    the table under the walk (which starts over): still the snapshot point."""
    client, folder = one_shard
    n = 12000
    for i in range(n):
        client.call([b"SET", b"k%d" % i, b"%d" % i])
    done = [False]

    def between_steps():
        if not done[0]:
            done[0] = True
            for i in range(n - 100):
                client.call([b"DEL", b"k%d" % i])

    got = snapshot_state(take_snapshot(client, str(folder), between_steps))
    assert got == {b"k%d" % i: b"%d" % i for i in range(n)}
