"""ssh_push: a file written through several SFTP channels at once arrives as the bytes sent,
whatever the blocks; failures in any channel surface; the host's hash is parsed from
OpenSSL's or coreutils' output; the connection moves to AES-GCM only where it can."""
import hashlib
import os
import random
import threading

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError


class Disk(object):
    """The storage host's files, shared by every channel."""

    def __init__(self, fail_at=None):
        self.files = {}
        self.lock = threading.Lock()
        self.fail_at = fail_at          # (path, offset): a write reaching it fails
        self.opens = []


class FakeFile(object):
    def __init__(self, disk, path, mode, sftp):
        self.disk = disk
        self.path = path
        self.sftp = sftp
        self.handle = b"h001"
        self.pos = 0
        self.MAX_REQUEST_SIZE = 32768
        with disk.lock:
            if "w" in mode:
                disk.files[path] = bytearray()
            elif path not in disk.files:
                raise IOError(2, "No such file")
        disk.opens.append((path, mode, id(sftp)))

    def set_pipelined(self, on):
        self.pipelined = on

    def seek(self, offset):
        self.pos = offset

    def write(self, data):
        fail = self.disk.fail_at
        if fail and fail[0] == self.path and self.pos <= fail[1] < self.pos + len(data):
            raise IOError("Failure")
        assert len(data) <= 1 << 22
        with self.disk.lock:
            buf = self.disk.files[self.path]
            end = self.pos + len(data)
            if len(buf) < end:
                buf.extend(bytes(end - len(buf)))
            buf[self.pos:end] = data
        self.pos = end

    def close(self):
        pass


class FakeChannel(object):
    def __init__(self, max_packet=32768):
        self.out_max_packet_size = max_packet


class FakeSftp(object):
    def __init__(self, disk):
        self.disk = disk
        self.sock = FakeChannel()

    def open(self, path, mode, bufsize=-1):
        return FakeFile(self.disk, path, mode, self)


class FakeTransport(object):
    def is_active(self):
        return True


class FakeClient(object):
    def get_transport(self):
        return FakeTransport()


class Done(object):
    def exit_status_ready(self):
        return True

    def recv_exit_status(self):
        return 0

    def close(self):
        pass


class FakeSession(object):
    def __init__(self, disk, channels=3, label="backup1"):
        self.label = label
        self.disk = disk
        self.timeout = 5
        self.client = FakeClient()
        self.sftps = [FakeSftp(disk) for _i in range(channels)]
        self.started = []

    def sftp_channels(self, count):
        return self.sftps[:count]

    def run(self, command, timeout=None):
        return 0, "Filesystem 1024-blocks Used Available Capacity Mounted\n/dev/x 100 1 99000 1% /\n", ""

    def start(self, command):
        self.started.append(command)
        return Done()


class FakePush(ssh_push.Push):
    def __init__(self, sessions, lanes, sync=True, required=None):
        ssh_push.Push.__init__(self, sessions, "/srv/b", [], "x", sync=sync, lanes=lanes, required=required)
        self.dests = [ssh_push._Dest(s, "/srv/b/x", "/srv/b/.x.partial-1") for s in sessions]


def blocks(seed):
    rnd = random.Random(seed)
    out = []
    for _i in range(rnd.randrange(0, 40)):
        n = rnd.choice([0, 1, 511, 4096, 32675, 32768, 100000, 1 << 20])
        out.append(os.urandom(n))
    return out


