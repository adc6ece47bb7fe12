# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push files to one or more storage hosts so that they arrive verified or not at all.

Knows nothing of what is pushed.  ``Push`` writes into a hidden staging directory
``<root>/<parent>/.<name>.partial-<random>`` on every host, streaming (data written to
``open()``'s file goes to every host as it comes, so nothing needs to fit on the local
disk).  ``commit()`` flushes the files to stable storage on each host, has each host
compute the SHA-256 of what it holds, compares with what was sent, writes a checksum
file (``SHA256SUMS``, the format of ``sha256sum``) and only then renames the staging
directory to ``<root>/<parent>/<name>``.  A directory without the leading dot and
with its checksum file is therefore complete and verified; anything else is debris of
an interrupted push (``PARTIAL_MARK`` in its name) that readers ignore.

The hosts are independent of each other: a host that fails (full, unreachable, a
checksum that differs) is dropped, its staging directory removed where it can be, and
named with its reason in ``failed``; the others go on.  Only when fewer than
``required`` hosts are left does the push fail (``TooFewHosts``).  When that happens while
renaming, the copies already renamed into place on other hosts are renamed back to a staging
name and removed, so that a failed push leaves no copy that looks complete; one that cannot
be taken back (its host stopped answering) is named in ``TooFewHosts.complete``.

A large file travels through several SFTP channels of the connection at once (``LANES``,
each writing every n-th block at its offset): OpenSSH's sftp-server handles one request
at a time, and each channel brings its own server process and its own window.  While it
is sent, the host is asked now and then to flush what has arrived (``sync -d``), so the
flush before the verification finds little left to write.

The storage host needs an SFTP server and a shell with coreutils (``sha256sum``,
``sync``, ``df``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import hashlib
import os
import posixpath
import select
import shlex
import socket
import stat
import subprocess
import threading
import time

import queue

from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import PIPE_READY, SshError

CHECKSUMS = "SHA256SUMS"
CMD_STATUS = 101                      # SSH_FXP_STATUS
OUTSTANDING = 256                     # unacknowledged 32 KiB writes per host (8 MiB)
# An SFTP write request around its data: length, type, request id, handle (a string),
# offset, data length.
WRITE_OVERHEAD = 4 + 1 + 4 + 4 + 8 + 4
# paramiko keeps this much of a channel packet for the message around the data.
CHANNEL_OVERHEAD = 64
MAX_WRITE = 32768
LANES = 2                             # SFTP channels per host a file is written through
LANE_QUEUE = 4                        # blocks waiting for each channel
EARLY_FLUSH = 64 << 20                # bytes sent between two flushes while sending
PARTIAL_MARK = ".partial-"
CLEANUP_TIMEOUT = 10.0


class TooFewHosts(SshError):
    """Fewer hosts than required are left; ``failed`` names every host that was dropped.

    ``complete`` lists the copies ({host, path}) that were renamed into place before the
    push failed and could not be taken back: they are complete and verified (empty
    unless a rename failed after others had succeeded and taking theirs back failed)."""

    def __init__(self, host, reason, failed, complete=None):
        SshError.__init__(self, host, reason)
        self.failed = failed
        self.complete = list(complete or [])


def describe_failures(failed):
    """'host: reason; host: reason' for a list of {host, reason}."""
    return "; ".join("%s: %s" % (f["host"], f["reason"]) for f in failed)


def staging_name(name):
    return ".%s%s%s" % (name, PARTIAL_MARK, binascii.hexlify(os.urandom(4)).decode("ascii"))


def _q(path):
    return shlex.quote(path)


def disk_usage(session, path, timeout=CLEANUP_TIMEOUT):
    """{size_bytes, used_bytes, avail_bytes, used_percent} of the file system of ``path`` on
    the host, or None when ``df`` cannot tell."""
    try:
        rc, out, _err = session.run("df -Pk -- %s" % _q(path), timeout=timeout)
    except SshError:
        return None
    lines = out.strip().splitlines()
    if rc != 0 or len(lines) < 2:
        return None
    try:
        fields = lines[-1].split()
        size, used, avail = (int(fields[i]) * 1024 for i in (1, 2, 3))
    except (IndexError, ValueError):
        return None
    # df's own rounding: used / (used + available), what "Use%" shows.
    total = used + avail
    return {"size_bytes": size, "used_bytes": used, "avail_bytes": avail,
            "used_percent": round(100.0 * used / total, 2) if total else 0.0}


def free_space(session, path):
    """Free bytes on the file system of ``path`` on the host (None when unknown)."""
    usage = disk_usage(session, path)
    return None if usage is None else usage["avail_bytes"]


def explain_io(session, path, exc, what):
    """An SshError for an I/O failure on ``session`` while doing ``what``."""
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, socket.timeout):
        return SshError(session.label, "no progress for %ss while %s: the backup host stopped answering "
                                       "(down, cut off, or overloaded)" % (session.timeout, what))
    if getattr(exc, "lost", False):
        return SshError(session.label, "%s while %s: the backup host stopped answering (down, cut off, or "
                                       "overloaded) for %ss" % (exc, what, session.timeout))
    if _connection_lost(session, exc):
        return SshError(session.label, "the connection broke while %s: the backup host stopped answering "
                                       "(down, cut off, or overloaded) for %ss" % (what, session.timeout))
    text = str(exc) or exc.__class__.__name__
    free = free_space(session, posixpath.dirname(path))
    if free is not None and free < 1 << 20:
        return SshError(session.label, "no space left while %s: %s has %d bytes free (%s)"
                        % (what, posixpath.dirname(posixpath.dirname(path)), free, text))
    return SshError(session.label, "%s failed: %s" % (what, text))


