# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: iso_time
short_description: Milliseconds since the epoch as an ISO 8601 UTC time
version_added: 0.1.0
description:
  - Turns a time in milliseconds since the epoch (as ZooKeeper's transaction logs and the
    restore plan of M(zkops.zookeeper.zk_restore_plan) give it) into C(YYYY-MM-DDTHH:MM:SSZ),
    with milliseconds only when the time has some.
  - Strings and null are returned as they are.
options:
  _input:
    description: The time, in milliseconds since the epoch.
    type: raw
    required: true
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Show the target of a restore plan
  ansible.builtin.debug:
    msg: "{{ plan.plan.target_time | zkops.zookeeper.iso_time }}"
"""

RETURN = r"""
_value:
  description: The time, for example C(2025-03-01T02:55:00Z) or C(2025-03-01T02:55:00.250Z).
  type: str
"""

import time


def iso_time(value):
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    ms = int(value)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return text + (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")


class FilterModule(object):
    def filters(self):
        return {"iso_time": iso_time}
