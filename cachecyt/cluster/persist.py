"""Durability, supervisor side: the WAL writer (drains the shm log ring to
segment files, fsyncs per appendfsync, tells workers what is durable), the
snapshotter (SAVE/BGSAVE, save rules, WAL compaction) and recovery at start.
The worker side (records, the dump-before-write rule) is in shm/wal.pxi and
shm/snapshot.pxi; the design is in docs/adr/0009-durability.md.

Files, all in `dir`:
  <dbfilename>            the newest snapshot; <dbfilename>.prev the one before
  <appenddirname>/wal-<first LSN, 16 hex>.log   WAL segments, in LSN order

Snapshot file: header "CCYTSNAP" u32 version u32 sections u64 lsn i64 ts_ms
u32 crc32(header); then per shard a section; then "CCYTEND." u32 sections u32
crc32(everything before). Version 2 (written now): section = u32 shard u32
crc32(stored) u64 stored length u64 payload length u32 codec, then the stored
bytes: the payload (RESP commands) as is (codec 0), zlib (1) or zstandard (2).
Version 1 (still read): section = u32 shard u32 crc32(payload) u64 length,
payload. Snapshots are compressed with zstandard when it is installed (it
costs about what writing the bytes does and makes the file ~10x smaller; zlib
is 4x slower for less: docs/adr/0009-durability.md), else stored as is. WAL segment: "CCYTWAL1" u64 first LSN, then records (shm/wal.pxi).
A file that fails a check is never loaded in part: a snapshot is verified
whole before loading; a WAL segment is replayed up to its last good record
and truncated there, with a log line."""
import logging
import os
import select
import shutil
import struct
import threading
import time
import zlib

from cachecyt import _core
from cachecyt import config as cfgmod

log = logging.getLogger("cachecyt.persist")

SNAP_MAGIC = b"CCYTSNAP"
SNAP_END = b"CCYTEND."
SNAP_VERSION = 2
SNAP_VERSIONS = (1, 2)                        # what this build reads
SNAP_HDR = struct.Struct("<8sIIQqI")          # magic, version, sections, lsn, ts, crc
SECTION_HDR_V1 = struct.Struct("<IIQ")        # shard, crc, length
SECTION_HDR = struct.Struct("<IIQQI")         # shard, crc of stored, stored length, length, codec
CODEC_NONE, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2
SNAP_TRAILER = struct.Struct("<8sII")         # magic, sections, crc
WAL_MAGIC = b"CCYTWAL1"
WAL_FILE_HDR = struct.Struct("<8sQ")
REC_HDR = struct.Struct("<IIQqII")            # len, crc, lsn, ts, db, kind
TAKE_BYTES = 4 * 1024 * 1024                  # ring bytes taken per write
DRAIN_MS = 10                                 # everysec/no: ring drained this often
IDLE_MS = 100                                 # WAL off: save rules looked at this often
PROGRESS_BYTES = 64 * 1024 * 1024             # snapshots bigger than this log their loading


class CorruptFile(Exception):
    pass


# ---- snapshot files -----------------------------------------------------------------------

def _zstd():
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def default_codec():
    return CODEC_ZSTD if _zstd() is not None else CODEC_NONE


def compress(payload, codec):
    if codec == CODEC_ZSTD:
        return _zstd().ZstdCompressor(level=1).compress(payload)
    if codec == CODEC_ZLIB:
        return zlib.compress(payload, 1)
    return payload


def decompress(stored, codec, length):
    if codec == CODEC_NONE:
        out = stored
    elif codec == CODEC_ZLIB:
        out = zlib.decompress(stored)
    elif codec == CODEC_ZSTD:
        z = _zstd()
        if z is None:
            raise CorruptFile("compressed with zstandard, which is not installed here")
        out = z.ZstdDecompressor().decompress(stored, max_output_size=length)
    else:
        raise CorruptFile(f"unknown compression codec {codec}")
    if len(out) != length:
        raise CorruptFile("section length differs after decompression")
    return out


def write_snapshot(path, lsn, ts_ms, parts, codec=None):
    """parts: [(shard, part file path)]. Written to path.tmp (format version 2,
    each section compressed with codec, default_codec() when None), fsynced,
    renamed; the previous snapshot becomes path.prev."""
    if codec is None:
        codec = default_codec()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        crc = 0
        head = SNAP_HDR.pack(SNAP_MAGIC, SNAP_VERSION, len(parts), lsn, ts_ms, 0)
        head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
        f.write(head)
        crc = zlib.crc32(head, crc)
        for shard, part in parts:
            with open(part, "rb") as pf:
                payload = pf.read()
            stored = compress(payload, codec)
            sh = SECTION_HDR.pack(shard, zlib.crc32(stored), len(stored), len(payload), codec)
            f.write(sh)
            f.write(stored)
            crc = zlib.crc32(stored, zlib.crc32(sh, crc))
        f.write(SNAP_TRAILER.pack(SNAP_END, len(parts), crc))
        f.flush()
        os.fsync(f.fileno())
    if os.path.exists(path):
        os.replace(path, path + ".prev")
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path) or ".")


