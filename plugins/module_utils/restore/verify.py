# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification of a restored ensemble, in layers, and the rollback decision.

A restore of the whole ensemble is checked in three layers, each judged on its own:

``files``    before any member is touched: the backup host verified the archives, every
             member staged the same files, and they load as ZooKeeper loads them.
``serving``  after the start, what any client sees without reading a znode: every member
             serves, one leader, the zxids agree in an epoch newer than any the backups
             know, ``srvr``'s node count is the one the replay of the restored files gives,
             and ZooKeeper's own digest checks (``mntr``, 3.6+) found no mismatch.
``tree``     the digest of the live tree, read through the identities given: compared with
             the backup's when they may read every znode; otherwise the readable part's,
             with the unreadable subtrees named (it cannot be compared).

Each check and each layer ends as one of STATUSES.  Only ``wrong`` (a count, a zxid or a
digest that differs, or no single leader) fails a restore; ``not verified`` is a warning
that says why.

``rollback_decision`` tells whether putting the members back on their pre-restore data
would leave the ensemble better off than the restored data does.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

VERIFIED = "verified"
PARTIAL = "partial"
NOT_VERIFIED = "not verified"
NOT_CHECKED = "not checked"
WRONG = "wrong"
STATUSES = (VERIFIED, PARTIAL, NOT_VERIFIED, NOT_CHECKED, WRONG)

# srvr's "Node count" is the size of the server's node table, which holds the root twice (as
# "" and as "/"): one more than the znodes a replay of the files gives.
SERVER_EXTRA_NODES = 1
# srvr's count for a tree no client wrote to: the root (twice), "/zookeeper",
# "/zookeeper/quota" and, from ZooKeeper 3.5 on, "/zookeeper/config".
EMPTY_TREE_NODES = 5
SERVING_MODES = ("leader", "follower", "observer", "standalone")
UNREADABLE_NAMED = 10


def _check(name, status, detail):
    return {"name": name, "status": status, "detail": detail}


def layer(checks, summary=None):
    """A layer from its checks: wrong if any is wrong, verified if all are, else the
    weakest status among them."""
    statuses = [c["status"] for c in checks]
    if WRONG in statuses:
        status = WRONG
    elif not statuses or all(s == NOT_CHECKED for s in statuses):
        status = NOT_CHECKED
    elif all(s == VERIFIED for s in statuses):
        status = VERIFIED
    elif PARTIAL in statuses and NOT_VERIFIED not in statuses:
        status = PARTIAL
    else:
        status = NOT_VERIFIED
    if summary is None:
        summary = "; ".join("%s: %s (%s)" % (c["name"], c["status"], c["detail"]) for c in checks
                            if c["status"] != VERIFIED) or "; ".join(c["detail"] for c in checks)
    return {"status": status, "summary": summary, "checks": checks,
            "warnings": ["%s: %s" % (c["name"], c["detail"]) for c in checks
                         if c["status"] in (NOT_VERIFIED, PARTIAL)]}


def _zxid(value):
    if value is None or value == "":
        return None
    return zxid_mod.parse(value)


def _name(m):
    return str(m.get("host") or m.get("address") or m.get("id"))


def files_layer(plan_host, staged_sets, last_zxid, expected):
    """What was verified before any member was touched (the staging failed otherwise)."""
    sets = sorted(set(s for s in staged_sets if s))
    checks = [
        _check("archives", VERIFIED, "checksums verified on the backup host %s" % plan_host
               if plan_host else "staged from the ensemble"),
        _check("same files on every member", VERIFIED if len(sets) == 1 else WRONG,
               "set digest %s" % ", ".join(sets) if sets else "no staged set"),
        _check("loadable", VERIFIED,
               "the files load as ZooKeeper loads them, to zxid %s" % (last_zxid or "?")),
    ]
    if expected and expected.get("digest"):
        checks.append(_check("expected tree", VERIFIED, "%s znodes, digest %s (%s)" % (
            expected.get("znode_count"), expected.get("digest"),
            expected.get("source") or "recorded in the backup")))
    else:
        checks.append(_check("expected tree", NOT_VERIFIED,
                             "the backup records no tree digest and the files were not replayed "
                             "(zookeeper_restore_verify_digest is false)"))
    return layer(checks)


