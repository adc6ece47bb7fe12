# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup workflow: which member to back up from, the archive streamed to every
backup host, its verification there, log shipping and retention.

May import: every layer but restore.
"""
