"""What the collection declares: its modules' argument specs, their no_log options, and the
variables each playbook reads (the playbook, its task files and its roles' argument specs)."""
import importlib
import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODULES = os.path.join(REPO, "plugins", "modules")


class _Captured(Exception):
    def __init__(self, spec):
        super(_Captured, self).__init__("argument spec")
        self.spec = spec


def module_names():
    return sorted(f[:-3] for f in os.listdir(MODULES) if f.endswith(".py") and not f.startswith("_"))


def argument_spec(name):
    """The argument spec module ``name`` hands to AnsibleModule (its main() is run up to there)."""
    from ansible.module_utils import basic
    mod = importlib.import_module("ansible_collections.zkops.zookeeper.plugins.modules." + name)

    def capture(self, argument_spec, *args, **kwargs):
        raise _Captured(argument_spec)

    real = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = capture
    try:
        mod.main()
    except _Captured as c:
        return c.spec
    finally:
        basic.AnsibleModule.__init__ = real
    raise AssertionError("%s: main() did not create an AnsibleModule" % name)


def no_log_options(spec, prefix=""):
    """Dotted names of the options (and suboptions) marked no_log=True."""
    out = []
    for name, opt in sorted(spec.items()):
        if opt.get("no_log"):
            out.append(prefix + name)
        if opt.get("options"):
            out += no_log_options(opt["options"], prefix + name + ".")
    return out


def collection_no_log_options():
    """{module: [no_log options]} for every module that has any."""
    out = {}
    for name in module_names():
        opts = no_log_options(argument_spec(name))
        if opts:
            out[name] = opts
    return out


def _task_files(path, seen):
    """``path`` and every task or vars file it imports, includes or loads by a relative name
    (vars_files, include_vars from a role's vars/ or by {{ role_path }}), recursively."""
    if path in seen or not os.path.exists(path):
        return
    seen.add(path)
    with open(path) as f:
        text = f.read()
    here = os.path.dirname(path)
    refs = re.findall(r"(?:import_tasks|include_tasks):\s*([\w./-]+\.yml)", text)
    for block in re.findall(r"^\s*vars_files:[ \t]*\n((?:[ \t]*-[ \t]*[\w./-]+\.yml[ \t]*\n)+)", text, re.M):
        refs += re.findall(r"-\s*([\w./-]+\.yml)", block)
    for ref in re.findall(r"include_vars:\s*\"?([{}\w ./-]+\.yml)", text):
        if "role_path" in ref:
            refs.append(os.path.join("..", ref.split("}}", 1)[1].lstrip("/")))
        elif "/" not in ref:
            refs.append(os.path.join("..", "vars", ref))
    for ref in refs:
        _task_files(os.path.normpath(os.path.join(here, ref)), seen)


def playbook_sources(playbook):
    """The text of a playbook, the task files it pulls in and its roles' files, and the
    variables its roles declare (argument specs), as (text, declared variables)."""
    path = os.path.join(REPO, playbook)
    files = set()
    _task_files(path, files)
    declared = set()
    with open(path) as f:
        plays = yaml.safe_load(f)
    roles = []
    for play in plays:
        for role in play.get("roles", []):
            roles.append((role["role"] if isinstance(role, dict) else role, "main"))
        # Roles the play's tasks import or include (by their entry point: tasks_from).
        for t in play.get("tasks", []) or []:
            for key in ("ansible.builtin.import_role", "ansible.builtin.include_role"):
                if isinstance(t, dict) and isinstance(t.get(key), dict):
                    roles.append((t[key]["name"], t[key].get("tasks_from", "main")))
    for name, entry in roles:
        short = name.split(".")[-1]
        rdir = os.path.join(REPO, "roles", short)
        for sub in ("tasks", "defaults", "vars"):
            d = os.path.join(rdir, sub)
            for fn in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                _task_files(os.path.join(d, fn), files)
        with open(os.path.join(rdir, "meta", "argument_specs.yml")) as f:
            declared.update(yaml.safe_load(f)["argument_specs"][entry]["options"])
    text = ""
    for fn in sorted(files):
        with open(fn) as f:
            text += f.read() + "\n"
    return text, declared


def playbook_reads(playbook, variable):
    """Whether ``playbook`` (or its roles) reads ``variable``."""
    text, declared = playbook_sources(playbook)
    return variable in declared or re.search(r"\b%s\b" % re.escape(variable), text) is not None
