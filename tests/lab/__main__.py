"""Command line for the lab: python -m lab {up,down,status,list,reap} ...
(ZooKeeper jars of other releases: python -m lab.zkdist)

  up      build and boot a lab; prints its directory (inventory, ansible.cfg inside)
  down    tear a lab down (by directory or name)
  status  srvr of every member
  list    the labs that exist
  reap    tear down labs whose owner died (--all: every lab)
"""
import argparse
import json
import os
import sys

from . import zkdist
from .lab import DEBIAN_VERSION, LAB_ROOT, Lab, labs, reap_stale


def find(name_or_dir):
    if os.path.isdir(name_or_dir):
        return Lab.load(name_or_dir)
    for lab in labs():
        if lab.name == name_or_dir or os.path.basename(lab.dir) == name_or_dir:
            return lab
    sys.exit("no lab named %s under %s" % (name_or_dir, LAB_ROOT))


def main(argv=None):
    p = argparse.ArgumentParser(prog="lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--name", default="lab")
    up.add_argument("--members", type=int, default=3)
    up.add_argument("--backups", type=int, default=1)
    up.add_argument("--client-port", type=int, default=2181)
    up.add_argument("--separate-datalog", action="store_true")
    up.add_argument("--snap-count", type=int)
    up.add_argument("--snapshot-compression", choices=["gz", "snappy"])
    up.add_argument("--fourlw-whitelist", default="*")
    up.add_argument("--heap", default="256m")
    up.add_argument("--tick-time", type=int, default=500)
    up.add_argument("--reconfig", choices=["moved", "file"],
                    help="dynamic reconfiguration (reconfigEnabled=true): the members move "
                         "their server lines into a dynamicConfigFile on first start (moved), "
                         "or the lab writes one with the client ports (file)")
    up.add_argument("--zk-version", default=DEBIAN_VERSION, metavar="VERSION[,VERSION...]",
                    help="the ZooKeeper release of every member, or one per member "
                         "(3.5.9, 3.6.3, 3.7.2, 3.8.0 = Debian's, 3.9.5); jars that are not "
                         "cached yet are fetched first (python -m lab.zkdist fetch)")
    for c in ("down", "status"):
        sp = sub.add_parser(c)
        sp.add_argument("lab")
    sub.add_parser("list")
    rp = sub.add_parser("reap")
    rp.add_argument("--all", action="store_true")
    a = p.parse_args(argv)

    if a.cmd == "up":
        versions = a.zk_version.split(",")
        for v in sorted(set(versions) - {DEBIAN_VERSION}):
            try:
                zkdist.fetch(v, log=lambda line: print(line, file=sys.stderr))
            except zkdist.DistError as exc:
                sys.exit(str(exc))
        lab = Lab(name=a.name, members=a.members, backups=a.backups, client_port=a.client_port,
                  separate_datalog=a.separate_datalog, snap_count=a.snap_count,
                  snapshot_compression=a.snapshot_compression,
                  fourlw_whitelist=a.fourlw_whitelist, heap=a.heap, tick_time=a.tick_time,
                  persistent=True, zk_versions=versions[0] if len(versions) == 1 else versions,
                  reconfig=a.reconfig)
        lab.up()
        print(lab.dir)
    elif a.cmd == "down":
        find(a.lab).down()
    elif a.cmd == "status":
        lab = find(a.lab)
        print(json.dumps({"dir": lab.dir, "members": lab.status(), "versions": lab.versions,
                          "hosts": {h.name: h.ip for h in lab.hosts.values()}}, indent=1))
    elif a.cmd == "list":
        for lab in labs():
            print("%s\t%s\t%s" % (lab.dir, lab.connect_string,
                                  "persistent" if lab.persistent else "owner %s" % lab.owner_pid))
    elif a.cmd == "reap":
        for d in reap_stale(everything=a.all):
            print("removed", d)


if __name__ == "__main__":
    main()
