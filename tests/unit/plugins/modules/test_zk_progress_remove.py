"""zk_progress remove: removes only a progress file the collection wrote, nothing in check
mode (which reports the change it would make), and reports changed only when it removed
something (a second run: not changed)."""
import json
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as P
from ansible_collections.zkops.zookeeper.plugins.modules import zk_progress


def tracked(path):
    t = P.Tracker(path, "full backup")
    t.stage("send", total=10, unit="bytes")
    t.update(done=4)
    t.close()
    assert os.path.isfile(path)
    return path


def test_check_mode_removes_nothing_then_the_real_run_removes_then_nothing_to_do(run_module, tmp_path):
    path = tracked(str(tmp_path / "full-backup-prod-1.json"))
    ok, res = run_module(zk_progress, check=True, path=path)
    assert ok and res["changed"] is True and res["removed"] is True and os.path.isfile(path)
    assert res["progress"]["task"] == "full backup"
    ok, res = run_module(zk_progress, path=path)
    assert ok and res["changed"] is True and not os.path.exists(path)
    ok, res = run_module(zk_progress, path=path)
    assert ok and res["changed"] is False and res["removed"] is False and res["progress"] is None
    ok, res = run_module(zk_progress, check=True, path=path)
    assert ok and res["changed"] is False
    # remove=false reads only.
    tracked(path)
    ok, res = run_module(zk_progress, path=path, remove=False)
    assert ok and res["changed"] is False and os.path.isfile(path)


def _victims(tmp_path):
    """Files that zk_progress must never remove, each with what it holds."""
    out = {}
    precious = tmp_path / "etc-passwd"
    precious.write_text("root:x:0:0::/root:/bin/sh\n")
    out[str(precious)] = precious
    cfg = tmp_path / "zoo.json"            # a .json that is not a progress state
    cfg.write_text(json.dumps({"tickTime": 2000}))
    out[str(cfg)] = cfg
    link = tmp_path / "link.json"          # a link to a real progress file
    real = tracked(str(tmp_path / "real.json"))
    os.symlink(real, str(link))
    out[str(link)] = link
    big = tmp_path / "big.json"
    big.write_text(" " * (P.MAX_FILE + 10))
    out[str(big)] = big
    d = tmp_path / "dir.json"
    d.mkdir()
    out[str(d)] = d
    hidden = tmp_path / ".tmp.json"
    with open(real) as f:
        hidden.write_text(f.read())
    out[str(hidden)] = hidden
    return out


@pytest.mark.parametrize("check", [False, True])
def test_anything_but_a_progress_file_is_refused_and_left(run_module, tmp_path, check):
    victims = _victims(tmp_path)
    before = sorted(os.listdir(str(tmp_path)))
    for path in sorted(victims):
        ok, res = run_module(zk_progress, check=check, path=path)
        assert not ok and res["changed"] is False, (path, res)
        assert "nothing was removed" in res["msg"] and path in res["msg"], res["msg"]
    assert sorted(os.listdir(str(tmp_path))) == before
    assert os.path.islink(str(tmp_path / "link.json")) and os.path.isfile(str(tmp_path / "real.json"))


def test_a_file_of_another_user_is_refused(run_module, tmp_path):
    path = tracked(str(tmp_path / "other.json"))
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    os.chown(path, 4242, 4242)
    ok, res = run_module(zk_progress, path=path)
    assert not ok and "owned by uid 4242" in res["msg"] and os.path.isfile(path)
