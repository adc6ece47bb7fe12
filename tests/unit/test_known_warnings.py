"""The list of tolerated third-party warnings removes exactly those warnings from a tool's stderr."""
from known_warnings import KNOWN, pytest_filters, unknown_stderr

DSA = ("/x/.venv/lib/python3.11/site-packages/ansible/_internal/_ssh/_ssh_agent.py:18: "
       "CryptographyDeprecationWarning: DSA is deprecated and support will be removed in a future release.\n"
       "  from cryptography.hazmat.primitives.asymmetric.dsa import (\n")


def test_a_known_third_party_warning_is_removed_with_its_source_line():
    assert unknown_stderr(DSA) == ""
    assert unknown_stderr(DSA + "ERROR! something\n") == "ERROR! something\n"


def test_the_same_warning_from_this_collection_is_kept():
    ours = DSA.replace("ansible/_internal/_ssh/_ssh_agent.py",
                       "ansible_collections/zkops/zookeeper/plugins/module_utils/transport/push.py")
    assert unknown_stderr(ours) == ours


def test_another_warning_of_the_same_module_is_kept():
    other = DSA.replace("DSA is deprecated", "RSA is deprecated")
    assert unknown_stderr(other) == other


def test_every_entry_has_a_reason_and_a_pytest_filter():
    assert len(pytest_filters()) == len(KNOWN)
    for category, message, module, reason in KNOWN:
        assert category and message and module and len(reason) > 40
