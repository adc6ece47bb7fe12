"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches get-pip.py from a host that is not reachable here, then runs it in the
empty virtualenvs it makes for some sanity tests.  This stand-in does the same job with
what is at hand: the standard library's ensurepip, then pip itself for the packages asked
for (from the package index).  tests/setup-env installs it into ansible-test's cache.
"""
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    if [a for a in args if not a.startswith("-")]:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)


if __name__ == "__main__":
    main()
