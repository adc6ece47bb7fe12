#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_restore
short_description: Restore a ZooKeeper member's data from a backup, verified, with a way back
version_added: 0.1.0
description:
  - Runs on a member of a ZooKeeper ensemble. Restoring a whole ensemble takes every member
    at once, from the same backup; the zkops.zookeeper.restore role does that, with the
    fence, the start and the verification around it.
  - Reads the backup from a backup host over SFTP (strict host keys; O(backup_host),
    O(ensemble), O(backup_ids) or O(backup_id)), or from an archive file on the member
    (O(archive)), and checks it while it reads, every file against the SHA-256 in the
    manifest and the archive's bytes against the SHA-256 the backup host verified. Names
    outside the data directory (absolute, C(..)), links and devices are refused.
  - Lays the data down next to the live data, under C(<dataDir>/.zkops-restore/<restore id>/)
    (and C(<dataLogDir>/...) when it is separate), before anything of the member is touched
    (O(state=staged), which works while the server runs). With a target zxid or time, the
    logs of the full backup and of the shipped chunks after it are cut there
    (point-in-time restore). The epoch files are written to agree with the data, the files
    get the owner and mode the server expects (O(owner), O(group), 0750 directories), a
    restore marker (C(version-2/zkops-restore.json)) names the restore, the backups and the
    zxid. The staged files are verified as ZooKeeper would load them before they count as
    staged; with O(deep=true) they are replayed for the znode count and the tree digest.
  - O(state=restored) puts the staged data in place (staging it first if needed). It
    refuses while the member's server runs. The member's previous C(version-2) is kept as
    the pre-restore copy; C(myid) is never replaced (it is written from O(server_id) only
    when missing).
  - O(state=rolled_back) puts the pre-restore copy back (the restored data is kept aside);
    O(state=confirmed) records that the restore was verified and removes pre-restore copies
    beyond O(keep_pre_restore); O(state=cleaned) removes leftovers by the same retention.
  - Every state is idempotent. In check mode nothing is written; the diff shows the data
    files before and after.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.authenticity
  - zkops.zookeeper.member_files
  - zkops.zookeeper.ssh
  - zkops.zookeeper.progress
  - zkops.zookeeper.service
attributes:
  check_mode:
    support: full
    description: >-
      Reads the backup's manifest (connecting to the backup host) and reports the files that
      would be laid down or moved, without writing anything; a running server is reported
      as a warning instead of a failure.
  diff_mode:
    support: full
    description: The names and sizes of the data files before and after.
