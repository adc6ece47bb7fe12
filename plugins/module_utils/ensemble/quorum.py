# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quorum arithmetic, in one place: voters, majority, who may stop, the ensemble view.

Voters are the participants of the configuration; observers never count.  Without
``group.N`` lines a set of voters is a quorum when it holds more than half of them
(ZooKeeper's QuorumMaj).  With groups (hierarchical quorums, ZooKeeper's
QuorumHierarchical) a set is a quorum when, in more than half of the groups of non-zero
weight, it holds more than half of the group's weight.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

SERVING_VOTER_MODES = ("leader", "follower", "standalone")
SERVING_MODES = ("leader", "follower", "observer", "standalone")


def majority(n):
    """The smallest number of voters that is a majority of ``n``."""
    return n // 2 + 1


class Quorum:
    """The voting rule of one ensemble."""

    def __init__(self, voters, observers=(), groups=None, weights=None):
        self.voters = sorted(set(voters))
        self.observers = sorted(set(observers) - set(self.voters))
        self.groups = dict(groups or {})
        self.weights = dict(weights or {})
        self._server_group = {}
        for gid, members in self.groups.items():
            for sid in members:
                self._server_group[sid] = gid

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.voters, cfg.observers, cfg.groups, cfg.weights)

    @classmethod
    def from_view(cls, view):
        """The Quorum of an ensemble view (summarize()'s output, as zk_info returns it, whose
        keys may be text); None when the view does not know the voters."""
        view = view or {}
        if not view.get("voters"):
            return None
        groups = dict((int(g), [int(s) for s in members])
                      for g, members in (view.get("groups") or {}).items())
        weights = dict((int(s), int(w)) for s, w in (view.get("weights") or {}).items())
        return cls([int(s) for s in view["voters"]], [int(s) for s in view.get("observers") or ()],
                   groups, weights)

    @property
    def hierarchical(self):
        return bool(self.groups)

    def weight(self, sid):
        return self.weights.get(sid, 1)

    @property
    def size(self):
        """Voters needed for a quorum (None for hierarchical quorums: it depends on who)."""
        if self.hierarchical or not self.voters:
            return None
        return majority(len(self.voters))

    def describe(self):
        if self.hierarchical:
            return ("more than half of the weight in more than half of the %d weighted groups"
                    % len(self._weighted_groups()))
        return "%d of the %d voters" % (majority(len(self.voters)), len(self.voters))

    def _weighted_groups(self):
        return [g for g, members in self.groups.items()
                if sum(self.weight(s) for s in members) > 0]

    def contains_quorum(self, ids):
        """True when the servers ``ids`` (observers ignored) form a quorum."""
        ids = set(ids) & set(self.voters)
        if not ids:
            return False
        if not self.hierarchical:
            return len(ids) > len(self.voters) // 2
        got = {}
        for sid in ids:
            gid = self._server_group.get(sid)
            if gid is not None:
                got[gid] = got.get(gid, 0) + self.weight(sid)
        groups_ok = 0
        for gid, w in got.items():
            total = sum(self.weight(s) for s in self.groups[gid])
            if w > total // 2:
                groups_ok += 1
        return groups_ok > len(self._weighted_groups()) // 2

    def may_stop(self, sid, serving):
        """May server ``sid`` stop while the servers ``serving`` serve?

        Returns (allowed, reason).  Stopping an observer, or a voter that does not serve
        anyway, never reduces the quorum.
        """
        serving = set(serving)
        if sid not in self.voters:
            return True, "server %s is not a voter: stopping it does not affect the quorum" % sid
        serving_voters = serving & set(self.voters)
        if sid not in serving_voters:
            if self.contains_quorum(serving_voters):
                return True, ("server %s does not serve; the serving voters %s keep the quorum"
                              % (sid, _ids(serving_voters)))
            return True, ("server %s does not serve and the ensemble has no quorum anyway "
                          "(serving voters: %s; a quorum needs %s)"
                          % (sid, _ids(serving_voters), self.describe()))
        remaining = serving_voters - set([sid])
        if self.contains_quorum(remaining):
            return True, ("after server %s stops, the serving voters %s still form a quorum "
                          "(%s)" % (sid, _ids(remaining), self.describe()))
        return False, ("stopping server %s would leave the serving voters %s, and a quorum "
                       "needs %s" % (sid, _ids(remaining), self.describe()))

    def tolerance(self, serving):
        """How many of the serving voters may fail, whichever they are, keeping a quorum."""
        left = sorted(set(serving) & set(self.voters))
        if not self.contains_quorum(left):
            return 0
        if not self.hierarchical:
            return len(left) - majority(len(self.voters))
        for k in range(1, len(left) + 1):
            for gone in itertools.combinations(left, k):
                if not self.contains_quorum(set(left) - set(gone)):
                    return k - 1
        return len(left)

    def first_quorum(self, ids):
        """The servers of ``ids`` to start first so that they form a quorum on their own.

        ``ids`` in the order of preference; the answer keeps that order, holds voters only
        (observers never count) and none that the quorum does not need.  None when all of
        ``ids`` together do not form a quorum.
        """
        chosen = []
        for sid in ids:
            if sid in self.voters and sid not in chosen:
                chosen.append(sid)
                if self.contains_quorum(chosen):
                    break
        else:
            return None
        # With groups or weights, an early pick may have become unnecessary: drop it, the
        # least preferred first.
        for sid in reversed(list(chosen)):
            rest = [s for s in chosen if s != sid]
            if self.contains_quorum(rest):
                chosen = rest
        return chosen


