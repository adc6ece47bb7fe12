# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's version, recorded in what the modules write (galaxy.yml's version;
a unit test keeps the two equal)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

COLLECTION_VERSION = "0.1.0"
