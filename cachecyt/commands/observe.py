"""Observability commands: SLOWLOG, LATENCY, HOTKEYS and MONITOR, plus the
INFO latencystats section. They read what shm/stats.pxi keeps in the segment
(node-wide: every worker's figures), format it as Redis 7.0 does, and never
touch a key. Off the hot path: the per-command accounting itself is one call
in Client.execute (obs_record).

MONITOR: the worker that holds a MONITOR client reads the node's monitor ring
when its eventfd fires (Node.handle_signals -> feed_monitors) and writes the
lines to each of its MONITOR clients."""
import time

from cachecyt import _core
from cachecyt._core import OK, CommandError, Verbatim
from cachecyt.commands import server
from cachecyt.commands.server import _lower, _text, _strict_int, container_sub, help_reply

# HELP texts; commands/server.py holds the subcommand table (SUBCOMMANDS) and merges these.
HELP = {
    'slowlog': [
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ],
    'latency': [
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the"
        " specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Prints this help.",
    ],
}


# ---- SLOWLOG -------------------------------------------------------------------------

def slowlog(c, args):
    sub = container_sub(c, args)
    if sub == 'help':
        return help_reply('slowlog')
    if sub == 'len':
        return _core.slowlog_len()
    if sub == 'reset':
        _core.slowlog_reset()
        return OK
    if len(args) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for "
                           f"'{_text(args[1])}'. Try SLOWLOG HELP.")
    count = 10
    if len(args) == 3:
        count = _strict_int(args[2])
        if count is None or count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
    return [[eid, when, usec, args_, addr.encode(), name]
            for eid, when, usec, args_, addr, name in _core.slowlog_get(count)]


# ---- LATENCY ---------------------------------------------------------------------------

def latency(c, args):
    sub = container_sub(c, args)
    if sub == 'help':
        return help_reply('latency')
    if sub == 'latest':
        return [[name.encode(), samples[-1][0], samples[-1][1], peak]
                for name, (peak, samples) in _core.latency_events().items() if samples]
    if sub == 'history':
        found = _core.latency_events().get(_text(args[2]))
        return [] if found is None else [[t, ms] for t, ms in found[1]]
    if sub == 'reset':
        return _core.latency_reset([bytes(a) for a in args[2:]] if len(args) > 2 else None)
    if sub == 'graph':
        return latency_graph(_text(args[2]))
    if sub == 'doctor':
        return Verbatim(latency_doctor())
    return latency_histogram(args[2:])


def latency_histogram(names):
    """{command: {calls, histogram_usec: {2^k µs: cumulative calls}}}, as Redis 7."""
    buckets = _core.command_latency_buckets()
    stats = _core.command_stats()
    wanted = [_lower(n) for n in names] if names else sorted(buckets)
    out = {}
    for name in _with_subcommands(wanted, buckets):
        if name in out or name not in buckets:
            continue
        out[name] = {'calls': sum(buckets[name]) if name not in stats else stats[name][0],
                     'histogram_usec': power_of_two_cdf(buckets[name])}
    return out


def _with_subcommands(names, buckets):
    """A container command's name stands for its subcommands that ran."""
    for name in names:
        if name in server.SUBCOMMANDS:
            yield from sorted(n for n in buckets if n.startswith(name + '|'))
        else:
            yield name


def power_of_two_cdf(counts):
    """Cumulative counts at power-of-two microsecond bounds (1, 2, 4 ...), each
    bound listed only when calls fell under it, as Redis's LATENCY HISTOGRAM.
    A bucket counts under the smallest power of two at or above its upper bound."""
    bounds = _core.LATENCY_BUCKETS_US
    out = {}
    seen = 0
    for i, n in enumerate(counts):
        if not n:
            continue
        seen += n
        b = bounds[i] if bounds[i] != float('inf') else bounds[-2] + 1
        out[1 << max(int(b) - 1, 0).bit_length()] = seen
    return out


