"""awx/configure.yml against the awx.awx collection it uses, offline (no AWX server).

The collection is the one pinned in tests/lock/awx.txt (tests/awx_collection.py fetches and
caches it once). Every task of the playbook is templated by ansible-core as a run with a
site's variables would template it (tests/awx_configure.py), and every argument it would
send is checked against the argument spec that the awx.awx module itself builds: the
option exists (or is an alias), its value has the option's type (strictly: the value as
the task passes it, before AnsibleModule's conversions) and is one of its choices, the
required options are there; the workflow nodes against the module's documented
suboptions. The definitions it reads must arrive unchanged, and every name they refer to
must resolve.
"""
import json
import os
import subprocess
import sys

import pytest

import awx_collection
import awx_configure
import awx_format as A

ALL_TYPES = sorted(A.credential_types())
SITE = {
    "zookeeper_awx_organization": "Platform",
    "zookeeper_awx_project": "zkops",
    "zookeeper_awx_inventory": "zookeeper production",
    "zookeeper_awx_drill_inventory": "zookeeper drill",
    "zookeeper_awx_execution_environment": "zkops-ee",
    "zookeeper_awx_machine_credential": "zookeeper members",
    "zookeeper_awx_credentials": {name: "prod - " + name for name in ALL_TYPES},
}
BUILTIN = ("ansible.builtin.assert", "ansible.builtin.debug")
TYPES = {"str": str, "bool": bool, "int": int, "float": (int, float), "dict": dict, "list": list,
         "path": str, "raw": object, None: str}


@pytest.fixture(scope="module")
def collection():
    awx_collection.fetch(log=lambda msg: None)
    return awx_collection.collections_path()


@pytest.fixture(scope="module")
def calls(collection):
    return awx_configure.render(SITE)


@pytest.fixture(scope="module")
def specs(calls):
    names = sorted({c["module"].rsplit(".", 1)[1] for c in calls if c["module"].startswith("awx.awx.")})
    return awx_configure.specs(*(names + ["workflow_job_template_node"]))


def option_errors(spec, args):
    """Why the module would refuse ``args`` (AnsibleModule's checks of its argument spec)."""
    errors = []
    names = {}
    for opt, o in spec.items():
        names[opt] = opt
        for alias in o.get("aliases") or []:
            names[alias] = opt
    for key, value in args.items():
        if key not in names:
            errors.append("unsupported option %s" % key)
            continue
        o = spec[names[key]]
        want = TYPES.get(o.get("type"), object)
        if o.get("type") in TYPES and not isinstance(value, want) or (want is not bool and isinstance(value, bool)
                                                                      and o.get("type") not in ("raw", "bool")):
            errors.append("%s: %r is not of type %s" % (key, value, o.get("type") or "str"))
        if o.get("choices") is not None and value not in o["choices"]:
            errors.append("%s: %r is not one of %s" % (key, value, o["choices"]))
    for opt, o in spec.items():
        if o.get("required") and not any(names.get(k) == opt for k in args):
            errors.append("missing required option %s" % opt)
    return errors


def suboption_errors(documented, value, where):
    """Check a value against documented suboptions, recursively."""
    errors = []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            errors.append("%s: %r is not a dict" % (where, item))
            continue
        for key, sub in item.items():
            if key not in documented:
                errors.append("%s: unsupported suboption %s" % (where, key))
                continue
            d = documented[key]
            if d.get("choices") and sub not in d["choices"]:
                errors.append("%s.%s: %r is not one of %s" % (where, key, sub, d["choices"]))
            if "suboptions" in d:
                errors += suboption_errors(d["suboptions"], sub, "%s.%s" % (where, key))
        for key, d in documented.items():
            if d.get("required") and key not in item:
                errors.append("%s: missing %s" % (where, key))
    return errors


def awx_calls(calls, module):
    return [c for c in calls if c["module"] == "awx.awx." + module and c["when"]]


def test_the_pinned_collection_is_the_one_cached(collection):
    m = awx_collection.manifest()
    assert (m["package"], m["package_sha256"]) == awx_collection.pin()
    assert m["collection"] == "awx.awx" and m["version"] == "24.6.1"
    for rel, info in m["files"].items():
        assert awx_collection.sha256_of(os.path.join(collection, rel)) == info["sha256"], rel
    assert not collection.startswith(A.REPO)


