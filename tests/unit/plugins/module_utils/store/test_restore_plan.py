"""restore_plan: which full backup and which shipped chunks a restore reads."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan as P

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


# --- a restore of the whole ensemble forks its history --------------------------------------
# f1 holds E+0..E+10; c1 was shipped with the bad deploy (E+16..E+20); restore r1 took the
# ensemble back to E+15 and it began epoch 2; c2 was shipped after that.
E2 = 2 * E
FORKED = [
    full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, first_ms=1000, last_ms=1010),
    chunk("c1", "2025-01-01T00:05:00Z", E + 11, E + 20, last_ms=1020),
    chunk("c2", "2025-01-01T01:05:00Z", E2 + 1, E2 + 5, last_ms=5000),
]
POST_FORK_FULL = full("f2", "2025-01-01T01:00:00Z", E + 15, E2 + 3, first_ms=1010, last_ms=4000)


def report(result="verified", mode="ensemble", restored=E + 15, serving=E2, finished="2025-01-01T00:30:00Z"):
    return {"format": "zkops-report/1", "kind": "restore", "id": "r1",
            "report": {"restore_id": "r1", "mode": mode, "result": result, "finished": finished,
                       "last_zxid_restored": "0x%x" % restored,
                       "zxid": None if serving is None else "0x%x" % serving}}


def test_forks_come_from_restores_of_the_whole_ensemble_that_stayed():
    forks = P.forks_from_reports([report(), report(result="failed, rolled back"), report(mode="member"),
                                  None, {"report": {}}])
    assert len(forks) == 1
    assert forks[0]["zxid"] == E + 15 and forks[0]["epoch"] == 2 and forks[0]["restore_id"] == "r1"
    # Without the serving zxid, the epoch after the one restored to.
    assert P.forks_from_reports([report(serving=None)])[0]["epoch"] == 2


def test_latest_after_a_fork_without_a_full_backup_is_the_forks_state():
    forks = P.forks_from_reports([report()])
    # Without the fork the abandoned deploy (c1) and the new history (c2) would be chained.
    assert P.plan(FORKED, target_zxid=P.LATEST)["backup_ids"] == ["f1", "c1", "c2"]
    p = P.plan(FORKED, target_zxid=P.LATEST, forks=forks)
    assert p["backup_ids"] == ["f1", "c1"] and p["target_zxid"] == "0x%x" % (E + 15)
    assert "r1" in p["warnings"][0] and "c2" in p["warnings"][0]


def test_latest_after_a_fork_starts_from_the_full_backup_taken_after_it():
    forks = P.forks_from_reports([report()])
    p = P.plan(FORKED + [POST_FORK_FULL], target_zxid=P.LATEST, forks=forks)
    assert p["backup_ids"] == ["f2", "c2"] and p["warnings"] == []
    assert p["target_zxid"] == "0x%x" % (E2 + 5)
    assert P.plan(FORKED + [POST_FORK_FULL], forks=forks)["backup_ids"] == ["f2"]


def test_a_full_backup_holding_what_a_fork_undid_is_not_chosen_for_later_states():
    forks = P.forks_from_reports([report()])
    undone = full("f-bad", "2025-01-01T00:20:00Z", E + 12, E + 20, first_ms=1012, last_ms=1020)
    assert P.plan(FORKED + [undone], forks=forks)["backup_ids"] == ["f1"]
    # Named, or asked for a zxid it holds: it is what was asked for.
    assert P.plan(FORKED + [undone], backup_id="f-bad", forks=forks)["backup_ids"] == ["f-bad"]
    assert P.plan(FORKED + [undone], target_zxid=E + 18, forks=forks)["backup_ids"] == ["f-bad"]


def test_targets_before_and_after_a_fork():
    forks = P.forks_from_reports([report()])
    # Inside what the fork undid: that history, as it was.
    p = P.plan(FORKED, target_zxid=E + 18, forks=forks)
    assert p["backup_ids"] == ["f1", "c1"] and p["target_zxid"] == "0x%x" % (E + 18)
    # After it, without a full backup taken after it: refused, saying why.
    with pytest.raises(P.PlanError, match="no full backup taken after that restore"):
        P.plan(FORKED, target_zxid=E2 + 4, forks=forks)
    with pytest.raises(P.PlanError, match="restore r1"):
        P.plan(FORKED, target_time=forks[0]["time_ms"] + 60000, forks=forks)
    p = P.plan(FORKED + [POST_FORK_FULL], target_zxid=E2 + 4, forks=forks)
    assert p["backup_ids"] == ["f2", "c2"]


def test_a_chain_crosses_a_fork_only_from_its_zxid():
    forks = P.forks_from_reports([report(restored=E + 10)])
    # f1 ends exactly where the restore went: c1 was undone, c2 continues f1.
    p = P.plan(FORKED, target_zxid=E2 + 4, forks=forks)
    assert p["backup_ids"] == ["f1", "c2"]


def test_highest_epoch_covers_backups_and_forks():
    assert P.plan(FORKED)["highest_epoch"] == 2
    assert P.highest_epoch(FORKED[:2], P.forks_from_reports([report(serving=7 * E)])) == 7


def test_a_fork_since_the_newest_full_backup_asks_for_a_full_one():
    forks = P.forks_from_reports([report()])
    assert P.fork_since(forks, FORKED[0])["restore_id"] == "r1"
    assert P.fork_since(forks, None)["restore_id"] == "r1"
    assert P.fork_since(forks, POST_FORK_FULL) is None
    assert P.fork_since([], FORKED[0]) is None


def test_the_full_backup_alone_names_what_it_leaves_out():
    p = P.plan(BACKUPS)
    assert p["restored_to"] == {"zxid": "0x%x" % (E + 25), "time_ms": 1025, "exact": True}
    out = p["left_out"]
    assert out["full_backups"] == [] and out["logs"] == ["c2", "c3"]
    assert out["last_zxid"] == "0x%x" % (E + 40) and out["last_time_ms"] == 1040
    assert out["latest"] == {"zxid": "0x%x" % (E + 40), "time_ms": 1040}


def test_latest_leaves_nothing_out():
    p = P.plan(BACKUPS, target_zxid=P.LATEST)
    assert p["restored_to"] == {"zxid": "0x%x" % (E + 40), "time_ms": 1040, "exact": True}
    assert p["left_out"]["full_backups"] == [] and p["left_out"]["logs"] == []
    assert p["left_out"]["last_zxid"] is None


def test_latest_without_chunks_is_the_full_backup_as_it_is():
    p = P.plan(BACKUPS[:3], target_zxid=P.LATEST)
    assert p["backup_ids"] == ["f2"] and p["target_zxid"] is None and not p["point_in_time"]
    assert p["expected"]["digest"] == "d25" and p["left_out"]["logs"] == []


def test_a_point_in_time_leaves_out_what_follows_it():
    p = P.plan(BACKUPS, target_zxid=E + 15)
    assert p["restored_to"] == {"zxid": "0x%x" % (E + 15), "time_ms": 1020, "exact": False}
    assert p["left_out"]["full_backups"] == ["f2"] and p["left_out"]["logs"] == ["c1", "c2", "c3"]
    p = P.plan(BACKUPS, target_time=1026)
    assert p["restored_to"] == {"zxid": None, "time_ms": 1026, "exact": False}
    assert p["left_out"]["logs"] == ["c2", "c3"] and p["left_out"]["full_backups"] == []
    # An older full backup named as it is: the newer one and every chunk after it are left out.
    p = P.plan(BACKUPS, backup_id="f1")
    assert p["left_out"]["full_backups"] == ["f2"] and p["left_out"]["logs"] == ["c1", "c2", "c3"]
