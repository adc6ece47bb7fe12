# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every module that reaches a backup host over SSH
    # (plugins/module_utils/transport/ssh.py: ssh_argument_spec()).
    DOCUMENTATION = r"""
options:
  ssh_user:
    description:
      - The user to log in as on the backup hosts. A host given as C(user@host) overrides it.
    type: str
    default: root
  ssh_port:
    description:
      - The SSH port of the backup hosts. A host given as C(host:port) overrides it.
    type: int
    default: 22
  ssh_private_key_file:
    description:
      - Path of the private key to authenticate with, on the host the module runs on.
      - When neither this nor O(ssh_private_key) is set, the usual keys in C(~/.ssh) are tried.
      - Mutually exclusive with O(ssh_private_key).
    type: path
  ssh_private_key:
    description:
      - The private key itself (OpenSSH or PEM text of an ed25519, ECDSA or RSA key), for
        instance from a vault. Never logged or returned.
      - Mutually exclusive with O(ssh_private_key_file).
    type: str
  ssh_private_key_passphrase:
    description: Passphrase of an encrypted private key. Never logged or returned.
    type: str
  ssh_known_hosts_file:
    description:
      - The known_hosts file that holds the backup hosts' keys, on the host the module runs on.
      - With O(ssh_host_key_checking=true) a host whose key is missing there, or differs, is
        refused before anything is sent.
    type: path
    default: ~/.ssh/known_hosts
  ssh_host_key_checking:
    description:
      - Check the backup hosts' keys against O(ssh_known_hosts_file) and refuse unknown or
        changed keys (paramiko's RejectPolicy).
      - Turn off only in a lab. The key accepted is then named in a warning.
    type: bool
    default: true
  ssh_connect_timeout:
    description: Seconds to wait for a backup host to answer and authenticate.
    type: float
    default: 10.0
  ssh_timeout:
    description:
      - Seconds without progress after which a transfer or a remote command fails (a host
        that was cut off is detected after this long).
    type: float
    default: 60.0
requirements:
  - paramiko >= 2.12 (Debian 12's python3-paramiko or PyPI) on the host the module runs on
  - an SFTP server, C(sha256sum), C(sync), C(df) and C(rm) (coreutils) on the backup hosts;
    C(openssl), where present, hashes faster than C(sha256sum)
"""
