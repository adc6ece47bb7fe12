"""zoo_cfg.redact: the zoo.cfg copy in a backup's manifest keeps no secret, however the
properties file writes it (continued lines, ':' or white space separators, escaped keys,
comments that end in a backslash), checked against java.util.Properties itself."""
import json
import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.zkops.zookeeper.plugins.module_utils.backup import workflow as backup
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg as Z

# A zoo.cfg of a TLS, SASL and digest-authenticated ensemble, as ZooKeeper 3.8 documents it.
REAL = """# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
secureClientPort=2281
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider
authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
ssl.keyStore.location=/etc/zookeeper/ssl/keystore.jks
ssl.keyStore.password=S3CRET-keystore
ssl.trustStore.location=/etc/zookeeper/ssl/truststore.jks
ssl.trustStore.password : S3CRET-truststore
sslQuorum=true
ssl.quorum.keyStore.location=/etc/zookeeper/ssl/quorum.jks
ssl.quorum.keyStore.password   S3CRET-quorum-keystore
ssl.quorum.trustStore.password=S3CRET-quorum-\\
    truststore-second-half
zookeeper.ssl.keyStore.password=S3CRET-prefixed
DigestAuthenticationProvider.superDigest=super:S3CRET/InIHSb7yEEbrWz8b9l71RjZJU=
quorum.auth.enableSasl=true
quorum.auth.learner.saslLoginContext=QuorumLearner
! a comment ending in a backslash does not continue \\
ssl.keyStore.pass\\u0077ord=S3CRET-escaped-key
ssl.trustStore.pass\\
  word=S3CRET-continued-key
zookeeper.sasl.client.password=S3CRET-sasl
4lw.commands.whitelist=srvr, mntr
server.1=zk1:2888:3888;2181
server.2=zk2:2888:3888;2181
server.3=zk3:2888:3888;2181
"""
SECRET_KEYS = ["ssl.keyStore.password", "ssl.trustStore.password", "ssl.quorum.keyStore.password",
               "ssl.quorum.trustStore.password", "zookeeper.ssl.keyStore.password",
               "DigestAuthenticationProvider.superDigest", "zookeeper.sasl.client.password"]

