"""Ensembles with dynamic reconfiguration (reconfigEnabled=true), in the two layouts users
have (tests/lab/lab.py, ``reconfig``):

- moved: the members start from a zoo.cfg with server lines and clientPort; on their first
  start they move the server lines into a zoo.cfg.dynamic.<version> file that zoo.cfg then
  names in dynamicConfigFile (the original is kept as zoo.cfg.bak);
- file: zoo.cfg names a dynamic file from the start and has no clientPort: each server line
  carries its client port (``server.N=host:2888:3888:participant;2181``), as ZooKeeper's
  documentation of dynamic reconfiguration has it.

In the file layout, once the tree is written, a reconfig (as the super user) gives every
server its own client address: every member writes the new configuration to a new dynamic
file and rewrites zoo.cfg to name it. Then, in both layouts, the collection's playbooks run
as users run them: info finds every member, its id and its mode, and no restart pending
although the servers rewrote zoo.cfg after they started (so rolling_restart restarts
nothing); backup stores a verified full backup; after every member lost its data, restore
brings back the tree that was written and leaves the configuration files as the servers
wrote them (zoo.cfg still names the dynamic file, which still lists every server).

One lab per case: both layouts on Debian's 3.8.0, and the moved layout on 3.5.9 (the first
release line with dynamic reconfiguration) when ZKOPS_ZK_VERSIONS selects it
(test_versions.py).
"""
import os
import re
import time

import pytest
from kazoo.security import make_digest_acl_credential

import zklive
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from lab import workload
from lab.workload import CREDENTIAL
from lab.ansible import REPO, run_playbook
from lab.lab import DEBIAN_VERSION, Lab, parse_srvr
from test_versions import restore_vars, skip_unless_runnable

pytestmark = pytest.mark.lab

INFO = os.path.join(REPO, "playbooks", "info.yml")
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
ROLLING_RESTART = os.path.join(REPO, "playbooks", "rolling_restart.yml")
CONF = "/etc/zookeeper/conf"
SUPER = ("digest", "super:reconf1g")           # the super user, who may reconfig
VERIFY = ("zkops.zookeeper.backup : Have every backup host that stored the backup check it "
          "against its checksums")


CASES = [(DEBIAN_VERSION, "moved"), (DEBIAN_VERSION, "file"), ("3.5.9", "moved")]


@pytest.fixture(scope="module", params=CASES, ids=["%s-%s" % c for c in CASES])
def dyn(request):
    """A 3-member lab with reconfigEnabled=true, its tree written once; yields (lab, written
    digest)."""
    version, layout = request.param
    skip_unless_runnable(version)
    t0 = time.time()
    lab = Lab(name="dyn%s%s" % (version.replace(".", ""), layout), members=3, backups=1,
              reconfig=layout, zk_versions=version,
              java_opts="-Dzookeeper.DigestAuthenticationProvider.superDigest="
              + make_digest_acl_credential(*SUPER[1].split(":")))
    lab.up()
    try:
        zk = workload.client(lab, auth_data=[CREDENTIAL, SUPER])
        try:
            workload.sample_tree(zk)
            workload.bulk_load(zk, 2000)
            if layout == "file":
                reconfig(lab, zk)
        finally:
            zk.stop()
            zk.close()
        yield lab, digest(lab)
    finally:
        lab.down()
        print("\n%s, %s: %.1f s in all" % (version, layout, time.time() - t0))


def reconfig(lab, zk, address=None):
    """Every server gets its own client address (or ``address``, such as the wildcard
    address); wait until every member names the new configuration's file in zoo.cfg."""
    joining = ",".join("server.%d=%s:%d:%d:participant;%s:%d" % (
        h.myid, h.name, lab.quorum_port, lab.election_port, address or h.ip, lab.client_port)
        for h in lab.members)
    data, _stat = zk.retry(zk.reconfig, joining=joining, leaving=None, new_members=None)
    version = zoo_cfg.parse_properties(data.decode())["version"]
    deadline = time.time() + 20
    while time.time() < deadline:
        named = [zoo_cfg.parse_properties(config_files(h)["zoo.cfg"]).get("dynamicConfigFile", "")
                 for h in lab.members]
        if all(n.endswith(".dynamic." + version) for n in named):
            return
        time.sleep(0.1)
    raise AssertionError("not every member names zoo.cfg.dynamic.%s: %s" % (version, named))


