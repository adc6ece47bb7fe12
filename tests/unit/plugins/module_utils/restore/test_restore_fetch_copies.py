"""restore_fetch.choose_copies: each backup of a plan comes from the first backup host whose
copy verifies; the hosts whose copy did not are named; no verifying copy refuses the backup."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as restore_fetch
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport.ssh import SshError


class Host(object):
    def __init__(self, label, holds, bad=()):
        self.label = label
        self.holds = holds
        self.bad = set(bad)


def plan():
    return {"backup_ids": ["F", "L1"], "full": {"id": "F"}, "logs": [{"id": "L1"}]}


@pytest.fixture(autouse=True)
def fake_catalog(monkeypatch):
    monkeypatch.setattr(catalog, "list_backups", lambda s, root, ens, **kw: ([{"id": i, "host": s} for i in s.holds], []))

    def verify(s, b):
        bad = b["id"] in s.bad
        return dict(b, verified=not bad, problems=["archive.tar.zst: FAILED"] if bad else [])
    monkeypatch.setattr(catalog, "verify", verify)


def hosts(*hs):
    def getter(h):
        def get():
            if isinstance(h, Exception):
                raise h
            return h
        return get
    return [(getattr(h, "label", None) or h.host, getter(h)) for h in hs]


def test_a_damaged_copy_is_taken_from_the_next_host_and_named():
    p = plan()
    b1, b2 = Host("b1", ["F", "L1"], bad=["F"]), Host("b2", ["F", "L1"])
    sources, rejected = restore_fetch.choose_copies(p, hosts(b1, b2), "/srv/backups", "prod")
    assert sources == {"F": "b2", "L1": "b1"}
    assert [(r["host"], r["backup_id"]) for r in rejected] == [("b1", "F")]
    assert "fails verification on the backup host (archive.tar.zst: FAILED)" in rejected[0]["reason"]
    assert p["full"]["host"] == "b2" and p["logs"][0]["host"] == "b1" and p["full"]["verified"]


def test_a_host_that_misses_a_backup_or_cannot_be_reached_is_passed_over_not_rejected():
    b1, b3 = Host("b1", ["F"]), Host("b3", ["F", "L1"])
    down = SshError("b2", "no SSH answer")
    sources, rejected = restore_fetch.choose_copies(plan(), hosts(b1, down, b3), "/srv/backups", "prod")
    assert sources == {"F": "b1", "L1": "b3"} and rejected == []


def test_no_verifying_copy_refuses_the_backup_naming_every_host():
    b1, b2 = Host("b1", ["F", "L1"], bad=["F"]), Host("b2", ["L1"])
    with pytest.raises(restore_fetch.FetchError) as exc:
        restore_fetch.choose_copies(plan(), hosts(b1, b2), "/srv/backups", "prod")
    text = str(exc.value)
    assert "backup F has no copy that verifies" in text and "b1 its copy fails verification" in text
    assert "b2 holds no complete copy" in text and "choose another backup" in text
