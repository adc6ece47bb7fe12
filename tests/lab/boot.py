"""First process of one lab host (PID 1 of its own PID namespace).

Usage: /usr/bin/python3 boot.py HOSTNAME HOSTDIR ROLE

Runs inside the host's network namespace and a fresh mount/uts/ipc/pid namespace
(see lab.py).  It gives the host its name, a private /run and its own copies of the
directories that differ between hosts, starts sshd and (for members) ZooKeeper through
the distribution's init script, then reaps orphans until it is killed.

PID 1 is python3, neither ``init`` nor ``*sh``: Ansible's service manager
detection reads /proc/1/comm and would otherwise guess systemd.
"""
import errno
import json
import os
import subprocess
import sys
import time


def run(*argv):
    subprocess.run(argv, check=True)


def main():
    name, hostdir, role = sys.argv[1:4]
    with open(os.path.join(hostdir, "mounts.json")) as f:
        mounts = json.load(f)

    run("hostname", name)
    run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    os.makedirs("/run/lock", mode=0o1777, exist_ok=True)
    # Reach the host's directory through /run first: a later mount (/tmp, /var/tmp)
    # may hide the path it has on the lab machine.
    os.makedirs("/run/zklab-host")
    run("mount", "--bind", hostdir, "/run/zklab-host")
    for source, target in mounts:
        run("mount", "--bind", os.path.join("/run/zklab-host", source), target)

    run("/usr/sbin/sshd")
    if role == "member":
        subprocess.run(["service", "zookeeper", "start"], check=False)

    with open("/run/zklab-ready", "w") as f:
        f.write("%d\n" % time.time())

    while True:
        try:
            os.wait()
        except OSError as exc:
            if exc.errno != errno.ECHILD:
                raise
            time.sleep(1)


if __name__ == "__main__":
    main()
