"""quiesce: the quorum guard, stop and wait, start and catch up, with a simulated member.

The other members are real sockets answering like ZooKeeper; the local process table is
a fake /proc; the service manager is a fake that changes both.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from zk_fakes import (NOT_SERVING, FakeProc, FakeZk, member_layout, srvr_text,  # noqa: E402
                      write, zk_argv)

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quiesce  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg  # noqa: E402


class Sim:
    """Three members; server 1 runs on "this host"."""

    def __init__(self, tmp_path, monkeypatch):
        self.local_answers = {"srvr": srvr_text("follower", 0x100000007)}
        self.leader_zxid = 0x100000007
        self.zk = [FakeZk(self.local_answers),
                   FakeZk({"srvr": lambda: srvr_text("leader", self.leader_zxid)}),
                   FakeZk({"srvr": srvr_text("follower", 0x100000007)})]
        self.cfg_path = member_layout(tmp_path, [z.port for z in self.zk], me=1)
        self.fp = FakeProc(tmp_path / "proc")
        monkeypatch.setattr(proc, "PROC", self.fp.root)
        self.logdir = str(tmp_path / "log")
        write(os.path.join(self.logdir, "zookeeper.log"),
              "INFO starting\nERROR Unable to load database on disk\n")
        self.pid = 100
        self.run()
        self.calls = []
        self.stop_works = True
        self.start_works = True
        self.clock = [0.0]

    def run(self):
        self.fp.add(self.pid, zk_argv(self.cfg_path, self.logdir))
        self.fp.set_listening([self.zk[0].port, 13888])

    # the fake service manager
    kind = "sysv"

    def stop(self):
        self.calls.append("stop")
        if self.stop_works:
            self.fp.kill(self.pid)
            self.fp.set_listening([])
        return {"cmd": ["service", "zookeeper", "stop"], "rc": 0, "stdout": "", "stderr": ""}

    def start(self):
        self.calls.append("start")
        if self.start_works:
            self.pid += 1
            self.run()
        return {"cmd": ["service", "zookeeper", "start"], "rc": 0, "stdout": "", "stderr": ""}

    def member(self):
        cfg = zoo_cfg.load(self.cfg_path)
        return quiesce.Quiesce(member_mod.LocalMember(cfg, 1, timeout=2.0), self,
                               clock=lambda: self.clock[0], sleep=self.sleep, interval=1.0)

    def sleep(self, s):
        self.clock[0] += s
        for hook in list(getattr(self, "hooks", [])):
            hook(self.clock[0])

    def close(self):
        for z in self.zk:
            z.close()


@pytest.fixture
def sim(tmp_path, monkeypatch):
    s = Sim(tmp_path, monkeypatch)
    yield s
    s.close()


def test_stop_a_follower(sim):
    res = sim.member().quiesce()
    assert sim.calls == ["stop"]
    assert res["changed"] and res["action"] == "stopped"
    assert res["before"]["state"] == "serving" and res["after"]["state"] == "quiesced"
    assert res["quorum"]["allowed"] and res["quorum"]["serving_voters"] == [1, 2, 3]
    assert res["diff"] == {"before": "state: serving\nmode: follower\npid: 100\n",
                           "after": "state: quiesced\n"}
    again = sim.member().quiesce()
    assert not again["changed"] and again["action"] == "none" and sim.calls == ["stop"]


def test_check_mode_predicts_and_does_nothing(sim):
    res = sim.member().quiesce(check_mode=True)
    assert res["changed"] and res["action"] == "stop" and sim.calls == []
    assert res["after"]["state"] == "quiesced" and proc.alive(100)


def test_guard_refuses_when_another_voter_is_down(sim):
    sim.zk[2].close()
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().quiesce()
    msg = str(e.value)
    assert "refusing to stop server 1" in msg and "{2}" in msg
    assert "allow_quorum_loss" in msg and "server 3" in msg
    assert sim.calls == [] and not e.value.result["changed"]
    with pytest.raises(quiesce.QuiesceError):
        sim.member().quiesce(check_mode=True)
    res = sim.member().quiesce(allow_quorum_loss=True)
    assert res["changed"] and sim.calls == ["stop"] and "loses the quorum" in res["warnings"][0]


def test_guard_counts_a_silent_local_server_as_serving(sim):
    sim.local_answers["srvr"] = None          # whitelist refusal: it answers, but not srvr
    sim.zk[0].close()                        # now nothing answers locally at all
    sim.zk[2].close()
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().quiesce()
    assert "counted as serving" in str(e.value) and sim.calls == []


def test_not_serving_member_may_stop_even_without_quorum(sim):
    sim.local_answers["srvr"] = NOT_SERVING
    sim.zk[2].close()
    res = sim.member().quiesce()
    assert res["changed"] and "does not serve" in res["quorum"]["reason"]


def test_stop_timeout_reports_process_ports_and_log(sim):
    sim.stop_works = False
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().quiesce(timeout=5)
    msg = str(e.value)
    assert "did not stop within 5s" in msg and "100 still alive" in msg and "port(s)" in msg
    assert "Unable to load database" in msg
    assert e.value.result["changed"] and e.value.result["log_tail"][-1].startswith("ERROR")


def test_ports_busy(sim):
    sim.fp.kill(100)
    sim.fp.add(555, zk_argv("/etc/other/zoo.cfg"))
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().quiesce()
    assert "held by another process" in str(e.value) and "pid 555" in str(e.value)
    with pytest.raises(quiesce.QuiesceError):
        sim.member().serve()
    assert sim.calls == []


def test_start_waits_until_caught_up(sim):
    sim.fp.kill(100)
    sim.fp.set_listening([])
    sim.leader_zxid = 0x100000010
    steps = iter([NOT_SERVING, NOT_SERVING, srvr_text("follower", 0x100000008),
                  srvr_text("follower", 0x100000008)])

    def local_srvr():
        return next(steps, srvr_text("follower", 0x100000010))
    sim.local_answers["srvr"] = local_srvr
    checked = []
    res = sim.member().serve(timeout=60, client_check=lambda a: checked.append(a) or {"ok": 1})
    assert sim.calls == ["start"] and res["changed"] and res["action"] == "started"
    assert res["after"]["state"] == "serving" and res["after"]["pids"] == [101]
    assert res["leader"]["id"] == 2 and res["lag"] == 0
    assert checked == ["127.0.0.1:%d" % sim.zk[0].port] and res["client_check"] == {"ok": 1, "attempts": 1}
    assert sim.clock[0] >= 3                 # it waited through the not-serving answers
    again = sim.member().serve(timeout=60)
    assert not again["changed"] and sim.calls == ["start"]


def test_bounded_lag(sim):
    sim.leader_zxid = 0x100000010
    sim.local_answers["srvr"] = srvr_text("follower", 0x10000000d)
    assert sim.member().serve(timeout=10, max_lag=3)["lag"] == 3
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(timeout=10, max_lag=2)
    msg = str(e.value)
    assert "within 10s" in msg and "0x10000000d" in msg and "0x100000010" in msg
    assert "allowed lag 2" in msg and not e.value.result["changed"]


def test_start_timeout_gives_last_status_and_log(sim):
    sim.fp.kill(100)
    sim.fp.set_listening([])
    sim.local_answers["srvr"] = NOT_SERVING
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(timeout=5)
    msg = str(e.value)
    assert "did not serve and catch up with the leader within 5s" in msg
    assert "not_serving" in msg and "Unable to load database" in msg
    r = e.value.result
    assert r["changed"] and r["log_file"].endswith("zookeeper.log") and len(r["log_tail"]) == 2


def test_start_that_dies_fails_fast(sim):
    sim.fp.kill(100)
    sim.fp.set_listening([])
    sim.start_works = False
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(timeout=300)
    assert "is not running after the start: it exited" in str(e.value)
    assert sim.clock[0] < 10


def test_serve_check_mode_and_client_check_failure(sim):
    sim.fp.kill(100)
    sim.fp.set_listening([])
    res = sim.member().serve(check_mode=True)
    assert res["changed"] and res["action"] == "start" and sim.calls == []
    sim.run()

    def refuse(address):
        raise RuntimeError("not authorised on /app")
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(client_check=refuse)
    assert "client check failed: not authorised on /app" in str(e.value)
    assert not e.value.result["changed"] and sim.calls == []


class NoSession(Exception):
    transient = True


def test_client_check_without_a_session_is_tried_again_while_the_member_serves(sim):
    """A member that has just joined may serve (srvr) before it takes sessions, and a loaded
    host may not set one up within the connect timeout: the check is tried again."""
    sim.run()
    tries = []

    def slow(address):
        tries.append(sim.clock[0])
        if len(tries) < 3:
            sim.clock[0] += 10               # a whole connect timeout
            raise NoSession("could not connect to ZooKeeper at %s within 10.0s" % address)
        return {"ok": True}
    res = sim.member().serve(timeout=60, client_check=slow)
    assert res["client_check"] == {"ok": True, "attempts": 3} and len(tries) == 3

    tries[:] = []

    def never(address):
        tries.append(sim.clock[0])
        sim.clock[0] += 10
        raise NoSession("could not connect within 10.0s")
    start = sim.clock[0]
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(timeout=30, client_check=never)
    assert "client check failed after 3 attempts: could not connect" in str(e.value)
    assert sim.clock[0] - start < 40 and len(tries) == 3


def test_client_check_stops_when_the_member_stops_serving(sim):
    sim.run()
    calls = []

    def lost(address):
        calls.append(address)
        sim.local_answers["srvr"] = NOT_SERVING
        raise NoSession("lost the connection to ZooKeeper on /")
    with pytest.raises(quiesce.QuiesceError) as e:
        sim.member().serve(timeout=60, client_check=lost)
    assert len(calls) == 1
    assert "then it stopped serving" in str(e.value)
