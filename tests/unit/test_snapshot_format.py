"""Snapshot files (cluster/persist.py): every codec round-trips, files of the
older format version still load, and damage is caught before loading."""
import struct
import zlib

import pytest

from cachecyt.cluster import persist

PAYLOADS = [b"*3\r\n$3\r\nSET\r\n$3\r\nk%d\r\n$100\r\n%s\r\n" % (i, b"v" * 100) for i in range(3)]
CODECS = [persist.CODEC_NONE, persist.CODEC_ZLIB] + (
    [persist.CODEC_ZSTD] if persist._zstd() is not None else [])


def write(tmp_path, codec):
    parts = []
    for i, p in enumerate(PAYLOADS):
        f = tmp_path / f"{i}.part"
        f.write_bytes(p * 200)
        parts.append((i, str(f)))
    path = str(tmp_path / "dump.ccyt")
    persist.write_snapshot(path, 42, 1700000000000, parts, codec=codec)
    return path


@pytest.mark.parametrize("codec", CODECS)
def test_codecs_round_trip(tmp_path, codec):
    path = write(tmp_path, codec)
    assert persist.verify_snapshot(path) == (42, 1700000000000)
    assert list(persist.snapshot_sections(path)) == [p * 200 for p in PAYLOADS]
    if codec != persist.CODEC_NONE:
        assert (tmp_path / "dump.ccyt").stat().st_size < sum(len(p) * 200 for p in PAYLOADS) // 5


def test_version_1_files_still_load(tmp_path):
    """The format before compression: sections are shard, crc, length, payload."""
    head = persist.SNAP_HDR.pack(persist.SNAP_MAGIC, 1, len(PAYLOADS), 7, 123, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    body, crc = head, zlib.crc32(head)
    for i, p in enumerate(PAYLOADS):
        sh = struct.pack("<IIQ", i, zlib.crc32(p), len(p))
        body += sh + p
        crc = zlib.crc32(p, zlib.crc32(sh, crc))
    body += persist.SNAP_TRAILER.pack(persist.SNAP_END, len(PAYLOADS), crc)
    path = tmp_path / "old.ccyt"
    path.write_bytes(body)
    assert persist.verify_snapshot(str(path)) == (7, 123)
    assert list(persist.snapshot_sections(str(path))) == PAYLOADS


@pytest.mark.parametrize("codec", CODECS)
def test_damaged_compressed_section_is_refused(tmp_path, codec):
    path = write(tmp_path, codec)
    data = bytearray(open(path, "rb").read())
    data[persist.SNAP_HDR.size + persist.SECTION_HDR.size + 3] ^= 0x10
    open(path, "wb").write(bytes(data))
    with pytest.raises(persist.CorruptFile, match="checksum mismatch in section 0"):
        persist.verify_snapshot(path)


def test_unknown_version_is_refused(tmp_path):
    path = write(tmp_path, persist.CODEC_NONE)
    data = bytearray(open(path, "rb").read())
    data[8:12] = struct.pack("<I", 9)
    open(path, "wb").write(bytes(data))
    with pytest.raises(persist.CorruptFile, match="format version 9"):
        persist.verify_snapshot(path)
