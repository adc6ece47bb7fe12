"""txnlog: records, checksums, how a log ends, continuity, and cutting logs."""
import os
import pathlib

import pytest

import zkfiles as W
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txn as T
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import txnlog
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError

E1 = 0x100000000


def raws(first, n, epoch=E1):
    return [W.txn(epoch + first + i, T.CREATE, W.create("/n%d" % (first + i), b"v")) for i in range(n)]


def scan(tmp_path, data, name="log.100000001"):
    return txnlog.scan_log(W.write(str(tmp_path / name), data), keep_txns=True)


def test_clean_log_with_padding(tmp_path):
    r = scan(tmp_path, W.log_bytes(raws(1, 5), padding=4096))
    assert r["valid"] and r["end"] == "padding" and r["records"] == 5
    assert (r["first_zxid"], r["last_zxid"]) == (E1 + 1, E1 + 5)
    assert r["runs"] == [[E1 + 1, E1 + 5]] and r["gaps"] == [] and r["findings"] == []
    assert r["end_offset"] == len(W.log_bytes(raws(1, 5), padding=0))
    assert [t.zxid for t in r["txns"]] == [E1 + i for i in range(1, 6)]


def test_log_ending_at_eof_and_empty_file(tmp_path):
    r = scan(tmp_path, W.log_bytes(raws(1, 2), padding=0))
    assert r["valid"] and r["end"] == "eof"
    r = scan(tmp_path, b"", "log.1")
    assert r["valid"] and r["records"] == 0 and "empty log" in r["findings"][0]["message"]


def test_torn_last_record_is_a_warning(tmp_path):
    full = W.log_bytes(raws(1, 3), padding=0)
    for cut in (5, 11, 20, 1):      # inside the head, the data, the end byte
        r = scan(tmp_path, full[:-cut] + bytes(100))
        assert r["valid"] and r["end"] == "torn" and r["records"] == 2, cut
        assert "ZooKeeper stops reading" in r["findings"][0]["message"]
    r = scan(tmp_path, full[:-7])   # cut by the end of the file
    assert r["valid"] and r["end"] == "torn" and r["records"] == 2


def test_missing_end_byte_mid_log_leaves_garbage_warning(tmp_path):
    rs = raws(1, 3)
    data = W.log_bytes(rs[:1], padding=0) + W.record(rs[1], eor=0x41) + W.record(rs[2])
    r = scan(tmp_path, data)
    assert r["valid"] and r["end"] == "garbage" and r["records"] == 1
    assert "non-zero bytes follow" in r["findings"][0]["message"]


def test_nonzero_bytes_after_end_marker(tmp_path):
    data = W.log_bytes(raws(1, 2), padding=0) + bytes(300) + b"\x01" + bytes(10)
    r = scan(tmp_path, data)
    assert r["valid"] and r["end"] == "garbage"
    assert r["findings"][0]["offset"] == len(W.log_bytes(raws(1, 2), padding=0))


def test_checksum_mismatch_is_an_error(tmp_path):
    rs = raws(1, 3)
    data = W.log_bytes(rs[:1], padding=0) + W.record(rs[1], crc=12345) + W.record(rs[2]) + bytes(20)
    r = scan(tmp_path, data)
    assert not r["valid"] and r["end"] == "corrupt" and r["records"] == 1
    assert "checksum mismatch" in r["findings"][0]["message"] and "0x100000002" in r["findings"][0]["message"]


@pytest.mark.parametrize("length", [-1, -5, 3_000_000])
def test_unreasonable_length_is_an_error(tmp_path, length):
    head = W.log_bytes(raws(1, 1), padding=0)
    data = head + W.pack_long(1) + W.pack_int(length) + bytes(64)
    r = scan(tmp_path, data)
    assert not r["valid"] and r["end"] == "corrupt"
    assert "unreasonable record length %d" % length in r["findings"][0]["message"]


def test_limit_follows_jute_maxbuffer(tmp_path):
    big = W.txn(E1 + 1, T.SET_DATA, W.set_data("/big", bytes(1_500_000), 1))
    p = W.write(str(tmp_path / "log.100000001"), W.log_bytes([big]))
    assert txnlog.scan_log(p)["valid"]                      # default limit: 2 x 0xfffff
    r = txnlog.scan_log(p, limit=1_000_000)
    assert not r["valid"] and "unreasonable record length" in r["findings"][0]["message"]


def test_undecodable_record_names_type_and_offset(tmp_path):
    bad = W.txn(E1 + 2, 42, b"\x00" * 4)
    head = W.log_bytes(raws(1, 1), padding=0)
    r = scan(tmp_path, head + W.record(bad) + bytes(20))
    assert not r["valid"]
    f = r["findings"][0]
    assert "unknown transaction type 42" in f["message"] and f["offset"] == len(head) + 12 + 24


