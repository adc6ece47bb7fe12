# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which member to back up from, in order of preference.

A backup reads the member's files while it serves; the leader is the member whose work
every write waits for, so it comes last.  Among the others (followers, then observers)
the one with the highest zxid comes first: it holds the most.  Members that do not
serve are left out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod

_RANK = {"follower": 0, "observer": 1, "leader": 2, "standalone": 2}


def _zxid(value):
    if value is None:
        return -1
    return zxid_mod.from_record(value)


def order(members):
    """``members``: dicts with ``host``, ``mode``, ``serving`` and ``zxid`` (``0x...`` or int;
    bare digits are refused).

    Returns the hosts to try, best first.
    """
    usable = [m for m in members if m.get("serving") and m.get("mode") in _RANK]
    usable.sort(key=lambda m: (_RANK[m["mode"]], -_zxid(m.get("zxid")), str(m.get("host"))))
    return [m["host"] for m in usable]
