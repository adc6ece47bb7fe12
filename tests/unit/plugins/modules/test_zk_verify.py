"""zk_verify as a module: arguments, the report, and failure with reasons."""
import os

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir, snapshot
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.modules import zk_verify

E = 0x100000000


@pytest.fixture
def run(run_module):
    def call(check=False, **args):
        return run_module(zk_verify, check=check, **args)
    return call


def make_dir(tmp_path, gap=False):
    d = tmp_path / "data" / "version-2"
    d.mkdir(parents=True)
    W.write(str(d / "snapshot.100000002"), W.snapshot_stream(W.basic_tree(), digest=(E + 2, 2, 0)))
    last = 9 if gap else 6
    raws = [W.txn(E + i, T.CREATE, W.create("/n%d" % i, b"v")) for i in range(1, last + 1) if not (gap and i in (7, 8))]
    W.write(str(d / "log.100000001"), W.log_bytes(raws))
    W.write(str(d / "currentEpoch"), b"1")
    W.write(str(d / "acceptedEpoch"), b"1")
    return str(tmp_path / "data")


def test_reports_a_restorable_directory(run, tmp_path):
    ok, res = run(data_dir=make_dir(tmp_path), deep=True, check=True)
    assert ok and res["changed"] is False and res["restorable"]
    assert res["last_zxid"] == "0x100000006" and res["znode_count"] == 7
    # The synthetic snapshot records a ZooKeeper digest of 0: the replay disagrees.
    zd = res["replay"]["zk_digest"]
    assert zd["checked"] == 1 and zd["mismatches"][0]["zxid"] == "0x100000002"
    assert any("ZooKeeper's own digest differs" in f for f in res["findings"])


def test_config_file_and_files_options(run, tmp_path):
    d = make_dir(tmp_path)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("# comment\ntickTime=2000\ndataDir = %s\nclientPort=2181\n" % d)
    ok, res = run(config_file=str(cfg), target_zxid="0x100000004", deep=True)
    assert ok and res["last_zxid"] == "0x100000004" and res["znode_count"] == 5
    files = [os.path.join(d, "version-2", n) for n in os.listdir(os.path.join(d, "version-2"))]
    ok, res = run(files=files, target_time=str(W.T0 + E + 5))
    assert ok and res["last_zxid"] == "0x100000005"


def test_fails_with_reasons(run, tmp_path):
    ok, res = run(data_dir=make_dir(tmp_path, gap=True))
    assert not ok and not res["restorable"]
    assert "cannot be restored: transactions missing between 0x100000006 and 0x100000009" in res["msg"]
    assert "A point-in-time restore can still reach 0x100000006" in res["msg"]


def test_a_snappy_snapshot_this_host_cannot_read_is_not_called_unrestorable(run, tmp_path, monkeypatch):
    pytest.importorskip("snappy")      # to write the file
    d = tmp_path / "data" / "version-2"
    d.mkdir(parents=True)
    W.write(str(d / "snapshot.100000002.snappy"),
            W.compress(W.snapshot_stream(W.basic_tree(), digest=(E + 2, 2, 0)), "snappy"))
    W.write(str(d / "log.100000001"), W.log_bytes([W.txn(E + 1, T.CREATE, W.create("/n1", b"v"))]))
    with_library = snapshot._snappy_decompressor
    monkeypatch.setattr(snapshot, "_snappy_decompressor", lambda: None)
    ok, res = run(data_dir=str(tmp_path / "data"))
    assert not ok and not res["restorable"]
    assert res["unreadable_here"] == [snapshot.SNAPPY_MISSING]
    assert res["msg"].startswith("this host cannot read %s: %s" % (tmp_path / "data", snapshot.SNAPPY_MISSING))
    assert "cannot be restored" not in res["msg"] and "not judged damaged" in res["msg"]

    # With the library the same files are judged: restorable.
    monkeypatch.setattr(snapshot, "_snappy_decompressor", with_library)
    ok, res = run(data_dir=str(tmp_path / "data"))
    assert ok and res["restorable"] and res["unreadable_here"] == []


def test_verdict_keeps_real_reasons_apart_from_what_this_host_cannot_read():
    rep = {"reasons": ["transactions missing between 0x1 and 0x4", snapshot.SNAPPY_MISSING],
           "unreadable_here": [snapshot.SNAPPY_MISSING], "restorable_until": None}
    msg = datadir.verdict("/d", rep)
    assert msg.startswith("/d cannot be restored: transactions missing between 0x1 and 0x4; "
                          "besides, this host cannot read some of them: " + snapshot.SNAPPY_MISSING)
    rep = {"reasons": ["a"], "unreadable_here": [], "restorable_until": "0x5"}
    assert datadir.verdict("/d", rep) == "/d cannot be restored: a. A point-in-time restore can still reach 0x5."


def test_bad_arguments(run, tmp_path):
    ok, res = run(data_dir=make_dir(tmp_path), target_zxid="zz")
    assert not ok and "neither hex" in res["msg"]
    ok, res = run(data_dir=str(tmp_path / "nope"))
    assert not ok and "does not exist" in res["msg"]
    ok, res = run(files=[str(tmp_path / "nope")])
    assert not ok and "not found" in res["msg"]


def test_target_zxid_0x_is_hex_and_bare_digits_are_decimal(run, tmp_path):
    d = make_dir(tmp_path)
    for given in ("0x100000004", "0X100000004", str(E + 4)):
        ok, res = run(data_dir=d, target_zxid=given)
        assert ok and res["target_zxid"] == "0x100000004" and res["last_zxid"] == "0x100000004", given
    # "100000004" as in a file name is decimal here: before the snapshot, not the hex zxid.
    ok, res = run(data_dir=d, target_zxid="100000004")
    assert not ok and res["target_zxid"] == "0x5f5e104"
    # Hex digits without 0x are refused, never guessed.
    ok, res = run(data_dir=d, target_zxid="10000000a")
    assert not ok and "target_zxid '10000000a' is neither hex (0x...) nor decimal" in res["msg"]
