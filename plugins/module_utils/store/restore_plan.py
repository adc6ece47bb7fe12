# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which stored backups a restore needs: one full backup, and the shipped log chunks
after it when the restore goes to a later point in time.

Works on catalog entries (catalog.list_backups()) and knows nothing of SSH.  The rules:

- a full backup named by its id, else the newest full backup whose snapshot is not
  after the target (the newest one at all without a target); one that failed
  verification is never chosen;
- for a target after the full backup's last zxid, the shipped chunks that continue it,
  in zxid order, up to the first one that reaches the target; a gap between them makes
  the target unreachable and says so;
- the digest the backup promises: the one recorded in the full backup's manifest when it
  is at the zxid the restore goes to; otherwise the restore has to replay the files to
  know it.

A restore of the whole ensemble forks its history (a fork: the zxid it restored to, the
epoch the restored ensemble began, when it finished; forks_from_reports()).  What was
logged after that zxid in the epochs before is a history nobody serves any more, and the
backups and chunks holding it may still be on the backup host (a point-in-time restore
undoes a bad deploy that was shipped).  For a target after a fork (the latest state, a
zxid of a later epoch, a later time) those backups and chunks are left out, and a chain
crosses the fork only from exactly its zxid.  A full backup taken after the fork is the
base for what came after; without one, the latest state is the fork's own zxid (with a
warning that the chunks shipped since cannot be applied).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import from_record as _z
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txnlog import follows
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import epoch as epoch_of
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

LATEST = "latest"


class PlanError(Exception):
    pass


class ForkStop(Exception):
    """A chain of shipped logs reached a fork before the zxid it restored to."""

    def __init__(self, fork):
        Exception.__init__(self, fork["restore_id"])
        self.fork = fork


def _ms(entry, key):
    return ((entry.get("time_range") or {}).get(key + "_ms"))


def _usable(b):
    """Complete, not failing verification, and not refused for its authenticity
    (``rejected``, catalog.judge_entry())."""
    return b.get("complete", True) and b.get("verified") is not False and not b.get("rejected")


def _key(b):
    return (b.get("created") or "", b["id"])


# Results of restores of the whole ensemble that left it on the restored data.
FORKING_RESULTS = ("verified", "restored, digest not checked")


def forks_from_reports(docs):
    """The forks of an ensemble's history from its stored restore reports (run_report
    documents), oldest first: ``restore_id``, ``zxid`` (restored to), ``epoch`` (the first
    epoch of the history after it), ``finished`` (ISO time), ``time_ms``.  A report stored
    on several backup hosts counts once."""
    out, seen = [], set()
    for doc in docs:
        rep = (doc or {}).get("report") or {}
        if rep.get("mode") != "ensemble" or rep.get("result") not in FORKING_RESULTS:
            continue
        zr = _z(rep.get("last_zxid_restored"))
        finished = rep.get("finished")
        if zr is None or not finished:
            continue
        serving = _z(rep.get("zxid"))
        epoch = epoch_of(serving) if serving is not None and epoch_of(serving) > epoch_of(zr) else epoch_of(zr) + 1
        fork = {"restore_id": rep.get("restore_id") or doc.get("id"), "zxid": zr, "epoch": epoch,
                "finished": finished, "time_ms": _ms_of(finished)}
        key = (fork["restore_id"], zr, epoch, finished)
        if key in seen:
            continue
        seen.add(key)
        out.append(fork)
    return sorted(out, key=lambda f: (f["finished"], f["zxid"]))


def fork_since(forks, full):
    """The newest of ``forks`` that finished after the full backup ``full`` was created
    (or the newest one at all when there is no full backup), else None: shipped logs need
    a full backup taken after it before they can be restored."""
    if not forks:
        return None
    newest = forks[-1]
    if full is None or (full.get("created") or "") <= newest["finished"]:
        return newest
    return None


def _ms_of(text):
    try:
        return times.parse_ms(text)
    except ValueError:
        return None


def _applying(forks, target_zxid, target_time):
    """The forks the target lies after: its history does not hold what they undid."""
    if target_zxid is None and target_time is None or target_zxid == LATEST:
        return list(forks)
    if target_zxid is not None:
        return [f for f in forks if (f["epoch"] << 32) <= target_zxid]
    return [f for f in forks if f["time_ms"] is not None and f["time_ms"] <= target_time]


