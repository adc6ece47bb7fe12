"""Cold backup and point-in-time restore on each ZooKeeper release.

Per release (ZKOPS_ZK_VERSIONS picks them, as in test_versions.py), on one 3-member
ensemble of that release with one backup host:

* a cold backup: a tree written with kazoo, a follower stopped and the backup role told to
  back it up cold, every member's data lost, the restore playbook, and the live tree equal
  to the one written;
* a point-in-time restore: a full backup, two rounds of writes (creates, updates and
  deletes) with their zxids noted, the logs shipped, every member's data lost, a restore to
  the last zxid of the first round, and the live tree equal to the tree as it was then: what
  the first round wrote is there, what the second round did is not.
"""
import os

import pytest

import zklive
from lab import workload
from lab.workload import CREDENTIAL
from lab.ansible import REPO, run_playbook
from lab.lab import Lab, parse_srvr
from test_versions import COMPRESSION, VERSIONS, restore_vars, skip_unless_runnable

pytestmark = pytest.mark.lab

BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
SHIP = os.path.join(REPO, "playbooks", "ship_logs.yml")
RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BULK = 300
ROUND = 60                                      # znodes each point-in-time round creates
NOTE = "zkops.zookeeper.backup : Note the outcome of the attempt on "


def client(lab):
    return workload.client(lab, auth_data=[CREDENTIAL])


def digest(lab):
    """(digest, znode count) of the live tree, read after a sync by a new client."""
    zk = client(lab)
    try:
        zk.sync("/")
        d = zklive.live_digest(zk)
    finally:
        zk.stop()
        zk.close()
    return d["digest"], d["count"]


def backup(lab, playbook=BACKUP, **extra):
    ev = {"zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False,
          "zookeeper_backup_force": True}
    ev.update(extra)
    res = run_playbook(lab, playbook, extra_vars=ev)
    assert res.rc == 0, res.output()
    return res


def attempt(res):
    """The backup role's successful attempt."""
    notes = [r for r in res.records if r["task"].startswith(NOTE) and r["status"] == "ok"]
    assert notes, res.output()
    ok = [a for a in notes[-1]["result"]["ansible_facts"]["__zookeeper_backup_attempts"]
          if "destinations" in a]
    assert len(ok) == 1, notes[-1]["result"]
    return ok[0]


def restore(lab, **extra):
    res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab, **extra))
    assert res.rc == 0, res.output()
    assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
    return res


def runs_release(lab, version):
    for h in lab.members:
        srvr = parse_srvr(h.four_letter("srvr"))
        assert srvr["Zookeeper version"].startswith(version + "-"), srvr


@pytest.fixture(scope="module", params=VERSIONS)
def ensemble(request):
    version = request.param
    skip_unless_runnable(version)
    lab = Lab(name="p" + version.replace(".", ""), members=3, backups=1, zk_versions=version,
              snap_count=400, snapshot_compression=COMPRESSION[version])
    lab.up()
    try:
        yield {"lab": lab, "version": version}
    finally:
        lab.down()


def fresh(lab):
    """Every member serving, and no backup of the ensemble on the backup host yet."""
    for h in lab.members:
        if not h.zk_running():
            h.start_zk()
    lab.wait_quorum()
    lab.backup_hosts[0].sh("rm -rf /srv/backups/%s" % lab.name)


def write_tree(lab):
    """sample_tree, BULK more znodes and an empty /pitr, unless the ensemble holds them."""
    zk = client(lab)
    try:
        if not zk.exists("/brokers"):
            workload.sample_tree(zk)
            workload.bulk_load(zk, BULK)
        if zk.exists("/pitr"):
            zk.delete("/pitr", recursive=True)
        zk.create("/pitr", b"")
    finally:
        zk.stop()
        zk.close()


def test_cold_backup_total_loss_and_restore(ensemble):
    lab, version = ensemble["lab"], ensemble["version"]
    fresh(lab)
    write_tree(lab)
    written, count = digest(lab)
    assert count > BULK, count
    zxid = lab.wait_zxid_agree()

    source = lab.followers()[0]
    source.stop_zk()
    try:
        res = backup(lab, zookeeper_backup_source=source.name, zookeeper_backup_mode="cold")
    finally:
        source.start_zk()
    lab.wait_quorum()
    taken = attempt(res)
    assert taken["mode"] == "cold", taken
    assert taken["__zookeeper_backup_source"] == source.name, taken
    assert int(taken["zxid"]["last"], 16) == zxid, (taken["zxid"], "0x%x" % zxid)

    lab.wipe_members()
    assert digest(lab)[0] != written
    restore(lab)
    assert digest(lab) == (written, count)
    runs_release(lab, version)


def test_point_in_time_restore_between_writes(ensemble):
    lab, version = ensemble["lab"], ensemble["version"]
    fresh(lab)
    write_tree(lab)
    full_digest = digest(lab)
    full = attempt(backup(lab))

    # The first round: creates and an update after the full backup, each zxid noted.
    zk = client(lab)
    try:
        first = []
        for i in range(ROUND):
            first.append(zk.create("/pitr/a%03d" % i, b"first %d" % i, include_data=True)[1].czxid)
        first.append(zk.set("/pitr/a000", b"updated in the first round").mzxid)
        first.append(zk.set("/brokers/topics/topic-000", b"{}").mzxid)
        target = first[-1]
        assert first == sorted(first) and int(full["zxid"]["last"], 16) < first[0]
    finally:
        zk.stop()
        zk.close()
    at_target = digest(lab)

    # The second round: creates, updates and deletes of what existed at the target.
    zk = client(lab)
    try:
        second = []
        for i in range(ROUND):
            second.append(zk.create("/pitr/b%03d" % i, b"second %d" % i, include_data=True)[1].czxid)
        second.append(zk.set("/pitr/a001", b"updated in the second round").mzxid)
        zk.delete("/pitr/a002")
        zk.delete("/brokers/topics/topic-001", recursive=True)
        second.append(zk.create("/pitr/last", b"", include_data=True)[1].czxid)
        assert second == sorted(second) and target < second[0]
    finally:
        zk.stop()
        zk.close()
    assert digest(lab) != at_target
    shipped = attempt(backup(lab, SHIP))
    assert shipped["kind"] == "logs" and int(shipped["zxid"]["last"], 16) >= second[-1], shipped

    lab.wipe_members()
    assert digest(lab) != at_target
    res = restore(lab, zookeeper_restore_target_zxid="0x%x" % target)
    plan = res.result(
        "zkops.zookeeper.restore : Choose the backups to restore and have the backup host verify them",
        lab.members[0].name)["plan"]
    assert plan["full"]["id"] == full["backup_id"], plan
    assert digest(lab) == at_target
    assert at_target != full_digest
    zk = client(lab)
    try:
        assert all(zk.exists("/pitr/a%03d" % i) for i in range(ROUND))
        assert zk.get("/pitr/a000")[0] == b"updated in the first round"
        assert zk.get("/pitr/a001")[0] == b"first 1"
        assert zk.get("/brokers/topics/topic-000")[0] == b"{}"
        assert zk.exists("/brokers/topics/topic-001/partitions/0/state")
        assert not any(zk.exists("/pitr/b%03d" % i) for i in range(ROUND))
        assert not zk.exists("/pitr/last")
    finally:
        zk.stop()
        zk.close()
    runs_release(lab, version)
