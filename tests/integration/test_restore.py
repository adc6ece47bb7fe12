"""The restore playbook on real ensembles: whole-ensemble restores (after every member was
wiped, after a subtree was deleted, to a point in time), the automatic rollback, the
refusals that stop before any member is stopped, check mode, and the rebuild of one member
while a client writes.

Every result is checked against the servers themselves: the tree digest read with a plain
client, the server processes, the data files.
"""
import json
import os
import time

import pytest

import zklive
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from lab import workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
SHIP = os.path.join(REPO, "playbooks", "ship_logs.yml")
MARKER = "zkops-restore.json"
# An election in the lab (tickTime 500 ms) takes 0.5 to 2 s.
ELECTION = 2.0


def client(lab):
    return workload.client(lab, auth_data=[CREDENTIAL])


def digest(lab, host=None):
    """The digest of the live tree, through the ensemble or from one member."""
    if host is None:
        return zklive.synced_digest(client(lab))
    return zklive.synced_digest(workload.client("%s:%d" % (host.ip, lab.client_port), auth_data=[CREDENTIAL]))


def _documents(text):
    """The JSON objects of files concatenated (cat)."""
    out, pos, dec = [], 0, json.JSONDecoder()
    text = text.strip()
    while pos < len(text):
        doc, pos = dec.raw_decode(text, pos)
        out.append(doc)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def pids(lab):
    return {h.name: h.zk_pid() for h in lab.members}


def take_backup(lab, kind="full"):
    res = run_playbook(lab, BACKUP if kind == "full" else SHIP, extra_vars={
        "zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False, "zookeeper_backup_force": True})
    assert res.rc == 0, res.output()
    return res


def restore(lab, check=False, confirm=True, **extra):
    ev = {"zookeeper_auth": AUTH, "zookeeper_restore_timeout": 60}
    if confirm:
        ev["zookeeper_restore_confirm"] = lab.name
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev, check=check)


def markers(lab):
    out = {}
    for h in lab.members:
        r = h.sh("cat %s/version-2/%s" % (lab.data_dir, MARKER), check=False)
        out[h.name] = json.loads(r.stdout) if r.returncode == 0 else None
    return out


@pytest.fixture(scope="module")
def sample(lab3):
    """lab3 with the sample tree and one full backup; returns the tree's digest."""
    zk = client(lab3)
    workload.sample_tree(zk)
    zk.stop()
    zk.close()
    take_backup(lab3)
    return digest(lab3)


def test_refusals_stop_before_any_member_is_stopped(lab3, sample):
    before = pids(lab3)
    areas = "ls -d %s/.zkops-restore 2>/dev/null; true" % lab3.data_dir

    res = restore(lab3, confirm=False)
    assert res.rc != 0 and "zookeeper_restore_confirm=%s" % lab3.name in res.stdout, res.output()
    res = restore(lab3, zookeeper_restore_confirm="prod")
    assert res.rc != 0 and "Nothing was done" in res.stdout

    # Check mode: the whole run is predicted, nothing stops, nothing is written.
    res = restore(lab3, check=True)
    assert res.rc == 0, res.output()
    assert res.result("zkops.zookeeper.restore : Fence, stop every member (clients cannot write into a "
                      "half-restored ensemble)", "zk1")["changed"]
    assert all(not h.sh(areas).stdout.strip() for h in lab3.members)

    backup_host = lab3.backup_hosts[0]
    backup_host.cut_off()
    try:
        res = restore(lab3)
    finally:
        backup_host.reconnect()
    assert res.rc != 0 and "no backup host could be reached" in res.stdout, res.output()

    # A damaged archive on the backup host: its checksums no longer match.
    archive = backup_host.sh("ls /srv/backups/%s/*/archive.tar*" % lab3.name).stdout.split()[-1]
    backup_host.sh("cp %s /tmp/saved && printf 'XXXX' | dd of=%s bs=1 seek=100 conv=notrunc status=none"
                   % (archive, archive))
    try:
        res = restore(lab3)
    finally:
        backup_host.sh("cp /tmp/saved %s" % archive)
    assert res.rc != 0 and "fails verification on the backup host" in res.stdout, res.output()

    assert pids(lab3) == before
    assert all(not h.sh(areas).stdout.strip() for h in lab3.members)
    assert digest(lab3) == sample


def test_restore_after_every_member_was_wiped(lab3, sample):
    lab3.wipe_members()
    assert digest(lab3) != sample
    res = restore(lab3)
    assert res.rc == 0, res.output()
    assert digest(lab3) == sample
    m = markers(lab3)
    assert len(set(x["restore_id"] for x in m.values())) == 1
    assert all(x["confirmed"] and x["verification"]["digest"] == sample for x in m.values())
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]

    # A second run finds the ensemble as restored and changes nothing.
    before = pids(lab3)
    res = restore(lab3)
    assert res.rc == 0, res.output()
    assert "Nothing to do" in res.stdout
    assert res.changed() == [] and pids(lab3) == before