def test_every_task_uses_an_existing_module(calls, collection):
    modules = {c["module"] for c in calls}
    assert modules == {"ansible.builtin.assert", "ansible.builtin.debug", "awx.awx.credential_type",
                       "awx.awx.job_template", "awx.awx.workflow_job_template", "awx.awx.schedule"}
    for m in modules - set(BUILTIN):
        assert os.path.isfile(os.path.join(collection, "ansible_collections", "awx", "awx", "plugins",
                                           "modules", m.rsplit(".", 1)[1] + ".py")), m


def test_every_argument_is_in_the_module_argument_spec(calls, specs):
    sent = [c for c in calls if c["module"].startswith("awx.awx.")]
    assert len(sent) == len(A.credential_types()) + len(A.job_templates()) + len(A.workflows()) + len(A.schedules())
    for c in sent:
        spec = specs[c["module"].rsplit(".", 1)[1]]
        assert c["when"], c
        assert option_errors(spec["argument_spec"], c["args"]) == [], (c["task"], c["item"].get("name"))
        assert spec["kwargs"].get("supports_check_mode") is True
    # The nodes of a workflow against the module's documented suboptions and the node
    # module's choices.
    node_spec = specs["workflow_job_template_node"]["argument_spec"]
    documented = specs["workflow_job_template"]["documented"]["workflow_nodes"]["suboptions"]
    for c in awx_calls(calls, "workflow_job_template"):
        nodes = c["args"]["workflow_nodes"]
        assert suboption_errors(documented, nodes, c["args"]["name"]) == []
        ids = {n["identifier"] for n in nodes}
        for n in nodes:
            assert set(n) - {"related", "unified_job_template"} <= set(node_spec)
            assert n["unified_job_template"]["type"] == "job_template"
            for kind, targets in n["related"].items():
                assert kind in node_spec and {t["identifier"] for t in targets} <= ids


def test_the_checks_refuse_what_the_modules_refuse(specs):
    """The checks are not vacuous: each one fails on an argument the module would refuse."""
    spec = specs["job_template"]["argument_spec"]
    good = {"name": "x", "job_type": "run", "survey_enabled": True, "extra_vars": {}}
    assert option_errors(spec, good) == []
    for bad in ({"job_type": "run"}, dict(good, survey="backup.json"), dict(good, job_type="deploy"),
                dict(good, survey_enabled="maybe"), dict(good, extra_vars=["a"]),
                dict(good, destructive=True), dict(good, credential_types=[])):
        assert option_errors(spec, bad), bad
    assert option_errors(spec, dict(good, ask_extra_vars=False)) == []  # an alias
    documented = specs["workflow_job_template"]["documented"]["workflow_nodes"]["suboptions"]
    assert suboption_errors(documented, [{"identifier": "a", "job_template": "b"}], "w")
    assert suboption_errors(documented, [{"identifier": "a", "related": {"next": []}}], "w")
    assert suboption_errors(documented, [{"job_type": "run"}], "w")


def test_the_definitions_arrive_as_they_are(calls):
    ctypes = {c["args"]["name"]: c["args"] for c in awx_calls(calls, "credential_type")}
    for name, ct in A.credential_types().items():
        assert ctypes[name] == {k: ct[k] for k in ("name", "description", "kind", "inputs", "injectors")} \
            | {"state": "present"}
    jts = {c["args"]["name"]: c["args"] for c in awx_calls(calls, "job_template")}
    assert list(jts) == [jt["name"] for jt in A.job_templates()]
    surveys = A.surveys()
    for jt in A.job_templates():
        sent = jts[jt["name"]]
        # Every AWX field of the definition is sent as it is; the keys of our own are
        # mapped or left out.
        for key, value in jt.items():
            if key in A.JOB_TEMPLATE_OWN_KEYS:
                assert key not in sent, key
            else:
                assert sent[key] == value, (jt["name"], key)
        assert sent["survey_spec"] == surveys[jt["survey"]]
        assert sent["credentials"] == [SITE["zookeeper_awx_machine_credential"]] + [
            SITE["zookeeper_awx_credentials"][t] for t in jt["credential_types"]]
        assert sent["inventory"] == SITE["zookeeper_awx_drill_inventory" if jt.get("drill") else "zookeeper_awx_inventory"]
        for key in ("organization", "project", "execution_environment"):
            assert sent[key] == SITE["zookeeper_awx_" + key]
    wfs = {c["args"]["name"]: c["args"] for c in awx_calls(calls, "workflow_job_template")}
    for wf in A.workflows():
        sent = wfs[wf["name"]]
        assert sent["survey_enabled"] is wf["survey_enabled"]
        assert sent.get("survey_spec") == (surveys[wf["survey"]] if "survey" in wf else None)
        assert [(n["identifier"], n["unified_job_template"]["name"],
                 {k[:-6]: [t["identifier"] for t in v] for k, v in n["related"].items() if v})
                for n in sent["workflow_nodes"]] == [
            (n["identifier"], n["job_template"], {k: n[k] for k in ("success", "failure", "always") if k in n})
            for n in wf["nodes"]]
    schedules = [c["args"] for c in awx_calls(calls, "schedule")]
    assert [(s["name"], s["unified_job_template"], s["rrule"], s["extra_data"], s["enabled"]) for s in schedules] == [
        (s["name"], s["job_template"], s["rrule"], s["extra_data"], s["enabled"]) for s in A.schedules()]


