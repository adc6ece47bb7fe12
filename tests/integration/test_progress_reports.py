"""Progress while backups and restores run, and the reports they leave on the backup hosts.

A lab with enough data that a backup throttled by its bandwidth limit, and a restore's
staging, take a few seconds; the roles show progress every half second. The progress
lines must appear while the roles wait (and count what the modules say they did), the
reports must exist on the backup host and hold the run's results, and a backup with its
report must stay complete and verified for zk_backup_catalog and for sha256sum.
"""
import json
import os
import re

import pytest

import zklive
from lab import Lab, workload
from lab.workload import AUTH, CREDENTIAL
from lab.ansible import run_playbook

pytestmark = pytest.mark.lab

ROOT = "/srv/backups"
EV = {"zookeeper_progress_interval": 0.5, "zookeeper_backup_install_packages": False,
      "zookeeper_auth": AUTH}
LINE = re.compile(r"^(zk\d) \| (.+)$", re.M)


@pytest.fixture(scope="module")
def plab():
    lab = Lab(name="progress", members=3, backups=1)
    lab.up()
    zk = workload.client(lab, auth_data=[CREDENTIAL])
    workload.sample_tree(zk)
    # About 16 MB of files: 4 s through a 4 MB/s limit, uncompressed.
    workload.bulk_load(zk, 60000, value_size=200)
    zk.stop()
    zk.close()
    yield lab
    lab.down()


def play(lab, name, **extra):
    ev = dict(EV, **extra)
    res = run_playbook(lab, name, extra_vars=ev)
    assert res.rc == 0, res.output()
    return res


def on_backup_host(lab, path):
    return lab.backup_hosts[0].path(path)


def waited(res, prefix):
    """The results of the role's wait tasks whose names start with ``prefix``: {host: result}."""
    found = {r["host"]: r["result"] for r in res.records
             if r["task"].split(" : ")[-1].startswith(prefix) and r["status"] == "ok"
             and r["result"].get("ansible_job_id")}
    assert found, res.output()
    return found


def catalog(lab):
    res = run_playbook(lab, """
- hosts: zk1
  gather_facts: false
  tasks:
    - name: catalog
      zkops.zookeeper.zk_backup_catalog:
        backup_host: %s
        ensemble: %s
        ssh_known_hosts_file: /root/.ssh/known_hosts
""" % (lab.backup_hosts[0].ip, lab.name))
    assert res.rc == 0, res.output()
    return res.result("catalog")


def test_a_backup_shows_its_progress_and_leaves_its_report(plab):
    res = play(plab, "zkops.zookeeper.backup", zookeeper_backup_compression="none",
               zookeeper_backup_bandwidth_limit="4MB")
    (source, backup), = waited(res, "Wait and show the progress of the backup on ").items()
    # Progress lines were printed while the play waited, with the share of bytes sent.
    printed = [line for host, line in LINE.findall(res.stdout) if host == source]
    assert printed == backup["progress_lines"], res.stdout
    sends = [line for line in printed if line.startswith("send: ")]
    # About 4 s of sending at the limit, a line a second at most: two at least, however
    # loaded the machine is.
    assert len(sends) >= 2, printed
    shares = [int(re.search(r"\((\d+)%\)", line).group(1)) for line in sends]
    assert shares == sorted(shares) and shares[0] < 100, sends
    assert all(" MB/s" in line for line in sends[1:]), sends
    assert printed[-1].startswith("done in ")
    send = [s for s in backup["stages"] if s["name"] == "send"][0]
    assert send["unit"] == "bytes" and send["done"] >= backup["bytes_raw"]
    assert 3 <= send["seconds"] and send["rate"] <= 4.5e6

    # The report: next to the backup, written after it, with the run's results.
    bid = backup["backup_id"]
    bdir = on_backup_host(plab, "%s/%s/%s" % (ROOT, plab.name, bid))
    with open(os.path.join(bdir, "report.json")) as f:
        doc = json.load(f)
    rep = doc["report"]
    assert (doc["format"], doc["kind"], doc["id"], doc["ensemble"]) == ("zkops-report/1", "backup", bid, plab.name)
    assert rep["backup_id"] == bid and rep["zxid"] == backup["zxid"]
    assert (rep["bytes_raw"], rep["bytes_sent"]) == (backup["bytes_raw"], backup["bytes_sent"])
    assert rep["source_member"].startswith(source) and rep["duration_s"] == backup["duration"]
    assert rep["verification"]["on_arrival"] == {plab.backup_hosts[0].ip: True}
    assert rep["verification"]["catalog"] == {plab.backup_hosts[0].ip: True}
    assert set(rep["stages_s"]) == {"connect and plan", "send", "verify on the backup hosts"}
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    assert summary["report_stored"] == ["%s:%s/%s/%s/report.json" % (plab.backup_hosts[0].ip, ROOT, plab.name, bid)]

    # The backup stays complete and verified: its checksums do not cover the report, the
    # catalog lists it with its report.
    with open(os.path.join(bdir, "SHA256SUMS")) as f:
        assert "report.json" not in f.read()
    check = plab.backup_hosts[0].sh("cd %s/%s/%s && sha256sum --strict -c SHA256SUMS" % (ROOT, plab.name, bid))
    assert check.returncode == 0
    found = catalog(plab)
    assert found["debris"] == [] and found["unverified"] == []
    entry, = [b for b in found["backups"] if b["id"] == bid]
    assert entry["complete"] and entry["verified"] is True
    assert entry["report"] == "%s/%s/%s/report.json" % (ROOT, plab.name, bid)

    # Nothing new: the second run takes no backup and writes no report.
    edir = on_backup_host(plab, "%s/%s" % (ROOT, plab.name))
    stored = sorted(os.listdir(edir))
    again = play(plab, "zkops.zookeeper.backup")
    assert not again.changed(), [r["task"] for r in again.changed()]
    assert sorted(os.listdir(edir)) == stored


