# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore the ZooKeeper member on this host (the work of zk_restore).

Composes: the member on this host (ensemble/member.py: its zoo.cfg, directories and process), where restores
live on disk (restore/layout.py), which backups to read (store/restore_plan.py, store/catalog.py over
transport/ssh.py), reading them (restore/fetch.py), laying them down (restore/stage.py),
and the renames that put them in place or take them out (restore/swap.py).

States of a restore on a member (``state``):

``staged``       the restored data is laid down and verified next to the live data; the
                 server may run.
``restored``     the restored data is live (staged first if it was not); the server must
                 be stopped.
``confirmed``    the restore was verified on the running ensemble; its marker says so and
                 old pre-restore copies beyond the retention go.
``rolled_back``  the member is back on its pre-restore data; the server must be stopped.
``cleaned``      leftovers are removed by the retention (explicit clean-up).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as progress_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import extract as restore_extract
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as restore_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import stage as restore_stage
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import swap as restore_swap
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import targets
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

STATES = ("staged", "restored", "confirmed", "rolled_back", "cleaned")
SOURCES = ("backup", "archive", "empty")


class RestoreError(Exception):
    def __init__(self, message, **details):
        super(RestoreError, self).__init__(message)
        self.details = details


def parse_target(params):
    """(target zxid as int or restore_plan.LATEST or None, target time in ms or None)."""
    tz, tt = params.get("target_zxid"), params.get("target_time")
    if tz is not None and tt is not None:
        raise RestoreError("give target_zxid or target_time, not both")
    try:
        return targets.parse_target(tz, tt, latest=restore_plan.LATEST)
    except ValueError as exc:
        raise RestoreError(str(exc))


def local_member(params):
    """The member on this host (member.LocalMember) for zk_restore's options."""
    try:
        return member_mod.LocalMember.load(params["config_file"], params.get("server_id"),
                                           params.get("data_dir"), params.get("data_log_dir"))
    except zoo_cfg.ZooCfgError as exc:
        raise RestoreError("%s. Set config_file to this member's zoo.cfg" % exc)


def require_stopped(member, what, check_mode, warnings):
    """Refuse ``what`` while the member's server runs or its ports are held (in check
    mode, warn); True when it would have refused."""
    pids, ports = member.in_use()
    if not pids and not ports:
        return False
    why = ("the ZooKeeper server of %s runs (pid %s)" % (member.cfg.path, ", ".join(str(p) for p in pids))
           if pids else "port(s) %s of this member are in use" % ", ".join(str(p) for p in ports))
    msg = ("%s: refusing to %s while it runs. Stop it first (zkops.zookeeper.zk_quiesce "
           "state=quiesced, with allow_quorum_loss for a whole-ensemble restore)" % (why, what))
    if check_mode:
        warnings.append(msg)
        return True
    raise RestoreError(msg)


def _describe_files(entries):
    return "".join("%s %d\n" % (e["name"], e["size"]) for e in entries) or "(no data)\n"


def _manifest_files(sources):
    """The files the archives hold, as the staged copy would list them (before cutting)."""
    out = []
    for s in sources:
        for f in (s.manifest or {}).get("files") or []:
            name = f["path"].rsplit("/", 1)[-1]
            if name not in ("currentEpoch", "acceptedEpoch"):
                out.append({"name": name, "size": f["size"]})
    return sorted(out, key=lambda e: e["name"])


