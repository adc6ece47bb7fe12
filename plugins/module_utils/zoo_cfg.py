# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a ZooKeeper ``zoo.cfg``: a Java properties file (``QuorumPeerConfig``)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os


def parse(text):
    """{key: value} of a properties text: ``key=value``, ``key: value`` or ``key value``
    lines; ``#`` and ``!`` start comments; keys and values are trimmed."""
    out = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s[0] in "#!":
            continue
        cut = len(s)
        for sep in ("=", ":", " ", "\t"):
            i = s.find(sep)
            if 0 <= i < cut:
                cut = i
        key = s[:cut].strip()
        value = s[cut + 1:].strip() if cut < len(s) else ""
        if value[:1] in ("=", ":") and s[cut] in " \t":
            value = value[1:].strip()
        out[key] = value
    return out


def read(path):
    with open(path) as f:
        return parse(f.read())


def data_dirs(cfg, base=None):
    """(dataDir, dataLogDir) of a parsed zoo.cfg; dataLogDir defaults to dataDir.
    Relative paths are taken relative to ``base`` when given."""
    data_dir = cfg.get("dataDir")
    if not data_dir:
        raise ValueError("zoo.cfg sets no dataDir")
    log_dir = cfg.get("dataLogDir") or data_dir
    if base:
        data_dir = os.path.join(base, data_dir)
        log_dir = os.path.join(base, log_dir)
    return data_dir, log_dir
