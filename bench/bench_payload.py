"""Benchmark: the size of each module's payload, against another revision of the collection.

Ansible sends a module to a host as one Python file (AnsiballZ) holding a zip of the
module and every module_utils file it imports.  For each module under plugins/modules,
this builds that file twice in the same run, with ``ansible localhost -c local`` and
ANSIBLE_KEEP_REMOTE_FILES=1 (an unknown option makes the module stop at once, after the
payload was built and written): once from the working tree, once from ``--baseline``
(a git revision, exported with ``git archive``), and reports the zipped payload in bytes,
how many of the collection's files it holds and their unzipped bytes, and the ratio of
the two payloads.  Needs no root and no lab.  Usage, from the repository root:

  .venv/bin/python bench/bench_payload.py [--baseline HEAD] [--json FILE]
"""
import argparse
import base64
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def payload(tree, module, tmp):
    """(zipped bytes, files of the collection, their unzipped bytes) of ``module``."""
    coll = os.path.join(tmp, "collections")
    link = os.path.join(coll, "ansible_collections", "zkops", "zookeeper")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link))
        os.symlink(tree, link)
    remote = os.path.join(tmp, "remote-" + module)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll, ANSIBLE_KEEP_REMOTE_FILES="1",
               ANSIBLE_REMOTE_TMP=remote, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    subprocess.run([ANSIBLE, "localhost", "-c", "local", "-m", "zkops.zookeeper." + module,
                    "-a", "zkops_bench_unknown_option=1"], env=env, cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    found = glob.glob(os.path.join(remote, "*", "AnsiballZ_%s.py" % module))
    if not found:
        return None
    with open(found[0]) as f:
        m = re.search(r"zip_data='([^']*)'", f.read())
    data = base64.b64decode(m.group(1))
    own = [i for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
           if "ansible_collections/zkops/" in i.filename]
    return len(data), len(own), sum(i.file_size for i in own)


def export(rev, dest):
    """The tree of git revision ``rev`` in ``dest``."""
    os.makedirs(dest)
    arch = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=arch, check=True)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zkops-bench-payload-")
    try:
        base_tree = export(args.baseline, os.path.join(tmp, "baseline"))
        modules = sorted(os.path.basename(p)[:-3]
                         for p in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))
                         if not p.endswith("__init__.py"))
        results = {}
        head = ("module", "baseline B", "this tree B", "ratio", "files (base)")
        print("%-20s %12s %12s %7s %14s" % head)
        for mod in modules:
            now = payload(REPO, mod, os.path.join(tmp, "now"))
            base = payload(base_tree, mod, os.path.join(tmp, "base"))
            results[mod] = {"now": now, "baseline": base}
            if now is None:
                print("%-20s no payload was built from this tree" % mod)
                continue
            ratio = "%7.3f" % (now[0] / float(base[0])) if base else "    new"
            row = (mod, base[0] if base else "-", now[0], ratio, now[1], base[1] if base else "-")
            print("%-20s %12s %12d %s %6d (%s)" % row)
        total_now = sum(r["now"][0] for r in results.values() if r["now"] and r["baseline"])
        total_base = sum(r["baseline"][0] for r in results.values() if r["now"] and r["baseline"])
        if total_base:
            print("%-20s %12d %12d %7.3f" % ("all", total_base, total_now, total_now / float(total_base)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"baseline": args.baseline, "modules": results}, f, indent=1, sort_keys=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
