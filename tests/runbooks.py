"""The runbooks in docs/runbooks/ as the tests read and run them.

A runbook marks the command blocks that are its steps with an HTML comment on the line
before a fenced ``sh`` block, and the output a step must show with one before a ``text``
block (docs/runbooks/README.md):

    <!-- step: rebuild -->
    ```sh
    ansible-playbook zkops.zookeeper.restore -i inventory -e zookeeper_restore_mode=member ...
    ```

    <!-- expect: look -->
    ```text
    "quorum": false,
    ```

``<!-- step: NAME, may fail -->`` marks a step whose command exits non-zero in the
situation it is for (a check that reports the damage).  The prose between the block before a
step and its mark says which privileges the step needs, in a paragraph that begins
``Privileges:`` (``Step.privileges``).  Placeholders are ``<name>`` words
(``<ensemble>``, ``<member>``...), replaced from the values the test gives; in an expect
block they match anything.  Every ``sh`` block of a runbook is a step.
"""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUNBOOKS = os.path.join(REPO, "docs", "runbooks")

MARK = re.compile(r"^<!--\s*(step|expect):\s*([\w-]+)\s*(,\s*may fail)?\s*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
PLACEHOLDER = re.compile(r"<([a-z][a-z0-9-]*)>")
# The placeholders docs/runbooks/README.md documents.
PLACEHOLDERS = ("ensemble", "member", "members", "backup-id", "time", "zxid",
                "subtree", "export-file", "exports-dir", "source-member")


class RunbookError(Exception):
    pass


class Step(object):
    def __init__(self, name, text, may_fail, line, privileges=None):
        self.name = name
        self.privileges = privileges
        self.text = text
        self.may_fail = may_fail
        self.line = line
        self.expect = []

    def __repr__(self):
        return "<step %s>" % self.name


class Runbook(object):
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-3]
        with open(path) as f:
            self.lines = f.read().splitlines()
        self.title = next((line[2:].strip() for line in self.lines if line.startswith("# ")), "")
        self.steps = []
        self.sections = [line[3:].strip() for line in self.lines if line.startswith("## ")]
        self._parse()

    def _parse(self):
        lines = self.lines
        i = 0
        pending = None
        by_name = {}
        prose = []          # the lines since the last fenced block
        while i < len(lines):
            m = MARK.match(lines[i].strip())
            if m:
                pending = (m.group(1), m.group(2), bool(m.group(3)), i + 1, _privileges(prose))
                i += 1
                continue
            f = FENCE.match(lines[i].strip())
            if f and lines[i].strip() != "```":
                lang = f.group(1)
                j = i + 1
                while j < len(lines) and lines[j].strip() != "```":
                    j += 1
                body = "\n".join(lines[i + 1:j])
                if lang == "sh":
                    if pending is None or pending[0] != "step":
                        raise RunbookError("%s:%d: a sh block without <!-- step: name --> before it"
                                           % (self.path, i + 1))
                    if pending[1] in by_name:
                        raise RunbookError("%s:%d: step %s again" % (self.path, i + 1, pending[1]))
                    step = Step(pending[1], body, pending[2], pending[3], pending[4])
                    by_name[step.name] = step
                    self.steps.append(step)
                elif pending is not None and pending[0] == "expect":
                    if pending[1] not in by_name:
                        raise RunbookError("%s:%d: expect: %s comes before its step" % (self.path, i + 1, pending[1]))
                    by_name[pending[1]].expect.extend(x for x in body.splitlines() if x.strip())
                elif pending is not None:
                    raise RunbookError("%s:%d: <!-- step --> before a %s block, not sh" % (self.path, i + 1, lang))
                pending = None
                prose = []
                i = j + 1
                continue
            if lines[i].strip():
                pending = None      # a mark goes right before its block
            prose.append(lines[i])
            i += 1

    def step(self, name):
        for s in self.steps:
            if s.name == name:
                return s
        raise RunbookError("%s has no step %s" % (self.path, name))

    def placeholders(self):
        found = set()
        for s in self.steps:
            found.update(PLACEHOLDER.findall(s.text))
            for e in s.expect:
                found.update(PLACEHOLDER.findall(e))
        return found


def _privileges(prose):
    """The paragraph of ``prose`` that begins with "Privileges:", as one line, or None."""
    found = []
    for line in prose:
        text = line.strip()
        if found and text:
            found.append(text)
        elif found:
            break
        elif text.startswith("Privileges:"):
            found.append(text)
    return " ".join(found) or None


def runbooks():
    """{name: Runbook} of docs/runbooks/*.md (the README is not a runbook)."""
    out = {}
    for fn in sorted(os.listdir(RUNBOOKS)):
        if fn.endswith(".md") and fn != "README.md":
            rb = Runbook(os.path.join(RUNBOOKS, fn))
            out[rb.name] = rb
    return out


def substitute(text, values):
    def repl(m):
        if m.group(1) not in values:
            raise RunbookError("no value for the placeholder <%s>" % m.group(1))
        return str(values[m.group(1)])
    return PLACEHOLDER.sub(repl, text)


def expect_pattern(line, values):
    """A regex for one expected output line: placeholders with a value stand for it, the
    others (and ``...``) for anything."""
    out = []
    pos = 0
    for m in re.finditer(r"<([a-z][a-z0-9-]*)>|\.\.\.", line):
        out.append(re.escape(line[pos:m.start()]))
        name = m.group(1)
        out.append(re.escape(str(values[name])) if name and name in values else ".*?")
        pos = m.end()
    out.append(re.escape(line[pos:]))
    return re.compile("".join(out).strip())


class StepResult(object):
    def __init__(self, step, command, rc, output, seconds):
        self.step = step
        self.command = command
        self.rc = rc
        self.output = output
        self.seconds = seconds

    def __repr__(self):
        return "<%s rc=%d %.1fs>" % (self.step.name, self.rc, self.seconds)


class Runner(object):
    """Runs the steps of one runbook as an operator would: bash in ``workdir`` (which holds
    the inventory files the commands name), with ``env`` (ANSIBLE_CONFIG...)."""

    def __init__(self, runbook, workdir, env, values, log=print):
        self.runbook = runbook
        self.workdir = workdir
        self.env = dict(env)
        self.env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + self.env.get("PATH", "")
        self.values = dict(values)
        self.log = log
        self.done = []

    def run(self, name, timeout=900, **more):
        step = self.runbook.step(name)
        values = dict(self.values, **more)
        command = substitute(step.text, values)
        t0 = time.time()
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=self.workdir, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           check=False)
        res = StepResult(step, command, p.returncode, p.stdout, time.time() - t0)
        self.done.append(res)
        self.log("%s / %s: rc %d in %.1f s" % (self.runbook.name, name, res.rc, res.seconds))
        if res.rc != 0 and not step.may_fail:
            raise AssertionError("%s step %s failed (rc %d):\n$ %s\n%s" % (
                self.runbook.name, name, res.rc, command, res.output[-6000:]))
        missing = [e for e in step.expect if not expect_pattern(e, values).search(res.output)]
        if missing:
            raise AssertionError("%s step %s: the output lacks what the runbook says it shows: %s\n%s" % (
                self.runbook.name, name, missing, res.output[-6000:]))
        return res

    def untested(self):
        """Steps of the runbook this runner has not run."""
        ran = {r.step.name for r in self.done}
        return [s.name for s in self.runbook.steps if s.name not in ran]
