# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The third-party Python libraries the collection's modules import on the hosts they run
on, the packages that give them, and which of them this interpreter can import.

Knows nothing of ZooKeeper or SSH: a table and an import probe.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import sys

# library: (module imported to prove it works, Debian/Ubuntu package, EL package, pip name, what for)
# The EL packages of kazoo, zstandard and lz4 come from EPEL.
LIBRARIES = {
    "kazoo": ("kazoo.client", "python3-kazoo", "python3-kazoo", "kazoo", "talking to ZooKeeper"),
    "paramiko": ("paramiko", "python3-paramiko", "python3-paramiko", "paramiko", "SSH to the backup hosts"),
    "cryptography": ("cryptography.hazmat.primitives.ciphers.aead", "python3-cryptography",
                     "python3-cryptography", "cryptography", "encrypted backups"),
    "zstandard": ("zstandard", "python3-zstandard", "python3-zstandard", "zstandard", "zstd archives"),
    "lz4": ("lz4.frame", "python3-lz4", "python3-lz4", "lz4", "lz4 archives"),
}

# The archive compressions and the library each needs (gzip and none need none).
COMPRESSION_LIBRARY = {"zstd": "zstandard", "lz4": "lz4"}


def describe(name):
    module, debian, el, pip, purpose = LIBRARIES[name]
    return {"library": name, "module": module, "debian": debian, "el": el, "pip": pip, "purpose": purpose}


def _version(mod):
    for attr in ("__version__", "version", "VERSION"):
        v = getattr(mod, attr, None)
        if isinstance(v, str):
            return v
        if isinstance(v, tuple):
            return ".".join(str(x) for x in v)
    return None


def probe(names, importer=importlib.import_module):
    """Import each library of ``names``: ``(present, missing)``, where ``present`` maps a
    name to its version (or None) and ``missing`` lists describe() of the others, each
    with the ``error`` the import raised."""
    present, missing = {}, []
    for name in names:
        info = describe(name)
        top = info["module"].split(".")[0]
        try:
            importer(info["module"])
            present[name] = _version(sys.modules.get(top))
        except Exception as exc:  # a broken install fails with more than ImportError
            missing.append(dict(info, error="%s: %s" % (type(exc).__name__, exc)))
    return present, missing


def needed(kazoo=True, ssh=True, encrypted=False, compressions=()):
    """The libraries a host needs for the given work, in a stable order."""
    out = []
    if kazoo:
        out.append("kazoo")
    if ssh:
        out.append("paramiko")
    if encrypted:
        out.append("cryptography")
    for c in compressions:
        lib = COMPRESSION_LIBRARY.get(c)
        if lib and lib not in out:
            out.append(lib)
    return out
