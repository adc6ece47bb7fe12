# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read stored backups back: from a backup host over SFTP, or from a local file.

Composes the backup side's pieces (store/catalog.py for the layout on the host, archive/tarball.py for
the stream format, transport/ssh.py for the connection) into what a restore needs: the
backup's manifest (the copy stored next to the archive) and a decoded tar stream of the
archive, read once, sequentially, while the SHA-256 of the stored bytes is computed on
the way, so that the bytes that were read can be proven to be the bytes the backup host
verified (``ArchiveSource.check()``).  Nothing is staged on disk.

Backup hosts are independent copies of each other, and one may miss backups that another
holds (it was down or full when they were taken): ``list_hosts()`` lists the backups and
restore reports on every host that answers, ``plan_union()`` plans over all the backups
they hold (a backup held by several hosts is one backup), and ``choose_copies()`` takes
each backup a restore needs from the first host whose copy verifies, and names the hosts
whose copy did not.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import posixpath
import socket

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as run_report
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError

READ_SIZE = 1 << 20
# What the manifest inside an archive must share with the one stored next to it.
INNER_FIELDS = ("backup_id", "ensemble", "kind", "zxid")


class FetchError(Exception):
    pass


class _HashingReader:
    """A raw file whose bytes are hashed and counted as they are read (and handed to
    ``on_read(count)`` when given: progress)."""

    def __init__(self, raw, on_read=None):
        self._raw = raw
        self._on_read = on_read
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self._back = b""

    def unread(self, data):
        """Give ``data`` (the last bytes read) again to the next read."""
        self._back = data + self._back

    def read(self, n=-1):
        if self._back:
            data = self._back if n is None or n < 0 else self._back[:n]
            self._back = self._back[len(data):]
            return data
        data = self._raw.read(n)
        if data:
            self.sha256.update(data)
            self.bytes += len(data)
            if self._on_read is not None:
                self._on_read(len(data))
        return data

    def drain(self):
        while self.read(READ_SIZE):
            pass

    def close(self):
        self._raw.close()


