# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and verifying ZooKeeper snapshots (``snapshot.<hex zxid>[.gz|.snappy]``).

The stream (``persistence/FileSnap.java``, ``persistence/SnapStream.java``,
``server/util/SerializeUtils.java``, ``server/DataTree.java``), after decompression:

    header     magic "ZKSN", version int (2), dbid long (-1)
    sessions   count int, then (id long, timeout int) each
    ACL cache  count int, then (id long, vector<ACL>) each
    nodes      (path ustring, data buffer, acl long, StatPersisted) each, depth-first from
               the root (path ""), ended by the path "/"
    seal       Adler32 of everything before, as a long, then the string "/"
    digest     (3.6+) zxid long, digest version int, digest long; then a seal
    lastZxid   (3.9) lastProcessedZxid long; then a seal

Each seal is the Adler32 of the whole uncompressed stream before it, so a later seal
also covers the earlier ones.  ``.gz`` is a gzip stream (with its own CRC32);
``.snappy`` is snappy-java's framing: an 8-byte magic ``\\x82SNAPPY\\x00``, two version
ints, then blocks of (length int, raw snappy data).  Reading ``.snappy`` needs the
``snappy`` (python-snappy) or ``cramjam`` library.

ZooKeeper itself checks only that a plain snapshot ends with the string "/"
(``isValidSnapshot``) before it tries to load one, and falls back to an older snapshot
when loading fails.  This reader checks every seal, the structure and every length.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import os
import struct
import zlib

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import data_files
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.data_files import compression_of
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, FormatError, INT, LONG, Reader, Truncated)
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

MAGIC = b"ZKSN"
VERSION = 2
DBID = -1
HEADER = struct.Struct(">4siq")
STAT_SIZE = 60
# After a node's data: acl long, then StatPersisted (czxid, mzxid, ctime, mtime,
# version, cversion, aversion, ephemeralOwner, pzxid), then the next path's length.
_NODE_TAIL = struct.Struct(">q8xq28xqqi")      # acl, mzxid, ephemeralOwner, pzxid, next len
_NODE_TAIL_SIZE = 8 + STAT_SIZE + 4
_SESSION = struct.Struct(">qi")
_END_PATH = b"\x00\x00\x00\x01/"

SNAPPY_MAGIC = b"\x82SNAPPY\x00"
CHUNK = 1 << 22
# More sessions or ACL entries than this can only be a damaged count.
_MAX_COUNT = 1 << 26

ZK_SUBTREE = "/zookeeper/"


# --- decompressing sources ---------------------------------------------------------

def _snappy_decompressor():
    try:
        import snappy  # python-snappy
        fn = getattr(snappy, "decompress", None) or getattr(snappy, "uncompress")
        return fn
    except ImportError:
        pass
    try:
        import cramjam
        return lambda b: bytes(cramjam.snappy.decompress_raw(b))
    except ImportError:
        pass
    return None


class MissingLibrary(FormatError):
    """A library needed to read the file is not installed: the file is not damaged."""


SNAPPY_MISSING = ("reading .snappy snapshots needs the Python snappy library: install "
                  "python-snappy (or cramjam) on the host that reads them")


class SnappyReader:
    """snappy-java's SnappyOutputStream framing, decompressed block by block."""

    def __init__(self, f):
        self.f = f
        self.decompress = _snappy_decompressor()
        if self.decompress is None:
            raise MissingLibrary(SNAPPY_MISSING)
        self.pos = 0
        self._header()
        self.pending = b""

    def _exact(self, n, what):
        b = self.f.read(n)
        if len(b) != n:
            raise Truncated("snappy stream ends inside the %s" % what, self.pos)
        self.pos += n
        return b

    def _header(self):
        magic = self._exact(8, "stream header")
        if magic != SNAPPY_MAGIC:
            raise FormatError("not a snappy-java stream (magic %r)" % magic, 0)
        self._exact(8, "stream header")     # version, compatible version

    def _block(self):
        at = self.pos
        head = self.f.read(4)
        if not head:
            return None
        if len(head) < 4:
            raise Truncated("snappy stream ends inside a block length", at)
        self.pos += 4
        if head == SNAPPY_MAGIC[:4]:
            # A concatenated stream: another header follows.
            rest = self._exact(4, "stream header")
            if head + rest != SNAPPY_MAGIC:
                raise FormatError("damaged snappy stream header", at)
            self._exact(8, "stream header")
            return b""
        n = INT.unpack(head)[0]
        if n < 0 or n > (1 << 30):
            raise FormatError("unreasonable snappy block length %d" % n, at)
        comp = self._exact(n, "block")
        try:
            return self.decompress(comp)
        except Exception as exc:  # the libraries raise their own error classes
            raise FormatError("snappy block does not decompress: %s" % exc, at)

    def read(self, n):
        parts = [self.pending] if self.pending else []
        have = len(self.pending)
        while have < n:
            b = self._block()
            if b is None:
                break
            parts.append(b)
            have += len(b)
        data = b"".join(parts)
        self.pending = data[n:]
        return data[:n]


