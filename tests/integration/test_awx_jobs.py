"""Every AWX job template, run through ansible-runner as AWX runs it, on one lab.

The collection is built with ansible-galaxy and installed from the tarball into a clean
collections path, as an execution environment holds it; each template's playbook runs from
there by FQCN through ansible-runner (the engine AWX runs jobs with), given what AWX gives
it: a private data directory whose env/extravars holds the template's extra_vars and survey
defaults plus a sample answer set (blank optional answers included, as the UI sends them),
written with AWX's !unsafe tagging; one extra-vars file per credential rendered by the
credential type's injectors (files written 0600), passed on the command line; the
injectors' environment variables as the job's environment; the Machine credential's user
on the command line and its key as env/ssh_key, which ansible-runner loads into an
ssh-agent for the run (the inventory names no key file). Site settings go into the
inventory, as they would in AWX's. Every credential holds marker secrets: no marker may
appear in runner's output, its artifacts or its job events, nor in any task result, and
every no_log option of the modules that the templates promise to feed must arrive (masked)
at the module. Templates whose playbook the collection does not hold yet
(awx_format.PLAYBOOKS_TO_COME) are not launched; the last test names the ones that were.
"""
import base64
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import time

import ansible_runner
import pytest
import yaml

import awx_format as A
import collection_build
import collection_specs as C
from lab import Lab, workload
from lab.ansible import HERE as LAB_DIR, PlaybookResult, bin_dir
from kazoo.security import make_digest_acl

pytestmark = pytest.mark.lab

MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
JTS = {jt["name"]: jt for jt in A.job_templates()}
CTYPES = A.credential_types()
SURVEYS = A.surveys()
# Marker secrets: distinct, never legitimately printed.
PASSWORD = "zkops-marker-digest-pw-7f3a"
KEY_PASSWORD = "zkops-marker-tls-key-pw-91c2"
PASSPHRASE = "zkops-marker-ssh-pass-5be0"
ENCRYPTION_KEY = base64.b64encode(b"zkops-marker-encryption-key-32b!").decode()
GUARDED = "/awx-guarded"
STATE = {"fed": set(), "launched": []}
# The job templates launched here: every one whose playbook the collection holds.
LAUNCHED = [
    "ZooKeeper - back up", "ZooKeeper - ship logs", "ZooKeeper - info",
    "ZooKeeper - check", "ZooKeeper - catalog", "ZooKeeper - start members", "ZooKeeper - export the tree", "ZooKeeper - import a tree export",
    "ZooKeeper - restore the ensemble", "ZooKeeper - restore drill", "ZooKeeper - rebuild a member",
    "ZooKeeper - rolling restart", "ZooKeeper - clean up after restores",
]


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    d = tmp_path_factory.mktemp("collection")
    tarball = collection_build.build(str(d / "dist"))
    return collection_build.install(tarball, str(d / "collections"))


@pytest.fixture(scope="module")
def alab():
    lab = Lab(name="awx-jobs", members=3, backups=1, tls=True)
    lab.up()
    yield lab
    lab.down()


