"""Round trip of a tree of more than 100k znodes: export, wipe, import, compare.

The tree holds persistent, ephemeral, container, TTL and sequential znodes, binary and
UTF-8 data, values near 1 MB, a children list near jute.maxbuffer, digest and world
ACLs, and a parent whose ACL forbids creating its children.  The expected digest is
computed from the specification of the tree, not from what the modules read.
"""
import random

import pytest
from kazoo.security import ACL, Id, make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp
from zktree_helpers import (WORLD, client, create_all, delete_paths, expected_digest,
                            node_count, rand_data, random_bytes, read_sample, spec)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ALICE = make_digest_acl_credential("alice", "secret")
BOB = make_digest_acl_credential("bob", "pw")
ACL_ALICE = ((31, "digest", ALICE), (1, "world", "anyone"))
ACL_BOB_READS = ((31, "digest", ALICE), (1, "digest", BOB))
# Alice may read and administer, not create: the import must set this ACL last.
LOCKED = ((1, "world", "anyone"), (17, "digest", ALICE))
AUTH = [("digest", "alice:secret")]
WIDE = 26000
BIG = {"/rt/big/v0": 1048000, "/rt/big/v1": 1000000, "/rt/big/v2": 524288}


def build_specs():
    rng = random.Random(6)
    specs = [spec("/rt", b"root of the round trip")]
    for i in range(75):
        parent = "/rt/p%03d" % i
        specs.append(spec(parent, rand_data(rng, i), ACL_ALICE if i % 5 == 0 else WORLD))
        for j in range(999):
            acl = ACL_ALICE if j % 7 == 0 else ACL_BOB_READS if j % 11 == 0 else WORLD
            specs.append(spec("%s/n%04d" % (parent, j), rand_data(rng, j), acl))
    specs.append(spec("/rt/wide"))
    specs += [spec("/rt/wide/wide-child-with-a-long-name-%06d" % i, b"w")
              for i in range(WIDE)]
    specs.append(spec("/rt/big"))
    specs += [spec(p, random_bytes(n, n)) for p, n in sorted(BIG.items())]
    specs += [spec("/rt/\u00fcn\u00efc\u00f6d\u00e9", "\u00e9t\u00e9 \u2603".encode("utf-8")),
              spec("/rt/\u00fcn\u00efc\u00f6d\u00e9/\u65e5\u672c\u8a9e", b"\xff\x00\xfe")]
    # A parent whose ACL forbids creating children: its ACL must come last.
    specs.append(spec("/rt/locked", b"locked", LOCKED))
    specs += [spec("/rt/locked/c%d" % i, b"c", LOCKED) for i in range(3)]
    specs += [spec("/rt/cont", b"container", kind=td.CONTAINER),
              spec("/rt/cont/child", b"x"),
              spec("/rt/ttl", b"ttl", kind=td.TTL, ttl=3600000),
              spec("/rt/queue"), spec("/rt/deep-queue"), spec("/rt/eph"), spec("/rt/locks")]
    return specs


def sequential_nodes(zk):
    """Sequential children with gaps; returns their specs."""
    made = [zk.create("/rt/queue/job-", b"job %d" % i, sequence=True) for i in range(50)]
    keep = [p for p in made if int(p[-10:]) >= 45 or int(p[-10:]) in (10, 20, 30)]
    delete_paths(zk, [p for p in made if p not in keep])
    # Push a counter to 3000 with one survivor at the end.
    last = "/rt/deep-queue/d-0000002999"
    for _round in range(6):
        res = zp.call(zk, zp.Multi([zp.Create("/rt/deep-queue/d-", b"", WORLD, zp.FLAG_SEQUENTIAL)
                                    for _i in range(500)]))
        delete_paths(zk, [p for p in res if p != last])
    return [spec(p, b"job %d" % int(p[-10:])) for p in keep] + [spec(last, b"")]


