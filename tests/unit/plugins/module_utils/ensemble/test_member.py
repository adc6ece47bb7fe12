"""member: statuses from real sockets answering like ZooKeeper, the zk_info report."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from zk_fakes import (NOT_SERVING, FakeProc, FakeZk, closed_port, conf_text,  # noqa: E402
                      member_layout, mntr_text, srvr_text, zk_argv)

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg  # noqa: E402


@pytest.fixture
def servers():
    made = []

    def make(*answers):
        new = [FakeZk(a) for a in answers]
        made.extend(new)
        return new
    yield make
    for s in made:
        s.close()


def test_query_everything(servers):
    (s,) = servers({"srvr": srvr_text("leader", 0x20000000a, 9),
                    "mntr": mntr_text("leader", 2, 2),
                    "conf": conf_text(3, "/var/lib/zookeeper", "/srv/txnlog", [1, 2, 3])})
    st = member.query("127.0.0.1", s.port)
    assert st["mode"] == "leader" and st["serving"] and st["reachable"]
    assert (st["zxid"], st["epoch"], st["counter"]) == ("0x20000000a", 2, 10)
    assert st["version"] == "3.8.0" and st["znode_count"] == 9
    assert st["outstanding_requests"] == 1 and st["latency"] == {"min": 0.0, "avg": 0.5,
                                                                 "max": 3.0}
    assert st["learners"] == 2 and st["synced_followers"] == 2 and st["ephemerals_count"] == 2
    assert st["id"] == st["server_id"] == 3
    assert st["data_dir"] == "/var/lib/zookeeper" and st["data_log_dir"] == "/srv/txnlog"
    assert st["data_dir_source"] == "conf"
    assert [m["id"] for m in st["membership"]["servers"]] == [1, 2, 3]
    assert st["learned_from"] == ["srvr", "mntr", "conf"] and st["not_learned"] == []


def test_query_srvr_only_says_what_it_did_not_learn(servers):
    (s,) = servers({"srvr": srvr_text()})
    st = member.query("127.0.0.1", s.port, sid=2)
    assert st["mode"] == "follower" and st["id"] == 2 and st["learners"] is None
    assert st["learned_from"] == ["srvr"]
    assert [(n["source"], n["reason"]) for n in st["not_learned"]] == [
        ("mntr", "not whitelisted"), ("conf", "not whitelisted")]
    text = member.not_learned_summary([st])
    assert any("'mntr' is not in 4lw.commands.whitelist on 127.0.0.1:%d" % s.port in t
               for t in text)


def test_query_names_the_mntr_fields_an_older_release_does_not_report(servers):
    leader, follower = servers(
        {"srvr": srvr_text("leader", version="3.5.9"), "mntr": mntr_text("leader", 2, 2, "3.5.9"),
         "conf": conf_text(1)},
        {"srvr": srvr_text(version="3.5.9"), "mntr": mntr_text(version="3.5.9"),
         "conf": conf_text(2)})
    st = member.query("127.0.0.1", leader.port)
    assert st["version"] == "3.5.9" and st["learners"] == 2 and st["pending_syncs"] == 0
    assert st["learned_from"] == ["srvr", "mntr", "conf"]
    assert st["not_learned"] == [{
        "source": "mntr", "reason": "not reported by ZooKeeper 3.5.9",
        "fields": ["digest_mismatches", "peer_state", "quorum_size", "synced_observers",
                   "uptime_ms"]}]
    assert st["peer_state"] is st["uptime_ms"] is st["digest_mismatches"] is None
    fst = member.query("127.0.0.1", follower.port)
    # A follower's answer lacks the leader's fields on every release: not named.
    assert [n["fields"] for n in fst["not_learned"]] == [
        ["digest_mismatches", "peer_state", "quorum_size", "uptime_ms"]]
    text = member.not_learned_summary([st, fst])
    assert "'mntr' (not reported by ZooKeeper 3.5.9) on 127.0.0.1:%d: unknown digest_mismatches, " \
           "peer_state, quorum_size, uptime_ms" % follower.port in text
    # The same words of a 3.8 member: nothing left out.
    new_leader, new_follower = servers(
        {"srvr": srvr_text("leader"), "mntr": mntr_text("leader", 2, 2), "conf": conf_text(1)},
        {"srvr": srvr_text(), "mntr": mntr_text(), "conf": conf_text(2)})
    for s in (new_leader, new_follower):
        assert member.query("127.0.0.1", s.port)["not_learned"] == []


def test_query_not_serving_down_and_foreign(servers):
    (ns, ssh) = servers({"srvr": NOT_SERVING}, {"srvr": "SSH-2.0-OpenSSH_9.2p1\r\n"})
    st = member.query("127.0.0.1", ns.port)
    assert st["mode"] == "not_serving" and st["reachable"] and not st["serving"]
    assert ns.received == ["srvr"]                      # nothing else asked
    st = member.query("127.0.0.1", closed_port())
    assert st["mode"] == "down" and "connection refused" in st["error"]
    st = member.query("127.0.0.1", ssh.port)
    assert st["mode"] == "not_zookeeper" and "not ZooKeeper" in st["error"]


def test_report_from_zoo_cfg(servers, tmp_path, monkeypatch):
    s1, s2, s3 = servers({"srvr": srvr_text("follower", 0x100000005)},
                         {"srvr": srvr_text("leader", 0x100000007), "mntr": mntr_text("leader", 2, 1)},
                         {})
    s3.close()
    cfg_path = member_layout(tmp_path, [s1.port, s2.port, s3.port], me=1)
    fp = FakeProc(tmp_path / "proc", uptime=1000.0)
    fp.add(4242, zk_argv(cfg_path), start_ticks=0)        # started 1000 s ago
    monkeypatch.setattr(proc, "PROC", fp.root)
    cfg = zoo_cfg.load(cfg_path)
    res = member.report(cfg=cfg, me=1)
    ms = res["members"]
    assert [(m["id"], m["mode"]) for m in ms] == [(1, "follower"), (2, "leader"), (3, "down")]
    # srvr only on 1: directories from zoo.cfg, marked as such.
    assert ms[0]["data_dir"] == str(tmp_path / "data") and ms[0]["data_dir_source"] == "zoo.cfg"
    assert ms[1]["data_dir_source"] == "zoo.cfg (local copy)"
    me = res["member"]
    assert me["myid"] == 1 and me["mode"] == "follower"
    assert me["process"]["pid"] == 4242 and me["process"]["uptime_seconds"] >= 999
    assert me["restart_pending"] is True          # zoo.cfg was written after the "start"
    assert me["restart_pending_files"] == [cfg_path]
    assert me["disk"]["snapshot_count"] == 2 and me["disk"]["log_count"] == 1
    e = res["ensemble"]
    assert e["leader"] == 2 and e["serving_voters"] == [1, 2] and e["quorum"] is True
    assert e["tolerance"] == 0 and e["lag"] == {"1": 2, "2": 0}
    assert e["highest"]["members"] == [2]
    assert "hunter2" not in repr(res)
    assert any("conf" in t for t in res["not_learned"])


def test_report_restart_not_pending(servers, tmp_path, monkeypatch):
    (s1,) = servers({"srvr": srvr_text("standalone", 0x5)})
    cfg_path = member_layout(tmp_path, [s1.port], me=1)
    os.utime(cfg_path, (1, 1))
    fp = FakeProc(tmp_path / "proc", uptime=1000.0)
    fp.add(7, zk_argv(cfg_path), start_ticks=99000)
    monkeypatch.setattr(proc, "PROC", fp.root)
    res = member.report(cfg=zoo_cfg.load(cfg_path), me=1)
    assert res["member"]["restart_pending"] is False
    assert res["ensemble"]["leader"] == 1 and res["ensemble"]["quorum"] is True


def test_report_from_hosts_without_config(servers):
    a, b = servers({"srvr": srvr_text("follower"), "conf": conf_text(1, servers=[1, 2, 3])},
                   {"srvr": srvr_text("leader"), "conf": conf_text(2, servers=[1, 2, 3])})
    res = member.report(hosts=[a.address, b.address])
    assert res["member"] is None and res["config"] is None
    assert [m["id"] for m in res["members"]] == [1, 2]
    e = res["ensemble"]
    assert e["voters"] == [1, 2, 3] and e["serving_voter_count"] == 2 and e["quorum"] is True
    # Without conf: no ids, no membership, and the report says so.
    (c,) = servers({"srvr": srvr_text("leader")})
    res = member.report(hosts=[c.address])
    assert res["members"][0]["id"] is None
    assert res["ensemble"]["voters"] is None and res["ensemble"]["quorum"] is True
    assert any("membership is unknown" in t for t in res["not_learned"])


def test_a_server_that_greets_and_waits_is_not_zookeeper():
    """An SSH server sends its banner and waits: recognised after a short stall."""
    import socket
    import threading
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []

    def serve():
        while True:
            try:
                c = srv.accept()[0]
            except OSError:
                return
            c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            held.append(c)
    threading.Thread(target=serve, daemon=True).start()
    t0 = time.time()
    try:
        st = member.query("127.0.0.1", srv.getsockname()[1], timeout=10)
    finally:
        srv.close()
        for c in held:
            c.close()
    assert st["mode"] == "not_zookeeper" and "SSH-2.0" in st["error"]
    assert time.time() - t0 < 5


def test_srvr_zxid_is_read_in_the_0x_form_zookeeper_prints():
    st = {}
    member.parse_srvr(st, {"Mode": "follower", "Zxid": "0x100000003"})
    assert (st["zxid"], st["epoch"], st["counter"]) == ("0x100000003", 1, 3)
    # Bare digits are no zxid ZooKeeper prints: not read, neither as hex nor as decimal.
    st = {}
    member.parse_srvr(st, {"Mode": "follower", "Zxid": "100000003"})
    assert "zxid" not in st and st["mode"] == "follower"


def test_a_standalone_or_read_only_server_lacks_the_quorum_fields_on_every_release():
    """Only a member of a quorum reports its peer state and the quorum size: a standalone or
    read-only server's mntr lacks them on 3.8 too, so they are not blamed on the release."""
    def standalone(state, version):
        lines = [line for line in mntr_text(state, version=version).splitlines()
                 if not line.startswith(("zk_peer_state", "zk_quorum_size"))]
        return "\n".join(lines) + "\n"

    for state in ("standalone", "read-only"):
        st = member.blank_status("127.0.0.1:2181")
        assert member.parse_mntr(st, standalone(state, "3.8.0")) == []
        st = member.blank_status("127.0.0.1:2181")
        assert member.parse_mntr(st, standalone(state, "3.5.9")) == ["digest_mismatches", "uptime_ms"]
    # A follower that does not report them is still named.
    st = member.blank_status("127.0.0.1:2181")
    assert member.parse_mntr(st, standalone("follower", "3.8.0")) == ["peer_state", "quorum_size"]


