"""Backup hosts independent of each other, and long steps whose process dies, on a lab with
two backup hosts.

- A full and an unreachable backup host: the backup is kept on the other one when
  zookeeper_backup_required_hosts allows it, the host is named, and the run fails when the
  hosts required are not met.
- The link to one backup host cut while the archive goes to both through OpenSSH's ssh
  client: the run fails naming it, and neither host holds anything that looks complete.
- A backup and a restore staging killed with SIGKILL on the member: the playbook notices
  within seconds, says what the step was doing, tries the next member (backup), and no
  secret (SSH private key, encryption key) is left on the member's disk, killed or not.
- One byte flipped in the archive on the first backup host, the second one intact: the
  restore takes the backup from the second host and names the first.
- The log chunk shipped last only on the second backup host (the first missed it): the
  default restore plans over both hosts and brings back the write it holds.
"""
import base64
import json
import os
import shutil
import threading
import time

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

BACKUP = "zkops.zookeeper.backup"
RESTORE = os.path.join(REPO, "playbooks", "restore.yml")
SHIP = os.path.join(REPO, "playbooks", "ship_logs.yml")
NOTE = "zkops.zookeeper.backup : Note the outcome of the attempt on "
PROGRESS = "/var/tmp/zkops-progress"
EV = {"zookeeper_backup_keep_last": 50, "zookeeper_backup_ssh_connect_timeout": 3,
      "zookeeper_backup_install_packages": False, "zookeeper_backup_force": True,
      "zookeeper_backup_max_attempts": 1}
# A killed step must be noticed within this many seconds.
NOTICED = 12


@pytest.fixture(scope="module")
def hlab():
    lab = Lab(name="backup-hosts", members=3, backups=2)
    lab.up()
    Z.seed(lab)
    yield lab
    lab.down()


def role(lab, extra=None):
    ev = dict(EV)
    ev.update(extra or {})
    res = run_playbook(lab, BACKUP, extra_vars=ev)
    print("backup: rc %d in %.1f s" % (res.rc, res.duration))
    return res


def attempts(res):
    notes = [r for r in res.records if r["task"].startswith(NOTE) and r["status"] == "ok"]
    return notes[-1]["result"]["ansible_facts"]["__zookeeper_backup_attempts"] if notes else []


def stored(lab, host):
    return [os.path.basename(d) for d in Z.backup_dirs(host, lab.name)]


def secrets(lab):
    """An encryption key and the lab's SSH private key as text (both given as variables)."""
    with open(lab.key) as f:
        private = f.read()
    return base64.b64encode(os.urandom(32)).decode(), private


def secrets_left(lab, needles):
    """Files on the members (outside ~/.ssh, where the key file lives) holding any needle."""
    hits = []
    for m in lab.members:
        for needle in needles:
            out = m.sh("grep -rlF --exclude-dir=.ssh -e %s /root /tmp /var/tmp 2>/dev/null; true"
                       % json.dumps(needle)).stdout.split()
            hits.extend("%s:%s" % (m.name, p) for p in out)
    return hits


def key_line(private):
    """A line of the private key's body: text that appears nowhere else."""
    return [line for line in private.splitlines() if line and not line.startswith("-----")][1]