def _abandoned(forks, first, last):
    """True when a backup from ``first`` to ``last`` begins or ends on a zxid that one of
    ``forks`` undid (after the zxid restored to, before the epoch begun after it).  The
    backups of the history after a fork may begin before it (a member's logs hold what
    was restored) and end after it, with nothing undone in between."""
    return any(f["zxid"] < z < (f["epoch"] << 32) for f in forks for z in (first, last))


def _zx(b, key):
    return _z((b.get("zxid") or {}).get(key))


def choose_full(backups, backup_id=None, target_zxid=None, target_time=None, forks=()):
    fulls = sorted((b for b in backups if b.get("kind") == "full"), key=_key)
    if forks and not backup_id:
        fulls = [b for b in fulls if _zx(b, "last") is None
                 or not _abandoned(forks, _zx(b, "last") if _zx(b, "snapshot") is None else _zx(b, "snapshot"),
                                   _zx(b, "last"))]
    if backup_id:
        found = [b for b in fulls if b["id"] == backup_id]
        if not found:
            other = [b for b in backups if b["id"] == backup_id]
            if other:
                raise PlanError("backup %s is a %s backup, not a full one: name the full backup to restore "
                                "(shipped logs are added for a target zxid or time)"
                                % (backup_id, other[0].get("kind")))
            raise PlanError("there is no complete backup %s" % backup_id)
        if found[0].get("rejected"):
            raise PlanError("backup %s is refused: %s; restore another backup, or set allow_unauthenticated: true "
                            "to accept backups the keys given do not authenticate" % (backup_id, found[0]["rejected"]))
        if not _usable(found[0]):
            raise PlanError("backup %s fails verification (%s): choose another one"
                            % (backup_id, "; ".join(found[0].get("problems") or []) or "checksums differ"))
        return found[0]
    usable = [b for b in fulls if _usable(b)]
    if not usable:
        refused = [b for b in fulls if b.get("rejected")]
        raise PlanError("there is no full backup that verifies%s%s" % (
            " (%d fail verification)" % (len(fulls) - len(refused)) if len(fulls) > len(refused) else "",
            " (%d not authenticated by the keys given, the newest: %s: %s)" % (
                len(refused), refused[-1]["id"], refused[-1]["rejected"]) if refused else ""))
    if target_zxid is not None and target_zxid != LATEST:
        before = [b for b in usable if _z((b.get("zxid") or {}).get("snapshot")) is not None
                  and _z(b["zxid"]["snapshot"]) <= target_zxid]
        if not before:
            raise PlanError("no full backup starts at or before %s (the oldest snapshot is %s)"
                            % (hexzxid(target_zxid), min(b["zxid"].get("snapshot") for b in usable)))
        return before[-1]
    if target_time is not None:
        before = [b for b in usable if _ms(b, "last") is not None and _ms(b, "last") <= target_time]
        if not before:
            before = [b for b in usable if _ms(b, "first") is not None and _ms(b, "first") <= target_time]
        if not before:
            raise PlanError("no full backup holds transactions from before the target time")
        return before[-1]
    return usable[-1]


def chain(backups, full, target_zxid=None, target_time=None, forks=()):
    """The shipped chunks after ``full`` up to the target (all of them for LATEST)."""
    cur = _z(full["zxid"].get("last"))
    if target_zxid is None and target_time is None:
        return [], cur
    if target_zxid is not None and target_zxid != LATEST and target_zxid <= cur:
        return [], target_zxid
    if target_time is not None and _ms(full, "last") is not None and target_time <= _ms(full, "last"):
        return [], None
    chunks = sorted((b for b in backups if b.get("kind") == "logs" and _usable(b)
                     and _z((b.get("zxid") or {}).get("last")) is not None),
                    key=lambda b: (_z(b["zxid"].get("first")), _z(b["zxid"]["last"])))
    chunks = [c for c in chunks if not _abandoned(forks, _zx(c, "first"), _zx(c, "last"))]
    out = []
    for c in chunks:
        first, last = _z(c["zxid"].get("first")), _z(c["zxid"]["last"])
        if last <= cur:
            continue
        if first > cur and not follows(cur, first):
            break
        # Into the history after a fork only from exactly the zxid it restored to.
        for f in forks:
            if cur < f["zxid"] and first >= (f["epoch"] << 32):
                raise ForkStop(f)
        out.append(c)
        cur = last
        if target_zxid not in (None, LATEST) and cur >= target_zxid:
            break
        if target_time is not None and _ms(c, "last") is not None and _ms(c, "last") >= target_time:
            break
    if target_zxid not in (None, LATEST) and cur < target_zxid:
        nxt = [c for c in chunks if _z(c["zxid"]["last"]) > cur]
        if nxt and _z(nxt[0]["zxid"].get("first")) > cur:
            raise PlanError("the shipped logs have a gap after %s (the next chunk, %s, starts at %s): "
                            "%s cannot be reached; the latest reachable point is %s"
                            % (hexzxid(cur), nxt[0]["id"], nxt[0]["zxid"].get("first"),
                               hexzxid(target_zxid), hexzxid(cur)))
        raise PlanError("the target %s is after the last shipped transaction %s"
                        % (hexzxid(target_zxid), hexzxid(cur)))
    if target_zxid == LATEST:
        return out, cur
    if target_time is not None:
        return out, None
    return out, target_zxid


