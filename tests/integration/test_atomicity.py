"""Atomicity across workers: many clients, spread over both worker processes by
SO_REUSEPORT, update the same keys at once; no update may be lost."""
import threading

import redis

THREADS = 8
ROUNDS = 2000


def hammer(server, fn, batch=100):
    """Run fn(pipe, thread, round) ROUNDS times in each of THREADS threads, each
    with its own connection, sending batch commands per round trip."""
    errors = []

    def work(i):
        try:
            client = redis.Redis(host=server[0], port=server[1])
            pipe = client.pipeline(transaction=False)
            for n in range(ROUNDS):
                fn(pipe, i, n)
                if n % batch == batch - 1:
                    pipe.execute()
            pipe.execute()
            client.close()
        except (redis.RedisError, OSError) as e:      # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors


def test_incr_on_one_key(server, r):
    hammer(server, lambda pipe, i, n: pipe.incr('counter'), batch=1)
    assert r.get('counter') == str(THREADS * ROUNDS).encode()


def test_pipelined_incr_on_one_key(server, r):
    hammer(server, lambda pipe, i, n: pipe.incr('counter'))
    assert r.get('counter') == str(THREADS * ROUNDS).encode()


def test_incrby_decrby_and_incrbyfloat(server, r):
    def ops(pipe, i, n):
        pipe.incrby('a', 3)
        pipe.decrby('b', 2)
        pipe.incrbyfloat('f', 0.5)
    hammer(server, ops)
    total = THREADS * ROUNDS
    assert int(r.get('a')) == 3 * total
    assert int(r.get('b')) == -2 * total
    assert float(r.get('f')) == 0.5 * total


def test_append_and_msetnx(server, r):
    def ops(pipe, i, n):
        pipe.append('log', b'x')
        pipe.msetnx({f'once{n % 50}': i, f'also{n % 50}': i})
    hammer(server, ops)
    assert r.strlen('log') == THREADS * ROUNDS
    for n in range(50):
        assert r.get(f'once{n}') == r.get(f'also{n}')


def test_clients_land_on_both_workers(server):
    workers = set()
    for _ in range(40):
        client = redis.Redis(host=server[0], port=server[1])
        workers.add(client.info('server').get('worker'))
        client.close()
    assert workers == {0, 1}


def test_mget_never_sees_half_an_mset(server, r):
    """MSET is atomic: a reader on another connection (often another worker) sees
    all of its keys updated or none."""
    keys = [f'pair{i}' for i in range(8)]
    r.mset({k: 0 for k in keys})
    stop = threading.Event()
    torn = []

    def writer():
        client = redis.Redis(host=server[0], port=server[1])
        for n in range(1, 3000):
            client.mset({k: n for k in keys})
        stop.set()

    def reader():
        client = redis.Redis(host=server[0], port=server[1])
        while not stop.is_set():
            values = client.mget(keys)
            if len(set(values)) != 1:
                torn.append(values)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not torn
