"""Each ZooKeeper release the lab runs, as a 3-member ensemble of that release started by an
init script, its snapshots compressed as the release can: kazoo writes every kind of
transaction and a few thousand znodes, zk_info
reports the release, the leader and the zxid that the members' own srvr answers give, and
zk_verify on every member's data directory replays the tree that the live ensemble holds.
The whole drill runs on each release too: the backup playbook, every member's data lost, the
restore playbook, and the live tree read back and compared with the one written.

The releases are Debian's 3.8.0 and those of lab/zkdist.py (3.5.9, 3.6.3, 3.7.2, 3.9.5),
whose jars come from a cache outside the repository.  ZKOPS_ZK_VERSIONS names the releases
to run (comma-separated, or ``all``); by default only 3.8.0.  tests/run's integration stage
sets 3.8.0 and the newest release (fetched on its first run), and ``tests/run matrix`` every
release.  A release that is named but not cached is skipped with the command that fetches
it.
"""
import copy
import os
import time

import pytest

import zklive
from lab import workload, zkdist
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import REPO, run_playbook
from lab.lab import DEBIAN_VERSION, Lab, parse_srvr
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.release import release_tuple

pytestmark = pytest.mark.lab

# Snapshots as each release can write them: plain before 3.6; snappy (snappy-java from the
# release's own jars) for the cached releases since; gzip for Debian's, whose classpath has
# no snappy-java.
COMPRESSION = {"3.5.9": None, "3.6.3": "snappy", "3.7.2": "snappy", "3.8.0": "gz", "3.9.5": "snappy"}
VERSIONS = sorted([DEBIAN_VERSION] + list(zkdist.DISTS), key=release_tuple)
WRITES = 3000

INFO_AND_VERIFY = """
- hosts: zookeeper
  gather_facts: false
  tasks:
    - name: info
      zkops.zookeeper.zk_info:
    - name: verify
      zkops.zookeeper.zk_verify:
        config_file: /etc/zookeeper/conf/zoo.cfg
        deep: true
"""


def selected():
    """The releases ZKOPS_ZK_VERSIONS asks for (default: Debian's alone)."""
    text = os.environ.get("ZKOPS_ZK_VERSIONS", DEBIAN_VERSION).strip()
    return set(VERSIONS) if text == "all" else {v.strip() for v in text.split(",") if v.strip()}


def skip_unless_runnable(*versions):
    for v in versions:
        if v not in selected():
            pytest.skip("ZooKeeper %s: not in ZKOPS_ZK_VERSIONS=%s (the default runs Debian's %s "
                        "only; ZKOPS_ZK_VERSIONS=all runs every release)"
                        % (v, os.environ.get("ZKOPS_ZK_VERSIONS", "(unset)"), DEBIAN_VERSION))
        if v != DEBIAN_VERSION and not zkdist.cached(v):
            pytest.skip(zkdist.missing_message(v))


def test_every_release_is_known_to_the_cache_or_debian():
    assert VERSIONS == ["3.5.9", "3.6.3", "3.7.2", "3.8.0", "3.9.5"]
    unknown = selected() - set(VERSIONS) - {"all"}
    assert not unknown, "ZKOPS_ZK_VERSIONS names releases the lab does not run: %s" % sorted(unknown)


