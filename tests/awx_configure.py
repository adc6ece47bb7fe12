"""What awx/configure.yml sends to the awx.awx modules, and what those modules accept.

Both are read offline, without an AWX server, from the awx.awx collection that
tests/awx_collection.py caches:

  specs MODULE...   each module's argument spec as the module builds it: the module is
                    imported through Ansible's collection loader and its main() run with
                    AnsibleModule's constructor intercepted, so the spec is the one the
                    module would validate a task's arguments with (options, aliases,
                    types, choices), and its DOCUMENTATION's options (for suboptions that
                    the spec leaves to the module's code, such as workflow_nodes)
  render SITE.json  every task of the playbook with its loop items and arguments
                    templated by ansible-core's own templating, as ansible-playbook would
                    for a run with the site's variables (SITE.json) at -e precedence:
                    [{"module", "item", "when", "args"}]

Each runs in a subprocess of its own (``python tests/awx_configure.py ...``): the
collection loader it installs stays out of the test process.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIGURE = os.path.join(REPO, "awx", "configure.yml")


class _Captured(Exception):
    pass


def _install_loader():
    sys.path.insert(0, HERE)
    import awx_collection
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([awx_collection.collections_path()])


def _plain(node):
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for t in (int, float, str):
        if isinstance(node, t):
            return t(node)
    # A type given as a callable (type=some_function): its name.
    return getattr(node, "__name__", repr(node))


def _specs(names):
    import importlib

    import yaml
    from ansible.module_utils import basic

    def capture(self, argument_spec=None, **kwargs):
        raise _Captured(argument_spec, kwargs)

    basic.AnsibleModule.__init__ = capture
    out = {}
    for name in names:
        mod = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + name)
        spec = kwargs = None
        saved = sys.argv
        sys.argv = [name]
        try:
            mod.main()
        except _Captured as c:
            spec, kwargs = c.args
        finally:
            sys.argv = saved
        if spec is None:
            raise RuntimeError("%s built no AnsibleModule" % name)
        doc = yaml.safe_load(mod.DOCUMENTATION)
        out[name] = {"argument_spec": _plain(spec), "kwargs": _plain(kwargs),
                     "documented": _plain(doc.get("options", {}))}
    return out


def _trust(node):
    from ansible.template import trust_as_template
    if isinstance(node, dict):
        return {k: _trust(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_trust(v) for v in node]
    return trust_as_template(node) if isinstance(node, str) else node


def _render(site):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    loader = DataLoader()
    awx = os.path.dirname(CONFIGURE)
    loader.set_basedir(awx)
    plays = loader.load_from_file(CONFIGURE)
    calls = []
    for play in plays:
        play = _trust(play)
        variables = dict(play.get("vars") or {})
        variables.update(site)
        variables["playbook_dir"] = awx
        for task in play.get("tasks", []):
            module = [k for k in task if k.startswith(("awx.awx.", "ansible.builtin."))]
            if len(module) != 1:
                raise RuntimeError("task %r: no single module of awx.awx or ansible.builtin" % task.get("name"))
            module = module[0]
            items = Templar(loader=loader, variables=variables).template(task["loop"]) if "loop" in task else [None]
            for item in items:
                scope = dict(variables)
                if item is not None:
                    scope["item"] = item
                templar = Templar(loader=loader, variables=scope)
                when = True
                if "when" in task:
                    conditions = task["when"] if isinstance(task["when"], list) else [task["when"]]
                    when = all(templar.evaluate_conditional(c) for c in conditions)
                args = templar.template(task[module]) if when else None
                calls.append({"task": str(task["name"]), "module": module, "item": _plain(item),
                              "when": bool(when), "args": _plain(args)})
    return calls


def run(*args):
    """The JSON that ``python tests/awx_configure.py *args`` prints."""
    p = subprocess.run([sys.executable, os.path.abspath(__file__)] + list(args),
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError("awx_configure.py %s failed:\n%s" % (" ".join(args), p.stderr[-4000:]))
    return json.loads(p.stdout)


def specs(*names):
    return run("specs", *names)


def render(site):
    return run("render", json.dumps(site))


def main(argv):
    _install_loader()
    if argv[:1] == ["specs"]:
        print(json.dumps(_specs(argv[1:])))
    elif argv[:1] == ["render"] and len(argv) == 2:
        print(json.dumps(_render(json.loads(argv[1]))))
    else:
        sys.exit("usage: python tests/awx_configure.py specs MODULE... | render SITE-JSON")


if __name__ == "__main__":
    main(sys.argv[1:])
