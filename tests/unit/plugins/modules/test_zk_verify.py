"""zk_verify as a module: arguments, the report, and failure with reasons."""
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils import txn as T
from ansible_collections.zkops.zookeeper.plugins.modules import zk_verify

E = 0x100000000


class Exit(Exception):
    pass


class Fail(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    basic._ANSIBLE_PROFILE = "legacy"

    def exit_json(self, **kw):
        raise Exit(kw)

    def fail_json(self, **kw):
        raise Fail(kw)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def call(**args):
        args.setdefault("_ansible_check_mode", False)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises((Exit, Fail)) as e:
            zk_verify.main()
        return e.type is Exit, e.value.args[0]
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
    ok, res = run(data_dir=make_dir(tmp_path), deep=True, _ansible_check_mode=True)
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


def test_bad_arguments(run, tmp_path):
    ok, res = run(data_dir=make_dir(tmp_path), target_zxid="zz")
    assert not ok and "neither hex" in res["msg"]
    ok, res = run(data_dir=str(tmp_path / "nope"))
    assert not ok and "does not exist" in res["msg"]
    ok, res = run(files=[str(tmp_path / "nope")])
    assert not ok and "not found" in res["msg"]


def test_parse_time():
    assert zk_verify.parse_time("1700000000000") == 1700000000000
    assert zk_verify.parse_time("2023-11-14T22:13:20Z") == 1700000000000
    assert zk_verify.parse_time("2023-11-14T22:13:20") == 1700000000000
    assert zk_verify.parse_time("2023-11-15T00:13:20+02:00") == 1700000000000
