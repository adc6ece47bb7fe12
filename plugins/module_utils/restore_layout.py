# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a restore keeps its files on a member, and the restore marker.

A restore works inside the data directories themselves, so that every move is a rename
on one file system (``dataDir`` is often a mount point of its own, ``dataLogDir`` another):

    <dataDir>/version-2/                    the data the server loads
    <dataDir>/version-2/zkops-restore.json  the restore marker (restored data only)
    <dataDir>/.zkops-restore/<restore id>/
        staged/version-2/                   the restored files, laid down ahead of time
        pre-restore/version-2/              the member's data before the restore
        failed/version-2/                   restored data taken out again by a rollback
        restore.json                        what this restore did, phase by phase

and the same below ``dataLogDir`` when it is separate.  ZooKeeper reads only
``version-2`` (and ``myid``), and ignores files in it whose names are not those of
snapshots or logs, so neither the hidden area nor the marker disturbs it.

The marker is how a restored member is told from a stale one (ZooKeeper has no cluster
identity): it names the restore, the backups and the zxid the data was restored to.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import grp
import json
import os
import pwd
import re
import shutil
import stat
import time

VERSION_DIR = "version-2"
AREA = ".zkops-restore"
MARKER = "zkops-restore.json"
STATE = "restore.json"
STAGED = "staged"
PRE_RESTORE = "pre-restore"
FAILED = "failed"
DIR_MODE = 0o750
FILE_MODE = 0o640
_RESTORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


class LayoutError(Exception):
    pass


def new_restore_id(now=None):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return "%s-%s" % (stamp, binascii.hexlify(os.urandom(3)).decode("ascii"))


def check_restore_id(rid):
    if not _RESTORE_ID.match(rid or ""):
        raise LayoutError("restore id %r is not valid (letters, digits, '.', '_', '-'; at most 96 "
                          "characters, not starting with '.' or '-')" % (rid,))
    return rid


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path, data, mode=FILE_MODE, owner=None):
    """Write ``data`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    tmp = "%s.tmp-%s" % (path, binascii.hexlify(os.urandom(3)).decode("ascii"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if owner is not None:
            os.chown(tmp, owner[0], owner[1])
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(path))


def read_json(path):
    """The JSON object in ``path``; None when the file does not exist."""
    try:
        with open(path) as f:
            return json.load(f)
    except IOError:
        if not os.path.lexists(path):
            return None
        raise
    except ValueError as exc:
        raise LayoutError("%s is not readable JSON (%s)" % (path, exc))


def resolve_owner(user, group):
    """(uid, gid) of ``user`` and ``group``; raise LayoutError when either is unknown."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise LayoutError("there is no user %r on this host: set owner to the user the ZooKeeper "
                          "server runs as" % user)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise LayoutError("there is no group %r on this host: set group to the ZooKeeper server's "
                          "group" % group)
    return uid, gid


def set_owner_tree(path, owner, dir_mode=DIR_MODE, file_mode=FILE_MODE):
    """chown -R and set modes below ``path`` (itself included); symlinks are refused."""
    for base, dirs, files in os.walk(path):
        _set(base, owner, dir_mode, want_dir=True)
        for name in files:
            _set(os.path.join(base, name), owner, file_mode, want_dir=False)
        for name in dirs:
            if os.path.islink(os.path.join(base, name)):
                raise LayoutError("%s is a symbolic link: refusing to follow it" % os.path.join(base, name))


def _set(path, owner, mode, want_dir):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or (stat.S_ISDIR(st.st_mode) != want_dir) or \
            not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise LayoutError("%s is not a plain %s: refusing to touch it"
                          % (path, "directory" if want_dir else "file"))
    if (st.st_uid, st.st_gid) != owner:
        os.chown(path, owner[0], owner[1])
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)


