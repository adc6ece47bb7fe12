# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH to the backup hosts: connections whose host keys are checked, and the verified
push of a stream into a file that appears only when complete.

May import: common.
"""
