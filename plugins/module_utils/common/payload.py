# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file Ansible ran this module from, removed as soon as the module has started.

Without pipelining Ansible copies the module with its arguments to the managed node
(``AnsiballZ_<module>.py`` in the remote user's temporary directory,
``~/.ansible/tmp/ansible-tmp-*``) and runs it from there.  The arguments are in that file
in clear, secrets included (an SSH private key, its passphrase, an encryption key).  Run
in the background (``async``), the file stays as long as the module runs, and for good
when the module and the wrapper that watches it are killed.  Once the interpreter has
read it, nothing needs the file any more: ``remove()`` deletes it right after the
arguments were parsed, unless Ansible was asked to keep remote files (for debugging).

The interpreter's own command line (``/proc/self/cmdline``) names the file: Ansible's
module loader replaces ``sys.argv`` with the module's name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

PREFIX = "AnsiballZ_"
TMP_MARK = "ansible-tmp-"


def _command_line():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0") if a]
    except (IOError, OSError):
        return list(getattr(sys, "orig_argv", None) or [])


def payload_paths(args=None):
    """The AnsiballZ files in Ansible's remote temporary directories that ``args`` (the
    interpreter's command line) names."""
    out = []
    for a in (args if args is not None else _command_line())[1:]:
        base = os.path.basename(a)
        if base.startswith(PREFIX) and base.endswith(".py") and TMP_MARK in os.path.dirname(a):
            out.append(a)
    return out


def remove(module, args=None):
    """Delete the file this module was run from (see the module's docstring); returns the
    paths removed.  Never fails the module: a file that cannot be removed is only warned of."""
    if getattr(module, "_keep_remote_files", False):
        return []
    removed = []
    for path in payload_paths(args):
        try:
            os.unlink(path)
            removed.append(path)
        except OSError as exc:
            if os.path.exists(path):
                module.warn("could not remove %s, which holds this module's arguments: %s" % (path, exc))
    return removed
