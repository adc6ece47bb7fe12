"""datatree: transactions change the tree exactly as DataTree.processTxn does."""
import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datatree as D
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T

E = 0x100000000


def tree():
    t = D.DataTree()
    root = t.acl(None)
    t.nodes["/"] = (b"", root, D.STAT.pack(*W.stat()))
    t.nodes["/zookeeper"] = (b"", root, D.STAT.pack(*W.stat()))
    t.zk_digest = sum(D.zk_node_digest(p, n[0], n[2]) for p, n in t.nodes.items())
    return t


def apply(t, zxid, op, rec, client=7):
    return t.apply(T.decode_txn(W.txn(E + zxid, op, rec, client=client)))


def check_zk_digest(t):
    assert t.zk_digest == sum(D.zk_node_digest(p, n[0], n[2]) for p, n in t.nodes.items()) & (2 ** 64 - 1)


def test_create_kinds_and_stats():
    t = tree()
    assert apply(t, 1, T.CREATE, W.create("/p", b"1", pcv=1)) == 0
    assert apply(t, 2, T.CREATE, W.create("/p/e", b"", ephemeral=True, pcv=1), client=99) == 0
    assert apply(t, 3, T.CREATE_CONTAINER, W.create_container("/p/c", pcv=2)) == 0
    assert apply(t, 4, T.CREATE_TTL, W.create_ttl("/p/t", 5000, pcv=3)) == 0
    kinds = {p: D.kind_of(D.owner_of(t.nodes[p][2])) for p in ("/p", "/p/e", "/p/c", "/p/t")}
    assert kinds == {"/p": ("persistent", 0), "/p/e": ("ephemeral", 0), "/p/c": ("container", 0),
                     "/p/t": ("ttl", 5000)}
    st = t.stat("/p")
    assert (st["cversion"], st["pzxid"], st["czxid"]) == (3, E + 4, E + 1)
    assert t.ephemerals == {99: {"/p/e"}}
    assert apply(t, 5, T.CREATE, W.create("/missing/x")) == D.NONODE
    check_zk_digest(t)


def test_replayed_create_over_a_fuzzy_snapshot():
    t = tree()
    apply(t, 1, T.CREATE, W.create("/p", b"1", pcv=1))
    apply(t, 2, T.CREATE, W.create("/p/a", b"1", pcv=1))
    # The same create again: NODEEXISTS, but the ACL is replaced and the parent's
    # cversion/pzxid catch up (DataTree.processTxn).
    assert apply(t, 3, T.CREATE, W.create("/p/a", b"zz", acl=W.READ, pcv=5)) == D.NODEEXISTS
    assert t.nodes["/p/a"][0] == b"1" and t.nodes["/p/a"][1] == t.acl(W.READ)
    assert (t.stat("/p")["cversion"], t.stat("/p")["pzxid"]) == (5, E + 3)
    check_zk_digest(t)


def test_delete_set_data_set_acl():
    t = tree()
    apply(t, 1, T.CREATE, W.create("/p", b"1", pcv=1))
    apply(t, 2, T.CREATE, W.create("/p/a", b"1", pcv=1))
    assert apply(t, 3, T.SET_DATA, W.set_data("/p/a", b"new", 4)) == 0
    assert apply(t, 4, T.SET_ACL, W.set_acl("/p/a", W.READ, 2)) == 0
    st = t.stat("/p/a")
    assert (st["version"], st["aversion"], st["mzxid"]) == (4, 2, E + 3)
    assert apply(t, 5, T.DELETE, W.delete("/p/a")) == 0
    assert "/p/a" not in t.nodes and t.stat("/p")["pzxid"] == E + 5
    assert t.stat("/p")["cversion"] == 1      # delete leaves cversion alone in the tree
    assert apply(t, 6, T.DELETE, W.delete("/p/a")) == D.NONODE
    assert apply(t, 7, T.SET_DATA, W.set_data("/nope", b"", 1)) == D.NONODE
    check_zk_digest(t)


