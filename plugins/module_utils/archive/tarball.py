# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup archive: a POSIX tar stream of files, then ``manifest.json``.

The archive knows nothing of ZooKeeper or of SSH.  A writer streams files into it
(whole files, byte ranges of files, or bytes), hashing each with SHA-256 as it goes,
and closes it with a manifest that lists every file with its size and hash.  The tar
stream goes through a compressor and an optional encryptor (archive/compression.py,
archive/encryption.py) before it reaches the sink, so nothing is ever staged on disk.

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
import stat
import tarfile
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption

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


def open_plain(path):
    """``path`` opened for reading when it is a regular file and not a symbolic link (the
    link is not followed: OSError); raise ArchiveError for anything else."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ArchiveError("%s is not a regular file: it is not read" % path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
            f = open_plain(part.path)
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

# The reader accepts what the writer writes and nothing else: ustar headers (checksum
# checked), regular files, and pax extended headers of a few keys.  Every limit below is
# checked from the headers, before a byte of the member is read or written.
MANIFEST_MAX = 4 << 20          # manifest.json inside the archive, read into memory
PAX_MAX = 64 << 10              # one pax extended header
MEMBER_OVERHEAD = 4 * BLOCK     # tar overhead allowed per member when the manifest gives no raw_bytes
_PAX_KEYS = frozenset(("path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"))
_USTAR = b"ustar\x0000"
ZERO_BLOCK = b"\0" * BLOCK
_KINDS = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
          b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"S": "a sparse file",
          b"g": "a global pax header", b"L": "a GNU long name", b"K": "a GNU long link name",
          b"D": "a GNU directory dump", b"M": "a GNU multi-volume part", b"V": "a volume label"}


class DecodedStream(io.RawIOBase):
    """A file object reading the tar stream out of an (encrypted, compressed) archive.

    No read returns more than ``chunk`` bytes, however much the archive's bytes expand; with
    ``limit`` the whole stream may not decode to more than that many bytes (the tar stream
    length the manifest records): one byte more and the read fails.

    ``key``: what decrypts (encryption.Decryptor's keys), None for a plain archive; or
    ``decryptor``, an encryption.Decryptor that may have read the header already.
    """

    def __init__(self, raw, codec, key=None, chunk=READ_SIZE, limit=None, decryptor=None):
        super(DecodedStream, self).__init__()
        self._raw = raw
        try:
            self._unz = compression.reader(codec, _Decrypted(raw, key, chunk, decryptor), chunk)
        except compression.CompressionError as exc:
            raise ArchiveError(str(exc))
        self._chunk = chunk
        self.limit = limit
        self.bytes = 0
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

    def read(self, n=-1):
        """At most ``n`` bytes (and never more than ``chunk``); b"" at the end."""
        if n is None or n < 0:
            return self.readall()
        if self._eof or n == 0:
            return b""
        want = min(n, self._chunk)
        if self.limit is not None:
            want = min(want, self.limit - self.bytes + 1)
        try:
            data = self._unz.read(want)
        except compression.CompressionError as exc:
            raise ArchiveError(str(exc))
        except ArchiveError:
            raise
        except Exception as exc:  # any other failure of a decompression library
            raise ArchiveError("the archive does not decompress: %s" % exc)
        if not data:
            self._eof = True
            return b""
        self.bytes += len(data)
        if self.limit is not None and self.bytes > self.limit:
            raise ArchiveError("the archive decodes to more than the %d bytes its manifest records: refused"
                               % self.limit)
        return data

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def drain(self):
        """Read to the end (so that truncation, length and authentication are checked)."""
        while self.read(self._chunk):
            pass


class _Decrypted:
    """The decrypted bytes of the archive file ``raw``, as the decompressor reads them."""

    def __init__(self, raw, key, chunk, decryptor=None):
        self._raw = raw
        if decryptor is None and key is not None:
            decryptor = encryption.Decryptor(key)
        self._dec = decryptor
        self._chunk = chunk
        self._buf = bytearray()
        self._eof = False

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._chunk
        while not self._buf and not self._eof:
            data = self._raw.read(self._chunk)
            try:
                if not data:
                    self._eof = True
                    if self._dec is not None:
                        self._buf += self._dec.finish()
                elif self._dec is not None:
                    self._buf += self._dec.update(data)
                else:
                    self._buf += data
            except encryption.EncryptionError as exc:
                raise ArchiveError(str(exc))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def open_stream(path, key=None, codec=None, limit=None):
    """A DecodedStream over the archive file at ``path`` (codec from its name)."""
    codec = codec or compression.codec_of(os.path.basename(path))
    encrypted = path.endswith(encryption.SUFFIX)
    if encrypted and not encryption.keyring(key):
        raise ArchiveError("%s is encrypted: give the encryption key or identity" % path)
    return DecodedStream(open(path, "rb"), codec, key if encrypted else None, limit=limit)


def parse_manifest(data, label="manifest.json"):
    """The manifest in ``data`` (bytes), checked; raise ArchiveError unless it is a
    manifest this reader understands: a JSON object of this format, no newer version,
    and a file list of plain names, sizes and SHA-256s, each name once."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MANIFEST_MAX:
            raise ArchiveError("%s is larger than %d bytes: refused" % (label, MANIFEST_MAX))
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError("%s is not UTF-8 text" % label)
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ArchiveError("%s is not readable JSON: %s" % (label, exc))
    return check_manifest(manifest, label)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_manifest(manifest, label="manifest.json"):
    """``manifest`` (a parsed manifest) when its structure is sound, else ArchiveError."""
    if not isinstance(manifest, dict):
        raise ArchiveError("%s is not a JSON object" % label)
    if manifest.get("format") != FORMAT:
        raise ArchiveError("%s is not a %s manifest" % (label, FORMAT))
    version = manifest.get("format_version", 0)
    if not _count(version):
        raise ArchiveError("%s has no valid format_version" % label)
    if version > FORMAT_VERSION:
        raise ArchiveError("archive format version %s is newer than this reader (%d)" % (version, FORMAT_VERSION))
    files = manifest.get("files", [])
    if not isinstance(files, list):
        raise ArchiveError("%s: files is not a list" % label)
    names = set()
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise ArchiveError("%s: an entry of files has no path" % label)
        name = check_name(f["path"])
        if name in names or name == MANIFEST:
            raise ArchiveError("%s lists %s twice" % (label, name))
        names.add(name)
        if not _count(f.get("size")):
            raise ArchiveError("%s: %s has no valid size" % (label, name))
        sha = f.get("sha256")
        if not isinstance(sha, str) or not re.match(r"^[0-9a-f]{64}\Z", sha):
            raise ArchiveError("%s: %s has no valid sha256" % (label, name))
    section = manifest.get("archive")
    if section is not None:
        if not isinstance(section, dict):
            raise ArchiveError("%s: archive is not an object" % label)
        for key in ("bytes", "raw_bytes"):
            if section.get(key) is not None and not _count(section[key]):
                raise ArchiveError("%s: archive.%s is not a byte count" % (label, key))
    return manifest


def _bounds(expect):
    """({name: size} the manifest ``expect`` promises, the most bytes the tar stream may hold)."""
    check_manifest(expect, "the backup's manifest")
    sizes = dict((f["path"], f["size"]) for f in expect.get("files", []))
    raw = (expect.get("archive") or {}).get("raw_bytes")
    if raw is None:
        raw = sum(MEMBER_OVERHEAD + s + (-s % BLOCK) for s in sizes.values())
        raw += MEMBER_OVERHEAD + MANIFEST_MAX + 2 * BLOCK + RECORD
    return sizes, raw


def _exact(stream, n, what):
    buf = bytearray()
    while len(buf) < n:
        data = stream.read(min(n - len(buf), READ_SIZE))
        if not data:
            raise ArchiveError("the archive is truncated or damaged: it ends inside %s" % what)
        buf += data
    return bytes(buf)


def _octal(field, what):
    text = field.rstrip(b"\0 ").lstrip(b" ")
    if not text:
        return 0
    if not re.match(b"^[0-7]+\\Z", text):
        raise ArchiveError("the archive is damaged: a tar header's %s field is not a number" % what)
    return int(text, 8)


def _text(field):
    return field.split(b"\0", 1)[0]


def _pax(data):
    """{key: value} of a pax extended header's records."""
    out = {}
    pos = 0
    while pos < len(data):
        m = re.match(b"([1-9][0-9]{0,7}) ", data[pos:pos + 10])
        if not m:
            if not data[pos:].strip(b"\0"):
                break
            raise ArchiveError("the archive is damaged: a pax header record is malformed")
        length = int(m.group(1))
        record = data[pos:pos + length]
        if len(record) != length or not record.endswith(b"\n") or b"=" not in record:
            raise ArchiveError("the archive is damaged: a pax header record is malformed")
        key, value = record[len(m.group(0)):-1].split(b"=", 1)
        try:
            key, value = key.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError("the archive is damaged: a pax header record is not UTF-8")
        if key.startswith("GNU.sparse"):
            raise ArchiveError("the archive holds a sparse file (pax %s): refused before writing" % key)
        if key not in _PAX_KEYS:
            raise ArchiveError("the archive holds an unexpected pax header %r: refused" % key)
        if key in out:
            raise ArchiveError("the archive is damaged: pax header %s given twice" % key)
        out[key] = value
        pos += length
    if "size" in out and not re.match(r"^[0-9]{1,20}\Z", out["size"]):
        raise ArchiveError("the archive is damaged: a pax size is not a number")
    return out


def _next_member(stream):
    """(name, size) of the next member, None at the end of the archive; raise ArchiveError
    for anything but a regular file (with pax headers of the keys the writer uses)."""
    pax = None
    while True:
        block = _exact(stream, BLOCK, "a tar header")
        if block == ZERO_BLOCK:
            if pax is not None:
                raise ArchiveError("the archive is damaged: a pax header is followed by the end of the archive")
            _exact(stream, BLOCK, "the end of the archive")
            return None
        stored = _octal(block[148:156], "checksum")
        if stored != sum(block[:148]) + 256 + sum(block[156:]):
            raise ArchiveError("the archive is damaged: a tar header's checksum is wrong")
        kind = block[156:157]
        if kind in _KINDS:
            raise ArchiveError("member %s is not a regular file (it is %s): refused"
                               % (_text(block[0:100]).decode("utf-8", "replace"), _KINDS[kind]))
        if block[257:265] != _USTAR:
            raise ArchiveError("the archive is damaged: a tar header is not a POSIX ustar header")
        size = _octal(block[124:136], "size")
        if kind == b"x":
            if pax is not None:
                raise ArchiveError("the archive is damaged: two pax headers in a row")
            if size > PAX_MAX:
                raise ArchiveError("the archive holds a pax header of %d bytes (at most %d): refused" % (size, PAX_MAX))
            pax = _pax(_exact(stream, size + (-size % BLOCK), "a pax header")[:size])
            continue
        try:
            raw_name = _text(block[0:100])
            prefix = _text(block[345:500])
            name = (prefix + b"/" + raw_name if prefix else raw_name).decode("utf-8")
        except UnicodeDecodeError:
            raise ArchiveError("the archive is damaged: a member name is not UTF-8")
        if pax:
            name = pax.get("path", name)
            size = int(pax.get("size", size))
        if kind not in (b"0", b"\0"):
            raise ArchiveError("member %s is not a regular file (it is %s): refused"
                               % (name, _KINDS.get(kind, "of type %r" % kind.decode("latin-1"))))
        return check_name(name), size


def read(stream, dest=None, want=None, expect=None, opener=None):
    """Read a tar stream (from open_stream()), check it, return the manifest.

    With ``dest`` the files are written below it (which must be empty or absent);
    ``want`` (a callable taking a name) limits what is written.  With ``opener`` (a
    callable taking a member name and returning a binary file open for writing) each
    file is written to what it returns instead.  Every file is checked against the
    manifest, written or not.

    ``expect`` is the backup's manifest as stored beside the archive: then each member's
    name and size are checked against it from the member's header, before any of its bytes
    is read, the tar stream may not be longer than its ``archive.raw_bytes``, and the
    manifest inside the archive must list the same files.  Without ``expect`` nothing is
    written to ``dest`` before its size is known, but only the manifest inside the archive,
    at the end, bounds it.
    """
    seen = {}
    manifest = None
    sizes = None
    if expect is not None:
        sizes, raw_max = _bounds(expect)
        if isinstance(stream, DecodedStream) and (stream.limit is None or stream.limit > raw_max):
            stream.limit = raw_max
    while True:
        member = _next_member(stream)
        if member is None:
            break
        name, size = member
        if manifest is not None:
            raise ArchiveError("member %s after manifest.json" % name)
        if name == MANIFEST:
            if size > MANIFEST_MAX:
                raise ArchiveError("manifest.json in the archive is %d bytes (at most %d): refused" % (size, MANIFEST_MAX))
            text = _exact(stream, size + (-size % BLOCK), MANIFEST)[:size]
            manifest = parse_manifest(text, "manifest.json in the archive")
            continue
        if name in seen:
            raise ArchiveError("member %s appears twice" % name)
        if sizes is not None:
            if name not in sizes:
                raise ArchiveError("the archive does not match its manifest: %s is not in the manifest "
                                   "(refused before writing)" % name)
            if size != sizes[name]:
                raise ArchiveError("the archive does not match its manifest: %s is %d bytes in the archive, "
                                   "the manifest records %d (refused before writing)" % (name, size, sizes[name]))
        out = None
        if want is None or want(name):
            if opener is not None:
                out = opener(name)
            elif dest is not None:
                target = os.path.join(dest, *name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                out = open(target, "xb")
        seen[name] = _copy_member(stream, name, size, out)
    _check_end(stream)
    if manifest is None:
        raise ArchiveError("the archive has no manifest.json: it is incomplete")
    check_against_manifest(seen, manifest)
    if expect is not None:
        check_against_manifest(seen, expect)
        limit = (expect.get("archive") or {}).get("raw_bytes")
        if limit is not None and getattr(stream, "bytes", limit) != limit:
            raise ArchiveError("the archive decodes to %d bytes, its manifest records %d: it is truncated or "
                               "was replaced" % (stream.bytes, limit))
    return manifest


def _copy_member(stream, name, size, out):
    """Read the member's ``size`` bytes (into ``out`` when given, which is closed)."""
    digest = hashlib.sha256()
    left = size
    try:
        while left > 0:
            data = stream.read(min(READ_SIZE, left))
            if not data:
                raise ArchiveError("the archive is truncated or damaged: it ends inside %s" % name)
            digest.update(data)
            left -= len(data)
            if out is not None:
                out.write(data)
    finally:
        if out is not None:
            out.close()
    _exact(stream, -size % BLOCK, name)
    return {"size": size, "sha256": digest.hexdigest()}


def _check_end(stream):
    """After the end-of-archive blocks only zeros (the padding of the last record) may follow."""
    while True:
        data = stream.read(READ_SIZE)
        if not data:
            break
        if data.strip(b"\0"):
            raise ArchiveError("the archive has data after its end: refused")
    if hasattr(stream, "drain"):
        stream.drain()


def check_against_manifest(seen, manifest):
    """Raise ArchiveError unless ``seen`` ({name: {size, sha256}}) is what the manifest lists."""
    check_manifest(manifest)
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