def test_a_zoo_cfg_the_server_rewrote_is_no_pending_restart(tmp_path, monkeypatch):
    """With dynamic reconfiguration the server writes zoo.cfg itself after it started (at the
    first election, at every reconfig), a few milliseconds after the dynamic file it names:
    that is no change waiting for a restart; a person's later edit of zoo.cfg is."""
    conf = tmp_path / "conf"
    conf.mkdir()
    dyn = conf / "zoo.cfg.dynamic.100000000"
    dyn.write_text("server.1=127.0.0.1:12888:13888:participant;127.0.0.1:2181")
    cfg_path = conf / "zoo.cfg"
    cfg_path.write_text("dataDir=%s\nreconfigEnabled=true\ntickTime=500\ndynamicConfigFile=%s\n"
                        % (tmp_path / "data", dyn))
    now = os.stat(str(dyn)).st_mtime
    os.utime(str(cfg_path), (now + 0.01, now + 0.01))
    fp = FakeProc(tmp_path / "proc", uptime=1000.0)
    fp.add(4242, zk_argv(str(cfg_path)), start_ticks=0)        # started 1000 s ago
    monkeypatch.setattr(proc, "PROC", fp.root)

    def pending():
        me = member.local_details(zoo_cfg.load(str(cfg_path)), 1)
        return me["restart_pending"], me["restart_pending_files"]

    assert member.rewritten_by_server(zoo_cfg.load(str(cfg_path)))
    assert pending() == (False, [])
    # The same file written later than the window after the dynamic file: not the server's.
    later = now + member.SERVER_REWRITE_WINDOW + 1
    os.utime(str(cfg_path), (later, later))
    assert pending() == (True, [str(cfg_path)])
    # Written at once, but by hand (a comment): a change the server has not read.
    cfg_path.write_text("# tickTime raised\n" + cfg_path.read_text())
    os.utime(str(cfg_path), (now + 0.01, now + 0.01))
    assert pending() == (True, [str(cfg_path)])
    # Another file next to it still counts on its own.
    cfg_path.write_text(cfg_path.read_text().split("\n", 1)[1])
    os.utime(str(cfg_path), (now + 0.01, now + 0.01))
    (conf / "java.env").write_text("SERVER_JVMFLAGS=-Xmx1g\n")
    assert pending() == (True, [str(conf / "java.env")])


