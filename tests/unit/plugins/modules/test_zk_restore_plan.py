"""zk_restore_plan plans over the backups of every backup host that answers."""
import pytest

import hostdirs as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.modules import zk_restore_plan

E = H.E


@pytest.fixture
def hosts(tmp_path, monkeypatch):
    """b1 missed the last chunk (c2) and the newest full backup is on neither; b0 is down."""
    b1, b2 = H.Host("b1", tmp_path / "b1"), H.Host("b2", tmp_path / "b2")
    for h in (b1, b2):
        h.full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, last_ms=1010)
        h.chunk("c1", "2025-01-01T00:05:00Z", E + 11, E + 20, last_ms=1020)
    b2.chunk("c2", "2025-01-01T00:10:00Z", E + 21, E + 30, last_ms=1030)
    by_label = {"b1": b1, "b2": b2}
    opened = []

    def connect(params, target, warnings=None):
        if target not in by_label:
            raise ssh_transport.SshError(target, "no SSH answer")
        s = by_label[target].session()
        opened.append(s)
        return s
    monkeypatch.setattr(ssh_transport, "connect", connect)
    yield b1, b2
    assert all(s.closed for s in opened)


def args(**kw):
    a = dict(backup_hosts=["b0", "b1", "b2"], ensemble=H.ENS, backup_root=H.ROOT, target_zxid="latest")
    a.update(kw)
    return a


@pytest.mark.parametrize("check", [False, True])
def test_latest_takes_the_chunk_only_the_second_host_holds(hosts, run_module, check):
    ok, r = run_module(zk_restore_plan, check=check, **args())
    assert ok and not r["changed"]
    plan = r["plan"]
    assert plan["backup_ids"] == ["f1", "c1", "c2"] and plan["target_zxid"] == "0x%x" % (E + 30)
    assert plan["left_out"]["logs"] == [] and plan["left_out"]["full_backups"] == []
    assert r["sources"] == {"f1": "b1", "c1": "b1", "c2": "b2"} and r["backup_host"] == "b1"
    assert r["rejected"] == [] and r["backup_hosts_listed"] == ["b1", "b2"]
    assert [u["host"] for u in r["unreachable"]] == ["b0"]
    assert any(w.startswith("backup host b0 did not answer") for w in run_module.warnings)


def test_the_newest_full_backup_on_the_second_host_and_the_highest_epoch_of_both(hosts, run_module):
    b1, b2 = hosts
    b2.full("f2", "2025-01-01T00:12:00Z", E + 25, E + 30, last_ms=1030)
    b1.report("r0", restored=E + 30, serving=4 * E, finished="2025-01-01T00:30:00Z")
    ok, r = run_module(zk_restore_plan, **args(target_zxid=None, verify=False))
    assert ok and r["plan"]["backup_ids"] == ["f2"] and r["backup_host"] == "b2"
    assert r["sources"] == {"f2": "b2"} and r["plan"]["highest_epoch"] == 4


def test_a_damaged_copy_is_read_from_the_other_host(hosts, run_module):
    b1, b2 = hosts
    b1.damage("c1")
    ok, r = run_module(zk_restore_plan, **args())
    assert ok and r["sources"] == {"f1": "b1", "c1": "b2", "c2": "b2"}
    assert [(x["host"], x["backup_id"]) for x in r["rejected"]] == [("b1", "c1")]


def test_no_host_answers(run_module, monkeypatch):
    def connect(params, target, warnings=None):
        raise ssh_transport.SshError(target, "no SSH answer")
    monkeypatch.setattr(ssh_transport, "connect", connect)
    ok, r = run_module(zk_restore_plan, **args())
    assert not ok and "no backup host could be reached" in r["msg"] and len(r["unreachable"]) == 3


def test_a_target_no_host_reaches_fails_naming_the_hosts(hosts, run_module):
    ok, r = run_module(zk_restore_plan, **args(target_zxid="0x%x" % (E + 99)))
    assert not ok and "the backups on b1, b2: the target" in r["msg"] and "nothing was restored" in r["msg"]


def test_target_zxid_0x_is_hex_and_bare_digits_are_decimal(hosts, run_module):
    for given in ("0x%x" % (E + 15), "0X%X" % (E + 15), str(E + 15)):
        ok, r = run_module(zk_restore_plan, **args(target_zxid=given))
        assert ok and r["plan"]["target_zxid"] == "0x%x" % (E + 15), given
        assert r["plan"]["backup_ids"] == ["f1", "c1"]
    for given in ("LATEST", " latest "):
        ok, r = run_module(zk_restore_plan, **args(target_zxid=given))
        assert ok and r["plan"]["backup_ids"] == ["f1", "c1", "c2"], given


@pytest.mark.parametrize("given", ["%x" % (E + 15), "zz", "-1", "0x"])
def test_target_zxid_other_text_is_refused_not_guessed(hosts, run_module, given):
    ok, r = run_module(zk_restore_plan, **args(target_zxid=given))
    assert not ok and ("target_zxid %r is neither hex (0x...), decimal, nor 'latest'" % given) in r["msg"]
