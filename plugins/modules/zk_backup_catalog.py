#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_backup_catalog
short_description: List, verify and prune the ZooKeeper backups stored on a backup host
version_added: 0.1.0
description:
  - Runs on any host that reaches the backup host over SSH (a member, the controller, a
    bastion) and looks at what M(zkops.zookeeper.zk_backup) stored under
    C(<backup_root>/<ensemble>/<backup id>/).
  - Lists every complete backup with its kind, member, creation time and zxid range, and with
    O(verify=true) whether it still verifies, that is whether the SHA-256 of every file,
    computed on the backup host, still matches the one recorded when it was stored.
  - Lists the debris of interrupted backups (hidden C(.<backup id>.partial-<hex>) and
    C(.<backup id>.deleting-<hex>) directories, and directories named like a backup id that
    lack C(SHA256SUMS) or C(manifest.json)). They never count as backups.
  - Any other directory in an ensemble's directory is not the collection's; it is listed in
    RV(unknown) and never deleted.
  - With O(prune=true) deletes full backups beyond the retention (O(keep_last), O(keep_days))
    and the shipped log chunks that no kept full backup needs for a point-in-time restore,
    and debris older than O(debris_max_age). Never deletes the newest full backup that
    verifies, nor a log chunk holding a transaction after the oldest kept full backup, nor
    anything listed in RV(unknown).
    A backup is first hidden by an atomic rename, then removed.
  - With O(state=check), checks the health of one ensemble's backups on the host instead and
    returns one line per problem in RV(health). Problems are the newest full backup that verifies (its
    sums, re-checked on the host, and with O(encryption_key) or O(verify_keys) its
    authenticity, as a restore judges it) being older than O(max_full_age_hours); the newest backup
    failing its sums; log shipping lagging O(live_zxid) by more than
    O(max_ship_lag_transactions) transactions or O(max_ship_lag_seconds) seconds; the backup
    root's file system fuller than O(max_disk_used_percent); the newest restore report older
    than O(max_restore_age_hours) or not a success. A host that cannot be reached is a problem
    of severity C(unknown), not a failure of the module. It changes nothing on the host (it
    runs in check mode too) and can write the facts as a Prometheus textfile-collector file,
    O(metrics_file).
author:
  - zkops maintainers (@zkops)
extends_documentation_fragment:
  - zkops.zookeeper.backup_store
  - zkops.zookeeper.ssh
attributes:
  check_mode:
    support: full
    description: Lists and verifies; with O(prune=true) reports what it would delete and deletes nothing.
  diff_mode:
    support: none
    description: Nothing is shown as a diff.
options:
  state:
    description:
      - V(catalog) lists, verifies and prunes; V(check) checks the health of one ensemble's backups
        (O(ensemble) required) and never prunes.
    type: str
    choices: [catalog, check]
    default: catalog
  backup_host:
    description: The backup host, as C(host), C(host:port) or C(user@host:port).
    type: str
    required: true
  backup_host_name:
    description:
      - With O(state=check), the backup host's name in the problems and the metrics' C(backup_host)
        label (for instance its inventory name). O(backup_host) when not set.
    type: str
  live_zxid:
    description:
      - With O(state=check), the highest zxid of the live ensemble (C(0x...) or a number, as
        M(zkops.zookeeper.zk_info) returns it), to which the log shipping is compared.
      - When not set, the log-shipping lag is reported as a check that could not be made.
    type: str
  max_full_age_hours:
    description: With O(state=check), the age in hours the newest verified full backup may reach. Not checked when not set.
    type: float
  max_ship_lag_seconds:
    description:
      - With O(state=check), how many seconds transactions may wait to be shipped (the time since the shipping
        state last moved, while the live ensemble has transactions after it). Not checked when not set.
    type: float
  max_ship_lag_transactions:
    description: With O(state=check), how many transactions the shipped logs may lag O(live_zxid) by. Not checked when not set.
    type: int
  max_disk_used_percent:
    description: With O(state=check), how full (percent used) the backup root's file system may be. Not checked when not set.
    type: float
  max_restore_age_hours:
    description:
      - With O(state=check), the age in hours the newest restore report may reach; the newest one must also
        say the restore succeeded. Not checked when not set.
    type: float
  metrics_file:
    description:
      - With O(state=check), write the facts and problems as Prometheus metrics to this file, on the host the
        module runs on, for node_exporter's textfile collector (its name must end in C(.prom); its directory
        must exist). Written atomically (a temporary file in the same directory, fsync, rename). Not in check mode.
    type: path
  ensemble:
    description:
      - Only this ensemble. All ensembles under O(backup_root) when not set.
      - A plain name (letters, digits, V(_), V(.) and V(-), starting with a letter or a digit);
        anything else, V(.) and V(..) included, is refused before the backup host is reached.
    type: str
  backup_id:
    description:
      - Only this backup (for instance to verify the one just taken).
      - A backup id (C(<YYYYmmddTHHMMSSZ>-<kind>-<hex>)), or any plain name under the same rule
        as O(ensemble); anything else is refused.
    type: str
  verify:
    description: Have the backup host check every backup against its C(SHA256SUMS).
    type: bool
    default: true
  prune:
    description: Delete what the retention does not keep (needs O(keep_last) or O(keep_days)).
    type: bool
    default: false
  keep_last:
    description: Keep the newest this many full backups that verify.
    type: int
  keep_days:
    description:
      - Keep every full backup younger than this many days, and the newest one before that
        window (a point-in-time restore to the start of the window needs it).
    type: float
  encryption_key:
    description:
      - The symmetric key the backups were written with (base64 or hex), to check the MAC of
        each backup's manifest (RV(backups), C(authenticated)). Never logged or returned.
    type: str
  verify_keys:
    description:
      - Ed25519 verify keys (PEM, C(openssl pkey -pubout) of the signing key of
        M(zkops.zookeeper.zk_backup)), to check the signature of each backup's manifest.
      - Authentication is reported, not acted on; pruning keeps and deletes by retention alone.
    type: list
    elements: str
    default: []
  debris_max_age:
    description: With O(prune=true), remove debris of interrupted backups older than this many hours.
    type: float
    default: 24