options:
  state:
    description:
      - V(staged) lays down and verifies the restored data next to the live data.
      - V(restored) puts it in place; the server must be stopped.
      - V(confirmed) records that the restore was verified on the running ensemble.
      - V(rolled_back) puts the pre-restore data back; the server must be stopped.
      - V(cleaned) removes staged copies of other restores, restored data taken out by a
        rollback, and pre-restore copies beyond O(keep_pre_restore).
    type: str
    choices: [staged, restored, confirmed, rolled_back, cleaned]
    required: true
  restore_id:
    description:
      - Names one restore; the same on every member restored together. Letters, digits,
        C(.), C(_), C(-). Required for V(staged), V(restored) and V(rolled_back);
        V(confirmed) defaults to the restore whose data is live.
    type: str
  source:
    description:
      - Where the data comes from. V(backup) reads stored backups from O(backup_host);
        V(archive) reads the local file O(archive); V(empty) lays down an empty data
        directory, so that the member fetches everything from the ensemble's leader when it
        starts (rebuilding one member). Defaults to V(archive) when O(archive) is set, else
        V(backup).
    type: str
    choices: [backup, archive, empty]
  backup_host:
    description: The backup host to read from, as C(host), C(host:port) or C(user@host:port).
    type: str
  backup_sources:
    description:
      - The backup host to read each backup from, by backup id; RV(zkops.zookeeper.zk_restore_plan#module:sources)
        of M(zkops.zookeeper.zk_restore_plan) gives for each backup a host whose copy verified.
        A backup not in it is read from O(backup_host).
    type: dict
  ensemble:
    description: The name of the ensemble (the directory below O(backup_root)).
    type: str
  backup_ids:
    description:
      - The backups to read, in order, the full backup first and then the shipped log chunks
        (as M(zkops.zookeeper.zk_restore_plan) returns them). When not set, the module makes
        the same plan itself from O(backup_id), O(target_zxid) and O(target_time).
    type: list
    elements: str
  backup_id:
    description: Without O(backup_ids), the full backup to restore (the newest suitable one when not set).
    type: str
  archive:
    description: A backup archive file on the member (O(source=archive)).
    type: path
  encryption_key:
    description:
      - The key an encrypted backup was written with (base64 or hex). Never logged or returned.
      - With a key (or O(identities)), only encrypted archives are read, and a plain one is refused,
        since anyone who can write to a backup host could have put it there.
      - With it, a backup whose manifest carries no valid MAC of this key (nor signature of
        O(verify_keys)) is refused unless O(allow_unauthenticated).
    type: str
  identities:
    description:
      - X25519 private keys (PEM, as C(openssl genpkey -algorithm X25519) prints them) that
        decrypt backups encrypted to their public keys
        (O(zkops.zookeeper.zk_backup#module:encryption_recipients)). Each archive is opened
        with the key whose key id its header names. Never logged or returned.
      - With identities (or O(encryption_key)), only encrypted archives are read, and only
        those whose header names the backup id, ensemble, kind and zxids they are read under.
    type: list
    elements: str
    default: []
  target_zxid:
    description:
      - Restore the state at this zxid (hex with C(0x), or decimal); V(latest) takes every
        shipped transaction.
      - C(0x) and hex digits is hex; bare digits are decimal, also those of a data file name
        (the zxid of C(log.100000003) is C(0x100000003)); anything else is refused.
    type: str
  target_time:
    description:
      - Restore the state at this time (ISO 8601, UTC when it has no zone, or milliseconds
        since the epoch), the last transaction logged at or before it.
    type: str
  epoch_floor:
    description:
      - For a restore of the whole ensemble (O(state=staged)), the epoch files hold at
        least this epoch, and at least the member's own current ones, instead of the
        epoch of the last zxid restored. The restored ensemble then begins an epoch that
        no earlier history of it used, so its zxids are new to the backup hosts and log
        shipping carries on after the restore. Give the C(highest_epoch) of the C(plan) that
        M(zkops.zookeeper.zk_restore_plan) returns; the restore role does.
      - Leave it unset to rebuild one member of a running ensemble, which must not claim an
        epoch ahead of its leader.
    type: int
  deep:
    description:
      - Replay the staged files and return the znode count and tree digest they give
        (RV(expected)). Costs a full read of the data; memory holds only the znodes the logs
        touch (see O(zkops.zookeeper.zk_verify#module:deep)).
    type: bool
    default: false
  server_id:
    description:
      - The server id of this member. Written to C(<dataDir>/myid) when that file is missing
        (an existing C(myid), file or link, is never replaced).
    type: int
  owner:
    description: The user the ZooKeeper server runs as; it owns the restored files.
    type: str
    default: zookeeper
  group:
    description: The group of the restored files.
    type: str
    default: zookeeper
  keep_pre_restore:
    description:
      - With V(confirmed) and V(cleaned), how many pre-restore copies to keep, newest first.
        The copy of a restore that is live and not confirmed is always kept.
    type: int
    default: 1
  verification:
    description: With V(confirmed), what the verification found (recorded in the marker).
    type: dict
  start:
    description:
      - With V(restored) and V(rolled_back), start the server as soon as the data is in place,
        without waiting for it to serve (M(zkops.zookeeper.zk_quiesce) with O(state=serving)
        waits, and reports a server that exited). Saves a round trip in a fenced restore.
    type: bool
    default: false
  start_delay:
    description:
      - With O(start), seconds to wait after the data is in place before starting the server.
        Starting some members a moment after the others, in one task, orders the starts
        without a round trip.
    type: float
    default: 0
notes:
  - The restored files need about as much free space on the data directories' file systems
    as the data itself (twice that for a point-in-time restore); the module checks before
    it writes.
  - A single member restored alone to an older state is brought back in line by the
    ensemble's leader when it starts; restoring an ensemble means restoring every member.
requirements:
  - paramiko >= 2.12 on the member for O(source=backup)
  - zstandard, lz4 or cryptography on the member for archives written with them
seealso:
  - module: zkops.zookeeper.zk_restore_plan
  - module: zkops.zookeeper.zk_quiesce
  - module: zkops.zookeeper.zk_backup
"""

EXAMPLES = r"""
- name: Lay down the newest backup next to the live data (the server keeps running)
  zkops.zookeeper.zk_restore:
    state: staged
    restore_id: "{{ restore_id }}"
    backup_host: backup1.example.com
    ensemble: prod-zk
    ssh_known_hosts_file: /etc/zookeeper/backup_known_hosts

- name: Put it in place on a stopped member
  zkops.zookeeper.zk_restore:
    state: restored
    restore_id: "{{ restore_id }}"

- name: Restore the state at a zxid, from a full backup and the logs shipped after it
  zkops.zookeeper.zk_restore:
    state: restored
    restore_id: pitr-1
    backup_host: backup1.example.com
    ensemble: prod-zk
    target_zxid: "0x300001f4a"

- name: Restore from an archive copied to the member
  zkops.zookeeper.zk_restore:
    state: restored
    restore_id: from-file
    archive: /var/tmp/20250301T020000Z-full-3fa2c1/archive.tar.zst.enc
    encryption_key: "{{ vault_zk_backup_key }}"

- name: Restore backups encrypted to a public key, with its private key
  zkops.zookeeper.zk_restore:
    state: restored
    restore_id: restore-2
    backup_host: backup1.example.com
    ensemble: prod-zk
    identities:
      - "{{ vault_zk_restore_identity }}"

- name: Back to the data the member had before the restore
  zkops.zookeeper.zk_restore:
    state: rolled_back
    restore_id: "{{ restore_id }}"

- name: Remove every pre-restore copy
  zkops.zookeeper.zk_restore:
    state: cleaned
    keep_pre_restore: 0
"""

RETURN = r"""
restore_id:
  description: The restore.
  returned: always
  type: str
phase:
  description: Where the restore stands on this member, V(staged), V(restored), V(confirmed), V(rolled_back).
  returned: when the restore exists on the member
  type: str
data_dir:
  description: The member's C(dataDir).
  returned: always
  type: str
data_log_dir:
  description: The member's C(dataLogDir).
  returned: always
  type: str
server_id:
  description: This member's server id (null when C(myid) is missing and O(server_id) not given).
  returned: always
  type: int
authentication:
  description: >-
    For each backup read, C(backup_id), C(authenticated) (true, false when accepted under
    O(allow_unauthenticated), null without keys) and C(reason).
  returned: when data was staged
  type: list
  elements: dict
backup_ids:
  description: The backups read, in order.
  returned: when data was staged
  type: list
  elements: str
source:
  description: Where the data came from (backup host and path, archive, or empty).
  returned: when data was staged
  type: str
target_zxid:
  description: The zxid the logs were cut at (null when the backup was restored as it is).
  returned: when data was staged
  type: str
last_zxid:
  description: The last zxid of the restored data.
  returned: when data was staged
  type: str
snapshot_zxid:
  description: The zxid of the snapshot restored.
  returned: when data was staged
  type: str
epoch:
  description: The epoch written to C(currentEpoch) and C(acceptedEpoch).
  returned: when data was staged
  type: int
files:
  description: The restored files, C(name), C(part) (C(data) or C(datalog)), C(size), C(sha256).
  returned: when data was staged
  type: list
  elements: dict
set_digest:
  description: SHA-256 over the list of restored files; members restored from the same backup have the same.
  returned: when data was staged
  type: str
expected:
  description: >-
    With O(deep=true), the C(digest), C(znode_count) and C(zxid) the restored files give
    (see the collection's docs/tree-digest.md).
  returned: when data was staged
  type: dict
fetched:
  description: Per archive read, C(backup_id), C(bytes) and C(sha256) (matched against the manifest).
  returned: when data was staged
  type: list
  elements: dict
live_marker:
  description: The restore marker of the data the server loads (null when the data was never restored).
  returned: always
  type: dict
steps:
  description: With V(rolled_back), per data directory what was taken out and put back.
  returned: with O(state=rolled_back)
  type: list
  elements: dict
removed:
  description: With V(confirmed) and V(cleaned), what was removed (C(restore_id), C(part), C(path), C(reason), C(bytes)).
  returned: with O(state=confirmed) or O(state=cleaned)
  type: list
  elements: dict
started:
  description: True when O(start) started the server.
  returned: when the server was started
  type: bool
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
stages:
  description:
    - The stages of this run with their C(name) and C(seconds). Staging has C(connect and
      plan), C(fetch and unpack) (with C(unit) bytes, C(done) and C(rate), counting the archives'
      stored bytes), C(cut at the target) for a point in time, C(check as ZooKeeper loads)
      (C(replay and check ...) with O(deep)) and C(flush to disk). The same stages that
      O(progress_file) shows while it runs.
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import workflow as restore
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import service as service_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg


def argument_spec():
    spec = catalog.store_argument_spec()
    spec.update(
        state=dict(type="str", required=True, choices=list(restore.STATES)),
        restore_id=dict(type="str"),
        source=dict(type="str", choices=list(restore.SOURCES)),
        backup_host=dict(type="str"),
        backup_sources=dict(type="dict"),
        ensemble=dict(type="str"),
        backup_ids=dict(type="list", elements="str"),
        backup_id=dict(type="str"),
        archive=dict(type="path"),
        encryption_key=dict(type="str", no_log=True),
        identities=dict(type="list", elements="str", default=[], no_log=True),
        verify_keys=dict(type="list", elements="str", default=[], no_log=False),
        allow_unauthenticated=dict(type="bool", default=False),
        target_zxid=dict(type="str"),
        target_time=dict(type="str"),
        deep=dict(type="bool", default=False),
        epoch_floor=dict(type="int"),
        server_id=dict(type="int"),
        owner=dict(type="str", default="zookeeper"),
        group=dict(type="str", default="zookeeper"),
        keep_pre_restore=dict(type="int", default=1),
        verification=dict(type="dict"),
        start=dict(type="bool", default=False),
        start_delay=dict(type="float", default=0.0),
    )
    spec.update(service_mod.argument_spec())
    spec.update(zoo_cfg.member_files_argument_spec())
    spec.update(progress.argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE + [
                               ("target_zxid", "target_time"), ("archive", "backup_host"),
                               ("backup_ids", "backup_id")])
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    p = module.params
    if p["keep_pre_restore"] < 0:
        module.fail_json(msg="keep_pre_restore must not be negative")
    if p["state"] in ("staged", "restored") and (p["source"] or ("archive" if p["archive"] else "backup")) == "backup":
        ssh_transport.require_paramiko(module)
    if (p["encryption_key"] or p["identities"] or p["verify_keys"]) and not encryption.HAS_CRYPTOGRAPHY:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("cryptography", reason="to decrypt the archive "
                                                  "(apt install python3-cryptography)"),
                         exception=encryption.CRYPTOGRAPHY_IMP_ERR)
    service = None
    if p["start"]:
        try:
            # Only starts: a stop command is never run (the fence is zk_quiesce's).
            service = service_mod.Service(module.run_command, module.get_bin_path, manager=p["service_manager"],
                                          name=p["service_name"], start_command=p["start_command"],
                                          stop_command=p["start_command"] and ["false"])
            service.kind
        except service_mod.ServiceError as exc:
            module.fail_json(msg=str(exc), changed=False)
    try:
        result, warnings = restore.run(p, check_mode=module.check_mode, service=service)
    except restore.RestoreError as exc:
        module.fail_json(msg=str(exc), changed=False, **exc.details)
    for w in warnings:
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
