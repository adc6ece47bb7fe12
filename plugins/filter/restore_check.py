# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: restore_check
short_description: Judge one layer of the verification of a restored ZooKeeper ensemble
version_added: 0.1.0
description:
  - The restore role verifies a restored ensemble in layers, each judged on its own
    (C(verified), C(partial), C(not verified), C(not checked) or C(wrong)); only C(wrong)
    fails a restore. This filter judges one layer, decides whether a failed restore is
    rolled back, or whether a backup may be restored onto the release the members run.
  - V(files), input the backup host whose archives were verified; V(serving), input the
    C(members) of M(zkops.zookeeper.zk_info); V(tree), input the result of
    M(zkops.zookeeper.zk_tree_export) in check mode with O(zkops.zookeeper.zk_tree_export#module:partial);
    V(recorded), the same result read before the restore; V(rollback), input the members'
    state recorded before the restore; V(releases), input the members (C(host), C(version)
    as M(zkops.zookeeper.zk_info) reports it, or null, and C(installed), its RV(member.installed),
    which counts when C(version) is null).
options:
  _input:
    description: What the layer judges (see the description).
    type: raw
    required: true
  kind:
    description: V(files), V(serving), V(tree), V(recorded), V(rollback) or V(releases).
    type: str
    required: true
  expected:
    description:
      - The tree the restored files hold (C(digest), C(znode_count), C(znodes) with
        ZooKeeper's own and ephemeral znodes, C(ephemeral_znodes)).
    type: dict
  started:
    description: With V(serving), the number of members started.
    type: int
  epoch_floor:
    description: With V(serving), the highest epoch the backups know; the restored ensemble serves past it.
    type: int
  last_zxid:
    description: With V(serving) and V(files), the last zxid of the restored data (C(0x) and hex, or decimal).
    type: str
  staged_sets:
    description: With V(files), the set digest of the files each member staged.
    type: list
    elements: str
  enabled:
    description: With V(tree), whether the digest is checked at all.
    type: bool
    default: true
  quorum:
    description: With V(rollback), whether the ensemble had a quorum before the restore.
    type: bool
  backup_release:
    description:
      - With V(releases), the ZooKeeper release the backup was taken on (its manifest's), or
        the list of those of the backups restored (the full backup's and the shipped logs');
        the newest counts. Null when not known.
    type: raw
  allow_older:
    description: With V(releases), allow a restore onto members of an older release than the backup's.
    type: bool
    default: false
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Judge what the clients see
  ansible.builtin.set_fact:
    serving_layer: "{{ info.members | zkops.zookeeper.restore_check('serving', expected=expected, started=3) }}"
"""

RETURN = r"""
_value:
  description:
    - For a layer, C(status), C(summary), C(checks) (each with C(name), C(status) and
      C(detail)) and C(warnings).
    - For V(recorded), C(tree) (C(digest), C(znode_count), C(zxid), C(partial),
      C(unreadable)) or null, and C(note).
    - For V(rollback), C(rollback) (a boolean) and C(reason).
    - For V(releases), C(backup) (the backup's release), C(members) (each member's), C(path)
      (C(same release), C(upgrade), C(downgrade) or C(unknown)), C(older) and C(unknown)
      (hosts), C(allowed) (false for a downgrade not allowed) and C(message).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import releases as restore_releases
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import verify as restore_verify


def restore_check(value, kind, expected=None, started=None, epoch_floor=None, last_zxid=None,
                  staged_sets=None, enabled=True, quorum=None, backup_release=None, allow_older=False):
    if kind == "files":
        return restore_verify.files_layer(value, staged_sets or [], last_zxid, expected)
    if kind == "serving":
        return restore_verify.serving_layer(value or [], int(started or 0), expected,
                                            None if epoch_floor in (None, "") else int(epoch_floor),
                                            last_zxid or None)
    if kind == "tree":
        return restore_verify.tree_layer(bool(enabled), value, expected)
    if kind == "recorded":
        tree, note = restore_verify.recorded_tree(value)
        return {"tree": tree, "note": note}
    if kind == "rollback":
        return restore_verify.rollback_decision(value or [], bool(quorum))
    if kind == "releases":
        return restore_releases.decide(backup_release or None, value or [], bool(allow_older))
    raise AnsibleFilterError("restore_check: unknown kind %r (files, serving, tree, recorded, rollback, releases)"
                             % (kind,))


class FilterModule(object):
    def filters(self):
        return {"restore_check": restore_check}