def _connection_lost(session, exc):
    if isinstance(exc, EOFError) or "connection dropped" in str(exc).lower():
        return True
    transport = session.client.get_transport() if session.client is not None else None
    return transport is None or not transport.is_active()


def ensure_dirs(session, root, parts, mode=0o700):
    """Make ``root/parts...`` exist (``root`` itself must); return the path."""
    sftp = session.sftp
    try:
        st = sftp.stat(root)
    except IOError:
        raise SshError(session.label, "%s does not exist on the host: create it (owned by the SSH user, "
                                      "mode 0700) or set the root directory option" % root)
    if not stat.S_ISDIR(st.st_mode):
        raise SshError(session.label, "%s is not a directory" % root)
    path = root
    for part in parts:
        path = posixpath.join(path, part)
        try:
            sftp.stat(path)
        except IOError:
            try:
                sftp.mkdir(path, mode)
            except IOError as exc:
                try:
                    sftp.stat(path)      # made by a concurrent push
                except IOError:
                    raise explain_io(session, path + "/x", exc, "creating %s" % path)
    return path


def flush(session, paths, timeout=None):
    """Have the host write ``paths`` (files or directories, each fsynced: a directory's
    fsync makes the names created or renamed in it durable) to stable storage, with
    coreutils' ``sync -- PATH...``, or a whole-system ``sync`` where sync takes no file.
    Raises SshError when the host cannot."""
    rc, _out, err = session.run("sync -- %s 2>/dev/null || sync" % " ".join(_q(p) for p in paths), timeout=timeout)
    if rc != 0:
        raise SshError(session.label, "flushing %s to disk failed: %s"
                       % (", ".join(paths), err.strip() or "exit code %d" % rc))


def durable_rename(session, tmp, path, timeout=None):
    """Rename the file ``tmp`` to ``path`` on the host so that a crash of the host leaves
    the old file or the new one, whole: the file is flushed before the rename, its directory
    after it.  Raises SshError (IOError from the rename)."""
    flush(session, [tmp], timeout)
    session.sftp.posix_rename(tmp, path)
    flush(session, [posixpath.dirname(path)], timeout)


def exists(session, path):
    try:
        session.sftp.stat(path)
        return True
    except IOError:
        return False


