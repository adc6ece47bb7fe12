"""zk_info on a real ensemble: agrees with srvr/conf and the disk, follows a leader change,
and meets bad input with a clear message while changing nothing."""
import os
import pathlib

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from lab.lab import parse_srvr

pytestmark = pytest.mark.lab

INFO_ALL = """
- hosts: zookeeper
  gather_facts: false
  tasks:
    - name: info
      zkops.zookeeper.zk_info:
      register: info
    - name: info in check mode
      zkops.zookeeper.zk_info:
      check_mode: true
"""


def conf_of(host):
    out = {}
    for line in host.four_letter("conf").splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def write_some(lab, n=30):
    zk = KazooClient(hosts=lab.connect_string, timeout=10)
    zk.start(timeout=15)
    try:
        zk.ensure_path("/info-test")
        for i in range(n):
            zk.create("/info-test/n", b"x" * 10, sequence=True)
    finally:
        zk.stop()
        zk.close()


def disk_listing(host, inside):
    d = host.path(inside)
    return sorted((name, os.path.getsize(os.path.join(d, name))) for name in os.listdir(d)
                  if name.startswith(("snapshot.", "log.")))


def test_info_agrees_with_srvr_conf_and_disk(lab3, playbook):
    write_some(lab3)
    lab3.wait_zxid_agree()
    res = playbook(INFO_ALL)
    assert res.rc == 0, res.output()
    truth = {h.myid: (h, parse_srvr(h.four_letter("srvr")), conf_of(h)) for h in lab3.members}
    for h in lab3.members:
        r = res.result("info", h.name)
        assert r["changed"] is False
        assert res.result("info in check mode", h.name)["ensemble"]["leader"] == \
            r["ensemble"]["leader"]
        for m in r["members"]:
            host, srvr, conf = truth[m["id"]]
            assert m["mode"] == srvr["Mode"]
            assert int(m["zxid"], 16) == srvr["zxid"]
            assert (m["epoch"], m["counter"]) == (srvr["zxid"] >> 32, srvr["zxid"] & 0xFFFFFFFF)
            assert m["znode_count"] == int(srvr["Node count"])
            assert srvr["Zookeeper version"].startswith(m["version"])
            assert m["server_id"] == int(conf["serverId"])
            assert os.path.join(m["data_dir"], "version-2") == conf["dataDir"]
            assert os.path.join(m["data_log_dir"], "version-2") == conf["dataLogDir"]
            assert m["learned_from"] == ["srvr", "mntr", "conf"]
        me = r["member"]
        assert me["myid"] == h.myid and me["process"]["pid"] == h.zk_pid()
        assert me["restart_pending"] is False
        disk = me["disk"]
        assert sorted((s["name"], s["size"]) for s in disk["snapshots"] + disk["logs"]) == \
            disk_listing(h, "/var/lib/zookeeper/version-2")
        assert disk["current_epoch"] == int(pathlib.Path(h.path(
            "/var/lib/zookeeper/version-2/currentEpoch")).read_text())
        e = r["ensemble"]
        assert e["leader"] == lab3.leader().myid
        assert e["serving_voter_count"] == e["voter_count"] == 3 and e["quorum"] is True
        assert e["tolerance"] == 1
        top = max(t[1]["zxid"] for t in truth.values())
        assert int(e["highest"]["zxid"], 16) == top
        assert r["not_learned"] == []


def test_info_follows_a_leader_change(lab3, playbook):
    old = lab3.leader()
    old.kill_zk()
    try:
        lab3.wait_quorum(members=[h for h in lab3.members if h is not old])
        new = lab3.leader()
        assert new is not None and new is not old
        res = playbook(INFO_ALL)
        assert res.rc == 0, res.output()
        for h in lab3.members:
            if h is old:
                r = res.result("info", h.name)
                assert r["member"]["mode"] == "down" and r["member"]["process"] is None
                continue
            r = res.result("info", h.name)
            e = r["ensemble"]
            assert e["leader"] == new.myid != old.myid
            assert e["serving_voter_count"] == 2 and e["quorum"] is True and e["tolerance"] == 0
            assert e["not_serving"] == [old.myid]
            down = [m for m in r["members"] if m["id"] == old.myid][0]
            assert down["mode"] == "down" and "connection refused" in down["error"]
        assert any("connection refused" in w for w in
                   res.result("info", new.name).get("warnings", []))
    finally:
        old.start_zk()
        lab3.wait_quorum()
    res = playbook(INFO_ALL)
    e = res.result("info", old.name)["ensemble"]
    assert e["leader"] == new.myid and e["serving_voter_count"] == 3
    assert res.result("info", old.name)["member"]["mode"] == "follower"