def test_round_trip_of_100k_znodes(lab3, playbook, tmp_path):
    zk = client(lab3, AUTH)
    holder = client(lab3)
    try:
        specs = build_specs()
        # /rt/locked forbids creating children: create them first, then lock it.
        create_all(zk, [s._replace(acl=WORLD) if s.path == "/rt/locked" else s for s in specs])
        zk.set_acls("/rt/locked", [ACL(p, Id(s, i)) for p, s, i in LOCKED])
        seq = sequential_nodes(zk)
        specs += seq
        for i in range(10):
            holder.create("/rt/eph/e%d" % i, b"session", ephemeral=True)
        for i in range(5):
            holder.create("/rt/locks/lock-", b"", ephemeral=True, sequence=True)
        want = expected_digest(specs, "/rt")
        assert want["count"] == len(specs) > 100000
        total_before = node_count(lab3)

        export = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: export
      zkops.zookeeper.zk_tree_export:
        hosts: "%s"
        root: /rt
        dest: "{{ dest }}"
        auth:
          - credential: alice:secret
"""
        res = playbook(export % lab3.connect_string, extra_vars={"dest": str(tmp_path / "a.gz")})
        assert res.rc == 0, res.output()
        r = res.result("export")
        print("export playbook %.1f s, walk %.2f s" % (res.duration, r["walk"]["seconds"]))
        assert r["changed"] and r["count"] == len(specs)
        assert r["digest"] == want["digest"]
        assert r["typed_digest"] is None and r["kinds_exact"] is False and r["kinds_note"]
        assert r["ephemeral_skipped"] == 15 and r["ephemeral_kept"] == 0
        assert r["sequential"] == len(seq)
        assert r["modified_during_export"] == 0 and r["vanished"] == 0
        assert r["walk"]["multi_read"] is True
        assert "alice:secret" not in res.stdout + res.stderr

        holder.stop()
        holder.close()
        zk.set_acls("/rt/locked", [ACL(31, Id("world", "anyone"))])
        delete_paths(zk, [s.path for s in specs])
        assert zk.exists("/rt") is None

        imp = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: import
      zkops.zookeeper.zk_tree_import:
        hosts: "%s"
        src: "{{ src }}"
        mode: replace
        auth:
          - credential: alice:secret
"""
        res = playbook(imp % lab3.connect_string, extra_vars={"src": str(tmp_path / "a.gz")},
                       diff=True)
        assert res.rc == 0, res.output()
        r = res.result("import")
        assert r["changed"] and r["verified"] and r["digest_match"]
        assert r["counts"]["create"] == len(specs)
        assert r["counts"]["sequence_parents"] == 2
        assert r["counts"]["deferred_acl"] >= 1
        assert r["after"]["digest"] == want["digest"]
        assert r["kinds_note"]
        assert "+ /rt" in r["diff"]["prepared"]
        print("import playbook %.1f s; writes of %d znodes: %.2f s (%.0f/s) %s" % (
            res.duration, len(specs), r["import_seconds"], len(specs) / r["import_seconds"],
            r["applied"]))

        # Nothing more and nothing less: the ephemerals went with their session, and no
        # placeholder of the sequence counters was left behind.
        assert node_count(lab3) == total_before - 15

        # Read back independently of the modules: every special znode and a sample.
        rng = random.Random(1)
        check = [s for s in specs if not s.path.startswith("/rt/p")] + rng.sample(specs, 2000)
        got = read_sample(zk, [s.path for s in check])
        for s in check:
            assert got[s.path] == (s.data or b"", tuple(sorted(s.acl))), s.path
        assert len(zk.get_children("/rt/wide")) == WIDE

        # Later sequential creates continue past the restored suffixes.
        nxt = zk.create("/rt/queue/job-", b"", sequence=True)
        assert int(nxt[-10:]) > 49
        zk.delete(nxt)
        nxt = zk.create("/rt/deep-queue/d-", b"", sequence=True)
        assert int(nxt[-10:]) == 3000
        zk.delete(nxt)

        # A second run with the same export has nothing to do.
        res = playbook(imp % lab3.connect_string, extra_vars={"src": str(tmp_path / "a.gz")})
        assert res.rc == 0, res.output()
        r = res.result("import")
        assert not r["changed"] and r["counts"]["unchanged"] == len(specs)
    finally:
        holder.stop()
        holder.close()
        zk.stop()
        zk.close()
