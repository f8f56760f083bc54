"""An idle node stays idle: with the WAL off its supervisor wakes about ten
times a second (save rules, requests), not a hundred; every wake-up takes a
CPU from a worker on a small machine. BGSAVE still starts at once."""
import os
import time

import redis

from servers import CachecytServer


def wakeups(pid):
    """Voluntary context switches of every thread of a process."""
    total = 0
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{t}/status') as f:
                for line in f:
                    if line.startswith('voluntary_ctxt_switches:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def test_supervisor_sleeps_while_the_wal_is_off():
    srv = CachecytServer('--save', '', '--appendonly', 'no', workers=1).start()
    try:
        r = redis.Redis(port=srv.port)
        r.set('k', 'v')
        time.sleep(0.5)
        before, t0 = wakeups(srv.proc.pid), time.monotonic()
        time.sleep(2)
        rate = (wakeups(srv.proc.pid) - before) / (time.monotonic() - t0)
        assert rate < 40, f"{rate:.0f} wake-ups a second"
        last = r.lastsave()
        time.sleep(1.1)                     # LASTSAVE counts whole seconds
        t0 = time.monotonic()
        assert r.bgsave()
        while r.lastsave() == last and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        assert r.lastsave() != last
        assert time.monotonic() - t0 < 2
    finally:
        srv.stop()
