"""The supported ansible-core range is stated once in meta/runtime.yml; the requirement files,
the locks, the execution environment and the README agree with it, and the stages that test
its two ends (tests/run lowest, the locked suite) test exactly its lowest and a version
inside it."""
import os
import re

import yaml
from ansible.module_utils.compat.version import LooseVersion
from lab.ansible import REPO


def read(*path):
    with open(os.path.join(REPO, *path)) as f:
        return f.read()


def pin(text, name):
    m = re.search(r"^%s==(\S+)" % re.escape(name), text, re.M)
    assert m, "%s is not pinned" % name
    return m.group(1)


def claimed():
    spec = yaml.safe_load(read("meta", "runtime.yml"))["requires_ansible"]
    m = re.fullmatch(r">=(\d+\.\d+\.\d+),<(\d+\.\d+)(?:\.0)?", spec)
    assert m, "requires_ansible should read >=X.Y.Z,<X.Y: %s" % spec
    return m.group(1), m.group(2)


def test_the_loose_files_ask_for_the_claimed_range():
    low, below = claimed()
    short = ".".join(low.split(".")[:2])
    for f in ("tests/requirements.txt", "tests/requirements-lint.txt"):
        assert "ansible-core>=%s,<%s" % (low, below) in read(f) or \
            "ansible-core>=%s.0,<%s" % (short, below) in read(f), f


def test_the_locks_and_the_execution_environment_hold_one_version_inside_the_range():
    low, below = claimed()
    locked = pin(read("tests", "lock", "controller.txt"), "ansible-core")
    assert pin(read("tests", "lock", "lint.txt"), "ansible-core") == locked
    ee_lock = read("execution-environment", "requirements-lock.txt")
    assert pin(ee_lock, "ansible-core") == locked
    assert LooseVersion(low) <= LooseVersion(locked) < LooseVersion(below)
    ee = yaml.safe_load(read("execution-environment", "execution-environment.yml"))["dependencies"]
    assert ee["ansible_core"]["package_pip"] == "ansible-core==" + locked
    assert ee["ansible_runner"]["package_pip"] == "ansible-runner==" + pin(ee_lock, "ansible-runner")
    assert ee["python"] == "requirements-lock.txt"


def test_the_lowest_stage_runs_the_lowest_claimed_version():
    low, _below = claimed()
    assert pin(read("tests", "requirements-lowest.txt"), "ansible-core") == low


def test_the_readme_states_the_range_and_the_tested_versions():
    low, below = claimed()
    locked = pin(read("tests", "lock", "controller.txt"), "ansible-core")
    readme = read("README.md")
    assert "`>=%s,<%s`" % (low, below) in readme
    assert "ansible-core %s" % locked in readme and "ansible-core %s" % low in readme


def test_every_locked_requirement_has_a_hash():
    for name in ("controller.txt", "lint.txt"):
        text = read("tests", "lock", name)
        entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M)
        names = re.findall(r"^[A-Za-z0-9_.\-]+==", text, re.M)
        assert entries and len(entries) == len(names), name


def test_the_playbooks_refuse_ansible_core_below_the_claimed_range():
    """Every playbook starts with plays/members.yml; its first task stops the run on an
    ansible-core below requires_ansible (2.19.0 to 2.19.3 can hang between plays)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    low, _below = claimed()
    play, = yaml.safe_load(read("playbooks", "plays", "members.yml"))
    first = play["tasks"][0]
    assert first["name"] == "Check that ansible-core is a release the collection runs on"
    that, = first["ansible.builtin.assert"]["that"]
    assert "'%s'" % low in that, "the check and requires_ansible name different releases"
    assert low in first["ansible.builtin.assert"]["fail_msg"]
    for version, ok in (("2.19.0", False), ("2.19.3", False), (low, True), ("2.19.14", True)):
        templar = Templar(loader=DataLoader(), variables={"ansible_version": {"full": version}})
        assert templar.evaluate_conditional(trust_as_template(that)) is ok, version
    for name in sorted(os.listdir(os.path.join(REPO, "playbooks"))):
        if name.endswith(".yml"):
            first_play = yaml.safe_load(read("playbooks", name))[0]
            assert first_play.get("ansible.builtin.import_playbook") == "plays/members.yml", name
