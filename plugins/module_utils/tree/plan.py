# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan an import: what to create, update and delete to bring a live subtree to an export.

Pure logic (no ZooKeeper, no kazoo): the input is the export's znodes (tree_format
Records) and what a walk of the live subtree found (LiveInfo); the output is a Plan that
tree_apply executes and that check mode reports.

Modes:
  merge         create what is missing, update data and ACLs that differ.
  replace       as merge, and delete live znodes the export does not have, so that the
                subtree becomes exactly the export.
  missing_only  create what is missing; touch nothing that exists.

Rules that keep ZooKeeper's semantics:
  * parents are created before their children, deletes go children first;
  * a znode whose final ACL would stop this session from creating its children (or from
    moving its sequence counter, or from writing data that has to follow the create) is
    created with a temporary ACL granting this session only, and gets its final ACL when
    everything else is done;
  * for every parent of restored sequential znodes the plan records the sequence counter
    it must reach: one past the highest restored suffix (the counter is derived from
    cversion and numChildren, see tree_walk.sequence_counter);
  * znodes of live sessions (ephemeral) are never touched: an export znode whose path is
    held by one is a conflict, and a znode that would be deleted but holds one stays.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tree_format

MODES = ("merge", "replace", "missing_only")

PERM_READ = 1
PERM_WRITE = 2
PERM_CREATE = 4
PERM_DELETE = 8
PERM_ADMIN = 16
PERM_ALL = 31

WORLD_ANYONE = (PERM_ALL, "world", "anyone")


class PlanError(Exception):
    """The import cannot be done as asked; nothing was changed."""


class LiveInfo(object):
    """What the import needs to know of one live znode.  ``counter`` is its sequence
    counter (tree_walk.sequence_counter), not the cversion clients see."""
    __slots__ = ("data_hash", "acl", "acl_bytes", "ephemeral", "version", "counter")

    def __init__(self, data_hash, acl, acl_bytes, ephemeral, version, counter):
        self.data_hash = data_hash
        self.acl = acl
        self.acl_bytes = acl_bytes
        self.ephemeral = ephemeral
        self.version = version
        self.counter = counter


def data_hash(data):
    return hashlib.sha256(data or b"").digest()


def digest_identity(credential):
    """The ACL id of a digest credential 'user:password' (user:base64(sha1))."""
    if not isinstance(credential, bytes):
        credential = credential.encode("utf-8")
    user = credential.split(b":", 1)[0]
    return (user + b":" + base64.b64encode(hashlib.sha1(credential).digest())).decode("utf-8")


def session_identities(auth):
    """[(scheme, id)] a session gets from ``auth`` entries (digest ones are computable)."""
    out = []
    for entry in auth or ():
        scheme = entry.get("scheme") or "digest"
        if scheme == "digest":
            out.append(("digest", digest_identity(entry["credential"])))
    return out


def grants(acl, perm, identities):
    """True when ``acl`` certainly grants ``perm`` to a session with ``identities``.

    Only world and digest entries can be judged; others (ip, x509, sasl, a super user)
    count as not granting, which only makes the import take the safe, slower path.
    """
    ids = set(identities)
    for perms, scheme, ident in acl:
        if not perms & perm:
            continue
        if scheme == "world" and ident == "anyone":
            return True
        if (scheme, ident) in ids:
            return True
    return False


def parent_of(path):
    if path == "/":
        return None
    head = path.rsplit("/", 1)[0]
    return head or "/"


def _sort_key(path):
    return path.encode("utf-8")


class CreateStep(object):
    """Create one znode: ``acl`` is what it is created with; when ``final_acl`` is set the
    ACL is changed to it at the end; when ``data_after`` the data is written by a
    separate setData (the create alone would exceed the request size limit)."""
    __slots__ = ("record", "acl", "final_acl", "data_after")

    def __init__(self, record, acl, final_acl=None, data_after=False):
        self.record = record
        self.acl = acl
        self.final_acl = final_acl
        self.data_after = data_after

    @property
    def path(self):
        return self.record.path


