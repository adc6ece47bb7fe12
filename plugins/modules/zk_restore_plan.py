#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_restore_plan
short_description: Choose and verify the stored ZooKeeper backups a restore needs
version_added: 0.1.0
description:
  - Runs on any host that reaches the backup hosts over SSH (a member, the controller, a
    bastion) and looks at the backups M(zkops.zookeeper.zk_backup) stored for an ensemble.
    It lists the backups and restore reports on every host in O(backup_hosts) that answers
    and plans over all the backups they hold together (a host may miss backups, for instance
    because it was full or down when they were taken; a backup held by several hosts is one
    backup). The latest state, what the plan leaves out and the highest epoch are those of
    all the backups the hosts that answered hold. A host that does not answer is named in a
    warning and in RV(unreachable); the backups only it holds are not in the plan.
  - Chooses what a restore needs, one full backup (O(backup_id), else the newest one that
    starts before the target) and, for a target after its last transaction, the shipped log
    chunks that continue it up to the target, without a gap.
  - With O(verify=true) has the backup host check every chosen backup against the
    checksums recorded when it was stored, on the hosts in the order of O(backup_hosts). A
    copy that does not match is named (RV(rejected)) and the same backup is taken from the
    next host whose copy verifies (RV(sources)); the module fails only when no host holds a
    copy that verifies.
  - Returns the plan for M(zkops.zookeeper.zk_restore) (the same on every member), and the
    tree digest the backup promises at the zxid restored to when its manifest records one.
  - Never changes anything.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.authenticity
  - zkops.zookeeper.backup_store.ensemble
  - zkops.zookeeper.ssh
  - zkops.zookeeper.read_only
options:
  backup_id:
    description: The full backup to restore. The newest suitable one when not set.
    type: str
  target_zxid:
    description:
      - Restore the state at this zxid (hex with C(0x), or decimal), using the shipped logs
        after the full backup when the target is later than its last transaction.
      - V(latest) restores every transaction shipped after the full backup that continues it
        (the full backup as it is when none does).
      - C(0x) and hex digits is hex; bare digits are decimal, also those of a data file name
        (the zxid of C(log.100000003) is C(0x100000003)); anything else is refused.
    type: str
  target_time:
    description:
      - Restore the state at this time, the last transaction logged at or before it. An ISO
        8601 date and time (UTC when it has no zone) or milliseconds since the epoch.
    type: str
  encryption_key:
    description:
      - The symmetric key the backups were written with (base64 or hex). Never logged or returned.
      - Used to check the MAC of each backup's manifest; with it, backups without a valid MAC
        (or signature of O(verify_keys)) are refused.
    type: str
  verify:
    description: Have the backup host check every chosen backup against its C(SHA256SUMS).
    type: bool
    default: true
seealso:
  - module: zkops.zookeeper.zk_restore
  - module: zkops.zookeeper.zk_backup_catalog
"""

EXAMPLES = r"""
- name: The newest full backup of prod-zk, verified on the backup host
  zkops.zookeeper.zk_restore_plan:
    backup_hosts: [backup1.example.com, backup2.example.com]
    ensemble: prod-zk
  register: plan

- name: What a restore to 02:55 UTC needs
  zkops.zookeeper.zk_restore_plan:
    backup_hosts: [backup1.example.com]
    ensemble: prod-zk
    target_time: "2025-03-01T02:55:00Z"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
backup_host:
  description:
    - The backup host the full backup is read from (RV(sources)).
  returned: success
  type: str
