"""zk_protocol: byte layouts of the requests kazoo lacks, and parsing of their answers."""
import struct

from kazoo.exceptions import NoNodeError, NodeExistsError, RuntimeInconsistency
from kazoo.protocol.serialization import Create as KazooCreate
from kazoo.security import ACL, Id

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zp

WORLD = ((31, "world", "anyone"),)
STAT = struct.pack("!qqqqiiiqiiq", 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11)


def s(text):
    b = text.encode()
    return struct.pack("!i", len(b)) + b


def test_create_ttl_layout_is_create_ttl_request():
    req = zp.CreateTTL("/t", b"ab", WORLD, 60000, False)
    want = s("/t") + struct.pack("!i", 2) + b"ab" + struct.pack("!i", 1) + \
        struct.pack("!i", 31) + s("world") + s("anyone") + struct.pack("!i", 5) + \
        struct.pack("!q", 60000)
    assert bytes(req.serialize()) == want
    assert req.type == 21
    assert zp.CreateTTL("/t", b"", WORLD, 1, True).flags == 6


def test_create_container_layout_matches_kazoo_create_with_flag_4():
    acl = [ACL(31, Id("world", "anyone"))]
    ours = zp.CreateContainer("/c", b"x", WORLD)
    assert ours.type == 19
    assert bytes(ours.serialize()) == bytes(KazooCreate("/c", b"x", acl, 4).serialize())
    # Null data and an empty ACL id stay distinguishable from empty ones.
    assert bytes(zp.Create("/e", None, ((1, "auth", ""),), 0).serialize()) == \
        s("/e") + struct.pack("!i", -1) + struct.pack("!i", 1) + struct.pack("!i", 1) + \
        s("auth") + struct.pack("!i", 0) + struct.pack("!i", 0)


def mh(t, done=False, err=-1):
    return struct.pack("!iBi", t, 1 if done else 0, err)


def test_multi_serializes_headers_and_parses_every_result_type():
    m = zp.Multi([zp.CreateContainer("/c", b"", WORLD), zp.Delete("/d", 3)])
    raw = bytes(m.serialize())
    assert raw.startswith(mh(19)) and raw.endswith(mh(-1, True, -1))
    assert mh(2) + s("/d") + struct.pack("!i", 3) in raw
    answer = (mh(1, err=0) + s("/a") + mh(15, err=0) + s("/b") + STAT + mh(2, err=0) +
              mh(5, err=0) + STAT + mh(13, err=0) + mh(-1, True, -1))
    res = zp.Multi.deserialize(answer, 0)
    assert res[:3] == ["/a", "/b", True] and res[3].cversion == 6 and res[4] is True
    failed = mh(-1, err=-110) + struct.pack("!i", -110) + mh(-1, err=-2) + \
        struct.pack("!i", -2) + mh(-1, True, -1)
    res = zp.Multi.deserialize(failed, 0)
    assert isinstance(res[0], NodeExistsError) and isinstance(res[1], RuntimeInconsistency)


def test_multi_read_parses_children_data_and_per_op_errors():
    req = zp.MultiRead([zp.GetChildren("/a"), zp.GetData("/a")])
    assert req.type == 22
    assert bytes(req.serialize()) == mh(8) + s("/a") + b"\x00" + mh(4) + s("/a") + b"\x00" + \
        mh(-1, True, -1)
    answer = (mh(8, err=0) + struct.pack("!i", 2) + s("x") + s("\u00e9") +
              mh(4, err=0) + struct.pack("!i", 3) + b"abc" + STAT +
              mh(4, err=0) + struct.pack("!i", -1) + STAT +
              mh(-1, err=-101) + struct.pack("!i", -101) + mh(-1, True, -1))
    res = zp.MultiRead.deserialize(answer, 0)
    assert res[0] == ["x", "\u00e9"]
    assert res[1][0] == b"abc" and res[1][1].numChildren == 10
    assert res[2][0] is None
    assert isinstance(res[3], NoNodeError)
    raw = list(zp.MultiRead.iter_results(answer, 0, raw_stat=True))
    assert raw[1][1][1] == STAT


def test_multi_read_refuses_writes():
    import pytest
    with pytest.raises(ValueError):
        zp.MultiRead([zp.Delete("/a", -1)]).serialize()


def test_get_acl_raw_returns_the_vector_and_the_stat():
    vec = struct.pack("!i", 2) + struct.pack("!i", 1) + s("digest") + s("u:h") + \
        struct.pack("!i", 31) + s("world") + s("anyone")
    acl_raw, stat = zp.GetACLRaw.deserialize(vec + STAT, 0)
    assert acl_raw == vec and stat == STAT
    acl, end = zp.read_acl_vector(acl_raw, 0)
    assert acl == ((1, "digest", "u:h"), (31, "world", "anyone")) and end == len(vec)
