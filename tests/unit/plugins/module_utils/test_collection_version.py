"""The version recorded in manifests is galaxy.yml's."""
import os

import yaml

from ansible_collections.zkops.zookeeper.plugins.module_utils.collection_version import COLLECTION_VERSION

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def test_matches_galaxy_yml():
    with open(os.path.join(REPO, "galaxy.yml")) as f:
        assert yaml.safe_load(f)["version"] == COLLECTION_VERSION