class GzipSource:
    """A gzip stream whose decoding errors become FormatError."""

    def __init__(self, f):
        self.g = gzip.GzipFile(fileobj=f, mode="rb")
        self.out = 0

    def read(self, n):
        try:
            b = self.g.read(n)
        except EOFError:
            raise Truncated("gzip stream ends early (after %d uncompressed bytes)" % self.out)
        except (OSError, zlib.error) as exc:
            raise FormatError("damaged gzip stream after %d uncompressed bytes: %s" % (self.out, exc))
        self.out += len(b)
        return b


def open_source(f, compression):
    if compression == "gz":
        return GzipSource(f)
    if compression == "snappy":
        return SnappyReader(f)
    return f


# --- the reader --------------------------------------------------------------------

class SnapshotInfo:
    """What reading one snapshot found out."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.zxid = _zxid_from_name(self.name)
        self.compression = compression_of(self.name)
        self.size = None
        self.stream_size = None
        self.version = None
        self.dbid = None
        self.sessions = None
        self.acl_count = None
        self.node_count = 0
        self.data_bytes = 0
        self.max_stat_zxid = 0
        self.digest = None               # (zxid, version, value)
        self.unreadable = None           # why it could not be read at all (missing library)
        self.last_processed_zxid = None
        self.seals = 0
        self.findings = []
        self.zk_digest = None            # the tree's digest as ZooKeeper computes it

    @property
    def errors(self):
        return [f for f in self.findings if f["severity"] == "error"]

    @property
    def valid(self):
        return not self.errors

    @property
    def end_zxid(self):
        """The zxid the logs must reach for the fuzzy snapshot to be consistent: the
        digest's zxid, or (without a digest) the highest zxid in the node stats."""
        if self.digest is not None and self.digest[0] >= (self.zxid or 0):
            return self.digest[0]
        return max(self.zxid or 0, self.max_stat_zxid)

    def add(self, severity, message, offset=None):
        self.findings.append({"severity": severity, "message": message, "offset": offset})

    def to_dict(self):
        return {
            "path": self.path, "name": self.name, "type": "snapshot",
            "zxid": hexzxid(self.zxid), "compression": self.compression,
            "size": self.size, "stream_size": self.stream_size,
            "version": self.version, "dbid": self.dbid,
            "sessions": len(self.sessions) if self.sessions is not None else None,
            "acls": self.acl_count, "znodes": self.node_count, "data_bytes": self.data_bytes,
            "max_stat_zxid": hexzxid(self.max_stat_zxid),
            "digest_zxid": hexzxid(self.digest[0]) if self.digest else None,
            "end_zxid": hexzxid(self.end_zxid) if self.zxid is not None else None,
            "last_processed_zxid": hexzxid(self.last_processed_zxid),
            "seals": self.seals, "findings": self.findings, "valid": self.valid,
        }


def _zxid_from_name(name):
    z = data_files.zxid_from_name(name, data_files.SNAPSHOT_PREFIX)
    return z if z >= 0 else None


