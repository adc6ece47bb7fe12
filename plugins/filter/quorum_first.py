# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: quorum_first
short_description: The members to start first so that they form a quorum on their own
version_added: 0.1.0
description:
  - From members in the order of preference, picks those to start first so that they form a
    quorum under the ensemble's voting rule (as M(zkops.zookeeper.zk_info) describes the
    ensemble in its C(ensemble) result), and no more than the quorum needs.
  - Only voters are picked, observers never. With C(group.N) and C(weight.N) lines in zoo.cfg
    (hierarchical quorums) the pick follows the groups and weights, not a count of members.
  - When the view does not know the voters, the first half of the members plus one.
  - When all the members together do not form a quorum, all of them, as there is no quorum to
    form first.
options:
  _input:
    description: The members in the order of preference, each with its server C(id).
    type: list
    elements: dict
    required: true
  ensemble:
    description: The C(ensemble) result of M(zkops.zookeeper.zk_info).
    type: dict
    required: true
  attribute:
    description: The key of each member to return.
    type: str
    default: host
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Start a quorum of the highest server ids first
  ansible.builtin.set_fact:
    first: "{{ members | sort(attribute='id', reverse=true) | zkops.zookeeper.quorum_first(info.ensemble) }}"
"""

RETURN = r"""
_value:
  description: The O(attribute) of the members to start first, in the order given.
  type: list
  elements: raw
"""

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum as quorum_mod


def quorum_first(value, ensemble, attribute="host"):
    members = list(value or ())
    quorum = quorum_mod.Quorum.from_view(ensemble)
    if quorum is None:
        return [m[attribute] for m in members[:quorum_mod.majority(len(members))]]
    ids = [int(m["id"]) for m in members if m.get("id") is not None]
    first = quorum.first_quorum(ids)
    if first is None:
        return [m[attribute] for m in members]
    first = set(first)
    return [m[attribute] for m in members if m.get("id") is not None and int(m["id"]) in first]


class FilterModule(object):
    def filters(self):
        return {"quorum_first": quorum_first}