def test_multi_applies_all_or_nothing():
    t = tree()
    ok = W.multi([(T.CREATE, W.create("/m", b"1", pcv=1)), (T.SET_DATA, W.set_data("/m", b"2", 1)),
                  (T.CHECK, W.check("/m", 1)), (T.CREATE_CONTAINER, W.create_container("/m/c", pcv=1))])
    assert apply(t, 1, T.MULTI, ok) == 0
    assert t.nodes["/m"][0] == b"2" and "/m/c" in t.nodes
    failed = W.multi([(T.ERROR, W.error(0)), (T.ERROR, W.error(-103))])
    before = dict(t.nodes)
    assert apply(t, 2, T.MULTI, failed) == -103
    assert t.nodes == before and t.last_zxid == E + 2
    check_zk_digest(t)


def test_close_session_deletes_its_ephemerals():
    t = tree()
    apply(t, 1, T.CREATE_SESSION, W.create_session(5000), client=5)
    apply(t, 2, T.CREATE, W.create("/e1", ephemeral=True, pcv=1), client=5)
    apply(t, 3, T.CREATE, W.create("/e2", ephemeral=True, pcv=2), client=5)
    apply(t, 4, T.CREATE, W.create("/keep", ephemeral=True, pcv=3), client=6)
    assert t.sessions == {5: 5000}
    apply(t, 5, T.CLOSE_SESSION, W.close_session(["/e1"]), client=5)      # 3.6+: paths listed
    assert "/e1" not in t.nodes and "/e2" not in t.nodes and "/keep" in t.nodes
    apply(t, 6, T.CLOSE_SESSION, W.close_session(None), client=6)         # 3.5: from the index
    assert "/keep" not in t.nodes and t.sessions == {}
    check_zk_digest(t)


def test_digest_counts_kinds_as_documented():
    t = tree()
    apply(t, 1, T.CREATE, W.create("/p", b"1", pcv=1))
    apply(t, 2, T.CREATE, W.create("/e", b"", ephemeral=True, pcv=2), client=9)
    apply(t, 3, T.CREATE_TTL, W.create_ttl("/t", 1000, pcv=3))
    d = t.digest()
    ref = tree_digest.TreeDigest()
    ref.add("/", b"", W.OPEN)
    ref.add("/p", b"1", W.OPEN)
    ref.add("/t", b"", W.OPEN, kind="ttl", ttl=1000)
    assert d == ref.result() and d["count"] == 3
    assert t.digest(include_ephemeral=True)["count"] == 4
    assert d["digest"] != d["typed_digest"]


def test_kind_of_edges():
    assert D.kind_of(D.ttl_owner(1)) == ("ttl", 1)
    assert D.kind_of(-0x8000000000000000) == ("container", 0)
    assert D.kind_of(0x0100000000000001) == ("ephemeral", 0)
    # Reserved bits set: not a TTL node.
    assert D.kind_of(-0x100000000000000 | 0x10000000000) == ("ephemeral", 0)


def test_zk_digest_of_a_multi_that_changes_nodes_many_times():
    t = tree()
    ops = [(T.CREATE, W.create("/p", b"p", pcv=-1))]
    ops += [(T.CREATE, W.create("/p/c%03d" % i, b"%d" % i, pcv=-1)) for i in range(50)]
    ops += [(T.SET_DATA, W.set_data("/p", b"p2", 1)), (T.SET_DATA, W.set_data("/p", b"p3", 2)),
            (T.DELETE, W.delete("/p/c007")), (T.CREATE, W.create("/p/c007", b"again", pcv=-1)),
            (T.SET_DATA, W.set_data("/p/c008", b"x", 1)), (T.DELETE, W.delete("/p/c008"))]
    assert apply(t, 1, T.MULTI, W.multi(ops)) == 0
    check_zk_digest(t)
    assert t.nodes["/p"][0] == b"p3" and t.nodes["/p/c007"][0] == b"again"
    assert "/p/c008" not in t.nodes and t.stat("/p")["cversion"] == 51
    # A closeSession deleting several ephemeral children of one parent.
    for i in range(5):
        apply(t, 2 + i, T.CREATE, W.create("/p/e%d" % i, ephemeral=True, pcv=-1), client=9)
    apply(t, 8, T.CLOSE_SESSION, W.close_session(None), client=9)
    assert not any(p.startswith("/p/e") for p in t.nodes)
    check_zk_digest(t)


