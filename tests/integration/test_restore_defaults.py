"""The restore's defaults on a real ensemble: without a target it goes to the newest state
the backup hosts hold (the full backup and the log chunks shipped after it), the plan is
printed before the confirmation is checked and in check mode, and a member without the
Python libraries the modules need stops the run before anything is done.

Every result is checked against the servers themselves (the tree digest read with a plain
client, the server processes) and the backup host's files.
"""
import json
import os

import pytest

import zklive
from lab import workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
SHIP = os.path.join(REPO, "playbooks", "ship_logs.yml")
PLAN = "Show the plan (before the confirmation is checked, and in check mode)"
CONFIRM = "Check the confirmation"
FENCE = "Fence, stop every member (clients cannot write into a half-restored ensemble)"
LIBS = "Check the Python libraries the restore needs (kazoo, paramiko)"


def client(lab):
    return workload.client(lab, auth_data=[CREDENTIAL])


def digest(lab):
    return zklive.synced_digest(client(lab))


def pids(lab):
    return {h.name: h.zk_pid() for h in lab.members}


def take_backup(lab, kind="full"):
    res = run_playbook(lab, BACKUP if kind == "full" else SHIP, extra_vars={
        "zookeeper_backup_install_packages": False, "zookeeper_backup_force": True})
    assert res.rc == 0, res.output()
    return res


def restore(lab, check=False, confirm=True, inventory=None, **extra):
    ev = {"zookeeper_auth": AUTH, "zookeeper_restore_timeout": 60}
    if confirm:
        ev["zookeeper_restore_confirm"] = lab.name
    ev.update(extra)
    return run_playbook(lab, RESTORE, extra_vars=ev, check=check, inventory=inventory)


def plan_of(res):
    return res.result("zkops.zookeeper.restore : " + PLAN)["msg"]


def position(res, name):
    """The index of the first record of task ``name`` in the run."""
    for i, r in enumerate(res.records):
        if r["task"].endswith(" : " + name):
            return i
    raise AssertionError("no task %r in the run\n%s" % (name, res.output()))


def chunks(lab):
    out = lab.backup_hosts[0].sh("ls /srv/backups/%s" % lab.name).stdout.split()
    return sorted(n for n in out if "-logs-" in n)


@pytest.fixture(scope="module")
def shipped(lab3):
    """lab3 with the sample tree, a full backup, a write shipped in a log chunk after it,
    and a write that was never shipped."""
    zk = client(lab3)
    workload.sample_tree(zk)
    zk.stop()
    zk.close()
    take_backup(lab3)
    zk = client(lab3)
    zxid = zk.create("/after-the-full-backup", b"shipped", include_data=True)[1].czxid
    zk.stop()
    zk.close()
    take_backup(lab3, kind="logs")
    at_shipping = digest(lab3)
    zk = client(lab3)
    zk.create("/never-shipped", b"lost")
    zk.stop()
    zk.close()
    assert len(chunks(lab3)) == 1
    return {"zxid": zxid, "digest": at_shipping, "chunk": chunks(lab3)[0]}


def test_the_plan_is_printed_before_the_confirmation_and_in_check_mode(lab3, shipped):
    before = pids(lab3)

    res = restore(lab3, confirm=False)
    assert res.rc != 0 and "Nothing was done" in res.stdout, res.output()
    plan = plan_of(res)
    assert position(res, PLAN) < position(res, CONFIRM)
    assert "(the default)" in plan["target"] and "newest state" in plan["target"]
    assert plan["shipped_logs"] == [shipped["chunk"]]
    assert plan["backup_id"] in plan["full_backup"] and "-full-" in plan["backup_id"]
    # The chunk's last transaction is at or after the write it shipped (a session's close
    # is a transaction too).
    assert int(plan["last_zxid"], 16) >= shipped["zxid"]
    assert plan["last_transaction_time"].startswith("20") and plan["last_transaction_time"].endswith("Z")
    assert plan["left_out"].startswith("nothing")

    # Check mode prints the same plan, and goes on to predict the rest.
    check = restore(lab3, check=True)
    assert check.rc == 0, check.output()
    assert plan_of(check) == plan
    assert check.result("zkops.zookeeper.restore : " + FENCE, "zk1")["changed"]

    # The newest full backup alone, asked for explicitly: the plan names the chunk it leaves
    # out, up to which zxid, and how to have it.
    full = restore(lab3, confirm=False, zookeeper_restore_target_zxid="full_backup")
    assert full.rc != 0, full.output()
    fplan = plan_of(full)
    assert fplan["shipped_logs"] == [] and fplan["backup_id"] == plan["backup_id"]
    assert int(fplan["last_zxid"], 16) < shipped["zxid"]
    assert shipped["chunk"] in fplan["left_out"] and plan["last_zxid"] in fplan["left_out"]
    assert "zookeeper_restore_target_zxid=latest" in fplan["left_out"]
    assert "without the chunks shipped after it" in fplan["target"]

    assert pids(lab3) == before


