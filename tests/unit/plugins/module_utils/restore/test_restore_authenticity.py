"""The planner under a key: whoever can write to a backup host (without the key) cannot
make a restore pick a backup of theirs, nor an old or foreign archive under a newer id.
Every attack below leaves the backup host consistent (SHA256SUMS rewritten), so only the
authentication catches it.  The backup hosts are local directories (hostdirs)."""
import io
import os
import shutil

import pytest

import hostdirs as H
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity as A
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import fetch as F

E, ROOT, ENS = H.E, H.ROOT, H.ENS
KEY = os.urandom(32)
KEYS = A.Keys([KEY])


def mac(manifest):
    return A.authenticate(manifest, key=KEY)


@pytest.fixture
def two(tmp_path):
    """Backup hosts b1 and b2 holding f1, c1, f2 written with the key."""
    hosts = H.Host("b1", tmp_path / "b1", auth=mac), H.Host("b2", tmp_path / "b2", auth=mac)
    for h in hosts:
        h.full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10, last_ms=1010)
        h.chunk("c1", "2025-01-01T00:05:00Z", E + 11, E + 20, last_ms=1020)
        h.full("f2", "2025-01-01T00:10:00Z", E + 15, E + 20, last_ms=1020)
    return hosts


def planned(hosts, keys=KEYS, allow=False, **target):
    listed, reports, _unreachable = F.list_hosts(H.pairs(*hosts), ROOT, ENS, keys, allow)
    plan, _holders = F.plan_union(listed, [h.label for h in hosts], reports, ENS, ROOT, **target)
    return plan, listed


def plant(host, bid, created, snap, last, auth=None):
    """A backup written by someone without the key: archive, manifest and SHA256SUMS agree."""
    saved, host.auth = host.auth, auth
    try:
        host.full(bid, created, snap, last)
    finally:
        host.auth = saved


def test_a_newer_plain_backup_planted_without_the_key_is_never_picked(two):
    for h in two:
        plant(h, "f9", "2025-01-02T00:00:00Z", E + 100, E + 200)
    plan, _listed = planned(two)
    assert plan["backup_ids"] == ["f2"]
    assert [(n["id"], n["kind"]) for n in plan["not_authenticated"]] == [("f9", "full")]
    assert "carries no authentication" in plan["not_authenticated"][0]["reason"]
    # It is not counted as something the plan leaves out either.
    assert plan["left_out"]["full_backups"] == []
    # Without the key the planner sees no difference: the planted one wins (what the key is for).
    assert planned(two, keys=None)[0]["backup_ids"] == ["f9"]


def test_naming_the_planted_backup_is_refused_and_names_allow_unauthenticated(two):
    plant(two[0], "f9", "2025-01-02T00:00:00Z", E + 100, E + 200)
    with pytest.raises(F.FetchError, match="backup f9 is refused: it carries no authentication.*allow_unauthenticated"):
        planned(two[:1], backup_id="f9")


def test_a_backup_written_before_the_key_is_accepted_only_with_allow_unauthenticated(tmp_path):
    legacy = H.Host("b1", tmp_path / "b1")
    legacy.full("f0", "2024-12-01T00:00:00Z", E + 0, E + 5)
    with pytest.raises(F.FetchError, match="no full backup that verifies.*1 not authenticated"):
        planned([legacy])
    plan, listed = planned([legacy], allow=True)
    assert plan["backup_ids"] == ["f0"] and listed["b1"][0]["authenticated"] is False
    assert plan["full"]["authenticated"] is False and plan["not_authenticated"] == []


def test_an_older_genuine_backup_copied_under_a_newer_id_is_refused(two):
    b1 = two[0]
    shutil.copytree(b1.dir("f1"), b1.dir("f3"))
    # As it is: an authentic manifest, but of another backup id.
    by_id = dict((b["id"], b) for b in catalog.list_backups(b1.session(), ROOT, ENS, keys=KEYS)[0])
    assert by_id["f3"]["authenticated"] is False and "manifest is that of backup f1" in by_id["f3"]["rejected"]
    # Edited to claim the new id and a newer time: the MAC no longer verifies.
    b1.edit("f3", lambda m: dict(m, backup_id="f3", created="2025-01-03T00:00:00Z"))
    plan, _listed = planned([b1])
    assert plan["backup_ids"] == ["f2"]
    assert [n["id"] for n in plan["not_authenticated"]] == ["f3"]
    assert "does not verify" in plan["not_authenticated"][0]["reason"]


def test_another_ensembles_backup_under_this_ensemble_is_refused(tmp_path):
    b1 = H.Host("b1", tmp_path / "b1", auth=mac)
    b1.full("f1", "2025-01-01T00:00:00Z", E + 0, E + 10)
    other = H.Host("bx", tmp_path / "bx", auth=lambda m: mac(dict(m, ensemble="other-zk")))
    other.full("f5", "2025-01-05T00:00:00Z", E + 0, E + 900)
    shutil.copytree(other.dir("f5"), b1.dir("f5"))
    plan, listed = planned([b1])
    assert plan["backup_ids"] == ["f1"]
    f5 = [b for b in listed["b1"] if b["id"] == "f5"][0]
    assert "stored under ensemble %s but its manifest is of ensemble other-zk" % ENS in f5["rejected"]


