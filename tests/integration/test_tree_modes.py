"""zk_tree_import modes, check mode, repeat runs, and the errors that change nothing.

The modules run on a member (Debian's python3 and kazoo 2.8), reading and writing files
in the member's own /tmp.
"""
import io
import json

import pytest
from kazoo.security import ACL, Id, make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tree_format
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zk_pipeline
from zktree_helpers import client, create_all, expected_digest, spec, wipe

pytestmark = pytest.mark.lab

ALICE = make_digest_acl_credential("alice", "secret")
BOB = make_digest_acl_credential("bob", "pw")
ACL_ALICE = ((31, "digest", ALICE),)
AUTH = [("digest", "alice:secret")]


def state(zk, root):
    """{path: (data, sorted ACL, ephemeral)} of a small subtree, read with plain kazoo."""
    out = {}

    def visit(path):
        data, stat = zk.get(path)
        acl = tuple(sorted((a.perms, a.id.scheme, a.id.id) for a in zk.get_acls(path)[0]))
        out[path] = (data or b"", acl, stat.ephemeralOwner != 0)
        for c in zk.get_children(path):
            visit(path.rstrip("/") + "/" + c)
    if zk.exists(root):
        visit(root)
    return out


def task(module, name, **args):
    args.setdefault("hosts", "{{ zk_hosts }}")
    body = json.dumps(args)
    return "    - name: %s\n      zkops.zookeeper.%s: %s\n      ignore_errors: true\n" % (
        name, module, body)


def play(*tasks):
    return "- hosts: zk1\n  gather_facts: false\n  tasks:\n" + "".join(tasks)


@pytest.fixture
def tree(lab3):
    zk = client(lab3, AUTH)
    holder = client(lab3)
    wipe(zk, "/m")
    create_all(zk, [spec("/m", b"m"), spec("/m/a", b"a"), spec("/m/b", b"b", ACL_ALICE),
                    spec("/m/c", b"c"), spec("/m/c/d", "d\u00e9".encode("utf-8")),
                    spec("/m/seq")])
    for i in range(3):
        zk.create("/m/seq/job-", b"%d" % i, sequence=True)
    yield zk, holder
    holder.stop()
    holder.close()
    wipe(zk, "/m")
    zk.stop()
    zk.close()


def failed(res, name):
    return res.tasks(name, "zk1")[0]["status"] in ("failed", "ignored")


def run(playbook, lab3, text, **kw):
    res = playbook(text, extra_vars={"zk_hosts": lab3.connect_string}, **kw)
    assert not res.stderr.count("Traceback"), res.output()
    return res


def test_modes_check_mode_and_repeat_runs(lab3, playbook, tree):
    zk, holder = tree
    auth = [{"credential": "alice:secret"}]
    res = run(playbook, lab3, play(task("zk_tree_export", "export", root="/m",
                                        dest="/tmp/m.zktree.gz", auth=auth)))
    r = res.result("export", "zk1")
    assert r["changed"] and r["count"] == 9 and r["sequential"] == 3, r
    original = state(zk, "/m")

    # Drift: data, ACL, a deleted znode, extra znodes, and a live session's ephemeral.
    zk.set("/m/a", b"A2")
    zk.set_acls("/m/b", [ACL(31, Id("world", "anyone"))])
    zk.delete("/m/c/d")
    zk.create("/m/extra/x", b"x", makepath=True)
    holder.create("/m/eph", b"e", ephemeral=True)
    drifted = state(zk, "/m")

    imp = dict(src="/tmp/m.zktree.gz", auth=auth)
    res = run(playbook, lab3, play(task("zk_tree_import", "merge", mode="merge", **imp),
                                   task("zk_tree_import", "replace", mode="replace", **imp),
                                   task("zk_tree_import", "missing", mode="missing_only", **imp)),
              check=True, diff=True)
    merge, replace, missing = (res.result(n, "zk1") for n in ("merge", "replace", "missing"))
    assert merge["changed"] and replace["changed"] and missing["changed"]
    assert (merge["counts"]["create"], merge["counts"]["update"], merge["counts"]["delete"]) \
        == (1, 2, 0)
    assert merge["sample"]["create"] == ["/m/c/d"]
    assert merge["sample"]["update"] == ["/m/a", "/m/b"]
    assert "+ /m/c/d" in merge["diff"]["prepared"] and "~ /m/a" in merge["diff"]["prepared"]
    assert replace["sample"]["delete"] == ["/m/extra/x", "/m/extra"]
    assert replace["counts"]["ephemeral_left"] == 1
    assert (missing["counts"]["create"], missing["counts"]["update"]) == (1, 0)
    assert state(zk, "/m") == drifted, "check mode changed the tree"

    # missing_only: only /m/c/d comes back.
    res = run(playbook, lab3, play(task("zk_tree_import", "missing", mode="missing_only", **imp),
                                   task("zk_tree_import", "again", mode="missing_only", **imp)))
    assert res.result("missing", "zk1")["changed"]
    assert not res.result("again", "zk1")["changed"]
    now = state(zk, "/m")
    assert now["/m/c/d"] == original["/m/c/d"]
    assert now["/m/a"] == drifted["/m/a"] and now["/m/b"] == drifted["/m/b"]

    # merge: data and ACL come back; the extra znodes stay.
    res = run(playbook, lab3, play(task("zk_tree_import", "merge", mode="merge", **imp),
                                   task("zk_tree_import", "again", mode="merge", **imp)))
    r = res.result("merge", "zk1")
    assert r["changed"] and r["verified"] and not r["digest_match"]
    assert not res.result("again", "zk1")["changed"]
    now = state(zk, "/m")
    assert now["/m/a"] == original["/m/a"] and now["/m/b"] == original["/m/b"]
    assert "/m/extra/x" in now

    # replace: the extras go, the live session's ephemeral stays.
    res = run(playbook, lab3, play(task("zk_tree_import", "replace", mode="replace", **imp),
                                   task("zk_tree_import", "again", mode="replace", **imp)))
    r = res.result("replace", "zk1")
    assert r["changed"] and r["verified"] and r["digest_match"], r
    assert r["applied"]["delete"] == 2
    assert not res.result("again", "zk1")["changed"]
    now = state(zk, "/m")
    assert now.pop("/m/eph")[2] is True
    assert now == original


