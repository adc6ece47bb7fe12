# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A point in time to restore or read the data at: the options target_zxid (a zxid, see
``zxid.parse`` for the rule) and target_time (see ``times.parse_ms``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod


def parse_target(target_zxid, target_time, latest=None):
    """(zxid, milliseconds) of the options target_zxid and target_time, each None when not
    given.  With ``latest`` (a word such as 'latest'), target_zxid may be that word (any
    case), returned as it is.  Raises ValueError with a message that names the option."""
    zxid = None
    if target_zxid is not None:
        if latest is not None and str(target_zxid).strip().lower() == latest:
            zxid = latest
        else:
            try:
                zxid = zxid_mod.parse(target_zxid)
            except ValueError:
                if latest is not None:
                    raise ValueError("target_zxid %r is neither hex (0x...), decimal, nor %r"
                                     % (target_zxid, latest))
                raise ValueError("target_zxid %r is neither hex (0x...) nor decimal" % (target_zxid,))
    ms = None
    if target_time is not None:
        try:
            ms = times.parse_ms(target_time)
        except ValueError as exc:
            raise ValueError("target_time %r is not an ISO 8601 time or milliseconds since the epoch: %s"
                             % (target_time, exc))
    return zxid, ms
