# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Where the backups are stored on the backup hosts
    # (plugins/module_utils/store/catalog.py: store_argument_spec()).
    DOCUMENTATION = r"""
options:
  backup_root:
    description:
      - The directory on the backup hosts that holds one directory per ensemble,
        C(<backup_root>/<ensemble>/), and in it one directory per backup,
        C(<backup_root>/<ensemble>/<backup id>/).
    type: str
    default: /srv/backups
"""

    # The modules that work on the backups of one ensemble on a list of backup hosts
    # (store_argument_spec(ensemble=True)); each module says what it does with every host.
    ENSEMBLE = r"""
options:
  backup_hosts:
    description:
      - The backup hosts, as C(host), C(host:port) or C(user@host:port).
    type: list
    elements: str
    required: true
  ensemble:
    description:
      - The name of the ensemble, the directory below O(backup_root). Backups are stored
        under names of letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
"""