def test_errors_are_clear_and_change_nothing(lab3, playbook, tree):
    zk, holder = tree
    alice = [{"credential": "alice:secret"}]
    wrong = [{"credential": "alice:wrong"}]
    zk1 = lab3.hosts["zk1"]
    # A znode whose digest ACL alice may read but not administer.
    zk.create("/m/masked", b"", acl=[ACL(1, Id("world", "anyone")), ACL(31, Id("digest", BOB))])
    nohost = zk1.ip.rsplit(".", 1)[0] + ".99:2181"      # no host has this address
    res = run(playbook, lab3, play(
        task("zk_tree_export", "good", root="/m/c", dest="/tmp/c.zktree.gz", auth=alice),
        task("zk_tree_export", "full", root="/m", dest="/tmp/full.zktree.gz", auth=alice,
             exclude=["/m/masked"]),
        task("zk_tree_export", "wrong", root="/m", dest="/tmp/wrong.zktree.gz", auth=wrong,
             exclude=["/m/masked"]),
        task("zk_tree_export", "masked", root="/m", dest="/tmp/masked.zktree.gz", auth=alice),
        task("zk_tree_export", "both", root="/m", dest="/tmp/both.zktree.gz",
             auth=alice + [{"credential": "bob:pw"}]),
        task("zk_tree_export", "missing", root="/nope", dest="/tmp/nope.zktree.gz"),
        task("zk_tree_export", "refused", hosts="%s:2999" % zk1.ip, connect_timeout=2,
             dest="/tmp/refused.zktree.gz"),
        task("zk_tree_export", "scheme", root="/m/c", dest="/tmp/scheme.zktree.gz",
             auth=[{"scheme": "nosuch", "credential": "x"}]),
        task("zk_tree_export", "nohost", hosts=nohost, connect_timeout=2,
             dest="/tmp/nohost.zktree.gz"),
    ))
    assert res.result("good", "zk1")["changed"]
    assert res.result("full", "zk1")["changed"]
    # With bob's identity as well, the digest ACL bob administers can be exported.
    both = res.result("both", "zk1")
    assert both["changed"] and both["count"] == res.result("full", "zk1")["count"] + 1
    msg = {n: res.result(n, "zk1").get("msg", "") for n in
           ("wrong", "masked", "missing", "refused", "scheme", "nohost")}
    for n in msg:
        assert failed(res, n), (n, res.tasks(n, "zk1"))
    assert "not authorised to read /m/b" in msg["wrong"]
    assert "hid the digest ACL of /m/masked" in msg["masked"] and "ADMIN" in msg["masked"]
    assert "the root /nope does not exist" in msg["missing"]
    assert "connection refused" in msg["refused"] and "%s:2999" % zk1.ip in msg["refused"]
    assert "authentication failed" in msg["scheme"]
    assert "unreachable" in msg["nohost"] and nohost in msg["nohost"], msg["nohost"]
    for n in ("wrong", "masked", "nope", "refused", "scheme", "nohost"):
        assert not zk1.sh("ls /tmp/%s.zktree.gz" % n, check=False).returncode == 0, n
    for secret in ("alice:secret", "alice:wrong", "bob:pw"):
        assert secret not in res.stdout + res.stderr

    # An export whose parent is gone, a truncated export.
    zk1.sh("head -c 300 /tmp/full.zktree.gz > /tmp/cut.zktree.gz")
    zk.delete("/m/masked")
    zk.set("/m/a", b"drift")
    zk.create("/m2/sub/x", b"", makepath=True)
    res = run(playbook, lab3, play(task("zk_tree_export", "sub", root="/m2/sub",
                                        dest="/tmp/sub.zktree.gz")))
    assert res.result("sub", "zk1")["changed"]
    wipe(zk, "/m2")
    before = state(zk, "/m")

    res = run(playbook, lab3, play(
        task("zk_tree_import", "wrong", src="/tmp/full.zktree.gz", auth=wrong, mode="replace"),
        task("zk_tree_import", "cut", src="/tmp/cut.zktree.gz", auth=alice),
        task("zk_tree_import", "outside", src="/tmp/c.zktree.gz", root="/m/a", auth=alice),
        task("zk_tree_import", "noparent", src="/tmp/sub.zktree.gz", auth=alice),
        task("zk_tree_import", "refused", hosts="%s:2999" % zk1.ip, connect_timeout=2,
             src="/tmp/full.zktree.gz"),
        task("zk_tree_import", "absent", src="/tmp/absent.zktree.gz"),
    ))
    msg = {}
    for n in ("wrong", "cut", "outside", "noparent", "refused", "absent"):
        r = res.result(n, "zk1")
        assert failed(res, n) and not r["changed"], (n, r)
        msg[n] = r["msg"]
    assert "does not match" in msg["wrong"] and "alice" in msg["wrong"]
    assert "truncated" in msg["cut"]
    assert "not inside the export" in msg["outside"]
    assert "parent /m2" in msg["noparent"]
    assert "connection refused" in msg["refused"]
    assert "cannot read the export" in msg["absent"]
    assert state(zk, "/m") == before
    assert zk.exists("/m2") is None


