"""zk_tree_import's options for exports stored on the backup hosts: bad combinations and bad
keys fail clearly, before any backup host or server is contacted, and never echo a key."""
import base64

import pytest

from ansible_collections.zkops.zookeeper.plugins.modules import zk_tree_import

KEY = base64.b64encode(b"k" * 32).decode()
# Nothing listens there: a test that got as far as connecting would fail differently.
HOSTS = "127.0.0.1:1"


@pytest.mark.parametrize("args, message", [
    (dict(src="/tmp/x.zktree.gz", encryption_key=KEY),
     "backup_hosts, encryption_key, identities and verify_keys fetch and check an export stored"),
    (dict(src="/tmp/x.zktree.gz", backup_hosts=["b1"]),
     "give export_id instead of src"),
    (dict(export_id="latest", backup_hosts=["b1"], ensemble="prod", encryption_key="not a key"),
     "the encryption key must be 32 random bytes"),
    (dict(export_id="../../etc", backup_hosts=["b1"], ensemble="prod"),
     "export id '../../etc' is not a plain name"),
    (dict(export_id="20250301T020000Z-full-aaaaaa", backup_hosts=["b1"], ensemble="prod"),
     "is not the id of a tree export"),
    (dict(export_id="latest", backup_hosts=["b1"], ensemble="../x"),
     "is not a plain name"),
])
def test_bad_options_fail_before_anything_is_contacted(run_module, args, message):
    ok, r = run_module(zk_tree_import, hosts=HOSTS, **args)
    assert not ok and message in r["msg"], r
    assert not r.get("changed") and KEY not in r["msg"] and "not a key" not in r["msg"]


def test_src_and_export_id_are_one_or_the_other(run_module):
    ok, r = run_module(zk_tree_import, hosts=HOSTS, src="/tmp/x", export_id="latest",
                       backup_hosts=["b1"], ensemble="prod")
    assert not ok and "mutually exclusive" in r["msg"] and "src" in r["msg"]
    ok, r = run_module(zk_tree_import, hosts=HOSTS)
    assert not ok and "one of the following is required: src, export_id" in r["msg"]
    ok, r = run_module(zk_tree_import, hosts=HOSTS, export_id="latest")
    assert not ok and "export_id" in r["msg"] and "backup_hosts" in r["msg"]
