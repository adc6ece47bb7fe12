#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_quiesce
short_description: Stop a ZooKeeper member without losing the quorum, or bring it back serving
version_added: 0.1.0
description:
  - Runs on a member of a ZooKeeper ensemble and drives the local server through its
    service manager (systemd, a sysv init script, or given commands).
  - O(state=quiesced) stops the server and waits until its process is gone and its ports
    are closed. It refuses when the serving voters left would not be a quorum (the quorum
    guard), unless O(allow_quorum_loss=true).
  - O(state=serving) starts the server and waits until it serves as leader, follower or
    observer and its zxid has caught up with the leader's (within O(max_lag)), then
    optionally proves that a client session works (O(client_check)). On timeout it fails
    with the last status it saw and the tail of the server's log.
  - Idempotent. In check mode it predicts the change, applies the quorum guard, and acts
    on nothing.
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.zookeeper
  - zkops.zookeeper.service
attributes:
  check_mode:
    support: full
    description: Predicts the change and applies the quorum guard; stops and starts nothing.
  diff_mode:
    support: full
    description: Shows the member's state (serving, quiesced), mode and process id before and after.
  action:
    support: full
    description: >-
      An action plugin on the controller lets only one stop run at a time, so that the
      quorum guard of each stop sees the previous ones.
options:
  state:
    description:
      - V(quiesced) means no server process and no open port.
      - V(serving) means the server serves as leader, follower, observer or standalone and
        has caught up with the leader.
    type: str
    required: true
    choices: [quiesced, serving]
  config_file:
    description:
      - The configuration file of the server on this host (its C(dynamicConfigFile) is
        read too). It gives the membership for the quorum guard, the ports and the data
        directory holding C(myid). The server process is recognised by this file on its
        command line.
    type: path
    default: /etc/zookeeper/conf/zoo.cfg
  server_id:
    description: The server id of this member. Defaults to the number in C(<dataDir>/myid).
    type: int
  allow_quorum_loss:
    description:
      - Stop the server even when the ensemble loses its quorum by it (clients are no
        longer served until enough members are back).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the server to stop (process gone, ports closed) or to serve and
        catch up.
    type: float
    default: 120
  max_lag:
    description:
      - How many transactions the member may be behind the leader's zxid, read just before
        the member's own, to count as caught up.
    type: int
    default: 0
  client_check:
    description:
      - With O(state=serving), also open a client session to this member alone with
        O(auth) and the TLS options and read O(client_check_path). Needs kazoo on the
        member; checked before anything is started.
    type: bool
    default: true
  client_check_path:
    description: The znode read by O(client_check).
    type: str
    default: /
  hosts:
    description:
      - The client address (C(host:port)) of this member, for its status and the client
        check. Defaults to C(clientPortAddress) or the host of its server line, and
        C(clientPort) (C(secureClientPort) with O(tls)). The port must be one of the
        member's ports in O(config_file).
    type: str
  stop_command:
    description:
      - The command that stops the server (V(command) manager); a list or a string.
      - O(service_manager=auto) uses the commands only when both O(start_command) and this
        are given.
    type: raw
  log_file:
    description:
      - The server log whose tail is shown when the server does not stop or serve in time.
        Defaults to the file named by the server's C(zookeeper.log.dir) and
        C(zookeeper.log.file) options, else the newest C(*.log) or C(*.out) in
        C(/var/log/zookeeper).
    type: path
  log_lines:
    description: How many lines of the log to return on failure.
    type: int
    default: 20
notes:
  - Stops take a lock on the controller for as long as they run, so a play on every
    member with the default forks stops them one after another and the quorum guard of
    each sees the previous stop. Runs from different controllers are not coordinated;
    there, run it on one member at a time (C(serial), C(throttle), or the
    zkops.zookeeper.rolling_restart role).
  - A member whose server does not answer its client port while its process runs is
    counted as serving by the guard.
  - The quorum guard judges from the membership in O(config_file) and what every member
    answers to C(srvr); members that do not answer count as not serving.
requirements:
  - kazoo >= 2.8 on the member for O(client_check) (the default with O(state=serving))
seealso:
  - module: zkops.zookeeper.zk_info
"""

EXAMPLES = r"""
- name: Take this member out of service (refused if the quorum would be lost)
  zkops.zookeeper.zk_quiesce:
    state: quiesced

- name: Bring it back and wait until it has caught up with the leader
  zkops.zookeeper.zk_quiesce:
    state: serving
    timeout: 300

- name: Stop the whole ensemble for a cold backup, one member after another
  zkops.zookeeper.zk_quiesce:
    state: quiesced
    allow_quorum_loss: true
  throttle: 1

- name: A server started by a wrapper script, with a client check using credentials
  zkops.zookeeper.zk_quiesce:
    state: serving
    config_file: /opt/zookeeper/conf/zoo.cfg
    service_manager: command
    start_command: [/opt/zookeeper/bin/zkServer.sh, start, /opt/zookeeper/conf/zoo.cfg]
    stop_command: [/opt/zookeeper/bin/zkServer.sh, stop, /opt/zookeeper/conf/zoo.cfg]
    client_check_path: /app
    auth:
      - credential: "ops:{{ vault_zk_ops_password }}"
"""

RETURN = r"""
state:
  description: The state asked for.
  returned: always
  type: str
  sample: quiesced
action:
  description: V(stopped), V(started), V(none); in check mode V(stop) or V(start) when it would act.
  returned: always
  type: str
server_id:
  description: The server id of this member.
  returned: always
  type: int
service_manager:
  description: The service manager used (V(systemd), V(sysv), V(command)).
  returned: always
  type: str
before:
  description: >-
    The member before: C(state) (V(serving), V(not_serving), V(quiesced), V(ports_busy)),
    C(mode), C(zxid), C(pids) and the member's C(listening) ports.
  returned: always
  type: dict
