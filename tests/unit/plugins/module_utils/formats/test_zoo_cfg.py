"""zoo_cfg: Java properties, server lines, dynamic config, defaults, secrets kept inside."""
import os

import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg


def test_properties_syntax():
    text = ("# comment\n! also a comment\n  tickTime = 2000\ninitLimit:10\nsyncLimit 5\n"
            "dataDir=/var/lib/zoo\\\n    keeper\n"
            "weird\\=key=a\\tb\nunicode=\\u0041\nempty=\n  \n")
    p = zoo_cfg.parse_properties(text)
    assert p["tickTime"] == "2000"
    assert p["initLimit"] == "10"
    assert p["syncLimit"] == "5"
    assert p["dataDir"] == "/var/lib/zookeeper"
    assert p["weird=key"] == "a\tb"
    assert p["unicode"] == "A"
    assert p["empty"] == ""


@pytest.mark.parametrize("value,expected", [
    ("zk1:2888:3888", dict(host="zk1", quorum_port=2888, election_port=3888,
                           role="participant", client_address=None, client_port=None)),
    ("zk4:2888:3888:observer", dict(host="zk4", role="observer")),
    ("zk1:2888:3888:participant;2181", dict(client_port=2181, client_address=None)),
    ("zk1:2888:3888;0.0.0.0:2281", dict(client_port=2281, client_address="0.0.0.0")),
    ("[2001:db8::1]:2888:3888:participant;[::1]:2181",
     dict(host="2001:db8::1", client_address="::1", client_port=2181)),
    ("a1:2888:3888|a2:2889:3889", dict(host="a1", quorum_port=2888)),
])
def test_server_lines(value, expected):
    s = zoo_cfg.parse_server(1, value)
    for k, v in expected.items():
        assert s[k] == v, k
    if "|" in value:
        assert [a["host"] for a in s["addresses"]] == ["a1", "a2"]


@pytest.mark.parametrize("value", ["zk1:2888", "zk1:2888:3888:voter", "zk1:x:3888",
                                   "zk1:2888:99999", "zk1:2888:3888;a:b:c"])
def test_bad_server_lines(value):
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.parse_server(3, value)
    assert "server.3" in str(e.value)


def test_defaults_and_membership():
    cfg = zoo_cfg.parse("dataDir=/d\nclientPort=2181\nserver.1=a:1:2\nserver.2=b:1:2\n"
                        "server.3=c:1:2\nserver.4=d:1:2:observer\n")
    assert cfg.data_log_dir == "/d"
    assert cfg.voters == [1, 2, 3] and cfg.observers == [4]
    assert cfg.fourlw_whitelist == ["srvr"] and not cfg.fourlw_whitelist_set
    assert cfg.whitelisted("srvr") and not cfg.whitelisted("mntr")
    assert not cfg.standalone
    assert cfg.client_endpoint(2) == ("b", 2181)
    assert cfg.server_ports(4) == {1, 2, 2181}


def test_client_endpoints():
    cfg = zoo_cfg.parse("dataDir=/d\ndataLogDir=/l\nclientPort=2181\nclientPortAddress=10.0.0.5\n"
                        "secureClientPort=2182\n4lw.commands.whitelist=srvr, mntr ,conf\n"
                        "server.1=a:1:2;0.0.0.0:2281\nserver.2=b:1:2\n")
    assert cfg.data_log_dir == "/l"
    assert cfg.fourlw_whitelist == ["srvr", "mntr", "conf"]
    # Wildcard client address in the server line: reach it by its host.
    assert cfg.client_endpoint(1) == ("a", 2281)
    # The local server: clientPortAddress wins.
    assert cfg.client_endpoint(1, local=True) == ("10.0.0.5", 2281)
    assert cfg.client_endpoint(2, secure=True) == ("b", 2182)
    assert cfg.client_endpoint(None, local=True) == ("10.0.0.5", 2181)
    assert zoo_cfg.parse("dataDir=/d\n").client_endpoint(None, local=True) is None
    assert zoo_cfg.parse("dataDir=/d\nclientPort=2181\n").standalone


def test_dynamic_config_file(tmp_path):
    # As the server writes it: sorted lines, no final line break, the version in the name only.
    (tmp_path / "zoo.cfg.dynamic.100000000").write_text(
        "server.1=a:2888:3888:participant;2181\nserver.2=b:2888:3888:participant;2181\n"
        "server.3=c:2888:3888:observer;2181")
    (tmp_path / "zoo.cfg").write_text(
        "dataDir=/data\nreconfigEnabled=true\ndynamicConfigFile=zoo.cfg.dynamic.100000000\n")
    cfg = zoo_cfg.load(str(tmp_path / "zoo.cfg"))
    assert cfg.dynamic_path == str(tmp_path / "zoo.cfg.dynamic.100000000")
    assert cfg.voters == [1, 2] and cfg.observers == [3]
    assert cfg.client_port is None
    assert cfg.client_endpoint(2) == ("b", 2181)
    assert cfg.dynamic_version == "100000000"
    os.remove(str(tmp_path / "zoo.cfg.dynamic.100000000"))
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.load(str(tmp_path / "zoo.cfg"))
    assert "dynamic configuration file" in str(e.value) and "does not exist" in str(e.value)