RUNNING = {"tickTime": "500", "maxClientCnxns": "60", "minSessionTimeout": "1000",
           "maxSessionTimeout": "10000", "clientPortListenBacklog": "-1", "initLimit": "10",
           "syncLimit": "5", "electionAlg": "3", "electionPort": "13888", "quorumPort": "12888",
           "peerType": "0"}


def test_a_setting_the_server_does_not_run_with_is_a_pending_restart_whatever_the_file_time(
        servers, tmp_path, monkeypatch):
    """zoo.cfg edited (tickTime), then rewritten by the server at a reconfig: its time says
    nothing, the conf answer does."""
    fp = FakeProc(tmp_path / "proc", uptime=1000.0)
    monkeypatch.setattr(proc, "PROC", fp.root)

    def report(running, extra_cfg=""):
        (s1,) = servers({"srvr": srvr_text("standalone", 0x5),
                         "conf": conf_text(1, str(tmp_path / "data"), settings=running)})
        cfg_path = member_layout(tmp_path, [s1.port], me=1, extra_cfg=extra_cfg)
        os.utime(cfg_path, (1, 1))                 # older than the server
        fp.add(7, zk_argv(cfg_path), start_ticks=99000)
        return cfg_path, member.report(cfg=zoo_cfg.load(cfg_path), me=1)["member"]

    cfg_path, me = report(RUNNING)
    assert (me["restart_pending"], me["restart_pending_files"], me["restart_pending_settings"]) == (False, [], [])
    assert me["running_settings"]["tickTime"] == "500" and "electionAlg" not in me["running_settings"]
    # The server runs with tickTime 2000, zoo.cfg says 500; maxClientCnxns is not set in zoo.cfg
    # (the server's default is no change), and a directory compares without version-2.
    cfg_path, me = report(dict(RUNNING, tickTime="2000", maxClientCnxns="0"))
    assert me["restart_pending"] is True and me["restart_pending_files"] == [cfg_path]
    assert me["restart_pending_settings"] == [{"setting": "tickTime", "file": "500", "running": "2000"}]
    cfg_path, me = report(dict(RUNNING, syncLimit="7"), extra_cfg="maxClientCnxns=0100\ndataLogDir=%s/\n"
                          % (tmp_path / "data"))
    assert me["restart_pending_settings"] == [
        {"setting": "syncLimit", "file": "5", "running": "7"},
        {"setting": "maxClientCnxns", "file": "0100", "running": "60"}], me["restart_pending_settings"]
    # Without a conf answer (not whitelisted, or not serving) nothing is compared.
    (s1,) = servers({"srvr": srvr_text("standalone", 0x5)})
    cfg_path = member_layout(tmp_path, [s1.port], me=1)
    os.utime(cfg_path, (1, 1))
    me = member.report(cfg=zoo_cfg.load(cfg_path), me=1)["member"]
    assert me["restart_pending"] is False and me["restart_pending_settings"] is None


