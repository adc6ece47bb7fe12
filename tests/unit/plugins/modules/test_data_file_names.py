"""zk_info and zk_verify name the files of a data directory alike: one rule, ZooKeeper's.

ZooKeeper (persistence/Util.getZxidFromName) takes a file for a snapshot or a log when the
part after the first dot parses as a hex long (``Long.parseLong(part, 16)``), whatever
follows it: ``log.100.bak`` is the log 0x100 to ZooKeeper.  Both modules run on one
directory full of such names and must classify each the same way, as ZooKeeper does.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zk_fakes import FakeProc, FakeZk, srvr_text, zk_argv  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import data_files  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.modules import zk_info  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.modules import zk_verify  # noqa: E402

# name -> (kind, zxid) as ZooKeeper reads it; kind None for a foreign file.
NAMES = {
    "snapshot.0": ("snapshot", 0),
    "snapshot.1f.tmp": ("snapshot", 0x1f),
    "snapshot.1F": ("snapshot", 0x1f),
    "snapshot.2a.gz": ("snapshot", 0x2a),
    "snapshot.2B.SNAPPY": ("snapshot", 0x2b),
    "snapshot.+30": ("snapshot", 0x30),
    "snapshot.0x10": (None, None),
    "snapshot.1_0": (None, None),
    "snapshot.": (None, None),
    "snapshot.gz": (None, None),
    "snapshot.-5": (None, None),
    "snapshot.10000000000000000": (None, None),
    "snapshot": (None, None),
    "log.100": ("log", 0x100),
    "log.100.bak": ("log", 0x100),
    "log.ABC": ("log", 0xabc),
    "log.0200": ("log", 0x200),
    "log.": (None, None),
    "log.xyz": (None, None),
    "log..5": (None, None),
    "log. 5": (None, None),
    "log.5 ": (None, None),
    "LOG.5": (None, None),
    "logs.5": (None, None),
    "currentEpoch": ("epoch", None),
    "acceptedEpoch": ("epoch", None),
    "acceptedEpoch.tmp": (None, None),
    "currentEpoch.bak": (None, None),
    "version-2": (None, None),
    "myid": (None, None),
}
DIRECTORIES = ("log.5", "snapshot.7", "version-2.old")


@pytest.fixture
def member(tmp_path, monkeypatch):
    """A standalone member whose version-2 holds every name above (and directories)."""
    zk = FakeZk({"srvr": srvr_text("standalone", 0x12)})
    data = tmp_path / "data"
    v2 = data / "version-2"
    v2.mkdir(parents=True)
    for name in NAMES:
        (v2 / name).write_bytes(b"x")
    for name in DIRECTORIES:
        (v2 / name).mkdir()
    (v2 / "currentEpoch").write_bytes(b"+7\n")
    (v2 / "acceptedEpoch").write_bytes(b"8\r\ntrailing text\n")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=%d\n" % (data, zk.port))
    fp = FakeProc(tmp_path / "proc")
    fp.add(10, zk_argv(str(cfg)))
    monkeypatch.setattr(proc, "PROC", fp.root)
    yield str(cfg), str(data)
    zk.close()


def info_kinds(disk):
    kinds = {}
    for key, kind in (("snapshots", "snapshot"), ("logs", "log")):
        for e in disk[key]:
            kinds[e["name"]] = (kind, int(e["zxid"], 16))
    for name, key in data_files.EPOCH_FILES:
        if disk[key] is not None:
            kinds[name] = ("epoch", None)
    return kinds


def verify_kinds(files):
    kinds = {}
    for e in files:
        if e["type"] != "other":
            kinds[os.path.basename(e["path"])] = (
                e["type"], int(e["zxid"], 16) if e["zxid"] is not None else None)
    return kinds


def test_zk_info_and_zk_verify_classify_every_name_alike(member, run_module):
    cfg, data = member
    expected = dict((n, k) for n, k in NAMES.items() if k[0] is not None)

    ok, info = run_module(zk_info, config_file=cfg)
    assert ok, info.get("msg")
    disk = info["member"]["disk"]
    _ok, verify = run_module(zk_verify, data_dir=data, scope="all")
    assert "files" in verify, verify.get("msg")

    assert info_kinds(disk) == expected
    assert verify_kinds(verify["files"]) == expected
    # zk_verify lists every regular file, the foreign ones as 'other'; no directory.
    assert sorted(os.path.basename(e["path"]) for e in verify["files"]) == sorted(NAMES)
    listed = [e["name"] for e in disk["snapshots"] + disk["logs"]]
    assert not set(DIRECTORIES) & set(listed)
    # Both read the epoch files by ZooKeeper's rule: the first line as a decimal long.
    assert (disk["current_epoch"], disk["accepted_epoch"]) == (7, 8)
    assert verify["epochs"] == {"current": 7, "accepted": 8}
    # Compression is named by the last part of a snapshot's name, in any case.
    assert dict((e["name"], e["compression"]) for e in disk["snapshots"]) == {
        "snapshot.0": None, "snapshot.1f.tmp": None, "snapshot.1F": None,
        "snapshot.2a.gz": "gz", "snapshot.2B.SNAPPY": "snappy", "snapshot.+30": None}


def test_module_utils_paths_agree_name_by_name(member):
    """The module_utils functions behind both modules, name by name."""
    _cfg, data = member
    listing = data_files.listing(data)
    rep = datadir.verify_data_dir(data, scope="all")
    assert info_kinds(listing) == verify_kinds(rep["files"])
    for name, (kind, z) in NAMES.items():
        got = datadir.classify(name)
        assert got == ((kind, z if kind != "epoch" else name) if kind else ("other", None)), name


@pytest.mark.parametrize("name, canonical", [
    ("snapshot.1f", True), ("snapshot.1f.gz", True), ("snapshot.1f.snappy", True),
    ("snapshot.1F", False), ("snapshot.1f.tmp", False), ("snapshot.1f.GZ", False),
    ("log.100", True), ("log.0100", False), ("log.100.bak", False), ("log.ABC", False),
    ("currentEpoch", False), ("log.xyz", False),
])
def test_unusual_names_are_the_ones_zookeeper_would_not_write(name, canonical):
    assert data_files.is_canonical(name) is canonical


@pytest.mark.parametrize("text, value", [
    (b"5", 5), (b"5\n", 5), (b"+5\n", 5), (b"-1\n", -1), (b"5\r\n6\n", 5),
    (b"9223372036854775807", (1 << 63) - 1),
])
def test_read_epoch_reads_a_long_from_the_first_line(tmp_path, text, value):
    p = tmp_path / "currentEpoch"
    p.write_bytes(text)
    assert data_files.read_epoch(str(p)) == value


@pytest.mark.parametrize("text", [b"", b" 5", b"5 ", b"0x5", b"5_0", b"\n5", b"9223372036854775808"])
def test_read_epoch_refuses_what_zookeeper_refuses(tmp_path, text):
    p = tmp_path / "currentEpoch"
    p.write_bytes(text)
    with pytest.raises(ValueError):
        data_files.read_epoch(str(p))
