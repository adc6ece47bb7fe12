# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every module that talks the ZooKeeper client protocol
    # (plugins/module_utils/client/connection.py: zk_argument_spec()).
    DOCUMENTATION = r"""
options:
  hosts:
    description:
      - ZooKeeper connection string, C(host:port) pairs separated by commas.
      - Each module documents what it uses when this is not set.
    type: str
  session_timeout:
    description:
      - Requested session timeout in seconds (the server bounds it by 2 and 20 times its
        C(tickTime)).
    type: float
    default: 10.0
  connect_timeout:
    description:
      - Seconds to wait for a connection before failing with a diagnosis of every address.
    type: float
    default: 10.0
  auth:
    description:
      - Authentication identities added to the session, in order.
    type: list
    elements: dict
    suboptions:
      scheme:
        description: Authentication scheme.
        type: str
        default: digest
      credential:
        description:
          - The credential, for C(digest) C(user:password). Never logged or returned.
        type: str
        required: true
  tls:
    description:
      - Connect to the secure client port with TLS.
    type: bool
    default: false
  tls_ca_file:
    description: PEM file with the CA certificates that sign the servers' certificates.
    type: path
  tls_cert_file:
    description: PEM client certificate, for servers that require client authentication.
    type: path
  tls_key_file:
    description: PEM private key of O(tls_cert_file).
    type: path
  tls_key_password:
    description: Password of O(tls_key_file). Never logged or returned.
    type: str
  tls_verify:
    description:
      - Verify the servers' certificates. Turn off only in a lab.
    type: bool
    default: true
requirements:
  - kazoo >= 2.8 (Debian 12's python3-kazoo or PyPI) on the host the module runs on
"""