def wait_progress(lab, want, skip=(), timeout=60, step=0.02):
    """(member, state) of the first running progress file on a member for which want(state)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in lab.members:
            if m.name in skip:
                continue
            d = m.path(PROGRESS)
            for name in (os.listdir(d) if os.path.isdir(d) else []):
                if not name.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(d, name)) as f:
                        state = json.load(f)
                except (IOError, ValueError):
                    continue
                if state.get("state") == "running" and want(state):
                    return m, state
        time.sleep(step)
    raise AssertionError("no running step matched on the members within %ss" % timeout)


def in_thread(fn, *args, **kw):
    box = {}

    def run():
        box["res"] = fn(*args, **kw)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_a_full_and_an_unreachable_backup_host(hlab):
    b1, b2 = hlab.backup_hosts
    Z.bulk(hlab)
    # b1 is full: with one host required the backup is kept on b2, and b1 is named.
    b1.small_disk(Z.ROOT, size="256k")
    try:
        res = role(hlab, {"zookeeper_backup_compression": "none", "zookeeper_backup_required_hosts": 1})
        inside = os.path.join(b1.path(Z.ROOT), hlab.name)
        on_b1 = sorted(os.listdir(inside)) if os.path.isdir(inside) else []
    finally:
        b1.release_disk(Z.ROOT)
    assert res.rc == 0, res.output()
    good, = attempts(res)
    assert [d["host"] for d in good["destinations"]] == [b2.ip]
    assert [f["host"] for f in good["failed_hosts"]] == [b1.ip]
    assert "no space left" in good["failed_hosts"][0]["reason"]
    assert "not on %s: " % b1.ip in res.stdout and "no space left" in res.stdout
    # Nothing that looks complete, nor debris, on the full host; the whole backup on the other.
    assert on_b1 == [], on_b1
    assert good["backup_id"] in stored(hlab, b2)
    with open(os.path.join(b2.path(Z.ROOT), hlab.name, good["backup_id"], "report.json")) as f:
        assert b1.ip in f.read()

    # b2 is down: kept on b1 with one host required; with all required the run fails naming it.
    b2.power_off()
    try:
        before = stored(hlab, b1)
        res = role(hlab, {"zookeeper_backup_required_hosts": 1})
        assert res.rc == 0, res.output()
        good, = attempts(res)
        assert [d["host"] for d in good["destinations"]] == [b1.ip]
        assert good["failed_hosts"][0]["host"] == b2.ip and b2.ip in res.stdout
        assert stored(hlab, b1) == sorted(before + [good["backup_id"]])
        before = stored(hlab, b1)
        res = role(hlab)
        assert res.rc != 0
        # A host one member cannot reach may answer another: the attempt says the next member
        # may try (this lab's runs allow one attempt).
        failed, = attempts(res)
        assert "only 1 of 2 backup hosts" in failed["msg"] and b2.ip in failed["msg"], failed["msg"]
        assert failed["retry_elsewhere"] is True
        assert stored(hlab, b1) == before
        assert Z.backup_dirs(b1, hlab.name, complete=False) == []
    finally:
        b2.boot()


def test_a_transfer_cut_mid_way_through_openssh_leaves_nothing_that_looks_complete(hlab):
    """The archive goes to each backup host through OpenSSH's ssh client (a connection of its
    own beside paramiko's); the first host's link is cut while it is sent."""
    b1, b2 = hlab.backup_hosts
    Z.bulk(hlab)
    before = {h.name: (stored(hlab, h), Z.backup_dirs(h, hlab.name, complete=False)) for h in (b1, b2)}
    ev = {"zookeeper_backup_bandwidth_limit": "300KB", "zookeeper_backup_compression": "none",
          "zookeeper_backup_transfer_client": "openssh", "zookeeper_backup_ssh_timeout": 3,
          "zookeeper_progress_interval": 1}
    t, box = in_thread(role, hlab, ev)
    source, state = wait_progress(hlab, lambda s: s.get("stage") == "send" and (s.get("done") or 0) > 300000)
    # Both hosts' archives come through an ssh client process of the module.
    clients = source.sh("pgrep -f -a '^/usr/bin/ssh .*zkops-ready' || true").stdout
    assert b1.ip in clients and b2.ip in clients, clients
    b1.cut_off()
    cut = time.time()
    try:
        t.join(300)
    finally:
        b1.reconnect()
    res = box["res"]
    print("the run ended %.1f s after the cut" % (time.time() - cut))
    assert res.rc != 0
    failed, = attempts(res)
    assert "destinations" not in failed
    assert "not stored on enough backup hosts" in failed["msg"] and b1.ip in failed["msg"], failed["msg"]
    assert "OpenSSH's ssh client failed (exit code 255)" in failed["msg"] or "stopped answering" in failed["msg"], \
        failed["msg"]
    # Nothing new that looks complete on either host; the second host's staging directory is
    # gone, the first one's (cut off) is a hidden partial directory at most.
    assert stored(hlab, b1) == before[b1.name][0] and stored(hlab, b2) == before[b2.name][0]
    assert Z.backup_dirs(b2, hlab.name, complete=False) == before[b2.name][1]
    left = [os.path.basename(d) for d in Z.backup_dirs(b1, hlab.name, complete=False)
            if d not in before[b1.name][1]]
    assert all(n.startswith(".") and ".partial-" in n for n in left), left
    for d in Z.backup_dirs(b1, hlab.name, complete=False):
        shutil.rmtree(d)
    # No ssh client of the module is left behind.
    assert source.sh("pgrep -f -a '[z]kops-ready' || true").stdout == ""


def test_a_killed_backup_is_noticed_the_next_member_tried_and_no_secret_stays(hlab):
    key, private = secrets(hlab)
    needles = [key, key_line(private)]
    Z.bulk(hlab)
    ev = {"zookeeper_backup_bandwidth_limit": "300KB", "zookeeper_backup_compression": "none",
          "zookeeper_backup_max_attempts": 2, "zookeeper_progress_interval": 1,
          "zookeeper_backup_encryption_key": key, "zookeeper_backup_ssh_private_key": private}
    t, box = in_thread(role, hlab, ev)
    source, state = wait_progress(hlab, lambda s: s.get("stage") == "send" and (s.get("done") or 0) > 0)
    # While it runs, the file Ansible ran the module from (its arguments in clear) is gone.
    assert secrets_left(hlab, needles) == []
    # The module and the wrapper's process that waits for it, as one kill -9 of the group:
    # nobody writes the job's status any more.
    pgid = source.sh("cut -d' ' -f5 /proc/%d/stat" % state["pid"]).stdout.strip()
    source.sh("python3 -c 'import os, signal; os.killpg(%s, signal.SIGKILL)'" % pgid)
    killed = time.time()
    nxt, _state = wait_progress(hlab, lambda s: True, skip=(source.name,))
    noticed = time.time() - killed
    print("the next member started %.1f s after the kill" % noticed)
    t.join(300)
    res = box["res"]
    assert res.rc == 0, res.output()
    dead, good = attempts(res)
    assert dead["__zookeeper_backup_source"] == source.name and dead["died"] is True
    assert "died without finishing" in dead["msg"] and "send:" in dead["msg"], dead["msg"]
    assert good["__zookeeper_backup_source"] == nxt.name and good["encrypted"]
    assert noticed < NOTICED, noticed
    assert secrets_left(hlab, needles) == []
    assert key not in res.stdout and key_line(private) not in res.stdout


def test_a_killed_staging_is_noticed_and_no_secret_stays(hlab):
    key, private = secrets(hlab)
    needles = [key, key_line(private)]
    res = role(hlab, {"zookeeper_backup_encryption_key": key})
    assert res.rc == 0, res.output()
    ev = {"zookeeper_restore_confirm": hlab.name, "zookeeper_restore_timeout": 60,
          "zookeeper_progress_interval": 1, "zookeeper_backup_encryption_key": key,
          "zookeeper_backup_ssh_private_key": private}
    t, box = in_thread(run_playbook, hlab, RESTORE, extra_vars=ev)
    member, state = wait_progress(hlab, lambda s: s.get("task", "").startswith("restore"), step=0.01)
    # Frozen at once, then killed: the OOM killer takes the process alone.
    member.sh("kill -STOP %d" % state["pid"])
    member.sh("kill -9 %d" % state["pid"])
    killed = time.time()
    t.join(300)
    res = box["res"]
    assert res.rc != 0
    assert "died without finishing" in res.stdout and member.name in res.stdout, res.output()
    # The wait ended right after the kill, not at the staging timeout.
    assert time.time() - killed < NOTICED + 30
    assert secrets_left(hlab, needles) == []
    assert key not in res.stdout
    hlab.wait_quorum(timeout=60)


def test_a_flipped_byte_on_one_host_restores_from_the_other(hlab):
    b1, b2 = hlab.backup_hosts
    res = role(hlab)
    assert res.rc == 0, res.output()
    good, = attempts(res)
    before = Z.live_digest(hlab)["digest"]
    path = os.path.join(b1.path(Z.ROOT), hlab.name, good["backup_id"], good["archive"]["file"])
    with open(path, "r+b") as f:
        f.seek(good["archive"]["bytes"] // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    hlab.wipe_members()
    res = run_playbook(hlab, RESTORE, extra_vars={"zookeeper_restore_confirm": hlab.name,
                                                  "zookeeper_restore_timeout": 60,
                                                  "zookeeper_restore_backup_id": good["backup_id"]})
    assert res.rc == 0, res.output()
    plan = [r for r in res.records if r.get("action") == "zkops.zookeeper.zk_restore_plan"
            and r["status"] == "ok"][0]["result"]
    assert plan["backup_host"] == b2.ip and plan["sources"] == {good["backup_id"]: b2.ip}
    assert [(r["host"], r["backup_id"]) for r in plan["rejected"]] == [(b1.ip, good["backup_id"])]
    said = " ".join((res.stdout + res.stderr).split())
    assert "backup host %s: backup %s its copy fails verification" % (b1.ip, good["backup_id"]) in said, said
    # The restore's report says where the backup was read from and which copy failed.
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    assert summary["sources"] == {good["backup_id"]: b2.ip}
    assert [(r["host"], r["backup_id"]) for r in summary["rejected_copies"]] == [(b1.ip, good["backup_id"])]
    hlab.wait_quorum(timeout=60)
    assert Z.live_digest(hlab)["digest"] == before


def test_the_chunk_shipped_last_only_on_the_second_host_is_restored(hlab):
    b1, b2 = hlab.backup_hosts
    res = role(hlab)
    assert res.rc == 0, res.output()
    zk = Z.client(hlab)
    try:
        zk.create("/shipped-to-b2-only", b"kept")
    finally:
        zk.stop()
        zk.close()
    before = set(stored(hlab, b2))
    res = run_playbook(hlab, SHIP, extra_vars=EV)
    assert res.rc == 0, res.output()
    chunk, = [n for n in set(stored(hlab, b2)) - before if "-logs-" in n]
    assert chunk in stored(hlab, b1)
    digest = Z.live_digest(hlab)["digest"]
    # b1 missed the chunk: a plan made on b1 alone would restore the full backup only.
    shutil.rmtree(os.path.join(b1.path(Z.ROOT), hlab.name, chunk))
    hlab.wipe_members()
    res = run_playbook(hlab, RESTORE, extra_vars={"zookeeper_restore_confirm": hlab.name,
                                                  "zookeeper_restore_timeout": 60})
    assert res.rc == 0, res.output()
    plan = [r for r in res.records if r.get("action") == "zkops.zookeeper.zk_restore_plan"
            and r["status"] == "ok"][0]["result"]
    assert plan["plan"]["backup_ids"][-1] == chunk and plan["sources"][chunk] == b2.ip
    assert plan["plan"]["left_out"]["logs"] == [] and plan["plan"]["left_out"]["full_backups"] == []
    hlab.wait_quorum(timeout=60)
    zk = Z.client(hlab)
    try:
        assert zk.get("/shipped-to-b2-only")[0] == b"kept"
    finally:
        zk.stop()
        zk.close()
    assert Z.live_digest(hlab)["digest"] == digest
