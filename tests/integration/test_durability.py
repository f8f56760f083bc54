"""Durability of a real node with real files: kill -9 of the whole node
(supervisor and workers) under a write load, snapshots taken while clients
keep writing, and damaged files at start."""
import glob
import os
import random
import shutil
import signal
import tempfile
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servers import CachecytServer


STARTED = []                 # every server a test started: stopped at its end, pass or fail


@pytest.fixture(autouse=True)
def stop_nodes():
    yield
    while STARTED:
        STARTED.pop().stop()


class Node:
    """A node on a data dir that outlives it (restarts reuse the dir)."""

    def __init__(self, data_dir, *flags):
        self.data_dir = data_dir
        self.flags = flags
        self.srv = None

    def start(self, *more):
        self.srv = CachecytServer('--dir', self.data_dir, *self.flags, *more, workers=2)
        STARTED.append(self.srv)
        self.srv.start()
        return redis.Redis(port=self.srv.port, socket_timeout=10)

    def kill9(self):
        """SIGKILL the supervisor and every worker at once."""
        os.killpg(self.srv.proc.pid, signal.SIGKILL)
        self.srv.proc.wait()
        log = self.srv.log_text()
        self.srv.stop()                  # also removes what the killed node left
        return log

    def stop(self):
        self.srv.stop()

    def log(self):
        return self.srv.log_text()


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix='cachecyt-data-')
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Writer(threading.Thread):
    """SETs unique keys and INCRs a counter, keeping a ledger of what was
    acknowledged (and when) until the connection breaks."""

    def __init__(self, port, name):
        super().__init__(daemon=True)
        self.r = redis.Redis(port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0))
        self.name = name
        self.acked = []              # (key, value, time acknowledged)
        self.incr_acked = 0
        self.incr_sent = 0

    def run(self):
        i = 0
        try:
            while True:
                key = f"{self.name}:{i}"
                self.r.set(key, i)
                self.acked.append((key, str(i).encode(), time.monotonic()))
                self.incr_sent += 1
                self.r.incr(f"counter:{self.name}")
                self.incr_acked += 1
                i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            pass


def run_writers(port, n, seconds):
    ws = [Writer(port, f"w{i}") for i in range(n)]
    for w in ws:
        w.start()
    time.sleep(seconds)
    return ws


@pytest.mark.slow
def test_always_kill9_keeps_every_acknowledged_write(data_dir):
    """Repeated at random kill points; each round writes keys of its own and
    checks every round's ledger so far."""
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    rng = random.Random(7)
    ledger = {}
    counters = {}
    r = node.start()
    for round_ in range(3):
        ws = [Writer(node.srv.port, f"r{round_}w{i}") for i in range(4)]
        for w in ws:
            w.start()
        time.sleep(rng.uniform(0.3, 1.0))
        node.kill9()
        for w in ws:
            w.join(5)
            ledger.update((key, value) for key, value, _ in w.acked)
            counters[w.name] = (w.incr_acked, w.incr_sent)
        r = node.start()
        got = dict(zip(ledger, r.mget(list(ledger))))
        missing = [k for k, v in ledger.items() if got[k] != v]
        assert not missing, f"round {round_}: {len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        for name, (lo, hi) in counters.items():
            v = int(r.get(f"counter:{name}") or 0)
            assert lo <= v <= hi, (name, lo, v, hi)
    node.stop()


@pytest.mark.slow
def test_everysec_loss_is_about_one_second(data_dir):
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '')
    node.start()
    ws = run_writers(node.srv.port, 2, 2.5)
    t_kill = time.monotonic()
    node.kill9()
    for w in ws:
        w.join(5)
    r = node.start()
    acked = [a for w in ws for a in w.acked]
    got = r.mget([k for k, _, _ in acked])
    lost = [(k, t) for (k, v, t), g in zip(acked, got) if g != v]
    window = max((t_kill - t for _, t in lost), default=0.0)
    print(f"\neverysec: {len(lost)} of {len(acked)} acknowledged writes lost, "
          f"all from the last {window:.2f}s before kill -9")
    assert window <= 2.5
    node.stop()


