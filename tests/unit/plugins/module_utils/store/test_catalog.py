"""catalog: retention keeps the newest fulls and every log chunk a kept full may need."""
import os
import stat
import time

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog as C
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport

NOW = time.mktime((2025, 3, 10, 12, 0, 0, 0, 0, 0)) - time.timezone
E = 0x100000000


def iso(days_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - days_ago * 86400))


def full(name, days_ago, snap, last, verified=True):
    return {"id": name, "kind": "full", "created": iso(days_ago), "complete": True, "verified": verified,
            "zxid": {"snapshot": "0x%x" % snap, "first": "0x%x" % (snap - 5), "last": "0x%x" % last}}


def chunk(name, days_ago, base, last):
    return {"id": name, "kind": "logs", "created": iso(days_ago), "complete": True, "verified": True,
            "zxid": {"base": "0x%x" % base, "first": "0x%x" % (base + 1), "last": "0x%x" % last}}


# A history: full F1, chunks, full F2, chunks, full F3, a chunk.
HISTORY = [
    full("F1", 10, E + 100, E + 120), chunk("L1", 9, E + 120, E + 150), chunk("L2", 8, E + 150, E + 200),
    full("F2", 7, E + 190, E + 210), chunk("L3", 6, E + 210, E + 260), chunk("L4", 5, E + 260, E + 300),
    full("F3", 4, E + 290, E + 310), chunk("L5", 3, E + 310, E + 400),
]


def ids(pairs):
    return sorted(b["id"] for b, _why in pairs)


def test_keep_last_keeps_the_chunks_after_the_oldest_kept_full():
    keep, delete = C.plan_retention(HISTORY, keep_last=2, now=NOW)
    assert ids(delete) == ["F1", "L1", "L2"]
    assert ids(keep) == ["F2", "F3", "L3", "L4", "L5"]


def test_a_chunk_straddling_the_oldest_kept_full_stays():
    history = HISTORY + [chunk("L2b", 7.5, E + 200, E + 215)]
    _keep, delete = C.plan_retention(history, keep_last=2, now=NOW)
    assert "L2b" not in ids(delete)


def test_keep_days_keeps_the_base_before_the_window():
    keep, delete = C.plan_retention(HISTORY, keep_days=6.5, now=NOW)
    # F3 is in the window; F2 (7 days) is the newest full before it: a restore to 6.5 days
    # ago starts from F2 and needs L3, L4.
    assert ids(delete) == ["F1", "L1", "L2"]
    assert "F2" in ids(keep) and "L3" in ids(keep)


def test_the_newest_full_is_always_kept():
    keep, delete = C.plan_retention(HISTORY, keep_days=0.5, now=NOW)
    assert "F3" in ids(keep) and "L5" in ids(keep)
    assert ids(delete) == ["F1", "F2", "L1", "L2", "L3", "L4"]


def test_broken_fulls_do_not_count_and_are_not_bases():
    history = [dict(b) for b in HISTORY]
    history[6] = dict(history[6], verified=False)     # F3 fails verification
    keep, delete = C.plan_retention(history, keep_last=1, now=NOW)
    assert "F3" in ids(keep)                            # newer than the kept F2: left for inspection
    assert "F2" in ids(keep) and "L3" in ids(keep) and "L5" in ids(keep)
    assert ids(delete) == ["F1", "L1", "L2"]
    history[0] = dict(history[0], verified=False)      # an old broken one goes
    _keep, delete = C.plan_retention(history, keep_last=1, now=NOW)
    assert "F1" in ids(delete)


def test_without_fulls_nothing_is_deleted():
    chunks = [b for b in HISTORY if b["kind"] == "logs"]
    keep, delete = C.plan_retention(chunks, keep_last=1, now=NOW)
    assert delete == [] and len(keep) == len(chunks)


def test_unknown_kinds_are_never_deleted():
    other = {"id": "X", "kind": None, "created": iso(100), "zxid": {}}
    keep, delete = C.plan_retention(HISTORY + [other], keep_last=1, now=NOW)
    assert "X" in ids(keep) and "X" not in ids(delete)


def test_debris_by_age():
    debris = [{"path": "/b/e/.x.partial-1", "kind": "partial", "mtime": NOW - 3600 * 30},
              {"path": "/b/e/.y.partial-2", "kind": "partial", "mtime": NOW - 60},
              {"path": "/b/e/other", "kind": None, "mtime": NOW - 3600 * 30}]
    assert [d["path"] for d in C.plan_debris(debris, 24, now=NOW)] == ["/b/e/.x.partial-1"]


def test_last_shipped_from_the_backups():
    assert ship_state.from_backups(HISTORY) == E + 400
    assert ship_state.from_backups([]) is None
    # A tree export reaching further does not move the shipping position.
    tree = {"id": "T", "kind": "tree", "complete": True, "zxid": {"last": "0x%x" % (E + 900)}}
    assert ship_state.from_backups(HISTORY + [tree]) == E + 400


def test_zxids_in_manifests_are_read_in_the_0x_form_and_bare_digits_are_refused():
    assert ship_state.from_backups([dict(full("F", 1, E + 1, E + 2), zxid={"last": E + 2})]) == E + 2
    bare = dict(full("F", 1, E + 1, E + 2), zxid={"snapshot": "100000001", "last": "100000002"})
    with pytest.raises(ValueError, match="'100000002'.*0x"):
        ship_state.from_backups([bare])
    with pytest.raises(ValueError, match="0x"):
        C.plan_retention(HISTORY + [bare, chunk("L9", 0, E + 2, E + 9)], keep_last=1, now=NOW)


