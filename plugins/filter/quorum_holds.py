# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: quorum_holds
short_description: Whether some servers form a quorum of an ensemble
version_added: 0.1.0
description:
  - Tells whether the servers given form a quorum under the ensemble's voting rule, as
    M(zkops.zookeeper.zk_info) describes the ensemble in its C(ensemble) result.
  - Observers never count. Without C(group.N) lines in zoo.cfg a quorum is more than half of
    the voters; with them (hierarchical quorums), more than half of the weight in more than
    half of the groups of non-zero weight.
  - False when the view does not know the voters.
options:
  _input:
    description: Server ids.
    type: list
    elements: int
    required: true
  ensemble:
    description: The C(ensemble) result of M(zkops.zookeeper.zk_info).
    type: dict
    required: true
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Stop unless the other voters keep a quorum without server 3
  ansible.builtin.assert:
    that:
      - info.ensemble.serving_voters | difference([3]) | zkops.zookeeper.quorum_holds(info.ensemble)
"""

RETURN = r"""
_value:
  description: Whether the servers form a quorum.
  type: bool
"""

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum as quorum_mod


def quorum_holds(value, ensemble):
    quorum = quorum_mod.Quorum.from_view(ensemble)
    if quorum is None:
        return False
    return quorum.contains_quorum(int(sid) for sid in value or () if sid is not None)


class FilterModule(object):
    def filters(self):
        return {"quorum_holds": quorum_holds}
