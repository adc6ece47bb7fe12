# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backups stored on a backup host: listing, verification, retention, deletion.

Layout under the root: ``<ensemble>/<backup id>/`` holding the archive, a copy of its
``manifest.json`` (with an ``archive`` section: file name, size, SHA-256, compression,
encryption) and ``SHA256SUMS``.  Ensemble names and backup ids are checked (store/names.py)
before any path is built from them.  A directory is a complete backup only when its name
is a plain name and it holds both files; one named like the collection's backup ids
(``<YYYYmmddTHHMMSSZ>-<kind>-<hex>``) without them, and the hidden
``.<backup id>.partial-<hex>`` and ``.<backup id>.deleting-<hex>`` directories, are debris of
interrupted pushes or deletions.  Any other directory is not the collection's: it is
reported as unknown and never deleted.  A backup
may also hold the report of the run that took it (``report.json``, not covered by its
checksums), and ``<ensemble>/restores/`` the reports of restores (store/reports.py).

Retention (``plan_retention``) keeps the newest ``keep_last`` full backups and every full
backup younger than ``keep_days`` plus the newest one before that window (the base a
restore to the start of the window needs), never fewer than one, and every shipped log chunk
that a kept full backup may need for a point-in-time restore: a chunk goes only when all
its transactions are already inside the oldest kept full backup.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import json
import os
import posixpath
import shlex
import stat
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError, ssh_argument_spec

MANIFEST = "manifest.json"
DELETING_MARK = ".deleting-"
REPORT = "report.json"
RESTORES_DIR = "restores"
DEFAULT_ROOT = "/srv/backups"


def store_argument_spec(ensemble=False):
    """The options of a module that reaches the backups on the backup hosts, each documented
    once: the SSH options (doc fragment ``zkops.zookeeper.ssh``) and ``backup_root``
    (``zkops.zookeeper.backup_store``); with ``ensemble`` also the required ``backup_hosts``
    and ``ensemble`` (``zkops.zookeeper.backup_store.ensemble``).  A fresh dict; modules
    .update() it with their own."""
    spec = ssh_argument_spec()
    spec.update(backup_root=dict(type="str", default=DEFAULT_ROOT))
    if ensemble:
        spec.update(backup_hosts=dict(type="list", elements="str", required=True),
                    ensemble=dict(type="str", required=True))
    return spec


def _listdir(session, path):
    try:
        return session.sftp.listdir_attr(path)
    except IOError:
        return None


def ensembles(session, root):
    """Names of the ensembles with a directory under ``root`` (directories whose names are
    not plain ensemble names are left out)."""
    entries = _listdir(session, root)
    if entries is None:
        raise SshError(session.label, "%s does not exist or cannot be listed" % root)
    return sorted(e.filename for e in entries if stat.S_ISDIR(e.st_mode or 0) and names.is_ensemble(e.filename))


def _entry(ensemble, name, path, manifest):
    arch = manifest.get("archive") or {}
    return {
        "id": name, "ensemble": ensemble, "path": path, "complete": True,
        "kind": manifest.get("kind"), "mode": manifest.get("mode"),
        "created": manifest.get("created"),
        "member": manifest.get("member"),
        "zxid": manifest.get("zxid") or {},
        "time_range": manifest.get("time_range"),
        "archive": {k: arch.get(k) for k in ("file", "bytes", "sha256", "compression", "encryption")},
        "raw_bytes": (manifest.get("totals") or {}).get("bytes"),
        "files": len(manifest.get("files") or []),
        "digest": manifest.get("digest"),
        "verified": None,
        "report": None,
    }


