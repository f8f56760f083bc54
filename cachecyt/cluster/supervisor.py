"""Supervisor: creates the node segment, starts one worker process per core,
restarts a worker that dies (within a second, the others keep serving), and on
SIGTERM/SIGINT stops the workers and unlinks the segment. It waits on signals
(sigtimedwait), it does not poll."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

from cachecyt import _core
from cachecyt import config as cfgmod
from cachecyt.security import startup as security_startup, tenants
from cachecyt.scripting import store as scripts
from cachecyt.cluster import persist
from cachecyt.cluster.backup_schedule import BackupScheduler
from cachecyt.workers.main import check_ports_free

log = logging.getLogger("cachecyt.supervisor")

PAGE = 65536


def segment_name(port: int) -> str:
    return f"/cachecyt.{port}"


def pages_for(cfg) -> int:
    """Arena pages: segment-size, or derived from maxmemory, or half the RAM
    within what /dev/shm can hold."""
    size = cfg['segment-size']
    if not size:
        if cfg['maxmemory']:
            size = cfg['maxmemory'] * 3 // 2 + 64 * 1024 ** 2
        else:
            ram = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
            size = ram // 2
            try:
                size = min(size, shutil.disk_usage('/dev/shm').free * 9 // 10)
            except OSError:
                pass
    return max(size // PAGE, 64)


def _maps_segment(pid: int, name: str) -> bool:
    """Whether process pid is alive and has the segment mapped. A pid alone is
    not proof: after a crash the owner's pid may belong to another process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any(line.rstrip().endswith("/dev/shm" + name) for line in f)
    except FileNotFoundError:
        return False
    except OSError:
        return True                              # cannot tell: assume it is alive


def remove_stale_segment(name: str):
    """A segment left by a crashed run is unlinked; one whose owner lives is an error."""
    import posix_ipc
    try:
        seg = _core.Segment.attach(name)
    except posix_ipc.ExistentialError:
        return                                   # no such segment
    except (RuntimeError, OSError):              # foreign magic, or empty: cannot map
        log.warning("removing foreign segment %s", name)
        _core.Segment.unlink(name)
        return
    owner = seg.header()['owner_pid']
    seg.close()
    if owner != os.getpid() and _maps_segment(owner, name):
        raise SystemExit(f"another cachecyt (pid {owner}) owns {name}; is the port in use?")
    log.warning("removing stale segment %s left by pid %d", name, owner)
    _core.Segment.unlink(name)


