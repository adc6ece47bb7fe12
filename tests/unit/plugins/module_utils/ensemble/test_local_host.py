"""data_files, proc, service and server_log: what the modules see on the member itself."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from zk_fakes import FakeProc, member_layout, write, zk_argv  # noqa: E402

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import data_files  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import proc  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import server_log  # noqa: E402
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import service  # noqa: E402


def test_listing_separate_log_dir(tmp_path):
    cfg = member_layout(tmp_path, [2181], log_dir=str(tmp_path / "txnlog"))
    assert cfg
    d = data_files.listing(str(tmp_path / "data"), str(tmp_path / "txnlog"))
    assert [s["name"] for s in d["snapshots"]] == ["snapshot.0", "snapshot.10000002a.gz"]
    gz = d["snapshots"][1]
    assert (gz["zxid"], gz["epoch"], gz["counter"], gz["size"], gz["compression"]) == (
        "0x10000002a", 1, 42, 20, "gz")
    assert d["newest_snapshot"]["name"] == "snapshot.10000002a.gz"
    assert [x["name"] for x in d["logs"]] == ["log.100000001"]
    log = d["logs"][0]
    assert log["size"] == 1 << 20 and log["allocated"] < log["size"]   # sparse
    assert log["path"] == str(tmp_path / "txnlog" / "version-2" / "log.100000001")
    assert (d["current_epoch"], d["accepted_epoch"]) == (2, 3)
    assert d["snapshot_count"] == 2 and d["log_count"] == 1 and d["snapshot_bytes"] == 30
    assert d["problems"] == []
    # The same directory given with version-2 at its end.
    assert data_files.version_dir(str(tmp_path / "data" / "version-2")) == str(
        tmp_path / "data" / "version-2")


def test_listing_problems(tmp_path):
    d = data_files.listing(str(tmp_path / "missing"))
    assert d["snapshots"] == [] and len(d["problems"]) == 2
    assert "cannot list" in d["problems"][0]
    assert d["current_epoch"] is None
    write(str(tmp_path / "x" / "version-2" / "currentEpoch"), "garbage")
    d = data_files.listing(str(tmp_path / "x"))
    assert any("does not hold a number" in p for p in d["problems"])


def test_find_servers_and_ports(tmp_path):
    fp = FakeProc(tmp_path / "proc", uptime=1000.0)
    cfg = str(tmp_path / "zoo.cfg")
    write(cfg, "dataDir=/d\n")
    fp.add(100, zk_argv(cfg), start_ticks=90000)             # started 100 s ago
    fp.add(200, zk_argv("/etc/other/zoo.cfg"))
    fp.add(300, ["/bin/sleep", "10"])
    fp.add(400, zk_argv(cfg), state="Z")                       # a zombie does not count
    os.makedirs(str(tmp_path / "kafka" / "config"))
    write(str(tmp_path / "kafka" / "config" / "zk.properties"), "dataDir=/k\n")
    fp.add(500, zk_argv("config/zk.properties"), cwd=str(tmp_path / "kafka"))
    now = time.time()
    found = proc.find_servers(cfg, proc=fp.root)
    assert [p["pid"] for p in found] == [100, 200, 500]
    assert [p["matches"] for p in found] == [True, False, False]
    assert abs(found[0]["started"] - (now - 100)) < 5
    assert found[2]["config_file"] == str(tmp_path / "kafka" / "config" / "zk.properties")
    assert proc.find_servers(found[2]["config_file"], proc=fp.root)[2]["matches"]
    assert proc.jvm_property(100, "zookeeper.log.dir", proc=fp.root) == "/nonexistent/log"
    assert proc.jvm_property(300, "zookeeper.log.dir", proc=fp.root) is None
    fp.set_listening([2181, 3888])
    assert sorted(proc.listening_ports(proc=fp.root)) == [2181, 3888]
    assert proc.alive(100, proc=fp.root) and not proc.alive(400, proc=fp.root)


def test_wait_gone(tmp_path):
    fp = FakeProc(tmp_path / "proc")
    fp.add(100, zk_argv("/z"))
    fp.set_listening([2181])
    clock = [0.0]

    def sleep(s):
        clock[0] += s
        if clock[0] > 1:
            fp.kill(100)
        if clock[0] > 2:
            fp.set_listening([])
    done, alive, listening = proc.wait_gone([100], [2181, 3888], 10, proc=fp.root,
                                            clock=lambda: clock[0], sleep=sleep)
    assert done and alive == [] and listening == []
    assert 2 < clock[0] < 3
    fp.add(101, zk_argv("/z"))
    clock[0] = 0.0
    done, alive, listening = proc.wait_gone([101], [2181], 0.5, proc=fp.root,
                                            clock=lambda: clock[0],
                                            sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert not done and alive == [101]


def test_decode_ipv6_listen(tmp_path):
    fp = FakeProc(tmp_path / "proc")
    write(os.path.join(fp.root, "net", "tcp6"),
          "  sl  local_address\n"
          "   0: 00000000000000000000000001000000:0885 00000000000000000000000000000000:0000 0A"
          " 0 0 0\n")
    assert proc.listening_ports(proc=fp.root)[2181] == ["0:0:0:0:0:0:0:1"]


class Runner:
    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers.get(tuple(argv), (0, "", ""))


def test_service_detection(tmp_path):
    init = tmp_path / "init.d"
    init.mkdir()
    sysd = tmp_path / "systemd"
    bins = {"systemctl": "/bin/systemctl", "service": "/usr/sbin/service"}
    run = Runner({("/bin/systemctl", "show", "--property=LoadState", "zookeeper"):
                  (0, "LoadState=loaded\n", "")})
    # No systemd running, no init script: a message that says what to set.
    s = service.Service(run, bins.get, systemd_dir=str(sysd), init_dir=str(init))
    with pytest.raises(service.ServiceError) as e:
        s.kind
    assert "service_manager=command" in str(e.value)
    # A sysv init script.
    write(str(init / "zookeeper"), "#!/bin/sh\n")
    os.chmod(str(init / "zookeeper"), 0o755)
    s = service.Service(run, bins.get, systemd_dir=str(sysd), init_dir=str(init))
    assert s.kind == "sysv"
    assert s.command("stop") == ["/usr/sbin/service", "zookeeper", "stop"]
    s = service.Service(run, {}.get, systemd_dir=str(sysd), init_dir=str(init))
    assert s.command("start") == [str(init / "zookeeper"), "start"]
    # systemd running with the unit: preferred.
    sysd.mkdir()
    s = service.Service(run, bins.get, systemd_dir=str(sysd), init_dir=str(init))
    assert s.kind == "systemd" and s.command("start") == ["/bin/systemctl", "start", "zookeeper"]
    # systemd running without such a unit: the init script.
    s = service.Service(run, bins.get, name="zk", systemd_dir=str(sysd), init_dir=str(init))
    with pytest.raises(service.ServiceError) as e:
        s.kind
    assert "service_name" in str(e.value)
    # Given commands win under auto.
    s = service.Service(run, bins.get, start_command="/opt/zk/bin/zkServer.sh start",
                        stop_command=["/opt/zk/bin/zkServer.sh", "stop"],
                        systemd_dir=str(sysd), init_dir=str(init))
    assert s.kind == "command"
    assert s.start()["cmd"] == ["/opt/zk/bin/zkServer.sh", "start"]
    with pytest.raises(service.ServiceError):
        service.Service(run, bins.get, manager="command", start_command="x").kind
    with pytest.raises(service.ServiceError):
        service.Service(run, bins.get, manager="upstart")


def test_service_failure_keeps_output(tmp_path):
    run = Runner({("/x/start",): (3, "", "permission denied\n")})
    s = service.Service(run, {}.get, manager="command", start_command="/x/start",
                        stop_command="/x/stop")
    with pytest.raises(service.ServiceError) as e:
        s.start()
    assert "exited 3: permission denied" in str(e.value)
    assert e.value.result["rc"] == 3 and e.value.result["stderr"] == "permission denied\n"


def test_server_log(tmp_path):
    d = tmp_path / "log"
    write(str(d / "old.log"), "old\n")
    os.utime(str(d / "old.log"), (1, 1))
    write(str(d / "zookeeper.log"), "".join("line %d\n" % i for i in range(100)) +
          "ssl.keyStore.password=hunter2 and credential: s3cret\n")
    write(str(d / "ignored.txt"), "x\n")
    path = server_log.locate(log_dir=str(d))
    assert path == str(d / "zookeeper.log")
    assert server_log.locate(log_dir=str(d), log_name="old.log") == str(d / "old.log")
    lines = server_log.tail(path, 3)
    assert lines[:2] == ["line 98", "line 99"]
    assert "hunter2" not in lines[2] and "s3cret" not in lines[2] and "********" in lines[2]
    assert server_log.tail(str(d / "nope.log")) == []
    assert len(server_log.tail(path, 5, max_bytes=30)) <= 5
