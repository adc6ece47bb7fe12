# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health of one ensemble's backups on one backup host: the facts read there
(``gather``), the problems they show against thresholds (``evaluate``), one line per problem
(``lines``) and the same facts as Prometheus metrics (``metrics``).

Facts, read-only: the newest full backup whose files still match its ``SHA256SUMS`` on the
host (and, with keys, that a restore holding them accepts: catalog.judge_entry()); the
newest backup of any kind, re-checked the same way; the log-shipping state (ship_state.py);
the file system of the backup root (``df``); the newest restore report (reports.py).

A problem is ``critical`` when the data says something is wrong, ``unknown`` when a check
could not be made (the host did not answer, no member gave its zxid): an alert can tell
"the backups are bad" from "the check is blind".  A threshold of None is not checked.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import prometheus
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push

CRITICAL = "critical"
UNKNOWN = "unknown"
# The thresholds evaluate() reads, as the module's options name them.
THRESHOLDS = ("max_full_age_hours", "max_ship_lag_seconds", "max_ship_lag_transactions",
              "max_disk_used_percent", "max_restore_age_hours")
# How many full backups, newest first, are re-checked to find the newest that verifies.
MAX_FULLS_CHECKED = 3
DF_TIMEOUT = 30


def _brief(b):
    if b is None:
        return None
    return {"id": b.get("id"), "kind": b.get("kind"), "created": b.get("created"),
            "created_ts": times.parse_iso_seconds(b.get("created")),
            "bytes": (b.get("archive") or {}).get("bytes"), "verified": b.get("verified"),
            "authenticated": b.get("authenticated"), "rejected": b.get("rejected"),
            "problems": list(b.get("problems") or [])}


def _usable(b):
    """Its files match their sums and a restore with the keys given accepts it."""
    return b.get("verified") is True and not b.get("rejected")


def disk_usage(session, path):
    """{size_bytes, used_bytes, avail_bytes, used_percent} of the file system of ``path`` on
    the host, or None when ``df`` cannot tell."""
    return push.disk_usage(session, path, timeout=DF_TIMEOUT)


def restore_ok(result):
    """Whether a restore report's ``result`` (roles/restore) says the restore worked."""
    text = str(result or "")
    return (text == "verified" or text.startswith("restored")) and "not verified" not in text


def gather(session, root, ensemble, keys=None):
    """The facts of ``ensemble`` on the host of ``session``; raises SshError when the host
    cannot be read."""
    backups, _debris = catalog.list_backups(session, root, ensemble, keys=keys)
    fulls = [b for b in reversed(backups) if b.get("kind") == "full"]
    # The newest backup a restore would use: tree exports stored beside the backups are not.
    restorable = [b for b in backups if b.get("kind") in ("full", "logs")]
    newest = restorable[-1] if restorable else None
    if newest is not None and newest.get("verified") is None:
        catalog.verify(session, newest)
    full, failing = None, []
    for b in fulls[:MAX_FULLS_CHECKED]:
        if b.get("verified") is None:
            catalog.verify(session, b)
        if _usable(b):
            full = b
            break
        failing.append(b["id"])
    # Older full backups left unchecked once MAX_FULLS_CHECKED failed: one may still verify.
    unchecked = len(fulls) - len(failing) if full is None else 0
    edir = posixpath.join(root.rstrip("/") or "/", ensemble)
    state = ship_state.read(session, edir)
    if state is not None:
        ship = {"last_zxid": state.get("last_zxid"), "updated": state.get("updated"),
                "backup_id": state.get("backup_id"), "source": ship_state.STATE_FILE}
    else:
        last = ship_state.from_backups(backups)
        holder = [b for b in backups if zxid_mod.from_record((b.get("zxid") or {}).get("last")) == last]
        ship = None if last is None else {
            "last_zxid": last, "updated": holder[-1].get("created") if holder else None,
            "backup_id": holder[-1]["id"] if holder else None, "source": "manifests"}
    if ship is not None:
        ship["updated_ts"] = times.parse_iso_seconds(ship.get("updated"))
    restore = None
    for path, _size, _mtime in catalog.restore_reports(session, root, ensemble):
        doc = reports.read(session, path)
        if doc is None:
            continue
        rep = doc.get("report") or {}
        cand = {"id": doc.get("id"), "path": path, "written": doc.get("written"),
                "written_ts": times.parse_iso_seconds(doc.get("written")), "result": rep.get("result"),
                "mode": rep.get("mode"), "ok": restore_ok(rep.get("result"))}
        if restore is None or (cand["written_ts"] or 0) >= (restore["written_ts"] or 0):
            restore = cand
    counts = {}
    for b in backups:
        counts[b.get("kind") or "unknown"] = counts.get(b.get("kind") or "unknown", 0) + 1
    return {"reachable": True, "error": None, "backups": counts, "newest": _brief(newest),
            "full": _brief(full), "fulls_failing": failing, "fulls_unchecked": unchecked, "ship": ship,
            "disk": disk_usage(session, root), "restore": restore, "catalog": backups}