notes:
  - Kept full backups are the union of what O(keep_last) and O(keep_days) keep.
  - A full backup that fails verification does not count toward O(keep_last); it is deleted only
    when it is older than the oldest full backup kept, and newer ones are left for inspection.
seealso:
  - module: zkops.zookeeper.zk_backup
  - name: Monitoring the backups (health check, metrics, alert rules)
    description: docs/monitoring.md in the collection
    link: https://github.com/zkops/zkops.zookeeper/blob/main/docs/monitoring.md
"""

EXAMPLES = r"""
- name: List and verify the backups of one ensemble
  zkops.zookeeper.zk_backup_catalog:
    backup_host: backup1.example.com
    ensemble: prod-zk
  register: catalog

- name: Keep the last 7 full backups and what they need; show what would go first
  zkops.zookeeper.zk_backup_catalog:
    backup_host: backup1.example.com
    ensemble: prod-zk
    prune: true
    keep_last: 7
  check_mode: true

- name: Keep two weeks of point-in-time restores, from the controller
  zkops.zookeeper.zk_backup_catalog:
    backup_host: backup1.example.com
    prune: true
    keep_days: 14
    ssh_private_key: "{{ vault_zk_backup_ssh_key }}"
  delegate_to: localhost
  run_once: true

- name: Check the health of one ensemble's backups and write its metrics
  zkops.zookeeper.zk_backup_catalog:
    state: check
    backup_host: backup1.example.com
    ensemble: prod-zk
    live_zxid: "{{ info.ensemble.highest.zxid }}"
    max_full_age_hours: 26
    max_ship_lag_seconds: 900
    max_disk_used_percent: 85
    max_restore_age_hours: 744
    metrics_file: /var/lib/node_exporter/textfile/zookeeper_backup_prod-zk_backup1.prom
  register: health
"""

RETURN = r"""
backups:
  description: >-
    The complete backups found (before any pruning), oldest first: C(id), C(ensemble), C(path), C(kind), C(mode),
    C(created), C(member), C(zxid) (C(snapshot), C(base), C(first), C(last)), C(time_range),
    C(archive) (C(file), C(bytes), C(sha256), C(compression), C(encryption)), C(raw_bytes),
    C(files), C(digest), C(verified) (null when not checked), C(problems) and C(report) (the path of
    the report of the run that took it, see M(zkops.zookeeper.zk_report); null when there is none).
    C(authenticated) is null without O(encryption_key) or O(verify_keys), else whether a MAC or
    signature of one of them verifies (C(authentication) says why, C(rejected) why a restore
    holding these keys refuses it).
  returned: always
  type: list
  elements: dict
