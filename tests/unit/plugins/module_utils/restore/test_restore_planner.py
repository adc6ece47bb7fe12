"""restore_planner: the plan over the backup hosts without the AnsibleModule."""
import hostdirs as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import planner
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport

E = H.E


def params(**kw):
    p = dict(backup_hosts=["b0", "b1"], ensemble=H.ENS, backup_root=H.ROOT, backup_id=None, verify=True,
             allow_unauthenticated=False)
    p.update(kw)
    return p


def test_the_plan_comes_from_the_host_that_answers_and_every_session_is_closed(tmp_path, monkeypatch):
    b1 = H.Host("b1", tmp_path / "b1")
    b1.full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, last_ms=1010)
    opened = []

    def connect(params, target, warnings=None):
        if target != "b1":
            raise ssh_transport.SshError(target, "no SSH answer")
        opened.append(b1.session())
        return opened[-1]
    monkeypatch.setattr(ssh_transport, "connect", connect)
    warnings = []
    result, unreachable, failure = planner.plan_over_hosts(params(), None, None, None, warnings)
    assert failure is None and [u["host"] for u in unreachable] == ["b0"]
    assert result["backup_host"] == "b1" and result["plan"]["backup_ids"] == ["f1"]
    assert result["sources"] == {"f1": "b1"} and result["backup_hosts_listed"] == ["b1"]
    assert warnings[0].startswith("backup host b0 did not answer")
    assert opened and all(s.closed for s in opened)


def test_no_host_answers(monkeypatch):
    def connect(params, target, warnings=None):
        raise ssh_transport.SshError(target, "no SSH answer")
    monkeypatch.setattr(ssh_transport, "connect", connect)
    result, unreachable, failure = planner.plan_over_hosts(params(), None, None, None, [])
    assert result is None and failure is None and len(unreachable) == 2
