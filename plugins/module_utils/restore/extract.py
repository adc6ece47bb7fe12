# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unpack a backup archive into directories of this host, and nothing else.

An archive names its files ``data/version-2/...`` (snapshots, epoch files) and
``datalog/version-2/...`` (logs).  ``extract()`` writes each top-level part into a
directory of the caller's choosing (for instance the staged ``dataDir`` and the staged
``dataLogDir``, which may sit on different file systems), through archive/tarball.py's reader,
which checks every file against the manifest and refuses absolute names, ``..``, links,
devices and anything the manifest does not list.

On top of that, here: the destinations must be fresh directories that are not symbolic
links; a part of the archive with no destination, or a name that is not a plain file
name below ``version-2``, fails the extraction; files are created through descriptors of
the destinations' ``version-2`` directories (O_EXCL, O_NOFOLLOW), so no link is ever
written through; and afterwards every file written must be a regular file, not a link,
whose real path lies inside its destination.  On any failure the destinations are
emptied again (links removed as links): nothing partial is left behind.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import stat

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import layout as L

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
VERSION_DIR = L.VERSION_DIR
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class ExtractError(Exception):
    pass


def _inside(path, root):
    root = os.path.realpath(root)
    return os.path.realpath(path) == root or os.path.realpath(path).startswith(root + os.sep)


def check_target_name(name, parts):
    """(part, file name) of an archive member name; raise ExtractError unless it is
    ``<part>/version-2/<plain file name>`` with a known part."""
    archive_mod.check_name(name)
    bits = name.split("/")
    if len(bits) != 3 or bits[1] != VERSION_DIR or not _PLAIN.match(bits[2]):
        raise ExtractError("unexpected member %r in the archive: only <part>/version-2/<file> is restored"
                           % name)
    if bits[0] not in parts:
        raise ExtractError("member %r belongs to no directory of this restore (known: %s)"
                           % (name, ", ".join(sorted(parts))))
    return bits[0], bits[2]


def _fresh_dir(path):
    if os.path.islink(path):
        raise ExtractError("%s is a symbolic link: refusing to extract into it" % path)
    if os.path.isdir(path):
        if os.listdir(path):
            raise ExtractError("%s is not empty: refusing to extract into it" % path)
    else:
        os.makedirs(path, 0o700)


def extract(stream, destinations, work_dir, expect=None):
    """Read the tar ``stream`` (archive.DecodedStream) and write its files.

    ``expect`` is the backup's manifest (the one stored beside the archive): every member
    is checked against its names and sizes from the tar header, before anything of the
    member is written, and the whole stream against its length (archive.read()).

    ``destinations`` maps each top-level part of the archive ('data', 'datalog') to the
    directory that receives its ``version-2`` files.  ``work_dir`` must not exist (an
    interrupted extraction may have left it); nothing is written there.
    Returns (manifest, [paths written]).

    Files are created through descriptors of the destinations' ``version-2`` directories,
    opened once without following links, with O_EXCL and O_NOFOLLOW: a link planted while
    the extraction runs cannot redirect a write.
    """
    for d in set(destinations.values()):
        _fresh_dir(d)
    if os.path.lexists(work_dir):
        raise ExtractError("%s exists already: a previous restore was interrupted; remove it" % work_dir)
    fds = {}
    try:
        for part in destinations:
            if not _PLAIN.match(part):
                raise ExtractError("bad part name %r" % part)
        for part, dest in destinations.items():
            fds[part] = _version_fd(dest)
        parts = set(destinations)

        def opener(name):
            part, fname = check_target_name(name, parts)
            try:
                fd = os.open(fname, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                             0o600, dir_fd=fds[part])
            except OSError as exc:
                raise ExtractError("cannot create %s in %s/%s (%s): something else wrote there during the "
                                   "extraction; nothing was kept" % (fname, destinations[part], VERSION_DIR,
                                                                     exc.strerror or exc))
            return os.fdopen(fd, "wb")

        try:
            manifest = archive_mod.read(stream, expect=expect, opener=opener)
        except archive_mod.ArchiveError as exc:
            raise ExtractError(str(exc))
        written = _check_written(destinations)
    except BaseException:
        for d in set(destinations.values()):
            _empty(d)
        raise
    finally:
        for fd in fds.values():
            os.close(fd)
    return manifest, written


def _version_fd(dest):
    """A descriptor of ``dest``/version-2 (created), neither followed if a link."""
    try:
        dfd = L.open_dir(os.path.dirname(dest), [os.path.basename(dest)])
    except L.LayoutError as exc:
        raise ExtractError(str(exc))
    try:
        try:
            os.mkdir(VERSION_DIR, 0o700, dir_fd=dfd)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        try:
            return os.open(VERSION_DIR, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=dfd)
        except OSError as exc:
            raise ExtractError("%s/%s cannot be opened as a plain directory: %s" % (dest, VERSION_DIR, exc))
    finally:
        os.close(dfd)


def _check_written(destinations):
    written = []
    for dest in sorted(set(destinations.values())):
        vdir = os.path.join(dest, VERSION_DIR)
        if os.path.isdir(vdir):
            for name in sorted(os.listdir(vdir)):
                p = os.path.join(vdir, name)
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode) or not _inside(p, dest):
                    raise ExtractError("%s is not a regular file inside %s after the extraction" % (p, dest))
                written.append(p)
        for entry in os.listdir(dest):
            if entry != VERSION_DIR:
                raise ExtractError("%s holds %s after the extraction, which the archive should not create"
                                   % (dest, entry))
    return written


def _empty(path):
    """Remove what the extraction wrote into ``path``, links as links, never followed."""
    try:
        L.empty_dir(path)
    except (OSError, L.LayoutError):
        pass
