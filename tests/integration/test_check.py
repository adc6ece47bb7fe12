"""The health check (zkops.zookeeper.check) and its metrics on one lab: 3 members, 2 backup hosts.

A real backup with the backup playbook and a restore report on each backup host: the check
passes, in check mode too, and writes one metrics file per backup host holding the same facts
as the backup hosts. Then each problem is made real and the check fails naming it, one line
each: a threshold below the backup's age; writes after the last ship with a lag threshold of a
few transactions; a byte flipped in the archive on one backup host (its sums); a failed and a
missing restore report; a backup host cut off (reported as a check that could not be made,
the other host still checked).
"""
import glob
import os
import re
import time

import pytest

import zkbackup as Z
from lab import Lab
from lab.ansible import run_playbook

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import health
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports

pytestmark = pytest.mark.lab

CHECK = "zkops.zookeeper.check"
METRICS = "/root/textfile"
EV = {"zookeeper_backup_ssh_connect_timeout": 3, "zookeeper_backup_install_packages": False,
      "zookeeper_check_metrics_dir": METRICS}
LINE = re.compile(r"^(CRITICAL|UNKNOWN) (\S+) on (\S+) \[(\w+)\]: ")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$')


@pytest.fixture(scope="module")
def clab():
    lab = Lab(name="check", members=3, backups=2)
    lab.up()
    Z.seed(lab, parents=5, children=20)
    yield lab
    lab.down()


def check(lab, extra=None, check_mode=False):
    ev = dict(EV)
    ev.update(extra or {})
    res = run_playbook(lab, CHECK, extra_vars=ev, check=check_mode)
    print("check: rc %d in %.1f s" % (res.rc, res.duration))
    print("\n".join(line for line in res.stdout.splitlines() if line.startswith("failed: [")))
    return res


def problems(res):
    """(severity, backup host, check) of every line the run failed with."""
    out = []
    for r in res.tasks("Fail with one line per problem"):
        for item in r["result"].get("results", [r["result"]]):
            msg = item.get("msg", "")
            m = LINE.match(msg)
            assert m, msg
            out.append((m.group(1), m.group(3), m.group(4)))
    return sorted(out)


def store_restore_report(host, ensemble, result, written=None):
    """A restore report as zk_report stores it (store/reports.py), written on the lab host."""
    rid = "drill-%d" % int(time.time() * 1000)
    doc = reports.document("restore", rid, ensemble, {"mode": "ensemble", "result": result}, now=written)
    d = os.path.join(host.path(Z.ROOT), ensemble, "restores")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, rid + ".json"), "wb") as f:
        f.write(reports.encode(doc))
    return rid


def clear_restore_reports(host, ensemble):
    for p in glob.glob(os.path.join(host.path(Z.ROOT), ensemble, "restores", "*.json")):
        os.unlink(p)


def metrics_of(lab, host_name):
    """{(name, frozenset(labels)): value} of the metrics file of ``host_name`` on the first member."""
    path = os.path.join(lab.members[0].path(METRICS), "zookeeper_backup_%s_%s.prom" % (lab.name, host_name))
    with open(path) as f:
        text = f.read()
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        assert labels["ensemble"] == lab.name and labels["backup_host"] == host_name, line
        assert m.group(1) in typed, line
        out[(m.group(1), frozenset((k, v) for k, v in labels.items() if k not in ("ensemble", "backup_host")))] = \
            float(m.group(3))
    return out


def value(metrics, name, **labels):
    return metrics[(name, frozenset(labels.items()))]


def newest_full(host, ensemble):
    fulls = [d for d in Z.backup_dirs(host, ensemble) if "-full-" in os.path.basename(d)]
    return sorted(fulls)[-1]