def serving_layer(members, started, expected=None, epoch_floor=None, last_zxid=None):
    """Judge what the members tell over four-letter words (zk_info's ``members``).

    ``started`` is the number of members that were started, ``expected`` the tree the
    replay of the restored files gives (``znodes``: every znode, ZooKeeper's own and
    ephemeral ones included; ``ephemeral_znodes``), ``epoch_floor`` the highest epoch the
    backups know and ``last_zxid`` the last zxid of the restored data.
    """
    serving = [m for m in members if m.get("serving") or m.get("mode") in SERVING_MODES]
    checks = []
    down = ["%s=%s" % (_name(m), m.get("mode")) for m in members if m not in serving]
    checks.append(_check("every member serves", VERIFIED if len(serving) >= started and not down else WRONG,
                         "%d of %d serve%s" % (len(serving), started,
                                               (": " + ", ".join(down)) if down else "")))
    leaders = [m for m in serving if m.get("mode") in ("leader", "standalone")]
    checks.append(_check("one leader", VERIFIED if len(leaders) == 1 else WRONG,
                         "leader %s" % _name(leaders[0]) if len(leaders) == 1 else
                         "%d leaders (%s)" % (len(leaders), ", ".join(_name(m) for m in leaders))))
    checks.append(_zxid_check(serving, leaders, epoch_floor, last_zxid))
    checks.append(_count_check(serving, expected, _written_since(serving, last_zxid)))
    checks.append(_zk_digest_check(serving))
    return layer(checks)


def _zxid_check(serving, leaders, epoch_floor, last_zxid):
    zxids = dict((_name(m), _zxid(m.get("zxid"))) for m in serving)
    if not zxids or any(z is None for z in zxids.values()):
        return _check("zxid", NOT_VERIFIED, "a member told no zxid")
    top = max(zxids.values())
    last = _zxid(last_zxid)
    behind = sorted(n for n, z in zxids.items() if last is not None and z < last)
    if behind:
        return _check("zxid", WRONG, "%s serve(s) below %s, the last zxid of the restored data"
                      % (", ".join(behind), zxid_mod.to_hex(last)))
    if epoch_floor is not None and zxid_mod.epoch(top) <= int(epoch_floor):
        return _check("zxid", WRONG, "the ensemble serves at %s, in epoch %d: not past epoch %d, "
                      "the highest the backups know" % (zxid_mod.to_hex(top), zxid_mod.epoch(top), int(epoch_floor)))
    # A leader that has committed nothing in its new epoch reports (epoch, 0), its followers
    # the last zxid of the data: they agree.
    moved = sorted(set(z for z in zxids.values() if zxid_mod.counter(z)))
    if len(moved) > 1:
        return _check("zxid", NOT_VERIFIED, "the members moved on while they were asked (%s): clients "
                      "write" % ", ".join("%s=%s" % (n, zxid_mod.to_hex(z)) for n, z in sorted(zxids.items())))
    return _check("zxid", VERIFIED, "every member at %s, epoch %d%s" % (
        zxid_mod.to_hex(top), zxid_mod.epoch(top), "" if epoch_floor is None else " (past %d, the backups' highest)" % int(epoch_floor)))


def _written_since(serving, last_zxid):
    """Whether the ensemble committed transactions since it started on the restored data
    (sessions of clients, our own checks included, are transactions too)."""
    zxids = [_zxid(m.get("zxid")) for m in serving if m.get("zxid")]
    if not zxids:
        return False
    top, last = max(zxids), _zxid(last_zxid)
    return bool(zxid_mod.counter(top)) and (last is None or zxid_mod.epoch(top) > zxid_mod.epoch(last))


def _count_check(serving, expected, moved):
    total = (expected or {}).get("znodes")
    eph = (expected or {}).get("ephemeral_znodes")
    if total is None or eph is None:
        return _check("node count", NOT_VERIFIED, "the backup records no total znode count (it was "
                      "made by an older version, or the files were not replayed)")
    counts = dict((_name(m), m.get("znode_count")) for m in serving)
    if not counts or any(c is None for c in counts.values()):
        return _check("node count", NOT_VERIFIED, "a member told no node count")
    ephs = dict((_name(m), m.get("ephemerals_count")) for m in serving)
    if all(e is not None for e in ephs.values()):
        # Ephemeral znodes come and go with sessions: compare the others.
        want = int(total) + SERVER_EXTRA_NODES - int(eph)
        off = sorted("%s=%d" % (n, c - ephs[n]) for n, c in counts.items() if c - ephs[n] != want)
        if off:
            return _check("node count", WRONG, "znodes other than ephemeral ones: %s, the restored files "
                          "hold %d; keep clients away until the restore is verified" % (", ".join(off), want))
        return _check("node count", VERIFIED, "%d znodes other than ephemeral ones on every member, as in "
                      "the restored files" % want)
    low, high = int(total) + SERVER_EXTRA_NODES - int(eph), int(total) + SERVER_EXTRA_NODES
    off = sorted("%s=%d" % (n, c) for n, c in counts.items() if not low <= c <= high)
    if off:
        status = NOT_VERIFIED if moved else WRONG
        return _check("node count", status, "%s znodes, the restored files hold %s%s" % (
            ", ".join(off), low if low == high else "%d to %d" % (low, high),
            " (clients wrote since the start; mntr would tell ephemeral znodes apart)" if moved else ""))
    return _check("node count", VERIFIED, "%s znodes on every member, as in the restored files"
                  % ", ".join(sorted(set(str(c) for c in counts.values()))))


