"""Run real ansible-playbook against a lab and read back every task result."""
import contextlib
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, "tests", "output", "collections")


def collections_path():
    """A collections path holding ansible_collections/zkops/zookeeper -> this checkout."""
    ns = os.path.join(COLLECTIONS, "ansible_collections", "zkops")
    link = os.path.join(ns, "zookeeper")
    if not os.path.islink(link):
        os.makedirs(ns, exist_ok=True)
        tmp = link + ".%d" % os.getpid()
        os.symlink(REPO, tmp)
        os.replace(tmp, link)
    return COLLECTIONS


def bin_dir():
    return os.path.dirname(sys.executable)


class PlaybookResult:
    def __init__(self, rc, stdout, stderr, records, duration):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.records = records
        self.duration = duration

    def __repr__(self):
        return "<PlaybookResult rc=%d tasks=%d>" % (self.rc, len(self.records))

    def tasks(self, name=None, host=None, action=None):
        """Records of task ``name`` (a role's tasks also match without their 'role : ')."""
        return [r for r in self.records
                if (name is None or r["task"] == name or r["task"].endswith(" : " + name))
                and (host is None or r["host"] == host)
                and (action is None or r["action"] == action)]

    def result(self, name, host=None):
        """The result of task ``name`` (on ``host``); fails when there is not exactly one."""
        found = self.tasks(name, host)
        if len(found) != 1:
            raise AssertionError("expected one result of %r on %s, got %d\n%s" % (
                name, host, len(found), self.output()))
        return found[0]["result"]

    def ran(self, name):
        """The result of task ``name`` on the one host that ran it (the others skipped it, as a
        task of an ensemble's first member); fails when there is not exactly one."""
        found = [r for r in self.tasks(name) if r["status"] != "skipped"]
        if len(found) != 1:
            raise AssertionError("expected one host to run %r, got %d\n%s" % (name, len(found), self.output()))
        return found[0]["result"]

    def results(self, name):
        """{host: result} of task ``name``."""
        return {r["host"]: r["result"] for r in self.tasks(name)}

    def failed(self):
        return [r for r in self.records if r["status"] in ("failed", "unreachable")]

    def changed(self):
        return [r for r in self.records if r["result"].get("changed")]

    def output(self):
        return "rc=%d\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.rc, self.stdout[-6000:], self.stderr[-3000:])


def run_playbook(lab, playbook, extra_vars=None, check=False, diff=False, limit=None,
                 tags=None, env=None, timeout=840, inventory=None, verbosity=0, args=()):
    """Run ``playbook`` (a path, or YAML text) against ``lab``; return a PlaybookResult."""
    tmp = tempfile.mkdtemp(prefix="zkops-play-", dir=lab.dir if lab else None)
    if "\n" in playbook:
        path = os.path.join(tmp, "playbook.yml")
        with open(path, "w") as f:
            f.write(playbook)
    else:
        path = playbook
    results = os.path.join(tmp, "results.jsonl")
    cmd = [os.path.join(bin_dir(), "ansible-playbook"), path]
    if inventory:
        cmd += ["-i", inventory]
    if extra_vars:
        vf = os.path.join(tmp, "extra-vars.json")
        with open(vf, "w") as f:
            json.dump(extra_vars, f)
        cmd += ["-e", "@" + vf]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", tags]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(args)
    e = lab.ansible_env() if lab else dict(os.environ)
    e.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback"),
        "ANSIBLE_CALLBACKS_ENABLED": "zkops_results",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCAL_TEMP": os.path.join(tmp, "local-tmp"),
        "ZKOPS_RESULTS": results,
        "PATH": bin_dir() + os.pathsep + os.environ.get("PATH", ""),
    })
    e.update(env or {})
    # A task that hangs fails by name (ZKOPS_TASK_TIMEOUT seconds; tests set it) instead of
    # holding the whole run until the test's own timeout.
    task_timeout = os.environ.get("ZKOPS_TASK_TIMEOUT")
    if task_timeout and "ANSIBLE_TASK_TIMEOUT" not in e:
        e["ANSIBLE_TASK_TIMEOUT"] = task_timeout
    # Unbuffered, so that the output of a run stopped at its time limit ends where it stopped.
    e.setdefault("PYTHONUNBUFFERED", "1")
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        seen = hung_processes(proc.pid)
        for pid in reversed(_descendants(proc.pid)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
        finished = []
        if os.path.exists(results):
            with open(results) as f:
                finished = [line[:300] for line in f if line.strip()][-5:]
        raise AssertionError(
            "ansible-playbook %s ran longer than %d s; its output so far:\n%s\n--- stderr ---\n%s\n"
            "--- the last task results it recorded ---\n%s\n--- its processes at the time limit ---\n%s"
            % (path, timeout, stdout[-6000:], stderr[-2000:], "\n".join(finished), seen)) from None
    p = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    dt = time.time() - t0
    records = []
    if os.path.exists(results):
        with open(results) as f:
            records = [json.loads(line) for line in f if line.strip()]
    return PlaybookResult(p.returncode, p.stdout, p.stderr, records, dt)


def _descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(sorted(children.get(p, [])))
    return out


def hung_processes(pid):
    """What ``pid`` and its descendants were doing: state, kernel wait channel and command line,
    and the Python stacks of the Python ones where py-spy is installed."""
    lines = []
    spy = shutil.which("py-spy")
    for p in _descendants(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open("/proc/%d/wchan" % p) as f:
                wchan = f.read().strip() or "-"
            with open("/proc/%d/cmdline" % p, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        lines.append("%d %s %s %s" % (p, state, wchan, cmdline[:200]))
        if spy and ("python" in cmdline.split(" ", 1)[0] or "ansible" in cmdline):
            r = subprocess.run([spy, "dump", "--pid", str(p)], capture_output=True, text=True,
                               timeout=60, check=False)
            lines.append(r.stdout[-4000:] + r.stderr[-500:])
    return "\n".join(lines)
