"""zk_tree_export as a module with source files: the export, idempotence, check mode,
zoo.cfg, and bad input that fails clearly before anything is written or sent."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zk_fakes import FakeZk, closed_port, srvr_text  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tf  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.modules import zk_tree_export  # noqa: E402

LAST = "0x10000000c"


def test_files_export_is_idempotent_and_check_mode_writes_nothing(run_module, kinds_data_dir, tmp_path):
    dest = str(tmp_path / "t.zktree.gz")
    args = dict(source="files", data_dir=kinds_data_dir, dest=dest)
    ok, r = run_module(zk_tree_export, check=True, **args)
    assert ok and r["changed"] and not os.path.exists(dest), r
    ok, r = run_module(zk_tree_export, **args)
    assert ok and r["changed"], r
    assert r["zxid"] == LAST and r["zxid_start"] == r["zxid_end"] == int(LAST, 16)
    assert r["kinds_exact"] and "kinds_note" not in r and r["typed_digest"] != r["digest"]
    assert r["count"] == 9 and r["ephemeral_skipped"] == 1 and r["sequential"] == 2
    assert r["source"]["type"] == "files" and r["source"]["snapshot"] == "snapshot.100000001"
    assert "at zxid %s from the data files" % LAST in r["msg"]
    header, trailer = tf.read_summary(dest)
    assert header["kinds_exact"] and trailer["typed_digest"] == r["typed_digest"]
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600"
    again = run_module(zk_tree_export, **args)[1]
    assert not again["changed"] and again["digest"] == r["digest"]
    assert not run_module(zk_tree_export, check=True, **args)[1]["changed"]
    # An earlier zxid is another tree: the file changes.
    older = run_module(zk_tree_export, target_zxid="0x100000004", **args)[1]
    assert older["changed"] and older["zxid"] == "0x100000004" and older["count"] == 5


def test_target_zxid_0x_is_hex_and_bare_digits_are_decimal(run_module, kinds_data_dir, tmp_path):
    args = dict(source="files", data_dir=kinds_data_dir, dest=str(tmp_path / "z.zktree.gz"))
    for given in ("0x100000004", "0X100000004", str(0x100000004)):
        ok, r = run_module(zk_tree_export, target_zxid=given, **args)
        assert ok and r["zxid"] == "0x100000004" and r["count"] == 5, given
    # The digits of a file name without 0x are a decimal number, before every transaction here.
    ok, r = run_module(zk_tree_export, target_zxid="100000004", **dict(args, dest=str(tmp_path / "d.zktree.gz")))
    assert not ok and "snapshot.100000001: newer than the target" in r["msg"], r
    assert not os.path.exists(str(tmp_path / "d.zktree.gz"))


def test_config_file_gives_the_directories(run_module, kinds_data_dir, tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=2000\ndataDir=%s\nclientPort=%d\n" % (kinds_data_dir, closed_port()))
    ok, r = run_module(zk_tree_export, source="files", config_file=str(cfg),
                       dest=str(tmp_path / "c.zktree.gz"), root="/a", exclude=["/a/t"])
    assert ok, r
    assert r["count"] == 5 and r["source"]["data_dir"] == kinds_data_dir and r["root"] == "/a"
    # No server answers: a stopped member's files are exported to their end.
    assert r["zxid"] == LAST and r["source"]["applied_zxid"] is None


def test_a_serving_members_files_end_at_its_applied_zxid(run_module, kinds_data_dir, tmp_path):
    zk = FakeZk({"srvr": srvr_text("follower", 0x100000004)})
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=%d\n" % (kinds_data_dir, zk.port))
    args = dict(source="files", config_file=str(cfg), dest=str(tmp_path / "s.zktree.gz"))
    ok, r = run_module(zk_tree_export, **args)
    assert ok and r["zxid"] == r["source"]["applied_zxid"] == "0x100000004", r
    assert r["count"] == 5
    # A later target is bounded too; an earlier one is kept.
    assert run_module(zk_tree_export, target_zxid=LAST, **args)[1]["zxid"] == "0x100000004"
    assert run_module(zk_tree_export, target_zxid="0x100000003", **args)[1]["zxid"] == "0x100000003"
    # The same files named by data_dir are still the server's own.
    assert run_module(zk_tree_export, data_dir=kinds_data_dir, **args)[1]["zxid"] == "0x100000004"
    # srvr not allowed: everything logged, and a warning that says why.
    zk.answers.clear()
    ok, r = run_module(zk_tree_export, **dict(args, dest=str(tmp_path / "w.zktree.gz")))
    assert ok and r["zxid"] == LAST
    assert any("srvr is not whitelisted" in w and "may not be committed" in w
               for w in run_module.warnings)


@pytest.mark.parametrize("args, message", [
    (dict(target_zxid="zz"), "target_zxid 'zz' is neither hex"),
    (dict(target_zxid="10000000c"), "target_zxid '10000000c' is neither hex (0x...) nor decimal"),
    (dict(target_time="yesterday"), "target_time 'yesterday' is not an ISO 8601"),
    (dict(target_zxid="0x1000000ff"), "past the last logged transaction"),
    (dict(root="/nope"), "the root /nope does not exist in the tree at 0x10000000c"),
    (dict(data_dir="/nonexistent"), "data_dir /nonexistent does not exist"),
    (dict(data_dir=None, config_file="/nonexistent/zoo.cfg"), "cannot read dataDir from"),
    (dict(dest=None), "one of the following is required: dest, backup_hosts"),
    (dict(backup_hosts=["b1"]), "missing parameter(s) required by 'backup_hosts': ensemble"),
    (dict(backup_hosts=["b1"], ensemble="../x"), "ensemble '../x' is not a valid name"),
    (dict(backup_hosts=[], ensemble="e"), "backup_hosts is empty"),
    (dict(source="live", data_dir=None), "source is live but all of the following are missing: hosts"),
])
def test_bad_input_fails_clearly_and_writes_nothing(run_module, kinds_data_dir, tmp_path, args, message):
    dest = str(tmp_path / "bad.zktree.gz")
    full = dict(source="files", data_dir=kinds_data_dir, dest=dest)
    full.update(args)
    full = dict((k, v) for k, v in full.items() if v is not None)
    ok, r = run_module(zk_tree_export, **full)
    assert not ok and message in r["msg"], r
    assert not os.path.exists(dest) and os.listdir(str(tmp_path)) == ["data"]


def test_unreachable_backup_host_fails_before_the_export(run_module, kinds_data_dir, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    ok, r = run_module(zk_tree_export, source="files", data_dir=kinds_data_dir,
                       backup_hosts=["127.0.0.1:%d" % closed_port()], ensemble="lab",
                       ssh_known_hosts_file=str(known), ssh_connect_timeout=2,
                       ssh_private_key="not a key")
    assert not ok
    assert "nothing was exported or sent" in r["msg"] and "not a key" not in str(r), r
