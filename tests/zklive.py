"""Helpers against a live ensemble: container and TTL creates through kazoo's protocol
layer, a workload with every transaction type, and the tree digest of a live tree."""
import threading
import time
from collections import namedtuple

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.protocol import serialization as S
from kazoo.security import make_acl, make_digest_acl, OPEN_ACL_UNSAFE

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest

CONTAINER = 4               # CreateMode flags
PERSISTENT_WITH_TTL = 5


class CreateContainer(S.Create):
    """CreateRequest sent with opcode 19 (createContainer)."""
    type = 19


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """CreateTTLRequest (opcode 21): a CreateRequest followed by the TTL."""
    type = 21

    def serialize(self):
        return S.Create(self.path, self.data, self.acl, self.flags).serialize() + S.long_struct.pack(self.ttl)

    @classmethod
    def deserialize(cls, bytes, offset):
        return S.read_string(bytes, offset)[0]


class ExtTransaction(S.Transaction):
    """A multi that may hold container and TTL creates (kazoo's parser knows neither)."""

    @classmethod
    def deserialize(cls, bytes, offset):
        header, offset = S.MultiHeader.deserialize(bytes, offset)
        results = []
        while not header.done:
            if header.type in (S.Create.type, CreateContainer.type, CreateTTL.type, S.Create2.type):
                response, offset = S.read_string(bytes, offset)
                if header.type != S.Create.type:
                    offset += S.stat_struct.size
            elif header.type == S.SetData.type:
                response = S.ZnodeStat._make(S.stat_struct.unpack_from(bytes, offset))
                offset += S.stat_struct.size
            elif header.type in (S.Delete.type, S.CheckVersion.type):
                response = True
            elif header.type == -1:
                err = S.int_struct.unpack_from(bytes, offset)[0]
                offset += S.int_struct.size
                response = S.EXCEPTIONS[err]()
            else:
                raise ValueError("unexpected multi result type %d" % header.type)
            results.append(response)
            header, offset = S.MultiHeader.deserialize(bytes, offset)
        return results


AUTH = ("digest", "u:p")       # the workload's digest ACLs are for this identity


def client(connect, timeout=10):
    """A started client that authenticates as the workload's ACL identity: without
    ADMIN permission a server answers getACL with digest ids redacted to "x".

    ``timeout`` is the session timeout in seconds: a longer one keeps a session that
    waits on slow work of a loaded machine from expiring (an expiry is a transaction)."""
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=connect, timeout=timeout, auth_data=[AUTH])
    zk.start()
    return zk


def call(zk, request, timeout=10):
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=timeout)


def create_container(zk, path, data=b"", acl=OPEN_ACL_UNSAFE):
    return call(zk, CreateContainer(path, data, acl, CONTAINER))


def create_ttl(zk, path, ttl_ms, data=b"", acl=OPEN_ACL_UNSAFE):
    return call(zk, CreateTTL(path, data, acl, PERSISTENT_WITH_TTL, ttl_ms))


def multi(zk, ops):
    return call(zk, ExtTransaction(ops))


