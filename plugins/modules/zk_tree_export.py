#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: zk_tree_export
short_description: Export a ZooKeeper znode tree to a file, with data, ACLs and stats
version_added: "0.1.0"
description:
  - Writes every znode of a subtree (or of the whole tree), with its path, data, ACL, full
    stat, kind and sequential origin, to a compressed, streamable export file that
    M(zkops.zookeeper.zk_tree_import) reads back.
  - The file ends with a trailer holding the znode count and the tree digest of the
    collection, the same digest that a restore and an import verify against.
  - With O(source=live) (the default) it walks a running ensemble. Reads are pipelined and
    batched (multiRead on ZooKeeper 3.6 and later) over several sessions spread over the
    members, so the export runs at the speed of the servers. Every session first syncs
    with the leader; the zxid window the walk saw is reported, and so are znodes modified
    or deleted while it ran. A running ensemble reports container and TTL znodes to
    clients as persistent ones; a live export records them as persistent, has no typed
    digest and says so in RV(kinds_exact) and RV(kinds_note).
  - With O(source=files) it runs on a member and computes the export from the member's
    own data files (O(config_file), or O(data_dir) and O(data_log_dir)); no znode is read
    through a server, so the servers do no work for it. It replays the newest valid snapshot and the transaction
    logs after it as the server loads them on start, checks the replay against the
    digests ZooKeeper 3.6 and later record in the files, and exports the tree at exactly
    one zxid, returned in RV(zxid), the end of the logs, O(target_zxid) or O(target_time). It knows
    container and TTL znodes (and their TTL), so the file has exact kinds and a typed
    digest, and an import recreates them as such.
  - The file is written to a temporary file next to O(dest) and renamed when complete.
    When O(dest) already holds an export of the same tree (same root, exclusions,
    ephemeral policy and digest) it is kept and the task reports no change.
  - With O(backup_hosts), the export is also stored on one or more backup hosts over SSH,
    the way M(zkops.zookeeper.zk_backup) stores its archives, in
    C(<backup_root>/<ensemble>/<backup id>/) (see RV(destinations); O(backup_root) must
    exist). Every host receives it under a hidden temporary name, flushes it to disk and
    computes its SHA-256; only when that matches what was sent is the directory renamed
    into place. Host keys are checked
    before anything is sent. Without O(dest) the export streams to the backup hosts and
    nothing is written locally. When every backup host's newest export of the same
    subtree has the same digests, nothing is sent and the task reports no change.
    M(zkops.zookeeper.zk_backup_catalog) lists and verifies stored exports (kind C(tree)).
    With O(encryption_key) or O(encryption_recipients) the stored export is encrypted, and
    with O(encryption_key) or O(signing_key) its manifest is authenticated, as backups are;
    M(zkops.zookeeper.zk_tree_import) fetches it by its id (O(zkops.zookeeper.zk_tree_import#module:export_id)).
  - The live source runs wherever kazoo reaches the ensemble, usually delegated to the
    controller or a bastion host; the files source runs on a member.
extends_documentation_fragment:
  - zkops.zookeeper.zookeeper
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.ssh
  - zkops.zookeeper.progress
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: >-
      Walks (or replays) the tree and computes the digest; writes no file. With
      O(backup_hosts) it connects to them (checking their keys) and looks for a stored
      export with the same digests, but sends nothing.
  diff_mode:
    support: none
    description: The module writes a file, not ZooKeeper data; there is nothing to diff.
options:
  source:
    description:
      - V(live) walks a running ensemble through O(hosts).
      - V(files) replays the data files of the member the module runs on; O(hosts) and the
        other connection options are not used.
    type: str
    choices: [live, files]
    default: live
  hosts:
    description:
      - ZooKeeper connection string; the export opens sessions on every member listed.
      - Required with O(source=live).
  dest:
    description:
      - Local path of the export file (conventionally ending in C(.zktree.gz)). Its
        directory must exist.
      - At least one of O(dest) and O(backup_hosts) is required.
    type: path
  config_file:
    description:
      - With O(source=files), the member's C(zoo.cfg); it gives C(dataDir) and C(dataLogDir).
      - Used when O(data_dir) is not set.
    type: path
    default: /etc/zookeeper/conf/zoo.cfg
  data_dir:
    description:
      - With O(source=files), the member's C(dataDir) (or its C(version-2) directory), which
        holds the snapshots, and the logs unless O(data_log_dir) is set. Overrides
        O(config_file).
    type: path
  data_log_dir:
    description:
      - With O(source=files), the member's C(dataLogDir) when it differs from O(data_dir).
    type: path
  target_zxid:
    description:
      - With O(source=files), export the tree as it was at this zxid (hex with C(0x), or
        decimal) instead of at the end of the logs.
      - C(0x) and hex digits is hex; bare digits are decimal, also those of a data file name
        (the zxid of C(log.100000003) is C(0x100000003)); anything else is refused.
    type: str
  target_time:
    description:
      - With O(source=files), export the tree as it was at this time, after the last
        transaction logged at or before it. An ISO 8601 date and time (UTC when it has no
        zone) or milliseconds since the epoch. Transaction times are the leader's clock.
      - With O(target_zxid) as well, the earlier of the two counts.
    type: str
  jute_maxbuffer:
    description:
      - With O(source=files), the C(jute.maxbuffer) the servers run with; longer records
        are read as damage, as the server would.
    type: int
    default: 1048575
  backup_hosts:
    description:
      - Also store the export on these backup hosts, as C(host), C(host:port) or
        C(user@host:port). Every one receives the same file; the task fails unless all of
        them verify it.
    type: list
    elements: str
  ensemble:
    description:
      - The name of the ensemble, the directory below O(backup_root) (letters, digits, C(.),
        C(_) and C(-)). Required with O(backup_hosts).
    type: str
  encryption_key:
    description:
      - With O(backup_hosts), encrypt the export stored on the backup hosts with this key,
        as M(zkops.zookeeper.zk_backup) encrypts its archives (32 random bytes in base64 or
        hex, see C(docs/archive-format.md)), and add a MAC of the key to its manifest. Never
        logged or returned. The local file O(dest) is written as is.
    type: str
  encryption_recipients:
    description:
      - With O(backup_hosts), encrypt the stored export to these X25519 public keys (PEM);
        the private keys (O(zkops.zookeeper.zk_tree_import#module:identities)) stay with
        imports. A private key given here is refused.
    type: list
    elements: str
    default: []
  signing_key:
    description:
      - With O(backup_hosts), sign the stored export's manifest with this Ed25519 private key
        (PEM), as M(zkops.zookeeper.zk_backup) signs its backups; imports holding the verify
        key refuse any export it did not sign. Never logged or returned.
    type: str
  root:
    description:
      - Absolute path of the subtree to export; C(/) exports the whole tree.
    type: str
    default: /
  exclude:
    description:
      - Subtrees left out of the export.
      - C(/zookeeper), the server's own subtree (quotas, dynamic configuration), is always
        left out; the tree digest never counts it.
    type: list
    elements: str
    default: ['/zookeeper']
  ephemeral_policy:
    description:
      - What to do with ephemeral znodes, which belong to live client sessions.
      - V(skip) leaves them out (the digest never counts them either).
      - V(persistent) records them as persistent znodes (an import creates them as such).
      - The counts of skipped and kept ephemeral znodes are returned.
    type: str
    choices: [skip, persistent]
    default: skip
  compression_level:
    description: gzip compression level of the file.
    type: int
    default: 6
  connections:
    description:
      - Number of read sessions; they are spread over the members round-robin.
      - Defaults to two per member, at most eight.
    type: int
  batch:
    description:
      - Znodes whose children and data are read in one multiRead request.
    type: int
    default: 64
  multi_read:
    description:
      - Use multiRead batches (ZooKeeper 3.6 and later). By default the server is probed;
        ZooKeeper 3.5 answers the probe with UNIMPLEMENTED and the walk reads each znode with
        single requests, which gives the same export more slowly (RV(walk) says which,
        and why, in C(multi_read) and C(multi_read_note)). V(true) against ZooKeeper 3.5
        fails with a message saying so.
    type: bool
  partial:
    description:
      - With O(source=live), read the part of the tree that the identities in O(auth) may
        read instead of failing at the first znode they may not read; such a znode is
        skipped with its whole subtree and named in RV(unreadable), and a znode whose
        digest ACL the server hides (no ADMIN permission) is read with its ACL as shown and
        named in RV(acl_hidden).
      - The digest of a partial walk (RV(partial) true) is the readable part's; it cannot be
        compared with the digest of the whole tree.
      - Only in check mode, which writes no file; an export file always holds the whole
        subtree.
    type: bool
    default: false
notes:
  - O(source=files) holds the whole tree in memory while it exports, about 400 bytes per
    znode plus its path and data, and reads C(.snappy) snapshots only with the
    C(python-snappy) (or C(cramjam)) library.
  - A member logs a transaction before the leader commits it, so the newest records of a
    serving member's log may still be dropped by a new leader. When the files are those of
    the server of O(config_file) and it serves, O(source=files) asks it (one C(srvr) on its
    client port) which zxid it has applied and exports nothing after it
    (C(applied_zxid) in RV(source)). A stopped server's files are exported to their end.
  - A digest ACL is exported as the server returns it. Without ADMIN permission on a
    znode the server hides the password hash of its digest ACLs; the export then fails
    and names the znode rather than write an ACL that could not be restored.
  - The export fails, naming the znode, when a znode cannot be read; give identities in
    O(auth) that the ACLs grant.
  - The file format is specified in the collection's C(docs/tree-export-format.md).
seealso:
  - module: zkops.zookeeper.zk_tree_import
  - module: zkops.zookeeper.zk_backup_catalog
  - module: zkops.zookeeper.zk_verify
author:
  - zkops maintainers (@zkops)
"""

EXAMPLES = r"""
- name: Export the whole tree from the controller
  zkops.zookeeper.zk_tree_export:
    hosts: zk1:2181,zk2:2181,zk3:2181
    dest: /srv/backups/zookeeper-{{ ansible_date_time.iso8601_basic_short }}.zktree.gz
  delegate_to: localhost
  run_once: true

- name: Export /kafka with the credentials its ACLs need
  zkops.zookeeper.zk_tree_export:
    hosts: zk1:2181,zk2:2181,zk3:2181
    root: /kafka
    exclude:
      - /kafka/admin/reassign_partitions
    auth:
      - credential: "admin:{{ zk_admin_password }}"
    dest: /srv/backups/kafka.zktree.gz
    mode: "0600"
  delegate_to: localhost
  run_once: true
  register: export

- name: Show the digest of what was exported
  ansible.builtin.debug:
    msg: "{{ export.count }} znodes, digest {{ export.digest }}"

- name: Export a member's data files (exact kinds, one zxid) straight to two backup hosts
  zkops.zookeeper.zk_tree_export:
    source: files
    config_file: /etc/zookeeper/conf/zoo.cfg
    backup_hosts:
      - backup1.example.com
      - backup2.example.com
    ensemble: prod-zk
    ssh_private_key_file: /root/.ssh/zk_backup_ed25519
    ssh_known_hosts_file: /etc/zookeeper/backup_known_hosts
  run_once: true

- name: The tree as it was at a given time, from a member's files
  zkops.zookeeper.zk_tree_export:
    source: files
    data_dir: /var/lib/zookeeper
    target_time: "2025-03-01T12:00:00Z"
    dest: /var/tmp/zk-at-noon.zktree.gz
  run_once: true
"""

RETURN = r"""
dest:
  description: The export file.
  returned: always
  type: str
root:
  description: The exported subtree.
  returned: always
  type: str
exclude:
  description: The subtrees left out (C(/zookeeper) always among them).
  returned: always
  type: list
  elements: str
count:
  description: Number of znodes in the file.
  returned: success
  type: int
  sample: 100001
digest:
  description: Tree digest (version RV(digest_version)) of the exported znodes.
  returned: success
  type: str
typed_digest:
  description: Digest including the exact kinds; null for a live export.
  returned: success
  type: str
digest_version:
  description: Version of the tree digest definition.
  returned: success
  type: int
kinds_exact:
  description: Whether the export tells container and TTL znodes from persistent ones.
  returned: success
  type: bool
kinds_note:
  description: Why a live export cannot tell container and TTL znodes apart.
  returned: when kinds_exact is false
  type: str
ephemeral_policy:
  description: The ephemeral policy applied.
  returned: success
  type: str
ephemeral_skipped:
  description: Ephemeral znodes left out.
  returned: success
  type: int
ephemeral_kept:
  description: Ephemeral znodes recorded as persistent.
  returned: success
  type: int
sequential:
  description: Znodes recorded as sequential (a 10-digit suffix below the parent's counter).
  returned: success
  type: int
source:
  description:
    - Where the znodes came from, C(type) V(live) or V(files). For V(files) also C(zxid)
      (hex), C(data_dir), C(data_log_dir), the C(snapshot) and C(logs) replayed,
      C(target_zxid), C(target_time), C(applied_zxid) (the serving server's applied zxid,
      the export's upper bound), C(last_time) (the last transaction's time, ms),
      C(applied) (transactions replayed) and C(zk_digest_checks) (points where the replay
      matched ZooKeeper's own digest).
  returned: success
  type: dict
zxid:
  description: With O(source=files), the zxid (hex) the exported tree is exactly the state of.
  returned: success with O(source=files)
  type: str
  sample: "0x10000a3f"
zxid_start:
  description:
    - Highest zxid the members had applied when the walk started (after sync); with
      O(source=files) the zxid of the exported tree.
  returned: success
  type: int
zxid_end:
  description:
    - Highest zxid the members had applied when the walk ended; with O(source=files) the
      zxid of the exported tree.
  returned: success
  type: int
modified_during_export:
  description: Exported znodes changed (data or children) after RV(zxid_start).
  returned: success
  type: int
vanished:
  description: Znodes deleted while the walk ran (listed by their parent, gone when read).
  returned: success
  type: int
bytes:
  description: Size of the export file (null in check mode).
  returned: success
  type: int
seconds:
  description: Duration of the task's export (and push), connections included.
  returned: success
  type: float
rate:
  description:
    - Znodes exported per second of the walk (C(seconds) of RV(walk)); with O(source=files) of
      the verification, replay and export of the files.
  returned: success
  type: float
walk:
  description:
    - Statistics of the walk (requests, sessions, multiRead used and C(multi_read_note)
      saying why, lost sessions, seconds); with O(source=files) the znodes handed over and the seconds since the files were
      first read.
  returned: success
  type: dict
stages:
  description:
    - With O(progress_file), the stages with their C(name) and C(seconds); C(export) also
      with C(unit) znodes, C(done) and C(rate) per second.
  returned: success with O(progress_file)
  type: list
  elements: dict
pushed:
  description: Whether the export was stored on the backup hosts by this run.
  returned: with O(backup_hosts)
  type: bool
backup_id:
  description: The id (directory name) of the export stored by this run; null when nothing was sent.
  returned: with O(backup_hosts)
  type: str
  sample: 20250301T020000Z-tree-3fa2c1
destinations:
  description:
    - One entry per backup host, C(host) and C(path) of the export's directory,
      C(backup_id), C(verified) (the host's own SHA-256 matched what was sent), C(sha256)
      and C(bytes) of the export file. When nothing was sent, the export already stored
      there with the same digests (C(verified) null), or in check mode the directory a push
      would create.
  returned: with O(backup_hosts)
  type: list
  elements: dict
partial:
  description:
    - With O(partial), whether anything could not be read (RV(unreadable) or RV(acl_hidden)
      is not empty); RV(digest) and RV(count) are then those of the readable part.
  returned: success
  type: bool
unreadable:
  description: With O(partial), the znodes the session may not read; each was skipped with its subtree.
  returned: success
  type: list
  elements: str
  sample: [/kafka/config/users]
unreadable_count:
  description: The number of entries in RV(unreadable).
  returned: success
  type: int
acl_hidden:
  description:
    - With O(partial), znodes whose digest ACL the server hid (at most 20 are named).
  returned: success
  type: list
  elements: str
acl_hidden_count:
  description: The number of znodes whose digest ACL the server hid.
  returned: success
  type: int
leftovers:
  description: >-
    On a failed push, hidden staging directories that could not be removed (host
    unreachable), with the reason. They never look like a stored export.
  returned: failure
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import job as tree_job
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client


def argument_spec():
    spec = zk_client.zk_argument_spec()
    spec.update(catalog.store_argument_spec())
    spec.update(
        source=dict(type="str", choices=["live", "files"], default="live"),
        dest=dict(type="path"),
        root=dict(type="str", default="/"),
        exclude=dict(type="list", elements="str", default=["/zookeeper"]),
        ephemeral_policy=dict(type="str", choices=list(tree_export.EPHEMERAL_POLICIES),
                              default="skip"),
        compression_level=dict(type="int", default=6),
        connections=dict(type="int"),
        batch=dict(type="int", default=64),
        multi_read=dict(type="bool"),
        partial=dict(type="bool", default=False),
        config_file=dict(type="path", default="/etc/zookeeper/conf/zoo.cfg"),
        data_dir=dict(type="path"),
        data_log_dir=dict(type="path"),
        target_zxid=dict(type="str"),
        target_time=dict(type="str"),
        jute_maxbuffer=dict(type="int", default=1048575),
        backup_hosts=dict(type="list", elements="str"),
        ensemble=dict(type="str"),
        encryption_key=dict(type="str", no_log=True),
        encryption_recipients=dict(type="list", elements="str", default=[]),
        signing_key=dict(type="str", no_log=True),
    )
    spec.update(progress.argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           add_file_common_args=True,
                           required_if=[("source", "live", ("hosts",))],
                           required_one_of=[("dest", "backup_hosts")],
                           required_by={"backup_hosts": ("ensemble",)},
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE)
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    p = module.params
    if p["source"] == "live":
        zk_client.require_kazoo(module)
    if p["backup_hosts"] is not None:
        ssh_transport.require_paramiko(module)
    try:
        result, warnings = tree_job.export(p, module.check_mode)
    except tree_job.JobError as exc:
        for w in exc.warnings:
            module.warn(w)
        module.fail_json(msg=exc.msg, **exc.fields)
    for w in warnings:
        module.warn(w)
    dest = p["dest"]
    if dest and not module.check_mode and os.path.exists(dest):
        file_args = module.load_file_common_arguments(p)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