class Layout:
    """The data directories of one member and the restore area below each of them."""

    def __init__(self, data_dir, data_log_dir=None):
        if not data_dir or not os.path.isabs(data_dir):
            raise LayoutError("dataDir %r is not an absolute path" % (data_dir,))
        self.data_dir = os.path.normpath(data_dir)
        log = os.path.normpath(data_log_dir) if data_log_dir else self.data_dir
        if not os.path.isabs(log):
            raise LayoutError("dataLogDir %r is not an absolute path" % (data_log_dir,))
        self.data_log_dir = log

    @property
    def separate(self):
        return os.path.realpath(self.data_log_dir) != os.path.realpath(self.data_dir)

    def roots(self):
        """(name, directory) of each data directory: 'data', and 'datalog' when separate."""
        out = [("data", self.data_dir)]
        if self.separate:
            out.append(("datalog", self.data_log_dir))
        return out

    def root(self, which):
        return self.data_log_dir if which == "datalog" else self.data_dir

    @staticmethod
    def live(root):
        return os.path.join(root, VERSION_DIR)

    @staticmethod
    def area(root):
        return os.path.join(root, AREA)

    def restore_dir(self, root, rid):
        return os.path.join(self.area(root), check_restore_id(rid))

    def part(self, root, rid, part):
        """The directory holding ``version-2`` for ``part`` (STAGED, PRE_RESTORE, FAILED)."""
        return os.path.join(self.restore_dir(root, rid), part)

    def part_version_dir(self, root, rid, part):
        return os.path.join(self.part(root, rid, part), VERSION_DIR)

    def state_path(self, rid):
        return os.path.join(self.restore_dir(self.data_dir, rid), STATE)

    def read_state(self, rid):
        return read_json(self.state_path(rid))

    def write_state(self, rid, state):
        write_json(self.state_path(rid), state, mode=0o600)

    def restore_ids(self):
        """The restore ids found below any data directory's area, oldest first."""
        ids = set()
        for _which, root in self.roots():
            area = self.area(root)
            if os.path.isdir(area):
                ids.update(n for n in os.listdir(area) if _RESTORE_ID.match(n)
                           and os.path.isdir(os.path.join(area, n)))
        return sorted(ids)

    def live_marker(self, root=None):
        """The restore marker of the data the server loads (None when it has none)."""
        return read_marker(self.live(root or self.data_dir))

    def make_area(self, rid):
        """Create the restore directory of ``rid`` below every data directory."""
        for _which, root in self.roots():
            if not os.path.isdir(root):
                raise LayoutError("%s does not exist: create it (owned by the ZooKeeper user, mode 0750) "
                                  "or fix dataDir/dataLogDir" % root)
            for d in (self.area(root), self.restore_dir(root, rid)):
                if os.path.islink(d):
                    raise LayoutError("%s is a symbolic link: refusing to use it" % d)
                if not os.path.isdir(d):
                    os.mkdir(d, 0o700)


def read_marker(version_dir):
    path = os.path.join(version_dir, MARKER)
    try:
        return read_json(path)
    except (IOError, OSError):
        return None


def write_marker(version_dir, marker, owner=None):
    write_json(os.path.join(version_dir, MARKER), marker, owner=owner)


def files_of(version_dir):
    """[{name, size}] of the regular files in a version-2 directory (marker left out)."""
    if not os.path.isdir(version_dir):
        return []
    out = []
    for name in sorted(os.listdir(version_dir)):
        p = os.path.join(version_dir, name)
        if name == MARKER or not os.path.isfile(p) or os.path.islink(p):
            continue
        out.append({"name": name, "size": os.path.getsize(p)})
    return out


def remove_tree(path):
    """rm -rf ``path`` after renaming it out of the way (a crash leaves no half tree
    under its old name); returns the bytes freed."""
    if not os.path.lexists(path):
        return 0
    freed = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                freed += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    doomed = "%s.removing-%s" % (path, binascii.hexlify(os.urandom(3)).decode("ascii"))
    os.rename(path, doomed)
    shutil.rmtree(doomed)
    return freed
