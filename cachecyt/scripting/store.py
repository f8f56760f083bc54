"""The script cache and the function libraries, shared by every worker of a node
and kept across worker restarts (docs/adr/0007-scripting.md).

Both live in two small files beside the node segment in /dev/shm (memory, like
the segment): `<segment>.scripts`, an append-only log of `sha len\\n body`
records, and `<segment>.functions`, the whole set of library sources (msgpack
list), rewritten on every change. Writers take an exclusive flock, readers a
shared one; nothing here is on the path of ordinary commands. Every change that
is not an append (SCRIPT FLUSH, any FUNCTION change) bumps a generation counter
in the segment header, so a worker notices with one load that what it keeps in
its own Lua state is stale. The supervisor removes both files with the segment.

No Lua here: the supervisor imports this module."""
import fcntl
import os
import tempfile

import msgpack

from cachecyt import _core


def base_path(segment_name: str) -> str:
    """Where the files of the node whose segment is segment_name live."""
    root = '/dev/shm' if os.path.isdir('/dev/shm') else tempfile.gettempdir()
    return os.path.join(root, segment_name.strip('/').replace('/', '_'))


def remove_files(segment_name: str):
    """The supervisor: forget the scripts and libraries of a node (start, stop)."""
    for suffix in ('.scripts', '.functions'):
        try:
            os.unlink(base_path(segment_name) + suffix)
        except FileNotFoundError:
            pass


class _Locked:
    def __init__(self, fd, exclusive):
        self.fd = fd
        self.mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH

    def __enter__(self):
        fcntl.flock(self.fd, self.mode)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def _read_from(fd, offset) -> bytes:
    chunks = []
    while True:
        b = os.pread(fd, 1 << 20, offset)
        if not b:
            return b''.join(chunks)
        chunks.append(b)
        offset += len(b)


class Store:
    """This worker's view of the shared scripts and libraries."""

    def __init__(self, base: str):
        self.base = base
        self.sfd = os.open(base + '.scripts', os.O_RDWR | os.O_CREAT, 0o600)
        self.ffd = os.open(base + '.functions', os.O_RDWR | os.O_CREAT, 0o600)
        self.scripts = {}          # sha (bytes, lowercase hex) -> body, as far as read
        self.offset = 0            # bytes of the script log read
        self.gen = None            # script generation the dict belongs to

    def close(self):
        os.close(self.sfd)
        os.close(self.ffd)

    # ---- scripts ---------------------------------------------------------------

    def sync(self):
        gen = _core.script_generations()[0]
        if gen != self.gen:
            self.scripts.clear()
            self.offset = 0
            self.gen = gen

    def _read_new(self):
        """Read the records appended since the last read. Shared lock held."""
        self.sync()
        data = _read_from(self.sfd, self.offset)
        pos = 0
        while True:
            nl = data.find(b'\n', pos)
            if nl < 0:
                break
            sha, n = data[pos:nl].split(b' ')
            end = nl + 1 + int(n)
            if end > len(data):
                break
            self.scripts[sha] = data[nl + 1:end]
            pos = end
        self.offset += pos

    def get(self, sha: bytes):
        """The body of a cached script, or None."""
        self.sync()
        body = self.scripts.get(sha)
        if body is None:
            with _Locked(self.sfd, False):
                self._read_new()
            body = self.scripts.get(sha)
        return body

    def add(self, sha: bytes, body: bytes):
        self.sync()
        if sha in self.scripts:
            return
        with _Locked(self.sfd, True):
            self._read_new()
            if sha not in self.scripts:
                os.lseek(self.sfd, 0, os.SEEK_END)
                os.write(self.sfd, b'%s %d\n%s' % (sha, len(body), body))
        self.scripts[sha] = body

    def flush_scripts(self):
        with _Locked(self.sfd, True):
            os.ftruncate(self.sfd, 0)
            _core.script_bump_generation(False)
            self.sync()

    # ---- function libraries --------------------------------------------------------

    def function_gen(self):
        return _core.script_generations()[1]

    def libraries(self) -> list:
        """Every library's source, in load order."""
        with _Locked(self.ffd, False):
            return self._libraries_locked()

    def _libraries_locked(self):
        data = _read_from(self.ffd, 0)
        return msgpack.unpackb(data) if data else []

    def change_libraries(self, change):
        """Apply change(list of sources) -> new list (or raise) under the lock."""
        with _Locked(self.ffd, True):
            new = change(self._libraries_locked())
            data = msgpack.packb(new)
            os.ftruncate(self.ffd, 0)
            os.pwrite(self.ffd, data, 0)
            _core.script_bump_generation(True)