def test_ephemeral_policy_and_chroot(lab3, playbook, tree):
    zk, holder = tree
    holder.create("/m/eph", b"e", ephemeral=True)
    chroot = lab3.connect_string + "/m"
    res = run(playbook, lab3, play(
        task("zk_tree_export", "keep", root="/m", dest="/tmp/keep.zktree.gz",
             ephemeral_policy="persistent", auth=[{"credential": "alice:secret"}]),
        task("zk_tree_export", "chroot", hosts=chroot, root="/", dest="/tmp/chroot.zktree.gz",
             auth=[{"credential": "alice:secret"}]),
    ))
    keep = res.result("keep", "zk1")
    assert keep["ephemeral_kept"] == 1 and keep["ephemeral_skipped"] == 0
    assert keep["count"] == 10
    ch = res.result("chroot", "zk1")
    assert ch["count"] == 9 and ch["ephemeral_skipped"] == 1
    with open(lab3.hosts["zk1"].path("/tmp/chroot.zktree.gz"), "rb") as f:
        paths = sorted(r.path for r in tree_format.TreeReader(f))
    assert paths[:3] == ["/", "/a", "/b"]

    holder.stop()
    holder.close()
    assert zk.exists("/m/eph") is None
    zk.delete("/m/c/d")
    res = run(playbook, lab3, play(
        task("zk_tree_import", "chroot", hosts=chroot, src="/tmp/chroot.zktree.gz",
             auth=[{"credential": "alice:secret"}]),
        task("zk_tree_import", "keep", src="/tmp/keep.zktree.gz",
             auth=[{"credential": "alice:secret"}]),
    ))
    r = res.result("chroot", "zk1")
    assert r["changed"] and r["verified"] and r["sample"]["create"] == ["/c/d"], r
    assert zk.get("/m/c/d")[0] == "d\u00e9".encode("utf-8")
    assert res.result("keep", "zk1")["sample"]["create"] == ["/m/eph"]
    data, stat = zk.get("/m/eph")
    assert data == b"e" and stat.ephemeralOwner == 0


def test_export_survives_a_member_failure(lab3):
    """A member killed in the middle of a walk: its sessions move to the others and the
    export is still complete and exact."""
    zk = client(lab3)
    specs = [spec("/surv")] + [spec("/surv/p%02d" % i) for i in range(20)]
    specs += [spec("/surv/p%02d/n%04d" % (i, j), b"%d" % j) for i in range(20) for j in range(500)]
    victim = lab3.followers()[0]
    try:
        create_all(zk, specs)
        want = expected_digest(specs, "/surv")
        params = {"hosts": lab3.connect_string, "session_timeout": 6.0, "connect_timeout": 3.0}
        pool = zk_pipeline.open_pool(params, connections=3)
        killed = []

        class Source(tree_export.LiveSource):
            def run(self, emit):
                def on_node(path, *rest):
                    if len(killed) == 0 and path.endswith("/n0100"):
                        victim.kill_zk()
                        killed.append(path)
                    emit(path, *rest)
                return super(Source, self).run(on_node)

        try:
            source = Source(pool, "/surv", ["/zookeeper"], batch=8, window=40)
            buf = io.BytesIO()
            summary = tree_export.export(source, buf, "/surv", ["/zookeeper"])
        finally:
            pool.close()
        assert killed
        assert summary["walk"]["lost_sessions"] >= 1
        assert summary["trailer"]["count"] == len(specs)
        assert summary["trailer"]["digest"] == want["digest"]
        recs = list(tree_format.TreeReader(io.BytesIO(buf.getvalue())))
        assert len(recs) == len(specs)
    finally:
        if not victim.zk_running():
            victim.start_zk()
        lab3.wait_quorum(timeout=60)
        wipe(zk, "/surv")
        zk.stop()
        zk.close()