def latency_graph(event):
    found = _core.latency_events().get(event)
    if found is None or not found[1]:
        raise CommandError(f"ERR No samples available for event '{event}'")
    peak, samples = found
    lo = min(ms for _, ms in samples)
    hi = max(ms for _, ms in samples)
    lines = [f"{event} - high {hi} ms, low {lo} ms (all time high {peak} ms)", '-' * 80]
    height = 4
    cols = samples[-80:]
    for row in range(height, 0, -1):
        cut = lo + (hi - lo) * (row - 1) / height
        lines.append(''.join('#' if ms > cut or (row == 1) else ' ' for _, ms in cols))
    now = int(time.time())
    lines.append(''.join(_age_mark(now - t) for t, _ in cols))
    return Verbatim('\n'.join(lines) + '\n')


def _age_mark(age):
    """One column label: the sample's age in the largest fitting unit's first digit."""
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if age >= size:
            return str(min(age // size, 9))
    return str(min(age, 9)) if age < 10 else '9'


def latency_doctor():
    """A short plain report of what the latency monitor saw (our own wording)."""
    threshold = _core.get_setting('latency_monitor_threshold')
    events = {n: v for n, v in _core.latency_events().items() if v[1]}
    if not events and not threshold:
        return ("The latency monitor is off (latency-monitor-threshold is 0), so no latency "
                "event was recorded. Enable it with CONFIG SET latency-monitor-threshold <ms>.\n")
    if not events:
        return (f"No latency event of {threshold} ms or more has been recorded "
                "since the node started or since the last LATENCY RESET.\n")
    lines = ["Latency events recorded (latency-monitor-threshold is now "
             f"{threshold} ms):", ""]
    for k, (name, (peak, samples)) in enumerate(sorted(events.items()), 1):
        avg = sum(ms for _, ms in samples) // len(samples)
        first = samples[0][0]
        lines.append(f"{k}. {name}: {len(samples)} latency spikes (average {avg}ms, mean deviation "
                     f"{_mean_dev(samples)}ms, period {_period(samples)} sec). Worst all time event "
                     f"{peak}ms. First sample {int(time.time()) - first} seconds ago.")
    lines += ["", "Advice:"]
    if 'command' in events:
        lines.append("- Slow commands ran: SLOWLOG GET shows which; prefer commands of low "
                     "complexity (avoid KEYS, big SMEMBERS, HGETALL, LRANGE on big values).")
    if 'fast-command' in events:
        lines.append("- O(1) or O(log N) commands were slow: the machine may be overloaded or "
                     "swapping; check CPU and memory of the node's processes.")
    return '\n'.join(lines) + '\n'


def _mean_dev(samples):
    avg = sum(ms for _, ms in samples) / len(samples)
    return int(sum(abs(ms - avg) for _, ms in samples) / len(samples))


def _period(samples):
    if len(samples) < 2:
        return 0
    return (samples[-1][0] - samples[0][0]) // (len(samples) - 1)


def info_latencystats():
    """INFO latencystats: p50, p99 and p99.9 of every command, µs, as Redis 7."""
    out = []
    for name, counts in sorted(_core.command_latency_buckets().items()):
        if name in server.SUBCOMMANDS:        # a container: its subcommands have the rows
            continue
        ps = ','.join(f"{label}={_core.latency_percentile(counts, q):.3f}"
                      for label, q in (('p50', 0.5), ('p99', 0.99), ('p99.9', 0.999)))
        out.append((f"latency_percentiles_usec_{name}", ps))
    return out


# ---- HOTKEYS -----------------------------------------------------------------------------

def hotkeys(c, args):
    """HOTKEYS [COUNT n]: the most accessed keys of the node, from the sampled
    sketches of every worker: [[db, key, estimated hits], ...], hottest first."""
    count = 10
    i = 1
    while i < len(args):
        if _lower(args[i]) == 'count' and i + 1 < len(args):
            count = _strict_int(args[i + 1])
            if count is None or count < 0:
                raise CommandError("ERR value is out of range, must be positive")
            i += 2
        else:
            raise CommandError("ERR syntax error")
    if not _core.get_setting('hotkeys_sample_rate'):
        raise CommandError("ERR hot-key sampling is off: set hotkeys-sample-rate above 0")
    return [[db, key, hits] for db, key, hits in _core.hotkeys(count)]


# ---- MONITOR -----------------------------------------------------------------------------

def monitor(c, args):
    if c.id not in server.NODE.monitors:
        feed_monitors()        # what ran before belongs to the monitors already there
        server.NODE.monitors[c.id] = c
        _core.monitor_register(c, 1)
    return OK


def feed_monitors():
    """Send what the node ran since the last call to this worker's MONITOR clients."""
    if not server.NODE.monitors:
        return
    data = _core.monitor_take()
    if not data:
        return
    for m in list(server.NODE.monitors.values()):
        if m.transport is not None and not m.closing:
            m.transport.write(data)


def monitor_closed(c):
    if server.NODE.monitors.pop(c.id, None) is not None:
        _core.monitor_register(c, -1)


HANDLERS = {
    'slowlog': server.counted(slowlog), 'latency': server.counted(latency),
    'hotkeys': hotkeys, 'monitor': monitor,
}


# ---- MEMORY STATS / DOCTOR ---------------------------------------------------------------

def memory_stats():
    """MEMORY STATS with Redis 7.0's fields, from the figures INFO memory shows."""
    m = server.memory_figures()
    used, peak, arena, rss = m['used'], m['peak'], m['arena'], m['rss']
    keys = sum(n for _db, n, _e in _core.keyspace_info())
    out = {'peak.allocated': peak, 'total.allocated': used, 'startup.allocated': 0,
           'replication.backlog': 0, 'clients.slaves': 0, 'clients.normal': m['clients'],
           'cluster.links': 0, 'aof.buffer': 0, 'lua.caches': 0, 'functions.caches': 0}
    for db, n, e in _core.keyspace_info():
        out[f"db.{db}"] = {'overhead.hashtable.main': 0, 'overhead.hashtable.expires': 0,
                           'overhead.hashtable.slot-to-keys': 0}
    out.update({
        'overhead.total': 0, 'keys.count': keys,
        'keys.bytes-per-key': used // keys if keys else 0, 'dataset.bytes': used,
        'dataset.percentage': 100.0 if used else 0.0,
        'peak.percentage': used * 100.0 / peak if peak else 0.0,
        'allocator.allocated': used, 'allocator.active': arena, 'allocator.resident': arena,
        'allocator-fragmentation.ratio': arena / used if used else 1.0,
        'allocator-fragmentation.bytes': max(arena - used, 0),
        'allocator-rss.ratio': 1.0, 'allocator-rss.bytes': 0,
        'rss-overhead.ratio': rss / arena if arena else 1.0, 'rss-overhead.bytes': rss - arena,
        'fragmentation': arena / used if used else 1.0,
        'fragmentation.bytes': max(arena - used, 0)})
    return out


def memory_doctor():
    """A short plain report on the arena (our own wording)."""
    m = server.memory_figures()
    used, peak, arena, maxmem = m['used'], m['peak'], m['arena'], m['maxmemory']
    if used < 5 * 1024 * 1024:
        return Verbatim("The node holds less than 5 MB of data: nothing to report yet.\n")
    issues = []
    if peak > used * 3 // 2:
        issues.append(f"- The peak ({server._human(peak)}) is over 1.5 times the memory used now "
                      f"({server._human(used)}): free pages stay with the arena for reuse.")
    if arena > used * 7 // 5:
        issues.append(f"- Arena fragmentation is {arena / used:.2f}: pages of the size classes are "
                      "partly empty (many deleted or resized values).")
    if maxmem and used > maxmem * 9 // 10:
        issues.append(f"- Used memory is {used * 100 // maxmem}% of maxmemory: writes will evict "
                      "or fail (maxmemory-policy).")
    if not issues:
        return Verbatim("No memory problem found.\n")
    return Verbatim("Memory report:\n\n" + "\n".join(issues) + "\n")


def memory_report(sub):
    return memory_stats() if sub == 'stats' else memory_doctor()


_core.set_memory_hook(memory_report)
