"""The lab itself: real hosts, strict SSH, and every fault helper does what it says."""
import os
import pathlib
import subprocess
import time

import pytest
from kazoo.client import KazooClient

from lab.lab import pid_alive

pytestmark = pytest.mark.lab


def test_hosts_are_separate_machines(lab3):
    names = {h.name: h.exec("hostname").stdout.strip() for h in lab3.hosts.values()}
    assert names == {n: n for n in lab3.hosts}
    # Each member has its own data directory and its own myid behind the symlink.
    for h in lab3.members:
        assert h.exec("cat", "/var/lib/zookeeper/myid").stdout.strip() == str(h.myid)
    # No default route: nothing leaves the lab subnet.
    routes = lab3.members[0].exec("ip", "route").stdout
    assert "default" not in routes
    assert lab3.status()
    modes = sorted(lab3.wait_quorum().values())
    assert modes == ["follower", "follower", "leader"]


def test_ansible_reaches_every_host_with_strict_host_keys(lab3, playbook):
    res = playbook("""
- hosts: all
  gather_facts: false
  tasks:
    - name: ping
      ansible.builtin.ping:
""")
    assert res.rc == 0, res.output()
    assert set(res.results("ping")) == set(lab3.hosts)


def test_wrong_host_key_is_refused(lab3, tmp_path):
    kh = tmp_path / "known_hosts"
    lines = pathlib.Path(lab3.known_hosts).read_text().splitlines()
    # Give zk1 the key of zk2.
    k2 = [line for line in lines if line.startswith("zk2,")][0].split(" ", 1)[1]
    kh.write_text("\n".join(("zk1,%s %s" % (lab3.hosts["zk1"].ip, k2)
                             if line.startswith("zk1,") else line) for line in lines) + "\n")
    p = subprocess.run(["ssh", "-o", "UserKnownHostsFile=%s" % kh, "-o", "StrictHostKeyChecking=yes",
                        "-o", "BatchMode=yes", "-i", os.path.join(lab3.dir, "id_ed25519"),
                        "root@" + lab3.hosts["zk1"].ip, "true"], capture_output=True, text=True,
                       check=False)
    assert p.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in p.stderr or "verification failed" in p.stderr


def test_kill_and_restart_member(lab3):
    h = lab3.followers()[0]
    h.kill_zk()
    assert h.srvr() == {}
    h.start_zk()
    lab3.wait_quorum()
    assert h.mode() == "follower"


def test_cut_off_and_quorum_block(lab3):
    f = lab3.followers()[0]
    others = ",".join("%s:%d" % (h.ip, lab3.client_port) for h in lab3.members if h is not f)
    zk = KazooClient(hosts=others, timeout=5)
    zk.start()
    try:
        f.cut_off()
        try:
            assert not f.port_open(lab3.client_port)
            zk.ensure_path("/lab-test/cut")        # two members still form a quorum
        finally:
            f.reconnect()
        lab3.wait_quorum(timeout=40)
        f2 = lab3.followers()[0]
        f2.block_quorum()
        try:
            # The client port still answers, but the member leaves the ensemble.
            deadline = time.time() + 40
            while time.time() < deadline and f2.mode() == "follower":
                time.sleep(0.2)
            assert f2.mode() != "follower"
            assert f2.port_open(lab3.client_port)
        finally:
            f2.unblock_quorum()
        lab3.wait_quorum(timeout=40)
        zk.delete("/lab-test", recursive=True)
    finally:
        zk.stop()
        zk.close()


def test_power_off_and_boot(lab3):
    h = lab3.followers()[0]
    h.power_off()
    assert not h.running()
    assert not h.port_open(22)
    h.boot()
    lab3.wait_quorum()
    assert h.mode() == "follower"


def test_small_disk_fills(lab3):
    b = lab3.backup_hosts[0]
    b.small_disk("/srv/backups", size="256k", fill=True)
    try:
        r = b.sh("dd if=/dev/zero of=/srv/backups/f bs=1k count=4", check=False)
        assert r.returncode != 0 and "No space left" in r.stderr
    finally:
        b.release_disk("/srv/backups")
    assert b.sh("echo x > /srv/backups/f && rm /srv/backups/f", check=False).returncode == 0


def test_teardown_leaves_nothing(make_lab):
    lab = make_lab(members=3, backups=0, separate_datalog=True, client_port=2281,
                   snap_count=100, snapshot_compression="gz")
    assert lab.members[0].srvr()["Mode"] in ("leader", "follower")
    cfg = lab.members[0].exec("cat", "/etc/zookeeper/conf/zoo.cfg").stdout
    assert "dataLogDir=/srv/zookeeper-txnlog" in cfg and "clientPort=2281" in cfg
    pids = [h.init_pid for h in lab.hosts.values()]
    lab.down()
    assert not any(pid_alive(p) for p in pids)
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                        check=False).stdout
    assert not {h.netns for h in lab.hosts.values()} & {line.split()[0] for line in ns.splitlines() if line.strip()}
    assert not os.path.exists(lab.dir)


def test_five_members(make_lab):
    lab = make_lab(members=5, backups=0)
    modes = sorted(lab.wait_quorum().values())
    assert modes == ["follower"] * 4 + ["leader"]
