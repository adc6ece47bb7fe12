# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports of backups and restores, stored on the backup hosts next to the backups.

Where (store/catalog.py knows the same names):

- a backup's report: ``<root>/<ensemble>/<backup id>/report.json``, written after the
  backup directory was renamed into place (verified); it is not in the backup's
  ``SHA256SUMS``, so it never changes what the backup's verification checks;
- a restore's report: ``<root>/<ensemble>/restores/<restore id>.json``.

A report is a JSON object: ``format`` (FORMAT), ``kind`` (backup or restore), ``written``
(UTC), ``collection_version`` and the caller's report under ``report``.  ``store()``
writes it under a hidden temporary name, has the host flush it and compute its SHA-256,
compares, and renames it into place, so a report is whole or absent.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import hashlib
import json
import os
import posixpath
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.version import COLLECTION_VERSION
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError

FORMAT = "zkops-report/1"
KINDS = ("backup", "restore")


class ReportError(Exception):
    pass


def _plain(name, what):
    try:
        archive_mod.check_name(name)
    except archive_mod.ArchiveError as exc:
        raise ReportError("%s: %s" % (what, exc))
    if "/" in name or name.startswith("."):
        raise ReportError("%s %r is not a plain name" % (what, name))
    return name


def path_of(root, ensemble, kind, run_id):
    """The report's path on the backup host."""
    if not names.is_ensemble(ensemble):
        raise ReportError("ensemble %r is not a plain name" % (ensemble,))
    _plain(run_id, "backup_id" if kind == "backup" else "restore_id")
    if kind == "backup":
        return posixpath.join(root, ensemble, run_id, catalog.REPORT)
    return posixpath.join(root, ensemble, catalog.RESTORES_DIR, run_id + ".json")


def document(kind, run_id, ensemble, report, now=None):
    """The stored JSON object."""
    if kind not in KINDS:
        raise ReportError("kind must be one of %s" % ", ".join(KINDS))
    return {"format": FORMAT, "kind": kind, "id": run_id, "ensemble": ensemble,
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "collection_version": COLLECTION_VERSION, "report": report}


def encode(doc):
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def store(session, root, path, data):
    """Write ``data`` at ``path`` on the host of ``session``, whole or not at all; returns
    its SHA-256 as the host computed it.  A backup's directory must exist; the restores'
    directory is created."""
    directory, name = posixpath.split(path)
    if posixpath.basename(directory) == catalog.RESTORES_DIR:
        rel = posixpath.relpath(directory, root)
        ssh_push.ensure_dirs(session, root, rel.split("/"))
    elif not ssh_push.exists(session, directory):
        raise SshError(session.label, "%s does not exist: there is no such backup to report on" % directory)
    tmp = ".%s.%s.tmp" % (name, binascii.hexlify(os.urandom(4)).decode("ascii"))
    tmp_path = posixpath.join(directory, tmp)
    want = hashlib.sha256(data).hexdigest()
    try:
        with session.sftp.open(tmp_path, "wb") as f:
            f.write(data)
        got = ssh_push.remote_sha256(session, directory, [tmp]).get(tmp)
        if got != want:
            raise SshError(session.label, "%s arrived damaged (SHA-256 %s, sent %s)" % (path, got, want))
        session.sftp.posix_rename(tmp_path, path)
        tmp_path = None
        try:
            ssh_push.flush(session, [directory])
        except SshError:
            pass       # stored and verified; the host writes the rename in its own time
    except IOError as exc:
        raise ssh_push.explain_io(session, path, exc, "writing %s" % path)
    finally:
        if tmp_path is not None:
            try:
                session.sftp.remove(tmp_path)
            except (IOError, SshError):
                pass
    return want


def forks(session, root, ensemble):
    """The forks of the ensemble's history that its stored restore reports record
    (restore_plan.forks_from_reports), oldest first."""
    return restore_plan.forks_from_reports(
        [read(session, path) for path, _size, _mtime in catalog.restore_reports(session, root, ensemble)])


def read(session, path):
    """A stored report, or None when it is missing or not one."""
    try:
        with session.sftp.open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (IOError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None
