# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jute, ZooKeeper's binary record encoding: the primitives every format reader shares.

Everything is big-endian.  ``int`` is 4 bytes, ``long`` 8, ``boolean`` one byte, a
``buffer`` is an int length (-1 for null) followed by the bytes, a ``ustring`` the same
with UTF-8 text, a ``vector`` an int count (-1 for null) followed by its elements.

ZooKeeper refuses buffers and strings longer than ``jute.maxbuffer`` plus an extra
allowance (``zookeeper.jute.maxbuffer.extrasize``, by default ``jute.maxbuffer`` again,
never less than 1024); ``buffer_limit()`` computes that bound.

Hot loops use the ``struct.Struct`` objects below directly with ``unpack_from``; the
``Reader`` class serves the less frequent records (transaction bodies).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct


INT = struct.Struct(">i")
LONG = struct.Struct(">q")

# jute.maxbuffer's default (0xfffff) and the bound a reader applies by default.
DEFAULT_MAXBUFFER = 0xFFFFF


def buffer_limit(maxbuffer=DEFAULT_MAXBUFFER, extrasize=None):
    """Longest buffer or string a ZooKeeper server reads with these settings."""
    extra = maxbuffer if extrasize is None else extrasize
    if extra < 1024:
        extra = 1024
    return min(maxbuffer + extra, 0x7FFFFFFF)


DEFAULT_LIMIT = buffer_limit()


class FormatError(Exception):
    """Data that is not what ZooKeeper writes.  ``offset`` is a byte offset or None."""

    def __init__(self, message, offset=None, file=None):
        Exception.__init__(self, message)
        self.message = message
        self.offset = offset
        self.file = file

    def __str__(self):
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.offset is not None:
            parts.append("offset %d" % self.offset)
        if parts:
            return "%s: %s" % (", ".join(parts), self.message)
        return self.message


class Truncated(FormatError):
    """The data ended inside a record (Java's EOFException)."""


class Reader:
    """Sequential reader over ``bytes``; offsets in errors are ``base`` + position."""

    __slots__ = ("buf", "pos", "end", "base", "limit")

    def __init__(self, buf, pos=0, end=None, base=0, limit=DEFAULT_LIMIT):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end
        self.base = base
        self.limit = limit

    def remaining(self):
        return self.end - self.pos

    def _need(self, n, what):
        if self.pos + n > self.end:
            raise Truncated("%s needs %d bytes, %d left" % (what, n, self.end - self.pos),
                            self.base + self.pos)

    def int(self, what="int"):
        self._need(4, what)
        v = INT.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def long(self, what="long"):
        self._need(8, what)
        v = LONG.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return v

    def bool(self, what="boolean"):
        self._need(1, what)
        v = self.buf[self.pos]
        self.pos += 1
        return v != 0

    def _length(self, what):
        at = self.pos
        n = self.int(what + " length")
        if n < -1 or n > self.limit:
            raise FormatError("unreasonable %s length %d" % (what, n), self.base + at)
        return n

    def buffer(self, what="buffer"):
        """bytes, or None for a null buffer."""
        n = self._length(what)
        if n == -1:
            return None
        self._need(n, what)
        v = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return v

    def buffer_span(self, what="buffer"):
        """Skip a buffer; return (position of its bytes, length), the length -1 when null."""
        n = self._length(what)
        at = self.pos
        if n > 0:
            self._need(n, what)
            self.pos += n
        return at, n

    def ustring(self, what="string"):
        """str, or None for a null string."""
        at = self.pos
        raw = self.buffer(what)
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("%s is not UTF-8" % what, self.base + at)

    def vector_count(self, what="vector"):
        """Element count, or -1 for a null vector."""
        at = self.pos
        n = self.int(what + " count")
        if n < -1 or n > self.remaining():
            raise FormatError("unreasonable %s count %d" % (what, n), self.base + at)
        return n

    def acl_list(self, what="acl"):
        """A vector<ACL> as a tuple of (perms, scheme, id); None when null."""
        n = self.vector_count(what)
        if n == -1:
            return None
        out = []
        for _x in range(n):
            perms = self.int(what + " perms")
            scheme = self.ustring(what + " scheme")
            ident = self.ustring(what + " id")
            out.append((perms, scheme, ident))
        return tuple(out)

    def string_list(self, what="strings"):
        n = self.vector_count(what)
        if n == -1:
            return None
        return [self.ustring(what) for _x in range(n)]


# --- writing (log surgery, test fixtures) ------------------------------------------

def pack_int(v):
    return INT.pack(v)


def pack_long(v):
    return LONG.pack(v)


def pack_bool(v):
    return b"\x01" if v else b"\x00"


def pack_buffer(v):
    if v is None:
        return INT.pack(-1)
    return INT.pack(len(v)) + bytes(v)


def pack_ustring(v):
    if v is None:
        return INT.pack(-1)
    return pack_buffer(v.encode("utf-8"))


def pack_acl_list(acl):
    if acl is None:
        return INT.pack(-1)
    parts = [INT.pack(len(acl))]
    for perms, scheme, ident in acl:
        parts.append(INT.pack(perms) + pack_ustring(scheme) + pack_ustring(ident))
    return b"".join(parts)


def pack_string_list(items):
    if items is None:
        return INT.pack(-1)
    return INT.pack(len(items)) + b"".join(pack_ustring(s) for s in items)