def judge_entry(entry, manifest, keys, allow_unauthenticated=False):
    """Set ``authenticated`` (null without keys), ``authentication`` (why) and, for a backup
    the policy refuses (authenticity.decide()), ``rejected`` (the reason) on a catalog
    entry.  Under a key, a manifest must also name the directory it is stored in (its
    ``backup_id`` and ``ensemble``): an authentic manifest moved under another id is
    refused."""
    entry["authenticated"] = None
    if keys is None or not keys.any:
        return entry
    accepted, authenticated, reason = authenticity.decide(manifest, keys, allow_unauthenticated)
    if authenticated and keys.required:
        if manifest.get("backup_id") != entry["id"]:
            authenticated, accepted = False, False
            reason = ("it is stored as %s but its manifest is that of backup %s: a backup moved under another "
                      "id" % (entry["id"], manifest.get("backup_id")))
        elif manifest.get("ensemble") != entry["ensemble"]:
            authenticated, accepted = False, False
            reason = ("it is stored under ensemble %s but its manifest is of ensemble %s"
                      % (entry["ensemble"], manifest.get("ensemble")))
    entry["authenticated"] = authenticated
    entry["authentication"] = reason
    if not accepted:
        entry["rejected"] = reason
    return entry


def _inconsistent(name, manifest):
    """Why a manifest cannot be that of the backup directory ``name`` (None when it can)."""
    bid = manifest.get("backup_id")
    if bid is not None and bid != name:
        return ("its manifest.json names backup %r: the manifest is that of backup %s, stored as %s (moved "
                "under another id)" % (bid, bid, name))
    arch = manifest.get("archive")
    if arch is not None and not isinstance(arch, dict):
        return "its manifest.json has no readable archive section"
    afile = (arch or {}).get("file")
    if afile is not None and not (isinstance(afile, str) and names.FILE.match(afile)):
        return "its manifest.json names the archive file %r, which is not a plain file name" % (afile,)
    return None


def list_backups(session, root, ensemble, kinds=None, keys=None, allow_unauthenticated=False, unknown=None):
    """(complete backups sorted by creation time, debris) of one ensemble.

    ``kinds`` (e.g. ('full',)) skips, by their id, backups of other kinds without
    reading their manifests.  With ``keys`` (authenticity.Keys) every backup is judged
    (judge_entry()).  Directories that are neither backups nor debris the collection
    recognises by name are appended to the list ``unknown`` when given.
    Raises names.NameRefused when ``ensemble`` is not a plain ensemble name."""
    names.ensemble(ensemble)
    edir = posixpath.join(root, ensemble)
    entries = _listdir(session, edir) or []
    backups, debris = [], []
    for e in entries:
        if not stat.S_ISDIR(e.st_mode or 0):
            continue
        path = posixpath.join(edir, e.filename)
        if e.filename == RESTORES_DIR:
            continue
        junk = names.debris_kind(e.filename)
        if junk is not None:
            debris.append({"ensemble": ensemble, "path": path, "mtime": e.st_mtime, "kind": junk})
            continue
        if not names.is_backup_id(e.filename):
            if unknown is not None:
                unknown.append({"ensemble": ensemble, "path": path, "mtime": e.st_mtime,
                                "reason": "not a backup's name nor debris of this collection: left alone"})
            continue
        if kinds and not any("-%s-" % k in e.filename for k in kinds):
            continue
        present = set(session.sftp.listdir(path))
        if ssh_push.CHECKSUMS not in present or MANIFEST not in present:
            if names.has_id_format(e.filename):
                debris.append({"ensemble": ensemble, "path": path, "mtime": e.st_mtime, "kind": "incomplete"})
            elif unknown is not None:
                unknown.append({"ensemble": ensemble, "path": path, "mtime": e.st_mtime,
                                "reason": "neither a backup (no %s and %s) nor named like one: left alone"
                                % (ssh_push.CHECKSUMS, MANIFEST)})
            continue
        try:
            with session.sftp.open(posixpath.join(path, MANIFEST), "rb") as f:
                manifest = json.loads(f.read().decode("utf-8"))
        except (IOError, ValueError) as exc:
            b = {"id": e.filename, "ensemble": ensemble, "path": path, "complete": True, "kind": None,
                 "created": None, "zxid": {}, "verified": False, "problems": ["manifest.json is unreadable: %s" % exc],
                 "authenticated": None if keys is None or not keys.any else False}
            backups.append(b)
            continue
        why = _inconsistent(e.filename, manifest) if isinstance(manifest, dict) else "its manifest.json is not an object"
        if why is not None:
            b = {"id": e.filename, "ensemble": ensemble, "path": path, "complete": True, "kind": None,
                 "created": None, "zxid": {}, "verified": False, "problems": [why], "authenticated": None}
            if keys is not None and keys.any:
                # Named in the plan's not_authenticated list, by the kind its manifest claims.
                claimed = manifest.get("kind") if isinstance(manifest, dict) else None
                b.update(authenticated=False, authentication=why, rejected=why,
                         kind=claimed if claimed in ("full", "logs") else None)
            backups.append(b)
            continue
        entry = judge_entry(_entry(ensemble, e.filename, path, manifest), manifest, keys, allow_unauthenticated)
        if REPORT in present:
            entry["report"] = posixpath.join(path, REPORT)
        backups.append(entry)
    backups.sort(key=lambda b: (b.get("created") or "", b["id"]))
    return backups, debris