def test_settings_not_running_compares_only_what_zoo_cfg_sets():
    cfg = zoo_cfg.parse("tickTime=2000\ndataDir=/var/lib/zookeeper\n", path="/etc/zookeeper/conf/zoo.cfg")
    running = {"tickTime": "2000", "dataDir": "/var/lib/zookeeper/version-2",
               "dataLogDir": "/srv/txnlog/version-2", "initLimit": "10"}
    # dataLogDir defaults to dataDir in zoo.cfg: the server logs elsewhere, so zoo.cfg changed.
    assert member.settings_not_running(cfg, running) == [
        {"setting": "dataLogDir", "file": "/var/lib/zookeeper", "running": "/srv/txnlog"}]
    assert member.settings_not_running(cfg, dict(running, dataLogDir="/var/lib/zookeeper/version-2")) == []
    assert member.settings_not_running(cfg, None) is None and member.settings_not_running(None, running) is None
    # A relative dataDir is the server's working directory's: compared only when that is known.
    cfg = zoo_cfg.parse("dataDir=data\n", path="/z/zoo.cfg")
    running = {"dataDir": "/srv/zk/data/version-2", "dataLogDir": "/srv/zk/data/version-2"}
    assert member.settings_not_running(cfg, running) == []
    assert member.settings_not_running(cfg, running, "/srv/zk") == []
    assert [d["setting"] for d in member.settings_not_running(cfg, running, "/opt")] == ["dataDir", "dataLogDir"]
    # A session timeout of -1 is the default the server computes: no change; another value is one.
    cfg = zoo_cfg.parse("tickTime=2000\nminSessionTimeout=-1\nmaxSessionTimeout=30000\n", path="/z/zoo.cfg")
    running = {"tickTime": "2000", "minSessionTimeout": "4000", "maxSessionTimeout": "40000"}
    assert member.settings_not_running(cfg, running) == [
        {"setting": "maxSessionTimeout", "file": "30000", "running": "40000"}]


