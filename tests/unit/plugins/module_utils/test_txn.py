"""txn: every transaction type ZooKeeper 3.5 to 3.9 writes decodes, with or without the
3.6+ digest; anything else fails with the type and the offset."""
import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.jute import FormatError, Truncated

DIGEST = (2, -123456789)


@pytest.mark.parametrize("digest", [None, DIGEST])
def test_every_type_decodes(digest):
    cases = [
        (T.CREATE, W.create("/a", b"x", W.OPEN, True, 3), "Create"),
        (T.CREATE2, W.create("/b", None, W.READ, False, 4), "Create"),
        (T.CREATE_CONTAINER, W.create_container("/c", b"", W.OPEN, 5), "Create"),
        (T.CREATE_TTL, W.create_ttl("/t", 60000, b"t", W.OPEN, 6), "Create"),
        (T.DELETE, W.delete("/a"), "Delete"),
        (T.DELETE_CONTAINER, W.delete("/c"), "Delete"),
        (T.SET_DATA, W.set_data("/b", b"\x00\xff", 7), "SetData"),
        (T.RECONFIG, W.set_data("/zookeeper/config", b"server.1=a:1:2", -1), "SetData"),
        (T.SET_ACL, W.set_acl("/b", W.READ, 2), "SetACL"),
        (T.CREATE_SESSION, W.create_session(30000), "CreateSession"),
        (T.CLOSE_SESSION, W.close_session(["/e1", "/e2"]), "CloseSession"),
        (T.ERROR, W.error(-110), "Error"),
        (T.MULTI, W.multi([(T.CREATE, W.create("/m", b"1")), (T.CHECK, W.check("/m", 0)),
                           (T.SET_DATA, W.set_data("/m", b"2", 1)), (T.DELETE, W.delete("/m")),
                           (T.CREATE_TTL, W.create_ttl("/mt", 5)),
                           (T.CREATE_CONTAINER, W.create_container("/mc"))]), "Multi"),
    ]
    for zxid, (op, rec, cls) in enumerate(cases, 1):
        t = T.decode_txn(W.txn(zxid, op, rec, client=77, cxid=9, digest=digest))
        assert (t.zxid, t.type, t.client_id, t.cxid) == (zxid, op, 77, 9)
        assert type(t.record).__name__ == cls
        assert t.digest == digest
    t = T.decode_txn(W.txn(1, T.CREATE_TTL, W.create_ttl("/t", 60000, b"t", W.OPEN, 6)))
    assert (t.record.path, t.record.ttl, t.record.parent_cversion, t.record.container) == ("/t", 60000, 6, False)
    t = T.decode_txn(W.txn(1, T.CREATE, W.create("/a", b"x", W.OPEN, True, 3)))
    assert (t.record.ephemeral, t.record.acl, t.record.data) == (True, W.OPEN, b"x")
    t = T.decode_txn(W.txn(1, T.CREATE2, W.create("/b", None, W.READ, False, 4)))
    assert t.record.data is None and t.record.acl == W.READ
    t = T.decode_txn(W.txn(1, T.MULTI, W.multi([(T.CREATE, W.create("/m", b"1")), (T.CHECK, W.check("/m", 0))])))
    assert [op for op, _x in t.record.ops] == [T.CREATE, T.CHECK]
    assert t.record.ops[1][1].version == 0


@pytest.mark.parametrize("digest", [None, DIGEST])
def test_close_session_without_record(digest):
    # 3.5 logs (and closeSessionTxn disabled) carry no CloseSessionTxn.
    t = T.decode_txn(W.txn(3, T.CLOSE_SESSION, W.close_session(None), digest=digest))
    assert t.record is None and t.digest == digest


def test_close_session_with_empty_paths_and_digest():
    t = T.decode_txn(W.txn(3, T.CLOSE_SESSION, W.close_session([]), digest=DIGEST))
    assert t.record.paths == [] and t.digest == DIGEST


def test_create_v0_is_read_with_unknown_parent_cversion():
    t = T.decode_txn(W.txn(3, T.CREATE, W.create_v0("/old", b"v")))
    assert t.record.parent_cversion == -1 and t.record.data == b"v"


def test_unknown_type_names_type_and_offset():
    raw = W.txn(0x100000005, 99, b"\x00" * 8)
    with pytest.raises(FormatError) as e:
        T.decode_txn(raw, base=1000)
    assert "unknown transaction type 99" in str(e.value) and "0x100000005" in str(e.value)
    assert e.value.offset == 1000 + 24


def test_unknown_sub_type_in_multi():
    raw = W.txn(5, T.MULTI, W.multi([(T.CREATE, W.create("/x")), (T.SET_ACL, W.set_acl("/x", W.OPEN, 1))]))
    with pytest.raises(FormatError) as e:
        T.decode_txn(raw, base=16)
    assert "sub-transaction type 7" in str(e.value)
    assert e.value.offset > 16 + 28


def test_trailing_bytes_and_truncation_are_errors():
    with pytest.raises(FormatError, match="unexpected bytes"):
        T.decode_txn(W.txn(5, T.DELETE, W.delete("/x") + b"\x00\x01\x02"))
    with pytest.raises(Truncated):
        T.decode_txn(W.txn(5, T.SET_DATA, W.set_data("/x", b"abc", 1)[:-6]))
    with pytest.raises(FormatError, match="shorter than its header"):
        T.decode_txn(b"\x00" * 10)


def test_paths_must_be_absolute_and_lengths_reasonable():
    with pytest.raises(FormatError, match="not an absolute znode path"):
        T.decode_txn(W.txn(5, T.DELETE, W.delete("relative")))
    huge = W.txn(5, T.SET_DATA, W.set_data("/x", b"", 1))
    i = huge.index(b"/x") + 2   # the data length
    huge = huge[:i] + b"\x7f\xff\xff\xff" + huge[i + 4:]
    with pytest.raises(FormatError, match="unreasonable data length"):
        T.decode_txn(huge)


def test_op_names_match_zookeeper():
    assert T.op_name(T.CREATE_TTL) == "createTtl"
    assert T.op_name(T.CLOSE_SESSION) == "closeSession"
    assert T.op_name(1234) == "unknown 1234"


def test_failed_multi_as_a_leader_logs_it():
    # The leader's own log of a failed multi: the operation before the failing one keeps
    # its record but has the type error (seen in the lab with ZooKeeper 3.8).
    raw = W.txn(5, T.MULTI, W.multi([(T.ERROR, W.create("/never", b"")), (T.ERROR, W.error(-103))]))
    t = T.decode_txn(raw)
    assert [op for op, _x in t.record.ops] == [T.ERROR, T.ERROR]
    assert t.record.ops[1][1].err == -103
