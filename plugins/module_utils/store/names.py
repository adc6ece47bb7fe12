# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names that become paths on a backup host: ensembles, backup ids, stored file names.

Each is one path component (the patterns end with ``\\Z``: ``$`` would let a trailing
newline through), checked here before any path is built from it, whether it
comes from a module option or from a manifest or a directory listing on a backup host.

- An ensemble name (``ENSEMBLE``): letters, digits, ``_``, ``.`` and ``-``, starting with a
  letter or digit, at most 128 characters; so never ``.``, ``..`` nor a hidden name.
- A backup id: the same rule as an ensemble name (``PLAIN``); the ids zk_backup and
  zk_tree_export give what they store read ``<YYYYmmddTHHMMSSZ>-<kind>-<hex>`` (``ID_FORMAT``),
  and only a directory named so counts as an incomplete backup (debris) when it lacks its
  checksums or manifest.
- A stored file name (``FILE``): an ensemble name's rule, up to 255 characters, with ``+``.

The debris that the collection leaves on a backup host, and only that, is recognised by
name: ``.<backup id>.partial-<hex>`` (an interrupted push), ``.<backup id>.deleting-<hex>``
(an interrupted deletion) and a directory named ``<YYYYmmddTHHMMSSZ>-<kind>-<hex>`` without its
checksums or manifest.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import os
import re
import time

PLAIN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
ENSEMBLE = re.compile(r"^%s\Z" % PLAIN)
BACKUP_ID = ENSEMBLE
ID_FORMAT = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z]+-[0-9a-f]{1,32}\Z")
FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}\Z")
DEBRIS = re.compile(r"^\.(%s)\.(partial|deleting)-[0-9a-f]{1,32}\Z" % PLAIN)


def new_backup_id(kind, now=None):
    """A new backup id of ``kind``: ``<YYYYmmddTHHMMSSZ>-<kind>-<6 hex>`` (``ID_FORMAT``)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return "%s-%s-%s" % (stamp, kind, binascii.hexlify(os.urandom(3)).decode("ascii"))


class NameRefused(ValueError):
    """A name that is not a plain name of its kind; the message says what was expected."""


def is_ensemble(name):
    return isinstance(name, str) and bool(ENSEMBLE.match(name))


def is_backup_id(name):
    return isinstance(name, str) and bool(BACKUP_ID.match(name))


def has_id_format(name):
    """Whether ``name`` reads like the ids this collection gives its backups."""
    return isinstance(name, str) and bool(ID_FORMAT.match(name))


def debris_kind(name):
    """'partial' or 'deleting' for a name of the debris the collection leaves, else None."""
    m = DEBRIS.match(name) if isinstance(name, str) else None
    return m.group(2) if m else None


def ensemble(name, what="ensemble"):
    """``name`` when it is a plain ensemble name, else raise NameRefused."""
    if not is_ensemble(name):
        raise NameRefused("%s %r is not a plain name: use letters, digits, '_', '.' and '-', starting with a "
                          "letter or a digit (at most 128 characters)" % (what, name))
    return name


def backup_id(name, what="backup id"):
    """``name`` when it is a backup id, else raise NameRefused."""
    if not is_backup_id(name):
        raise NameRefused("%s %r is not a plain name: backup ids read <YYYYmmddTHHMMSSZ>-<kind>-<hex>, "
                          "for instance 20250301T021500Z-full-3fa2c1 (zk_backup_catalog lists them)" % (what, name))
    return name


def file_name(name, what="file name"):
    """``name`` when it is a plain file name (one component, not hidden), else raise NameRefused."""
    if not isinstance(name, str) or not FILE.match(name) or name in (".", ".."):
        raise NameRefused("%s %r is not a plain file name" % (what, name))
    return name
