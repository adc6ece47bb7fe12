"""Helpers for the tree export/import tests: build trees fast, wipe them, check them.

Trees are described as a list of Spec entries; the expected tree digest is computed from
the specs with tree_digest directly, independently of the walker and the export file.
"""
import collections
import random

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError, RolledBackError

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as td
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp

WORLD = ((31, "world", "anyone"),)
Spec = collections.namedtuple("Spec", "path data acl kind ttl")


def spec(path, data=b"", acl=WORLD, kind=td.PERSISTENT, ttl=0):
    return Spec(path, data, tuple(acl), kind, ttl)


def client(lab, auth=None, hosts=None):
    zk = KazooClient(hosts=hosts or lab.connect_string, timeout=20, auth_data=auth)
    zk.start(timeout=20)
    return zk


def create_op(s):
    if s.kind == td.CONTAINER:
        return zp.CreateContainer(s.path, s.data, s.acl)
    if s.kind == td.TTL:
        return zp.CreateTTL(s.path, s.data, s.acl, s.ttl, False)
    return zp.Create(s.path, s.data, s.acl, 0)


def create_all(zk, specs, batch=500, window=16):
    """Create every spec (parents first, in the order given) in pipelined multis."""
    inflight = collections.deque()
    ops = []

    def settle():
        batch, fut = inflight.popleft()
        res = fut.get(timeout=60)
        bad = [(op.path, r) for op, r in zip(batch, res)
               if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        assert not bad, bad[:3]

    def flush():
        if ops:
            inflight.append((list(ops), zp.call_async(zk, zp.Multi(list(ops)))))
            del ops[:]
            while len(inflight) >= window:
                settle()

    for s in specs:
        op = create_op(s)
        if len(s.data or b"") > 100000:     # a value near 1 MB goes alone
            flush()
            ops.append(op)
            flush()
            continue
        ops.append(op)
        if len(ops) >= batch:
            flush()
    flush()
    while inflight:
        settle()


def delete_paths(zk, paths, batch=1000, window=16):
    """Delete the given paths, deepest first, in pipelined multis."""
    inflight = collections.deque()
    ordered = sorted(paths, key=lambda p: p.encode("utf-8"), reverse=True)

    def settle():
        chunk, fut = inflight.popleft()
        res = fut.get(timeout=60)
        bad = [(p, r) for p, r in zip(chunk, res)
               if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        assert not bad, bad[:3]

    for i in range(0, len(ordered), batch):
        chunk = ordered[i:i + batch]
        inflight.append((chunk, zp.call_async(zk, zp.Multi([zp.Delete(p, -1) for p in chunk]))))
        while len(inflight) >= window:
            settle()
    while inflight:
        settle()


def wipe(zk, root):
    """Delete ``root`` and everything below it (pipelined reads, batched deletes)."""
    if not zk.exists(root):
        return
    paths = []
    level = [root]
    while level:
        paths += level
        futures = [(p, zk.get_children_async(p)) for p in level]
        level = []
        for p, f in futures:
            try:
                level += [p.rstrip("/") + "/" + c for c in f.get(timeout=60)]
            except NoNodeError:
                pass
    delete_paths(zk, paths)


def expected_digest(specs, root="/"):
    d = td.TreeDigest(include_ephemeral=False, typed=True)
    for s in specs:
        if td.in_subtree(s.path, root):
            d.add(s.path, s.data, s.acl, s.kind, s.ttl)
    return d.result()


def read_sample(zk, paths):
    """{path: (data, sorted acl tuples)} read with plain kazoo calls (pipelined)."""
    futures = [(p, zk.get_async(p), zk.get_acls_async(p)) for p in paths]
    out = {}
    for p, fd, fa in futures:
        data = fd.get(timeout=60)[0]
        acl = fa.get(timeout=60)[0]
        out[p] = (data or b"", tuple(sorted((a.perms, a.id.scheme, a.id.id) for a in acl)))
    return out


def node_count(lab):
    """Total znodes of the ensemble as the leader counts them (srvr 'Node count')."""
    lab.wait_zxid_agree()
    return int(lab.leader().srvr()["Node count"])


def rand_data(rng, i):
    k = i % 3
    if k == 0:
        n = rng.randint(16, 120)
        return rng.getrandbits(8 * n).to_bytes(n, "little")
    if k == 1:
        return ("\u03b4\u03b5\u03b4\u03bf\u03bc\u03ad\u03bd\u03b1 \u2713 %d \u65e5\u672c" % i
                ).encode("utf-8")
    return b"" if i % 2 else None


def random_bytes(n, seed):
    rng = random.Random(seed)
    return rng.getrandbits(8 * n).to_bytes(n, "little")
