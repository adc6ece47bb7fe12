"""The shared kazoo factory and four-letter client against real servers (plain and TLS)."""
import pytest

from ansible_collections.zkops.zookeeper.plugins.module_utils.client import four_letter
from ansible_collections.zkops.zookeeper.plugins.module_utils.client import connection as zk_client

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def tls_lab():
    from lab import Lab
    lab = Lab(name="zkclient-tls", backups=0, tls=True)
    lab.up()
    yield lab
    lab.down()


def params(**kw):
    p = {k: v.get("default") for k, v in zk_client.zk_argument_spec().items()}
    p.update(kw)
    return p


def tls_params(lab, **kw):
    d = lab.tls_dir
    p = params(hosts=",".join("%s:%d" % (h.ip, lab.secure_client_port) for h in lab.members),
               tls=True, tls_ca_file=d + "/ca.pem", tls_cert_file=d + "/client.crt",
               tls_key_file=d + "/client.key")
    p.update(kw)
    return p


def test_tls_connect_and_four_letter_words(tls_lab):
    p = tls_params(tls_lab)
    zk = zk_client.connect(p)
    try:
        zk.ensure_path("/tls-check")
        assert zk.exists("/tls-check")
    finally:
        zk_client.close_quietly(zk)
    h = tls_lab.members[0]
    st = four_letter.srvr(h.ip, tls_lab.secure_client_port, ssl_context=zk_client.tls_context(p))
    assert st["serving"] and st["Mode"] in ("leader", "follower")
    assert int(st["Zxid"], 16) == h.srvr()["zxid"] or int(st["Zxid"], 16) > 0


def test_tls_with_wrong_ca_fails_with_a_diagnosis(tls_lab, tmp_path):
    import subprocess
    bad = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(bad), "-days", "1", "-subj", "/CN=other"],
                   check=True, capture_output=True)
    p = tls_params(tls_lab, tls_ca_file=str(bad), connect_timeout=3.0)
    with pytest.raises(zk_client.ZkConnectError) as e:
        zk_client.connect(p)
    assert "TLS handshake failed" in str(e.value)


def test_diagnosis_names_what_answers_at_each_address(lab3):
    h = lab3.members[0]
    hosts = "%s:%d,%s:22,%s:2999" % (h.ip, lab3.client_port, h.ip, h.ip)
    notes = zk_client.diagnose(hosts)
    assert "%s:%d: ZooKeeper is serving as" % (h.ip, lab3.client_port) in notes
    assert "%s:22: something answers, but it is not ZooKeeper" % h.ip in notes
    assert "%s:2999: connection refused" % h.ip in notes


def test_connect_to_a_port_that_is_not_zookeeper_fails_fast_and_clearly(lab3):
    h = lab3.members[0]
    with pytest.raises(zk_client.ZkConnectError) as e:
        zk_client.connect(params(hosts="%s:22" % h.ip, connect_timeout=2.0))
    msg = str(e.value)
    assert "could not connect to ZooKeeper at %s:22 within 2.0s" % h.ip in msg
    assert "not ZooKeeper (wrong port?)" in msg
    assert e.value.transient                 # a caller waiting for a member may try again


def test_client_check_reads_the_path_and_tells_a_refusal_from_no_answer(lab3):
    h = lab3.members[0]
    address = "%s:%d" % (h.ip, lab3.client_port)
    res = zk_client.client_check(params(), address, "/zookeeper")
    assert res["ok"] and res["address"] == address and res["seconds"] >= 0
    with pytest.raises(zk_client.ZkConnectError) as e:
        zk_client.client_check(params(), address, "/no-such-znode-here")
    assert "no such znode on /no-such-znode-here" in str(e.value)
    assert not e.value.transient             # trying again would not help


def test_member_not_serving_is_told_apart(lab3):
    """With two of three members down the last one runs but does not serve."""
    f1, f2 = lab3.followers()[:2]
    f1.kill_zk()
    f2.kill_zk()
    try:
        leader = [h for h in lab3.members if h not in (f1, f2)][0]
        import time
        deadline = time.time() + 30
        st = {}
        while time.time() < deadline:
            try:
                st = four_letter.srvr(leader.ip, lab3.client_port)
            except four_letter.FourLetterError:
                st = {}
            if st and not st["serving"]:
                break
            time.sleep(0.2)
        assert st and st["serving"] is False
        assert "runs but is not serving" in zk_client.diagnose("%s:%d" % (leader.ip, lab3.client_port))
    finally:
        f1.start_zk()
        f2.start_zk()
        lab3.wait_quorum()
