"""Extraction is bounded by the backup's manifest: decompression bombs, sparse members and
members the manifest does not promise are refused before their bytes are written."""
import io
import json
import os
import subprocess
import tarfile
import tracemalloc
import zlib

import pytest

import zkarchives as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as X

MIB = 1 << 20
LOG = "datalog/version-2/log.%x" % (H.E + 1)


def genuine(tmp_path, codec="none"):
    """(archive path, side manifest) of a genuine backup."""
    path = H.write_backup(str(tmp_path / "genuine"), H.member_files(), codec=codec)
    with open(os.path.join(os.path.dirname(path), "manifest.json")) as f:
        return path, json.load(f)


def dests(tmp_path):
    return {"data": str(tmp_path / "snap"), "datalog": str(tmp_path / "log")}


def tree_bytes(root):
    total = 0
    for base, _dirs, files in os.walk(str(root)):
        total += sum(os.lstat(os.path.join(base, n)).st_size for n in files)
    return total


def left_behind(tmp_path, d):
    assert all(os.listdir(p) == [] for p in d.values())
    assert not os.path.exists(str(tmp_path / "work"))


def zero_member_tar(name, size, out_write):
    """Write a tar stream of one member ``name`` of ``size`` zero bytes to ``out_write`` in
    pieces (the member is never held in memory)."""
    info = tarfile.TarInfo(name)
    info.size = size
    out_write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    left = size
    zeros = b"\0" * MIB
    while left:
        n = min(left, MIB)
        out_write(zeros[:n])
        left -= n
    out_write(b"\0" * (2 * A.BLOCK + -size % A.BLOCK))


def gzip_bomb(name, size):
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = []
    zero_member_tar(name, size, lambda b: parts.append(comp.compress(b)))
    parts.append(comp.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_refused_from_its_header_before_writing(tmp_path):
    _path, side = genuine(tmp_path, "gzip")
    bomb = gzip_bomb(LOG, 64 * MIB)
    assert len(bomb) < 80000
    stream = A.DecodedStream(io.BytesIO(bomb), "gzip")
    d = dests(tmp_path)
    with pytest.raises(X.ExtractError, match="is 67108864 bytes in the archive.*refused before writing"):
        X.extract(stream, d, str(tmp_path / "work"), expect=side)
    # Only the header was decoded: nothing of the 64 MiB was written nor even inflated.
    assert stream.bytes <= A.READ_SIZE
    left_behind(tmp_path, d)


def test_an_unlisted_member_is_refused_before_writing(tmp_path):
    _path, side = genuine(tmp_path)
    stream = A.DecodedStream(io.BytesIO(gzip_bomb("data/version-2/snapshot.1", 64 * MIB)), "gzip")
    d = dests(tmp_path)
    with pytest.raises(X.ExtractError, match="snapshot.1 is not in the manifest.*refused before writing"):
        X.extract(stream, d, str(tmp_path / "work"), expect=side)
    left_behind(tmp_path, d)


def test_a_stream_longer_than_the_manifest_says_is_cut_at_that_length(tmp_path):
    """The genuine archive's members, then zeros in place of its end: the stream is
    refused one byte past the tar length the manifest records."""
    path, side = genuine(tmp_path)
    with open(path, "rb") as f:
        tar = f.read()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = comp.compress(tar)
    for _i in range(64):
        blob += comp.compress(b"\0" * MIB)
    blob += comp.flush()
    stream = A.DecodedStream(io.BytesIO(blob), "gzip")
    d = dests(tmp_path)
    with pytest.raises(X.ExtractError, match="decodes to more than the %d bytes" % side["archive"]["raw_bytes"]):
        X.extract(stream, d, str(tmp_path / "work"), expect=side)
    assert stream.bytes == side["archive"]["raw_bytes"] + 1
    left_behind(tmp_path, d)


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_a_sparse_member_is_refused_before_writing(tmp_path, fmt):
    """A 10 KB tar that GNU tar itself writes, holding a 64 MiB sparse file (GNU sparse
    headers, or pax GNU.sparse records)."""
    src = tmp_path / "src" / "datalog" / "version-2"
    src.mkdir(parents=True)
    with open(str(src / ("log.%x" % (H.E + 1))), "wb") as f:
        f.write(b"ZKLG")
        f.truncate(64 * MIB)
    tar_path = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "--format=" + fmt, "-cf", str(tar_path), "-C", str(tmp_path / "src"),
                    "datalog"], check=True)
    assert tar_path.stat().st_size < 20000
    _path, side = genuine(tmp_path)
    side = dict(side, files=[dict(f, size=64 * MIB) if f["path"] == LOG else f for f in side["files"]])
    d = dests(tmp_path)
    with pytest.raises(X.ExtractError, match="sparse file|not a regular file"):
        with A.open_stream(str(tar_path)) as stream:
            X.extract(stream, d, str(tmp_path / "work"), expect=side)
    assert tree_bytes(tmp_path / "snap") + tree_bytes(tmp_path / "log") == 0
    left_behind(tmp_path, d)


