# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of zk_progress: wait for an asynchronous job and show its progress.

Without ``jid`` the module reads the progress file once.  With it, this loop polls the job
(ansible.builtin.async_status, the way its own action plugin does) and reads the progress
file (the zk_progress module) on the host the job runs on, prints a line whenever
``interval`` seconds passed and the progress moved, and returns the job's result when it
ended: the task then fails or succeeds as the job did.

Every ``CHECK`` seconds it also looks whether the job's process (the pid in its progress
file) still exists.  A process that is gone while its file says it runs was killed without
a word (the out-of-memory killer, a kill -9): the wait ends at once and fails with what the
file knew, instead of waiting for the timeout on a job whose status nobody will write.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress

display = Display()

# Seconds between two looks at the job's status (each is a round trip to the host).
POLL = 1.0
# Seconds between two looks at the job's process.
CHECK = 2.0


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        jid = args.pop("jid", None)
        if not jid:
            result.update(self._execute_module(module_name="zkops.zookeeper.zk_progress",
                                               module_args=args, task_vars=task_vars))
            return result
        try:
            interval = float(args.pop("interval", 10))
            timeout = float(args.pop("timeout", 3600))
        except (TypeError, ValueError):
            result.update(failed=True, msg="interval and timeout must be numbers")
            return result
        label = args.pop("label", None) or self._task.delegate_to or task_vars.get("inventory_hostname", "")
        remove = boolean(args.pop("remove", True), strict=False)
        path = args.get("path")
        if not path:
            result.update(failed=True, msg="path (the job's progress file) is required")
            return result
        try:
            return self._wait(result, task_vars, jid, path, interval, timeout, label, remove)
        except AnsibleActionFail as exc:
            result.update(exc.result)
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _read(self, task_vars, path, remove=False, process=False):
        out = self._execute_module(module_name="zkops.zookeeper.zk_progress",
                                   module_args={"path": path, "remove": remove},
                                   task_vars=task_vars)
        if out.get("failed") and remove:
            raise AnsibleActionFail(out.get("msg"))
        if process:
            return out.get("progress"), out.get("msg"), out.get("process") or {}
        return out.get("progress"), out.get("msg")

    def _status(self, task_vars, jid, mode="status"):
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        return self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                    module_args={"jid": jid, "mode": mode, "_async_dir": async_dir})

    def _wait(self, result, task_vars, jid, path, interval, timeout, label, remove):
        t0 = time.time()
        next_line = t0 + min(interval, 5.0)
        next_check = t0 + CHECK
        shown = last = None
        lines = []
        while True:
            job = self._status(task_vars, jid)
            if job.get("finished") or job.get("failed") or not job.get("started", True):
                break
            now = time.time()
            if now - t0 > timeout:
                result.update(failed=True, ansible_job_id=jid, progress=last, progress_lines=lines,
                              msg="the job %s still runs after %d s; it goes on: wait for it again (zk_progress "
                                  "with jid %s) or look at %s" % (jid, timeout, jid, path))
                return result
            if now >= next_line or now >= next_check:
                state, line, process = self._read(task_vars, path, process=True)
                if state is not None:
                    last = state
                if process.get("alive") is False:
                    # Gone while its file says it runs; a job that just ended wrote its status.
                    job = self._status(task_vars, jid)
                    if not (job.get("finished") and not job.get("failed")):
                        return self._died(result, task_vars, jid, path, job, state, lines, label, remove)
                    break
                if now >= next_line:
                    if line != shown:
                        display.display("%s | %s" % (label, line))
                        lines.append(line)
                        shown = line
                    next_line = now + interval
                next_check = now + CHECK
            time.sleep(min(POLL, max(interval, 0.2)))
        if job.get("failed"):
            # Killed while the wrapper that watches it lived on: the wrapper's word is only
            # that the job's output was empty; the progress file tells what it was doing.
            state, line, process = self._read(task_vars, path, process=True)
            if process.get("alive") is False:
                return self._died(result, task_vars, jid, path, job, state, lines, label, remove)
        state, line = self._read(task_vars, path, remove=remove)
        if state is not None:
            last = state
        if lines and line != shown:
            display.display("%s | %s" % (label, line))
            lines.append(line)
        if remove and job.get("finished"):
            self._status(task_vars, jid, mode="cleanup")
        for key in ("results_file", "started", "finished"):
            job.pop(key, None)
        job.pop("_ansible_no_log", None)
        result.update(job)
        result.update(ansible_job_id=jid, progress=last, progress_lines=lines, died=False)
        return result

    def _died(self, result, task_vars, jid, path, job, state, lines, label, remove):
        """Fail the wait of a job whose process was killed: what its file last said, and its
        scratch files removed (its status file, which nothing will complete)."""
        msg = progress.died(state, label) + ". Nothing of this step completed; run it again"
        display.display("%s | %s" % (label, msg))
        if remove:
            self._read(task_vars, path, remove=True)
            self._status(task_vars, jid, mode="cleanup")
        result.update(failed=True, changed=False, died=True, ansible_job_id=jid, progress=state,
                      progress_lines=lines + [msg], msg=msg)
        if job.get("msg"):
            result["job_msg"] = job["msg"]
        return result