RESTART_DELAY = 1.0                              # s; least time between two starts of a slot
SUPERVISOR_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def exit_reason(rc: int) -> str:
    """'killed by signal 9 (SIGKILL)' or 'exit code 1' for a Popen returncode."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {-rc} ({name})"
    return f"exit code {rc}"


class Supervisor:
    def __init__(self, cfg: cfgmod.Config):
        cfg['dir'] = os.path.abspath(cfg['dir'])     # CONFIG GET dir names it whole, as Redis
        self.cfg = cfg
        self.name = segment_name(cfg['port'])
        self.nworkers = cfg.worker_count()
        self.procs = {}                          # slot -> Popen
        self.started = {}                        # slot -> time.monotonic() of its spawn
        self.pending = {}                        # slot -> when to restart it (crash loop)
        self.seg = None
        self.restarts = {}                       # slot -> times restarted (metrics)
        self.observer = None
        # one eventfd per worker slot, kept across restarts: any worker wakes
        # another after queueing a message in its signal ring
        self.wake_fds = [os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                         for _ in range(self.nworkers)]
        # workers wake the WAL writer and snapshotter (cluster/persist.py) with this one
        self.persist_efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.persist = None
        self.backups = BackupScheduler(cfg)

    def create_segment(self):
        remove_stale_segment(self.name)
        scripts.remove_files(self.name)
        shape = {
            'shards': self.cfg['shards'], 'databases': self.cfg['databases'],
            'tenants': self.cfg['max-tenants'],
            'pages': pages_for(self.cfg),
            'settings': cfgmod.header_settings(self.cfg),
        }
        self.seg = _core.Segment.create(self.name, shape, json.dumps(self.cfg).encode())
        try:
            self.seg.activate(0)
            _core.init_shards()
            security_startup.init_segment(self.cfg)  # users from the aclfile or requirepass
            tenants.init_segment(self.cfg)           # tenants.json in dir, then the configured ones
            self.start_persistence()
        except BaseException:                        # a refused start leaves no segment behind
            self.seg.close()
            _core.Segment.unlink(self.name)
            scripts.remove_files(self.name)
            raise
        log.info("segment %s: %d MiB arena, %d shards, %d databases", self.name,
                 shape['pages'] * PAGE // 1024 ** 2, shape['shards'], shape['databases'])

    def start_persistence(self):
        """The persistence state in the segment, recovery from `dir`, then the
        WAL writer (before any worker serves)."""
        cfg = self.cfg
        ring_pages = cfg['wal-ring-size'] // PAGE if cfg['appendonly'] else 0
        _core.persist_create(ring_pages, self.persist_efd, cfg['appendonly'],
                             cfgmod.FSYNC_POLICIES.index(cfg['appendfsync']))
        _core.persist_set('save', cfg['save'])
        _core.persist_set('rewrite_percentage', cfg['auto-aof-rewrite-percentage'])
        _core.persist_set('rewrite_min_size', cfg['auto-aof-rewrite-min-size'])
        os.makedirs(cfg['dir'], exist_ok=True)
        from cachecyt.cluster import backup
        self.dir_lock = backup.lock_data_dir(cfg['dir'])      # one node per data directory
        from cachecyt.commands import registry
        registry.install()
        loader = _core.Client()
        last = persist.recover(cfg, loader)
        del loader
        _core.clear_worker_slot(0)
        self.persist = persist.Persistence(cfg, self.wake_fds, self.persist_efd)
        self.persist.start(last)

    def spawn(self, slot: int):
        _core.clear_worker_slot(slot)
        cmd = [sys.executable, '-m', 'cachecyt.workers.main', '--segment', self.name,
               '--worker', str(slot), '--nworkers', str(self.nworkers), '--parent', str(os.getpid()),
               '--wake-fds', ','.join(map(str, self.wake_fds))]
        # The supervisor blocks the signals it waits for and a child inherits the
        # mask: the worker unblocks them first thing (workers/main.py). No
        # preexec_fn: the supervisor runs threads (metrics), where it is unsafe.
        self.procs[slot] = subprocess.Popen(cmd, pass_fds=self.wake_fds + [self.persist_efd])
        self.started[slot] = time.monotonic()
        log.info("worker %d started, pid %d", slot, self.procs[slot].pid)

    def reap(self) -> bool:
        """Restart every worker that exited: at once, unless it lived less than
        RESTART_DELAY (then when that much time has passed since its start, so a
        worker that cannot start does not fork in a tight loop). Then repair any
        lock it died holding. False when no worker had exited."""
        found = False
        now = time.monotonic()
        for slot, p in list(self.procs.items()):
            if slot in self.pending:
                continue
            rc = p.poll()
            if rc is None:
                continue
            found = True
            self.restarts[slot] = self.restarts.get(slot, 0) + 1
            _core.script_forget_worker(slot)     # a script it was running ended with it
            due = self.started[slot] + RESTART_DELAY
            if due <= now:
                log.warning("worker %d (pid %d) died: %s; restarting it", slot, p.pid, exit_reason(rc))
                self.spawn(slot)
            else:
                log.warning("worker %d (pid %d) died: %s %.1fs after its start; restarting it in "
                            "%.1fs", slot, p.pid, exit_reason(rc), now - self.started[slot], due - now)
                self.pending[slot] = due
        if found:
            repaired = _core.sweep_locks()
            if repaired:
                log.warning("repaired shards %s: their lock owner died holding the lock", repaired)
        return found

    def spawn_due(self):
        now = time.monotonic()
        for slot, due in list(self.pending.items()):
            if due <= now:
                del self.pending[slot]
                log.info("restarting worker %d", slot)
                self.spawn(slot)

    def wait_timeout(self) -> float:
        if not self.pending:
            return 1.0
        return max(0.01, min(1.0, min(self.pending.values()) - time.monotonic()))

    def run(self) -> int:
        sigs = SUPERVISOR_SIGNALS
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        self.create_segment()
        try:
            check_ports_free(self.cfg)        # after the segment: "another node owns it" comes first
            self.start_observer()             # threads: after the signals are blocked
            for slot in range(self.nworkers):
                self.spawn(slot)
            log.info("cachecyt ready: port %d, %d workers", self.cfg['port'], self.nworkers)
            self.backups.start()              # scheduled backups (cluster/backup_schedule.py)
            while True:
                info = signal.sigtimedwait(sigs, self.wait_timeout())
                if info is None or info.si_signo == signal.SIGCHLD:
                    self.reap()
                elif info.si_signo in (signal.SIGTERM, signal.SIGINT):
                    log.info("received %s, shutting down", signal.Signals(info.si_signo).name)
                    return 0
                self.spawn_due()
        finally:
            try:
                self.stop_services()
            finally:                                  # the segment goes whatever failed above
                self.seg.close()
                _core.Segment.unlink(self.name)
                scripts.remove_files(self.name)
                log.info("segment %s removed; bye", self.name)

    def stop_services(self):
        """Metrics, backups, workers, then the last snapshot and the WAL."""
        if self.observer:
            self.observer.stop()
        self.backups.stop()
        self.stop_workers()
        if self.persist is not None:
            flags = _core.get_setting('shutdown_flags')     # SHUTDOWN NOSAVE (1) / SAVE (2)
            self.persist.stop(final_save=flags != 1, force_save=flags == 2)

    def start_observer(self):
        """Metrics endpoint, dashboard and alert rules (cachecyt/metrics/)."""
        from cachecyt.commands import registry
        from cachecyt.metrics.observer import Observer, supervisor_workers
        registry.install()                    # command names for the per-command counters
        self.observer = Observer(self.cfg, supervisor_workers(self))
        self.observer.start()

    def stop_workers(self, grace: float = 5.0):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs.values():
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in %.0fs; killing it", p.pid, grace)
                p.kill()
                p.wait()
