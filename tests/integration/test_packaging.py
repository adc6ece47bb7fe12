"""The execution environment's build context, and its Python requirements in a clean virtualenv.

No container engine runs here, so the image's build is checked up to what does not need one:
ansible-builder writes the build context from execution-environment/execution-environment.yml
(with the tarball that ansible-galaxy built), then the context's own galaxy stage command
installs the collection from the tarball and its builder stage's introspection gathers the
Python and system requirements (from the definition and from the installed collection's
meta/execution-environment.yml), and those requirements, with ansible-core and
ansible-runner as the image gets them, install into a fresh virtualenv from the package
index. There every module_utils file imports, the modules' libraries are present and
ansible-doc reads the installed collection.
"""
import os
import pathlib
import re
import shlex
import shutil
import sys

import pytest

import collection_build
from lab.ansible import REPO

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)
LIBRARIES = ("kazoo", "paramiko", "zstandard", "lz4", "cryptography")


def run(cmd, **kw):
    return collection_build.run(cmd, **kw)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A copy of the definition next to a fresh tarball, and the build context made from it."""
    d = tmp_path_factory.mktemp("ee")
    tarball = collection_build.build(str(d / "dist"))
    src = d / "src"
    shutil.copytree(os.path.join(REPO, "execution-environment"), str(src / "execution-environment"))
    for name in ("requirements.txt", "bindep.txt"):
        shutil.copy(os.path.join(REPO, name), str(src / name))
    shutil.copy(tarball, str(src / "execution-environment" / "zkops-zookeeper.tar.gz"))
    ctx = d / "context"
    run([os.path.join(BIN, "ansible-builder"), "create", "-f",
         str(src / "execution-environment" / "execution-environment.yml"), "-c", str(ctx),
         "--output-filename", "Containerfile"])
    return {"dir": d, "ctx": ctx, "tarball": tarball,
            "containerfile": (ctx / "Containerfile").read_text()}


def test_build_context(context):
    ctx, cf = context["ctx"], context["containerfile"]
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", cf, re.M)
    assert stages == [("$EE_BASE_IMAGE", "base"), ("base", "galaxy"), ("base", "builder"),
                      ("base", "final")]
    build = ctx / "_build"
    for name, src in (("requirements.txt", "execution-environment/requirements-lock.txt"),
                      ("bindep.txt", "bindep.txt")):
        assert (build / name).read_text() == pathlib.Path(os.path.join(REPO, src)).read_text()
    with open(context["tarball"], "rb") as f:
        assert (build / "collections" / "zkops-zookeeper.tar.gz").read_bytes() == f.read()
    lock = pathlib.Path(os.path.join(REPO, "execution-environment", "requirements-lock.txt")).read_text()
    pins = ["%s==%s" % (name, re.search(r"^%s==(\S+)" % name, lock, re.M).group(1))
            for name in ("ansible-core", "ansible-runner")]
    assert 'ARG ANSIBLE_INSTALL_REFS="%s"' % " ".join(pins) in cf
    assert "ansible-galaxy collection install" in cf and "-r requirements.yml" in cf
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in cf
    # The final image gets the galaxy stage's collections and the builder's wheels.
    final = cf.split("AS final", 1)[1]
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in final
    assert "/output/scripts/install-from-bindep" in final


def _stage_command(cf, pattern):
    lines = [line[len("RUN "):] for line in cf.splitlines() if line.startswith("RUN ") and pattern in line]
    assert len(lines) == 1, pattern
    return lines[0]


def test_image_stages_and_requirements_in_a_clean_virtualenv(context):
    d, ctx, cf = context["dir"], context["ctx"], context["containerfile"]
    # Galaxy stage: the context's _build is the working directory, its command as written,
    # into a local stand-in for /usr/share/ansible/collections.
    build = d / "build"
    shutil.copytree(str(ctx / "_build"), str(build))
    collections = d / "usr-share-ansible" / "collections"
    cmd = _stage_command(cf, "ansible-galaxy collection install").replace(
        "/usr/share/ansible/collections", str(collections))
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"],
               ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="")
    run(["bash", "-c", cmd], cwd=str(build), env=env)
    installed = collections / "ansible_collections" / "zkops" / "zookeeper"
    assert (installed / "meta" / "execution-environment.yml").is_file()
    # Builder stage: introspection of the installed collection plus the user's files.
    cmd = _stage_command(cf, "introspect.py introspect").replace("$PYCMD", sys.executable)
    cmd = cmd.replace("/output/scripts/", str(build / "scripts") + "/").replace("/tmp/src/", str(d) + "/")
    run(["bash", "-c", cmd + " " + shlex.quote(str(collections))], cwd=str(build))
    pip_reqs = (d / "requirements.txt").read_text()
    bindep = (d / "bindep.txt").read_text()
    for lib in ("kazoo", "paramiko", "zstandard", "lz4", "cryptography"):
        assert re.search(r"^%s\b.*# from collection (user|zkops\.zookeeper)" % lib, pip_reqs, re.M), pip_reqs
    assert "zkops.zookeeper" in pip_reqs and "openssh-clients [platform:rpm]" in bindep
    # The image's Python: ansible-core and ansible-runner as the base stage installs them,
    # then the introspected requirements, in a virtualenv of its own.
    venv = d / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    vpy = str(venv / "bin" / "python")
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', cf, re.M).group(1).split()
    run([vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + refs
        + ["-r", str(d / "requirements.txt")], timeout=900)
    probe = (
        "import importlib, os, sys\n"
        "sys.path.insert(0, %r)\n"
        "utils = os.path.join(%r, 'plugins', 'module_utils')\n"
        "names = sorted(os.path.relpath(os.path.join(d, f), utils)[:-3].replace(os.sep, '.')\n"
        "               for d, _, fs in os.walk(utils) for f in fs\n"
        "               if f.endswith('.py') and f != '__init__.py')\n"
        "for n in names:\n"
        "    importlib.import_module('ansible_collections.zkops.zookeeper.plugins.module_utils.' + n)\n"
        "for lib in %r:\n"
        "    importlib.import_module(lib)\n"
        "from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh\n"
        "from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection\n"
        "assert ssh.HAS_PARAMIKO and connection.HAS_KAZOO\n"
        "print(len(names), sys.prefix)\n"
    ) % (str(collections), str(installed), LIBRARIES)
    out = run([vpy, "-c", probe]).stdout.split()
    assert int(out[0]) >= 30 and out[1] == str(venv)
    doc = run([str(venv / "bin" / "ansible-doc"), "-t", "module", "zkops.zookeeper.zk_backup"],
              env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections)))
    assert "encryption_key" in doc.stdout and str(installed) in doc.stdout
