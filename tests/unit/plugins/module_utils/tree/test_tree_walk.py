"""tree_walk and zk_pipeline helpers that need no server."""
import struct

from kazoo.exceptions import NoNodeError

from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tw
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zpl
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp


def test_sequence_counter_from_client_stat():
    # 6 children created, 2 of them deleted: clients see cversion 2*6-4 = 8.
    assert tw.sequence_counter(8, 4) == 6
    assert tw.sequence_counter(0, 0) == 0
    stat = struct.pack("!qqqqiiiqiiq", 0, 0, 0, 0, 0, 8, 0, 0, 0, 4, 0)
    assert tw.stat_sequence_counter(stat) == 6


def test_sequence_suffix_and_exclusion_and_masking():
    assert tw.sequence_suffix("lock-0000000042") == 42
    assert tw.sequence_suffix("lock-42") is None
    assert tw.excluded("/zookeeper/quota", ["/zookeeper"])
    assert not tw.excluded("/zookeeperish", ["/zookeeper"])
    assert tw.is_masked_digest(((31, "digest", "alice:x"),))
    assert not tw.is_masked_digest(((31, "digest", "alice:HQBdbHXUuvZQBTBGTvsHGThB3Rs="),))


def test_acl_cache_decodes_each_acl_once():
    vec = struct.pack("!i", 1) + struct.pack("!i", 31) + struct.pack("!i", 5) + b"world" + \
        struct.pack("!i", 6) + b"anyone"
    cache = tw.AclCache()
    a = cache.get(bytes(vec))
    assert a[0] == ((31, "world", "anyone"),) and not a[2]
    assert cache.get(bytes(vec)) is a


def frame(xid, zxid, err, body=b""):
    payload = struct.pack("!iqi", xid, zxid, err) + body
    return struct.pack("!i", len(payload)) + payload


def test_session_parses_answers_split_anywhere_and_in_order():
    s = zpl.Session("127.0.0.1", 1)
    s.submit(zp.Sync("/"), "t1")
    s.submit(zp.GetData("/a"), "t2")
    stream = (frame(-2, 0, 0) + frame(1, 10, 0, struct.pack("!i", 1) + b"/") +
              frame(2, 12, -101))
    got = []
    for i in range(len(stream)):          # one byte at a time
        s._in += stream[i:i + 1]
        got += s._parse()
    assert [g[0] for g in got] == ["t1", "t2"]
    assert got[0][2] == "/" and isinstance(got[1][3], NoNodeError)
    assert s.last_zxid == 12 and not s.outstanding


def test_endpoints_and_chroot():
    eps, chroot = zpl.endpoints_from_hosts("a:2181,b:2182/apps/x")
    assert eps == [("a", 2181), ("b", 2182)] and chroot == "/apps/x"
    assert zpl.endpoints_from_hosts("a")[0] == [("a", 2181)]


def _acl_vector(scheme, ident, perms=31):
    return (struct.pack("!i", 1) + struct.pack("!i", perms) + struct.pack("!i", len(scheme)) + scheme.encode()
            + struct.pack("!i", len(ident)) + ident.encode())


def _walker(partial):
    w = tw.Walker(None, partial=partial)
    got = []
    w._pending, w._acl_wait, w._on_node = [], {}, got.append
    return w, got


def test_partial_walk_skips_what_it_may_not_read_and_names_it():
    from kazoo.exceptions import NoAuthError
    stat = bytes(68)
    w, got = _walker(partial=True)
    w._complete("/secure", False, NoAuthError(), NoAuthError())
    w._acl_wait["/shown"] = _acl_vector("digest", "broker:x")
    w._complete("/shown", False, [], (b"data", stat))
    w._acl_wait["/open"] = _acl_vector("world", "anyone")
    w._complete("/open", False, ["child"], (b"", stat))
    assert [n.path for n in got] == ["/shown", "/open"]
    assert w._pending == [("/open/child", False)]
    d = w.stats.as_dict()
    assert d["partial"] and d["unreadable"] == ["/secure"]
    assert d["acl_hidden"] == ["/shown"] and d["acl_hidden_count"] == 1

    # Without partial the same znodes fail the walk, naming them.
    w, got = _walker(partial=False)
    try:
        w._complete("/secure", False, NoAuthError(), NoAuthError())
        raise AssertionError("no WalkError")
    except tw.WalkError as exc:
        assert exc.path == "/secure"
    w._acl_wait["/shown"] = _acl_vector("digest", "broker:x")
    try:
        w._complete("/shown", False, [], (b"data", stat))
        raise AssertionError("no WalkError")
    except tw.WalkError as exc:
        assert exc.path == "/shown" and "ADMIN" in str(exc)
    assert not w.stats.as_dict()["partial"]
