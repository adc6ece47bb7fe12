"""Backups restored across ZooKeeper releases, and a rolling upgrade.

A backup of a 3.6.3 ensemble restored onto members that now run 3.9.5 (a restore as an
upgrade path): the backup playbook, every member's install replaced by 3.9.5 and its data
lost, the restore playbook, and the live tree read back and compared with the one written;
the restore's report names the backup's release and the members'.  The reverse, a 3.9.5
backup onto 3.6.3 members (ZooKeeper does not support downgrades), is refused before any
member is touched unless zookeeper_restore_allow_older_release is set; with it, the older
release serves the tree exactly as it was written.  A rolling upgrade from Debian's 3.8.0 to
3.9.5 with the rolling_restart role, one member at a time and the leader last, a client's
session kept throughout, a backup taken half-way from the mixed ensemble, and that backup
restored onto the upgraded ensemble.

ZKOPS_ZK_VERSIONS selects the releases as for test_versions.py: a test runs when every
release it needs is selected (ZKOPS_ZK_VERSIONS=all runs them all).
"""
import json
import time

import pytest

import zklive
from lab import workload
from lab.ansible import run_playbook
from lab.lab import DEBIAN_VERSION, Lab, parse_srvr
from test_rolling_restart import PLAYBOOK as ROLLING_RESTART
from test_rolling_restart import Writer, restart_order
from test_backup import taken
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.release import from_srvr
from lab.workload import CREDENTIAL
from test_versions import (BACKUP, COMPRESSION, DRILL_BULK, RESTORE, drill_digest, restore_vars,
                           skip_unless_runnable)

pytestmark = pytest.mark.lab

BACKUP_VARS = {"zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False,
               "zookeeper_backup_force": True}


def write_tree(lab):
    """The sample tree (ACLs, every kind of znode) and DRILL_BULK znodes; the digest of the
    tree the ensemble serves once the writing session is gone."""
    zk = workload.client(lab, auth_data=[CREDENTIAL])
    try:
        made = workload.sample_tree(zk) + workload.bulk_load(zk, DRILL_BULK)
    finally:
        zk.stop()
        zk.close()
    zk = workload.client(lab, auth_data=[CREDENTIAL])
    try:
        zk.sync("/")
        live = zklive.live_digest(zk)
    finally:
        zk.stop()
        zk.close()
    assert made - 10 <= live["count"] - 1 <= made and made > DRILL_BULK, (live["count"], made)
    return live["digest"]


def releases_served(lab):
    return {h.name: from_srvr(parse_srvr(h.four_letter("srvr"))["Zookeeper version"])
            for h in lab.members}


def summary(res):
    return res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]


def backed_up(name, version):
    """A 3-member lab of ``version`` with the drill's tree, backed up by the backup playbook;
    (lab, digest written)."""
    lab = Lab(name=name, members=3, backups=1, zk_versions=version, snap_count=400,
              snapshot_compression=COMPRESSION[version])
    lab.up()
    try:
        written = write_tree(lab)
        res = run_playbook(lab, BACKUP, extra_vars=BACKUP_VARS)
        assert res.rc == 0, res.output()
    except BaseException:
        lab.down()
        raise
    return lab, written


def replaced_and_lost(lab, version):
    """Every member's install replaced by ``version`` and its data lost: the members serve
    an empty tree on the new release."""
    for h in lab.members:
        lab.set_release(h, version)
    lab.wipe_members()
    assert releases_served(lab) == {h.name: version for h in lab.members}


def stored_report(lab):
    """The restore's report as the backup host stores it (the newest one)."""
    text = lab.backup_hosts[0].sh("cat $(ls -t /srv/backups/%s/restores/*.json | head -1)" % lab.name).stdout
    return json.loads(text)["report"]


def shown_releases(res):
    return res.result("Show the releases", res.tasks("Show the releases")[0]["host"])["msg"]