@pytest.fixture(scope="module")
def site(alab, tmp_path_factory):
    """The lab's data, the credentials' inputs and the site's inventory settings."""
    d = tmp_path_factory.mktemp("site")
    zk = workload.client(alab, auth_data=[workload.CREDENTIAL])
    workload.sample_tree(zk)
    # Readable only with the digest credential: an export or a digest check without it fails.
    awx = make_digest_acl("awx", PASSWORD, all=True)
    zk.create(GUARDED, b"only for awx", acl=[awx])
    # The sample's digest ACL hides its hash from sessions without ADMIN: grant it to awx.
    zk.set_acls("/admin/credentials", zk.get_acls("/admin/credentials")[0] + [awx])
    zk.stop()
    zk.close()
    tls = alab.tls_dir
    sh("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", os.path.join(tls, "client.key"),
       "-out", str(d / "client.enc.key"), "-passout", "pass:" + KEY_PASSWORD)
    sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", str(d / "signing.pem"))
    shutil.copy(os.path.join(alab.dir, "id_ed25519"), str(d / "ssh_key"))
    sh("ssh-keygen", "-q", "-p", "-N", PASSPHRASE, "-f", str(d / "ssh_key"))
    sh("openssl", "genpkey", "-algorithm", "X25519", "-out", str(d / "identity.pem"))
    inputs = {
        "ZooKeeper digest authentication": {"username": "awx", "password": PASSWORD},
        "ZooKeeper client TLS": {
            "ca_certificates": pathlib.Path(os.path.join(tls, "ca.pem")).read_text(),
            "client_certificate": pathlib.Path(os.path.join(tls, "client.crt")).read_text(),
            "client_key": (d / "client.enc.key").read_text(),
            "client_key_password": KEY_PASSWORD},
        "ZooKeeper backup hosts SSH key": {
            "username": "root", "ssh_private_key": (d / "ssh_key").read_text().rstrip("\n"),
            "ssh_private_key_passphrase": PASSPHRASE},
        "ZooKeeper backup encryption key": {"encryption_key": ENCRYPTION_KEY},
        "ZooKeeper backup identity": {"identity": (d / "identity.pem").read_text()},
        "ZooKeeper backup signing key": {"signing_key": (d / "signing.pem").read_text()},
    }
    secrets = [PASSWORD, KEY_PASSWORD, PASSPHRASE, ENCRYPTION_KEY,
               inputs["ZooKeeper backup identity"]["identity"].splitlines()[1],
               inputs["ZooKeeper client TLS"]["client_key"].splitlines()[1],
               inputs["ZooKeeper backup hosts SSH key"]["ssh_private_key"].splitlines()[1],
               inputs["ZooKeeper backup signing key"]["signing_key"].splitlines()[1]]
    inventory = d / "site.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {
        "zookeeper_secure_client_port": alab.secure_client_port,
        "zookeeper_tree_dir": str(d / "exports"),
        # The export pushes from here (the job's container in AWX) to the backup hosts.
        "zookeeper_tree_ssh_known_hosts_file": alab.known_hosts,
        "zookeeper_backup_install_packages": False}}}))
    machine_key = pathlib.Path(alab.key).read_text()
    secrets.append(machine_key.splitlines()[1])
    return {"dir": d, "inputs": inputs, "secrets": secrets, "inventory": str(inventory),
            "machine_key": machine_key}


def _inventory(lab, site, private):
    """The job's inventory: the lab's hosts and variables without its key file (the Machine
    credential's key reaches ssh through the agent), and the site's settings."""
    d = private / "inventory"
    d.mkdir(parents=True, exist_ok=True)
    inv = json.loads(pathlib.Path(lab.inventory).read_text())
    assert inv["all"]["vars"].pop("ansible_ssh_private_key_file")
    (d / "hosts.json").write_text(json.dumps(inv))
    shutil.copy(site["inventory"], str(d / "site.yml"))
    return [str(d / "hosts.json"), str(d / "site.yml")]


def _ssh_args(lab):
    """The lab's ssh_args without IdentitiesOnly, so that ssh offers the agent's key."""
    with open(lab.ansible_cfg) as f:
        line = [x for x in f if x.startswith("ssh_args = ")][0]
    args = line[len("ssh_args = "):].split()
    i = args.index("IdentitiesOnly=yes")
    return " ".join(args[:i - 1] + args[i + 1:])


