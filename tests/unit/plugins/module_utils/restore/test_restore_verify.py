"""The layers of a restore's verification and the rollback decision."""
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import verify as rv

# A replay of the restored files: 100 znodes in all (ZooKeeper's own and 2 ephemeral ones).
EXPECTED = {"digest": "d" * 64, "znode_count": 94, "znodes": 100, "ephemeral_znodes": 2, "zxid": "0x100000050"}


def members(counts=(101, 101, 101), ephemerals=(2, 2, 2), mismatches=(0, 0, 0),
            zxids=("0x100000050", "0x300000000", "0x100000050"), modes=("follower", "leader", "follower")):
    return [{"id": i + 1, "address": "zk%d:2181" % (i + 1), "mode": modes[i], "serving": modes[i] != "down",
             "zxid": zxids[i], "znode_count": counts[i], "ephemerals_count": ephemerals[i],
             "digest_mismatches": mismatches[i]} for i in range(len(modes))]


def statuses(layer):
    return dict((c["name"], c["status"]) for c in layer["checks"])


def test_serving_layer_verified():
    lay = rv.serving_layer(members(), 3, EXPECTED, epoch_floor=2, last_zxid="0x100000050")
    assert lay["status"] == rv.VERIFIED, lay
    assert not lay["warnings"]


def test_ephemerals_come_and_go_but_other_znodes_must_match():
    # The restored sessions' ephemeral znodes expired on one member already: still verified.
    lay = rv.serving_layer(members(counts=(101, 99, 101), ephemerals=(2, 0, 2)), 3, EXPECTED, 2, "0x100000050")
    assert lay["status"] == rv.VERIFIED, lay
    lay = rv.serving_layer(members(counts=(102, 102, 102)), 3, EXPECTED, 2, "0x100000050")
    assert lay["status"] == rv.WRONG and statuses(lay)["node count"] == rv.WRONG
    assert "zk1:2181=100" in lay["summary"] and "hold 99" in lay["summary"]
    # Transactions since the start (sessions are transactions too, the restore's own checks'
    # included) do not excuse a count of persistent znodes that differs: it is wrong.
    lay = rv.serving_layer(members(counts=(102, 102, 102), zxids=("0x300000004",) * 3), 3, EXPECTED, 2,
                           "0x100000050")
    assert statuses(lay)["node count"] == rv.WRONG, lay


def test_without_mntr_the_count_is_a_range_and_the_digest_check_is_unknown():
    lay = rv.serving_layer(members(counts=(100, 101, 99), ephemerals=(None,) * 3, mismatches=(None,) * 3),
                           3, EXPECTED, 2, "0x100000050")
    assert statuses(lay) == {"every member serves": rv.VERIFIED, "one leader": rv.VERIFIED, "zxid": rv.VERIFIED,
                             "node count": rv.VERIFIED, "ZooKeeper's digest": rv.NOT_VERIFIED}
    assert lay["status"] == rv.NOT_VERIFIED and "whitelist" in lay["warnings"][0]
    lay = rv.serving_layer(members(counts=(90, 90, 90), ephemerals=(None,) * 3), 3, EXPECTED, 2, "0x100000050")
    assert statuses(lay)["node count"] == rv.WRONG
    # ... unless clients wrote since the start: then it cannot tell.
    lay = rv.serving_layer(members(counts=(90, 90, 90), ephemerals=(None,) * 3,
                                   zxids=("0x300000004",) * 3), 3, EXPECTED, 2, "0x100000050")
    assert statuses(lay)["node count"] == rv.NOT_VERIFIED


