"""Whether a backup may be restored onto the ZooKeeper release the members run: the same or a
newer release goes on, an older one is refused with both releases and the way out named
(unless allowed), and a release not known never blocks a restore."""

from ansible_collections.zkops.zookeeper.plugins.filter.restore_check import restore_check
from ansible_collections.zkops.zookeeper.plugins.module_utils.restore import releases as rr


def members(*versions):
    return [{"host": "zk%d" % (i + 1), "id": i + 1, "version": v} for i, v in enumerate(versions)]


def test_numeric_order_not_text_order():
    assert rr.newest(["3.9.5", "3.10.0", "3.6.3"]) == "3.10.0"
    assert rr.newest([None, "3.8.0", "x"]) == "3.8.0"
    assert rr.newest("3.6.3") == "3.6.3"
    assert rr.newest([None]) is None and rr.newest(None) is None and rr.newest([]) is None


def test_same_release():
    d = rr.decide("3.8.0", members("3.8.0", "3.8.0", "3.8.0"))
    assert d["allowed"] is True and d["path"] == rr.SAME
    assert d["backup"] == "3.8.0" and d["members"] == {"zk1": "3.8.0", "zk2": "3.8.0", "zk3": "3.8.0"}
    assert d["older"] == [] and d["unknown"] == []


def test_an_older_backup_onto_newer_members_is_an_upgrade():
    d = rr.decide("3.6.3", members("3.9.5", "3.9.5", "3.9.5"))
    assert d["allowed"] is True and d["path"] == rr.UPGRADE and d["older"] == []
    assert "3.6.3" in d["message"] and "zk1 runs 3.9.5" in d["message"]
    # Half-way through a rolling upgrade, some members on the backup's release.
    d = rr.decide("3.8.0", members("3.9.5", "3.8.0", "3.8.0"))
    assert d["allowed"] is True and d["path"] == rr.UPGRADE


def test_a_newer_backup_onto_older_members_is_refused_with_both_releases_and_the_way_out():
    d = rr.decide("3.9.5", members("3.6.3", "3.6.3", "3.6.3"))
    assert d["allowed"] is False and d["path"] == rr.DOWNGRADE
    assert d["older"] == ["zk1", "zk2", "zk3"]
    msg = d["message"]
    assert msg.startswith("Nothing was done")
    assert "ZooKeeper 3.9.5" in msg and "zk1 runs 3.6.3" in msg
    assert "does not support downgrades" in msg
    assert "Upgrade zk1, zk2, zk3 to 3.9.5 or later" in msg
    assert "a backup taken on 3.6.3 or earlier" in msg
    assert "zookeeper_restore_allow_older_release=true" in msg


def test_one_older_member_is_enough_to_refuse():
    d = rr.decide("3.9.5", members("3.9.5", "3.8.0", "3.9.5"))
    assert d["allowed"] is False and d["older"] == ["zk2"]
    assert "zk2 runs 3.8.0" in d["message"] and "zk1 runs" not in d["message"]
    # An older patch release is older too.
    d = rr.decide("3.9.5", members("3.9.3", "3.9.5", "3.9.5"))
    assert d["allowed"] is False and d["older"] == ["zk1"]


def test_the_backups_newest_release_counts():
    # A full backup of 3.8.0, log chunks shipped after the members were upgraded to 3.9.5.
    d = rr.decide(["3.8.0", "3.9.5", "3.9.5"], members("3.8.0", "3.8.0", "3.8.0"))
    assert d["allowed"] is False and d["backup"] == "3.9.5"
    d = rr.decide(["3.8.0", None], members("3.8.0", "3.8.0", "3.8.0"))
    assert d["allowed"] is True and d["path"] == rr.SAME


def test_the_override_lets_a_downgrade_through_and_says_so():
    d = rr.decide("3.9.5", members("3.6.3", "3.6.3", "3.6.3"), allow_older=True)
    assert d["allowed"] is True and d["path"] == rr.DOWNGRADE and d["older"] == ["zk1", "zk2", "zk3"]
    assert "allowed by zookeeper_restore_allow_older_release" in d["message"]


def test_a_backup_without_its_release_is_not_compared():
    d = rr.decide(None, members("3.6.3", "3.6.3", "3.6.3"))
    assert d["allowed"] is True and d["path"] == rr.UNKNOWN and d["backup"] is None
    assert "does not record the release" in d["message"]