def refused_untouched(lab, backup, members, empty, stopped=False):
    """The restore playbook refuses a backup of release ``backup`` on members of the older
    ``members``, naming both and the ways out, before ZooKeeper or its data is touched: nothing
    staged, no server stopped (or, ``stopped``, none started), no file changed, the tree still
    ``empty`` (not read when ``stopped``).  Stopped members are judged by their installed jar,
    which the message names."""
    pids = {h.name: h.zk_pid() if h.zk_running() else None for h in lab.members}
    assert all(pid is None for pid in pids.values()) if stopped else all(pids.values()), pids
    files = {h.name: sorted(h.sh("ls -A /var/lib/zookeeper /var/lib/zookeeper/version-2").stdout.split())
             for h in lab.members}
    res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab))
    assert res.rc != 0
    failed = res.failed()
    assert [r["task"].split(" : ")[-1] for r in failed] == [
        "Stop unless the members run the backups' release or a newer one (or an older one is allowed)"], res.output()
    out = failed[0]["result"]["msg"]
    if stopped:
        runs = ", ".join("%s has %s installed (/usr/share/java/zookeeper.jar, on the class path of "
                         "/etc/zookeeper/conf/environment)" % (h.name, members) for h in lab.members)
    else:
        runs = ", ".join("%s runs %s" % (h.name, members) for h in lab.members)
    hosts = ", ".join(h.name for h in lab.members)
    for words in ("Nothing was done", "ZooKeeper %s" % backup, runs, "does not support downgrades",
                  "Upgrade %s to %s or later" % (hosts, backup), "zookeeper_restore_allow_older_release=true"):
        assert words in out, (words, out)
    assert res.tasks("zkops.zookeeper.restore : Stage the restored data on every member") == []
    assert {h.name: h.zk_pid() if h.zk_running() else None for h in lab.members} == pids
    assert {h.name: sorted(h.sh("ls -A /var/lib/zookeeper /var/lib/zookeeper/version-2").stdout.split())
            for h in lab.members} == files
    if not stopped:
        assert drill_digest(lab) == empty


def test_a_363_backup_restored_onto_395_members():
    skip_unless_runnable("3.6.3", "3.9.5")
    lab, written = backed_up("up3639", "3.6.3")
    try:
        replaced_and_lost(lab, "3.9.5")
        assert drill_digest(lab) != written
        res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab))
        assert res.rc == 0, res.output()
        assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
        assert drill_digest(lab) == written
        assert releases_served(lab) == {h.name: "3.9.5" for h in lab.members}
        want = {"backup": "3.6.3", "members": {h.name: "3.9.5" for h in lab.members}, "path": "upgrade"}
        assert summary(res)["releases"] == want
        assert stored_report(lab)["releases"] == want
        assert summary(res)["verification"]["match"] is True
        assert shown_releases(res) == ("an upgrade: the backup was taken on ZooKeeper 3.6.3, and zk1 runs 3.9.5, "
                                       "zk2 runs 3.9.5, zk3 runs 3.9.5.")
    finally:
        lab.down()


def test_a_395_backup_onto_363_members_is_refused_untouched_and_restored_when_allowed():
    """ZooKeeper 3.6.3 loads the snapshot and logs 3.9.5 wrote (snappy snapshots, digests):
    with zookeeper_restore_allow_older_release the tree it serves is the one written."""
    skip_unless_runnable("3.6.3", "3.9.5")
    lab, written = backed_up("dn3953", "3.9.5")
    try:
        replaced_and_lost(lab, "3.6.3")
        empty = drill_digest(lab)
        assert empty != written
        refused_untouched(lab, "3.9.5", "3.6.3", empty)

        res = run_playbook(lab, RESTORE, extra_vars=restore_vars(
            lab, zookeeper_restore_allow_older_release=True))
        assert res.rc == 0, res.output()
        assert shown_releases(res).startswith("a downgrade, allowed by zookeeper_restore_allow_older_release")
        assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
        assert drill_digest(lab) == written
        assert releases_served(lab) == {h.name: "3.6.3" for h in lab.members}
        want = {"backup": "3.9.5", "members": {h.name: "3.6.3" for h in lab.members}, "path": "downgrade"}
        assert summary(res)["releases"] == want
        layers = summary(res)["verification"]["layers"]
        assert {k: v["status"] for k, v in layers.items()} == {
            "files": "verified", "serving": "verified", "tree": "verified"}
    finally:
        lab.down()