def test_a_server_without_a_client_port_is_named_in_not_learned(servers, tmp_path):
    """After a reconfig gave one server a client address, ZooKeeper removes clientPort from
    zoo.cfg: a server line without one leaves that server with no address to ask."""
    (s1,) = servers({"srvr": srvr_text("leader", 0x100000002)})
    conf = tmp_path / "conf"
    conf.mkdir()
    dyn = conf / "zoo.cfg.dynamic.100000002"
    dyn.write_text("server.1=127.0.0.1:12888:13888:participant;127.0.0.1:%d\n"
                   "server.2=127.0.0.1:12889:13889:participant" % s1.port)
    (conf / "zoo.cfg").write_text("dataDir=%s\nreconfigEnabled=true\ndynamicConfigFile=%s\n"
                                  % (tmp_path / "data", dyn))
    res = member.report(cfg=zoo_cfg.load(str(conf / "zoo.cfg")), me=1, local=False)
    assert [m["id"] for m in res["members"]] == [1]
    said = [t for t in res["not_learned"] if t.startswith("server.2 ")]
    assert said == ["server.2 was not asked: %s gives it no client port (zoo.cfg has no clientPort "
                    "and its server line none after ';'); give its server line its client port"
                    % dyn], res["not_learned"]
    assert not [t for t in res["not_learned"] if t.startswith("server.1 ")]