sources:
  description:
    - The backup host each backup of the plan is read from, by backup id, the first host in
      the order of O(backup_hosts) whose copy verifies (with O(verify)), else the first that
      holds a copy. Give it to M(zkops.zookeeper.zk_restore) as O(zkops.zookeeper.zk_restore#module:backup_sources).
  returned: success
  type: dict
backup_hosts_listed:
  description: The backup hosts that answered, whose backups together the plan is made from.
  returned: success
  type: list
  elements: str
rejected:
  description:
    - The copies that did not verify, each with C(host), C(backup_id) and C(reason); the
      backup was taken from another host.
  returned: success
  type: list
  elements: dict
plan:
  description:
    - C(full) (the full backup, with C(id), C(zxid), C(time_range), C(archive), C(digest)),
      C(logs) (the shipped chunks after it, in order), C(backup_ids) (all of them, in order),
      C(target_zxid) (where the logs are cut, or null), C(target_time), C(last_zxid) (of the
      full backup when it is restored as it is), C(point_in_time).
    - C(forks), the earlier restores of the whole ensemble that the target lies after
      (C(restore_id), C(zxid) restored to, C(epoch) the ensemble began after it,
      C(finished)); what they undid is left out of the plan, and a chain of shipped logs
      crosses one only from exactly its zxid.
    - C(highest_epoch), the highest epoch of any zxid the backup hosts know of (their
      backups and restore reports); a restored ensemble begins after it (C(epoch_floor) of
      M(zkops.zookeeper.zk_restore)).
    - C(warnings), why the plan stops short of what was asked, such as the latest state
      when no full backup was taken after the last restore of the ensemble.
    - C(restored_to), where the plan takes the ensemble, C(zxid) (null for a target time, known
      once the files are read), C(time_ms) of the last transaction, C(exact) (false when
      C(time_ms) is only an upper bound).
    - C(left_out), what the backup hosts hold after that point that the plan does not restore,
      C(full_backups) and C(logs) (ids), C(last_zxid) and C(last_time_ms) of the newest
      transaction they hold, and C(latest) (C(zxid), C(time_ms)), the newest state restorable
      (O(target_zxid=latest)), or null.
    - C(not_authenticated), the backups refused because the keys given do not authenticate
      them (C(id), C(kind), C(reason)); they are never chosen.
    - C(expected), the tree digest the full backup's manifest promises at the zxid restored
      to (C(digest), C(znode_count), C(zxid)), or null when the restore must replay the
      files to know it.
  returned: success
  type: dict
unreachable:
  description: The backup hosts that did not answer, with the reason; the plan is made without them.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import workflow as restore
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as restore_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import planner as restore_planner
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def argument_spec():
    spec = catalog.store_argument_spec(ensemble=True)
    spec.update(
        backup_id=dict(type="str"),
        target_zxid=dict(type="str"),
        target_time=dict(type="str"),
        verify=dict(type="bool", default=True),
        encryption_key=dict(type="str", no_log=True),
        verify_keys=dict(type="list", elements="str", default=[], no_log=False),
        allow_unauthenticated=dict(type="bool", default=False),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE + [("target_zxid", "target_time")])
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    ssh_transport.require_paramiko(module)
    p = module.params
    if not p["backup_hosts"]:
        module.fail_json(msg="backup_hosts is empty: give at least one backup host")
    try:
        target_zxid, target_time = restore.parse_target(p)
    except restore.RestoreError as exc:
        module.fail_json(msg=str(exc))
    keys = authenticity.module_keys(module)
    try:
        restore_fetch.check_names(p["ensemble"], [p["backup_id"]] if p["backup_id"] else [])
    except restore_fetch.FetchError as exc:
        module.fail_json(msg="%s; no backup host was reached" % exc, changed=False)
    warnings = []
    result, unreachable, failure = restore_planner.plan_over_hosts(p, target_zxid, target_time, keys, warnings)
    for w in warnings + (result["plan"].get("warnings") if result else []):
        module.warn(w)
    if failure is not None:
        module.fail_json(msg="%s; nothing was restored" % failure, unreachable=unreachable, changed=False)
    if result is None:
        module.fail_json(msg="no backup host could be reached (%s); nothing was restored"
                         % "; ".join(u["reason"] for u in unreachable), unreachable=unreachable, changed=False)
    module.exit_json(changed=False, unreachable=unreachable, **result)


if __name__ == "__main__":
    main()
