"""AWX's formats for surveys, credential types and job launches, as AWX checks and uses them.

The rules follow AWX's own code (awx/api/views: JobTemplateSurveySpec._validate_spec_data;
awx/main/fields.py: CredentialTypeInputField, CredentialTypeInjectorField; awx/main/models:
SurveyJobTemplateMixin._update_unified_job_kwargs and _survey_element_validation,
CredentialType.inject_credential; awx/main/utils/safe_yaml.py: safe_dump) and its documented
survey format (api/templates/api/job_template_survey_spec.md).  A launch is reproduced as AWX
does it: job template extra_vars, the survey defaults that validate, the answers (checked), all
written as YAML with every string tagged !unsafe except the job template's own extra_vars; each
credential's extra_vars in a file of their own, fully !unsafe; its files written 0600.
"""
import json
import os
import re
import stat
import tempfile

import jsonschema
import yaml
from jinja2 import StrictUndefined, sandbox
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
AWX = os.path.join(REPO, "awx")

# No job template feeds these yet, and why (docs/security.md says the same).
NOT_FED_BY_AWX = {
    ("zk_info", "tls_key_password"): "member-side TLS material lives on the members",
    ("zk_quiesce", "tls_key_password"): "member-side TLS material lives on the members",
}

# awx/main/constants.py
SURVEY_TYPE_MAPPING = {"text": str, "textarea": str, "password": str, "multiplechoice": str,
                       "multiselect": str, "integer": int, "float": (float, int)}
# awx/main/constants.py ENV_BLOCKLIST (names a credential may not set)
ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
    "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
    "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
    "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"))
# Custom credential types may only be of these kinds (the others are AWX's own).
CUSTOM_KINDS = ("cloud", "net")
# The fields of a job template that the definitions may set (AWX's JobTemplate serializer).
JOB_TEMPLATE_FIELDS = frozenset((
    "name", "description", "job_type", "playbook", "extra_vars", "survey_enabled", "forks",
    "limit", "verbosity", "job_tags", "skip_tags", "timeout", "use_fact_cache", "diff_mode",
    "become_enabled", "allow_simultaneous", "host_config_key", "scm_branch",
    "job_slice_count", "webhook_service", "prevent_instance_group_fallback",
    "ask_variables_on_launch", "ask_limit_on_launch", "ask_tags_on_launch",
    "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
    "ask_inventory_on_launch", "ask_credential_on_launch", "ask_diff_mode_on_launch",
    "ask_scm_branch_on_launch", "ask_execution_environment_on_launch", "ask_labels_on_launch",
    "ask_forks_on_launch", "ask_job_slice_count_on_launch", "ask_timeout_on_launch",
    "ask_instance_groups_on_launch"))
# Keys of the definitions that are not AWX fields (see awx/job_templates.yml).
JOB_TEMPLATE_OWN_KEYS = frozenset(("survey", "credential_types", "destructive", "confirm_variable", "drill"))
# Playbooks that job templates name and the collection does not hold yet: those templates
# are checked for everything but what their playbook reads, and are not launched by
# tests/integration/test_awx_jobs.py. A playbook that arrives must leave this list.
PLAYBOOKS_TO_COME = frozenset()
ANSIBLE_VAR = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# CredentialTypeInputField.schema()
INPUTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"enum": ["string", "boolean"]},
                    "format": {"enum": ["ssh_private_key", "url"]},
                    "choices": {"type": "array", "minItems": 1, "items": {"type": "string"},
                                "uniqueItems": True},
                    "id": {"type": "string", "pattern": "^[a-zA-Z_]+[a-zA-Z0-9_]*$"},
                    "label": {"type": "string"},
                    "help_text": {"type": "string"},
                    "multiline": {"type": "boolean"},
                    "secret": {"type": "boolean"},
                    "ask_at_runtime": {"type": "boolean"},
                    "default": {},
                },
                "additionalProperties": False,
                "required": ["id", "label"],
            },
        },
    },
}
# CredentialTypeInjectorField.schema()
INJECTORS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "object",
            "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}},
            "additionalProperties": False,
        },
        "env": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {
                "type": "string", "pattern": "^[\x00-\x7F]*$"}},
            "additionalProperties": False,
        },
        "extra_vars": {
            "type": "object",
            "patternProperties": {r"^[a-zA-Z_\{\}]+[a-zA-Z0-9_\{\}]*$": {
                "anyOf": [{"type": "string"}, {"type": "array"},
                          {"$ref": "#/properties/extra_vars"}]}},
            "additionalProperties": False,
        },
    },
}


def _load(path):
    with open(path) as f:
        return json.load(f) if path.endswith(".json") else yaml.safe_load(f)


def credential_types():
    """{name: credential type} from awx/credential_types/."""
    d = os.path.join(AWX, "credential_types")
    out = {}
    for name in sorted(os.listdir(d)):
        ct = _load(os.path.join(d, name))
        ct["_file"] = name
        out[ct["name"]] = ct
    return out


