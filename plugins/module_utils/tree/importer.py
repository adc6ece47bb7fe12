# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import an export file (tree_format) into a live ensemble.

Steps: read and verify the whole export (a damaged file changes nothing); walk the live
subtree (tree_walk); plan (tree_plan); check what can be checked before any write (a
digest credential that does not match the export's ACLs, a missing parent, sequence
counters that would have to move too far); apply (tree_apply); then walk again and plan
again: an import is verified when nothing is left to do, and in replace mode when the
live subtree has the export's digest.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import shutil
import struct
import tempfile
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as progress_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import apply as tree_apply
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import digest as tree_digest
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import fetch as tree_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import tree_file as tree_format
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import plan as tree_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tree_walk
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zk_pipeline
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import protocol as zk_protocol

_VERSION = struct.Struct("!i")


class TreeImportError(Exception):
    """The import failed; ``changed`` says whether anything was written before."""

    def __init__(self, msg, changed=False, details=None):
        super(TreeImportError, self).__init__(msg)
        self.changed = changed
        self.details = details or {}


def read_export(src, root, exclude, opener=None):
    """Read and verify the export; return (header, trailer, root, {path: Record},
    selection digest) for the znodes under ``root`` that are not excluded.  ``opener()``
    gives the export's stream when set (``src`` then only names it)."""
    try:
        f = opener() if opener is not None else open(src, "rb")
    except (IOError, OSError) as exc:
        raise TreeImportError("cannot read the export %s: %s" % (src, exc))
    with f:
        reader = tree_format.TreeReader(f, verify=True)
        header = reader.header
        export_root = header.get("root", "/")
        if not isinstance(export_root, str) or not export_root.startswith("/"):
            raise TreeImportError("the export %s is damaged: its header names no root path (%r); take the "
                                  "export again" % (src, export_root))
        root = root or export_root
        if not tree_digest.in_subtree(root, export_root):
            raise TreeImportError("root %s is not inside the export, which holds %s"
                                  % (root, export_root))
        records = {}
        skipped = []
        for rec in reader:
            if not tree_digest.in_subtree(rec.path, root) or \
                    tree_walk.excluded(rec.path, exclude):
                skipped.append(rec.path)
                continue
            records[rec.path] = rec
        if not skipped:
            return header, reader.trailer, root, records, reader.digest
        # Only part of the export is imported: digest that part.
        digest = tree_digest.TreeDigest(include_ephemeral=False, typed=reader.kinds_exact)
        for rec in records.values():
            digest.add(rec.path, rec.data, rec.acl, rec.kind, rec.ttl)
        return header, reader.trailer, root, records, digest.result()


def read_live(pool, root, exclude):
    """Walk the live subtree: ({path: LiveInfo}, digest result, walk stats)."""
    live = {}
    digest = tree_digest.TreeDigest(include_ephemeral=False, typed=False)
    add = digest.add
    infos = {}

    def on_node(n):
        owner = tree_walk.stat_ephemeral_owner(n.stat)
        kind = tree_digest.EPHEMERAL if owner else tree_digest.PERSISTENT
        acl_bytes = infos.setdefault(n.acl_bytes, n.acl_bytes)
        live[n.path] = tree_plan.LiveInfo(tree_plan.data_hash(n.data), n.acl, acl_bytes,
                                          bool(owner), _VERSION.unpack_from(n.stat, 32)[0],
                                          tree_walk.stat_sequence_counter(n.stat))
        add(n.path, n.data, n.acl, kind, acl_bytes=acl_bytes)

    walker = tree_walk.Walker(pool, root, exclude, allow_masked_acl=True,
                              missing_root_ok=True, chroot=getattr(pool, "chroot", ""))
    stats = walker.run(on_node)
    return live, digest.result(), stats


