# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zk_tree_export job: from the module's options to its result.

``export(params, check_mode)`` checks the options, opens the source (a live ensemble or a
member's data files), writes the export file or pushes it to the backup hosts, and returns
the module's result and the warnings to report.  A failure raises ``JobError`` with the
message, the fields of the failed result and the warnings to report with it.  The module
keeps what needs the AnsibleModule: the libraries it requires and the file attributes of
``dest``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import targets
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import datadir
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import buffer_limit
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import pipeline as zk_pipeline
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import export as tree_export
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import push as tree_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import replay as tree_replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.tree import walk as tree_walk
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

ERRORS = (tree_walk.WalkError, zk_pipeline.PipelineError, tree_export.ExportError)


class JobError(Exception):
    """The export failed: ``msg``, the other fields of the failed result (``fields``) and
    the warnings to report before it (``warnings``)."""

    def __init__(self, msg, warnings=(), **fields):
        super(JobError, self).__init__(msg)
        self.msg = msg
        self.warnings = list(warnings)
        self.fields = fields


def check_options(p, check_mode):
    """The normalized (root, exclude) of the options; JobError for options that do not
    go together."""
    live = p["source"] == "live"
    try:
        root = tree_export.normalize_root(p["root"])
        exclude = tree_export.normalize_exclude(p["exclude"])
        if p["backup_hosts"] is not None:
            tree_push.check_params(p)
            tree_push.protection(p)
    except (tree_export.ExportError, tree_push.PushError) as exc:
        raise JobError(str(exc))
    if p["backup_hosts"] is None and (p.get("encryption_key") or p.get("encryption_recipients")
                                      or p.get("signing_key")):
        raise JobError("encryption_key, encryption_recipients and signing_key protect the export "
                       "stored on the backup hosts: give backup_hosts too (the file dest is "
                       "written as is); nothing was exported")
    if p["partial"] and not (live and check_mode and p["backup_hosts"] is None):
        raise JobError("partial reads a live tree in check mode only (without backup_hosts): "
                       "an export file must hold the whole subtree; run the task with "
                       "check_mode: true")
    if not 1 <= p["compression_level"] <= 9:
        raise JobError("compression_level must be between 1 and 9")
    return root, exclude


def _same_dir(a, b):
    return os.path.realpath(datadir.version_dir(a)) == os.path.realpath(datadir.version_dir(b))


def files_source(p, root, exclude, warnings):
    """A DataDirSource for the member's data files (JobError on bad options)."""
    data_dir, log_dir = p["data_dir"], p["data_log_dir"]
    try:
        cfg = zoo_cfg.load(p["config_file"])
    except zoo_cfg.ZooCfgError as exc:
        if not data_dir:
            raise JobError("cannot read dataDir from %s: %s; set config_file to the "
                           "member's zoo.cfg, or data_dir" % (p["config_file"], exc))
        cfg = None
    if not data_dir:
        data_dir, log_dir = cfg.data_dir, log_dir or cfg.data_log_dir
    applied = None
    if cfg is not None and os.path.isdir(data_dir) and _same_dir(data_dir, cfg.data_dir):
        # The running server's own files: export nothing it has not committed.
        applied, note = tree_replay.applied_zxid(cfg)
        if note:
            warnings.append("%s; the export holds every logged transaction, and the newest "
                            "may not be committed yet (target_zxid sets the end)" % note)
    if not os.path.isdir(data_dir):
        raise JobError("data_dir %s does not exist or is not a directory: source files "
                       "runs on a member and reads its data files" % data_dir)
    try:
        target_zxid, target_time = targets.parse_target(p["target_zxid"], p["target_time"])
    except ValueError as exc:
        raise JobError(str(exc))
    return tree_replay.DataDirSource(data_dir, log_dir, root, exclude, target_zxid, target_time,
                                     buffer_limit(p["jute_maxbuffer"]), applied)


def live_source(p, root, exclude, base):
    """(LiveSource, its connection pool) for the ensemble in ``hosts``."""
    connections = p["connections"] or min(8, 2 * len(zk_client.split_hosts(p["hosts"])))
    try:
        pool = zk_pipeline.open_pool(p, connections)
    except zk_pipeline.PipelineError as exc:
        raise JobError("%s; nothing was written" % exc, **base)
    source = tree_export.LiveSource(pool, root, exclude, hosts=p["hosts"],
                                    batch=p["batch"], multi_read=p["multi_read"],
                                    partial=p["partial"])
    return source, pool


def run(p, check_mode, source, root, exclude, warnings):
    """Export (and push); returns the summary."""
    if p["backup_hosts"] is not None:
        return tree_push.export(source, p, root, exclude, p["ephemeral_policy"],
                                p["compression_level"], p["dest"], check_mode,
                                warnings=warnings)
    return tree_export.export_file(source, p["dest"], root, exclude, p["ephemeral_policy"],
                                   p["compression_level"], check_mode)


def export(p, check_mode):
    """Export the tree the options name; returns (result, warnings).  ``result["changed"]``
    does not yet count the file attributes of ``dest``."""
    live = p["source"] == "live"
    dest = p["dest"]
    root, exclude = check_options(p, check_mode)
    base = dict(dest=dest, root=root, exclude=exclude, changed=False)
    warnings = []

    t0 = time.time()
    pool = None
    if live:
        source, pool = live_source(p, root, exclude, base)
    else:
        source = files_source(p, root, exclude, warnings)
    tracker = None
    if p["progress_file"]:
        tracker = progress.Tracker(p["progress_file"], "tree export of %s" % root)
        source = tree_export.CountedSource(source, tracker)
    try:
        summary = run(p, check_mode, source, root, exclude, warnings)
    except tree_push.PushError as exc:
        raise JobError("export of %s failed: %s" % (root, exc), warnings,
                       leftovers=exc.leftovers, **base)
    except ERRORS as exc:
        raise JobError("export of %s failed: %s; nothing was written" % (root, exc), **base)
    except (IOError, OSError) as exc:
        raise JobError("export of %s failed writing %s: %s; nothing was written"
                       % (root, dest or "to the backup hosts", exc), **base)
    finally:
        if pool is not None:
            pool.close()
        if tracker is not None:
            tracker.close(ok=bool(sys.exc_info()[0] is None))
    seconds = time.time() - t0
    warnings = warnings + list(getattr(source, "warnings", []))
    base["changed"] = summary["changed"]
    return build_result(p, check_mode, base, summary, seconds, tracker), warnings


def build_result(p, check_mode, base, summary, seconds, tracker=None):
    """The module's result for an export's summary (``base``: dest, root, exclude, changed)."""
    live = p["source"] == "live"
    trailer = summary["trailer"]
    header = summary["header"]
    walk = summary["walk"]
    res = dict(base, count=trailer["count"], digest=trailer["digest"],
               typed_digest=trailer["typed_digest"],
               digest_version=trailer["digest_version"],
               kinds_exact=header["kinds_exact"], ephemeral_policy=p["ephemeral_policy"],
               ephemeral_skipped=summary["ephemeral_skipped"],
               ephemeral_kept=summary["ephemeral_kept"], sequential=summary["sequential"],
               source=header["source"],
               zxid_start=header["zxid_start"], zxid_end=trailer["zxid_end"],
               modified_during_export=summary["modified_during_export"],
               vanished=trailer["vanished"], bytes=summary["bytes"],
               seconds=round(seconds, 3),
               rate=round(trailer["count"] / walk["seconds"], 1) if walk["seconds"] else None,
               walk=walk)
    if tracker is not None:
        res["stages"] = tracker.summary()
    res.update(partial=bool(walk.get("partial")), unreadable=walk.get("unreadable", []),
               unreadable_count=len(walk.get("unreadable", [])),
               acl_hidden=walk.get("acl_hidden", []),
               acl_hidden_count=walk.get("acl_hidden_count", 0))
    if p["backup_hosts"] is not None:
        res.update(pushed=summary["pushed"], backup_id=summary["backup_id"],
                   destinations=summary["destinations"])
    if not live:
        res["zxid"] = hexzxid(header["zxid_start"])
    if not header["kinds_exact"]:
        res["kinds_note"] = tree_export.KINDS_NOTE
    res["msg"] = message(p, check_mode, res, summary)
    return res


def message(p, check_mode, res, summary):
    """The one-line ``msg`` of a result."""
    root = res["root"]
    what = "exported %d znodes of %s" % (res["count"], root)
    if res["partial"]:
        what += (" (partial: %d subtrees unreadable%s, %d ACLs hidden)"
                 % (res["unreadable_count"], (": " + ", ".join(res["unreadable"][:10]))
                    if res["unreadable"] else "", res["acl_hidden_count"]))
    if p["source"] != "live":
        what += " at zxid %s from the data files" % res["zxid"]
    if p["backup_hosts"] is not None and summary["pushed"]:
        what += "; stored as %s on %s" % (summary["backup_id"], ", ".join(
            d["host"] for d in summary["destinations"]))
    elif p["backup_hosts"] is not None and not check_mode:
        what += "; the backup hosts already hold an export with the same digests"
    if not res["kinds_exact"]:
        what += " (container and TTL znodes recorded as persistent: %s)" % tree_export.KINDS_NOTE
    return what
