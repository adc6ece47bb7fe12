# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch a tree export stored on the backup hosts (tree/push.py) for an import.

``fetch()`` looks for the export ``export_id`` (or the newest one, ``latest``) of an
ensemble on the backup hosts, in their order.  A host is passed over, with its reason, when
it cannot be reached, does not hold the export, its manifest is not authenticated by the
keys given (archive/authenticity.py, the policy restores apply to backups), or the bytes
read from it are not those its manifest records (size and SHA-256, computed here on what
was read, not by the host).  The first good copy is downloaded into a private directory
(files of mode 0600), still encrypted when it was stored encrypted; the caller removes it.

Nothing of a copy is used before it passed these checks: only then ``open_export()``
decrypts it (archive/encryption.py), in memory, as the import reads it; the decrypted
export never reaches a disk.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import posixpath
import socket
import tempfile

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tree_format
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import reading
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree.push import KIND

LATEST = "latest"
READ_SIZE = 1 << 20
# Ids named in a message about a host's exports.
_SHOWN = 5


class FetchError(Exception):
    """No usable copy, or options that cannot work; ``passed`` lists the hosts passed over
    ({host, reason})."""

    def __init__(self, message, passed=None):
        super(FetchError, self).__init__(message)
        self.passed = passed or []


class _NoKey(FetchError):
    """The export is encrypted and no key was given: the same on every host."""


def check_id(export_id):
    """Raise FetchError unless ``export_id`` is ``latest`` or the id of a tree export."""
    if export_id == LATEST:
        return
    try:
        names.backup_id(export_id, "export id")
    except names.NameRefused as exc:
        raise FetchError("%s; give the id of a stored export (<time>-%s-<hex>, as the export "
                         "reports it in backup_id) or latest" % (exc, KIND))
    if "-%s-" % KIND not in export_id:
        raise FetchError("%s is not the id of a tree export (<time>-%s-<hex>): backups are "
                         "restored with the restore playbook, not imported" % (export_id, KIND))


class Keys(object):
    """What the import holds: ``keys`` (authenticity.Keys, None without any) authenticate
    manifests, ``ring`` (encryption.Keyring) decrypts."""

    def __init__(self, keys=None, ring=None, allow_unauthenticated=False):
        self.keys = keys
        self.ring = ring if ring is not None else encryption.Keyring()
        self.allow_unauthenticated = allow_unauthenticated


def read_keys(params):
    """Keys from ``encryption_key``, ``identities``, ``verify_keys`` and
    ``allow_unauthenticated``; FetchError (never with a key) when one cannot be read, or when
    identities come without anything that authenticates."""
    read = authenticity.read_key_options(
        params, ("encryption_key", "identities", "verify_keys"), _keys, FetchError,
        "checking and decrypting a stored export needs the python cryptography library where the "
        "import runs", "nothing was changed")
    if read is None:
        return Keys()
    keys, ring = read
    if not keys.required and not params.get("allow_unauthenticated"):
        raise FetchError("identities decrypt an export but prove nothing about who wrote it: give "
                         "verify_keys (the public key of the export's signing key) as well, or set "
                         "allow_unauthenticated: true; nothing was changed")
    return Keys(keys, ring, bool(params.get("allow_unauthenticated")))


def _keys(p):
    return (authenticity.keys_from_params(p),
            encryption.parse_keyring(p.get("encryption_key"), p.get("identities") or ()))


def _describe(entries):
    ids = [e["id"] for e in entries]
    if not ids:
        return "it holds no export of the ensemble"
    shown = ids[-_SHOWN:]
    return "its newest export%s: %s" % ("s" if len(shown) > 1 else "", ", ".join(reversed(shown)))


def _usable(e, keys):
    """Why the catalog entry ``e`` cannot be used (None when it can)."""
    if e.get("rejected"):
        return "its copy is not authenticated by the keys given: %s" % e["rejected"]
    if e.get("problems"):
        return "its copy is unreadable: %s" % "; ".join(e["problems"])
    if keys.keys is not None and keys.keys.required and not e.get("authenticated") \
            and not keys.allow_unauthenticated:
        return "its copy is not authenticated by the keys given: %s" % e.get("authentication")
    return None


