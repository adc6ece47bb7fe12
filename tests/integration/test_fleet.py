"""A fleet: two ensembles in one inventory, backed up by one run of the backup playbook.

Two labs make the fleet (the 2-member ensembles "fleet-a" and "fleet-b", each with its own
backup host), joined in one inventory the way docs/fleets.md describes it: a group per
ensemble naming it with zookeeper_ensemble_name, both children of the group "zookeeper".
Backups, info, the catalog, the health check, start and the rolling restart work on both ensembles in one run;
the playbooks that act on one ensemble refuse the two.
The module's tests share them and leave them serving (about 1.5 minutes on a quiet machine,
5 on a loaded one).
"""
import json
import os

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import run_playbook
from lab.fleet import host_name, write_inventory

pytestmark = pytest.mark.lab

EV = {"zookeeper_backup_install_packages": False, "zookeeper_backup_ssh_connect_timeout": 3}
SUMMARY = "zkops.zookeeper.backup : Summary of the ensembles"
# The tasks of playbooks/plays/members.yml.
FIRST_PLAY = {"Check that ansible-core is a release the collection runs on",
              "Check that the inventory group of the members has hosts",
              "Check that every member of several ensembles names its ensemble",
              "Check that the ensembles asked for are in the inventory",
              "Check that the limit leaves members to work on",
              "Tell each member its ensemble, the ensemble's selected members and the first of them",
              "Note the selected members with their ensembles",
              "Note the selected ensembles and their members",
              "Put the members in the group the next play targets"}


class Fleet:
    def __init__(self, labs, directory):
        self.labs = labs
        self.dir = directory
        self.inventory, self.cfg = write_inventory(labs, directory)

    host = staticmethod(host_name)

    def run(self, playbook="zkops.zookeeper.backup", extra=None, **kw):
        ev = dict(EV)
        ev.update(extra or {})
        kw.setdefault("inventory", self.inventory)
        res = run_playbook(self.labs[0], playbook, extra_vars=ev, env={"ANSIBLE_CONFIG": self.cfg}, **kw)
        print("%s: rc %d in %.1f s" % (playbook, res.rc, res.duration))
        return res


def make_fleet(tmp_path_factory, ensembles, backups=1):
    labs = []
    try:
        for name, members in ensembles:
            lab = Lab(name=name, members=members, backups=backups)
            labs.append(lab)
            lab.up()
        yield Fleet(labs, str(tmp_path_factory.mktemp("fleet")))
    finally:
        for lab in labs:
            lab.down()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    yield from make_fleet(tmp_path_factory, (("fleet-a", 2), ("fleet-b", 2)))


@pytest.fixture
def fleet3(tmp_path_factory):
    """Two ensembles of three members (a 2-member ensemble cannot lose a member to a restart
    and keep its quorum), without backup hosts."""
    yield from make_fleet(tmp_path_factory, (("roll-a", 3), ("roll-b", 3)), backups=0)


def backups(lab):
    return [os.path.basename(d) for d in Z.backup_dirs(lab.backup_hosts[0], lab.name)]


def summary(res):
    rec, = [r for r in res.tasks(SUMMARY) if r["status"] == "ok"]
    return rec["result"]["msg"]


def test_one_run_backs_up_every_ensemble_each_with_its_report(fleet):
    a, b = fleet.labs
    res = fleet.run()
    assert res.rc == 0, res.output()
    for lab in (a, b):
        taken = backups(lab)
        assert len(taken) == 1, (lab.name, taken)
        # Each ensemble's report, next to its own backup, names its own members only.
        with open(os.path.join(lab.backup_hosts[0].path(Z.ROOT), lab.name, taken[0], "report.json")) as f:
            stored = json.load(f)
        assert stored["ensemble"] == stored["report"]["ensemble"] == lab.name
        assert stored["report"]["source_member"].startswith(lab.name + "-zk"), stored
    # The 2-member ensemble backs up from its follower: each ensemble chose its own source.
    follower, = a.followers()
    assert summary(res)["succeeded"]["fleet-a"]["source_member"].startswith(fleet.host(a, follower) + " ")
    assert summary(res)["succeeded"]["fleet-b"]["backup_id"] == backups(b)[0]
    assert summary(res)["failed"] == {}
    # The ensembles' steps ran on the first member of each, at the same time: one task, two hosts.
    starts = [r for r in res.records if r["task"].split(" : ")[-1].startswith("Start the backup on ")
              and r["status"] == "ok"]
    assert sorted(r["host"] for r in starts) == ["fleet-a-zk1", "fleet-b-zk1"], res.output()