def launch(lab, installed, site, name, answers, refused=False):
    """Launch job template ``name`` with ``answers`` through ansible-runner; returns a
    PlaybookResult of the run.

    ``refused``: the run is expected to stop before any module runs."""
    jt = JTS[name]
    STATE["launched"].append(name)
    ident = "job-%d" % len(STATE["launched"])
    private = site["dir"] / ident
    creds = [(CTYPES[c], site["inputs"][c]) for c in jt["credential_types"]]
    args, env, _vars = A.job_arguments(jt, SURVEYS[jt["survey"]], answers, creds, str(private))
    # env/extravars is where AWX writes the job's variables, and ansible-runner passes it on
    # by itself; the credentials' files follow the Machine credential's user on the command line.
    assert args[:2] == ["-e", "@%s" % (private / "env" / "extravars")]
    cmdline = ["-u", "root"] + args[2:]
    results = private / "results.jsonl"
    envvars = dict(env)
    envvars.update({
        "ANSIBLE_CONFIG": lab.ansible_cfg,  # the project's ansible.cfg
        "ANSIBLE_COLLECTIONS_PATH": installed,
        "ANSIBLE_SSH_ARGS": _ssh_args(lab),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(LAB_DIR, "callback"),
        "ANSIBLE_CALLBACKS_ENABLED": "zkops_results",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_TASK_TIMEOUT": os.environ.get("ZKOPS_TASK_TIMEOUT", "600"),
        "ZKOPS_RESULTS": str(results),
        "PATH": bin_dir() + os.pathsep + os.environ.get("PATH", ""),
    })
    fqcn = "zkops.zookeeper." + os.path.basename(jt["playbook"])[:-4]
    t0 = time.time()
    r = ansible_runner.run(private_data_dir=str(private), ident=ident, playbook=fqcn,
                           inventory=_inventory(lab, site, private), envvars=envvars,
                           cmdline=" ".join(shlex.quote(a) for a in cmdline),
                           ssh_key=site["machine_key"], quiet=True, timeout=840)
    with r.stdout as f:
        stdout = f.read()
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] \
        if results.exists() else []
    res = PlaybookResult(r.rc, stdout, "", records, time.time() - t0)
    print("%s: rc %d (%s) in %.1f s" % (name, res.rc, r.status, res.duration))
    assert r.status in ("successful", "failed"), res.output()
    # The key went to the agent through a fifo, and left nothing behind.
    assert not os.path.exists(os.path.join(r.config.artifact_dir, "ssh_key_data"))
    artifacts = ""
    for root, _dirs, files in os.walk(r.config.artifact_dir):
        for fn in files:
            artifacts += pathlib.Path(root, fn).read_text(errors="replace")
    events = json.dumps(list(r.events))
    assert '"event": "playbook_on_stats"' in events or '"event":"playbook_on_stats"' in events.replace(" ", "")
    everything = stdout + artifacts + events + json.dumps(res.records)
    leaked = [s for s in site["secrets"] if s in everything]
    assert leaked == [], "secrets in the output of %s" % name
    if not refused and res.rc == 0:
        _check_fed(jt, res)
    return res


ARGSPEC_KEYS = {m: set(C.argument_spec(m)) for m in C.module_names()}


def _module_of(args):
    """The collection module whose options ``args`` (an invocation's module_args) are."""
    found = [m for m, keys in ARGSPEC_KEYS.items() if keys <= set(args)]
    return max(found, key=lambda m: len(ARGSPEC_KEYS[m])) if found else None


def module_runs(res):
    """(module, status, result) of every module run: those in the foreground by their task's
    action, those run in the background and waited for by zk_progress by their arguments."""
    for rec in res.records:
        module = rec["action"].rsplit(".", 1)[-1]
        result = rec["result"]
        for r in [result] + list(result.get("results") or []):
            args = (r.get("invocation") or {}).get("module_args")
            if not args:
                continue
            yield (_module_of(args) if module == "zk_progress" else module), rec["status"], r


