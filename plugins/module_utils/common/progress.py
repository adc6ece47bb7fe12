# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of a long task, in a small JSON file that another process reads while it runs.

A ``Tracker`` follows one task through its stages (``stage()``): what is done of each
stage's total (bytes, znodes, operations), the rate over the last seconds and the time
left.  It rewrites the file at most every ``interval`` seconds, atomically (a temporary
file in the same directory, renamed), so a reader never sees half a file.  Without a path
it only keeps the counts, which the caller can return (``summary()``: seconds and rate of
every stage).  A failure to write the file never stops the task: the tracker stops writing.

``read()`` and ``describe()`` are the reader's side: the file's content, and one line for
a person (``send: 120.5 of 370.0 MB (33%), 12.1 MB/s, about 20 s left``).  ``liveness()``
tells whether the task's process still exists: a file that says ``running`` whose process
is gone belongs to a task that died without a word (killed, for instance by the kernel's
out-of-memory killer), and ``died()`` says so with what the file knows.

File content (``format`` 1): ``task``, ``state`` (running, done, failed), ``stage``,
``unit``, ``done``, ``total`` (null when unknown), ``percent``, ``rate`` (units per second),
``eta`` (seconds, null when unknown), ``stage_seconds``, ``seconds`` (since the task
started), ``updated`` (epoch seconds), ``pid``, ``stages`` (the finished ones: ``name``,
``seconds``, ``done``, ``unit``, ``rate``) and ``details`` (free-form counters).

``remove()`` deletes a progress file, and only that: a regular file (not a link) named
``*.json``, owned by the user that removes it, whose content is a progress state; anything
else is refused (ProgressError) and left as it is.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import stat
import tempfile
import time

FORMAT = 1
WINDOW = 10.0       # seconds of history behind the rate
MAX_FILE = 1 << 20  # a progress file is a few kB
_STATE_KEYS = ("format", "task", "state", "pid", "updated")


class ProgressError(Exception):
    pass


def argument_spec():
    """The option of the modules that report their progress."""
    return dict(progress_file=dict(type="path"))


class Tracker(object):
    """Counts, rate and time left of one task; written to ``path`` (or nowhere)."""

    def __init__(self, path, task, interval=1.0, clock=time.time):
        self.path = path
        self.task = task
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.stages = []
        self.details = {}
        self.name = None
        self.unit = None
        self.total = None
        self.done = 0
        self.stage_started = self.started
        self._samples = []
        self._next_write = 0.0
        self.write_error = None

    # --- the task's side ----------------------------------------------------------------
    def stage(self, name, total=None, unit=None):
        """Start stage ``name`` (the previous one ends); ``total`` in ``unit`` when known."""
        now = self.clock()
        self._end_stage(now)
        self.name, self.total, self.unit = name, total, unit
        self.done = 0
        self.stage_started = now
        self._samples = [(now, 0)]
        self._write(now)

    def add(self, n=1):
        self.done += n
        now = self.clock()
        if now >= self._next_write:
            self._write(now)

    def update(self, done=None, total=None, **details):
        """Set the absolute count (and total), or counters shown with the progress."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        self.details.update(details)
        now = self.clock()
        if now >= self._next_write:
            self._write(now)

    def close(self, ok=True):
        """The task ended: the last stage ends and the file says so."""
        now = self.clock()
        self._end_stage(now)
        self.name = None
        self._write(now, state="done" if ok else "failed")

    def summary(self):
        """Seconds (and count and rate) of every finished stage, for the task's result."""
        return [dict(s) for s in self.stages]

    # --- internals ----------------------------------------------------------------------
    def _end_stage(self, now):
        if self.name is None:
            return
        seconds = now - self.stage_started
        self.stages.append({
            "name": self.name, "seconds": round(seconds, 3), "unit": self.unit,
            "done": self.done if self.unit else None,
            "rate": round(self.done / seconds, 1) if self.unit and seconds > 0 else None})

    def rate(self, now=None):
        """Units per second over the last WINDOW seconds of the stage."""
        now = self.clock() if now is None else now
        self._prune(now)
        t0, d0 = self._samples[0] if self._samples else (self.stage_started, 0)
        if now - t0 <= 0:
            return None
        return (self.done - d0) / (now - t0)

    def state(self, now=None, state="running"):
        now = self.clock() if now is None else now
        rate = self.rate(now) if self.unit else None
        eta = None
        if rate and self.total is not None and self.total >= self.done:
            eta = round((self.total - self.done) / rate, 1)
        percent = None
        if self.total:
            percent = round(100.0 * min(self.done, self.total) / self.total, 1)
        return {
            "format": FORMAT, "task": self.task, "state": state, "stage": self.name,
            "unit": self.unit, "done": self.done, "total": self.total, "percent": percent,
            "rate": round(rate, 1) if rate is not None else None, "eta": eta,
            "stage_seconds": round(now - self.stage_started, 1),
            "seconds": round(now - self.started, 1), "updated": round(now, 3),
            "pid": os.getpid(), "stages": self.summary(), "details": dict(self.details),
        }

    def _prune(self, now):
        while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW:
            self._samples.pop(0)

    def _write(self, now, state="running"):
        self._samples.append((now, self.done))
        self._prune(now)
        self._next_write = now + self.interval
        if not self.path or self.write_error is not None:
            return
        try:
            write(self.path, self.state(now, state))
        except (IOError, OSError) as exc:
            self.write_error = str(exc)


