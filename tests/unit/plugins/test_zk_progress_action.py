"""The wait of zk_progress: a job whose process is gone while its progress file says it
runs fails within seconds, with what the file knew; a job that ends is returned as before."""
from ansible_collections.zkops.zookeeper.plugins.action import zk_progress as action

STATE = {"format": 1, "task": "full backup", "state": "running", "stage": "connect and plan", "unit": None,
         "done": 0, "total": None, "stage_seconds": 0.4, "seconds": 0.5, "updated": 1.0, "pid": 4242,
         "stages": [], "details": {}}


class Waiter(action.ActionModule):
    def __init__(self, alive_for, finishes_after=None):
        self.calls = []
        self.reads = 0
        self.alive_for = alive_for
        self.finishes_after = finishes_after

    def _status(self, task_vars, jid, mode="status"):
        self.calls.append(mode)
        if self.finishes_after is not None and self.reads >= self.finishes_after:
            return {"finished": True, "changed": True, "backup_id": "x"}
        return {"started": True, "finished": False}

    def _read(self, task_vars, path, remove=False, process=False):
        self.reads += 1
        alive = self.reads <= self.alive_for
        if process:
            return STATE, "connect and plan: 0 s", {"pid": 4242, "alive": alive, "age": 0.1}
        return STATE, "connect and plan: 0 s"


def test_a_killed_job_fails_at_the_next_check(monkeypatch):
    monkeypatch.setattr(action, "POLL", 0.01)
    monkeypatch.setattr(action, "CHECK", 0.05)
    w = Waiter(alive_for=2)
    out = w._wait({}, {}, "j1.1", "/p.json", 10.0, 3600, "zk2", True)
    assert out["failed"] and out["died"] is True
    assert "full backup on zk2 died" in out["msg"] and "4242" in out["msg"] and "connect and plan" in out["msg"]
    assert out["progress"] == STATE
    # Its status file, which nothing will complete, is removed.
    assert w.calls[-1] == "cleanup"


def test_a_job_that_ends_is_returned(monkeypatch):
    monkeypatch.setattr(action, "POLL", 0.01)
    monkeypatch.setattr(action, "CHECK", 0.05)
    w = Waiter(alive_for=100, finishes_after=3)
    out = w._wait({}, {}, "j1.1", "/p.json", 10.0, 3600, "zk2", True)
    assert not out.get("failed") and out["died"] is False and out["backup_id"] == "x"


def test_a_killed_job_whose_wrapper_reported_it_is_told_as_killed(monkeypatch):
    monkeypatch.setattr(action, "POLL", 0.01)
    w = Waiter(alive_for=0)
    w._status = lambda task_vars, jid, mode="status": w.calls.append(mode) or {
        "finished": True, "failed": True, "msg": "Traceback ... JSONDecodeError"}
    out = w._wait({}, {}, "j1.1", "/p.json", 10.0, 3600, "zk2", True)
    assert out["died"] is True and "died without finishing" in out["msg"]
    assert out["job_msg"].startswith("Traceback")