def _check_fed(jt, res):
    """Record which no_log options reached a module (masked), and check that every
    credential the template takes fed at least one of them."""
    no_log = C.collection_no_log_options()
    fed_here = set()
    for module, _status, r in module_runs(res):
        args = r["invocation"]["module_args"]
        for opt in no_log.get(module, []):
            if opt == "auth.credential":
                value = [a.get("credential") for a in args.get("auth") or []]
                hit = value and all(v == MASK for v in value)
            elif isinstance(args.get(opt), list):
                hit = args[opt] and all(v == MASK for v in args[opt])
            else:
                hit = args.get(opt) == MASK
            if hit:
                fed_here.add((module, opt))
    STATE["fed"] |= fed_here
    options_of = {
        "ZooKeeper digest authentication": {"auth.credential"},
        "ZooKeeper client TLS": {"tls_key_password"},
        "ZooKeeper backup hosts SSH key": {"ssh_private_key", "ssh_private_key_passphrase"},
        "ZooKeeper backup encryption key": {"encryption_key"},
        "ZooKeeper backup identity": {"identities"},
        "ZooKeeper backup signing key": {"signing_key"},
    }
    for ct_name in jt["credential_types"]:
        assert options_of[ct_name] <= {o for _m, o in fed_here}, (
            "%s: credential %s fed nothing of %s" % (jt["name"], ct_name, options_of[ct_name]))


def task(res, module):
    """The result of the last successful run of ``module``."""
    found = [r for m, status, r in module_runs(res) if m == module and status == "ok"]
    assert found, res.output()
    return found[-1]


def znode(lab, path):
    zk = workload.client(lab, auth_data=[("digest", "awx:" + PASSWORD)])
    try:
        return zk.exists(path)
    finally:
        zk.stop()
        zk.close()