def test_header_problems(tmp_path):
    good = W.log_bytes(raws(1, 1))
    r = scan(tmp_path, b"ZKLX" + good[4:])
    assert not r["valid"] and "not a transaction log" in r["findings"][0]["message"]
    r = scan(tmp_path, good[:4] + W.pack_int(3) + good[8:])
    assert not r["valid"] and "version 3" in r["findings"][0]["message"]
    r = scan(tmp_path, good[:10])
    assert not r["valid"] and "cut short" in r["findings"][0]["message"]
    r = scan(tmp_path, W.log_bytes(raws(1, 1), dbid=7))
    assert r["valid"] and "dbid is 7" in r["findings"][0]["message"]


def test_gaps_and_epochs(tmp_path):
    E2 = 0x200000000
    rs = raws(1, 3) + raws(5, 2) + raws(1, 2, epoch=E2) + raws(9, 1, epoch=E2)
    r = scan(tmp_path, W.log_bytes(rs))
    assert r["valid"]
    assert [(g["after"], g["before"], g["kind"]) for g in r["gaps"]] == [
        ("0x100000003", "0x100000005", "intra-epoch"), ("0x200000002", "0x200000009", "intra-epoch")]
    # A new epoch starting at counter 1 is no gap but starts a new run.
    assert r["runs"] == [[E1 + 1, E1 + 3], [E1 + 5, E1 + 6], [E2 + 1, E2 + 2], [E2 + 9, E2 + 9]]
    r = scan(tmp_path, W.log_bytes(raws(1, 2) + raws(3, 1, epoch=E2)))
    assert r["gaps"][0]["kind"] == "inter-epoch"
    r = scan(tmp_path, W.log_bytes(raws(3, 2) + raws(1, 1)))
    assert "go backwards" in r["findings"][0]["message"]


def test_follows():
    assert txnlog.follows(E1 + 4, E1 + 5)
    assert txnlog.follows(E1 + 4, 0x300000001)
    assert not txnlog.follows(E1 + 4, E1 + 6)
    assert not txnlog.follows(E1 + 4, 0x300000002)


def test_cut_after_last_whole_record_in_place_and_copy(tmp_path):
    full = W.log_bytes(raws(1, 4), padding=0)
    torn = full[:-9] + bytes(4096)
    p = W.write(str(tmp_path / "log.100000001"), torn)
    os.mkdir(str(tmp_path / "cut"))
    dst = str(tmp_path / "cut" / "log.100000001")
    res = txnlog.cut_log(p, dst=dst)
    assert res["records"] == 3 and res["last_zxid"] == E1 + 3 and res["end"] == "torn"
    assert pathlib.Path(dst).read_bytes() == W.log_bytes(raws(1, 3), padding=0)
    after = txnlog.scan_log(dst)
    assert after["valid"] and after["end"] == "eof" and after["findings"] == []
    res = txnlog.cut_log(p)
    assert os.path.getsize(p) == res["kept_bytes"] == len(W.log_bytes(raws(1, 3), padding=0))


def test_cut_at_zxid(tmp_path):
    p = W.write(str(tmp_path / "log.100000001"), W.log_bytes(raws(1, 6), padding=512))
    res = txnlog.cut_log(p, dst=str(tmp_path / "c"), zxid=E1 + 4)
    assert res["records"] == 4 and res["last_zxid"] == E1 + 4
    r = txnlog.scan_log(str(tmp_path / "c"))
    assert (r["last_zxid"], r["records"], r["end"]) == (E1 + 4, 4, "eof")
    # A zxid between two records keeps those below it.
    res = txnlog.cut_log(p, dst=str(tmp_path / "d"), zxid=E1 + 4)
    assert res["records"] == 4


def test_cut_refuses_to_drop_records_after_damage(tmp_path):
    rs = raws(1, 3)
    data = W.log_bytes(rs[:1], padding=0) + W.record(rs[1], crc=1) + W.record(rs[2])
    p = W.write(str(tmp_path / "log.100000001"), data)
    with pytest.raises(FormatError, match="before a damaged record"):
        txnlog.cut_log(p, dst=str(tmp_path / "c"))
    res = txnlog.cut_log(p, dst=str(tmp_path / "c"), allow_errors=True)
    assert res["records"] == 1
    # Cutting below the damage is fine.
    assert txnlog.cut_log(p, dst=str(tmp_path / "d"), zxid=E1 + 1)["records"] == 1


def test_sparse_preallocated_log(tmp_path):
    p = str(tmp_path / "log.100000001")
    with open(p, "wb") as f:
        f.write(W.log_bytes(raws(1, 2), padding=0))
        f.truncate(64 << 20)        # sparse, as FilePadding leaves it
    r = txnlog.scan_log(p)
    assert r["valid"] and r["end"] == "padding" and r["size"] == 64 << 20
    with open(p, "r+b") as f:
        f.seek(40 << 20)
        f.write(b"\x07")
    r = txnlog.scan_log(p)
    assert r["end"] == "garbage" and "offset %d" % (40 << 20) in r["findings"][0]["message"]
