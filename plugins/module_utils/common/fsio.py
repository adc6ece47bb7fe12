# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durable writes on the local file system."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os


def fsync_dir(path):
    """Make the names in directory ``path`` (a file created or renamed into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