class _Stream:
    """Buffered reading of the decompressed stream with a running Adler32."""

    def __init__(self, src, chunk=CHUNK):
        self.src = src
        self.chunk = chunk
        self.buf = b""
        self.pos = 0
        self.base = 0            # stream offset of buf[0]
        self.adler = 1
        self.adler_pos = 0       # buf position up to which adler covers
        self.eof = False

    def fill(self, need):
        """Make ``need`` bytes available from pos; False at end of stream."""
        if len(self.buf) - self.pos >= need:
            return True
        if self.pos > self.adler_pos:
            self.adler = zlib.adler32(memoryview(self.buf)[self.adler_pos:self.pos], self.adler)
        self.adler_pos = 0
        rest = self.buf[self.pos:]
        self.base += self.pos
        self.pos = 0
        parts = [rest]
        have = len(rest)
        while have < need and not self.eof:
            more = self.src.read(max(self.chunk, need - have))
            if not more:
                self.eof = True
                break
            parts.append(more)
            have += len(more)
        self.buf = b"".join(parts) if len(parts) > 1 else rest
        return have >= need

    def need(self, n, what):
        if not self.fill(n):
            raise Truncated("the snapshot ends inside the %s" % what, self.base + len(self.buf))

    def offset(self):
        return self.base + self.pos

    def checksum(self):
        """Adler32 of the stream up to pos."""
        if self.pos > self.adler_pos:
            self.adler = zlib.adler32(memoryview(self.buf)[self.adler_pos:self.pos], self.adler)
            self.adler_pos = self.pos
        return self.adler

    def reader(self, n):
        """A jute Reader over the next n bytes (which must be available)."""
        return Reader(self.buf, self.pos, self.pos + n, base=self.base)


def read_snapshot(path, nodes=None, acl_encoder=None, limit=DEFAULT_LIMIT, zk_digest=False,
                  raise_errors=False, depth_first=None):
    """Read and verify one snapshot.

    Without ``nodes`` only verifies (memory stays bounded: the depth-first order lets
    a stack of ancestors stand in for the tree).  With a dict ``nodes``, fills it with
    ``path -> (data, acl, stat)``: the root is ``"/"``, ``data`` bytes or None, ``stat``
    the 60 raw StatPersisted bytes, ``acl`` whatever ``acl_encoder(acl id, acl list)``
    returns for the node's ACL (the list by default).  The ACL id -1 stands for
    world:anyone with all permissions, as in ZooKeeper.

    ``depth_first`` (always without ``nodes``) requires every node's parent to precede
    it in depth-first order, as ZooKeeper writes snapshots; otherwise (the default with
    ``nodes``) the parent must only have been read before, as ZooKeeper requires when
    it loads one.  With ``nodes`` and ``depth_first`` one read gives both
    the verification's findings and the tree.

    ``zk_digest`` also computes ZooKeeper's own tree digest (DigestCalculator: the sum
    of CRC32s over path, data and stat of each node outside /zookeeper/).

    Returns a SnapshotInfo (``sessions`` holds {session id: timeout}).  Problems are
    findings in it; with ``raise_errors`` the first error raises FormatError.
    """
    info = SnapshotInfo(path)
    try:
        with open(path, "rb") as f:
            info.size = os.fstat(f.fileno()).st_size
            src = open_source(f, info.compression)
            st = _Stream(src)
            _read(st, info, nodes, acl_encoder, limit, zk_digest,
                  nodes is None or bool(depth_first))
            info.stream_size = st.offset()
    except MissingLibrary as exc:
        info.unreadable = exc.message
        info.add("error", exc.message)
        if raise_errors:
            raise
    except FormatError as exc:
        if exc.file is None:
            exc.file = path
        info.add("error", exc.message, exc.offset)
        if raise_errors:
            raise
    except OSError as exc:
        info.add("error", "cannot read: %s" % exc)
        if raise_errors:
            raise FormatError("cannot read: %s" % exc, None, path)
    return info


OPEN_ACL_UNSAFE = ((31, "world", "anyone"),)