def digest(lab):
    return zklive.synced_digest(workload.client(lab, auth_data=[CREDENTIAL]))


def config_files(h):
    """{file name: text} of the member's configuration directory (zoo.cfg*), leaving out the
    temporary files a server writes a new configuration to and renames (gone by the time
    they are read, or still being written)."""
    d = h.path(CONF)
    out = {}
    for name in sorted(os.listdir(d)):
        if name.startswith("zoo.cfg") and not name.endswith(".tmp"):
            try:
                with open(os.path.join(d, name)) as f:
                    out[name] = f.read()
            except FileNotFoundError:
                continue
    return out


def dynamic_setup(lab, h):
    """What the member's configuration is: (zoo.cfg's properties, the dynamic file's path
    inside the host, its server lines)."""
    files = config_files(h)
    props = zoo_cfg.parse_properties(files["zoo.cfg"])
    dyn_path = props.get("dynamicConfigFile")
    assert dyn_path and os.path.dirname(dyn_path) == CONF, files
    dyn_props = zoo_cfg.parse_properties(files[os.path.basename(dyn_path)])
    servers = dict((k, v) for k, v in dyn_props.items() if k.startswith("server."))
    return props, dyn_path, servers


def expected_servers(lab):
    """{id: (host, quorum port, election port, role, client port)} of every member, the
    client port only where the server lines carry one (the file layout)."""
    port = lab.client_port if lab.reconfig == "file" else None
    return {h.myid: (h.name, lab.quorum_port, lab.election_port, "participant", port)
            for h in lab.members}


def client_endpoint(lab, h):
    """Where the collection should reach member ``h``'s clients: in the file layout the
    address the reconfig gave it, else its name and zoo.cfg's clientPort."""
    return (h.ip if lab.reconfig == "file" else h.name), lab.client_port


def servers_of(lines):
    out = {}
    for key, value in lines.items():
        s = zoo_cfg.parse_server(int(key.split(".", 1)[1]), value)
        out[s["id"]] = (s["host"], s["quorum_port"], s["election_port"], s["role"], s["client_port"])
    return out


def test_the_servers_live_in_a_dynamic_file(dyn):
    lab, _written = dyn
    for h in lab.members:
        props, dyn_path, servers = dynamic_setup(lab, h)
        assert props["reconfigEnabled"] == "true"
        assert not [k for k in props if k.startswith("server.")], props
        # zoo.cfg.dynamic.<hex version>, written by the server once the ensemble formed: the
        # version is in the name only (the server refuses a version line in the file).
        assert re.match(r"zoo\.cfg\.dynamic\.[0-9a-f]+$", os.path.basename(dyn_path)), dyn_path
        assert servers_of(servers) == expected_servers(lab)
        if lab.reconfig == "moved":
            assert props["clientPort"] == str(lab.client_port)
            assert "server.%d=" % h.myid in config_files(h)["zoo.cfg.bak"]
        else:
            assert "clientPort" not in props, props


def test_info_finds_every_member_its_id_and_mode(dyn):
    lab, _written = dyn
    res = run_playbook(lab, INFO)
    assert res.rc == 0, res.output()
    modes = {h.myid: parse_srvr(h.four_letter("srvr"))["Mode"] for h in lab.members}
    assert sorted(modes.values()) == ["follower", "follower", "leader"]
    leader = next(i for i, m in modes.items() if m == "leader")
    for h in lab.members:
        r = res.result("Read each member's status and the ensemble view", h.name)
        assert r["member"]["myid"] == h.myid and r["member"]["mode"] == modes[h.myid]
        assert {m["id"]: m["mode"] for m in r["members"]} == modes
        assert r["ensemble"]["leader"] == leader
        assert r["ensemble"]["voters"] == [1, 2, 3] and r["ensemble"]["quorum"] is True
        assert r["config"]["dynamic_config_file"] == dynamic_setup(lab, h)[1]
        assert r["config"]["client_port"] == (lab.client_port if lab.reconfig == "moved" else None)
        # The server rewrote zoo.cfg after it started (to name the dynamic file): that is no
        # change waiting for a restart.
        assert os.stat(h.path(CONF + "/zoo.cfg")).st_mtime > r["member"]["process"]["started_epoch"]
        assert r["member"]["restart_pending"] is False, r["member"]["restart_pending_files"]

    # So the rolling restart has nothing to do.
    pids = {h.name: h.zk_pid() for h in lab.members}
    res = run_playbook(lab, ROLLING_RESTART)
    assert res.rc == 0, res.output()
    assert res.changed() == [], [(c["host"], c["task"]) for c in res.changed()]
    assert {h.name: h.zk_pid() for h in lab.members} == pids


