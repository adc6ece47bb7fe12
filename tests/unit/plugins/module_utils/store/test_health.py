"""store/health: the problems found against thresholds, one line each, and the same facts as
Prometheus metrics."""
import re

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import prometheus
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import health as H

NOW = 1800000000.0
E = 0x500000000
ALL = {"max_full_age_hours": 26, "max_ship_lag_seconds": 900, "max_ship_lag_transactions": 100,
       "max_disk_used_percent": 85, "max_restore_age_hours": 744}


def facts(**over):
    f = {"reachable": True, "error": None, "backups": {"full": 2, "logs": 5},
         "newest": {"id": "L5", "kind": "logs", "created_ts": NOW - 60, "verified": True, "rejected": None,
                    "problems": []},
         "full": {"id": "F2", "kind": "full", "created": "x", "created_ts": NOW - 3600, "bytes": 12345},
         "fulls_failing": [],
         "ship": {"last_zxid": E + 1000, "updated": "x", "updated_ts": NOW - 120, "backup_id": "L5"},
         "disk": {"size_bytes": 1000, "used_bytes": 500, "avail_bytes": 500, "used_percent": 50.0},
         "restore": {"id": "R1", "path": "/srv/backups/e/restores/R1.json", "written": "x",
                     "written_ts": NOW - 86400, "result": "verified", "ok": True}}
    f.update(over)
    return f


def checks(problems):
    return sorted((p["check"], p["severity"]) for p in problems)


def test_healthy_backups_have_no_problem():
    assert H.evaluate(facts(), ALL, E + 1000, NOW) == []
    assert H.status([]) == "ok"


def test_each_fact_beyond_its_threshold_is_one_problem():
    bad = facts(full=dict(facts()["full"], created_ts=NOW - 27 * 3600),
                disk=dict(facts()["disk"], used_percent=90.0),
                restore=dict(facts()["restore"], written_ts=NOW - 745 * 3600))
    probs = H.evaluate(bad, ALL, E + 1200, NOW)
    assert checks(probs) == [("disk", "critical"), ("full_age", "critical"), ("restore", "critical"),
                             ("ship_lag", "critical")]
    assert H.status(probs) == "critical"
    text = " ".join(p["message"] for p in probs)
    assert "27.0 hours old, more than 26 hours" in text
    assert "200 transactions" in text and "90.0% used" in text


def test_a_disabled_threshold_is_not_checked():
    bad = facts(full=None, ship=None, disk=None, restore=None)
    assert H.evaluate(bad, {}, None, NOW) == []
    assert H.evaluate(bad, dict(ALL, max_full_age_hours=None, max_ship_lag_seconds=None,
                                max_ship_lag_transactions=None, max_disk_used_percent=None,
                                max_restore_age_hours=None), None, NOW) == []


def test_missing_facts_are_problems_and_unknowns_are_told_apart():
    probs = H.evaluate(facts(full=None, fulls_failing=["F2"], restore=None, disk=None), ALL, None, NOW)
    assert checks(probs) == [("disk", "unknown"), ("full_age", "critical"), ("restore", "critical"),
                             ("ship_lag", "unknown")]
    assert "(F2, the newest, failing its sums or authentication)" in \
        [p for p in probs if p["check"] == "full_age"][0]["message"]
    assert checks(H.evaluate(facts(ship=None), ALL, E, NOW)) == [("ship_lag", "critical")]


def test_an_unreachable_host_is_only_unknown():
    probs = H.evaluate(H.unreachable("backup1: connection timed out"), ALL, E, NOW)
    assert checks(probs) == [("reachable", "unknown")]
    assert "connection timed out" in probs[0]["message"]
    assert H.status(probs) == "unknown"
    assert H.status(probs + [{"check": "sums", "severity": "critical", "message": ""}]) == "critical"


def test_the_newest_backup_failing_its_sums_or_its_authentication():
    newest = dict(facts()["newest"], verified=False, problems=["archive.tar.gz: FAILED"])
    probs = H.evaluate(facts(newest=newest), {}, None, NOW)
    assert checks(probs) == [("sums", "critical")]
    assert "L5 fails its sums" in probs[0]["message"] and "archive.tar.gz: FAILED" in probs[0]["message"]
    newest = dict(facts()["newest"], rejected="no MAC of the key given")
    assert "not authenticated" in H.evaluate(facts(newest=newest), {}, None, NOW)[0]["message"]


RESULTS = [("verified", True), ("restored, partly verified", True), ("restored, digest not checked", True),
           ("restored, digest not verified", False), ("failed, rolled back", False),
           ("failed, and the rollback failed", False), (None, False)]


@pytest.mark.parametrize("result,ok", RESULTS)
def test_which_restore_results_are_a_success(result, ok):
    assert H.restore_ok(result) is ok


def test_a_failed_restore_is_named_whatever_its_age():
    probs = H.evaluate(facts(restore=dict(facts()["restore"], ok=False, result="failed, rolled back")),
                       {"max_restore_age_hours": 744}, None, NOW)
    assert checks(probs) == [("restore", "critical")]
    assert "did not succeed: failed, rolled back" in probs[0]["message"]


