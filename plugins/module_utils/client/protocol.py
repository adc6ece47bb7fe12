# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper requests that kazoo has no call for, built on kazoo's protocol layer.

* ``CreateContainer`` (opcode 19) and ``CreateTTL`` (opcode 21): create container and TTL
  znodes (the server needs ``extendedTypesEnabled=true`` for TTL znodes).
* ``Multi`` (opcode 14): a write transaction like kazoo's, that may also hold container
  and TTL creates and reads every result type the server sends back.
* ``MultiRead`` (opcode 22, ZooKeeper 3.6+): a batch of getChildren and getData reads in
  one request and one answer.
* ``GetACLRaw``: getACL answering the ACL as the canonical bytes of the tree digest.

Every class follows kazoo's request protocol (``type``, ``serialize()``,
``deserialize(buffer, offset)``), so it can be submitted through a KazooClient
(``call(client, request)``) or through the pipelined reader (zk_pipeline).  The classes
reuse kazoo's serializers; kazoo 2.8 and later are supported and nothing is patched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct
from collections import namedtuple

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client

if zk_client.HAS_KAZOO:
    from kazoo.exceptions import EXCEPTIONS
    from kazoo.protocol import serialization as ser
    from kazoo.protocol.states import ZnodeStat
else:  # pragma: no cover - the modules fail with missing_required_lib() first
    EXCEPTIONS = ser = ZnodeStat = None

# Opcodes (ZooDefs.OpCode).
OP_CREATE = 1
OP_DELETE = 2
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_ERROR = -1

# Create flags (CreateMode).
FLAG_PERSISTENT = 0
FLAG_EPHEMERAL = 1
FLAG_SEQUENTIAL = 2
FLAG_CONTAINER = 4
FLAG_TTL = 5
FLAG_TTL_SEQUENTIAL = 6

_INT = struct.Struct("!i")
_LONG = struct.Struct("!q")
_MULTI_HEADER = struct.Struct("!iBi")
_STAT = struct.Struct("!qqqqiiiqiiq")
_U32 = struct.Struct(">I")
STAT_SIZE = _STAT.size


def _acl_bytes(acl):
    """jute vector<ACL>; ``acl`` holds kazoo ACLs or (perms, scheme, id) tuples."""
    out = [_INT.pack(len(acl))]
    for entry in acl:
        if isinstance(entry, tuple) and len(entry) == 3:
            perms, scheme, ident = entry
        else:
            perms, scheme, ident = entry.perms, entry.id.scheme, entry.id.id
        out.append(_INT.pack(perms))
        out.append(_string(scheme))
        out.append(_string(ident))
    return b"".join(out)


def _string(value):
    """jute ustring: length + UTF-8 (an empty string stays empty, not null)."""
    if value is None:
        return _INT.pack(-1)
    if not isinstance(value, bytes):
        value = value.encode("utf-8")
    return _INT.pack(len(value)) + value


def _buffer(data):
    if data is None:
        return _INT.pack(-1)
    return _INT.pack(len(data)) + data


def _read_stat(buf, offset):
    return ZnodeStat._make(_STAT.unpack_from(buf, offset)), offset + STAT_SIZE


class CreateContainer(namedtuple("CreateContainer", "path data acl")):
    """Create a container znode (answer: the path created)."""
    type = OP_CREATE_CONTAINER
    flags = FLAG_CONTAINER

    def serialize(self):
        return (_string(self.path) + _buffer(self.data) + _acl_bytes(self.acl)
                + _INT.pack(FLAG_CONTAINER))

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = ser.read_string(buf, offset)
        return path


class CreateTTL(namedtuple("CreateTTL", "path data acl ttl sequential")):
    """Create a TTL znode; ``ttl`` in milliseconds (answer: the path created)."""
    type = OP_CREATE_TTL

    @property
    def flags(self):
        return FLAG_TTL_SEQUENTIAL if self.sequential else FLAG_TTL

    def serialize(self):
        return (_string(self.path) + _buffer(self.data) + _acl_bytes(self.acl)
                + _INT.pack(self.flags) + _LONG.pack(int(self.ttl)))

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = ser.read_string(buf, offset)
        return path


