# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small things every layer uses: zxids, times, targets (a zxid or a time), the collection
version, progress files, the payload Ansible ran, the third-party libraries, a byte pipe
between threads, a directory fsync and atomic file writes, Prometheus' text format.  Its
modules may import one another.

May import: nothing of the collection.
"""
