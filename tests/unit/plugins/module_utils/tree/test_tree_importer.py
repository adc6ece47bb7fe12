"""tree_importer's steps on their own: the sequence-bump limit, the plan's warnings and the
credential check, before anything is changed."""
import pytest
from kazoo.security import make_digest_acl_credential

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import importer as ti
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import plan as tp

WORLD = ((31, "world", "anyone"),)


def live(ephemeral=False, counter=0):
    return tp.LiveInfo(tp.data_hash(b""), WORLD, td.encode_acl(WORLD), ephemeral, 0, counter)


def records(*paths, **kw):
    return dict((p, tf.Record(p, b"", WORLD, **kw)) for p in paths)


def test_a_sequence_bump_over_the_limit_is_refused():
    recs = records("/q")
    recs.update(records("/q/n0000000500", flags=tf.SEQUENTIAL))
    plan = tp.make_plan(recs, {"/q": live(counter=100)}, "merge", "/q")
    assert plan.sequence_bumps == {"/q": 400}
    ti.check_sequence_bumps(plan, 400)
    ti.check_sequence_bumps(plan, None)
    with pytest.raises(ti.TreeImportError) as exc:
        ti.check_sequence_bumps(plan, 399)
    assert str(exc.value) == ("the sequence counter of /q would have to move by 400 (more than "
                              "max_sequence_bump=399): nothing was changed. Raise max_sequence_bump "
                              "to allow it")


def test_plan_warnings_name_the_first_znode_held_by_a_live_session():
    recs = records("/r", "/r/a")
    lv = {"/r": live(), "/r/a": live(ephemeral=True), "/r/b": live(), "/r/b/e": live(ephemeral=True)}
    plan = tp.make_plan(recs, lv, "replace", "/r")
    assert ti.plan_warnings(plan) == [
        "1 znodes of the export are held by ephemeral znodes of live sessions and were left alone "
        "(e.g. /r/a)",
        "1 znodes that replace would delete hold ephemeral znodes of live sessions and were kept "
        "(e.g. /r/b)"]
    assert ti.plan_warnings(tp.make_plan(recs, {}, "merge", "/r")) == []


def test_a_wrong_password_is_found_before_anything_changes():
    acl = ((31, "digest", make_digest_acl_credential("alice", "secret")),)
    recs = {"/s": tf.Record("/s", b"", acl)}
    ti._check_credentials(recs, tp.session_identities([{"scheme": "digest", "credential": "alice:secret"}]))
    with pytest.raises(ti.TreeImportError) as exc:
        ti._check_credentials(recs, tp.session_identities([{"scheme": "digest", "credential": "alice:wrong"}]))
    assert str(exc.value).startswith("the digest credential for user 'alice' does not match the digest "
                                     "the export's ACLs hold for that user (e.g. on /s)")