def plan(backups, backup_id=None, target_zxid=None, target_time=None, forks=()):
    """The restore plan: a JSON-friendly dict (see the module zk_restore_plan)."""
    if target_zxid is not None and target_time is not None:
        raise PlanError("give a target zxid or a target time, not both")
    warnings = []
    applying = _applying(forks, target_zxid, target_time)
    full = choose_full(backups, backup_id, target_zxid, target_time, applying)
    try:
        logs, until = chain(backups, full, target_zxid, target_time, applying)
    except ForkStop as stop:
        f = stop.fork
        if target_zxid != LATEST:
            raise PlanError("the target lies after restore %s (finished %s), which took the ensemble back to "
                            "%s, and no full backup taken after that restore leads to it: the backups reach "
                            "%s at most" % (f["restore_id"], f["finished"], hexzxid(f["zxid"]),
                                            hexzxid(f["zxid"])))
        # No full backup since the fork: the latest state of this history that the backups
        # hold is the one that restore put in place.
        later = [c["id"] for c in backups if c.get("kind") == "logs" and _usable(c)
                 and (_zx(c, "first") or 0) >= (f["epoch"] << 32)]
        warnings.append("restore %s (finished %s) took the ensemble back to %s and no full backup was "
                        "taken after it: the latest state restorable is that one%s; take a full backup "
                        "after every restore of the ensemble"
                        % (f["restore_id"], f["finished"], hexzxid(f["zxid"]),
                           "" if not later else ", and the %d log chunks shipped since (%s) cannot be "
                           "applied" % (len(later), ", ".join(later))))
        result = plan(backups, backup_id, f["zxid"], None, forks)
        result["warnings"] = warnings + result["warnings"]
        return result
    full_last = _z(full["zxid"].get("last"))
    cut = until if target_zxid is not None else None
    if target_zxid == LATEST and not logs:
        # Nothing shipped continues the full backup: the latest state is the backup as it is.
        cut = None
    digest = full.get("digest") or None
    promised = None
    if digest and not logs and target_time is None and (cut is None or cut >= full_last) \
            and _z(digest.get("zxid")) == full_last:
        promised = dict(digest)
    return {
        "full": _brief(full),
        "logs": [_brief(c) for c in logs],
        "backup_ids": [full["id"]] + [c["id"] for c in logs],
        # Truncate there (None: the full backup as it is, or a target time).
        "target_zxid": hexzxid(cut),
        "target_time": target_time,
        "last_zxid": hexzxid(full_last) if cut is None and target_time is None else None,
        "point_in_time": cut is not None or target_time is not None,
        "expected": promised,
        "forks": [dict(f, zxid=hexzxid(f["zxid"])) for f in applying],
        "highest_epoch": highest_epoch(backups, forks),
        "restored_to": restored_to(full, logs, cut, target_time),
        "left_out": left_out(backups, full, logs, cut, target_time, forks),
        "warnings": warnings,
        "not_authenticated": not_authenticated(backups),
    }


def not_authenticated(backups):
    """The full backups and log chunks refused for their authenticity (never chosen),
    oldest first: ``id``, ``kind``, ``reason``."""
    return [{"id": b["id"], "kind": b.get("kind"), "reason": b["rejected"]}
            for b in sorted(backups, key=_key) if b.get("rejected") and b.get("kind") in ("full", "logs")]