# sha256sum says nothing while it reads one file: the wait for its next line allows the
# largest file of the backup read at this rate (a slow disk) when that is longer than the
# session's.  The size is the one the host's file system gives for the files that are there,
# never the manifest's: the manifest is read before anything is authenticated, and a forged
# one could otherwise stretch the wait to days.  SUMS_TIMEOUT_MAX bounds the wait whatever
# is on the host (about 420 GiB at that rate).
SUMS_BYTES_PER_SECOND = 20 * 1024 * 1024
SUMS_TIMEOUT_MAX = 6 * 3600.0


def largest_file(session, path):
    """The size in bytes of the largest regular file directly in ``path`` on the host, as its
    file system reports it (symbolic links and directories are not counted); None when the
    directory cannot be listed."""
    try:
        entries = session.sftp.listdir_attr(path)
    except (IOError, OSError):
        return None
    sizes = [e.st_size for e in entries
             if stat.S_ISREG(e.st_mode or 0) and isinstance(e.st_size, int) and e.st_size > 0]
    return max(sizes, default=0)


def sums_timeout(session_timeout=None, largest=None):
    """Seconds to wait for a line of the sums check of a backup whose largest file on the host
    has ``largest`` bytes (largest_file()): that size at SUMS_BYTES_PER_SECOND, never less
    than ``session_timeout`` (60 s when not given) nor more than SUMS_TIMEOUT_MAX.  An unknown
    size keeps ``session_timeout``."""
    base = float(session_timeout or 60.0)
    if not isinstance(largest, int) or isinstance(largest, bool) or largest <= 0:
        return base
    return max(base, min(SUMS_TIMEOUT_MAX, float(largest) / SUMS_BYTES_PER_SECOND))


def verify(session, backup):
    """Have the host check every file against SHA256SUMS; updates and returns ``backup``."""
    cmd = "cd %s && sha256sum --strict -c %s" % (shlex.quote(backup["path"]), ssh_push.CHECKSUMS)
    wait = sums_timeout(getattr(session, "timeout", None), largest_file(session, backup["path"]))
    rc, out, err = session.run(cmd, timeout=wait)
    problems = [line for line in (out + err).splitlines() if line and not line.endswith(": OK")]
    listed = [line.split(":")[0] for line in out.splitlines() if line.endswith(": OK")]
    arch = (backup.get("archive") or {}).get("file")
    if rc == 0 and arch and arch not in listed:
        problems.append("%s is not covered by %s" % (arch, ssh_push.CHECKSUMS))
    backup["verified"] = rc == 0 and not problems
    backup["problems"] = backup.get("problems", []) + problems
    return backup


def _ok(b):
    """Verifies (or was not checked).  Authenticity is not looked at: whoever can forge a
    backup on the backup host can delete the others as well, and a key given for the first
    time must not make every backup written before it look expendable."""
    return b.get("verified") is not False