def test_snapshots_are_consistent_under_transfers(data_dir):
    """Pairs (a:i, b:i) always sum to 100, written together by MSET; every
    snapshot taken meanwhile, loaded alone, keeps the invariant."""
    node = Node(data_dir, '--save', '')
    r = node.start()
    pairs = 64
    r.mset({**{f"a:{i}": 50 for i in range(pairs)}, **{f"b:{i}": 50 for i in range(pairs)}})
    stop = threading.Event()

    def transfers(seed):
        rr = redis.Redis(port=node.srv.port)
        rng = random.Random(seed)
        while not stop.is_set():
            i = rng.randrange(pairs)
            x = rng.randrange(101)
            rr.mset({f"a:{i}": x, f"b:{i}": 100 - x})

    ts = [threading.Thread(target=transfers, args=(s,), daemon=True) for s in range(3)]
    for t in ts:
        t.start()
    copies = []
    for n in range(3):
        time.sleep(0.2)
        seq = r.lastsave()
        assert r.bgsave() in (True, b'Background saving started', 'Background saving started')
        deadline = time.time() + 10
        while r.info('persistence')['rdb_bgsave_in_progress'] or r.info('persistence')['rdb_saves'] <= n:
            assert time.time() < deadline
            time.sleep(0.02)
        assert r.info('persistence')['rdb_last_bgsave_status'] == 'ok'
        copy = os.path.join(data_dir, f"copy{n}")
        os.makedirs(copy)
        shutil.copy(os.path.join(data_dir, 'dump.ccyt'), copy)
        copies.append(copy)
        assert r.lastsave() >= seq
    stop.set()
    for t in ts:
        t.join()
    node.kill9()
    for copy in copies:
        alone = Node(copy, '--save', '')
        rr = alone.start()
        a = rr.mget([f"a:{i}" for i in range(pairs)])
        b = rr.mget([f"b:{i}" for i in range(pairs)])
        assert all(int(x) + int(y) == 100 for x, y in zip(a, b)), (copy, a, b)
        alone.stop()


def _wal_file(data_dir):
    files = sorted(glob.glob(os.path.join(data_dir, 'appendonlydir', 'wal-*.log')))
    assert len(files) == 1
    return files[0]


def test_corrupt_wal_record_stops_recovery_there(data_dir):
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    r = node.start()
    for i in range(200):
        r.set(f"k{i}", i)
    node.kill9()
    path = _wal_file(data_dir)
    data = bytearray(open(path, 'rb').read())
    # records are the same size here: find the one of k100 and damage its value
    at = data.index(b"$4\r\nk100\r\n")
    data[at + 12] ^= 0x55
    open(path, 'wb').write(bytes(data))
    r = node.start()
    got = r.mget([f"k{i}" for i in range(200)])
    assert got[:100] == [str(i).encode() for i in range(100)]
    assert got[100:] == [None] * 100
    log = node.log()
    assert 'checksum mismatch' in log and 'recovery stops at LSN 100' in log
    # the damaged tail is cut off: new writes follow LSN 100 and survive
    r.set('after', 'x')
    node.kill9()
    r = node.start()
    assert r.get('after') == b'x' and r.get('k99') == b'99' and r.get('k100') is None
    node.stop()


def test_torn_wal_tail_is_truncated(data_dir):
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    r = node.start()
    for i in range(50):
        r.set(f"k{i}", i)
    node.kill9()
    path = _wal_file(data_dir)
    size = os.path.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size - 5)                     # the last record loses its end
    r = node.start()
    got = r.mget([f"k{i}" for i in range(50)])
    assert got[:49] == [str(i).encode() for i in range(49)] and got[49] is None
    assert 'torn record' in node.log() and 'recovery stops at LSN 49' in node.log()
    node.stop()