BAD_INPUT = """
- hosts: zk1
  gather_facts: false
  vars:
    nokazoo: /tmp/nokazoo/bin/python3
  tasks:
    - name: unreachable member
      zkops.zookeeper.zk_info:
        hosts: "{{ unreachable }}:2181"
        connect_timeout: 2
      ignore_errors: true
    - name: wrong port
      zkops.zookeeper.zk_info:
        hosts: zk2:2182
      ignore_errors: true
    - name: not zookeeper
      zkops.zookeeper.zk_info:
        hosts: zk2:22
      ignore_errors: true
    - name: missing zoo.cfg
      zkops.zookeeper.zk_info:
        config_file: /etc/zookeeper/conf/missing.cfg
      ignore_errors: true
    - name: quiesce with missing zoo.cfg
      zkops.zookeeper.zk_quiesce:
        state: quiesced
        config_file: /etc/zookeeper/conf/missing.cfg
      ignore_errors: true
    - name: quiesce with a port that is not the member's
      zkops.zookeeper.zk_quiesce:
        state: quiesced
        hosts: zk1:22
      ignore_errors: true
    - name: wrong credentials
      zkops.zookeeper.zk_info:
        client_check: true
        client_check_path: /secret
        auth:
          - credential: "app:wrong"
      ignore_errors: true
    - name: wrong credentials for serving
      zkops.zookeeper.zk_quiesce:
        state: serving
        client_check_path: /secret
        auth:
          - credential: "app:wrong"
      ignore_errors: true
    - name: right credentials
      zkops.zookeeper.zk_info:
        client_check: true
        client_check_path: /secret
        auth:
          - credential: "app:right"
    - name: python without kazoo
      ansible.builtin.command: /usr/bin/python3 -m venv --without-pip /tmp/nokazoo
      args:
        creates: "{{ nokazoo }}"
    - name: info without kazoo
      zkops.zookeeper.zk_info:
      vars:
        ansible_python_interpreter: "{{ nokazoo }}"
    - name: client check without kazoo
      zkops.zookeeper.zk_info:
        client_check: true
      vars:
        ansible_python_interpreter: "{{ nokazoo }}"
      ignore_errors: true
    - name: serving without kazoo
      zkops.zookeeper.zk_quiesce:
        state: serving
      vars:
        ansible_python_interpreter: "{{ nokazoo }}"
      ignore_errors: true
"""


def test_bad_input_gets_a_clear_message_and_changes_nothing(lab3, playbook):
    zk = KazooClient(hosts=lab3.connect_string, timeout=10)
    zk.start(timeout=15)
    zk.create("/secret", b"s", acl=[make_digest_acl("app", "right", all=True)])
    before = {h.name: h.zk_pid() for h in lab3.members}
    try:
        unreachable = "10.77.%d.99" % lab3.index
        res = playbook(BAD_INPUT, extra_vars={"unreachable": unreachable})
    finally:
        zk.delete("/secret")
        zk.stop()
        zk.close()
    assert res.rc == 0, res.output()

    def failed(task, *words):
        r = res.result(task, "zk1")
        assert res.tasks(task, "zk1")[0]["status"] == "ignored", (task, r)
        assert r.get("changed") is False, (task, r)
        for w in words:
            assert w in r["msg"], (task, w, r["msg"])
        return r

    failed("unreachable member", "no ZooKeeper answered", unreachable, "unreachable")
    failed("wrong port", "no ZooKeeper answered", "zk2:2182", "connection refused")
    failed("not zookeeper", "not ZooKeeper", "zk2:22", "Check the ports")
    failed("missing zoo.cfg", "/etc/zookeeper/conf/missing.cfg does not exist", "config_file")
    failed("quiesce with missing zoo.cfg", "missing.cfg does not exist")
    failed("quiesce with a port that is not the member's", "hosts names port 22", "2181")
    r = failed("wrong credentials", "client check failed", "not authorised", "/secret")
    assert "app:wrong" not in str(r) and "wrong" not in r["msg"]
    failed("wrong credentials for serving", "client check failed", "not authorised")
    assert res.result("right credentials", "zk1")["member"]["client_check"]["ok"] is True
    r = res.result("info without kazoo", "zk1")
    assert r["ensemble"]["quorum"] is True and r["member"]["myid"] == 1
    failed("client check without kazoo", "kazoo", "python3-kazoo")
    failed("serving without kazoo", "kazoo")
    # Nothing changed: the same server processes, all serving.
    assert {h.name: h.zk_pid() for h in lab3.members} == before
    assert sorted(lab3.wait_quorum().values()) == ["follower", "follower", "leader"]
