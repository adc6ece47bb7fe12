# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The option of the modules that report their progress while they run
    # (plugins/module_utils/common/progress.py: argument_spec()).
    DOCUMENTATION = r"""
options:
  progress_file:
    description:
      - While the module works, write its progress to this file on the host it runs on, at
        most once a second and atomically, with the stage, what is done of it (bytes, znodes or
        operations), the rate and the estimated time left.
      - Meant for a task run with C(async) and C(poll=0), followed by
        M(zkops.zookeeper.zk_progress) with the job id, which shows the progress while it
        waits (the collection's roles do so). The directory is created (mode 0700) when
        missing. The file holds no secret.
    type: path
"""
