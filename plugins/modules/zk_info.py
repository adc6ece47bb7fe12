#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_info
short_description: Report on ZooKeeper ensemble members and the ensemble as a whole
version_added: 0.1.0
description:
  - For every member of the ensemble (or the members given in O(hosts)) reports the
    server id, the mode (leader, follower, observer, standalone, not serving, down), the
    last zxid as hex, epoch and counter, the version, znode count, outstanding requests,
    latency, dataDir and dataLogDir.
  - For the member it runs on, adds what is on disk (snapshots and transaction logs with
    the zxids in their names and their sizes, the epoch files), the server process and
    whether a configuration change waits for a restart.
  - For the ensemble, reports the leader, how many voters serve, whether the quorum
    holds and which member has the highest zxid.
  - Talks to the members with four-letter words over the client port and needs nothing
    but Python on the host it runs on. Only C(srvr) has to be whitelisted; what C(mntr)
    and C(conf) would add is listed in RV(not_learned) when they are not, and so are the
    fields that a member's release does not report in C(mntr) (ZooKeeper 3.5 has no peer
    state, quorum size, uptime or digest mismatch count).
  - Never changes anything.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.zookeeper
  - zkops.zookeeper.read_only
options:
  hosts:
    description:
      - The members to report on, C(host:port) pairs separated by commas.
      - When not set, every server listed in O(config_file) is queried at its client
        port.
    type: str
  config_file:
    description:
      - The server configuration file of the member on this host. Its C(dynamicConfigFile)
        is read as well.
      - Read when O(hosts) is not set (default V(/etc/zookeeper/conf/zoo.cfg)), or when
        given explicitly. It must exist then.
      - It gives the membership (voters and observers, for the quorum), the client
        ports, the directories to list and the local server id.
    type: path
  server_id:
    description:
      - The server id of the member on this host. Defaults to the number in
        C(<dataDir>/myid).
    type: int
  client_check:
    description:
      - Also open a client session to every serving member alone, with O(auth) and the TLS
        options, and read O(client_check_path). Fails when a member refuses (for
        instance wrong credentials for an ACL'd znode). A member that sets up no session
        within O(connect_timeout) is tried once more before the check fails.
      - Needs the kazoo Python library on the host the module runs on.
    type: bool
    default: false
  client_check_path:
    description:
      - The znode that O(client_check) reads.
    type: str
    default: /
  restart_triggers:
    description:
      - More files whose change after the server started means a restart is pending (see
        RV(member.restart_pending)). O(config_file) and C(java.env), C(environment),
        C(zookeeper-env.sh) next to it always count.
    type: list
    elements: path
    default: []
notes:
  - Members that are down are reported (mode V(down)) and named in warnings; the module
    fails only for bad input, that is when no member in O(hosts) answers, when an address
    answers but is not ZooKeeper, when O(config_file) cannot be read, or when
    O(client_check) fails.
  - Remote members whose C(conf) is not whitelisted are given the dataDir and dataLogDir of
    the local O(config_file); RV(members[].data_dir_source) says so.
  - The highest zxid is taken among the members that serve; a member that is down or does
    not serve tells no zxid.
requirements:
  - kazoo >= 2.8 only for O(client_check)
seealso:
  - module: zkops.zookeeper.zk_quiesce
"""

EXAMPLES = r"""
- name: Report on the ensemble from every member
  zkops.zookeeper.zk_info:
  register: zk

- name: Show leader and quorum
  ansible.builtin.debug:
    msg: "leader {{ zk.ensemble.leader }}, {{ zk.ensemble.serving_voter_count }} of
      {{ zk.ensemble.voter_count }} voters serve, quorum {{ zk.ensemble.quorum }}"
  run_once: true

- name: Query given members from a bastion, without reading any zoo.cfg
  zkops.zookeeper.zk_info:
    hosts: zk1.example.com:2181,zk2.example.com:2181,zk3.example.com:2181
  delegate_to: bastion
  run_once: true

- name: Prove that clients with the application's credentials are served
  zkops.zookeeper.zk_info:
    client_check: true
    client_check_path: /app/config
    auth:
      - scheme: digest
        credential: "app:{{ vault_zk_app_password }}"

- name: Fail unless the ensemble is fully healthy
  zkops.zookeeper.zk_info:
  register: zk
  failed_when: >-
    not zk.ensemble.quorum or zk.ensemble.serving_voter_count != zk.ensemble.voter_count
"""

RETURN = r"""
members:
  description: The status of every member queried, in server id order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Server id (from C(conf), else from the address in zoo.cfg); null when unknown.
      type: int
    address:
      description: The client address queried, C(host:port).
      type: str
    mode:
      description: >-
        V(leader), V(follower), V(observer), V(standalone), V(read_only),
        V(not_serving) (the process answers but does not serve), V(down) (nothing
        answers) or V(not_zookeeper).
      type: str
      sample: follower
    serving:
      description: Whether the member serves clients.
      type: bool
    error:
      description: Why the member does not serve or could not be queried.
      type: str
    zxid:
      description: The last transaction id the member applied, as hex.
      type: str
      sample: "0x200000005"
    epoch:
      description: The epoch of RV(members[].zxid) (its high 32 bits).
      type: int
    counter:
      description: The counter of RV(members[].zxid) within its epoch (low 32 bits).
      type: int
    version:
      description: ZooKeeper version.
      type: str
      sample: 3.8.0
    znode_count:
      description: Number of znodes.
      type: int
    outstanding_requests:
      description: Requests queued and not answered yet.
      type: int
    latency:
      description: Request latency in milliseconds, C(min), C(avg) and C(max).
      type: dict
    data_dir:
      description: dataDir (without C(version-2)).
      type: str
    data_log_dir:
      description: dataLogDir (without C(version-2)); equals RV(members[].data_dir) when not set.
      type: str
    data_dir_source:
      description: V(conf) (the member told), V(zoo.cfg) or V(zoo.cfg (local copy)).
      type: str
    learners:
      description: On the leader, from C(mntr), the number of followers and observers
        connected (null when unknown).
      type: int
    synced_followers:
      description: On the leader, from C(mntr), the followers in sync.
      type: int
    ephemerals_count:
      description: From C(mntr), the number of ephemeral znodes (null when unknown).
      type: int
    digest_mismatches:
      description: >-
        From C(mntr) of ZooKeeper 3.6 and later, the transactions after which the digest this
        member computed differed from the one the leader sent (C(digest.enabled), on by
        default); null when unknown.
      type: int
    running_settings:
      description: >-
        From C(conf), the settings the server runs with among C(tickTime), C(initLimit),
        C(syncLimit), C(maxClientCnxns), C(minSessionTimeout), C(maxSessionTimeout), C(dataDir)
        and C(dataLogDir) (as the server prints them, directories with C(version-2)); null
        without a C(conf) answer.
      type: dict
    learned_from:
      description: The four-letter words the member answered.
      type: list
      elements: str
      sample: [srvr, mntr, conf]
    not_learned:
      description: What the member did not tell, with the reason.
      type: list
      elements: dict
    client_check:
      description: Result of O(client_check) for this member, when requested (C(ok),
        C(attempts), C(error) when it failed).
      type: dict
member:
  description: >-
    The member on this host: its entry of RV(members) plus what only the host knows.
    Null when no zoo.cfg was read.
  returned: when a zoo.cfg was read
  type: dict
  contains:
    myid:
      description: The local server id.
      type: int
    process:
      description: The server process started with O(config_file) (C(pid), C(started) as
        ISO 8601 UTC, C(uptime_seconds)); null when it does not run.
      type: dict
    installed:
      description: >-
        The ZooKeeper release of the server jar on the member's class path, which tells the
        release of a member that does not answer C(srvr) (stopped, or without a quorum):
        C(release) (V(3.8.0); null when it cannot be read, with C(reason)), C(jar) and C(from),
        where the class path came from. For a running server, its command line (C(-cp)) or
        environment (C(CLASSPATH)); for a stopped one, what its next start uses, C(CLASSPATH)
        in the C(environment) file beside O(config_file) (Debian), else the C(lib) directory of
        a tarball install whose C(conf) holds O(config_file) (for a running server too, when its
        own class path cannot be read); else the class path the server log recorded at the last
        start (the newest log in the running server's C(zookeeper.log.dir), or in
        C(/var/log/zookeeper)). The release is read from the jar's
        C(org/apache/zookeeper/version/Info.class), not from its name; with jars of several
        releases on the class path, the oldest, the others in C(conflict).
      type: dict
      sample: {release: 3.8.0, jar: /usr/share/java/zookeeper.jar, from: /etc/zookeeper/conf/environment}
    restart_pending:
      description: >-
        True when a file in RV(member.restart_triggers) changed after the server started,
        so the running server does not use it yet, or when RV(member.restart_pending_settings)
        names a setting. Null when the server does not run. A zoo.cfg that a server with
        dynamic reconfiguration (C(reconfigEnabled=true)) rewrote itself, right after writing
        the C(dynamicConfigFile) it names, does not count by its time.
      type: bool
    restart_pending_settings:
      description: >-
        The settings of O(config_file) that differ from those the server runs with, by its
        C(conf) answer (C(setting), C(file), C(running)): C(tickTime), C(initLimit),
        C(syncLimit), C(maxClientCnxns), C(minSessionTimeout), C(maxSessionTimeout), C(dataDir)
        and C(dataLogDir), when zoo.cfg sets them (C(dataLogDir) also when it does not: its
        default is C(dataDir); a session timeout of V(-1) is the default; a relative
        directory is the server's working directory's). Any such difference makes
        RV(member.restart_pending) true, also when the file's time does not (a zoo.cfg edited,
        then rewritten by the server at a reconfig). A value changed at run time through JMX
        also differs from zoo.cfg, and counts: a restart would undo it. Null when the server does not run or gave
        no C(conf) answer (not whitelisted, not serving).
      type: list
      elements: dict
    restart_pending_files:
      description: >-
        The files that changed after the server started, and O(config_file) when
        RV(member.restart_pending_settings) names a setting.
      type: list
      elements: str
    restart_triggers:
      description: >-
        The files that count for RV(member.restart_pending): O(config_file), C(java.env),
        C(environment) and C(zookeeper-env.sh) next to it when they exist, and
        O(restart_triggers).
      type: list
      elements: str
    other_server_processes:
      description: ZooKeeper servers on this host started with another configuration file
        (C(pid), C(config_file)).
      type: list
      elements: dict
    disk:
      description: >-
        What is in the data directories: C(snapshots) and C(logs) (each with C(name),
        C(path), C(zxid), C(epoch), C(counter), C(size), C(allocated) bytes, C(mtime)),
        C(current_epoch) and C(accepted_epoch) from the epoch files, counts and totals,
        and C(problems) (directories that could not be listed).
      type: dict
