# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a backup may be restored onto the ZooKeeper release the members run.

A backup records the release of the server it was taken from (the manifest's
``zookeeper_version``, from ``srvr``; null for a cold backup).  The members' releases come
from their own ``srvr`` answers before the restore.  Restoring onto the same or a newer
release is ZooKeeper's upgrade path: a newer server loads an older one's snapshots and
logs.  Restoring onto an older release is a downgrade, which ZooKeeper does not support:
it is refused before ZooKeeper or its data is touched, unless the operator allows it explicitly.
A member that does not answer ``srvr`` (stopped, or running without a quorum) is judged by the
release of its installed server jar (zk_info's ``installed``: the jar its running process
or its next start uses, ensemble/install.py), and the message says where that came from.
A release that is not known (a cold backup, a member whose release neither ``srvr`` nor its
jar tells) never blocks a restore; the decision says what could not be compared.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import release

SAME = "same release"
UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
UNKNOWN = "unknown"

ALLOW_OPTION = "zookeeper_restore_allow_older_release"


# The one reader of release numbers is common/release.py.
release_tuple = release.release_tuple


def newest(releases):
    """The newest of ``releases`` (a release, or a list of them: the full backup's and the
    shipped logs'); None when none is a release number."""
    if releases is None or isinstance(releases, str):
        releases = [releases]
    known = [r for r in releases if release_tuple(r) is not None]
    return max(known, key=release_tuple) if known else None


def _name(member):
    return str(member.get("host") or member.get("id") or "?")


def _release_of(member):
    """(release or None, how it is known: None for srvr, else the installed jar's words;
    why it is not known, or None).  The restore starts every member again, which then runs
    its installed jar: that release counts when it differs from the one srvr gave (a jar
    replaced in place, not yet restarted)."""
    running = member.get("version") or None
    installed = member.get("installed") or {}
    have = installed.get("release")
    if running and (not have or release_tuple(have) == release_tuple(running)):
        return running, None, None
    if have:
        words = "has %s installed (%s, on the class path of %s%s)" % (
            have, installed.get("jar"), installed.get("from"),
            "; also there: %s" % ", ".join(installed["conflict"]) if installed.get("conflict") else "")
        if running:
            words = "runs %s but %s, which the restore starts" % (running, words)
        return have, words, None
    return None, None, installed.get("reason")


def _said(host, release, how):
    return "%s %s" % (host, how) if how else "%s runs %s" % (host, release)


def _hosts(names):
    return ", ".join(names)


def decide(backup_release, members, allow_older=False):
    """The release path of a restore of a backup taken on ``backup_release`` (a release, or
    the list of those of the backups restored: the newest counts) onto ``members`` (dicts
    with ``host``, ``version``, the release each member's ``srvr`` gave, or None, and
    ``installed``, zk_info's installed release, which counts without ``version`` and when it
    differs from it: _release_of).

    Returns ``backup``, ``members`` ({host: release or None}), ``path`` (SAME, UPGRADE,
    DOWNGRADE or UNKNOWN), ``older`` and ``unknown`` (hosts), ``allowed`` and ``message``.
    """
    backup_release = newest(backup_release)
    known = dict((_name(m), _release_of(m)) for m in members)
    releases = dict((host, k[0]) for host, k in known.items())
    said = dict((host, _said(host, k[0], k[1])) for host, k in known.items())
    backup = release_tuple(backup_release)
    parsed = dict((host, release_tuple(v)) for host, v in releases.items())
    unknown = sorted(host for host, t in parsed.items() if t is None)
    out = {"backup": backup_release or None, "members": releases, "older": [], "unknown": unknown,
           "allowed": True, "path": UNKNOWN}
    if backup is None:
        out["message"] = ("the backup does not record the release it was taken on (a cold backup, or "
                          "taken while the server did not answer srvr): the members' releases (%s) "
                          "were not compared with it"
                          % (", ".join("%s %s" % (h, v or "unknown") for h, v in sorted(releases.items())) or "none"))
        return out
    older = sorted(host for host, t in parsed.items() if t is not None and t < backup)
    newer = sorted(host for host, t in parsed.items() if t is not None and t > backup)
    out["older"] = older
    why = sorted(set(known[h][2] for h in unknown if known[h][2]))
    note = (" The release of %s is not known (no srvr answer%s): make sure it is %s or later."
            % (_hosts(unknown), "; " + "; ".join(why) if why else "", backup_release) if unknown else "")
    if older:
        out["path"] = DOWNGRADE
        runs = ", ".join(said[h] for h in older)
        if allow_older:
            out["message"] = ("a downgrade, allowed by %s: the backup was taken on ZooKeeper %s and %s. "
                              "ZooKeeper does not support downgrades: the checks of the restored tree "
                              "tell whether the older release serves it as it was.%s"
                              % (ALLOW_OPTION, backup_release, runs, note))
            return out
        oldest = min((releases[h] for h in parsed if parsed[h] is not None), key=release_tuple)
        out["allowed"] = False
        out["message"] = (
            "Nothing was done: the backup was taken on ZooKeeper %s and %s, an older release. "
            "ZooKeeper does not support downgrades. Upgrade %s to %s or later and restore again, "
            "or restore a backup taken on %s or earlier (zookeeper_restore_backup_id); to restore "
            "this backup onto the older release anyway, set %s=true.%s"
            % (backup_release, runs, _hosts(older), backup_release, oldest, ALLOW_OPTION, note))
        return out
    if not parsed or len(unknown) == len(parsed):
        out["message"] = "the backup was taken on ZooKeeper %s; no member's release is known.%s" % (
            backup_release, note)
        return out
    if newer:
        out["path"] = UPGRADE
        out["message"] = "an upgrade: the backup was taken on ZooKeeper %s, and %s.%s" % (
            backup_release, ", ".join(said[h] for h in newer), note)
    else:
        out["path"] = SAME
        out["message"] = "the backup was taken on ZooKeeper %s, the release the members run.%s" % (
            backup_release, note)
    return out
