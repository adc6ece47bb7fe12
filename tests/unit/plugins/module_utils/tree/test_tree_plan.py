"""tree_plan: modes, ordering, ACL deferral, sequence counters, live-session znodes."""
import pytest
from kazoo.security import make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import plan as tp

WORLD = ((31, "world", "anyone"),)
ALICE_ID = make_digest_acl_credential("alice", "secret")
ALICE = ((31, "digest", ALICE_ID),)
READ_ONLY = ((1, "world", "anyone"),)


def rec(path, data=b"", acl=WORLD, **kw):
    return tf.Record(path, data, acl, **kw)


def live(data=b"", acl=WORLD, ephemeral=False, version=0, counter=0):
    return tp.LiveInfo(tp.data_hash(data), acl, td.encode_acl(acl), ephemeral, version, counter)


def records(*recs):
    return dict((r.path, r) for r in recs)


def test_digest_identity_matches_zookeeper():
    assert tp.digest_identity("alice:secret") == ALICE_ID
    assert tp.session_identities([{"scheme": "digest", "credential": "alice:secret"},
                                  {"scheme": "ip", "credential": "x"}]) == [("digest", ALICE_ID)]


def test_merge_creates_parents_first_and_updates_differences():
    recs = records(rec("/a"), rec("/a/b/c"), rec("/a/b"), rec("/a/x", b"new"),
                   rec("/a/y", b"same", READ_ONLY), rec("/a-z"))
    lv = {"/a": live(), "/a/x": live(b"old", version=4), "/a/y": live(b"same", WORLD),
          "/a/extra": live()}
    plan = tp.make_plan(recs, lv, "merge", "/a")
    assert [c.path for c in plan.creates] == ["/a-z", "/a/b", "/a/b/c"]
    assert plan.data_updates == [("/a/x", b"new", 4)]
    assert plan.acl_updates == [("/a/y", READ_ONLY)]
    assert plan.deletes == []
    c = plan.counts()
    assert (c["create"], c["update"], c["unchanged"]) == (3, 2, 1)
    assert not plan.empty


def test_missing_only_touches_nothing_that_exists():
    recs = records(rec("/a", b"x"), rec("/a/b"))
    plan = tp.make_plan(recs, {"/a": live(b"other")}, "missing_only", "/a")
    assert [c.path for c in plan.creates] == ["/a/b"]
    assert plan.data_updates == [] and plan.acl_updates == []
    assert plan.counts()["unchanged"] == 1


def test_replace_deletes_extras_children_first_and_keeps_root():
    recs = records(rec("/r"), rec("/r/keep"))
    lv = {"/r": live(), "/r/keep": live(), "/r/gone": live(), "/r/gone/deep": live(),
          "/r/gone/deep/er": live()}
    plan = tp.make_plan(recs, lv, "replace", "/r")
    assert plan.deletes == ["/r/gone/deep/er", "/r/gone/deep", "/r/gone"]
    # The same live state in merge mode deletes nothing.
    assert tp.make_plan(recs, lv, "merge", "/r").deletes == []


def test_live_ephemerals_are_never_touched():
    recs = records(rec("/r"), rec("/r/lock"), rec("/r/svc"))
    lv = {"/r": live(), "/r/lock": live(ephemeral=True), "/r/old": live(),
          "/r/old/member": live(ephemeral=True), "/r/other": live(ephemeral=True)}
    plan = tp.make_plan(recs, lv, "replace", "/r")
    assert [c[0] for c in plan.conflicts] == ["/r/lock"]
    assert plan.kept == ["/r/old"]
    assert plan.deletes == []
    assert plan.counts()["ephemeral_left"] == 2


def test_identical_trees_plan_nothing():
    recs = records(rec("/r", b"1"), rec("/r/a", b"2", ALICE))
    lv = {"/r": live(b"1"), "/r/a": live(b"2", ALICE)}
    for mode in tp.MODES:
        assert tp.make_plan(recs, lv, mode, "/r").empty


