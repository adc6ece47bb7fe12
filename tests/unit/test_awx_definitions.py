"""The AWX definitions in awx/: valid in AWX's formats, and consistent with the playbooks."""
import os
import pathlib
import re

import pytest
import yaml
from dateutil import rrule

import awx_format as A
import collection_specs as C

CTYPES = A.credential_types()
SURVEYS = A.surveys()
JTS = A.job_templates()
SECRET_WORDS = re.compile(r"password|passphrase|secret|token|credential|private_key$|encryption_key|signing_key", re.I)


def test_every_definition_is_there():
    assert len(CTYPES) == 6 and len(SURVEYS) == 13 and len(JTS) == 13
    assert {jt["survey"] for jt in JTS} == set(SURVEYS)
    # A template for every runbook step.
    steps = ("backup", "ship_logs", "restore", "tree_export", "tree_import",
             "info", "catalog", "check", "rolling_restart", "start")
    assert {jt["playbook"] for jt in JTS} == {"playbooks/%s.yml" % p for p in steps}
    assert [jt["extra_vars"].get("zookeeper_restore_mode") for jt in JTS if jt["playbook"] == "playbooks/restore.yml"] \
        == ["ensemble", "member", "cleanup", "ensemble"]


def test_playbooks_to_come_are_exactly_the_missing_ones():
    missing = {jt["playbook"] for jt in JTS if not os.path.exists(os.path.join(A.REPO, jt["playbook"]))}
    assert missing == set(A.PLAYBOOKS_TO_COME)


