# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: backup_outcome
short_description: The outcome of one ensemble's backup in a play that backs up several
version_added: 0.1.0
description:
  - Takes the members of one ensemble in the play (its first member ran the ensemble's steps)
    and returns whether its backup failed, and why, or which backup it took.
  - The ensemble failed when one of its members is no longer in the play (it failed before the
    backup started, and the failed task names the reason), or when its first member noted a failure
    (C(__zookeeper_backup_failure)). Otherwise its first member's report
    (C(__zookeeper_backup_report)) gives the backup taken, or why none was needed.
options:
  _input:
    description: The ensemble's members in the play, its first member first.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: raw
    required: true
  play_hosts:
    description: The hosts still in the play (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: The outcome of each ensemble
  ansible.builtin.set_fact:
    outcomes: >-
      {{ dict(ensembles.keys() | zip(ensembles.values() | map('zkops.zookeeper.backup_outcome', hostvars, ansible_play_hosts))) }}
"""

RETURN = r"""
_value:
  description:
    - C(failed) and C(reason) (why it failed, or why no backup was needed); when it did not fail,
      C(backup_id) (none when no backup was needed), C(kind) and C(source_member).
  type: dict
"""


def _get(variables, name):
    try:
        value = variables[name]
    except (KeyError, TypeError):
        return None
    return value


def backup_outcome(members, hostvars, play_hosts):
    members = [str(m) for m in members or ()]
    if not members:
        return {"failed": True, "reason": "the ensemble has no member in the play"}
    play_hosts = set(str(h) for h in play_hosts or ())
    stopped = [m for m in members if m not in play_hosts]
    lead = hostvars[members[0]] if members[0] in hostvars else {}
    failure = _get(lead, "__zookeeper_backup_failure") or ""
    if failure:
        return {"failed": True, "reason": str(failure)}
    if stopped:
        return {"failed": True,
                "reason": "nothing was done: %s failed before the backup started (the failed task above says why)"
                          % ", ".join(stopped)}
    report = _get(lead, "__zookeeper_backup_report")
    if not isinstance(report, dict) and not hasattr(report, "keys"):
        return {"failed": True, "reason": "its first member %s did not report a backup" % members[0]}
    return {"failed": False, "backup_id": report.get("backup_id"), "kind": report.get("kind"),
            "source_member": report.get("source_member"), "reason": report.get("reason") or ""}


class FilterModule(object):
    def filters(self):
        return {"backup_outcome": backup_outcome}