def newest(listed, keys):
    """The id of the newest export any host holds a usable copy of (None if none)."""
    good = [e for _s, entries in listed for e in entries if _usable(e, keys) is None]
    if not good:
        return None
    return max(good, key=lambda e: (e.get("created") or "", e["id"]))["id"]


def download(session, entry, workdir, index=0):
    """Download the export file of the catalog ``entry`` into ``workdir``; returns its local
    path.  Raises FetchError (the file removed) unless the bytes read have the size and the
    SHA-256 the manifest records."""
    arch = entry.get("archive") or {}
    name, want_sha, want_size = arch.get("file"), arch.get("sha256"), arch.get("bytes")
    try:
        names.file_name(name or "", "export file name")
    except names.NameRefused as exc:
        raise FetchError("its manifest is not one this collection writes (%s)" % exc)
    if not want_sha or not isinstance(want_size, int):
        raise FetchError("its manifest does not record the export file's SHA-256 and size, so the "
                         "file read could not be checked")
    remote = posixpath.join(entry["path"], name)
    digest, size = hashlib.sha256(), 0
    # A new file of mode 0600 that only this process opened.
    fd, local = tempfile.mkstemp(prefix="%d-" % index, suffix="-" + name, dir=workdir)
    try:
        with os.fdopen(fd, "wb") as out:
            # A bounded read-ahead, to the end the host gives: never sized by the manifest.
            with reading.open_reader(session.sftp, remote) as f:
                while size <= want_size:
                    data = f.read(READ_SIZE)
                    if not data:
                        break
                    digest.update(data)
                    size += len(data)
                    out.write(data)
    except socket.timeout:
        os.remove(local)
        raise FetchError("no answer while reading %s" % remote)
    except (IOError, OSError) as exc:
        os.remove(local)
        raise FetchError("cannot read %s: %s" % (remote, exc))
    got = digest.hexdigest()
    if size != want_size or got != want_sha:
        os.remove(local)
        raise FetchError("the file read (%d bytes, SHA-256 %s) is not the one its manifest records "
                         "(%d bytes, SHA-256 %s): it was changed or damaged on the backup host"
                         % (size, got, want_size, want_sha))
    return local


def _is_encrypted(path):
    with open(path, "rb") as f:
        return encryption.is_encrypted(f.read(len(encryption.MAGIC)))


def fetch(params, export_id, workdir, warnings=None):
    """Find, check and download the export ``export_id`` (or ``latest``).

    Returns {host, export_id, path (on the host), local (the file in ``workdir``),
    encrypted, authenticated, passed [{host, reason}], manifest (the catalog entry)}.
    Raises FetchError naming every host and why when none has a good copy."""
    check_id(export_id)
    if not params.get("backup_hosts"):
        raise FetchError("export_id needs backup_hosts (and ensemble): the hosts the export "
                         "is stored on")
    ensemble = params.get("ensemble") or ""
    try:
        names.ensemble(ensemble)
    except names.NameRefused as exc:
        raise FetchError(str(exc))
    root = params.get("backup_root") or catalog.DEFAULT_ROOT
    keys = read_keys(params)
    passed, listed, sessions = [], [], []
    try:
        for target in params["backup_hosts"]:
            try:
                session = ssh_transport.connect(params, target, warnings)
            except ssh_transport.SshError as exc:
                passed.append({"host": exc.host if exc.host not in (None, "-") else target,
                               "reason": "cannot be reached: %s" % exc.reason})
                continue
            sessions.append(session)
            try:
                entries = catalog.list_backups(session, root, ensemble, kinds=(KIND,), keys=keys.keys,
                                               allow_unauthenticated=keys.allow_unauthenticated)[0]
            except ssh_transport.SshError as exc:
                passed.append({"host": session.label, "reason": "cannot be listed: %s" % exc.reason})
                continue
            except (IOError, OSError, socket.timeout) as exc:
                passed.append({"host": session.label, "reason": "cannot be listed: %s" % exc})
                continue
            listed.append((session, [e for e in entries if e.get("kind") in (KIND, None)]))
        wanted = export_id if export_id != LATEST else newest(listed, keys)
        if wanted is None:
            passed.extend({"host": s.label, "reason": "holds no usable export (%s)" % _describe(entries)}
                          for s, entries in listed)
            raise FetchError("no backup host holds an export of ensemble %s under %s that can be "
                             "used: %s" % (ensemble, root, _hosts(passed)), passed)
        for index, (session, entries) in enumerate(listed):
            entry = dict((e["id"], e) for e in entries).get(wanted)
            if entry is None:
                passed.append({"host": session.label, "reason": "holds no export %s (%s)"
                               % (wanted, _describe(entries))})
                continue
            why = _usable(entry, keys)
            if why is None:
                try:
                    local = download(session, entry, workdir, index)
                    return _checked(session, entry, local, wanted, keys, passed)
                except _NoKey as exc:
                    raise FetchError(str(exc), passed)
                except FetchError as exc:
                    why = str(exc)
            passed.append({"host": session.label, "reason": why})
        raise FetchError("no backup host holds a good copy of export %s: %s. Nothing was changed; "
                         "import another export (export_id)" % (wanted, _hosts(passed)), passed)
    finally:
        ssh_transport.close_all(sessions)


