# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take the member on this host (member.LocalMember) out of service and back, safely.

``quiesce()`` refuses to stop a serving voter when the serving voters left would not be a
quorum (the quorum guard), stops the server through its service manager and waits until
the process is gone and its ports are closed.  ``serve()`` starts it and waits until it
serves as leader, follower or observer with the leader's zxid (within a bounded lag).
Both are idempotent and, in check mode, only predict.

States of the local member: ``serving``; ``not_serving`` (the process runs but does not
serve); ``quiesced`` (no process, no port open); ``ports_busy`` (no process of ours, but
another one holds the member's ports).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import quorum as quorum_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import server_log
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import service as service_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

START_GRACE = 5.0


class QuiesceError(Exception):
    """The operation failed or was refused; ``result`` holds what was seen."""

    def __init__(self, msg, result):
        super(QuiesceError, self).__init__(msg)
        self.result = result


class Quiesce:
    """Takes ``member`` (member.LocalMember, the member on this host) out of service and
    back through ``service`` (service.Service)."""

    def __init__(self, member, service, log_file=None, log_lines=20, clock=time.time,
                 sleep=time.sleep, interval=0.25):
        self.member = member
        self.service = service
        self.log_file = log_file
        self.log_lines = log_lines
        self.clock = clock
        self.sleep = sleep
        self.interval = interval

    @property
    def cfg(self):
        return self.member.cfg

    @property
    def me(self):
        return self.member.me

    @property
    def address(self):
        return self.member.address

    def log_tail(self):
        path = server_log.locate(self.log_file, self.member.jvm_log_dir, self.member.jvm_log_file)
        return path, server_log.tail(path, self.log_lines)

    # --- results ----------------------------------------------------------------------
    def _view(self, snap):
        st = snap["status"] or {}
        return {"state": snap["state"], "pids": snap["pids"], "listening": snap["listening"],
                "mode": st.get("mode"), "zxid": st.get("zxid")}

    def _result(self, requested, before, after, changed, t0, **extra):
        res = {"changed": changed, "state": requested, "server_id": self.me,
               "service_manager": None, "before": self._view(before),
               "after": self._view(after), "member": after["status"],
               "elapsed": round(self.clock() - t0, 3)}
        try:
            res["service_manager"] = self.service.kind
        except service_mod.ServiceError:
            pass
        res["diff"] = {"before": _diff_text(res["before"]), "after": _diff_text(res["after"])}
        res.update(extra)
        return res

    def _fail(self, msg, result, with_log=False):
        if with_log:
            path, lines = self.log_tail()
            result["log_file"] = path
            result["log_tail"] = lines
            if lines:
                msg += "\nLast lines of %s:\n%s" % (path, "\n".join(lines[-10:]))
            elif path is None:
                msg += "\n(no server log found; set log_file)"
        raise QuiesceError(msg, result)

    def _service(self, action, result):
        try:
            return (self.service.start() if action == "start" else self.service.stop())
        except service_mod.ServiceError as exc:
            result.update(exc.result)
            self._fail("could not %s the server: %s" % (action, exc), result, with_log=True)

    # --- the quorum guard -------------------------------------------------------------
    def guard(self, snap):
        """(allowed, reason, details) of stopping the local member now."""
        q = member_mod.quorum_of(self.cfg, [], self.me)
        others = self.member.others()
        serving = set(s["id"] for s in others if s["mode"] in quorum_mod.SERVING_VOTER_MODES)
        st = snap["status"] or {}
        unknown = st.get("mode") in ("down", "not_zookeeper", None)
        if st.get("mode") in quorum_mod.SERVING_VOTER_MODES or unknown:
            # When the local server does not answer, assume it serves: the safe side.
            serving.add(self.me)
        allowed, reason = q.may_stop(self.me, serving)
        if unknown and not allowed:
            reason += (" (the local server runs but does not answer at %s, so it is counted "
                       "as serving)" % member_mod.address_of(*self.address)
                       if self.address else "")
        details = {"allowed": allowed, "reason": reason, "voters": q.voters,
                   "serving_voters": sorted(serving & set(q.voters)),
                   "rule": q.describe(),
                   "members": [dict(id=s["id"], address=s["address"], mode=s["mode"],
                                    error=s["error"]) for s in others]}
        return allowed, reason, details

    # --- state: quiesced --------------------------------------------------------------
    def quiesce(self, check_mode=False, allow_quorum_loss=False, timeout=120.0):
        t0 = self.clock()
        before = self.member.observe()
        if before["state"] == "quiesced":
            return self._result("quiesced", before, before, False, t0, action="none")
        result = self._result("quiesced", before, before, False, t0)
        if before["state"] == "ports_busy":
            self._fail("no ZooKeeper server of %s runs, but port(s) %s are held by another "
                       "process%s. Stop it, or point config_file at its configuration."
                       % (self.cfg.path, ", ".join(str(p) for p in before["listening"]),
                          _foreign(before)), result)
        allowed, reason, details = self.guard(before)
        result["quorum"] = details
        if not allowed:
            if not allow_quorum_loss:
                down = ["server %s: %s" % (m["id"], m["error"] or m["mode"])
                        for m in details["members"]
                        if m["mode"] not in quorum_mod.SERVING_MODES]
                self._fail("refusing to stop server %s: %s.%s Bring the other members back "
                           "to serving first, or set allow_quorum_loss=true to stop it anyway "
                           "(the ensemble then stops serving clients)."
                           % (self.me, reason,
                              " Not serving: %s." % "; ".join(down) if down else ""), result)
            result["warnings"] = ["stopping server %s loses the quorum: %s" % (self.me, reason)]
        if check_mode:
            result.update(changed=True, action="stop")
            result["after"] = dict(result["before"], state="quiesced", pids=[], listening=[],
                                   mode=None, zxid=None)
            result["diff"]["after"] = _diff_text(result["after"])
            return result
        result.update(self._service("stop", result) or {})
        done, alive, listening = proc.wait_gone(before["pids"], self.member.ports, timeout,
                                                clock=self.clock, sleep=self.sleep,
                                                interval=self.interval / 2.5)
        after = self.member.observe()
        final = self._result("quiesced", before, after, True, t0, action="stopped",
                             quorum=details)
        for k in ("cmd", "rc", "stdout", "stderr", "warnings"):
            if k in result:
                final[k] = result[k]
        if not done:
            what = []
            if alive:
                what.append("process(es) %s still alive" % ", ".join(str(p) for p in alive))
            if listening:
                what.append("port(s) %s still open" % ", ".join(str(p) for p in listening))
            self._fail("the server did not stop within %ss after '%s': %s"
                       % (timeout, " ".join(final.get("cmd") or []), "; ".join(what)),
                       final, with_log=True)
        return final

    # --- state: serving ---------------------------------------------------------------
    def serve(self, check_mode=False, timeout=120.0, max_lag=0, client_check=None):
        """``client_check(address)`` (optional) proves the member serves clients."""
        t0 = self.clock()
        before = self.member.observe()
        result = self._result("serving", before, before, False, t0, action="none")
        if self.address is None:
            self._fail("%s gives no client port for server %s; set hosts to its client "
                       "address" % (self.cfg.path, self.me), result)
        if before["state"] == "ports_busy":
            self._fail("no ZooKeeper server of %s runs, but port(s) %s are held by another "
                       "process%s; the server could not start. Stop that process first."
                       % (self.cfg.path, ", ".join(str(p) for p in before["listening"]),
                          _foreign(before)), result)
        changed = False
        started_at = None
        if before["state"] == "quiesced":
            if check_mode:
                result.update(changed=True, action="start")
                result["after"] = dict(result["before"], state="serving")
                result["diff"]["after"] = _diff_text(result["after"])
                return result
            result.update(self._service("start", result) or {})
            changed = True
            started_at = self.clock()
        elif check_mode:
            return result
        ok, snap, info = self._wait_serving(timeout, max_lag, started_at, result)
        final = self._result("serving", before, snap, changed, t0,
                             action="started" if changed else "none", **info)
        for k in ("cmd", "rc", "stdout", "stderr"):
            if k in result:
                final[k] = result[k]
        if not ok:
            self._fail(info.pop("why"), final, with_log=True)
        if client_check is not None:
            final["client_check"] = self._client_check(client_check, t0 + timeout, snap, final)
        return final

    def _client_check(self, client_check, deadline, snap, final):
        """Runs ``client_check`` until it passes; a transient failure (no session in time, a
        lost connection: a member that has just joined may not take sessions yet, or the
        host is loaded) is tried again until ``deadline``, as long as the member still serves.
        A refusal (credentials, permissions) fails at once."""
        address = member_mod.address_of(*self.address)
        attempts = 0
        while True:
            attempts += 1
            try:
                res = client_check(address)
            except Exception as exc:
                transient = getattr(exc, "transient", False)
                if transient and self.clock() < deadline:
                    st = self.member.status()
                    if st["serving"]:
                        self.sleep(self.interval)
                        continue
                    why = "it stopped serving (%s)" % st["mode"]
                else:
                    why = None
                self._fail("server %s serves as %s but the client check failed%s: %s%s"
                           % (self.me, snap["status"]["mode"],
                              " after %d attempts" % attempts if attempts > 1 else "", exc,
                              "; then %s" % why if why else ""), final)
            if isinstance(res, dict):
                res = dict(res, attempts=attempts)
            return res

    def _wait_serving(self, timeout, max_lag, started_at, result):
        deadline = self.clock() + timeout
        last = None
        leader = None
        while True:
            ours = self.member.processes()[0]
            if not ours:
                if started_at is None or self.clock() - started_at > START_GRACE:
                    snap = self.member.observe()
                    return False, snap, {"why": "the server process of %s is not running%s: "
                                                "it exited" % (self.cfg.path,
                                                               " after the start" if started_at
                                                               is not None else ""),
                                         "leader": _leader_view(leader)}
            else:
                st = self.member.status()
                last = st
                if st["mode"] in ("leader", "standalone"):
                    leader = st
                    snap = self.member.observe()
                    return True, snap, {"leader": _leader_view(st), "lag": 0}
                if st["serving"]:
                    others = self.member.others()
                    leaders = [o for o in others if o["mode"] == "leader"]
                    leader = leaders[0] if leaders else None
                    if leader is not None and leader.get("zxid"):
                        lz = zxid_mod.from_record(leader["zxid"])
                        st = self.member.status()       # after the leader's: the fair order
                        last = st
                        if st["serving"] and st.get("zxid"):
                            lag = zxid_mod.lag(lz, zxid_mod.from_record(st["zxid"]))
                            if lag <= max_lag:
                                snap = self.member.observe()
                                return True, snap, {"leader": _leader_view(leader), "lag": lag}
            if self.clock() >= deadline:
                snap = self.member.observe()
                return False, snap, {"why": _not_serving_why(self.me, timeout, last, leader,
                                                             max_lag),
                                     "leader": _leader_view(leader)}
            self.sleep(self.interval)


def _leader_view(st):
    if not st:
        return None
    return {"id": st.get("id"), "address": st.get("address"), "zxid": st.get("zxid")}


def _not_serving_why(me, timeout, last, leader, max_lag):
    if last is None:
        seen = "the server process did not appear"
    elif last["serving"]:
        seen = "it serves as %s at zxid %s" % (last["mode"], last.get("zxid"))
        if leader is None:
            seen += ", but no other member is leader"
        else:
            seen += ", the leader (server %s) is at %s; allowed lag %d" % (
                leader.get("id"), leader.get("zxid"), max_lag)
    else:
        seen = "last status: %s%s" % (last["mode"], " (%s)" % last["error"]
                                      if last.get("error") else "")
    return ("server %s did not serve and catch up with the leader within %ss: %s"
            % (me, timeout, seen))


def _foreign(snap):
    if not snap["foreign"]:
        return ""
    return " (ZooKeeper started with another configuration: %s)" % ", ".join(
        "pid %s with %s" % (p["pid"], p["config_file"]) for p in snap["foreign"])


def _diff_text(view):
    lines = ["state: %s" % view["state"]]
    if view.get("mode"):
        lines.append("mode: %s" % view["mode"])
    if view.get("pids"):
        lines.append("pid: %s" % ", ".join(str(p) for p in view["pids"]))
    return "\n".join(lines) + "\n"