def remove_tree(session, path, timeout=CLEANUP_TIMEOUT):
    """rm -rf on the host; returns None or the reason it failed."""
    try:
        rc, _out, err = session.run("rm -rf -- %s" % _q(path), timeout=timeout)
    except SshError as exc:
        return exc.reason
    return None if rc == 0 else (err.strip() or "rm exited %d" % rc)


def checksums_text(files):
    """SHA256SUMS content for {name: sha256}."""
    return "".join("%s  %s\n" % (files[n], n) for n in sorted(files)).encode("utf-8")


def remote_sha256(session, directory, names, sync=True, timeout=None):
    """{name: sha256} computed on the host (after flushing the files when ``sync``).

    With OpenSSL's command line tool on the host (it hashes several times faster than
    coreutils' sha256sum where the CPU has SHA instructions), else with sha256sum."""
    files = " ".join(_q(n) for n in names)
    cmd = "cd %s && " % _q(directory)
    if sync:
        cmd += "{ sync -- %s 2>/dev/null || sync; } && " % files
    cmd += "{ openssl dgst -sha256 -r %s 2>/dev/null || sha256sum -- %s; }" % (
        " ".join(_q("./" + n) for n in names), files)
    rc, out, err = session.run(cmd, timeout=timeout)
    if rc != 0:
        raise SshError(session.label, "verifying %s failed: %s" % (directory, err.strip() or "exit code %d" % rc))
    got = {}
    for line in out.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            name = parts[1].lstrip("*")
            got[name[2:] if name.startswith("./") else name] = parts[0].lower()
    return got


def write_size(f):
    """The largest SFTP write of the open file ``f`` that travels in one SSH packet (the
    host's largest channel packet, less what surrounds the data).  paramiko writes
    32 KiB, which OpenSSH's 32 KiB packets split in two: twice the packets to encrypt,
    send, receive and decrypt."""
    try:
        room = int(f.sftp.sock.out_max_packet_size) - CHANNEL_OVERHEAD
        size = room - WRITE_OVERHEAD - len(f.handle)
    except (AttributeError, TypeError, ValueError):
        return MAX_WRITE
    return size if 4096 <= size <= MAX_WRITE else MAX_WRITE


def acknowledge(f, keep):
    """Read the answers to a pipelined SFTP file's writes until at most ``keep`` are
    outstanding, raising the first error.  paramiko (2.x to 5.x) checks them only now and
    then while writing and drops the ones still outstanding when the file is closed, so
    a write refused by the host (disk full) would otherwise go unnoticed."""
    reqs = getattr(f, "_reqs", None)
    if reqs is None:
        return
    while len(reqs) > keep:
        t, _msg = f.sftp._read_response(reqs.popleft())
        if t != CMD_STATUS:
            raise IOError("unexpected SFTP answer %r to a write" % (t,))


class _Dest:
    def __init__(self, session, final, staging):
        self.session = session
        self.final = final
        self.staging = staging
        self.lanes = []
        self.flushed = 0
        self.flushing = None           # the channel of a flush under way
        self.committed = False
        self.broken = False

    def early_flush(self, path):
        """Ask the host to flush ``path`` as far as it has arrived, unless it still
        flushes: a head start for the flush before the verification, which alone
        counts (a failure here changes nothing)."""
        if self.flushing is not None and not self.flushing.exit_status_ready():
            return
        self.end_flush()
        self.flushing = self.session.start("sync -d -- %s 2>/dev/null" % _q(path))

    def end_flush(self):
        chan, self.flushing = self.flushing, None
        if chan is not None:
            try:
                chan.recv_exit_status()
                chan.close()
            except Exception:  # nothing depends on it
                pass

    def stop(self):
        for lane in self.lanes:
            lane.cancel()
        self.lanes = []
        if self.flushing is not None:
            try:
                self.flushing.close()
            except Exception:  # nothing depends on it
                pass
            self.flushing = None

    def failed(self, exc, path, what):
        """Mark this destination as unusable after ``exc`` (a stalled connection stays
        unusable); return the SshError to raise."""
        err = explain_io(self.session, path, exc, what)
        if "stopped answering" in err.reason:
            self.broken = True
        return err


