# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Times: reading a target time (milliseconds since the epoch, as ZooKeeper's logs hold
them), reading the UTC stamps this collection writes (seconds), and writing those stamps
(``2025-01-02T03:04:05Z``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import datetime
import time

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def parse_ms(value):
    """Milliseconds since the epoch from an integer or an ISO 8601 string (UTC when it
    has no zone), as a target time is given; raises ValueError."""
    s = str(value).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


def parse_iso_seconds(text):
    """'2025-01-02T03:04:05Z' (the stamps ``iso`` writes) -> seconds since the epoch;
    None when ``text`` is not such a stamp."""
    try:
        return calendar.timegm(time.strptime(text, ISO_FORMAT))
    except (TypeError, ValueError):
        return None


def iso(t):
    """Seconds since the epoch -> '2025-01-02T03:04:05Z' (None for None)."""
    if t is None:
        return None
    return time.strftime(ISO_FORMAT, time.gmtime(t))


def iso_ms(ms):
    """Milliseconds since the epoch -> '2025-01-02T03:04:05Z' (None for None)."""
    return iso(ms / 1000.0) if ms is not None else None


def iso_now():
    """The current time as '2025-01-02T03:04:05Z'."""
    return time.strftime(ISO_FORMAT, time.gmtime())
