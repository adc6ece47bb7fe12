"""Physical backups on the lab: the backup role and modules with real ZooKeeper, sshd and paramiko.

One lab (3 members, dataLogDir apart, small snapCount, gzip snapshots, 2 backup hosts)
serves the whole module; each test leaves it serving.
"""
import filecmp
import os
import pathlib
import threading
import time

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import run_playbook

pytestmark = pytest.mark.lab

ROLE = "zkops.zookeeper.backup : "
# One "Note the outcome" task per member tried: each holds every attempt so far.
NOTE = ROLE + "Note the outcome of the attempt on "
VERIFY = ROLE + "Have every backup host that stored the backup check it against its checksums"
PRUNE = ROLE + "Prune every backup host that holds the backup by retention, keeping what point-in-time restores need"
# The packages are on the lab machine already; the first real run checks the install step.
EV = {"zookeeper_backup_keep_last": 50, "zookeeper_backup_ssh_connect_timeout": 3,
      "zookeeper_backup_install_packages": False}


@pytest.fixture(scope="module")
def blab():
    lab = Lab(name="backup-it", members=3, backups=2, separate_datalog=True, snap_count=300,
              snapshot_compression="gz")
    lab.up()
    yield lab
    lab.down()


def role(lab, extra=None, check=False, playbook="zkops.zookeeper.backup"):
    ev = dict(EV)
    ev.update(extra or {})
    res = run_playbook(lab, playbook, extra_vars=ev, check=check)
    print("%s%s: rc %d in %.1f s" % (playbook, " (check)" if check else "", res.rc, res.duration))
    return res


def attempts(res):
    notes = [r for r in res.records if r["task"].startswith(NOTE) and r["status"] == "ok"]
    return notes[-1]["result"]["ansible_facts"]["__zookeeper_backup_attempts"] if notes else []


def taken(res):
    """The successful attempt of the backup, and the failed ones."""
    tried = attempts(res)
    ok = [r for r in tried if "destinations" in r]
    return (ok[0] if ok else None), [r for r in tried if "destinations" not in r]


def clear_backups(lab):
    for b in lab.backup_hosts:
        b.sh("rm -rf %s/%s" % (Z.ROOT, lab.name))


def test_hot_backup_under_writes_restores_and_logs_ship(blab, tmp_path):
    clear_backups(blab)
    Z.seed(blab)
    writer = Z.Writer(blab)
    writer.start()
    try:
        writer.wait_for(300)
        # Check mode predicts and stores nothing.
        res = role(blab, check=True)
        assert res.rc == 0, res.output()
        good, _failed = taken(res)
        assert good["changed"] and good["backup_id"] is None and good["bytes_raw"] > 0
        assert all(Z.backup_dirs(b, blab.name) == [] for b in blab.backup_hosts)

        seen_before = writer.last_zxid
        res = role(blab, {"zookeeper_backup_install_packages": True})
        assert res.rc == 0, res.output()
        writer.wait_for(len(writer.zxids) + 50)
    finally:
        writer.stop()
    good, failed = taken(res)
    assert failed == [], [(f.get("__zookeeper_backup_source"), f.get("msg")) for f in failed]
    assert good["changed"] and good["mode"] == "hot"
    # The source is a follower; the archive holds at least what the client saw before.
    assert good["member"]["role"] == "follower"
    last = int(good["zxid"]["last"], 16)
    assert last >= seen_before
    assert good["bytes_sent"] > 0 and good["bytes_raw"] < good["bytes_apparent"]
    assert {d["host"] for d in good["destinations"]} == {b.ip for b in blab.backup_hosts}
    assert all(d["verified"] for d in good["destinations"])
    for r in res.result(VERIFY)["results"]:
        assert r["backups"][0]["verified"] is True, r

    # Both backup hosts hold the same, verified files.
    d1, = Z.backup_dirs(blab.backup_hosts[0], blab.name)
    d2, = Z.backup_dirs(blab.backup_hosts[1], blab.name)
    assert os.path.basename(d1) == os.path.basename(d2) == good["backup_id"]
    names = sorted(os.listdir(d1))
    # The run's report sits next to the backup, outside its checksums.
    assert names == sorted(os.listdir(d2)) == sorted(["SHA256SUMS", "manifest.json", "report.json",
                                                      good["archive"]["file"]])
    match, mismatch, errors = filecmp.cmpfiles(d1, d2, names, shallow=False)
    assert mismatch == [] and errors == []

    # Restored by replay, the archive is the live tree as it was at the archive's last zxid.
    restored, restored_last = Z.restore_digest([d1], str(tmp_path / "full"))
    assert restored_last == good["zxid"]["last"]
    live = Z.live_digest(blab, max_czxid=last)
    assert restored["digest"] == live["digest"] and restored["znode_count"] == live["count"]
    man = Z.sidecar(d1)
    for key in ("backup_id", "ensemble", "member", "zookeeper_version", "zxid", "time_range", "epochs",
                "files", "zoo_cfg", "created", "collection_version"):
        assert man[key] not in (None, {}, []), key
    assert man["ensemble"] == blab.name and man["zookeeper_version"].startswith("3.8")
    assert all(len(f["sha256"]) == 64 for f in man["files"])

    # More writes, then log shipping; full + logs replay to the live tree.
    writer = Z.Writer(blab, prefix="/load2")
    writer.start()
    writer.wait_for(400)
    final = writer.stop()
    res = role(blab, playbook="zkops.zookeeper.ship_logs")
    assert res.rc == 0, res.output()
    chunk, _failed = taken(res)
    assert chunk["kind"] == "logs" and chunk["changed"]
    assert chunk["zxid"]["base"] == good["zxid"]["last"] and int(chunk["zxid"]["last"], 16) >= final
    # Nothing new (no client connected since): nothing shipped.
    res = role(blab, playbook="zkops.zookeeper.ship_logs")
    assert res.rc == 0, res.output()
    nothing, _failed = taken(res)
    assert not nothing["changed"] and nothing["skipped"]
    dirs = Z.backup_dirs(blab.backup_hosts[0], blab.name)
    assert len(dirs) == 2
    restored, restored_last = Z.restore_digest(dirs, str(tmp_path / "pitr"))
    assert restored_last == chunk["zxid"]["last"]
    assert restored["digest"] == Z.live_digest(blab)["digest"]