@pytest.mark.parametrize("name,version", [
    ("zoo.cfg.dynamic.100000000", "100000000"), ("zoo.cfg.dynamic.0000a", "a"),
    ("zoo.cfg.dynamic", None), ("zoo.cfg.dynamic.next", None), (None, None)])
def test_dynamic_version_is_in_the_file_name(name, version):
    assert zoo_cfg.dynamic_version_of(name and "/etc/zookeeper/conf/" + name) == version


def test_load_errors(tmp_path):
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.load(str(tmp_path / "nope.cfg"))
    assert str(e.value).endswith("nope.cfg does not exist")
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.load(str(tmp_path))
    assert "is a directory" in str(e.value)
    (tmp_path / "x.cfg").write_text("foo=bar\n")
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.load(str(tmp_path / "x.cfg"))
    assert "does not set dataDir" in str(e.value)
    (tmp_path / "y.cfg").write_text("dataDir=/d\nclientPort=abc\n")
    with pytest.raises(zoo_cfg.ZooCfgError) as e:
        zoo_cfg.load(str(tmp_path / "y.cfg"))
    assert "clientPort=abc" in str(e.value)


def test_summary_never_returns_secrets():
    cfg = zoo_cfg.parse("dataDir=/d\nclientPort=2181\nssl.keyStore.password=hunter2\n"
                        "ssl.quorum.trustStore.password=hunter3\ntickTime=2000\n"
                        "server.1=a:1:2\n")
    text = repr(cfg.summary())
    assert "hunter" not in text
    assert cfg.summary()["settings"] == {"tickTime": "2000"}


def test_hierarchical_lines():
    cfg = zoo_cfg.parse("dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1:2\n"
                        "weight.1=3\n")
    assert cfg.groups == {1: [1, 2]} and cfg.weights == {1: 3}
    with pytest.raises(zoo_cfg.ZooCfgError):
        zoo_cfg.parse("dataDir=/d\ngroup.1=1:x\n")


def test_myid(tmp_path):
    assert zoo_cfg.read_myid(str(tmp_path)) is None
    (tmp_path / "myid").write_text("3\n")
    assert zoo_cfg.read_myid(str(tmp_path)) == 3
    (tmp_path / "myid").write_text("three\n")
    with pytest.raises(zoo_cfg.ZooCfgError):
        zoo_cfg.read_myid(str(tmp_path))


# zoo.cfg as Debian's 3.8.0 server wrote it in the lab after moving its server lines out
# (QuorumPeerConfig.editStaticConfig: Properties order, key=value, dynamicConfigFile last).
SERVER_WRITTEN = ("dataDir=/var/lib/zookeeper\n4lw.commands.whitelist=*\nsyncLimit=6\n"
                  "reconfigEnabled=true\nadmin.enableServer=false\nclientPort=2181\n"
                  "initLimit=40\ntickTime=500\nmaxClientCnxns=0\n"
                  "dynamicConfigFile=/etc/zookeeper/conf/zoo.cfg.dynamic.100000000\n")


@pytest.mark.parametrize("text,expected", [
    (SERVER_WRITTEN, True),
    (SERVER_WRITTEN.rstrip("\n"), True),
    # A person's or a tool's zoo.cfg: a comment, a blank line, spaces around '=', the dynamic
    # file named elsewhere than last, server lines, reconfiguration off.
    ("# managed by hand\n" + SERVER_WRITTEN, False),
    (SERVER_WRITTEN.replace("syncLimit=6\n", "syncLimit=6\n\n"), False),
    (SERVER_WRITTEN.replace("tickTime=500", "tickTime = 500"), False),
    (SERVER_WRITTEN + "autopurge.purgeInterval=1\n", False),
    (SERVER_WRITTEN.replace("tickTime=500\n", "tickTime=500\nserver.1=zk1:2888:3888\n"), False),
    (SERVER_WRITTEN.replace("reconfigEnabled=true", "reconfigEnabled=false"), False),
    (SERVER_WRITTEN.replace("reconfigEnabled=true\n", ""), False),
    ("", False),
])
def test_rewritten_by_server(text, expected):
    assert zoo_cfg.rewritten_by_server(text) is expected