def surveys():
    """{file name: survey spec} from awx/surveys/."""
    d = os.path.join(AWX, "surveys")
    return {name: _load(os.path.join(d, name)) for name in sorted(os.listdir(d))}


def job_templates():
    return _load(os.path.join(AWX, "job_templates.yml"))["job_templates"]


def schedules():
    return _load(os.path.join(AWX, "schedules.yml"))["schedules"]


def workflows():
    return _load(os.path.join(AWX, "workflows.yml"))["workflows"]


# --- credential types -------------------------------------------------------------------
def _sandbox(undefined=None):
    if undefined is None:
        return sandbox.ImmutableSandboxedEnvironment()
    return sandbox.ImmutableSandboxedEnvironment(undefined=undefined)


class _Namespace(object):
    pass


class _Exploding(object):
    def __str__(self):
        raise UndefinedError("Must define unnamed file injector in order to reference `tower.filename`.")


class _Tower(object):
    def __init__(self):
        self.filename = _Exploding()

    def __str__(self):
        raise UndefinedError("Cannot directly reference reserved `tower` namespace container.")


def validate_credential_type(ct):
    """The errors AWX would report when this credential type is created (empty: accepted)."""
    errors = []
    for key in ("name", "kind", "inputs", "injectors"):
        if key not in ct:
            errors.append("missing %r" % key)
    if errors:
        return errors
    if ct["kind"] not in CUSTOM_KINDS:
        errors.append("kind %r: custom credential types are cloud or net" % ct["kind"])
    inputs, injectors = ct["inputs"], ct["injectors"]
    if "dependencies" in inputs:
        errors.append("'dependencies' is not supported for custom credentials")
    for err in jsonschema.Draft4Validator(INPUTS_SCHEMA).iter_errors(inputs):
        errors.append("inputs: %s" % err.message)
    ids = set()
    for field in inputs.get("fields", []):
        fid = field.get("id")
        if fid == "tower":
            errors.append('"tower" is a reserved field name')
        if fid in ids:
            errors.append("field IDs must be unique (%s)" % fid)
        ids.add(fid)
        ftype = field.get("type", "string")
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[ftype]):
            errors.append("%s: default %r is not a %s" % (fid, field["default"], ftype))
        for key in ("choices", "multiline", "format", "secret"):
            if key in field and ftype != "string":
                errors.append("%s not allowed for %s type (%s)" % (key, ftype, fid))
    for req in inputs.get("required", []):
        if req not in ids:
            errors.append("required %r is not a field" % req)
    for err in jsonschema.Draft4Validator(INJECTORS_SCHEMA).iter_errors(injectors):
        errors.append("injectors: %s" % err.message)
    for env in injectors.get("env", {}):
        if env.startswith("ANSIBLE_") or env in ENV_BLOCKLIST:
            errors.append("environment variable %s is not allowed in credentials" % env)
    if errors:
        return errors
    # Every template must render with the declared fields only (StrictUndefined), and
    # tower.filename only in the form the file injectors define.
    namespace = dict((fid, "EXAMPLE") for fid in ids)
    tower = _Tower()
    namespace["tower"] = tower
    names = [k for k in injectors.get("file", {}) if k.startswith("template")]
    if "template" in names:
        tower.filename = "EXAMPLE_FILENAME"
        if len(names) > 1:
            errors.append("Must use multi-file syntax when injecting multiple files")
    elif names:
        tower.filename = _Namespace()
        for n in names:
            setattr(tower.filename, n.split(".")[1], "EXAMPLE_FILENAME")
    env = _sandbox(StrictUndefined)

    def check(kind, key, tmpl):
        try:
            env.from_string(tmpl).render(namespace)
        except UndefinedError as e:
            errors.append("%s %s uses an undefined field (%s)" % (kind, key, e))
        except (SecurityError, TemplateSyntaxError) as e:
            errors.append("%s %s: %s" % (kind, key, e))

    def check_vars(key, node):
        if isinstance(node, dict):
            for k, v in node.items():
                check("extra_vars", "a key" if key is None else key, k)
                check_vars(k if key is None else "%s.%s" % (key, k), v)
        elif isinstance(node, list):
            for i, x in enumerate(node):
                check_vars("%s[%d]" % (key, i), x)
        else:
            check("extra_vars", key, node)

    for kind, injector in injectors.items():
        if kind == "extra_vars":
            check_vars(None, injector)
        else:
            for key, tmpl in injector.items():
                check(kind, key, tmpl)
    return errors


def secret_fields(ct):
    return [f["id"] for f in ct["inputs"].get("fields", []) if f.get("secret")]


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, x in enumerate(node):
            yield from _leaves(x, path + (i,))
    else:
        yield path, node


