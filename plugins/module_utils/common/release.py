# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper release strings: the one reader of ``3.9.5`` and of what ``srvr`` says of the
release (``Zookeeper version: 3.9.5-<git hash>, built on <date>``).  Releases compare as
tuples of numbers (3.10.0 after 3.9.5)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def _head(text):
    """The release part of ``text``: what comes before a ``,`` and then before a ``-``."""
    return str(text).partition(",")[0].partition("-")[0].strip()


def release_tuple(text):
    """(3, 9, 5) of ``3.9.5`` (a suffix after ``-`` or ``,`` ignored); None when ``text`` is
    not a release number."""
    if text is None:
        return None
    head = _head(text)
    parts = head.split(".")
    if not head or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def from_srvr(value):
    """The release of the ``Zookeeper version`` value of a ``srvr`` answer (``3.9.5`` of
    ``3.9.5-6401e4a, built on 2024-12-29``); None when there is none."""
    return (_head(value) or None) if value else None
