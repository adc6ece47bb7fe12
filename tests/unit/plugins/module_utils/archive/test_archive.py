"""archive: tar stream + manifest; every file is checked on the way back; tar reads it too."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption

KEY = os.urandom(32)


def make(tmp_path, codec="none", key=None, body=None):
    src = tmp_path / "log.1"
    src.write_bytes(body if body is not None else b"H" * 16 + os.urandom(50000) + b"\0" * 70000)
    out = io.BytesIO()
    enc = A.Encoder(out.write, codec, key=key)
    w = A.ArchiveWriter(enc, read_size=4096)
    w.add("datalog/version-2/log.1", [b"HDR!", A.FilePart(str(src), 16, 50000)], meta={"role": "log"})
    w.add("data/version-2/currentEpoch", [b"3"], meta={"role": "epoch"})
    manifest = w.finish({"backup_id": "b1", "kind": "full"})
    return out.getvalue(), manifest, src


def test_manifest_lists_every_file_with_its_hash(tmp_path):
    blob, manifest, src = make(tmp_path)
    data = src.read_bytes()
    import hashlib
    want = hashlib.sha256(b"HDR!" + data[16:50016]).hexdigest()
    assert manifest["format"] == A.FORMAT and manifest["format_version"] == A.FORMAT_VERSION
    assert manifest["files"][0] == {"path": "datalog/version-2/log.1", "size": 50004, "sha256": want, "role": "log"}
    assert manifest["totals"] == {"files": 2, "bytes": 50005}
    assert len(blob) % A.RECORD == 0


@pytest.mark.parametrize("codec", compression.available())
@pytest.mark.parametrize("encrypted", [False, True])
def test_round_trip(tmp_path, codec, encrypted):
    key = KEY if encrypted else None
    blob, manifest, src = make(tmp_path, codec, key)
    dest = tmp_path / "out"
    got = A.read(A.DecodedStream(io.BytesIO(blob), codec, key), dest=str(dest))
    assert got == json.loads(A.manifest_bytes(manifest))
    assert (dest / "datalog/version-2/log.1").read_bytes() == b"HDR!" + src.read_bytes()[16:50016]
    assert (dest / "data/version-2/currentEpoch").read_bytes() == b"3"


def test_gnu_tar_reads_the_plain_archive(tmp_path):
    blob, _manifest, _src = make(tmp_path)
    path = tmp_path / "archive.tar"
    path.write_bytes(blob)
    listing = subprocess.run(["tar", "-tf", str(path)], capture_output=True, text=True, check=False)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == ["datalog/version-2/log.1", "data/version-2/currentEpoch", "manifest.json"]


def test_a_changed_byte_is_found(tmp_path):
    blob, _manifest, _src = make(tmp_path)
    pos = blob.index(b"HDR!") + 1000
    bad = blob[:pos] + bytes([blob[pos] ^ 0xFF]) + blob[pos + 1:]
    with pytest.raises(A.ArchiveError) as err:
        A.read(A.DecodedStream(io.BytesIO(bad), "none"))
    assert "does not match its manifest" in str(err.value) and "log.1" in str(err.value)


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_a_truncated_archive_is_refused(tmp_path, codec):
    blob, _manifest, _src = make(tmp_path, codec)
    for cut in (len(blob) // 3, len(blob) - 11000 if codec == "none" else len(blob) - 20):
        with pytest.raises(A.ArchiveError):
            A.read(A.DecodedStream(io.BytesIO(blob[:cut]), codec))


def test_an_encrypted_archive_needs_the_right_key(tmp_path):
    blob, _manifest, _src = make(tmp_path, "zstd" if compression.HAS_ZSTD else "gzip", KEY)
    codec = "zstd" if compression.HAS_ZSTD else "gzip"
    with pytest.raises(A.ArchiveError) as err:
        A.read(A.DecodedStream(io.BytesIO(blob), codec, os.urandom(32)))
    assert "other keys" in str(err.value)
    path = tmp_path / ("archive.tar" + compression.SUFFIX[codec] + encryption.SUFFIX)
    path.write_bytes(blob)
    with pytest.raises(A.ArchiveError, match="give the encryption key"):
        A.open_stream(str(path))
    assert A.read(A.open_stream(str(path), key=KEY))["backup_id"] == "b1"


def test_a_file_that_shrank_while_read_fails(tmp_path):
    src = tmp_path / "snap"
    src.write_bytes(b"x" * 100)
    w = A.ArchiveWriter(A.Encoder(io.BytesIO().write))
    with pytest.raises(A.ArchiveError, match="ended 50 bytes early"):
        w.add("data/version-2/snapshot.1", [A.FilePart(str(src), 0, 150)])


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs", "a/../../b", "", "a//b", ".hidden"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(A.ArchiveError):
        A.check_name(name)


def test_reader_refuses_links_and_unlisted_members(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("data/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    with pytest.raises(A.ArchiveError, match="not a regular file"):
        A.read(A.DecodedStream(io.BytesIO(raw.getvalue()), "none"))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("data/extra", b"x"), ("manifest.json", json.dumps(
                {"format": A.FORMAT, "format_version": 1, "files": []}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    with pytest.raises(A.ArchiveError, match="data/extra is not in the manifest"):
        A.read(A.DecodedStream(io.BytesIO(raw.getvalue()), "none"))


def test_archive_names():
    assert A.archive_name("zstd", True) == "archive.tar.zst.enc"
    assert A.archive_name("none", False) == "archive.tar"


def test_a_file_removed_before_it_is_read_fails_clearly(tmp_path):
    w = A.ArchiveWriter(A.Encoder(io.BytesIO().write))
    with pytest.raises(A.ArchiveError, match="cannot read .*removed while the backup ran"):
        w.add("data/version-2/snapshot.1", [A.FilePart(str(tmp_path / "gone"), 0, 10)])
