"""zk_restore as a module on a data directory of this host: states, check mode, refusals."""
import grp
import os
import pwd

import pytest
from ansible.module_utils import basic

import zkarchives as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.modules import zk_restore


@pytest.fixture
def run(run_module, monkeypatch):
    """run(check=False, **args) -> (ok, result) of zk_restore; run.server["pids"] are the
    processes the member's server appears to run as."""
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, w: None)
    state = {"pids": []}
    monkeypatch.setattr(member_mod.LocalMember, "in_use", lambda self: (state["pids"], []))

    def call(check=False, **args):
        return run_module(zk_restore, check=check, **args)
    call.server = state
    return call


@pytest.fixture
def member(tmp_path):
    data = tmp_path / "data"
    (data / "version-2").mkdir(parents=True)
    (data / "version-2" / "snapshot.0").write_bytes(b"old")
    (data / "myid").write_text("1\n")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=2181\nserver.1=localhost:2888:3888\n" % data)
    archive = H.write_backup(str(tmp_path / "backup"), H.member_files(), zxid={"last": "0x%x" % (H.E + 9)})
    return {"config_file": str(cfg), "archive": archive, "data": str(data),
            "owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}


def live(member):
    return sorted(os.listdir(os.path.join(member["data"], "version-2")))


def test_check_mode_writes_nothing_and_shows_the_files(run, member):
    ok, res = run(state="restored", restore_id="r1", config_file=member["config_file"], archive=member["archive"],
                  check=True, _ansible_diff=True)
    assert ok and res["changed"]
    assert "snapshot.100000002" in res["diff"]["after"] and "snapshot.0" in res["diff"]["before"]
    assert live(member) == ["snapshot.0"] and not os.path.exists(os.path.join(member["data"], ".zkops-restore"))


def test_restore_refused_while_the_server_runs(run, member):
    run.server["pids"] = [4242]
    ok, res = run(state="restored", restore_id="r1", config_file=member["config_file"], archive=member["archive"],
                  owner=member["owner"], group=member["group"])
    assert not ok and "refusing" in res["msg"] and "4242" in res["msg"]
    assert live(member) == ["snapshot.0"] and not os.path.exists(os.path.join(member["data"], ".zkops-restore"))


def test_restore_then_rollback_and_repeat_runs(run, member):
    args = dict(restore_id="r1", config_file=member["config_file"], archive=member["archive"],
                owner=member["owner"], group=member["group"])
    ok, res = run(state="restored", **args)
    assert ok and res["changed"] and res["last_zxid"] == "0x%x" % (H.E + 9), res
    assert "snapshot.100000002" in live(member) and res["live_marker"]["restore_id"] == "r1"
    ok, res = run(state="restored", **args)
    assert ok and not res["changed"]
    # The same restore id for other backups is refused.
    ok, res = run(state="restored", restore_id="r1", config_file=member["config_file"], backup_host="b",
                  ensemble="e", backup_ids=["other"], owner=member["owner"], group=member["group"])
    assert not ok and "use another restore_id" in res["msg"]
    ok, res = run(state="rolled_back", **args)
    assert ok and res["changed"] and live(member) == ["snapshot.0"]
    ok, res = run(state="rolled_back", **args)
    assert ok and not res["changed"]


def test_bad_input_changes_nothing(run, member):
    ok, res = run(state="staged", config_file=member["config_file"], archive=member["archive"])
    assert not ok and "restore_id" in res["msg"]
    ok, res = run(state="staged", restore_id="../../x", config_file=member["config_file"], archive=member["archive"])
    assert not ok and "not valid" in res["msg"]
    ok, res = run(state="staged", restore_id="r1", config_file=member["config_file"], archive=member["archive"],
                  target_zxid="yesterday")
    assert not ok and "target_zxid" in res["msg"]
    ok, res = run(state="staged", restore_id="r1", config_file=member["config_file"],
                  archive=member["archive"] + ".missing")
    assert not ok and "does not exist" in res["msg"]
    ok, res = run(state="confirmed", config_file=member["config_file"])
    assert not ok and "no restore marker" in res["msg"]
    assert live(member) == ["snapshot.0"] and not os.path.exists(os.path.join(member["data"], ".zkops-restore"))


def test_target_zxid_text_other_than_0x_hex_decimal_or_latest_is_refused(run, member):
    for given in ("10000000a", "zz", "-1", "0x"):
        ok, res = run(state="staged", restore_id="r1", config_file=member["config_file"],
                      archive=member["archive"], target_zxid=given)
        assert not ok and ("target_zxid %r is neither hex (0x...), decimal, nor 'latest'" % given) in res["msg"]
    assert live(member) == ["snapshot.0"] and not os.path.exists(os.path.join(member["data"], ".zkops-restore"))


def _identity_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_identities_restore_an_archive_encrypted_to_their_public_key(run, member, tmp_path):
    pytest.importorskip("cryptography")
    from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
    pem = _identity_pem()
    archive = H.write_backup(str(tmp_path / "enc"), H.member_files(), zxid={"last": "0x%x" % (H.E + 9)},
                             recipients=[encryption.parse_identity(pem).recipient])
    base = dict(state="restored", config_file=member["config_file"], owner=member["owner"], group=member["group"])
    ok, res = run(restore_id="r1", archive=archive, identities=[_identity_pem()], **base)
    assert not ok and "other keys" in res["msg"] and "BEGIN" not in str(res)
    junk = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    ok, res = run(restore_id="r2", archive=archive, identities=[junk], **base)
    assert not ok and "identity 1" in res["msg"] and "not a key" not in str(res)
    # a plain archive is refused by a restore holding an identity
    ok, res = run(restore_id="r3", archive=member["archive"], identities=[pem], **base)
    assert not ok and "not encrypted, though a decryption key was given" in res["msg"]
    assert live(member) == ["snapshot.0"]
    ok, res = run(restore_id="r4", archive=archive, identities=[pem], **base)
    assert ok, res
    assert "snapshot.%x" % (H.E + 2) in live(member) and pem.splitlines()[1] not in str(res)


def test_identities_are_no_log():
    assert zk_restore.argument_spec()["identities"]["no_log"]
