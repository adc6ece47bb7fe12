# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup archive: a POSIX tar stream of files, then ``manifest.json``.

The archive knows nothing of ZooKeeper or of SSH.  A writer streams files into it
(whole files, byte ranges of files, or bytes), hashing each with SHA-256 as it goes,
and closes it with a manifest that lists every file with its size and hash.  The tar
stream goes through a compressor and an optional encryptor (compression.py,
encryption.py) before it reaches the sink, so nothing is ever staged on disk.

A reader undoes both layers, checks every file against the manifest (which comes last,
so it can hold the hashes) and refuses anything unexpected: names outside the archive,
links, devices, files the manifest does not list or lists differently.

docs/archive-format.md describes the format precisely enough to write another reader;
``tar`` itself reads an archive once decompressed and decrypted.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import io
import json
import os
import re
import tarfile
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils import encryption

FORMAT = "zkops.zookeeper/backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BLOCK = 512
RECORD = 20 * BLOCK
READ_SIZE = 1 << 20
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$")


class ArchiveError(Exception):
    pass


def check_name(name):
    """Raise unless ``name`` is a plain relative path (no '..', no absolute path)."""
    if not _NAME.match(name or "") or ".." in name.split("/"):
        raise ArchiveError("unsafe or unexpected member name %r in the archive" % (name,))
    return name


def archive_name(codec, encrypted, base="archive.tar"):
    """The file name of an archive: archive.tar[.gz|.zst|.lz4][.enc]."""
    return base + compression.SUFFIX[codec] + (encryption.SUFFIX if encrypted else "")


class FilePart:
    """``length`` bytes of the file at ``path`` from ``offset``."""

    def __init__(self, path, offset, length):
        self.path = path
        self.offset = offset
        self.length = length


def _part_length(part):
    return len(part) if isinstance(part, (bytes, bytearray)) else part.length


class Encoder:
    """tar bytes -> compressed -> encrypted -> ``sink(bytes)``; counts both ends."""

    def __init__(self, sink, codec="none", level=None, key=None, threads=0, recipients=(), context=None):
        """``key`` (a symmetric key) and ``recipients`` (encryption.Recipient) encrypt, each
        able to decrypt; ``context`` (a dict) is authenticated in the encryption header."""
        self.sink = sink
        self.codec = codec
        self._comp = compression.compressor(codec, level, threads)
        self._enc = (encryption.Encryptor(key, recipients=recipients, context=context)
                     if key is not None or recipients else None)
        self.key_id = self._enc.key_id if self._enc else None
        self.encryption = self._enc.section() if self._enc else None
        self.raw_bytes = 0
        self.out_bytes = 0

    def _emit(self, data):
        if self._enc is not None and data:
            data = self._enc.update(data)
        if data:
            self.out_bytes += len(data)
            self.sink(data)

    def write(self, data):
        self.raw_bytes += len(data)
        self._emit(self._comp.compress(data))

    def close(self):
        self._emit(self._comp.flush())
        if self._enc is not None:
            tail = self._enc.finish()
            self.out_bytes += len(tail)
            self.sink(tail)


class ArchiveWriter:
    """Write files into the tar stream; ``finish(manifest)`` seals the archive."""

    def __init__(self, encoder, read_size=READ_SIZE):
        self.encoder = encoder
        self.read_size = read_size
        self.files = []
        self._names = set()

    def _header(self, name, size, mtime, mode):
        info = tarfile.TarInfo(check_name(name))
        info.size = size
        info.mtime = int(mtime if mtime is not None else time.time())
        info.mode = mode
        info.type = tarfile.REGTYPE
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def add(self, name, parts, mtime=None, mode=0o640, meta=None):
        """Add one file made of ``parts`` (bytes or FilePart); returns its manifest entry.

        A FilePart must still hold its bytes while they are read: a file that shrank
        raises ArchiveError.
        """
        if name in self._names or name == MANIFEST:
            raise ArchiveError("duplicate member name %s" % name)
        self._names.add(name)
        size = sum(_part_length(p) for p in parts)
        enc = self.encoder
        enc.write(self._header(name, size, mtime, mode))
        digest = hashlib.sha256()
        for part in parts:
            if isinstance(part, (bytes, bytearray)):
                digest.update(part)
                enc.write(bytes(part))
            else:
                self._copy_range(part, digest)
        pad = -size % BLOCK
        if pad:
            enc.write(b"\0" * pad)
        entry = {"path": name, "size": size, "sha256": digest.hexdigest()}
        entry.update(meta or {})
        self.files.append(entry)
        return entry

    def _copy_range(self, part, digest):
        enc = self.encoder
        left = part.length
        try:
            f = open(part.path, "rb")
        except (IOError, OSError) as exc:
            raise ArchiveError("cannot read %s (%s; removed while the backup ran?); nothing was kept"
                               % (part.path, exc.strerror or exc))
        with f:
            if part.offset:
                f.seek(part.offset)
            while left > 0:
                data = f.read(min(self.read_size, left))
                if not data:
                    raise ArchiveError("%s ended %d bytes early while it was read (it shrank or was "
                                       "replaced); nothing was kept" % (part.path, left))
                digest.update(data)
                enc.write(data)
                left -= len(data)

    def finish(self, manifest):
        """Append manifest.json (with the file list) and the end of the tar stream."""
        manifest = dict(manifest)
        manifest["format"] = FORMAT
        manifest["format_version"] = FORMAT_VERSION
        manifest["files"] = self.files
        manifest["totals"] = {"files": len(self.files), "bytes": sum(f["size"] for f in self.files)}
        text = manifest_bytes(manifest)
        enc = self.encoder
        enc.write(self._header(MANIFEST, len(text), time.time(), 0o640))
        enc.write(text + b"\0" * (-len(text) % BLOCK))
        end = 2 * BLOCK
        end += -(enc.raw_bytes + end) % RECORD
        enc.write(b"\0" * end)
        enc.close()
        return manifest