def test_bad_snapshot_is_never_loaded(data_dir):
    node = Node(data_dir, '--save', '')
    r = node.start()
    r.set('gen', 'one')
    assert r.save()
    r.set('gen', 'two')
    assert r.save()
    node.kill9()
    snap = os.path.join(data_dir, 'dump.ccyt')
    data = bytearray(open(snap, 'rb').read())
    data[len(data) // 2] ^= 0x01
    open(snap, 'wb').write(bytes(data))
    r = node.start()
    assert r.get('gen') == b'one'                # the previous, valid snapshot
    assert 'dump.ccyt is not loaded' in node.log()
    node.kill9()
    os.unlink(snap + '.prev')
    r = node.start()
    assert r.get('gen') is None and r.dbsize() == 0
    node.stop()


def test_shutdown_saves_and_expired_keys_stay_expired(data_dir):
    node = Node(data_dir)
    r = node.start()
    r.set('keep', 'v')
    r.set('short', 'v', px=300)
    r.rpush('l', 'a', 'b')
    assert r.config_get('save') == {'save': '3600 1 300 100 60 10000'}
    assert r.config_get('appendonly') == {'appendonly': 'no'}
    node.stop()                                  # SIGTERM: final snapshot
    time.sleep(0.4)
    r = node.start()
    assert r.get('keep') == b'v' and r.lrange('l', 0, -1) == [b'a', b'b']
    assert r.get('short') is None and r.dbsize() == 2
    node.stop()


def test_memcached_writes_survive_kill9(data_dir):
    from pymemcache.client.base import Client as McClient
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    node.srv = CachecytServer('--dir', data_dir, *node.flags, workers=2, memcached_port=True)
    STARTED.append(node.srv)
    node.srv.start()
    mc = McClient(('127.0.0.1', node.srv.memcached_port), default_noreply=False)   # acknowledged
    mc.set('flagged', b'v1', flags=42)
    mc.set('n', b'10')
    mc.incr('n', 5)
    mc.set('gone', b'x')
    mc.delete('gone')
    mc.set('ttl', b't', expire=1000)
    mc.append('flagged', b'+')
    node.kill9()
    node.srv = CachecytServer('--dir', data_dir, *node.flags, workers=2, memcached_port=True)
    STARTED.append(node.srv)
    node.srv.start()
    mc = McClient(('127.0.0.1', node.srv.memcached_port))
    assert mc.get('flagged') == b'v1+'
    assert mc.gets_many(['flagged'])
    r = redis.Redis(port=node.srv.port)
    assert r.get('n') == b'15' and r.get('gone') is None and 0 < r.ttl('ttl') <= 1000
    raw = McClient(('127.0.0.1', node.srv.memcached_port), serde=None)
    line = raw.raw_command(b'get flagged', b'END')
    assert line.startswith(b'VALUE flagged 42 3')
    node.stop()


@pytest.mark.slow
def test_backup_and_point_in_time_restore(data_dir, tmp_path):
    """A timeline of values with the time each was acknowledged; restores to
    instants between them give the value current at that instant."""
    import subprocess
    import sys
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    r = node.start()
    timeline = []
    for i in range(4):
        r.set('v', i)
        r.rpush('hist', i)
        timeline.append((i, time.time()))
        if i == 1:
            assert r.save()                      # a snapshot in the middle of the timeline
        time.sleep(0.15)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

    def cli(*args, ok=True):
        p = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'backup', *args],
                           capture_output=True, text=True, env=env)
        assert (p.returncode == 0) == ok, p.stderr
        return p.stdout + p.stderr

    backups = str(tmp_path / 'backups')
    made = cli('create', '--port', str(node.srv.port), '--to', backups).strip().splitlines()[-1]
    assert made in cli('list', '--to', backups)
    assert cli('verify', made).strip().endswith('ok')
    assert 'running node' in cli('restore', '--from', made, '--into', data_dir, ok=False)
    node.stop()
    for i, t in timeline[::2] + timeline[-1:]:
        into = str(tmp_path / f"at{i}")
        cli('restore', '--from', made, '--into', into, '--until', f"{t + 0.05:.3f}")
        alone = Node(into, '--save', '')
        rr = alone.start()
        assert rr.get('v') == str(i).encode(), (i, rr.get('v'))
        assert rr.lrange('hist', 0, -1) == [str(j).encode() for j in range(i + 1)]
        alone.stop()
    # by LSN: SET then RPUSH per step, so LSN 3 is the SET of step 1
    into = str(tmp_path / 'lsn3')
    assert 'state as of LSN 3' in cli('restore', '--from', made, '--into', into, '--lsn', '3')
    assert 'not empty' in cli('restore', '--from', made, '--into', into, '--lsn', '3', ok=False)
    alone = Node(into, '--save', '')
    rr = alone.start()
    assert rr.get('v') == b'1' and rr.lrange('hist', 0, -1) == [b'0']
    alone.stop()
    # a damaged backup is refused
    with open(os.path.join(made, 'dump.ccyt'), 'r+b') as f:
        f.seek(20)
        f.write(b'\xff')
    assert 'differs' in cli('verify', made, ok=False)


