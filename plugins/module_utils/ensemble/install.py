# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ZooKeeper release installed for the member on this host, from its jars.

A server that does not answer ``srvr`` (stopped, or running without a quorum) does not say
its release, yet a restore starts it again and it then loads the restored data.  Its
release is read from the server's jar, the first one on its class path holding
``org/apache/zookeeper/version/Info.class``, whose constants MAJOR, MINOR and MICRO are the
release (the jar's manifest does not always carry it: Debian's has no version).

The class path, the first of these that names a server jar:

- a running server's: its command line's ``-cp``/``-classpath``/``--class-path``, else the
  ``CLASSPATH`` of its environment (/proc, readable by root or the server's user);
- what the next start uses: ``CLASSPATH`` in the ``environment`` file beside zoo.cfg
  (Debian's init script reads it), else the ``lib`` directory of a tarball install whose
  ``conf`` holds zoo.cfg (zkEnv.sh puts ``lib/*.jar`` on the class path);
- the class path the server's log recorded at its last start (``java.class.path=``).

Java takes the first jar of the class path holding a class, but the jars of a ``dir/*``
entry in an order it does not fix: when the class path holds server jars of several
releases, the oldest is reported, with the others (``conflict``), since a restart may
load any of them.

Nothing here is trusted beyond saying what is installed: a release that cannot be read is
None, with the reason.  Pure standard library; reads only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import shlex
import struct
import zipfile

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import release as release_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import server_log

INFO_CLASS = "org/apache/zookeeper/version/Info.class"
ENVIRONMENT_FILE = "environment"
# Enough for Info.class (under 1 KiB in every release) and a bound on what is read.
_MAX_CLASS = 1 << 16
_LOG_CLASS_PATH = b"java.class.path="
_CP_OPTIONS = ("-cp", "-classpath", "--class-path")

# Constant pool tags and the number of bytes after the tag (Utf8 has its own length).
_CP_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2,
             17: 4, 18: 4, 19: 2, 20: 2}


class ClassFileError(ValueError):
    pass


def _constants(data):
    """{field name: constant value} of the static final fields of the class file ``data``
    that have a ConstantValue of an int or a string."""
    if len(data) < 10 or data[:4] != b"\xca\xfe\xba\xbe":
        raise ClassFileError("not a Java class file")
    pos = 8
    count = struct.unpack_from(">H", data, pos)[0]
    pos += 2
    pool = {}
    i = 1
    while i < count:
        tag = data[pos]
        pos += 1
        if tag == 1:
            n = struct.unpack_from(">H", data, pos)[0]
            pool[i] = ("utf8", data[pos + 2:pos + 2 + n].decode("utf-8", "replace"))
            pos += 2 + n
        elif tag in _CP_SIZES:
            size = _CP_SIZES[tag]
            if tag == 3:
                pool[i] = ("int", struct.unpack_from(">i", data, pos)[0])
            elif tag == 8:
                pool[i] = ("string", struct.unpack_from(">H", data, pos)[0])
            pos += size
            if tag in (5, 6):      # a long or a double takes two entries
                i += 1
        else:
            raise ClassFileError("unknown constant pool tag %d" % tag)
        i += 1
    pos += 6                       # access flags, this class, super class
    interfaces = struct.unpack_from(">H", data, pos)[0]
    pos += 2 + 2 * interfaces
    fields = struct.unpack_from(">H", data, pos)[0]
    pos += 2
    out = {}

    def utf8(index):
        kind, value = pool.get(index, (None, None))
        if kind != "utf8":
            raise ClassFileError("constant %d is not a name" % index)
        return value

    for _f in range(fields):
        _access, name_index, _descriptor, attributes = struct.unpack_from(">HHHH", data, pos)
        pos += 8
        for _a in range(attributes):
            attr_name, length = struct.unpack_from(">HI", data, pos)
            pos += 6
            if utf8(attr_name) == "ConstantValue" and length == 2:
                kind, value = pool.get(struct.unpack_from(">H", data, pos)[0], (None, None))
                if kind == "int":
                    out[utf8(name_index)] = value
                elif kind == "string":
                    out[utf8(name_index)] = utf8(value)
            pos += length
    if pos > len(data):
        raise ClassFileError("the class file is cut short")
    return out


def release_of_class(data):
    """'3.8.0' from the bytes of ZooKeeper's ``Info.class``."""
    try:
        constants = _constants(data)
    except (struct.error, IndexError) as exc:
        raise ClassFileError("the class file is cut short (%s)" % exc)
    try:
        return "%d.%d.%d" % (constants["MAJOR"], constants["MINOR"], constants["MICRO"])
    except (KeyError, TypeError):
        raise ClassFileError("Info.class has no MAJOR, MINOR and MICRO constants")


def jar_release(path):
    """The release of the ZooKeeper server jar ``path``; None when the jar has no
    Info.class.  Raises ClassFileError, or whatever reading a damaged zip raises
    (EnvironmentError, zipfile.BadZipfile, zlib.error, EOFError, ...), when it cannot be
    read."""
    with zipfile.ZipFile(path) as jar:
        try:
            entry = jar.getinfo(INFO_CLASS)
        except KeyError:
            return None
        if entry.file_size > _MAX_CLASS:
            raise ClassFileError("%s in %s is %d bytes, too large" % (INFO_CLASS, path, entry.file_size))
        with jar.open(entry) as f:
            return release_of_class(f.read(_MAX_CLASS))


def split_class_path(text, cwd=None):
    """The jars of a Java class path, in order: ``dir/*`` gives the jars of ``dir``
    (sorted), a directory and an entry holding a shell variable are left out, a relative
    entry is taken from ``cwd``."""
    jars = []
    for entry in (text or "").split(os.pathsep):
        entry = entry.strip()
        if not entry or "$" in entry:
            continue
        if not os.path.isabs(entry):
            if not cwd:
                continue
            entry = os.path.join(cwd, entry)
        if os.path.basename(entry) == "*":
            jars.extend(sorted(p for p in glob.glob(glob.escape(entry[:-1]) + "*")
                               if p.lower().endswith(".jar") and os.path.isfile(p)))
        elif entry.lower().endswith(".jar"):
            jars.append(entry)
    return jars


def server_jars(jars):
    """[(jar, release)] of the jars of ``jars`` that hold Info.class, in order; a jar that
    cannot be read, whatever the damage, is passed over."""
    found = []
    for path in jars:
        if not os.path.isfile(path):
            continue
        try:
            release = jar_release(path)
        except Exception:  # pylint: disable=broad-except
            continue
        if release:
            found.append((path, release))
    return found


def _oldest(found):
    """(jar, release, [the other releases' jars]) for the server jars ``found``: the first
    when every one has the same release, else the oldest."""
    releases = set(r for _p, r in found)
    if len(releases) == 1:
        return found[0][0], found[0][1], []
    jar, release = min(found, key=lambda item: release_mod.release_tuple(item[1]))
    return jar, release, ["%s (%s)" % (p, r) for p, r in found if r != release]


def process_class_path(pid, proc_root=None):
    """(class path, cwd, where it came from) of the running process ``pid``: its -cp option,
    else the CLASSPATH of its environment; (None, cwd, None) when neither can be read."""
    root = proc_root or proc.PROC
    argv = proc.command_line(pid, proc_root) or []
    cwd = proc.working_dir(pid, proc_root)
    for i, a in enumerate(argv):
        if a in proc.MAIN_CLASSES:
            break
        if a in _CP_OPTIONS and i + 1 < len(argv):
            return argv[i + 1], cwd, "the command line of the running server (pid %d)" % pid
        if a.startswith("--class-path="):
            return a.split("=", 1)[1], cwd, "the command line of the running server (pid %d)" % pid
    try:
        with open(os.path.join(root, str(pid), "environ"), "rb") as f:
            env = f.read(1 << 20)
    except (IOError, OSError):
        return None, cwd, None
    for item in env.split(b"\0"):
        if item.startswith(b"CLASSPATH="):
            return (item[len(b"CLASSPATH="):].decode("utf-8", "replace"), cwd,
                    "the CLASSPATH of the running server (pid %d)" % pid)
    return None, cwd, None


def environment_class_path(path):
    """The CLASSPATH an environment file (Debian's /etc/zookeeper/conf/environment, read by
    a shell) sets, ``$CLASSPATH`` in a later line standing for the value before it; None
    when it sets none or cannot be read."""
    try:
        with open(path) as f:
            lines = f.read(1 << 20).splitlines()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    found = None
    for line in lines:
        try:
            words = shlex.split(line, comments=True, posix=True)
        except ValueError:
            continue
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            if word.startswith("CLASSPATH="):
                value = word[len("CLASSPATH="):]
                for ref in ("${CLASSPATH}", "$CLASSPATH"):
                    value = value.replace(ref, found or "")
                found = value
    return found


def logged_class_path(path):
    """The class path the server log ``path`` recorded at the server's last start (its last
    ``java.class.path=`` line, the whole file searched); None when it has none."""
    chunk = 4 << 20
    keep = len(_LOG_CLASS_PATH) - 1
    last = None
    try:
        with open(path, "rb") as f:
            offset, tail = 0, b""
            while True:
                data = f.read(chunk)
                if not data:
                    break
                window = tail + data
                at = window.rfind(_LOG_CLASS_PATH)
                if at >= 0:
                    last = offset - len(tail) + at
                tail = window[-keep:]
                offset += len(data)
            if last is None:
                return None
            f.seek(last + len(_LOG_CLASS_PATH))
            line = f.read(1 << 20).split(b"\n", 1)[0]
    except (IOError, OSError):
        return None
    return server_log.mask(line.decode("utf-8", "replace").strip()) or None


def _candidates(config_file, pid, log_file, proc_root):
    """(where the class path comes from, its jars), in the order they are tried."""
    if pid is not None:
        cp, cwd, source = process_class_path(pid, proc_root)
        if cp:
            yield source, split_class_path(cp, cwd)
    conf = os.path.dirname(os.path.abspath(config_file)) if config_file else None
    if conf:
        env = os.path.join(conf, ENVIRONMENT_FILE)
        cp = environment_class_path(env)
        if cp:
            yield env, split_class_path(cp)
        lib = os.path.join(os.path.dirname(conf), "lib")
        if os.path.basename(conf) == "conf" and os.path.isdir(lib):
            yield "the tarball install's %s" % lib, split_class_path(os.path.join(lib, "*"))
    if log_file:
        cp = logged_class_path(log_file)
        if cp:
            yield "the server log %s (the class path of its last start)" % log_file, split_class_path(cp)


def installed_release(config_file, pid=None, log_file=None, proc_root=None):
    """The ZooKeeper release the member runs (``pid``, when it runs) or starts next:
    {release, jar, from}, with ``conflict`` (the jars of other releases on the same class
    path) when there are several; ``release`` None and ``reason`` when it could not be read.
    Never raises: whatever goes wrong is the reason."""
    try:
        return _installed(config_file, pid, log_file, proc_root)
    except Exception as exc:  # pylint: disable=broad-except
        return {"release": None, "jar": None, "from": None,
                "reason": "reading the installed jars failed: %s" % exc.__class__.__name__}


def _installed(config_file, pid, log_file, proc_root):
    tried = []
    for source, jars in _candidates(config_file, pid, log_file, proc_root):
        found = server_jars(jars)
        if found:
            jar, release, others = _oldest(found)
            out = {"release": release, "jar": jar, "from": source}
            if others:
                out["conflict"] = others
            return out
        tried.append(source)
    unread = (" (the running server's class path, pid %d, cannot be read)" % pid
              if pid is not None and not any("running server" in t for t in tried) else "")
    if tried:
        why = "no jar holding %s on the class path of %s%s" % (INFO_CLASS, "; of ".join(tried), unread)
    else:
        why = ("no class path found%s: no %s beside %s, no tarball install's lib directory, no "
               "class path in a server log" % (unread, ENVIRONMENT_FILE, config_file or "zoo.cfg"))
    return {"release": None, "jar": None, "from": None, "reason": why}
