#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_libraries
short_description: Check that a host can import the Python libraries the collection's modules need
version_added: 0.1.0
description:
  - Imports each library of O(libraries) with the Python interpreter Ansible runs modules
    with on the host, and reports which are missing with the Debian/Ubuntu and EL package
    names (and the pip name) that provide them.
  - Needs no third-party library itself, so it answers on a host rebuilt from scratch,
    before any module that needs one runs there.
  - With O(fail_on_missing=true) (the default) it fails when one is missing, naming the
    packages to install; with V(false) it only reports.
  - Never changes anything.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.read_only
options:
  libraries:
    description:
      - The libraries to check. V(kazoo) (ZooKeeper client), V(paramiko) (SSH to the backup
        hosts), V(cryptography) (encrypted backups), V(zstandard) and V(lz4) (compressed
        archives).
    type: list
    elements: str
    choices: [kazoo, paramiko, cryptography, zstandard, lz4]
    required: true
  fail_on_missing:
    description: Fail when a library cannot be imported.
    type: bool
    default: true
seealso:
  - module: zkops.zookeeper.zk_restore
  - module: zkops.zookeeper.zk_info
"""

EXAMPLES = r"""
- name: Check the libraries a restore needs on every member
  zkops.zookeeper.zk_libraries:
    libraries: [kazoo, paramiko, zstandard]

- name: Only report what is missing
  zkops.zookeeper.zk_libraries:
    libraries: [kazoo, paramiko]
    fail_on_missing: false
  register: libs
"""

RETURN = r"""
python:
  description: The interpreter that was checked (C(executable), C(version)).
  returned: always
  type: dict
present:
  description: The libraries that import, with their version (null when they do not say).
  returned: always
  type: dict
missing:
  description:
    - The libraries that do not import, each with C(library), C(module) (what was
      imported), C(debian) and C(el) (the package names), C(pip), C(purpose) and C(error).
  returned: always
  type: list
  elements: dict
packages:
  description: The packages that give the missing libraries (C(debian), C(el), C(pip), lists).
  returned: always
  type: dict
"""

import platform
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import libraries


def main():
    module = AnsibleModule(argument_spec=dict(
        libraries=dict(type="list", elements="str", required=True, choices=sorted(libraries.LIBRARIES)),
        fail_on_missing=dict(type="bool", default=True),
    ), supports_check_mode=True)
    present, missing = libraries.probe(module.params["libraries"])
    result = dict(
        changed=False,
        python={"executable": sys.executable, "version": platform.python_version()},
        present=present, missing=missing,
        packages={k: [m[k] for m in missing] for k in ("debian", "el", "pip")})
    if missing and module.params["fail_on_missing"]:
        module.fail_json(
            msg="%s cannot import %s with %s: install the packages %s (Debian/Ubuntu) or %s (EL, with EPEL), "
                "or pip install %s for that interpreter, then run again"
                % (platform.node(), ", ".join(m["library"] for m in missing), sys.executable,
                   " ".join(result["packages"]["debian"]), " ".join(result["packages"]["el"]),
                   " ".join(result["packages"]["pip"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