def test_a_limit_or_the_variable_selects_one_ensemble(fleet):
    a, b = fleet.labs
    before = {lab.name: backups(lab) for lab in (a, b)}
    res = fleet.run(limit=fleet.host(b, b.members[0]), extra={"zookeeper_backup_force": True})
    assert res.rc == 0, res.output()
    assert backups(a) == before["fleet-a"]
    assert len(backups(b)) == len(before["fleet-b"]) + 1
    # One ensemble in the run: no summary of ensembles.
    assert not [r for r in res.tasks(SUMMARY) if r["status"] == "ok"], res.output()

    res = fleet.run(extra={"zookeeper_ensembles": "fleet-a", "zookeeper_backup_force": True})
    assert res.rc == 0, res.output()
    assert len(backups(a)) == len(before["fleet-a"]) + 1
    assert len(backups(b)) == len(before["fleet-b"]) + 1

    # A name the inventory does not hold is refused before anything is done.
    res = fleet.run(extra={"zookeeper_ensembles": ["fleet-a", "fleet-c"]})
    assert res.rc != 0
    assert "zookeeper_ensembles names fleet-c, but the inventory group 'zookeeper' holds the ensembles fleet-a, fleet-b" \
        in res.stdout, res.output()
    assert not res.tasks(host="fleet-a-zk1", action="zkops.zookeeper.zk_info")


def test_a_failed_ensemble_does_not_stop_the_other(fleet):
    a, b = fleet.labs
    before = {lab.name: backups(lab) for lab in (a, b)}
    # Without its second member the 2-member ensemble has no quorum.
    a.members[1].stop_zk()
    try:
        res = fleet.run(extra={"zookeeper_backup_force": True})
    finally:
        a.members[1].start_zk()
        a.wait_quorum()
    assert res.rc != 0, res.output()
    assert backups(a) == before["fleet-a"]
    assert len(backups(b)) == len(before["fleet-b"]) + 1
    out = summary(res)
    assert list(out["failed"]) == ["fleet-a"] and list(out["succeeded"]) == ["fleet-b"], out
    assert "fleet-a-zk1, fleet-a-zk2 failed before the backup started" in out["failed"]["fleet-a"]["reason"], out
    # The failed task says why, and the other member of the ensemble stopped without a step of its own.
    assert "the ensemble has no healthy quorum" in res.stdout, res.output()
    gate, = res.tasks("Stop unless every member of the ensemble is still in the run", "fleet-a-zk2")
    assert gate["status"] == "failed", gate
    assert gate["result"]["msg"] == "Nothing was done on the ensemble fleet-a: its member fleet-a-zk1 failed above."
    # Nothing else ran on the failed ensemble's members after that.
    assert not res.tasks("Install the Python libraries the backup needs on the members", "fleet-a-zk2")


def test_info_shows_each_ensemble_once(fleet):
    res = fleet.run("zkops.zookeeper.info")
    assert res.rc == 0, res.output()
    shown = {r["host"]: r["result"]["msg"]["ensemble"] for r in res.tasks("Show the ensemble") if r["status"] == "ok"}
    assert shown == {"fleet-a-zk1": "fleet-a", "fleet-b-zk1": "fleet-b"}, res.output()


@pytest.mark.parametrize("playbook", ["restore", "tree_export", "tree_import"])
def test_a_playbook_for_one_ensemble_refuses_two(fleet, playbook):
    a, b = fleet.labs
    pids = {h.name + "@" + lab.name: h.zk_pid() for lab in (a, b) for h in lab.members}
    res = fleet.run("zkops.zookeeper." + playbook, extra={
        "zookeeper_restore_confirm": "fleet-a", "zookeeper_tree_confirm": "fleet-a",
        "zookeeper_tree_src": "/nonexistent.json"})
    assert res.rc != 0, res.output()
    assert ("the members of this run belong to 2 ensembles (fleet-a, fleet-b), and zkops.zookeeper.%s acts on "
            "one ensemble at a time. Pick one with -e zookeeper_ensembles=<name>" % playbook) in res.stdout, res.output()
    # Nothing but the first play and the refusal ran; every server runs as before.
    second = [r["task"] for r in res.records if r["task"] not in FIRST_PLAY]
    assert second == ["Check that the run selects exactly one ensemble"], res.output()
    assert {h.name + "@" + lab.name: h.zk_pid() for lab in (a, b) for h in lab.members} == pids


GATHERED = "Gather the catalogs as zookeeper_catalog (one entry per backup host)"