class Create(namedtuple("Create", "path data acl flags")):
    """A plain create (persistent/ephemeral, optionally sequential)."""
    type = OP_CREATE

    def serialize(self):
        return (_string(self.path) + _buffer(self.data) + _acl_bytes(self.acl)
                + _INT.pack(self.flags))

    @classmethod
    def deserialize(cls, buf, offset):
        return ser.read_string(buf, offset)[0]


class Delete(namedtuple("Delete", "path version")):
    type = OP_DELETE

    def serialize(self):
        return _string(self.path) + _INT.pack(self.version)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


class SetData(namedtuple("SetData", "path data version")):
    type = OP_SET_DATA

    def serialize(self):
        return _string(self.path) + _buffer(self.data) + _INT.pack(self.version)

    @classmethod
    def deserialize(cls, buf, offset):
        return _read_stat(buf, offset)[0]


class SetACL(namedtuple("SetACL", "path acl version")):
    """setACL (not allowed inside a multi); ``acl`` as (perms, scheme, id) tuples."""
    type = OP_SET_ACL

    def serialize(self):
        return _string(self.path) + _acl_bytes(self.acl) + _INT.pack(self.version)

    @classmethod
    def deserialize(cls, buf, offset):
        return _read_stat(buf, offset)[0]


class Check(namedtuple("Check", "path version")):
    type = OP_CHECK

    def serialize(self):
        return _string(self.path) + _INT.pack(self.version)


class GetData(namedtuple("GetData", "path")):
    """getData without a watch; answer (data, ZnodeStat)."""
    type = OP_GET_DATA

    def serialize(self):
        return _string(self.path) + b"\x00"

    @classmethod
    def deserialize(cls, buf, offset):
        data, offset = ser.read_buffer(buf, offset)
        return data, _read_stat(buf, offset)[0]


class GetChildren(namedtuple("GetChildren", "path")):
    """getChildren without a watch; answer: the list of child names."""
    type = OP_GET_CHILDREN

    def serialize(self):
        return _string(self.path) + b"\x00"

    @classmethod
    def deserialize(cls, buf, offset):
        return read_children(buf, offset)[0]


class Sync(namedtuple("Sync", "path")):
    type = OP_SYNC

    def serialize(self):
        return _string(self.path)

    @classmethod
    def deserialize(cls, buf, offset):
        return ser.read_string(buf, offset)[0]


def read_children(buf, offset):
    count = _INT.unpack_from(buf, offset)[0]
    offset += 4
    children = []
    unpack = _INT.unpack_from
    for _i in range(max(count, 0)):
        n = unpack(buf, offset)[0]
        offset += 4
        children.append(bytes(buf[offset:offset + n]).decode("utf-8"))
        offset += n
    return children, offset


def read_acl_vector(buf, offset):
    """jute vector<ACL> -> (tuple of (perms, scheme, id) sorted canonically, new offset)."""
    count = _INT.unpack_from(buf, offset)[0]
    offset += 4
    entries = []
    for _i in range(max(count, 0)):
        perms = _INT.unpack_from(buf, offset)[0]
        scheme, offset = ser.read_string(buf, offset + 4)
        ident, offset = ser.read_string(buf, offset)
        entries.append((perms, scheme or "", ident or ""))
    return tuple(entries), offset


def acl_vector_end(buf, offset):
    """Offset just past a jute vector<ACL> starting at ``offset`` (nothing decoded)."""
    count = _INT.unpack_from(buf, offset)[0]
    offset += 4
    unpack = _INT.unpack_from
    for _i in range(max(count, 0)):
        offset += 4
        n = unpack(buf, offset)[0]
        offset += 4 + max(n, 0)
        n = unpack(buf, offset)[0]
        offset += 4 + max(n, 0)
    return offset


class GetACLRaw(namedtuple("GetACLRaw", "path")):
    """getACL answering (raw jute ACL vector bytes, raw stat bytes).

    The raw bytes let a reader cache the decoded ACL: most znodes share a few ACLs.
    """
    type = OP_GET_ACL

    def serialize(self):
        return _string(self.path)

    @classmethod
    def deserialize(cls, buf, offset):
        end = acl_vector_end(buf, offset)
        return bytes(buf[offset:end]), bytes(buf[end:end + STAT_SIZE])


