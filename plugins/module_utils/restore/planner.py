# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zk_restore_plan job: a restore plan over the backups of every backup host that
answers, each backup taken from the first host whose copy verifies."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as restore_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def plan_over_hosts(p, target_zxid, target_time, keys, warnings):
    """Plan from the module's options ``p``: (result, unreachable, failure).  ``result`` is
    None when no host could be reached, ``failure`` the message of a FetchError (else
    None); the warnings are appended to ``warnings``.  Every session is closed."""
    allow = p["allow_unauthenticated"]
    unreachable = []
    sessions = {}

    def session_of(host):
        if host not in sessions:
            sessions[host] = None
            sessions[host] = ssh_transport.connect(p, host, warnings)
        if sessions[host] is None:
            raise ssh_transport.SshError(host, "could not be reached")
        return sessions[host]

    hosts = [(h, (lambda h=h: session_of(h))) for h in p["backup_hosts"]]
    root, ensemble = p["backup_root"], p["ensemble"]
    result = None
    failure = None
    try:
        listed, reports, unreachable = restore_fetch.list_hosts(hosts, root, ensemble, keys, allow)
        for u in unreachable:
            warnings.append("backup host %s did not answer (%s): the plan is made from the backups of the "
                            "other backup hosts, without those only it holds" % (u["host"], u["reason"]))
        if listed:
            plan, holders = restore_fetch.plan_union(listed, p["backup_hosts"], reports, ensemble, root,
                                                     p["backup_id"], target_zxid, target_time)
            answered = [h for h in hosts if h[0] in listed]
            if p["verify"]:
                sources, rejected = restore_fetch.choose_copies(plan, answered, root, ensemble, listed=listed,
                                                                keys=keys, allow_unauthenticated=allow)
                for r in rejected:
                    warnings.append("backup host %s: backup %s %s; it is taken from %s instead"
                                    % (r["host"], r["backup_id"], r["reason"], sources[r["backup_id"]]))
            else:
                sources = dict((bid, holders[bid][0]) for bid in plan["backup_ids"])
                rejected = []
                for entry in [plan["full"]] + plan["logs"]:
                    entry["host"] = sources[entry["id"]]
            result = dict(backup_host=sources[plan["full"]["id"]], plan=plan, sources=sources, rejected=rejected,
                          backup_hosts_listed=[h for h in p["backup_hosts"] if h in listed])
    except restore_fetch.FetchError as exc:
        failure = str(exc)
    finally:
        ssh_transport.close_all([s for s in sessions.values() if s is not None])
    for n in (result["plan"].get("not_authenticated") if result else []):
        warnings.append("backup %s is not chosen: %s" % (n["id"], n["reason"]))
    return result, unreachable, failure
