#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_verify
short_description: Verify ZooKeeper snapshots and transaction logs and prove they restore
version_added: 0.1.0
description:
  - Reads the snapshots and transaction logs of a ZooKeeper data directory (and its
    separate C(dataLogDir)), or any set of such files, and checks them completely,
    in pure Python.
  - For snapshots (plain, C(.gz), C(.snappy)), the Adler32 seals over the whole
    uncompressed stream, the structure, every length, and the digest trailer of
    ZooKeeper 3.6 and later. For transaction logs, every record's checksum, its
    end byte, the decoding of every transaction, how the log ends (cleanly, a
    partial record as in a copy of a log being written, or damage) and zxid
    continuity within and across logs. The epoch files against the last zxid.
  - Works out the restorable set, the files a server loads on start (the newest valid
    snapshot, the log that began before it and every later log), and whether they
    give a consistent state. Fails with the reasons when they do not.
  - With O(deep=true), replays the restorable set as a server would, checks the
    replay against the digests ZooKeeper 3.6 and later record, and returns the znode
    count and the tree digest (see the collection's C(docs/tree-digest.md)), at the
    end of the logs or at O(target_zxid) or O(target_time).
  - Never changes anything.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.read_only
options:
  data_dir:
    description:
      - The member's C(dataDir) (or its C(version-2) directory), which holds the
        snapshots and the epoch files, and the logs unless O(data_log_dir) is set.
      - One of O(data_dir), O(config_file) and O(files) is required.
    type: path
  data_log_dir:
    description:
      - The member's C(dataLogDir) when it differs from O(data_dir).
    type: path
  config_file:
    description:
      - A C(zoo.cfg) to read C(dataDir) and C(dataLogDir) from, instead of O(data_dir).
    type: path
  files:
    description:
      - Verify exactly these files (snapshots, logs and epoch files, recognised by name),
        for example those of an unpacked backup, instead of a data directory.
    type: list
    elements: path
  scope:
    description:
      - V(all) checks every snapshot and log; V(restorable) only what a restore needs
        (snapshots from the newest down to the first valid one, and the logs from
        there on), which is faster when many old snapshots are kept.
    type: str
    choices: [all, restorable]
    default: all
  deep:
    description:
      - Replay the restorable set and return the znode count and the tree digests.
      - Keeps in memory only the znodes that the transaction logs after the snapshot
        touch, whatever the tree's size; the digest sorts in temporary files in the system's
        temporary directory (about 80 bytes plus the path per znode, removed at once).
    type: bool
    default: false
  target_zxid:
    description:
      - Verify the state as it was at this zxid (hex with C(0x), or decimal) instead of
        the latest. The snapshot is chosen so that it does not reach past it, and only
        transactions up to it count.
      - C(0x) and hex digits is hex; bare digits are decimal, also those of a data file name
        (the zxid of C(log.100000003) is C(0x100000003)); anything else is refused.
    type: str
  target_time:
    description:
      - Verify the state as it was at this time, the last transaction logged at or before
        it. An ISO 8601 date and time (UTC when it has no zone) or milliseconds since the
        epoch. Transaction times are the leader's clock.
    type: str
  include_ephemeral:
    description:
      - Count ephemeral znodes in the digest and the znode count (O(deep=true)).
    type: bool
    default: false
  jute_maxbuffer:
    description:
      - The C(jute.maxbuffer) the servers run with. Records and values longer than it
        plus ZooKeeper's allowance are reported as damaged, as the server would.
    type: int
    default: 1048575
notes:
  - Reading C(.snappy) snapshots needs the C(python-snappy) (or C(cramjam)) library on
    the host the module runs on; nothing else beyond Python is needed.
  - Safe to run against a live member. Its newest log usually ends in a partial
    record then, which is reported as a warning.
seealso:
  - name: ZooKeeper administrator's guide, data file management
    description: What the snapshots and logs in a data directory are.
    link: https://zookeeper.apache.org/doc/current/zookeeperAdmin.html#sc_dataFileManagement
"""

EXAMPLES = r"""
- name: Verify a member's data directory from its configuration
  zkops.zookeeper.zk_verify:
    config_file: /etc/zookeeper/conf/zoo.cfg
  register: verified

- name: Replay the data and report the tree digest and znode count
  zkops.zookeeper.zk_verify:
    data_dir: /var/lib/zookeeper
    data_log_dir: /srv/zookeeper-txnlog
    deep: true
  register: replayed

- name: Check that the state of a given moment can be restored
  zkops.zookeeper.zk_verify:
    data_dir: /var/lib/zookeeper
    deep: true
    target_time: "2024-05-01T12:00:00Z"

- name: Verify the files of an unpacked backup
  zkops.zookeeper.zk_verify:
    files:
      - /srv/restore/snapshot.100000a3c
      - /srv/restore/log.100000a01
      - /srv/restore/currentEpoch
      - /srv/restore/acceptedEpoch
"""

RETURN = r"""
restorable:
  description: Whether a server can start from the files with the state they describe.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the files are not restorable (empty when they are).
  returned: always
  type: list
  elements: str
unreadable_here:
  description: >-
    Why this host could not read some files (a library it lacks, such as python-snappy for
    .snappy snapshots): the files were not judged, so a host with the library may find
    them restorable.
  returned: always
  type: list
  elements: str
findings:
  description: Findings that do not stop a restore, for example a partial last record.
  returned: always
  type: list
  elements: str
last_zxid:
  description: The zxid of the state a restore gives (hex).
  returned: when a snapshot was usable
  type: str
  sample: "0x10000a3f"
snapshot_zxid:
  description: The zxid of the snapshot in the restorable set (hex).
  returned: when a snapshot was usable
  type: str
restorable_set:
  description: The files a restore uses.
  returned: when a snapshot was usable
  type: dict
  contains:
    snapshot:
      description: The snapshot's file name.
      type: str
    snapshot_path:
      description: The snapshot's path.
      type: str
    logs:
      description: The logs' file names, in order.
      type: list
      elements: str
    log_paths:
      description: The logs' paths, in order.
      type: list
      elements: str
    first_zxid:
      description: The snapshot's zxid (hex).
      type: str
    last_zxid:
      description: The last zxid the restore reaches (hex).
      type: str
restorable_until:
  description:
    - When damage or a gap in the logs stops them, the last zxid (hex) that a
      point-in-time restore can still reach.
  returned: always
  type: str
gaps:
  description: Missing transactions in the logs a restore needs.
  returned: always
  type: list
  elements: dict
files:
  description:
    - Every file, with its type (snapshot, log, epoch, other), size, the zxid in its
      name and, for checked files, C(valid), C(errors), C(warnings). Logs add
      C(first_zxid), C(last_zxid), C(records), C(end) (eof, padding, torn, garbage,
      corrupt), C(end_offset) and C(gaps); snapshots add C(znodes), C(sessions),
      C(compression), C(seals), C(digest_zxid) and C(end_zxid).
  returned: always
  type: list
  elements: dict
epochs:
  description: The numbers in currentEpoch and acceptedEpoch.
  returned: always
  type: dict
  sample: {"current": 3, "accepted": 3}
target_zxid:
  description: The zxid the report is for, when a target was given (hex).
  returned: always
  type: str
znode_count:
  description: The znodes that count in the digest (not /zookeeper; ephemerals only with O(include_ephemeral)).
  returned: with O(deep=true) when a replay was possible
  type: int
znodes:
  description: All znodes of the replayed tree, /zookeeper and ephemerals included.
  returned: with O(deep=true) when a replay was possible
  type: int
ephemeral_znodes:
  description: The ephemeral znodes of the replayed tree.
  returned: with O(deep=true) when a replay was possible
  type: int
digest:
  description: The tree digest (sha256 hex) that a live export computes as well.
  returned: with O(deep=true) when a replay was possible
  type: str
typed_digest:
  description: The tree digest with the exact znode kinds (container, TTL).
  returned: with O(deep=true) when a replay was possible
  type: str
digest_version:
  description: The version of the tree digest definition.
  returned: with O(deep=true) when a replay was possible
  type: int
replay:
  description:
    - How the replay went, with C(zk_digest) the comparison with ZooKeeper's own digests
      (C(checked), C(mismatches)).
  returned: with O(deep=true) when a replay was possible
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import targets
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import buffer_limit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            data_dir=dict(type="path"),
            data_log_dir=dict(type="path"),
            config_file=dict(type="path"),
            files=dict(type="list", elements="path"),
            scope=dict(type="str", choices=["all", "restorable"], default="all"),
            deep=dict(type="bool", default=False),
            target_zxid=dict(type="str"),
            target_time=dict(type="str"),
            include_ephemeral=dict(type="bool", default=False),
            jute_maxbuffer=dict(type="int", default=1048575),
        ),
        required_one_of=[("data_dir", "config_file", "files")],
        mutually_exclusive=[("data_dir", "config_file", "files"), ("data_log_dir", "config_file"),
                            ("data_log_dir", "files")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        target_zxid, target_time = targets.parse_target(p["target_zxid"], p["target_time"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    opts = dict(limit=buffer_limit(p["jute_maxbuffer"]), scope=p["scope"], deep=p["deep"],
                target_zxid=target_zxid, target_time=target_time,
                include_ephemeral=p["include_ephemeral"])

    if p["files"] is not None:
        missing = [f for f in p["files"] if not os.path.isfile(f)]
        if missing:
            module.fail_json(msg="not found: %s" % ", ".join(missing))
        rep = datadir.verify_files(p["files"], **opts)
        what = "the files given"
    else:
        data_dir, log_dir = p["data_dir"], p["data_log_dir"]
        if p["config_file"]:
            try:
                cfg = zoo_cfg.load(p["config_file"])
            except zoo_cfg.ZooCfgError as exc:
                module.fail_json(msg="cannot read dataDir from %s: %s" % (p["config_file"], exc))
            data_dir, log_dir = cfg.data_dir, cfg.data_log_dir
        if not os.path.isdir(data_dir):
            module.fail_json(msg="data_dir %s does not exist or is not a directory" % data_dir)
        rep = datadir.verify_data_dir(data_dir, log_dir, **opts)
        what = data_dir + (" and %s" % log_dir if log_dir and log_dir != data_dir else "")

    rep["changed"] = False
    # "warnings" is Ansible's own key.
    rep["findings"] = rep.pop("warnings")
    if not rep["restorable"]:
        module.fail_json(msg=datadir.verdict(what, rep), **rep)
    module.exit_json(**rep)


if __name__ == "__main__":
    main()