def test_rolling_upgrade_from_380_to_395_with_a_backup_half_way():
    """Each member's install replaced by 3.9.5 and restarted by the rolling_restart role on its
    own (--limit), followers first and the leader last, as an operator upgrades; a client's
    session and writes go on throughout.  Half-way (two followers on 3.9.5, the leader on
    3.8.0) a full backup is taken; once every member runs 3.9.5 it is restored and the live
    tree is the one backed up."""
    skip_unless_runnable(DEBIAN_VERSION, "3.9.5")
    lab = Lab(name="roll3839", members=3, backups=1, snap_count=400, snapshot_compression="gz")
    lab.up()
    try:
        write_tree(lab)
        leader = lab.leader()
        order = sorted(lab.followers(), key=lambda h: h.myid) + [leader]
        writer = Writer(lab.connect_string).start()
        half = None
        t0 = time.time()
        for i, h in enumerate(order):
            others = {o.name: o.zk_pid() for o in lab.members if o is not h}
            lab.set_release(h, "3.9.5")
            res = run_playbook(lab, ROLLING_RESTART, limit=h.name)
            assert res.rc == 0, res.output()
            assert restart_order(res) == [h.name]
            # One member at a time: the others kept running, and the quorum holds again.
            assert {o.name: o.zk_pid() for o in lab.members if o is not h} == others
            lab.wait_quorum()
            served = releases_served(lab)
            assert served[h.name] == "3.9.5", served
            if i == 1:
                # Half-way: a mixed ensemble, still led by the 3.8.0 member.
                assert served == {o.name: ("3.8.0" if o is leader else "3.9.5") for o in lab.members}
                assert lab.leader() is leader
                final, same_session = writer.stop()
                assert writer.errors == [] and same_session and final == writer.acked[-1][1]
                half = drill_digest(lab)
                res = run_playbook(lab, BACKUP, extra_vars=BACKUP_VARS)
                assert res.rc == 0, res.output()
                assert drill_digest(lab) == half
                good = taken(res)[0]
                source = good["member"]
                assert source["zookeeper_version"] == served[good["__zookeeper_backup_source"]], (good, served)
                writer = Writer(lab.connect_string).start()
        final, same_session = writer.stop()
        upgrade_s = time.time() - t0
        assert writer.errors == [] and same_session and final == writer.acked[-1][1]
        assert releases_served(lab) == {h.name: "3.9.5" for h in lab.members}
        assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
        after = drill_digest(lab)
        assert after != half                       # the second half's writes

        res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab))
        assert res.rc == 0, res.output()
        assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
        assert drill_digest(lab) == half
        rel = summary(res)["releases"]
        # The backup came from a member of the mixed ensemble, and carries that member's release.
        assert rel["backup"] == source["zookeeper_version"]
        assert rel["members"] == {h.name: "3.9.5" for h in lab.members}
        assert rel["path"] == ("upgrade" if rel["backup"] == "3.8.0" else "same release")
        print("\nrolling upgrade 3.8.0 -> 3.9.5 of 3 members with a backup half-way: %.1f s; "
              "backup taken on %s" % (upgrade_s, rel["backup"]))
    finally:
        lab.down()


def test_a_395_backup_is_refused_on_debian_380_members_untouched():
    """The refusal on the two releases every run tests: a 3.9.5 backup, the members
    reinstalled with Debian's 3.8.0 and their data lost; then the same members stopped, as
    after a total loss, so that srvr does not answer: their installed jar is refused all the
    same, and no member is started."""
    skip_unless_runnable(DEBIAN_VERSION, "3.9.5")
    lab, written = backed_up("dn3958", "3.9.5")
    try:
        replaced_and_lost(lab, DEBIAN_VERSION)
        empty = drill_digest(lab)
        assert empty != written
        refused_untouched(lab, "3.9.5", DEBIAN_VERSION, empty)
        for h in lab.members:
            h.stop_zk()
        refused_untouched(lab, "3.9.5", DEBIAN_VERSION, None, stopped=True)
    finally:
        lab.down()
