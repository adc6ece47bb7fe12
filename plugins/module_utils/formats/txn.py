# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decoding of the transactions ZooKeeper 3.5 to 3.9 writes to its transaction logs.

A serialized transaction is a ``TxnHeader`` (clientId long, cxid int, zxid long, time
long, type int), then the record of its type, then, since 3.6, an optional
``TxnDigest`` (version int, treeDigest long): the digest of the whole tree after the
transaction.  Types and layouts follow ``zookeeper.jute`` and
``server/util/SerializeUtils.deserializeTxn``:

=================  ====  =====================================================
create / create2   1/15  CreateTxn: path, data, acl, ephemeral, parentCVersion
createContainer    19    CreateContainerTxn: path, data, acl, parentCVersion
createTtl          21    CreateTTLTxn: path, data, acl, parentCVersion, ttl
delete             2     DeleteTxn: path (deleteContainer 20 the same)
setData            5     SetDataTxn: path, data, version (reconfig 16 the same,
                         on /zookeeper/config)
setACL             7     SetACLTxn: path, acl, version
check              13    CheckVersionTxn: path, version (inside multi only)
multi              14    MultiTxn: vector of (type, buffer) sub-transactions
createSession      -10   CreateSessionTxn: timeOut
closeSession       -11   CloseSessionTxn: paths2Delete (absent before 3.6)
error              -1    ErrorTxn: err
=================  ====  =====================================================

Anything else raises ``FormatError`` naming the type and the offset.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    DEFAULT_LIMIT, INT, FormatError, Reader)
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

CREATE = 1
DELETE = 2
SET_DATA = 5
SET_ACL = 7
CHECK = 13
MULTI = 14
CREATE2 = 15
RECONFIG = 16
CREATE_CONTAINER = 19
DELETE_CONTAINER = 20
CREATE_TTL = 21
CREATE_SESSION = -10
CLOSE_SESSION = -11
ERROR = -1

# Request.op2String spellings, as TxnLogToolkit prints them.
OP_NAMES = {
    CREATE: "create", DELETE: "delete", SET_DATA: "setData", SET_ACL: "setACL",
    CHECK: "check", MULTI: "multi", CREATE2: "create2", RECONFIG: "reconfig",
    CREATE_CONTAINER: "createContainer", DELETE_CONTAINER: "deleteContainer",
    CREATE_TTL: "createTtl", CREATE_SESSION: "createSession",
    CLOSE_SESSION: "closeSession", ERROR: "error",
}

HEADER = struct.Struct(">qiqqi")   # clientId, cxid, zxid, time, type
HEADER_SIZE = HEADER.size           # 28
DIGEST = struct.Struct(">iq")       # version, treeDigest
DIGEST_SIZE = DIGEST.size           # 12


def op_name(op):
    return OP_NAMES.get(op, "unknown %d" % op)


class Create:
    """create, create2, createContainer, createTtl.  ``ttl`` is None unless TTL."""
    __slots__ = ("path", "data", "acl", "ephemeral", "parent_cversion", "container", "ttl")

    def __init__(self, path, data, acl, ephemeral, parent_cversion, container=False, ttl=None):
        self.path = path
        self.data = data
        self.acl = acl
        self.ephemeral = ephemeral
        self.parent_cversion = parent_cversion
        self.container = container
        self.ttl = ttl


class Delete:
    __slots__ = ("path",)

    def __init__(self, path):
        self.path = path


class SetData:
    __slots__ = ("path", "data", "version")

    def __init__(self, path, data, version):
        self.path = path
        self.data = data
        self.version = version


class SetACL:
    __slots__ = ("path", "acl", "version")

    def __init__(self, path, acl, version):
        self.path = path
        self.acl = acl
        self.version = version


class Check:
    __slots__ = ("path", "version")

    def __init__(self, path, version):
        self.path = path
        self.version = version


class CreateSession:
    __slots__ = ("timeout",)

    def __init__(self, timeout):
        self.timeout = timeout


class CloseSession:
    """``paths`` is None when the log predates CloseSessionTxn (3.5)."""
    __slots__ = ("paths",)

    def __init__(self, paths):
        self.paths = paths


class Error:
    __slots__ = ("err",)

    def __init__(self, err):
        self.err = err


class Multi:
    """``ops`` is a list of (type, record); a failed multi holds only Error records."""
    __slots__ = ("ops",)

    def __init__(self, ops):
        self.ops = ops


