# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The znode tree export file: writer and reader (specified in docs/tree-export-format.md).

A gzip stream holding a magic and version, a JSON header frame, one binary frame per
znode and a JSON trailer frame with the count and the tree digest (tree_digest).  The
writer takes znodes from any source (a live walk, a replay of data files, a test) and
writes to any binary stream, so a transport can carry the file while it is written.

Pure Python standard library: no kazoo needed to read or write an export.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import gzip
import json
import struct
import threading
import zlib

try:
    import queue
except ImportError:  # pragma: no cover - Python 2 is not supported, sanity imports it
    import Queue as queue

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.version import (
    COLLECTION_VERSION)

FORMAT_VERSION = 1
MAGIC = b"ZKTREE"

FRAME_HEADER = 0x48   # 'H'
FRAME_NODE = 0x4E     # 'N'
FRAME_TRAILER = 0x54  # 'T'

# Record flags.
KIND_EXACT = 0x01      # the kind is known (container/TTL told apart from persistent)
SEQUENTIAL = 0x02      # created as a sequential znode (as far as it can be told)
WAS_EPHEMERAL = 0x04   # an ephemeral znode kept as persistent
_KNOWN_FLAGS = KIND_EXACT | SEQUENTIAL | WAS_EPHEMERAL

KIND_CODES = {tree_digest.PERSISTENT: 0, tree_digest.EPHEMERAL: 1,
              tree_digest.CONTAINER: 2, tree_digest.TTL: 3}
KIND_NAMES = dict((v, k) for k, v in KIND_CODES.items())

_MAGIC_HEAD = struct.Struct(">6sH")
_FRAME = struct.Struct(">BI")
_REC = struct.Struct(">BBqI")
_NODE_HEAD = struct.Struct(">BIBBqI")      # frame type and length, then _REC
_NODE_FIXED = _REC.size + 4 + 1           # record head, data length, stat flag
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_PERMS = struct.Struct(">I")
STAT_SIZE = 68
_STAT = struct.Struct(">qqqqiiiqiiq")
STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")
MAX_FRAME = 256 * 1024 * 1024
_CHUNK = 256 * 1024
_NEG_LENGTH = _I32.pack(-1)


class FormatError(Exception):
    """The file is not a complete, intact tree export; the message says what is wrong."""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Record(object):
    """One znode of an export.  ``stat_raw`` is the jute Stat (68 bytes) or None."""
    __slots__ = ("path", "data", "acl", "kind", "ttl", "flags", "stat_raw")

    def __init__(self, path, data, acl, kind=tree_digest.PERSISTENT, ttl=0, flags=0,
                 stat_raw=None):
        self.path = path
        self.data = data
        self.acl = acl
        self.kind = kind
        self.ttl = ttl
        self.flags = flags
        self.stat_raw = stat_raw

    @property
    def stat(self):
        """The stat as a dict (None when the source did not know it)."""
        if self.stat_raw is None:
            return None
        return dict(zip(STAT_FIELDS, _STAT.unpack(self.stat_raw)))

    @property
    def sequential(self):
        return bool(self.flags & SEQUENTIAL)

    @property
    def kind_exact(self):
        return bool(self.flags & KIND_EXACT)

    def __repr__(self):
        return "<Record %s %s %d bytes>" % (self.path, self.kind, len(self.data or b""))


def pack_stat(stat):
    """A stat given as raw bytes, a ZnodeStat/tuple of 11 ints, or a dict -> 68 bytes."""
    if stat is None:
        return None
    if isinstance(stat, (bytes, bytearray)):
        if len(stat) != STAT_SIZE:
            raise ValueError("a raw stat has %d bytes, not %d" % (STAT_SIZE, len(stat)))
        return bytes(stat)
    if isinstance(stat, dict):
        stat = [stat[k] for k in STAT_FIELDS]
    return _STAT.pack(*stat)


def encode_acl_entries(acl):
    """The record's ACL block (count + entries, in the given order)."""
    parts = [_U32.pack(len(acl))]
    for perms, scheme, ident in acl:
        s = scheme.encode("utf-8")
        i = ident.encode("utf-8")
        parts.append(_PERMS.pack(perms) + _U32.pack(len(s)) + s + _U32.pack(len(i)) + i)
    return b"".join(parts)