def unreachable(reason):
    """The facts of a host that could not be read."""
    return {"reachable": False, "error": str(reason), "backups": {}, "newest": None, "full": None,
            "fulls_failing": [], "fulls_unchecked": 0, "ship": None, "disk": None, "restore": None,
            "catalog": []}


def _hours(seconds):
    return "%.1f hours" % (seconds / 3600.0)


def ship_lag(facts, live_zxid, now):
    """(transactions, seconds) the backup host lags the live ensemble by, each None when
    unknown: the live ensemble's transactions not shipped yet (zxid.lag()), and, when there
    are any, the time since the shipping state last moved."""
    ship = facts.get("ship")
    if live_zxid is None or ship is None or ship.get("last_zxid") is None:
        return None, None
    txns = zxid_mod.lag(live_zxid, ship["last_zxid"])
    if txns == 0:
        return 0, 0.0
    updated = ship.get("updated_ts")
    return txns, (max(0.0, now - updated) if updated is not None else None)


def evaluate(facts, thresholds, live_zxid, now):
    """The problems of ``facts`` (gather()): a list of {check, severity, message}."""
    t = dict((k, thresholds.get(k)) for k in THRESHOLDS)
    out = []

    def add(check, severity, message):
        out.append({"check": check, "severity": severity, "message": message})

    if not facts.get("reachable"):
        add("reachable", UNKNOWN, "cannot check the backup host: %s. Make it reachable over SSH from the host "
                                  "the check runs on (or fix the SSH settings), then run the check again"
            % facts.get("error"))
        return out
    newest = facts.get("newest")
    if newest is not None and newest.get("verified") is False:
        add("sums", CRITICAL, "the newest backup %s fails its sums on the backup host (%s): do not rely on it; take "
                              "a new backup and inspect the host's disk" % (newest["id"], "; ".join(newest["problems"][:3])))
    elif newest is not None and newest.get("rejected"):
        add("sums", CRITICAL, "the newest backup %s is not authenticated by the keys given (%s): a restore refuses "
                              "it" % (newest["id"], newest["rejected"]))
    if t["max_full_age_hours"] is not None:
        full = facts.get("full")
        if full is None:
            failing = facts.get("fulls_failing") or []
            unchecked = facts.get("fulls_unchecked") or 0
            if unchecked:
                # Only the newest were re-checked: an older one may verify, but none recent does.
                add("full_age", CRITICAL, "none of the %d newest full backups on the backup host verifies (%s, "
                                          "failing their sums or authentication; %d older %s not checked): take "
                                          "one (zkops.zookeeper.backup), then find out why they fail (damage on the host, or keys "
                                          "that do not match theirs)"
                    % (len(failing), ", ".join(failing), unchecked, "one was" if unchecked == 1 else "ones were"))
            else:
                add("full_age", CRITICAL, "no full backup on the backup host verifies%s: take one "
                                          "(zkops.zookeeper.backup)"
                    % (" (%s, the newest, failing %s sums or authentication)"
                       % (", ".join(failing), "its" if len(failing) == 1 else "their") if failing else ""))
        elif full.get("created_ts") is None:
            add("full_age", CRITICAL, "the newest verified full backup %s records no creation time" % full["id"])
        else:
            age = now - full["created_ts"]
            if age > t["max_full_age_hours"] * 3600.0:
                add("full_age", CRITICAL, "the newest verified full backup %s is %s old, more than %s hours: check "
                                          "that the backups run (zkops.zookeeper.backup) and succeed"
                    % (full["id"], _hours(age), "%g" % t["max_full_age_hours"]))
    if t["max_ship_lag_seconds"] is not None or t["max_ship_lag_transactions"] is not None:
        if facts.get("ship") is None:
            add("ship_lag", CRITICAL, "no transaction was ever shipped to the backup host: run "
                                      "zkops.zookeeper.ship_logs regularly, after a full backup")
        elif live_zxid is None:
            add("ship_lag", UNKNOWN, "cannot compare log shipping with the live ensemble: no member gave its zxid")
        elif ship_lag(facts, live_zxid, now)[0] is None:
            add("ship_lag", UNKNOWN, "cannot compare log shipping with the live ensemble: the shipping state on "
                                     "the backup host records no zxid")
        else:
            txns, secs = ship_lag(facts, live_zxid, now)
            limit_t, limit_s = t["max_ship_lag_transactions"], t["max_ship_lag_seconds"]
            over_t = limit_t is not None and txns > limit_t
            over_s = limit_s is not None and secs is not None and secs > limit_s
            if over_t or over_s:
                add("ship_lag", CRITICAL, "log shipping lags the live ensemble by %d transactions (zxid %s shipped, %s "
                                          "live), last shipped %s ago; limits %s transactions, %s seconds: check that "
                                          "zkops.zookeeper.ship_logs runs and succeeds"
                    % (txns, zxid_mod.to_hex(facts["ship"]["last_zxid"]), zxid_mod.to_hex(live_zxid),
                       "%d s" % secs if secs is not None else "an unknown time",
                       "no" if limit_t is None else "%g" % limit_t, "no" if limit_s is None else "%g" % limit_s))
    if t["max_disk_used_percent"] is not None:
        disk = facts.get("disk")
        if disk is None:
            add("disk", UNKNOWN, "cannot read how full the backup host's file system is (df failed)")
        elif disk["used_percent"] > t["max_disk_used_percent"]:
            add("disk", CRITICAL, "the backup host's file system is %.1f%% used (%d bytes free), more than %s%%: free "
                                  "space or lower the retention (zookeeper_backup_keep_last)"
                % (disk["used_percent"], disk["avail_bytes"], "%g" % t["max_disk_used_percent"]))
    if t["max_restore_age_hours"] is not None:
        restore = facts.get("restore")
        if restore is None:
            add("restore", CRITICAL, "no restore report on the backup host: run a restore drill "
                                     "(zkops.zookeeper.restore on a scratch ensemble)")
        elif not restore["ok"]:
            add("restore", CRITICAL, "the last restore %s (%s) did not succeed: %s; read its report (%s)"
                % (restore["id"], restore["written"], restore["result"], restore["path"]))
        elif restore["written_ts"] is None or now - restore["written_ts"] > t["max_restore_age_hours"] * 3600.0:
            add("restore", CRITICAL, "the last restore %s is %s old, more than %s hours: run a restore drill"
                % (restore["id"], _hours(now - restore["written_ts"]) if restore["written_ts"] else "of unknown age",
                   "%g" % t["max_restore_age_hours"]))
    return out


