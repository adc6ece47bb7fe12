#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_report
short_description: Store the report of a ZooKeeper backup or restore on the backup hosts
version_added: 0.1.0
description:
  - Writes the report of a run (O(report), a dictionary the caller composes with what, from
    where, to where, zxids, sizes, rates, durations, verification) as JSON on every backup
    host, so that the backups themselves show how they were taken and that restores from
    them were tested.
  - A backup's report goes into the backup's directory as C(report.json), after the backup
    was stored and verified; it is not covered by the backup's C(SHA256SUMS), so the
    backup's verification does not change, and M(zkops.zookeeper.zk_backup_catalog) lists
    it with the backup (C(report)).
  - A restore's report goes to C(<backup_root>/<ensemble>/restores/<id>.json);
    M(zkops.zookeeper.zk_backup_catalog) lists them (C(restores)).
  - Each host receives the file under a hidden temporary name, flushes it and computes its
    SHA-256; only when that matches what was sent is it renamed into place.
  - The collection's backup and restore roles call it at the end of every run that took a
    backup or restored one.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.backup_store.ensemble
  - zkops.zookeeper.ssh
attributes:
  check_mode:
    support: full
    description: Connects to the backup hosts (checking their keys) and writes nothing.
  diff_mode:
    support: none
    description: A report is a new file; there is nothing to compare it with.
options:
  kind:
    description: V(backup) (the report of the backup O(id)) or V(restore) (of the restore O(id)).
    type: str
    choices: [backup, restore]
    required: true
  id:
    description: The backup id (its directory must exist on every host) or the restore id.
    type: str
    required: true
  report:
    description: The report. Stored as it is, below C(report) in the file, with the format, kind, id, ensemble and time written.
    type: dict
    required: true
  required:
    description:
      - V(all) fails unless every backup host stored the report; V(any) fails only when none
        did (the others are named in warnings and RV(failed_hosts)).
    type: str
    choices: [all, any]
    default: all
seealso:
  - module: zkops.zookeeper.zk_backup_catalog
  - module: zkops.zookeeper.zk_backup
  - module: zkops.zookeeper.zk_restore
"""

EXAMPLES = r"""
- name: Store the report of a restore drill on the backup hosts
  zkops.zookeeper.zk_report:
    backup_hosts: [backup1.example.com]
    ensemble: prod-zk
    kind: restore
    id: "{{ restore_id }}"
    report:
      result: verified
      backups: [20250301T021500Z-full-3fa2c1]
      outage_s: 9.5
    required: any
"""

RETURN = r"""
stored:
  description: Where the report was stored, C(host), C(path) and C(sha256) (in check mode, where it would be).
  returned: always
  type: list
  elements: dict
failed_hosts:
  description: The backup hosts that did not store it, C(host) and C(msg).
  returned: always
  type: list
  elements: dict
document:
  description: The JSON object stored.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as run_report
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def main():
    spec = catalog.store_argument_spec(ensemble=True)
    spec.update(
        kind=dict(type="str", choices=list(run_report.KINDS), required=True),
        id=dict(type="str", required=True),
        report=dict(type="dict", required=True),
        required=dict(type="str", choices=["all", "any"], default="all"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE)
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    ssh_transport.require_paramiko(module)
    p = module.params
    try:
        path = run_report.path_of(p["backup_root"], p["ensemble"], p["kind"], p["id"])
        doc = run_report.document(p["kind"], p["id"], p["ensemble"], p["report"])
    except run_report.ReportError as exc:
        module.fail_json(msg=str(exc))
    data = run_report.encode(doc)
    stored, failed, warnings = [], [], []
    for host in p["backup_hosts"]:
        session = None
        try:
            session = ssh_transport.connect(p, host, warnings)
            sha = None if module.check_mode else run_report.store(session, p["backup_root"], path, data)
            stored.append({"host": session.label, "path": path, "sha256": sha})
        except ssh_transport.SshError as exc:
            failed.append({"host": host, "msg": str(exc)})
        finally:
            if session is not None:
                session.close()
    for w in warnings:
        module.warn(w)
    result = dict(changed=bool(stored),
                  stored=stored, failed_hosts=failed, document=doc)
    if failed and (p["required"] == "all" or not stored):
        module.fail_json(msg="the %s report was not stored on %s" % (
            p["kind"], "; ".join(f["msg"] for f in failed)), **result)
    for f in failed:
        module.warn("the %s report was not stored on %s" % (p["kind"], f["msg"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
