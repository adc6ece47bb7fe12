"""payload: the file Ansible ran a module from (its arguments, secrets included, in clear) is
found from the interpreter's command line and removed, and only that file."""
import os

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import payload


class Module(object):
    def __init__(self, keep=False):
        self._keep_remote_files = keep
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)


def _layout(tmp_path):
    tmp = tmp_path / ".ansible" / "tmp" / "ansible-tmp-1733400000.1-77-2811"
    tmp.mkdir(parents=True)
    module = tmp / "AnsiballZ_zk_backup.py"
    module.write_text("ANSIBALLZ_PARAMS = '{\"ssh_private_key\": \"-----BEGIN OPENSSH PRIVATE KEY-----\"}'\n")
    other = tmp_path / "AnsiballZ_elsewhere.py"
    other.write_text("x")
    return str(module), str(other)


def test_the_module_file_is_removed_and_nothing_else(tmp_path):
    module, other = _layout(tmp_path)
    args = ["/usr/bin/python3", module]
    assert payload.payload_paths(args) == [module]
    assert payload.payload_paths(["/usr/bin/python3", other]) == []
    assert payload.payload_paths(["/usr/bin/python3"]) == []     # pipelining: no file at all
    m = Module()
    assert payload.remove(m, args) == [module]
    assert not os.path.exists(module) and os.path.exists(other) and m.warnings == []
    # Gone already: nothing to do, no warning.
    assert payload.remove(m, args) == [] and m.warnings == []


def test_kept_when_ansible_keeps_remote_files(tmp_path):
    module, _other = _layout(tmp_path)
    assert payload.remove(Module(keep=True), ["/usr/bin/python3", module]) == []
    assert os.path.exists(module)


def test_this_process_command_line_is_read():
    assert payload._command_line()[0].endswith(("python", "python3")) or "python" in payload._command_line()[0]
