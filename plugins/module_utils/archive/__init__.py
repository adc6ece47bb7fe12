# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup archive: the tar stream and its manifest, compression, encryption and
authenticity, and what one member's backup holds.  Knows nothing of SSH.

May import: common, formats.
"""
