#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_backup
short_description: Back up a ZooKeeper member's data files to backup hosts over SSH, verified
version_added: 0.1.0
description:
  - Runs on a member of a ZooKeeper ensemble. Reads the member's snapshot and transaction
    logs wherever its zoo.cfg puts them (C(dataDir), and C(dataLogDir) when separate),
    writes one archive and streams it over SFTP to every host in O(backup_hosts). Nothing
    is staged on the member's disk. Every backup host receives the same archive, each on its
    own (a host that cannot be reached, runs out of space or whose copy does not verify is
    dropped, its partial copy removed, and named in RV(failed_hosts) while the others go on).
    The backup fails unless at least O(required_hosts) hosts verified it.
  - O(kind=full) archives the restorable set, the newest valid snapshot, the log that began
    before it and every later log, each log cut after its last whole record (the
    preallocated zeros are never read or sent), plus the epoch files.
  - O(kind=logs) archives only the transaction records after the last zxid already stored
    on the backup hosts for the ensemble (continuous log shipping, the base of
    point-in-time restores). The first full backup starts the chain. After a restore of the
    whole ensemble that a report on a backup host records (the restore role stores one) and
    no full backup since, the run takes a full backup instead, with a warning (the restore
    forked the ensemble's history, and logs shipped after it can only be restored on top
    of a full backup taken after it; see M(zkops.zookeeper.zk_restore_plan)).
  - Hot by default (O(mode=auto) with a running server). The member must serve and catch up
    with the highest zxid any member had when the backup started; the archive holds nothing
    above the zxid the member had committed then. If the server stops serving before the
    archive is stored, the backup is thrown away. With the server stopped (for instance by
    M(zkops.zookeeper.zk_quiesce)) the backup is cold and takes every whole record.
  - The archive is a tar stream with a C(manifest.json) (backup id, ensemble, member,
    ZooKeeper version, zxids, time range, epochs, SHA-256 and size of every file, zoo.cfg
    with passwords masked, the collection version and with O(deep=true) the znode count
    and tree digest at the last zxid), compressed and optionally encrypted; see
    C(docs/archive-format.md).
  - Each backup host receives the files under a hidden temporary name, flushes them to
    disk and computes their SHA-256; only when it matches what was sent is the directory
    renamed to C(<backup_root>/<ensemble>/<backup id>/) (O(backup_root) must exist). A
    backup is therefore complete and verified, or absent; an interrupted one leaves at most a hidden C(.partial-)
    directory, which M(zkops.zookeeper.zk_backup_catalog) removes.
  - Idempotent for O(kind=full) unless O(force=true), when the newest full backup on every
    backup host already holds the member's last zxid, and for O(kind=logs), when there is
    nothing new to ship.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.backup_store.ensemble
  - zkops.zookeeper.member_files
  - zkops.zookeeper.ssh
  - zkops.zookeeper.progress
attributes:
  check_mode:
    support: full
    description: >-
      Connects to the backup hosts (checking their keys), reads the log-shipping state and
      plans the archive, then reports what would be sent without sending or writing anything.
  diff_mode:
    support: none
    description: Nothing is shown as a diff.