restores:
  description: >-
    The reports of restores stored on the host (M(zkops.zookeeper.zk_report)), oldest first: C(id),
    C(ensemble), C(path), C(written), C(mode), C(result), C(backups), C(target_zxid), C(zxid), C(verified)
    (whether the restored tree's digest matched the one expected) and C(outage_s). A restore drill
    shows up here.
  returned: always
  type: list
  elements: dict
exports:
  description: >-
    The tree exports among RV(backups) (stored by M(zkops.zookeeper.zk_tree_export), kind C(tree)),
    oldest first, in brief: C(id) (what M(zkops.zookeeper.zk_tree_import) takes as
    O(zkops.zookeeper.zk_tree_import#module:export_id)), C(ensemble), C(created), C(root), C(znodes),
    C(encrypted), C(authenticated) and C(verified).
  returned: always
  type: list
  elements: dict
unauthenticated:
  description: The ids of the backups the keys given do not authenticate (empty without keys).
  returned: always
  type: list
  elements: str
unverified:
  description: The ids of the backups that failed verification.
  returned: always
  type: list
  elements: str
debris:
  description: >-
    Leftovers of interrupted backups or deletions (C(ensemble), C(path), C(kind) V(partial),
    V(deleting) or V(incomplete), C(mtime)).
  returned: always
  type: list
  elements: dict
unknown:
  description: >-
    Directories in an ensemble's directory that are neither backups nor debris this collection
    recognises by name (C(ensemble), C(path), C(mtime), C(reason)): never deleted.
  returned: always
  type: list
  elements: dict
ensembles:
  description: The ensembles looked at.
  returned: always
  type: list
  elements: str
log_shipping:
  description: Per ensemble, the last zxid stored on the host (C(last_zxid), C(backup_id), C(updated)).
  returned: always
  type: dict
pruned:
  description: >-
    What was deleted (or, in check mode, would be): C(id) or C(path), C(ensemble), C(kind)
    and the C(reason).
  returned: always
  type: list
  elements: dict
kept:
  description: With O(prune=true), every backup kept and why.
  returned: always
  type: list
  elements: dict
health:
  description:
    - With O(state=check), the outcome. C(status) V(ok), V(critical) (the data has a problem) or V(unknown)
      (only checks that could not be made); C(problems), each a dict of C(check) (V(reachable), V(sums),
      V(full_age), V(ship_lag), V(disk) or V(restore)), C(severity) (V(critical) or V(unknown)) and C(message);
      C(lines), one line per problem; C(facts) (C(reachable), C(error), C(backups) counted by kind, C(newest),
      C(full) (the newest full backup that verifies), C(fulls_failing), C(fulls_unchecked) (the older full
      backups not re-checked when the newest three failed), C(ship), C(disk), C(restore));
      C(ship_lag) (C(transactions), C(seconds)); C(metrics_file) (the file written, null when none).
  returned: when O(state=check)
  type: dict
  sample:
    status: critical
    lines:
      - "CRITICAL prod-zk on backup1 [full_age]: the newest verified full backup 20261205T010000Z-full-1a2b3c4d is 30.2 hours
        old, more than 26.0 hours: check that the backups run (zkops.zookeeper.backup) and succeed"
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import health as health_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import fsio
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as run_report
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def argument_spec():
    spec = catalog.store_argument_spec()
    spec.update(
        state=dict(type="str", default="catalog", choices=["catalog", "check"]),
        backup_host=dict(type="str", required=True),
        backup_host_name=dict(type="str"),
        live_zxid=dict(type="str"),
        max_full_age_hours=dict(type="float"),
        max_ship_lag_seconds=dict(type="float"),
        max_ship_lag_transactions=dict(type="int"),
        max_disk_used_percent=dict(type="float"),
        max_restore_age_hours=dict(type="float"),
        metrics_file=dict(type="path"),
        ensemble=dict(type="str"),
        backup_id=dict(type="str"),
        verify=dict(type="bool", default=True),
        prune=dict(type="bool", default=False),
        keep_last=dict(type="int"),
        keep_days=dict(type="float"),
        debris_max_age=dict(type="float", default=24.0),
        encryption_key=dict(type="str", no_log=True),
        verify_keys=dict(type="list", elements="str", default=[], no_log=False),
    )
    return spec


def _brief(b, reason):
    return {"id": b.get("id"), "ensemble": b.get("ensemble"), "kind": b.get("kind"),
            "path": b.get("path"), "created": b.get("created"),
            "last_zxid": (b.get("zxid") or {}).get("last"), "reason": reason}


def _restore_brief(ensemble, path, doc):
    rep = (doc or {}).get("report") or {}
    ver = rep.get("verification") or {}
    return {"id": (doc or {}).get("id"), "ensemble": ensemble, "path": path,
            "written": (doc or {}).get("written"), "mode": rep.get("mode"), "result": rep.get("result"),
            "backups": rep.get("backups"), "target_zxid": rep.get("target_zxid"), "zxid": rep.get("zxid"),
            "verified": ver.get("match"), "outage_s": rep.get("outage_s"),
            "readable": doc is not None}


def inspect(module, session, keys=None):
    p = module.params
    root = p["backup_root"]
    ensembles = [p["ensemble"]] if p["ensemble"] else catalog.ensembles(session, root)
    out = {"backups": [], "debris": [], "ensembles": ensembles, "log_shipping": {}, "by_ensemble": {},
           "restores": [], "unknown": []}
    for name in ensembles:
        backups, debris = catalog.list_backups(session, root, name, keys=keys, unknown=out["unknown"])
        if p["backup_id"]:
            backups = [b for b in backups if b["id"] == p["backup_id"]]
        if p["verify"]:
            for b in backups:
                if b.get("verified") is None:
                    catalog.verify(session, b)
        state = ship_state.read(session, "%s/%s" % (root.rstrip("/"), name))
        if state is not None:
            state = dict(state, last_zxid=zxid_mod.to_hex(state.get("last_zxid")))
        out["log_shipping"][name] = state
        out["restores"].extend(_restore_brief(name, path, run_report.read(session, path))
                               for path, _size, _mtime in catalog.restore_reports(session, root, name))
        out["backups"].extend(backups)
        out["debris"].extend(debris)
        out["by_ensemble"][name] = (backups, debris)
    return out


def exports(backups):
    """The tree exports among the catalog entries ``backups``, in brief, in their order."""
    out = []
    for b in backups:
        if b.get("kind") != "tree":
            continue
        ident = b.get("digest") if isinstance(b.get("digest"), dict) else {}
        out.append({"id": b["id"], "ensemble": b["ensemble"], "created": b.get("created"),
                    "root": ident.get("root"), "znodes": ident.get("znode_count"),
                    "encrypted": bool((b.get("archive") or {}).get("encryption")),
                    "authenticated": b.get("authenticated"), "verified": b.get("verified")})
    return out


def prune(module, session, found):
    p = module.params
    pruned, kept = [], []
    for name, (backups, debris) in sorted(found["by_ensemble"].items()):
        keep, delete = catalog.plan_retention(backups, p["keep_last"], p["keep_days"])
        kept.extend(_brief(b, why) for b, why in keep)
        targets = [(b["path"], _brief(b, why)) for b, why in delete]
        targets += [(d["path"], {"path": d["path"], "ensemble": name, "kind": d["kind"],
                                 "reason": "debris older than %s hours" % p["debris_max_age"]})
                    for d in catalog.plan_debris(debris, p["debris_max_age"])]
        for path, brief in targets:
            if not module.check_mode:
                catalog.delete(session, path)
            pruned.append(brief)
    return pruned, kept


def check(module, keys):
    """state=check: the health of one ensemble on one backup host; never fails for what it finds."""
    p = module.params
    name = p["backup_host_name"] or p["backup_host"]
    live = None
    if p["live_zxid"] not in (None, ""):
        try:
            live = zxid_mod.parse(p["live_zxid"])
        except ValueError:
            module.fail_json(msg="live_zxid %r is not a zxid (0x... or a number, as zk_info returns it); nothing "
                                 "was looked at" % p["live_zxid"], changed=False)
    for opt in health_mod.THRESHOLDS:
        if p[opt] is not None and p[opt] < 0:
            module.fail_json(msg="%s must not be negative (leave it unset to skip its check); nothing was looked at"
                             % opt, changed=False)
    metrics_file = p["metrics_file"]
    if metrics_file is not None:
        if not os.path.basename(metrics_file).endswith(".prom"):
            module.fail_json(msg="metrics_file %s must end in .prom (the textfile collector reads only those); "
                                 "nothing was looked at" % metrics_file, changed=False)
        if not os.path.isdir(os.path.dirname(os.path.abspath(metrics_file))):
            module.fail_json(msg="the directory of metrics_file %s does not exist: create it (node_exporter's "
                                 "--collector.textfile.directory); nothing was looked at" % metrics_file, changed=False)
    warnings = []
    session = None
    try:
        session = ssh_transport.connect(p, p["backup_host"], warnings)
        facts = health_mod.gather(session, p["backup_root"], p["ensemble"], keys)
    except (ssh_transport.SshError, names.NameRefused) as exc:
        facts = health_mod.unreachable(exc)
    except (IOError, OSError, socket.timeout, ValueError) as exc:
        # A listing or a read that fails part way: the host could not be checked, which is a
        # problem of its own (unknown), not a module failure that leaves the old metrics behind.
        facts = health_mod.unreachable("%s: reading %s failed: %s" % (p["backup_host"], p["backup_root"], exc))
    finally:
        if session is not None:
            session.close()
    for w in warnings:
        module.warn(w)
    now = time.time()
    problems = health_mod.evaluate(facts, p, live, now)
    txns, secs = health_mod.ship_lag(facts, live, now)
    written = None
    if metrics_file is not None and not module.check_mode:
        text = health_mod.metrics(p["ensemble"], name, facts, problems, live, now)
        try:
            fsio.write_atomic(metrics_file, text.encode("utf-8"))
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot write the metrics to %s: %s" % (metrics_file, exc), changed=False)
        written = metrics_file
    backups = facts.pop("catalog")
    result = {"status": health_mod.status(problems), "problems": problems,
              "lines": health_mod.lines(p["ensemble"], name, problems), "facts": facts,
              "ship_lag": {"transactions": txns, "seconds": secs}, "metrics_file": written}
    if facts.get("ship"):
        facts["ship"] = dict(facts["ship"], last_zxid=zxid_mod.to_hex(facts["ship"].get("last_zxid")))
    module.exit_json(changed=False, health=result, backups=backups,
                     unverified=[b["id"] for b in backups if b.get("verified") is False],
                     unauthenticated=[b["id"] for b in backups if b.get("authenticated") is False],
                     debris=[], unknown=[], ensembles=[p["ensemble"]],
                     log_shipping={p["ensemble"]: facts.get("ship")}, pruned=[], kept=[], restores=[])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=ssh_transport.MUTUALLY_EXCLUSIVE,
                           required_if=[("prune", True, ("keep_last", "keep_days"), True)])
    # The file Ansible ran this module from holds its arguments (secrets) in clear.
    payload.remove(module)
    ssh_transport.require_paramiko(module)
    p = module.params
    if p["keep_last"] is not None and p["keep_last"] < 1:
        module.fail_json(msg="keep_last must be at least 1 (the newest full backup is always kept)")
    if p["keep_days"] is not None and p["keep_days"] < 0:
        module.fail_json(msg="keep_days must not be negative")
    if p["state"] == "check" and (p["prune"] or p["backup_id"] or not p["ensemble"]):
        module.fail_json(msg="state=check looks at one ensemble (set ensemble) and all of its backups: do not combine "
                             "it with prune or backup_id; nothing was looked at", changed=False)
    if p["prune"] and p["backup_id"]:
        module.fail_json(msg="prune looks at every backup of an ensemble: do not combine it with backup_id")
    try:
        if p["ensemble"] is not None:
            names.ensemble(p["ensemble"])
        if p["backup_id"] is not None:
            names.backup_id(p["backup_id"])
    except names.NameRefused as exc:
        module.fail_json(msg="%s; nothing was looked at" % exc, changed=False)
    keys = authenticity.module_keys(module)
    if p["state"] == "check":
        check(module, keys)
    warnings = []
    session = None
    try:
        session = ssh_transport.connect(p, p["backup_host"], warnings)
        found = inspect(module, session, keys)
        pruned, kept = prune(module, session, found) if p["prune"] else ([], [])
    except ssh_transport.SshError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except names.NameRefused as exc:
        module.fail_json(msg="%s: %s" % (p["backup_host"], exc), changed=False)
    finally:
        if session is not None:
            session.close()
    for w in warnings:
        module.warn(w)
    for u in found["unknown"]:
        module.warn("%s is not a backup nor debris of this collection: left alone" % u["path"])
    unverified = [b["id"] for b in found["backups"] if b.get("verified") is False]
    for b in found["backups"]:
        if b.get("verified") is False:
            module.warn("backup %s/%s fails verification: %s" % (b["ensemble"], b["id"], "; ".join(b.get("problems") or [])))
    unauthenticated = [b["id"] for b in found["backups"] if b.get("authenticated") is False]
    for b in found["backups"]:
        if b.get("authenticated") is False:
            module.warn("backup %s/%s is not authenticated: %s" % (b["ensemble"], b["id"], b.get("authentication")))
    module.exit_json(changed=bool(pruned), backups=found["backups"], unverified=unverified,
                     unauthenticated=unauthenticated,
                     debris=found["debris"], unknown=found["unknown"], ensembles=found["ensembles"], log_shipping=found["log_shipping"],
                     pruned=pruned, kept=kept, restores=found["restores"], exports=exports(found["backups"]))


if __name__ == "__main__":
    main()
