"""zk_info, zk_quiesce and the tree export and import against each ZooKeeper release.

Per release (ZKOPS_ZK_VERSIONS picks them, as in test_versions.py):

* the four-letter words a member answers with every word whitelisted, and what zk_info
  makes of them: ZooKeeper 3.5's mntr has no peer state, quorum size, uptime or digest
  count, which zk_info names in not_learned with the release instead of leaving them null
  without a word;
* with zoo.cfg naming no whitelist (the release's default: srvr alone), zk_info learns
  from srvr and says what mntr and conf would have told, and zk_quiesce takes a follower
  out of service and back (process gone and ports closed, then serving at the leader's
  zxid);
* a tree with digest ACLs, binary data and unicode names, a container, a TTL znode,
  sequential znodes and ephemerals exported live (multiRead from 3.6; on 3.5 the probe
  sees UNIMPLEMENTED and the walk reads each znode singly, to the same digest; a forced
  multiRead fails saying so) and from a member's data files (the kinds exact), imported
  into the same release's ensemble emptied of its data, and compared: the digest computed
  from the tree's specification, plain kazoo reads, and the kinds replayed from the new
  data files.
"""
import json
import os
import random

import pytest
from kazoo.security import ACL, Id, make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from lab.ansible import run_playbook
from lab.lab import Lab, parse_srvr
from test_versions import VERSIONS, skip_unless_runnable
from zktree_helpers import WORLD, client, create_all, expected_digest, rand_data, read_sample, spec

pytestmark = pytest.mark.lab

OLD = "3.5.9"                   # the only release without multiRead and with the short mntr
MNTR_ABSENT_35 = ["digest_mismatches", "peer_state", "quorum_size", "uptime_ms"]

INFO = """
- hosts: zookeeper
  gather_facts: false
  tasks:
    - name: info
      zkops.zookeeper.zk_info:
"""


def name_of(prefix, version):
    return prefix + version.replace(".", "")


def multi_read_expected(version):
    return version != OLD


@pytest.fixture(scope="module", params=VERSIONS)
def ensemble(request):
    """A 3-member ensemble of the release, every four-letter word whitelisted."""
    version = request.param
    skip_unless_runnable(version)
    lab = Lab(name=name_of("cl", version), members=3, backups=0, zk_versions=version)
    lab.up()
    try:
        # A fresh ensemble's followers tell zxid 0 until the first write reaches them.
        zk = client(lab)
        try:
            for i in range(20):
                zk.create("/info/n%02d" % i, b"i", makepath=True)
        finally:
            zk.stop()
            zk.close()
        yield {"lab": lab, "version": version}
    finally:
        lab.down()


def words(host):
    return {w: host.four_letter(w) for w in ("srvr", "mntr", "conf", "isro", "ruok")}


def tab_lines(text):
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def test_four_letter_words_and_zk_info(ensemble):
    lab, version = ensemble["lab"], ensemble["version"]
    lab.wait_zxid_agree()
    truth = {}
    for h in lab.members:
        w = words(h)
        srvr, mntr = parse_srvr(w["srvr"]), tab_lines(w["mntr"])
        assert srvr["Zookeeper version"].startswith(version + "-")
        assert w["ruok"] == "imok" and w["isro"] == "rw"
        assert mntr["zk_version"].startswith(version + "-")
        assert mntr["zk_server_state"] == srvr["Mode"]
        assert "serverId=%d\n" % h.myid in w["conf"] and "membership:" in w["conf"]
        # What each release's mntr reports of the fields zk_info reads.
        has = {k for k in ("zk_peer_state", "zk_quorum_size", "zk_uptime",
                           "zk_digest_mismatches_count") if k in mntr}
        assert has == (set() if version == OLD else {"zk_peer_state", "zk_quorum_size",
                                                     "zk_uptime", "zk_digest_mismatches_count"})
        if srvr["Mode"] == "leader":
            assert mntr["zk_followers" if version == OLD else "zk_learners"] == "2"
            assert ("zk_synced_observers" in mntr) is (version != OLD)
        truth[h.myid] = (srvr, mntr)

    res = run_playbook(lab, INFO)
    assert res.rc == 0, res.output()
    for h in lab.members:
        r = res.result("info", h.name)
        assert r["ensemble"]["leader"] == lab.leader().myid
        for m in r["members"]:
            srvr, mntr = truth[m["id"]]
            assert m["version"] == version and m["mode"] == srvr["Mode"]
            assert m["learned_from"] == ["srvr", "mntr", "conf"]
            assert m["server_id"] == m["id"] and m["data_dir"] == "/var/lib/zookeeper"
            assert int(m["zxid"], 16) == srvr["zxid"]
            assert m["ephemerals_count"] == int(mntr["zk_ephemerals_count"])
            assert m["max_file_descriptors"] == int(mntr["zk_max_file_descriptor_count"])
            if m["mode"] == "leader":
                assert m["learners"] == 2 and m["synced_followers"] == 2
            if version == OLD:
                assert m["peer_state"] is m["quorum_size"] is m["uptime_ms"] is None
                assert m["digest_mismatches"] is None
                absent = MNTR_ABSENT_35 + (["synced_observers"] if m["mode"] == "leader" else [])
                assert m["not_learned"] == [{"source": "mntr", "fields": sorted(absent),
                                             "reason": "not reported by ZooKeeper 3.5.9"}]
            else:
                assert m["peer_state"].startswith(("leading", "following"))
                assert m["quorum_size"] == int(mntr["zk_quorum_size"])
                assert m["uptime_ms"] > 0 and m["digest_mismatches"] == 0
                assert m["not_learned"] == []
        if version == OLD:
            assert any(t.startswith("'mntr' (not reported by ZooKeeper 3.5.9) on ")
                       and t.endswith("unknown " + ", ".join(MNTR_ABSENT_35))
                       for t in r["not_learned"]), r["not_learned"]
        else:
            assert r["not_learned"] == []


