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


class _ProbePool(object):
    """Answers the multiRead probe as told; records the sessions it was asked to replace."""

    def __init__(self, answer):
        self.answer = answer
        self.sessions = [zpl.Session("127.0.0.1", 1)]
        self.replaced = []
        self.lost = 0

    def call(self, session, request, timeout=10.0):
        assert isinstance(request, zp.MultiRead) and request.operations == [zp.GetData("/")]
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def _recover(self, session, resubmit=True, lost=True):
        assert not resubmit
        self.replaced.append(session)
        self.lost += 1 if lost else 0


def test_multi_read_probe_tells_a_release_without_it_from_one_with_it():
    from kazoo.exceptions import EXCEPTIONS, NoAuthError
    pool = _ProbePool([(b"", bytes(68))])
    assert zpl.multi_read_support(pool) == (True, "127.0.0.1:1 answered multiRead")
    assert not pool.replaced
    # ZooKeeper 3.5 answers UNIMPLEMENTED and closes the session: it is replaced.
    pool = _ProbePool(EXCEPTIONS[zpl.UNIMPLEMENTED]())
    ok, why = zpl.multi_read_support(pool)
    assert not ok and "before 3.6" in why and "UNIMPLEMENTED" in why
    assert pool.replaced == pool.sessions and pool.lost == 0
    # No answer, or another error: single reads, and the reason says which.
    # A session that timed out is replaced and counted as lost: that is the ensemble's doing.
    pool = _ProbePool(zpl.PipelineError("127.0.0.1:1: no answer within 5s", "timeout"))
    ok, why = zpl.multi_read_support(pool)
    assert not ok and "no answer within 5s" in why and pool.replaced and pool.lost == 1
    # An error answered in order leaves the session as it was.
    pool = _ProbePool(NoAuthError())
    ok, why = zpl.multi_read_support(pool)
    assert not ok and "answered the multiRead probe with an error (not authorised" in why
    assert not pool.replaced and pool.lost == 0
    assert zpl.probe_multi_read(_ProbePool([(b"", bytes(68))])) is True


def test_a_forced_multi_read_on_a_server_without_it_says_so():
    from kazoo.exceptions import EXCEPTIONS
    w, _got = _walker(partial=False)
    try:
        w._done(("m", [("/a", False)]), None, None, EXCEPTIONS[zpl.UNIMPLEMENTED]())
    except tw.WalkError as exc:
        assert "does not know multiRead" in str(exc) and "multi_read unset" in str(exc)
        assert exc.path == "/a"
    else:
        raise AssertionError("no WalkError")


def test_an_unimplemented_answer_ahead_of_earlier_requests_names_the_request():
    # ZooKeeper 3.5 answers an opcode it does not know at once, before the answers to the
    # requests sent ahead of it.
    s = zpl.Session("127.0.0.1", 1)
    s.submit(zp.GetACLRaw("/a"), "acl")
    s.submit(zp.MultiRead([zp.GetData("/a")]), "multi")
    s._in += frame(2, 5, zpl.UNIMPLEMENTED)
    try:
        s._parse()
    except zpl.PipelineError as exc:
        assert exc.reason == "unimplemented"
        assert "does not know the MultiRead request (opcode 22)" in str(exc)
    else:
        raise AssertionError("no PipelineError")
    s = zpl.Session("127.0.0.1", 1)
    s.submit(zp.GetData("/a"), "a")
    s.submit(zp.GetData("/b"), "b")
    s._in += frame(2, 5, -101)
    try:
        s._parse()
    except zpl.PipelineError as exc:
        assert exc.reason == "protocol" and "out of order" in str(exc)
    else:
        raise AssertionError("no PipelineError")
