"""datadir: the restorable set of a data directory, its reasons, and point-in-time copies."""
import os

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import surgery
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError

E = 0x100000000


def creates(first, last, epoch=E):
    return [W.txn(epoch + i, T.CREATE, W.create("/n%x" % (epoch + i), b"v", pcv=-1)) for i in range(first, last + 1)]


def snap(d, zxid, digest_zxid=None, extra=()):
    nodes = W.basic_tree(extra=extra)
    digest = (digest_zxid, 2, 0) if digest_zxid else None
    return W.write(os.path.join(d, "snapshot.%x" % zxid), W.snapshot_stream(nodes, digest=digest))


def log(d, raws, padding=128):
    zxid = T.peek_header(raws[0])[2]
    return W.write(os.path.join(d, "log.%x" % zxid), W.log_bytes(raws, padding=padding))


def epochs(d, current=1, accepted=1):
    W.write(os.path.join(d, "currentEpoch"), b"%d" % current)
    W.write(os.path.join(d, "acceptedEpoch"), b"%d\n" % accepted)


@pytest.fixture
def vdir(tmp_path):
    d = tmp_path / "data" / "version-2"
    d.mkdir(parents=True)
    return str(d)


def test_restorable_directory(vdir):
    snap(vdir, E + 3, E + 4)
    log(vdir, creates(1, 5))
    log(vdir, creates(6, 9))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert rep["restorable"], rep["reasons"]
    assert rep["restorable_set"]["snapshot"] == "snapshot.100000003"
    assert rep["restorable_set"]["logs"] == ["log.100000001", "log.100000006"]
    assert rep["last_zxid"] == "0x100000009" and rep["gaps"] == []
    assert rep["epochs"] == {"current": 1, "accepted": 1}
    assert {f["name"]: f["valid"] for f in rep["files"] if f["type"] != "epoch"} == {
        "snapshot.100000003": True, "log.100000001": True, "log.100000006": True}


def test_deep_replay_counts_and_digests(vdir):
    snap(vdir, E + 2, E + 2)
    log(vdir, creates(1, 6))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir), deep=True)
    assert rep["restorable"], rep["reasons"]
    assert rep["replay"]["applied"] == 4 and rep["replay"]["skipped"] == 2
    # basic_tree: / /a /a/b, plus 4 creates; /zookeeper does not count.
    assert rep["znode_count"] == 7 and len(rep["digest"]) == 64
    at4 = datadir.verify_data_dir(os.path.dirname(vdir), deep=True, target_zxid=E + 4)
    assert at4["last_zxid"] == "0x100000004" and at4["znode_count"] == 5
    assert at4["digest"] != rep["digest"]


def test_gap_between_logs(vdir):
    snap(vdir, E + 2)
    log(vdir, creates(1, 4))
    log(vdir, creates(7, 9))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert not rep["restorable"]
    assert rep["gaps"] == [{"after": "0x100000004", "before": "0x100000007", "file": "log.100000007",
                            "kind": "intra-epoch"}]
    assert rep["restorable_until"] == "0x100000004"


def test_new_epoch_is_no_gap(vdir):
    snap(vdir, E + 2)
    log(vdir, creates(1, 4))
    log(vdir, creates(1, 3, epoch=0x200000000))
    epochs(vdir, 2, 2)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert rep["restorable"], rep["reasons"]
    assert rep["last_zxid"] == "0x200000003"


def test_damaged_newest_snapshot_falls_back(vdir):
    snap(vdir, E + 2)
    p = snap(vdir, E + 5)
    with open(p, "r+b") as f:
        f.seek(40)
        f.write(b"\xff")
    log(vdir, creates(1, 6))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert rep["restorable"] and rep["restorable_set"]["snapshot"] == "snapshot.100000002"
    assert any("newer snapshots are damaged" in w for w in rep["warnings"])


def test_logs_that_do_not_reach_the_snapshot_digest(vdir):
    snap(vdir, E + 3, E + 8)           # fuzzy up to 0x100000008
    log(vdir, creates(1, 6))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert not rep["restorable"]
    assert "consistent only once replayed to 0x100000008" in rep["reasons"][0]


def test_log_after_snapshot_missing(vdir):
    snap(vdir, E + 3)
    log(vdir, creates(6, 8))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert not rep["restorable"] and "missing between 0x100000003 and 0x100000006" in rep["reasons"][0]


def test_no_snapshot(vdir):
    log(vdir, creates(1, 3))
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert not rep["restorable"] and "No snapshot found" in rep["reasons"][0]
    os.unlink(os.path.join(vdir, "log.100000001"))
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert "nothing to restore" in rep["reasons"][0]