def _zk_digest_check(serving):
    values = dict((_name(m), m.get("digest_mismatches")) for m in serving)
    unknown = sorted(n for n, v in values.items() if v is None)
    bad = sorted("%s=%d" % (n, v) for n, v in values.items() if v)
    if bad:
        return _check("ZooKeeper's digest", WRONG, "digest mismatches counted by the servers: %s; "
                      "their logs name the transactions" % ", ".join(bad))
    if unknown:
        return _check("ZooKeeper's digest", NOT_VERIFIED, "no digest mismatch count from %s (mntr not in "
                      "4lw.commands.whitelist, or ZooKeeper before 3.6)" % ", ".join(unknown))
    return _check("ZooKeeper's digest", VERIFIED, "no digest mismatch on any member (digest.enabled)")


def _unreadable_text(export):
    parts = []
    names = export.get("unreadable") or []
    if names:
        shown = names[:UNREADABLE_NAMED]
        parts.append("%d subtrees unreadable: %s%s" % (len(names), ", ".join(shown),
                                                       ", ..." if len(names) > len(shown) else ""))
    hidden = export.get("acl_hidden_count") or 0
    if hidden:
        parts.append("%d digest ACLs hidden (no ADMIN permission), e.g. %s"
                     % (hidden, ", ".join((export.get("acl_hidden") or [])[:3])))
    return "; ".join(parts)


def tree_layer(enabled, export, expected):
    """Judge the digest of the live tree (zk_tree_export's result, partial mode)."""
    if not enabled:
        return layer([_check("tree digest", NOT_CHECKED, "zookeeper_restore_verify_digest is false")])
    export = export or {}
    if export.get("skipped"):
        return layer([_check("tree digest", NOT_CHECKED, "not read")])
    if export.get("failed") or not export.get("digest"):
        return layer([_check("tree digest", NOT_VERIFIED, "the live tree could not be read: %s"
                             % (export.get("msg") or "no digest"))])
    if export.get("partial"):
        return layer([_check("tree digest", PARTIAL, "partial, %s; digest %s of the %d znodes readable, "
                             "which cannot be compared with the backup's: the node count stands for it"
                             % (_unreadable_text(export), export["digest"], export.get("count", 0)))])
    if not expected or not expected.get("digest"):
        return layer([_check("tree digest", NOT_VERIFIED, "the backup promises no digest (digest %s, %d "
                             "znodes read)" % (export["digest"], export.get("count", 0)))])
    if export["digest"] == expected["digest"]:
        return layer([_check("tree digest", VERIFIED, "%d znodes, digest %s, as the backup promises"
                             % (export.get("count", 0), export["digest"]))])
    hint = ""
    if export.get("modified_during_export"):
        hint = ("; %d znodes changed while it was read: keep clients away until the restore is verified"
                % export["modified_during_export"])
    return layer([_check("tree digest", WRONG, "the restored ensemble serves a tree with digest %s (%s "
                         "znodes), but the backup promises %s (%s znodes) at %s%s"
                         % (export["digest"], export.get("count"), expected["digest"],
                            expected.get("znode_count", "?"), expected.get("zxid", "?"), hint))])


def recorded_tree(export):
    """What the pre-restore digest records: the digest (of the readable part when partial),
    or None with the reason it could not be read."""
    export = export or {}
    if export.get("skipped"):
        return None, "the ensemble did not serve, or zookeeper_restore_verify_digest is false"
    if export.get("failed") or not export.get("digest"):
        return None, "the tree could not be read: %s" % (export.get("msg") or "no digest")
    rec = {"digest": export["digest"], "znode_count": export.get("count"),
           "zxid": export.get("zxid_end"), "partial": bool(export.get("partial")),
           "unreadable": export.get("unreadable") or [],
           "acl_hidden_count": export.get("acl_hidden_count") or 0}
    return rec, ("partial, %s" % _unreadable_text(export)) if rec["partial"] else None


def rollback_decision(before, quorum):
    """Whether to put the members back on their pre-restore data.

    ``before`` holds each member's state recorded before the restore (``host``, ``mode``,
    ``serving``, ``znode_count``), ``quorum`` whether the ensemble had one.  Data that did
    not serve (no quorum: wiped, unloadable, members down) or served an empty tree is not
    worth going back to: the restored data stays.
    """
    modes = ", ".join("%s=%s" % (_name(m), m.get("mode")) for m in before)
    if not quorum:
        return {"rollback": False,
                "reason": "before the restore the ensemble did not serve (no quorum: %s)" % modes}
    counts = [m.get("znode_count") for m in before if m.get("serving")]
    if counts and all(c is not None for c in counts) and max(counts) <= EMPTY_TREE_NODES:
        return {"rollback": False,
                "reason": "before the restore the ensemble served an empty tree (%d znodes, ZooKeeper's "
                          "own only: %s)" % (max(counts), modes)}
    return {"rollback": True, "reason": "before the restore the ensemble served (%s%s)" % (
        modes, ", %s znodes" % max(counts) if counts and all(c is not None for c in counts) else "")}