def injected_variables(ct):
    """{top-level extra var: [input fields its templates use]}."""
    out = {}
    for path, tmpl in _leaves(ct["injectors"].get("extra_vars", {})):
        used = re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", " ".join(re.findall(r"\{\{(.*?)\}\}", tmpl)))
        out.setdefault(path[0], set()).update(
            u for u in used if u in {f["id"] for f in ct["inputs"].get("fields", [])})
    return out


def secret_variables(ct):
    """The extra vars this credential type injects that carry a secret field."""
    secret = set(secret_fields(ct))
    return sorted(v for v, used in injected_variables(ct).items() if used & secret)


def inject(ct, inputs, private_dir):
    """What AWX adds to a job for a credential of type ``ct`` with ``inputs``.

    Returns (extra_vars, env, files): the rendered extra vars, environment variables, and
    {template name: path} of the files written.
    """
    fields = {f["id"]: f for f in ct["inputs"].get("fields", [])}
    unknown = set(inputs) - set(fields)
    if unknown:
        raise ValueError("inputs not defined by %s: %s" % (ct["name"], sorted(unknown)))
    missing = [r for r in ct["inputs"].get("required", []) if not inputs.get(r)]
    if missing:
        raise ValueError("%s needs %s" % (ct["name"], missing))
    tower = _Namespace()
    namespace = {"tower": tower}
    for fid, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[fid] = value
    for fid, field in fields.items():
        if field.get("type") == "boolean" and fid not in inputs:
            namespace[fid] = False
        if field.get("format") == "ssh_private_key" and fid in namespace \
                and not namespace[fid].endswith("\n"):
            namespace[fid] += "\n"
    env_dir = os.path.join(private_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    jinja = _sandbox()
    files = {}
    for label, tmpl in ct["injectors"].get("file", {}).items():
        fd, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(fd, "w") as f:
            f.write(jinja.from_string(tmpl).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        files[label] = path
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".")[1], path)
    env = {k: jinja.from_string(t).render(**namespace)
           for k, t in ct["injectors"].get("env", {}).items()}

    def build(node):
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return jinja.from_string(node).render(**namespace)

    return build(ct["injectors"].get("extra_vars", {})), env, files


# --- surveys ----------------------------------------------------------------------------
def validate_survey(spec):
    """The errors AWX would report when this survey spec is posted (empty: accepted)."""
    for field, expect in (("name", str), ("description", str), ("spec", list)):
        if field not in spec:
            return ["Field '%s' is missing from survey spec." % field]
        if not isinstance(spec[field], expect):
            return ["Expected %s for field '%s'" % (expect.__name__, field)]
    if not spec["spec"]:
        return ["'spec' doesn't contain any items."]
    errors = []
    seen = set()
    for idx, item in enumerate(spec["spec"]):
        if not isinstance(item, dict):
            errors.append("Survey question %d is not a json object." % idx)
            continue
        missing = [f for f in ("type", "question_name", "variable", "required") if f not in item]
        if missing:
            errors.append("'%s' missing from survey question %d" % (missing[0], idx))
            continue
        for f in ("type", "question_name", "variable"):
            if not isinstance(item[f], str):
                errors.append("'%s' in survey question %d expected to be string." % (f, idx))
        if not isinstance(item["required"], bool):
            errors.append("'required' in survey question %d expected to be boolean." % idx)
        if item["variable"] in seen:
            errors.append("'variable' '%s' duplicated in survey question %d." % (item["variable"], idx))
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPE_MAPPING:
            errors.append("'%s' in survey question %d is not an allowed question type." % (qtype, idx))
            continue
        if item.get("default", "") != "" and not isinstance(item["default"], SURVEY_TYPE_MAPPING[qtype]):
            errors.append("Default value %r in survey question %d has the wrong type." % (item["default"], idx))
        for key in ("min", "max"):
            if key in item and item[key] is not None and not isinstance(item[key], int):
                errors.append("The %s limit in survey question %d expected to be integer." % (key, idx))
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                errors.append("Survey question %d of type %s must specify choices." % (idx, qtype))
                continue
            choices = _choices(item)
            if "default" in item:
                defaults = (item["default"].splitlines() if isinstance(item["default"], str)
                            else item["default"])
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append("Multiple Choice (Single Select) can only have one default value.")
                if any(d not in choices for d in defaults):
                    errors.append("Default choice must be answered from the choices listed.")
        if isinstance(item.get("default"), str) and item["default"].startswith("$encrypted$"):
            errors.append("$encrypted$ is a reserved keyword (question %d)." % idx)
    return errors


def _choices(item):
    choices = item["choices"]
    if isinstance(choices, str):
        choices = [c for c in choices.splitlines() if c.strip() != ""]
    return choices