@pytest.mark.parametrize("lanes", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_lanes_assemble_exactly_the_bytes_sent(lanes, seed):
    disks = [Disk(), Disk()]
    push = FakePush([FakeSession(d) for d in disks], lanes)
    data = blocks(seed)
    f = ssh_push.FanOutFile(push, "archive.tar.zst")
    for b in data:
        f.write(b)
    digest = f.close()
    whole = b"".join(data)
    assert digest == hashlib.sha256(whole).hexdigest() == push.files["archive.tar.zst"]
    assert push.sizes["archive.tar.zst"] == len(whole)
    for d in disks:
        assert bytes(d.files["/srv/b/.x.partial-1/archive.tar.zst"]) == whole
        # The first channel creates the file; the others only open it.
        assert d.opens[0][1] == "wb" and all(mode == "r+b" for _p, mode, _s in d.opens[1:])
        assert len(d.opens) <= min(lanes, 3, max(1, sum(1 for b in data if b)))


def test_an_empty_file_is_created():
    disk = Disk()
    push = FakePush([FakeSession(disk)], 2)
    f = ssh_push.FanOutFile(push, "SHA256SUMS")
    f.write(b"")
    f.close()
    assert disk.files["/srv/b/.x.partial-1/SHA256SUMS"] == bytearray()


@pytest.mark.parametrize("lanes", [1, 2, 3])
@pytest.mark.parametrize("at", [0, 1 << 20, (3 << 20) + 5, (7 << 20) - 1])
def test_a_failed_write_in_any_channel_fails_the_file(lanes, at):
    good, bad = Disk(), Disk(fail_at=("/srv/b/.x.partial-1/a", at))
    push = FakePush([FakeSession(good), FakeSession(bad, label="backup2")], lanes)
    f = ssh_push.FanOutFile(push, "a")
    with pytest.raises(SshError) as exc:
        for _i in range(7):
            f.write(os.urandom(1 << 20))
        f.close()
    assert exc.value.host == "backup2" and "Failure" in str(exc.value)
    assert ("writing a" in str(exc.value)) or ("finishing a" in str(exc.value))
    for d in push.dests:
        d.stop()


@pytest.mark.parametrize("at", [0, (3 << 20) + 5])
def test_a_failed_host_is_dropped_and_the_others_go_on(at):
    good, bad = Disk(), Disk(fail_at=("/srv/b/.x.partial-1/a", at))
    bad_session = FakeSession(bad, label="backup2")
    bad_session.commands = []
    bad_session.run = lambda command, timeout=None: bad_session.commands.append(command) or (0, "", "")
    push = FakePush([FakeSession(good), bad_session], 2, required=1)
    f = ssh_push.FanOutFile(push, "a")
    data = [os.urandom(1 << 20) for _i in range(7)]
    for b in data:
        f.write(b)
    f.close()
    assert bytes(good.files["/srv/b/.x.partial-1/a"]) == b"".join(data)
    assert [d.session.label for d in push.dests] == ["backup1"]
    assert [f["host"] for f in push.failed] == ["backup2"]
    assert "Failure" in push.failed[0]["reason"] and "leftover" not in push.failed[0]
    # Its staging directory was removed.
    assert any(c.startswith("rm -rf -- /srv/b/.x.partial-1") for c in bad_session.commands)


def test_too_few_hosts_left_names_every_failed_one():
    push = FakePush([FakeSession(Disk(fail_at=("/srv/b/.x.partial-1/a", 0)), label="backup2")], 1,
                    required=2)
    # A host that could not be reached at all counts against the hosts required.
    push.failed = [{"host": "backup1", "reason": "no SSH answer"}]
    push.total = 2
    f = ssh_push.FanOutFile(push, "a")
    with pytest.raises(ssh_push.TooFewHosts) as exc:
        f.write(os.urandom(1 << 16))
        f.close()
    text = str(exc.value)
    assert "only 0 of 2 backup hosts" in text and "backup1: no SSH answer" in text and "backup2:" in text
    assert [x["host"] for x in exc.value.failed] == ["backup1", "backup2"]


def test_the_host_flushes_while_the_file_arrives(monkeypatch):
    monkeypatch.setattr(ssh_push, "EARLY_FLUSH", 3 << 20)
    disk = Disk()
    session = FakeSession(disk)
    push = FakePush([session], 2)
    f = ssh_push.FanOutFile(push, "a")
    for _i in range(10):
        f.write(bytes(1 << 20))
    f.close()
    assert session.started == ["sync -d -- /srv/b/.x.partial-1/a 2>/dev/null"] * 3
    session.started = []
    push = FakePush([session], 2, sync=False)
    f = ssh_push.FanOutFile(push, "b")
    for _i in range(10):
        f.write(bytes(1 << 20))
    f.close()
    assert session.started == []


def test_write_size_fits_one_ssh_packet():
    f = FakeFile(Disk(), "/x", "wb", FakeSftp(Disk()))
    # OpenSSH's 32 KiB channel packets, less paramiko's reserve and the request around
    # the data.
    assert ssh_push.write_size(f) == 32768 - 64 - 25 - 4
    f.sftp.sock.out_max_packet_size = 1 << 20
    assert ssh_push.write_size(f) == ssh_push.MAX_WRITE
    f.sftp.sock = None
    assert ssh_push.write_size(f) == ssh_push.MAX_WRITE


class HashSession(object):
    label = "backup1"

    def __init__(self, out, rc=0):
        self.out = out
        self.rc = rc
        self.commands = []

    def run(self, command, timeout=None):
        self.commands.append(command)
        return self.rc, self.out, "boom"


def test_remote_hashes_from_openssl_or_sha256sum():
    a, b = "a" * 64, "B" * 64
    s = HashSession("%s *./archive.tar.zst\n%s *./manifest.json\n" % (a, b))
    got = ssh_push.remote_sha256(s, "/srv/b/.x", ["archive.tar.zst", "manifest.json"])
    assert got == {"archive.tar.zst": a, "manifest.json": b.lower()}
    cmd = s.commands[0]
    assert cmd.startswith("cd /srv/b/.x && { sync -- archive.tar.zst manifest.json")
    assert "openssl dgst -sha256 -r ./archive.tar.zst ./manifest.json 2>/dev/null || " \
           "sha256sum -- archive.tar.zst manifest.json" in cmd
    # sha256sum's own format (after a failed openssl: its lines come last and win).
    s = HashSession("%s *./archive.tar.zst\n%s  archive.tar.zst\n" % (b, a))
    assert ssh_push.remote_sha256(s, "/d", ["archive.tar.zst"], sync=False) == {"archive.tar.zst": a}
    assert "sync" not in s.commands[0]
    with pytest.raises(SshError, match="boom"):
        ssh_push.remote_sha256(HashSession("", rc=1), "/d", ["x"])


class Options(object):
    def __init__(self, ciphers):
        self.ciphers = ciphers


class CipherTransport(object):
    def __init__(self, ciphers, current="aes128-ctr"):
        self.opts = Options(ciphers)
        self.local_cipher = current
        self.renegotiated = 0

    def get_security_options(self):
        return self.opts

    def renegotiate_keys(self):
        self.renegotiated += 1
        self.local_cipher = self.opts.ciphers[0]


def test_aes_gcm_only_where_paramiko_has_it():
    old = CipherTransport(("aes128-ctr", "aes256-ctr", "aes128-cbc"))
    assert ssh_transport.prefer_aead(old) == "aes128-ctr" and old.renegotiated == 0
    assert old.opts.ciphers == ("aes128-ctr", "aes256-ctr", "aes128-cbc")
    new = CipherTransport(("aes128-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"))
    assert ssh_transport.prefer_aead(new) == "aes128-gcm@openssh.com" and new.renegotiated == 1
    assert new.opts.ciphers == ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
    assert ssh_transport.prefer_aead(new) == "aes128-gcm@openssh.com" and new.renegotiated == 1


class RenameSftp(FakeSftp):
    """Renames directories on the fake disk; ``disk.refuse`` names (source, target) pairs
    that fail, a target of None standing for any."""

    def rename(self, src, dst):
        disk = self.disk
        if (src, dst) in disk.refuse or (src, None) in disk.refuse:
            raise IOError("Permission denied")
        with disk.lock:
            for path in [p for p in disk.files if p.startswith(src + "/")]:
                disk.files[dst + path[len(src):]] = disk.files.pop(path)
        disk.renames.append((src, dst))


class CommitSession(FakeSession):
    """A host that renames, hashes what it holds and removes directories."""

    def __init__(self, label):
        disk = Disk()
        disk.refuse = set()
        disk.renames = []
        FakeSession.__init__(self, disk, label=label)
        self.sftps = [RenameSftp(disk) for _i in range(3)]
        self.sftp = self.sftps[0]
        self.commands = []

    def run(self, command, timeout=None):
        self.commands.append(command)
        if command.startswith("cd "):
            directory = command[3:].split(" && ", 1)[0]
            out = "".join("%s *./%s\n" % (hashlib.sha256(bytes(data)).hexdigest(), path[len(directory) + 1:])
                          for path, data in sorted(self.disk.files.items()) if path.startswith(directory + "/"))
            return 0, out, ""
        if command.startswith("rm -rf -- "):
            gone = command[len("rm -rf -- "):]
            for path in [p for p in self.disk.files if p.startswith(gone + "/")]:
                del self.disk.files[path]
        return 0, "", ""

    def dirs(self):
        return sorted(set(p.rsplit("/", 1)[0] for p in self.disk.files))


def pushed(sessions, required=None):
    push = FakePush(sessions, 2, sync=False, required=required)
    push.put("a", os.urandom(1 << 16))
    return push


def test_a_failed_rename_takes_back_the_copies_already_in_place():
    hosts = [CommitSession("backup%d" % i) for i in (1, 2, 3)]
    hosts[2].disk.refuse.add(("/srv/b/.x.partial-1", "/srv/b/x"))
    push = pushed(hosts)
    with pytest.raises(ssh_push.TooFewHosts) as exc:
        push.commit()
    assert exc.value.complete == []
    assert "renamed back" in exc.value.reason and "backup3: renaming" in exc.value.reason
    assert [f["host"] for f in exc.value.failed] == ["backup3"]
    for h in hosts[:2]:
        # Renamed into place, then back to a staging name.
        assert h.disk.renames[0] == ("/srv/b/.x.partial-1", "/srv/b/x")
        back = h.disk.renames[1]
        assert back[0] == "/srv/b/x" and back[1].startswith("/srv/b/.x" + ssh_push.PARTIAL_MARK)
    assert push.abort() == []
    for h in hosts:
        assert h.dirs() == []
    assert any(c == "rm -rf -- " + hosts[0].disk.renames[1][1] for c in hosts[0].commands)


def test_a_copy_that_cannot_be_taken_back_is_named():
    hosts = [CommitSession("backup%d" % i) for i in (1, 2, 3)]
    hosts[2].disk.refuse.add(("/srv/b/.x.partial-1", "/srv/b/x"))
    hosts[0].disk.refuse.add(("/srv/b/x", None))
    push = pushed(hosts)
    with pytest.raises(ssh_push.TooFewHosts) as exc:
        push.commit()
    assert exc.value.complete == [{"host": "backup1", "path": "/srv/b/x"}]
    assert "could not be taken back and stays on backup1 at /srv/b/x" in exc.value.reason
    assert push.abort() == []
    # The verified copy stays whole on backup1; nothing is left elsewhere.
    assert hosts[0].dirs() == ["/srv/b/x"]
    assert sorted(p.rsplit("/", 1)[1] for p in hosts[0].disk.files) == ["SHA256SUMS", "a"]
    assert hosts[1].dirs() == [] and hosts[2].dirs() == []


def test_a_failed_rename_with_enough_hosts_left_keeps_the_others():
    hosts = [CommitSession("backup%d" % i) for i in (1, 2, 3)]
    hosts[1].disk.refuse.add(("/srv/b/.x.partial-1", "/srv/b/x"))
    push = pushed(hosts, required=2)
    out = push.commit()
    assert [d["host"] for d in out] == ["backup1", "backup3"]
    assert [f["host"] for f in push.failed] == ["backup2"]
    assert push.abort() == []
    assert hosts[0].dirs() == hosts[2].dirs() == ["/srv/b/x"] and hosts[1].dirs() == []


def test_the_first_rename_failing_takes_nothing_back():
    hosts = [CommitSession("backup%d" % i) for i in (1, 2)]
    hosts[0].disk.refuse.add(("/srv/b/.x.partial-1", "/srv/b/x"))
    push = pushed(hosts)
    with pytest.raises(ssh_push.TooFewHosts) as exc:
        push.commit()
    assert exc.value.complete == [] and "renamed back" not in exc.value.reason
    assert hosts[1].disk.renames == []
    push.abort()
    assert hosts[0].dirs() == hosts[1].dirs() == []


def test_the_backup_error_names_the_copies_that_stayed():
    from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import workflow as backup
    none = ssh_push.TooFewHosts("backup3", "only 2 of 3 backup hosts could take the copy", [])
    assert "no copy that looks complete was left" in backup.too_few_message(none)
    kept = ssh_push.TooFewHosts("backup3", "only 2 of 3 backup hosts could take the copy", [],
                                [{"host": "backup1", "path": "/srv/b/zk1/full-1"}])
    text = backup.too_few_message(kept)
    assert "no copy that looks complete" not in text
    assert "complete, verified copies stay only at backup1:/srv/b/zk1/full-1" in text