def test_sequence_counter_targets_and_bumps():
    seq = tf.SEQUENTIAL
    recs = records(rec("/q"), rec("/q/job-0000000041", flags=seq),
                   rec("/q/job-0000000007", flags=seq), rec("/q/plain"),
                   rec("/z"), rec("/z/n-0000000001", flags=seq),
                   rec("/w"), rec("/w/backup-1700000000"))
    plan = tp.make_plan(recs, {}, "merge", "/")
    assert plan.sequence_targets == {"/q": 42, "/z": 2}
    # /q gets 3 creates (counter 3), must reach 42; /z gets 1, must reach 2.
    assert plan.sequence_bumps == {"/q": 39, "/z": 1}
    assert "/w" not in plan.sequence_targets
    # A parent whose live counter is already past the target needs nothing.
    lv = {"/": live(), "/q": live(counter=100), "/q/job-0000000041": live(),
          "/q/job-0000000007": live(), "/q/plain": live(), "/z": live(counter=1),
          "/z/n-0000000001": live(), "/w": live(), "/w/backup-1700000000": live()}
    plan = tp.make_plan(recs, lv, "merge", "/")
    assert plan.sequence_bumps == {"/z": 1}
    lv["/z"] = live(counter=2)
    assert tp.make_plan(recs, lv, "merge", "/").empty


def test_restrictive_acl_is_deferred_until_children_exist():
    me = tp.session_identities([{"credential": "alice:secret"}])
    recs = records(rec("/p", acl=READ_ONLY), rec("/p/child", acl=READ_ONLY),
                   rec("/mine", acl=ALICE), rec("/mine/c"))
    plan = tp.make_plan(recs, {}, "merge", "/", identities=me)
    steps = dict((c.path, c) for c in plan.creates)
    # /p blocks creating its child: temporary ACL for this session, final ACL later.
    assert steps["/p"].acl == ((31, "digest", ALICE_ID),)
    assert steps["/p"].final_acl == READ_ONLY
    # A leaf never needs CREATE: its final ACL at once.
    assert steps["/p/child"].acl == READ_ONLY and steps["/p/child"].final_acl is None
    # The session's own identity is granted ALL: no deferral.
    assert steps["/mine"].acl == ALICE and steps["/mine"].final_acl is None
    assert plan.deferred_acls == [("/p", READ_ONLY)]
    # Without a digest identity the temporary ACL is open.
    plan = tp.make_plan(recs, {}, "merge", "/")
    assert dict((c.path, c) for c in plan.creates)["/mine"].acl == tp.temporary_acl([])


def test_parent_needing_a_counter_move_must_allow_create_and_delete():
    no_delete = ((31 & ~tp.PERM_DELETE, "world", "anyone"),)
    recs = records(rec("/q", acl=no_delete), rec("/q/j-0000000009", flags=tf.SEQUENTIAL))
    plan = tp.make_plan(recs, {}, "merge", "/q")
    step = plan.creates[0]
    assert step.final_acl == no_delete


def test_oversized_create_writes_its_data_afterwards():
    big = b"x" * 1048000
    recs = records(rec("/big", big, acl=((31, "digest", "u:" + "h" * 28),) * 40))
    plan = tp.make_plan(recs, {}, "merge", "/big")
    step = plan.creates[0]
    assert step.data_after and step.final_acl is not None
    small = tp.make_plan(records(rec("/s", b"x" * 1000)), {}, "merge", "/s").creates[0]
    assert not small.data_after and small.final_acl is None


def test_credential_mismatch_is_found():
    recs = records(rec("/a", acl=ALICE), rec("/b", acl=((31, "digest", "bob:xyz"),)))
    ok = tp.session_identities([{"credential": "alice:secret"}])
    wrong = tp.session_identities([{"credential": "alice:wrong"}])
    assert tp.credential_mismatches(recs, ok) == []
    assert tp.credential_mismatches(recs, wrong) == [("alice", "/a")]
    assert tp.credential_mismatches(recs, []) == []


def test_diff_text_is_bounded():
    recs = records(*[rec("/r/n%03d" % i) for i in range(50)] + [rec("/r")])
    plan = tp.make_plan(recs, {"/r": live()}, "merge", "/r")
    text = plan.diff_text(limit=5)
    assert text.count("\n+ /r/") == 5 and "... and 45 more" in text
    assert len(plan.sample(5)["create"]) == 5


def test_unknown_mode_is_refused():
    with pytest.raises(tp.PlanError):
        tp.make_plan({}, {}, "overwrite", "/")
