"""Signal rings and the shared client table, in-process against a private
segment (no sockets): ordering, a full ring, other processes as producers,
row claim/release and error counters."""
import multiprocessing

from cachecyt import _core


def test_ring_keeps_order_and_payload(core):
    assert _core.take_signals(1) == []
    assert _core.signal_worker(1, _core.SIGNAL_KILL, 42)
    assert _core.signal_worker(1, _core.SIGNAL_CONFIG, 0, b'maxmemory')
    assert _core.take_signals(1) == [(_core.SIGNAL_KILL, 42, b''),
                                     (_core.SIGNAL_CONFIG, 0, b'maxmemory')]
    assert _core.take_signals(1) == []
    assert _core.take_signals(0) == []


def test_full_ring_refuses_then_recovers(core):
    sent = 0
    while _core.signal_worker(3, _core.SIGNAL_KILL, sent):
        sent += 1
    assert sent == 256
    got = _core.take_signals(3)
    assert [arg for _, arg, _ in got] == list(range(256))
    for lap in range(3):                       # cells are reused lap after lap
        assert _core.signal_worker(3, _core.SIGNAL_KILL, lap)
        assert _core.take_signals(3) == [(_core.SIGNAL_KILL, lap, b'')]


def _produce(name, start):
    seg = _core.Segment.attach(name)
    seg.activate(5)
    for i in range(start, start + 100):
        while not _core.signal_worker(0, _core.SIGNAL_KILL, i):
            pass


def test_producers_in_other_processes(core):
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_produce, args=(core.name, k * 1000)) for k in range(3)]
    for p in procs:
        p.start()
    got = []
    while len(got) < 300:
        got += [arg for _, arg, _ in _core.take_signals(0)]
    for p in procs:
        p.join(10)
    assert sorted(got) == sorted(k * 1000 + i for k in range(3) for i in range(100))
    for k in range(3):                         # each producer's messages stay in order
        mine = [a for a in got if a // 1000 == k]
        assert mine == sorted(mine)


def test_client_rows(core):
    a, b = _core.Client(), _core.Client()
    a.addr, a.laddr = '10.0.0.1:5000', '10.0.0.2:6379'
    assert _core.clients_admit() and _core.client_slot_claim(a, 7)
    assert _core.clients_admit() and _core.client_slot_claim(b)
    a.name = b'x' * 200
    a.db = 3
    _core.client_slot_sync(a)
    rows = {r[0]: r for r in _core.clients_table()}
    assert set(rows) == {a.id, b.id}
    ra = rows[a.id]
    assert ra[2:6] == ('10.0.0.1:5000', '10.0.0.2:6379', b'x' * 87, 3) and ra[11] == 7
    assert a.call([b'PING']) == b'+PONG\r\n'
    assert {r[0]: r[8] for r in _core.clients_table()} == {a.id: 'ping', b.id: 'NULL'}
    _core.client_slot_release(a)
    assert [r[0] for r in _core.clients_table()] == [b.id]
    assert _core.get_setting('connected_clients') == 2
    assert _core.clients_clear_worker(0) == 1
    assert _core.get_setting('connected_clients') == 1 and _core.clients_table() == []


def test_maxclients_is_enforced_by_the_shared_counter(core):
    _core.set_setting('maxclients', 2)
    assert _core.clients_admit() and _core.clients_admit()
    assert not _core.clients_admit()
    _core.clients_leave()
    assert _core.clients_admit()


def test_error_replies_counted_by_prefix(client):
    client.call([b'NOSUCH'])
    client.call([b'GET'])
    client.call([b'HELLO', b'7'])
    assert _core.error_stats() == {'ERR': 2, 'NOPROTO': 1}
    _core.reset_error_stats()
    assert _core.error_stats() == {}
