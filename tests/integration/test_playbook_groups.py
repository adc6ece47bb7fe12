"""The members' inventory group on real runs: named in the inventory (group_vars/all), it
is what every playbook targets; missing, empty or limited away, every playbook of the
collection fails and names it instead of "succeeding" on no host."""
import glob
import json
import os

import pytest

from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

PLAYBOOKS = sorted(glob.glob(os.path.join(REPO, "playbooks", "*.yml")))
GROUP = "kafka_zk"


def inventory(lab, tmp_path, members=True, group_vars=True):
    """An inventory directory whose members are in GROUP, named in group_vars/all.yml."""
    with open(lab.inventory) as f:
        inv = json.load(f)
    hosts = inv["all"]["children"].pop("zookeeper")
    inv["all"]["children"][GROUP] = hosts if members else {"hosts": {}}
    d = tmp_path / ("inventory-%s" % ("members" if members else "empty"))
    (d / "group_vars").mkdir(parents=True)
    with open(str(d / "hosts.json"), "w") as f:
        json.dump(inv, f)
    if group_vars:
        (d / "group_vars" / "all.yml").write_text("zookeeper_group: %s\n" % GROUP)
    return str(d)


def backups(lab):
    out = lab.backup_hosts[0].sh("ls /srv/backups/%s 2>/dev/null; true" % lab.name).stdout.split()
    return [n for n in out if "-full-" in n]


def test_the_members_group_named_in_the_inventory(lab3, tmp_path):
    inv = inventory(lab3, tmp_path)
    res = run_playbook(lab3, os.path.join(REPO, "playbooks", "info.yml"), inventory=inv)
    assert res.rc == 0, res.output()
    assert sorted(res.results("Read each member's status and the ensemble view")) == sorted(
        h.name for h in lab3.members)

    before = backups(lab3)
    res = run_playbook(lab3, os.path.join(REPO, "playbooks", "backup.yml"), inventory=inv, extra_vars={
        "zookeeper_backup_install_packages": False})
    assert res.rc == 0, res.output()
    assert len(backups(lab3)) == len(before) + 1


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=os.path.basename)
def test_every_playbook_fails_naming_an_empty_or_missing_group(lab3, tmp_path, playbook):
    res = run_playbook(lab3, playbook, inventory=inventory(lab3, tmp_path, members=False))
    assert res.rc != 0, res.output()
    assert "the inventory group '%s' of the ZooKeeper members is empty" % GROUP in res.stdout, res.output()
    # Nothing ran but the checks of ansible-core and of the group.
    assert {r["task"] for r in res.records} == {"Check that ansible-core is a release the collection runs on",
                                                "Check that the inventory group of the members has hosts"}

    # Without zookeeper_group in the inventory the default group "zookeeper" is looked for.
    res = run_playbook(lab3, playbook, inventory=inventory(lab3, tmp_path / "other", group_vars=False))
    assert res.rc != 0, res.output()
    assert "the inventory group 'zookeeper' of the ZooKeeper members does not exist" in res.stdout, res.output()


def test_a_limit_that_leaves_no_member_fails(lab3):
    res = run_playbook(lab3, os.path.join(REPO, "playbooks", "info.yml"), limit=lab3.backup_hosts[0].name)
    assert res.rc != 0, res.output()
    assert "leaves none of the members of the inventory group 'zookeeper'" in res.stdout, res.output()