def run_import(params, src, mode="merge", root=None, exclude=None, check_mode=False,
               rate_limit=None, batch_bytes=512 * 1024, batch_ops=1000, connections=None,
               verify=True, max_sequence_bump=1000000, check_credentials=True,
               diff_limit=20, progress=None, opener=None):
    """Import ``src``; returns the result.  ``progress`` (a progress.Tracker) follows the
    stages and counts the operations applied; ``opener`` (see read_export()) reads an
    export that is not a plain local file."""
    t0 = time.time()
    progress = progress if progress is not None else progress_mod.Tracker(None, "tree import")
    progress.stage("read the export")
    exclude = tree_export.normalize_exclude(exclude)
    if root is not None:
        root = tree_export.normalize_root(root)
    try:
        header, trailer, root, records, selection = read_export(src, root, exclude, opener)
    except tree_format.FormatError as exc:
        raise TreeImportError("the export %s cannot be used: %s" % (src, exc))
    identities = tree_plan.session_identities(params.get("auth"))
    warnings = []
    if check_credentials:
        _check_credentials(records, identities)

    plan, before = _plan_against_live(params, connections, records, mode, root, exclude, identities,
                                      max_sequence_bump, progress)

    result = dict(mode=mode, root=root, src=src, counts=plan.counts(),
                  sample=plan.sample(diff_limit), diff=dict(prepared=plan.diff_text(diff_limit)),
                  export=dict(root=header.get("root"), created=header.get("created"),
                              count=trailer.get("count"), digest=trailer.get("digest"),
                              kinds_exact=bool(header.get("kinds_exact")),
                              source=(header.get("source") or {}).get("type")),
                  selection=dict(count=selection["count"], digest=selection["digest"],
                                 typed_digest=selection["typed_digest"]),
                  before=dict(count=before["count"], digest=before["digest"]),
                  changed=not plan.empty, warnings=warnings)
    warnings.extend(plan_warnings(plan))
    if not header.get("kinds_exact"):
        result["kinds_note"] = ("the export comes from a running ensemble, which cannot tell "
                                "container and TTL znodes from persistent ones: they are "
                                "imported as persistent")
    if check_mode or plan.empty:
        result["after"] = result["before"] if plan.empty else None
        result["verified"] = plan.empty
        result["seconds"] = round(time.time() - t0, 3)
        return result

    applied = _apply(params, plan, batch_bytes, batch_ops, rate_limit, max_sequence_bump, progress)
    result["applied"] = applied
    result["import_seconds"] = applied.get("seconds")

    if verify:
        progress.stage("read back and verify")
        _verify(params, connections, records, mode, root, exclude, identities, selection,
                plan, result)
    result["seconds"] = round(time.time() - t0, 3)
    return result


def import_stored(params, export_id, warnings=None, **kwargs):
    """Import the export ``export_id`` (or ``latest``) stored on the backup hosts of
    ``params`` (tree/fetch.py); ``kwargs`` are run_import()'s.  The result also has
    ``fetched``: the host, export id and path the copy came from, whether it was encrypted
    and authenticated, and the hosts passed over (``passed``) with their reasons.

    The copy is downloaded into a private temporary directory (removed at the end) and
    decrypted only in memory, after its manifest was authenticated and its bytes checked."""
    workdir = tempfile.mkdtemp(prefix="zkops-tree-import-")
    try:
        try:
            fetched = tree_fetch.fetch(params, export_id, workdir, warnings)
            keys = tree_fetch.read_keys(params)
        except tree_fetch.FetchError as exc:
            raise TreeImportError(str(exc), details=dict(passed=exc.passed))
        label = "%s:%s/%s" % (fetched["host"], fetched["path"],
                              fetched["manifest"]["archive"]["file"])
        result = run_import(params, label, opener=lambda: tree_fetch.open_export(
            fetched, keys, params["ensemble"]), **kwargs)
        result["fetched"] = dict((k, fetched[k]) for k in (
            "host", "export_id", "path", "encrypted", "authenticated", "passed"))
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check_credentials(records, identities):
    """Raise when a digest credential of the session does not match the digest the
    export's ACLs hold for that user."""
    bad = tree_plan.credential_mismatches(records, identities)
    if bad:
        raise TreeImportError(
            "the digest credential for %s does not match the digest the export's ACLs "
            "hold for that user (e.g. on %s): a wrong password? Nothing was changed. "
            "Fix 'auth', or set check_credentials=false to import ACLs for another "
            "password" % (", ".join("user '%s'" % u for u, _path in bad), bad[0][1]))


def _plan_against_live(params, connections, records, mode, root, exclude, identities,
                       max_sequence_bump, progress):
    """Read the live subtree and plan the import against it: (plan, the live tree's
    count and digest before).  Nothing is changed."""
    try:
        pool = zk_pipeline.open_pool(params, connections)
    except zk_pipeline.PipelineError as exc:
        raise TreeImportError(str(exc))
    try:
        progress.stage("read the live tree")
        try:
            live, before, walk_stats = read_live(pool, root, exclude)
        except tree_walk.WalkError as exc:
            raise TreeImportError("reading the live subtree failed, nothing was changed: %s"
                                  % exc)
        if walk_stats.root_missing and root != "/":
            _check_parent_readable(pool, root)
        progress.stage("plan")
        plan = tree_plan.make_plan(records, live, mode, root, identities)
        check_sequence_bumps(plan, max_sequence_bump)
    finally:
        pool.close()
    return plan, before


