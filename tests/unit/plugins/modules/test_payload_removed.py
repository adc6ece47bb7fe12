"""Every module with an option that holds a secret (no_log) deletes the file Ansible ran it
from (its arguments in clear, see payload.py) as soon as AnsibleModule has parsed them,
before it does anything else: a step killed later leaves no secret on the member's disk."""
import importlib
import os
import pkgutil

import pytest

from ansible_collections.zkops.zookeeper.plugins import modules as modules_pkg
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload

MODULES = sorted(m.name for m in pkgutil.iter_modules(modules_pkg.__path__))


class Removed(Exception):
    """payload.remove() ran: main() stops here."""


class UsedBeforeRemoval(Exception):
    pass


class FakeAnsibleModule(object):
    """Records the argument spec; any use other than payload.remove()'s fails the test."""

    created = []

    def __init__(self, argument_spec=None, **kwargs):
        self.__dict__["argument_spec"] = argument_spec or {}
        self.__dict__["_keep_remote_files"] = False
        FakeAnsibleModule.created.append(self)

    def warn(self, msg):
        raise UsedBeforeRemoval("warned before the payload was removed: %s" % msg)

    def __getattr__(self, name):
        raise UsedBeforeRemoval("module.%s used before the payload was removed" % name)


def _has_no_log(spec):
    for option in spec.values():
        if option.get("no_log"):
            return True
        if _has_no_log(option.get("options") or {}):
            return True
    return False


def _run(monkeypatch, tmp_path, name):
    """main() of the module with a fake AnsibleModule and a fake AnsiballZ file; returns
    (the fake module or None, the file, what stopped main())."""
    mod = importlib.import_module("ansible_collections.zkops.zookeeper.plugins.modules." + name)
    tmp = tmp_path / ".ansible" / "tmp" / "ansible-tmp-1733400000.1-77-2811"
    tmp.mkdir(parents=True)
    path = tmp / ("AnsiballZ_%s.py" % name)
    path.write_text("ANSIBALLZ_PARAMS = '{\"ssh_private_key\": \"secret\"}'\n")
    real_remove = payload.remove

    def remove(module, args=None):
        assert module is FakeAnsibleModule.created[-1]
        real_remove(module, ["/usr/bin/python3", str(path)])
        raise Removed()
    FakeAnsibleModule.created = []
    monkeypatch.setattr(mod, "AnsibleModule", FakeAnsibleModule)
    monkeypatch.setattr(payload, "remove", remove)
    try:
        mod.main()
        stop = None
    except (Removed, UsedBeforeRemoval) as exc:
        stop = exc
    except Exception as exc:   # anything else: the module went on without removing it
        stop = exc
    return (FakeAnsibleModule.created[0] if FakeAnsibleModule.created else None), path, stop


def test_every_module_is_checked():
    assert "zk_backup" in MODULES and "zk_restore" in MODULES and len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_a_module_with_secrets_removes_its_payload_first(monkeypatch, tmp_path, name):
    module, path, stop = _run(monkeypatch, tmp_path, name)
    assert module is not None, "%s: main() created no AnsibleModule" % name
    if not _has_no_log(module.argument_spec):
        return
    assert isinstance(stop, Removed), "%s has a no_log option but did not remove its payload first: %r" % (
        name, stop)
    assert not os.path.exists(str(path))


def test_no_log_found_in_sub_options():
    assert _has_no_log({"auth": {"type": "list", "no_log": False,
                                 "options": {"credential": {"type": "str", "no_log": True}}}})
    assert not _has_no_log({"hosts": {"type": "str"}, "auth": {"no_log": False, "options": {}}})
