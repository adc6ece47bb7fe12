"""zk_quiesce on real ensembles: the quorum guard on 3 and 5 members, check mode, idempotence,
catching up, and a timeout that reports the last status and the server log.  The 5-member
lab whitelists only srvr, uses client port 2281 and a separate dataLogDir."""
import pytest

from lab.ansible import run_playbook

pytestmark = pytest.mark.lab


def plays(*steps):
    """A playbook of zk_quiesce steps (name, host, state, check, {args}), run in order."""
    out = []
    for name, host, state, check, args in steps:
        lines = "".join("        %s: %s\n" % (k, v) for k, v in args.items())
        out.append("""
- hosts: %s
  gather_facts: false
  tasks:
    - name: %s
      zkops.zookeeper.zk_quiesce:
        state: %s
%s      check_mode: %s
      diff: true
      ignore_errors: true
""" % (host, name, state, lines, "true" if check else "false"))
    return "".join(out)


def play(host, state, check=False, **args):
    return plays((state, host, state, check, args))


def one(res, host, name):
    recs = res.tasks(name, host)
    assert len(recs) == 1, res.output()
    return recs[0]["status"], recs[0]["result"]


def test_guard_on_three_members(lab3, playbook):
    lab3.wait_quorum()
    f1, f2 = lab3.followers()[:2]
    pid1, pid2 = f1.zk_pid(), f2.zk_pid()

    # Check mode predicts the stop and stops nothing.
    status, r = one(playbook(play(f1.name, "quiesced", check=True)), f1.name, "quiesced")
    assert status == "ok" and r["changed"] and r["action"] == "stop"
    assert r["diff"]["after"] == "state: quiesced\n"
    assert f1.zk_pid() == pid1 and f1.mode() == "follower"

    # The real stop: process gone, ports closed.
    status, r = one(playbook(play(f1.name, "quiesced")), f1.name, "quiesced")
    assert status == "ok" and r["changed"] and r["action"] == "stopped", r
    assert r["quorum"]["allowed"] and r["service_manager"] == "sysv"
    assert not f1.zk_running() and f1.srvr() == {}
    listening = f1.sh("ss -Htln").stdout
    assert not any(":%d " % p in listening for p in (2181, 2888, 3888)), listening

    # Again: nothing to do.  A second member of three may not stop, not even in check
    # mode.  Starting the first one again, in check mode, only predicts.
    res = playbook(plays(("again", f1.name, "quiesced", False, {}),
                         ("second check", f2.name, "quiesced", True, {}),
                         ("second", f2.name, "quiesced", False, {}),
                         ("predict start", f1.name, "serving", True, {})))
    status, r = one(res, f1.name, "again")
    assert status == "ok" and not r["changed"] and r["before"]["state"] == "quiesced"
    for name in ("second check", "second"):
        status, r = one(res, f2.name, name)
        assert status == "ignored" and not r["changed"]
        assert "refusing to stop server %d" % f2.myid in r["msg"]
        assert "allow_quorum_loss" in r["msg"] and "server %d" % f1.myid in r["msg"]
    assert f2.zk_pid() == pid2 and f2.mode() == "follower"
    status, r = one(res, f1.name, "predict start")
    assert status == "ok" and r["changed"] and r["action"] == "start"
    assert not f1.zk_running()

    # Back to serving: it starts and waits until caught up; then nothing to do.
    res = playbook(plays(("start", f1.name, "serving", False, {}),
                         ("start again", f1.name, "serving", False, {})))
    status, r = one(res, f1.name, "start")
    assert status == "ok" and r["changed"] and r["action"] == "started", r
    assert r["after"]["state"] == "serving" and r["lag"] == 0
    assert r["leader"]["id"] == lab3.leader().myid and r["client_check"]["ok"]
    assert f1.mode() == "follower" and f1.zk_pid() != pid1
    status, r = one(res, f1.name, "start again")
    assert status == "ok" and not r["changed"]
    lab3.wait_zxid_agree()


def test_timeout_reports_last_status_and_log(lab3, playbook):
    f = lab3.followers()[0]
    status, r = one(playbook(play(f.name, "quiesced")), f.name, "quiesced")
    assert status == "ok" and r["changed"]
    f.block_quorum()
    try:
        status, r = one(playbook(play(f.name, "serving", timeout=6)), f.name, "serving")
        assert status == "ignored" and r["changed"]          # it did start the server
        assert "did not serve and catch up with the leader within 6.0s" in r["msg"]
        assert "not_serving" in r["msg"]
        assert r["log_file"] == "/var/log/zookeeper/zookeeper.log"
        assert r["log_tail"] and r["log_tail"][-1] in r["msg"]
    finally:
        f.unblock_quorum()
    status, r = one(playbook(play(f.name, "serving")), f.name, "serving")
    assert status == "ok" and not r["changed"] and r["after"]["mode"] == "follower"
    lab3.wait_quorum()


INFO = """
- hosts: zookeeper
  gather_facts: false
  tasks:
    - name: info
      zkops.zookeeper.zk_info:
"""


def test_five_members_srvr_only(make_lab):
    lab = make_lab(members=5, backups=0, fourlw_whitelist="srvr", client_port=2281,
                   separate_datalog=True)
    res = run_playbook(lab, INFO)
    assert res.rc == 0, res.output()
    for h in lab.members:
        r = res.result("info", h.name)
        truth = {m.myid: m.srvr() for m in lab.members}
        for m in r["members"]:
            assert m["address"].endswith(":2281")
            assert m["mode"] == truth[m["id"]]["Mode"]
            assert int(m["zxid"], 16) == truth[m["id"]]["zxid"]
            assert m["learned_from"] == ["srvr"] and m["server_id"] is None
        me = r["member"]
        assert me["data_dir"] == "/var/lib/zookeeper"
        assert me["data_log_dir"] == "/srv/zookeeper-txnlog" and me["data_dir_source"] == "zoo.cfg"
        assert me["disk"]["log_dir"] == "/srv/zookeeper-txnlog/version-2"
        assert me["disk"]["problems"] == []
        assert any("'mntr' is not in 4lw.commands.whitelist" in t for t in r["not_learned"])
        assert any("'conf' is not in 4lw.commands.whitelist" in t for t in r["not_learned"])
        e = r["ensemble"]
        assert e["voter_count"] == 5 and e["serving_voter_count"] == 5 and e["tolerance"] == 2

    followers = [h for h in lab.members if h.mode() == "follower"]
    a, b, c = followers[:3]
    res = run_playbook(lab, plays(("first", a.name, "quiesced", False, {}),
                                  ("second", b.name, "quiesced", False, {}),
                                  ("third", c.name, "quiesced", False, {})))
    for h, name in ((a, "first"), (b, "second")):
        status, r = one(res, h.name, name)
        assert status == "ok" and r["changed"], r
        assert not h.zk_running()
    status, r = one(res, c.name, "third")
    assert status == "ignored" and "refusing to stop server %d" % c.myid in r["msg"]
    assert "3 of the 5 voters" in r["msg"] and c.mode() == "follower"
    res = run_playbook(lab, """
- hosts: %s,%s
  gather_facts: false
  tasks:
    - name: serving
      zkops.zookeeper.zk_quiesce:
        state: serving
""" % (a.name, b.name))
    assert res.rc == 0, res.output()
    assert all(r["changed"] for r in res.results("serving").values())
    assert sorted(lab.wait_quorum().values()) == ["follower"] * 4 + ["leader"]