def quiesce_play(host, state):
    return """
- hosts: %s
  gather_facts: false
  tasks:
    - name: %s
      zkops.zookeeper.zk_quiesce:
        state: %s
""" % (host, state, state)


@pytest.mark.parametrize("version", VERSIONS)
def test_release_default_whitelist_zk_info_and_quiesce(version):
    """zoo.cfg without 4lw.commands.whitelist: the release's default answers srvr alone."""
    skip_unless_runnable(version)
    lab = Lab(name=name_of("cq", version), members=3, backups=0, zk_versions=version,
              fourlw_whitelist=None)
    lab.up()
    try:
        lab.wait_quorum()
        with open(lab.members[0].path("/etc/zookeeper/conf/zoo.cfg")) as f:
            assert "4lw.commands.whitelist" not in f.read()
        for h in lab.members:
            w = words(h)
            assert parse_srvr(w["srvr"])["Zookeeper version"].startswith(version + "-")
            for word in ("mntr", "conf", "isro", "ruok"):
                assert "is not executed because it is not in the whitelist" in w[word], (word, w)

        res = run_playbook(lab, INFO)
        assert res.rc == 0, res.output()
        for h in lab.members:
            r = res.result("info", h.name)
            for m in r["members"]:
                assert m["learned_from"] == ["srvr"] and m["version"] == version
                assert [(n["source"], n["reason"]) for n in m["not_learned"]] == [
                    ("mntr", "not whitelisted"), ("conf", "not whitelisted")]
            assert any("'mntr' is not in 4lw.commands.whitelist" in t for t in r["not_learned"])
            # The membership and the directories come from the local zoo.cfg instead.
            assert r["ensemble"]["voter_count"] == 3 and r["ensemble"]["tolerance"] == 1
            assert r["member"]["data_dir"] == "/var/lib/zookeeper"

        f = lab.followers()[0]
        pid = f.zk_pid()
        res = run_playbook(lab, quiesce_play(f.name, "quiesced"))
        assert res.rc == 0, res.output()
        r = res.result("quiesced", f.name)
        assert r["changed"] and r["action"] == "stopped" and r["quorum"]["allowed"], r
        assert r["service_manager"] == "sysv"
        assert not f.zk_running() and f.srvr() == {}
        listening = f.sh("ss -Htln").stdout
        assert not any(":%d " % p in listening for p in (2181, 2888, 3888)), listening
        # The two left serve; a write goes in while the follower is out.
        zk = client(lab, hosts=",".join("%s:2181" % h.ip for h in lab.members if h is not f))
        try:
            zk.create("/while-quiesced", b"w")
        finally:
            zk.stop()
            zk.close()

        res = run_playbook(lab, quiesce_play(f.name, "serving"))
        assert res.rc == 0, res.output()
        r = res.result("serving", f.name)
        assert r["changed"] and r["action"] == "started", r
        assert r["after"]["state"] == "serving" and r["lag"] == 0
        assert r["leader"]["id"] == lab.leader().myid
        assert f.mode() == "follower" and f.zk_pid() not in (None, pid)
        assert f.srvr()["zxid"] == lab.leader().srvr()["zxid"]
        res = run_playbook(lab, quiesce_play(f.name, "serving"))
        assert res.rc == 0 and not res.result("serving", f.name)["changed"], res.output()
    finally:
        lab.down()


