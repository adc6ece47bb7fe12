# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zk_info job: from the module's options to the report on the members and the
ensemble (member.report), with the client checks when asked for.

``gather(params, warnings)`` returns the report and appends the warnings; a failure raises
``InfoError`` with the message and the other fields of the failed result.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg


class InfoError(Exception):
    """The report failed: ``msg`` and the other fields of the failed result (``fields``)."""

    def __init__(self, msg, **fields):
        super(InfoError, self).__init__(msg)
        self.msg = msg
        self.fields = fields


def run_client_checks(params, members, check=None, tries=2):
    """Checks every serving member; a transient failure (no session within the connect
    timeout, a lost connection: a member that has just started may serve before it takes
    sessions) is tried again, up to ``tries`` attempts; a refusal fails at once."""
    check = check or zk_client.client_check
    failures = []
    for st in members:
        if not st["serving"]:
            continue
        for attempt in range(1, tries + 1):
            try:
                st["client_check"] = dict(check(params, st["address"],
                                                params["client_check_path"]), attempts=attempt)
                break
            except zk_client.ZkConnectError as exc:
                if exc.transient and attempt < tries:
                    continue
                st["client_check"] = {"address": st["address"], "ok": False, "error": str(exc),
                                      "attempts": attempt}
                failures.append(str(exc))
                break
    return failures


def local_member(p, warnings):
    """(the zoo.cfg read or None, the local server id or None)."""
    cfg = None
    config_file = p["config_file"] or (None if p["hosts"] else zoo_cfg.DEFAULT_CONFIG_FILE)
    if config_file:
        try:
            cfg = zoo_cfg.load(config_file)
        except zoo_cfg.ZooCfgError as exc:
            raise InfoError("%s. Set config_file to the zoo.cfg of the ZooKeeper server "
                            "on this host, or hosts to query members over the network "
                            "without one." % exc, changed=False)
    me = None
    if cfg is not None:
        try:
            me = member_mod.local_id(cfg, p["server_id"])
        except zoo_cfg.ZooCfgError as exc:
            raise InfoError("%s; set server_id" % exc, changed=False)
        if me is None:
            warnings.append("no server id: %s/myid does not exist and server_id is not set; "
                            "no local member is reported" % cfg.data_dir)
        elif cfg.servers and me not in cfg.servers:
            warnings.append("server id %s is not among the servers of %s" % (me, cfg.path))
    return cfg, me


def gather(p, warnings):
    """The report for the module's options ``p``."""
    cfg, me = local_member(p, warnings)
    try:
        ctx = zk_client.tls_context(p)
    except Exception as exc:
        raise InfoError("the TLS settings are unusable: %s" % exc, changed=False)

    hosts = zk_client.split_hosts(p["hosts"]) if p["hosts"] else None
    if cfg is not None and not hosts and not member_mod.config_targets(cfg, me, p["tls"]):
        raise InfoError("%s gives no client port to query (%s); set hosts"
                        % (cfg.path, "no secureClientPort while tls is true" if p["tls"]
                           else "no clientPort and no client port in the server lines"),
                        changed=False)
    res = member_mod.report(cfg=cfg, me=me, hosts=hosts, ssl_context=ctx,
                            timeout=p["connect_timeout"], secure=p["tls"],
                            extra_triggers=p["restart_triggers"], local=me is not None)

    members = res["members"]
    if hosts:
        check_answers(hosts, members, res)
    for st in members:
        if st["mode"] in ("down", "not_zookeeper", "not_serving") or st["error"]:
            warnings.append("member %s (%s): %s" % (st["id"] if st["id"] is not None else "?",
                                                    st["address"], st["error"]))

    if p["client_check"]:
        failures = run_client_checks(p, members)
        if res["member"] is not None:
            for st in members:
                if st.get("client_check") and st["id"] == res["member"]["id"]:
                    res["member"]["client_check"] = st["client_check"]
        if failures:
            raise InfoError("client check failed: %s" % "; ".join(failures),
                            changed=False, **res)
    return res


def check_answers(hosts, members, res):
    """Raise when an address in ``hosts`` is not ZooKeeper, or when none answered."""
    bad = [st for st in members if st["mode"] == "not_zookeeper"]
    if bad:
        raise InfoError("not ZooKeeper: %s. Check the ports in hosts (the client "
                        "port is usually 2181)." % "; ".join(st["error"] for st in bad),
                        changed=False, **res)
    if not any(st["reachable"] for st in members):
        raise InfoError("no ZooKeeper answered at %s: %s. Check the addresses "
                        "and ports in hosts, and that the servers run."
                        % (", ".join(hosts), "; ".join(st["error"] for st in members)),
                        changed=False, **res)