def record_parts(p, data, acl_block, kind_code, flags, ttl, stat_raw):
    """(the parts of one node frame, their length); ``p`` is the UTF-8 path."""
    if data is None:
        size = _NODE_FIXED + len(p) + len(acl_block)
        dlen = _NEG_LENGTH
        data = b""
    else:
        size = _NODE_FIXED + len(p) + len(data) + len(acl_block)
        dlen = _I32.pack(len(data))
    if stat_raw is None:
        tail = b"\x00"
        stat_raw = b""
    else:
        tail = b"\x01"
        size += STAT_SIZE
    return ((_NODE_HEAD.pack(FRAME_NODE, size, kind_code, flags, ttl, len(p)), p, dlen, data,
             acl_block, tail, stat_raw), size + _FRAME.size)


def _json_frame(kind, obj):
    payload = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _FRAME.pack(kind, len(payload)) + payload


class _Deflater(object):
    """gzip-compresses chunks into a stream; with ``threaded`` in a background thread.

    zlib lets other threads run while it compresses, so the records of the next chunk
    are made meanwhile, on another core.  A failure of the stream (disk full, a broken
    connection) is raised, as it was, by the next write() or close().
    """

    def __init__(self, stream, level, threaded=True):
        self.stream = stream
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)   # 31: gzip, mtime 0
        self._error = None
        self._queue = None
        if threaded:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, name="zkops-tree-deflate")
            self._thread.daemon = True
            self._thread.start()

    def _write(self, chunk):
        out = self._z.compress(chunk)
        if out:
            self.stream.write(out)

    def _run(self):
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._write(chunk)
                except BaseException as exc:  # handed to the writing thread
                    self._error = exc

    def write(self, chunk):
        if self._error is not None:
            raise self._error
        if self._queue is None:
            self._write(chunk)
        else:
            self._queue.put(chunk)

    def _stop(self):
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None

    def close(self):
        """Compress what is left and end the gzip stream."""
        self._stop()
        if self._error is not None:
            raise self._error
        self.stream.write(self._z.flush())

    def abort(self):
        if self._error is None:
            self._error = ValueError("the export was aborted")
        self._stop()


class TreeWriter(object):
    """Writes an export to a binary stream (a file, a pipe, a transport channel).

    ``header`` is a dict; the writer adds format, version and time.  ``kinds_exact``
    says whether the source tells container and TTL znodes from persistent ones (then
    the trailer carries the typed digest as well).  Call add() per znode, then
    finish(); the stream is left open.  Compression runs in a background thread
    (``threaded``) that alone writes to the stream until finish() or abort() returns.
    """

    def __init__(self, stream, header, kinds_exact=False, compresslevel=6, threaded=True):
        self.kinds_exact = bool(kinds_exact)
        self.header = dict(header)
        self.header.update(format="zkops-tree", format_version=FORMAT_VERSION,
                           producer="zkops.zookeeper", collection_version=COLLECTION_VERSION,
                           digest_version=tree_digest.DIGEST_VERSION,
                           kinds_exact=self.kinds_exact)
        self.header.setdefault("created", utc_now())
        self._out = _Deflater(stream, compresslevel, threaded)
        self._buf = [_MAGIC_HEAD.pack(MAGIC, FORMAT_VERSION),
                     _json_frame(FRAME_HEADER, self.header)]
        self._buffered = 0
        self.digest = tree_digest.SortedTreeDigest(include_ephemeral=False, typed=self.kinds_exact)
        self.count = 0
        self.bytes_in = 0
        self._acl_blocks = {}
        self._finished = False

    def add(self, path, data, acl, kind=tree_digest.PERSISTENT, ttl=0, flags=0, stat=None,
            acl_bytes=None):
        """Add one znode; ``acl`` is a sequence of (perms, scheme, id)."""
        code = KIND_CODES[kind]
        if self.kinds_exact:
            flags |= KIND_EXACT
        elif code > 1:
            raise ValueError("%s: a source that cannot tell kinds apart gave kind %s"
                             % (path, kind))
        if not isinstance(acl, tuple):
            acl = tuple(tuple(e) for e in acl)
        block = self._acl_blocks.get(acl)
        if block is None:
            block = encode_acl_entries(acl)
            self._acl_blocks[acl] = block
        if stat is not None and (not isinstance(stat, bytes) or len(stat) != STAT_SIZE):
            stat = pack_stat(stat)
        parts, size = record_parts(path.encode("utf-8"), data, block, code, flags,
                                   int(ttl) if code == 3 else 0, stat)
        self._buf.extend(parts)
        self._buffered += size
        if self._buffered >= _CHUNK:
            self._flush()
        self.digest.add(path, data, acl, kind, ttl, acl_bytes=acl_bytes)
        self.count += 1

    def add_record(self, record, acl_bytes=None):
        self.add(record.path, record.data, record.acl, record.kind, record.ttl,
                 record.flags & ~KIND_EXACT, record.stat_raw, acl_bytes)

    def _flush(self):
        if self._buf:
            chunk = b"".join(self._buf)
            self.bytes_in += len(chunk)
            self._out.write(chunk)
            self._buf = []
            self._buffered = 0

    def digest_result(self):
        return self.digest.result()

    def finish(self, **extra):
        """Write the trailer and end the gzip stream; return the trailer."""
        if self._finished:
            raise ValueError("the export is already finished")
        d = self.digest.result()
        trailer = dict(extra)
        trailer.update(count=self.count, digest=d["digest"], typed_digest=d["typed_digest"],
                       digest_count=d["count"], digest_version=d["version"],
                       finished=utc_now())
        self._buf.append(_json_frame(FRAME_TRAILER, trailer))
        self._finished = True
        try:
            self._flush()
            self._out.close()
        except BaseException:
            self._out.abort()
            raise
        return trailer

    def abort(self):
        """Stop without a trailer (the stream then reads as truncated)."""
        self._finished = True
        self.digest.close()
        self._out.abort()


