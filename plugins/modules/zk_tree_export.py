#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: zk_tree_export
short_description: Export a ZooKeeper znode tree to a file, with data, ACLs and stats
version_added: "0.1.0"
description:
  - Walks a subtree (or the whole tree) of a running ZooKeeper ensemble and writes every
    znode (path, data, ACL, full stat, kind, sequential origin) to a compressed,
    streamable export file that M(zkops.zookeeper.zk_tree_import) reads back.
  - The file ends with a trailer holding the znode count and the tree digest of the
    collection, the same digest that a restore and an import verify against.
  - Reads are pipelined and batched (multiRead on ZooKeeper 3.6 and later) over several
    sessions spread over the members, so the export runs at the speed of the servers.
    Every session first syncs with the leader; the zxid window the walk saw is reported,
    and so are znodes modified or deleted while it ran.
  - A running ensemble reports container and TTL znodes to clients as persistent ones;
    a live export records them as persistent, has no typed digest and says so in
    RV(kinds_exact) and RV(kinds_note).
  - The file is written to a temporary file next to O(dest) and renamed when complete.
    When O(dest) already holds an export of the same tree (same root, exclusions,
    ephemeral policy and digest) it is kept and the task reports no change.
  - Runs wherever kazoo reaches the ensemble, usually delegated to the controller or a
    bastion host.
extends_documentation_fragment:
  - zkops.zookeeper.zookeeper
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Walks the tree and computes the digest; writes no file.
  diff_mode:
    support: none
    description: The module writes a file, not ZooKeeper data; there is nothing to diff.
options:
  hosts:
    description:
      - ZooKeeper connection string; the export opens sessions on every member listed.
    required: true
  dest:
    description:
      - Local path of the export file (conventionally ending in C(.zktree.gz)). Its
        directory must exist.
    type: path
    required: true
  root:
    description:
      - Absolute path of the subtree to export; C(/) exports the whole tree.
    type: str
    default: /
  exclude:
    description:
      - Subtrees left out of the export.
      - C(/zookeeper), the server's own subtree (quotas, dynamic configuration), is always
        left out; the tree digest never counts it.
    type: list
    elements: str
    default: ['/zookeeper']
  ephemeral_policy:
    description:
      - What to do with ephemeral znodes, which belong to live client sessions.
      - V(skip) leaves them out (the digest never counts them either).
      - V(persistent) records them as persistent znodes (an import creates them as such).
      - The counts of skipped and kept ephemeral znodes are returned.
    type: str
    choices: [skip, persistent]
    default: skip
  compression_level:
    description: gzip compression level of the file.
    type: int
    default: 6
  connections:
    description:
      - Number of read sessions; they are spread over the members round-robin.
      - Defaults to two per member, at most eight.
    type: int
  batch:
    description:
      - Znodes whose children and data are read in one multiRead request.
    type: int
    default: 64
  multi_read:
    description:
      - Use multiRead batches (ZooKeeper 3.6 and later). By default the server is probed.
    type: bool
notes:
  - A digest ACL is exported as the server returns it. Without ADMIN permission on a
    znode the server hides the password hash of its digest ACLs; the export then fails
    and names the znode rather than write an ACL that could not be restored.
  - The export fails, naming the znode, when a znode cannot be read; give identities in
    O(auth) that the ACLs grant.
  - The file format is specified in the collection's C(docs/tree-export-format.md).
seealso:
  - module: zkops.zookeeper.zk_tree_import
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Export the whole tree from the controller
  zkops.zookeeper.zk_tree_export:
    hosts: zk1:2181,zk2:2181,zk3:2181
    dest: /srv/backups/zookeeper-{{ ansible_date_time.iso8601_basic_short }}.zktree.gz
  delegate_to: localhost
  run_once: true

- name: Export /kafka with the credentials its ACLs need
  zkops.zookeeper.zk_tree_export:
    hosts: zk1:2181,zk2:2181,zk3:2181
    root: /kafka
    exclude:
      - /kafka/admin/reassign_partitions
    auth:
      - credential: "admin:{{ zk_admin_password }}"
    dest: /srv/backups/kafka.zktree.gz
    mode: "0600"
  delegate_to: localhost
  run_once: true
  register: export

- name: Show the digest of what was exported
  ansible.builtin.debug:
    msg: "{{ export.count }} znodes, digest {{ export.digest }}"
"""

RETURN = r"""
dest:
  description: The export file.
  returned: always
  type: str
root:
  description: The exported subtree.
  returned: always
  type: str
exclude:
  description: The subtrees left out (C(/zookeeper) always among them).
  returned: always
  type: list
  elements: str
count:
  description: Number of znodes in the file.
  returned: success
  type: int
  sample: 100001
digest:
  description: Tree digest (version RV(digest_version)) of the exported znodes.
  returned: success
  type: str
typed_digest:
  description: Digest including the exact kinds; null for a live export.
  returned: success
  type: str
digest_version:
  description: Version of the tree digest definition.
  returned: success
  type: int
kinds_exact:
  description: Whether the export tells container and TTL znodes from persistent ones.
  returned: success
  type: bool