class Plan(object):
    def __init__(self, mode, root):
        self.mode = mode
        self.root = root
        self.creates = []          # CreateStep, parents first
        self.data_updates = []     # (path, data, expected version)
        self.acl_updates = []      # (path, acl)
        self.deletes = []          # paths, children first
        self.sequence_targets = {}  # parent -> sequence counter it must reach
        self.sequence_bumps = {}   # parent -> estimated increments needed
        self.conflicts = []        # (path, reason)
        self.kept = []             # paths replace would delete but live ephemerals hold
        self.unchanged = 0
        self.ephemeral_left = 0

    @property
    def deferred_acls(self):
        return [(c.path, c.final_acl) for c in self.creates if c.final_acl is not None]

    @property
    def changes(self):
        return (len(self.creates) + len(self.data_updates) + len(self.acl_updates)
                + len(self.deletes) + len(self.sequence_bumps))

    @property
    def empty(self):
        return self.changes == 0

    def counts(self):
        updated = set(u[0] for u in self.data_updates) | set(a[0] for a in self.acl_updates)
        return dict(create=len(self.creates), update=len(updated),
                    update_data=len(self.data_updates), update_acl=len(self.acl_updates),
                    delete=len(self.deletes), unchanged=self.unchanged,
                    sequence_parents=len(self.sequence_bumps),
                    sequence_increments=sum(self.sequence_bumps.values()),
                    conflicts=len(self.conflicts), kept_for_ephemeral=len(self.kept),
                    ephemeral_left=self.ephemeral_left,
                    deferred_acl=len(self.deferred_acls))

    def sample(self, limit=20):
        """A bounded sample of the paths of every kind of change."""
        updated = sorted(set(u[0] for u in self.data_updates)
                         | set(a[0] for a in self.acl_updates), key=_sort_key)
        return dict(create=[c.path for c in self.creates[:limit]],
                    update=updated[:limit],
                    delete=self.deletes[:limit],
                    sequence=sorted(self.sequence_bumps, key=_sort_key)[:limit],
                    conflicts=["%s: %s" % c for c in self.conflicts[:limit]])

    def diff_text(self, limit=20):
        """A human diff for Ansible's --diff: counts, then a bounded sample of paths."""
        c = self.counts()
        s = self.sample(limit)
        lines = ["# %s of %s: %d to create, %d to update, %d to delete, %d sequence "
                 "counters to move, %d unchanged" % (self.mode, self.root, c["create"],
                                                     c["update"], c["delete"],
                                                     c["sequence_parents"], c["unchanged"])]
        for sign, key, total in (("+", "create", c["create"]), ("~", "update", c["update"]),
                                 ("-", "delete", c["delete"]),
                                 ("^", "sequence", c["sequence_parents"]),
                                 ("!", "conflicts", c["conflicts"])):
            for p in s[key]:
                lines.append("%s %s" % (sign, p))
            if total > len(s[key]):
                lines.append("%s ... and %d more" % (sign, total - len(s[key])))
        return "\n".join(lines) + "\n"


def request_size(record, acl):
    """Bytes of a create request for ``record`` (as sent inside a multi)."""
    size = 9 + 4 + len(record.path.encode("utf-8")) + 4 + len(record.data or b"") + 4 + 4
    for perms, scheme, ident in acl:
        size += 12 + len(scheme.encode("utf-8")) + len(ident.encode("utf-8"))
    if record.kind == tree_digest.TTL:
        size += 8
    return size