# --- the tree export and import ------------------------------------------------------
ALICE = make_digest_acl_credential("alice", "secret")
BOB = make_digest_acl_credential("bob", "pw")
ACL_ALICE = ((31, "digest", ALICE), (1, "world", "anyone"))
ACL_BOB_READS = ((31, "digest", ALICE), (1, "digest", BOB))
LOCKED = ((1, "world", "anyone"), (17, "digest", ALICE))     # no CREATE: its ACL goes last
AUTH = [("digest", "alice:secret")]
EPHEMERALS = 5
FILES_DEST = "/srv/vc.zktree.gz"


def build_specs():
    rng = random.Random(12)
    specs = [spec("/vc", b"tree of every release")]
    for i in range(8):
        parent = "/vc/p%d" % i
        specs.append(spec(parent, rand_data(rng, i), ACL_ALICE if i % 3 == 0 else WORLD))
        for j in range(250):
            acl = ACL_ALICE if j % 7 == 0 else ACL_BOB_READS if j % 11 == 0 else WORLD
            specs.append(spec("%s/n%03d" % (parent, j), rand_data(rng, j), acl))
    specs += [spec("/vc/\u00fcn\u00efc\u00f6d\u00e9", "\u00e9t\u00e9 \u2603".encode("utf-8")),
              spec("/vc/\u00fcn\u00efc\u00f6d\u00e9/\u65e5\u672c", b"\xff\x00\xfe"),
              spec("/vc/big", bytes(range(256)) * 2000),
              spec("/vc/locked", b"locked", LOCKED),
              spec("/vc/locked/c0", b"c", LOCKED),
              spec("/vc/cont", b"container", ACL_ALICE, kind=td.CONTAINER),
              spec("/vc/cont/child", b"x"),
              spec("/vc/ttl", b"ttl", kind=td.TTL, ttl=3600000),
              spec("/vc/ttl/child", b"y", ACL_BOB_READS),
              spec("/vc/queue"), spec("/vc/eph")]
    return specs


def build(lab):
    """The tree; returns (specs, holder session of the ephemerals)."""
    specs = build_specs()
    zk = client(lab, AUTH)
    try:
        create_all(zk, [s._replace(acl=WORLD) if s.path == "/vc/locked" else s for s in specs])
        zk.set_acls("/vc/locked", [ACL(p, Id(s, i)) for p, s, i in LOCKED])
        made = [zk.create("/vc/queue/job-", b"job %d" % i, sequence=True) for i in range(12)]
        for p in made[:9]:
            if int(p[-10:]) % 4:
                zk.delete(p)
        kept = [p for p in made if zk.exists(p)]
        specs += [spec(p, b"job %d" % int(p[-10:])) for p in kept]
    finally:
        zk.stop()
        zk.close()
    holder = client(lab)
    for i in range(EPHEMERALS):
        holder.create("/vc/eph/e%d" % i, b"session", ephemeral=True)
    return specs, kept, holder


def export_play(lab, dest, forced):
    live = dict(hosts=lab.connect_string, root="/vc", dest=dest,
                auth=[{"credential": "alice:secret"}])
    forced_args = dict(live, dest=dest + ".forced", multi_read=True)
    files = dict(source="files", root="/vc", dest=FILES_DEST)
    return ("- hosts: localhost\n  gather_facts: false\n"
            "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
            "  tasks:\n"
            "    - name: live\n      zkops.zookeeper.zk_tree_export: %s\n"
            "    - name: forced\n      zkops.zookeeper.zk_tree_export: %s\n"
            "      ignore_errors: %s\n"
            "- hosts: zk1\n  gather_facts: false\n  tasks:\n"
            "    - name: files\n      zkops.zookeeper.zk_tree_export: %s\n"
            % (json.dumps(live), json.dumps(forced_args), "true" if forced else "false",
               json.dumps(files)))


