# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: catalog_by_host
short_description: The catalogs of several backup hosts, one entry and one summary line per host
version_added: 0.1.0
description:
  - Takes the C(results) of a loop of M(zkops.zookeeper.zk_backup_catalog) over backup hosts
    (each result's C(item) is the backup host's inventory name; the loop sets
    C(failed_when) to false so that one host that cannot be read does not hide the others)
    and returns one entry per backup host, in the order of the loop.
  - An entry holds C(address) (the host the module logged in to), C(reachable), C(error) (why
    the host could not be read, else null), and for a host that was read the module's
    C(backups), C(restores), C(debris), C(unknown), C(unverified), C(unauthenticated), and
    C(log_shipping) of the ensemble given.
  - C(summary) is one line per host, for people; a host that could not be read is named
    C(unreachable) with the reason.
options:
  _input:
    description: The C(results) of the registered loop.
    type: list
    elements: dict
    required: true
  ensemble:
    description: The ensemble whose log shipping state is shown.
    type: str
    required: true
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Read the catalog of each backup host
  zkops.zookeeper.zk_backup_catalog:
    backup_host: "{{ hostvars[item].ansible_host }}"
    ensemble: prod-zk
    verify: false
  loop: "{{ groups['zookeeper_backup_hosts'] }}"
  register: read
  failed_when: false

- name: One line per backup host
  ansible.builtin.debug:
    msg: "{{ read.results | zkops.zookeeper.catalog_by_host('prod-zk') | dict2items | map(attribute='value.summary') | list }}"
"""

RETURN = r"""
_value:
  description: Backup host (inventory name) to its entry.
  type: dict
"""

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog_view


class FilterModule(object):
    def filters(self):
        return {"catalog_by_host": catalog_view.by_host}