def write(lab):
    """Every transaction type, then WRITES znodes in small batches; returns (zxid, live
    digest) once the members agree, the zxid after the client's session closed."""
    zk = zklive.client(lab.connect_string)
    try:
        gone = zklive.every_txn_type(zk, lab.connect_string, "/kinds", big=200_000)
        zk.ensure_path("/load")
        for batch in range(WRITES // 100):
            t = zk.transaction()
            for i in range(50):
                t.create("/load/b%03d-%02d" % (batch, i), b"v" * 100)
            assert all(not isinstance(r, Exception) for r in t.commit())
            pending = [zk.create_async("/load/s%03d-%02d" % (batch, i), b"w" * 100)
                       for i in range(50)]
            for p in pending:
                p.get(timeout=30)
        zklive.wait_gone(zk, gone)
        _zxid, live = zklive.quiesced_digest(lab, zk)
    finally:
        zk.stop()
        zk.close()
    return lab.wait_zxid_agree(), live


@pytest.fixture(scope="module", params=VERSIONS)
def ensemble(request):
    version = request.param
    skip_unless_runnable(version)
    lab = Lab(name="v" + version.replace(".", ""), members=3, backups=0, zk_versions=version,
              snap_count=400, snapshot_compression=COMPRESSION[version],
              java_opts="-Dznode.container.checkIntervalMs=200")
    t0 = time.time()
    lab.up()
    started = time.time() - t0
    try:
        zxid, live = write(lab)
        yield {"lab": lab, "version": version, "zxid": zxid, "live": live, "started": started,
               "play": run_playbook(lab, INFO_AND_VERIFY)}
    finally:
        lab.down()


def test_members_run_the_release_by_its_init_script(ensemble):
    lab, version = ensemble["lab"], ensemble["version"]
    for h in lab.members:
        srvr = parse_srvr(h.four_letter("srvr"))
        assert srvr["Zookeeper version"].startswith(version + "-"), srvr
        cmdline = h.sh("tr '\\0' ' ' < /proc/$(cat /run/zookeeper/zookeeper.pid)/cmdline").stdout
        assert " org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/zookeeper/conf/zoo.cfg" \
            in cmdline, cmdline
        jar = (os.path.join(zkdist.version_dir(version), "") if version != DEBIAN_VERSION
               else "/usr/share/java/zookeeper.jar")
        assert jar in cmdline, cmdline
        # The member's log is where Debian's is, whichever logging the release uses.
        log = h.path("/var/log/zookeeper/zookeeper.log")
        assert os.path.getsize(log) > 0
    assert ensemble["started"] < 60


def test_zk_info_reports_release_leader_and_zxid(ensemble):
    lab, version, res = ensemble["lab"], ensemble["version"], ensemble["play"]
    assert res.rc == 0, res.output()
    truth = {h.myid: parse_srvr(h.four_letter("srvr")) for h in lab.members}
    assert {s["zxid"] for s in truth.values()} == {ensemble["zxid"]}
    assert sorted(s["Mode"] for s in truth.values()) == ["follower", "follower", "leader"]
    for h in lab.members:
        r = res.result("info", h.name)
        assert r["changed"] is False
        assert r["ensemble"]["leader"] == next(i for i, s in truth.items() if s["Mode"] == "leader")
        assert sorted(m["id"] for m in r["members"]) == [1, 2, 3]
        for m in r["members"]:
            srvr = truth[m["id"]]
            assert m["version"] == version
            assert m["mode"] == srvr["Mode"]
            assert int(m["zxid"], 16) == srvr["zxid"] == ensemble["zxid"]
            assert m["znode_count"] == int(srvr["Node count"])
        assert r["member"]["myid"] == h.myid and r["member"]["process"]["pid"] == h.zk_pid()


def test_zk_verify_replays_the_live_tree(ensemble):
    lab, res = ensemble["lab"], ensemble["play"]
    assert res.rc == 0, res.output()
    results = res.results("verify")
    assert set(results) == {h.name for h in lab.members}
    for name, r in results.items():
        assert r.get("failed") is not True, r.get("msg")
        assert r["restorable"] is True and r["changed"] is False
        assert r["digest"] == ensemble["live"]["digest"], name
        assert r["znode_count"] == ensemble["live"]["count"], name
        assert r["replay"]["zk_digest"]["mismatches"] == []
    # snapCount 400 and a few thousand writes: the leader rolled several snapshots and logs,
    # compressed as the release was told to.
    leader = lab.leader()
    files = os.listdir(leader.path("/var/lib/zookeeper/version-2"))
    snapshots = [f for f in files if f.startswith("snapshot.")]
    assert len(snapshots) >= 3, files
    assert sum(f.startswith("log.") for f in files) >= 3, files
    want = COMPRESSION[ensemble["version"]]
    for name, r in results.items():
        seen = {f["compression"] for f in r["files"]
                if f.get("type") == "snapshot" and not f["name"].startswith("snapshot.0")}
        assert seen == {want}, (name, sorted(f["name"] for f in r["files"]))


MIXED = ["3.6.3", DEBIAN_VERSION, "3.9.5"]


def test_a_mixed_ensemble_serves_and_zk_info_tells_each_members_release():
    skip_unless_runnable(*MIXED)
    lab = Lab(name="vmixed", members=3, backups=0, zk_versions=MIXED)
    lab.up()
    try:
        zk = zklive.client(lab.connect_string)
        try:
            for i in range(300):
                zk.create("/mixed/n%03d" % i, b"m", makepath=True)
            _zxid, live = zklive.quiesced_digest(lab, zk)
        finally:
            zk.stop()
            zk.close()
        zxid = lab.wait_zxid_agree()
        assert live["count"] >= 301
        res = run_playbook(lab, INFO_AND_VERIFY)
        assert res.rc == 0, res.output()
        for h in lab.members:
            r = res.result("info", h.name)
            assert {m["id"]: m["version"] for m in r["members"]} == {1: "3.6.3", 2: "3.8.0", 3: "3.9.5"}
            assert {int(m["zxid"], 16) for m in r["members"]} == {zxid}
            assert sorted(m["mode"] for m in r["members"]) == ["follower", "follower", "leader"]
            v = res.result("verify", h.name)
            assert v["restorable"] is True and v["digest"] == live["digest"], h.name
    finally:
        lab.down()


# The whole drill on each release: a tree with ACLs, a full backup through the backup
# playbook, every member's data lost, the restore playbook, and the live tree read back with
# a plain client.
BACKUP = os.path.join(REPO, "playbooks", "backup.yml")
RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
DRILL_BULK = 3000


def restore_vars(lab, **extra):
    """The restore playbook's variables for ``lab``: the sample tree's credential, its
    confirmation, a 60 s timeout; ``extra`` on top."""
    out = {"zookeeper_auth": copy.deepcopy(AUTH), "zookeeper_restore_timeout": 60,
           "zookeeper_restore_confirm": lab.name}
    out.update(extra)
    return out


def drill_digest(lab):
    return zklive.synced_digest(workload.client(lab, auth_data=[CREDENTIAL]))


@pytest.mark.parametrize("version", VERSIONS)
def test_backup_total_loss_and_restore(version):
    skip_unless_runnable(version)
    lab = Lab(name="d" + version.replace(".", ""), members=3, backups=1, zk_versions=version,
              snap_count=400, snapshot_compression=COMPRESSION[version])
    lab.up()
    try:
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
        # The ephemeral znodes went with the writing session.
        assert made - 10 <= live["count"] - 1 <= made and made > DRILL_BULK, (live["count"], made)
        written = live["digest"]

        res = run_playbook(lab, BACKUP, extra_vars={
            "zookeeper_backup_deep": True, "zookeeper_backup_install_packages": False,
            "zookeeper_backup_force": True})
        assert res.rc == 0, res.output()

        lab.wipe_members()
        assert drill_digest(lab) != written

        res = run_playbook(lab, RESTORE, extra_vars=restore_vars(lab))
        assert res.rc == 0, res.output()
        assert sorted(lab.wait_quorum().values()) == ["follower", "follower", "leader"]
        assert drill_digest(lab) == written
        for h in lab.members:
            srvr = parse_srvr(h.four_letter("srvr"))
            assert srvr["Zookeeper version"].startswith(version + "-"), srvr
    finally:
        lab.down()
