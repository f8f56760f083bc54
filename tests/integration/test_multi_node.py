"""Transactions across workers: WATCH sees writes made on any worker, EXEC is
atomic for clients on every worker (no reader sees half a transaction), and
transactions that lock overlapping shards in any order, or every shard, never
deadlock. Raw connections are placed on each worker (the conns fixture)."""
import threading

from rawclient import Raw, encode


def run_threads(fns, timeout=60):
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:         # reported in the main thread
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a client is stuck (deadlock?)"
    if errors:
        raise errors[0]


def test_watch_sees_a_write_from_the_other_worker(server, conns):
    (a,), (b,) = conns(1)
    a.call('DEL', 'k')
    assert a.call('SET', 'k', '1') == b'+OK\r\n'
    assert a.call('WATCH', 'k') == b'+OK\r\n'
    assert b.call('SET', 'k', '2') == b'+OK\r\n'
    assert a.call('MULTI') == b'+OK\r\n'
    assert a.call('SET', 'k', '3') == b'+QUEUED\r\n'
    assert a.call('EXEC') == b'*-1\r\n'
    assert b.call('GET', 'k') == b'$1\r\n2\r\n'
    # created and deleted again on the other worker: still a change
    assert a.call('WATCH', 'absent') == b'+OK\r\n'
    b.call('SET', 'absent', '1')
    b.call('DEL', 'absent')
    a.call('MULTI')
    a.call('GET', 'absent')
    assert a.call('EXEC') == b'*-1\r\n'
    # untouched: the transaction runs
    a.call('WATCH', 'k')
    a.call('MULTI')
    a.call('GET', 'k')
    assert a.call('EXEC') == b'*1\r\n$1\r\n2\r\n'


def test_optimistic_increments_reach_the_exact_total(server, conns):
    """WATCH/GET/MULTI/SET/EXEC retried until EXEC succeeds, by clients on both
    workers: no increment is lost, none counted twice."""
    per_worker, rounds = 3, 60
    w0, w1 = conns(per_worker)
    w0[0].call('DEL', 'counter')
    retries = []

    def incrementer(c):
        def run():
            done = tries = 0
            while done < rounds:
                tries += 1
                assert c.call('WATCH', 'counter') == b'+OK\r\n'
                got = c.call('GET', 'counter')
                value = 0 if got == b'$-1\r\n' else int(got.split(b'\r\n')[1])
                assert c.call('MULTI') == b'+OK\r\n'
                assert c.call('SET', 'counter', str(value + 1)) == b'+QUEUED\r\n'
                reply = c.call('EXEC')
                if reply == b'*1\r\n+OK\r\n':
                    done += 1
                else:
                    assert reply == b'*-1\r\n', reply
            retries.append(tries - rounds)
        return run
    run_threads([incrementer(c) for c in w0 + w1])
    assert w1[0].call('GET', 'counter') == b'$%d\r\n%d\r\n' % (
        len(str(2 * per_worker * rounds)), 2 * per_worker * rounds)
    assert sum(retries) > 0, "the clients never collided: the test proves nothing"


KEYS = [b'tx:%d' % i for i in range(8)]      # spread over several shards


def test_no_reader_sees_half_a_transaction(server, conns):
    """Writers on both workers bump 8 keys in one transaction; readers on both
    workers (MGET, and a MULTI of GETs) always see the 8 equal."""
    (wa, ra, ta), (wb, rb, tb) = conns(3)
    wa.call('DEL', *KEYS)
    wa.call('MSET', *[x for k in KEYS for x in (k, b'0')])
    stop = threading.Event()
    rounds = 150

    def writer(c):
        def run():
            for _ in range(rounds):
                c.send(encode('MULTI') + b''.join(encode('INCR', k) for k in KEYS)
                       + encode('EXEC'))
                assert c.reply() == b'+OK\r\n'
                for _ in KEYS:
                    assert c.reply() == b'+QUEUED\r\n'
                assert c.reply().startswith(b'*8\r\n:')
        return run

    def reader(c, transaction):
        def run():
            seen = 0
            while not stop.is_set() or seen == 0:
                if transaction:
                    c.call('MULTI')
                    for k in KEYS:
                        c.call('GET', k)
                    reply = c.call('EXEC')
                else:
                    reply = c.call('MGET', *KEYS)
                values = reply.split(b'\r\n')[2::2]
                assert len(set(values)) == 1, values
                seen += 1
        return run

    def writers():
        try:
            run_threads([writer(wa), writer(wb)])
        finally:
            stop.set()
    run_threads([writers, reader(ra, False), reader(rb, False), reader(ta, True),
                 reader(tb, True)])
    assert wa.call('GET', KEYS[0]) == b'$3\r\n%d\r\n' % (2 * rounds)


