"""A file sent through OpenSSH's ssh client (push._PipeLane): the bytes arrive exactly, in
order, through a real process and pipe (a local shell stands in for ssh and runs the very
command the storage host runs); a failing writer on the host, a client that never logs in
and a killed client are failures that name themselves, or a fall-back to SFTP where allowed.
openssh_argv: the same known_hosts, key and strict checking as paramiko, or no OpenSSH."""
import os
import random
import time

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport

from test_ssh_push import Disk, FakePush, FakeSession


class LocalSession(FakeSession):
    """A session whose 'ssh client' is a local shell running the host's command."""

    def __init__(self, disk, openssh, label="backup1"):
        FakeSession.__init__(self, disk, label=label)
        self.openssh = openssh
        self.sftp = self.sftps[0]
        self.closed = False
        self._pipe = None

    start_pipe = ssh_transport.SshSession.start_pipe
    pipe = ssh_transport.SshSession.pipe
    _new_pipe = ssh_transport.SshSession._new_pipe

    def close(self):
        self.closed = True


SHELL = ["/bin/sh", "-c"]


def send(tmp_path, openssh, data, fallback=True, name="archive.tar"):
    disk = Disk()
    session = LocalSession(disk, openssh)
    push = FakePush([session], 2)
    push.fallback = fallback
    path = str(tmp_path / name)
    push.dests[0].staging = str(tmp_path)
    f = ssh_push.FanOutFile(push, name, bulk=True)
    for block in data:
        f.write(block)
    return push, f, path, disk


@pytest.mark.parametrize("seed", range(4))
def test_blocks_arrive_exactly_and_in_order(tmp_path, seed):
    rnd = random.Random(seed)
    data = [os.urandom(rnd.choice([0, 1, 4095, 32768, 1 << 20, 3 << 20])) for _i in range(rnd.randrange(0, 12))]
    push, f, path, disk = send(tmp_path, SHELL, data)
    assert isinstance(push.dests[0].lanes[0], ssh_push._PipeLane)
    digest = f.close()
    assert push.failed == [] and push.notes == []
    with open(path, "rb") as out:
        got = out.read()
    assert got == b"".join(data)
    assert digest == push.files["archive.tar"]
    assert disk.files == {}            # nothing went through SFTP


def test_an_empty_file_is_created(tmp_path):
    push, f, path, _disk = send(tmp_path, SHELL, [])
    f.close()
    assert push.failed == [] and os.path.getsize(path) == 0


def test_a_small_file_goes_through_sftp(tmp_path):
    disk = Disk()
    push = FakePush([LocalSession(disk, SHELL)], 2)
    push.put("SHA256SUMS", b"abc")
    assert disk.files["/srv/b/.x.partial-1/SHA256SUMS"] == b"abc"


def test_a_failing_writer_on_the_host_fails_the_file_with_its_message(tmp_path):
    # The path's directory does not exist: the host's cat cannot create the file.
    disk = Disk()
    push = FakePush([LocalSession(disk, SHELL), FakeSession(Disk(), label="backup2")], 2, required=1)
    push.dests[0].staging = str(tmp_path / "missing")
    f = push.open("archive.tar", bulk=True)
    f.write(os.urandom(1 << 20))
    f.close()
    assert [d.session.label for d in push.dests] == ["backup2"]
    failed, = push.failed
    assert failed["host"] == "backup1"
    assert "OpenSSH's ssh client failed (exit code" in failed["reason"], failed["reason"]
    assert "cannot create" in failed["reason"] and "missing/archive.tar" in failed["reason"], failed["reason"]


@pytest.mark.parametrize("client", [["/bin/false"], ["/bin/sh", "-c", "echo not-ready; cat >/dev/null"],
                                    ["/bin/sh", "-c", "echo 'read: Command not found.' >&2; exit 1"]])
def test_a_client_that_never_logs_in_falls_back_to_sftp(tmp_path, client):
    data = [os.urandom(40000), os.urandom(5)]
    push, f, path, disk = send(tmp_path, client, data)
    f.close()
    assert push.failed == []
    assert disk.files[path] == b"".join(data)
    note, = push.notes
    assert note.startswith("backup1: OpenSSH's ssh client could not start the transfer") and "paramiko" in note


def test_without_fallback_a_client_that_never_logs_in_fails_the_host(tmp_path):
    client = ["/bin/sh", "-c", "echo 'Host key verification failed.' >&2; exit 255"]
    with pytest.raises(ssh_push.TooFewHosts) as err:
        push, f, path, disk = send(tmp_path, client, [os.urandom(100)], fallback=False)
        f.close()
    assert "could not start the transfer: Host key verification failed." in str(err.value)


def test_a_client_killed_mid_transfer_fails_the_file(tmp_path):
    disk = Disk()
    push = FakePush([LocalSession(disk, SHELL), FakeSession(Disk(), label="backup2")], 2, required=1)
    push.dests[0].staging = str(tmp_path)
    f = push.open("archive.tar", bulk=True)
    f.write(os.urandom(1 << 20))
    lane = push.dests[0].lanes[0]
    # Killed only once the host said it is ready: a client that dies before that could not
    # log in, and the file rightly goes through SFTP instead (the test above).
    deadline = time.time() + 30
    while lane._sink is None and lane.error is None and time.time() < deadline:
        time.sleep(0.01)
    assert lane._sink is not None and lane.file is None, (lane.error, lane.note)
    lane.proc.kill()
    for _i in range(8):
        f.write(os.urandom(1 << 20))
    f.close()
    assert [d.session.label for d in push.dests] == ["backup2"]
    assert push.failed[0]["host"] == "backup1"


