# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory znode tree that applies logged transactions exactly as ZooKeeper's
``DataTree.processTxn`` does, including its tolerance of a fuzzy snapshot (a create
of an existing node, a delete of a missing one: ignored, as on a server's restart).

Nodes live in one dict: ``path -> (data, acl, stat)``.  ``data`` is bytes or None,
``acl`` the canonical ACL bytes of ``tree_digest.encode_acl`` (one shared object per
distinct ACL), ``stat`` the 60 bytes of a serialized ``StatPersisted``.  Children are
not kept: nothing in the transactions needs them, and the sorted paths give them.

Optionally the tree keeps ZooKeeper's own digest up to date (``DigestCalculator``:
the sum, modulo 2^64, of a CRC32 over path, data and stat of every node not below
/zookeeper/), so that a replay can be checked against the digest that 3.6+ servers
write after every transaction and into every snapshot.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import struct
import zlib

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T

STAT = struct.Struct(">qqqqiiiqq")   # czxid mzxid ctime mtime version cversion aversion owner pzxid
_OWNER = struct.Struct(">q")
OWNER_OFFSET = 44

# KeeperException codes that replay can meet.
OK = 0
NONODE = -101
NODEEXISTS = -110

CONTAINER_OWNER = -0x8000000000000000
_EXTENDED_MASK = -0x100000000000000          # 0xff00000000000000 as a signed long
_RESERVED_MASK = 0x00FFFF0000000000
_TTL_MASK = 0x000000FFFFFFFFFF
_ZK_SUBTREE = "/zookeeper/"
_U64 = 0xFFFFFFFFFFFFFFFF
_ACL_IDS_MAX = 4096
_CREATES = frozenset((T.CREATE, T.CREATE2, T.CREATE_TTL, T.CREATE_CONTAINER))
# A StatPersisted cut around cversion and pzxid, the fields a child's create changes.
_PARENT_PARTS = struct.Struct(">36si12sq")
# The fields of a StatPersisted in the order DigestCalculator hashes them: czxid, mzxid,
# pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner.
_DIGEST_ORDER = struct.Struct(">qqqqqiiiq")


def kind_of(owner):
    """(kind, ttl) of a znode from its ephemeralOwner (EphemeralType with extended
    types enabled): 0 persistent, 0x8000000000000000 container, top byte 0xff with the
    reserved bits clear a TTL node (TTL in the low 40 bits), else ephemeral."""
    if owner == 0:
        return tree_digest.PERSISTENT, 0
    if owner == CONTAINER_OWNER:
        return tree_digest.CONTAINER, 0
    if owner & _EXTENDED_MASK == _EXTENDED_MASK and not owner & _RESERVED_MASK:
        return tree_digest.TTL, owner & _TTL_MASK
    return tree_digest.EPHEMERAL, 0


def ttl_owner(ttl):
    """EphemeralType.TTL.toEphemeralOwner."""
    return _EXTENDED_MASK | ttl


def owner_of(stat):
    return _OWNER.unpack_from(stat, OWNER_OFFSET)[0]


def _int32(value):
    return ((value + 0x80000000) & 0xFFFFFFFF) - 0x80000000


# A StatPersisted cut where the client's Stat differs: czxid mzxid ctime mtime version
# (36 bytes as they are), cversion, aversion, ephemeralOwner, pzxid (bytes as they are).
_STAT_PARTS = struct.Struct(">36si4s8s8s")
# ... and the client's Stat from them: cversion as clients see it, dataLength and
# numChildren inserted before pzxid.
_CLIENT_PARTS = struct.Struct(">36si4s8sii8s")
_NO_OWNER = bytes(8)
_PERSISTENT = (tree_digest.PERSISTENT, 0)


def client_stat(stat, data, num_children):
    """The Stat a client reads (68 bytes) for a node's StatPersisted ``stat``, as
    ``DataNode.copyStat`` makes it: the cversion clients see counts a delete for every
    create but those of the children still present (``2 * cversion - numChildren``, in
    Java's int arithmetic), container and TTL znodes show ephemeralOwner 0
    (``getClientEphemeralOwner``), dataLength and numChildren are added.  The other
    fields keep their bytes."""
    return client_view(stat, data, num_children)[2]