def _read(st, info, nodes, acl_encoder, limit, zk_digest, depth_first):
    st.need(16, "header")
    magic, info.version, info.dbid = HEADER.unpack_from(st.buf, st.pos)
    if magic != MAGIC:
        raise FormatError("not a snapshot: magic %r, expected %r" % (magic, MAGIC), 0)
    if info.version != VERSION:
        raise FormatError("unsupported snapshot format version %d" % info.version, 4)
    if info.dbid != DBID:
        info.add("warning", "dbid is %d; ZooKeeper writes -1 and ignores it" % info.dbid, 8)
    st.pos += 16

    # Sessions.
    st.need(4, "session count")
    at = st.offset()
    n = INT.unpack_from(st.buf, st.pos)[0]
    st.pos += 4
    if n < 0 or n > _MAX_COUNT:
        raise FormatError("unreasonable session count %d" % n, at)
    sessions = {}
    while n:
        k = min(n, 65536)
        st.need(12 * k, "sessions")
        for sid, timeout in _SESSION.iter_unpack(st.buf[st.pos:st.pos + 12 * k]):
            sessions[sid] = timeout
        st.pos += 12 * k
        n -= k
    info.sessions = sessions

    # ACL cache.
    st.need(4, "ACL count")
    at = st.offset()
    n = INT.unpack_from(st.buf, st.pos)[0]
    st.pos += 4
    if n < 0 or n > _MAX_COUNT:
        raise FormatError("unreasonable ACL cache size %d" % n, at)
    info.acl_count = n
    encode = acl_encoder or (lambda i, acl: acl)
    acls = {-1: encode(-1, OPEN_ACL_UNSAFE)}
    for _x in range(n):
        st.need(12, "ACL cache")
        at = st.offset()
        aid = LONG.unpack_from(st.buf, st.pos)[0]
        cnt = INT.unpack_from(st.buf, st.pos + 8)[0]
        if cnt < 0 or cnt > _MAX_COUNT:
            raise FormatError("ACL %d has %s entries" % (aid, "no list of" if cnt == -1 else "an unreasonable %d" % cnt), at + 8)
        st.pos += 12
        entries = []
        for _x in range(cnt):
            st.need(8, "ACL entry")
            perms = INT.unpack_from(st.buf, st.pos)[0]
            st.pos += 4
            scheme = _ustring(st, limit, "ACL scheme")
            ident = _ustring(st, limit, "ACL id")
            entries.append((perms, scheme, ident))
        acls[aid] = encode(aid, tuple(entries))

    _read_nodes(st, info, nodes, acls, limit, zk_digest, depth_first)
    _read_trailer(st, info)


def _ustring(st, limit, what):
    st.need(4, what)
    at = st.offset()
    n = INT.unpack_from(st.buf, st.pos)[0]
    if n < 0 or n > limit:
        raise FormatError("unreasonable %s length %d" % (what, n), at)
    st.need(4 + n, what)
    raw = st.buf[st.pos + 4:st.pos + 4 + n]
    st.pos += 4 + n
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("%s is not UTF-8" % what, at + 4)