def make_plan(records, live, mode, root, identities=(), max_request=1048575 - 1024,
              temp_acl=None):
    """Compute the Plan.

    ``records``: {path: Record} of the export, already limited to the subtree and the
    exclusions; ``live``: {path: LiveInfo} of the live subtree (same limits);
    ``identities``: the session's (scheme, id) list (session_identities()).
    """
    if mode not in MODES:
        raise PlanError("unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
    plan = Plan(mode, root)
    identities = list(identities)
    if temp_acl is None:
        temp_acl = temporary_acl(identities)
    _plan_sequence_targets(plan, records)
    to_create = _plan_updates(plan, records, live, mode)
    creates_under = {}
    for rec in to_create:
        parent = parent_of(rec.path)
        creates_under[parent] = creates_under.get(parent, 0) + 1
    _plan_sequence_bumps(plan, live, creates_under)
    _plan_creates(plan, to_create, creates_under, identities, temp_acl, max_request)
    _plan_deletes(plan, records, live, mode, root)
    return plan


def _plan_sequence_targets(plan, records):
    """Sequence counters every restored parent must reach."""
    for path, rec in records.items():
        if rec.flags & tree_format.SEQUENTIAL and path != "/":
            suffix = int(path[-10:])
            parent = parent_of(path)
            if plan.sequence_targets.get(parent, -1) < suffix + 1:
                plan.sequence_targets[parent] = suffix + 1


def _plan_updates(plan, records, live, mode):
    """Compare each record with the live znode: conflicts, data and ACL updates and
    unchanged znodes go into the plan; returns the records to create, parents first."""
    to_create = []
    for path in sorted(records, key=_sort_key):
        rec = records[path]
        have = live.get(path)
        if have is None:
            to_create.append(rec)
            continue
        if have.ephemeral:
            plan.conflicts.append((path, "held by an ephemeral znode of a live session"))
            continue
        if mode == "missing_only":
            plan.unchanged += 1
            continue
        changed = False
        if have.data_hash != data_hash(rec.data):
            plan.data_updates.append((path, rec.data, have.version))
            changed = True
        if have.acl_bytes != tree_digest.encode_acl(rec.acl):
            plan.acl_updates.append((path, rec.acl))
            changed = True
        if not changed:
            plan.unchanged += 1
    return to_create


def _plan_sequence_bumps(plan, live, creates_under):
    """The counter after the creates: each create of a child adds one."""
    for parent, target in plan.sequence_targets.items():
        have = live.get(parent)
        now = have.counter if have is not None else 0
        expected = now + creates_under.get(parent, 0)
        if expected < target:
            plan.sequence_bumps[parent] = target - expected


def _plan_creates(plan, to_create, creates_under, identities, temp_acl, max_request):
    """A CreateStep per record to create; a temporary ACL where the final one would lock
    the session out of what it still has to do under or to the znode."""
    for rec in to_create:
        needs = []
        if rec.path in creates_under:
            needs.append(PERM_CREATE)
        if rec.path in plan.sequence_bumps:
            needs += [PERM_CREATE, PERM_DELETE]
        data_after = request_size(rec, rec.acl) > max_request
        if data_after:
            needs.append(PERM_WRITE)
        if needs and not all(grants(rec.acl, p, identities) for p in needs):
            plan.creates.append(CreateStep(rec, temp_acl, final_acl=rec.acl,
                                           data_after=data_after))
        else:
            plan.creates.append(CreateStep(rec, rec.acl, data_after=data_after))


def _plan_deletes(plan, records, live, mode, root):
    """replace: the live znodes the export does not hold are deleted, children first,
    except those that hold ephemeral znodes (kept); every mode counts the ephemeral
    znodes left."""
    if mode == "replace":
        held = set()
        for path, have in live.items():
            if have.ephemeral and path not in records:
                plan.ephemeral_left += 1
                p = parent_of(path)
                while p is not None and p not in held:
                    held.add(p)
                    p = parent_of(p)
        doomed = [p for p, have in live.items()
                  if p not in records and not have.ephemeral and p != root]
        for path in sorted(doomed, key=_sort_key, reverse=True):
            if path in held:
                plan.kept.append(path)
            else:
                plan.deletes.append(path)
    else:
        plan.ephemeral_left = sum(1 for p, h in live.items() if h.ephemeral and p not in records)


def temporary_acl(identities):
    """The ACL a znode gets until its final ACL is set: this session only when it has a
    digest identity, otherwise open (the final ACL follows within the same import)."""
    for scheme, ident in identities:
        if scheme == "digest":
            return ((PERM_ALL, "digest", ident),)
    return (WORLD_ANYONE,)


def credential_mismatches(records, identities):
    """Digest users of ``identities`` whose hash differs from the one the export's ACLs
    hold for the same user: a wrong password.  Returns [(user, example path)]."""
    mine = dict((i.split(":", 1)[0], i) for s, i in identities if s == "digest")
    if not mine:
        return []
    found = {}
    for rec in records.values():
        for _perms, scheme, ident in rec.acl:
            if scheme != "digest":
                continue
            user = ident.split(":", 1)[0]
            if user in mine and mine[user] != ident and user not in found:
                found[user] = rec.path
    return sorted(found.items())