def test_every_reference_resolves():
    jts = {jt["name"]: jt for jt in A.job_templates()}
    surveys, ctypes = A.surveys(), A.credential_types()
    for jt in jts.values():
        assert jt["survey"] in surveys and set(jt["credential_types"]) <= set(ctypes), jt["name"]
    for wf in A.workflows():
        assert wf.get("survey", "backup.json") in surveys
        assert {n["job_template"] for n in wf["nodes"]} <= set(jts)
    for s in A.schedules():
        assert s["job_template"] in jts
    # Every file of the definitions is used.
    used = {jt["survey"] for jt in jts.values()} | {wf["survey"] for wf in A.workflows() if "survey" in wf}
    assert used == set(surveys)
    assert {t for jt in jts.values() for t in jt["credential_types"]} == set(ctypes)


def test_without_a_drill_inventory_the_drill_is_left_out(collection):
    site = dict(SITE, zookeeper_awx_drill_inventory="")
    calls = awx_configure.render(site)
    created = {c["args"]["name"] for c in calls if c["when"] and c["module"].startswith("awx.awx.")}
    skipped = {c["item"]["name"] for c in calls if not c["when"] and c["module"].startswith("awx.awx.")}
    assert "ZooKeeper - restore drill" not in created
    assert skipped == {"ZooKeeper - restore drill then check"}
    assert "ZooKeeper - back up then check" in created
    # And the run says so.
    assert [c for c in calls if c["module"] == "ansible.builtin.debug"][0]["when"]
    assert not [c for c in awx_configure.render(SITE) if c["module"] == "ansible.builtin.debug"][0]["when"]


def _playbook(collection, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    for var in ("CONTROLLER_HOST", "TOWER_HOST", "CONTROLLER_OAUTH_TOKEN"):
        env.pop(var, None)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), awx_configure.CONFIGURE] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=A.REPO, check=False)


def test_syntax_check(collection):
    p = _playbook(collection, "--syntax-check")
    assert p.returncode == 0, p.stdout + p.stderr
    # Without awx.awx the same check names the missing module: the check does resolve it.
    p = _playbook("/nonexistent", "--syntax-check")
    assert p.returncode != 0 and "awx.awx.credential_type" in p.stdout + p.stderr


@pytest.mark.parametrize("missing", ["zookeeper_awx_project", "zookeeper_awx_credentials"])
def test_missing_site_values_stop_it_before_the_controller_is_reached(collection, tmp_path, missing):
    """A real run: it stops at the first task, which needs no controller, naming what to set."""
    site = dict(SITE)
    if missing == "zookeeper_awx_credentials":
        site[missing] = {k: v for k, v in SITE[missing].items() if k != "ZooKeeper backup identity"}
    else:
        site[missing] = ""
    (tmp_path / "site.json").write_text(json.dumps(site))
    p = _playbook(collection, "-e", "@%s" % (tmp_path / "site.json"))
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "Nothing was changed on the controller" in out
    assert "awx.awx" not in out.split("TASK [Check the site's values")[1].split("PLAY RECAP")[0].split("fatal:")[0]
    assert ("ZooKeeper backup identity" in out) is (missing == "zookeeper_awx_credentials")
    assert "ok=0" in out and "failed=1" in out
