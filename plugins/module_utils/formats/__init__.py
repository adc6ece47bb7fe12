# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ZooKeeper's own formats, read and written byte for byte: jute records, transaction
logs and snapshots, the data tree and its digest, replay, data directories and the names of
their files, zoo.cfg, point-in-time copies, and the tree export file.

May import: common.
"""
