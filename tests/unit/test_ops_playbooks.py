"""The catalog and start playbooks have no role defaults of their own: the defaults they write
out for the roles' variables are the roles' (roles/*/defaults/main.yml)."""
import os
import re

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def text(*parts):
    with open(os.path.join(REPO, *parts)) as f:
        return f.read()


def defaults(role):
    return yaml.safe_load(text("roles", role, "defaults", "main.yml"))


def written_defaults(playbook):
    """{variable: default} of every ``zookeeper_x | default('value'...)`` in the playbook."""
    found = {}
    for var, value in re.findall(r"\b(zookeeper_\w+) \| default\('([^']*)'", text("playbooks", playbook)):
        assert found.setdefault(var, value) == value, (playbook, var)
    for var, value in re.findall(r"\b(zookeeper_\w+) \| default\((\d+)", text("playbooks", playbook)):
        found.setdefault(var, int(value))
    return found


@pytest.mark.parametrize("playbook,roles", [("catalog.yml", ("backup", "restore")),
                                            ("start.yml", ("restore", "rolling_restart"))])
def test_the_defaults_written_out_are_the_roles(playbook, roles):
    written = written_defaults(playbook)
    compared = 0
    for role in roles:
        d = defaults(role)
        for var, value in written.items():
            if var in d and "{{" not in str(d[var]):
                assert d[var] == value, (playbook, role, var, value, d[var])
                compared += 1
    assert compared >= 3, written


def test_catalog_reads_as_the_roles_do():
    play = yaml.safe_load(text("playbooks", "catalog.yml"))[1]
    # The roles' SSH options (roles/backup/vars/backup_ssh.yml), for every module of the group.
    assert play["vars_files"] == ["../roles/backup/vars/backup_ssh.yml"]
    assert "__zookeeper_backup_ssh_options" in play["module_defaults"]["group/zkops.zookeeper.backup_ssh"]
    written = written_defaults("catalog.yml")
    assert written["zookeeper_backup_ssh_private_key_file"] == defaults("backup")["zookeeper_backup_ssh_private_key_file"]
    assert written["zookeeper_backup_ssh_known_hosts_file"] == defaults("restore")["zookeeper_backup_ssh_known_hosts_file"]
    read, = [t for t in play["tasks"] if "zkops.zookeeper.zk_backup_catalog" in t]
    args = read["zkops.zookeeper.zk_backup_catalog"]
    # Reads only: no pruning option given, nothing but the listing; once per ensemble, on its
    # first member (every task of the play).
    assert "prune" not in args and read["failed_when"] is False
    assert {t.get("when") for t in play["tasks"]} == {"inventory_hostname == __zkops_ensemble_lead"}
    assert not any("run_once" in t for t in play["tasks"])


def test_start_starts_every_member_at_once():
    play = yaml.safe_load(text("playbooks", "start.yml"))[1]
    assert "serial" not in play and "throttle" not in str(play)
    start = play["tasks"][0]["zkops.zookeeper.zk_quiesce"]
    assert start["state"] == "serving"
    for option in ("service_name", "service_manager", "start_command", "stop_command", "config_file"):
        assert "zookeeper_" + option in start[option], option