def client_view(stat, data, num_children):
    """(kind, ttl, client_stat()) of a node: what an export needs of its stat."""
    head, cversion, aversion, owner, pzxid = _STAT_PARTS.unpack(stat)
    cversion = 2 * cversion - num_children
    if not -0x80000000 <= cversion <= 0x7FFFFFFF:
        cversion = _int32(cversion)
    if owner == _NO_OWNER:
        kind, ttl = _PERSISTENT
    else:
        kind, ttl = kind_of(_OWNER.unpack(owner)[0])
        if kind != tree_digest.EPHEMERAL:
            owner = _NO_OWNER
    return kind, ttl, _CLIENT_PARTS.pack(head, cversion, aversion, owner,
                                         len(data) if data else 0, num_children, pzxid)


def zk_node_digest(path, data, stat):
    """DigestCalculator.calculateDigest for one node (0 below /zookeeper/)."""
    if path.startswith(_ZK_SUBTREE):
        return 0
    c = zlib.crc32(b"" if path == "/" else path.encode("utf-8"))
    if data:
        c = zlib.crc32(data, c)
    # czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner
    c = zlib.crc32(stat[0:16], c)
    c = zlib.crc32(stat[52:60], c)
    return zlib.crc32(stat[16:52], c)


class DataTree:
    """The tree, its sessions and (optionally) ZooKeeper's digest of it."""

    def __init__(self, zk_digest=True):
        self.nodes = {}
        self.sessions = {}
        self.ephemerals = {}       # session id -> set of paths (ephemeral nodes only)
        self.zk_digest = 0 if zk_digest else None
        self.last_zxid = 0
        self._acl_cache = {}
        self._acl_by_id = {}
        self._dirty = None         # paths whose digest waits for the end of the transaction

    # --- building from a snapshot -----------------------------------------------
    def acl(self, acl_list):
        """The shared canonical bytes of an ACL list (None means world:anyone, all)."""
        # The decoders hand out one (immutable) tuple per distinct ACL (txn._ACLS): look
        # it up by identity first; the entry holds the tuple, so its id stays its own.
        seen = self._acl_by_id.get(id(acl_list))
        if seen is not None and seen[0] is acl_list:
            return seen[1]
        if acl_list is None:
            key = ((31, "world", "anyone"),)
        else:
            key = tuple(acl_list)
        b = self._acl_cache.get(key)
        if b is None:
            b = self._acl_cache[key] = tree_digest.encode_acl(key)
        if acl_list is key:
            if len(self._acl_by_id) >= _ACL_IDS_MAX:
                self._acl_by_id.clear()
            self._acl_by_id[id(key)] = (key, b)
        return b

    def snapshot_acl_encoder(self, _acl_id, acl_list):
        return self.acl(acl_list)

    def acl_lists(self):
        """{id(canonical ACL bytes): ACL list} for every ACL the tree has held.

        Every node's ``acl`` is one of the bytes objects acl() handed out, one per
        distinct list, so ``acl_lists()[id(node[1])]`` is the node's ACL in the order
        the server keeps it (the order of the snapshot or the transaction), the order
        clients read it in."""
        return dict((id(b), key) for key, b in self._acl_cache.items())

    def index_ephemerals(self):
        """Fill the session -> ephemeral paths index after loading nodes in bulk."""
        eph = self.ephemerals
        eph.clear()
        for path, node in self.nodes.items():
            owner = _OWNER.unpack_from(node[2], OWNER_OFFSET)[0]
            if owner and kind_of(owner)[0] == tree_digest.EPHEMERAL:
                eph.setdefault(owner, set()).add(path)

    # --- ZooKeeper's digest ------------------------------------------------------
    def _zk_sub(self, path, node):
        if self.zk_digest is not None:
            self.zk_digest = (self.zk_digest - zk_node_digest(path, node[0], node[2])) & _U64

    def _zk_add(self, path, node):
        if self.zk_digest is not None:
            self.zk_digest = (self.zk_digest + zk_node_digest(path, node[0], node[2])) & _U64

    def _replace(self, path, old, new):
        self.nodes[path] = new
        dirty = self._dirty
        if dirty is None:
            self._zk_sub(path, old)
            self._zk_add(path, new)
        elif path not in dirty:
            # Within a transaction a node (a parent gaining 500 children in one multi)
            # may change many times: its digest leaves once and comes back at the end.
            self._zk_sub(path, old)
            dirty.add(path)

    def _settle(self):
        dirty, self._dirty = self._dirty, None
        if dirty:
            nodes = self.nodes
            for path in dirty:
                node = nodes.get(path)
                if node is not None:
                    self._zk_add(path, node)

    # --- DataTree operations -------------------------------------------------------
    @staticmethod
    def parent_of(path):
        return path[:path.rfind("/")] or "/"

    def create(self, path, data, acl, owner, parent_cversion, zxid, time):
        nodes = self.nodes
        parent_path = path[:path.rfind("/")] or "/"
        parent = nodes.get(parent_path)
        if parent is None:
            return NONODE
        existing = nodes.get(path)
        if existing is not None:
            # ZooKeeper replaces the ACL of the existing node, then fails.
            nodes[path] = (existing[0], acl, existing[2])
            return NODEEXISTS
        head, cversion, mid, _old_pzxid = _PARENT_PARTS.unpack(parent[2])
        if parent_cversion == -1:
            parent_cversion = cversion + 1
        if parent_cversion > cversion:
            self._replace(parent_path, parent, (parent[0], parent[1], _PARENT_PARTS.pack(
                head, parent_cversion, mid, zxid)))
        nodes[path] = (data, acl, STAT.pack(zxid, zxid, time, time, 0, 0, 0, owner, zxid))
        if self.zk_digest is not None and not path.startswith(_ZK_SUBTREE):
            # zk_node_digest() of the new node, its stat hashed from the fields.
            c = zlib.crc32(path.encode("utf-8"))
            if data:
                c = zlib.crc32(data, c)
            c = zlib.crc32(_DIGEST_ORDER.pack(zxid, zxid, zxid, time, time, 0, 0, 0, owner), c)
            self.zk_digest = (self.zk_digest + c) & _U64
        if owner and kind_of(owner)[0] == tree_digest.EPHEMERAL:
            self.ephemerals.setdefault(owner, set()).add(path)
        return OK

    def delete(self, path, zxid):
        nodes = self.nodes
        parent_path = self.parent_of(path)
        parent = nodes.get(parent_path)
        if parent is None:
            return NONODE
        pst = STAT.unpack(parent[2])
        if zxid > pst[8]:
            pst = list(pst)
            pst[8] = zxid
            self._replace(parent_path, parent, (parent[0], parent[1], STAT.pack(*pst)))
        node = nodes.pop(path, None)
        if node is None:
            return NONODE
        if self._dirty is not None and path in self._dirty:
            self._dirty.discard(path)          # its digest has left already
        else:
            self._zk_sub(path, node)
        owner = _OWNER.unpack_from(node[2], OWNER_OFFSET)[0]
        if owner:
            paths = self.ephemerals.get(owner)
            if paths is not None:
                paths.discard(path)
        return OK

    def set_data(self, path, data, version, zxid, time):
        node = self.nodes.get(path)
        if node is None:
            return NONODE
        st = list(STAT.unpack(node[2]))
        st[3] = time
        st[1] = zxid
        st[4] = version
        self._replace(path, node, (data, node[1], STAT.pack(*st)))
        return OK

    def set_acl(self, path, acl, version):
        node = self.nodes.get(path)
        if node is None:
            return NONODE
        st = list(STAT.unpack(node[2]))
        st[6] = version
        self._replace(path, node, (node[0], acl, STAT.pack(*st)))
        return OK

    def set_cversion_pzxid(self, path, cversion, zxid):
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        node = self.nodes.get(path)
        if node is None:
            return NONODE
        st = list(STAT.unpack(node[2]))
        if cversion == -1:
            cversion = st[5] + 1
        if cversion > st[5]:
            st[5] = cversion
            st[8] = zxid
            self._replace(path, node, (node[0], node[1], STAT.pack(*st)))
        return OK

    def kill_session(self, session, zxid, paths):
        local = self.ephemerals.pop(session, None)
        if paths is not None:
            for p in paths:
                self.delete(p, zxid)
        if local:
            if paths is not None:
                local.difference_update(paths)
            for p in sorted(local):
                self.delete(p, zxid)

    # --- transactions --------------------------------------------------------------
    def apply(self, txn):
        """Apply one transaction (a txn.Txn); returns its error code (0 for OK)."""
        op = txn.type
        if op == T.CREATE_SESSION:
            self.sessions[txn.client_id] = txn.record.timeout
        elif op == T.CLOSE_SESSION:
            self.sessions.pop(txn.client_id, None)
        if self.zk_digest is not None:
            self._dirty = set()
        try:
            rc = self._process(op, txn.record, txn.client_id, txn.zxid, txn.time)
        finally:
            self._settle()
        if txn.zxid > self.last_zxid:
            self.last_zxid = txn.zxid
        return rc

    def _process(self, op, rec, client_id, zxid, time):
        if op in _CREATES:
            return self._create(op, rec, client_id, zxid, time)
        if op in (T.DELETE, T.DELETE_CONTAINER):
            return self.delete(rec.path, zxid)
        if op in (T.SET_DATA, T.RECONFIG):
            return self.set_data(rec.path, rec.data, rec.version, zxid, time)
        if op == T.SET_ACL:
            return self.set_acl(rec.path, self.acl(rec.acl), rec.version)
        if op == T.CLOSE_SESSION:
            self.kill_session(client_id, zxid, rec.paths if rec is not None else None)
            return OK
        if op == T.ERROR:
            return rec.err
        if op in (T.CHECK, T.CREATE_SESSION):
            return OK
        if op == T.MULTI:
            failed = any(sub_op == T.ERROR for sub_op, _x in rec.ops)
            rc = OK
            if failed:
                # A failed multi changes nothing: every sub-transaction counts as an error.
                for sub_op, sub in rec.ops:
                    if sub_op == T.ERROR and sub.err and rc == OK:
                        rc = sub.err
                return rc
            create = self._create
            process = self._process
            for sub_op, sub in rec.ops:
                if sub_op in _CREATES:
                    sub_rc = create(sub_op, sub, client_id, zxid, time)
                else:
                    sub_rc = process(sub_op, sub, client_id, zxid, time)
                if sub_rc != OK and rc == OK:
                    rc = sub_rc
            return rc
        raise ValueError("cannot apply transaction type %d" % op)

    def _create(self, op, rec, client_id, zxid, time):
        if rec.ttl is not None:
            owner = ttl_owner(rec.ttl)
        elif rec.container:
            owner = CONTAINER_OWNER
        else:
            owner = client_id if rec.ephemeral else 0
        rc = self.create(rec.path, rec.data, self.acl(rec.acl), owner,
                         rec.parent_cversion, zxid, time)
        if op == T.CREATE and rc == NODEEXISTS:
            # DataTree.processTxn: a create replayed over a fuzzy snapshot fixes up
            # the parent's cversion and pzxid.
            rc2 = self.set_cversion_pzxid(rec.path[:rec.path.rfind("/")] or "/",
                                          rec.parent_cversion, zxid)
            if rc2 != OK:
                rc = rc2
        return rc

    # --- results ---------------------------------------------------------------------
    def digest(self, include_ephemeral=False, root="/"):
        """The canonical tree digest (tree_digest) of the tree or a subtree."""
        d = tree_digest.TreeDigest(include_ephemeral=include_ephemeral)
        add = d.add
        in_subtree = tree_digest.in_subtree
        for path, (data, acl, stat) in self.nodes.items():
            if root != "/" and not in_subtree(path, root):
                continue
            kind, ttl = kind_of(_OWNER.unpack_from(stat, OWNER_OFFSET)[0])
            add(path, data, None, kind, ttl, acl_bytes=acl)
        return d.result()

    def stat(self, path):
        """The node's StatPersisted as a dict."""
        names = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                 "ephemeralOwner", "pzxid")
        return dict(zip(names, STAT.unpack(self.nodes[path][2])))

    def children(self):
        """{path: sorted child names} (computed, not kept)."""
        out = {}
        for path in self.nodes:
            if path != "/":
                out.setdefault(self.parent_of(path), []).append(path[path.rfind("/") + 1:])
        for v in out.values():
            v.sort()
        return out
