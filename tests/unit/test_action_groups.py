"""The action groups of meta/runtime.yml: a group's module_defaults reach every module of the
group, so the roles and playbooks set under a group only options that all of its modules have;
every module that talks the ZooKeeper client protocol is in zookeeper_client, and the
connection options are given through that group, not once per module."""
import ast
import glob
import importlib
import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "zkops.zookeeper."
CONNECTION = {"connect_timeout", "session_timeout", "auth", "tls", "tls_ca_file", "tls_cert_file",
              "tls_key_file", "tls_key_password", "tls_verify"}


def _read(path):
    with open(path) as f:
        return f.read()


def _documentation(path):
    for node in ast.parse(_read(path)).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)
    raise AssertionError("no DOCUMENTATION in %s" % path)


def _fragment(name):
    module, _dot, attr = name[len(PREFIX):].partition(".")
    cls = importlib.import_module("ansible_collections.zkops.zookeeper.plugins.doc_fragments."
                                  + module).ModuleDocFragment
    return yaml.safe_load(getattr(cls, attr.upper() if attr else "DOCUMENTATION"))


def module_doc(name):
    doc = _documentation(os.path.join(REPO, "plugins", "modules", name + ".py"))
    options = set(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    for frag in fragments:
        if frag.startswith(PREFIX):
            options |= set(_fragment(frag).get("options") or {})
    return options, fragments


MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
GROUPS = yaml.safe_load(_read(os.path.join(REPO, "meta", "runtime.yml")))["action_groups"]
# The variables that hold a group's options, as the roles and playbooks give them.
OPTION_VARS = dict(yaml.safe_load(_read(os.path.join(REPO, "roles", "backup", "vars", "backup_ssh.yml"))),
                   **yaml.safe_load(_read(os.path.join(REPO, "playbooks", "vars", "zookeeper_client.yml"))))


def _walk(key):
    """(file, value of ``key``) for every mapping with that key in roles/*/tasks and playbooks/."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if key in node:
                found.append((path, node[key]))
            for value in node.values():
                walk(value, path)
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))
                       + glob.glob(os.path.join(REPO, "playbooks", "*.yml"))
                       + glob.glob(os.path.join(REPO, "playbooks", "tasks", "*.yml"))
                       + glob.glob(os.path.join(REPO, "playbooks", "plays", "*.yml"))):
        walk(yaml.safe_load(_read(path)), os.path.relpath(path, REPO))
    return found


def module_defaults_blocks():
    """(file, module_defaults) of every task, block and play in roles/ and playbooks/."""
    return [(path, value) for path, value in _walk("module_defaults") if isinstance(value, dict)]


def options(value):
    """The options a module_defaults entry sets: a mapping, or a variable that holds one."""
    if isinstance(value, dict):
        return set(value)
    name = value.strip("{} ").split("|")[0].strip()
    if name in OPTION_VARS:
        return set(OPTION_VARS[name])
    # An expression built on the SSH options (tree_export.yml's zk_tree_export).
    assert name == "__zookeeper_backup_ssh_options", value
    return set(OPTION_VARS[name]) | {"ssh_known_hosts_file"}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_module_of_a_group_exists(group):
    assert GROUPS[group] and set(GROUPS[group]) <= set(MODULES), group


def test_zookeeper_client_holds_every_module_of_the_client_protocol():
    clients = [m for m in MODULES if PREFIX + "zookeeper" in module_doc(m)[1]]
    assert sorted(GROUPS["zookeeper_client"]) == clients
    for m in clients:
        assert CONNECTION <= module_doc(m)[0], m


def test_groups_set_only_options_that_every_module_of_the_group_has():
    blocks = module_defaults_blocks()
    used = set()
    for path, defaults in blocks:
        for key, value in defaults.items():
            if not key.startswith("group/"):
                continue
            group = key[len("group/" + PREFIX):]
            used.add(group)
            for m in GROUPS[group]:
                missing = options(value) - module_doc(m)[0]
                assert not missing, (path, key, m, sorted(missing))
    assert used == {"backup_ssh", "zookeeper_client"}


def test_the_connection_options_are_given_once_through_the_group():
    for path, defaults in module_defaults_blocks():
        for key, value in defaults.items():
            if key.startswith(PREFIX) and key[len(PREFIX):] in GROUPS["zookeeper_client"]:
                assert not CONNECTION & options(value), (path, key, sorted(CONNECTION & options(value)))
    for m in GROUPS["zookeeper_client"]:
        for path, args in _walk(PREFIX + m):
            assert not CONNECTION & set(args or {}), (path, m, sorted(CONNECTION & set(args or {})))