def test_check_template_asks_for_every_threshold():
    jt = [j for j in JTS if j["playbook"] == "playbooks/check.yml"][0]
    spec = SURVEYS[jt["survey"]]["spec"]
    # Every threshold of the backup role's check entry point, and only those, with its default.
    specs = yaml.safe_load(pathlib.Path(A.REPO, "roles/backup/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["check"]["options"]
    thresholds = sorted(name for name in options if name.startswith("zookeeper_check_max_"))
    assert len(thresholds) == 5
    assert [q["variable"] for q in spec] == ["zookeeper_group"] + [
        "zookeeper_check_max_full_backup_age_hours", "zookeeper_check_max_ship_lag_seconds",
        "zookeeper_check_max_ship_lag_transactions", "zookeeper_check_max_disk_used_percent",
        "zookeeper_check_max_restore_age_hours"]
    assert sorted(q["variable"] for q in spec[1:]) == thresholds
    assert all(q["type"] == "integer" and q["min"] >= 1 for q in spec[1:])
    defaults = yaml.safe_load(pathlib.Path(A.REPO, "roles/backup/defaults/main.yml").read_text())
    launched = A.launch_vars(jt, SURVEYS[jt["survey"]], {})
    for name in thresholds:
        if defaults[name] not in ("", None):
            assert launched[name] == defaults[name], name


def test_workflows():
    by_name = {jt["name"]: jt for jt in JTS}
    wfs = A.workflows()
    assert [w["name"] for w in wfs] == ["ZooKeeper - back up then check", "ZooKeeper - restore drill then check"]
    for wf in wfs:
        ids = [n["identifier"] for n in wf["nodes"]]
        assert len(set(ids)) == len(ids), wf["name"]
        for node in wf["nodes"]:
            assert set(node) <= {"identifier", "job_template", "success", "failure", "always"}, node
            assert node["job_template"] in by_name, node
            for kind in ("success", "failure", "always"):
                assert set(node.get(kind, [])) <= set(ids) - {node["identifier"]}, node
        assert wf["survey_enabled"] is ("survey" in wf)
        if "survey" in wf:
            assert A.validate_survey(SURVEYS[wf["survey"]]) == []
        # Each ends with the health check, which runs whatever came before it.
        last = wf["nodes"][-1]
        assert by_name[last["job_template"]]["playbook"] == "playbooks/check.yml"
        assert [n for n in wf["nodes"] if last["identifier"] in n.get("always", [])]
    drill = [jt for jt in JTS if jt.get("drill")]
    assert [jt["name"] for jt in drill] == ["ZooKeeper - restore drill"] and drill[0]["destructive"]


@pytest.mark.parametrize("name", sorted(CTYPES))
def test_credential_type_is_valid_for_awx(name):
    assert A.validate_credential_type(CTYPES[name]) == []


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_is_valid_for_awx(name):
    spec = SURVEYS[name]
    assert A.validate_survey(spec) == []
    for item in spec["spec"]:
        assert A.ANSIBLE_VAR.match(item["variable"]), item
        assert item.get("question_description"), item
        # Every default is an answer AWX accepts (else AWX silently drops it at launch).
        if "default" in item:
            assert A.validate_answer(item, {item["variable"]: item["default"]}) == [], item


def test_the_checks_reject_what_awx_rejects():
    """The validators are not vacuous: each rule fails on a definition that breaks it."""
    good = SURVEYS["tree_import.json"]

    def question(variable):
        return [q for q in good["spec"] if q["variable"] == variable][0]

    broken = [
        dict(good, spec=[]),
        dict(good, spec=[dict(good["spec"][0], type="boolean")]),
        dict(good, spec=[good["spec"][0], good["spec"][0]]),
        dict(good, spec=[dict(question("zookeeper_tree_import_mode"), default="overwrite")]),
        dict(good, spec=[dict(question("zookeeper_tree_rate_limit"), default="10")]),
        dict(good, spec=[dict(good["spec"][0], required="yes")]),
        {k: v for k, v in good.items() if k != "description"},
    ]
    for spec in broken:
        assert A.validate_survey(spec), spec
    ct = CTYPES["ZooKeeper client TLS"]
    bad_field = dict(ct, injectors=dict(ct["injectors"], extra_vars={"zookeeper_tls_ca_file": "{{ ca_file }}"}))
    bad_file = dict(ct, injectors=dict(ct["injectors"], extra_vars={"x": "{{ tower.filename.other }}"}))
    bad_env = dict(ct, injectors={"env": {"ANSIBLE_CONFIG": "{{ ca_certificates }}"}})
    bad_kind = dict(ct, kind="ssh")
    bad_bool = dict(ct, inputs={"fields": [{"id": "v", "label": "V", "type": "boolean", "secret": True}]})
    for ctype in (bad_field, bad_file, bad_env, bad_kind, bad_bool):
        assert A.validate_credential_type(ctype), ctype


@pytest.mark.parametrize("jt", JTS, ids=[jt["name"] for jt in JTS])
def test_job_template(jt):
    assert set(jt) - A.JOB_TEMPLATE_FIELDS - A.JOB_TEMPLATE_OWN_KEYS == set()
    assert jt["job_type"] in ("run", "check")
    assert jt["survey_enabled"] is True and jt["ask_variables_on_launch"] is False
    assert set(jt["credential_types"]) <= set(CTYPES)
    spec = SURVEYS[jt["survey"]]
    if jt["playbook"] in A.PLAYBOOKS_TO_COME:
        # What the playbook reads is checked once it is there; its launch already is.
        assert not os.path.exists(os.path.join(A.REPO, jt["playbook"])), jt["playbook"]
        return
    assert os.path.exists(os.path.join(A.REPO, jt["playbook"])), jt["playbook"]
    # Each survey answer and fixed extra var is something the playbook reads.
    for var in [q["variable"] for q in spec["spec"]] + list(jt["extra_vars"]):
        assert C.playbook_reads(jt["playbook"], var), "%s does not read %s" % (jt["playbook"], var)
    # Each variable the template's credentials inject is read too (a misspelt injector
    # would silently feed nothing).
    for name in jt["credential_types"]:
        for var in A.injected_variables(CTYPES[name]):
            assert C.playbook_reads(jt["playbook"], var), "%s does not read %s (%s)" % (
                jt["playbook"], var, name)
    # The defaults alone make a valid launch when no question without a default is required.
    if not [q for q in spec["spec"] if q["required"] and "default" not in q]:
        assert A.launch_vars(jt, spec, {}) is not None


@pytest.mark.parametrize("jt", JTS, ids=[jt["name"] for jt in JTS])
def test_secrets_never_travel_in_surveys_or_template_variables(jt):
    spec = SURVEYS[jt["survey"]]
    secret_vars = set()
    for ct in CTYPES.values():
        secret_vars.update(A.secret_variables(ct))
    for item in spec["spec"]:
        assert item["type"] != "password", item
        assert item["variable"] not in secret_vars, item
        assert not SECRET_WORDS.search(item["variable"]), item
    for var in jt["extra_vars"]:
        assert var not in secret_vars and not SECRET_WORDS.search(var), var


def test_every_credential_type_carries_its_secrets_as_secret_inputs():
    for ct in CTYPES.values():
        for f in ct["inputs"]["fields"]:
            if SECRET_WORDS.search(f["id"]) or f.get("format") == "ssh_private_key" or f["id"] == "client_key":
                assert f.get("secret") is True, (ct["name"], f["id"])
        assert A.secret_variables(ct), ct["name"]


@pytest.mark.parametrize("jt", [j for j in JTS if j["destructive"]], ids=lambda j: j["name"])
def test_destructive_runs_need_a_typed_confirmation(jt):
    spec = SURVEYS[jt["survey"]]
    q = [i for i in spec["spec"] if i["variable"] == jt["confirm_variable"]]
    assert len(q) == 1
    q = q[0]
    # Typed by the operator: free text, required, nothing filled in for them.
    assert q["type"] == "text" and q["required"] is True and "default" not in q and q["min"] >= 1
    assert "confirm" in q["question_name"].lower()
    assert C.playbook_reads(jt["playbook"], jt["confirm_variable"])
    with pytest.raises(ValueError, match="value missing"):
        A.launch_vars(jt, spec, {})


def test_only_destructive_templates_have_a_confirmation():
    for jt in JTS:
        confirms = [q for q in SURVEYS[jt["survey"]]["spec"] if "confirm" in q["variable"]]
        assert bool(confirms) == jt["destructive"], jt["name"]


def test_schedules():
    by_name = {jt["name"]: jt for jt in JTS}
    scheduled = set()
    for sch in A.schedules():
        jt = by_name[sch["job_template"]]
        assert not jt["destructive"], sch
        # AWX's rrule: "DTSTART;TZID=<zone>:<local time> RRULE:<rule>"; dateutil parses it.
        assert re.match(r"^DTSTART;TZID=[\w/]+:\d{8}T\d{6} RRULE:FREQ=\w+", sch["rrule"]), sch
        rule = rrule.rrulestr(sch["rrule"].replace("DTSTART;TZID=UTC:", "DTSTART:").replace(" ", "\n"))
        first = list(rule[:2])
        assert len(first) == 2 and first[1] > first[0]
        A.launch_vars(jt, SURVEYS[jt["survey"]], sch["extra_data"])
        scheduled.add(jt["playbook"])
    assert scheduled == {"playbooks/backup.yml", "playbooks/ship_logs.yml", "playbooks/tree_export.yml",
                         "playbooks/check.yml"}


def test_awx_launch_writes_answers_unsafe_and_template_vars_trusted(tmp_path):
    jt = [j for j in JTS if j["extra_vars"]][0]
    spec = SURVEYS[jt["survey"]]
    answers = {q["variable"]: "x" for q in spec["spec"] if q["required"] and "default" not in q}
    args, _env, job_vars = A.job_arguments(jt, spec, answers, [], str(tmp_path))
    text = pathlib.Path(args[1][1:]).read_text()
    for var, value in jt["extra_vars"].items():
        assert "%s: %s\n" % (var, value) in text
    for var in answers:
        assert "!unsafe '%s': !unsafe 'x'" % var in text
    assert job_vars[spec["spec"][0]["variable"]] == spec["spec"][0]["default"]


def test_injection_renders_files_and_variables(tmp_path):
    ct = CTYPES["ZooKeeper client TLS"]
    ev, env, files = A.inject(ct, {"ca_certificates": "CA PEM", "client_key_password": ""}, str(tmp_path))
    assert env == {} and set(files) == {"template.ca", "template.cert", "template.key"}
    assert pathlib.Path(ev["zookeeper_tls_ca_file"]).read_text() == "CA PEM"
    assert oct(os.stat(files["template.ca"]).st_mode & 0o777) == "0o600"
    # Inputs left empty inject nothing the playbooks would use.
    assert ev["zookeeper_tls_cert_file"] == "" and ev["zookeeper_tls_key_password"] == ""
    ev, _env, _files = A.inject(CTYPES["ZooKeeper digest authentication"],
                                {"username": "u", "password": "p"}, str(tmp_path))
    assert ev == {"zookeeper_auth": [{"scheme": "digest", "credential": "u:p"}]}
    with pytest.raises(ValueError, match="needs"):
        A.inject(CTYPES["ZooKeeper backup encryption key"], {}, str(tmp_path))


def _security_table():
    """Rows of the no_log table in docs/security.md: (module, option, variable, credential type)."""
    rows = []
    with open(os.path.join(A.REPO, "docs", "security.md")) as f:
        for line in f:
            m = re.match(r"^\| `(zk_\w+)` \| `([\w.]+)` \| `(\w+)` \| (.+?) \|$", line.strip())
            if m:
                rows.append(m.groups())
    return rows


def test_every_no_log_option_is_fed_by_a_credential_type_and_documented():
    rows = _security_table()
    documented = {(m, o) for m, o, _v, _c in rows}
    declared = {(m, o) for m, opts in C.collection_no_log_options().items() for o in opts}
    assert documented == declared
    fed = set()
    for module, option, var, ctype in rows:
        assert ctype in CTYPES, ctype
        assert var in A.secret_variables(CTYPES[ctype]), (var, ctype)
        for jt in JTS:
            if jt["playbook"] in A.PLAYBOOKS_TO_COME:
                continue
            text, _declared = C.playbook_sources(jt["playbook"])
            if ctype in jt["credential_types"] and "zkops.zookeeper.%s:" % module in text \
                    and C.playbook_reads(jt["playbook"], var):
                fed.add((module, option))
    # Strict both ways: a gap that gets fixed must leave the list.
    assert fed & set(A.NOT_FED_BY_AWX) == set()
    assert fed | set(A.NOT_FED_BY_AWX) == declared


def test_docs_schedule_everything_a_job_template_runs():
    with open(os.path.join(A.REPO, "docs", "awx.md")) as f:
        text = f.read()
    cron = [line for line in text.splitlines() if re.match(r"^[\d*/]+\s+[\d*/]+\s+\S+\s+\S+\s+\S+\s+.*ansible-playbook", line)]
    for jt in JTS:
        assert jt["name"] in text, jt["name"]
        fqcn = "zkops.zookeeper." + os.path.basename(jt["playbook"])[:-4]
        assert [line for line in cron if fqcn + " " in line], "no crontab line runs " + fqcn
    for sch in A.schedules():
        assert sch["rrule"] in text, sch["name"]
    for name in CTYPES:
        assert name in text, name


def test_identity_credential_feeds_restores_and_tree_imports_only(tmp_path):
    ct = CTYPES["ZooKeeper backup identity"]
    ev, _env, _files = A.inject(ct, {"identity": "PEM A"}, str(tmp_path))
    # the empty previous identity is dropped by the restore role (select)
    assert ev == {"zookeeper_backup_identities": ["PEM A", ""]}
    ev, _env, _files = A.inject(ct, {"identity": "PEM A", "previous_identity": "PEM B"}, str(tmp_path))
    assert ev == {"zookeeper_backup_identities": ["PEM A", "PEM B"]}
    takers = sorted(jt["name"] for jt in JTS if "ZooKeeper backup identity" in jt["credential_types"])
    assert takers == ["ZooKeeper - import a tree export", "ZooKeeper - rebuild a member", "ZooKeeper - restore drill",
                      "ZooKeeper - restore the ensemble"]
