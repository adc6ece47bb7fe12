"""The version recorded in manifests is galaxy.yml's."""
import os

import yaml

from ansible_collections.zkops.zookeeper.plugins.module_utils.common.version import COLLECTION_VERSION

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 5))


def test_matches_galaxy_yml():
    with open(os.path.join(REPO, "galaxy.yml")) as f:
        assert yaml.safe_load(f)["version"] == COLLECTION_VERSION
