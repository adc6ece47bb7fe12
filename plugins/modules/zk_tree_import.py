#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: zk_tree_import
short_description: Import a znode tree export into a running ZooKeeper ensemble
version_added: "0.1.0"
description:
  - Brings a subtree of a running ensemble to the content of an export written by
    M(zkops.zookeeper.zk_tree_export), without downtime.
  - The whole export is read and its digest checked before anything is written; a
    damaged or truncated file changes nothing.
  - The live subtree is walked and compared with the export; only the differences are
    written. A second run with the same export reports no change.
  - Writes are batched in transactions sized under the server's request limit
    (C(jute.maxbuffer)); each transaction is all or nothing.
  - Parents are created before their children. ACLs are set after the children exist,
    so a restrictive ACL cannot block the import; a znode whose ACL would block it is
    created with a temporary ACL granting only this session (or, without a digest
    identity in O(auth), everyone) until its final ACL is set at the end of the run.
  - Container and TTL znodes are created as such when the export knows their kind (an
    export made from data files); a live export records them as persistent.
  - Parents of restored sequential znodes get their sequence counter (derived from
    cversion and numChildren) moved past the highest restored suffix, so that later
    sequential creates cannot collide with restored names.
  - Znodes of live sessions (ephemeral znodes) are never modified or deleted.
  - After writing, the subtree is walked again; the import is verified when nothing is
    left to do, and in O(mode=replace) when the live subtree has the export's digest.
  - With O(export_id) the export is fetched from the backup hosts that
    M(zkops.zookeeper.zk_tree_export) stored it on, from the first of O(backup_hosts) that
    holds a good copy. A host is passed over, with its reason in RV(fetched), when it
    cannot be reached, does not hold the export, the keys given do not authenticate its
    manifest (as M(zkops.zookeeper.zk_restore) authenticates backups), or the file read is
    not the one its manifest records (size and SHA-256, computed on what was read). The
    copy is downloaded into a private temporary directory (files of mode 0600, removed at
    the end) and decrypted only after these checks, in memory.
extends_documentation_fragment:
  - zkops.zookeeper.zookeeper
  - zkops.zookeeper.progress
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.ssh
  - zkops.zookeeper.authenticity
attributes:
  check_mode:
    support: full
    description: Reads the export and the live subtree and reports the plan; writes nothing.
  diff_mode:
    support: full
    description: Counts and a bounded sample of the paths to create, update and delete.