def _open_for_writing(sftp, path, mode):
    f = sftp.open(path, mode, bufsize=0)
    f.set_pipelined(True)
    f.MAX_REQUEST_SIZE = write_size(f)
    return f


class _Lane:
    """Writes blocks of one file at their offsets through one SFTP channel, in a thread of
    its own.  The first lane creates the file at once; the others open it when their
    first block comes.  A failure is kept and raised by the next put() or finish()."""

    def __init__(self, sftp, path, create):
        self.sftp = sftp
        self.path = path
        self.file = _open_for_writing(sftp, path, "wb") if create else None
        self.error = None
        self._queue = queue.Queue(maxsize=LANE_QUEUE)
        self._thread = None
        self._stop = False

    def _offer(self, item):
        while self.error is None:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise self.error

    def put(self, offset, data):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="zkops-sftp-lane")
            self._thread.daemon = True
            self._thread.start()
        self._offer((offset, data))

    def _run(self):
        try:
            if self.file is None:
                self.file = _open_for_writing(self.sftp, self.path, "r+b")
            f = self.file
            while True:
                item = self._queue.get()
                if item is None or self._stop:
                    return
                f.seek(item[0])
                f.write(item[1])
                acknowledge(f, OUTSTANDING)
        except BaseException as exc:  # handed to the writing thread
            self.error = exc

    def finish(self):
        """Wait until every block is written and acknowledged, then close the file."""
        if self._thread is not None:
            self._offer(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error
        f, self.file = self.file, None
        if f is not None:
            acknowledge(f, 0)
            f.close()

    def cancel(self):
        """Stop without waiting (the file is being thrown away)."""
        self._stop = True
        self.file = None
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass


class _ClientFailed(IOError):
    """OpenSSH's ssh client failed, said with its exit code or message; ``lost`` when it lost
    the connection after the transfer had begun (exit code 255: the host stopped answering)."""

    def __init__(self, message, lost=False):
        IOError.__init__(self, message)
        self.lost = lost


class _PipeLane(_Lane):
    """Writes the blocks of one file, in order, through OpenSSH's ssh client (a process of
    its own: its encryption runs outside Python and beside it) into ``cat`` on the storage
    host.  The client logs in as the session did (transport/ssh.py, openssh_argv: the same
    known_hosts file, strict host key checking, the same key), usually started when the
    session connected (SshSession.pipe); the host gets the file's path, says that it is
    ready (after whatever the user's shell prints), then gets the data.

    When the client cannot log in and ``fallback`` is set, the file goes through one SFTP
    channel of the session instead, and ``note`` says why.  A failure later (the host's
    disk full, the link cut) is the file's failure, as with SFTP."""

    def __init__(self, session, path, fallback):
        _Lane.__init__(self, None, path, False)
        self.session = session
        self.fallback = fallback
        self.note = None
        self.written = 0
        self.proc, self._errors = session.pipe()
        self._sink = None

    def _stderr(self):
        try:
            self._errors.seek(0)
            text = self._errors.read(4096).decode("utf-8", "replace")
        except (IOError, OSError, ValueError):
            return ""
        return " ".join(text.split())

    def _wait_ready(self):
        """True once the host said it is ready; False when the client gave up first."""
        deadline = time.time() + (self.session.timeout or 60.0)
        line = b""
        seen = 0
        out = self.proc.stdout
        while time.time() < deadline and not self._stop:
            ready, _w, _x = select.select([out], [], [], 0.2)
            if not ready:
                continue
            byte = os.read(out.fileno(), 1)
            if not byte:
                return False
            if byte != b"\n":
                line += byte
            elif line == PIPE_READY:
                return True
            else:                     # what the user's shell start-up files print
                seen += len(line) + 1
                line = b""
            if seen + len(line) > 16384:
                return False
        return False

    def _open_sink(self):
        try:
            self.proc.stdin.write(self.path.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
            ready = self._wait_ready()
        except (IOError, OSError):     # the client ended: it could not log in
            ready = False
        if ready:
            return self.proc.stdin.write
        why = self._stderr() or "no answer"
        self._kill()
        if not self.fallback:
            raise _ClientFailed("OpenSSH's ssh client could not start the transfer: %s" % why)
        self.note = ("%s: OpenSSH's ssh client could not start the transfer (%s); sent through paramiko"
                     % (self.session.label, why))
        self.sftp = self.session.sftp
        self.file = _open_for_writing(self.sftp, self.path, "wb")

        def write(data):
            self.file.write(data)
            acknowledge(self.file, OUTSTANDING)
        return write

    def _run(self):
        try:
            if self._sink is None:
                self._sink = self._open_sink()
            while True:
                item = self._queue.get()
                if item is None or self._stop:
                    return
                if item[0] != self.written:
                    raise IOError("a block for offset %d came at %d" % (item[0], self.written))
                self._sink(item[1])
                self.written += len(item[1])
        except BaseException as exc:  # handed to the writing thread
            self.error = self._client_error(exc)

    def _client_error(self, exc):
        """The client's own failure behind a broken pipe (its exit code and message), else ``exc``."""
        if self.file is not None or isinstance(exc, _ClientFailed) or not isinstance(exc, (IOError, OSError)):
            return exc
        try:
            rc = self.proc.wait(timeout=CLEANUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return exc
        if rc == 0:
            return exc
        return _ClientFailed("the transfer through OpenSSH's ssh client failed (exit code %d): %s"
                             % (rc, self._stderr() or "no message"), lost=rc == 255)

    def finish(self):
        """Wait until every block is written and the host's ``cat`` ended well (the file is
        then written in full, not yet flushed or verified)."""
        if self._thread is None:                 # nothing was written: an empty file
            self.put(0, b"")
        self._offer(None)
        self._thread.join()
        self._thread = None
        if self.error is not None:
            self._kill()
            self._close_pipes()
            raise self.error
        if self.file is not None:               # the SFTP fallback
            self._close_pipes()
            f, self.file = self.file, None
            acknowledge(f, 0)
            f.close()
            return
        try:
            self.proc.stdin.close()
        except (IOError, OSError):
            pass
        try:
            rc = self.proc.wait(timeout=self.session.timeout or 60.0)
        except subprocess.TimeoutExpired:
            self._kill()
            raise socket.timeout()
        if rc != 0:
            why = self._stderr() or "no message"
            self._close_pipes()
            raise _ClientFailed("the transfer through OpenSSH's ssh client failed (exit code %d): %s" % (rc, why),
                                lost=rc == 255)
        self._close_pipes()

    def cancel(self):
        _Lane.cancel(self)
        self._kill()
        self._close_pipes()

    def _kill(self):
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=CLEANUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except (IOError, OSError):
                pass

    def _close_pipes(self):
        for pipe in (self.proc.stdin, self.proc.stdout, self._errors):
            try:
                pipe.close()
            except (IOError, OSError):
                pass


class FanOutFile:
    """A file being written to every destination; tracks size and SHA-256.

    Each write is one block, sent to every host through the next of its lanes.  A ``bulk``
    file goes through OpenSSH's ssh client to the hosts whose session has one (_PipeLane)."""

    def __init__(self, push, name, bulk=False):
        self.push = push
        self.name = name
        self.size = 0
        self._blocks = 0
        self._hash = hashlib.sha256()
        for d in list(push.dests):
            path = posixpath.join(d.staging, name)
            try:
                if bulk and getattr(d.session, "openssh", None) and "\n" not in path:
                    d.lanes = [_PipeLane(d.session, path, push.fallback)]
                    continue
                d.lanes = [_Lane(sftp, path, i == 0)
                           for i, sftp in enumerate(d.session.sftp_channels(push.lanes))]
            except Exception as exc:   # IOError, socket.timeout, paramiko.SSHException, EOFError
                push.drop(d, d.failed(exc, path, "creating %s" % path))
            d.flushed = 0

    def write(self, data):
        if not data:
            return
        self._hash.update(data)
        offset = self.size
        self.size += len(data)
        for d in list(self.push.dests):
            try:
                d.lanes[self._blocks % len(d.lanes)].put(offset, data)
            except Exception as exc:   # IOError, socket.timeout, paramiko.SSHException, EOFError
                self.push.drop(d, d.failed(exc, posixpath.join(d.staging, self.name), "writing %s" % self.name))
                continue
            if self.push.sync and self.size - d.flushed >= EARLY_FLUSH:
                d.early_flush(posixpath.join(d.staging, self.name))
                d.flushed = self.size
        self._blocks += 1

    def close(self):
        """Wait until every host acknowledged every write; return the SHA-256."""
        for d in list(self.push.dests):
            lanes, d.lanes = d.lanes, []
            try:
                for lane in lanes:
                    lane.finish()
                    if getattr(lane, "note", None):
                        self.push.notes.append(lane.note)
            except Exception as exc:
                for lane in lanes:
                    lane.cancel()
                self.push.drop(d, d.failed(exc, posixpath.join(d.staging, self.name), "finishing %s" % self.name))
        digest = self._hash.hexdigest()
        self.push.files[self.name] = digest
        self.push.sizes[self.name] = self.size
        return digest


class Push:
    """A new directory ``root/parent.../name`` written to every session's host."""

    def __init__(self, sessions, root, parent_parts, name, checksums=CHECKSUMS, sync=True,
                 lanes=LANES, required=None, failed=None, fallback=True):
        """``required``: how many hosts must receive the directory (None: every one);
        ``failed``: hosts already known to be out (connection failures), counted against it;
        ``fallback``: a bulk file goes through SFTP to a host where OpenSSH's ssh client cannot
        log in (else that host fails).  ``notes`` collects what was done instead."""
        self.lanes = max(1, lanes)
        self.fallback = fallback
        self.notes = []
        self.failed = list(failed or [])
        self.total = len(sessions) + len(self.failed)
        self.required = self.total if not required else int(required)
        self.sessions = sessions
        self.root = root
        self.parent_parts = list(parent_parts)
        self.name = name
        self.checksums = checksums
        self.sync = sync
        self.dests = []
        self.files = {}
        self.sizes = {}
        self.leftovers = []

    def begin(self):
        stage = staging_name(self.name)
        self._check_enough()
        for s in self.sessions:
            try:
                parent = ensure_dirs(s, self.root, self.parent_parts)
                final = posixpath.join(parent, self.name)
                if exists(s, final):
                    raise SshError(s.label, "%s already exists: refusing to overwrite a stored backup" % final)
                staging = posixpath.join(parent, stage)
                try:
                    s.sftp.mkdir(staging, 0o700)
                except Exception as exc:   # IOError, socket.timeout, paramiko.SSHException, EOFError
                    raise explain_io(s, staging + "/x", exc, "creating %s" % staging)
            except SshError as exc:
                self.failed.append({"host": s.label, "reason": exc.reason})
                self._check_enough(exc)
                continue
            self.dests.append(_Dest(s, final, staging))
        return self

    def _check_enough(self, exc=None):
        """Raise TooFewHosts when fewer than ``required`` hosts can still get the copy (each
        host is either still in the push or in ``failed``)."""
        left = self.total - len(self.failed)
        if left > 0 and left >= self.required:
            return
        raise TooFewHosts(exc.host if exc is not None else "-",
                          "only %d of %d backup hosts could take the copy, %d required (%s)"
                          % (left, self.total, self.required, describe_failures(self.failed)), list(self.failed))

    def drop(self, d, err):
        """Give up on destination ``d`` after ``err`` (an SshError): its staging directory is
        removed when the host still answers; the others go on unless too few are left."""
        if d in self.dests:
            self.dests.remove(d)
        entry = {"host": d.session.label, "reason": err.reason}
        d.stop()
        if d.broken:
            entry["leftover"] = d.staging
            d.session.close()
        else:
            why = remove_tree(d.session, d.staging)
            if why is not None:
                entry["leftover"] = d.staging
        self.failed.append(entry)
        self._check_enough(err)

    def open(self, name, bulk=False):
        """A new file of the directory; ``bulk`` for a large one (see FanOutFile)."""
        return FanOutFile(self, name, bulk)

    def put(self, name, data):
        f = self.open(name)
        f.write(data)
        return f.close()

    def commit(self):
        """Verify on every host, then rename into place; returns one dict per host."""
        self.put(self.checksums, checksums_text(self.files))
        names = sorted(self.files)
        for d in list(self.dests):
            d.end_flush()
            try:
                got = remote_sha256(d.session, d.staging, names, sync=self.sync)
            except SshError as exc:
                self.drop(d, exc)
                continue
            bad = [n for n in names if got.get(n) != self.files[n]]
            if bad:
                self.drop(d, SshError(d.session.label, "verification failed: the SHA-256 computed on the host "
                                                       "differs from what was sent for %s" % ", ".join(bad)))
        out = []
        renamed = []
        for d in list(self.dests):
            try:
                d.session.sftp.rename(d.staging, d.final)
            except Exception as exc:   # IOError, socket.timeout, paramiko.SSHException, EOFError
                try:
                    self.drop(d, explain_io(d.session, d.final + "/x", exc,
                                            "renaming %s to %s" % (d.staging, d.final)))
                except TooFewHosts as too_few:
                    raise self._take_back(renamed, too_few)
                continue
            d.committed = True
            renamed.append(d)
            if self.sync:
                # The backup's directory (the names of its files), the directory it was
                # renamed in (the rename) and the one above (a new ensemble's directory).
                parent = posixpath.dirname(d.final)
                try:
                    flush(d.session, [d.final, parent, posixpath.dirname(parent)])
                except SshError:
                    pass       # renamed and verified; the host flushes it in its own time
            out.append({"host": d.session.label, "path": d.final, "verified": True,
                        "sha256": dict(self.files), "bytes": sum(self.sizes.values())})
        return out

    def _take_back(self, renamed, exc):
        """The push fails after the copies on ``renamed`` were renamed into place: rename
        each back to a staging name (``abort()`` then removes it), so that no copy looks
        complete where the push failed.  A copy that cannot be renamed back stays complete
        and verified; ``exc`` (TooFewHosts) names it in ``complete`` and in its reason."""
        kept = []
        for d in renamed:
            staging = posixpath.join(posixpath.dirname(d.final), staging_name(self.name))
            try:
                d.session.sftp.rename(d.final, staging)
            except Exception as err:   # IOError, socket.timeout, paramiko.SSHException, EOFError
                why = explain_io(d.session, d.final + "/x", err, "renaming %s back to %s" % (d.final, staging))
                kept.append({"host": d.session.label, "path": d.final, "reason": why.reason})
                continue
            d.staging = staging
            d.committed = False
        if not kept:
            reason = exc.reason + "; the copies already renamed into place were renamed back" \
                if renamed else exc.reason
            return TooFewHosts(exc.host, reason, exc.failed)
        reason = "%s; a complete, verified copy could not be taken back and stays on %s" % (
            exc.reason, "; ".join("%s at %s (%s)" % (k["host"], k["path"], k["reason"]) for k in kept))
        return TooFewHosts(exc.host, reason, exc.failed, [{"host": k["host"], "path": k["path"]} for k in kept])

    def abort(self):
        """Remove the staging directories that can be reached; remember the others (those of
        the hosts dropped on the way too)."""
        for f in self.failed:
            if f.get("leftover") and not any(x["path"] == f["leftover"] for x in self.leftovers):
                self.leftovers.append({"host": f["host"], "path": f["leftover"], "reason": f["reason"]})
        for d in self.dests:
            if d.committed:
                continue
            d.stop()
            if d.broken:
                self.leftovers.append({"host": d.session.label, "path": d.staging,
                                       "reason": "the host stopped answering"})
                d.session.close()
                continue
            why = remove_tree(d.session, d.staging)
            if why is not None:
                self.leftovers.append({"host": d.session.label, "path": d.staging, "reason": why})
        return self.leftovers