def test_a_restore_with_the_defaults_brings_back_what_was_shipped(lab3, shipped):
    lab3.wipe_members()
    res = restore(lab3)
    assert res.rc == 0, res.output()
    assert plan_of(res)["shipped_logs"] == [shipped["chunk"]]
    assert digest(lab3) == shipped["digest"]
    # The report: restored to the end of the shipped chunk, nothing on the hosts left out.
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    assert summary["restored_to"]["zxid"] == plan_of(res)["last_zxid"]
    assert summary["left_out"]["logs"] == [] and summary["left_out"]["full_backups"] == []
    zk = client(lab3)
    try:
        assert zk.get("/after-the-full-backup")[0] == b"shipped"
        assert not zk.exists("/never-shipped")
    finally:
        zk.stop()
        zk.close()
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]


def test_a_member_without_the_libraries_stops_the_restore_before_anything(lab3, shipped, tmp_path):
    # A member rebuilt from scratch: its Python has no site packages (the lab's members
    # share /usr, so the member gets an interpreter that does not read them, as a host
    # without python3-kazoo and python3-paramiko would be).
    bare = lab3.members[1]
    bare.sh("printf '#!/bin/sh\\nexec /usr/bin/python3 -S \"$@\"\\n' > /root/python3-bare"
            " && chmod 755 /root/python3-bare && /root/python3-bare -c 'import json'")
    assert bare.sh("/root/python3-bare -c 'import kazoo'", check=False).returncode != 0
    with open(lab3.inventory) as f:
        inv = json.load(f)
    inv["all"]["children"]["zookeeper"]["hosts"][bare.name]["ansible_python_interpreter"] = "/root/python3-bare"
    path = str(tmp_path / "inventory.json")
    with open(path, "w") as f:
        json.dump(inv, f)
    before = pids(lab3)

    res = restore(lab3, inventory=path, zookeeper_restore_install_packages=False)
    assert res.rc != 0, res.output()
    assert ("Nothing was done to the ensemble: %s (/usr/bin/python3) cannot import kazoo, paramiko: "
            "packages python3-kazoo python3-paramiko (Debian/Ubuntu), python3-kazoo python3-paramiko (EL"
            % bare.name) in res.stdout, res.output()
    assert "zookeeper_restore_install_packages=true" in res.stdout
    assert res.result("zkops.zookeeper.restore : " + LIBS, lab3.members[0].name)["missing"] == []
    assert not res.tasks(PLAN) and not res.tasks(FENCE)

    # Without the confirmation nothing is installed either: the run says how to go ahead.
    res = restore(lab3, inventory=path, confirm=False)
    assert res.rc != 0, res.output()
    assert all(r["status"] == "skipped" for r in res.tasks("Install the packages that give the missing ones"))
    assert "packages are installed only in a confirmed run" in " ".join(res.stdout.split()), res.output()
    assert not res.tasks(PLAN) and not res.tasks(FENCE)

    # With the installation on (the default), the packages are there as far as apt knows, but
    # this interpreter still cannot import them: the run says so, still before anything.
    res = restore(lab3, inventory=path)
    assert res.rc != 0, res.output()
    assert "although the packages are installed: this interpreter does not see them" in res.stdout, res.output()
    assert not res.tasks(PLAN) and not res.tasks(FENCE)
    assert pids(lab3) == before
