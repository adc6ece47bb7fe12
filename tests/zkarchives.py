"""Synthetic backup archives for the restore unit tests: a member's files written with zkfiles,
packed into archives with the backup side's own archive writer."""
import hashlib
import io
import json
import os
import tarfile

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T

E = 0x100000000


def creates(first, last, epoch=E, time0=None):
    out = []
    for i in range(first, last + 1):
        kw = {} if time0 is None else {"time": time0 + i}
        out.append(W.txn(epoch + i, T.CREATE, W.create("/n%d" % i, b"v%d" % i), **kw))
    return out


def member_files(snapshot_zxid=E + 2, last=9):
    """{archive name: bytes} of a full backup: a snapshot, one log, the epoch files."""
    return {
        "data/version-2/snapshot.%x" % snapshot_zxid: W.snapshot_stream(W.basic_tree(),
                                                                        digest=(snapshot_zxid, 2, 0)),
        "datalog/version-2/log.%x" % (E + 1): W.log_bytes(creates(1, last), padding=0),
        "data/version-2/currentEpoch": b"1\n",
        "data/version-2/acceptedEpoch": b"1\n",
    }


def chunk_files(first, last):
    return {"datalog/version-2/log.%x" % (E + first): W.log_bytes(creates(first, last), padding=0)}


def write_backup(directory, files, kind="full", backup_id="b1", zxid=None, codec="none", digest=None, key=None,
                 recipients=(), ensemble=None):
    """Write <directory>/<archive> and manifest.json as a backup host stores them; returns
    the archive's path.  ``key`` (32 bytes) and ``recipients`` (encryption.Recipient)
    encrypt the archive, its header naming backup_id, ensemble, kind and zxid."""
    os.makedirs(directory, exist_ok=True)
    out = io.BytesIO()
    context = {"backup_id": backup_id, "ensemble": ensemble, "kind": kind, "zxid": zxid or {}}
    enc = archive.Encoder(out.write, codec, key=key, recipients=recipients, context=context)
    writer = archive.ArchiveWriter(enc)
    for name in sorted(files):
        writer.add(name, [files[name]])
    manifest = writer.finish(dict({"backup_id": backup_id, "kind": kind, "zxid": zxid or {}, "digest": digest},
                                  **({"ensemble": ensemble} if ensemble else {})))
    name = archive.archive_name(codec, enc.encryption is not None)
    data = out.getvalue()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    manifest["archive"] = {"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "compression": codec, "raw_bytes": enc.raw_bytes,
                           "encryption": enc.encryption}
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return os.path.join(directory, name)


def raw_tar(members):
    """A tar stream of (TarInfo, bytes or None) as given, without any checking."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    out.seek(0)
    return out


def reg(name):
    return tarfile.TarInfo(name)


def link(name, target, hard=False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info