def _ids(ids):
    return "{%s}" % ", ".join(str(i) for i in sorted(ids)) if ids else "{} (none)"


def summarize(members, quorum=None):
    """The ensemble view from member statuses.

    ``members`` is a list of dicts with at least ``id`` (None when unknown), ``address``,
    ``mode`` and ``zxid`` (hex text or an int; None when unknown).  ``quorum`` is a Quorum or None when the
    membership is unknown.
    """
    by_key = {}
    for m in members:
        by_key[m["id"] if m.get("id") is not None else m["address"]] = m
    leaders = [m for m in members if m.get("mode") in ("leader", "standalone")]
    serving = [m for m in members if m.get("mode") in SERVING_MODES]
    leader = leaders[0] if len(leaders) == 1 else None
    out = {
        "leader": leader["id"] if leader else None,
        "leader_address": leader["address"] if leader else None,
        "leaders": _sorted(_key(m) for m in leaders),
        "serving": _sorted(_key(m) for m in serving),
        "not_serving": _sorted(_key(m) for m in members if m.get("mode") not in SERVING_MODES),
    }
    if quorum is not None and quorum.voters:
        serving_voters = [m["id"] for m in serving
                          if m.get("id") in quorum.voters and m.get("mode") != "observer"]
        holds = quorum.contains_quorum(serving_voters) and leader is not None
        out.update({
            "voters": quorum.voters,
            "observers": quorum.observers,
            "voter_count": len(quorum.voters),
            "serving_voters": sorted(serving_voters),
            "serving_voter_count": len(serving_voters),
            "groups": dict((str(g), sorted(v)) for g, v in sorted(quorum.groups.items())),
            "weights": dict((str(s), w) for s, w in sorted(quorum.weights.items())),
            "quorum_size": quorum.size,
            "quorum_rule": quorum.describe(),
            "quorum": holds,
            "tolerance": quorum.tolerance(serving_voters) if holds else 0,
        })
    else:
        serving_voters = [m for m in serving if m.get("mode") in SERVING_VOTER_MODES]
        out.update({
            "voters": None, "observers": None, "voter_count": None,
            "groups": None, "weights": None,
            "serving_voters": _sorted(_key(m) for m in serving_voters),
            "serving_voter_count": len(serving_voters),
            "quorum_size": None, "quorum_rule": None,
            # A leader that serves has a quorum behind it.
            "quorum": True if leader is not None else None,
            "tolerance": None,
        })
    zx = dict((id(m), _zxid(m)) for m in members)
    with_zxid = [m for m in members if zx[id(m)] is not None]
    if with_zxid:
        top = max(zx[id(m)] for m in with_zxid)
        out["highest"] = dict(zxid_mod.describe(top),
                              members=_sorted(_key(m) for m in with_zxid if zx[id(m)] == top))
    else:
        out["highest"] = dict(zxid_mod.describe(None), members=[])
    lag = {}
    if leader is not None and zx[id(leader)] is not None:
        for m in serving:
            if zx[id(m)] is not None:
                lag[str(_key(m))] = zxid_mod.lag(zx[id(leader)], zx[id(m)])
    out["lag"] = lag
    out["max_lag"] = max(lag.values()) if lag else None
    return out


def _sorted(keys):
    """Server ids (ints) first, then addresses of members whose id is unknown."""
    return sorted(keys, key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, str(k)))


def _zxid(m):
    z = m.get("zxid")
    if z is None:
        return None
    try:
        return zxid_mod.from_record(z)
    except ValueError:
        return None


def _key(m):
    return m["id"] if m.get("id") is not None else m["address"]