class ArchiveSource:
    """One archive to read: ``open()`` gives the decoded tar stream; after it was read
    to the end, ``check()`` compares what was read with the manifest's archive section.

    ``key`` is what decrypts: a symmetric key, identities, or an encryption.Keyring.  A
    source opened with any of them reads only encrypted archives (checked on the stored
    bytes, whatever the manifest says), and only those whose encryption header names
    what ``expect`` (a dict: backup_id, ensemble, kind, zxid; None values are not
    compared) asks for.  After ``open()``, ``decryptor`` (None for a plain archive) tells
    the format version and the header's context."""

    def __init__(self, label, manifest, opener, key=None, expect=None):
        self.label = label
        self.manifest = manifest
        self._opener = opener
        self._keys = encryption.keyring(key)
        self._raw = None
        self.section = (manifest or {}).get("archive") or {}
        self.expect = expect
        self.decryptor = None
        # Set when authentication is required: the archive's hash must then be known.
        self.require_hash = False
        # Set by allow_unauthenticated: a plain archive is read although a key is held.
        self.allow_plain = False

    @property
    def backup_id(self):
        return (self.manifest or {}).get("backup_id")

    @property
    def size(self):
        """The archive's stored size in bytes (None when the manifest does not say)."""
        return self.section.get("bytes")

    def _key_ids_said(self):
        enc = self.section.get("encryption") or {}
        ids = [r.get("key_id") for r in enc.get("recipients") or [] if isinstance(r, dict)]
        if enc.get("key_id"):
            ids.append(enc["key_id"])
        return ", ".join(str(i) for i in ids) or "not recorded"

    def open(self, on_read=None):
        """The decoded stream; ``on_read(count)`` hears of every read of stored bytes."""
        name = self.section.get("file") or ""
        codec = self.section.get("compression") or compression.codec_of(name)
        encrypted = bool(self.section.get("encryption")) or name.endswith(encryption.SUFFIX)
        if encrypted and not self._keys:
            raise FetchError("%s is encrypted: give the encryption key or an identity it was written for (key id %s)"
                             % (self.label, self._key_ids_said()))
        try:
            compression.resolve(codec)
        except compression.CompressionError as exc:
            raise FetchError("%s: %s" % (self.label, exc))
        self._raw = _HashingReader(self._opener(), on_read)
        try:
            self.decryptor = self._read_header()
        except BaseException:
            self.close()
            raise
        return archive_mod.DecodedStream(self._raw, codec, decryptor=self.decryptor)

    def _read_header(self):
        """The Decryptor of the archive, its header read and checked (None for a plain archive
        read without a key): the stored bytes, not only the manifest, tell whether it is
        encrypted; with a key it must be, for a key held, with the expected context."""
        first = b""
        while len(first) < len(encryption.MAGIC):
            data = self._raw.read(len(encryption.MAGIC) - len(first))
            if not data:
                break
            first += data
        self._raw.unread(first)
        encrypted = encryption.is_encrypted(first)
        if not self._keys:
            if encrypted:
                raise FetchError("%s is encrypted (its bytes say so, though its manifest does not): give the "
                                 "encryption key or an identity it was written for" % self.label)
            return None
        if not encrypted and self.allow_plain:
            return None
        if not encrypted:
            raise FetchError("%s: the backup is not encrypted, though a decryption key was given: it is refused. "
                             "Anyone who can write to the backup host could have put a plain archive there; "
                             "restore another backup, or one that is encrypted for the keys given"
                             % self.label)
        dec = encryption.Decryptor(self._keys, expect=self.expect)
        try:
            dec.read_header(self._raw.read)
        except encryption.EncryptionError as exc:
            raise FetchError("%s: %s" % (self.label, exc))
        return dec

    def check(self):
        """Raise FetchError unless the bytes read are the ones the manifest records."""
        raw = self._raw
        raw.drain()
        raw.close()
        want_sha, want_size = self.section.get("sha256"), self.section.get("bytes")
        got = raw.sha256.hexdigest()
        if self.require_hash and (not want_sha or want_size is None):
            raise FetchError("%s: the manifest does not record the archive's SHA-256 and size, so the archive read "
                             "cannot be proven to be the one the key holder wrote: refused" % self.label)
        if want_size is not None and raw.bytes != want_size:
            raise FetchError("%s: read %d bytes of the archive, the manifest records %d: the stored archive "
                             "changed or the transfer was cut" % (self.label, raw.bytes, want_size))
        if want_sha and got != want_sha:
            raise FetchError("%s: the SHA-256 of the archive read (%s) differs from the one recorded when it "
                             "was stored (%s): the archive is damaged" % (self.label, got, want_sha))
        return {"bytes": raw.bytes, "sha256": got, "checked_against_manifest": bool(want_sha)}

    def check_inner(self, inner):
        """Raise FetchError unless the manifest inside the archive (its last member, which
        the archive's hash or its encryption authenticates) agrees with the manifest the
        restore was planned with on the backup id, ensemble, kind and zxids."""
        side = self.manifest or {}
        inner = inner if isinstance(inner, dict) else {}
        differ = [k for k in INNER_FIELDS if k in side and inner.get(k) != side.get(k)]
        if differ:
            raise FetchError("%s: the manifest inside the archive differs from the one stored next to it on %s "
                             "(inside: %s; next to it: %s): the archive is not the backup it is stored as; "
                             "nothing of it is used"
                             % (self.label, ", ".join(differ),
                                ", ".join("%s=%s" % (k, json.dumps(inner.get(k), sort_keys=True)) for k in differ),
                                ", ".join("%s=%s" % (k, json.dumps(side.get(k), sort_keys=True)) for k in differ)))

    def close(self):
        if self._raw is not None:
            try:
                self._raw.close()
            except Exception:
                pass


# --- backups on a backup host -------------------------------------------------------------

def check_names(ensemble, backup_ids=()):
    """Raise FetchError unless ``ensemble`` and every one of ``backup_ids`` are plain names."""
    try:
        names.ensemble(ensemble)
        for bid in backup_ids:
            names.backup_id(bid)
    except names.NameRefused as exc:
        raise FetchError(str(exc))


def backup_path(root, ensemble, backup_id):
    """``<root>/<ensemble>/<backup_id>``; raises FetchError unless both are plain names."""
    try:
        return posixpath.join(root, names.ensemble(ensemble), names.backup_id(backup_id))
    except names.NameRefused as exc:
        raise FetchError(str(exc))


