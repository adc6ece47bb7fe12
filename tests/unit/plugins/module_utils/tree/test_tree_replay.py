"""tree_replay: an export computed from data files has exact kinds, client stats, the live
walk's sequential rule, parents first, and the replay's digests."""
import io
import os
import struct

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree as D
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import replay as tr

E = 0x100000000
MIXED = W.MIXED
CLIENT = struct.Struct(">qqqqiiiqiiq")


def export(source, root="/", exclude=("/zookeeper",), policy="skip", **kw):
    """Export ``source`` (a data directory, or a ReplaySource) into memory and read it."""
    if not isinstance(source, tr.ReplaySource):
        source = tr.DataDirSource(source, root=root, exclude=exclude, **kw)
    buf = io.BytesIO()
    summary = tree_export.export(source, buf, root, list(exclude), policy)
    reader = tf.TreeReader(io.BytesIO(buf.getvalue()))
    records = list(reader)
    return summary, reader, records


def test_files_export_is_exact_and_equals_the_replay(kinds_data_dir):
    summary, reader, recs = export(kinds_data_dir)
    assert reader.header["kinds_exact"] and reader.header["zxid_start"] == E + 12
    assert reader.header["source"]["type"] == "files"
    assert reader.header["source"]["zxid"] == "0x10000000c"
    assert summary["walk"]["zxid_end"] == E + 12 and summary["ephemeral_skipped"] == 1
    by = dict((r.path, r) for r in recs)
    # Parents first, and only the subtree without /zookeeper.
    seen = set()
    for r in recs:
        parent = r.path[:r.path.rfind("/")] or "/"
        assert r.path == "/" or parent in seen, r.path
        seen.add(r.path)
    assert sorted(by) == ["/", "/a", "/a-b", "/a/backup-1700000000", "/a/c", "/a/c/child",
                          "/a/q-0000000004", "/a/t", "/a/t/q-0000000000"]
    assert (by["/a/c"].kind, by["/a/t"].kind, by["/a/t"].ttl) == (td.CONTAINER, td.TTL, 5000)
    assert (by["/a/t/q-0000000000"].kind, by["/a/t/q-0000000000"].ttl) == (td.TTL, 7000)
    assert all(r.kind_exact for r in recs)
    # The ACL as the server keeps it (not the digest's canonical order).
    assert by["/a/c/child"].acl == MIXED and by["/a/backup-1700000000"].data is None
    # Sequential: a 10-digit suffix below the parent's counter, as in the live walk.
    assert {r.path for r in recs if r.sequential} == {"/a/q-0000000004", "/a/t/q-0000000000"}
    # The replay's own digests (ephemeral znodes left out).
    tree, _res = replay.replay(os.path.join(kinds_data_dir, "version-2", "snapshot.%x" % (E + 1)),
                               [os.path.join(kinds_data_dir, "version-2", "log.%x" % (E + 1))])
    want = replay.summarize(tree)
    assert reader.trailer["digest"] == want["digest"]
    assert reader.trailer["typed_digest"] == want["typed_digest"] != want["digest"]
    assert reader.trailer["count"] == want["znode_count"] == 9


def test_records_carry_the_stat_clients_read(kinds_data_dir):
    _summary, _reader, recs = export(kinds_data_dir)
    by = dict((r.path, r) for r in recs)
    a = by["/a"].stat
    # /a: 6 child creates, 1 delete, 5 children now (the ephemeral one included).
    assert (a["numChildren"], a["cversion"], a["dataLength"]) == (5, 2 * 6 - 5, 2)
    assert a["version"] == 1 and a["mzxid"] == E + 10 and a["pzxid"] == E + 9
    assert by["/a/c"].stat["ephemeralOwner"] == 0 and by["/a/t"].stat["ephemeralOwner"] == 0
    assert by["/"].stat["numChildren"] == 3          # /a, /a-b, /zookeeper
    raw = by["/a/t"].stat_raw
    assert CLIENT.unpack(raw)[9] == 1 and len(raw) == 68