options:
  hosts:
    description:
      - ZooKeeper connection string of the ensemble to import into.
    required: true
  src:
    description:
      - Local path of the export file. One of O(src) and O(export_id) is required.
    type: path
  export_id:
    description:
      - The id of an export stored on O(backup_hosts) (RV(zkops.zookeeper.zk_tree_export#module:backup_id),
        for instance C(20250301T020000Z-tree-3fa2c1)), or V(latest) for the newest export of
        O(ensemble) that one of the hosts holds a usable copy of.
      - M(zkops.zookeeper.zk_backup_catalog) lists the stored exports (kind C(tree)); when
        the id is not found, the error names each host's newest exports.
    type: str
  backup_hosts:
    description:
      - With O(export_id), the backup hosts to fetch the export from, in order of
        preference, as C(host), C(host:port) or C(user@host:port).
    type: list
    elements: str
  ensemble:
    description:
      - With O(export_id), the name of the ensemble the export was stored under (the
        directory below O(backup_root)).
    type: str
  encryption_key:
    description:
      - The key the export was encrypted with (base64 or hex), as given to
        M(zkops.zookeeper.zk_tree_export). It also checks the MAC of the stored manifest;
        with it, an export the key does not authenticate is refused. Never logged or
        returned.
    type: str
  identities:
    description:
      - X25519 private keys (PEM) that decrypt exports encrypted to their public keys
        (O(zkops.zookeeper.zk_tree_export#module:encryption_recipients)). They prove nothing
        about who wrote an export, so give O(verify_keys) with them. Never logged or returned.
    type: list
    elements: str
    default: []
  mode:
    description:
      - V(merge) creates missing znodes and updates data and ACLs that differ.
      - V(replace) also deletes live znodes the export does not have, so that the subtree
        becomes exactly the export.
      - V(missing_only) only creates missing znodes.
    type: str
    choices: [merge, replace, missing_only]
    default: merge
  root:
    description:
      - The part of the export to import (an absolute path inside the export's root).
        Defaults to the export's root. Its parent must exist in the ensemble.
    type: str
  exclude:
    description:
      - Subtrees neither written nor deleted. C(/zookeeper) is always excluded.
    type: list
    elements: str
    default: ['/zookeeper']
  rate_limit:
    description:
      - Upper bound of write operations per second, to protect a production ensemble.
        Unlimited when not set.
    type: float
  batch_bytes:
    description:
      - Largest transaction in bytes. Keep it under the server's C(jute.maxbuffer)
        (1 MiB by default).
    type: int
    default: 524288
  batch_ops:
    description: Largest number of operations in one transaction.
    type: int
    default: 1000
  connections:
    description:
      - Number of read sessions for walking the live subtree, spread over the members.
        Defaults to two per member, at most eight.
    type: int
  verify:
    description:
      - Walk the subtree again after writing and fail when it does not match the export.
    type: bool
    default: true
  max_sequence_bump:
    description:
      - Largest number of steps a sequence counter may be moved by (each step is one
        create and one delete of a placeholder child). A larger need fails before
        anything is written.
    type: int
    default: 1000000
  check_credentials:
    description:
      - Fail before writing when a digest credential in O(auth) names a user whose
        digest in the export's ACLs differs (a wrong password).
      - Turn off to import ACLs of a user whose password has changed since the export.
    type: bool
    default: true
  sample_size:
    description: Number of paths of each kind of change listed in the result and diff.
    type: int
    default: 20
notes:
  - Run it where kazoo reaches the ensemble, usually delegated to the controller or a
    bastion host holding the export.
seealso:
  - module: zkops.zookeeper.zk_tree_export
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Preview restoring /brokers from last night's export
  zkops.zookeeper.zk_tree_import:
    hosts: zk1:2181,zk2:2181,zk3:2181
    src: /srv/backups/nightly.zktree.gz
    root: /brokers
    mode: missing_only
  delegate_to: localhost
  run_once: true
  check_mode: true
  diff: true

- name: Make /config exactly what the export holds, gently
  zkops.zookeeper.zk_tree_import:
    hosts: zk1:2181,zk2:2181,zk3:2181
    src: /srv/backups/nightly.zktree.gz
    root: /config
    mode: replace
    rate_limit: 2000
    auth:
      - credential: "admin:{{ zk_admin_password }}"
  delegate_to: localhost
  run_once: true
  register: restored

- name: Show what changed
  ansible.builtin.debug:
    var: restored.counts

- name: Put back the missing znodes of /config from the newest encrypted export on the backup hosts
  zkops.zookeeper.zk_tree_import:
    hosts: zk1:2181,zk2:2181,zk3:2181
    export_id: latest
    backup_hosts:
      - backup1.example.com
      - backup2.example.com
    ensemble: prod-zk
    encryption_key: "{{ vault_zk_backup_key }}"
    ssh_private_key_file: /root/.ssh/zk_backup_ed25519
    root: /config
    mode: missing_only
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
mode:
  description: The import mode.
  returned: always
  type: str
root:
  description: The subtree imported.
  returned: success
  type: str
counts:
  description:
    - What the plan holds (C(create), C(update), C(update_data), C(update_acl),
      C(delete), C(unchanged), C(sequence_parents), C(sequence_increments),
      C(conflicts), C(kept_for_ephemeral), C(ephemeral_left), C(deferred_acl)).
  returned: success
  type: dict
  sample: {"create": 100001, "update": 0, "delete": 0, "unchanged": 0}
sample:
  description: Up to O(sample_size) paths of each kind of change.
  returned: success
  type: dict
applied:
  description: Operations written, by kind, and the number of transactions.
  returned: when changed and not in check mode
  type: dict
export:
  description: Root, creation time, count, digest and kind knowledge of the export file.
  returned: success
  type: dict
selection:
  description: Count and digest of the part of the export that was imported.
  returned: success
  type: dict
before:
  description: Count and digest of the live subtree before the import.
  returned: success
  type: dict
after:
  description: Count and digest of the live subtree after the import.
  returned: success and not in check mode
  type: dict
verified:
  description: Whether the live subtree was read back and matches the export.
  returned: success
  type: bool
digest_match:
  description: Whether the live subtree digest equals the imported part of the export.
  returned: when verified after writing
  type: bool
kinds_note:
  description: Set when the export could not tell container and TTL znodes apart.
  returned: when the export's kinds are not exact
  type: str
warnings:
  description: Conflicts with znodes of live sessions.
  returned: success
  type: list
  elements: str
stages:
  description:
    - The stages with their C(name) and C(seconds) (C(read the export), C(read the live
      tree), C(plan), C(apply), C(read back and verify)); C(apply) also with C(unit)
      operations, C(done) and C(rate) per second.
  returned: success
  type: list
  elements: dict
seconds:
  description: Duration of the whole task.
  returned: success
  type: float
src:
  description: The export read, a local path or C(host:path) of the copy fetched.
  returned: success
  type: str
fetched:
  description:
    - With O(export_id), where the export came from, C(host), C(export_id) and C(path) (its
      directory on the host), C(encrypted), C(authenticated) (null without keys) and
      C(passed), the hosts passed over, each with C(host) and C(reason).
  returned: success with O(export_id)
  type: dict
passed:
  description: With O(export_id), the hosts passed over (C(host), C(reason)) when none had a good copy.
  returned: failure with O(export_id)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import importer as tree_import
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import plan as tree_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def main():
    spec = zk_client.zk_argument_spec()
    spec["hosts"]["required"] = True
    spec.update(catalog.store_argument_spec())
    spec.update(
        src=dict(type="path"),
        export_id=dict(type="str"),
        backup_hosts=dict(type="list", elements="str"),
        ensemble=dict(type="str"),
        encryption_key=dict(type="str", no_log=True),
        identities=dict(type="list", elements="str", default=[], no_log=True),
        verify_keys=dict(type="list", elements="str", default=[], no_log=False),
        allow_unauthenticated=dict(type="bool", default=False),
        mode=dict(type="str", choices=list(tree_plan.MODES), default="merge"),
        root=dict(type="str"),
        exclude=dict(type="list", elements="str", default=["/zookeeper"]),
        rate_limit=dict(type="float"),
        batch_bytes=dict(type="int", default=524288),
        batch_ops=dict(type="int", default=1000),
        connections=dict(type="int"),
        verify=dict(type="bool", default=True),
        max_sequence_bump=dict(type="int", default=1000000),
        check_credentials=dict(type="bool", default=True),
        sample_size=dict(type="int", default=20),
    )
    spec.update(progress.argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("src", "export_id")],
                           mutually_exclusive=[("src", "export_id")] + ssh_transport.MUTUALLY_EXCLUSIVE,
                           required_by={"export_id": ("backup_hosts", "ensemble")})
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    zk_client.require_kazoo(module)
    p = module.params
    if p["batch_bytes"] < 1024 or p["batch_ops"] < 1:
        module.fail_json(msg="batch_bytes must be at least 1024 and batch_ops at least 1")
    if p["rate_limit"] is not None and p["rate_limit"] <= 0:
        module.fail_json(msg="rate_limit must be positive")
    connections = p["connections"] or min(8, 2 * len(zk_client.split_hosts(p["hosts"])))
    if p["export_id"] is not None:
        ssh_transport.require_paramiko(module)
    elif p["backup_hosts"] or p["encryption_key"] or p["identities"] or p["verify_keys"]:
        module.fail_json(msg="backup_hosts, encryption_key, identities and verify_keys fetch and check an "
                             "export stored on the backup hosts: give export_id instead of src, or leave "
                             "them out to import the file src; nothing was changed")
    tracker = progress.Tracker(p["progress_file"], "tree import")
    warnings = []
    try:
        kwargs = dict(
            mode=p["mode"], root=p["root"], exclude=p["exclude"],
            check_mode=module.check_mode, rate_limit=p["rate_limit"],
            batch_bytes=p["batch_bytes"], batch_ops=p["batch_ops"], connections=connections,
            verify=p["verify"], max_sequence_bump=p["max_sequence_bump"],
            check_credentials=p["check_credentials"], diff_limit=p["sample_size"],
            progress=tracker)
        if p["export_id"] is not None:
            result = tree_import.import_stored(p, p["export_id"], warnings, **kwargs)
        else:
            result = tree_import.run_import(p, p["src"], **kwargs)
    except (tree_import.TreeImportError, tree_export.ExportError, tree_plan.PlanError) as exc:
        tracker.close(ok=False)
        for w in warnings:
            module.warn(w)
        module.fail_json(msg=str(exc), mode=p["mode"], changed=getattr(exc, "changed", False),
                         **getattr(exc, "details", {}))
    tracker.close()
    result["stages"] = tracker.summary()
    diff = result.pop("diff")
    for w in warnings + result.pop("warnings"):
        module.warn(w)
    if module._diff:
        result["diff"] = diff
    c = result["counts"]
    result["msg"] = ("%s %s: %d to create, %d to update, %d to delete, %d sequence counters "
                     "to move%s" % ("planned" if module.check_mode else "imported", result["root"],
                                    c["create"], c["update"], c["delete"],
                                    c["sequence_parents"],
                                    "" if result["changed"] else " (nothing to do)"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