def write(path, state):
    """Write ``state`` to ``path`` atomically (its directory is created, mode 0700)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, sort_keys=True)
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)


def remove(path, check_mode=False):
    """Delete the progress file ``path``; True when it was there (in check mode: would be
    deleted), False when there is none.  Raises ProgressError, deleting nothing, unless it
    is a progress file this collection wrote (see the module's docstring)."""
    directory, name = os.path.split(os.path.abspath(path))
    if not name.endswith(".json") or name.startswith("."):
        raise ProgressError("%s is not a progress file (their names end in .json): nothing was removed" % path)
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise ProgressError("cannot open the directory of %s: %s" % (path, exc.strerror))
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise ProgressError("%s is not a progress file (%s): nothing was removed" % (path, why))
        try:
            st = os.fstat(fd)
            why = None
            if not stat.S_ISREG(st.st_mode):
                why = "not a regular file"
            elif st.st_uid != os.geteuid():
                why = "owned by uid %d, not by the user removing it" % st.st_uid
            elif st.st_size > MAX_FILE:
                why = "%d bytes, far more than a progress file" % st.st_size
            else:
                with os.fdopen(os.dup(fd), "rb") as f:
                    data = f.read(MAX_FILE + 1)
                try:
                    state = json.loads(data.decode("utf-8"))
                except ValueError:
                    state = None
                if not (isinstance(state, dict) and state.get("format") == FORMAT
                        and all(k in state for k in _STATE_KEYS)):
                    why = "its content is not a progress state"
        finally:
            os.close(fd)
        if why is not None:
            raise ProgressError("%s is not a progress file of this collection (%s): nothing was removed; "
                                "give the progress_file the task wrote, or remove=false" % (path, why))
        if not check_mode:
            try:
                os.unlink(name, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return False
                raise ProgressError("cannot remove %s: %s" % (path, exc.strerror))
        return True
    finally:
        os.close(dfd)


# --- the reader's side ----------------------------------------------------------------------

def read(path):
    """The progress in ``path``, or None when there is none (yet) or it is not readable."""
    try:
        with open(path) as f:
            state = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def pid_alive(pid):
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        # EPERM: it exists, owned by someone else.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (IOError, OSError, IndexError):
        return True


def liveness(state, now=None):
    """{pid, alive, age}: the task's process, whether it exists (None when unknown or the
    task ended), and the seconds since the file was last written."""
    if not state:
        return {"pid": None, "alive": None, "age": None}
    now = time.time() if now is None else now
    updated = state.get("updated")
    age = round(now - updated, 1) if isinstance(updated, (int, float)) else None
    alive = pid_alive(state.get("pid")) if state.get("state") == "running" else None
    return {"pid": state.get("pid"), "alive": alive, "age": age}


def died(state, host=None):
    """The message for a task whose process is gone while its file says it runs."""
    where = " on %s" % host if host else ""
    return ("the %s%s died without finishing (its process %s is gone, killed for instance by the "
            "out-of-memory killer: look at the kernel log, dmesg) after %s, in %s" % (
                state.get("task") or "task", where, state.get("pid"), _duration(state.get("seconds") or 0),
                describe(state)))


def _amount(n, unit):
    if unit == "bytes":
        return "%.1f" % (n / 1e6)
    return "{0:,}".format(int(n))


def _unit_label(unit):
    return "MB" if unit == "bytes" else unit


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 120:
        return "%d s" % seconds
    if seconds < 7200:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)


def describe(state):
    """One line for a person: the stage, what is done of it, the rate and the time left."""
    if not state:
        return "starting"
    if state.get("state") != "running" or not state.get("stage"):
        stages = ", ".join("%s %s" % (s["name"], _duration(s["seconds"])) for s in state.get("stages") or [])
        return "%s in %s%s" % (state.get("state", "done"), _duration(state.get("seconds") or 0),
                               " (%s)" % stages if stages else "")
    unit = state.get("unit")
    line = "%s:" % state["stage"]
    if unit:
        done, total = state.get("done") or 0, state.get("total")
        if total:
            line += " %s of %s %s (%d%%)" % (
                _amount(done, unit), _amount(total, unit), _unit_label(unit), state.get("percent") or 0)
        else:
            line += " %s %s" % (_amount(done, unit), _unit_label(unit))
        if state.get("rate"):
            line += ", %s %s/s" % (_amount(state["rate"], unit), _unit_label(unit))
        if state.get("eta") is not None and state["eta"] >= 1:
            line += ", about %s left" % _duration(state["eta"])
        line += ", %s" % _duration(state.get("stage_seconds") or 0)
    else:
        line += " %s" % _duration(state.get("stage_seconds") or 0)
    extra = ", ".join("%s %s" % (k, v) for k, v in sorted((state.get("details") or {}).items()))
    if extra:
        line += " (%s)" % extra
    return line