def status(problems):
    """ok, critical (a data problem, whatever else) or unknown (only checks that could not run)."""
    if any(p["severity"] == CRITICAL for p in problems):
        return CRITICAL
    return UNKNOWN if problems else "ok"


def lines(ensemble, host, problems):
    """One line per problem: ``<SEVERITY> <ensemble> on <host> [<check>]: <message>``."""
    return ["%s %s on %s [%s]: %s" % (p["severity"].upper(), ensemble, host, p["check"], p["message"].replace("\n", " "))
            for p in problems]


# name, type, help: every metric metrics() may write (docs/monitoring.md lists them).
METRICS = (
    ("zookeeper_backup_check_timestamp_seconds", "gauge", "When the check ran (Unix time)."),
    ("zookeeper_backup_check_problems", "gauge", "Problems the check found, by severity (critical: the data; "
                                                 "unknown: a check that could not run)."),
    ("zookeeper_backup_host_up", "gauge", "1 when the backup host could be read, else 0."),
    ("zookeeper_backup_stored_backups", "gauge", "Complete backups stored on the backup host, by kind."),
    ("zookeeper_backup_full_last_verified_timestamp_seconds", "gauge",
     "Creation time of the newest full backup that verifies on the backup host (Unix time)."),
    ("zookeeper_backup_full_last_verified_bytes", "gauge", "Archive size of the newest full backup that verifies."),
    ("zookeeper_backup_newest_verified", "gauge",
     "1 when the newest backup's files match its sums (and the keys given authenticate it), else 0."),
    ("zookeeper_backup_ship_last_timestamp_seconds", "gauge",
     "When the log-shipping state on the backup host last moved (Unix time)."),
    ("zookeeper_backup_ship_lag_transactions", "gauge",
     "Transactions of the live ensemble not shipped to the backup host yet."),
    ("zookeeper_backup_ship_lag_seconds", "gauge",
     "Seconds since the shipping state last moved while transactions wait (0 when none wait)."),
    ("zookeeper_backup_filesystem_size_bytes", "gauge", "Size of the backup root's file system."),
    ("zookeeper_backup_filesystem_avail_bytes", "gauge", "Bytes available on the backup root's file system."),
    ("zookeeper_backup_filesystem_used_ratio", "gauge", "Used share of the backup root's file system (0 to 1)."),
    ("zookeeper_backup_restore_last_timestamp_seconds", "gauge", "When the newest restore report was written (Unix time)."),
    ("zookeeper_backup_restore_last_success", "gauge", "1 when the newest restore report says it succeeded, else 0."),
)