def _hosts(passed):
    return "; ".join("%s %s" % (p["host"], p["reason"]) for p in passed) or "no backup host given"


def _checked(session, entry, local, export_id, keys, passed):
    """The result for a copy whose bytes are the ones its manifest records, once its
    encryption agrees with the keys held (FetchError otherwise, the file removed)."""
    encrypted = _is_encrypted(local)
    if encrypted and not keys.ring:
        os.remove(local)
        enc = (entry.get("archive") or {}).get("encryption") or {}
        ids = ", ".join(r.get("key_id") or "?" for r in enc.get("recipients") or []
                        if isinstance(r, dict)) or "not recorded"
        raise _NoKey("export %s is encrypted (key ids %s): give the encryption key or an "
                     "identity it was encrypted for; nothing was changed" % (export_id, ids))
    if not encrypted and keys.ring:
        os.remove(local)
        raise FetchError("its copy is not encrypted, though a decryption key was given: refused, "
                         "since anyone who can write to the backup host could have put it there")
    return {"host": session.label, "export_id": export_id, "path": entry["path"], "local": local,
            "encrypted": encrypted, "authenticated": entry.get("authenticated"),
            "passed": list(passed), "manifest": entry}


class _Decrypting(object):
    """Reads the plaintext of an encrypted export file, decrypting as it goes."""

    def __init__(self, raw, decryptor):
        self._raw = raw
        self._dec = decryptor
        self._buf = b""
        self._done = False

    def read(self, n=-1):
        while not self._done and (n is None or n < 0 or len(self._buf) < n):
            data = self._raw.read(READ_SIZE)
            try:
                if data:
                    self._buf += self._dec.update(data)
                else:
                    self._buf += self._dec.finish() or b""
                    self._done = True
            except encryption.EncryptionError as exc:
                raise tree_format.FormatError("its decryption failed: %s" % exc)
        if n is None or n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self):
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_export(fetched, keys, ensemble):
    """The export's plaintext stream of a fetch() result: the file itself, or for an
    encrypted one a stream that decrypts it with ``keys.ring``, its header bound to the
    export id, ensemble and kind (FormatError otherwise)."""
    raw = open(fetched["local"], "rb")
    if not fetched["encrypted"]:
        return raw
    dec = encryption.Decryptor(keys.ring, expect={"backup_id": fetched["export_id"],
                                                  "ensemble": ensemble, "kind": KIND})
    try:
        dec.read_header(raw.read)
    except encryption.EncryptionError as exc:
        raw.close()
        raise tree_format.FormatError("its encryption header: %s" % exc)
    return _Decrypting(raw, dec)
