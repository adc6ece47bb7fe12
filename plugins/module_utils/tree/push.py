# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Store a tree export on backup hosts, through zk_backup's SSH transport and verified push.

Composes ssh_transport (strict host keys, key authentication), ssh_push (staging
directory, SHA-256 computed on every host, then the rename) and catalog (what a host
already holds); adds nothing to the transport.  On every backup host an export becomes

    <backup_root>/<ensemble>/<backup id>/      id: <UTC time>-tree-<6 hex>
        tree.zktree.gz      the export (docs/tree-export-format.md); tree.zktree.gz.enc
                            when encrypted (archive/encryption.py, as backups are)
        manifest.json       kind "tree": the export's root, exclusions, digests, zxids;
                            with a key or a signing key, its MAC or signature
                            (archive/authenticity.py), which covers the export's SHA-256
        SHA256SUMS          both files' SHA-256, checked on the host before the rename

so that zk_backup_catalog lists and verifies it like a backup (kind ``tree``: never
pruned automatically).  The manifest's zxids are ``start`` and ``end``: an export holds
no transactions, so it does not move the log-shipping position (``zxid.last``).

A push is idempotent: when every host's newest export of the same subtree (root,
exclusions, ephemeral policy) has the same digests, nothing is stored.  With a key, only
an export the key authenticates, encrypted when this push would encrypt, counts.

An encrypted export's header binds it to its export id, ensemble and kind (its zxids are
not known when the header is written; the authenticated manifest records them and the
SHA-256 of the encrypted file).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.version import (
    COLLECTION_VERSION)
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

KIND = "tree"
EXPORT_FILE = "tree.zktree.gz"
ENCRYPTED_FILE = EXPORT_FILE + encryption.SUFFIX
_COPY_CHUNK = 1 << 20
# What makes two exports exports of the same thing; the digests then say if it changed.
IDENTITY = ("root", "exclude", "ephemeral_policy")


class PushError(Exception):
    """The push failed; ``leftovers`` names staging directories that could not be removed."""

    def __init__(self, message, leftovers=None):
        super(PushError, self).__init__(message)
        self.leftovers = leftovers or []


def check_params(params):
    """Raise PushError for push options that cannot work."""
    if not params.get("backup_hosts"):
        raise PushError("backup_hosts is empty: give at least one backup host")
    if not names.ENSEMBLE.match(params.get("ensemble") or ""):
        raise PushError("ensemble %r is not a valid name (letters, digits, '.', '_', '-'; not "
                        "starting with '.' or '-'); it names the directory on the backup hosts"
                        % (params.get("ensemble"),))


class Protection(object):
    """What protects a stored export: ``key`` (32 bytes) and ``recipients`` encrypt it,
    ``key`` and ``signing_key`` authenticate its manifest.  Empty: stored as written."""

    def __init__(self, key=None, recipients=(), signing_key=None):
        self.key = key
        self.recipients = list(recipients or ())
        self.signing_key = signing_key

    @property
    def encrypts(self):
        return self.key is not None or bool(self.recipients)

    def keys(self):
        """The authenticity.Keys that judge stored exports (None without key nor signing key)."""
        verify = [self.signing_key.public_key()] if self.signing_key is not None else []
        keys = authenticity.Keys([self.key] if self.key is not None else [], verify)
        return keys if keys.required else None


def protection(params):
    """The Protection of the options ``encryption_key``, ``encryption_recipients`` and
    ``signing_key``; PushError (never with the key) when one cannot be read."""
    return authenticity.read_key_options(
        params, ("encryption_key", "encryption_recipients", "signing_key"), _protection, PushError,
        "encrypting or signing an export needs the python cryptography library on the host that "
        "runs the export", "nothing was exported or sent") or Protection()


def _protection(p):
    key = encryption.parse_key(p["encryption_key"]) if p.get("encryption_key") else None
    recipients = encryption.parse_recipients(p.get("encryption_recipients"))
    signing_key = authenticity.parse_signing_key(p["signing_key"]) if p.get("signing_key") else None
    return Protection(key, recipients, signing_key)


class _Encrypting(object):
    """A stream that encrypts what is written into ``out`` (a push's file)."""

    def __init__(self, out, encryptor):
        self.out = out
        self.encryptor = encryptor
        self.plain_bytes = 0
        self.finished = False

    @property
    def size(self):
        return self.out.size

    def write(self, data):
        self.plain_bytes += len(data)
        chunk = self.encryptor.update(data)
        if chunk:
            self.out.write(chunk)

    def finish(self):
        if not self.finished:
            self.finished = True
            self.out.write(self.encryptor.finish())

    def close(self):
        self.finish()
        return self.out.close()


