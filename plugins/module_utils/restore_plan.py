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
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.jute import hexzxid
from ansible_collections.zkops.zookeeper.plugins.module_utils.txnlog import follows

LATEST = "latest"


class PlanError(Exception):
    pass


def _z(value):
    if value is None:
        return None
    return int(value, 16) if isinstance(value, str) else int(value)


def _ms(entry, key):
    return ((entry.get("time_range") or {}).get(key + "_ms"))


def _usable(b):
    return b.get("complete", True) and b.get("verified") is not False


def _key(b):
    return (b.get("created") or "", b["id"])


def choose_full(backups, backup_id=None, target_zxid=None, target_time=None):
    fulls = sorted((b for b in backups if b.get("kind") == "full"), key=_key)
    if backup_id:
        found = [b for b in fulls if b["id"] == backup_id]
        if not found:
            other = [b for b in backups if b["id"] == backup_id]
            if other:
                raise PlanError("backup %s is a %s backup, not a full one: name the full backup to restore "
                                "(shipped logs are added for a target zxid or time)"
                                % (backup_id, other[0].get("kind")))
            raise PlanError("there is no complete backup %s" % backup_id)
        if not _usable(found[0]):
            raise PlanError("backup %s fails verification (%s): choose another one"
                            % (backup_id, "; ".join(found[0].get("problems") or []) or "checksums differ"))
        return found[0]
    usable = [b for b in fulls if _usable(b)]
    if not usable:
        raise PlanError("there is no full backup that verifies%s" % (
            " (%d fail verification)" % len(fulls) if fulls else ""))
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


def chain(backups, full, target_zxid=None, target_time=None):
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
    out = []
    for c in chunks:
        first, last = _z(c["zxid"].get("first")), _z(c["zxid"]["last"])
        if last <= cur:
            continue
        if first > cur and not follows(cur, first):
            break
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


def plan(backups, backup_id=None, target_zxid=None, target_time=None):
    """The restore plan: a JSON-friendly dict (see the module zk_restore_plan)."""
    if target_zxid is not None and target_time is not None:
        raise PlanError("give a target zxid or a target time, not both")
    full = choose_full(backups, backup_id, target_zxid, target_time)
    logs, until = chain(backups, full, target_zxid, target_time)
    full_last = _z(full["zxid"].get("last"))
    cut = until if target_zxid is not None else None
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
    }


def _brief(b):
    return {"id": b["id"], "kind": b.get("kind"), "path": b.get("path"), "created": b.get("created"),
            "zxid": b.get("zxid"), "time_range": b.get("time_range"), "archive": b.get("archive"),
            "member": b.get("member"), "verified": b.get("verified"), "digest": b.get("digest")}
