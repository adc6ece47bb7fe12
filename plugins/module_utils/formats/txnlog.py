# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and verifying ZooKeeper transaction logs (``log.<hex zxid>``, magic ``ZKLG``).

Layout (``persistence/FileTxnLog.java``, ``persistence/Util.java``): a 16-byte header
(magic ``ZKLG``, version 2, dbid), then records of

    checksum  long   Adler32 of the serialized transaction (the bytes below only)
    length    int
    txn       length bytes: TxnHeader, record, optional TxnDigest
    EOR       byte   0x42 ('B')

Files are preallocated with zeros in 64 MiB steps, so a zero length marks the end.

What ZooKeeper does when it reads a log, and so what this reader reports:

* end of file, a zero length, a record cut short by the end of the file, or a record
  whose end byte is not 'B': ZooKeeper silently stops reading there.  A stop anywhere
  but at a clean end (end of file, or zero length followed only by zeros) is reported
  as a warning with its offset: it is what a copy of a log being written looks like,
  and it is also what some corruption looks like.
* a length below -1 or above the jute buffer limit, a length of -1, a checksum
  mismatch, or a transaction it cannot decode: ZooKeeper refuses to start.  These are
  errors.

zxid continuity: within an epoch zxids go up by one; a new epoch starts at counter 1.
Anything else is a gap (LogChopper's "intra-epoch" and "inter-epoch" gaps).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import struct
import zlib

from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import counter as counter_of
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import epoch as epoch_of
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, FormatError)
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.data_files import zxid_from_name
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.txn import (
    decode_txn, peek_header)
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

MAGIC = b"ZKLG"
VERSION = 2
HEADER = struct.Struct(">4siq")     # magic, version, dbid
HEADER_SIZE = HEADER.size           # 16
RECORD_HEAD = struct.Struct(">qi")  # checksum, length
RECORD_HEAD_SIZE = RECORD_HEAD.size  # 12
EOR = 0x42

CHUNK = 1 << 22
_SEEK_DATA = getattr(os, "SEEK_DATA", None)
_ZEROS = bytes(CHUNK)

# How a log ends.
END_EOF = "eof"            # the file ends right after the last record
END_PADDING = "padding"    # a zero length, then only zeros
END_TORN = "torn"          # a partial last record (ZooKeeper stops there)
END_GARBAGE = "garbage"    # non-zero bytes after where ZooKeeper stops reading
END_CORRUPT = "corrupt"    # something that makes ZooKeeper refuse the log


def follows(prev, zxid):
    """True when ``zxid`` may come right after ``prev`` with nothing missing."""
    if zxid == prev + 1:
        return True
    return epoch_of(zxid) > epoch_of(prev) and counter_of(zxid) == 1


def finding(severity, message, offset=None):
    return {"severity": severity, "message": message, "offset": offset}