def test_ephemeral_policy_and_subtree_and_exclusions(kinds_data_dir):
    _s, reader, recs = export(kinds_data_dir, root="/a",
                              exclude=["/zookeeper", "/a/t"], policy="persistent")
    paths = [r.path for r in recs]
    assert paths == ["/a", "/a/backup-1700000000", "/a/c", "/a/c/child", "/a/e",
                     "/a/q-0000000004"]
    e = [r for r in recs if r.path == "/a/e"][0]
    assert e.kind == td.PERSISTENT and e.flags & tf.WAS_EPHEMERAL
    assert reader.trailer["ephemeral_kept"] == 1


def test_target_zxid_gives_the_tree_of_that_moment(kinds_data_dir):
    summary, reader, recs = export(kinds_data_dir, target_zxid=E + 4)
    assert reader.header["zxid_start"] == E + 4 == summary["trailer"]["zxid_end"]
    assert [r.path for r in recs] == ["/", "/a", "/a/c", "/a/c/child", "/a/t"]
    assert reader.header["source"]["target_zxid"] == "0x100000004"


def test_root_missing_excluded_and_files_unusable(kinds_data_dir, tmp_path):
    with pytest.raises(tree_export.ExportError, match="does not exist in the tree at 0x"):
        export(kinds_data_dir, root="/nope")
    with pytest.raises(tree_export.ExportError, match="is excluded"):
        export(kinds_data_dir, root="/a/t", exclude=["/zookeeper", "/a"])
    empty = tmp_path / "empty"
    (empty / "version-2").mkdir(parents=True)
    with pytest.raises(tree_export.ExportError, match="give no consistent tree: no snapshot"):
        tr.DataDirSource(str(empty)).start()
    with pytest.raises(tree_export.ExportError, match="past the last logged transaction"):
        tr.DataDirSource(kinds_data_dir, target_zxid=E + 99).start()


def test_subtree_paths_cut_excluded_ranges():
    paths = sorted(["/", "/a", "/a-b", "/a/b", "/a/b/c", "/a/b-c", "/a/bb", "/a0", "/b",
                    "/zookeeper", "/zookeeper/quota"])
    assert tr.subtree_paths(paths, "/", ["/a/b", "/a/b/c", "/zookeeper"]) == [
        "/", "/a", "/a-b", "/a/b-c", "/a/bb", "/a0", "/b"]
    assert tr.subtree_paths(paths, "/a", ["/zookeeper"]) == [
        "/a", "/a/b", "/a/b-c", "/a/b/c", "/a/bb"]
    assert tr.subtree_paths(paths, "/a/b", []) == ["/a/b", "/a/b/c"]
    assert tr.subtree_paths(paths, "/c", []) is None


def test_child_counts_and_client_stat():
    nodes = dict.fromkeys(["/", "/a", "/a/b", "/a/c", "/zookeeper"])
    assert tr.child_counts(nodes) == {"/": 2, "/a": 2}
    stat = D.STAT.pack(1, 2, 3, 4, 5, 0x7FFFFFFF, 7, D.CONTAINER_OWNER, 9)
    got = CLIENT.unpack(D.client_stat(stat, b"abc", 3))
    # 2 * cversion - numChildren wraps as Java's int does.
    assert got == (1, 2, 3, 4, 5, -5, 7, 0, 3, 3, 9)
    eph = D.STAT.pack(1, 2, 3, 4, 5, 1, 7, 1234, 9)
    assert CLIENT.unpack(D.client_stat(eph, None, 0))[7:10] == (1234, 0, 0)


def test_a_tree_not_built_through_acl_gets_canonical_acls():
    tree = D.DataTree()
    root = tree.acl(None)
    st = D.STAT.pack(*W.stat())
    tree.nodes["/"] = (b"", root, st)
    tree.nodes["/x"] = (b"", td.encode_acl(MIXED), st)       # not from DataTree.acl()
    _s, _reader, recs = export(tr.ReplaySource(tree, 5))
    assert recs[1].acl == tuple(sorted(MIXED, key=lambda e: (e[1], e[2], e[0])))
