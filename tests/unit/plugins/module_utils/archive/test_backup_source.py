"""backup_source: the restorable set with live logs cut, and log chunks after a shipped zxid."""
import os
import pathlib

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import contents as B
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive.tarball import FilePart

E = 0x100000000


def creates(first, last, epoch=E):
    return [W.txn(epoch + i, T.CREATE, W.create("/n%x" % (epoch + i), b"v" * 40, pcv=-1)) for i in range(first, last + 1)]


def snap(d, zxid, digest_zxid=None):
    digest = (digest_zxid, 2, 0) if digest_zxid else None
    return W.write(os.path.join(d, "snapshot.%x" % zxid), W.snapshot_stream(W.basic_tree(), digest=digest))


def log(d, raws, padding=4096, tail=b""):
    zxid = T.peek_header(raws[0])[2]
    return W.write(os.path.join(d, "log.%x" % zxid), W.log_bytes(raws, padding=0) + tail + bytes(padding))


def epochs(d, n=1):
    W.write(os.path.join(d, "currentEpoch"), b"%d" % n)
    W.write(os.path.join(d, "acceptedEpoch"), b"%d" % n)


@pytest.fixture
def dirs(tmp_path):
    data, logs = tmp_path / "data", tmp_path / "txnlog"
    (data / "version-2").mkdir(parents=True)
    (logs / "version-2").mkdir(parents=True)
    return str(data), str(logs), str(data / "version-2"), str(logs / "version-2")


def content(member):
    out = b""
    for p in member.parts:
        if isinstance(p, bytes):
            out += p
        else:
            with open(p.path, "rb") as f:
                f.seek(p.offset)
                out += f.read(p.length)
    return out


def zxids_of(tmp_path, member):
    path = tmp_path / ("copy-" + os.path.basename(member.name))
    path.write_bytes(content(member))
    r = txnlog.LogReader(str(path), decode=False)
    zs = [T.peek_header(raw)[2] for raw in r]
    assert r.end == txnlog.END_EOF and not r.errors
    return zs


def test_full_takes_the_restorable_set_without_padding(dirs, tmp_path):
    data, logs, dv, lv = dirs
    snap(dv, E + 3, E + 4)
    l1 = log(lv, creates(1, 5))
    l2 = log(lv, creates(6, 9))
    epochs(dv)
    plan = B.plan_full(data, logs)
    names = [m.name for m in plan.entries]
    assert names == ["data/version-2/snapshot.100000003", "datalog/version-2/log.100000001",
                     "datalog/version-2/log.100000006", "data/version-2/currentEpoch",
                     "data/version-2/acceptedEpoch"]
    assert plan.zxids() == {"snapshot": "0x100000003", "base": None, "first": "0x100000001", "last": "0x100000009"}
    assert plan.records == 9 and plan.epochs == {"current": 1, "accepted": 1}
    # Only whole records are archived: the zero padding is neither read nor counted.
    assert plan.entries[1].size == os.path.getsize(l1) - 4096
    assert plan.raw_bytes < plan.apparent_bytes
    assert zxids_of(tmp_path, plan.entries[2]) == [E + i for i in range(6, 10)]
    assert plan.log_paths == [l1, l2] and plan.snapshot_path.endswith("snapshot.100000003")
    assert plan.first_time == W.T0 + E + 1 and plan.last_time == W.T0 + E + 9


# The ceiling cuts a live log; but when the snapshot chosen was written after the ceiling
# (the zxid applied when a hot backup started) while writes went on, it is consistent only
# from its last zxid, and the logs are taken up to that.
@pytest.mark.parametrize("snapshot_end,ceiling,last", [(E + 2, E + 7, E + 7), (E + 8, E + 5, E + 8)],
                         ids=["ceiling_cuts_a_live_log", "snapshot_written_after_the_ceiling"])
def test_the_logs_end_at_the_ceiling_or_at_a_later_snapshots_last_zxid(dirs, tmp_path, snapshot_end, ceiling, last):
    data, logs, dv, lv = dirs
    snap(dv, E + 2, snapshot_end)
    log(lv, creates(1, 9))
    epochs(dv)
    plan = B.plan_full(data, logs, ceiling=ceiling)
    assert plan.last_zxid == last
    assert zxids_of(tmp_path, plan.entries[1]) == [E + i for i in range(1, last - E + 1)]


def test_torn_last_record_of_a_live_log_is_left_out(dirs, tmp_path):
    data, logs, dv, lv = dirs
    snap(dv, E + 1, E + 1)
    torn = W.record(creates(5, 5)[0])[:30]
    log(lv, creates(1, 4), tail=torn, padding=0)
    epochs(dv)
    plan = B.plan_full(data, logs)
    assert plan.last_zxid == E + 4
    assert zxids_of(tmp_path, plan.entries[1]) == [E + i for i in range(1, 5)]