def test_wrong_host_key_is_refused_before_any_data_moves(blab):
    clear_backups(blab)
    saved = {}
    wrong = pathlib.Path(blab.known_hosts).read_text().splitlines()
    b1 = blab.backup_hosts[0]
    k2 = [line for line in wrong if line.startswith(blab.backup_hosts[1].name + ",")][0].split(" ", 1)[1]
    forged = "\n".join(("%s,%s %s" % (b1.name, b1.ip, k2)) if line.startswith(b1.name + ",") else line
                       for line in wrong) + "\n"
    for m in blab.members:
        path = os.path.join(m.path("/root"), ".ssh", "known_hosts")
        saved[path] = pathlib.Path(path).read_text()
        with open(path, "w") as f:
            f.write(forged)
    try:
        res = role(blab)
    finally:
        for path, text in saved.items():
            with open(path, "w") as f:
                f.write(text)
    assert res.rc != 0
    good, failed = taken(res)
    # A host this member cannot log in to may take another member's connection: every member
    # is tried, and each refuses the forged key before anything is sent.
    assert good is None and len(failed) == 3
    assert all("host key verification failed" in r["msg"] and "nothing was stored" in r["msg"]
               and b1.ip in r["msg"] for r in failed), failed
    # Nothing reached either backup host: not even a directory.
    for b in blab.backup_hosts:
        assert not os.path.exists(os.path.join(b.path(Z.ROOT), blab.name))


