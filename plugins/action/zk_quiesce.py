# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of zk_quiesce: stops run one at a time.

The quorum guard of zk_quiesce asks the other members whether they serve.  Two members
stopped at the same moment would each see the other still serving and both stop.  Stops
(state=quiesced, not in check mode) therefore take an exclusive lock on the controller for
as long as the module runs, so that a play on all members with the default forks stops
them one after another and the guard of each sees the previous stop.  A stop with
allow_quorum_loss decides nothing by the guard, so it takes no lock: fencing a whole
ensemble stops every member at once.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import os
import tempfile
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

LOCK_MARGIN = 60.0


def lock_path():
    return os.path.join(tempfile.gettempdir(), "zkops-zk_quiesce-%d.lock" % os.getuid())


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        serialize = (args.get("state") == "quiesced" and not self._play_context.check_mode
                     and not boolean(args.get("allow_quorum_loss", False), strict=False))
        fd = None
        if serialize:
            try:
                wait = float(args.get("timeout", 120)) + LOCK_MARGIN
            except (TypeError, ValueError):
                wait = 120 + LOCK_MARGIN
            fd, waited = self._lock(wait)
            if fd is None:
                result.update(failed=True, changed=False,
                              msg="another zk_quiesce stop on this controller held the lock "
                                  "%s for more than %ds; nothing was done" % (lock_path(), wait))
                return result
        try:
            result.update(self._execute_module(module_name="zkops.zookeeper.zk_quiesce",
                                               module_args=args, task_vars=task_vars))
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        if serialize:
            result["lock_wait"] = round(waited, 3)
        return result

    @staticmethod
    def _lock(wait):
        fd = os.open(lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        t0 = time.time()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd, time.time() - t0
            except (IOError, OSError):
                if time.time() - t0 > wait:
                    os.close(fd)
                    return None, time.time() - t0
                time.sleep(0.1)