JAVA = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class Props {
    public static void main(String[] args) throws Exception {
        StringBuilder out = new StringBuilder("[");
        for (int a = 0; a < args.length; a++) {
            Properties p = new Properties();
            try (Reader r = new InputStreamReader(new FileInputStream(args[a]), StandardCharsets.UTF_8)) {
                p.load(r);
            }
            out.append(a == 0 ? "{" : ",{");
            boolean first = true;
            for (String k : new TreeSet<>(p.stringPropertyNames())) {
                out.append(first ? "" : ",").append(q(k)).append(":").append(q(p.getProperty(k)));
                first = false;
            }
            out.append("}");
        }
        System.out.print(out.append("]"));
    }

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) b.append(String.format("\\u%04x", (int) c));
        return b.append("\"").toString();
    }
}
"""


def java_properties(tmp_path, texts):
    """What java.util.Properties.load reads from each text: [{key: value}]."""
    src = tmp_path / "Props.java"
    src.write_text(JAVA)
    files = []
    for i, text in enumerate(texts):
        f = tmp_path / ("%d.properties" % i)
        f.write_bytes(text.encode("utf-8"))
        files.append(str(f))
    p = subprocess.run(["java", str(src)] + files, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_a_real_config_keeps_no_secret_and_everything_else():
    out = Z.redact(REAL)
    assert "S3CRET" not in out and "second-half" not in out and "truststore-second" not in out, out
    before, after = Z.parse_properties(REAL), Z.parse_properties(out)
    assert sorted(before) == sorted(after)
    for key in before:
        if key in SECRET_KEYS:
            assert after[key] == Z.REDACTED, key
        else:
            assert after[key] == before[key], key
    # The escaped and the continued keys are secret keys too.
    assert after["ssl.keyStore.password"] == after["ssl.trustStore.password"] == Z.REDACTED
    # Lines that are not secret stay as they were, comments included.
    for line in ("tickTime=2000", "! a comment ending in a backslash does not continue \\",
                 "server.3=zk3:2888:3888;2181", "quorum.auth.enableSasl=true"):
        assert line in out.splitlines()
    assert out.endswith("\n")
    # The configuration still reads the same for what the collection uses.
    assert Z.parse(out).voters == [1, 2, 3] and Z.parse(out).data_dir == "/var/lib/zookeeper"


def test_the_member_reads_its_config_redacted(tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(REAL)
    local = backup.local_member({"config_file": str(cfg), "server_id": 1})
    assert "S3CRET" not in local.config_text and Z.REDACTED in local.config_text


@pytest.mark.parametrize("text", [
    "ssl.keyStore.password=a\fS3CRET\n",              # \f is inside a line for Java
    "ssl.keyStore.password=a\\\n\\\n S3CRET\n",       # two continuations
    "ssl.keyStore.password=a\\\\\\\n S3CRET\n",       # three backslashes: continues
    "ssl.keyStore.password=a\\\r\n S3CRET\r\n",       # CRLF
    "ssl.keyStore.password=a\\\r S3CRET\r",           # CR alone
    "  \\\nssl.keyStore.password=S3CRET\n",             # a lone backslash continues
    "# comment \\\nssl.keyStore.password=S3CRET\n",   # a comment does not continue
    "ssl.keyStore.password\\\n=S3CRET",               # the separator on the next line
    "\\u0073sl.keyStore.password=S3CRET\n",
    "DigestAuthenticationProvider.superDigest\tsuper:S3CRET\n",
])
def test_awkward_spellings(text):
    out = Z.redact(text)
    assert "S3CRET" not in out, out
    assert list(Z.parse_properties(out).values()) == [Z.REDACTED]


def test_an_even_number_of_backslashes_does_not_continue():
    text = "ssl.keyStore.password=a\\\\\nclientPort=2181\n"
    out = Z.redact(text)
    assert out == "ssl.keyStore.password=********\nclientPort=2181\n"


_KEYS = st.sampled_from(["tickTime", "dataDir", "ssl.keyStore.password", "ssl.quorum.trustStore.password",
                         "DigestAuthenticationProvider.superDigest", "server.1", "a b", "x=y", "k:v"])
_VALUES = st.text(alphabet=st.sampled_from(list("aZ09 :=#!\\\t\f\r\n\u00e9")), max_size=30)


def _escape(s, key=False):
    out = []
    for i, c in enumerate(s):
        if c in "\\=:#!" or (c == " " and (key or i == 0)):
            out.append("\\" + c)
        elif c in "\t\f\r\n":
            out.append({"\t": "\\t", "\f": "\\f", "\r": "\\r", "\n": "\\n"}[c])
        else:
            out.append(c)
    return "".join(out)


@st.composite
def _config(draw):
    pairs = draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=8))
    # Secret values begin and end with Q, a letter found nowhere else: whichever line a
    # continuation leaves a piece of the secret on holds a Q.
    pairs = [(k, "Q%sQ" % v if Z.is_secret_key(k) else v) for k, v in pairs]
    lines = []
    for key, value in pairs:
        line = "%s%s%s" % (_escape(key, key=True), draw(st.sampled_from(["=", ":", " ", " = ", "\t"])),
                           _escape(value))
        cut = draw(st.integers(0, len(line)))
        # A continuation anywhere but inside an escape.
        if 0 < cut < len(line) and line[cut - 1] != "\\" and line[cut] not in " \t\f":
            line = line[:cut] + "\\\n" + draw(st.sampled_from(["", "  ", "\t"])) + line[cut:]
        lines.append(line)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["# note \\", "! x", "", "   "])))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"])), pairs


@settings(max_examples=300, deadline=None)
@given(_config())
def test_redaction_keeps_what_is_not_secret_and_nothing_that_is(case):
    text, pairs = case
    written = dict((k, v.strip()) for k, v in pairs)
    # The reader reads back what was written, continued or not ...
    assert Z.parse_properties(text) == written
    # ... and the redacted copy holds the same keys, every secret one replaced, the others kept.
    out = Z.redact(text)
    assert Z.parse_properties(out) == dict((k, Z.REDACTED if Z.is_secret_key(k) else v) for k, v in written.items())
    assert "Q" not in out


@pytest.mark.skipif(shutil.which("java") is None, reason="needs java (java.util.Properties is the reference)")
def test_java_reads_the_same_and_no_secret_in_the_redacted_copy(tmp_path):
    texts = [REAL, "ssl.keyStore.password=a\fS3CRET\n", "  \\\nssl.keyStore.password=S3CRET\n",
             "# c \\\nssl.keyStore.password=S3CRET\n", "ssl.keyStore.password=a\\\r S3CRET\r",
             "ssl.keyStore.password\\\n=S3CRET", "x=1\\\n\n ssl.keyStore.password=S3CRET\n"]
    redacted = [Z.redact(t) for t in texts]
    java_before = java_properties(tmp_path, texts)
    java_after = java_properties(tmp_path, redacted)
    for text, before, after, out in zip(texts, java_before, java_after, redacted):
        # Our reader reads as Java does (ZooKeeper trims values).
        assert Z.parse_properties(text) == {k: v.strip() for k, v in before.items()}, text
        # Java reads the redacted copy with every secret replaced and every other value kept.
        assert sorted(after) == sorted(before)
        for key, value in before.items():
            assert after[key] == (Z.REDACTED if Z.is_secret_key(key) else value), (text, key)
        assert not any("S3CRET" in v for v in after.values()) and "S3CRET" not in out
    assert os.path.exists(str(tmp_path / "Props.java"))
