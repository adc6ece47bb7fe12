# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper transaction ids: a 64-bit number, the epoch in the high 32 bits and a
counter within the epoch in the low 32 bits.  Comparing two zxids as numbers compares
(epoch, counter).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def parse(value):
    """'0x100000003', '100000003' (hex, as in file names) or an int -> int.

    Raises ValueError for anything else.
    """
    if isinstance(value, bool):
        raise ValueError("not a zxid: %r" % (value,))
    if isinstance(value, int):
        z = value
    else:
        text = str(value).strip().lower()
        if text.startswith("0x"):
            text = text[2:]
        if not text:
            raise ValueError("not a zxid: %r" % (value,))
        z = int(text, 16)
    if z < 0 or z >= 1 << 64:
        raise ValueError("zxid out of range: %r" % (value,))
    return z


def epoch(z):
    return z >> 32


def counter(z):
    return z & 0xFFFFFFFF


def to_hex(z):
    return "0x%x" % z


def describe(z):
    """{'zxid': '0x...', 'epoch': int, 'counter': int} (None values for None)."""
    if z is None:
        return {"zxid": None, "epoch": None, "counter": None}
    return {"zxid": to_hex(z), "epoch": epoch(z), "counter": counter(z)}


def lag(leader, member):
    """Transactions of the leader's current epoch that ``member`` has not applied yet.

    A member in an older epoch lacks at least every transaction of the new one; a leader
    whose counter is 0 has committed nothing since it was elected, so a member that synced
    with it lags by nothing.
    """
    if member >= leader:
        return 0
    if epoch(member) == epoch(leader):
        return counter(leader) - counter(member)
    return counter(leader)
