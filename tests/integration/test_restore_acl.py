"""Restores of ensembles whose tree holds subtrees only another identity may read, run with
the default variables (no zookeeper_auth), as an operator without a super-user runs them.

The verification is checked layer by layer in the run's report: the files, what the members
tell (every member serving, one leader, the zxid, srvr's node count, ZooKeeper's digest
checks), and the live tree, partial with its unreadable subtrees named. A count that differs
still fails the restore; a restore after a total loss that fails is not rolled back to the
empty data. Every result is checked against the servers with a client that may read all.
"""
import json
import os

import pytest
from kazoo.security import ACL, Id, Permissions, make_digest_acl

import zklive
from lab import workload
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
ADMIN = workload.CREDENTIAL                     # sample_tree's identity
BROKER = ("digest", "broker:kafka-s3cret")      # the only identity that may read /secure, /config/users
UNREADABLE = ["/config/users", "/secure"]


def client(lab):
    return workload.client(lab, auth_data=[ADMIN, BROKER])


def acl_tree(lab):
    """sample_tree, plus subtrees that only BROKER may read, and a znode everyone may read
    whose digest ACL only BROKER may see."""
    zk = client(lab)
    try:
        workload.sample_tree(zk)
        broker = [make_digest_acl("broker", "kafka-s3cret", all=True)]
        zk.create("/secure", b"", acl=broker)
        zk.create("/secure/a", b"alpha", acl=broker)
        zk.create("/secure/b", b"", acl=broker)
        zk.create("/secure/b/c", b"gamma", acl=broker)
        zk.create("/config/users", b"", acl=broker)
        zk.create("/config/users/alice", b'{"SCRAM-SHA-256":"..."}', acl=broker)
        zk.create("/kafka-acls", b"", acl=broker + [ACL(Permissions.READ, Id("world", "anyone"))])
    finally:
        zk.stop()
        zk.close()


def digest(lab):
    """The digest of the whole live tree, read by a client that may read every znode."""
    return zklive.synced_digest(client(lab))


def write(lab, path):
    zk = client(lab)
    try:
        zk.create(path, b"written after the backup")
    finally:
        zk.stop()
        zk.close()


def take_backup(lab):
    res = run_playbook(lab, BACKUP, extra_vars={
        "zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False, "zookeeper_backup_force": True})
    assert res.rc == 0, res.output()


def restore(lab, **extra):
    """The restore with the default variables: no identity in zookeeper_auth."""
    ev = {"zookeeper_restore_confirm": lab.name, "zookeeper_restore_timeout": 60}
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev)


def report(res):
    """The run's report, as printed and as stored on the backup host."""
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    return summary


def stored_report(lab, rid):
    text = lab.backup_hosts[0].sh("cat /srv/backups/%s/restores/%s.json" % (lab.name, rid)).stdout
    return json.loads(text)["report"]


def check_partly_verified(rep):
    layers = rep["verification"]["layers"]
    assert rep["result"] == "restored, partly verified", rep
    assert layers["files"]["status"] == "verified", layers["files"]
    serving = {c["name"]: c for c in layers["serving"]["checks"]}
    assert layers["serving"]["status"] == "verified", layers["serving"]
    assert serving["node count"]["status"] == "verified" and serving["zxid"]["status"] == "verified"
    assert serving["ZooKeeper's digest"]["status"] == "verified" and serving["one leader"]["status"] == "verified"
    tree = layers["tree"]
    assert tree["status"] == "partial", tree
    assert "2 subtrees unreadable: /config/users, /secure" in tree["summary"], tree
    assert "digest ACLs hidden" in tree["summary"]
    assert rep["verification"]["live"]["unreadable"] == UNREADABLE
    assert rep["verification"]["match"] is False


def test_three_members_serving_wrong_and_total_loss(lab3):
    acl_tree(lab3)
    take_backup(lab3)
    backup = digest(lab3)

    # A serving ensemble: the pre-restore digest is the readable part's, the restore goes on.
    write(lab3, "/after-the-backup")
    res = restore(lab3)
    assert res.rc == 0, res.output()
    assert digest(lab3) == backup
    rep = report(res)
    check_partly_verified(rep)
    pre = rep["verification"]["pre_restore_tree"]
    assert pre["partial"] and pre["unreadable"] == UNREADABLE
    assert stored_report(lab3, rep["restore_id"])["verification"]["layers"] == rep["verification"]["layers"]
    assert "WARNING: could not verify" in res.stdout and "/secure" in res.stdout

    # A count that differs is verified wrong: the backup's manifest promises one more znode.
    write(lab3, "/after-the-restore")
    current = digest(lab3)
    bh = lab3.backup_hosts[0]
    manifest = bh.sh("ls /srv/backups/%s/*/manifest.json" % lab3.name).stdout.split()[0]
    where = os.path.dirname(manifest)
    bh.sh("cd %s && cp manifest.json SHA256SUMS /tmp/" % where)
    # A manifest that promises one znode more than its files hold, and checksums that agree.
    bh.sh("cd %s && python3 -c \"import json; m=json.load(open('manifest.json')); m['digest']['znodes'] += 1; "
          "json.dump(m, open('manifest.json', 'w'))\" && grep -v ' manifest.json$' /tmp/SHA256SUMS > SHA256SUMS "
          "&& sha256sum manifest.json >> SHA256SUMS" % where)
    try:
        res = restore(lab3)
    finally:
        bh.sh("cp /tmp/manifest.json /tmp/SHA256SUMS %s/" % where)
    assert res.rc != 0, res.output()
    assert "verified wrong" in res.stdout and "node count" in res.stdout, res.output()
    assert "Every member was put back on its pre-restore data" in res.stdout, res.output()
    assert digest(lab3) == current
    rep = report(res)
    assert rep["result"] == "failed, rolled back" and rep["rollback"]["done"] is True, res.output()
    assert rep["verification"]["layers"]["serving"]["status"] == "wrong"

    # Total loss, then a restore that fails after the fence (zk2 cannot read its data): it is
    # not rolled back to the empty data; zk1 and zk3 serve the restored tree.
    lab3.wipe_members()
    owner = "{{ 'root' if inventory_hostname == 'zk2' else 'zookeeper' }}"
    res = restore(lab3, zookeeper_user=owner, zookeeper_user_group=owner)
    assert res.rc != 0
    assert "It was NOT rolled back: before the restore the ensemble served an empty tree" in res.stdout, res.output()
    rep = report(res)
    assert rep["result"] == "failed, not rolled back" and rep["rollback"]["done"] is False, rep
    assert "empty tree" in rep["rollback"]["reason"]
    assert digest(lab3) == backup

    # The same restore with the defaults completes it.
    res = restore(lab3)
    assert res.rc == 0, res.output()
    assert digest(lab3) == backup
    check_partly_verified(report(res))
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]


def test_five_members_total_loss_and_serving(make_lab):
    lab = make_lab(members=5)
    acl_tree(lab)
    take_backup(lab)
    backup = digest(lab)

    lab.wipe_members()
    res = restore(lab)
    assert res.rc == 0, res.output()
    assert digest(lab) == backup
    rep = report(res)
    check_partly_verified(rep)
    assert rep["verification"]["pre_restore_tree"] is not None   # the empty tree, readable

    write(lab, "/after-the-restore")
    res = restore(lab)
    assert res.rc == 0, res.output()
    assert digest(lab) == backup
    check_partly_verified(report(res))
    assert sorted(lab.wait_quorum().values()).count("leader") == 1
