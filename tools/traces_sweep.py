"""The adaptive policy's column over every trace and size, against the other
four columns of docs/EVICTION.md: for measuring a variant of the policy.

    python tools/traces_sweep.py LABEL '{"tune": {"noise": 10}}' [TRACE...] [--jobs 2]

"tune" is passed to _core._test_shadow_tune before each replay (the replay's
knobs; see shm/shadow.pxi). Prints the mean, the rows more than 0.5 below the
best of the other four, and writes one line a row to LABEL.txt in the current
directory. Traces as in tools/traces.py (CACHECYT_TRACES names their place).
Not shipped: a developer tool."""
import argparse
import json
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import traces  # noqa: E402
import traces_replay  # noqa: E402

ALL = ('gli cs cpp ps sprite multi1 multi2 multi3 2_pools loop scan zigzag web07 web12 '
       'OLTP P3 orm-busy').split()
SIZES = (1, 2, 5, 10, 20)
LOADED = {}
TUNE = {}


def doc_table():
    """(trace, size) -> (best of the four others, adaptive) from docs/EVICTION.md."""
    rows = {}
    with open(os.path.join(ROOT, 'docs', 'EVICTION.md')) as f:
        for line in f:
            cells = [c.strip().strip('*') for c in line.split('|')]
            if len(cells) == 10 and cells[1] in ALL and cells[2].endswith('%'):
                values = [float(c) for c in cells[4:9]]
                rows[(cells[1], cells[2])] = (max(values[:4]), values[4])
    return rows


def replay(job):
    from cachecyt import _core
    name, tag, size = job
    if TUNE:
        _core._test_shadow_tune(**TUNE)
    return name, tag, traces_replay.core_hit_ratio(LOADED[name], size, 'allkeys-adaptive')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('label')
    ap.add_argument('settings', nargs='?', default='{}')
    ap.add_argument('traces', nargs='*')
    ap.add_argument('--jobs', type=int, default=2)
    args = ap.parse_args()
    TUNE.update(json.loads(args.settings).get('tune') or {})
    names = args.traces or ALL
    jobs = []
    for name in names:
        LOADED[name] = traces.load(name)
        keys = traces.distinct(LOADED[name])
        jobs += [(name, f'{p}%', max(1, round(keys * p / 100))) for p in SIZES]
    jobs.sort(key=lambda j: -len(LOADED[j[0]]))       # the longest first
    t0 = time.monotonic()
    with multiprocessing.get_context('fork').Pool(args.jobs) as pool:
        got = {(n, t): r for n, t, r in pool.imap_unordered(replay, jobs)}
    table = doc_table()
    lines, short = [], []
    for name in names:
        for p in SIZES:
            tag = f'{p}%'
            r = got[(name, tag)]
            best, before = table[(name, tag)]
            if r < best - 0.5:
                short.append(f'{name} {tag} {r - best:+.2f}')
            lines.append(f'{name} {tag} {r:.2f} (doc {before:.2f}, best other {best:.2f}, {r - before:+.2f})')
    with open(f'{args.label}.txt', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'{args.label}: mean {sum(got.values()) / len(got):.3f}, {len(short)} short: '
          f'{"; ".join(short)} [{time.monotonic() - t0:.0f}s]')


if __name__ == '__main__':
    main()