PARAMS = {"ssh_known_hosts_file": "/etc/zk/known_hosts", "ssh_private_key_file": "/etc/zk/id_ed25519",
          "ssh_host_key_checking": True, "ssh_connect_timeout": 7.0, "ssh_timeout": 30.0}


def test_openssh_logs_in_as_paramiko_does(monkeypatch):
    monkeypatch.setattr(ssh_transport.shutil, "which", lambda name: "/usr/bin/ssh")
    argv, why = ssh_transport.openssh_argv(PARAMS, "backup", "b1.example.com", 2222)
    assert why is None
    text = " ".join(argv)
    for needle in ("-F /dev/null", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/etc/zk/known_hosts",
                   "GlobalKnownHostsFile=/dev/null", "BatchMode=yes", "IdentitiesOnly=yes",
                   "-i /etc/zk/id_ed25519", "-p 2222", "-l backup", "ConnectTimeout=7", "ServerAliveInterval=10"):
        assert needle in text, needle
    assert argv[0] == "/usr/bin/ssh" and argv[-2:] == ["--", "b1.example.com"]


@pytest.mark.parametrize("change, why", [
    ({"ssh_host_key_checking": False}, "ssh_host_key_checking is off"),
    ({"ssh_private_key": "-----BEGIN", "ssh_private_key_file": None}, "given as text"),
    ({"ssh_private_key_passphrase": "x"}, "passphrase"),
    ({"ssh_known_hosts_file": "/etc/my hosts"}, "would expand or split"),
    ({"ssh_private_key_file": "/etc/zk/%h"}, "would expand or split"),
])
def test_options_openssh_cannot_honour_leave_it_to_paramiko(monkeypatch, change, why):
    monkeypatch.setattr(ssh_transport.shutil, "which", lambda name: "/usr/bin/ssh")
    argv, reason = ssh_transport.openssh_argv(dict(PARAMS, **change), "root", "b1", 22)
    assert argv is None and why in reason


def test_no_ssh_program_leaves_it_to_paramiko(monkeypatch):
    monkeypatch.setattr(ssh_transport.shutil, "which", lambda name: None)
    argv, reason = ssh_transport.openssh_argv(PARAMS, "root", "b1", 22)
    assert argv is None and "no ssh program" in reason


def test_what_the_shell_prints_before_the_command_is_skipped(tmp_path):
    chatty = ["/bin/sh", "-c", 'echo "Welcome"; echo; echo "zkops-ready-not"; eval "$0"']
    data = [os.urandom(70000)]
    push, f, path, disk = send(tmp_path, chatty, data)
    f.close()
    assert push.notes == [] and disk.files == {}
    with open(path, "rb") as out:
        assert out.read() == data[0]


def test_a_client_that_loses_the_connection_marks_the_host_as_not_answering(tmp_path):
    # Exit code 255 once the transfer began: the connection is gone, nothing is cleaned up
    # over it (the staging directory is named as left over).
    client = ["/bin/sh", "-c", 'read -r p; echo zkops-ready; head -c 1000 >/dev/null; '
                               'echo "Timeout, server not responding" >&2; exit 255']
    disk = Disk()
    push = FakePush([LocalSession(disk, client), FakeSession(Disk(), label="backup2")], 2, required=1)
    f = push.open("archive.tar", bulk=True)
    for _i in range(4):
        f.write(os.urandom(1 << 20))
    f.close()
    failed, = push.failed
    assert "(exit code 255): Timeout, server not responding" in failed["reason"], failed["reason"]
    assert "stopped answering" in failed["reason"] and failed["leftover"] == "/srv/b/.x.partial-1"
    assert push.notes == []


def test_the_client_started_at_connection_carries_the_file(tmp_path):
    disk = Disk()
    session = LocalSession(disk, SHELL)
    session.start_pipe()
    started = session._pipe[0]
    push = FakePush([session], 2)
    push.dests[0].staging = str(tmp_path)
    f = push.open("archive.tar", bulk=True)
    assert push.dests[0].lanes[0].proc is started and session._pipe is None
    f.write(b"x" * 100000)
    f.close()
    assert started.returncode == 0 and os.path.getsize(str(tmp_path / "archive.tar")) == 100000


def test_closing_a_session_ends_a_client_nothing_went_through():
    session = ssh_transport.SshSession("backup1", None, 5, openssh=["/bin/sh", "-c", 'exec sleep 60 # "$0"'])
    session.start_pipe()
    proc = session._pipe[0]
    session.close()
    assert proc.returncode is not None and session._pipe is None


def test_a_path_with_a_line_break_goes_through_sftp(tmp_path):
    disk = Disk()
    push = FakePush([LocalSession(disk, SHELL)], 2)
    push.dests[0].staging = "/srv/b/odd\nname/.x.partial-1"
    f = push.open("archive.tar", bulk=True)
    assert not isinstance(push.dests[0].lanes[0], ssh_push._PipeLane)
    f.write(b"abc")
    f.close()
    assert disk.files["/srv/b/odd\nname/.x.partial-1/archive.tar"] == b"abc"