class Txn:
    """One logged transaction.  ``digest`` is (version, tree digest) or None."""
    __slots__ = ("client_id", "cxid", "zxid", "time", "type", "record", "digest", "offset")

    def __init__(self, client_id, cxid, zxid, time, type, record, digest=None, offset=None):
        self.client_id = client_id
        self.cxid = cxid
        self.zxid = zxid
        self.time = time
        self.type = type
        self.record = record
        self.digest = digest
        self.offset = offset

    @property
    def op(self):
        return op_name(self.type)

    def __repr__(self):
        return "<Txn %s %s>" % (hexzxid(self.zxid), self.op)


def _path(r, what="path"):
    at = r.pos
    p = r.ustring(what)
    if p is None or not p.startswith("/"):
        raise FormatError("%s %r is not an absolute znode path" % (what, p), r.base + at)
    return p


def _create(r):
    rec = _create_fast(r)
    if rec is None:
        rec = Create(_path(r), r.buffer("data"), r.acl_list(), r.bool("ephemeral"),
                     r.int("parentCVersion"))
    return rec


_ACL_ENTRY = struct.Struct(">ii")       # perms, scheme length
_ACLS = {}                              # raw vector<ACL> -> decoded tuple
_ACLS_MAX = 4096


def _create_fast(r):
    """The CreateTxn at ``r`` when it is an ordinary one (absolute UTF-8 path, lengths in
    bounds, a non-null ACL list of UTF-8 entries), decoded with fewer steps; None (and
    ``r`` untouched) for anything else, which the careful decoder then reads and
    reports.  The result is the careful decoder's, field for field."""
    got = _create_at(r.buf, r.pos, r.end, r.limit)
    if got is None:
        return None
    r.pos = got[1]
    return got[0]


