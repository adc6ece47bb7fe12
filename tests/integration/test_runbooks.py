"""Every runbook in docs/runbooks/, run as written on a lab put into its situation.

Each test breaks a lab the way its runbook describes (kill members, wipe or damage data
directories, delete a subtree, write a bad deploy), runs the runbook's marked steps in
order with bash (tests/runbooks.py: the placeholders filled in, ``ANSIBLE_CONFIG`` set, the
inventory files in the working directory), checks what the "shows" blocks say the steps
print, then checks the real outcome on the ensemble: every member serves and the live tree
is the one from before the incident (tree digests, read with kazoo).

Two labs: one of three members for five runbooks, in an order that leaves it serving after
each, and one of six members split into two ensembles of three for moving an ensemble.
``ZKOPS_RUNBOOK_ZNODES`` sets the size of the data (default 10,000 znodes); the durations
in the runbooks were measured with it raised.
"""
import json
import os
import re
import time

import pytest
import yaml

import runbooks as R
import zklive
from lab import Lab, workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import run_playbook

pytestmark = pytest.mark.lab

ZNODES = int(os.environ.get("ZKOPS_RUNBOOK_ZNODES", "10000"))
# The variables docs/runbooks/README.md ("Layouts") has a site set for Debian's package.
LAYOUT = {"zookeeper_config_file": "/etc/zookeeper/conf/zoo.cfg", "zookeeper_service_name": "zookeeper",
          "zookeeper_log_dir": "/var/log/zookeeper", "zookeeper_bin_dir": "/usr/share/zookeeper/bin"}
RUNBOOKS = R.runbooks()
# Which runbook each test covers: together, all of them.
COVERED = {"member-corrupt", "quorum-lost", "total-loss", "subtree-deleted", "point-in-time",
           "move-ensemble"}


def test_every_runbook_is_covered():
    assert set(RUNBOOKS) == COVERED


# --- the labs and what the site has ---------------------------------------------------

def site_inventory(lab, path, members=None, name=None):
    """An inventory directory as a site keeps it: the hosts, and group variables with the
    credentials and settings (here, in the clear)."""
    with open(lab.inventory) as f:
        inv = json.load(f)
    if members is not None:
        inv["all"]["children"]["zookeeper"]["hosts"] = {
            h: v for h, v in inv["all"]["children"]["zookeeper"]["hosts"].items() if h in members}
    if name is not None:
        inv["all"]["vars"]["zookeeper_ensemble_name"] = name
    os.makedirs(os.path.join(path, "group_vars", "all"))
    with open(os.path.join(path, "hosts.json"), "w") as f:
        json.dump(inv, f, indent=1)
    with open(lab.key) as f:
        ssh_key = f.read()
    with open(os.path.join(path, "group_vars", "all", "site.yml"), "w") as f:
        # The backup hosts' SSH key as a site keeps it in a vault (or AWX injects it), and
        # their host keys where the tree playbooks run.
        yaml.safe_dump({"zookeeper_auth": AUTH,
                        "zookeeper_backup_install_packages": False,
                        "zookeeper_backup_ssh_private_key": ssh_key,
                        "zookeeper_tree_ssh_known_hosts_file": lab.known_hosts,
                        "zookeeper_tree_dir": os.path.join(os.path.dirname(path), "exports")}, f)
    # The layout of the members' ZooKeeper (docs/runbooks/README.md, "Layouts"): Debian's package.
    with open(os.path.join(path, "group_vars", "zookeeper.yml"), "w") as f:
        yaml.safe_dump(LAYOUT, f)
    return path


def site_config(lab, path):
    """The lab's ansible.cfg without its inventory: the runbooks name theirs with -i."""
    with open(lab.ansible_cfg) as f:
        text = "".join(line for line in f if not line.startswith("inventory ="))
    with open(path, "w") as f:
        f.write(text)
    return path


def client(hosts):
    return workload.client(hosts, auth_data=[CREDENTIAL])


def digest(hosts, root="/"):
    zk = client(hosts)
    try:
        zk.sync(root)
        return zklive.live_digest_pipelined(zk, root)
    finally:
        zk.stop()
        zk.close()


def load(hosts, znodes):
    zk = client(hosts)
    try:
        workload.sample_tree(zk)
        zk.ensure_path("/app/config")
        for i in range(40):
            zk.create("/app/config/setting-%02d" % i, b"value %d" % i)
            zk.create("/app/config/setting-%02d/override" % i, b"x" * i)
        workload.bulk_load(zk, znodes)
    finally:
        zk.stop()
        zk.close()


def play(lab, name, extra=None):
    """A playbook the site runs on its own (cron, AWX schedules), not a runbook step."""
    res = run_playbook(lab, name, extra_vars=extra, inventory=lab.site["inventory"],
                       env={"ANSIBLE_CONFIG": lab.site["cfg"]})
    assert res.rc == 0, res.output()
    return res