class CarefulTree(D.DataTree):
    """Creates applied field by field, with zk_node_digest() of the stored stat, and
    every ACL looked up by value: what DataTree's shortcuts must equal."""

    def acl(self, acl_list):
        key = tuple(acl_list) if acl_list is not None else ((31, "world", "anyone"),)
        b = self._acl_cache.get(key)
        if b is None:
            b = self._acl_cache[key] = tree_digest.encode_acl(key)
        return b

    def create(self, path, data, acl, owner, parent_cversion, zxid, time):
        nodes = self.nodes
        parent_path = self.parent_of(path)
        parent = nodes.get(parent_path)
        if parent is None:
            return D.NONODE
        existing = nodes.get(path)
        if existing is not None:
            nodes[path] = (existing[0], acl, existing[2])
            return D.NODEEXISTS
        pst = list(D.STAT.unpack(parent[2]))
        if parent_cversion == -1:
            parent_cversion = pst[5] + 1
        if parent_cversion > pst[5]:
            pst[5] = parent_cversion
            pst[8] = zxid
            self._replace(parent_path, parent, (parent[0], parent[1], D.STAT.pack(*pst)))
        node = (data, acl, D.STAT.pack(zxid, zxid, time, time, 0, 0, 0, owner, zxid))
        nodes[path] = node
        self._zk_add(path, node)
        if owner and D.kind_of(owner)[0] == tree_digest.EPHEMERAL:
            self.ephemerals.setdefault(owner, set()).add(path)
        return D.OK


def random_txns(seed, count=400):
    import random
    rnd = random.Random(seed)
    acls = [W.OPEN, W.READ, W.MIXED, [list(e) for e in W.MIXED]]
    paths = ["/p", "/q", "/zookeeper/x"]
    out = [(1, T.CREATE, W.create(p, b"", pcv=-1), 7) for p in paths]
    zxid = 1

    def one(top=True):
        kind = rnd.random()
        parent = rnd.choice(paths)
        path = "%s/n%d" % (parent, rnd.randrange(30))
        data = rnd.choice([None, b"", b"v" * rnd.randrange(1, 50)])
        pcv = rnd.choice([-1, -1, rnd.randrange(0, 100)])
        if kind < 0.45:
            paths.append(path)
            return T.CREATE, W.create(path, data, acl=rnd.choice(acls), ephemeral=rnd.random() < 0.2, pcv=pcv)
        if kind < 0.5:
            return T.CREATE_TTL, W.create_ttl(path, rnd.randrange(1, 10 ** 6), data, pcv=pcv)
        if kind < 0.55:
            return T.CREATE_CONTAINER, W.create_container(path, data, pcv=pcv)
        if kind < 0.7:
            return T.DELETE, W.delete(rnd.choice(paths))
        if kind < 0.8:
            return T.SET_DATA, W.set_data(rnd.choice(paths), b"d%d" % rnd.randrange(9), rnd.randrange(9))
        if kind < 0.85 and top:
            return T.SET_ACL, W.set_acl(rnd.choice(paths), rnd.choice(acls[:3]), rnd.randrange(9))
        return T.CREATE2, W.create(path, data, pcv=pcv)
    while len(out) < count:
        zxid += 1
        if rnd.random() < 0.3:
            out.append((zxid, T.MULTI, W.multi([one(False) for _i in range(rnd.randrange(1, 40))]),
                        rnd.choice([7, 8])))
        else:
            op, rec = one()
            out.append((zxid, op, rec, rnd.choice([7, 8])))
    for client in (7, 8):
        zxid += 1
        out.append((zxid, T.CLOSE_SESSION, W.close_session(None), client))
    return out


def test_creates_applied_with_the_shortcuts_equal_the_careful_tree():
    for seed in range(8):
        fast, careful = tree(), CarefulTree()
        careful.nodes.update(fast.nodes)
        careful.zk_digest = fast.zk_digest
        for zxid, op, rec, client in random_txns(seed):
            assert apply(fast, zxid, op, rec, client) == apply(careful, zxid, op, rec, client)
            assert fast.zk_digest == careful.zk_digest
        assert fast.nodes == careful.nodes and fast.ephemerals == careful.ephemerals
        assert fast.acl_lists().keys() != () and sorted(fast.acl_lists().values()) == sorted(
            careful.acl_lists().values())
        check_zk_digest(fast)
        assert len(fast.nodes) > 20
