"""txn: every transaction type ZooKeeper 3.5 to 3.9 writes decodes, with or without the
3.6+ digest; anything else fails with the type and the offset."""
import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError, Reader, Truncated

DIGEST = (2, -123456789)
E = 0x100000000


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


CREATES = [
    W.create("/a", b"data"),
    W.create("/a/b", None, acl=((1, "digest", "u:h="), (31, "world", "anyone")), ephemeral=True, pcv=7),
    W.create("/a/\u00e9", b"", acl=()),
    W.create("/seq-0000000001", b"x" * 1000, pcv=-1),
]
BROKEN = [
    W.create("a/relative", b""),                                 # not absolute
    W.create("", b""),                                           # empty path
    W.create("/x", b"", acl=((1, "world", "anyone"),))[:-3],     # cut inside parentCVersion
    W.create_v0("/old", b"v0"),                                  # 3.3's CreateTxnV0
    W.pack_ustring("/nul") + W.pack_buffer(b"") + W.pack_int(-1) + W.pack_bool(False) + W.pack_int(1),
    W.pack_int(4) + b"/\xff\xfe\x00" + W.pack_buffer(b"") + W.pack_int(0) + W.pack_bool(False)
    + W.pack_int(1),                                             # path not UTF-8
    W.pack_ustring("/acl") + W.pack_buffer(b"") + W.pack_int(1) + W.pack_int(1)
    + W.pack_int(2) + b"\xff\xfe" + W.pack_ustring("id") + W.pack_bool(False) + W.pack_int(1),
    W.pack_ustring("/big") + W.pack_int(1 << 30) + b"",          # unreasonable data length
]


def _decoded(raw):
    try:
        t = T.decode_txn(raw, base=100)
    except FormatError as exc:
        return ("error", str(exc))
    rec = t.record
    return (t.type, t.digest, rec.path, rec.data, rec.acl, rec.ephemeral, rec.parent_cversion)


def test_the_fast_create_decoder_gives_the_careful_decoders_results(monkeypatch):
    raws = []
    for rec in CREATES + BROKEN:
        raws.append(W.txn(E + 1, T.CREATE, rec))
        raws.append(W.txn(E + 2, T.CREATE2, rec, digest=(2, 12345)))
    raws.append(W.txn(E + 3, T.MULTI, W.multi([(T.CREATE, r) for r in CREATES])))
    fast = [_decoded(r) if T.peek_header(r)[4] != T.MULTI else T.decode_txn(r).record.ops
            for r in raws]
    monkeypatch.setattr(T, "_create_fast", lambda r: None)
    careful = [_decoded(r) if T.peek_header(r)[4] != T.MULTI else T.decode_txn(r).record.ops
               for r in raws]
    assert [repr(x) for x in fast[:-1]] == [repr(x) for x in careful[:-1]]
    assert [(op, vars_of(rec)) for op, rec in fast[-1]] == [(op, vars_of(rec)) for op, rec in careful[-1]]
    assert sum(1 for x in careful if x[0] == "error") >= 10
    # The fast decoder did take the ordinary records, and left the others alone.
    monkeypatch.undo()
    for rec in CREATES:
        r = Reader(rec)
        assert T._create_fast(r) is not None and r.remaining() == 0
    for rec in BROKEN:
        r = Reader(rec)
        assert T._create_fast(r) is None and r.pos == 0


def vars_of(rec):
    return tuple(getattr(rec, k) for k in rec.__slots__)


def test_creates_in_a_multi_read_in_one_step_equal_the_careful_reading(monkeypatch):
    ordinary = [(T.CREATE, r) for r in CREATES] + [(T.CREATE2, r) for r in CREATES]
    others = [(T.SET_DATA, W.set_data("/a", b"x", 1)), (T.DELETE, W.delete("/a/b")),
              (T.CREATE_CONTAINER, W.create_container("/c", b"", W.OPEN, 5)),
              (T.CHECK, W.check("/a", 3)), (T.ERROR, W.create("/never", b""))]
    multis = [ordinary, ordinary + others, others + ordinary]
    # Every broken create, alone and among ordinary ones; a sub-transaction cut short,
    # one longer than its create, and one whose length runs past the multi.
    for bad in BROKEN:
        multis.append([(T.CREATE, bad)])
        multis.append(ordinary[:2] + [(T.CREATE2, bad)] + ordinary[2:])
    raws = [W.txn(E + 1, T.MULTI, W.multi(m), digest=d) for m in multis for d in (None, DIGEST)]
    whole = W.multi(ordinary[:3])
    raws.append(W.txn(E + 1, T.MULTI, W.multi([(T.CREATE, CREATES[0] + b"\x00\x00")])))
    raws.append(W.txn(E + 1, T.MULTI, W.multi([(T.CREATE, CREATES[0][:-2])])))
    raws.append(W.txn(E + 1, T.MULTI, whole[:-5]))
    raws.append(W.txn(E + 1, T.MULTI, whole[:4] + W.pack_int(T.CREATE) + W.pack_int(1 << 20)))

    def decoded():
        out = []
        for raw in raws:
            try:
                t = T.decode_txn(raw, base=100)
            except FormatError as exc:
                out.append(("error", type(exc).__name__, str(exc)))
                continue
            out.append((t.digest, [(op, type(rec).__name__, vars_of(rec)) for op, rec in t.record.ops]))
        return out
    fast = decoded()
    monkeypatch.setattr(T, "_create_at", lambda buf, p, end, limit: None)
    careful = decoded()
    assert fast == careful
    assert sum(1 for x in careful if x[0] == "error") >= 8
    assert all(x[0] != "error" for x in careful[:6])
