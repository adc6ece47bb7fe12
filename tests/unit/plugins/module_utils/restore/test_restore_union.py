"""A restore is planned over the backups of every backup host that answers: a host that
missed the newest chunks or full backup does not hide them, what is left out and the
highest epoch are those of all the hosts, and each backup is read from a host whose copy
verifies.  The backup hosts are local directories (hostdirs)."""
import os

import pytest

import hostdirs as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan as P
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError

E = H.E
ROOT = H.ROOT
ENS = H.ENS


@pytest.fixture
def two(tmp_path):
    """Backup hosts b1 and b2 holding the same backups: f1, c1, c2."""
    b1, b2 = H.Host("b1", tmp_path / "b1"), H.Host("b2", tmp_path / "b2")
    for h in (b1, b2):
        h.full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, last_ms=1010)
        h.chunk("c1", "2025-01-01T00:05:00Z", E + 11, E + 20, last_ms=1020)
        h.chunk("c2", "2025-01-01T00:10:00Z", E + 21, E + 30, last_ms=1030)
    return b1, b2


class Planned(object):
    """plan_union() over list_hosts() of the hosts: plan, holders, listed, unreachable."""

    def __init__(self, hosts, **target):
        self.listed, reports, self.unreachable = F.list_hosts(H.pairs(*hosts), ROOT, ENS)
        order = [h.host if isinstance(h, Exception) else h.label for h in hosts]
        self.plan, self.holders = F.plan_union(self.listed, order, reports, ENS, ROOT, **target)


def plan_on(hosts, **target):
    return Planned(hosts, **target).plan


def test_the_last_chunk_only_the_second_host_holds_is_restored_and_nothing_is_left_out(two):
    b1, b2 = two
    b1.remove("c2")
    u = Planned([b1, b2], target_zxid=P.LATEST)
    plan, holders, listed = u.plan, u.holders, u.listed
    assert plan["backup_ids"] == ["f1", "c1", "c2"]
    assert plan["restored_to"]["zxid"] == "0x%x" % (E + 30)
    assert plan["left_out"]["logs"] == [] and plan["left_out"]["full_backups"] == []
    assert plan["left_out"]["last_zxid"] is None
    assert holders["c2"] == ["b2"] and holders["f1"] == ["b1", "b2"]
    sources, rejected = F.choose_copies(plan, H.pairs(b1, b2), ROOT, ENS, listed=listed)
    assert sources == {"f1": "b1", "c1": "b1", "c2": "b2"} and rejected == []
    assert plan["logs"][-1]["host"] == "b2" and plan["logs"][-1]["verified"]


def test_a_plan_of_one_host_that_missed_the_last_chunk_would_leave_it_unseen(two):
    # What the union fixes: b1 alone says the newest state is E+20.
    b1, _b2 = two
    b1.remove("c2")
    plan = plan_on([b1], target_zxid=P.LATEST)
    assert plan["restored_to"]["zxid"] == "0x%x" % (E + 20) and plan["left_out"]["logs"] == []


def test_the_full_backup_as_it_is_names_the_chunks_any_host_holds_after_it(two):
    b1, b2 = two
    b1.remove("c2")
    plan = plan_on([b1, b2])
    assert plan["backup_ids"] == ["f1"]
    assert plan["left_out"]["logs"] == ["c1", "c2"] and plan["left_out"]["last_zxid"] == "0x%x" % (E + 30)
    assert plan["left_out"]["latest"]["zxid"] == "0x%x" % (E + 30)


def test_the_newest_full_backup_only_the_second_host_holds_is_the_base(two):
    b1, b2 = two
    b2.full("f2", "2025-01-01T00:12:00Z", E + 25, E + 30, last_ms=1030,
            digest={"digest": "d30", "znode_count": 4, "zxid": "0x%x" % (E + 30)})
    u = Planned([b1, b2])
    plan, holders, listed = u.plan, u.holders, u.listed
    assert plan["backup_ids"] == ["f2"] and plan["expected"]["digest"] == "d30"
    assert holders["f2"] == ["b2"]
    sources = F.choose_copies(plan, H.pairs(b1, b2), ROOT, ENS, listed=listed)[0]
    assert sources == {"f2": "b2"}
    plan = plan_on([b1, b2], target_zxid=P.LATEST)
    assert plan["backup_ids"] == ["f2"] and plan["left_out"]["logs"] == []


