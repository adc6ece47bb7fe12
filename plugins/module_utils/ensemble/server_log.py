# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tail of the local server's log, for error messages.

The log is, in order: the file given; ``zookeeper.log.dir``/``zookeeper.log.file`` from the
server's JVM options; the newest ``*.log`` or ``*.out`` file in the log directory
(Debian: /var/log/zookeeper).  Anything that looks like a password is masked.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

DEFAULT_LOG_DIR = "/var/log/zookeeper"
_SECRET = re.compile(r"(?i)((?:password|passwd|secret|credential)[\w.\-]*\s*[=:]\s*)(\S+)")


def mask(line):
    return _SECRET.sub(lambda m: m.group(1) + "********", line)


def newest_log(directory):
    """The most recently written *.log or *.out file in ``directory`` (None if none)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    best = None
    for name in names:
        if not (name.endswith(".log") or name.endswith(".out")):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if os.path.isfile(path) and (best is None or st.st_mtime > best[0]):
            best = (st.st_mtime, path)
    return best[1] if best else None


def locate(log_file=None, log_dir=None, log_name=None):
    """The log file to read, or None."""
    if log_file:
        return log_file
    directory = log_dir or DEFAULT_LOG_DIR
    if log_name:
        path = os.path.join(directory, log_name)
        if os.path.isfile(path):
            return path
    return newest_log(directory)


def tail(path, lines=20, max_bytes=65536):
    """The last ``lines`` lines of ``path`` (masked), or [] when it cannot be read."""
    if not path or lines <= 0:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except (IOError, OSError):
        return []
    text = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and text:
        text = text[1:]          # the first line is probably cut
    return [mask(line) for line in text[-lines:]]
