# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action of telnyx.sip.uac_registration_info: the module, and its progress on each retry line.

Ansible prints one line per retry of a task (``until``): ``FAILED - RETRYING:
[host]: <task name> (<n> retries left).``, the name taken from the task as it
is when the try ends (templated once, before the first try). After each try
this action puts the module's progress (its ``msg``) after the task's own
name, so each retry line says how many connections are registered and how
long is left; nothing else about the task changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

MODULE = "telnyx.sip.uac_registration_info"

# The task's own name, per task, in this worker (each try gets a new action object, the same task object).
_NAMES = {}


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
        if self._task.until and result.get("msg") and not result.get("failed"):
            key = self._task._uuid
            name = _NAMES.setdefault(key, self._task.name or MODULE)
            self._task.name = "%s: %s" % (name, result["msg"])
        return result