def _read_section(f, version):
    """(shard, crc, section header bytes, stored bytes, length, codec) of the next section."""
    hdr = SECTION_HDR if version >= 2 else SECTION_HDR_V1
    sh = f.read(hdr.size)
    if len(sh) < hdr.size:
        return None
    if version >= 2:
        shard, scrc, stored_len, length, codec = hdr.unpack(sh)
    else:
        shard, scrc, stored_len = hdr.unpack(sh)
        length, codec = stored_len, CODEC_NONE
    return shard, scrc, sh, stored_len, length, codec


def verify_snapshot(path):
    """(lsn, ts_ms) of a whole, unaltered snapshot file; CorruptFile otherwise."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(SNAP_HDR.size)
        if len(head) < SNAP_HDR.size:
            raise CorruptFile("shorter than its header")
        magic, version, nsec, lsn, ts, hcrc = SNAP_HDR.unpack(head)
        if magic != SNAP_MAGIC:
            raise CorruptFile("not a cachecyt snapshot")
        if version not in SNAP_VERSIONS:
            raise CorruptFile(f"format version {version}, this build reads {SNAP_VERSIONS}")
        if zlib.crc32(head[:-4]) != hcrc:
            raise CorruptFile("header checksum mismatch")
        crc = zlib.crc32(head)
        pos = SNAP_HDR.size
        for i in range(nsec):
            sec = _read_section(f, version)
            if sec is None:
                raise CorruptFile(f"truncated in section {i}")
            shard, scrc, sh, stored_len, length, codec = sec
            if pos + len(sh) + stored_len > size:
                raise CorruptFile(f"truncated in section {i}")
            stored = f.read(stored_len)
            if zlib.crc32(stored) != scrc:
                raise CorruptFile(f"checksum mismatch in section {i} (shard {shard})")
            if codec not in (CODEC_NONE, CODEC_ZLIB, CODEC_ZSTD) or (codec == CODEC_ZSTD and _zstd() is None):
                raise CorruptFile(f"section {i} uses compression codec {codec}, which this node cannot read")
            crc = zlib.crc32(stored, zlib.crc32(sh, crc))
            pos += len(sh) + stored_len
        tr = f.read(SNAP_TRAILER.size)
        if len(tr) < SNAP_TRAILER.size:
            raise CorruptFile("no trailer (truncated)")
        magic, n2, tcrc = SNAP_TRAILER.unpack(tr)
        if magic != SNAP_END or n2 != nsec or tcrc != crc:
            raise CorruptFile("trailer checksum mismatch")
        if f.read(1):
            raise CorruptFile("bytes after the trailer")
    return lsn, ts


def snapshot_sections(path):
    """Yield the payload of each section of a verified snapshot."""
    with open(path, "rb") as f:
        _, version, nsec, _, _, _ = SNAP_HDR.unpack(f.read(SNAP_HDR.size))
        for _ in range(nsec):
            _, _, _, stored_len, length, codec = _read_section(f, version)
            yield decompress(f.read(stored_len), codec, length)


# ---- WAL segment files --------------------------------------------------------------------

def wal_files(folder):
    """[(first lsn, path)] in LSN order."""
    out = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith("wal-") and name.endswith(".log"):
                try:
                    out.append((int(name[4:-4], 16), os.path.join(folder, name)))
                except ValueError:
                    pass
    return sorted(out)


def read_records(path):
    """Yield (lsn, ts, db, payload) of a WAL segment up to its last good record.
    Ends by yielding ('bad', offset, why) when the rest cannot be trusted."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < WAL_FILE_HDR.size or data[:8] != WAL_MAGIC:
        yield ("bad", 0, "no WAL header")
        return
    pos = WAL_FILE_HDR.size
    while pos < len(data):
        if pos + REC_HDR.size > len(data):
            yield ("bad", pos, "torn record header")
            return
        length, crc, lsn, ts, db, kind = REC_HDR.unpack_from(data, pos)
        if length < REC_HDR.size or pos + length > len(data):
            yield ("bad", pos, "torn record")
            return
        if zlib.crc32(memoryview(data)[pos + 8:pos + length]) != crc:
            yield ("bad", pos, "checksum mismatch")
            return
        yield (lsn, ts, db, data[pos + REC_HDR.size:pos + length])
        pos += length


