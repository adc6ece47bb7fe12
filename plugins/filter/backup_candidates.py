# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: backup_candidates
short_description: Order ZooKeeper members as sources of a backup
version_added: 0.1.0
description:
  - Takes one dict per member with C(host), C(mode), C(serving) and C(zxid) (as reported by
    M(zkops.zookeeper.zk_info) for the local member) and returns the hosts to back up from,
    best first. Serving followers with the highest zxid come first, then observers, and the
    leader last. Members that do not serve are left out.
  - A C(zxid) is C(0x) and hex digits, as M(zkops.zookeeper.zk_info) reports it, or an
    integer; bare digits in a string are refused.
options:
  _input:
    description: The members.
    type: list
    elements: dict
    required: true
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Order the members
  ansible.builtin.set_fact:
    candidates: "{{ members | zkops.zookeeper.backup_candidates }}"
"""

RETURN = r"""
_value:
  description: The hosts, best source first.
  type: list
  elements: str
"""

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import source_choice


class FilterModule(object):
    def filters(self):
        return {"backup_candidates": source_choice.order}
