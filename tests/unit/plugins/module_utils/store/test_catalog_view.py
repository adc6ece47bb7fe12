"""catalog_view: the catalog playbook's entry and line per backup host, from the registered
results of its loop over zk_backup_catalog (failed_when false clears ``failed``)."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.filter.catalog_by_host import FilterModule
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog_view as V


def read(host, address, backups=(), restores=(), shipping=None, **more):
    res = {"item": host, "changed": False, "failed": False, "failed_when_result": False,
           "invocation": {"module_args": {"backup_host": address, "ssh_private_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}},
           "backups": list(backups), "restores": list(restores), "debris": [], "unknown": [],
           "unverified": [], "unauthenticated": [], "ensembles": ["prod"], "pruned": [], "kept": [],
           "log_shipping": {"prod": shipping}}
    res.update(more)
    return res


FULL = {"id": "20250301T021500Z-full-3fa2c1", "kind": "full", "created": "2025-03-01T02:15:00Z",
        "zxid": {"last": "0x300000010"}, "verified": None}
LOGS = {"id": "20250301T030000Z-logs-aa0001", "kind": "logs", "created": "2025-03-01T03:00:00Z",
        "zxid": {"last": "0x300000020"}, "verified": None}
SHIPPED = {"last_zxid": "0x300000020", "backup_id": LOGS["id"], "updated": "2025-03-01T03:00:01Z"}
RESTORE = {"id": "r1", "written": "2025-03-02T10:00:00Z", "result": "verified", "verified": True}


def test_a_host_read_and_one_that_was_not():
    gone = {"item": "backup2", "changed": False, "failed": False, "failed_when_result": False,
            "invocation": {"module_args": {"backup_host": "10.0.0.2"}},
            "msg": "10.0.0.2:22: cannot connect: [Errno 113] No route to host"}
    out = V.by_host([read("backup1", "10.0.0.1", [FULL, LOGS], [RESTORE], SHIPPED), gone], "prod")
    assert list(out) == ["backup1", "backup2"]
    one = out["backup1"]
    assert one["reachable"] and one["error"] is None and one["address"] == "10.0.0.1"
    assert one["backups"] == [FULL, LOGS] and one["restores"] == [RESTORE] and one["log_shipping"] == SHIPPED
    assert "ensembles" not in one and "pruned" not in one
    assert one["summary"] == (
        "backup1: 1 full backup, the newest 20250301T021500Z-full-3fa2c1 (2025-03-01T02:15:00Z, last zxid "
        "0x300000010); 1 shipped log chunk; logs shipped up to 0x300000020 at 2025-03-01T03:00:01Z; "
        "1 restore report, the newest 2025-03-02T10:00:00Z: verified")
    two = out["backup2"]
    assert two == {"address": "10.0.0.2", "reachable": False, "error": gone["msg"],
                   "summary": "backup2: unreachable: " + gone["msg"]}


def test_problems_are_named():
    bad = dict(FULL, verified=False)
    res = read("b", "b", [dict(FULL, id="20250228T021500Z-full-000001", verified=True), bad],
               unverified=[bad["id"]], unauthenticated=[bad["id"]],
               debris=[{"path": "/srv/backups/prod/.x.partial-1"}], unknown=[{"path": "/srv/backups/prod/old"}])
    line = V.by_host([res], "prod")["b"]["summary"]
    assert line.startswith("b: 2 full backups, the newest %s (2025-03-01T02:15:00Z, last zxid 0x300000010, "
                           "FAILS VERIFICATION); 0 shipped log chunks; no restore report; " % bad["id"]), line
    assert "failing verification: %s; not authenticated by the keys: %s; 1 leftover of interrupted runs; " \
           "1 unknown directory" % (bad["id"], bad["id"]) in line
    empty = V.by_host([read("b", "b")], "prod")["b"]
    assert empty["summary"] == "b: no full backup; 0 shipped log chunks; no restore report"
    assert empty["log_shipping"] is None
    assert V.by_host([dict(read("b", "b", [FULL]), failed=True, msg="boom")], "prod")["b"]["summary"] == "b: unreachable: boom"
    assert V.by_host([{"item": "b", "unreachable": True, "msg": "ssh: no route"}], "prod")["b"]["reachable"] is False


@pytest.mark.parametrize("bad", [None, "x", [None], [{"backups": []}], [{"item": ""}]])
def test_what_is_not_a_loop_of_the_module_is_refused(bad):
    with pytest.raises(V.CatalogViewError):
        V.by_host(bad, "prod")


def test_the_filter():
    assert FilterModule().filters()["catalog_by_host"] is V.by_host