def test_wrong_zxids_leaders_and_digest_mismatches():
    lay = rv.serving_layer(members(zxids=("0x100000050", "0x200000000", "0x100000050")), 3, EXPECTED, 2,
                           "0x100000050")
    assert statuses(lay)["zxid"] == rv.WRONG and "not past epoch 2" in lay["summary"]
    lay = rv.serving_layer(members(zxids=("0x100000040", "0x300000000", "0x100000050")), 3, EXPECTED, 2,
                           "0x100000050")
    assert statuses(lay)["zxid"] == rv.WRONG and "zk1" in lay["summary"]
    lay = rv.serving_layer(members(zxids=("0x300000002", "0x300000003", "0x300000003")), 3, EXPECTED, 2,
                           "0x100000050")
    assert statuses(lay)["zxid"] == rv.NOT_VERIFIED
    lay = rv.serving_layer(members(modes=("leader", "leader", "follower")), 3, EXPECTED, 2, "0x100000050")
    assert statuses(lay)["one leader"] == rv.WRONG
    lay = rv.serving_layer(members(modes=("down", "leader", "follower")), 3, EXPECTED, 2, "0x100000050")
    assert statuses(lay)["every member serves"] == rv.WRONG
    lay = rv.serving_layer(members(mismatches=(0, 3, 0)), 3, EXPECTED, 2, "0x100000050")
    assert statuses(lay)["ZooKeeper's digest"] == rv.WRONG and "zk2:2181=3" in lay["summary"]
    # A backup that records no total count: not verified, never wrong.
    lay = rv.serving_layer(members(), 3, {"digest": "d" * 64, "znode_count": 94}, 2, "0x100000050")
    assert statuses(lay)["node count"] == rv.NOT_VERIFIED and lay["status"] == rv.NOT_VERIFIED


def test_tree_layer():
    full = {"digest": "d" * 64, "count": 94, "partial": False}
    assert rv.tree_layer(True, full, EXPECTED)["status"] == rv.VERIFIED
    assert rv.tree_layer(True, dict(full, digest="e" * 64), EXPECTED)["status"] == rv.WRONG
    assert rv.tree_layer(False, None, EXPECTED)["status"] == rv.NOT_CHECKED
    assert rv.tree_layer(True, full, None)["status"] == rv.NOT_VERIFIED
    failed = rv.tree_layer(True, {"failed": False, "msg": "export of / failed: no quorum"}, EXPECTED)
    assert failed["status"] == rv.NOT_VERIFIED and "no quorum" in failed["warnings"][0]
    partial = rv.tree_layer(True, {"digest": "e" * 64, "count": 80, "partial": True,
                                   "unreadable": ["/config/users", "/secure"], "acl_hidden": ["/k"],
                                   "acl_hidden_count": 1}, EXPECTED)
    assert partial["status"] == rv.PARTIAL
    assert "partial, 2 subtrees unreadable: /config/users, /secure" in partial["summary"]
    assert "1 digest ACLs hidden" in partial["summary"]


def test_recorded_tree_never_blocks():
    assert rv.recorded_tree({"skipped": True})[0] is None
    tree, note = rv.recorded_tree({"msg": "not authorised"})
    assert tree is None and "not authorised" in note
    tree, note = rv.recorded_tree({"digest": "e" * 64, "count": 3, "zxid_end": 9, "partial": True,
                                   "unreadable": ["/secure"]})
    assert tree["partial"] and tree["unreadable"] == ["/secure"] and "/secure" in note


def test_rollback_decision():
    before = [{"host": "zk%d" % i, "mode": "follower", "serving": True, "znode_count": 5} for i in (1, 2, 3)]
    d = rv.rollback_decision(before, True)
    assert not d["rollback"] and "empty tree" in d["reason"]
    d = rv.rollback_decision([dict(m, mode="down", serving=False, znode_count=None) for m in before], False)
    assert not d["rollback"] and "did not serve" in d["reason"] and "zk1=down" in d["reason"]
    d = rv.rollback_decision([dict(m, znode_count=300) for m in before], True)
    assert d["rollback"] and "300 znodes" in d["reason"]


def test_files_layer():
    lay = rv.files_layer("backup", ["s1", "s1"], "0x100000050", EXPECTED)
    assert lay["status"] == rv.VERIFIED
    assert rv.files_layer("backup", ["s1", "s2"], "0x1", EXPECTED)["status"] == rv.WRONG
    assert rv.files_layer("backup", ["s1"], "0x1", None)["status"] == rv.NOT_VERIFIED


def test_zxids_given_as_decimal_digits_are_decimal():
    # The filter's arguments: 0x is hex, bare digits decimal, as before.
    lay = rv.serving_layer(members(zxids=(str(0x100000050), "0x300000000", 0x100000050)), 3, EXPECTED,
                           epoch_floor=2, last_zxid=str(0x100000050))
    assert lay["status"] == rv.VERIFIED, lay
    lay = rv.serving_layer(members(), 3, EXPECTED, 2, "100000050")
    assert statuses(lay)["zxid"] == rv.VERIFIED
    lay = rv.serving_layer(members(zxids=("100000050", "0x300000000", "0x100000050")), 3, EXPECTED, 2,
                           "0x100000050")
    assert statuses(lay)["zxid"] == rv.WRONG and "zk1" in lay["summary"]