def test_a_member_that_does_not_start_rolls_everything_back(lab3, sample):
    zk = client(lab3)
    zk.create("/after-the-backup", b"keep me")
    zk.delete("/brokers/topics/topic-003", recursive=True)
    zk.stop()
    zk.close()
    current = digest(lab3)
    assert current != sample
    # zk2's restored files end up owned by root: its server cannot read its data directory.
    owner = "{{ 'root' if inventory_hostname == 'zk2' else 'zookeeper' }}"
    res = restore(lab3, zookeeper_user=owner, zookeeper_user_group=owner)
    assert res.rc != 0
    assert "Every member was put back on its pre-restore data" in res.stdout, res.output()
    assert "zk2: Wait until every member started serves" in res.stdout
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]
    assert digest(lab3) == current
    # The restored data is kept aside for inspection, the live data is the one from before.
    for h in lab3.members:
        assert h.sh("ls -d %s/.zkops-restore/*/failed/version-2" % lab3.data_dir).stdout.strip()
        assert h.sh("stat -c %%U %s" % lab3.data_dir).stdout.strip() == "zookeeper"
    # The failed restore left its report on the backup host, as a successful one does.
    reports = lab3.backup_hosts[0].sh("cat /srv/backups/%s/restores/*.json" % lab3.name).stdout
    failed = [d for d in _documents(reports) if d["report"]["result"] == "failed, rolled back"]
    assert len(failed) == 1 and "zk2" in " ".join(failed[0]["report"]["failures"]), reports

    # The clean-up removes them, and every pre-restore copy with keep 0; only when confirmed.
    cleanup = {"zookeeper_restore_mode": "cleanup", "zookeeper_restore_keep_pre_restore": 0}
    res = restore(lab3, confirm=False, **cleanup)
    assert res.rc != 0 and "Nothing was done" in res.stdout
    res = restore(lab3, **cleanup)
    assert res.rc == 0, res.output()
    for h in lab3.members:
        left = h.sh("ls %s/.zkops-restore/*/ 2>/dev/null; true" % lab3.data_dir).stdout
        assert "failed" not in left and "pre-restore" not in left, left
    assert digest(lab3) == current


def test_rebuild_one_member_while_a_client_writes(lab3, sample):
    lab3.wait_quorum()
    victim = sorted(lab3.followers(), key=lambda h: h.myid)[0]
    victim.kill_zk()
    # Its disk is replaced: the data is gone (the configuration and myid stay).
    victim.sh("rm -rf %s/version-2 %s/version-2" % (lab3.data_dir, lab3.data_log_dir))
    with workload.ContinuousWriter(lab3) as writer:
        time.sleep(1.0)
        res = restore(lab3, zookeeper_restore_mode="member", zookeeper_restore_member=victim.name,
                      zookeeper_restore_confirm=victim.name)
        time.sleep(1.0)
    assert res.rc == 0, res.output()
    assert writer.writes > 50 and writer.stall <= ELECTION, (writer.writes, writer.stall)
    print("\nrebuild of %s under continuous writes: %d writes, longest stall %.3f s"
          % (victim.name, writer.writes, writer.stall))
    assert victim.mode() == "follower"
    compared = res.result("zkops.zookeeper.restore : Check that the rebuilt member holds the leader's tree",
                          victim.name)
    assert not compared.get("failed")
    # The member serves the same tree as the leader.
    assert digest(lab3, victim) == digest(lab3, lab3.leader())

    # Another member's log is damaged (it refuses to start): rebuilt from the backup instead.
    other = [h for h in lab3.followers() if h is not victim][0]
    other.kill_zk()
    other.sh("f=$(ls -t %s/version-2/log.* | head -1); printf 'XXXXXXXX' | dd of=$f bs=1 seek=200 conv=notrunc "
             "status=none" % lab3.data_log_dir)
    other.start_zk()
    deadline = time.time() + 20
    while other.zk_running() and time.time() < deadline:
        time.sleep(0.2)
    assert not other.zk_running(), "the damaged member started"
    res = restore(lab3, zookeeper_restore_mode="member", zookeeper_restore_member=other.name,
                  zookeeper_restore_confirm=other.name, zookeeper_restore_member_source="backup")
    assert res.rc == 0, res.output()
    assert other.mode() == "follower"
    assert digest(lab3, other) == digest(lab3, lab3.leader())
    # Its damaged data is kept as the pre-restore copy until the retention removes it.
    assert other.sh("ls %s/.zkops-restore/*/pre-restore/version-2/" % lab3.data_log_dir).stdout.strip()


