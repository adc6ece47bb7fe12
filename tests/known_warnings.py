"""The third-party warnings the tests tolerate: the one place that lists them, each with its reason.

Every other warning fails a test: pytest turns warnings into errors (tests/pytest.ini), and
the tests that run a tool (ansible-doc, ansible-playbook, antsibull-changelog) assert that
its stderr holds nothing beyond the lines matched here. A warning raised by this
collection's own code is never listed: it is fixed.
"""
import re

# (category, message regex, module regex of the code that triggers it, reason)
KNOWN = (
    ("CryptographyDeprecationWarning", r"DSA is deprecated",
     r"ansible\._internal\._ssh\._ssh_agent",
     "ansible-core 2.19 imports cryptography's DSA classes for its ssh-agent support at import "
     "time; cryptography 51 deprecates DSA. ansible-core's code, not ours: it warns at every "
     "start of an ansible command and changes nothing."),
)


def pytest_filters():
    """filterwarnings lines for pytest: ignore exactly the known warnings."""
    out = []
    for category, message, module, _reason in KNOWN:
        # pytest resolves the category by import path.
        cat = {"CryptographyDeprecationWarning": "cryptography.utils.CryptographyDeprecationWarning"}.get(
            category, category)
        out.append("ignore:%s:%s:%s" % (message, cat, module))
    return out


# A warning as Python prints it on stderr: "<file>:<line>: <Category>: <message>", then the
# source line indented.
_LINE = re.compile(r"^(?P<file>\S+):\d+: (?P<cat>\w+): (?P<msg>.*)$")


def _module_of(path):
    path = path.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return path[:-3].replace("/", ".") if path.endswith(".py") else path.replace("/", ".")


def unknown_stderr(stderr):
    """stderr without the known third-party warnings (each with its source line)."""
    lines = stderr.splitlines(True)
    out = []
    skip_source = False
    for line in lines:
        if skip_source:
            skip_source = False
            if line.startswith("  "):
                continue
        m = _LINE.match(line.rstrip("\n"))
        if m and any(m.group("cat") == cat and re.search(msg, m.group("msg"))
                     and re.match(mod, _module_of(m.group("file")))
                     for cat, msg, mod, _reason in KNOWN):
            skip_source = True
            continue
        out.append(line)
    return "".join(out)