def plan_retention(backups, keep_last=None, keep_days=None, now=None):
    """Split complete backups into (keep, delete) lists of (backup, reason).

    ``backups`` are catalog entries of one ensemble.  A full backup whose verification
    failed (``verified`` False) neither counts toward ``keep_last`` nor serves as a base
    for point-in-time restores; it is deleted only when it is older than the oldest
    full backup kept.
    """
    now = time.time() if now is None else now
    fulls = sorted((b for b in backups if b.get("kind") == "full"),
                   key=lambda b: (b.get("created") or "", b["id"]), reverse=True)
    keep, delete, bases, undecided = [], [], [], []
    for b in fulls:
        # Refused for its authenticity (judge_entry()): counts as failing verification.
        ok = _ok(b)
        age_days = (now - (times.parse_iso_seconds(b.get("created")) or now)) / 86400.0
        reason = None
        if ok and keep_last and len(bases) < keep_last:
            reason = "one of the newest %d full backups" % keep_last
        elif keep_days is not None and age_days <= keep_days:
            reason = "younger than %s days" % keep_days
        elif ok and not bases:
            reason = "the newest full backup that verifies"
        if reason:
            keep.append((b, reason))
            if ok:
                bases.append(b)
        else:
            undecided.append(b)
    start = now - keep_days * 86400.0 if keep_days is not None else None
    if start is not None and not any((times.parse_iso_seconds(b.get("created")) or now) <= start for b in bases):
        # A restore to the start of the window needs the newest full backup before it.
        base = next((b for b in undecided if _ok(b)), None)
        if base is not None:
            keep.append((base, "the base for point-in-time restores back to %s days" % keep_days))
            bases.append(base)
            undecided = [b for b in undecided if b is not base]
    oldest_base = min((b.get("created") or "" for b in bases), default=None)
    for b in undecided:
        if not _ok(b) and oldest_base is not None and (b.get("created") or "") > oldest_base:
            keep.append((b, "fails verification; newer than the oldest kept full backup, so left for inspection"))
        else:
            delete.append((b, "older than the full backups kept"))
    lasts = [zxid_mod.from_record((b.get("zxid") or {}).get("last")) for b in bases]
    oldest = min((z for z in lasts if z is not None), default=None)
    for c in backups:
        if c.get("kind") == "full":
            continue
        if c.get("kind") != "logs":
            keep.append((c, "unknown kind: never deleted automatically"))
            continue
        last = zxid_mod.from_record((c.get("zxid") or {}).get("last"))
        if oldest is None or last is None or last > oldest:
            keep.append((c, "holds transactions after the oldest kept full backup (point-in-time restore)"))
        else:
            delete.append((c, "all its transactions are inside the oldest kept full backup"))
    return keep, delete


def plan_debris(debris, max_age_hours, now=None):
    """The debris entries older than ``max_age_hours`` (only the kinds list_backups() recognises)."""
    now = time.time() if now is None else now
    return [d for d in debris if d.get("kind") in ("partial", "deleting", "incomplete")
            and d.get("mtime") is not None and now - d["mtime"] > max_age_hours * 3600.0]


def delete(session, path):
    """Delete a backup directory (its name a backup id) or debris (names.debris_kind()): first
    hide it (atomic rename), then remove it.  Anything else is refused."""
    parent, name = posixpath.split(path)
    if not (names.is_backup_id(name) or names.debris_kind(name)) or not names.is_ensemble(posixpath.basename(parent)):
        raise SshError(session.label, "refusing to delete %s: only backups and the debris this collection leaves "
                                      "are deleted" % path)
    if not name.startswith("."):
        hidden = posixpath.join(parent, ".%s%s%s" % (name, DELETING_MARK,
                                                     binascii.hexlify(os.urandom(4)).decode("ascii")))
        try:
            session.sftp.rename(path, hidden)
        except IOError as exc:
            raise SshError(session.label, "cannot delete %s: %s" % (path, exc))
        path = hidden
    why = ssh_push.remove_tree(session, path, timeout=session.timeout)
    if why is not None:
        raise SshError(session.label, "%s was hidden but not removed (%s); the next prune retries" % (path, why))


def restore_reports(session, root, ensemble):
    """The reports of restores of one ensemble, oldest first: (path, size, mtime)."""
    rdir = posixpath.join(root, names.ensemble(ensemble), RESTORES_DIR)
    entries = _listdir(session, rdir) or []
    out = [(posixpath.join(rdir, e.filename), e.st_size, e.st_mtime) for e in entries
           if stat.S_ISREG(e.st_mode or 0) and e.filename.endswith(".json") and not e.filename.startswith(".")]
    return sorted(out, key=lambda r: (r[2] or 0, r[0]))
