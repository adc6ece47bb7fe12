"""Fixtures shared by the module tests."""
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    """exit_json() or fail_json() was called; ``ok`` and ``result`` say which and what."""

    def __init__(self, ok, result):
        super(ModuleExit, self).__init__(result.get("msg"))
        self.ok = ok
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    """run_module(module, check=False, **args) -> (ok, result) of the module's main()."""
    basic._ANSIBLE_PROFILE = "legacy"

    def exit_json(self, **kw):
        raise ModuleExit(True, kw)

    def fail_json(self, **kw):
        raise ModuleExit(False, kw)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    # The module's warnings, recorded here: where ansible-core sends warnings depends on
    # what else the test process has imported (an action plugin routes them to the display).
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg))

    def call(module, check=False, **args):
        args["_ansible_check_mode"] = check
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS",
                            to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises(ModuleExit) as e:
            module.main()
        return e.value.ok, e.value.result
    call.warnings = warnings
    return call
