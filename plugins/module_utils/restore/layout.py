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
import errno
import grp
import json
import os
import pwd
import re
import stat

from ansible_collections.zkops.zookeeper.plugins.module_utils.common.fsio import fsync_dir

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.data_files import VERSION_DIR
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


def check_restore_id(rid):
    if not _RESTORE_ID.match(rid or ""):
        raise LayoutError("restore id %r is not valid (letters, digits, '.', '_', '-'; at most 96 "
                          "characters, not starting with '.' or '-')" % (rid,))
    return rid


def write_json(path, data, mode=FILE_MODE, owner=None):
    """Write ``data`` as JSON to ``path`` atomically (a temporary file, then a rename)."""
    tmp = "%s.tmp-%s" % (path, binascii.hexlify(os.urandom(3)).decode("ascii"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            if owner is not None:
                os.fchown(f.fileno(), owner[0], owner[1])
            os.fsync(f.fileno())
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


# --- reached without following links ------------------------------------------------
# A data directory is writable by the ZooKeeper user, who could plant symbolic links in
# it.  Whatever a restore removes, chowns or chmods below a data directory is therefore
# reached through directory file descriptors, each name opened with O_NOFOLLOW, and
# changed through the descriptor (fchown, fchmod) or by name relative to its directory
# (unlink, rmdir with dir_fd): a link is removed as a link, never followed.  The data
# directory itself is taken as configured (it may be a link the administrator made).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_DEPTH = 16


def _below(root, path):
    """The names leading from ``root`` to ``path`` (which must lie below it)."""
    rel = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
    if rel == ".":
        return []
    names = rel.split(os.sep)
    if ".." in names:
        raise LayoutError("%s is not below %s" % (path, root))
    return names


def open_dir(root, names=()):
    """A descriptor of the directory ``root``/``names``..., each name opened without
    following a link; raise LayoutError when one is a link or not a directory."""
    fd = os.open(root, _DIR_FLAGS)
    at = root
    try:
        for name in names:
            at = os.path.join(at, name)
            try:
                nfd = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise LayoutError("%s is a symbolic link or not a directory: refusing to follow it; "
                                      "look at it and remove it by hand" % at)
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_at(dfd, name, label, depth=0):
    """Remove ``name`` in the directory ``dfd`` and everything below it, links as links;
    returns the bytes of the files removed."""
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dfd)
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    if depth >= MAX_DEPTH:
        raise LayoutError("%s is nested deeper than %d directories: a restore never makes that; look at it "
                          "and remove it by hand" % (label, MAX_DEPTH))
    sub = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=dfd)
    freed = 0
    try:
        if not os.path.samestat(st, os.fstat(sub)):
            raise LayoutError("%s changed while it was removed: look at it and remove it by hand" % label)
        for entry in os.listdir(sub):
            freed += _remove_at(sub, entry, os.path.join(label, entry), depth + 1)
    finally:
        os.close(sub)
    os.rmdir(name, dir_fd=dfd)
    return freed


def _own_at(fd, label, owner, mode, want_dir):
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode) != want_dir or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise LayoutError("%s is not a plain %s: refusing to touch it" % (label, "directory" if want_dir else "file"))
    if owner is not None and (st.st_uid, st.st_gid) != tuple(owner):
        os.fchown(fd, owner[0], owner[1])
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)


def _own_tree_at(dfd, label, owner, dir_mode, file_mode, depth=0):
    _own_at(dfd, label, owner, dir_mode, True)
    if depth >= MAX_DEPTH:
        raise LayoutError("%s is nested deeper than %d directories: refusing to touch it" % (label, MAX_DEPTH))
    for name in sorted(os.listdir(dfd)):
        path = os.path.join(label, name)
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise LayoutError("%s is a symbolic link: refusing to follow it" % path)
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=dfd)
            try:
                _own_tree_at(sub, path, owner, dir_mode, file_mode, depth + 1)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0),
                         dir_fd=dfd)
            try:
                _own_at(fd, path, owner, file_mode, False)
            finally:
                os.close(fd)
        else:
            raise LayoutError("%s is not a plain file: refusing to touch it" % path)


def set_owner_tree(path, owner, dir_mode=DIR_MODE, file_mode=FILE_MODE, root=None):
    """chown -R and set modes below ``path`` (itself included), through file descriptors;
    symbolic links are refused, never followed.  With ``root`` (a data directory) the
    names from it down to ``path`` are not followed either."""
    if root is None:
        root, names = os.path.dirname(path), [os.path.basename(path)]
    else:
        names = _below(root, path)
    fd = open_dir(root, names)
    try:
        _own_tree_at(fd, path, owner, dir_mode, file_mode)
    finally:
        os.close(fd)


def own_dir(path, owner, mode):
    """Give the directory ``path`` (followed as configured) ``owner`` and ``mode`` through a
    descriptor: what is changed is the directory that was opened, whatever replaces the name."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        st = os.fstat(fd)
        changed = False
        if owner is not None and (st.st_uid, st.st_gid) != tuple(owner):
            os.fchown(fd, owner[0], owner[1])
            changed = True
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
            changed = True
        return changed
    finally:
        os.close(fd)


def _plain_dir(path):
    """True for a directory that is not a symbolic link."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


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
            if _plain_dir(area):
                ids.update(n for n in os.listdir(area) if _RESTORE_ID.match(n)
                           and _plain_dir(os.path.join(area, n)))
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


def remove_tree(path, root=None):
    """rm -rf ``path`` after renaming it out of the way (a crash leaves no half tree
    under its old name); returns the bytes freed.

    Nothing is followed: ``path`` is removed as a link when it is one, and everything
    below it through directory descriptors.  With ``root`` (the data directory ``path``
    lies below) the directories between them are opened without following links too."""
    parent, name = os.path.split(os.path.normpath(path))
    if root is None:
        root, names = parent, []
    else:
        names = _below(root, parent)
    try:
        dfd = open_dir(root, names)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0
        raise
    try:
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return 0
            raise
        doomed = "%s.removing-%s" % (name, binascii.hexlify(os.urandom(3)).decode("ascii"))
        os.rename(name, doomed, src_dir_fd=dfd, dst_dir_fd=dfd)
        return _remove_at(dfd, doomed, path)
    finally:
        os.close(dfd)


def empty_dir(path, root=None):
    """Remove everything inside the directory ``path`` (kept itself), without following links."""
    names = [os.path.basename(path)] if root is None else _below(root, path)
    try:
        dfd = open_dir(os.path.dirname(path) if root is None else root, names)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0
        raise
    try:
        return sum(_remove_at(dfd, entry, os.path.join(path, entry)) for entry in os.listdir(dfd))
    finally:
        os.close(dfd)
