"""Run units of Redis's own test suite (its Tcl `runtest`) against a cachecyt node.

    python tools/redis_suite.py --redis-src DIR [--workers 2] [UNIT ...]

DIR is a Redis 7.0 source tree (its tests/ folder and runtest script; tclsh
must be installed). On Debian: enable deb-src for the archive and run
`apt-get source redis` (or unpack redis_7.0.*.orig.tar.gz from the archive).
The suite's code stays there: nothing of it is copied into this project.

Each unit runs in external mode (`--host/--port`, so tests tagged external:skip
are left out) with one client, and without the tests that need replication or
DEBUG. Every unit gets a fresh node, since units change configuration and
leave keys behind. The summary lists passed / failed tests per unit and the
first lines of each failure; a unit that stops on an error (an unknown
command, say) says so. Exit status 1 when any test failed."""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import start_cachecyt  # noqa: E402

UNITS = ['unit/type/string', 'unit/type/incr', 'unit/type/list', 'unit/type/list-2',
         'unit/type/list-3', 'unit/type/hash', 'unit/type/set', 'unit/type/zset',
         'unit/expire', 'unit/keyspace', 'unit/scan', 'unit/multi', 'unit/pubsub',
         'unit/pubsubshard', 'unit/scripting', 'unit/bitops', 'unit/sort', 'unit/geo',
         'unit/hyperloglog', 'unit/introspection', 'unit/introspection-2',
         'unit/info-command', 'unit/latency-monitor', 'unit/slowlog', 'unit/querybuf',
         'unit/protocol', 'unit/quit', 'unit/pause']
TAGS = ['-needs:repl', '-needs:debug']
COLOR = re.compile(r'\x1b\[[0-9;]*m')


def run_unit(src, unit, workers, timeout):
    """(passed, failed, stopped, failure lines) of one unit against a fresh node."""
    started = []
    try:
        node = start_cachecyt(workers, started=started)
        args = ['./runtest', '--host', '127.0.0.1', '--port', str(node.port), '--single', unit,
                '--clients', '1', '--timeout', '60']
        for tag in TAGS:
            args += ['--tags', tag]
        try:
            out = subprocess.run(args, cwd=src, capture_output=True, text=True,
                                 timeout=timeout, errors='replace').stdout
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b'').decode(errors='replace') + '\n[exception]: unit timed out'
    finally:
        for s in started:
            s.stop()
    lines = COLOR.sub('', out).splitlines()
    passed = sum(1 for x in lines if x.startswith('[ok]'))
    failures = [x for x in lines if x.startswith('[err]')]
    stops = [x for x in lines if x.startswith('[exception]') or x.startswith('[TIMEOUT]')]
    detail = []
    for x in failures + stops:
        i = lines.index(x)
        detail.append(' | '.join(lines[i:i + 2]))
    return passed, len(failures), bool(stops), detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--redis-src', required=True, help='a Redis 7.0 source tree')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--timeout', type=int, default=600, help='seconds per unit')
    ap.add_argument('units', nargs='*', default=UNITS)
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.redis_src, 'runtest')):
        sys.exit(f"{args.redis_src} has no runtest script: give a Redis source tree")
    bad = False
    for unit in args.units:
        passed, failed, stopped, detail = run_unit(args.redis_src, unit, args.workers, args.timeout)
        state = 'stopped early' if stopped else 'complete'
        print(f"{unit:28} {passed:4} passed {failed:3} failed  ({state})", flush=True)
        for d in detail:
            print('    ' + d[:240])
        bad = bad or failed > 0 or stopped
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