def test_appendonly_turned_on_at_run_time(data_dir):
    node = Node(data_dir, '--save', '')
    r = node.start()
    r.set('before', 1)
    assert r.config_set('appendonly', 'yes')
    assert r.config_get('appendonly') == {'appendonly': 'yes'}
    r.set('after', 2)
    deadline = time.time() + 10
    while r.info('persistence')['rdb_saves'] < 1:     # the snapshot covering earlier writes
        assert time.time() < deadline
        time.sleep(0.05)
    r.set('later', 3)
    time.sleep(0.1)                                    # everysec: the ring is drained every 10 ms
    node.kill9()
    r = node.start()
    assert r.mget('before', 'after', 'later') == [b'1', b'2', b'3']


def test_shutdown_nosave_and_save(data_dir):
    node = Node(data_dir)                         # default save rules
    r = node.start()
    r.set('k', 'saved')
    r.shutdown(nosave=True)                       # redis-py takes the closed connection as done
    node.srv.proc.wait(10)
    node.stop()
    r = node.start('--save', '')
    assert r.get('k') is None                     # NOSAVE: no final snapshot
    r.set('k', 'v2')
    r.shutdown(save=True)                         # SAVE: a snapshot though no rule asks
    node.srv.proc.wait(10)
    node.stop()
    r = node.start('--save', '')
    assert r.get('k') == b'v2'


# ---- transactions and scripts are logged whole ------------------------------------------

ACCOUNTS = 16
TRANSFER_LUA = ("redis.call('DECRBY', KEYS[1], ARGV[1]) "
                "redis.call('INCRBY', KEYS[2], ARGV[1]) return 1")


def _transfer_load(port, stop, seed, use_lua):
    """Moves amounts between accounts with MULTI/EXEC (or a script) until the
    connection breaks or stop is set; the sum of all accounts never changes."""
    r = redis.Redis(port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0))
    rng = random.Random(seed)
    try:
        while not stop.is_set():
            a, b = rng.sample(range(ACCOUNTS), 2)
            x = rng.randrange(1, 50)
            if use_lua:
                r.eval(TRANSFER_LUA, 2, f"acct:{a}", f"acct:{b}", x)
            else:
                p = r.pipeline(transaction=True)
                p.decrby(f"acct:{a}", x)
                p.set(f"last:{seed}", f"{a}>{b}")      # a third write in another shard
                p.incrby(f"acct:{b}", x)
                p.execute()
    except (redis.ConnectionError, redis.TimeoutError):
        pass


def _balance(r):
    vals = r.mget([f"acct:{i}" for i in range(ACCOUNTS)])
    assert None not in vals, vals
    return sum(int(v) for v in vals)


def _start_transfers(port, n=4):
    stop = threading.Event()
    ts = [threading.Thread(target=_transfer_load, args=(port, stop, s, s % 2 == 1), daemon=True)
          for s in range(n)]
    for t in ts:
        t.start()
    return stop, ts


