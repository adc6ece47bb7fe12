"""zk_backup and zk_backup_catalog as modules: bad input fails clearly, before any connection."""
import json

import pytest

from ansible_collections.zkops.zookeeper.plugins.modules import zk_backup, zk_backup_catalog


def test_bad_encryption_key_fails_without_echoing_it(run_module, tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=2181\n" % tmp_path)
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["192.0.2.1"], config_file=str(cfg),
                         encryption_key="my secret passphrase")
    assert not ok
    assert "openssl rand -base64 32" in res["msg"] and "my secret passphrase" not in json.dumps(res)


@pytest.mark.parametrize("name", ["../etc", ".hidden", "a b", ""])
def test_bad_ensemble_name(run_module, tmp_path, name):
    ok, res = run_module(zk_backup, ensemble=name, backup_hosts=["192.0.2.1"])
    assert not ok and "not a valid name" in res["msg"]


def test_bad_bandwidth_limit(run_module):
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["b"], bandwidth_limit="fast")
    assert not ok and "bandwidth_limit" in res["msg"]


def test_missing_zoo_cfg(run_module, tmp_path):
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["b"], config_file=str(tmp_path / "nope.cfg"))
    assert not ok and "does not exist" in res["msg"] and "config_file" in res["msg"]


def test_key_file_and_key_content_exclude_each_other(run_module):
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["b"], ssh_private_key="x", ssh_private_key_file="/k")
    assert not ok and "mutually exclusive" in res["msg"]


def test_catalog_prune_needs_a_retention(run_module):
    ok, res = run_module(zk_backup_catalog, backup_host="b", prune=True)
    assert not ok and "keep_last" in res["msg"]
    ok, res = run_module(zk_backup_catalog, backup_host="b", prune=True, keep_last=0)
    assert not ok and "at least 1" in res["msg"]


def test_secrets_are_no_log():
    spec = zk_backup.argument_spec()
    assert spec["encryption_key"]["no_log"] and spec["ssh_private_key"]["no_log"]


def test_a_private_key_as_recipient_fails_without_echoing_it(run_module, tmp_path):
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    pem = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=2181\n" % tmp_path)
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["192.0.2.1"], config_file=str(cfg),
                         encryption_recipients=[pem])
    assert not ok
    assert "recipient 1" in res["msg"] and "private key" in res["msg"] and pem.splitlines()[1] not in json.dumps(res)
    ok, res = run_module(zk_backup, ensemble="e", backup_hosts=["192.0.2.1"], config_file=str(cfg),
                         encryption_recipients=["ssh-ed25519 AAAAC3Nza"])
    assert not ok and "openssl pkey -pubout" in res["msg"]


@pytest.mark.parametrize("args,needle", [
    ({}, "set ensemble"),
    ({"ensemble": "e", "prune": True, "keep_last": 3}, "do not combine it with prune"),
    ({"ensemble": "e", "backup_id": "x"}, "do not combine it with prune or backup_id"),
    ({"ensemble": "e", "live_zxid": "1a"}, "live_zxid '1a' is not a zxid"),
    ({"ensemble": "e", "max_full_age_hours": -1}, "max_full_age_hours must not be negative"),
    ({"ensemble": "e", "metrics_file": "/tmp/zkops.txt"}, "must end in .prom"),
    ({"ensemble": "e", "metrics_file": "/nonexistent-dir/m.prom"}, "does not exist: create it"),
])
def test_catalog_check_refuses_bad_input_before_any_connection(run_module, args, needle):
    ok, res = run_module(zk_backup_catalog, backup_host="192.0.2.1", state="check", **args)
    assert not ok and needle in res["msg"], res["msg"]
    assert res.get("changed") is not True


def _refused_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("check_mode", [False, True])
def test_catalog_check_of_an_unreachable_host_is_unknown_not_a_failure(run_module, tmp_path, check_mode):
    metrics = tmp_path / "zookeeper_backup_e_b1.prom"
    ok, res = run_module(zk_backup_catalog, check=check_mode, state="check", ensemble="e",
                         backup_host="127.0.0.1:%d" % _refused_port(), backup_host_name="b1",
                         ssh_connect_timeout=2, max_full_age_hours=26, metrics_file=str(metrics))
    assert ok and res["changed"] is False
    health = res["health"]
    assert health["status"] == "unknown"
    assert [p["check"] for p in health["problems"]] == ["reachable"]
    assert health["lines"][0].startswith("UNKNOWN e on b1 [reachable]: cannot check the backup host: ")
    if check_mode:
        assert not metrics.exists() and health["metrics_file"] is None
    else:
        text = metrics.read_text()
        assert 'zookeeper_backup_host_up{backup_host="b1",ensemble="e"} 0\n' in text
        assert health["metrics_file"] == str(metrics)
        assert sorted(p.name for p in tmp_path.iterdir()) == [metrics.name]
