"""ensemble_info: the zk_info job without the AnsibleModule: the local member from zoo.cfg,
the checks of the answers, and a report of members that are down."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import info


def params(**kw):
    p = dict(hosts=None, config_file=None, server_id=None, client_check=False, client_check_path="/",
             restart_triggers=[], tls=False, connect_timeout=1)
    p.update(kw)
    return p


def test_an_unreadable_zoo_cfg_fails_naming_the_way_out(tmp_path):
    with pytest.raises(info.InfoError) as exc:
        info.local_member(params(config_file=str(tmp_path / "zoo.cfg")), [])
    assert exc.value.msg.endswith(". Set config_file to the zoo.cfg of the ZooKeeper server on this host, "
                                  "or hosts to query members over the network without one.")
    assert exc.value.fields == {"changed": False}


def test_hosts_alone_read_no_zoo_cfg():
    warnings = []
    assert info.local_member(params(hosts="zk1:2181"), warnings) == (None, None)
    assert warnings == []


def test_a_member_without_myid_is_warned_of(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=2181\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n" % data)
    warnings = []
    loaded, me = info.local_member(params(config_file=str(cfg)), warnings)
    assert me is None and loaded.data_dir == str(data)
    assert warnings == ["no server id: %s/myid does not exist and server_id is not set; no local member "
                        "is reported" % data]


def st(mode, error=None, reachable=True):
    return {"mode": mode, "error": error, "reachable": reachable}


def test_answers_that_are_not_zookeeper_or_none_at_all_fail():
    res = {"members": [], "member": None}
    info.check_answers(["zk1:2181"], [st("follower")], res)
    with pytest.raises(info.InfoError) as exc:
        info.check_answers(["zk1:22"], [st("not_zookeeper", "zk1:22 answers SSH")], res)
    assert exc.value.msg == ("not ZooKeeper: zk1:22 answers SSH. Check the ports in hosts (the client port "
                             "is usually 2181).")
    assert exc.value.fields == dict(changed=False, members=[], member=None)
    with pytest.raises(info.InfoError) as exc:
        info.check_answers(["zk1:2181", "zk2:2181"], [st("down", "refused", False), st("down", "timeout", False)],
                           res)
    assert exc.value.msg.startswith("no ZooKeeper answered at zk1:2181, zk2:2181: refused; timeout.")


def test_client_checks_try_a_member_without_a_session_once_more_and_refusals_not():
    from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection
    calls = []

    def check(p, address, path):
        calls.append(address)
        n = calls.count(address)
        if address == "zk1:2181" and n == 1:
            raise connection.ZkConnectError("could not connect within 1s", transient=True)
        if address == "zk2:2181":
            raise connection.ZkConnectError("not authorised on /")
        if address == "zk3:2181":
            raise connection.ZkConnectError("could not connect within 1s", transient=True)
        return {"address": address, "path": path, "ok": True, "seconds": 0.1}
    members = [{"address": "zk%d:2181" % i, "serving": True} for i in (1, 2, 3)]
    members.append({"address": "zk4:2181", "serving": False})
    failures = info.run_client_checks(params(), members, check=check)
    assert calls == ["zk1:2181", "zk1:2181", "zk2:2181", "zk3:2181", "zk3:2181"]
    assert members[0]["client_check"]["ok"] and members[0]["client_check"]["attempts"] == 2
    assert members[1]["client_check"] == {"address": "zk2:2181", "ok": False,
                                          "error": "not authorised on /", "attempts": 1}
    assert members[2]["client_check"]["attempts"] == 2 and not members[2]["client_check"]["ok"]
    assert failures == ["not authorised on /", "could not connect within 1s"]
    assert "client_check" not in members[3]
