"""restore_extract: archives land in the directories given, and nothing else gets out."""
import os

import pytest

import zkarchives as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as X


def dests(tmp_path):
    return {"data": str(tmp_path / "snap"), "datalog": str(tmp_path / "log")}


def test_parts_go_to_their_directories(tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    d = dests(tmp_path)
    manifest, written = X.extract(archive.open_stream(path), d, str(tmp_path / "work"))
    assert manifest["backup_id"] == "b1"
    assert sorted(os.listdir(os.path.join(d["data"], "version-2"))) == [
        "acceptedEpoch", "currentEpoch", "snapshot.100000002"]
    assert os.listdir(os.path.join(d["datalog"], "version-2")) == ["log.100000001"]
    assert len(written) == 4 and not os.path.exists(str(tmp_path / "work"))


def test_one_directory_for_both_parts(tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    d = str(tmp_path / "both")
    X.extract(archive.open_stream(path), {"data": d, "datalog": d}, str(tmp_path / "work"))
    assert sorted(os.listdir(os.path.join(d, "version-2"))) == [
        "acceptedEpoch", "currentEpoch", "log.100000001", "snapshot.100000002"]


@pytest.mark.parametrize("members", [
    [(H.reg("/etc/cron.d/x"), b"evil")],
    [(H.reg("data/version-2/../../../x"), b"evil")],
    [(H.reg("data/../x"), b"evil")],
    [(H.link("data/version-2/snapshot.1", "/etc/shadow"), None)],
    [(H.link("data/version-2/snapshot.1", "/etc/shadow", hard=True), None)],
    [(H.reg("data/version-2/sub/snapshot.1"), b"deep")],
    [(H.reg("elsewhere/version-2/snapshot.1"), b"unknown part")],
    [(H.reg("data/version-2/snapshot.1"), b"ok"), (H.link("data/version-2/log.1", "../../../x"), None)],
], ids=["absolute", "dotdot", "dotdot-short", "symlink", "hardlink", "nested", "unknown-part", "later-link"])
def test_hostile_archives_are_refused_and_leave_nothing(tmp_path, members):
    d = dests(tmp_path)
    stream = H.raw_tar(members)
    with pytest.raises(X.ExtractError):
        X.extract(stream, d, str(tmp_path / "work"))
    for p in d.values():
        assert os.listdir(p) == []
    assert not os.path.exists(str(tmp_path / "work"))
    assert not os.path.exists(str(tmp_path / "x")) and not os.path.exists("/etc/cron.d/x")


def test_a_file_differing_from_the_manifest_is_refused(tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        at = data.index(b"ZKLG") + 40
        data[at] ^= 0xFF
        f.seek(0)
        f.write(bytes(data))
    d = dests(tmp_path)
    with pytest.raises(X.ExtractError, match="does not match its manifest"):
        X.extract(archive.open_stream(path), d, str(tmp_path / "work"))
    assert all(os.listdir(p) == [] for p in d.values())


def test_destinations_must_be_fresh_plain_directories(tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    d = dests(tmp_path)
    os.makedirs(d["data"])
    os.symlink(str(tmp_path), d["datalog"])
    with pytest.raises(X.ExtractError, match="symbolic link"):
        X.extract(archive.open_stream(path), d, str(tmp_path / "work"))
    os.unlink(d["datalog"])
    os.makedirs(os.path.join(d["datalog"], "version-2"))
    with pytest.raises(X.ExtractError, match="not empty"):
        X.extract(archive.open_stream(path), d, str(tmp_path / "work"))
