"""Durability, supervisor side: the WAL writer (drains the shm log ring to
segment files, fsyncs per appendfsync, tells workers what is durable), the
snapshotter (SAVE/BGSAVE, save rules, WAL compaction) and recovery at start.
The worker side (records, the dump-before-write rule) is in shm/wal.pxi and
shm/snapshot.pxi; the design is in docs/adr/0009-durability.md.

Files, all in `dir`:
  <dbfilename>            the newest snapshot; <dbfilename>.prev the one before
  <appenddirname>/wal-<first LSN, 16 hex>.log   WAL segments, in LSN order

Snapshot file: header "CCYTSNAP" u32 version u32 sections u64 lsn i64 ts_ms
u32 crc32(header); then sections; then "CCYTEND." u32 sections u32
crc32(everything before). Version 3 (written now) is written as the snapshot
is made: the header's section count is 0 and sections follow until the
trailer, each a piece of one shard's walk (about a MiB of commands) or of
the keys copied before a change (shard 0xffffffff); the loader applies them
all, in any order. Versions 2 and 3: section = u32 shard u32 crc32(stored)
u64 stored length u64 payload length u32 codec, then the stored bytes: the
payload (RESP commands) as is (codec 0), zlib (1) or zstandard (2). Version 2
(still read) has one section per shard and their count in the header;
version 1 (still read): section = u32 shard u32 crc32(payload) u64 length,
payload. Snapshots are compressed with zstandard when it is installed (it
costs about what writing the bytes does and makes the file ~10x smaller; zlib
is 4x slower for less: docs/adr/0009-durability.md), else stored as is. WAL segment: "CCYTWAL1" u64 first LSN, then records (shm/wal.pxi).
<appenddirname>/start.json says whether the WAL that starts at LSN 1 started
over data the node already had (appendonly turned on at run time, or a
start from a snapshot of LSN 0): then its records alone do not rebuild the
node from empty, and backups must not claim that they do (cluster/backup.py).
A file that fails a check is never loaded in part: a snapshot is verified
whole before loading; a WAL segment is replayed up to its last good record
and truncated there, with a log line."""
import json
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
SNAP_VERSION = 3
SNAP_VERSIONS = (1, 2, 3)                     # what this build reads
COPIES_SHARD = 0xffffffff                     # section of keys copied before a change
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


class SnapshotWriter:
    """A snapshot file written while it is made (format version 3): the
    header, each section as it comes (compressed with codec, default_codec()
    when None), then the trailer with their count. Only one section is held
    at a time. Written to path.tmp; close() fsyncs and renames it (the
    previous snapshot becomes path.prev); abort() removes it."""

    def __init__(self, path, lsn, ts_ms, codec=None):
        self.path = path
        self.tmp = path + ".tmp"
        self.codec = default_codec() if codec is None else codec
        self.zstd = _zstd().ZstdCompressor(level=1) if self.codec == CODEC_ZSTD else None
        self.sections = 0
        self.plain_bytes = 0
        self.f = open(self.tmp, "wb")
        head = SNAP_HDR.pack(SNAP_MAGIC, SNAP_VERSION, 0, lsn, ts_ms, 0)
        head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
        self.f.write(head)
        self.crc = zlib.crc32(head)

    def section(self, shard, payload):
        stored = self.zstd.compress(payload) if self.zstd else compress(payload, self.codec)
        sh = SECTION_HDR.pack(shard, zlib.crc32(stored), len(stored), len(payload), self.codec)
        self.f.write(sh)
        self.f.write(stored)
        self.crc = zlib.crc32(stored, zlib.crc32(sh, self.crc))
        self.sections += 1
        self.plain_bytes += len(payload)

    def close(self):
        self.f.write(SNAP_TRAILER.pack(SNAP_END, self.sections, self.crc))
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        if os.path.exists(self.path):
            os.replace(self.path, self.path + ".prev")
        os.replace(self.tmp, self.path)
        _fsync_dir(os.path.dirname(self.path) or ".")

    def abort(self):
        self.f.close()
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def write_snapshot(path, lsn, ts_ms, parts, codec=None):
    """parts: [(shard, part file path)], one section each (tests, tools)."""
    w = SnapshotWriter(path, lsn, ts_ms, codec)
    try:
        for shard, part in parts:
            with open(part, "rb") as pf:
                w.section(shard, pf.read())
    except BaseException:
        w.abort()
        raise
    w.close()


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


def _sections_end(f, version, i, nsec):
    """True when the sections are over: version 3 ends at the trailer's
    magic (a section header never starts with it), older ones after nsec."""
    if version < 3:
        return i >= nsec
    peek = f.read(len(SNAP_END))
    f.seek(-len(peek), 1)
    if len(peek) < len(SNAP_END):
        raise CorruptFile(f"truncated in section {i}")
    return peek == SNAP_END


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
        i = 0
        while not _sections_end(f, version, i, nsec):
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
            i += 1
        tr = f.read(SNAP_TRAILER.size)
        if len(tr) < SNAP_TRAILER.size:
            raise CorruptFile("no trailer (truncated)")
        magic, n2, tcrc = SNAP_TRAILER.unpack(tr)
        if magic != SNAP_END or n2 != i or tcrc != crc:
            raise CorruptFile("trailer checksum mismatch")
        if f.read(1):
            raise CorruptFile("bytes after the trailer")
    return lsn, ts