def test_backup_and_log_shipping(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - back up", {
        "zookeeper_backup_deep": "true", "zookeeper_backup_keep_last": 5})
    assert res.rc == 0, res.output()
    backup = task(res, "zk_backup")
    assert backup["backup_id"]
    args = backup["invocation"]["module_args"]
    # The key came from the credential, not from the key file on the member.
    assert args["ssh_private_key"] == MASK and args["ssh_private_key_file"] is None
    assert backup["encrypted"] if "encrypted" in backup else True
    # MAC'd with the encryption key and signed with the signing key's credential.
    assert [x["scheme"] for x in backup["authentication"]] == ["hmac-sha256", "ed25519"]
    files = alab.backup_hosts[0].sh("ls -R /srv/backups/%s" % alab.name).stdout
    assert backup["backup_id"] in files and ".enc" in files
    STATE["backup_id"] = backup["backup_id"]
    zk = workload.client(alab)
    zk.create("/awx-after-backup", b"kept by a point-in-time restore")
    zk.stop()
    zk.close()
    time.sleep(1.2)
    STATE["after"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res = launch(alab, installed, site, "ZooKeeper - ship logs", {})
    assert res.rc == 0, res.output()
    shipped = task(res, "zk_backup")
    assert shipped["backup_id"] and shipped["kind"] == "logs"


def test_info(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - info", {})
    assert res.rc == 0, res.output()
    runs = [r for m, status, r in module_runs(res) if m == "zk_info" and status == "ok"]
    assert sorted(r["member"]["mode"] for r in runs) == ["follower", "follower", "leader"]


def test_check_reads_every_backup_host(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - check", {})
    runs = [r for m, status, r in module_runs(res) if m == "zk_backup_catalog"]
    assert len(runs) == len(alab.backup_hosts), res.output()
    for r in runs:
        args = r["invocation"]["module_args"]
        assert args["state"] == "check" and args["ssh_private_key"] == MASK and args["encryption_key"] == MASK
        health = r["health"]
        # The backup and the shipped logs above verify and are authenticated by the key from the
        # credential; no restore has run on this ensemble yet, and that is the only problem.
        assert health["facts"]["full"]["id"] == STATE["backup_id"], health
        assert [(p["check"], p["severity"]) for p in health["problems"]] == [("restore", "critical")], health
    # The run fails, one line per problem.
    assert res.rc == 2, res.output()
    assert res.output().count("CRITICAL %s on " % alab.name) >= len(alab.backup_hosts), res.output()


def test_catalog_reads_every_backup_host(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - catalog", {"zookeeper_catalog_verify": "true"})
    assert res.rc == 0, res.output()
    catalog = res.ran("Gather the catalogs as zookeeper_catalog (one entry per backup host)")[
        "ansible_facts"]["zookeeper_catalog"]
    assert sorted(catalog) == sorted(h.name for h in alab.backup_hosts)
    for entry in catalog.values():
        # Read with the key from the credential; every file checked against the sums.
        assert STATE["backup_id"] in [b["id"] for b in entry["backups"]], entry
        assert all(b["verified"] is True for b in entry["backups"]), entry
    runs = [r for m, _status, r in module_runs(res) if m == "zk_backup_catalog"]
    assert len(runs) == len(alab.backup_hosts)
    assert all(r["invocation"]["module_args"]["ssh_private_key"] == MASK for r in runs)


def test_start_members_starts_a_stopped_member(alab, installed, site):
    victim = alab.members[0]
    victim.kill_zk()
    assert not victim.zk_running()
    res = launch(alab, installed, site, "ZooKeeper - start members", {"zookeeper_start_timeout": 120})
    assert res.rc == 0, res.output()
    report = res.result("Report what was started")["msg"]
    assert report["started"] == [victim.name] and victim.zk_running(), report
    assert report["serving_voters"] == "3 of 3", report


def test_tree_export_over_tls_with_digest_auth(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - export the tree", {"zookeeper_tree_exclude": ""})
    assert res.rc == 0, res.output()
    out = task(res, "zk_tree_export")
    args = out["invocation"]["module_args"]
    assert args["tls"] is True and args["tls_key_password"] == MASK
    assert all(h.endswith(":%d" % alab.secure_client_port) for h in args["hosts"].split(","))
    assert out["count"] > 100 and os.path.isfile(out["dest"])
    assert oct(os.stat(out["dest"]).st_mode & 0o777) == "0o600"
    # Stored on the backup host too, with the key from the credential.
    assert out["pushed"] and args["ssh_private_key"] == MASK and args["ssh_private_key_file"] is None
    stored = alab.backup_hosts[0].sh("ls %s/%s/%s" % ("/srv/backups", alab.name, out["backup_id"])).stdout
    assert "SHA256SUMS" in stored
    STATE["export"] = out["dest"]
    STATE["export_id"] = out["backup_id"]
    # Stored encrypted with the backup encryption key from the credential.
    assert args["encryption_key"] == MASK and args["signing_key"] == MASK
    assert "tree.zktree.gz.enc" in stored.split()


def test_tree_import_needs_the_typed_confirmation(alab, installed, site):
    victim = "/config/topics/topic-000"
    zk = workload.client(alab)
    zk.delete(victim)
    zk.stop()
    zk.close()
    # By export id, as a job in a fresh container must: the survey's default, latest, is the
    # export stored on the backup hosts above, encrypted with the key from the credential.
    answers = {"zookeeper_tree_src": "", "zookeeper_tree_root": "",
               "zookeeper_tree_confirm": "not-" + alab.name}
    res = launch(alab, installed, site, "ZooKeeper - import a tree export", answers, refused=True)
    assert res.rc != 0 and "Nothing was done" in res.stdout
    assert "zookeeper_tree_confirm=%s" % alab.name in res.stdout
    assert not znode(alab, victim)
    answers["zookeeper_tree_confirm"] = alab.name
    res = launch(alab, installed, site, "ZooKeeper - import a tree export", answers)
    assert res.rc == 0, res.output()
    out = task(res, "zk_tree_import")
    assert out["changed"] and out["counts"]["create"] == 1 and out["verified"]
    args = out["invocation"]["module_args"]
    assert args["export_id"] == "latest" and args["src"] is None
    assert args["ssh_private_key"] == MASK and args["encryption_key"] == MASK
    assert out["fetched"]["export_id"] == STATE["export_id"], out["fetched"]
    assert out["fetched"]["encrypted"] and out["fetched"]["authenticated"], out["fetched"]
    assert znode(alab, victim)


def test_restore_takes_blank_optional_answers(alab, installed, site):
    """The UI sends blank optional answers as empty strings; nothing may be restored here."""
    res = launch(alab, installed, site, "ZooKeeper - restore the ensemble", {
        "zookeeper_restore_backup_id": "", "zookeeper_restore_target_time": "",
        "zookeeper_restore_target_zxid": "", "zookeeper_restore_confirm": "not-" + alab.name},
        refused=True)
    failed = res.failed()
    assert failed and failed[0]["task"].endswith("Check the confirmation"), res.output()


def test_restore_drill_needs_the_typed_confirmation(alab, installed, site):
    """Launched on the lab as its drill inventory: a wrong name stops it before anything."""
    res = launch(alab, installed, site, "ZooKeeper - restore drill", {
        "zookeeper_restore_backup_id": "", "zookeeper_restore_confirm": "not-" + alab.name}, refused=True)
    failed = res.failed()
    assert failed and failed[0]["task"].endswith("Check the confirmation"), res.output()
    # Only the look-ups and the plan before the confirmation ran: nothing that stops, stages
    # or restores a member.
    ran = {m for m, _s, _r in module_runs(res)}
    assert "zk_info" in ran and "zk_restore" not in ran, ran


def test_restore_the_ensemble_to_a_point_in_time(alab, installed, site):
    zk = workload.client(alab)
    zk.create("/awx-after-ship", b"undone by the restore")
    zk.stop()
    zk.close()
    res = launch(alab, installed, site, "ZooKeeper - restore the ensemble", {
        "zookeeper_restore_target_time": STATE["after"], "zookeeper_restore_confirm": alab.name})
    assert res.rc == 0, res.output()
    assert znode(alab, "/awx-after-backup") and znode(alab, GUARDED)
    assert not znode(alab, "/awx-after-ship")


def test_rebuild_a_member_from_a_backup(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - rebuild a member", {
        "zookeeper_restore_member": "zk2", "zookeeper_restore_member_source": "backup",
        "zookeeper_restore_backup_id": STATE["backup_id"], "zookeeper_restore_confirm": "zk2"})
    assert res.rc == 0, res.output()
    alab.wait_quorum()
    assert alab.hosts["zk2"].mode() in ("leader", "follower")
    assert znode(alab, "/awx-after-backup")


def _pids(lab):
    return {h.name: h.sh("cat /run/zookeeper/zookeeper.pid").stdout.strip() for h in lab.members}


def test_rolling_restart(alab, installed, site):
    before = _pids(alab)
    res = launch(alab, installed, site, "ZooKeeper - rolling restart", {"zookeeper_rolling_restart_force": "true"})
    assert res.rc == 0, res.output()
    alab.wait_quorum()
    assert sorted(h.mode() for h in alab.members) == ["follower", "follower", "leader"]
    after = _pids(alab)
    assert all(before[n] and after[n] and before[n] != after[n] for n in before), (before, after)
    assert znode(alab, "/awx-after-backup")


def test_clean_up_after_restores(alab, installed, site):
    res = launch(alab, installed, site, "ZooKeeper - clean up after restores", {
        "zookeeper_restore_keep_pre_restore": 0, "zookeeper_restore_confirm": alab.name})
    assert res.rc == 0, res.output()
    cleaned = [r for m, status, r in module_runs(res) if m == "zk_restore" and status in ("ok", "changed")]
    assert len(cleaned) == 3
    # The ensemble restore and the member rebuild left pre-restore copies: all removed.
    assert sum(len(r["removed"]) for r in cleaned) >= 3, res.output()


def test_every_template_whose_playbook_exists_was_launched():
    assert sorted(set(STATE["launched"])) == sorted(LAUNCHED)
    assert sorted(LAUNCHED) == sorted(jt["name"] for jt in JTS.values() if jt["playbook"] not in A.PLAYBOOKS_TO_COME)


def test_every_promised_secret_reached_its_module():
    declared = {(m, o) for m, opts in C.collection_no_log_options().items() for o in opts}
    assert STATE["fed"] == declared - set(A.NOT_FED_BY_AWX)
