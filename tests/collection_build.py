"""The collection as users get it: built with ansible-galaxy and installed from the tarball."""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")


def run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if res.returncode != 0:
        raise AssertionError("%s exited %d\n%s\n%s" % (" ".join(cmd), res.returncode, res.stdout, res.stderr))
    return res


def build(outdir):
    """ansible-galaxy collection build of the checkout; returns the tarball's path."""
    run([GALAXY, "collection", "build", "--force", "--output-path", outdir, REPO])
    found = glob.glob(os.path.join(outdir, "zkops-zookeeper-*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


def install(tarball, collections_path):
    """Install the tarball into a fresh collections path; returns that path."""
    run([GALAXY, "collection", "install", "--force", "-p", collections_path, tarball],
        env=dict(os.environ, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1"))
    root = os.path.join(collections_path, "ansible_collections", "zkops", "zookeeper")
    assert os.path.isfile(os.path.join(root, "MANIFEST.json")) and not os.path.islink(root)
    return collections_path