def _check_parent_readable(pool, root):
    """Raise when the parent of a missing import root cannot be read."""
    parent = tree_plan.parent_of(root)
    try:
        pool.call(pool.sessions[0], zk_protocol.GetData(_chroot(pool, parent)))
    except Exception as exc:
        why = zk_client.explain_zk_error(exc, parent)
        raise TreeImportError("the parent %s of the import root %s cannot be read (%s); "
                              "create it first or import from a higher root. Nothing "
                              "was changed" % (parent, root, why))


def check_sequence_bumps(plan, max_sequence_bump):
    """Raise when a sequence counter would have to move by more than
    ``max_sequence_bump`` (None: no limit)."""
    too_far = [(p, n) for p, n in plan.sequence_bumps.items()
               if max_sequence_bump is not None and n > max_sequence_bump]
    if too_far:
        p, n = sorted(too_far)[0]
        raise TreeImportError("the sequence counter of %s would have to move by %d (more "
                              "than max_sequence_bump=%d): nothing was changed. Raise "
                              "max_sequence_bump to allow it" % (p, n, max_sequence_bump))


def plan_warnings(plan):
    """The warnings of a plan: export znodes held by live ephemerals, and znodes kept
    that replace would delete."""
    warnings = []
    if plan.conflicts:
        warnings.append("%d znodes of the export are held by ephemeral znodes of live "
                        "sessions and were left alone (e.g. %s)"
                        % (len(plan.conflicts), plan.conflicts[0][0]))
    if plan.kept:
        warnings.append("%d znodes that replace would delete hold ephemeral znodes of live "
                        "sessions and were kept (e.g. %s)" % (len(plan.kept), plan.kept[0]))
    return warnings


def _apply(params, plan, batch_bytes, batch_ops, rate_limit, max_sequence_bump, progress):
    """Apply the plan through a new session; returns the applier's statistics."""
    try:
        client = zk_client.connect(params)
    except zk_client.ZkConnectError as exc:
        raise TreeImportError("%s; nothing was changed" % exc)
    try:
        progress.stage("apply", total=plan.changes, unit="operations")
        applier = tree_apply.Applier(client, batch_bytes=batch_bytes, batch_ops=batch_ops,
                                     rate_limit=rate_limit,
                                     chroot=_split_chroot(params.get("hosts")), progress=progress)
        try:
            return applier.apply(plan, max_sequence_bump)
        except tree_apply.ApplyError as exc:
            raise TreeImportError("the import stopped: %s. Applied before the failure: %s. "
                                  "Running the import again continues from where it stopped"
                                  % (exc, _fmt(exc.applied)), changed=bool(exc.applied),
                                  details=dict(applied=exc.applied))
    finally:
        zk_client.close_quietly(client)


def _verify(params, connections, records, mode, root, exclude, identities, selection, plan,
            result):
    try:
        pool = zk_pipeline.open_pool(params, connections)
    except zk_pipeline.PipelineError as exc:
        raise TreeImportError("the import was applied but cannot be verified: %s" % exc,
                              changed=True)
    try:
        live, after = read_live(pool, root, exclude)[:2]
    except tree_walk.WalkError as exc:
        raise TreeImportError("the import was applied but the subtree cannot be read back to "
                              "verify it: %s" % exc, changed=True)
    finally:
        pool.close()
    again = tree_plan.make_plan(records, live, mode, root, identities)
    result["after"] = dict(count=after["count"], digest=after["digest"])
    left = again.changes
    if left:
        raise TreeImportError("the import was applied but %d differences remain (%s); another "
                              "client may be writing to the subtree. Run the import again"
                              % (left, again.diff_text(5).strip().replace("\n", "; ")),
                              changed=True)
    result["digest_match"] = after["digest"] == selection["digest"]
    if mode == "replace" and not plan.conflicts and not plan.kept:
        if not result["digest_match"]:
            raise TreeImportError("the import was applied but the live subtree digests to %s, "
                                  "the export to %s" % (after["digest"], selection["digest"]),
                                  changed=True)
    result["verified"] = True


def _fmt(counts):
    return ", ".join("%s %s" % (v, k) for k, v in sorted(counts.items())) or "nothing"


def _split_chroot(hosts):
    return zk_pipeline.endpoints_from_hosts(hosts or "")[1]


def _chroot(pool, path):
    chroot = getattr(pool, "chroot", "")
    if not chroot:
        return path
    return chroot if path == "/" else chroot + path