class _File(object):
    def __init__(self, data):
        self.data = data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.data


class _Session(object):
    label = "b1"

    def __init__(self, data):
        self.sftp = self
        self.data = data

    def open(self, path, mode):
        return _File(self.data)


def test_the_log_shipping_state_holds_0x_and_refuses_bare_digits():
    state = ship_state.read(_Session(b'{"ensemble": "e", "last_zxid": "0x100000003"}'), "/b/e")
    assert state["last_zxid"] == 0x100000003
    assert ship_state.read(_Session(b'{"ensemble": "e", "last_zxid": null}'), "/b/e")["last_zxid"] is None
    with pytest.raises(ssh_transport.SshError, match="unreadable.*'100000003'"):
        ship_state.read(_Session(b'{"ensemble": "e", "last_zxid": "100000003"}'), "/b/e")


class _Attr(object):
    def __init__(self, name, size, mode=stat.S_IFREG | 0o644):
        self.filename, self.st_size, self.st_mode = name, size, mode


class _Sftp(object):
    def __init__(self, files):
        self.files = files

    def listdir_attr(self, path):
        if self.files is None:
            raise IOError(2, "No such file", path)
        return self.files


class _SumsSession(object):
    timeout = 60.0

    def __init__(self, files):
        self.calls = []
        self.sftp = _Sftp(files)

    def run(self, command, timeout=None):
        self.calls.append((command, timeout))
        return 0, "a.tar: OK\nmanifest.json: OK\n", ""


GIB = 1024 ** 3
SMALL = [_Attr("a.tar", 1000), _Attr("manifest.json", 900), _Attr("SHA256SUMS", 150)]


def _wait(files, archive):
    s = _SumsSession(files)
    assert C.verify(s, {"path": "/b/e/x", "archive": archive})["verified"] is True
    cmd, timeout = s.calls[0]
    assert "sha256sum --strict -c" in cmd
    return timeout


def test_the_sums_check_waits_as_long_as_the_largest_file_on_the_host_takes_to_read():
    big = [_Attr("a.tar", 10 * GIB)] + SMALL[1:]
    assert _wait(big, {"file": "a.tar", "bytes": 10 * GIB}) == 10 * GIB / C.SUMS_BYTES_PER_SECOND == 512.0
    # A small archive keeps the session's timeout.
    assert _wait(SMALL, {"file": "a.tar", "bytes": 1000}) == 60.0
    assert C.sums_timeout(1000.0, 10 * GIB) == 1000.0 and C.sums_timeout(None, None) == 60.0


@pytest.mark.parametrize("claimed", [10 ** 15, 2 ** 62, 1, 0, -5, "x", None, True, 1.5e12])
def test_the_manifest_size_read_before_authentication_never_sets_the_wait(claimed):
    # A forged manifest claiming a petabyte stretches nothing: the host's own sizes count.
    assert _wait(SMALL, {"file": "a.tar", "bytes": claimed}) == 60.0
    # One claiming a byte does not shorten the wait for the 10 GiB really there.
    big = [_Attr("a.tar", 10 * GIB)] + SMALL[1:]
    assert _wait(big, {"file": "a.tar", "bytes": claimed}) == 512.0


def test_the_wait_is_bounded_whatever_is_on_the_host():
    # Files too large to read in SUMS_TIMEOUT_MAX: the wait stops there.
    huge = [_Attr("a.tar", 2 ** 62)] + SMALL[1:]
    assert _wait(huge, {"file": "a.tar", "bytes": 2 ** 62}) == C.SUMS_TIMEOUT_MAX == 6 * 3600.0
    # Only regular files count: a symbolic link (to /dev/zero, say) or a directory claims nothing.
    odd = SMALL + [_Attr("link", 2 ** 62, stat.S_IFLNK | 0o777), _Attr("dir", 2 ** 40, stat.S_IFDIR | 0o755),
                   _Attr("fifo", 2 ** 40, stat.S_IFIFO | 0o644), _Attr("nosize", None)]
    assert _wait(odd, {"file": "a.tar", "bytes": 2 ** 40}) == 60.0
    # A directory that cannot be listed, or an empty one, keeps the session's timeout.
    assert _wait(None, {"file": "a.tar", "bytes": 10 * GIB}) == 60.0
    assert _wait([], {"file": "a.tar", "bytes": 10 * GIB}) == 60.0
    # A session timeout above the bound is kept.
    assert C.sums_timeout(7 * 3600.0, 2 ** 62) == 7 * 3600.0


def test_largest_file_reads_the_sizes_the_file_system_gives(tmp_path):
    from test_run_report import LocalSession
    d = tmp_path / "b"
    d.mkdir()
    (d / "manifest.json").write_bytes(b"{}")
    with open(str(d / "a.tar"), "wb") as f:
        f.truncate(10 * GIB)  # sparse: 10 GiB by its size, no disk used
    os.symlink("/dev/zero", str(d / "zero"))
    (d / "sub").mkdir()
    assert C.largest_file(LocalSession(), str(d)) == 10 * GIB
    assert C.largest_file(LocalSession(), str(tmp_path / "missing")) is None
