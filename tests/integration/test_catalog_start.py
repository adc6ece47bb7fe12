"""The catalog and start playbooks on one lab of three members and two backup hosts.

- catalog.yml lists, on each backup host, the full backup just taken and the log chunk shipped
  after it, with the backup and restore roles' SSH settings (the lab's key and known_hosts file
  given as zookeeper_backup_ssh_* variables, not the module's defaults); in check mode too; a
  backup host that is powered off is named as unreachable while the other is still listed, and
  with every backup host down the play fails.
- start.yml: two members killed (no quorum), check mode predicts their start and starts
  nothing; the run starts both, the quorum serves and the tree is intact; a second run changes
  nothing.
"""
import os

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import run_playbook

pytestmark = pytest.mark.lab

# The roles' SSH settings, at paths the module would not find by itself (root's ~/.ssh on the
# members holds the lab's known_hosts file as known_hosts; this copy has another name).
KNOWN_HOSTS = "/root/.ssh/backup_hosts_known"
KEY = "/root/.ssh/backup_key"
EV = {"zookeeper_backup_install_packages": False,
      "zookeeper_backup_ssh_known_hosts_file": KNOWN_HOSTS,
      "zookeeper_backup_ssh_private_key_file": KEY,
      "zookeeper_backup_ssh_connect_timeout": 3}


@pytest.fixture(scope="module")
def clab():
    lab = Lab(name="catalog-start", members=3, backups=2)
    lab.up()
    try:
        with open(lab.key) as f:
            key = f.read()
        for m in lab.members:
            m.sh("cp /root/.ssh/known_hosts %s && mv /root/.ssh/known_hosts /root/.ssh/known_hosts.off" % KNOWN_HOSTS)
            with open(m.path(KEY), "w") as f:
                f.write(key)
            os.chmod(m.path(KEY), 0o600)
            m.sh("mv /root/.ssh/id_ed25519 /root/.ssh/id_ed25519.off 2>/dev/null; true")
        Z.seed(lab)
        yield lab
    finally:
        lab.down()


def play(lab, name, **kw):
    extra = dict(EV, **kw.pop("extra", {}))
    res = run_playbook(lab, name, extra_vars=extra, **kw)
    print("%s%s: rc %d in %.1f s" % (name, " --check" if kw.get("check") else "", res.rc, res.duration))
    return res


def catalog_of(res):
    """zookeeper_catalog as set on the one member that read it (the ensemble's first; the
    others skip)."""
    return res.ran("Gather the catalogs as zookeeper_catalog (one entry per backup host)")[
        "ansible_facts"]["zookeeper_catalog"]


def test_catalog_lists_the_backups_on_each_backup_host(clab):
    b1, b2 = clab.backup_hosts
    res = play(clab, "zkops.zookeeper.backup")
    assert res.rc == 0, res.output()
    zk = Z.client(clab)
    zk.create("/app/after-the-backup", b"shipped")
    zk.stop()
    zk.close()
    res = play(clab, "zkops.zookeeper.ship_logs")
    assert res.rc == 0, res.output()
    full = [d for d in os.listdir(os.path.join(b1.path(Z.ROOT), clab.name)) if "-full-" in d]
    assert len(full) == 1, full

    for check in (False, True):
        res = play(clab, "zkops.zookeeper.catalog", check=check)
        assert res.rc == 0, res.output()
        assert res.changed() == [], res.changed()
        cat = catalog_of(res)
        assert list(cat) == [b1.name, b2.name]
        for host in (b1, b2):
            e = cat[host.name]
            assert e["reachable"] and e["address"] == host.ip, e
            assert [b["id"] for b in e["backups"] if b["kind"] == "full"] == full
            assert [b["kind"] for b in e["backups"]] == ["full", "logs"], e["backups"]
            assert e["log_shipping"]["last_zxid"] == e["backups"][-1]["zxid"]["last"], e
            assert e["summary"].startswith("%s: 1 full backup, the newest %s (" % (host.name, full[0])), e["summary"]
            assert "1 shipped log chunk" in e["summary"]
            assert e["summary"] in res.stdout
        # The readable lines and the JSON.
        assert '"kind": "full",' in res.stdout and '"log_shipping": {' in res.stdout

    # With zookeeper_catalog_verify the backup hosts check every file's SHA-256.
    res = play(clab, "zkops.zookeeper.catalog", extra={"zookeeper_catalog_verify": True}, limit=clab.members[1].name)
    assert res.rc == 0, res.output()
    assert res.results("Read the catalog of each backup host").keys() == {clab.members[1].name}
    assert all(b["verified"] is True for e in catalog_of(res).values() for b in e["backups"])
    assert ", verified)" in catalog_of(res)[b1.name]["summary"]

    b2.power_off()
    try:
        res = play(clab, "zkops.zookeeper.catalog")
        assert res.rc == 0, res.output()
        cat = catalog_of(res)
        assert cat[b1.name]["reachable"] and [b["id"] for b in cat[b1.name]["backups"]][0] == full[0]
        assert not cat[b2.name]["reachable"] and cat[b2.name]["error"], cat[b2.name]
        assert "%s: unreachable: " % b2.name in res.stdout, res.output()
        b1.power_off()
        try:
            res = play(clab, "zkops.zookeeper.catalog")
            assert res.rc != 0
            assert "None of the backup hosts could be read" in res.stdout, res.output()
            assert "%s: unreachable: " % b1.name in res.stdout
        finally:
            b1.boot()
    finally:
        b2.boot()


def test_start_brings_two_stopped_members_back(clab):
    before = Z.live_digest(clab)
    stopped = clab.members[:2]
    for h in stopped:
        h.kill_zk()
    assert [h.zk_running() for h in clab.members] == [False, False, True]

    res = play(clab, "zkops.zookeeper.start", check=True)
    assert res.rc == 0, res.output()
    assert sorted(r["host"] for r in res.changed()) == sorted(h.name for h in stopped)
    report = res.result("Report what was started")["msg"]
    assert sorted(report["started"]) == sorted(h.name for h in stopped) and report["check_mode"] is True
    assert [h.zk_running() for h in clab.members] == [False, False, True]

    res = play(clab, "zkops.zookeeper.start")
    assert res.rc == 0, res.output()
    assert sorted(r["host"] for r in res.changed()) == sorted(h.name for h in stopped)
    modes = sorted(h.mode() for h in clab.members)
    assert modes == ["follower", "follower", "leader"], modes
    report = res.result("Report what was started")["msg"]
    assert report["quorum"] is True and report["serving_voters"] == "3 of 3" and report["not_serving"] == []
    assert report["already_serving"] == [clab.members[2].name]
    assert Z.live_digest(clab) == before

    res = play(clab, "zkops.zookeeper.start")
    assert res.rc == 0, res.output()
    assert res.changed() == [], res.changed()
    assert "changed=0" in res.stdout and "changed=1" not in res.stdout