# ---- recovery -------------------------------------------------------------------------------

def recover(cfg, client):
    """Newest valid snapshot, then the WAL after its LSN. Returns the last LSN
    applied. Logs what it loads, skips and truncates."""
    folder = cfg['dir']
    snap = os.path.join(folder, cfg['dbfilename'])
    last = 0
    _core.set_wal_mute(True)
    _core.persist_set('loading', 1)
    try:
        for path in (snap, snap + ".prev"):
            if not os.path.exists(path):
                continue
            try:
                lsn, ts = verify_snapshot(path)
            except (CorruptFile, OSError) as e:
                log.error("snapshot %s is not loaded: %s", path, e)
                continue
            t0 = time.monotonic()
            keys = 0
            done = 0
            nsec = _core.get_setting('nshards') or 1
            for i, payload in enumerate(snapshot_sections(path)):
                n, _ = _core.apply_commands(client, payload, 0, 0)
                keys += n
                done += len(payload)
                if done > PROGRESS_BYTES and (i + 1) % 8 == 0:
                    log.info("loading %s: %d%% (%d commands)", path, min(100, (i + 1) * 100 // nsec), keys)
            log.info("snapshot %s loaded (LSN %d, %d commands) in %.2fs", path, lsn, keys,
                     time.monotonic() - t0)
            last = lsn
            break
        last = replay_wal(os.path.join(folder, cfg['appenddirname']), client, last)
        expired = _core.purge_expired(int(time.time() * 1000))
        if expired:
            log.info("%d keys expired while the node was down", expired)
    finally:
        _core.set_wal_mute(False)
        _core.persist_set('loading', 0)
    return last


def replay_wal(folder, client, last):
    files = wal_files(folder)
    applied = 0
    t0 = time.monotonic()
    stop = False
    for i, (first, path) in enumerate(files):
        if stop:
            bad = path + ".unreplayed"
            log.error("WAL segment %s follows a damaged one: not replayed, kept as %s", path, bad)
            os.replace(path, bad)
            continue
        nxt = files[i + 1][0] if i + 1 < len(files) else None
        if nxt is not None and nxt <= last + 1:
            continue                                 # wholly covered by the snapshot
        for rec in read_records(path):
            if rec[0] == "bad":
                _, off, why = rec
                log.error("WAL segment %s: %s at byte %d; recovery stops at LSN %d, the last good "
                          "record (file truncated there)", path, why, off, last)
                if off:
                    with open(path, "r+b") as f:
                        f.truncate(off)
                else:
                    os.replace(path, path + ".damaged")
                stop = True
                break
            lsn, ts, db, payload = rec
            if lsn <= last:
                continue
            if lsn != last + 1:
                log.error("WAL segment %s: LSN %d follows %d (records missing); recovery stops at "
                          "LSN %d", path, lsn, last, last)
                stop = True
                break
            _core.apply_commands(client, payload, db, ts)
            last = lsn
            applied += 1
            if applied % 100000 == 0:
                log.info("WAL replay: %d records, LSN %d", applied, last)
    if applied:
        log.info("WAL replayed: %d records up to LSN %d in %.2fs", applied, last, time.monotonic() - t0)
    return last


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- the running node ------------------------------------------------------------------------

class Persistence:
    """WAL writer and snapshotter threads of the supervisor."""

    def __init__(self, cfg, wake_fds, efd):
        self.cfg = cfg
        self.dir = cfg['dir']
        self.snap_path = os.path.join(self.dir, cfg['dbfilename'])
        self.wal_dir = os.path.join(self.dir, cfg['appenddirname'])
        self.wake_fds = wake_fds
        self.efd = efd
        self.stopping = False
        self.wal_fd = -1
        self.wal_size = 0
        self.last_fsync = time.monotonic()
        self.unsynced = False
        self.snap_thread = None
        self.snap_lock = threading.Lock()
        self.prev_snap_lsn = 0
        self.writer = None
        self.last_save_check = time.monotonic()

    # ---- start ----

    def start(self, last_lsn):
        os.makedirs(self.wal_dir, exist_ok=True)
        _core.persist_set('next_lsn', last_lsn + 1)
        _core.persist_set('durable_lsn', last_lsn)
        self.wal_bytes_now()
        _core.persist_set('wal_base_bytes', _core.persist_get('wal_bytes'))
        if os.path.exists(self.snap_path):      # becomes .prev at the next snapshot
            try:
                self.prev_snap_lsn = verify_snapshot(self.snap_path)[0]
            except (CorruptFile, OSError):
                self.prev_snap_lsn = 0
        self.writer = threading.Thread(target=self.run, name="wal-writer", daemon=True)
        self.writer.start()

    def wal_bytes_now(self):
        total = sum(os.path.getsize(p) for _, p in wal_files(self.wal_dir))
        _core.persist_set('wal_bytes', total)
        return total

    # ---- the writer loop ----

    def run(self):
        poller = select.poll()
        poller.register(self.efd, select.POLLIN)
        while not self.stopping:
            try:
                self.cycle()
            except OSError as e:
                log.error("WAL write failed: %s; writes are refused until it succeeds", e)
                _core.persist_set('wal_error', 1)
                time.sleep(1)
                continue
            self.housekeeping()
            if _core.ring_pending():
                continue
            _core.supervisor_sleeping(True)
            if _core.ring_pending() or self.stopping:
                _core.supervisor_sleeping(False)
                continue
            woken = poller.poll(self.sleep_ms())
            _core.supervisor_sleeping(False)
            if woken:                       # (reading an empty eventfd raises: dear, 100 times a second)
                try:
                    os.eventfd_read(self.efd)
                except BlockingIOError:
                    pass

    def sleep_ms(self):
        """always: workers wake the writer for every commit. everysec and no:
        take the ring every DRAIN_MS, so a killed node (not a crashed machine:
        written bytes are in the page cache) loses at most that much. With the
        WAL off there is no ring to drain: only the save rules (checked once a
        second) need the clock, and BGSAVE and CONFIG SET appendonly yes wake
        the writer, so it wakes 10 times a second instead of 100 (a wake-up
        costs every pipeline-1 request on a small machine)."""
        if not _core.persist_get('appendonly'):
            return IDLE_MS
        if _core.persist_get('appendfsync') == 2:
            return 1000
        return DRAIN_MS

    def cycle(self):
        """Write what the ring holds (straight from its pages), fsync per
        policy, publish the durable LSN and wake the workers waiting for it."""
        policy = _core.persist_get('appendfsync')
        first = _core.ring_first_lsn()
        nrec = 0
        if first:
            if self.wal_fd < 0 or self.wal_size >= self.cfg['wal-segment-size']:
                self.rotate(first)
            try:
                n, last, nrec = _core.ring_write(self.wal_fd, TAKE_BYTES)
            except OSError:
                self.cut_partial_write()
                raise
            self.wal_size += n
            _core.persist_set('wal_bytes', _core.persist_get('wal_bytes') + n)
            self.unsynced = True
        if self.unsynced and (policy == 2 or (policy == 1 and time.monotonic() - self.last_fsync >= 1.0)):
            os.fsync(self.wal_fd)
            self.unsynced = False
            self.last_fsync = time.monotonic()
        if _core.persist_get('wal_error'):
            _core.persist_set('wal_error', 0)
            log.info("WAL writes succeed again")
        if nrec:
            _core.persist_set('durable_lsn', last)
            for slot, fd in enumerate(self.wake_fds):
                if _core.take_waiting(slot):
                    os.eventfd_write(fd, 1)

    def cut_partial_write(self):
        """A failed write may have put part of its records in the file: cut
        them off. They are still in the ring, and the next write puts them
        whole after the last good record."""
        try:
            os.ftruncate(self.wal_fd, self.wal_size)
        except OSError:
            pass

    def rotate(self, first_lsn):
        if self.wal_fd >= 0:
            os.fsync(self.wal_fd)
            os.close(self.wal_fd)
        path = os.path.join(self.wal_dir, f"wal-{first_lsn:016x}.log")
        self.wal_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        _write_all(self.wal_fd, WAL_FILE_HDR.pack(WAL_MAGIC, first_lsn))
        os.fsync(self.wal_fd)
        _fsync_dir(self.wal_dir)
        self.wal_size = WAL_FILE_HDR.size
        log.info("WAL segment %s started", path)

    # ---- snapshots ----

    def housekeeping(self):
        """Start a snapshot when asked (BGSAVE/SAVE), by a save rule, or when
        the WAL grew past auto-aof-rewrite-percentage of its size after the
        last compaction."""
        if self.snapshot_running():
            return
        if _core.persist_get('bgsave_request'):
            _core.persist_set('bgsave_request', 0)
            self.start_snapshot("requested")
            return
        now = time.monotonic()
        if now - self.last_save_check < 1.0:
            return
        self.last_save_check = now
        dirty = _core.persist_get('dirty')
        since = time.time() - _core.persist_get('lastsave')
        for secs, changes in cfgmod.save_rules(_core.persist_get('save')):
            if dirty >= changes and since >= secs and dirty:
                self.start_snapshot(f"{changes} changes in {secs} seconds")
                return
        if _core.persist_get('appendonly'):
            pct = _core.persist_get('rewrite_percentage')
            base = _core.persist_get('wal_base_bytes')
            size = _core.persist_get('wal_bytes')
            if pct and size >= _core.persist_get('rewrite_min_size') and size - base >= base * pct / 100:
                _core.persist_set('rewrite_running', 1)
                self.start_snapshot(f"WAL grew to {size} bytes")

    def snapshot_running(self):
        return self.snap_thread is not None and self.snap_thread.is_alive()

    def start_snapshot(self, why):
        log.info("snapshot started: %s", why)
        self.snap_thread = threading.Thread(target=self.snapshot, name="snapshot", daemon=True)
        self.snap_thread.start()

    def snapshot(self):
        """Take one snapshot (see shm/snapshot.pxi), join its parts, compact
        the WAL. Records success or failure in the persistence state."""
        with self.snap_lock:
            t0 = time.monotonic()
            _core.persist_set('snap_started_ms', int(time.time() * 1000))
            parts_dir = self.snap_path + ".parts"
            ok = False
            try:
                shutil.rmtree(parts_dir, ignore_errors=True)
                os.makedirs(parts_dir)
                _core.snap_set_dir(parts_dir)
                dirty0 = _core.persist_get('dirty')
                lsn = _core.snap_point(int(time.time() * 1000))
                ts = _core.snap_state()[3]
                _core.snap_dump_pass()
                deadline = time.monotonic() + 60
                while _core.snap_state()[1] and time.monotonic() < deadline:
                    time.sleep(0.002)
                    _core.snap_flush_parts()
                active, remaining = _core.snap_state()[:2]
                _core.snap_end()
                if remaining:
                    raise RuntimeError(f"{remaining} shards were never written (a worker died?)")
                if active == 2:
                    raise RuntimeError("a shard part could not be written")
                nshards = _core.get_setting('nshards')
                write_snapshot(self.snap_path, lsn, ts,
                               [(s, os.path.join(parts_dir, f"{s}.part")) for s in range(nshards)])
                shutil.rmtree(parts_dir, ignore_errors=True)
                _core.persist_set('dirty', max(0, _core.persist_get('dirty') - dirty0))
                _core.persist_set('lastsave', int(time.time()))
                ok = True
                log.info("snapshot of LSN %d written to %s in %.2fs", lsn, self.snap_path,
                         time.monotonic() - t0)
                self.compact(lsn)
            except Exception as e:
                _core.snap_end()
                log.error("snapshot failed: %s", e)
            finally:
                _core.persist_set('last_bgsave_ok', 1 if ok else 0)
                _core.persist_set('last_bgsave_secs', int(time.monotonic() - t0))
                _core.persist_set('rewrite_running', 0)
                _core.persist_set('snap_seq', _core.persist_get('snap_seq') + 1)

    def compact(self, lsn):
        """Delete the WAL segments wholly before the previous snapshot (the
        previous one stays loadable with the WAL after it)."""
        keep_from = self.prev_snap_lsn + 1
        self.prev_snap_lsn = lsn
        files = wal_files(self.wal_dir)
        for i, (first, path) in enumerate(files):
            nxt = files[i + 1][0] if i + 1 < len(files) else None
            if nxt is not None and nxt <= keep_from:
                os.unlink(path)
                log.info("WAL segment %s removed (before LSN %d)", path, keep_from)
        _core.persist_set('wal_base_bytes', self.wal_bytes_now())

    # ---- stop ----

    def stop(self, final_save, force_save=False):
        """Orderly shutdown, workers gone: drain and fsync the ring, then the
        final snapshot if save rules exist or SHUTDOWN SAVE asked (as Redis)."""
        self.stopping = True
        os.eventfd_write(self.efd, 1)
        if self.writer is not None:
            self.writer.join(10)
        while _core.ring_pending():
            self.cycle()
        if self.wal_fd >= 0:
            os.fsync(self.wal_fd)
        if self.snap_thread is not None:
            self.snap_thread.join()
        if final_save and (_core.persist_get('save') or force_save):
            self.snapshot()
        if self.wal_fd >= 0:
            os.close(self.wal_fd)
            self.wal_fd = -1


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