def _create_at(buf, p, end, limit):
    """_create_fast over ``buf[p:end]``: (Create, position after it) or None."""
    unpack = INT.unpack_from
    if p + 4 > end:
        return None
    n = unpack(buf, p)[0]
    p += 4
    if n < 1 or n > limit or p + n > end or buf[p] != 0x2F:      # '/'
        return None
    try:
        path = bytes(buf[p:p + n]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    p += n
    if p + 4 > end:
        return None
    n = unpack(buf, p)[0]
    p += 4
    if n == -1:
        data = None
    elif 0 <= n <= limit and p + n <= end:
        data = bytes(buf[p:p + n])
        p += n
    else:
        return None
    acl_at = p
    if p + 4 > end:
        return None
    count = unpack(buf, p)[0]
    p += 4
    if count < 0 or count > end - p:
        return None
    for _x in range(count):
        if p + 8 > end:
            return None
        n = _ACL_ENTRY.unpack_from(buf, p)[1]
        p += 8
        if n < 0 or n > limit or p + n + 4 > end:
            return None
        p += n
        n = unpack(buf, p)[0]
        p += 4
        if n < 0 or n > limit or p + n > end:
            return None
        p += n
    if p + 5 > end:
        return None
    raw_acl = bytes(buf[acl_at:p])
    acl = _ACLS.get(raw_acl)
    if acl is None:
        try:
            acl = Reader(buf, acl_at, p, limit=limit).acl_list()
        except FormatError:
            return None
        if len(_ACLS) >= _ACLS_MAX:
            _ACLS.clear()
        _ACLS[raw_acl] = acl
    return Create(path, data, acl, buf[p] != 0, unpack(buf, p + 1)[0]), p + 5


def _create_v0(r):
    # CreateTxnV0 (3.3 and older): no parentCVersion; -1 lets the tree pick one.
    return Create(_path(r), r.buffer("data"), r.acl_list(), r.bool("ephemeral"), -1)


def _create_container(r):
    return Create(_path(r), r.buffer("data"), r.acl_list(), False, r.int("parentCVersion"),
                  container=True)


def _create_ttl(r):
    path, data, acl, pcv = _path(r), r.buffer("data"), r.acl_list(), r.int("parentCVersion")
    return Create(path, data, acl, False, pcv, ttl=r.long("ttl"))


def _delete(r):
    return Delete(_path(r))


def _set_data(r):
    return SetData(_path(r), r.buffer("data"), r.int("version"))


def _set_acl(r):
    return SetACL(_path(r), r.acl_list(), r.int("version"))


def _check(r):
    return Check(_path(r), r.int("version"))


def _error(r):
    return Error(r.int("err"))


def _create_session(r):
    return CreateSession(r.int("timeOut"))


def _close_session(r):
    n = r.vector_count("paths2Delete")
    paths = None if n == -1 else [_path(r, "paths2Delete") for _x in range(n)]
    return CloseSession(paths)


_SUB_HEAD = struct.Struct(">ii")        # sub-transaction type, length of its bytes


def _multi(r):
    n = r.vector_count("txns")
    if n == -1:
        raise FormatError("multi without sub-transactions", r.base + r.pos - 4)
    ops = []
    buf, end, limit = r.buf, r.end, r.limit
    for _x in range(n):
        at = r.pos
        # An ordinary create that fills its sub-transaction exactly: read in one step;
        # anything else, or anything wrong, goes the careful way below.
        if at + 8 <= end:
            op, length = _SUB_HEAD.unpack_from(buf, at)
            if (op == CREATE or op == CREATE2) and 0 < length <= min(limit, end - at - 8):
                got = _create_at(buf, at + 8, at + 8 + length, limit)
                if got is not None and got[1] == at + 8 + length:
                    ops.append((op, got[0]))
                    r.pos = got[1]
                    continue
        op = r.int("sub-transaction type")
        data_at, length = r.buffer_span("sub-transaction data")
        decode = _SUB_DECODERS.get(op)
        if decode is None:
            raise FormatError("unknown sub-transaction type %d in multi" % op, r.base + at)
        # The sub-transaction's bytes, read in place.
        sub = Reader(r.buf, data_at, data_at + max(length, 0), base=r.base, limit=r.limit)
        rec = decode(sub)
        if op == ERROR:
            # In a failed multi the leader may log the original record of an operation
            # with the type changed to error; ZooKeeper reads its first int and ignores
            # the rest, and so does this.
            pass
        elif sub.remaining():
            raise FormatError("%d unexpected bytes after a %s sub-transaction"
                              % (sub.remaining(), op_name(op)), sub.base + sub.pos)
        ops.append((op, rec))
    return Multi(ops)


_DECODERS = {
    CREATE: _create, CREATE2: _create, CREATE_CONTAINER: _create_container,
    CREATE_TTL: _create_ttl, DELETE: _delete, DELETE_CONTAINER: _delete,
    SET_DATA: _set_data, RECONFIG: _set_data, SET_ACL: _set_acl, ERROR: _error,
    CREATE_SESSION: _create_session, CLOSE_SESSION: _close_session, MULTI: _multi,
}

# What DataTree.processTxn accepts inside a multi.
_SUB_DECODERS = {
    CREATE: _create, CREATE2: _create, CREATE_CONTAINER: _create_container,
    CREATE_TTL: _create_ttl, DELETE: _delete, DELETE_CONTAINER: _delete,
    SET_DATA: _set_data, CHECK: _check, ERROR: _error,
}


def _try(decode, raw, start, base, limit):
    """Decode a record at ``start``; return (record, bytes left) or None when it does
    not fit (undecodable, or followed by something that is neither nothing nor a digest)."""
    r = Reader(raw, start, base=base, limit=limit)
    try:
        rec = decode(r)
    except FormatError:
        return None
    left = r.remaining()
    if left not in (0, DIGEST_SIZE):
        return None
    return rec, left


def decode_txn(raw, base=0, limit=DEFAULT_LIMIT):
    """Decode one serialized transaction (the bytes a log record's checksum covers).

    ``base`` is the file offset of ``raw`` for error messages.
    """
    n = len(raw)
    if n < HEADER_SIZE:
        raise FormatError("transaction of %d bytes is shorter than its header" % n, base)
    client_id, cxid, zxid, time, op = HEADER.unpack_from(raw, 0)
    decode = _DECODERS.get(op)
    if decode is None:
        raise FormatError("unknown transaction type %d (zxid %s)" % (op, hexzxid(zxid)), base + 24)
    got = None
    if op == CLOSE_SESSION and n in (HEADER_SIZE, HEADER_SIZE + DIGEST_SIZE):
        # The record is absent before 3.6 (and when closeSessionTxn is disabled); only a
        # digest may follow.  A record that parses as paths wins, as in Java.
        got = _try(decode, raw, HEADER_SIZE, base, limit)
        if got is None:
            got = (None, n - HEADER_SIZE)
    else:
        got = _try(decode, raw, HEADER_SIZE, base, limit)
        if got is None and op == CREATE:
            got = _try(_create_v0, raw, HEADER_SIZE, base, limit)
        if got is None:
            # Decode strictly to produce the precise error.
            r = Reader(raw, HEADER_SIZE, base=base, limit=limit)
            decode(r)
            raise FormatError("%d unexpected bytes after a %s record (zxid %s)"
                              % (r.remaining(), op_name(op), hexzxid(zxid)), base + r.pos)
    record, left = got
    digest = None
    if left:
        digest = DIGEST.unpack_from(raw, n - DIGEST_SIZE)
    return Txn(client_id, cxid, zxid, time, op, record, digest)


def peek_header(raw):
    """(clientId, cxid, zxid, time, type) without decoding the record."""
    return HEADER.unpack_from(raw, 0)