def test_catalog_lists_each_ensemble_from_its_first_member_and_one_unreadable_fails_only_its_own(fleet):
    a, b = fleet.labs
    res = fleet.run("zkops.zookeeper.catalog")
    assert res.rc == 0, res.output()
    # Each ensemble's own backup host, read once, from the ensemble's first member, listing
    # exactly the backups that host holds for that ensemble.
    cats = {r["host"]: r["result"]["ansible_facts"]["zookeeper_catalog"] for r in res.tasks(GATHERED)
            if r["status"] == "ok"}
    assert sorted(cats) == sorted(fleet.host(lab, lab.members[0]) for lab in (a, b)), res.output()
    for lab in (a, b):
        cat = cats[fleet.host(lab, lab.members[0])]
        backup_host = fleet.host(lab, lab.backup_hosts[0])
        assert list(cat) == [backup_host], cat
        assert cat[backup_host]["reachable"], cat
        assert sorted(x["id"] for x in cat[backup_host]["backups"]) == sorted(backups(lab)), (lab.name, cat)

    # One ensemble's only backup host gone: that ensemble fails, the other is still listed.
    a.backup_hosts[0].power_off()
    try:
        res = fleet.run("zkops.zookeeper.catalog")
    finally:
        a.backup_hosts[0].boot()
    assert res.rc != 0, res.output()
    failed = {r["host"] for r in res.failed()}
    assert failed == {fleet.host(a, a.members[0])}, res.output()
    assert "None of the backup hosts could be read" in res.stdout, res.output()
    ok = [r["host"] for r in res.tasks(GATHERED) if r["status"] == "ok"]
    assert sorted(ok) == sorted(fleet.host(lab, lab.members[0]) for lab in (a, b)), res.output()


CHECKED = "Check the backups on every backup host"
# No log shipping and no restore drill in this fleet: those checks are left out.
CHECK_EV = {"zookeeper_check_max_ship_lag_seconds": "", "zookeeper_check_max_ship_lag_transactions": "",
            "zookeeper_check_max_restore_age_hours": "", "zookeeper_check_metrics_dir": "/root/textfile"}


def with_full_backups(fleet):
    """Back up the ensembles that hold no full backup yet (a test run on its own), in one run."""
    missing = [lab.name for lab in fleet.labs if not any("-full-" in d for d in backups(lab))]
    if missing:
        res = fleet.run(extra={"zookeeper_ensembles": missing})
        assert res.rc == 0, res.output()


def test_check_checks_every_ensemble_and_fails_for_the_one_with_a_problem(fleet):
    a, b = fleet.labs
    with_full_backups(fleet)
    for lab in (a, b):
        os.makedirs(lab.members[0].path("/root/textfile"), exist_ok=True)
    res = fleet.run("zkops.zookeeper.check", extra=CHECK_EV)
    assert res.rc == 0, res.output()
    # Each ensemble's backup host checked once, from the ensemble's own first member.
    checked = {r["host"]: [(i["__zookeeper_check_target"], i["health"]["status"]) for i in r["result"]["results"]]
               for r in res.tasks(CHECKED) if r["status"] == "ok"}
    assert checked == {fleet.host(lab, lab.members[0]): [(fleet.host(lab, lab.backup_hosts[0]), "ok")]
                       for lab in (a, b)}, res.output()
    for lab in (a, b):
        assert os.listdir(lab.members[0].path("/root/textfile")) == [
            "zookeeper_backup_%s_%s.prom" % (lab.name, fleet.host(lab, lab.backup_hosts[0]))]

    # A byte flipped in fleet-b's newest full backup: fleet-b's check fails, fleet-a's passes.
    d = sorted(p for p in Z.backup_dirs(b.backup_hosts[0], b.name) if "-full-" in os.path.basename(p))[-1]
    archive = os.path.join(d, Z.sidecar(d)["archive"]["file"])
    Z.flip_byte(archive)
    try:
        res = fleet.run("zkops.zookeeper.check", extra=CHECK_EV)
    finally:
        Z.flip_byte(archive)                 # back as it was
    assert res.rc != 0, res.output()
    status = {r["host"]: [i["health"]["status"] for i in r["result"]["results"]]
              for r in res.tasks(CHECKED) if r["status"] == "ok"}
    assert status == {"fleet-a-zk1": ["ok"], "fleet-b-zk1": ["critical"]}, res.output()
    failed = res.tasks("Fail with one line per problem")
    assert [r["host"] for r in failed if r["status"] == "failed"] == ["fleet-b-zk1"], res.output()
    lines = [i["msg"] for r in failed for i in r["result"].get("results", [r["result"]]) if i.get("msg")]
    assert lines and all(line.startswith("CRITICAL fleet-b on fleet-b-backup") for line in lines), lines
    assert any("fails its sums" in line for line in lines), lines