def test_a_restore_shows_its_progress_and_leaves_its_report(plab):
    zk = workload.client(plab, auth_data=[CREDENTIAL])
    zk.create("/after-the-backup", b"undone by the restore")
    zk.stop()
    zk.close()
    res = play(plab, "zkops.zookeeper.restore", zookeeper_restore_confirm=plab.name)
    staged = waited(res, "Wait for the staging on every member")
    assert set(staged) == {h.name for h in plab.members}
    printed = LINE.findall(res.stdout)
    # Every member printed the stages it went through; the one that replays the files for
    # the digest takes longest.
    assert printed, res.stdout
    for host, result in staged.items():
        assert [line for h, line in printed if h == host] == result["progress_lines"]
        fetch = [s for s in result["stages"] if s["name"] == "fetch and unpack"][0]
        assert fetch["unit"] == "bytes" and fetch["done"] == result["fetched"][0]["bytes"]
    assert any(line.startswith(("fetch and unpack: ", "replay and check as ZooKeeper loads: ", "done in "))
               for _h, line in printed), printed

    # The report, on the backup host under restores/.
    summary = res.result("Summary", res.tasks("Summary")[0]["host"])["msg"]
    rid = summary["restore_id"]
    with open(on_backup_host(plab, "%s/%s/restores/%s.json" % (ROOT, plab.name, rid))) as f:
        doc = json.load(f)
    rep = doc["report"]
    assert (doc["kind"], doc["id"]) == ("restore", rid)
    assert rep == {k: v for k, v in summary.items() if not k.startswith("report_")}
    assert rep["result"] == "verified" and rep["mode"] == "ensemble"
    assert rep["backups"] == list(staged.values())[0]["backup_ids"]
    assert {m["host"]: m["bytes_fetched"] for m in rep["members"]} == {
        h: r["fetched"][0]["bytes"] for h, r in staged.items()}
    zk = workload.client(plab, auth_data=[CREDENTIAL])
    live = zklive.live_digest_pipelined(zk)
    assert not zk.exists("/after-the-backup")
    zk.stop()
    zk.close()
    ver = rep["verification"]
    assert ver["match"] is True and ver["live"]["digest"] == ver["expected"]["digest"] == live["digest"]
    assert 0 < rep["outage_s"] < rep["duration_s"]
    # The catalog shows the restore: what an audit looks at.
    restores = catalog(plab)["restores"]
    assert [(r["id"], r["result"], r["verified"]) for r in restores] == [(rid, "verified", True)]
