"""ssh_transport: host specs, key content errors that never show the key, the old-paramiko fix."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as S


@pytest.mark.parametrize("text,want", [
    ("backup1", (None, "backup1", 22)), ("backup1:2222", (None, "backup1", 2222)),
    ("bk@backup1:2200", ("bk", "backup1", 2200)), ("[fd00::1]:2222", (None, "fd00::1", 2222)),
    ("fd00::1", (None, "fd00::1", 22)),
])
def test_split_host(text, want):
    assert S.split_host(text, 22) == want


def test_split_host_errors():
    with pytest.raises(ValueError):
        S.split_host("backup1:ssh", 22)
    with pytest.raises(ValueError):
        S.split_host("root@", 22)


def test_key_content_errors_do_not_echo_the_key():
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-really-a-key-SECRETSECRET\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(S.SshError) as err:
        S._load_key({"ssh_private_key": secret})
    assert "SECRETSECRET" not in str(err.value) and "ssh_private_key" in str(err.value)


def test_argument_spec_marks_secrets():
    spec = S.ssh_argument_spec()
    assert spec["ssh_private_key"]["no_log"] and spec["ssh_private_key_passphrase"]["no_log"]
    assert spec["ssh_host_key_checking"]["default"] is True
    spec["ssh_port"]["default"] = 1
    assert S.ssh_argument_spec()["ssh_port"]["default"] == 22


def test_fast_bytes_behaves_like_paramikos():
    assert S._fast_bytes(b"x") == b"x" and S._fast_bytes("é") == "é".encode()
    with pytest.raises(TypeError, match="memoryview"):
        S._fast_bytes(memoryview(b"x" * 100000))


def test_missing_known_hosts_is_refused_before_connecting(tmp_path):
    params = dict((k, v.get("default")) for k, v in S.ssh_argument_spec().items())
    params["ssh_known_hosts_file"] = str(tmp_path / "nope")
    with pytest.raises(S.SshError, match="does not exist: strict host key checking"):
        S.connect(params, "192.0.2.1")


def test_open_sftp_early_and_again_when_it_failed(monkeypatch):
    """connect_each(open_sftp=True) opens each session's SFTP channel; one that did not
    open is opened again on first use, where its error is raised."""
    opened = []
    outcomes = {"b1": [object()], "b2": [EOFError("host closed"), IOError("no sftp-server")]}

    def fake_open(self):
        opened.append(self.label)
        out = outcomes[self.label].pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    monkeypatch.setattr(S.SshSession, "_open_sftp", fake_open)
    monkeypatch.setattr(S, "connect", lambda params, target, warnings=None: S.SshSession(target, None, 1.0))
    sessions, failures = S.connect_each({}, ["b1", "b2"], open_sftp=True)
    assert failures == [] and [s.label for s in sessions] == ["b1", "b2"]
    assert opened == ["b1", "b2"]
    first = sessions[0].sftp
    assert first is sessions[0].sftp and opened == ["b1", "b2"]   # kept, not opened twice
    with pytest.raises(IOError, match="no sftp-server"):
        assert sessions[1].sftp is None
    assert opened == ["b1", "b2", "b2"]
    _plain, _failures = S.connect_each({}, ["b1"])
    assert opened == ["b1", "b2", "b2"]   # not opened without open_sftp
