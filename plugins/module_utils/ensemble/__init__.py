# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The members of an ensemble: the member on this host (configuration, process,
service, log), what a server says about itself, quorum arithmetic, quiescing.

May import: common, formats, client.
"""