options:
  kind:
    description:
      - V(full) archives the restorable set; V(logs) the transactions after those already shipped.
    type: str
    choices: [full, logs]
    default: full
  mode:
    description:
      - V(hot) backs up a serving member, V(cold) a stopped one; V(auto) chooses by whether the
        server process of O(config_file) runs.
    type: str
    choices: [auto, hot, cold]
    default: auto
  server_id:
    description: The server id of this member. Defaults to the number in C(<dataDir>/myid).
    type: int
  compression:
    description:
      - V(zstd) and V(lz4) need the C(zstandard) or C(lz4) Python library on the member
        (python3-zstandard, python3-lz4); V(gzip) needs nothing. V(auto) chooses zstd, then
        lz4, then gzip, by what is installed.
    type: str
    choices: [auto, none, gzip, zstd, lz4]
    default: auto
  compression_level:
    description: The codec's level; the default is the codec's fastest useful one.
    type: int
  compression_threads:
    description:
      - With V(zstd), the number of worker threads that compress while the module reads and
        hashes the files (V(0) compresses in the reading thread). Other codecs ignore it.
    type: int
    default: 1
  encryption_key:
    description:
      - Encrypt the archive at rest with this key (AES-256-GCM in the STREAM construction,
        through the C(cryptography) library; see C(docs/archive-format.md)). 32 random bytes
        written in base64 (C(openssl rand -base64 32)) or hex. Never logged or returned; keep
        it apart from the backups, which cannot be restored without it.
      - The manifest next to the archive stays readable (file names, zxids, sizes, hashes,
        zoo.cfg with passwords masked) so that the catalog works without the key.
      - May be combined with O(encryption_recipients), each of them then able to decrypt the archive.
    type: str
  encryption_recipients:
    description:
      - Encrypt the archive at rest to these X25519 public keys (PEM, as
        C(openssl genpkey -algorithm X25519 | openssl pkey -pubout) prints them). A backup
        job that holds only public keys can write archives but never read one back; the
        private keys (O(zkops.zookeeper.zk_restore#module:identities)) stay with restores.
      - Each recipient, and O(encryption_key) when given, can decrypt the archive on its
        own; give the old and the new public key while rotating. The archive's header names
        their key ids, and binds the archive to its backup id, ensemble, kind and zxids.
      - A private key given here is refused.
    type: list
    elements: str
    default: []
  signing_key:
    description:
      - Sign the manifest stored next to the archive with this Ed25519 private key (the PEM text
        of C(openssl genpkey -algorithm ed25519)). Restores that hold the matching verify key
        (C(openssl pkey -pubout)) refuse any backup it did not sign, so that whoever can write
        to a backup host cannot forge or substitute backups. Never logged or returned.
      - With O(encryption_key) the manifest also carries a MAC made with a key derived from it;
        see C(docs/security.md).
    type: str
  deep:
    description:
      - Replay the archived snapshot and logs up to the archive's last zxid before sending, and
        record the znode count and tree digest in the manifest. Costs a full read of the data;
        memory holds only the znodes the logs touch (see O(zkops.zookeeper.zk_verify#module:deep)).
        Ignored for O(kind=logs).
    type: bool
    default: false
  force:
    description: With O(kind=full), take a backup even when the newest one holds the same last zxid.
    type: bool
    default: false
  catch_up_timeout:
    description:
      - Hot backups, seconds to wait for the member to apply the highest zxid any member
        reported at the start.
    type: float
    default: 30
  status_timeout:
    description: Seconds to wait for a member's answer to C(srvr).
    type: float
    default: 5
  bandwidth_limit:
    description:
      - Send at most this many bytes per second (after compression), for instance V(50MB).
        Unlimited when not set.
    type: str
  required_hosts:
    description:
      - How many of O(backup_hosts) must store and verify the backup for the run to succeed.
        V(0) (the default) requires every one of them.
      - When too few do, no backup host is left with a copy that looks complete; copies
        already renamed into place are renamed back and removed. A copy that cannot be taken
        back (its host stopped answering) is complete and verified, and is named in the error
        and in RV(complete_copies).
    type: int
    default: 0
  sync:
    description:
      - Have the backup hosts flush the files to stable storage before they verify them and
        before the rename makes the backup visible.
    type: bool
    default: true
  transfer_client:
    description:
      - What carries the archive to the backup hosts. Everything else (directories, the
        manifest, the checksums, the verification, the rename) goes through paramiko.
      - V(openssh) sends it through OpenSSH's C(ssh) client on the member, which encrypts
        outside Python, with less than half of paramiko's CPU time per byte.
        It logs in as paramiko does, with O(ssh_known_hosts_file), strict host key checking,
        O(ssh_private_key_file) (or the usual keys in C(~/.ssh)), no configuration file and no
        agent; the run fails when the member has no C(ssh), or the key is given as
        O(ssh_private_key) or with a passphrase, or O(ssh_host_key_checking=false).
      - V(auto) uses OpenSSH's C(ssh) where V(openssh) would, and paramiko elsewhere or when
        C(ssh) cannot log in to a backup host (with a warning).
      - V(paramiko) sends it through paramiko's SFTP, as before.
      - Either way the backup host flushes and hashes what it received, and the backup is
        renamed into place only when the hash matches.
    type: str
    choices: [auto, openssh, paramiko]
    default: auto
notes:
  - The backup hosts need SFTP and coreutils; the member needs paramiko and, for the codecs
    and encryption, zstandard, lz4 or cryptography. The zkops.zookeeper.backup role installs them.
  - The member's status is read with C(srvr) on its plain client port.
  - An ensemble's logs are shipped from any member; a member that joined from a snapshot of
    the leader may not hold the transactions right after the last shipped zxid and fails
    with a message saying so (the role then tries another member).
seealso:
  - module: zkops.zookeeper.zk_backup_catalog
  - module: zkops.zookeeper.zk_info
  - module: zkops.zookeeper.zk_quiesce
"""

EXAMPLES = r"""
- name: Hot full backup of this member to two backup hosts
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    backup_hosts:
      - backup1.example.com
      - backup2.example.com
    ssh_private_key_file: /root/.ssh/zk_backup_ed25519
    ssh_known_hosts_file: /etc/zookeeper/backup_known_hosts
  register: backup

- name: Keep the backup when one of three backup hosts is down or full
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    backup_hosts: [backup1.example.com, backup2.example.com, backup3.example.com]
    required_hosts: 2

- name: Ship the transactions logged since the last backup
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    kind: logs
    backup_hosts: [backup1.example.com]

- name: Encrypted, gzip, with the tree digest in the manifest, at most 50 MB/s
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    backup_hosts: [backup1.example.com:2222]
    compression: gzip
    encryption_key: "{{ vault_zk_backup_key }}"
    deep: true
    bandwidth_limit: 50MB
    ssh_private_key: "{{ vault_zk_backup_ssh_key }}"

- name: Encrypted to two public keys (the old and the new one while rotating); the member holds no private key
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    backup_hosts: [backup1.example.com]
    encryption_recipients:
      - "{{ lookup('ansible.builtin.file', 'keys/zk-restore-2025.pub') }}"
      - "{{ lookup('ansible.builtin.file', 'keys/zk-restore-2026.pub') }}"

- name: Cold backup of a quiesced member
  zkops.zookeeper.zk_backup:
    ensemble: prod-zk
    mode: cold
    backup_hosts: [backup1.example.com]
"""

RETURN = r"""
backup_id:
  description: The id of the backup (its directory name), or of the existing one when skipped.
  returned: success, except in check mode
  type: str
  sample: 20250301T020000Z-full-3fa2c1
skipped:
  description: True when nothing was sent (nothing new to ship, or the newest full backup is current).
  returned: always
  type: bool
reason:
  description: Why nothing was sent.
  returned: when skipped
  type: str
kind:
  description: V(full) or V(logs); V(full) for O(kind=logs) after a restore of the whole ensemble with no full backup since.
  returned: always
  type: str
mode:
  description: V(hot) or V(cold).
  returned: always
  type: str
ensemble:
  description: The ensemble name.
  returned: always
  type: str
member:
  description: This member, C(id), C(role) (leader, follower...), C(address), C(zookeeper_version).
  returned: always
  type: dict
zxid:
  description: >-
    The zxids of the archive as hex, C(snapshot) (full), C(base) (logs: the last zxid shipped
    before), C(first) and C(last) transaction.
  returned: always
  type: dict
  sample: {"snapshot": "0x100000000", "base": null, "first": "0x100000001", "last": "0x1000059f6"}
time_range:
  description: Times (ISO 8601 UTC) of the C(first) and C(last) transaction in the archive.
  returned: always
  type: dict
epochs:
  description: C(current) and C(accepted) epoch of the member (full backups).
  returned: always
  type: dict
files:
  description: The files archived, with C(path) in the archive, C(size), C(role), C(source) and zxids.
  returned: always
  type: list
  elements: dict
records:
  description: The number of transaction records archived.
  returned: always
  type: int
bytes_raw:
  description: Bytes of data files archived (logs counted up to their last whole record).
  returned: always
  type: int
bytes_apparent:
  description: Apparent size of the source files (preallocated logs count 64 MiB each).
  returned: always
  type: int
bytes_allocated:
  description: Disk space the source files occupy.
  returned: always
  type: int
bytes_sent:
  description: Bytes of archive sent to each backup host (after compression and encryption).
  returned: always
  type: int
duration:
  description: Seconds the module took, connections and verification included.
  returned: always
  type: float
throughput:
  description: RV(bytes_raw) per second of RV(duration), in bytes per second (0 when nothing was sent).
  returned: always
  type: int
compression:
  description: The codec used.
  returned: always
  type: str
encrypted:
  description: Whether the archive is encrypted.
  returned: always
  type: bool
archive:
  description: >-
    The archive as stored: C(file) name, C(bytes), C(sha256), C(compression), C(raw_bytes)
    (the tar stream) and C(encryption) (C(scheme) V(zkops-stream-v2), C(version) 2 and
    C(recipients), a list of C(type) (V(symmetric) or V(x25519)) and C(key_id); or null).
  returned: when a backup was taken
  type: dict
authentication:
  description: >-
    The proofs written into the stored manifest: C(scheme) (C(hmac-sha256) with O(encryption_key),
    C(ed25519) with O(signing_key)) and C(key_id) of each; empty when neither was given.
  returned: when a backup was taken
  type: list
  elements: dict
destinations:
  description: >-
    One entry per backup host that stored the backup: C(host), C(path) of the backup directory, C(verified) (the
    host's own SHA-256 matched), C(sha256) of the archive, C(bytes).
  returned: always
  type: list
  elements: dict
digest:
  description: >-
    With O(deep=true), the replay's C(znode_count), C(digest), C(typed_digest),
    C(digest_version) and C(zxid) (see docs/tree-digest.md).
  returned: always
  type: dict
stages:
  description:
    - The stages of the run, in order, with their C(name) and C(seconds); the counted one
      (C(send)) also with its C(unit) (bytes of the member's files), C(done) and C(rate) per
      second. The same stages that O(progress_file) shows while it runs.
  returned: success
  type: list
  elements: dict
failed_hosts:
  description: >-
    The backup hosts that do not hold the backup, each with C(host) and C(reason)
    (unreachable, no space left, verification failed), and C(leftover), the hidden staging
    directory left behind when it could not be removed.
  returned: always
  type: list
  elements: dict
retry_elsewhere:
  description:
    - On failure, false when another member would fail the same way (too few backup hosts
      could take the backup); the backup role then tries no other member.
  returned: when false
  type: bool
required_hosts:
  description: How many backup hosts had to store the backup (O(required_hosts), V(0) resolved to all).
  returned: success
  type: int
leftovers:
  description: >-
    On failure, hidden staging directories that could not be removed (host unreachable),
    with the reason. They never look like a complete backup.
  returned: failure
  type: list
  elements: dict
complete_copies:
  description: >-
    On failure because too few backup hosts stored the backup, the complete, verified copies
    (C(host), C(path)) that were renamed into place before the failure and could not be taken
    back. The log-shipping state was not advanced for them.
  returned: when too few backup hosts stored the backup
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import workflow as backup
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg


def argument_spec():
    spec = catalog.store_argument_spec(ensemble=True)
    spec.update(
        kind=dict(type="str", choices=["full", "logs"], default="full"),
        mode=dict(type="str", choices=["auto", "hot", "cold"], default="auto"),
        server_id=dict(type="int"),
        compression=dict(type="str", choices=["auto", "none", "gzip", "zstd", "lz4"], default="auto"),
        compression_level=dict(type="int"),
        compression_threads=dict(type="int", default=1),
        encryption_key=dict(type="str", no_log=True),
        encryption_recipients=dict(type="list", elements="str", default=[]),
        signing_key=dict(type="str", no_log=True),
        deep=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        catch_up_timeout=dict(type="float", default=30.0),
        status_timeout=dict(type="float", default=5.0),
        bandwidth_limit=dict(type="str"),
        sync=dict(type="bool", default=True),
        required_hosts=dict(type="int", default=0),
        transfer_client=dict(type="str", default="auto", choices=["auto", "openssh", "paramiko"]),
    )
    spec.update(zoo_cfg.member_files_argument_spec())
    spec.update(progress.argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE)
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    ssh_transport.require_paramiko(module)
    params = dict(module.params)
    if (params["encryption_key"] or params["encryption_recipients"] or params["signing_key"]) and not encryption.HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("cryptography", reason="to encrypt or sign the archive "
                                                  "(apt install python3-cryptography)"),
                         exception=encryption.CRYPTOGRAPHY_IMP_ERR)
    if not params["backup_hosts"]:
        module.fail_json(msg="backup_hosts is empty: give at least one backup host")
    if params["bandwidth_limit"]:
        try:
            params["bandwidth_limit"] = human_to_bytes(params["bandwidth_limit"])
        except ValueError as exc:
            module.fail_json(msg="bandwidth_limit: %s (for instance 50MB)" % exc)
    warnings = []
    try:
        result = backup.run(params, check_mode=module.check_mode, warnings=warnings)
    except backup.BackupError as exc:
        for w in warnings:
            module.warn(w)
        module.fail_json(msg=str(exc), changed=False, **exc.details)
    for w in warnings:
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