class TreeReader(object):
    """Reads an export from a binary stream.

    ``header`` is available at once; iterate for the Records; ``trailer`` is set once
    the iteration ended.  With ``verify`` the count and digest are recomputed and a
    mismatch raises FormatError at the end of the iteration.
    """

    def __init__(self, stream, verify=True):
        self._gz = gzip.GzipFile(fileobj=stream, mode="rb")
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.verify = verify
        self.trailer = None
        self.count = 0
        self.digest = None
        self._iterated = False
        head = self._take(_MAGIC_HEAD.size, what="the file head")
        magic, version = _MAGIC_HEAD.unpack(head)
        if magic != MAGIC:
            raise FormatError("not a zkops tree export (the file starts with %r, not %r)"
                              % (magic, MAGIC))
        if version != FORMAT_VERSION:
            raise FormatError("tree export format version %d is not supported (this "
                              "collection reads version %d)" % (version, FORMAT_VERSION))
        kind, payload = self._frame()
        if kind != FRAME_HEADER:
            raise FormatError("corrupt tree export: the first frame is not the header")
        self.header = _json(payload, "header")
        self.kinds_exact = bool(self.header.get("kinds_exact"))

    # --- buffered reading from the gzip stream ------------------------------------
    def _fill(self, need):
        parts = [self._buf[self._pos:]]
        have = len(parts[0])
        while have < need and not self._eof:
            try:
                chunk = self._gz.read(max(_CHUNK * 4, need - have))
            except (EOFError, zlib.error, OSError) as exc:
                raise FormatError("the tree export is truncated or corrupt (%s): it did "
                                  "not finish, or was damaged in transit" % exc)
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._pos = 0

    def _take(self, n, what="a frame"):
        if len(self._buf) - self._pos < n:
            self._fill(n)
            if len(self._buf) - self._pos < n:
                raise FormatError("the tree export is truncated inside %s: it has no "
                                  "trailer (the export did not finish)" % what)
        start = self._pos
        self._pos += n
        return self._buf[start:self._pos]

    def _frame(self):
        if len(self._buf) - self._pos < _FRAME.size:
            self._fill(_FRAME.size)
            if len(self._buf) - self._pos == 0:
                return None, None
        kind, length = _FRAME.unpack(self._take(_FRAME.size))
        if length > MAX_FRAME:
            raise FormatError("corrupt tree export: a frame claims %d bytes" % length)
        return kind, self._take(length)

    def scan(self):
        """Check the framing to the end without decoding znodes; return the trailer."""
        if self._iterated:
            raise ValueError("a TreeReader can be iterated once")
        self._iterated = True
        while True:
            kind, payload = self._frame()
            if kind is None:
                raise FormatError("the tree export is truncated: it has no trailer (the "
                                  "export did not finish)")
            if kind == FRAME_NODE:
                self.count += 1
            elif kind == FRAME_TRAILER:
                self.trailer = _json(payload, "trailer")
                break
            else:
                raise FormatError("corrupt tree export: unknown frame type 0x%02x" % kind)
        if self.trailer.get("count") != self.count:
            raise FormatError("the tree export is inconsistent: the trailer counts %s "
                              "znodes, the file holds %d" % (self.trailer.get("count"),
                                                             self.count))
        return self.trailer

    def __iter__(self):
        if self._iterated:
            raise ValueError("a TreeReader can be iterated once")
        self._iterated = True
        digest = tree_digest.SortedTreeDigest(include_ephemeral=False, typed=self.kinds_exact) \
            if self.verify else None
        while True:
            kind, payload = self._frame()
            if kind is None:
                raise FormatError("the tree export is truncated: it has no trailer (the "
                                  "export did not finish)")
            if kind == FRAME_NODE:
                rec = decode_record(payload)
                self.count += 1
                if digest is not None:
                    digest.add(rec.path, rec.data, rec.acl, rec.kind, rec.ttl)
                yield rec
            elif kind == FRAME_TRAILER:
                self.trailer = _json(payload, "trailer")
                if self._frame()[0] is not None:
                    raise FormatError("corrupt tree export: data after the trailer")
                break
            else:
                raise FormatError("corrupt tree export: unknown frame type 0x%02x" % kind)
        if self.trailer.get("count") != self.count:
            raise FormatError("the tree export is inconsistent: the trailer counts %s "
                              "znodes, the file holds %d" % (self.trailer.get("count"),
                                                             self.count))
        if digest is not None:
            self.digest = digest.result()
            if self.digest["digest"] != self.trailer.get("digest") or (
                    self.kinds_exact and self.digest["typed_digest"]
                    != self.trailer.get("typed_digest")):
                raise FormatError("the tree export is corrupt: its znodes digest to %s, the "
                                  "trailer says %s" % (self.digest["digest"],
                                                       self.trailer.get("digest")))