def _slow(lab, extra=None):
    """Start a slowed-down role run in a thread; returns (thread, box for the result)."""
    Z.bulk(lab)
    box = {}
    ev = {"zookeeper_backup_bandwidth_limit": "400KB", "zookeeper_backup_compression": "none",
          "zookeeper_backup_force": True, "zookeeper_backup_ssh_timeout": 4}
    ev.update(extra or {})

    def run():
        box["res"] = role(lab, ev)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _wait_partial(host, lab, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if Z.backup_dirs(host, lab.name, complete=False):
            return
        time.sleep(0.05)
    raise AssertionError("no push started on %s" % host.name)


def test_backup_host_cut_off_during_the_push(blab):
    clear_backups(blab)
    b1 = blab.backup_hosts[0]
    t, box = _slow(blab, {"zookeeper_backup_max_attempts": 2})
    _wait_partial(b1, blab)
    time.sleep(0.5)
    b1.cut_off()
    try:
        t.join(240)
    finally:
        b1.reconnect()
    res = box["res"]
    assert res.rc != 0
    good, failed = taken(res)
    # Both backup hosts are required (the default): another member would meet the same
    # unreachable host, so none is tried.
    assert good is None and len(failed) == 1
    assert "stopped answering" in failed[0]["msg"] and b1.ip in failed[0]["msg"]
    assert failed[0]["failed_hosts"][0]["host"] == b1.ip and failed[0]["retry_elsewhere"] is False
    # Nothing looks complete anywhere; the other host's partial copy was removed.
    for b in blab.backup_hosts:
        assert Z.backup_dirs(b, blab.name) == []
    assert Z.backup_dirs(blab.backup_hosts[1], blab.name, complete=False) == []
    leftovers = Z.backup_dirs(b1, blab.name, complete=False)
    assert all(".partial-" in os.path.basename(p) for p in leftovers)


def test_source_killed_mid_backup_then_another_member_is_used(blab):
    clear_backups(blab)
    blab.wait_quorum()
    t, box = _slow(blab)
    b1 = blab.backup_hosts[0]
    _wait_partial(b1, blab)
    source = None
    for m in blab.members:
        # The source member is the one with an SSH connection out to the backup host.
        if m.sh("ss -Htn state established dst %s:22" % b1.ip, check=False).stdout.strip():
            source = m
    assert source is not None
    source.kill_zk()
    try:
        t.join(240)
    finally:
        source.start_zk()
    blab.wait_quorum(timeout=60)
    res = box["res"]
    assert res.rc == 0, res.output()
    good, failed = taken(res)
    assert len(failed) == 1 and "stopped serving during the backup" in failed[0]["msg"]
    assert failed[0]["__zookeeper_backup_source"] == source.name
    assert good["__zookeeper_backup_source"] != source.name
    for b in blab.backup_hosts:
        dirs = Z.backup_dirs(b, blab.name)
        assert [os.path.basename(d) for d in dirs] == [good["backup_id"]]
        assert Z.sidecar(dirs[0])["member"]["id"] != source.myid
        assert Z.backup_dirs(b, blab.name, complete=False) == []


def test_full_disk_on_a_backup_host(blab):
    clear_backups(blab)
    b1 = blab.backup_hosts[0]
    Z.bulk(blab)
    b1.small_disk(Z.ROOT, size="256k")
    try:
        res = role(blab, {"zookeeper_backup_compression": "none", "zookeeper_backup_max_attempts": 2})
        listing = os.listdir(b1.path(Z.ROOT))
        ens = os.path.join(b1.path(Z.ROOT), blab.name)
        inside = os.listdir(ens) if os.path.isdir(ens) else []
    finally:
        b1.release_disk(Z.ROOT)
    assert res.rc != 0
    good, failed = taken(res)
    assert good is None and len(failed) == 1
    assert all("no space left" in r["msg"] and b1.ip in r["msg"] for r in failed), failed
    assert listing in ([], [blab.name]) and inside == []
    for b in blab.backup_hosts:
        assert Z.backup_dirs(b, blab.name) == []


MODULE_PLAY = """
- hosts: %(member)s
  gather_facts: false
  tasks:
    - name: backup
      zkops.zookeeper.zk_backup:
        ensemble: %(ensemble)s
        kind: %(kind)s
        force: true
        backup_hosts: %(hosts)s
"""


def module_backup(lab, kind):
    """zk_backup run directly on a follower (faster than the role, for building a history)."""
    member = lab.followers()[0]
    res = run_playbook(lab, MODULE_PLAY % {"member": member.name, "ensemble": lab.name, "kind": kind,
                                           "hosts": [b.name for b in lab.backup_hosts]})
    assert res.rc == 0, res.output()
    return res.result("backup")["backup_id"]


def test_pruning_keeps_what_kept_backups_need(blab, tmp_path):
    clear_backups(blab)
    history = []
    for step in range(3):
        history.append(module_backup(blab, "full"))
        for chunk in range(2 if step < 2 else 0):
            w = Z.Writer(blab, prefix="/hist%d-%d" % (step, chunk))
            w.start()
            w.wait_for(30)
            w.stop()
            history.append(module_backup(blab, "logs"))
    f1, l1, l2, f2, l3, l4, f3 = history
    # Check mode reports what would go and removes nothing; the newest full is current.
    res = role(blab, {"zookeeper_backup_keep_last": 2}, check=True)
    assert res.rc == 0, res.output()
    assert taken(res)[0]["skipped"]
    pruned = [p["id"] for r in res.result(PRUNE)["results"] for p in r["pruned"]]
    assert sorted(pruned) == sorted([f1, l1, l2] * 2)
    assert len(Z.backup_dirs(blab.backup_hosts[0], blab.name)) == 7
    res = role(blab, {"zookeeper_backup_keep_last": 2})
    assert res.rc == 0, res.output()
    again, _failed = taken(res)
    assert not again["changed"] and again["skipped"] and again["backup_id"] == f3
    for b in blab.backup_hosts:
        left = [os.path.basename(d) for d in Z.backup_dirs(b, blab.name)]
        # f2 is kept, and so are the chunks a restore to a point between f2 and f3 needs.
        assert left == sorted([f2, l3, l4, f3])
    # A second run changes nothing at all.
    res = role(blab, {"zookeeper_backup_keep_last": 2})
    assert res.rc == 0, res.output()
    assert not res.changed(), [r["task"] for r in res.changed()]
    dirs = Z.backup_dirs(blab.backup_hosts[0], blab.name)
    ordered = [d for name in (f2, l3, l4) for d in dirs if d.endswith(name)]
    restored, _last = Z.restore_digest(ordered, str(tmp_path / "after-prune"))
    assert restored["digest"] == Z.live_digest(blab)["digest"]


ENCRYPTED_PLAY = """
- hosts: %(member)s
  gather_facts: false
  tasks:
    - name: backup
      zkops.zookeeper.zk_backup:
        ensemble: %(ensemble)s
        force: true
        deep: true
        compression: gzip
        encryption_key: "%(key)s"
        backup_hosts: [%(host)s]
"""


def test_cold_encrypted_backup_with_digest_and_no_secret_in_output(blab, tmp_path):
    import base64
    clear_backups(blab)
    key = base64.b64encode(os.urandom(32)).decode()
    member = blab.followers()[0]
    member.stop_zk()
    try:
        res = run_playbook(blab, ENCRYPTED_PLAY % {"member": member.name, "ensemble": blab.name, "key": key,
                                                   "host": blab.backup_hosts[0].name}, verbosity=3)
    finally:
        member.start_zk()
    assert res.rc == 0, res.output()
    r = res.result("backup")
    assert r["mode"] == "cold" and r["encrypted"] and r["archive"]["file"] == "archive.tar.gz.enc"
    assert key not in res.stdout and key not in res.stderr and key not in str(res.records)
    d, = Z.backup_dirs(blab.backup_hosts[0], blab.name)
    with open(os.path.join(d, r["archive"]["file"]), "rb") as f:
        assert f.read(8) == b"ZKOPSENC"
    with pytest.raises(Exception, match="encryption key"):
        Z.extract(d, str(tmp_path / "nokey"))
    restored, last = Z.restore_digest([d], str(tmp_path / "key"), key=base64.b64decode(key))
    assert last == r["zxid"]["last"]
    # The digest recorded at backup time is the one the restored files give.
    assert r["digest"]["digest"] == restored["digest"] and r["digest"]["zxid"] == last
    blab.wait_quorum(timeout=60)
    assert restored["digest"] == Z.live_digest(blab)["digest"]


def test_a_member_whose_status_cannot_be_read_stops_its_ensemble_with_its_reason(blab):
    clear_backups(blab)
    blab.wait_quorum(timeout=60)
    m = blab.followers()[-1]
    m.sh("mv /etc/zookeeper/conf/zoo.cfg /etc/zookeeper/conf/zoo.cfg.moved")
    try:
        res = role(blab)
    finally:
        m.sh("mv /etc/zookeeper/conf/zoo.cfg.moved /etc/zookeeper/conf/zoo.cfg")
    assert res.rc != 0
    failed = {r["host"]: (r["task"].split(" : ")[-1], r["result"].get("msg", "")) for r in res.failed()}
    assert failed[m.name][0] == "Read each member's status and its view of the ensemble", res.output()
    assert "/etc/zookeeper/conf/zoo.cfg does not exist" in failed[m.name][1]
    # The others stop at the gate with the member's name, before any plan is made from the
    # status it did not give.
    for other in blab.members:
        if other.name != m.name:
            assert failed[other.name] == ("Stop unless every member of the ensemble gave its status",
                                          "Nothing was done on the ensemble %s: its member %s failed above."
                                          % (blab.name, m.name)), res.output()
    assert "has no attribute" not in res.stdout + res.stderr, res.output()
    assert taken(res)[0] is None
    assert all(Z.backup_dirs(b, blab.name) == [] for b in blab.backup_hosts)


def test_unreachable_member_stops_the_backup_unless_skipped(blab):
    clear_backups(blab)
    blab.wait_quorum(timeout=60)
    down = blab.followers()[-1]
    down.power_off()
    try:
        res = role(blab)
        assert res.rc != 0
        assert "Nothing was done: %s cannot be reached" % down.name in res.stdout
        # The member itself stops at once with its name, not later on the status it could not give.
        down_failed = [(r["task"].split(" : ")[-1], r["status"]) for r in res.failed() if r["host"] == down.name]
        assert down_failed == [("Read each member's status and its view of the ensemble", "unreachable"),
                               ("Stop on a member that cannot be reached", "failed")], res.output()
        assert "has no attribute" not in res.stdout + res.stderr, res.output()
        assert taken(res)[0] is None
        assert all(Z.backup_dirs(b, blab.name) == [] for b in blab.backup_hosts)
        res = role(blab, {"zookeeper_backup_skip_members": [down.name]})
        assert res.rc == 0, res.output()
        good, _failed = taken(res)
        assert good["changed"] and good["__zookeeper_backup_source"] != down.name
    finally:
        down.boot()
    blab.wait_quorum(timeout=60)
