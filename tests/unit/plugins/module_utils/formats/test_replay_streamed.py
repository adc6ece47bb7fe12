"""replay.replay_summary: the streamed replay, which keeps only the nodes the logs touch,
gives exactly what the replay of the whole tree in memory gives."""
import os
import random

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree as D
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError

E = 0x100000000
ACLS = {1: W.OPEN, 2: W.MIXED, 3: W.READ}
SESSIONS = {0x51: 30000, 0x52: 30000, 0x53: 30000}


def snapshot_nodes(rng, width=6):
    """A depth-first node list: three levels under /p<i>, ephemerals of three sessions
    spread under parents the logs may never touch, a container and a TTL node."""
    nodes = [("", b"", 1, W.stat(pzxid=E + 3, cversion=width + 1))]
    for i in range(width):
        p = "/p%d" % i
        nodes.append((p, b"parent %d" % i, 1 + i % 3, W.stat(czxid=E + 1, cversion=width, pzxid=E + 2)))
        for j in range(width):
            c = "%s/c%d" % (p, j)
            owner = 0
            if j == width - 1:
                owner = rng.choice(list(SESSIONS))
            elif j == 1:
                owner = D.CONTAINER_OWNER
            elif j == 2:
                owner = D.ttl_owner(60000 + i)
            nodes.append((c, bytes(rng.randrange(256) for _x in range(rng.randrange(12))) if j else None,
                          rng.choice((1, 2, 3)), W.stat(czxid=E + 2, owner=owner, cversion=2 if not owner else 0)))
            if not owner:
                for k in range(2):
                    nodes.append(("%s/g%d" % (c, k), b"g", 1, W.stat(czxid=E + 2)))
    # Names whose byte order differs from the tree's: /p1-x sorts between /p1 and /p1/...
    nodes.append(("/p1-x", "\u00e9t\u00e9".encode("utf-8"), 1, W.stat(czxid=E + 2)))
    nodes.append(("/\u00e9t\u00e9", b"", 1, W.stat(czxid=E + 2)))
    nodes += [("/zookeeper", b"", 1, W.stat()), ("/zookeeper/quota", b"", 1, W.stat())]
    return nodes


def model(nodes):
    t = D.DataTree()
    for path, data, aid, st in nodes:
        t.nodes[path or "/"] = (data, t.acl(ACLS[aid]), W.STAT.pack(*st))
    t.zk_digest = sum(D.zk_node_digest(p, n[0], n[2]) for p, n in t.nodes.items()) & (2 ** 64 - 1)
    t.index_ephemerals()
    return t


def random_txn(rng, t, n):
    """One transaction against the model tree ``t`` (valid or not, as a server may log
    over a fuzzy snapshot): (type, record bytes, client)."""
    paths = sorted(p for p in t.nodes if not p.startswith("/zookeeper"))
    kids = t.children()
    leaves = [p for p in paths if p not in kids and p != "/"]
    client = rng.choice((0x1000, 0x51, 0x52, 0x53))
    r = rng.random()
    if r < 0.25:
        parent = rng.choice(paths)
        path = (parent.rstrip("/") + "/n%d" % n)
        kind = rng.random()
        if kind < 0.6:
            return T.CREATE, W.create(path, b"v%d" % n, acl=rng.choice((W.OPEN, W.MIXED)), pcv=-1), client
        if kind < 0.75:
            return T.CREATE, W.create(path, b"e", ephemeral=True, pcv=-1), rng.choice((0x51, 0x52, 0x60))
        if kind < 0.9:
            return T.CREATE_CONTAINER, W.create_container(path, b"c", pcv=-1), client
        return T.CREATE_TTL, W.create_ttl(path, 1000 + n, b"t", pcv=-1), client
    if r < 0.4 and leaves:
        return T.DELETE, W.delete(rng.choice(leaves)), client
    if r < 0.55:
        return T.SET_DATA, W.set_data(rng.choice(paths), b"d%d" % n, n), client
    if r < 0.65:
        return T.SET_ACL, W.set_acl(rng.choice(paths), rng.choice((W.READ, W.MIXED)), n), client
    if r < 0.8 and leaves:
        # A multi: delete a leaf, re-create it, change its parent's data, check.
        leaf = rng.choice(leaves)
        parent = leaf[:leaf.rfind("/")] or "/"
        return T.MULTI, W.multi([(T.DELETE, W.delete(leaf)),
                                 (T.CREATE, W.create(leaf, b"again", pcv=-1)),
                                 (T.SET_DATA, W.set_data(parent, b"m%d" % n, n)),
                                 (T.CHECK, W.check(leaf, 0))]), client
    if r < 0.83:
        return T.MULTI, W.multi([(T.ERROR, W.error(0)), (T.ERROR, W.error(-101))]), client
    if r < 0.86:
        return T.CREATE_SESSION, W.create_session(), rng.choice((0x60, 0x61))
    if r < 0.9:
        session = rng.choice((0x51, 0x52, 0x53, 0x60))
        own = sorted(t.ephemerals.get(session, ()))
        # As 3.5 logs it (no paths), or with the paths as 3.6+ does.
        return T.CLOSE_SESSION, W.close_session(None if rng.random() < 0.5 else own), session
    if r < 0.95 and leaves:
        # The delete of a parent once its children are gone, then its re-creation.
        leaf = rng.choice(leaves)
        return T.DELETE, W.delete(leaf), client
    return T.ERROR, W.error(-110), client