def test_backup_total_loss_and_restore_keep_the_dynamic_configuration(dyn):
    lab, written = dyn
    before = {h.name: config_files(h) for h in lab.members}

    res = run_playbook(lab, BACKUP, extra_vars={
        "zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False,
        "zookeeper_backup_force": True})
    assert res.rc == 0, res.output()
    checked = res.result(VERIFY)["results"]
    assert checked and all(r["backups"][0]["verified"] is True for r in checked), checked
    assert {r["backups"][0]["kind"] for r in checked} == {"full"}, checked

    lab.wipe_members()
    assert digest(lab) != written

    res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab))
    assert res.rc == 0, res.output()
    assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
    assert digest(lab) == written

    for h in lab.members:
        props, dyn_path, servers = dynamic_setup(lab, h)
        assert props["reconfigEnabled"] == "true"
        assert not [k for k in props if k.startswith("server.")], props
        assert servers_of(servers) == expected_servers(lab), h.name
        assert config_files(h) == before[h.name], h.name
        # The collection reads them as the server does.
        files = config_files(h)
        cfg = zoo_cfg.parse(files["zoo.cfg"], dynamic_text=files[os.path.basename(dyn_path)])
        assert cfg.voters == [1, 2, 3]
        assert {m.myid: cfg.client_endpoint(m.myid) for m in lab.members} == \
            {m.myid: client_endpoint(lab, m) for m in lab.members}


def test_an_edit_a_reconfig_rewrote_is_still_a_pending_restart(dyn):
    """One member's zoo.cfg edited (syncLimit raised) without a restart; then a reconfig, after
    which every server rewrites its zoo.cfg to name the new dynamic file, the edit kept: the
    file's time now says the server wrote it.  zk_info still reports that member's restart as
    pending, naming the setting against the value the server runs with, and the others' not;
    rolling_restart restarts that member alone, after which nothing is pending."""
    lab, _written = dyn
    if lab.reconfig != "file":
        pytest.skip("the lab of the file layout is the one whose test reconfigures it")
    h = lab.members[0]
    path = h.path(CONF + "/zoo.cfg")
    with open(path) as f:
        text = f.read()
    before = zoo_cfg.parse_properties(text)["syncLimit"]
    raised = str(int(before) + 1)
    with open(path, "w") as f:
        f.write(text.replace("syncLimit=%s\n" % before, "syncLimit=%s\n" % raised))
    zk = workload.client(lab, auth_data=[CREDENTIAL, SUPER])
    try:
        # Every server to the wildcard client address, then back: two rewrites of zoo.cfg.
        reconfig(lab, zk, "0.0.0.0")
        reconfig(lab, zk)
    finally:
        zk.stop()
        zk.close()
    rewritten = zoo_cfg.parse_properties(config_files(h)["zoo.cfg"])
    assert rewritten["syncLimit"] == raised                 # the server kept the edit
    assert zoo_cfg.rewritten_by_server(config_files(h)["zoo.cfg"])

    res = run_playbook(lab, INFO)
    assert res.rc == 0, res.output()
    for o in lab.members:
        me = res.result("Read each member's status and the ensemble view", o.name)["member"]
        assert me["running_settings"]["syncLimit"] == before, me["running_settings"]
        if o is h:
            assert me["restart_pending"] is True
            assert me["restart_pending_settings"] == [{"setting": "syncLimit", "file": raised, "running": before}]
            assert me["restart_pending_files"] == [CONF + "/zoo.cfg"]
        else:
            assert (me["restart_pending"], me["restart_pending_settings"]) == (False, []), me

    pids = {o.name: o.zk_pid() for o in lab.members}
    res = run_playbook(lab, ROLLING_RESTART)
    assert res.rc == 0, res.output()
    after = {o.name: o.zk_pid() for o in lab.members}
    assert [o.name for o in lab.members if after[o.name] != pids[o.name]] == [h.name]
    lab.wait_quorum()
    res = run_playbook(lab, INFO)
    assert res.rc == 0, res.output()
    me = res.result("Read each member's status and the ensemble view", h.name)["member"]
    assert me["running_settings"]["syncLimit"] == raised
    assert (me["restart_pending"], me["restart_pending_settings"]) == (False, [])