def serving(lab, members=None):
    members = members if members is not None else lab.members
    modes = {h.name: h.mode() for h in members}
    assert sorted(modes.values()) == ["follower"] * (len(members) - 1) + ["leader"], modes
    return modes


@pytest.fixture(scope="module")
def rlab(tmp_path_factory):
    """Three members, one backup host, the data, and what a site runs every night: a full
    backup, log shipping, a tree export stored on the backup host."""
    lab = Lab(name="runbooks", members=3, backups=1)
    lab.up()
    try:
        work = str(tmp_path_factory.mktemp("site"))
        os.makedirs(os.path.join(work, "exports"))
        lab.site = {"dir": work, "inventory": site_inventory(lab, os.path.join(work, "inventory")),
                    "cfg": site_config(lab, os.path.join(work, "ansible.cfg"))}
        load(lab.connect_string, ZNODES)
        play(lab, "zkops.zookeeper.backup")
        play(lab, "zkops.zookeeper.tree_export", {"zookeeper_tree_push": True})
        play(lab, "zkops.zookeeper.ship_logs")
        yield lab
    finally:
        lab.down()


def runner(lab, name, values, workdir=None):
    env = lab.ansible_env({"ANSIBLE_CONFIG": lab.site["cfg"]})
    values = dict({"ensemble": lab.name,
                   "exports-dir": os.path.join(lab.site["dir"], "exports")}, **values)
    return R.Runner(RUNBOOKS[name], workdir or lab.site["dir"], env, values)


def all_steps_ran(r):
    assert r.untested() == [], "steps of %s not run by the test: %s" % (r.runbook.name, r.untested())


# --- one member ---------------------------------------------------------------------------

def damage(host):
    """Overwrite the start of every snapshot and log of the member and restart it: it does
    not start again."""
    host.kill_zk()
    vdir = host.path("/var/lib/zookeeper/version-2")
    for name in os.listdir(vdir):
        if name.startswith(("snapshot.", "log.")):
            path = os.path.join(vdir, name)
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.seek(min(100, size // 3))
                f.write(os.urandom(512))
    host.sh("service zookeeper start", check=False)
    deadline = time.time() + 30
    while time.time() < deadline and host.zk_running():
        time.sleep(0.5)
    assert not host.zk_running(), "the damaged member still runs"


def test_member_corrupt(rlab):
    before = digest(rlab.connect_string)
    victim = rlab.followers()[0]
    damage(victim)
    r = runner(rlab, "member-corrupt", {"member": victim.name})
    for step in ("look", "log", "files", "preview", "rebuild", "confirm"):
        r.run(step)
    all_steps_ran(r)
    serving(rlab)
    assert digest("%s:%d" % (victim.ip, rlab.client_port)) == before


def test_quorum_lost(rlab):
    before = digest(rlab.connect_string)
    survivor, intact, lost = rlab.leader(), rlab.followers()[0], rlab.followers()[1]
    for h in (intact, lost):
        h.kill_zk()
    lost.sh("rm -rf /var/lib/zookeeper/version-2")
    r = runner(rlab, "quorum-lost", {"members": intact.name, "member": lost.name})
    r.run("look")
    r.run("log")
    r.run("files")
    r.run("start")
    # The quorum serves again, with every committed transaction.
    rlab.wait_quorum(members=[survivor, intact])
    assert digest("%s:%d" % (intact.ip, rlab.client_port)) == before
    r.run("rebuild")
    r.run("confirm")
    all_steps_ran(r)
    serving(rlab)
    assert digest("%s:%d" % (lost.ip, rlab.client_port)) == before


# --- the whole tree -----------------------------------------------------------------------

def test_subtree_deleted(rlab):
    subtree = "/app/config"
    before, before_subtree = digest(rlab.connect_string), digest(rlab.connect_string, subtree)
    r = runner(rlab, "subtree-deleted", {"subtree": subtree, "source-member": rlab.members[0].name})

    def delete():
        zk = client(rlab.connect_string)
        zk.delete(subtree, recursive=True)
        assert not zk.exists(subtree)
        zk.stop()
        zk.close()

    # From the nightly export, stored on the backup host.
    delete()
    r.run("look")
    r.run("preview")
    out = r.run("import").output
    assert '"file": "%s:/srv/backups/%s/' % (rlab.backup_hosts[0].ip, rlab.name) in out, out
    r.run("confirm")
    assert digest(rlab.connect_string, subtree) == before_subtree
    # Again, from the first member's data files as they were just before the deletion.
    time.sleep(1.2)
    just_before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.2)
    delete()
    files_export = "/var/tmp/config-before.zktree.gz"
    r.run("export-files", time=just_before, **{"export-file": files_export})
    r.run("import-files", **{"export-file": files_export})
    all_steps_ran(r)
    assert digest(rlab.connect_string) == before


def test_point_in_time(rlab):
    play(rlab, "zkops.zookeeper.ship_logs")
    good = digest(rlab.connect_string)
    time.sleep(1.5)
    target = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.5)
    # The bad deploy: data overwritten, a subtree gone, a new subtree, an ACL changed.
    zk = client(rlab.connect_string)
    for i in range(0, 40, 3):
        zk.set("/app/config/setting-%02d" % i, b"broken by the deploy")
    zk.delete("/brokers/topics/topic-007", recursive=True)
    zk.ensure_path("/app/deploy-42/leftovers")
    zk.set_acls("/config", zk.get_acls("/config")[0][:1])
    zk.stop()
    zk.close()
    assert digest(rlab.connect_string) != good
    r = runner(rlab, "point-in-time", {"time": target, "source-member": rlab.members[0].name})
    for step in ("ship", "history", "preview", "restore", "confirm"):
        r.run(step)
    all_steps_ran(r)
    serving(rlab)
    assert digest(rlab.connect_string) == good


