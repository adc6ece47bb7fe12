"""The backup workflow's steps before anything is sent: the options read, and the runs
that end without sending (nothing to ship, the newest full backup holds the last zxid,
check mode)."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import workflow


def params(**kw):
    p = dict(ensemble="prod", kind="full", backup_root="/srv/zk", compression="gzip", encryption_key=None,
             encryption_recipients=None, signing_key=None, deep=False, force=False)
    p.update(kw)
    return p


def test_options_are_read_into_the_codec_and_no_keys():
    warnings = []
    assert workflow._parse_options(params(), warnings) == ("gzip", None, [], None)
    assert warnings == []


@pytest.mark.parametrize("kw, message", [
    (dict(ensemble=".hidden"), "ensemble '.hidden' is not a valid name"),
    (dict(ensemble=None), "ensemble None is not a valid name"),
    (dict(compression="rar"), "unknown compression 'rar'"),
])
def test_bad_options_fail_before_anything_is_done(kw, message):
    with pytest.raises(workflow.BackupError) as exc:
        workflow._parse_options(params(**kw), [])
    assert str(exc.value).startswith(message)


def test_deep_is_ignored_for_log_chunks():
    warnings = []
    workflow._parse_options(params(kind="logs", deep=True), warnings)
    assert warnings == ["deep is ignored for kind logs (a log chunk has no snapshot to replay)"]


class Plan:
    def __init__(self, empty=False, last_zxid=0x100000005):
        self.empty = empty
        self.last_zxid = last_zxid


def result():
    return {"destinations": [{"host": "b1", "path": "/srv/zk/prod/<backup id>", "verified": False}]}


def test_nothing_to_ship_ends_the_run():
    r = result()
    assert workflow._settled_without_sending(r, params(kind="logs"), [], Plan(empty=True), 0x100000004, False)
    assert r["changed"] is False and r["skipped"] is True
    assert r["reason"] == "no transaction after 0x100000004 to ship"


def test_an_unchanged_full_backup_is_not_taken_again(monkeypatch):
    monkeypatch.setattr(workflow, "_unchanged_full", lambda sessions, root, ensemble, last: "full-1")
    r = result()
    assert workflow._settled_without_sending(r, params(), ["s"], Plan(), None, False)
    assert r["backup_id"] == "full-1" and r["destinations"][0]["path"] == "/srv/zk/prod/full-1"
    assert r["reason"].startswith("the newest full backup full-1 on every backup host already holds the "
                                  "last zxid 0x100000005")
    # force takes another: in check mode the run ends, reporting a change.
    r = result()
    assert workflow._settled_without_sending(r, params(force=True), ["s"], Plan(), None, True)
    assert r["changed"] is True and r["skipped"] is False and "backup_id" not in r


def test_a_new_backup_goes_on_to_send(monkeypatch):
    monkeypatch.setattr(workflow, "_unchanged_full", lambda sessions, root, ensemble, last: None)
    r = result()
    assert not workflow._settled_without_sending(r, params(), ["s"], Plan(), None, False)
    assert r == result()