def test_ship_lag_counts_the_transactions_of_a_new_epoch():
    f = facts()
    assert H.ship_lag(f, E + 1000, NOW) == (0, 0.0)
    assert H.ship_lag(f, E + 1010, NOW) == (10, 120.0)
    assert H.ship_lag(f, E + 0x100000000 + 7, NOW) == (7, 120.0)
    assert H.ship_lag(f, None, NOW) == (None, None)
    # Only the seconds limit: 120 s behind with 10 transactions waiting is within 900 s.
    assert H.evaluate(f, {"max_ship_lag_seconds": 900}, E + 1010, NOW) == []
    assert checks(H.evaluate(f, {"max_ship_lag_seconds": 60}, E + 1010, NOW)) == [("ship_lag", "critical")]


def test_one_line_per_problem_even_with_line_feeds_in_a_message():
    probs = [{"check": "reachable", "severity": "unknown", "message": "cannot\ncheck"},
             {"check": "sums", "severity": "critical", "message": "bad"}]
    assert H.lines("prod", "backup1", probs) == ["UNKNOWN prod on backup1 [reachable]: cannot check",
                                                 "CRITICAL prod on backup1 [sums]: bad"]


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$')


def parse(text):
    helps, types, samples = {}, {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, doc = line[7:].split(" ", 1)
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split()
            types[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, line
            samples.append((m.group(1), m.group(2), m.group(3)))
    return helps, types, samples


def test_metrics_follow_prometheus_conventions():
    f = facts()
    text = H.metrics("prod", "backup1", f, [], E + 1010, NOW)
    helps, types, samples = parse(text)
    names = {s[0] for s in samples}
    declared = {name for name, _kind, _help in H.METRICS}
    assert names == declared
    for name in names:
        assert name.startswith("zookeeper_backup_")
        assert name in helps and types[name] == "gauge"
        # Base units: seconds and bytes, timestamps as _timestamp_seconds, never ms, minutes or hours.
        assert not re.search(r"_(ms|milliseconds|minutes|hours|days|kb|mb|gb|percent)$", name), name
    for _name, labels, _value in samples:
        assert labels.startswith('backup_host="backup1",ensemble="prod"')
    got = {(n, l): v for n, l, v in samples}
    base = 'backup_host="backup1",ensemble="prod"'
    assert got[("zookeeper_backup_check_timestamp_seconds", base)] == "1800000000"
    assert got[("zookeeper_backup_full_last_verified_timestamp_seconds", base)] == str(int(NOW - 3600))
    assert got[("zookeeper_backup_full_last_verified_bytes", base)] == "12345"
    assert got[("zookeeper_backup_ship_lag_transactions", base)] == "10"
    assert got[("zookeeper_backup_ship_lag_seconds", base)] == "120"
    assert got[("zookeeper_backup_filesystem_used_ratio", base)] == "0.5"
    assert got[("zookeeper_backup_stored_backups", base + ',kind="logs"')] == "5"
    assert got[("zookeeper_backup_check_problems", base + ',severity="critical"')] == "0"
    # Each family's HELP and TYPE come once, before its samples.
    assert text.count("# TYPE zookeeper_backup_stored_backups ") == 1


def test_an_unreachable_host_writes_up_zero_and_leaves_unknown_facts_out():
    probs = H.evaluate(H.unreachable("timeout"), ALL, E, NOW)
    _helps, _types, samples = parse(H.metrics("prod", "b", H.unreachable("timeout"), probs, E, NOW))
    got = {(n, l): v for n, l, v in samples}
    assert got[("zookeeper_backup_host_up", 'backup_host="b",ensemble="prod"')] == "0"
    assert got[("zookeeper_backup_check_problems", 'backup_host="b",ensemble="prod",severity="unknown"')] == "1"
    assert {n for n, _l, _v in samples} == {"zookeeper_backup_host_up", "zookeeper_backup_check_problems",
                                            "zookeeper_backup_check_timestamp_seconds"}


def test_label_values_and_help_are_escaped():
    fam = prometheus.Families()
    fam.add("x_total", "counter", 'a \\ help\nline', 3, {"ensemble": 'we"ird\\name\nx'})
    assert fam.render() == ('# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n'
                            'x_total{ensemble="we\\"ird\\\\name\\nx"} 3\n')
    text = H.metrics('a"b', "h\\1", facts(), [], E, NOW)
    assert 'backup_host="h\\\\1",ensemble="a\\"b"' in text


def test_bad_names_and_values_are_refused_or_rendered_exactly():
    fam = prometheus.Families()
    with pytest.raises(ValueError):
        fam.add("bad-name", "gauge", "h", 1)
    with pytest.raises(ValueError):
        fam.add("ok", "gauge", "h", 1, {"bad-label": "x"})
    with pytest.raises(ValueError):
        fam.add("ok", "summary", "h", 1)
    fam.add("g", "gauge", "h", None)
    assert fam.render() == ""
    assert [prometheus.format_value(v) for v in (True, 0, 1.5, 2.0, float("inf"), float("nan"))] == \
        ["1", "0", "1.5", "2", "+Inf", "NaN"]


def test_a_shipping_state_without_a_zxid_is_unknown_not_an_error():
    probs = H.evaluate(facts(ship={"last_zxid": None, "updated": "x", "updated_ts": NOW, "backup_id": None}),
                       ALL, E + 1000, NOW)
    assert checks(probs) == [("ship_lag", "unknown")]
    assert "records no zxid" in probs[0]["message"]


class _Catalog:
    """The catalog's answers for gather(): backups oldest first, as list_backups() returns them."""

    def __init__(self, backups):
        self.backups, self.verified = backups, []

    def list_backups(self, session, root, ensemble, keys=None):
        return list(self.backups), []

    def verify(self, session, b):
        self.verified.append(b["id"])
        b["verified"] = True


def test_the_newest_backup_checked_is_never_a_tree_export(monkeypatch):
    cat = _Catalog([{"id": "F1", "kind": "full", "verified": None, "zxid": {"last": "0x500000010"}},
                    {"id": "L2", "kind": "logs", "verified": None, "zxid": {"last": "0x500000020"}},
                    {"id": "T3", "kind": "tree", "verified": None, "zxid": {"last": "0x500000030"}}])
    monkeypatch.setattr(H.catalog, "list_backups", cat.list_backups)
    monkeypatch.setattr(H.catalog, "verify", cat.verify)
    monkeypatch.setattr(H.ship_state, "read", lambda session, edir: None)
    monkeypatch.setattr(H.catalog, "restore_reports", lambda session, root, ensemble: [])
    monkeypatch.setattr(H, "disk_usage", lambda session, root: None)
    got = H.gather(object(), "/srv/backups", "e")
    assert got["newest"]["id"] == "L2" and got["full"]["id"] == "F1"
    assert cat.verified == ["L2", "F1"]


class _Damaged(_Catalog):
    """A catalog whose backups named in ``bad`` fail their sums."""

    def __init__(self, backups, bad):
        _Catalog.__init__(self, backups)
        self.bad = set(bad)

    def verify(self, session, b):
        self.verified.append(b["id"])
        b["verified"] = b["id"] not in self.bad


def _gather_fulls(monkeypatch, count, bad):
    cat = _Damaged([{"id": "F%d" % i, "kind": "full", "verified": None, "created": "2026-12-0%dT00:00:00Z" % i,
                     "zxid": {"last": "0x5000000%02x" % i}} for i in range(1, count + 1)], bad)
    monkeypatch.setattr(H.catalog, "list_backups", cat.list_backups)
    monkeypatch.setattr(H.catalog, "verify", cat.verify)
    monkeypatch.setattr(H.ship_state, "read", lambda session, edir: None)
    monkeypatch.setattr(H.catalog, "restore_reports", lambda session, root, ensemble: [])
    monkeypatch.setattr(H, "disk_usage", lambda session, root: None)
    return H.gather(object(), "/srv/backups", "e"), cat


def test_only_the_newest_fulls_are_rechecked_and_the_message_says_older_ones_were_not(monkeypatch):
    got, cat = _gather_fulls(monkeypatch, 5, bad={"F3", "F4", "F5"})
    assert cat.verified == ["F5", "F4", "F3"]           # F5 is also the newest backup: checked once
    assert got["full"] is None and got["fulls_failing"] == ["F5", "F4", "F3"] and got["fulls_unchecked"] == 2
    msg = [p for p in H.evaluate(got, ALL, None, NOW) if p["check"] == "full_age"][0]
    assert msg["severity"] == "critical"
    assert msg["message"] == ("none of the 3 newest full backups on the backup host verifies (F5, F4, F3, failing "
                              "their sums or authentication; 2 older ones were not checked): take one "
                              "(zkops.zookeeper.backup), then find out why they fail (damage on the host, or keys that "
                              "do not match theirs)")
    # Not "no full backup verifies": an older one that was not checked may.
    assert "no full backup" not in msg["message"]


def test_when_every_full_was_rechecked_none_verifying_is_said_as_such(monkeypatch):
    got, _cat = _gather_fulls(monkeypatch, 3, bad={"F1", "F2", "F3"})
    assert got["full"] is None and got["fulls_unchecked"] == 0
    msg = [p for p in H.evaluate(got, ALL, None, NOW) if p["check"] == "full_age"][0]["message"]
    assert msg.startswith("no full backup on the backup host verifies (F3, F2, F1, the newest, failing their sums")
    # One older full that verifies behind two damaged ones is found, and nothing is left unchecked.
    got, cat = _gather_fulls(monkeypatch, 5, bad={"F4", "F5"})
    assert got["full"]["id"] == "F3" and got["fulls_unchecked"] == 0 and cat.verified == ["F5", "F4", "F3"]
    assert H.unreachable("x")["fulls_unchecked"] == 0