after:
  description: The member afterwards, as RV(before).
  returned: always
  type: dict
member:
  description: The last status of this member, as in the C(members) list of zkops.zookeeper.zk_info.
  returned: always
  type: dict
quorum:
  description: >-
    The quorum guard: C(allowed), C(reason), C(voters), C(serving_voters), C(rule) and
    the C(members) it asked.
  returned: when a serving member was to be stopped
  type: dict
leader:
  description: The leader the member caught up with (C(id), C(address), C(zxid)).
  returned: with O(state=serving)
  type: dict
lag:
  description: Transactions the member was behind the leader when it counted as caught up.
  returned: with O(state=serving), when it serves
  type: int
client_check:
  description: Result of O(client_check) (C(address), C(path), C(ok), C(seconds) of the
    passing attempt, C(attempts)). A check that finds no session in time is tried again
    until O(timeout) runs out, while the member serves.
  returned: when O(client_check) ran
  type: dict
lock_wait:
  description: Seconds the stop waited for other stops on the controller to finish.
  returned: with O(state=quiesced), not in check mode
  type: float
elapsed:
  description: Seconds the module worked.
  returned: always
  type: float
cmd:
  description: The service manager command that ran.
  returned: when the server was started or stopped
  type: list
  elements: str
rc:
  description: Its exit status.
  returned: when the server was started or stopped
  type: int
stdout:
  description: Its standard output.
  returned: when the server was started or stopped
  type: str
stderr:
  description: Its standard error.
  returned: when the server was started or stopped
  type: str
log_file:
  description: The server log that was read.
  returned: on failure to stop or to serve in time
  type: str
log_tail:
  description: The last O(log_lines) lines of the server log (passwords masked).
  returned: on failure to stop or to serve in time
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quiesce
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import service as service_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg


def argument_spec():
    spec = zk_client.zk_argument_spec()
    spec.update(
        state=dict(type="str", required=True, choices=["quiesced", "serving"]),
        config_file=dict(type="path", default=zoo_cfg.DEFAULT_CONFIG_FILE),
        server_id=dict(type="int"),
        allow_quorum_loss=dict(type="bool", default=False),
        timeout=dict(type="float", default=120.0),
        max_lag=dict(type="int", default=0),
        client_check=dict(type="bool", default=True),
        client_check_path=dict(type="str", default="/"),
        stop_command=dict(type="raw"),
        log_file=dict(type="path"),
        log_lines=dict(type="int", default=20),
    )
    spec.update(service_mod.argument_spec())
    return spec


def build(module):
    """The Quiesce of the member on this host for the module's parameters (fails the
    module on bad input)."""
    p = module.params
    try:
        cfg = zoo_cfg.load(p["config_file"])
        me = member_mod.local_id(cfg, p["server_id"])
    except zoo_cfg.ZooCfgError as exc:
        module.fail_json(msg="%s. Set config_file to the zoo.cfg of the ZooKeeper server on "
                             "this host." % exc, changed=False)
    if me is None:
        module.fail_json(msg="%s/myid does not exist: cannot tell which server of %s runs "
                             "here; set server_id" % (cfg.data_dir, cfg.path), changed=False)
    if cfg.servers and me not in cfg.servers:
        module.fail_json(msg="server id %s is not among the servers of %s (%s)"
                         % (me, cfg.path, ", ".join(str(s) for s in sorted(cfg.servers))),
                         changed=False)
    address = None
    if p["hosts"]:
        hosts = zk_client.split_hosts(p["hosts"])
        if len(hosts) != 1:
            module.fail_json(msg="hosts must be the one client address of this member, "
                                 "not %d addresses" % len(hosts), changed=False)
        address = four_letter.split_hostport(hosts[0])
        ports = cfg.server_ports(me)
        client_ports = [x for x in (cfg.client_endpoint(me, local=True),
                                    cfg.client_endpoint(me, local=True, secure=True)) if x]
        if address[1] not in [x[1] for x in client_ports]:
            module.fail_json(msg="hosts names port %d, but server %s serves clients on %s "
                                 "according to %s (its ports: %s)"
                             % (address[1], me,
                                ", ".join(str(x[1]) for x in client_ports) or "no port",
                                cfg.path, ", ".join(str(x) for x in sorted(ports))),
                             changed=False)
    try:
        service = service_mod.Service(
            module.run_command, module.get_bin_path,
            manager=p["service_manager"], name=p["service_name"],
            start_command=p["start_command"], stop_command=p["stop_command"])
        ctx = zk_client.tls_context(p)
    except (service_mod.ServiceError, ValueError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    except Exception as exc:
        module.fail_json(msg="the TLS settings are unusable: %s" % exc, changed=False)
    local = member_mod.LocalMember(cfg, me, ssl_context=ctx, timeout=p["connect_timeout"],
                                   address=address, secure=p["tls"])
    return quiesce.Quiesce(local, service, log_file=p["log_file"], log_lines=p["log_lines"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    p = module.params
    if p["state"] == "serving" and p["client_check"]:
        zk_client.require_kazoo(module)
    local = build(module)
    try:
        # Resolve the service manager before acting: a bad choice changes nothing.
        local.service.kind
    except service_mod.ServiceError as exc:
        module.fail_json(msg=str(exc), changed=False)
    try:
        if p["state"] == "quiesced":
            result = local.quiesce(module.check_mode, p["allow_quorum_loss"], p["timeout"])
        else:
            check = None
            if p["client_check"]:
                def check(address):
                    return zk_client.client_check(p, address, p["client_check_path"])
            result = local.serve(module.check_mode, p["timeout"], p["max_lag"], check)
    except quiesce.QuiesceError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    for w in result.pop("warnings", []):
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