def restored_to(full, logs, cut, target_time):
    """Where the plan takes the ensemble: ``zxid`` (hex; null for a target time, known
    once the files are read), ``time_ms`` of its last transaction, ``exact`` (false when
    ``time_ms`` is only a bound: a cut inside a backup, a target time)."""
    last = logs[-1] if logs else full
    last_zxid, last_ms = _zx(last, "last"), _ms(last, "last")
    if target_time is not None:
        bound = target_time if last_ms is None else min(target_time, last_ms)
        return {"zxid": None, "time_ms": bound, "exact": False}
    if cut is None or cut == last_zxid:
        return {"zxid": hexzxid(last_zxid), "time_ms": last_ms, "exact": True}
    return {"zxid": hexzxid(cut), "time_ms": last_ms, "exact": False}


def left_out(backups, full, logs, cut, target_time, forks=()):
    """What the backups hold of the ensemble's current history that the plan does not
    restore: the full backups and shipped chunks ending after the point restored to
    (``full_backups``, ``logs``: ids, oldest first), ``last_zxid`` and ``last_time_ms`` of the
    newest transaction they hold, and ``latest`` (``zxid``, ``time_ms``), the newest state
    restorable (from the newest full backup and the chunks that continue it), or null.

    Backups of a history that a restore undid (forks) are not counted: nobody serves it."""
    last = logs[-1] if logs else full
    point = cut if cut is not None else _zx(last, "last")

    def after(b):
        if target_time is not None:
            ms = _ms(b, "last")
            return ms is not None and ms > target_time
        z = _zx(b, "last")
        return z is not None and point is not None and z > point

    current = [b for b in backups if b.get("kind") in ("full", "logs") and _usable(b)
               and not (forks and _zx(b, "last") is not None
                        and _abandoned(forks, _zx(b, "first") if _zx(b, "snapshot") is None
                                       else _zx(b, "snapshot"), _zx(b, "last")))]
    fulls = sorted((b for b in current if b.get("kind") == "full" and after(b)), key=_key)
    chunks = sorted((b for b in current if b.get("kind") == "logs" and after(b)),
                    key=lambda b: (_zx(b, "first") or 0, _zx(b, "last")))
    held = fulls + chunks
    zxids = [_zx(b, "last") for b in held if _zx(b, "last") is not None]
    times = [_ms(b, "last") for b in held if _ms(b, "last") is not None]
    latest = None
    try:
        newest = plan_latest(backups, forks)
        latest = {"zxid": newest["restored_to"]["zxid"], "time_ms": newest["restored_to"]["time_ms"]}
    except PlanError:
        pass
    return {"full_backups": [b["id"] for b in fulls], "logs": [b["id"] for b in chunks],
            "last_zxid": hexzxid(max(zxids)) if zxids else None,
            "last_time_ms": max(times) if times else None,
            "latest": latest}


def plan_latest(backups, forks=()):
    """The plan of the newest state restorable, without its own left_out (no recursion)."""
    applying = _applying(forks, LATEST, None)
    full = choose_full(backups, None, LATEST, None, applying)
    try:
        logs, until = chain(backups, full, LATEST, None, applying)
    except ForkStop as stop:
        # No full backup since that restore: the newest state is the one it put in place.
        return {"restored_to": {"zxid": hexzxid(stop.fork["zxid"]), "time_ms": None, "exact": False}}
    return {"restored_to": restored_to(full, logs, until if logs else None, None)}


def highest_epoch(backups, forks=()):
    """The highest epoch of any zxid the stored backups and the forks know: a restored
    ensemble begins after it, so that its zxids are new to the backup hosts.  Give it the
    backups of every backup host (their union) and the forks of all their reports."""
    out = 0
    for b in backups:
        for key in ("snapshot", "first", "last"):
            z = _zx(b, key)
            if z is not None:
                out = max(out, epoch_of(z))
    for f in forks:
        out = max(out, f["epoch"])
    return out


def _brief(b):
    return {"id": b["id"], "kind": b.get("kind"), "path": b.get("path"), "created": b.get("created"),
            "zxid": b.get("zxid"), "time_range": b.get("time_range"), "archive": b.get("archive"),
            "member": b.get("member"), "verified": b.get("verified"), "digest": b.get("digest"),
            "authenticated": b.get("authenticated")}
