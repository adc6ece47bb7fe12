# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes of the modules that never change anything.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode returns the same result.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""