def test_damaged_needed_log(vdir):
    snap(vdir, E + 2)
    raws = creates(1, 5)
    W.write(os.path.join(vdir, "log.100000001"),
            W.log_bytes(raws[:3], padding=0) + W.record(raws[3], crc=7) + W.record(raws[4]))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir), deep=True)
    assert not rep["restorable"]
    assert "log.100000001 is damaged" in rep["reasons"][0] and "checksum mismatch" in rep["reasons"][0]
    assert rep["restorable_until"] == "0x100000003"
    # deep replays what a point-in-time restore could still reach.
    assert rep["replay"]["last_zxid"] == "0x100000003"
    # A target before the damage is fine.
    assert datadir.verify_data_dir(os.path.dirname(vdir), target_zxid=E + 3)["restorable"]


def test_epoch_files(vdir):
    snap(vdir, E + 2)
    log(vdir, creates(1, 4))
    epochs(vdir, 0, 0)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert not rep["restorable"] and "currentEpoch 0 is older" in rep["reasons"][0]
    epochs(vdir, 2, 1)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert "acceptedEpoch 1 is less than currentEpoch 2" in rep["reasons"][0]
    W.write(os.path.join(vdir, "currentEpoch"), b"x1")
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert "currentEpoch is unreadable" in rep["reasons"][0]
    os.unlink(os.path.join(vdir, "currentEpoch"))
    os.unlink(os.path.join(vdir, "acceptedEpoch"))
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert rep["restorable"] and any("no currentEpoch file" in w for w in rep["warnings"])


def test_separate_log_dir_rules(tmp_path):
    snapd = tmp_path / "data" / "version-2"
    logd = tmp_path / "txlog" / "version-2"
    snapd.mkdir(parents=True)
    logd.mkdir(parents=True)
    snap(str(snapd), E + 2)
    log(str(logd), creates(1, 4))
    epochs(str(snapd))
    rep = datadir.verify_data_dir(str(tmp_path / "data"), str(tmp_path / "txlog"))
    assert rep["restorable"], rep["reasons"]
    log(str(snapd), creates(5, 6))
    rep = datadir.verify_data_dir(str(tmp_path / "data"), str(tmp_path / "txlog"))
    assert not rep["restorable"] and "Snapshot directory has log files" in rep["reasons"][0]


def test_target_time_and_fuzzy_snapshot_choice(vdir):
    snap(vdir, E + 2, E + 2)
    snap(vdir, E + 5, E + 7)          # its content may reach 0x100000007
    log(vdir, creates(1, 9))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir), target_zxid=E + 6)
    assert rep["restorable"] and rep["restorable_set"]["snapshot"] == "snapshot.100000002"
    rep = datadir.verify_data_dir(os.path.dirname(vdir), target_time=W.T0 + E + 8)
    assert rep["target_zxid"] == "0x100000008" and rep["last_zxid"] == "0x100000008"
    assert rep["restorable_set"]["snapshot"] == "snapshot.100000005"
    rep = datadir.verify_data_dir(os.path.dirname(vdir), target_zxid=E + 20)
    assert not rep["restorable"] and "past the last logged transaction" in rep["reasons"][0]


def test_truncate_copy_gives_the_state_at_the_zxid(vdir, tmp_path):
    snap(vdir, E + 2, E + 2)
    snap(vdir, E + 6, E + 6)
    log(vdir, creates(1, 4))
    log(vdir, creates(5, 9))
    epochs(vdir)
    out = tmp_path / "out"
    rep = surgery.truncate_data_dir(os.path.dirname(vdir), None, E + 5, str(out))
    assert [os.path.basename(w["path"]) for w in rep["written"]] == [
        "snapshot.100000002", "log.100000001", "log.100000005", "acceptedEpoch", "currentEpoch"]
    after = datadir.verify_data_dir(str(out), deep=True)
    assert after["restorable"] and after["last_zxid"] == "0x100000005"
    ref = datadir.verify_data_dir(os.path.dirname(vdir), deep=True, target_zxid=E + 5)
    assert after["digest"] == ref["digest"] and after["znode_count"] == ref["znode_count"] == 6
    with pytest.raises(FormatError, match="already holds ZooKeeper files"):
        surgery.truncate_data_dir(os.path.dirname(vdir), None, E + 5, str(out))
    with pytest.raises(FormatError, match="cannot restore the state"):
        surgery.truncate_data_dir(os.path.dirname(vdir), None, E + 50, str(tmp_path / "o2"))


def test_unusual_names_are_flagged(vdir):
    snap(vdir, E + 2)
    log(vdir, creates(1, 4))
    os.rename(os.path.join(vdir, "log.100000001"), os.path.join(vdir, "log.100000001.bak"))
    epochs(vdir)
    rep = datadir.verify_data_dir(os.path.dirname(vdir))
    assert rep["restorable"] and any("unusual name" in w for w in rep["warnings"])