def test_total_loss(rlab):
    # The state of the last shipment is what comes back. After test_point_in_time, the
    # shipped chunks still hold the bad deploy that its restore undid: this log shipping takes
    # a full backup instead (the first after that restore), and the latest state leaves the
    # deploy out.
    play(rlab, "zkops.zookeeper.ship_logs")
    shipped = digest(rlab.connect_string)
    for h in rlab.members:
        h.kill_zk()
        h.sh("rm -rf /var/lib/zookeeper/version-2 /var/lib/zookeeper/.zkops-restore")
    for h in rlab.members:
        h.start_zk()
    rlab.wait_quorum()
    r = runner(rlab, "total-loss", {"source-member": rlab.members[0].name})
    for step in ("look", "backups", "plan", "restore", "confirm", "reports", "backup"):
        r.run(step)
    all_steps_ran(r)
    serving(rlab)
    assert digest(rlab.connect_string) == shipped


# --- another ensemble ---------------------------------------------------------------------

def split(lab, groups):
    """Make two ensembles of a lab's members: each group's zoo.cfg names only its own
    servers; every member starts on an empty data directory."""
    for h in lab.members:
        h.kill_zk()
    for group in groups:
        ids = {h.myid for h in group}
        for h in group:
            cfg = h.path("/etc/zookeeper/conf/zoo.cfg")
            with open(cfg) as f:
                lines = [line for line in f if not line.startswith("server.")
                         or int(line.split("=")[0].split(".")[1]) in ids]
            with open(cfg, "w") as f:
                f.writelines(lines)
            h.sh("rm -rf /var/lib/zookeeper/version-2")
    for h in lab.members:
        h.start_zk()
    for group in groups:
        lab.wait_quorum(members=group)
        deadline = time.time() + 60
        while sorted(h.mode() for h in group) != ["follower", "follower", "leader"]:
            assert time.time() < deadline, {h.name: h.mode() for h in group}
            time.sleep(0.2)


def connect(group):
    return ",".join("%s:%d" % (h.ip, group[0].client_port) for h in group)


@pytest.fixture(scope="module")
def mlab(tmp_path_factory):
    lab = Lab(name="runbooks-move", members=6, backups=1)
    lab.up()
    try:
        old, new = lab.members[:3], lab.members[3:]
        split(lab, (old, new))
        work = str(tmp_path_factory.mktemp("move"))
        os.makedirs(os.path.join(work, "exports"))
        lab.site = {"dir": work, "cfg": site_config(lab, os.path.join(work, "ansible.cfg")),
                    "old": old, "new": new}
        site_inventory(lab, os.path.join(work, "old-inventory"), [h.name for h in old])
        site_inventory(lab, os.path.join(work, "new-inventory"), [h.name for h in new])
        load(connect(old), ZNODES)
        yield lab
    finally:
        lab.down()


def test_move_ensemble(mlab):
    old, new = mlab.site["old"], mlab.site["new"]
    before = digest(connect(old))
    r = runner(mlab, "move-ensemble", {})
    r.run("look-new")
    backup = r.run("backup-old")
    r.values["backup-id"] = re.search(r'"backup_id": "([^"]+)"', backup.output).group(1)
    r.run("restore-new")
    compared = r.run("compare")
    digests = re.findall(r'"digest": "([0-9a-f]+)"', compared.output)
    assert len(digests) == 2 and digests[0] == digests[1] == before["digest"]
    r.run("stop-old")
    r.run("confirm")
    all_steps_ran(r)
    assert digest(connect(new)) == before
    assert not any(h.zk_running() for h in old)
    serving(mlab, new)