def wait_gone(zk, paths, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(zk.exists(p) for p in paths):
            return
        time.sleep(0.2)
    raise AssertionError("still there after %ds: %s" % (timeout, [p for p in paths if zk.exists(p)]))


def every_txn_type(zk, connect, root, big=1_000_000):
    """Create/create2/sequential/ephemeral/container/TTL creates, multi (successful,
    failed, with container and TTL creates), setData, setACL, deletes, errors, values
    near 1 MB, binary data, sessions opened and closed, and containers and TTL nodes the
    server deletes itself (deleteContainer).  Returns the paths it expects to be gone."""
    from kazoo.client import KazooClient
    zk.ensure_path(root)
    zk.create(root + "/bin", bytes(range(256)))
    zk.create(root + "/bin2", b"\xff\xfe\x00text", include_data=True)        # create2
    seqs = [zk.create(root + "/seq-", b"s", sequence=True) for _x in range(3)]
    zk.create(root + "/big", b"B" * big)
    zk.set(root + "/big", b"b" * big)
    zk.create(root + "/acl", b"secret", acl=[make_digest_acl("u", "p", all=True),
                                             make_acl("world", "anyone", read=True)])
    zk.set_acls(root + "/bin2", [make_acl("world", "anyone", read=True, write=True)])
    create_container(zk, root + "/ctr", b"c")
    zk.create(root + "/ctr/child", b"x")
    create_container(zk, root + "/ctr-gone")
    zk.create(root + "/ctr-gone/child")
    zk.delete(root + "/ctr-gone/child")              # the server deletes the empty container
    create_ttl(zk, root + "/ttl", 3600_000, b"t")
    create_ttl(zk, root + "/ttl-gone", 200, b"short")  # expires, the server deletes it
    t = zk.transaction()
    t.create(root + "/m1", b"1")
    t.set_data(root + "/bin", b"\x00multi")
    t.check(root + "/m1", 0)
    t.create(root + "/m1/del", b"")
    t.delete(root + "/m1/del")
    assert all(not isinstance(r, Exception) for r in t.commit())
    multi(zk, [CreateContainer(root + "/mctr", b"", OPEN_ACL_UNSAFE, CONTAINER),
               CreateTTL(root + "/mttl", b"m", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 7200_000),
               S.Create(root + "/mctr/kid", b"k", OPEN_ACL_UNSAFE, 0)])
    t = zk.transaction()                             # fails: every sub-txn an error
    t.create(root + "/never", b"")
    t.check(root + "/m1", 99)
    res = t.commit()
    assert any(isinstance(r, Exception) for r in res)
    try:
        zk.create(root + "/m1")                      # an error txn
    except NodeExistsError:
        pass
    zk.set(root + "/m1", b"v2", version=0)
    s2 = KazooClient(hosts=connect, timeout=10)
    s2.start()
    s2.create(root + "/eph", b"e", ephemeral=True)
    s2.create(root + "/eph-seq-", b"e", ephemeral=True, sequence=True)
    s2.create(root + "/eph-kept-parent", b"p")
    s2.stop()                                        # closeSession deletes its ephemerals
    s2.close()
    zk.delete(seqs[0])
    zk.delete(root + "/eph-kept-parent")
    return [root + "/ctr-gone", root + "/ttl-gone", root + "/eph"]


class Writer(threading.Thread):
    """Keeps writing (create, setData, multi) until stopped."""

    def __init__(self, zk, root):
        threading.Thread.__init__(self, daemon=True)
        self.zk = zk
        self.root = root
        self.stop_event = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        try:
            self.zk.ensure_path(self.root)
            i = 0
            while not self.stop_event.is_set():
                t = self.zk.transaction()
                for j in range(20):
                    t.create("%s/w%d-%d" % (self.root, i, j), b"w" * (i % 300))
                t.commit()
                self.zk.set(self.root, b"%d" % i)
                i += 1
                self.count = i
        except KazooException as exc:
            self.error = exc

    def stop(self):
        self.stop_event.set()
        self.join(30)
        if self.error:
            raise self.error


def _walk_again_if_a_node_vanishes(walk, attempts=5):
    """walk(), started again when a znode listed by its parent is gone when read.

    The tree changed during the walk. After a restore this is the usual case, not a
    fault: the ephemeral znodes of the sessions in the backup are deleted when those
    sessions expire, a session timeout after the restart, maybe while the walk runs. A
    walk that skipped the missing znode would mix two states of the tree; a new walk
    reads one (``attempts`` walks in all, then the last NoNodeError is raised)."""
    for attempt in range(attempts):
        try:
            return walk()
        except NoNodeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def live_digest(zk, include_ephemeral=False):
    """The tree digest (tree_digest) of a live tree, read with plain client calls.

    Container and TTL znodes read as persistent ones, as for every client. A znode deleted
    during the walk makes it start again (_walk_again_if_a_node_vanishes)."""
    return _walk_again_if_a_node_vanishes(lambda: _live_digest_once(zk, include_ephemeral))


def _live_digest_once(zk, include_ephemeral):
    d = tree_digest.TreeDigest(include_ephemeral=include_ephemeral)
    todo = ["/"]
    while todo:
        path = todo.pop()
        if tree_digest.is_system_path(path):
            continue
        data, stat = zk.get(path)
        acls, _x = zk.get_acls(path)
        if any(a.id.scheme == "digest" and a.id.id == "x" for a in acls):
            raise AssertionError("getACL on %s answered a redacted digest id: the walk needs "
                                 "ADMIN permission (authenticate)" % path)
        kind = tree_digest.EPHEMERAL if stat.ephemeralOwner else tree_digest.PERSISTENT
        d.add(path, data, [(a.perms, a.id.scheme, a.id.id) for a in acls], kind=kind)
        for child in zk.get_children(path):
            todo.append(path.rstrip("/") + "/" + child)
    return d.result()


def synced_digest(zk):
    """The digest of the live tree after a sync, read by ``zk``, which is then closed."""
    try:
        zk.sync("/")
        return live_digest(zk)["digest"]
    finally:
        zk.stop()
        zk.close()


def quiesced_digest(lab, zk, attempts=3):
    """(zxid, digest) of the tree while nothing writes: every member agrees on the zxid
    before and after the walk.

    A transaction during the walk (on a loaded machine: a session of another test
    expiring, or a client's new session) makes the walk start again, ``attempts`` times
    in all, so that the digest is always that of one zxid."""
    seen = []
    for _attempt in range(attempts):
        before = lab.wait_zxid_agree()
        d = live_digest(zk)
        after = lab.wait_zxid_agree()
        if before == after:
            return before, d
        seen.append("%x -> %x" % (before, after))
    raise AssertionError("the tree changed during the walk, %d times: %s" % (attempts, ", ".join(seen)))


def live_digest_pipelined(zk, root="/", include_ephemeral=False, window=1000):
    """live_digest of the tree (or the subtree at ``root``), with the reads of each level
    pipelined (``window`` znodes at a time): the same digest, in a fraction of the time."""
    return _walk_again_if_a_node_vanishes(
        lambda: _live_digest_pipelined_once(zk, root, include_ephemeral, window))


def _live_digest_pipelined_once(zk, root, include_ephemeral, window):
    d = tree_digest.TreeDigest(include_ephemeral=include_ephemeral)
    level = [root]
    while level:
        below = []
        for i in range(0, len(level), window):
            batch = [p for p in level[i:i + window] if not tree_digest.is_system_path(p)]
            asked = [(p, zk.get_async(p), zk.get_acls_async(p), zk.get_children_async(p)) for p in batch]
            for path, got, acls, kids in asked:
                data, stat = got.get(timeout=30)
                acl_list, _stat = acls.get(timeout=30)
                if any(a.id.scheme == "digest" and a.id.id == "x" for a in acl_list):
                    raise AssertionError("getACL on %s answered a redacted digest id: the walk needs "
                                         "ADMIN permission (authenticate)" % path)
                kind = tree_digest.EPHEMERAL if stat.ephemeralOwner else tree_digest.PERSISTENT
                d.add(path, data, [(a.perms, a.id.scheme, a.id.id) for a in acl_list], kind=kind)
                below.extend(path.rstrip("/") + "/" + c for c in kids.get(timeout=30))
        level = below
    return d.result()
