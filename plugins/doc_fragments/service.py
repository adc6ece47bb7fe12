# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The options of the modules that start the local ZooKeeper server
    # (plugins/module_utils/ensemble/service.py: argument_spec()).
    DOCUMENTATION = r"""
options:
  service_manager:
    description:
      - How to start the server (and, in M(zkops.zookeeper.zk_quiesce), to stop it).
        V(auto) uses the given commands when there are (O(start_command), and in
        M(zkops.zookeeper.zk_quiesce) its stop command), else systemd when it runs and knows
        O(service_name), else the init script C(/etc/init.d/<service_name>).
    type: str
    choices: [auto, systemd, sysv, command]
    default: auto
  service_name:
    description: The systemd unit or init script name.
    type: str
    default: zookeeper
  start_command:
    description: The command that starts the server (V(command) manager); a list or a string.
    type: raw
"""