def manifest_bytes(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")


# --- reading ---------------------------------------------------------------------------

class DecodedStream(io.RawIOBase):
    """A file object reading the tar stream out of an (encrypted, compressed) archive."""

    def __init__(self, raw, codec, key=None, chunk=READ_SIZE, decryptor=None):
        """``key``: what decrypts (encryption.Decryptor's keys), None for a plain archive;
        or ``decryptor``, an encryption.Decryptor that may have read the header already."""
        super(DecodedStream, self).__init__()
        self._raw = raw
        if decryptor is None and key is not None:
            decryptor = encryption.Decryptor(key)
        self._dec = decryptor
        self._unz = compression.decompressor(codec)
        self._chunk = chunk
        self._buf = bytearray()
        self._eof = False

    def readable(self):
        return True

    def close(self):
        """Close the stream and the file under it."""
        try:
            raw = self._raw
            if raw is not None and not getattr(raw, "closed", True):
                raw.close()
        finally:
            super(DecodedStream, self).close()

    def _fill(self):
        data = self._raw.read(self._chunk)
        try:
            if not data:
                tail = self._dec.finish() if self._dec is not None else b""
                self._buf += self._unz.decompress(tail) + self._unz.flush()
                self._eof = True
                if not compression.complete(self._unz):
                    raise ArchiveError("the compressed stream is truncated (it does not end properly)")
                return
            if self._dec is not None:
                data = self._dec.update(data)
            self._buf += self._unz.decompress(data)
        except ArchiveError:
            raise
        except encryption.EncryptionError as exc:
            raise ArchiveError(str(exc))
        except Exception as exc:  # zlib.error, ZstdError, lz4's RuntimeError
            raise ArchiveError("the archive does not decompress: %s" % exc)

    def readinto(self, b):
        while not self._buf and not self._eof:
            self._fill()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n

    def drain(self):
        """Read to the end (so that truncation and authentication are checked)."""
        while not self._eof:
            self._fill()
        self._buf = bytearray()


def open_stream(path, key=None, codec=None):
    """A DecodedStream over the archive file at ``path`` (codec from its name)."""
    codec = codec or compression.codec_of(os.path.basename(path))
    encrypted = path.endswith(encryption.SUFFIX)
    if encrypted and not encryption.keyring(key):
        raise ArchiveError("%s is encrypted: give the encryption key or identity" % path)
    return DecodedStream(open(path, "rb"), codec, key if encrypted else None)


def read(stream, dest=None, want=None):
    """Read a tar stream (from open_stream()), check it, return the manifest.

    With ``dest`` the files are written below it (which must be empty or absent);
    ``want`` (a callable taking a name) limits what is written.  Every file is checked
    against the manifest, written or not.
    """
    seen = {}
    manifest = None
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")
    except tarfile.TarError as exc:
        raise ArchiveError("not a readable archive: %s" % exc)
    try:
        for member in tar:
            if manifest is not None:
                raise ArchiveError("member %s after manifest.json" % member.name)
            if not member.isreg():
                raise ArchiveError("member %s is not a regular file" % member.name)
            name = check_name(member.name)
            f = tar.extractfile(member)
            if name == MANIFEST:
                manifest = json.loads(f.read().decode("utf-8"))
                continue
            if name in seen:
                raise ArchiveError("member %s appears twice" % name)
            out = None
            if dest is not None and (want is None or want(name)):
                target = os.path.join(dest, *name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                out = open(target, "xb")
            digest = hashlib.sha256()
            size = 0
            try:
                while True:
                    data = f.read(READ_SIZE)
                    if not data:
                        break
                    digest.update(data)
                    size += len(data)
                    if out is not None:
                        out.write(data)
            finally:
                if out is not None:
                    out.close()
            seen[name] = {"size": size, "sha256": digest.hexdigest()}
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError("the archive is truncated or damaged: %s" % exc)
    except ValueError as exc:
        raise ArchiveError("the archive's manifest is unreadable: %s" % exc)
    if hasattr(stream, "drain"):
        stream.drain()
    if manifest is None:
        raise ArchiveError("the archive has no manifest.json: it is incomplete")
    check_against_manifest(seen, manifest)
    return manifest


def check_against_manifest(seen, manifest):
    """Raise ArchiveError unless ``seen`` ({name: {size, sha256}}) is what the manifest lists."""
    if manifest.get("format") != FORMAT:
        raise ArchiveError("manifest.json is not a %s manifest" % FORMAT)
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ArchiveError("archive format version %s is newer than this reader (%d)"
                           % (manifest.get("format_version"), FORMAT_VERSION))
    listed = {f["path"]: f for f in manifest.get("files", [])}
    problems = []
    for name, got in sorted(seen.items()):
        exp = listed.get(name)
        if exp is None:
            problems.append("%s is not in the manifest" % name)
        elif exp["size"] != got["size"] or exp["sha256"] != got["sha256"]:
            problems.append("%s differs from the manifest (size %d, expected %d)" % (name, got["size"], exp["size"]))
    for name in sorted(set(listed) - set(seen)):
        problems.append("%s is listed in the manifest but missing" % name)
    if problems:
        raise ArchiveError("the archive does not match its manifest: " + "; ".join(problems))
