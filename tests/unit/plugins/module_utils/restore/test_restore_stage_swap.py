"""Staging, swap, rollback, confirmation and clean-up on directories of this host."""
import json
import os
import pathlib

import pytest

import zkarchives as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import stage as S
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import swap as SW

E = H.E
OWNER = (os.getuid(), os.getgid())


@pytest.fixture
def member(tmp_path):
    """A member's data directories (dataLogDir apart) holding 'old' data and a myid link."""
    data, log = tmp_path / "data", tmp_path / "log"
    for d in (data / "version-2", log / "version-2"):
        d.mkdir(parents=True)
    (data / "version-2" / "snapshot.0").write_bytes(b"old snapshot")
    (log / "version-2" / "log.1").write_bytes(b"old log")
    (tmp_path / "conf-myid").write_text("2\n")
    os.symlink(str(tmp_path / "conf-myid"), str(data / "myid"))
    return L.Layout(str(data), str(log))


def live_names(layout, which="data"):
    return sorted(os.listdir(layout.live(layout.root(which))))


def stage(layout, sources, rid="r1", **kw):
    return S.Stager(layout, rid, OWNER).run(sources, **kw)


def test_stage_swap_rollback_confirm_cleanup(member, tmp_path):
    src = F.local_source(H.write_backup(str(tmp_path / "b"), H.member_files(), zxid={"last": "0x%x" % (E + 9)}))
    state = stage(member, [src], deep=True)
    assert state["phase"] == "staged" and state["last_zxid"] == "0x%x" % (E + 9)
    assert state["epoch"] == 1 and state["expected"]["znode_count"] == 10
    assert state["fetched"][0]["checked_against_manifest"]
    # Nothing live was touched.
    assert live_names(member) == ["snapshot.0"] and live_names(member, "datalog") == ["log.1"]
    staged = member.part_version_dir(member.data_dir, "r1", L.STAGED)
    assert sorted(os.listdir(staged)) == ["acceptedEpoch", "currentEpoch", "snapshot.100000002", L.MARKER]
    assert oct(os.stat(staged).st_mode & 0o777) == oct(L.DIR_MODE)
    # A second staging of the same restore finds it done.
    assert S.Stager(member, "r1", OWNER).existing()["set_digest"] == state["set_digest"]

    changed, details = SW.swap(member, "r1", OWNER)
    assert changed and SW.swapped(member, "r1")
    assert live_names(member) == ["acceptedEpoch", "currentEpoch", "snapshot.100000002", L.MARKER]
    assert live_names(member, "datalog") == ["log.100000001", L.MARKER]
    assert os.path.islink(os.path.join(member.data_dir, "myid"))
    assert member.live_marker()["restore_id"] == "r1"
    pre = member.part_version_dir(member.data_dir, "r1", L.PRE_RESTORE)
    assert os.listdir(pre) == ["snapshot.0"]
    rep = datadir.verify_data_dir(member.data_dir, member.data_log_dir)
    assert rep["restorable"] and rep["last_zxid"] == "0x%x" % (E + 9), rep["reasons"]
    assert SW.swap(member, "r1", OWNER)[0] is False

    changed, _steps = SW.rollback(member, "r1")
    assert changed and live_names(member) == ["snapshot.0"] and live_names(member, "datalog") == ["log.1"]
    assert os.listdir(member.part_version_dir(member.data_dir, "r1", L.FAILED))
    assert SW.rollback(member, "r1")[0] is False
    assert member.read_state("r1")["phase"] == "rolled_back"

    # A second restore, confirmed: the first one's leftovers go, the newest pre-restore copy stays.
    stage(member, [F.local_source(os.path.join(str(tmp_path / "b"), "archive.tar"))], rid="r2")
    SW.swap(member, "r2", OWNER)
    assert SW.plan_cleanup(member, keep=0) and all(d["restore_id"] == "r1" for d in SW.plan_cleanup(member, keep=0))
    assert SW.confirm(member, "r2", {"digest": "x"}) and not SW.confirm(member, "r2", {"digest": "x"})
    assert member.live_marker()["verification"] == {"digest": "x"}
    removed = SW.cleanup(member, keep=1)
    assert {(d["restore_id"], d["part"]) for d in removed} == {("r1", L.FAILED)}
    assert member.restore_ids() == ["r2"]
    removed = SW.cleanup(member, keep=0)
    assert {(d["restore_id"], d["part"], d["dir"]) for d in removed} == {
        ("r2", L.PRE_RESTORE, "data"), ("r2", L.PRE_RESTORE, "datalog")}
    assert live_names(member, "datalog") == ["log.100000001", L.MARKER]


def test_pre_restore_copy_of_an_unconfirmed_restore_is_kept(member, tmp_path):
    src = F.local_source(H.write_backup(str(tmp_path / "b"), H.member_files()))
    stage(member, [src])
    SW.swap(member, "r1", OWNER)
    assert SW.plan_cleanup(member, keep=0) == []


def test_point_in_time_cuts_the_logs(member, tmp_path):
    src = F.local_source(H.write_backup(str(tmp_path / "b"), H.member_files(), zxid={"last": "0x%x" % (E + 9)}))
    state = stage(member, [src], target_zxid=E + 5, deep=True)
    assert state["last_zxid"] == "0x%x" % (E + 5) and state["target_zxid"] == "0x%x" % (E + 5)
    assert state["expected"]["znode_count"] == 6
    log = member.part_version_dir(member.data_log_dir, "r1", L.STAGED)
    assert txnlog.scan_log(os.path.join(log, "log.%x" % (E + 1)))["last_zxid"] == E + 5