kinds_note:
  description: Why a live export cannot tell container and TTL znodes apart.
  returned: when kinds_exact is false
  type: str
ephemeral_policy:
  description: The ephemeral policy applied.
  returned: success
  type: str
ephemeral_skipped:
  description: Ephemeral znodes left out.
  returned: success
  type: int
ephemeral_kept:
  description: Ephemeral znodes recorded as persistent.
  returned: success
  type: int
sequential:
  description: Znodes recorded as sequential (a 10-digit suffix below the parent's counter).
  returned: success
  type: int
zxid_start:
  description: Highest zxid the members had applied when the walk started (after sync).
  returned: success
  type: int
zxid_end:
  description: Highest zxid the members had applied when the walk ended.
  returned: success
  type: int
modified_during_export:
  description: Exported znodes changed (data or children) after RV(zxid_start).
  returned: success
  type: int
vanished:
  description: Znodes deleted while the walk ran (listed by their parent, gone when read).
  returned: success
  type: int
bytes:
  description: Size of the export file (null in check mode).
  returned: success
  type: int
seconds:
  description: Duration of the walk.
  returned: success
  type: float
rate:
  description: Znodes exported per second.
  returned: success
  type: float
walk:
  description: Statistics of the walk (requests, sessions, multiRead used, lost sessions).
  returned: success
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.zkops.zookeeper.plugins.module_utils import tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils import tree_walk
from ansible_collections.zkops.zookeeper.plugins.module_utils import zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils import zk_pipeline


def main():
    spec = zk_client.zk_argument_spec()
    spec["hosts"]["required"] = True
    spec.update(
        dest=dict(type="path", required=True),
        root=dict(type="str", default="/"),
        exclude=dict(type="list", elements="str", default=["/zookeeper"]),
        ephemeral_policy=dict(type="str", choices=list(tree_export.EPHEMERAL_POLICIES),
                              default="skip"),
        compression_level=dict(type="int", default=6),
        connections=dict(type="int"),
        batch=dict(type="int", default=64),
        multi_read=dict(type="bool"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           add_file_common_args=True)
    zk_client.require_kazoo(module)
    p = module.params
    dest = p["dest"]
    try:
        root = tree_export.normalize_root(p["root"])
        exclude = tree_export.normalize_exclude(p["exclude"])
    except tree_export.ExportError as exc:
        module.fail_json(msg=str(exc))
    if not 1 <= p["compression_level"] <= 9:
        module.fail_json(msg="compression_level must be between 1 and 9")
    connections = p["connections"] or min(8, 2 * len(zk_client.split_hosts(p["hosts"])))
    base = dict(dest=dest, root=root, exclude=exclude, changed=False)

    t0 = time.time()
    try:
        pool = zk_pipeline.open_pool(p, connections)
    except zk_pipeline.PipelineError as exc:
        module.fail_json(msg="%s; nothing was written" % exc, **base)
    try:
        source = tree_export.LiveSource(pool, root, exclude, hosts=p["hosts"],
                                        batch=p["batch"], multi_read=p["multi_read"])
        summary = tree_export.export_file(source, dest, root, exclude, p["ephemeral_policy"],
                                          p["compression_level"], module.check_mode)
    except (tree_walk.WalkError, zk_pipeline.PipelineError, tree_export.ExportError) as exc:
        module.fail_json(msg="export of %s failed: %s; nothing was written" % (root, exc),
                         **base)
    except (IOError, OSError) as exc:
        module.fail_json(msg="export of %s failed writing %s: %s; nothing was written"
                         % (root, dest, exc), **base)
    finally:
        pool.close()
    seconds = time.time() - t0

    changed = summary["changed"]
    if not module.check_mode and os.path.exists(dest):
        file_args = module.load_file_common_arguments(p)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    trailer = summary["trailer"]
    header = summary["header"]
    walk = summary["walk"]
    base["changed"] = changed
    result = dict(base, count=trailer["count"], digest=trailer["digest"],
                  typed_digest=trailer["typed_digest"],
                  digest_version=trailer["digest_version"],
                  kinds_exact=header["kinds_exact"], ephemeral_policy=p["ephemeral_policy"],
                  ephemeral_skipped=summary["ephemeral_skipped"],
                  ephemeral_kept=summary["ephemeral_kept"], sequential=summary["sequential"],
                  zxid_start=header["zxid_start"], zxid_end=trailer["zxid_end"],
                  modified_during_export=summary["modified_during_export"],
                  vanished=trailer["vanished"], bytes=summary["bytes"],
                  seconds=round(seconds, 3),
                  rate=round(trailer["count"] / walk["seconds"], 1) if walk["seconds"] else None,
                  walk=walk)
    if not header["kinds_exact"]:
        result["kinds_note"] = tree_export.KINDS_NOTE
    result["msg"] = "exported %d znodes of %s%s" % (
        trailer["count"], root, "" if header["kinds_exact"] else
        " (container and TTL znodes recorded as persistent: %s)" % tree_export.KINDS_NOTE)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
