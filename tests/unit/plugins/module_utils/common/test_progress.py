"""progress: the tracker's counts, rate and time left, the file it writes, the reader's line."""
import json
import os

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as P


class Clock(object):
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_stages_rate_and_time_left(tmp_path):
    path = str(tmp_path / "p" / "progress.json")
    clock = Clock()
    tr = P.Tracker(path, "full backup", interval=1.0, clock=clock)
    tr.stage("connect and plan")
    assert P.read(path)["stage"] == "connect and plan"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    clock.t += 2
    tr.stage("send", total=300 * 10 ** 6, unit="bytes")
    for _i in range(20):
        clock.t += 1
        tr.add(5 * 10 ** 6)
    state = P.read(path)
    assert (state["stage"], state["unit"], state["done"], state["total"]) == ("send", "bytes", 100 * 10 ** 6, 300 * 10 ** 6)
    assert state["rate"] == 5 * 10 ** 6 and state["eta"] == 40.0 and state["percent"] == 33.3
    assert state["stages"] == [{"name": "connect and plan", "seconds": 2.0, "unit": None, "done": None, "rate": None}]
    assert P.describe(state) == "send: 100.0 of 300.0 MB (33%), 5.0 MB/s, about 40 s left, 20 s"
    # The rate follows the last seconds, not the whole stage.
    for _i in range(20):
        clock.t += 1
        tr.add(10 ** 6)
    assert P.read(path)["rate"] == 10 ** 6
    tr.close()
    done = P.read(path)
    assert done["state"] == "done" and done["stage"] is None
    assert [s["name"] for s in done["stages"]] == ["connect and plan", "send"]
    assert done["stages"][1]["rate"] == 3 * 10 ** 6
    assert P.describe(done) == "done in 42 s (connect and plan 2 s, send 40 s)"
    assert tr.summary() == done["stages"]


def test_writes_are_throttled_and_atomic(tmp_path):
    path = str(tmp_path / "progress.json")
    clock = Clock()
    tr = P.Tracker(path, "tree export", interval=1.0, clock=clock)
    tr.stage("export", unit="znodes")
    writes = []
    real = P.write

    def counting(p, state):
        writes.append(state["done"])
        real(p, state)
    P.write = counting
    try:
        for _i in range(1000):
            clock.t += 0.01
            tr.add()
    finally:
        P.write = real
    assert 9 <= len(writes) <= 11
    assert os.listdir(str(tmp_path)) == ["progress.json"]
    state = P.read(path)
    assert state["total"] is None and state["eta"] is None and state["percent"] is None
    # The file holds the last write: at most a second behind.
    assert state["done"] == writes[-1] >= 900
    assert P.describe(state) == "export: %s znodes, 100 znodes/s, 9 s" % "{0:,}".format(writes[-1])


def test_details_and_stages_without_counts(tmp_path):
    path = str(tmp_path / "progress.json")
    clock = Clock()
    tr = P.Tracker(path, "restore", clock=clock)
    tr.stage("check as ZooKeeper loads")
    clock.t += 75
    tr.update(files=3)
    assert P.describe(P.read(path)) == "check as ZooKeeper loads: 75 s (files 3)"
    clock.t += 3600
    tr.close(ok=False)
    assert P.describe(P.read(path)) == "failed in 61 min 15 s (check as ZooKeeper loads 61 min 15 s)"


def test_without_a_path_only_counts(tmp_path):
    tr = P.Tracker(None, "x")
    tr.stage("a", total=10, unit="operations")
    tr.add(10)
    tr.close()
    assert tr.summary()[0]["done"] == 10 and tr.write_error is None


def test_a_file_that_cannot_be_written_does_not_stop_the_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    tr = P.Tracker(str(blocker / "progress.json"), "x")
    tr.stage("a")
    tr.add()
    tr.close()
    assert tr.write_error is not None


def test_reader_ignores_what_is_not_progress(tmp_path):
    assert P.read(str(tmp_path / "missing.json")) is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert P.read(str(bad)) is None
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": 99}))
    assert P.read(str(other)) is None
    assert P.describe(None) == "starting"


def test_liveness_tells_a_killed_task_from_a_running_one(tmp_path):
    import subprocess
    child = subprocess.Popen(["sleep", "30"])
    try:
        state = {"format": 1, "task": "full backup", "state": "running", "stage": "connect and plan",
                 "unit": None, "done": 0, "total": None, "stage_seconds": 3.0, "seconds": 4.2,
                 "updated": 1000.0, "pid": child.pid, "stages": [], "details": {}}
        assert P.liveness(state, now=1002.5) == {"pid": child.pid, "alive": True, "age": 2.5}
        child.kill()
        child.wait()
        assert P.liveness(state, now=1002.5)["alive"] is False
        msg = P.died(state, "zk2")
        assert "full backup on zk2 died" in msg and str(child.pid) in msg and "connect and plan: 3 s" in msg
        # A task that ended says so itself: its process is not looked for.
        assert P.liveness(dict(state, state="done"))["alive"] is None
        assert P.liveness(None)["alive"] is None
        assert P.liveness(dict(state, pid=os.getpid()))["alive"] is True
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