def metrics(ensemble, host, facts, problems, live_zxid, now):
    """The Prometheus text of the facts and problems of one ensemble on one backup host."""
    fam = prometheus.Families()
    spec = dict((name, (kind, text)) for name, kind, text in METRICS)
    labels = {"ensemble": ensemble, "backup_host": host}

    def add(name, value, **extra):
        kind, text = spec[name]
        fam.add(name, kind, text, value, dict(labels, **extra))

    add("zookeeper_backup_check_timestamp_seconds", now)
    for sev in (CRITICAL, UNKNOWN):
        add("zookeeper_backup_check_problems", sum(1 for p in problems if p["severity"] == sev), severity=sev)
    add("zookeeper_backup_host_up", bool(facts.get("reachable")))
    if facts.get("reachable"):
        for kind in sorted(set(["full", "logs"]) | set(facts.get("backups") or {})):
            add("zookeeper_backup_stored_backups", (facts.get("backups") or {}).get(kind, 0), kind=kind)
    full = facts.get("full")
    if full is not None:
        add("zookeeper_backup_full_last_verified_timestamp_seconds", full.get("created_ts"))
        add("zookeeper_backup_full_last_verified_bytes", full.get("bytes"))
    newest = facts.get("newest")
    if newest is not None:
        add("zookeeper_backup_newest_verified", newest.get("verified") is True and not newest.get("rejected"))
    ship = facts.get("ship")
    if ship is not None:
        add("zookeeper_backup_ship_last_timestamp_seconds", ship.get("updated_ts"))
    txns, secs = ship_lag(facts, live_zxid, now)
    add("zookeeper_backup_ship_lag_transactions", txns)
    add("zookeeper_backup_ship_lag_seconds", secs)
    disk = facts.get("disk")
    if disk is not None:
        add("zookeeper_backup_filesystem_size_bytes", disk["size_bytes"])
        add("zookeeper_backup_filesystem_avail_bytes", disk["avail_bytes"])
        add("zookeeper_backup_filesystem_used_ratio", round(disk["used_percent"] / 100.0, 4))
    restore = facts.get("restore")
    if restore is not None:
        add("zookeeper_backup_restore_last_timestamp_seconds", restore.get("written_ts"))
        add("zookeeper_backup_restore_last_success", bool(restore.get("ok")))
    return fam.render()