def test_a_snapshot_being_written_is_passed_over(dirs):
    data, logs, dv, lv = dirs
    snap(dv, E + 2, E + 2)
    good = pathlib.Path(os.path.join(dv, "snapshot.100000002")).read_bytes()
    W.write(os.path.join(dv, "snapshot.100000006"), good[:len(good) // 2])
    log(lv, creates(1, 4))
    log(lv, creates(5, 8))
    epochs(dv)
    plan = B.plan_full(data, logs)
    assert plan.snapshot_zxid == E + 2 and plan.last_zxid == E + 8
    assert [m.name for m in plan.entries][:3] == ["data/version-2/snapshot.100000002",
                                                  "datalog/version-2/log.100000001",
                                                  "datalog/version-2/log.100000005"]
    assert any("snapshot.100000006" in w for w in plan.warnings)


def test_gap_and_damage_are_refused(dirs):
    data, logs, dv, lv = dirs
    snap(dv, E + 2, E + 2)
    log(lv, creates(1, 4))
    log(lv, creates(7, 9))
    epochs(dv)
    with pytest.raises(B.SourceError, match="missing between 0x100000004 and 0x100000007"):
        B.plan_full(data, logs)
    os.remove(os.path.join(lv, "log.100000007"))
    raws = creates(5, 8)
    bad = W.log_bytes(raws[:1], padding=0) + W.record(raws[1], crc=1) + W.log_bytes(raws[2:], padding=0)[16:]
    W.write(os.path.join(lv, "log.100000005"), bad)
    with pytest.raises(B.SourceError, match="damaged at offset"):
        B.plan_full(data, logs)


def test_logs_behind_the_snapshot_are_refused(dirs):
    data, logs, dv, lv = dirs
    snap(dv, E + 2, E + 6)
    log(lv, creates(1, 4))
    epochs(dv)
    with pytest.raises(B.SourceError, match="consistent only from 0x100000006"):
        B.plan_full(data, logs)


def test_no_snapshot(dirs):
    data, logs, _dv, lv = dirs
    log(lv, creates(1, 4))
    with pytest.raises(B.SourceError, match="refuse to start"):
        B.plan_full(data, logs)


def test_same_directory_for_data_and_logs(dirs):
    data, _logs, dv, _lv = dirs
    snap(dv, E + 1, E + 1)
    log(dv, creates(1, 3))
    epochs(dv)
    plan = B.plan_full(data, data)
    assert [m.name for m in plan.entries][:2] == ["data/version-2/snapshot.100000001",
                                                  "datalog/version-2/log.100000001"]


def test_log_chunks_hold_exactly_the_records_after_the_shipped_zxid(dirs, tmp_path):
    _data, logs, _dv, lv = dirs
    log(lv, creates(1, 5))
    l2 = log(lv, creates(6, 9))
    plan = B.plan_logs(logs, E + 4)
    assert [m.name for m in plan.entries] == ["datalog/version-2/log.100000005", "datalog/version-2/log.100000006"]
    assert plan.zxids() == {"snapshot": None, "base": "0x100000004", "first": "0x100000005", "last": "0x100000009"}
    assert zxids_of(tmp_path, plan.entries[0]) == [E + 5]
    assert zxids_of(tmp_path, plan.entries[1]) == [E + i for i in range(6, 10)]
    # The first part is a fresh log header, then the records byte for byte.
    assert plan.entries[0].parts[0] == B.LOG_HEADER
    assert isinstance(plan.entries[1].parts[1], FilePart) and plan.entries[1].parts[1].path == l2
    assert B.plan_logs(logs, E + 6, ceiling=E + 8).last_zxid == E + 8


def test_nothing_new_to_ship(dirs):
    _data, logs, _dv, lv = dirs
    log(lv, creates(1, 5))
    plan = B.plan_logs(logs, E + 5)
    assert plan.empty and plan.last_zxid == E + 5


def test_a_new_epoch_continues_the_chain(dirs, tmp_path):
    _data, logs, _dv, lv = dirs
    log(lv, creates(1, 3))
    log(lv, creates(1, 2, epoch=2 * E))
    plan = B.plan_logs(logs, E + 3)
    assert plan.first_zxid == 2 * E + 1 and plan.last_zxid == 2 * E + 2


def test_purged_logs_break_the_chain(dirs):
    _data, logs, _dv, lv = dirs
    log(lv, creates(6, 9))
    with pytest.raises(B.SourceError, match="Take a full backup"):
        B.plan_logs(logs, E + 2)


def test_a_log_started_after_the_listing_is_taken_when_the_snapshot_needs_it(dirs, monkeypatch):
    """ZooKeeper starts a new log as it starts a snapshot: when that log appears between the
    listing of the files and the read of the snapshot, the logs listed first fall short of the
    snapshot; the files are listed again and the new log taken, not the member refused."""
    data, logs, dv, lv = dirs
    snap(dv, E + 3, E + 8)
    log(lv, creates(1, 5))
    late = log(lv, creates(6, 9))
    epochs(dv)
    listed = []
    real = B.source_files

    def listing(*a):
        snaps, found, eps = real(*a)
        listed.append(1)
        if len(listed) == 1:
            found = [(z, p) for z, p in found if p != late]
        return snaps, found, eps
    monkeypatch.setattr(B, "source_files", listing)
    plan = B.plan_full(data, logs)
    assert len(listed) == 2
    assert plan.log_paths[-1] == late and plan.zxids()["last"] == "0x100000009"

    # A log that is really missing is still refused, after the second listing.
    os.remove(late)
    listed[:] = []
    with pytest.raises(B.SourceError, match="the logs reach only 0x100000005, but the snapshot snapshot.100000003 "
                                            "is consistent only from 0x100000008 on"):
        B.plan_full(data, logs)
    assert len(listed) == 2
