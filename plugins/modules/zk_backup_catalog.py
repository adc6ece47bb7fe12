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
  backup_host:
    description: The backup host, as C(host), C(host:port) or C(user@host:port).
    type: str
    required: true
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as run_report
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport


def argument_spec():
    spec = catalog.store_argument_spec()
    spec.update(
        backup_host=dict(type="str", required=True),
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