def test_overlapping_and_whole_keyspace_transactions_do_not_deadlock(server, conns):
    """Transactions naming the same shards in opposite orders, and ones holding
    every shard (KEYS, FLUSHDB in db 9), run concurrently on both workers."""
    (a, b), (c, d) = conns(2)
    a.call('DEL', *KEYS)

    def tx(conn, keys, extra):
        def run():
            for i in range(80):
                conn.call('MULTI')
                for k in keys:
                    conn.call('INCR', k)
                if extra and i % 10 == 0:
                    conn.call('SELECT', '9')
                    conn.call('FLUSHDB')
                    conn.call('KEYS', '*')
                    conn.call('SELECT', '0')
                reply = conn.call('EXEC')
                assert reply.startswith(b'*'), reply
        return run
    run_threads([tx(a, KEYS, False), tx(c, KEYS[::-1], False), tx(b, KEYS[2:5], True),
                 tx(d, KEYS[::-2], True)])
    assert a.call('GET', KEYS[0]) == b'$3\r\n160\r\n'        # by a and c


def test_blocking_commands_inside_multi_answer_at_once(server, conns):
    (a,), (b,) = conns(1)
    a.call('DEL', 'bl', 'bz')
    a.call('MULTI')
    assert a.call('BLPOP', 'bl', '0') == b'+QUEUED\r\n'
    assert a.call('BZPOPMIN', 'bz', '0') == b'+QUEUED\r\n'
    a.sock.settimeout(2)
    assert a.call('EXEC') == b'*2\r\n*-1\r\n*-1\r\n'
    # the client is not left in the wait registry: a later push is not taken
    b.call('RPUSH', 'bl', 'x')
    assert a.call('LRANGE', 'bl', '0', '-1') == b'*1\r\n$1\r\nx\r\n'


def test_transaction_wakes_a_client_blocked_on_another_worker(server, conns):
    (a,), (b,) = conns(1)
    a.call('DEL', 'wake')
    b.send(encode('BLPOP', 'wake', '5'))
    # make sure b is blocked before the transaction pushes
    for _ in range(100):
        if b'blocked_clients:1' in a.call('INFO', 'clients'):
            break
        threading.Event().wait(0.02)
    a.call('MULTI')
    a.call('RPUSH', 'wake', 'v')
    a.call('SET', 'other', '1')
    assert a.call('EXEC') == b'*2\r\n:1\r\n+OK\r\n'
    assert b.reply() == b'*2\r\n$4\r\nwake\r\n$1\r\nv\r\n'


def test_connection_closed_in_multi_leaves_nothing_behind(server):
    c = Raw(server)
    c.call('MULTI')
    c.call('SET', 'left', '1')
    c.sock.close()
    d = Raw(server)
    assert d.call('EXISTS', 'left') == b':0\r\n'
    assert d.call('EXEC') == b'-ERR EXEC without MULTI\r\n'


def test_client_list_shows_the_transaction(server, conns):
    """flags=x and multi=<queued> while in MULTI, as Redis shows them, also in
    CLIENT INFO run inside the EXEC; multi=-1 once it is over."""
    (a, b), _ = conns(2)                    # two clients of worker 0
    my_id = a.call('CLIENT', 'ID')[1:-2]
    a.call('MULTI')
    a.call('SET', 'k', '1')
    row = [r for r in b.call('CLIENT', 'LIST').split(b'\n') if b'id=%s ' % my_id in r]
    assert b' flags=x ' in row[0] and b' multi=1 ' in row[0], row
    a.call('CLIENT', 'INFO')
    reply = a.call('EXEC')
    assert b' flags=x ' in reply and b' multi=2 ' in reply, reply
    info = a.call('CLIENT', 'INFO')
    assert b' flags=N ' in info and b' multi=-1 ' in info, info


def test_client_list_shows_other_workers_transactions_and_subscriptions(server, conns):
    """The counts CLIENT LIST shows for a client of one worker (multi=, sub=,
    psub=, ssub=) are the same when it is listed from the other worker."""
    (a, sub), (b, _) = conns(2)                 # a and sub on worker 0, b on worker 1
    a_id, sub_id = a.call('CLIENT', 'ID')[1:-2], sub.call('CLIENT', 'ID')[1:-2]

    def row(cid):
        rows = [r for r in b.call('CLIENT', 'LIST').split(b'\n') if b'id=%s ' % cid in r]
        assert len(rows) == 1, rows
        return rows[0]

    assert b' multi=-1 ' in row(a_id) and b' sub=0 psub=0 ssub=0 ' in row(a_id)
    a.call('MULTI')
    a.call('SET', 'k', '1')
    a.call('GET', 'k')
    assert b' flags=x ' in row(a_id) and b' multi=2 ' in row(a_id), row(a_id)
    a.call('DISCARD')
    assert b' flags=N ' in row(a_id) and b' multi=-1 ' in row(a_id), row(a_id)
    sub.send(encode('SUBSCRIBE', 'c1', 'c2'))
    sub.send(encode('PSUBSCRIBE', 'p*'))
    sub.send(encode('SSUBSCRIBE', 's1', 's2', 's3'))
    for _ in range(6):
        sub.reply()
    assert b' flags=P ' in row(sub_id) and b' sub=2 psub=1 ssub=3 ' in row(sub_id), row(sub_id)
    sub.send(encode('UNSUBSCRIBE', 'c1'))
    sub.reply()
    assert b' sub=1 psub=1 ssub=3 ' in row(sub_id), row(sub_id)