def import_play(lab, src):
    args = dict(hosts=lab.connect_string, src=src, mode="replace",
                auth=[{"credential": "alice:secret"}])
    return ("- hosts: localhost\n  gather_facts: false\n"
            "  vars:\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
            "  tasks:\n    - name: import\n      zkops.zookeeper.zk_tree_import: %s\n"
            % json.dumps(args))


def files_kinds(lab):
    """The files export of zk1's data after the import: its typed digest (the kinds
    replayed from the data files the release wrote)."""
    res = run_playbook(lab, "- hosts: zk1\n  gather_facts: false\n  tasks:\n"
                       "    - name: files\n      zkops.zookeeper.zk_tree_export: %s\n"
                       % json.dumps(dict(source="files", root="/vc", dest=FILES_DEST + ".after")))
    assert res.rc == 0, res.output()
    return res.result("files", "zk1")


def test_tree_export_and_import_on_an_empty_ensemble(ensemble, tmp_path):
    lab, version = ensemble["lab"], ensemble["version"]
    specs, seq, holder = build(lab)
    try:
        want = expected_digest(specs, "/vc")
        assert want["typed_digest"] != want["digest"]
        lab.wait_zxid_agree()
        dest = str(tmp_path / "live.zktree.gz")
        res = run_playbook(lab, export_play(lab, dest, forced=version == OLD))
        assert res.rc == 0, res.output()
    finally:
        holder.stop()
        holder.close()

    live, forced, files = res.result("live"), res.result("forced"), res.result("files", "zk1")
    for r in (live, files):
        assert r["changed"] and r["count"] == len(specs)
        assert r["digest"] == want["digest"]
        assert r["ephemeral_skipped"] == EPHEMERALS and r["sequential"] == len(seq)
    walk = live["walk"]
    assert walk["multi_read"] is multi_read_expected(version)
    assert walk["lost_sessions"] == 0 and live["modified_during_export"] == 0
    if version == OLD:
        assert "answered UNIMPLEMENTED" in walk["multi_read_note"]
        assert walk["requests"] > 3 * len(specs)         # getACL, getData, getChildren each
        assert res.tasks("forced")[0]["status"] == "ignored", forced
        assert "does not know multiRead" in forced["msg"] and "nothing was written" in forced["msg"]
        assert not os.path.exists(dest + ".forced")
    else:
        assert walk["multi_read_note"].endswith("answered multiRead")
        assert walk["requests"] < 2 * len(specs)
        assert forced["digest"] == want["digest"] and forced["walk"]["multi_read"] is True
    assert not live["kinds_exact"] and live["typed_digest"] is None
    assert files["kinds_exact"] and files["typed_digest"] == want["typed_digest"]

    # The files export (the kinds exact) into the same release's ensemble, its data lost.
    src = lab.members[0].path(FILES_DEST)
    lab.wipe_members()
    zk = client(lab, AUTH)
    try:
        assert zk.get_children("/") == ["zookeeper"]
        res = run_playbook(lab, import_play(lab, src))
        assert res.rc == 0, res.output()
        r = res.result("import")
        assert r["changed"] and r["verified"] and r["digest_match"], r
        assert r["counts"]["create"] == len(specs) and r["counts"]["deferred_acl"] >= 1
        assert r["after"]["digest"] == want["digest"] and "kinds_note" not in r
        got = read_sample(zk, [s.path for s in specs])
        for s in specs:
            assert got[s.path] == (s.data or b"", tuple(sorted(s.acl))), s.path
        # Later sequential creates continue past the restored suffixes.
        nxt = zk.create("/vc/queue/job-", b"", sequence=True)
        assert int(nxt[-10:]) >= 12
        zk.delete(nxt)
        lab.wait_zxid_agree()
        after = files_kinds(lab)
        assert after["typed_digest"] == want["typed_digest"] and after["count"] == len(specs)
    finally:
        zk.stop()
        zk.close()

    # The live export (kinds not known): the same tree, containers and TTL znodes as
    # persistent ones, and the import says so.
    lab.wipe_members()
    res = run_playbook(lab, import_play(lab, dest))
    assert res.rc == 0, res.output()
    r = res.result("import")
    assert r["changed"] and r["verified"] and r["digest_match"], r
    assert r["after"]["digest"] == want["digest"] and "persistent" in r["kinds_note"]
    lab.wait_zxid_agree()
    plain = [s._replace(kind=td.PERSISTENT, ttl=0) for s in specs]
    assert files_kinds(lab)["typed_digest"] == expected_digest(plain, "/vc")["typed_digest"]
