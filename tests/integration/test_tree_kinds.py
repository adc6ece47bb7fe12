"""An export that knows the kinds (container, TTL) recreates them as such.

A running server shows container and TTL znodes as persistent ones, so the check reads
the kinds where the server keeps them: in a snapshot, dumped by ZooKeeper's own
SnapshotFormatter.  The typed digest computed from that dump plus what clients read must
equal the typed digest of the export.
"""
import glob
import os
import subprocess
import time

import pytest
from kazoo.security import make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from lab.ansible import run_playbook
from lab.lab import ZK_JARS
from zktree_helpers import WORLD, client, read_sample

pytestmark = pytest.mark.lab

ALICE = make_digest_acl_credential("alice", "secret")
MIXED = ((31, "digest", ALICE), (1, "world", "anyone"))
CONTAINER_OWNER = -(1 << 63)
TTL_BITS = (1 << 40) - 1

NODES = [
    ("/k", b"kinds", WORLD, td.PERSISTENT, 0, 0),
    ("/k/cont", b"container", MIXED, td.CONTAINER, 0, 0),
    ("/k/cont/child", b"c", WORLD, td.PERSISTENT, 0, 0),
    ("/k/never-used", b"", WORLD, td.CONTAINER, 0, 0),
    ("/k/ttl", "\u23f3".encode("utf-8"), WORLD, td.TTL, 3600000, 0),
    ("/k/ttl/child", b"\x00\x01", MIXED, td.PERSISTENT, 0, 0),
    ("/k/ttl-long", b"", WORLD, td.TTL, 86400000 * 30, 0),
    ("/k/q", b"", WORLD, td.CONTAINER, 0, 0),
    ("/k/q/job-0000000007", b"7", WORLD, td.TTL, 7200000, tf.SEQUENTIAL),
]


def write_export(path):
    with open(path, "wb") as f:
        w = tf.TreeWriter(f, {"root": "/k", "exclude": ["/zookeeper"],
                              "ephemeral_policy": "skip", "source": {"type": "test"}},
                          kinds_exact=True)
        for p, data, acl, kind, ttl, flags in NODES:
            w.add(p, data, acl, kind, ttl, flags)
        return w.finish()


def snapshot_kinds(lab, newer_than):
    """{path: (kind, ttl)} from the newest snapshot of the (only) member."""
    pattern = os.path.join(lab.members[0].path("/var/lib/zookeeper"), "version-2", "snapshot.*")
    deadline = time.time() + 30
    snaps = []
    while time.time() < deadline:
        snaps = [s for s in glob.glob(pattern) if os.path.getmtime(s) >= newer_than]
        if snaps:
            break
        time.sleep(0.2)
    assert snaps, "no snapshot was taken"
    newest = max(snaps, key=os.path.getmtime)
    time.sleep(0.5)   # let the server finish writing it
    out = subprocess.run(["java", "-cp", ":".join(ZK_JARS),
                          "org.apache.zookeeper.server.SnapshotFormatter", newest],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    kinds = {}
    path = None
    for line in out.splitlines():
        if line.startswith("/"):
            path = line.strip()
        elif line.strip().startswith("ephemeralOwner = ") and path:
            owner = int(line.split("=")[1].strip(), 16)
            owner = owner - (1 << 64) if owner >= 1 << 63 else owner
            if owner == CONTAINER_OWNER:
                kinds[path] = (td.CONTAINER, 0)
            elif (owner >> 56) & 0xff == 0xff:
                kinds[path] = (td.TTL, owner & TTL_BITS)
            elif owner:
                kinds[path] = (td.EPHEMERAL, 0)
            else:
                kinds[path] = (td.PERSISTENT, 0)
    return kinds


def test_container_and_ttl_are_recreated(make_lab, tmp_path):
    lab = make_lab(members=1, backups=0, snap_count=10)
    src = str(tmp_path / "kinds.zktree.gz")
    trailer = write_export(src)
    assert trailer["typed_digest"] and trailer["typed_digest"] != trailer["digest"]
    play = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: import
      zkops.zookeeper.zk_tree_import:
        hosts: "%s"
        src: "%s"
        auth:
          - credential: alice:secret
""" % (lab.connect_string, src)
    started = time.time() - 1
    res = run_playbook(lab, play)
    assert res.rc == 0, res.output()
    r = res.result("import")
    assert r["changed"] and r["verified"] and r["digest_match"]
    assert r["export"]["kinds_exact"] and "kinds_note" not in r
    assert r["counts"]["sequence_parents"] == 1

    zk = client(lab, [("digest", "alice:secret")])
    try:
        # Enough transactions for the member to write a snapshot.
        for i in range(30):
            zk.create("/snap-trigger-%d" % i)
        kinds = snapshot_kinds(lab, started)
        got = read_sample(zk, [n[0] for n in NODES])
        typed = td.TreeDigest(typed=True)
        for p, _data, _acl, kind, ttl, _flags in NODES:
            assert kinds[p] == (kind, ttl), p
            data, acl = got[p]
            typed.add(p, data, acl, *kinds[p])
        assert typed.result()["typed_digest"] == trailer["typed_digest"]

        nxt = zk.create("/k/q/job-", b"", sequence=True, ephemeral=True)
        assert int(nxt[-10:]) >= 8
    finally:
        zk.stop()
        zk.close()

    res = run_playbook(lab, play)
    assert res.rc == 0 and not res.result("import")["changed"], res.output()
