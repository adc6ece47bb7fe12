#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: zk_progress
short_description: Show the progress of a long zkops task, or wait for it while showing it
version_added: 0.1.0
description:
  - Reads the progress file that a module of the collection writes while it works (its
    O(ignore:progress_file) option of M(zkops.zookeeper.zk_backup), M(zkops.zookeeper.zk_restore),
    M(zkops.zookeeper.zk_tree_export) and M(zkops.zookeeper.zk_tree_import)) and returns it with a
    line for a person (the stage, what is done of it, the rate and the time left).
  - With O(jid), the job id of that module started with C(async) and C(poll=0), it waits for
    the job instead (like M(ansible.builtin.async_status) in a loop) and prints a progress
    line every O(interval) seconds while it waits. It then returns the job's own result, and
    fails when the job failed, so the task can be registered and checked as the module's.
  - While it waits it checks every few seconds that the job's process (the C(pid) in its
    progress file) still exists. When the process is gone while the file says it runs (it
    was killed, for instance by the out-of-memory killer), the task fails at once with the
    stage and progress the file last showed (RV(died)), instead of waiting for O(timeout).
  - The waiting runs on the controller (an action plugin); the progress file and the job's
    status are read on the host the job runs on (use the same C(delegate_to)).
author:
  - zkops maintainers (@zkops)
attributes:
  action:
    support: full
    description: Waiting for a job runs on the controller and reads the host's files.
  check_mode:
    support: full
    description: >-
      Reads only; with O(remove), reports as changed the progress file it would remove and
      removes nothing. A job started in check mode is waited for the same way.
  diff_mode:
    support: none
    description: Nothing changes.
options:
  path:
    description: The progress file (the module's O(ignore:progress_file)).
    type: path
    required: true
  jid:
    description:
      - The C(ansible_job_id) of the job to wait for. Without it the progress file is read
        once.
    type: str
  interval:
    description: With O(jid), seconds between two progress lines (a line repeats only when the progress moved).
    type: float
    default: 10
  timeout:
    description: With O(jid), fail when the job still runs after this many seconds (it keeps running).
    type: int
    default: 3600
  label:
    description: With O(jid), what the progress lines start with. The inventory name of the host by default.
    type: str
  remove:
    description:
      - Remove the progress file after reading it; with O(jid), once the job ended (the job's
        status file is then removed too).
      - Only a progress file is removed, that is a regular file (not a link) named C(*.json),
        owned by the user the module runs as, whose content is a progress state written by a
        module of the collection. Any other O(path) fails the task and nothing is removed.
      - The task reports C(changed) when it removed the file (in check mode, when it would).
    type: bool
    default: true
notes:
  - The job keeps running when the wait times out or the play is interrupted; run the task
    again with the same O(jid) to wait for it, or M(ansible.builtin.async_status).
seealso:
  - module: ansible.builtin.async_status
  - module: zkops.zookeeper.zk_backup
  - module: zkops.zookeeper.zk_restore
"""

EXAMPLES = r"""
- name: Start a backup in the background, writing its progress
  zkops.zookeeper.zk_backup:
    backup_hosts: [backup1.example.com]
    ensemble: prod-zk
    progress_file: /var/tmp/zkops-progress/backup.json
  async: 7200
  poll: 0
  register: job

- name: Wait for it, one progress line every 10 seconds
  zkops.zookeeper.zk_progress:
    jid: "{{ job.ansible_job_id }}"
    path: /var/tmp/zkops-progress/backup.json
  register: backup

- name: Or look at it from another terminal
  zkops.zookeeper.zk_progress:
    path: /var/tmp/zkops-progress/backup.json
    remove: false
"""

RETURN = r"""
progress:
  description:
    - The progress file's content (null when there is none yet), with C(task), C(state), C(stage),
      C(unit), C(done), C(total), C(percent), C(rate), C(eta), C(stage_seconds), C(seconds),
      C(stages) (the finished ones, with their C(seconds) and C(rate)) and C(details).
    - With O(jid), the last progress read, besides the job's own result.
  returned: always
  type: dict
removed:
  description: Without O(jid), whether the progress file was removed (in check mode, whether it would be).
  returned: without O(jid)
  type: bool
msg:
  description: The progress as one line (without O(jid); with it, the job's own C(msg)).
  returned: always
  type: str
process:
  description:
    - The task's process as the progress file names it, C(pid), C(alive) (whether it exists;
      null when the task ended or the file names none) and C(age), the seconds since the file
      was written.
  returned: without O(jid)
  type: dict
died:
  description:
    - With O(jid), true when the job's process is gone while its progress file says it runs
      (killed without a word, for instance by the out-of-memory killer). The task then fails
      within seconds with what the file knows (stage, what was done, how long it ran).
  returned: with O(jid)
  type: bool
progress_lines:
  description: With O(jid), the progress lines printed while waiting.
  returned: with O(jid)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        jid=dict(type="str"),
        interval=dict(type="float", default=10),
        timeout=dict(type="int", default=3600),
        label=dict(type="str"),
        remove=dict(type="bool", default=True),
    ), supports_check_mode=True)
    path = module.params["path"]
    state = progress.read(path)
    removed = False
    if module.params["remove"]:
        try:
            removed = progress.remove(path, check_mode=module.check_mode)
        except progress.ProgressError as exc:
            module.fail_json(msg=str(exc), changed=False, progress=state)
    module.exit_json(changed=removed, removed=removed, progress=state, msg=progress.describe(state),
                     process=progress.liveness(state))


if __name__ == "__main__":
    main()