def identity(header, trailer):
    """The manifest's ``digest`` section: what was exported and its digests."""
    out = dict((k, header.get(k)) for k in IDENTITY)
    out.update(znode_count=trailer.get("digest_count"), digest=trailer.get("digest"),
               typed_digest=trailer.get("typed_digest"),
               digest_version=trailer.get("digest_version"))
    start = header.get("zxid_start")
    if start is not None and start == trailer.get("zxid_end"):
        out["zxid"] = hexzxid(start)
    return out


def manifest(backup_id, ensemble, created, summary, archive):
    header, trailer = summary["header"], summary["trailer"]
    fields = IDENTITY + ("kinds_exact", "source", "format_version")
    tree = dict((k, header.get(k)) for k in fields)
    for k in ("count", "sequential", "ephemeral_skipped", "ephemeral_kept",
              "modified_during_export", "vanished"):
        tree[k] = trailer.get(k)
    return {
        "backup_id": backup_id, "kind": KIND, "ensemble": ensemble, "created": created,
        "collection_version": COLLECTION_VERSION,
        "zxid": {"start": hexzxid(header.get("zxid_start")),
                 "end": hexzxid(trailer.get("zxid_end"))},
        "tree": tree,
        "digest": identity(header, trailer),
        "archive": archive,
    }


def stored_manifest(backup_id, ensemble, created, summary, stream, sha, protect):
    """The manifest stored next to the export written into ``stream`` (a push's file or an
    _Encrypting one, finished; ``sha`` the SHA-256 of the bytes stored), with the MAC and
    signature of ``protect``."""
    enc = getattr(stream, "encryptor", None)
    archive = {"file": ENCRYPTED_FILE if enc is not None else EXPORT_FILE,
               "bytes": stream.size, "sha256": sha, "compression": "gzip",
               "encryption": enc.section() if enc is not None else None}
    return authenticity.authenticate(manifest(backup_id, ensemble, created, summary, archive),
                                     protect.key, protect.signing_key)


def encrypting(out, protect, backup_id, ensemble):
    """``out`` itself, or a stream that encrypts into it under ``protect``, its header bound
    to the export's id, ensemble and kind."""
    if not protect.encrypts:
        return out
    context = {"backup_id": backup_id, "ensemble": ensemble, "kind": KIND}
    return _Encrypting(out, encryption.Encryptor(protect.key, recipients=protect.recipients,
                                                 context=context))


def _same(a, b):
    keys = IDENTITY + ("digest", "typed_digest", "digest_version")
    return all(a.get(k) == b.get(k) for k in keys)


def _counts(entry, protect):
    """Whether a stored export may stand for a new one under ``protect``: authenticated by
    its keys (when it has any) and encrypted when the new one would be."""
    if entry.get("rejected") or (protect.keys() is not None and not entry.get("authenticated")):
        return False
    return bool((entry.get("archive") or {}).get("encryption")) == protect.encrypts


