# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to a ZooKeeper server: the kazoo connection and its options, the wire
protocol for pipelined reads, and the four-letter words.

May import: common.
"""
