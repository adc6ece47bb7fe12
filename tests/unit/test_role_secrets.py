"""Every role option that holds a secret is no_log, so that the argument validation never shows it."""
import os
import re

import pytest
import yaml

from lab.ansible import REPO

ROLES = sorted(os.listdir(os.path.join(REPO, "roles")))
# Names of options that carry secrets; a path to a file holding one (..._file) is not one.
SECRET = re.compile(r"(key|password|passphrase|auth|secret|credential|token|identities)$")


def options(role):
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")) as f:
        spec = yaml.safe_load(f)
    for entry in spec["argument_specs"].values():
        for name, opt in entry.get("options", {}).items():
            yield name, opt


@pytest.mark.parametrize("role", ROLES)
def test_secret_options_are_no_log(role):
    secrets = [(name, opt) for name, opt in options(role) if SECRET.search(name)]
    assert all(opt.get("no_log") is True for _name, opt in secrets), \
        [name for name, opt in secrets if opt.get("no_log") is not True]


def test_the_known_secrets_are_covered():
    names = {name for role in ROLES for name, _opt in options(role) if SECRET.search(name)}
    assert {"zookeeper_backup_encryption_key", "zookeeper_auth", "zookeeper_tls_key_password",
            "zookeeper_backup_ssh_private_key", "zookeeper_backup_ssh_private_key_passphrase",
            "zookeeper_backup_identities"} <= names
