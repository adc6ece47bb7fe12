"""restore_plan: which full backup and which shipped chunks a restore reads."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils import restore_plan as P

E = 0x100000000


def full(bid, created, snap, last, verified=None, digest=None, first_ms=None, last_ms=None):
    return {"id": bid, "kind": "full", "complete": True, "created": created, "verified": verified,
            "zxid": {"snapshot": "0x%x" % snap, "first": "0x%x" % (snap + 1), "last": "0x%x" % last},
            "time_range": {"first_ms": first_ms, "last_ms": last_ms}, "digest": digest}


def chunk(bid, created, first, last, last_ms=None, verified=None):
    return {"id": bid, "kind": "logs", "complete": True, "created": created, "verified": verified,
            "zxid": {"base": "0x%x" % (first - 1), "first": "0x%x" % first, "last": "0x%x" % last},
            "time_range": {"first_ms": None, "last_ms": last_ms}}


BACKUPS = [
    full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, first_ms=1000, last_ms=1010),
    chunk("c1", "2025-01-01T00:05:00Z", E + 11, E + 20, last_ms=1020),
    full("f2", "2025-01-01T00:10:00Z", E + 18, E + 25, first_ms=1015, last_ms=1025,
         digest={"digest": "d25", "znode_count": 7, "zxid": "0x%x" % (E + 25)}),
    chunk("c2", "2025-01-01T00:15:00Z", E + 21, E + 30, last_ms=1030),
    chunk("c3", "2025-01-01T00:20:00Z", E + 31, E + 40, last_ms=1040),
]


def test_newest_full_backup_as_it_is_with_its_promised_digest():
    p = P.plan(BACKUPS)
    assert p["backup_ids"] == ["f2"] and p["target_zxid"] is None and not p["point_in_time"]
    assert p["last_zxid"] == "0x%x" % (E + 25)
    assert p["expected"]["digest"] == "d25"


def test_a_full_backup_that_fails_verification_is_never_chosen():
    backups = [dict(b, verified=False) if b["id"] == "f2" else b for b in BACKUPS]
    assert P.plan(backups)["backup_ids"] == ["f1"]
    with pytest.raises(P.PlanError, match="fails verification"):
        P.plan(backups, backup_id="f2")


def test_named_backup_must_be_full_and_exist():
    assert P.plan(BACKUPS, backup_id="f1")["backup_ids"] == ["f1"]
    with pytest.raises(P.PlanError, match="not a full one"):
        P.plan(BACKUPS, backup_id="c1")
    with pytest.raises(P.PlanError, match="no complete backup"):
        P.plan(BACKUPS, backup_id="nope")


def test_target_inside_a_full_backup_cuts_it():
    p = P.plan(BACKUPS, target_zxid=E + 7)
    assert p["backup_ids"] == ["f1"] and p["target_zxid"] == "0x%x" % (E + 7)
    assert p["point_in_time"] and p["expected"] is None


def test_target_after_a_full_backup_takes_the_chunks_up_to_it():
    p = P.plan(BACKUPS, target_zxid=E + 35)
    # f2's snapshot (E+18) is before the target: the newest full backup that starts before it.
    assert p["backup_ids"] == ["f2", "c2", "c3"]
    assert p["target_zxid"] == "0x%x" % (E + 35)
    p = P.plan(BACKUPS, target_zxid=E + 15)
    assert p["backup_ids"] == ["f1", "c1"]


def test_latest_takes_every_chunk():
    p = P.plan(BACKUPS, target_zxid=P.LATEST)
    assert p["backup_ids"] == ["f2", "c2", "c3"] and p["target_zxid"] == "0x%x" % (E + 40)


def test_unreachable_targets_are_explained():
    with pytest.raises(P.PlanError, match="after the last shipped transaction"):
        P.plan(BACKUPS, target_zxid=E + 99)
    gap = [b for b in BACKUPS if b["id"] != "c2"]
    with pytest.raises(P.PlanError, match="gap after 0x100000019"):
        P.plan(gap, target_zxid=E + 35)
    with pytest.raises(P.PlanError, match="no full backup starts at or before"):
        P.plan(BACKUPS[2:], target_zxid=E + 5)


def test_target_time_picks_the_full_backup_before_it():
    p = P.plan(BACKUPS, target_time=1012)
    assert p["backup_ids"] == ["f1", "c1"] and p["target_time"] == 1012 and p["target_zxid"] is None
    p = P.plan(BACKUPS, target_time=1035)
    assert p["backup_ids"] == ["f2", "c2", "c3"]
    with pytest.raises(P.PlanError):
        P.plan(BACKUPS, target_time=10)


def test_one_target_only():
    with pytest.raises(P.PlanError):
        P.plan(BACKUPS, target_zxid=E + 5, target_time=1005)
