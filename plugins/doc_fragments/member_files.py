# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Where the data files of the member a module runs on are
    # (plugins/module_utils/formats/zoo_cfg.py: member_files_argument_spec()).
    DOCUMENTATION = r"""
options:
  config_file:
    description: The member's zoo.cfg; it gives C(dataDir), C(dataLogDir) and the ports.
    type: path
    default: /etc/zookeeper/conf/zoo.cfg
  data_dir:
    description: Overrides C(dataDir) of O(config_file).
    type: path
  data_log_dir:
    description: Overrides C(dataLogDir) of O(config_file).
    type: path
"""
