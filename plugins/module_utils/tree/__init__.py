# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Znode trees through a live ensemble: the walk, the export file written and pushed, the
plan and the apply of an import, and the tree replayed from a member's data directory.

May import: common, formats, archive, transport, store, client, ensemble.
"""