def snapshot_sections(path):
    """Yield the payload of each section of a verified snapshot."""
    with open(path, "rb") as f:
        _, version, nsec, _, _, _ = SNAP_HDR.unpack(f.read(SNAP_HDR.size))
        i = 0
        while not _sections_end(f, version, i, nsec):
            _, _, _, stored_len, length, codec = _read_section(f, version)
            yield decompress(f.read(stored_len), codec, length)
            i += 1


# ---- where the WAL starts --------------------------------------------------------------------

WAL_START = "start.json"


def wal_start_over_data(wal_dir):
    """True when the WAL's LSN 1 was written over data the node already had
    (the note written when that segment was started)."""
    try:
        with open(os.path.join(wal_dir, WAL_START)) as f:
            return bool(json.load(f).get("over_data"))
    except (OSError, ValueError):
        return False


def note_wal_start(wal_dir, over_data):
    """Record whether LSN 1 is written over earlier data (see above)."""
    path = os.path.join(wal_dir, WAL_START)
    if not over_data:
        if os.path.exists(path):
            os.unlink(path)
        return
    with open(path + ".tmp", "w") as f:
        json.dump({"first_lsn": 1, "over_data": True}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    _fsync_dir(wal_dir)


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
        self.wal_from_empty = False           # set by start()
        self.writer = None
        self.last_save_check = time.monotonic()

    # ---- start ----

    def start(self, last_lsn):
        os.makedirs(self.wal_dir, exist_ok=True)
        # a WAL from LSN 1 rebuilds the node from empty only when the node
        # logged from its start with nothing loaded
        self.wal_from_empty = (last_lsn == 0 and bool(_core.persist_get('appendonly'))
                               and _core.keyspace_keys() == 0)
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
        if first_lsn == 1:
            note_wal_start(self.wal_dir, not self.wal_from_empty)
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
        """Take one snapshot (see shm/snapshot.pxi): walk every shard in
        steps, writing each piece to the file as it comes, then append the
        keys the workers copied before changing them; compact the WAL.
        Records success or failure in the persistence state."""
        with self.snap_lock:
            t0 = time.monotonic()
            _core.persist_set('snap_started_ms', int(time.time() * 1000))
            parts_dir = self.snap_path + ".parts"
            ok = False
            out = None
            try:
                shutil.rmtree(parts_dir, ignore_errors=True)
                os.makedirs(parts_dir)
                _core.snap_set_dir(parts_dir)
                dirty0 = _core.persist_get('dirty')
                lsn = _core.snap_point(int(time.time() * 1000))
                ts = _core.snap_state()[3]
                out = SnapshotWriter(self.snap_path, lsn, ts)
                worst, copied = self.walk(out)
                deadline = time.monotonic() + 60
                while _core.snap_copies_state()[0] and time.monotonic() < deadline:
                    _core.snap_flush_parts()
                    time.sleep(0.002)
                pending = _core.snap_copies_state()[0]
                active = _core.snap_state()[0]
                _core.snap_end()
                if pending:
                    raise RuntimeError(f"{pending} batches of keys copied before a change were never "
                                       f"written (a worker died?)")
                if active == 2:
                    raise RuntimeError("keys could not be copied or written (out of memory or disk)")
                for name in sorted(os.listdir(parts_dir)):
                    append_copies(out, os.path.join(parts_dir, name))
                out.close()
                out = None
                shutil.rmtree(parts_dir, ignore_errors=True)
                _core.persist_set('dirty', max(0, _core.persist_get('dirty') - dirty0))
                _core.persist_set('lastsave', int(time.time()))
                ok = True
                log.info("snapshot of LSN %d written to %s in %.2fs (%d keys copied before a change; "
                         "longest step under a shard lock %.1f ms)", lsn, self.snap_path,
                         time.monotonic() - t0, copied, worst / 1000)
                self.compact(lsn)
            except Exception as e:
                _core.snap_end()
                log.error("snapshot failed: %s", e)
            finally:
                if out is not None:
                    out.abort()
                _core.persist_set('last_bgsave_ok', 1 if ok else 0)
                _core.persist_set('last_bgsave_secs', int(time.monotonic() - t0))
                _core.persist_set('rewrite_running', 0)
                _core.persist_set('snap_seq', _core.persist_get('snap_seq') + 1)

    def walk(self, out):
        """Every shard in steps (shm/snapshot.pxi snap_dump_shard), each piece
        of commands written to `out` as it comes. The walk always runs to its
        end, since it gives every item the snapshot's mark; a write error is
        raised after it. Returns (longest step under a lock in µs, keys copied
        by workers before a change)."""
        failed = []

        def sink(shard):
            def put(data):
                if not failed:
                    try:
                        out.section(shard, data)
                    except Exception as e:          # noqa: BLE001 - raised once the walk is over
                        failed.append(e)
            return put

        worst = 0
        for s in range(_core.get_setting('nshards')):
            worst = max(worst, _core.snap_dump_shard(s, sink(s))[1])
        if failed:
            raise failed[0]
        return worst, _core.snap_copies_state()[1]

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


def append_copies(out, path, chunk=1 << 20):
    """Append to the snapshot `out` a batch file of keys a worker copied
    before changing them (raw copies, shm/snapshot.pxi), formatted into
    commands a chunk at a time."""
    buf = b""
    with open(path, "rb") as f:
        while True:
            more = f.read(chunk)
            buf = buf + more
            commands, used = _core.snap_format_copies(buf)
            if commands:
                out.section(COPIES_SHARD, commands)
            buf = buf[used:]
            if not more:
                break
    if buf:
        raise CorruptFile(f"{path} ends inside a copied key")


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