def test_point_in_time_with_shipped_chunks_trims_overlaps(member, tmp_path):
    full = F.local_source(H.write_backup(str(tmp_path / "f"), H.member_files(), zxid={"last": "0x%x" % (E + 9)}))
    # The first chunk repeats 7..9 (shipped by a racing shipper): it is trimmed to 10..14.
    c1 = F.local_source(H.write_backup(str(tmp_path / "c1"), H.chunk_files(7, 14), kind="logs", backup_id="c1"))
    c2 = F.local_source(H.write_backup(str(tmp_path / "c2"), H.chunk_files(15, 20), kind="logs", backup_id="c2"))
    state = stage(member, [full, c1, c2], target_zxid=E + 17, deep=True)
    assert state["last_zxid"] == "0x%x" % (E + 17) and state["expected"]["znode_count"] == 18
    log = member.part_version_dir(member.data_log_dir, "r1", L.STAGED)
    assert sorted(n for n in os.listdir(log) if n.startswith("log.")) == [
        "log.%x" % (E + 1), "log.%x" % (E + 10), "log.%x" % (E + 15)]
    assert not os.path.exists(os.path.join(member.restore_dir(member.data_dir, "r1"), "work"))


def test_a_damaged_archive_stages_nothing(member, tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    with open(path, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff\xff\xff")
    with pytest.raises((S.StageError, F.FetchError, Exception)):
        stage(member, [F.local_source(path)])
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))
    assert not os.path.exists(member.part(member.data_log_dir, "r1", L.STAGED))
    assert live_names(member) == ["snapshot.0"]


def test_archive_bytes_are_checked_against_the_recorded_sha256(member, tmp_path):
    path = H.write_backup(str(tmp_path / "b"), H.member_files())
    side = os.path.join(str(tmp_path / "b"), "manifest.json")
    manifest = json.loads(pathlib.Path(side).read_text())
    manifest["archive"]["sha256"] = "0" * 64
    pathlib.Path(side).write_text(json.dumps(manifest))
    with pytest.raises(F.FetchError, match="damaged"):
        stage(member, [F.local_source(path)])
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))


def test_empty_source_for_a_member_rebuilt_from_the_ensemble(member):
    state = stage(member, [])
    assert state["backup_ids"] == [] and state["last_zxid"] is None
    SW.swap(member, "r1", OWNER, server_id=2)
    assert live_names(member) == [L.MARKER] and live_names(member, "datalog") == [L.MARKER]


def test_myid_is_written_only_when_missing(member, tmp_path):
    os.unlink(os.path.join(member.data_dir, "myid"))
    stage(member, [])
    SW.swap(member, "r1", OWNER, server_id=3)
    assert pathlib.Path(os.path.join(member.data_dir, "myid")).read_text() == "3\n"


def test_restore_ids_are_checked():
    for bad in ("", "../x", ".hidden", "a/b", "x" * 200):
        with pytest.raises(L.LayoutError):
            L.check_restore_id(bad)


def test_encrypted_compressed_archive(member, tmp_path):
    pytest.importorskip("cryptography")
    key = os.urandom(32)
    path = H.write_backup(str(tmp_path / "b"), H.member_files(), codec="gzip", key=key)
    with pytest.raises(F.FetchError, match="encrypted"):
        stage(member, [F.local_source(path)])
    with pytest.raises(F.FetchError, match="other keys"):
        stage(member, [F.local_source(path, key=os.urandom(32))])
    assert not os.path.exists(member.part(member.data_dir, "r1", L.STAGED))
    state = stage(member, [F.local_source(path, key=key)])
    assert state["last_zxid"] == "0x%x" % (E + 9)


def test_epoch_floor_for_a_restore_of_the_whole_ensemble(member, tmp_path):
    """With a floor the epoch files hold the highest of the data's epoch, the floor and the
    member's own epoch files; without one, the data's epoch."""
    src = F.local_source(H.write_backup(str(tmp_path / "b"), H.member_files(), zxid={"last": "0x%x" % (E + 9)}))
    (tmp_path / "data" / "version-2" / "acceptedEpoch").write_text("5\n")
    stager = S.Stager(member, "r1", OWNER)
    stager.epoch_floor = 3
    state = stager.run([src])
    staged = member.part_version_dir(member.data_dir, "r1", L.STAGED)
    for name in datadir.EPOCH_FILES:
        with open(os.path.join(staged, name)) as f:
            assert f.read() == "5\n"
    assert state["epoch"] == 5

    def backup(name):
        return F.local_source(H.write_backup(str(tmp_path / name), H.member_files(),
                                             zxid={"last": "0x%x" % (E + 9)}))

    stager = S.Stager(member, "r2", OWNER)
    stager.epoch_floor = 7
    assert stager.run([backup("b2")])["epoch"] == 7
    assert stage(member, [backup("b3")], rid="r3")["epoch"] == 1


def test_staged_files_this_host_cannot_read_are_not_called_unworkable(member, monkeypatch):
    missing = "reading .snappy snapshots needs the Python snappy library"
    rep = {"restorable": False, "reasons": [missing], "unreadable_here": [missing], "warnings": []}
    monkeypatch.setattr(datadir, "verify_files", lambda paths, **kw: dict(rep))
    stager = S.Stager(member, "r1", OWNER)
    with pytest.raises(S.StageError) as e:
        stager._verify(True, deep=False)
    assert str(e.value) == "this host cannot read the restored files: " + missing
    rep["reasons"] = ["a gap", missing]
    with pytest.raises(S.StageError) as e:
        stager._verify(True, deep=False)
    assert str(e.value).startswith("the restored files would not give a working member: a gap")