class Runner:
    def __init__(self, params, check_mode=False, service=None):
        self.p = params
        self.check_mode = check_mode
        self.service = service
        self.warnings = []
        self.member = local_member(params)
        try:
            self.layout = L.Layout(self.member.data_dir, self.member.data_log_dir)
        except L.LayoutError as exc:
            raise RestoreError(str(exc))
        self.rid = params.get("restore_id")
        self.owner = None
        self.session = None
        self.other_sessions = {}
        self.authentication = []
        self.t0 = time.time()
        self.progress = progress_mod.Tracker(params.get("progress_file"), "restore (%s)" % params["state"])

    # --- results -----------------------------------------------------------------------
    def base(self):
        layout = self.layout
        return {
            "changed": False, "state": self.p["state"], "restore_id": self.rid,
            "server_id": self.member.me, "data_dir": layout.data_dir, "data_log_dir": layout.data_log_dir,
            "live_marker": _marker(layout),
        }

    def finish(self, result):
        self.progress.close()
        result["elapsed"] = round(time.time() - self.t0, 3)
        result["stages"] = self.progress.summary()
        return result

    # --- sources -----------------------------------------------------------------------
    def key(self):
        """What decrypts (an encryption.Keyring: the symmetric key and the identities given)."""
        try:
            return encryption.parse_keyring(self.p.get("encryption_key"), self.p.get("identities") or ())
        except encryption.EncryptionError as exc:
            raise RestoreError(str(exc))

    def keys(self):
        """The keys that authenticate backups (authenticity.Keys)."""
        try:
            return authenticity.keys_from_params(self.p)
        except authenticity.AuthenticityError as exc:
            raise RestoreError(str(exc))

    def judge(self, srcs, ids=None, ensemble=None):
        """Refuse (RestoreError) any source the keys given do not authenticate; stored
        backups (``ids``) must also be stored under their own id and ``ensemble``."""
        keys = self.keys()
        allow = bool(self.p.get("allow_unauthenticated"))
        out = []
        for i, src in enumerate(srcs):
            # Backups written before a key was set are plain; allow_unauthenticated accepts them.
            src.allow_plain = allow
            try:
                authenticated, reason = restore_fetch.judge_source(
                    src, keys, allow, backup_id=ids[i] if ids else None, ensemble=ensemble)
            except restore_fetch.FetchError as exc:
                raise RestoreError(str(exc))
            if authenticated is False:
                self.warnings.append("backup %s is restored although it is not authenticated (%s): "
                                     "allow_unauthenticated is set" % (src.backup_id, reason))
            out.append({"backup_id": src.backup_id, "authenticated": authenticated, "reason": reason})
        self.authentication = out
        return srcs

    def has_source(self):
        return bool(self.p.get("archive") or self.p.get("backup_host") or self.p.get("source") == "empty")

    def source_kind(self):
        kind = self.p.get("source")
        if kind:
            return kind
        if self.p.get("archive"):
            return "archive"
        return "backup"

    def sources(self):
        """(ArchiveSources in order, description, plan or None)."""
        kind = self.source_kind()
        if kind == "empty":
            return [], "empty (the member syncs from the ensemble)", None
        key = self.key()
        if kind == "archive":
            if not self.p.get("archive"):
                raise RestoreError("source archive needs the archive option (a local archive file)")
            try:
                return (self.judge(restore_stage_local(self.p["archive"], key)), "archive %s" % self.p["archive"],
                        None)
            except restore_fetch.FetchError as exc:
                raise RestoreError(str(exc))
        host = self.p.get("backup_host")
        if not host or not self.p.get("ensemble"):
            raise RestoreError("source backup needs backup_host and ensemble (or give archive)")
        try:
            restore_fetch.check_names(self.p["ensemble"], [b for b in [self.p.get("backup_id")] if b]
                                      + list(self.p.get("backup_ids") or []))
        except restore_fetch.FetchError as exc:
            raise RestoreError("%s; nothing was changed on this member" % exc)
        self.session = ssh_transport.connect(self.p, host, self.warnings)
        root, ens = self.p["backup_root"], self.p["ensemble"]
        ids = self.p.get("backup_ids") or []
        plan = None
        if not ids:
            tz, tt = parse_target(self.p)
            try:
                plan = restore_fetch.plan_on_host(self.session, root, ens, self.p.get("backup_id"), tz, tt,
                                                  verify=False, keys=self.keys(),
                                                  allow_unauthenticated=bool(self.p.get("allow_unauthenticated")))
            except restore_fetch.FetchError as exc:
                raise RestoreError(str(exc))
            self.warnings.extend(plan.get("warnings") or [])
            ids = plan["backup_ids"]
        try:
            # The full backup comes first, then the log chunks (restore_stage.Stager.run).
            srcs = [restore_fetch.remote_source(self.session_for(b), root, ens, b, key, kind="logs" if n else "full")
                    for n, b in enumerate(ids)]
        except restore_fetch.FetchError as exc:
            raise RestoreError(str(exc))
        self.judge(srcs, ids, ens)
        hosts = [self.session_for(b).label for b in ids]
        if set(hosts) == set([self.session.label]):
            return srcs, "%s:%s/%s/%s" % (self.session.label, root, ens, "+".join(ids)), plan
        return srcs, "%s/%s: %s" % (root, ens, ", ".join("%s from %s" % bh for bh in zip(ids, hosts))), plan

    def session_for(self, backup_id):
        """The session to the backup host that ``backup_id`` is read from: its host in
        ``backup_sources`` (a host whose copy verified), else ``backup_host``."""
        host = (self.p.get("backup_sources") or {}).get(backup_id)
        if not host or host == self.p.get("backup_host"):
            return self.session
        if host not in self.other_sessions:
            self.other_sessions[host] = ssh_transport.connect(self.p, host, self.warnings)
        return self.other_sessions[host]

    def same_request(self, state):
        """Raise unless an existing restore ``rid`` is what the parameters ask for."""
        asked = self.p.get("backup_ids")
        if asked and state.get("backup_ids") is not None and list(asked) != list(state["backup_ids"]):
            had = " + ".join(state["backup_ids"]) or "nothing"
            raise RestoreError("restore %s on this member is of %s, not of %s: use another restore_id, or "
                               "state cleaned to remove it" % (self.rid, had, " + ".join(asked)))
        if self.p.get("target_zxid") and state.get("target_zxid") and self.p.get("backup_ids"):
            tz, _tt = parse_target(self.p)
            if tz != restore_plan.LATEST and hexzxid(tz) != state["target_zxid"]:
                raise RestoreError("restore %s on this member goes to %s, not to %s: use another restore_id"
                                   % (self.rid, state["target_zxid"], hexzxid(tz)))

    def target(self, srcs, plan):
        """(target zxid int or None, target time or None) for the stager."""
        tz, tt = parse_target(self.p)
        if plan is not None:
            return (zxid_mod.from_record(plan["target_zxid"]) if plan["target_zxid"] else None), plan["target_time"]
        if tz == restore_plan.LATEST:
            last = (srcs[-1].manifest.get("zxid") or {}).get("last") if srcs else None
            return zxid_mod.from_record(last), None
        return tz, tt

    def resolve_owner(self):
        try:
            self.owner = L.resolve_owner(self.p.get("owner") or "zookeeper", self.p.get("group") or "zookeeper")
        except L.LayoutError as exc:
            raise RestoreError(str(exc))

    # --- states ------------------------------------------------------------------------
    def run(self):
        state = self.p["state"]
        if state in ("staged", "restored", "rolled_back") and not self.rid:
            raise RestoreError("state %s needs restore_id (the same on every member of one restore)" % state)
        if self.rid:
            try:
                L.check_restore_id(self.rid)
            except L.LayoutError as exc:
                raise RestoreError(str(exc))
        try:
            try:
                return self.finish(getattr(self, "do_" + state)())
            except BaseException:
                self.progress.close(ok=False)
                raise
        except (L.LayoutError, restore_swap.SwapError, restore_stage.StageError,
                restore_extract.ExtractError, restore_fetch.FetchError, FormatError) as exc:
            raise RestoreError(str(exc), restore_id=self.rid)
        except ssh_transport.SshError as exc:
            raise RestoreError("%s; nothing was changed on this member" % exc, restore_id=self.rid, host=exc.host)
        except (IOError, OSError) as exc:
            raise RestoreError("%s (%s)" % (exc, getattr(exc, "filename", "") or ""), restore_id=self.rid)
        finally:
            if self.session is not None:
                self.session.close()
            ssh_transport.close_all(list(self.other_sessions.values()))

    def do_staged(self, for_swap=False):
        result = self.base()
        stager = restore_stage.Stager(self.layout, self.rid, None)
        done = stager.existing()
        if done is not None or (for_swap and restore_swap.swapped(self.layout, self.rid)):
            state = done or self.layout.read_state(self.rid) or {}
            self.same_request(state)
            result.update(_state_view(state))
            return result
        if restore_swap.swapped(self.layout, self.rid):
            raise RestoreError("restore %s is already in place on this member: nothing to stage" % self.rid)
        self.progress.stage("connect and plan")
        srcs, describe, plan = self.sources()
        result["plan"] = plan
        result["authentication"] = self.authentication
        tz, tt = self.target(srcs, plan)
        result.update(changed=True, backup_ids=[s.backup_id for s in srcs], target_zxid=hexzxid(tz),
                      target_time=tt, source=describe)
        if self.check_mode:
            try:
                if srcs:
                    restore_stage.check_space(self.layout, srcs, tz is not None or tt is not None or len(srcs) > 1)
            except restore_stage.StageError as exc:
                self.warnings.append(str(exc))
            files = _manifest_files(srcs)
            result["files"] = files
            result["diff"] = {"before": "", "after": _describe_files(files),
                              "before_header": "staged copy of restore %s" % self.rid,
                              "after_header": "staged copy of restore %s" % self.rid}
            return result
        self.resolve_owner()
        stager.owner = self.owner
        stager.progress = self.progress
        stager.epoch_floor = self.p.get("epoch_floor")
        state = stager.run(srcs, tz, tt, deep=self.p.get("deep", False), describe=describe)
        self.warnings.extend(state.get("warnings") or [])
        result.update(_state_view(state))
        return result

    def start(self, result):
        """With ``start``, start the server right after the data is in place (without
        waiting for it to serve: zk_quiesce state=serving does that)."""
        if not self.p.get("start") or self.check_mode:
            return
        pids, _ports = self.member.in_use()
        if pids:
            return
        if self.p.get("start_delay"):
            time.sleep(self.p["start_delay"])
        try:
            done = self.service.start()
        except Exception as exc:  # service.ServiceError, with what the command said
            raise RestoreError("the restored data is in place, but the server did not start: %s" % exc,
                               restore_id=self.rid, **getattr(exc, "result", {}))
        result.update(changed=True, started=True, cmd=done.get("cmd"), rc=done.get("rc"))

    def do_restored(self):
        result = self.base()
        if restore_swap.swapped(self.layout, self.rid):
            state = self.layout.read_state(self.rid) or {}
            self.same_request(state)
            result.update(_state_view(state))
            self.start(result)
            return result
        require_stopped(self.member, "put restored data in place", self.check_mode, self.warnings)
        if self.check_mode and restore_stage.Stager(self.layout, self.rid, None).existing() is None \
                and not self.has_source():
            # Check mode after a staging that was only predicted: nothing to show but the move.
            before = "".join(_describe_files(L.files_of(self.layout.live(r))) for _w, r in self.layout.roots())
            result.update(changed=True, diff={"before": before, "after": "(the files staged for restore %s)\n"
                                              % self.rid, "before_header": "live data",
                                              "after_header": "restored data"})
            return result
        staged = self.do_staged(for_swap=True)
        result.update({k: v for k, v in staged.items() if k not in ("changed", "state")})
        if self.check_mode:
            try:
                steps = restore_swap.plan_swap(self.layout, self.rid)
                before = "".join(_describe_files(s.get("before", [])) for s in steps)
            except restore_swap.SwapError:
                before = "".join(_describe_files(L.files_of(self.layout.live(r))) for _w, r in self.layout.roots())
            after = staged.get("diff", {}).get("after") or _describe_files(staged.get("files") or [])
            result.update(changed=True, diff={"before": before, "after": after,
                                              "before_header": "live data", "after_header": "restored data"})
            return result
        self.resolve_owner()
        changed, details = restore_swap.swap(self.layout, self.rid, self.owner, self.p.get("server_id"))
        result.update(changed=True, swap=details["steps"], myid_written=details["myid_written"],
                      diff={"before": "".join(_describe_files(s.get("before", [])) for s in details["steps"]),
                            "after": "".join(_describe_files(s.get("after", [])) for s in details["steps"]),
                            "before_header": "live data", "after_header": "restored data"})
        result["live_marker"] = _marker(self.layout)
        result.update(_state_view(self.layout.read_state(self.rid) or {}))
        self.start(result)
        return result

    def do_rolled_back(self):
        result = self.base()
        steps = restore_swap.plan_rollback(self.layout, self.rid)
        acting = any(s["take_out"] or s["put_back"] for s in steps)
        result["steps"] = steps
        if not acting:
            if restore_stage_exists(self.layout, self.rid) and not self.check_mode:
                restore_stage.remove_staged(self.layout, self.rid)
                result["changed"] = True
            self.start(result)
            return result
        require_stopped(self.member, "put the pre-restore data back", self.check_mode, self.warnings)
        result["diff"] = {"before": "".join(_describe_files(s["before"]) for s in steps),
                          "after": "".join(_describe_files(s["after"]) for s in steps),
                          "before_header": "restored data", "after_header": "pre-restore data"}
        result["changed"] = True
        if self.check_mode:
            return result
        _changed, steps = restore_swap.rollback(self.layout, self.rid)
        result["steps"] = steps
        result["live_marker"] = _marker(self.layout)
        self.start(result)
        return result

    def do_confirmed(self):
        result = self.base()
        rid = self.rid or (result["live_marker"] or {}).get("restore_id")
        if not rid:
            raise RestoreError("the live data of this member carries no restore marker: nothing to confirm")
        self.rid = result["restore_id"] = rid
        marker = result["live_marker"] or {}
        if marker.get("restore_id") != rid:
            raise RestoreError("the live data is not that of restore %s (its marker names %s)"
                               % (rid, marker.get("restore_id")))
        verification = self.p.get("verification") or {}
        result["changed"] = not marker.get("confirmed")
        if not self.check_mode and result["changed"]:
            restore_swap.confirm(self.layout, rid, verification)
            result["live_marker"] = _marker(self.layout)
        removed = restore_swap.cleanup(self.layout, self.p.get("keep_pre_restore", 1), current=None,
                                       check_mode=self.check_mode)
        result["removed"] = removed
        result["changed"] = result["changed"] or bool(removed)
        return result

    def do_cleaned(self):
        result = self.base()
        removed = restore_swap.cleanup(self.layout, self.p.get("keep_pre_restore", 1), current=self.rid,
                                       check_mode=self.check_mode)
        result.update(changed=bool(removed), removed=removed)
        return result


def _marker(layout):
    try:
        return layout.live_marker()
    except L.LayoutError:
        return None


def _state_view(state):
    keys = ("phase", "backup_ids", "target_zxid", "target_time", "last_zxid", "snapshot_zxid", "epoch",
            "expected", "set_digest", "files", "fetched", "source", "staged_seconds")
    out = {k: state.get(k) for k in keys if k in state}
    return out


def restore_stage_local(path, key):
    return [restore_fetch.local_source(path, key)]


def restore_stage_exists(layout, rid):
    return any(os.path.lexists(layout.part(root, rid, L.STAGED)) for _w, root in layout.roots())


def run(params, check_mode=False, service=None):
    """Run the state asked for; returns (result, warnings).  Raises RestoreError.

    ``service`` (service.Service) starts the server when ``start`` is set."""
    runner = Runner(params, check_mode, service)
    result = runner.run()
    return result, runner.warnings