def read_manifest(session, path):
    """The manifest stored next to an archive on the host (with its ``archive`` section)."""
    try:
        with session.sftp.open(posixpath.join(path, catalog.MANIFEST), "rb") as f:
            data = f.read(archive_mod.MANIFEST_MAX + 1)
    except socket.timeout:
        raise SshError(session.label, "no answer while reading %s" % path)
    except IOError as exc:
        if not ssh_push.exists(session, path):
            raise FetchError("%s: there is no backup %s" % (session.label, path))
        raise FetchError("%s: cannot read %s/%s: %s" % (session.label, path, catalog.MANIFEST, exc))
    try:
        return archive_mod.parse_manifest(data, "%s/%s" % (path, catalog.MANIFEST))
    except archive_mod.ArchiveError as exc:
        raise FetchError("%s: %s" % (session.label, exc))


def remote_source(session, root, ensemble, backup_id, key=None, kind=None):
    """An ArchiveSource reading a stored backup from the host of ``session``.

    An encrypted archive must say in its header that it is ``backup_id`` of ``ensemble``
    (of ``kind`` when given, with the zxids its side manifest records)."""
    path = backup_path(root, ensemble, backup_id)
    manifest = read_manifest(session, path)
    arch = manifest.get("archive")
    name = arch.get("file") if isinstance(arch, dict) else None
    if not name:
        raise FetchError("%s: the manifest of %s names no archive file" % (session.label, path))
    try:
        names.file_name(name, "archive file name")
    except names.NameRefused as exc:
        raise FetchError("%s: backup %s: its manifest is not one this collection writes (%s): it cannot be "
                         "restored; choose another backup (backup_id)" % (session.label, backup_id, exc))
    if manifest.get("backup_id") != backup_id:
        raise FetchError("%s: backup %s: its manifest names backup %r: it cannot be restored; choose another "
                         "backup (backup_id)" % (session.label, backup_id, manifest.get("backup_id")))
    archive_path = posixpath.join(path, name)

    def opener():
        try:
            # A bounded read-ahead, to the end the host gives: never sized by the manifest.
            f = reading.open_reader(session.sftp, archive_path)
        except IOError as exc:
            raise FetchError("%s: cannot open %s: %s" % (session.label, archive_path, exc))
        return f

    expect = {"backup_id": backup_id, "ensemble": ensemble, "kind": kind, "zxid": manifest.get("zxid")}
    return ArchiveSource("%s:%s" % (session.label, archive_path), manifest, opener, key, expect=expect)


def local_source(path, key=None):
    """An ArchiveSource for an archive file on this host (an encrypted one must name in its
    header the backup id, ensemble, kind and zxids its manifest records).

    The manifest is the ``manifest.json`` next to it when there is one (as a backup
    directory copied from a backup host has), else the one inside the archive, which is
    read once to find it.
    """
    if not os.path.isfile(path):
        raise FetchError("the archive %s does not exist" % path)
    side = os.path.join(os.path.dirname(path), catalog.MANIFEST)
    manifest = None
    if os.path.isfile(side):
        try:
            with open(side, "rb") as f:
                manifest = archive_mod.parse_manifest(f.read(archive_mod.MANIFEST_MAX + 1), side)
        except archive_mod.ArchiveError as exc:
            raise FetchError(str(exc))
        if (manifest.get("archive") or {}).get("file") != os.path.basename(path):
            manifest = None
    if manifest is None:
        codec = compression.codec_of(os.path.basename(path))
        encrypted = path.endswith(encryption.SUFFIX)
        if encrypted and not encryption.keyring(key):
            raise FetchError("%s is encrypted: give the encryption key or an identity it was written for" % path)
        with open(path, "rb") as f:
            said = encryption.is_encrypted(f.read(len(encryption.MAGIC)))
        try:
            compression.resolve(codec)
            stream = archive_mod.DecodedStream(open(path, "rb"), codec, key if said else None)
            try:
                inner = archive_mod.read(stream)
            finally:
                stream.close()
        except (archive_mod.ArchiveError, compression.CompressionError) as exc:
            raise FetchError("%s: %s" % (path, exc))
        manifest = dict(inner, archive={"file": os.path.basename(path), "compression": codec,
                                        "encryption": {"scheme": encryption.SCHEME} if said else None})

    def opener():
        return open(path, "rb")

    # An encrypted archive must be the one its manifest describes.
    expect = {k: manifest.get(k) for k in ("backup_id", "ensemble", "kind", "zxid")}
    return ArchiveSource(path, manifest, opener, key, expect=expect)


