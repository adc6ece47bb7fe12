"""What the collection does on each ZooKeeper release, and the integration test that shows it.

The README's support table is rendered from SUPPORT below and checked against it by
tests/unit/test_support_table.py, which also checks that every test named here is one
pytest collects.  A cell is one of:

  Tested(node_id, ...)   the integration tests that do it on that release
  Untested()             not shown by a test on that release yet
  Cannot(reason)         the release cannot do it, and why

  python -m lab.support            print the table (from tests/)
  python -m lab.support --write    rewrite the table in README.md
"""
import argparse
import os
import sys

RELEASES = ("3.5.9", "3.6.3", "3.7.2", "3.8.0", "3.9.5")
DEBIAN = "3.8.0"
FEATURES = (
    ("verify", "verify"),
    ("hot_backup", "hot backup"),
    ("cold_backup", "cold backup"),
    ("restore", "restore"),
    ("point_in_time", "point in time"),
    ("tree", "tree export and import"),
)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
BEGIN = "<!-- support table: rendered from tests/lab/support.py by `python -m lab.support --write` -->"
END = "<!-- end of the support table -->"


class Tested:
    def __init__(self, *node_ids):
        if not node_ids:
            raise ValueError("Tested() names at least one test")
        self.node_ids = node_ids

    def cell(self):
        return "yes"


class Untested:
    node_ids = ()

    def cell(self):
        return "not tested yet"


class Cannot:
    node_ids = ()

    def __init__(self, reason):
        self.reason = reason

    def cell(self):
        return "no: " + self.reason


def versions_test(name, version, path="tests/integration/test_versions.py"):
    return "%s::%s[%s]" % (path, name, version)


def formats_test(name, version):
    return versions_test(name, version, "tests/integration/test_version_formats.py")


def clients_test(name, version):
    return versions_test(name, version, "tests/integration/test_version_clients.py")


def pitr_test(name, version):
    return versions_test(name, version, "tests/integration/test_version_pitr.py")


def _release(v):
    """The cells every release shares: the version tests parametrized by release."""
    return {
        "verify": Tested(versions_test("test_zk_verify_replays_the_live_tree", v),
                         formats_test("test_snapshots_agree_with_the_releases_snapshot_formatter", v),
                         formats_test("test_logs_agree_with_the_releases_log_tool", v)),
        # The drill: the backup playbook against the running ensemble (hot), every member's
        # data lost, the restore playbook, the live tree compared with the one written.
        "hot_backup": Tested(versions_test("test_backup_total_loss_and_restore", v)),
        "restore": Tested(versions_test("test_backup_total_loss_and_restore", v)),
        # A follower stopped and backed up cold by the backup role, every member's data lost,
        # the restore playbook; then a full backup, logs shipped after two rounds of writes,
        # every member's data lost, and a restore to the last zxid of the first round.
        "cold_backup": Tested(pitr_test("test_cold_backup_total_loss_and_restore", v)),
        "point_in_time": Tested(pitr_test("test_point_in_time_restore_between_writes", v)),
        # Exported live and from the data files, imported into the emptied ensemble, compared.
        "tree": Tested(clients_test("test_tree_export_and_import_on_an_empty_ensemble", v)),
    }


SUPPORT = {v: _release(v) for v in RELEASES}
# Debian's 3.8.0 runs every other integration test as well.
SUPPORT[DEBIAN].update({
    "cold_backup": Tested(
        pitr_test("test_cold_backup_total_loss_and_restore", DEBIAN),
        "tests/integration/test_backup.py::test_cold_encrypted_backup_with_digest_and_no_secret_in_output"),
    "point_in_time": Tested(
        pitr_test("test_point_in_time_restore_between_writes", DEBIAN),
        "tests/integration/test_restore.py::test_five_members_point_in_time_and_wiped"),
    "tree": Tested(clients_test("test_tree_export_and_import_on_an_empty_ensemble", DEBIAN),
                   "tests/integration/test_tree_roundtrip.py::test_round_trip_of_100k_znodes"),
})


def node_ids():
    """Every integration test named in SUPPORT."""
    return sorted({n for cells in SUPPORT.values() for c in cells.values() for n in c.node_ids})


def render():
    """The table in Markdown, between its markers."""
    lines = [BEGIN,
             "| ZooKeeper | " + " | ".join(title for _k, title in FEATURES) + " |",
             "|---" * (len(FEATURES) + 1) + "|"]
    for v in RELEASES:
        name = v + (" (Debian 12)" if v == DEBIAN else "")
        lines.append("| %s | %s |" % (name, " | ".join(SUPPORT[v][k].cell() for k, _t in FEATURES)))
    lines.append(END)
    return "\n".join(lines) + "\n"


def readme_table(text):
    """The rendered part of README.md (markers included), or None."""
    if BEGIN not in text or END not in text:
        return None
    start = text.index(BEGIN)
    end = text.index(END, start) + len(END)
    return text[start:end] + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.support", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    a = p.parse_args(argv)
    table = render()
    if not a.write:
        sys.stdout.write(table)
        return
    with open(README) as f:
        text = f.read()
    old = readme_table(text)
    if old is None:
        sys.exit("%s has no support table between %r and %r" % (README, BEGIN, END))
    with open(README, "w") as f:
        f.write(text.replace(old, table))


if __name__ == "__main__":
    main()