def test_start_starts_the_stopped_members_of_every_ensemble(fleet):
    a, b = fleet.labs
    stopped = [a.members[1], b.members[0]]
    for h in stopped:
        h.kill_zk()
    res = fleet.run("zkops.zookeeper.start", extra={"zookeeper_start_timeout": 120})
    assert res.rc == 0, res.output()
    assert all(h.zk_running() for lab in (a, b) for h in lab.members)
    # One report per ensemble, from its first member, naming its own members only.
    reports = {r["host"]: r["result"]["msg"] for r in res.tasks("Report what was started")}
    assert sorted(reports) == ["fleet-a-zk1", "fleet-b-zk1"], res.output()
    for lab, h in zip((a, b), stopped):
        report = reports[fleet.host(lab, lab.members[0])]
        assert report["ensemble"] == lab.name, report
        assert report["started"] == [fleet.host(lab, h)], report
        assert report["serving_voters"] == "2 of 2" and report["quorum"] is True, report
    for lab in (a, b):
        lab.wait_quorum()


STOP = "zkops.zookeeper.rolling_restart : Take the member out of service"
START = "zkops.zookeeper.rolling_restart : Bring the member back and wait until it has caught up with the leader"
RESTART_SUMMARY = "zkops.zookeeper.rolling_restart : Summary of the ensembles"


def restart_steps(res):
    """The stops and starts in the order they ended, grouped by step: [(task, {hosts})]."""
    steps = []
    for r in res.records:
        if r["task"] in (STOP, START) and r["status"] != "skipped":
            if steps and steps[-1][0] == r["task"]:
                steps[-1][1].add(r["host"])
            else:
                steps.append((r["task"], {r["host"]}))
    return steps


def test_rolling_restart_restarts_every_ensemble_side_by_side_and_a_failure_stops_its_own(fleet3, tmp_path):
    fleet = fleet3
    a, b = fleet.labs

    def pids():
        return {fleet.host(lab, h): h.zk_pid() for lab in (a, b) for h in lab.members}

    before = pids()
    leaders = {fleet.host(lab, lab.leader()) for lab in (a, b)}
    res = fleet.run("zkops.zookeeper.rolling_restart", extra={"zookeeper_rolling_restart_force": True})
    assert res.rc == 0, res.output()
    after = pids()
    assert all(after[h] != before[h] for h in before), (before, after)
    # Each step holds one member of each ensemble: the ensembles restart side by side, and
    # never two members of one ensemble at once.
    steps = restart_steps(res)
    assert [task for task, _hosts in steps] == [STOP, START] * 3, steps
    for _task, hosts in steps:
        assert sorted(h.split("-zk")[0] for h in hosts) == ["roll-a", "roll-b"], steps
    assert steps[-1][1] == leaders, (steps, leaders)          # each ensemble's leader last
    for lab in (a, b):
        lab.wait_quorum()
    summary_rec, = [r for r in res.tasks(RESTART_SUMMARY) if r["status"] == "ok"]
    assert summary_rec["result"]["msg"] == {"succeeded": ["roll-a", "roll-b"], "failed": []}, res.output()

    # roll-b's second member does not pass its checks (its inventory names another server
    # id): roll-b restarts nothing, roll-a restarts as before, the run fails naming roll-b.
    with open(fleet.inventory) as f:
        inv = json.load(f)
    inv["all"]["children"]["zookeeper"]["children"]["zk_roll_b"]["hosts"]["roll-b-zk2"]["zookeeper_myid"] = 9
    broken = str(tmp_path / "inventory.json")
    with open(broken, "w") as f:
        json.dump(inv, f)
    before = pids()
    res = fleet.run("zkops.zookeeper.rolling_restart", extra={"zookeeper_rolling_restart_force": True},
                    inventory=broken)
    assert res.rc != 0, res.output()
    after = pids()
    for h in before:
        assert (after[h] != before[h]) == h.startswith("roll-a"), (h, before, after)
    assert {h for _task, hosts in restart_steps(res) for h in hosts} == {"roll-a-zk1", "roll-a-zk2", "roll-a-zk3"}
    assert sorted(r["host"] for r in res.failed()) == ["roll-b-zk1", "roll-b-zk2", "roll-b-zk3"], res.output()
    summary_rec, = [r for r in res.tasks(RESTART_SUMMARY) if r["status"] == "ok"]
    assert summary_rec["result"]["msg"] == {"succeeded": ["roll-a"], "failed": ["roll-b"]}, res.output()
    a.wait_quorum()
