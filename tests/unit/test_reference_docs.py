"""Reference documentation: ansible-doc renders every plugin and role cleanly, the changelog
builds from its fragments, every role has a page with a diagram, docs/ has an index that
links every page, and the performance page carries every benchmark."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from known_warnings import unknown_stderr
from lab.ansible import REPO, collections_path

BIN = os.path.dirname(sys.executable)
DOCS = os.path.join(REPO, "docs")
ROLES = sorted(os.listdir(os.path.join(REPO, "roles")))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "plugins", "modules")) if f.endswith(".py"))
# Characters a diagram of steps is drawn with.
DIAGRAM = re.compile(r"[─│┌└├▼▶→]|-->|->|==>")


def tool(name, *args, cwd=REPO, check=True):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR="1",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    res = subprocess.run([os.path.join(BIN, name)] + list(args), capture_output=True, text=True,
                         cwd=cwd, env=env, check=False, timeout=300)
    if check:
        assert res.returncode == 0, (name, args, res.stdout[-3000:], res.stderr[-3000:])
    return res


@pytest.mark.parametrize("kind,names", [
    ("module", ["zkops.zookeeper." + m for m in MODULES]),
    ("role", ["zkops.zookeeper." + r for r in ROLES]),
    ("filter", ["zkops.zookeeper.backup_candidates", "zkops.zookeeper.backup_outcome",
                "zkops.zookeeper.catalog_by_host", "zkops.zookeeper.quorum_first",
                "zkops.zookeeper.quorum_holds", "zkops.zookeeper.restore_check"]),
])
def test_ansible_doc_renders_cleanly(kind, names):
    res = tool("ansible-doc", "-t", kind, *names)
    assert unknown_stderr(res.stderr) == ""
    assert "[WARNING]" not in res.stdout and "[ERROR]" not in res.stdout
    data = json.loads(tool("ansible-doc", "-t", kind, "--json", *names).stdout)
    assert sorted(data) == sorted(names)
    for name, doc in data.items():
        if kind == "role":
            assert doc["entry_points"]["main"]["short_description"], name
            assert doc["entry_points"]["main"]["options"], name
        else:
            assert doc["doc"]["short_description"] and doc["doc"]["description"], name
            if kind == "module":
                assert doc["examples"] and doc["return"], name


def test_ansible_doc_lists_every_module():
    listed = json.loads(tool("ansible-doc", "-t", "module", "-l", "--json", "zkops.zookeeper").stdout)
    assert sorted(listed) == ["zkops.zookeeper." + m for m in MODULES]


def test_changelog_fragments_lint_and_build(tmp_path):
    res = tool("antsibull-changelog", "lint")
    assert res.stdout.strip() == "" and unknown_stderr(res.stderr).strip() == ""
    # A release in a copy of the checkout (what a commit would hold): the changelog is built
    # from every fragment and the fragments are consumed.
    copy = tmp_path / "zookeeper"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if os.path.isfile(os.path.join(REPO, f)):
            os.makedirs(os.path.dirname(str(copy / f)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), str(copy / f))
    fragments = [f for f in os.listdir(str(copy / "changelogs" / "fragments")) if f.endswith(".yml")]
    assert len(fragments) >= 10
    tool("antsibull-changelog", "release", "--version", "9.9.9", "--date", "2030-01-01", cwd=str(copy))
    # Markdown escapes punctuation (zk\\_restore): compare without the backslashes.
    text = (copy / "CHANGELOG.md").read_text().replace("\\", "")
    assert "## v9.9.9" in text
    for needle in ("zk_restore", "zk_tree_export", "execution environment", "AWX"):
        assert needle in text, needle
    assert [f for f in os.listdir(str(copy / "changelogs" / "fragments")) if f.endswith(".yml")] == []
    releases = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())["releases"]
    assert "9.9.9" in releases


def _fenced_blocks(text):
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_page_with_a_diagram_of_its_steps(role):
    page = os.path.join(DOCS, "roles", role + ".md")
    with open(page) as f:
        text = f.read()
    diagrams = [b for b in _fenced_blocks(text) if len(b.splitlines()) >= 5 and DIAGRAM.search(b)]
    assert diagrams, "%s has no diagram of its steps" % page
    tasks = ""
    tdir = os.path.join(REPO, "roles", role, "tasks")
    for name in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, name)) as f:
            tasks += f.read()
    used = set(re.findall(r"zkops\.zookeeper\.(zk_\w+):", tasks))
    shown = [m for m in sorted(used) if any(m in d for d in diagrams)]
    assert len(shown) >= min(2, len(used)), "the diagram of %s shows none of %s" % (role, sorted(used))


def test_docs_index_links_every_page():
    with open(os.path.join(DOCS, "README.md")) as f:
        index = f.read()
    linked = set(re.findall(r"\]\(([^)#\s]+\.md)\)", index))
    for link in linked:
        assert os.path.isfile(os.path.join(DOCS, link)), link
    pages = set()
    for root, _dirs, files in os.walk(DOCS):
        for name in files:
            if name.endswith(".md"):
                pages.add(os.path.relpath(os.path.join(root, name), DOCS))
    assert pages - {"README.md"} == linked


def test_performance_page_has_every_benchmark():
    with open(os.path.join(REPO, "bench", "README.md")) as f:
        benches = re.findall(r"^## (bench_\w+\.py)", f.read(), re.M)
    assert len(benches) >= 4
    with open(os.path.join(DOCS, "performance.md")) as f:
        text = f.read()
    for bench in benches:
        assert "bench/" + bench in text, bench
        assert os.path.isfile(os.path.join(REPO, "bench", bench))