def make_files(d, seed, txns=150, fuzzy=6, digests=True):
    """A snapshot at E+20 and two logs from E+15 (the first ``fuzzy`` transactions
    repeat what the snapshot holds) with ZooKeeper's digest after every transaction."""
    rng = random.Random(seed)
    nodes = snapshot_nodes(rng)
    t = model(nodes)
    snap_zxid = E + 20
    raws = []
    for i in range(fuzzy):
        path = "/p%d/c%d/g0" % (i % 6, i % 3)
        op, rec, client = (T.CREATE, W.create(path, b"g", pcv=-1), 0x1000) if i % 2 else \
            (T.SET_DATA, W.set_data("/p%d" % i, b"parent %d" % i, 0), 0x1000)
        raws.append(W.txn(snap_zxid - fuzzy + 1 + i, op, rec, client=client))
    for n in range(txns):
        zxid = snap_zxid + 1 + n
        op, rec, client = random_txn(rng, t, n)
        x = T.decode_txn(W.txn(zxid, op, rec, client=client))
        t.apply(x)
        raws.append(W.txn(zxid, op, rec, client=client,
                          digest=(2, t.zk_digest) if digests else None))
    snap = W.write(os.path.join(d, "snapshot.%x" % snap_zxid), W.snapshot_stream(
        nodes, acls=ACLS, sessions=SESSIONS,
        digest=(snap_zxid, 2, model(nodes).zk_digest) if digests else None))
    half = len(raws) // 2
    first = T.peek_header(raws[0])[2]
    second = T.peek_header(raws[half])[2]
    logs = [W.write(os.path.join(d, "log.%x" % first), W.log_bytes(raws[:half])),
            W.write(os.path.join(d, "log.%x" % second), W.log_bytes(raws[half:]))]
    return snap, logs


def both(snap, logs, include_ephemeral=False, run=5, **kw):
    tree, res = replay.replay(snap, logs, **kw)
    whole = replay.summarize(tree, include_ephemeral=include_ephemeral)
    summary, res2 = replay.replay_summary(snap, logs, include_ephemeral=include_ephemeral, run=run, **kw)
    res.pop("snapshot_info")
    res2.pop("snapshot_info")
    return (whole, res), (summary, res2), tree


@pytest.mark.parametrize("seed", range(8))
def test_streamed_equals_in_memory(tmp_path, seed):
    snap, logs = make_files(str(tmp_path), seed)
    for include_ephemeral in (False, True):
        whole, streamed, tree = both(snap, logs, include_ephemeral)
        assert streamed == whole
        assert whole[1]["zk_digest"]["checked"] >= 150 and whole[1]["zk_digest"]["mismatches"] == []
        assert whole[1]["applied"] == 150 and whole[1]["skipped"] == 6
    assert whole[0]["znodes"] == len(tree.nodes) > 50


@pytest.mark.parametrize("seed", range(3))
def test_streamed_to_a_target(tmp_path, seed):
    snap, logs = make_files(str(tmp_path), 100 + seed)
    for target in (E + 20, E + 21, E + 77, E + 120):
        whole, streamed, _t = both(snap, logs, target_zxid=target)
        assert streamed == whole and whole[1]["last_zxid"] == "0x%x" % target
    when = W.T0 + E + 60
    whole, streamed, _t = both(snap, logs, target_time=when)
    assert streamed == whole and whole[1]["stopped_by"] == "target_time"


def test_mismatching_zk_digest_reported_alike(tmp_path):
    """A logged digest that differs from the replay is found by both, at the same zxid."""
    d = str(tmp_path)
    snap, logs = make_files(d, 7, txns=0)
    raws = [W.txn(E + 21, T.SET_DATA, W.set_data("/p2", b"x", 1), digest=(2, 12345)),
            W.txn(E + 22, T.SET_DATA, W.set_data("/p3", b"x", 1))]
    logs.append(W.write(os.path.join(d, "log.%x" % (E + 21)), W.log_bytes(raws)))
    whole, streamed, _t = both(snap, logs, target_zxid=E + 22)
    assert streamed == whole
    assert [m["zxid"] for m in whole[1]["zk_digest"]["mismatches"]] == ["0x100000015"]


