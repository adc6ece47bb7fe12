# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore workflow: fetch and verify the stored backup, stage it beside the
members' data, swap it in, start the ensemble and verify it, or roll back.

May import: every layer but backup.
"""