@pytest.mark.slow
def test_kill9_during_transfers_keeps_the_sum(data_dir):
    """kill -9 at random points of a MULTI/EXEC and Lua transfer load: after
    each restart the accounts still sum to the total; then the log is cut at
    random bytes (a torn write at the crash): recovery keeps whole
    transactions only, never half of one."""
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '')
    r = node.start()
    r.mset({f"acct:{i}": 100 for i in range(ACCOUNTS)})
    total = 100 * ACCOUNTS
    rng = random.Random(11)
    for round_ in range(3):
        stop, ts = _start_transfers(node.srv.port)
        time.sleep(rng.uniform(0.3, 0.8))
        node.kill9()
        for t in ts:
            t.join(5)
        r = node.start()
        assert _balance(r) == total, f"round {round_}"
        assert r.get('acct:0') is not None
    stop, ts = _start_transfers(node.srv.port)
    time.sleep(0.5)
    stop.set()
    for t in ts:
        t.join(5)
    node.kill9()
    wal = sorted(glob.glob(os.path.join(data_dir, 'appendonlydir', 'wal-*.log')))[-1]
    whole = open(wal, 'rb').read()
    for cut in rng.sample(range(len(whole) // 2, len(whole)), 3):
        open(wal, 'wb').write(whole[:cut])
        r = node.start()
        assert _balance(r) == total, f"cut at byte {cut} of {len(whole)}"
        node.kill9()
        open(wal, 'wb').write(whole)


@pytest.mark.slow
def test_restore_until_inside_transfers_keeps_the_sum(data_dir, tmp_path):
    """Point-in-time restores to instants in the middle of a transfer load
    give states in which the accounts sum to the total."""
    import subprocess
    import sys
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')
    r = node.start()
    r.mset({f"acct:{i}": 100 for i in range(ACCOUNTS)})
    t_start = time.time()
    stop, ts = _start_transfers(node.srv.port)
    time.sleep(0.6)
    stop.set()
    for t in ts:
        t.join(5)
    t_end = time.time()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

    def cli(*args):
        p = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'backup', *args],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        return p.stdout

    made = cli('create', '--port', str(node.srv.port), '--to', str(tmp_path / 'b')).strip().splitlines()[-1]
    node.stop()
    for k in range(3):
        at = t_start + (t_end - t_start) * (k + 1) / 4
        into = str(tmp_path / f"at{k}")
        cli('restore', '--from', made, '--into', into, '--until', f"{at:.4f}")
        alone = Node(into, '--save', '')
        rr = alone.start()
        assert _balance(rr) == 100 * ACCOUNTS, at
        alone.stop()


def test_memcached_base64_keys_and_delayed_flush_survive_kill9(data_dir):
    """Meta commands with base64 keys log the real key bytes (read back over
    RESP after a restart); flush_all with a delay is logged when it runs."""
    import base64
    import socket
    node = Node(data_dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '')

    def start():
        node.srv = CachecytServer('--dir', data_dir, *node.flags, workers=2, memcached_port=True)
        STARTED.append(node.srv)
        node.srv.start()
        s = socket.create_connection(('127.0.0.1', node.srv.memcached_port))
        return s, redis.Redis(port=node.srv.port)

    def ask(s, line, end):
        s.sendall(line)
        buf = b""
        while not buf.endswith(end):
            buf += s.recv(65536)
        return buf

    key = b"bin\x00key \xff"
    b64 = base64.b64encode(key)
    s, r = start()
    assert ask(s, b"ms " + b64 + b" 5 b\r\nhello\r\n", b"\r\n") == b"HD\r\n"
    assert ask(s, b"ms " + base64.b64encode(b"gone") + b" 1 b\r\nx\r\n", b"\r\n") == b"HD\r\n"
    assert ask(s, b"md " + base64.b64encode(b"gone") + b" b\r\n", b"\r\n") == b"HD\r\n"
    assert ask(s, b"set plain 0 0 1\r\np\r\n", b"\r\n") == b"STORED\r\n"
    node.kill9()
    s, r = start()
    assert r.get(key) == b"hello" and r.get(b64) is None and r.get("gone") is None
    assert r.get("plain") == b"p"
    assert ask(s, b"flush_all 1\r\n", b"\r\n") == b"OK\r\n"
    deadline = time.time() + 5
    while r.get("plain") is not None:
        assert time.time() < deadline
        time.sleep(0.05)
    node.kill9()
    s, r = start()
    assert r.get("plain") is None and r.get(key) is None and r.dbsize() == 0
    node.stop()


def test_memcached_base64_mark_survives_restart(data_dir):
    """An item stored with a base64 key (ms ... b) answers `k` in base64 with
    the b flag; after a restart from the WAL (kill -9) and from a snapshot
    alone it still does, and an item stored with a plain key still does not."""
    import base64
    import socket
    key = b"bin\x00k\xff"
    b64 = base64.b64encode(key)

    def start(*flags):
        srv = CachecytServer('--dir', data_dir, '--save', '', *flags, workers=2, memcached_port=True)
        STARTED.append(srv)
        srv.start()
        node = Node(data_dir)
        node.srv = srv
        return node, socket.create_connection(('127.0.0.1', srv.memcached_port))

    def ask(s, line):
        s.sendall(line)
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(65536)
        return buf

    def marks(s):
        return ask(s, b"mg " + b64 + b" b k v\r\n"), ask(s, b"mg plain k v\r\n")

    wanted = (b"VA 2 k" + b64 + b" b\r\nhi\r\n", b"VA 1 kplain\r\np\r\n")
    node, s = start('--appendonly', 'yes', '--appendfsync', 'always')
    assert ask(s, b"ms " + b64 + b" 2 b\r\nhi\r\n") == b"HD\r\n"
    assert ask(s, b"ms plain 1\r\np\r\n") == b"HD\r\n"
    assert marks(s) == wanted
    node.kill9()
    node, s = start('--appendonly', 'yes', '--appendfsync', 'always')      # the WAL's records
    assert marks(s) == wanted
    r = redis.Redis(port=node.srv.port)
    r.save()
    node.kill9()
    shutil.rmtree(os.path.join(data_dir, 'appendonlydir'))
    node, s = start()                                                      # the snapshot alone
    assert marks(s) == wanted
    node.stop()


def test_wal_turned_on_over_data_is_not_taken_as_from_empty(data_dir, tmp_path):
    """appendonly turned on at run time over existing keys: the WAL starts
    at LSN 1 but over that data. Once the snapshot of LSN 0 has left the
    node, a backup restores only from its snapshots, never to a node rebuilt
    from the records alone (which would lack the earlier keys)."""
    from cachecyt.cluster import backup as bk
    node = Node(data_dir, '--save', '')
    r = node.start()
    r.set('before', 1)
    assert r.config_set('appendonly', 'yes')

    def saved(n):
        deadline = time.time() + 10
        while r.info('persistence')['rdb_saves'] < n or r.info('persistence')['rdb_bgsave_in_progress']:
            assert time.time() < deadline
            time.sleep(0.02)

    saved(1)                                              # the snapshot of LSN 0
    for n in (2, 3):                                      # two more: LSN 0 leaves the node
        r.set(f'after{n}', n)
        r.bgsave()
        saved(n)
    r.set('last', 4)
    time.sleep(0.1)
    made = bk.copy_node_files(data_dir, 'dump.ccyt', 'appendonlydir', str(tmp_path))
    manifest = bk.list_backups(str(tmp_path))[0][1]
    assert manifest["wal_over_data"] is True
    assert [w["first_lsn"] for w in manifest["wal"]] == [1]
    assert min(r_["from_lsn"] for r_ in manifest["ranges"]) >= 1, manifest["ranges"]
    with pytest.raises(bk.BackupError, match="no backup restores to LSN 0"):
        bk.pick_backup(made, lsn=0)
    into = str(tmp_path / "restored")
    done = bk.restore(made, into, lsn=manifest["ranges"][0]["from_lsn"])
    assert done["base_lsn"] >= 1
    node.kill9()
    alone = Node(into, '--save', '')
    rr = alone.start()
    assert rr.get('before') == b'1' and rr.get('after2') == b'2'
    alone.stop()
