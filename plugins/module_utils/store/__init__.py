# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup host's layout: names, the catalog of stored backups and log chunks, the
log-shipping state, run reports, which stored backups a restore needs, and the health of
the backups (thresholds, metrics).

May import: common, formats, archive, transport.
"""
