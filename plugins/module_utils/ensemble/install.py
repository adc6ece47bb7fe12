# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ZooKeeper release installed for the member on this host, from its jars.

A server that does not answer ``srvr`` (stopped, or running without a quorum) does not say
its release, yet a restore starts it again and it then loads the restored data.  Its
release is read from the server's jar, the first one on its class path holding
``org/apache/zookeeper/version/Info.class``, whose constants MAJOR, MINOR and MICRO are the
release (the jar's manifest does not always carry it: Debian's has no version).

The class path, in order:

- a running server: its command line's ``-cp``/``-classpath``/``--class-path``, else the
  ``CLASSPATH`` of its environment;
- a stopped one: what its next start uses, ``CLASSPATH`` in the ``environment`` file beside
  zoo.cfg (Debian's init script reads it), else the ``lib`` directory of a tarball install
  whose ``conf`` holds zoo.cfg (zkEnv.sh puts ``lib/*.jar`` on the class path); else the
  class path the server's log recorded at its last start (``java.class.path=``).

Nothing here is trusted beyond saying what is installed: a release that cannot be read is
None, with the reason.  Pure standard library; reads only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re
import struct
import zipfile

from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import server_log

INFO_CLASS = "org/apache/zookeeper/version/Info.class"
ENVIRONMENT_FILE = "environment"
# Enough for Info.class (under 1 KiB in every release) and a bound on what is read.
_MAX_CLASS = 1 << 16
# The server log is read up to this many bytes from its end.
_MAX_LOG = 32 << 20
_LOG_CLASS_PATH = "java.class.path="
_CP_OPTIONS = ("-cp", "-classpath", "--class-path")
_ENV_LINE = re.compile(r"""^\s*(?:export\s+)?CLASSPATH=(["']?)(.*)\1\s*$""")

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
    Info.class.  Raises ClassFileError (or EnvironmentError, zipfile.BadZipfile) when it
    cannot be read."""
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
        if entry.endswith("*") and os.path.basename(entry) == "*":
            jars.extend(sorted(p for p in glob.glob(entry[:-1] + "*")
                               if p.lower().endswith(".jar") and os.path.isfile(p)))
        elif entry.lower().endswith(".jar"):
            jars.append(entry)
    return jars


def server_jar(jars):
    """(jar, release) of the first jar of ``jars`` that holds Info.class, (None, None) when
    none does; the jars that cannot be read are passed over."""
    for path in jars:
        if not os.path.isfile(path):
            continue
        try:
            found = jar_release(path)
        except (ClassFileError, EnvironmentError, zipfile.BadZipfile, RuntimeError):
            continue
        if found:
            return path, found
    return None, None


def process_class_path(pid, proc_root=None):
    """(class path, cwd) of the running process ``pid``: its -cp option, else the CLASSPATH
    of its environment; (None, None) when neither can be read."""
    root = proc_root or proc.PROC
    argv = proc.command_line(pid, proc_root) or []
    try:
        cwd = os.readlink(os.path.join(root, str(pid), "cwd"))
    except OSError:
        cwd = None
    for i, a in enumerate(argv):
        if a in proc.MAIN_CLASSES:
            break
        if a in _CP_OPTIONS and i + 1 < len(argv):
            return argv[i + 1], cwd
        if a.startswith("--class-path="):
            return a.split("=", 1)[1], cwd
    try:
        with open(os.path.join(root, str(pid), "environ"), "rb") as f:
            env = f.read(1 << 20)
    except (IOError, OSError):
        return None, cwd
    for item in env.split(b"\0"):
        if item.startswith(b"CLASSPATH="):
            return item[len(b"CLASSPATH="):].decode("utf-8", "replace"), cwd
    return None, cwd


def environment_class_path(path):
    """The CLASSPATH an environment file (Debian's /etc/zookeeper/conf/environment) sets;
    None when it sets none or cannot be read."""
    try:
        with open(path) as f:
            lines = f.read(1 << 20).splitlines()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    found = None
    for line in lines:
        m = _ENV_LINE.match(line)
        if m:
            found = m.group(2)
    return found


def logged_class_path(path):
    """The class path the server log ``path`` recorded at the server's last start (its last
    ``java.class.path=`` line); None when it has none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _MAX_LOG))
            data = f.read(_MAX_LOG)
    except (IOError, OSError):
        return None
    at = data.rfind(_LOG_CLASS_PATH.encode())
    if at < 0:
        return None
    line = data[at + len(_LOG_CLASS_PATH):].split(b"\n", 1)[0]
    return server_log.mask(line.decode("utf-8", "replace").strip()) or None


def _candidates(config_file, pid, log_file, proc_root):
    """(where the class path comes from, its jars), in the order they are tried."""
    if pid is not None:
        cp, cwd = process_class_path(pid, proc_root)
        if cp:
            yield "the command line of the running server (pid %d)" % pid, split_class_path(cp, cwd)
        return
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
    {release, jar, from} with ``release`` None and ``reason`` when it could not be read."""
    tried = []
    for source, jars in _candidates(config_file, pid, log_file, proc_root):
        jar, found = server_jar(jars)
        if found:
            return {"release": found, "jar": jar, "from": source}
        tried.append(source)
    if tried:
        why = "no jar holding %s on the class path of %s" % (INFO_CLASS, "; of ".join(tried))
    elif pid is not None:
        why = "the class path of the running server (pid %d) cannot be read" % pid
    else:
        why = ("no class path found: no %s beside %s, no tarball install's lib directory, no "
               "class path in a server log" % (ENVIRONMENT_FILE, config_file or "zoo.cfg"))
    return {"release": None, "jar": None, "from": None, "reason": why}
