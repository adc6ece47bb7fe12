"""The outcome of each ensemble of a fleet's backup run, as the summary of the ensembles
prints it: failed (and why) or backed up (and which backup)."""
from ansible_collections.zkops.zookeeper.plugins.filter.backup_outcome import backup_outcome

REPORT = {"backup_id": "20260101T000000Z-full-1", "kind": "full", "source_member": "b2 (server 2, follower, hot)",
          "reason": "", "skipped": False}


def test_an_ensemble_backed_up_names_its_backup():
    hostvars = {"b1": {"__zookeeper_backup_failure": "", "__zookeeper_backup_report": REPORT}, "b2": {}}
    out = backup_outcome(["b1", "b2"], hostvars, ["a1", "b1", "b2"])
    assert out == {"failed": False, "backup_id": REPORT["backup_id"], "kind": "full",
                   "source_member": REPORT["source_member"], "reason": ""}


def test_a_failure_noted_by_the_first_member_is_the_reason():
    hostvars = {"b1": {"__zookeeper_backup_failure": "Stop unless one member was backed up: refused"}}
    out = backup_outcome(["b1", "b2"], hostvars, ["b1", "b2"])
    assert out == {"failed": True, "reason": "Stop unless one member was backed up: refused"}


def test_a_member_gone_from_the_play_failed_the_ensemble_before_the_backup():
    hostvars = {"b1": {"__zookeeper_backup_failure": "", "__zookeeper_backup_report": REPORT}}
    out = backup_outcome(["b1", "b2", "b3"], hostvars, ["a1", "b1"])
    assert out["failed"] is True
    assert "b2, b3 failed before the backup started" in out["reason"]


def test_no_report_and_no_members_are_failures():
    assert backup_outcome(["b1"], {"b1": {}}, ["b1"]) == {
        "failed": True, "reason": "its first member b1 did not report a backup"}
    assert backup_outcome([], {}, [])["failed"] is True
