"""zk_backup and zk_backup_catalog as modules: bad input fails clearly, before any connection."""
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.zkops.zookeeper.plugins.modules import zk_backup, zk_backup_catalog


class Exit(Exception):
    pass


class Fail(Exception):
    pass


@pytest.fixture
def run(monkeypatch):
    basic._ANSIBLE_PROFILE = "legacy"

    def exit_json(self, **kw):
        raise Exit(kw)

    def fail_json(self, **kw):
        raise Fail(kw)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def call(module, **args):
        args.setdefault("_ansible_check_mode", False)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises((Exit, Fail)) as e:
            module.main()
        return e.type, e.value.args[0]
    return call


def test_bad_encryption_key_fails_without_echoing_it(run, tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("dataDir=%s\nclientPort=2181\n" % tmp_path)
    kind, res = run(zk_backup, ensemble="e", backup_hosts=["192.0.2.1"], config_file=str(cfg),
                    encryption_key="my secret passphrase")
    assert kind is Fail
    assert "openssl rand -base64 32" in res["msg"] and "my secret passphrase" not in json.dumps(res)


@pytest.mark.parametrize("name", ["../etc", ".hidden", "a b", ""])
def test_bad_ensemble_name(run, tmp_path, name):
    kind, res = run(zk_backup, ensemble=name, backup_hosts=["192.0.2.1"])
    assert kind is Fail and "not a valid name" in res["msg"]


def test_bad_bandwidth_limit(run):
    kind, res = run(zk_backup, ensemble="e", backup_hosts=["b"], bandwidth_limit="fast")
    assert kind is Fail and "bandwidth_limit" in res["msg"]


def test_missing_zoo_cfg(run, tmp_path):
    kind, res = run(zk_backup, ensemble="e", backup_hosts=["b"], config_file=str(tmp_path / "nope.cfg"))
    assert kind is Fail and "does not exist" in res["msg"] and "config_file" in res["msg"]


def test_key_file_and_key_content_exclude_each_other(run):
    kind, res = run(zk_backup, ensemble="e", backup_hosts=["b"], ssh_private_key="x", ssh_private_key_file="/k")
    assert kind is Fail and "mutually exclusive" in res["msg"]


def test_catalog_prune_needs_a_retention(run):
    kind, res = run(zk_backup_catalog, backup_host="b", prune=True)
    assert kind is Fail and "keep_last" in res["msg"]
    kind, res = run(zk_backup_catalog, backup_host="b", prune=True, keep_last=0)
    assert kind is Fail and "at least 1" in res["msg"]


def test_secrets_are_no_log():
    spec = zk_backup.argument_spec()
    assert spec["encryption_key"]["no_log"] and spec["ssh_private_key"]["no_log"]