def test_closed_session_keeps_its_ephemerals_parents(tmp_path):
    """A 3.5 closeSession names no paths: the session's ephemerals come from the snapshot,
    and their parents, which no transaction names, change (pzxid) when they go."""
    d = str(tmp_path)
    nodes = [("", b"", 1, W.stat(cversion=2)),
             ("/quiet", b"q", 1, W.stat(czxid=E + 1, cversion=1)),
             ("/quiet/deep", b"", 1, W.stat(czxid=E + 1, cversion=1)),
             ("/quiet/deep/e", b"eph", 1, W.stat(czxid=E + 2, owner=0x51)),
             ("/quiet/deep/f", b"", 1, W.stat(czxid=E + 2)),
             ("/zookeeper", b"", 1, W.stat())]
    t = model(nodes)
    snap = W.write(os.path.join(d, "snapshot.%x" % (E + 3)), W.snapshot_stream(
        nodes, acls=ACLS, sessions={0x51: 1000}, digest=(E + 3, 2, t.zk_digest)))
    t.apply(T.decode_txn(W.txn(E + 4, T.CLOSE_SESSION, W.close_session(None), client=0x51)))
    assert "/quiet/deep/e" not in t.nodes and t.stat("/quiet/deep")["pzxid"] == E + 4
    log = W.write(os.path.join(d, "log.%x" % (E + 4)), W.log_bytes([
        W.txn(E + 4, T.CLOSE_SESSION, W.close_session(None), client=0x51, digest=(2, t.zk_digest))]))
    for include_ephemeral in (False, True):
        whole, streamed, _t = both(snap, [log], include_ephemeral, run=2)
        assert streamed == whole
        assert whole[1]["zk_digest"]["checked"] == 2 and whole[1]["zk_digest"]["mismatches"] == []
        assert whole[0]["znodes"] == 5 and whole[0]["ephemeral_znodes"] == 0


def test_touched_paths_and_sessions(tmp_path):
    d = str(tmp_path)
    log = W.write(os.path.join(d, "log.%x" % (E + 1)), W.log_bytes([
        W.txn(E + 1, T.CREATE, W.create("/a/b", pcv=-1)),
        W.txn(E + 2, T.SET_DATA, W.set_data("/x/y", b"", 1)),
        W.txn(E + 3, T.MULTI, W.multi([(T.DELETE, W.delete("/m/n")), (T.SET_DATA, W.set_data("/s", b"", 1))])),
        W.txn(E + 3, T.SET_ACL, W.set_acl("/t", W.READ, 1)),
        W.txn(E + 4, T.CLOSE_SESSION, W.close_session(["/e/f"]), client=0x77),
        W.txn(E + 5, T.CREATE, W.create("/late", pcv=-1)),
    ]))
    paths, sessions = replay.touched_by_logs([log], target_zxid=E + 4)
    assert paths == {"/a/b", "/a", "/x/y", "/m/n", "/m", "/s", "/t", "/e/f", "/e"}
    assert sessions == {0x77}
    # What the replay skips at the start of the logs (at or below the snapshot) is not kept.
    paths, sessions = replay.touched_by_logs([log], snap_zxid=E + 3)
    assert paths == {"/e/f", "/e", "/late", "/"} and sessions == {0x77}


def test_damaged_snapshot_raises_as_in_memory(tmp_path):
    d = str(tmp_path)
    snap, logs = make_files(d, 3, txns=10)
    with open(snap, "r+b") as f:
        f.seek(60)
        f.write(b"\xff\xff\xff\xff")
    with pytest.raises(FormatError) as a:
        replay.replay(snap, logs)
    with pytest.raises(FormatError) as b:
        replay.replay_summary(snap, logs)
    assert str(a.value) == str(b.value)


def test_sorted_digest_equals_tree_digest(tmp_path):
    rng = random.Random(5)
    names = ["/a", "/a-b", "/a/b", "/a/b/c", "/\u00e9", "/zookeeper", "/zookeeper/q", "/b",
             "/a/\u00e9t\u00e9", "/a0"] + ["/r/%d" % rng.randrange(10 ** 6) for _x in range(300)]
    names = list(dict.fromkeys(names))
    rng.shuffle(names)
    for run in (1, 3, 64, 100000):
        whole = tree_digest.TreeDigest(include_ephemeral=True)
        sorted_ = tree_digest.SortedTreeDigest(include_ephemeral=True, run=run, spill_dir=str(tmp_path))
        # Every tenth path added again, later, with other data: the later one counts.
        for i, p in enumerate(names + names[::10]):
            kind = tree_digest.KINDS[i % 4]
            for d in (whole, sorted_):
                d.add(p, b"%d" % i if i % 5 else None, W.MIXED if i % 2 else W.OPEN, kind, ttl=i)
        got = sorted_.result()
        assert got == whole.result() and got["count"] == len(names) - 2   # not /zookeeper, /zookeeper/q
        assert os.listdir(str(tmp_path)) == []
    assert tree_digest.SortedTreeDigest().result() == tree_digest.TreeDigest().result()
