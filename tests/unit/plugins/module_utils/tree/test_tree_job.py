"""tree_job: the zk_tree_export job without the AnsibleModule: its option checks, the
source from a member's data files, the result and its message."""
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import job as tree_job

LAST = "0x10000000c"


def params(**kw):
    p = dict(source="files", dest=None, root="/", exclude=["/zookeeper"], ephemeral_policy="skip",
             compression_level=6, connections=None, batch=64, multi_read=None, partial=False,
             config_file="/nonexistent/zoo.cfg", data_dir=None, data_log_dir=None, target_zxid=None,
             target_time=None, jute_maxbuffer=1048575, backup_hosts=None, ensemble=None,
             progress_file=None, hosts=None)
    p.update(kw)
    return p


def test_check_options_normalizes_root_and_exclude():
    root, exclude = tree_job.check_options(params(root="/a/", exclude=["/a/x/"]), False)
    assert root == tree_export.normalize_root("/a/")
    assert exclude == tree_export.normalize_exclude(["/a/x/"])


@pytest.mark.parametrize("kw, check_mode, message", [
    (dict(partial=True), True, "partial reads a live tree in check mode only"),
    (dict(partial=True, source="live"), False, "partial reads a live tree in check mode only"),
    (dict(compression_level=0), False, "compression_level must be between 1 and 9"),
    (dict(compression_level=10), False, "compression_level must be between 1 and 9"),
])
def test_check_options_refuses_what_does_not_go_together(kw, check_mode, message):
    with pytest.raises(tree_job.JobError) as exc:
        tree_job.check_options(params(**kw), check_mode)
    assert exc.value.msg.startswith(message) and exc.value.fields == {} and exc.value.warnings == []


def test_partial_is_allowed_for_a_live_check():
    assert tree_job.check_options(params(partial=True, source="live"), True)[0] == "/"


def test_files_source_needs_a_data_dir():
    with pytest.raises(tree_job.JobError) as exc:
        tree_job.files_source(params(), "/", [], [])
    assert exc.value.msg.startswith("cannot read dataDir from /nonexistent/zoo.cfg: ")
    assert exc.value.msg.endswith("; set config_file to the member's zoo.cfg, or data_dir")
    with pytest.raises(tree_job.JobError) as exc:
        tree_job.files_source(params(data_dir="/nonexistent/data"), "/", [], [])
    assert exc.value.msg == ("data_dir /nonexistent/data does not exist or is not a directory: "
                             "source files runs on a member and reads its data files")


def test_files_source_refuses_a_bad_target(kinds_data_dir):
    with pytest.raises(tree_job.JobError):
        tree_job.files_source(params(data_dir=kinds_data_dir, target_zxid="not a zxid"), "/", [], [])


def test_export_of_data_files_returns_the_result_and_its_message(kinds_data_dir, tmp_path):
    dest = str(tmp_path / "t.zktree.gz")
    result, warnings = tree_job.export(params(data_dir=kinds_data_dir, dest=dest), False)
    assert warnings == [] and result["changed"] and os.path.exists(dest)
    assert list(result)[:4] == ["dest", "root", "exclude", "changed"]
    assert result["zxid"] == LAST and result["count"] == 9 and "pushed" not in result
    assert result["msg"] == "exported 9 znodes of / at zxid %s from the data files" % LAST
    again, _w = tree_job.export(params(data_dir=kinds_data_dir, dest=dest), False)
    assert not again["changed"] and again["digest"] == result["digest"]


def test_a_failed_export_keeps_the_fields_of_the_result(kinds_data_dir, tmp_path):
    dest = str(tmp_path / "missing" / "t.zktree.gz")
    with pytest.raises(tree_job.JobError) as exc:
        tree_job.export(params(data_dir=kinds_data_dir, dest=dest), False)
    assert exc.value.msg == ("export of / failed: the directory of dest (%s) does not exist; "
                             "nothing was written" % os.path.dirname(dest))
    assert exc.value.fields == dict(dest=dest, root="/", exclude=["/zookeeper"], changed=False)


def summary(**kw):
    s = dict(changed=True, trailer=dict(count=3, digest="d", typed_digest="t", digest_version=2,
                                        zxid_end=5, vanished=0),
             header=dict(kinds_exact=False, source={"type": "live"}, zxid_start=4),
             walk=dict(seconds=0, partial=True, unreadable=["/a/x"], acl_hidden=["/a/y"],
                       acl_hidden_count=1),
             ephemeral_skipped=0, ephemeral_kept=0, sequential=0, modified_during_export=0,
             bytes=100)
    s.update(kw)
    return s


def test_the_message_of_a_partial_live_export_and_of_a_push():
    base = dict(dest=None, root="/a", exclude=[], changed=True)
    res = tree_job.build_result(params(source="live"), True, base, summary(), 1.23456)
    assert res["seconds"] == 1.235 and res["rate"] is None and "zxid" not in res
    assert res["kinds_note"] == tree_export.KINDS_NOTE and res["unreadable_count"] == 1
    assert res["msg"] == ("exported 3 znodes of /a (partial: 1 subtrees unreadable: /a/x, 1 ACLs hidden)"
                          " (container and TTL znodes recorded as persistent: %s)" % tree_export.KINDS_NOTE)
    pushed = summary(pushed=True, backup_id="t1", destinations=[{"host": "b1"}, {"host": "b2"}],
                     walk=dict(seconds=2))
    res = tree_job.build_result(params(source="live", backup_hosts=["b1", "b2"]), False, base, pushed, 2)
    assert res["rate"] == 1.5 and res["backup_id"] == "t1" and not res["partial"]
    assert res["msg"].startswith("exported 3 znodes of /a; stored as t1 on b1, b2 (container")
    same = summary(pushed=False, backup_id=None, destinations=[], walk=dict(seconds=2))
    res = tree_job.build_result(params(source="live", backup_hosts=["b1"]), False, base, same, 2)
    assert "; the backup hosts already hold an export with the same digests" in res["msg"]
    res = tree_job.build_result(params(source="live", backup_hosts=["b1"]), True, base, same, 2)
    assert "already hold" not in res["msg"]
