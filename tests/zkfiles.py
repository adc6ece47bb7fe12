"""A writer of synthetic ZooKeeper snapshots and transaction logs, for unit tests.

It follows the layouts in plugins/module_utils (jute primitives from there); the real
files that the integration tests collect from ZooKeeper servers check both sides.
"""
import gzip
import os
import struct
import zlib

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as _txn
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import (
    pack_acl_list, pack_bool, pack_buffer, pack_int, pack_long, pack_string_list, pack_ustring)

OPEN = ((31, "world", "anyone"),)
MIXED = ((1, "world", "anyone"), (31, "digest", "alice:HQBdbHXUuvZQBTBGTvsHGThB3Rs="))
READ = ((1, "world", "anyone"),)
STAT = struct.Struct(">qqqqiiiqq")
T0 = 1700000000000


# --- transaction records -------------------------------------------------------------
def create(path, data=b"", acl=OPEN, ephemeral=False, pcv=-1):
    return pack_ustring(path) + pack_buffer(data) + pack_acl_list(acl) + pack_bool(ephemeral) + pack_int(pcv)


def create_v0(path, data=b"", acl=OPEN, ephemeral=False):
    return pack_ustring(path) + pack_buffer(data) + pack_acl_list(acl) + pack_bool(ephemeral)


def create_container(path, data=b"", acl=OPEN, pcv=-1):
    return pack_ustring(path) + pack_buffer(data) + pack_acl_list(acl) + pack_int(pcv)


def create_ttl(path, ttl, data=b"", acl=OPEN, pcv=-1):
    return create_container(path, data, acl, pcv) + pack_long(ttl)


def delete(path):
    return pack_ustring(path)


def set_data(path, data, version):
    return pack_ustring(path) + pack_buffer(data) + pack_int(version)


def set_acl(path, acl, version):
    return pack_ustring(path) + pack_acl_list(acl) + pack_int(version)


def check(path, version):
    return pack_ustring(path) + pack_int(version)


def error(err):
    return pack_int(err)


def create_session(timeout=10000):
    return pack_int(timeout)


def close_session(paths):
    return b"" if paths is None else pack_string_list(paths)


def multi(ops):
    """ops: [(type, record bytes)]."""
    return pack_int(len(ops)) + b"".join(pack_int(op) + pack_buffer(rec) for op, rec in ops)


def txn(zxid, op, record, client=0x1000, cxid=1, time=None, digest=None):
    """The serialized transaction (header, record, optional (version, digest))."""
    out = pack_long(client) + pack_int(cxid) + pack_long(zxid) + pack_long(T0 + zxid if time is None else time) \
        + pack_int(op) + record
    if digest is not None:
        out += pack_int(digest[0]) + pack_long(digest[1])
    return out


# --- logs ----------------------------------------------------------------------------
def record(raw, crc=None, eor=0x42):
    c = zlib.adler32(raw) if crc is None else crc
    return pack_long(c) + pack_int(len(raw)) + raw + bytes((eor,))


def log_bytes(raws, padding=64, dbid=0, version=2):
    return b"ZKLG" + pack_int(version) + pack_long(dbid) + b"".join(record(r) for r in raws) + bytes(padding)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


# --- snapshots -----------------------------------------------------------------------
def stat(czxid=0, mzxid=None, ctime=T0, mtime=None, version=0, cversion=0, aversion=0, owner=0, pzxid=None):
    return (czxid, czxid if mzxid is None else mzxid, ctime, ctime if mtime is None else mtime,
            version, cversion, aversion, owner, czxid if pzxid is None else pzxid)


