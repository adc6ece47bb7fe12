"""The runbooks' form, without a lab: what tests/integration/test_runbooks.py relies on and
what an operator looks for at 3 a.m."""
import os
import re

import pytest

import runbooks as R

BOOKS = R.runbooks()
SECTIONS = ("Recognise it", "Steps", "How long it takes", "Confirm success")


def test_there_are_runbooks_and_the_index_lists_them():
    assert len(BOOKS) == 6
    with open(os.path.join(R.RUNBOOKS, "README.md")) as f:
        index = f.read()
    assert set(re.findall(r"\]\(([\w-]+)\.md\)", index)) == set(BOOKS)
    # The placeholders the index documents are the ones the parser knows.
    documented = set(re.findall(r"^\| `<([a-z-]+)>` \|", index, re.M))
    assert documented == set(R.PLACEHOLDERS)


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_runbook(name):
    rb = BOOKS[name]
    assert rb.title.startswith("Runbook: ")
    for section in SECTIONS:
        assert any(s.startswith(section) for s in rb.sections), (name, section)
    assert len(rb.steps) >= 3
    assert rb.placeholders() <= set(R.PLACEHOLDERS), rb.placeholders() - set(R.PLACEHOLDERS)
    for step in rb.steps:
        # Which privileges the step needs, where (the members, the backup hosts), or none.
        assert step.privileges, "%s: step %s does not say which privileges it needs" % (name, step.name)
        assert re.search(r"\b(root|none)\b", step.privileges), (name, step.name, step.privileges)
        if re.search(r"zkops\.zookeeper\.(start|restore|backup|ship_logs)\b|zk_quiesce", step.text):
            assert "root" in step.privileges and "--become" in step.privileges, (name, step.name)
        # No path typed by hand into a command: the layout's variables (README.md, "Layouts").
        assert not re.search(r"(^|[\s'=])/(etc|var|usr|opt)/", step.text), (name, step.name, step.text)
        # Commands a person types: the collection's playbooks by FQCN, or its modules ad hoc,
        # always with an inventory.
        for command in re.findall(r"^(ansible(?:-playbook)?) ", step.text, re.M):
            assert command in ("ansible", "ansible-playbook")
        assert " -i " in step.text, (name, step.name)
        for playbook in re.findall(r"ansible-playbook (\S+)", step.text):
            assert re.match(r"^zkops\.zookeeper\.\w+$", playbook), playbook
            assert os.path.isfile(os.path.join(R.REPO, "playbooks", playbook.split(".")[-1] + ".yml"))
        for module in re.findall(r" -m (\S+)", step.text):
            assert module.startswith(("zkops.zookeeper.", "ansible.builtin.")), module
        # Destructive playbooks are confirmed in the command itself (or previewed with --check).
        if "zkops.zookeeper.restore" in step.text or "zkops.zookeeper.tree_import" in step.text:
            assert "--check" in step.text or "_confirm=" in step.text, (name, step.name)
    text = "\n".join(rb.lines)
    assert re.search(r"Measured on the lab \([^)]*\d[\d,]* znodes", text), name
    assert re.search(r"^\| step \| time \|$", text, re.M), name


def test_the_parser_refuses_what_the_tests_could_not_run(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("# Runbook: x\n\n```sh\nansible-playbook zkops.zookeeper.info -i inventory\n```\n")
    with pytest.raises(R.RunbookError, match="without <!-- step"):
        R.Runbook(str(bad))
    bad.write_text("# Runbook: x\n\n<!-- expect: look -->\n```text\nx\n```\n")
    with pytest.raises(R.RunbookError, match="before its step"):
        R.Runbook(str(bad))
    good = tmp_path / "good.md"
    good.write_text("# Runbook: x\n\nPrivileges: none\nat all.\n\n<!-- step: look, may fail -->\n```sh\nansible-playbook "
                    "zkops.zookeeper.info -i inventory -l <member>\n```\n\n<!-- expect: look -->\n"
                    "```text\n\"mode\": \"down\",\n<member> | FAILED! => {\n```\n")
    step, = R.Runbook(str(good)).steps
    assert step.may_fail and step.expect == ['"mode": "down",', "<member> | FAILED! => {"]
    assert step.privileges == "Privileges: none at all."
    assert R.substitute(step.text, {"member": "zk2"}).endswith("-l zk2")
    with pytest.raises(R.RunbookError, match="no value"):
        R.substitute(step.text, {})
    assert R.expect_pattern(step.expect[1], {"member": "zk2"}).search("zk2 | FAILED! => {")
    assert not R.expect_pattern(step.expect[1], {"member": "zk2"}).search("zk3 | FAILED! => {")
    assert R.expect_pattern("\"x\": \"0x...\",", {}).search('"x": "0x1f",')


def test_the_variables_the_commands_use_are_in_the_layouts_table():
    with open(os.path.join(R.RUNBOOKS, "README.md")) as f:
        index = f.read()
    layouts = index[index.index("## Layouts"):index.index("## Privileges")]
    table = set(re.findall(r"^\| `(zookeeper_\w+)`", layouts, re.M))
    # Debian, EL and the tarball: a column each, every row filled in.
    rows = [line for line in layouts.splitlines() if line.startswith("| `zookeeper_")]
    assert rows and all(len([c for c in row.split("|")[1:-1] if c.strip()]) == 4 for row in rows), rows
    used = set()
    for rb in BOOKS.values():
        for step in rb.steps:
            used.update(re.findall(r"\{\{\s*(\w+)\s*\}\}", step.text))
    assert used and used <= table, used - table
