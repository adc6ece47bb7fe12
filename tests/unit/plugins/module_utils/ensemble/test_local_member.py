"""member.LocalMember: the one model of the ZooKeeper member on this host, as the backup
and restore workflows and quiescing see it."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from zk_fakes import FakeProc, FakeZk, member_layout, srvr_text, zk_argv  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import workflow as backup  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import workflow as restore  # noqa: E402


@pytest.fixture
def host(tmp_path, monkeypatch):
    zks = [FakeZk({"srvr": srvr_text("follower", 0x100000003)}),
           FakeZk({"srvr": srvr_text("leader", 0x100000005)}),
           FakeZk({"srvr": srvr_text("follower", 0x100000000)})]
    cfg = member_layout(tmp_path, [z.port for z in zks], me=1)
    fp = FakeProc(tmp_path / "proc")
    monkeypatch.setattr(proc, "PROC", fp.root)
    yield cfg, zks, fp
    for z in zks:
        z.close()


def test_directories_and_id_from_zoo_cfg_or_the_options(host, tmp_path):
    cfg = host[0]
    m = member_mod.LocalMember.load(cfg)
    data = str(tmp_path / "data")
    assert (m.me, m.config_file, m.data_dir, m.data_log_dir) == (1, cfg, data, data)
    port = host[1][0].port
    assert m.address == ("127.0.0.1", port) and m.ports == sorted([12888, 13888, port])
    m = member_mod.LocalMember.load(cfg, 2, "/srv/d", "/srv/l")
    assert (m.me, m.data_dir, m.data_log_dir) == (2, "/srv/d", "/srv/l")
    # zoo.cfg's dataLogDir (its dataDir when unset) stays the log directory.
    assert member_mod.LocalMember.load(cfg, data_dir="/srv/d").data_log_dir == data
    with pytest.raises(zoo_cfg.ZooCfgError):
        member_mod.LocalMember.load(str(tmp_path / "missing.cfg"))


def test_process_ports_and_status(host):
    cfg, zks, fp = host
    m = member_mod.LocalMember.load(cfg, timeout=2.0)
    assert not m.running() and m.in_use() == ([], [])
    assert m.observe()["state"] == "quiesced"
    fp.add(10, zk_argv(cfg))
    fp.add(11, zk_argv("/etc/other/zoo.cfg"))
    fp.set_listening([zks[0].port, 12888])
    assert m.running()
    ours, foreign = m.processes()
    assert [p["pid"] for p in ours] == [10] and [p["pid"] for p in foreign] == [11]
    assert m.listening() == sorted([12888, zks[0].port])
    assert m.in_use() == ([10], sorted([12888, zks[0].port]))
    obs = m.observe()
    assert obs["state"] == "serving" and obs["pids"] == [10] and obs["status"]["mode"] == "follower"
    assert [o["mode"] for o in m.others()] == ["leader", "follower"]
    # Counter 0 only opens an epoch: the highest zxid of a transaction is the leader's.
    assert m.highest_zxid() == 0x100000005


def test_no_client_port(tmp_path):
    path = tmp_path / "zoo.cfg"
    path.write_text("dataDir=%s\nserver.1=127.0.0.1:2888:3888\n" % tmp_path)
    m = member_mod.LocalMember(zoo_cfg.load(str(path)), 1)
    assert m.address is None and m.ports == [2888, 3888]
    assert m.status() == member_mod.blank_status("unknown", 1)
    with pytest.raises(backup.BackupError, match="gives no client port for this member"):
        backup.client_status(m)


def test_each_workflow_keeps_its_errors(tmp_path):
    missing = str(tmp_path / "zoo.cfg")
    with pytest.raises(backup.BackupError, match=r"\. Set config_file to this member's zoo.cfg$"):
        backup.local_member({"config_file": missing})
    with pytest.raises(restore.RestoreError, match=r"\. Set config_file to this member's zoo.cfg$"):
        restore.local_member({"config_file": missing})


def test_without_a_server_id_a_restore_watches_the_client_port_only(host):
    cfg, zks, fp = host
    m = member_mod.LocalMember(zoo_cfg.load(cfg), None)
    fp.set_listening([zks[0].port, 12888, 13888])
    assert m.in_use() == ([], [zks[0].port])