def judge_source(source, keys, allow_unauthenticated=False, backup_id=None, ensemble=None):
    """Raise FetchError unless the policy (authenticity.decide()) accepts ``source``'s
    manifest; under a key the manifest must also be that of ``backup_id`` and ``ensemble``
    when given.  Sets ``source.require_hash`` and returns (authenticated, reason)."""
    if keys is None or not keys.any:
        return None, None
    manifest = source.manifest if isinstance(source.manifest, dict) else {}
    entry = {"id": backup_id if backup_id is not None else manifest.get("backup_id"),
             "ensemble": ensemble if ensemble is not None else manifest.get("ensemble")}
    catalog.judge_entry(entry, manifest, keys, allow_unauthenticated)
    if entry.get("rejected"):
        raise FetchError("%s: %s" % (source.label, authenticity.refusal(entry["id"], entry["rejected"])))
    source.require_hash = keys.required and not (allow_unauthenticated and not entry["authenticated"])
    return entry["authenticated"], entry.get("authentication")


def _verify_one(session, label, root, ensemble, backup_id, listed, keys=None, allow_unauthenticated=False):
    """None when the host's copy of ``backup_id`` verifies, else the reason it does not.
    ``listed`` caches the catalog of each host (by label)."""
    if label not in listed:
        listed[label] = catalog.list_backups(session, root, ensemble, keys=keys,
                                             allow_unauthenticated=allow_unauthenticated)[0]
    b = dict((e["id"], e) for e in listed[label]).get(backup_id)
    if b is None:
        return "holds no complete copy"
    if b.get("rejected"):
        return "its copy is not authenticated by the keys given (%s)" % b["rejected"]
    b = catalog.verify(session, b)
    if b["verified"]:
        return None
    return "its copy fails verification on the backup host (%s)" % ("; ".join(b.get("problems") or []) or "checksums differ")


def choose_copies(plan, hosts, root, ensemble, listed=None, keys=None, allow_unauthenticated=False):
    """Take each backup of ``plan`` from the first of ``hosts`` whose copy verifies.

    ``hosts`` is a list of (label, get_session) in order of preference, ``get_session()``
    connecting on first use (raising SshError when the host cannot be reached); ``listed``
    the catalogs already read ({label: catalog entries}, list_hosts()), else each host's is
    read when needed.  Returns (sources {backup id: host label}, rejected [{host, backup_id,
    reason}]); raises FetchError when no host holds a copy of a backup that verifies."""
    sources, rejected = {}, []
    listed = dict(listed or {})
    for bid in plan["backup_ids"]:
        tried = []
        for label, get_session in hosts:
            try:
                why = _verify_one(get_session(), label, root, ensemble, bid, listed, keys, allow_unauthenticated)
            except SshError as exc:
                why = "cannot be reached (%s)" % exc.reason
            if why is None:
                sources[bid] = label
                break
            tried.append({"host": label, "backup_id": bid, "reason": why})
        rejected.extend(t for t in tried if t["reason"].startswith("its copy"))
        if bid not in sources:
            raise FetchError("backup %s has no copy that verifies on any backup host (%s): it cannot be restored; "
                             "choose another backup (backup_id)"
                             % (bid, "; ".join("%s %s" % (t["host"], t["reason"]) for t in tried)))
    for entry in [plan["full"]] + plan["logs"]:
        entry["verified"] = True
        entry["host"] = sources[entry["id"]]
    return sources, rejected