def test_check_passes_after_a_backup_and_a_drill(clab):
    res = run_playbook(clab, "zkops.zookeeper.backup", extra_vars=dict(EV))
    assert res.rc == 0, res.output()
    for h in clab.backup_hosts:
        store_restore_report(h, clab.name, "verified")
    mdir = clab.members[0].path(METRICS)
    os.makedirs(mdir, exist_ok=True)

    res = check(clab, check_mode=True)
    assert res.rc == 0, res.output()
    assert problems(res) == []
    assert os.listdir(mdir) == []                          # check mode writes no metrics

    res = check(clab)
    assert res.rc == 0, res.output()
    outcome = res.result("Check the backups on every backup host")["results"]
    assert [r["health"]["status"] for r in outcome] == ["ok", "ok"]
    # Read-only: no task of the run changed anything.
    assert [r["task"] for r in res.records if r["result"].get("changed")] == []
    assert sorted(os.listdir(mdir)) == sorted("zookeeper_backup_%s_%s.prom" % (clab.name, h.name)
                                              for h in clab.backup_hosts)
    for h, r in zip(clab.backup_hosts, outcome):
        facts = r["health"]["facts"]
        man = Z.sidecar(newest_full(h, clab.name))
        assert facts["full"]["id"] == man["backup_id"]
        m = metrics_of(clab, h.name)
        assert value(m, "zookeeper_backup_host_up") == 1
        assert value(m, "zookeeper_backup_full_last_verified_timestamp_seconds") == times.parse_iso_seconds(man["created"])
        assert value(m, "zookeeper_backup_full_last_verified_bytes") == man["archive"]["bytes"]
        assert value(m, "zookeeper_backup_newest_verified") == 1
        assert value(m, "zookeeper_backup_stored_backups", kind="full") == 1
        assert value(m, "zookeeper_backup_ship_lag_transactions") == r["health"]["ship_lag"]["transactions"]
        assert value(m, "zookeeper_backup_restore_last_success") == 1
        assert value(m, "zookeeper_backup_check_problems", severity="critical") == 0
        st = os.statvfs(h.path(Z.ROOT))
        assert value(m, "zookeeper_backup_filesystem_size_bytes") == pytest.approx(st.f_blocks * st.f_frsize, rel=0.01)
        # Every metric written is one the renderer declares, and the rules use.
        assert {name for name, _labels in m} <= {name for name, _kind, _help in health.METRICS}


def test_a_backup_older_than_the_threshold_fails_the_check(clab):
    res = check(clab, {"zookeeper_check_max_full_backup_age_hours": 0.0001})
    assert res.rc != 0
    assert problems(res) == sorted(("CRITICAL", h.name, "full_age") for h in clab.backup_hosts)
    assert "is 0.0 hours old, more than 0.0001 hours" in res.output()


def test_ship_lag_a_corrupted_backup_and_a_failed_drill_are_each_named(clab):
    zk = Z.client(clab)
    try:
        for i in range(10):
            zk.create("/app/after-ship-%d" % i, b"x")
    finally:
        zk.stop()
        zk.close()
    b1, b2 = clab.backup_hosts
    clear_restore_reports(b1, clab.name)
    store_restore_report(b1, clab.name, "failed, rolled back")
    d = newest_full(b2, clab.name)
    archive = os.path.join(d, Z.sidecar(d)["archive"]["file"])
    Z.flip_byte(archive)
    res = check(clab, {"zookeeper_check_max_ship_lag_transactions": 3})
    assert res.rc != 0
    assert problems(res) == sorted([
        ("CRITICAL", b1.name, "ship_lag"), ("CRITICAL", b1.name, "restore"),
        ("CRITICAL", b2.name, "ship_lag"), ("CRITICAL", b2.name, "sums"), ("CRITICAL", b2.name, "full_age")])
    out = res.output()
    assert "did not succeed: failed, rolled back" in out
    assert "fails its sums" in out
    outcome = res.result("Check the backups on every backup host")["results"]
    for h, r in zip(clab.backup_hosts, outcome):
        m = metrics_of(clab, h.name)
        lag = r["health"]["ship_lag"]["transactions"]
        assert lag >= 10
        assert value(m, "zookeeper_backup_ship_lag_transactions") == lag
        assert value(m, "zookeeper_backup_check_problems", severity="critical") == len(r["health"]["problems"])
    m1, m2 = metrics_of(clab, b1.name), metrics_of(clab, b2.name)
    assert value(m1, "zookeeper_backup_restore_last_success") == 0
    assert value(m2, "zookeeper_backup_newest_verified") == 0
    assert ("zookeeper_backup_full_last_verified_timestamp_seconds", frozenset()) not in m2


def test_an_unreachable_backup_host_is_a_check_that_could_not_be_made(clab):
    b1, b2 = clab.backup_hosts
    clear_restore_reports(b1, clab.name)
    b2.cut_off()
    try:
        res = check(clab, {"zookeeper_check_max_ship_lag_seconds": ""})
    finally:
        b2.reconnect()
    assert res.rc != 0
    assert problems(res) == [("CRITICAL", b1.name, "restore"), ("UNKNOWN", b2.name, "reachable")]
    assert "no restore report on the backup host" in res.output()
    m2 = metrics_of(clab, b2.name)
    assert value(m2, "zookeeper_backup_host_up") == 0
    assert value(m2, "zookeeper_backup_check_problems", severity="unknown") == 1
    assert value(metrics_of(clab, b1.name), "zookeeper_backup_host_up") == 1