class LogReader:
    """Iterate over the transactions of one log file, in file order.

    Memory stays bounded (a few MiB plus the largest record).  Each yielded ``Txn``
    has ``offset`` (of its record) set.  After the iteration, the attributes tell how
    the log ended: ``end_offset`` (just after the last whole record), ``end`` (one of
    the END_* values), ``findings`` (dicts with severity, message, offset).  With
    ``stop_after`` set, iteration stops after the last record whose zxid is not above
    it and ``end`` stays None.
    """

    def __init__(self, path, limit=DEFAULT_LIMIT, decode=True, stop_after=None, chunk=CHUNK):
        self.path = path
        self.limit = limit
        self.decode = decode
        self.stop_after = stop_after
        self.chunk = chunk
        self.version = None
        self.dbid = None
        self.size = None
        self.count = 0
        self.end_offset = None
        self.end = None
        self.findings = []

    def _add(self, severity, message, offset=None):
        self.findings.append(finding(severity, message, offset))

    @property
    def errors(self):
        return [f for f in self.findings if f["severity"] == "error"]

    def _rest_is_zero(self, f, buf, pos):
        """True when buf[pos:] and the rest of the file hold only zeros; else the
        offset of the first non-zero byte is stored in self._nonzero_at."""
        tail = buf[pos:]
        base = self._base + pos
        while True:
            if tail and tail != _ZEROS[:len(tail)]:
                stripped = tail.lstrip(b"\0")
                self._nonzero_at = base + len(tail) - len(stripped)
                return False
            base += len(tail)
            # Preallocated logs are usually sparse: skip the holes.
            data = base
            if _SEEK_DATA is not None:
                try:
                    data = os.lseek(f.fileno(), base, _SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:
                        return True      # nothing but holes after base
                    data = base
            base = data
            f.seek(base)
            tail = f.read(self.chunk)
            if not tail:
                return True

    def __iter__(self):
        path = self.path
        with open(path, "rb") as f:
            self.size = os.fstat(f.fileno()).st_size
            head = f.read(HEADER_SIZE)
            if not head:
                self.end_offset = 0
                self.end = END_EOF
                self._add("warning", "empty log file (ZooKeeper deletes an empty newest log and "
                          "fails on an empty older one)", 0)
                return
            if len(head) < HEADER_SIZE:
                self.end_offset = 0
                self.end = END_CORRUPT
                self._add("error", "log header cut short: %d of %d bytes" % (len(head), HEADER_SIZE), 0)
                return
            magic, self.version, self.dbid = HEADER.unpack(head)
            if magic != MAGIC:
                self.end_offset = 0
                self.end = END_CORRUPT
                self._add("error", "not a transaction log: magic %r, expected %r" % (magic, MAGIC), 0)
                return
            if self.version != VERSION:
                self.end_offset = 0
                self.end = END_CORRUPT
                self._add("error", "unsupported log format version %d" % self.version, 4)
                return
            if self.dbid != 0:
                self._add("warning", "dbid is %d; ZooKeeper writes 0 and ignores it" % self.dbid, 8)
            self.end_offset = HEADER_SIZE
            yield from self._records(f)

    def _records(self, f):
        limit = self.limit
        decode = self.decode
        stop_after = self.stop_after
        chunk = self.chunk
        unpack_head = RECORD_HEAD.unpack_from
        adler32 = zlib.adler32
        buf = f.read(chunk)
        self._base = HEADER_SIZE     # file offset of buf[0]
        pos = 0
        blen = len(buf)
        eof = blen < chunk
        while True:
            if blen - pos < RECORD_HEAD_SIZE + 1 and not eof:
                buf, pos, blen, eof = self._refill(f, buf, pos, RECORD_HEAD_SIZE + 1)
            off = self._base + pos
            if blen - pos < RECORD_HEAD_SIZE:
                if pos == blen:
                    self.end = END_EOF
                elif buf[pos:] == _ZEROS[:blen - pos]:
                    self.end = END_PADDING
                else:
                    self.end = END_TORN
                    self._add("warning", "the last record is cut short after %d bytes; ZooKeeper "
                              "stops reading here (normal for a copy of a log being written)"
                              % (blen - pos), off)
                return
            crc, length = unpack_head(buf, pos)
            if length == 0:
                if self._rest_is_zero(f, buf, pos):
                    self.end = END_PADDING
                else:
                    self.end = END_GARBAGE
                    self._add("warning", "non-zero bytes at offset %d after the end marker at offset "
                              "%d; ZooKeeper ignores them (expected only in a copy of a log being "
                              "written)" % (self._nonzero_at, off), off)
                return
            if length < 0 or length > limit:
                self.end = END_CORRUPT
                self._add("error", "unreasonable record length %d (limit %d); ZooKeeper fails to read "
                          "this log" % (length, limit), off + 8)
                return
            need = RECORD_HEAD_SIZE + length + 1
            if blen - pos < need and not eof:
                buf, pos, blen, eof = self._refill(f, buf, pos, need)
                off = self._base + pos
            if blen - pos < need or buf[pos + need - 1] != EOR:
                got = min(blen - pos, need)
                if got == need:
                    what = "its end byte is 0x%02x, not 'B'" % buf[pos + need - 1]
                else:
                    what = "the file ends after %d of its %d bytes" % (got, need)
                rest_zero = self._rest_is_zero(f, buf, pos + got)
                self.end = END_TORN if rest_zero else END_GARBAGE
                msg = "record at offset %d is incomplete (%s); ZooKeeper stops reading here" % (off, what)
                if rest_zero:
                    msg += " (normal for a copy of a log being written)"
                else:
                    msg += "; non-zero bytes follow at offset %d" % self._nonzero_at
                self._add("warning", msg, off)
                return
            start = pos + RECORD_HEAD_SIZE
            raw = buf[start:start + length]
            if adler32(raw) != crc:
                self.end = END_CORRUPT
                zx = peek_header(raw)[2] if length >= 28 else None
                self._add("error", "checksum mismatch in the record at offset %d%s; ZooKeeper "
                          "refuses to load this log" % (off, " (zxid %s)" % hexzxid(zx) if zx is not None else ""),
                          off)
                return
            if decode:
                try:
                    txn = decode_txn(raw, base=off + RECORD_HEAD_SIZE, limit=limit)
                except FormatError as exc:
                    self.end = END_CORRUPT
                    self._add("error", "undecodable transaction in the record at offset %d: %s"
                              % (off, exc), exc.offset)
                    return
                zxid = txn.zxid
                txn.offset = off
            else:
                if length < 28:
                    self.end = END_CORRUPT
                    self._add("error", "record at offset %d is shorter than a transaction header"
                              % off, off)
                    return
                txn = raw
                zxid = peek_header(raw)[2]
            if stop_after is not None and zxid > stop_after:
                return
            pos += need
            self.end_offset = self._base + pos
            self.count += 1
            yield txn
            if stop_after is not None and zxid >= stop_after:
                return

    def _refill(self, f, buf, pos, need):
        """Drop consumed bytes and read until ``need`` bytes are available (or EOF)."""
        rest = buf[pos:]
        self._base += pos
        parts = [rest]
        have = len(rest)
        eof = False
        while have < need or have < self.chunk // 2:
            more = f.read(max(self.chunk, need - have))
            if not more:
                eof = True
                break
            parts.append(more)
            have += len(more)
        buf = b"".join(parts)
        return buf, 0, len(buf), eof


def scan_log(path, limit=DEFAULT_LIMIT, keep_txns=False, on_txn=None):
    """Verify one log: every record's checksum, end byte and decoding, the end of the
    log, and zxid continuity inside it.  Returns a dict (JSON-friendly except for
    ``txns`` when ``keep_txns``).  ``on_txn(txn)`` sees every transaction as it is read
    (a replay can then apply the log while it is verified)."""
    reader = LogReader(path, limit=limit)
    first = last = first_time = last_time = None
    runs = []          # [start, end]: every zxid from start to end, within one epoch
    gaps = []
    txns = [] if keep_txns else None
    prev = None
    for txn in reader:
        z = txn.zxid
        if prev is None:
            first = z
            first_time = txn.time
            runs.append([z, z])
        elif z == prev + 1:
            runs[-1][1] = z
        elif follows(prev, z):
            runs.append([z, z])      # a new epoch: no gap, but a new run
        else:
            if z <= prev:
                reader._add("warning", "zxid %s follows %s: zxids go backwards" % (hexzxid(z), hexzxid(prev)),
                            txn.offset)
            else:
                kind = "intra-epoch" if epoch_of(z) == epoch_of(prev) else "inter-epoch"
                gaps.append({"after": hexzxid(prev), "before": hexzxid(z), "kind": kind,
                             "offset": txn.offset})
            runs.append([z, z])
        prev = last = z
        last_time = txn.time
        if txns is not None:
            txns.append(txn)
        if on_txn is not None:
            on_txn(txn)
    name = os.path.basename(path)
    name_zxid = zxid_from_name(name, "log")
    if first is not None and name_zxid != first:
        reader._add("warning", "first zxid %s differs from the file name's %s"
                    % (hexzxid(first), hexzxid(name_zxid)), HEADER_SIZE)
    out = {
        "path": path,
        "name": name,
        "type": "log",
        "size": reader.size,
        "zxid": hexzxid(name_zxid) if name_zxid >= 0 else None,
        "version": reader.version,
        "dbid": reader.dbid,
        "records": reader.count,
        "first_zxid": first,
        "last_zxid": last,
        "first_time": first_time,
        "last_time": last_time,
        "end_offset": reader.end_offset,
        "end": reader.end,
        "runs": runs,
        "gaps": gaps,
        "findings": reader.findings,
        "valid": not reader.errors,
    }
    if txns is not None:
        out["txns"] = txns
    return out


def cut_log(path, dst=None, zxid=None, limit=DEFAULT_LIMIT, allow_errors=False):
    """Cut a log after its last whole, valid record (or after the last record whose
    zxid is not above ``zxid``), keeping the header.

    The result ends right after a record, as ZooKeeper's own ``FileTxnLog.truncate``
    leaves a log; ZooKeeper reads the end of file as the end of the log and never
    appends to an old log (it starts a new file).  With ``dst`` the cut copy is
    written there (created anew); without, the file is truncated in place.
    A damaged record (checksum, length, decoding) before the cut point raises
    ``FormatError`` unless ``allow_errors``: cutting there would drop every later
    transaction.
    Returns a dict: records kept, last zxid kept, bytes kept, bytes dropped, how the
    original ended and its findings.
    """
    reader = LogReader(path, limit=limit, decode=False, stop_after=zxid)
    last = None
    for raw in reader:
        last = peek_header(raw)[2]
    if reader.end_offset is None or reader.end_offset < HEADER_SIZE:
        why = reader.errors[0]["message"] if reader.errors else "no log header"
        raise FormatError("cannot cut: %s" % why, 0, path)
    if reader.errors and not allow_errors:
        err = reader.errors[0]
        raise FormatError("refusing to cut at offset %d, before a damaged record: %s"
                          % (reader.end_offset, err["message"]), err["offset"], path)
    keep = reader.end_offset
    size = reader.size
    if dst is None:
        if keep < size:
            with open(path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
    else:
        _copy_prefix(path, dst, keep)
    return {"path": path, "dst": dst, "records": reader.count, "last_zxid": last,
            "kept_bytes": keep, "dropped_bytes": size - keep, "end": reader.end,
            "findings": reader.findings}


def _copy_prefix(src, dst, n, chunk=CHUNK):
    tmp = dst + ".tmp"
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        left = n
        while left > 0:
            b = fi.read(min(chunk, left))
            if not b:
                raise FormatError("%s shrank while being copied" % src, n - left, src)
            fo.write(b)
            left -= len(b)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, dst)