ensemble:
  description: The ensemble as the queried members describe it.
  returned: always
  type: dict
  contains:
    leader:
      description: Server id of the leader (or the standalone server); null when none serves.
      type: int
    leader_address:
      description: Client address of the leader.
      type: str
    voters:
      description: Server ids of the voters (participants); null when the membership is unknown.
      type: list
      elements: int
    voter_count:
      description: Number of voters.
      type: int
    groups:
      description:
        - The C(group.N) lines of a hierarchical quorum, group id to server ids; empty without
          groups, null when the membership is unknown.
      type: dict
    weights:
      description:
        - The C(weight.N) lines of a hierarchical quorum, server id to weight (a server not
          listed weighs 1); null when the membership is unknown.
      type: dict
    serving_voters:
      description: The voters that serve as leader or follower.
      type: list
      elements: int
    serving_voter_count:
      description: Number of serving voters.
      type: int
    quorum_size:
      description: Voters needed for a quorum (majority rule).
      type: int
    quorum:
      description: Whether a leader serves with a quorum of voters behind it.
      type: bool
    tolerance:
      description: How many more voters may fail, whichever they are, without losing the quorum.
      type: int
    highest:
      description: The highest zxid among the serving members (C(zxid), C(epoch), C(counter))
        and the C(members) that have it.
      type: dict
    lag:
      description: Per member, how many transactions it is behind the leader.
      type: dict
config:
  description: The settings read from zoo.cfg (never passwords); null when none was read.
  returned: always
  type: dict
not_learned:
  description: Sentences saying what could not be learned, and why.
  returned: always
  type: list
  elements: str
  sample:
    - "'mntr' is not in 4lw.commands.whitelist on zk1:2181: unknown peer_state, learners"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import info as ensemble_info


def argument_spec():
    spec = zk_client.zk_argument_spec()
    spec.update(
        config_file=dict(type="path"),
        server_id=dict(type="int"),
        client_check=dict(type="bool", default=False),
        client_check_path=dict(type="str", default="/"),
        restart_triggers=dict(type="list", elements="path", default=[]),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    p = module.params
    if p["client_check"]:
        zk_client.require_kazoo(module)
    warnings = []
    try:
        res = ensemble_info.gather(p, warnings)
    except ensemble_info.InfoError as exc:
        for w in warnings:
            module.warn(w)
        module.fail_json(msg=exc.msg, **exc.fields)
    for w in warnings:
        module.warn(w)
    module.exit_json(changed=False, **res)


if __name__ == "__main__":
    main()