class TreePush(object):
    """Connections to every backup host (their keys checked first) and one push."""

    def __init__(self, params, warnings=None):
        check_params(params)
        self.protect = protection(params)
        self.root = params.get("backup_root") or "/srv/backups"
        self.ensemble = params["ensemble"]
        self.sync = params.get("sync", True)
        self.backup_id = None
        self.created = None
        self._push = None
        self._file = None
        self._sha = None
        try:
            self.sessions = ssh_transport.connect_all(params, params["backup_hosts"], warnings)
        except ssh_transport.SshError as exc:
            raise PushError("%s; nothing was exported or sent" % exc)

    def stored(self, ident):
        """[{host, path, backup_id}] of an export with the same identity and digests as
        ``ident`` that is the newest of its subtree on every host; None otherwise."""
        if self._file is not None:
            self.finish_file()
        found = []
        try:
            for s in self.sessions:
                backups, _debris = catalog.list_backups(s, self.root, self.ensemble, kinds=(KIND,),
                                                        keys=self.protect.keys())
                same_subtree = [b for b in backups if _counts(b, self.protect) and all(
                    (b.get("digest") or {}).get(k) == ident.get(k) for k in IDENTITY)]
                if not same_subtree or not _same(same_subtree[-1].get("digest") or {}, ident):
                    return None
                b = same_subtree[-1]
                found.append({"host": s.label, "path": b["path"], "backup_id": b["id"],
                              "verified": None})
        except ssh_transport.SshError as exc:
            raise PushError(str(exc))
        except (IOError, OSError) as exc:
            raise PushError("%s: listing the exports under %s failed: %s"
                            % (s.label, posixpath.join(self.root, self.ensemble), exc))
        return found

    def planned(self):
        """The destinations a push would write (paths with a placeholder id)."""
        return [{"host": s.label, "path": posixpath.join(self.root, self.ensemble, "<backup id>"),
                 "verified": False} for s in self.sessions]

    def open(self):
        """Start the push; returns the stream to write the export into."""
        self.backup_id = names.new_backup_id(KIND)
        self.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            self._push = ssh_push.Push(self.sessions, self.root, [self.ensemble], self.backup_id,
                                       sync=self.sync).begin()
            self._file = encrypting(self._push.open(
                ENCRYPTED_FILE if self.protect.encrypts else EXPORT_FILE),
                self.protect, self.backup_id, self.ensemble)
        except ssh_transport.SshError as exc:
            raise PushError(str(exc), self.abort())
        return self._file

    def finish_file(self):
        """Wait until every host acknowledged the export file; returns its SHA-256.

        Must come before any other request to the hosts: the SFTP client would take the
        answers to the file's pipelined writes for answers to that request."""
        if self._sha is None:
            try:
                self._sha = self._file.close()
            except ssh_transport.SshError as exc:
                raise PushError(str(exc), self.abort())
        return self._sha

    def commit(self, summary):
        """Finish the file, store the manifest, have every host verify, rename into place."""
        sha = self.finish_file()
        try:
            man = stored_manifest(self.backup_id, self.ensemble, self.created, summary,
                                  self._file, sha, self.protect)
            archive = man["archive"]
            self._push.put(catalog.MANIFEST, (json.dumps(man, indent=1, sort_keys=True)
                                              + "\n").encode("utf-8"))
            out = self._push.commit()
        except ssh_transport.SshError as exc:
            raise PushError(str(exc), self.abort())
        self._push = None
        for d in out:
            d["sha256"] = d["sha256"][archive["file"]]
            d["backup_id"] = self.backup_id
        return out

    def abort(self):
        """Remove the staging directories; return those that could not be removed."""
        push, self._push = self._push, None
        return push.abort() if push is not None else []

    def close(self):
        self.abort()
        ssh_transport.close_all(self.sessions)


def _copy(path, stream):
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_COPY_CHUNK)
            if not chunk:
                return
            stream.write(chunk)


def export(source, params, root, exclude, ephemeral_policy="skip", compresslevel=6,
           dest=None, check_mode=False, mode=0o600, warnings=None):
    """Export ``source`` and store it on the backup hosts of ``params`` (and in the local
    file ``dest`` when given).  Returns the export summary with ``changed``, ``pushed``,
    ``backup_id`` and ``destinations``.  Raises PushError, or the export's errors.

    The connections (and host key checks) come first: nothing is read from the source
    before every backup host has proved to be the one expected."""
    push = TreePush(params, warnings)
    try:
        if dest is None and not check_mode:
            return _streamed(push, source, root, exclude, ephemeral_policy, compresslevel)
        return _from_file(push, source, root, exclude, ephemeral_policy, compresslevel, dest,
                          check_mode, mode)
    except ssh_transport.SshError as exc:
        raise PushError(str(exc), push.abort())
    finally:
        push.close()


def _streamed(push, source, root, exclude, ephemeral_policy, compresslevel):
    """The export written straight into the push; dropped if the hosts hold it already."""
    stream = push.open()
    summary = tree_export.export(source, stream, root, exclude, ephemeral_policy, compresslevel)
    stored = push.stored(identity(summary["header"], summary["trailer"]))
    # Read after stored(), which finishes the file (an encrypted one's last segment).
    summary["bytes"] = stream.size
    if stored is not None:
        push.abort()
        summary.update(changed=False, pushed=False, backup_id=None, destinations=stored)
        return summary
    return _committed(push, summary)


def _from_file(push, source, root, exclude, ephemeral_policy, compresslevel, dest, check_mode,
               mode):
    """The export written to ``dest`` (or, in check mode, nowhere), then pushed unless the
    hosts hold it already."""
    summary = tree_export.export_file(source, dest, root, exclude, ephemeral_policy,
                                      compresslevel, check_mode, mode)
    stored = push.stored(identity(summary["header"], summary["trailer"]))
    if stored is None and not check_mode:
        _copy(dest, push.open())
        return _committed(push, summary)
    summary.update(pushed=False, backup_id=None,
                   destinations=stored if stored is not None else push.planned())
    summary["changed"] = summary["changed"] or stored is None
    return summary


def _committed(push, summary):
    summary["destinations"] = push.commit(summary)
    summary.update(changed=True, pushed=True, backup_id=push.backup_id)
    return summary