def _read_nodes(st, info, nodes, acls, limit, zk_digest, depth_first):
    """The hot loop: one pass over every node, with the minimum of work per node."""
    store = nodes is not None
    unpack_int = INT.unpack_from
    unpack_tail = _NODE_TAIL.unpack_from
    crc32 = zlib.crc32
    tail_size = _NODE_TAIL_SIZE
    zkd = 0
    count = 0
    data_bytes = 0
    max_zxid = 0
    stack = []
    bad_acl = set()

    st.need(4, "first path")
    plen = unpack_int(st.buf, st.pos)[0]
    buf = st.buf
    pos = st.pos
    blen = len(buf)
    while True:
        # pos is at the path length (already read into plen).
        if plen < 0 or plen > limit:
            st.pos = pos
            raise FormatError("unreasonable path length %d" % plen, st.offset())
        need = 8 + plen
        if pos + need > blen:
            st.pos = pos
            st.need(need, "node path")
            buf, pos, blen = st.buf, st.pos, len(st.buf)
        p = pos + 4
        if plen == 1 and buf[p] == 0x2F:
            pos = p + 1
            break
        raw_path = buf[p:p + plen]
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            st.pos = pos
            raise FormatError("node path is not UTF-8", st.offset() + 4)
        p += plen
        dlen = unpack_int(buf, p)[0]
        p += 4
        if dlen <= 0:
            if dlen == -1:
                data = None
            elif dlen == 0:
                data = b""
            else:
                st.pos = pos
                raise FormatError("unreasonable data length %d for %s" % (dlen, path or "/"),
                                  st.offset() + 4 + plen)
            dlen = 0
        elif dlen > limit:
            st.pos = pos
            raise FormatError("unreasonable data length %d for %s" % (dlen, path), st.offset() + 4 + plen)
        if p + dlen + tail_size > blen:
            rel = p - pos
            st.pos = pos
            st.need(rel + dlen + tail_size, "node %s" % (path or "/"))
            buf, pos, blen = st.buf, st.pos, len(st.buf)
            p = pos + rel
        if dlen:
            data = buf[p:p + dlen]
            p += dlen
            data_bytes += dlen
        acl, mzxid, owner, pzxid, next_plen = unpack_tail(buf, p)
        if mzxid > max_zxid:
            max_zxid = mzxid
        if pzxid > max_zxid:
            max_zxid = pzxid
        # Where the node's parent is: the tree is written depth-first.
        if path:
            if not count:
                st.pos = pos
                raise FormatError("the first node is %s, not the root" % path, st.offset())
            i = path.rfind("/")
            if i < 0:
                st.pos = pos
                raise FormatError("node path %r is not absolute" % path, st.offset() + 4)
            parent = path[:i] or "/"
            if depth_first:
                # Every node on the stack was read (and stored) before.
                while stack and stack[-1] != parent:
                    stack.pop()
                if not stack:
                    st.pos = pos
                    raise FormatError("the parent of %s does not precede it (ZooKeeper writes "
                                      "snapshots depth-first)" % path, st.offset())
                stack.append(path)
            elif parent not in nodes:
                st.pos = pos
                raise FormatError("the parent of %s is not in the snapshot" % path, st.offset())
            key = path
        else:
            if count:
                st.pos = pos
                raise FormatError("a second root node", st.offset())
            key = "/"
            stack.append("/")
        acl_value = acls.get(acl)
        if acl_value is None and acl not in bad_acl:
            bad_acl.add(acl)
            # A fuzzy snapshot writes its ACL cache before the nodes: a setACL applied while
            # the nodes were written can leave a node naming an ACL the cache does not hold.
            # ZooKeeper loads such a snapshot (it ignores the unknown id) and the logged
            # setACL gives the node its ACL; the seals still guard the bytes.
            info.add("warning", "%s refers to ACL %d, which is not in the snapshot's ACL cache "
                     "(a setACL during the fuzzy snapshot; the logs give the node its ACL)"
                     % (key, acl), st.base + p)
        if store:
            nodes[key] = (data, acl_value, buf[p + 8:p + 68])
        if zk_digest and not path.startswith(ZK_SUBTREE):
            c = crc32(raw_path)
            if dlen:
                c = crc32(data, c)
            s = p + 8
            c = crc32(buf[s:s + 16], c)
            c = crc32(buf[s + 52:s + 60], c)
            zkd += crc32(buf[s + 16:s + 52], c)
        count += 1
        plen = next_plen
        pos = p + 68
    st.pos = pos
    info.node_count = count
    info.data_bytes = data_bytes
    info.max_stat_zxid = max_zxid
    if zk_digest:
        info.zk_digest = zkd & 0xFFFFFFFFFFFFFFFF


def _seal(st, info, what):
    """Check one seal: the stream's Adler32 so far, then the string "/"."""
    expect = st.checksum()
    at = st.offset()
    st.need(13, what)
    val = LONG.unpack_from(st.buf, st.pos)[0]
    tail = st.buf[st.pos + 8:st.pos + 13]
    st.pos += 13
    if val != expect:
        raise FormatError("%s: checksum mismatch (stored %d, computed %d)" % (what, val, expect), at)
    if tail != _END_PATH:
        raise FormatError("%s is not followed by the string \"/\"" % what, at + 8)
    info.seals += 1


def _read_trailer(st, info):
    _seal(st, info, "seal after the tree")
    # What follows, if anything: the digest (3.6+) and lastProcessedZxid (3.9), each
    # sealed.  Both are short.
    if st.fill(4096):
        raise FormatError("unexpected data after the snapshot's seal", st.offset())
    left = len(st.buf) - st.pos
    if left == 0:
        return
    if left != 21:
        st.need(12, "digest")
        at = st.offset()
        r = st.reader(left)
        zxid = r.long()
        version = r.int()
        if version < 2:
            text = r.ustring("digest")
            try:
                value = int(text, 16) if text else 0
            except ValueError:
                raise FormatError("digest %r is not hex" % text, at + 12)
        else:
            value = r.long()
        st.pos = r.pos
        _seal(st, info, "seal after the digest")
        info.digest = (zxid, version, value & 0xFFFFFFFFFFFFFFFF)
        left = len(st.buf) - st.pos
        if left == 0:
            return
        if left != 21:
            raise FormatError("%d unexpected bytes after the digest" % left, st.offset())
    st.need(8, "last processed zxid")
    info.last_processed_zxid = LONG.unpack_from(st.buf, st.pos)[0]
    st.pos += 8
    _seal(st, info, "seal after the last processed zxid")