def test_a_member_that_does_not_answer_never_blocks_but_is_named():
    d = rr.decide("3.9.5", members("3.9.5", None, "3.9.5"))
    assert d["allowed"] is True and d["path"] == rr.SAME and d["unknown"] == ["zk2"]
    assert "release of zk2 is not known" in d["message"]
    d = rr.decide("3.9.5", members(None, None, None))
    assert d["allowed"] is True and d["path"] == rr.UNKNOWN and d["unknown"] == ["zk1", "zk2", "zk3"]
    # Known members older than the backup are refused even when others are unknown.
    d = rr.decide("3.9.5", members("3.6.3", None, None))
    assert d["allowed"] is False and d["older"] == ["zk1"] and "release of zk2, zk3 is not known" in d["message"]


def test_the_filter_as_the_role_calls_it():
    got = restore_check(members("3.6.3", "3.6.3", "3.6.3"), "releases", backup_release=["3.9.5"],
                        allow_older=False)
    assert got["allowed"] is False and got["path"] == "downgrade"
    got = restore_check(members("3.9.5", "3.9.5", "3.9.5"), "releases", backup_release=["3.6.3", None])
    assert got["allowed"] is True and got["path"] == "upgrade"
    assert restore_check(members("3.6.3"), "releases", backup_release="3.9.5", allow_older=True)["allowed"] is True


def installed(release, jar="/usr/share/java/zookeeper.jar", source="/etc/zookeeper/conf/environment"):
    if release is None:
        return {"release": None, "jar": None, "from": None, "reason": "no class path found: nothing"}
    return {"release": release, "jar": jar, "from": source}


def test_stopped_members_are_judged_by_their_installed_jar_and_the_message_says_so():
    ms = members(None, None, "3.9.5")
    ms[0]["installed"] = installed("3.8.0")
    ms[1]["installed"] = installed("3.9.5", "/opt/zk/lib/zookeeper-3.9.5.jar", "the tarball install's /opt/zk/lib")
    ms[2]["installed"] = installed("3.9.5")        # srvr answered, and its jar agrees
    d = rr.decide("3.9.5", ms)
    assert d["allowed"] is False and d["path"] == rr.DOWNGRADE and d["older"] == ["zk1"]
    assert d["members"] == {"zk1": "3.8.0", "zk2": "3.9.5", "zk3": "3.9.5"} and d["unknown"] == []
    assert ("zk1 has 3.8.0 installed (/usr/share/java/zookeeper.jar, on the class path of "
            "/etc/zookeeper/conf/environment)") in d["message"]
    assert "Upgrade zk1 to 3.9.5 or later" in d["message"]
    # Allowed, the message still names where the release came from.
    d = rr.decide("3.9.5", ms, allow_older=True)
    assert d["allowed"] is True and "zk1 has 3.8.0 installed" in d["message"]
    # An upgrade onto stopped members.
    d = rr.decide("3.6.3", ms[:2])
    assert d["path"] == rr.UPGRADE and "zk2 has 3.9.5 installed (/opt/zk/lib/zookeeper-3.9.5.jar" in d["message"]


def test_a_jar_replaced_under_a_running_member_is_what_the_restore_starts():
    ms = members("3.9.5", "3.9.5")
    ms[0]["installed"] = installed("3.8.0", source="the command line of the running server (pid 7)")
    ms[1]["installed"] = installed("3.9.5")
    d = rr.decide("3.9.5", ms)
    assert d["allowed"] is False and d["older"] == ["zk1"] and d["members"]["zk1"] == "3.8.0"
    assert ("zk1 runs 3.9.5 but has 3.8.0 installed (/usr/share/java/zookeeper.jar, on the class path of "
            "the command line of the running server (pid 7)), which the restore starts") in d["message"]
    # Several releases on one class path: the oldest counts, the others named.
    ms[0]["installed"] = dict(installed("3.8.0"), conflict=["/opt/zookeeper-3.9.5.jar (3.9.5)"])
    d = rr.decide("3.9.5", ms)
    assert "; also there: /opt/zookeeper-3.9.5.jar (3.9.5))" in d["message"]


def test_a_release_neither_srvr_nor_the_jar_tells_never_blocks_and_the_reason_is_given():
    ms = members(None, "3.9.5")
    ms[0]["installed"] = installed(None)
    d = rr.decide("3.9.5", ms)
    assert d["allowed"] is True and d["unknown"] == ["zk1"] and d["path"] == rr.SAME
    assert "The release of zk1 is not known (no srvr answer; no class path found: nothing)" in d["message"]
    # Members from before zk_info reported the installed release.
    d = rr.decide("3.9.5", members(None, "3.9.5"))
    assert d["allowed"] is True and "The release of zk1 is not known (no srvr answer):" in d["message"]