def snapshot_stream(nodes, acls=None, sessions=None, digest=None, last_zxid=None, dbid=-1,
                    seal="/"):
    """The uncompressed stream.  ``nodes``: [(path, data, acl id, stat tuple)] in
    depth-first order, the root as ""; ``digest``: (zxid, version, value)."""
    acls = {1: OPEN} if acls is None else acls
    sessions = sessions or {}
    out = bytearray(b"ZKSN" + pack_int(2) + pack_long(dbid))
    out += pack_int(len(sessions))
    for sid, timeout in sessions.items():
        out += pack_long(sid) + pack_int(timeout)
    out += pack_int(len(acls))
    for aid, lst in acls.items():
        out += pack_long(aid) + pack_acl_list(lst)
    for path, data, aid, st in nodes:
        out += pack_ustring(path) + pack_buffer(data) + pack_long(aid) + STAT.pack(*st)
    out += pack_ustring("/")

    def sealed():
        out.extend(pack_long(zlib.adler32(bytes(out))) + pack_ustring(seal))
    sealed()
    if digest is not None:
        out += pack_long(digest[0]) + pack_int(digest[1]) + pack_long(digest[2])
        sealed()
    if last_zxid is not None:
        out += pack_long(last_zxid)
        sealed()
    return bytes(out)


def snappy_frame(stream, block=32768):
    """snappy-java's SnappyOutputStream framing (needs python-snappy)."""
    import snappy
    out = bytearray(b"\x82SNAPPY\x00" + pack_int(1) + pack_int(1))
    for i in range(0, len(stream), block):
        comp = snappy.compress(stream[i:i + block])
        out += pack_int(len(comp)) + comp
    return bytes(out)


def compress(stream, compression):
    if compression == "gz":
        return gzip.compress(stream)
    if compression == "snappy":
        return snappy_frame(stream)
    return stream


def basic_tree(zxid=5, extra=()):
    """A small valid tree: /, /zookeeper, /zookeeper/quota, /a, /a/b plus ``extra``."""
    nodes = [
        ("", b"", -1, stat(pzxid=2, cversion=2)),
        ("/a", b"hello", 1, stat(czxid=1, pzxid=2, cversion=1)),
        ("/a/b", bytes(range(256)), 1, stat(czxid=2)),
    ]
    nodes += list(extra)
    nodes += [
        ("/zookeeper", b"", -1, stat()),
        ("/zookeeper/quota", b"", -1, stat()),
    ]
    return nodes


def kinds_data_dir(d):
    """A version-2 directory ``d``: a snapshot at 0x100000001 (/, /a, /zookeeper...) and a
    log with every kind of create (container, TTL, ephemeral, sequential-looking names),
    a delete and a setData, up to 0x10000000c."""
    E = 0x100000000
    T = _txn
    nodes = [
        ("", b"", -1, stat(pzxid=E + 1, cversion=2)),
        ("/a", b"A", 1, stat(czxid=E + 1)),
        ("/zookeeper", b"", -1, stat()),
        ("/zookeeper/quota", b"", -1, stat()),
    ]
    write(os.path.join(d, "snapshot.%x" % (E + 1)), snapshot_stream(nodes))
    raws = [
        txn(E + 1, T.CREATE, create("/a", b"A", pcv=1)),              # in the snapshot
        txn(E + 2, T.CREATE_CONTAINER, create_container("/a/c", b"box", pcv=-1)),
        txn(E + 3, T.CREATE, create("/a/c/child", b"x", acl=MIXED, pcv=-1)),
        txn(E + 4, T.CREATE_TTL, create_ttl("/a/t", 5000, b"ttl", pcv=-1)),
        txn(E + 5, T.CREATE, create("/a/q-0000000003", b"", pcv=-1)),
        txn(E + 6, T.CREATE, create("/a/q-0000000004", b"", pcv=-1)),
        txn(E + 7, T.DELETE, delete("/a/q-0000000003")),
        txn(E + 8, T.CREATE, create("/a/backup-1700000000", None, pcv=-1)),
        txn(E + 9, T.CREATE, create("/a/e", b"eph", ephemeral=True, pcv=-1), client=99),
        txn(E + 10, T.SET_DATA, set_data("/a", b"A2", 1)),
        txn(E + 11, T.CREATE, create("/a-b", b"sibling", pcv=-1)),
        txn(E + 12, T.CREATE_TTL, create_ttl("/a/t/q-0000000000", 7000, b"", pcv=-1)),
    ]
    write(os.path.join(d, "log.%x" % (E + 1)), log_bytes(raws))
    write(os.path.join(d, "currentEpoch"), b"1")
    write(os.path.join(d, "acceptedEpoch"), b"1")
    return os.path.join(d, "snapshot.%x" % (E + 1)), os.path.join(d, "log.%x" % (E + 1))