def test_five_members_point_in_time_and_wiped(make_lab):
    lab = make_lab(members=5, separate_datalog=True)
    zk = client(lab)
    workload.sample_tree(zk)
    take_backup(lab)
    full = digest(lab)
    zk.create("/pitr", b"")
    zxid_a = zk.create("/pitr/a", b"first write", include_data=True)[1].czxid
    at_a = digest(lab)
    take_backup(lab, kind="logs")
    zk.create("/pitr/b", b"second write")
    zk.delete("/brokers", recursive=True)          # the accident
    zk.stop()
    zk.close()
    # An election after the accident: the history to be undone reaches into a later epoch.
    leader = lab.leader()
    leader.kill_zk()
    lab.wait_quorum(members=[h for h in lab.members if h is not leader])
    leader.start_zk()
    lab.wait_quorum()
    zk = client(lab)
    zxid_b2 = zk.create("/pitr/b2", b"in the next epoch", include_data=True)[1].czxid
    assert zxid_b2 >> 32 > zxid_a >> 32
    take_backup(lab, kind="logs")
    zk.stop()
    zk.close()

    res = restore(lab, zookeeper_restore_target_zxid="0x%x" % zxid_a)
    assert res.rc == 0, res.output()
    zk = client(lab)
    try:
        assert zk.get("/pitr/a")[0] == b"first write"
        assert not zk.exists("/pitr/b") and zk.exists("/brokers/topics/topic-000")
    finally:
        zk.stop()
        zk.close()
    assert digest(lab) == at_a
    assert {m["target_zxid"] for m in markers(lab).values()} == {"0x%x" % zxid_a}
    # On each member, nothing of the epoch the target is in was kept after the target (the
    # logs of the new epoch hold what the restored ensemble did since it started).
    for h in lab.members:
        logdir = h.path(lab.data_log_dir + "/version-2")
        old = [n for n in os.listdir(logdir) if n.startswith("log.") and int(n[4:], 16) >> 32 == zxid_a >> 32]
        assert old and max(txnlog.scan_log(os.path.join(logdir, n))["last_zxid"] for n in old) == zxid_a

    # The restore forked the history; the chunks shipped before it still hold /pitr/b, /pitr/b2
    # and the deleted /brokers. The first log shipping after it takes a full backup instead (a
    # chunk could not be restored without one). The restored ensemble began an epoch past
    # every one the backups know, so what it writes now is shipped (not taken for transactions
    # already shipped), and the latest state leaves out what the restore undid.
    zk = client(lab)
    zxid_c = zk.create("/pitr/c", b"after the restore", include_data=True)[1].czxid
    assert zxid_c >> 32 > zxid_b2 >> 32
    fulls = "ls -d /srv/backups/%s/*-full-* | wc -l" % lab.name
    before = int(lab.backup_hosts[0].sh(fulls).stdout)
    take_backup(lab, kind="logs")
    assert int(lab.backup_hosts[0].sh(fulls).stdout) == before + 1
    zk.create("/pitr/c2", b"shipped after the new full backup")
    zk.stop()
    zk.close()
    take_backup(lab, kind="logs")
    at_c = digest(lab)
    latest = restore(lab, zookeeper_restore_target_zxid="latest")
    assert latest.rc == 0, latest.output()
    assert digest(lab) == at_c
    zk = client(lab)
    try:
        assert zk.exists("/pitr/c") and zk.exists("/pitr/c2")
        assert not zk.exists("/pitr/b") and not zk.exists("/pitr/b2")
    finally:
        zk.stop()
        zk.close()

    lab.wipe_members()
    res = restore(lab, zookeeper_restore_backup_id=res.result(
        "zkops.zookeeper.restore : Choose the backups to restore and have the backup host verify them",
        "zk1")["plan"]["full"]["id"])
    assert res.rc == 0, res.output()
    assert digest(lab) == full
    assert sorted(lab.wait_quorum().values()).count("leader") == 1