def decode_record(payload):
    try:
        code, flags, ttl, plen = _REC.unpack_from(payload, 0)
        off = _REC.size
        path = payload[off:off + plen].decode("utf-8")
        off += plen
        dlen = _I32.unpack_from(payload, off)[0]
        off += 4
        if dlen < 0:
            data = None
        else:
            data = payload[off:off + dlen]
            if len(data) != dlen:
                raise FormatError("corrupt tree export: the data of %s is cut" % path)
            off += dlen
        n = _U32.unpack_from(payload, off)[0]
        off += 4
        acl = []
        for _entry in range(n):
            perms, slen = struct.unpack_from(">II", payload, off)
            off += 8
            scheme = payload[off:off + slen].decode("utf-8")
            off += slen
            ilen = _U32.unpack_from(payload, off)[0]
            off += 4
            ident = payload[off:off + ilen].decode("utf-8")
            off += ilen
            acl.append((perms, scheme, ident))
        has_stat = payload[off]
        off += 1
        stat_raw = None
        if has_stat:
            stat_raw = payload[off:off + STAT_SIZE]
            off += STAT_SIZE
        if off != len(payload) or (stat_raw is not None and len(stat_raw) != STAT_SIZE):
            raise FormatError("corrupt tree export: the record of %s has %d stray bytes"
                              % (path, len(payload) - off))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FormatError("corrupt tree export: a znode record cannot be decoded (%s)" % exc)
    if code not in KIND_NAMES:
        raise FormatError("corrupt tree export: %s has unknown kind %d" % (path, code))
    if flags & ~_KNOWN_FLAGS:
        raise FormatError("corrupt tree export: %s has unknown flags 0x%02x" % (path, flags))
    return Record(path, data, tuple(acl), KIND_NAMES[code], ttl, flags, stat_raw)


def _json(payload, what):
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise FormatError("corrupt tree export: the %s is not JSON (%s)" % (what, exc))
    if not isinstance(obj, dict):
        raise FormatError("corrupt tree export: the %s is not an object" % what)
    return obj


def read_summary(path):
    """(header, trailer) of a complete export file, checking its framing, not its digest."""
    with open(path, "rb") as f:
        reader = TreeReader(f, verify=False)
        return reader.header, reader.scan()