def test_the_highest_epoch_is_the_highest_of_every_host_and_every_report(two):
    b1, b2 = two
    b2.chunk("c3", "2025-01-01T00:20:00Z", 3 * E + 1, 3 * E + 5, last_ms=2000)
    b1.report("r1", restored=E + 15, serving=5 * E)
    plan = plan_on([b1, b2])
    assert plan["highest_epoch"] == 5
    plan = plan_on([b2])
    assert plan["highest_epoch"] == 3
    plan = plan_on([b1])
    assert plan["highest_epoch"] == 5


def test_a_restore_report_on_one_host_forks_the_plan_made_over_both(two):
    # r1 took the ensemble back to E+15 and it began epoch 2: c1 and c2 hold what it undid,
    # the latest state of the history since is f1 as it is.
    b1, b2 = two
    plan = plan_on([b1, b2], target_zxid=P.LATEST)
    assert plan["forks"] == [] and plan["restored_to"]["zxid"] == "0x%x" % (E + 30)
    b1.report("r1", restored=E + 15, serving=2 * E)
    b2.report("r1", restored=E + 15, serving=2 * E)
    plan = plan_on([b1, b2], target_zxid=P.LATEST)
    assert [f["restore_id"] for f in plan["forks"]] == ["r1"]
    assert plan["backup_ids"] == ["f1"] and plan["restored_to"]["zxid"] == "0x%x" % (E + 10)
    # Only the second host holds the report: the plan made over both still knows it.
    b1.remove_report("r1")
    plan = plan_on([b1, b2], target_zxid=P.LATEST)
    assert [f["restore_id"] for f in plan["forks"]] == ["r1"] and plan["backup_ids"] == ["f1"]
    assert plan["highest_epoch"] == 2


def test_a_backup_damaged_on_one_host_is_read_from_the_other(two):
    b1, b2 = two
    b2.remove("c1")
    b1.damage("c2")
    u = Planned([b1, b2], target_zxid=P.LATEST)
    plan, listed = u.plan, u.listed
    assert plan["backup_ids"] == ["f1", "c1", "c2"]
    sources, rejected = F.choose_copies(plan, H.pairs(b1, b2), ROOT, ENS, listed=listed)
    assert sources == {"f1": "b1", "c1": "b1", "c2": "b2"}
    assert [(r["host"], r["backup_id"]) for r in rejected] == [("b1", "c2")]
    assert "fails verification" in rejected[0]["reason"]


def test_a_backup_whose_only_copy_is_damaged_is_refused(two):
    b1, b2 = two
    b2.remove("c2")
    b1.damage("c2")
    u = Planned([b1, b2], target_zxid=P.LATEST)
    plan, listed = u.plan, u.listed
    with pytest.raises(F.FetchError, match="backup c2 has no copy that verifies"):
        F.choose_copies(plan, H.pairs(b1, b2), ROOT, ENS, listed=listed)


def test_a_host_that_does_not_answer_is_named_and_the_others_plan(two):
    b1, b2 = two
    down = SshError("b0", "no SSH answer")
    u = Planned([down, b1, b2], target_zxid=P.LATEST)
    plan, listed, unreachable = u.plan, u.listed, u.unreachable
    assert sorted(listed) == ["b1", "b2"] and plan["backup_ids"] == ["f1", "c1", "c2"]
    assert unreachable == [{"host": "b0", "reason": str(down)}]


def test_no_backup_on_any_host(tmp_path):
    b1, b2 = H.Host("b1", tmp_path / "b1"), H.Host("b2", tmp_path / "b2")
    with pytest.raises(F.FetchError, match="b1, b2 hold no backup of ensemble"):
        plan_on([b1, b2])


def test_a_manifest_unreadable_on_one_host_is_taken_as_the_other_lists_it(two):
    b1, b2 = two
    b2.chunk("c3", "2025-01-01T00:20:00Z", E + 31, E + 40, last_ms=1040)
    b1.chunk("c3", "2025-01-01T00:20:00Z", E + 31, E + 40, last_ms=1040)
    with open(os.path.join(b1.dir("c3"), "manifest.json"), "w") as f:
        f.write("{not json")
    plan = plan_on([b1, b2], target_zxid=P.LATEST)
    assert plan["backup_ids"][-1] == "c3" and plan["restored_to"]["zxid"] == "0x%x" % (E + 40)