def list_hosts(hosts, root, ensemble, keys=None, allow_unauthenticated=False):
    """The backups and restore reports of ``ensemble`` on every one of ``hosts`` that answers.

    ``hosts`` is a list of (label, get_session) in order of preference.  Returns (listed
    {label: catalog entries} of the hosts that answered, reports [restore report documents of
    all of them], unreachable [{host, reason}] of the others, in order)."""
    check_names(ensemble)
    listed, reports, unreachable = {}, [], []
    for label, get_session in hosts:
        try:
            session = get_session()
            backups = catalog.list_backups(session, root, ensemble, keys=keys,
                                           allow_unauthenticated=allow_unauthenticated)[0]
            docs = [run_report.read(session, path)
                    for path, _size, _mtime in catalog.restore_reports(session, root, ensemble)]
        except SshError as exc:
            unreachable.append({"host": label, "reason": str(exc)})
            continue
        except socket.timeout:
            unreachable.append({"host": label, "reason": "%s: no answer while listing the backups" % label})
            continue
        listed[label] = backups
        reports.extend(docs)
    return listed, reports, unreachable


def union(listed, order):
    """The backups held by any of the hosts, one catalog entry per backup id, oldest first.

    ``listed`` is {label: catalog entries}, ``order`` the labels in order of preference.  A
    backup held by several hosts is one backup: its entry is the first host's whose copy is
    complete and not known to fail verification, else the first host's.  Returns (backups,
    holders {backup id: [labels of the hosts holding a copy, in order]})."""
    chosen, holders = {}, {}
    for label in order:
        for b in listed.get(label) or []:
            holders.setdefault(b["id"], []).append(label)
            have = chosen.get(b["id"])
            if have is None or (not _usable(have) and _usable(b)):
                chosen[b["id"]] = b
    backups = sorted(chosen.values(), key=lambda b: (b.get("created") or "", b["id"]))
    return backups, holders


def _usable(b):
    return b.get("complete", True) and b.get("verified") is not False and not b.get("rejected")


def plan_union(listed, order, reports, ensemble, root, backup_id=None, target_zxid=None, target_time=None):
    """The restore plan (restore_plan.plan()) over the backups of every host in ``listed``
    (list_hosts()), with the forks of the restore reports of all of them: the latest state,
    what is left out and the highest epoch are those of all the backups the hosts hold.
    Returns (plan, holders {backup id: [labels]}); raises FetchError when there is none."""
    check_names(ensemble, [backup_id] if backup_id else [])
    labels = [h for h in order if h in listed]
    backups, holders = union(listed, labels)
    if not backups:
        raise FetchError("%s hold%s no backup of ensemble %s under %s"
                         % (", ".join(labels), "s" if len(labels) == 1 else "", ensemble, root))
    try:
        result = restore_plan.plan(backups, backup_id, target_zxid, target_time,
                                   restore_plan.forks_from_reports(reports))
    except restore_plan.PlanError as exc:
        raise FetchError("the backups on %s: %s" % (", ".join(labels), exc))
    return result, holders


def plan_on_host(session, root, ensemble, backup_id=None, target_zxid=None, target_time=None, verify=True,
                 keys=None, allow_unauthenticated=False):
    """The restore plan (restore_plan.plan()) from the backups stored on the host, each
    backup it needs checked by the host against its checksums when ``verify``; with
    ``keys`` (authenticity.Keys) only backups the policy accepts are chosen."""
    check_names(ensemble, [backup_id] if backup_id else [])
    backups, _debris = catalog.list_backups(session, root, ensemble, keys=keys,
                                            allow_unauthenticated=allow_unauthenticated)
    if not backups:
        raise FetchError("%s holds no backup of ensemble %s under %s" % (session.label, ensemble, root))
    try:
        result = restore_plan.plan(backups, backup_id, target_zxid, target_time,
                                   run_report.forks(session, root, ensemble))
    except restore_plan.PlanError as exc:
        raise FetchError("%s: %s" % (session.label, exc))
    if verify:
        by_id = dict((b["id"], b) for b in backups)
        for bid in result["backup_ids"]:
            b = catalog.verify(session, by_id[bid])
            if not b["verified"]:
                raise FetchError("%s: backup %s fails verification on the backup host (%s): it cannot be "
                                 "restored; choose another backup (backup_id)"
                                 % (session.label, bid, "; ".join(b.get("problems") or []) or "checksums differ"))
        for entry in [result["full"]] + result["logs"]:
            entry["verified"] = True
    return result
