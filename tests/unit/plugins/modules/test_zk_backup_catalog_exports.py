"""zk_backup_catalog's ``exports``: the tree exports among the backups, in brief, with the id an
import takes."""
from ansible_collections.zkops.zookeeper.plugins.modules import zk_backup_catalog


def test_exports_are_the_tree_entries_in_brief():
    backups = [
        {"id": "20250301T020000Z-full-aaaaaa", "ensemble": "prod", "kind": "full", "created": "a",
         "digest": "0f", "archive": {"encryption": None}, "verified": True},
        {"id": "20250301T030000Z-tree-bbbbbb", "ensemble": "prod", "kind": "tree", "created": "b",
         "digest": {"root": "/app", "znode_count": 203}, "archive": {"encryption": {"scheme": "zkops-stream-v2"}},
         "authenticated": True, "verified": True},
        {"id": "20250301T040000Z-tree-cccccc", "ensemble": "prod", "kind": "tree", "created": None,
         "digest": None, "archive": None, "authenticated": None, "verified": False},
    ]
    assert zk_backup_catalog.exports(backups) == [
        {"id": "20250301T030000Z-tree-bbbbbb", "ensemble": "prod", "created": "b", "root": "/app",
         "znodes": 203, "encrypted": True, "authenticated": True, "verified": True},
        {"id": "20250301T040000Z-tree-cccccc", "ensemble": "prod", "created": None, "root": None,
         "znodes": None, "encrypted": False, "authenticated": None, "verified": False}]