@pytest.mark.skipif(not compression.HAS_ZSTD, reason="needs zstandard")
def test_a_zstd_bomb_never_expands_beyond_one_read(tmp_path):
    """8 KB of zstd that stand for 256 MiB: no read holds more than the reader's chunk,
    and with the manifest's length the stream is refused at that length."""
    import zstandard
    comp = zstandard.ZstdCompressor(level=19).compressobj()
    blob = b"".join(comp.compress(b"\0" * MIB) for _i in range(256)) + comp.flush()
    assert len(blob) < 16000
    tracemalloc.start()
    try:
        stream = A.DecodedStream(io.BytesIO(blob), "zstd")
        largest = 0
        while True:
            data = stream.read(64 * MIB)
            if not data:
                break
            largest = max(largest, len(data))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stream.bytes == 256 * MIB and largest <= A.READ_SIZE
    assert peak < 16 * MIB
    stream = A.DecodedStream(io.BytesIO(blob), "zstd", limit=3 * MIB)
    with pytest.raises(A.ArchiveError, match="more than the 3145728 bytes"):
        stream.drain()
    assert stream.bytes == 3 * MIB + 1


def test_the_manifest_inside_is_read_with_a_cap(tmp_path):
    stream = A.DecodedStream(io.BytesIO(gzip_bomb(A.MANIFEST, 64 * MIB)), "gzip")
    with pytest.raises(A.ArchiveError, match="manifest.json in the archive is 67108864 bytes"):
        A.read(stream)
    assert stream.bytes <= A.READ_SIZE


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                                  tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE])
def test_members_that_are_not_regular_files_are_refused(tmp_path, kind):
    info = tarfile.TarInfo(LOG)
    info.type = kind
    info.linkname = "/etc/shadow" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    raw = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + b"\0" * (2 * A.BLOCK)
    d = dests(tmp_path)
    _path, side = genuine(tmp_path)
    with pytest.raises(X.ExtractError, match="not a regular file"):
        X.extract(A.DecodedStream(io.BytesIO(raw), "none"), d, str(tmp_path / "work"), expect=side)
    left_behind(tmp_path, d)


@pytest.mark.parametrize("pax,why", [
    ({"GNU.sparse.size": "67108864"}, "sparse"),
    ({"linkpath": "/etc/shadow"}, "unexpected pax header"),
    ({"path": "../../etc/cron.d/x"}, "unsafe"),
    ({"size": "67108864"}, "is 67108864 bytes in the archive"),
])
def test_pax_headers_that_change_the_member_are_refused(tmp_path, pax, why):
    info = tarfile.TarInfo(LOG)
    info.size = 4
    info.pax_headers = pax
    raw = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + b"ZKLG" + b"\0" * (3 * A.BLOCK - 4)
    d = dests(tmp_path)
    _path, side = genuine(tmp_path)
    with pytest.raises(X.ExtractError, match=why):
        X.extract(A.DecodedStream(io.BytesIO(raw), "none"), d, str(tmp_path / "work"), expect=side)
    left_behind(tmp_path, d)


@pytest.mark.parametrize("codec", compression.available())
def test_the_genuine_archive_extracts_under_its_bounds(tmp_path, codec):
    path, side = genuine(tmp_path, codec)
    d = dests(tmp_path)
    stream = A.open_stream(path)
    try:
        manifest, written = X.extract(stream, d, str(tmp_path / "work"), expect=side)
    finally:
        stream.close()
    assert manifest["backup_id"] == "b1" and len(written) == 4
    assert stream.bytes == side["archive"]["raw_bytes"]
    assert tree_bytes(tmp_path / "snap") + tree_bytes(tmp_path / "log") == side["totals"]["bytes"]


def test_a_side_manifest_that_lists_other_files_is_refused(tmp_path):
    path, side = genuine(tmp_path)
    side = dict(side, files=[f for f in side["files"] if f["path"] != LOG])
    d = dests(tmp_path)
    stream = A.open_stream(path)
    try:
        with pytest.raises(X.ExtractError, match="not in the manifest"):
            X.extract(stream, d, str(tmp_path / "work"), expect=side)
    finally:
        stream.close()
    left_behind(tmp_path, d)


def test_a_truncated_zstd_archive_is_refused_by_its_length(tmp_path):
    if not compression.HAS_ZSTD:
        pytest.skip("needs zstandard")
    path, side = genuine(tmp_path, "zstd")
    with open(path, "rb") as f:
        blob = f.read()
    for cut in (len(blob) // 2, len(blob) - 3):
        with pytest.raises(A.ArchiveError):
            A.read(A.DecodedStream(io.BytesIO(blob[:cut]), "zstd"), expect=side)


@pytest.mark.parametrize("codec", compression.available())
def test_every_codec_reads_in_bounded_pieces(codec):
    data = os.urandom(100000) + b"\0" * (8 * MIB) + b"zookeeper " * 1000
    comp = compression.compressor(codec)
    blob = comp.compress(data) + comp.flush()
    for n in (1, 1000, 65536):
        r = compression.reader(codec, io.BytesIO(blob), chunk=4096)
        got = []
        while True:
            piece = r.read(n)
            assert len(piece) <= n
            if not piece:
                break
            got.append(piece)
            if n == 1 and len(got) > 3000:
                break
        if n > 1:
            assert b"".join(got) == data
    if codec in ("gzip", "lz4"):
        r = compression.reader(codec, io.BytesIO(blob[:-5]))
        with pytest.raises(compression.CompressionError, match="truncated"):
            while r.read(65536):
                pass
    if codec != "none":
        r = compression.reader(codec, io.BytesIO(blob + b"trailing garbage"))
        with pytest.raises(compression.CompressionError):
            while r.read(65536):
                pass
