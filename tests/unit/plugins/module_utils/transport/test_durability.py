"""What must survive a crash of the backup host is flushed there: log-shipping.json is
written to a temporary file, flushed, renamed and its directory flushed; a backup renamed
into place has its directory, the directory it was renamed in and the one above flushed
after the rename.  The host is a local directory (its commands run here) or the fakes of
test_ssh_push."""
import json
import os

import pytest

from test_run_report import LocalSession
from test_ssh_push import CommitSession, FakePush

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError


class Recording(LocalSession):
    """A local host that records, in order, the commands it runs and the renames asked."""

    def __init__(self, fail_flush=False):
        LocalSession.__init__(self)
        self.events = []
        self.fail_flush = fail_flush
        rename = self.sftp.posix_rename

        def posix_rename(a, b):
            self.events.append(("rename", a, b))
            rename(a, b)
        self.sftp.posix_rename = posix_rename

    def run(self, command, timeout=None):
        self.events.append(("run", command))
        if self.fail_flush and command.startswith("sync"):
            return 1, "", "sync: error syncing: Input/output error"
        return LocalSession.run(self, command, timeout)


def test_log_shipping_state_is_flushed_renamed_and_its_directory_flushed(tmp_path):
    edir = str(tmp_path / "prod-zk")
    os.mkdir(edir)
    s = Recording()
    assert ship_state.write(s, edir, "prod-zk", 0x100000005, "20250301T021500Z-logs-aaaaaa") == 0x100000005
    path = os.path.join(edir, ship_state.STATE_FILE)
    runs = [e for e in s.events if e[0] in ("run", "rename")]
    (r1, flush_file), (r2, tmp, dst), (r3, flush_dir) = runs
    assert (r1, r2, r3) == ("run", "rename", "run")
    assert dst == path and os.path.basename(tmp).startswith(".log-shipping.json.tmp-")
    assert flush_file.startswith("sync -- ") and tmp in flush_file
    assert flush_dir == "sync -- %s 2>/dev/null || sync" % edir
    with open(path) as f:
        assert json.load(f)["last_zxid"] == "0x100000005"
    assert os.listdir(edir) == [ship_state.STATE_FILE]


def test_a_state_that_cannot_be_flushed_is_not_renamed_into_place(tmp_path):
    edir = str(tmp_path / "prod-zk")
    os.mkdir(edir)
    ship_state.write(LocalSession(), edir, "prod-zk", 0x100000005, "20250301T021500Z-logs-aaaaaa")
    s = Recording(fail_flush=True)
    with pytest.raises(SshError, match="cannot update .*flushing .* failed: sync: error syncing"):
        ship_state.write(s, edir, "prod-zk", 0x100000009, "20250302T021500Z-logs-bbbbbb")
    assert not any(e[0] == "rename" for e in s.events)
    # The old state stays, the temporary file is gone.
    assert os.listdir(edir) == [ship_state.STATE_FILE]
    assert ship_state.read(LocalSession(), edir)["last_zxid"] == 0x100000005


class OrderedCommit(CommitSession):
    def __init__(self, label):
        CommitSession.__init__(self, label)
        self.events = []
        for sftp in self.sftps:
            rename = sftp.rename

            def recorded(src, dst, rename=rename):
                self.events.append(("rename", src, dst))
                rename(src, dst)
            sftp.rename = recorded

    def run(self, command, timeout=None):
        self.events.append(("run", command))
        return CommitSession.run(self, command, timeout)


def test_a_backup_renamed_into_place_is_flushed_with_its_parents():
    host = OrderedCommit("backup1")
    push = FakePush([host], 2, sync=True)
    push.dests[0].final = "/srv/b/prod-zk/x"
    push.dests[0].staging = "/srv/b/prod-zk/.x.partial-1"
    push.put("a", os.urandom(1 << 12))
    push.commit()
    i = host.events.index(("rename", "/srv/b/prod-zk/.x.partial-1", "/srv/b/prod-zk/x"))
    after = [e[1] for e in host.events[i + 1:] if e[0] == "run"]
    assert after == ["sync -- /srv/b/prod-zk/x /srv/b/prod-zk /srv/b 2>/dev/null || sync"], host.events
    # Before the rename, the files were flushed where they were hashed.
    before = [e[1] for e in host.events[:i] if e[0] == "run"]
    assert any("sync -- " in c and c.startswith("cd /srv/b/prod-zk/.x.partial-1") for c in before), before


def test_flush_failure_is_an_error_naming_the_host():
    class Failing(object):
        label = "backup9"

        def run(self, command, timeout=None):
            return 1, "", "read-only file system"
    with pytest.raises(SshError, match="backup9: flushing /a, /b to disk failed: read-only file system"):
        ssh_push.flush(Failing(), ["/a", "/b"])