def validate_answer(item, data):
    """AWX's _survey_element_validation of one question against the launch data."""
    var = item["variable"]
    if var not in data:
        return ["'%s' value missing" % var] if item["required"] else []
    value = data[var]
    qtype = item["type"]
    errors = []
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["Value %r for '%s' expected to be a string." % (value, var)]
        if item.get("min") not in ("", None) and len(value) < int(item["min"]):
            errors.append("'%s' value %r is too small" % (var, value))
        if item.get("max") not in ("", None) and len(value) > int(item["max"]):
            errors.append("'%s' value %r is too large" % (var, value))
    elif qtype in ("integer", "float"):
        # Exact types, as AWX checks them: a boolean is not a number.
        ok = not isinstance(value, bool) and isinstance(value, int if qtype == "integer" else (int, float))
        if not ok:
            return ["Value %r for '%s' expected to be %s." % (value, var, qtype)]
        if item.get("min") not in ("", None) and value < item["min"]:
            errors.append("'%s' value %r is too small" % (var, value))
        if item.get("max") not in ("", None) and value > item["max"]:
            errors.append("'%s' value %r is too large" % (var, value))
    elif qtype == "multiselect":
        if not isinstance(value, list):
            return ["'%s' value is expected to be a list." % var]
        errors += ["Value %r for '%s' expected to be one of %s." % (v, var, _choices(item))
                   for v in value if v not in _choices(item)]
    elif qtype == "multiplechoice" and value not in _choices(item):
        errors.append("Value %r for '%s' expected to be one of %s." % (value, var, _choices(item)))
    return errors


def launch_vars(job_template, spec, answers):
    """The job's extra vars for a launch with these survey answers, as AWX computes them.

    JT extra_vars, then every survey default that validates, then the answers; answers
    that do not validate, unknown variables (prompting for variables is off) and missing
    required answers raise ValueError, as AWX refuses such a launch.
    """
    extra = dict(job_template.get("extra_vars") or {})
    defaults = {}
    for item in spec["spec"]:
        default = item.get("default")
        if default is not None and not validate_answer(item, {item["variable"]: default}):
            defaults[item["variable"]] = default
    extra.update(defaults)
    variables = {item["variable"] for item in spec["spec"]}
    unknown = set(answers) - variables
    if unknown and not job_template.get("ask_variables_on_launch"):
        raise ValueError("Variables %s are not allowed on launch" % sorted(unknown))
    merged = dict(defaults)
    merged.update(answers)
    errors = []
    for item in spec["spec"]:
        errors += validate_answer(item, merged)
    if errors:
        raise ValueError("; ".join(errors))
    extra.update(answers)
    return extra


# --- what ansible-playbook receives -----------------------------------------------------
class _UnsafeDumper(yaml.SafeDumper):
    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super(_UnsafeDumper, self).represent_data(data)


def safe_dump(data, safe_dict=None):
    """AWX's safe_dump: top-level keys equal to ``safe_dict``'s stay plain, the rest !unsafe."""
    safe_dict = safe_dict or {}
    out = []
    for k, v in data.items():
        dumper = yaml.SafeDumper if k in safe_dict and safe_dict[k] == v else _UnsafeDumper
        out.append(yaml.dump_all([{k: v}], None, Dumper=dumper, default_flow_style=False))
    return "".join(out)


def meta_vars(job_template, job_id=4242):
    """The awx_*/tower_* variables AWX adds to every job (a subset of awx_meta_vars())."""
    out = {}
    for prefix in ("awx", "tower"):
        out.update({prefix + "_job_id": job_id, prefix + "_job_launch_type": "manual",
                    prefix + "_user_name": "operator",
                    prefix + "_job_template_name": job_template["name"]})
    return out


def job_arguments(job_template, spec, answers, credentials, private_dir):
    """ansible-playbook arguments and environment for one launch.

    ``credentials`` is a list of (credential type, inputs). Returns (args, env, job_vars)
    where args are the -e options in AWX's order (job extra vars, then one file per
    credential).
    """
    job_vars = launch_vars(job_template, spec, answers) if spec else dict(job_template.get("extra_vars") or {})
    all_vars = dict(job_vars)
    all_vars.update(meta_vars(job_template))
    env_dir = os.path.join(private_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    path = os.path.join(env_dir, "extravars")
    with open(path, "w") as f:
        f.write(safe_dump(all_vars, job_template.get("extra_vars") or {}))
    args = ["-e", "@" + path]
    env = {}
    for ct, inputs in credentials:
        ev, cenv, _files = inject(ct, inputs, private_dir)
        env.update(cenv)
        if ev:
            fd, cpath = tempfile.mkstemp(dir=env_dir)
            with os.fdopen(fd, "w") as f:
                f.write(safe_dump(ev))
            os.chmod(cpath, stat.S_IRUSR)
            args += ["-e", "@" + cpath]
    return args, env, job_vars
