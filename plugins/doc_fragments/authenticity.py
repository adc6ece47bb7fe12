# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Which stored backups a restore accepts: the keys that authenticate them
    # (plugins/module_utils/archive/authenticity.py: keys_from_params(), decide()).
    DOCUMENTATION = r"""
options:
  verify_keys:
    description:
      - Ed25519 verify keys (the PEM text of C(openssl pkey -pubout) of the signing key given to
        M(zkops.zookeeper.zk_backup) as O(zkops.zookeeper.zk_backup#module:signing_key)).
      - With a verify key or O(encryption_key), every backup must carry a valid signature of one
        of the verify keys or a valid MAC of the encryption key, and record its archive's SHA-256;
        any other backup is refused (see C(docs/security.md)).
    type: list
    elements: str
    default: []
  allow_unauthenticated:
    description:
      - Accept backups that the keys given do not authenticate (for instance backups written
        before a key or signing key was set), with a warning. A backup whose MAC or signature of
        a key given does not verify is refused even then.
    type: bool
    default: false
"""
