"""zk_info and zk_quiesce main(): argument handling, bad input, check mode.

AnsibleModule's exit_json/fail_json are patched to raise; everything else is real: zoo.cfg
files, sockets answering like ZooKeeper, a fake /proc.
"""
import os
import sys
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zk_fakes import (FakeProc, FakeZk, closed_port, member_layout, srvr_text,  # noqa: E402
                      zk_argv)

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.modules import zk_info  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.modules import zk_quiesce  # noqa: E402


class Done(Exception):
    def __init__(self, result, failed):
        super(Done, self).__init__(result.get("msg"))
        self.result = result
        self.failed = failed


def run(module, args, check=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True

    def exit_json(self, **kw):
        raise Done(kw, False)

    def fail_json(self, msg, **kw):
        kw["msg"] = msg
        raise Done(kw, True)
    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json):
        with pytest.raises(Done) as e:
            module.main()
    return e.value.result, e.value.failed


@pytest.fixture
def ensemble(tmp_path, monkeypatch):
    zks = [FakeZk({"srvr": srvr_text("follower", 0x100000003)}),
           FakeZk({"srvr": srvr_text("leader", 0x100000003)}),
           FakeZk({"srvr": srvr_text("follower", 0x100000003)})]
    cfg = member_layout(tmp_path, [z.port for z in zks], me=1)
    fp = FakeProc(tmp_path / "proc")
    fp.add(10, zk_argv(cfg))
    fp.set_listening([zks[0].port])
    monkeypatch.setattr(proc, "PROC", fp.root)
    yield cfg, zks, fp
    for z in zks:
        z.close()


def test_info_reports_and_never_changes(ensemble):
    cfg, zks = ensemble[:2]
    for check in (False, True):
        res, failed = run(zk_info, {"config_file": cfg}, check=check)
        assert not failed and res["changed"] is False
        assert res["ensemble"]["leader"] == 2 and res["member"]["myid"] == 1
        assert res["member"]["process"]["pid"] == 10
        assert res["not_learned"]                       # only srvr answered


def test_info_missing_config(tmp_path):
    res, failed = run(zk_info, {"config_file": str(tmp_path / "zoo.cfg")})
    assert failed and "does not exist" in res["msg"] and "set config_file" in res["msg"].lower()


def test_info_bad_hosts():
    res, failed = run(zk_info, {"hosts": "127.0.0.1:%d" % closed_port(),
                                "connect_timeout": 1})
    assert failed and "no ZooKeeper answered" in res["msg"] and "connection refused" in res["msg"]
    ssh = FakeZk({"srvr": "SSH-2.0-OpenSSH_9.2p1\r\n"})
    try:
        res, failed = run(zk_info, {"hosts": ssh.address})
    finally:
        ssh.close()
    assert failed and "not ZooKeeper" in res["msg"] and "port" in res["msg"]


def test_info_down_member_is_a_warning_not_a_failure(ensemble):
    cfg, zks = ensemble[:2]
    zks[2].close()
    res, failed = run(zk_info, {"config_file": cfg})
    assert not failed
    assert [m["mode"] for m in res["members"]] == ["follower", "leader", "down"]
    assert res["ensemble"]["quorum"] is True and res["ensemble"]["tolerance"] == 0


def test_info_client_check(ensemble, monkeypatch):
    cfg, zks = ensemble[:2]
    monkeypatch.setattr(zk_client, "HAS_KAZOO", False)
    res, failed = run(zk_info, {"config_file": cfg, "client_check": True})
    assert failed and "kazoo" in res["msg"] and "python3-kazoo" in res["msg"]
    monkeypatch.setattr(zk_client, "HAS_KAZOO", True)

    def refuse(params, address, path):
        assert params["auth"][0]["credential"] == "app:wrong"
        raise zk_client.ZkConnectError("%s: not authorised on %s" % (address, path))
    monkeypatch.setattr(zk_client, "client_check", refuse)
    res, failed = run(zk_info, {"config_file": cfg, "client_check": True,
                                "client_check_path": "/app",
                                "auth": [{"credential": "app:wrong"}]})
    assert failed and "client check failed" in res["msg"] and "not authorised on /app" in res["msg"]
    assert "app:wrong" not in repr(res)


def test_quiesce_bad_input(ensemble, tmp_path, monkeypatch):
    cfg, zks, fp = ensemble
    res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": str(tmp_path / "x.cfg")})
    assert failed and "does not exist" in res["msg"] and res["changed"] is False
    res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": cfg, "server_id": 9})
    assert failed and "server id 9 is not among the servers" in res["msg"]
    res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": cfg,
                                   "hosts": "127.0.0.1:22"})
    assert failed and "hosts names port 22" in res["msg"]
    res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": cfg,
                                   "service_name": "no-such-service"})
    assert failed and "no-such-service" in res["msg"] and "service_manager=command" in res["msg"]
    monkeypatch.setattr(zk_client, "HAS_KAZOO", False)
    res, failed = run(zk_quiesce, {"state": "serving", "config_file": cfg})
    assert failed and "kazoo" in res["msg"]
    assert proc.alive(10)                                  # nothing was touched


def test_quiesce_myid_missing(ensemble):
    cfg = ensemble[0]
    os.remove(os.path.join(os.path.dirname(os.path.dirname(cfg)), "data", "myid"))
    res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": cfg})
    assert failed and "myid does not exist" in res["msg"] and "server_id" in res["msg"]


def test_quiesce_command_manager_check_mode_and_real(ensemble, tmp_path):
    cfg, zks, fp = ensemble
    marker = tmp_path / "stopped"
    args = {"state": "quiesced", "config_file": cfg, "service_manager": "command",
            "start_command": ["/bin/true"],
            "stop_command": ["/bin/sh", "-c", "touch %s" % marker], "timeout": 1}
    res, failed = run(zk_quiesce, args, check=True)
    assert not failed and res["changed"] and res["action"] == "stop" and not marker.exists()
    # The stop command "works" but the process stays: a clear failure with what is left.
    res, failed = run(zk_quiesce, args)
    assert failed and marker.exists() and "did not stop within 1.0s" in res["msg"]
    assert res["cmd"] == ["/bin/sh", "-c", "touch %s" % marker] and res["rc"] == 0
    fp.kill(10)
    fp.set_listening([])
    res, failed = run(zk_quiesce, args)
    assert not failed and not res["changed"] and res["after"]["state"] == "quiesced"


def test_standalone_server(tmp_path, monkeypatch):
    """No server lines: the one server is the whole service; stopping it needs consent."""
    zk = FakeZk({"srvr": srvr_text("standalone", 0x12)})
    try:
        data = tmp_path / "data"
        data.mkdir()
        cfg = tmp_path / "zoo.cfg"
        cfg.write_text("dataDir=%s\nclientPort=%d\n" % (data, zk.port))
        fp = FakeProc(tmp_path / "proc")
        fp.add(10, zk_argv(str(cfg)))
        monkeypatch.setattr(proc, "PROC", fp.root)
        res, failed = run(zk_info, {"config_file": str(cfg)})
        assert not failed and res["member"]["myid"] == 0 and res["member"]["mode"] == "standalone"
        e = res["ensemble"]
        assert e["leader"] == 0 and e["voters"] == [0] and e["quorum"] and e["tolerance"] == 0
        res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": str(cfg)},
                          check=True)
        assert failed and "refusing to stop server 0" in res["msg"]
        res, failed = run(zk_quiesce, {"state": "quiesced", "config_file": str(cfg),
                                       "allow_quorum_loss": True}, check=True)
        assert not failed and res["changed"]
    finally:
        zk.close()
