"""The rolling restart playbook on a real ensemble, with a client writing all the time.

Followers go first, one at a time, the leader last; the client's session survives and no
acknowledged write is lost; the longest stall between two acknowledged writes is printed.
A second run has nothing to do.  A degraded ensemble is refused before anything stops.
"""
import os
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from lab.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab

PLAYBOOK = os.path.join(REPO, "playbooks", "rolling_restart.yml")
STOP_TASK = "zkops.zookeeper.rolling_restart : Take the member out of service"
START_TASK = ("zkops.zookeeper.rolling_restart : Bring the member back and wait until it has "
              "caught up with the leader")


class Writer:
    """Writes a counter to one znode as fast as the ensemble acknowledges."""

    def __init__(self, hosts, session_timeout=10.0):
        self.zk = KazooClient(hosts=hosts, timeout=session_timeout,
                              connection_retry=KazooRetry(max_tries=-1, delay=0.05,
                                                          max_delay=0.5),
                              command_retry=KazooRetry(max_tries=-1, delay=0.05,
                                                       max_delay=0.5, deadline=60))
        self.zk.start(timeout=15)
        self.zk.ensure_path("/rolling")
        self.session = self.zk.client_id[0]
        self.acked = []            # (time, value)
        self.errors = []
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                self.zk.retry(self.zk.set, "/rolling", str(i).encode())
                self.acked.append((time.time(), i))
            except Exception as exc:          # recorded and asserted on
                self.errors.append(repr(exc))
            time.sleep(0.005)

    def start(self):
        self.t.start()
        return self

    def stop(self):
        self._stop.set()
        self.t.join(60)
        value = int(self.zk.retry(self.zk.get, "/rolling")[0])
        same_session = self.zk.client_id[0] == self.session
        self.zk.stop()
        self.zk.close()
        return value, same_session

    def longest_stall(self, since, until):
        times = [since] + [a[0] for a in self.acked if since <= a[0] <= until] + [until]
        gaps = [(b - a, a) for a, b in zip(times, times[1:])]
        return max(gaps)


def restart_order(res):
    recs = [r for r in res.tasks(STOP_TASK) if r["status"] != "skipped"]
    return [r["host"] for r in recs if r["result"].get("changed")]


def test_rolling_restart_keeps_clients_served(lab3, capsys):
    lab3.wait_quorum()
    leader = lab3.leader()
    followers = sorted(lab3.followers(), key=lambda h: h.myid)
    pids = {h.name: h.zk_pid() for h in lab3.members}
    # A configuration change on every member makes a restart due.
    for h in lab3.members:
        h.sh("echo globalOutstandingLimit=1000 >> /etc/zookeeper/conf/zoo.cfg")

    # Check mode: predicts the restarts in the right order, touches nothing.
    res = run_playbook(lab3, PLAYBOOK, check=True)
    assert res.rc == 0, res.output()
    assert restart_order(res) == [h.name for h in followers] + [leader.name]
    assert {h.name: h.zk_pid() for h in lab3.members} == pids

    writer = Writer(lab3.connect_string).start()
    time.sleep(1.0)
    t0 = time.time()
    res = run_playbook(lab3, PLAYBOOK)
    t1 = time.time()
    time.sleep(1.0)
    final, same_session = writer.stop()
    assert res.rc == 0, res.output()

    # Followers one at a time by server id, the leader last; every JVM is new.
    assert restart_order(res) == [h.name for h in followers] + [leader.name]
    started = [r["host"] for r in res.tasks(START_TASK) if r["result"].get("changed")]
    assert started == restart_order(res)
    new_pids = {h.name: h.zk_pid() for h in lab3.members}
    assert all(new_pids[n] != pids[n] for n in pids), (pids, new_pids)
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]

    # The client kept working: one session throughout, no write lost.
    assert writer.errors == []
    assert same_session
    assert final == writer.acked[-1][1]
    stall, at = writer.longest_stall(t0, t1)
    writes = sum(1 for a in writer.acked if t0 <= a[0] <= t1)
    with capsys.disabled():
        print("\nrolling restart of 3 members: %.1f s, %d writes acknowledged, longest write "
              "stall %.3f s (at +%.1f s)" % (t1 - t0, writes, stall, at - t0))
    assert stall < 10.0                   # below the session timeout: nobody expired

    # A second run finds nothing to do.
    res = run_playbook(lab3, PLAYBOOK)
    assert res.rc == 0, res.output()
    assert res.changed() == [] and restart_order(res) == []
    assert {h.name: h.zk_pid() for h in lab3.members} == new_pids


def test_degraded_ensemble_is_refused_before_anything_stops(lab3):
    lab3.wait_quorum()
    down = lab3.followers()[0]
    down.kill_zk()
    pids = {h.name: h.zk_pid() for h in lab3.members}
    try:
        res = run_playbook(lab3, PLAYBOOK, extra_vars={"zookeeper_rolling_restart_force": True})
        assert res.rc != 0
        assert restart_order(res) == []
        assert "Not restarting anything" in res.stdout
        assert {h.name: h.zk_pid() for h in lab3.members} == pids
    finally:
        down.start_zk()
        lab3.wait_quorum()
