# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result as one JSON line to $ZKOPS_RESULTS, with the
time it arrived (bench/bench_fleet.py reads where a run spends its time from it)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = """
name: zkops_results
type: aggregate
short_description: write task results as JSON lines for the test suite
description:
  - Appends one JSON object per task result to the file named by C(ZKOPS_RESULTS).
requirements:
  - enabled through C(callbacks_enabled)
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "zkops_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._path = os.environ.get("ZKOPS_RESULTS")

    def _write(self, result, status):
        if not self._path:
            return
        try:
            res = dict(result._result)
        except Exception:  # pragma: no cover
            res = {}
        rec = {"host": result._host.get_name(), "task": result._task.get_name(),
               "action": result._task.action, "status": status, "time": time.time(), "result": res}
        with open(self._path, "a") as f:
            f.write(json.dumps(rec, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