def _multi_ops_bytes(operations):
    parts = []
    for op in operations:
        parts.append(_MULTI_HEADER.pack(op.type, 0, -1))
        parts.append(bytes(op.serialize()))
    parts.append(_MULTI_HEADER.pack(-1, 1, -1))
    return b"".join(parts)


class UnknownZkError(Exception):
    """An error code this kazoo version does not know."""


def error_for(code):
    """The kazoo exception instance for a ZooKeeper error code."""
    try:
        return EXCEPTIONS[code]()
    except RuntimeError:   # kazoo raises for codes it does not know
        return UnknownZkError("ZooKeeper error code %d" % code)


_error = error_for


class Multi(namedtuple("Multi", "operations")):
    """A write transaction: Create, CreateContainer, CreateTTL, Delete, SetData, Check.

    The answer is one entry per operation: the created path, True (delete, check), a
    ZnodeStat (setData) or, when the transaction failed, a kazoo exception instance for
    every operation (the failing one with its own error, the others
    RuntimeInconsistency).  Nothing is applied unless every operation succeeds.
    """
    type = OP_MULTI

    def serialize(self):
        return _multi_ops_bytes(self.operations)

    @classmethod
    def deserialize(cls, buf, offset):
        results = []
        while True:
            op_type, done, err = _MULTI_HEADER.unpack_from(buf, offset)
            offset += _MULTI_HEADER.size
            if done:
                return results
            if op_type == OP_CREATE:
                path, offset = ser.read_string(buf, offset)
                results.append(path)
            elif op_type in (OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
                path, offset = ser.read_string(buf, offset)
                offset += STAT_SIZE
                results.append(path)
            elif op_type in (OP_DELETE, OP_CHECK):
                results.append(True)
            elif op_type == OP_SET_DATA:
                stat, offset = _read_stat(buf, offset)
                results.append(stat)
            elif op_type == OP_ERROR:
                code = _INT.unpack_from(buf, offset)[0]
                offset += 4
                results.append(_error(code))
            else:
                raise ValueError("unexpected result type %d in a multi answer" % op_type)


class MultiRead(namedtuple("MultiRead", "operations")):
    """A batch of GetChildren and GetData reads (ZooKeeper 3.6+).

    The answer holds, per operation, the children list, (data, ZnodeStat), or a kazoo
    exception instance for that operation alone (e.g. NoNodeError): unlike a write
    multi, one failed read does not fail the others.
    """
    type = OP_MULTI_READ

    def serialize(self):
        for op in self.operations:
            if op.type not in (OP_GET_CHILDREN, OP_GET_DATA):
                raise ValueError("a multiRead holds only getChildren and getData, not %r"
                                 % (op,))
        return _multi_ops_bytes(self.operations)

    @classmethod
    def deserialize(cls, buf, offset):
        return [item[1] for item in cls.iter_results(buf, offset)]

    @staticmethod
    def iter_results(buf, offset, raw_stat=False):
        """Yield (op type, value) per result; with ``raw_stat`` the stat stays bytes."""
        while True:
            op_type, done, err = _MULTI_HEADER.unpack_from(buf, offset)
            offset += _MULTI_HEADER.size
            if done:
                return
            if op_type == OP_GET_CHILDREN:
                children, offset = read_children(buf, offset)
                yield op_type, children
            elif op_type == OP_GET_DATA:
                data, offset = ser.read_buffer(buf, offset)
                if raw_stat:
                    stat = bytes(buf[offset:offset + STAT_SIZE])
                    offset += STAT_SIZE
                else:
                    stat, offset = _read_stat(buf, offset)
                yield op_type, (data, stat)
            elif op_type == OP_ERROR:
                code = _INT.unpack_from(buf, offset)[0]
                offset += 4
                yield op_type, _error(code)
            else:
                raise ValueError("unexpected result type %d in a multiRead answer" % op_type)


def call(client, request, timeout=None):
    """Submit ``request`` through a started KazooClient and wait for the answer.

    Uses the client's own request queue (``KazooClient._call``), as its public
    methods do; the client's chroot is not applied: give full paths.
    """
    return call_async(client, request).get(timeout=timeout)


def call_async(client, request):
    """Like call() but returns kazoo's async result at once."""
    result = client.handler.async_result()
    client._call(request, result)
    return result