def test_an_edited_last_zxid_is_refused(two):
    b1 = two[0]
    b1.edit("f2", lambda m: dict(m, zxid=dict(m["zxid"], last="0x%x" % (E + 999))))
    plan, _listed = planned([b1])
    assert plan["backup_ids"] == ["f1"]
    assert [n["id"] for n in plan["not_authenticated"]] == ["f2"]


def test_a_side_manifest_without_the_archive_hash_is_refused(two):
    b1 = two[0]

    def strip(m):
        m = dict(m, archive=dict(m["archive"]))
        del m["archive"]["sha256"]
        return mac(m)       # even re-authenticated by the key holder
    b1.edit("f2", strip)
    plan, _listed = planned([b1])
    assert plan["backup_ids"] == ["f1"]
    assert "SHA-256" in plan["not_authenticated"][0]["reason"]


def test_a_copy_forged_on_one_host_is_read_from_the_host_whose_copy_is_authentic(two):
    b1, b2 = two
    b1.edit("f2", lambda m: dict(m, zxid=dict(m["zxid"], last="0x%x" % (E + 999))))
    plan, listed = planned([b1, b2])
    assert plan["backup_ids"] == ["f2"] and plan["not_authenticated"] == []
    sources, rejected = F.choose_copies(plan, H.pairs(b1, b2), ROOT, ENS, listed=listed, keys=KEYS)
    assert sources == {"f2": "b2"}
    assert [(r["host"], r["backup_id"]) for r in rejected] == [("b1", "f2")]
    assert "not authenticated" in rejected[0]["reason"]


def test_the_planner_on_one_host_skips_what_the_key_does_not_authenticate(two):
    b1 = two[0]
    plant(b1, "f9", "2025-01-02T00:00:00Z", E + 100, E + 200)
    plan = F.plan_on_host(b1.session(), ROOT, ENS, keys=KEYS)
    assert plan["backup_ids"] == ["f2"] and plan["not_authenticated"][0]["id"] == "f9"
    assert F.plan_on_host(b1.session(), ROOT, ENS)["backup_ids"] == ["f9"]


def test_the_catalog_reports_authenticated_per_backup_and_null_without_keys(two):
    b1 = two[0]
    plant(b1, "f9", "2025-01-02T00:00:00Z", E + 100, E + 200)
    listed = catalog.list_backups(b1.session(), ROOT, ENS, keys=KEYS)[0]
    with_keys = dict((b["id"], b["authenticated"]) for b in listed)
    assert with_keys == {"f1": True, "c1": True, "f2": True, "f9": False}
    without = catalog.list_backups(b1.session(), ROOT, ENS)[0]
    assert set(b["authenticated"] for b in without) == {None}


# --- the reader: the archive hash and the manifest inside ------------------------------------

def _source(manifest):
    return F.ArchiveSource("test", manifest, lambda: io.BytesIO(b"archive bytes"))


def test_without_the_archive_hash_the_read_is_refused_when_authentication_is_required():
    src = _source({"archive": {"file": "archive.tar", "bytes": 13}})
    src._raw = F._HashingReader(io.BytesIO(b"archive bytes"))
    assert src.check()["checked_against_manifest"] is False        # no key: as before
    src = _source({"archive": {"file": "archive.tar", "bytes": 13}})
    src._raw = F._HashingReader(io.BytesIO(b"archive bytes"))
    src.require_hash = True
    with pytest.raises(F.FetchError, match="does not record the archive's SHA-256"):
        src.check()


def test_judge_source_sets_require_hash_and_refuses_with_the_reason():
    genuine = mac({"backup_id": "f1", "ensemble": ENS, "kind": "full",
                   "archive": {"file": "archive.tar", "bytes": 13, "sha256": "00" * 32}})
    src = _source(genuine)
    assert F.judge_source(src, KEYS, backup_id="f1", ensemble=ENS)[0] is True and src.require_hash
    with pytest.raises(F.FetchError, match="manifest is that of backup f1.*allow_unauthenticated"):
        F.judge_source(_source(genuine), KEYS, backup_id="f7", ensemble=ENS)
    plain = _source({"backup_id": "f1", "archive": {"file": "archive.tar", "bytes": 13}})
    assert F.judge_source(plain, KEYS, allow_unauthenticated=True)[0] is False and not plain.require_hash
    assert F.judge_source(plain, None) == (None, None)


@pytest.mark.parametrize("field,value", [("backup_id", "f0"), ("ensemble", "other"), ("kind", "logs"),
                                         ("zxid", {"last": "0x1"})])
def test_the_manifest_inside_the_archive_must_agree_with_the_one_next_to_it(field, value):
    side = {"backup_id": "f1", "ensemble": ENS, "kind": "full", "zxid": {"last": "0x10"}}
    src = _source(side)
    src.check_inner(dict(side, files=[]))
    with pytest.raises(F.FetchError, match="differs from the one stored next to it on %s" % field):
        src.check_inner(dict(side, **{field: value}))


def test_bad_verify_key_text_fails_clearly():
    with pytest.raises(A.AuthenticityError, match="PEM"):
        A.keys_from_params({"verify_keys": ["ssh-ed25519 AAAA"]})
