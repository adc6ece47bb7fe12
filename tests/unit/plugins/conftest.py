"""Fixtures shared by the tests of the plugins."""
import pytest

import zkfiles as W


@pytest.fixture
def kinds_data_dir(tmp_path):
    """A member's dataDir whose version-2 holds zkfiles.kinds_data_dir(): every kind of znode."""
    v = tmp_path / "data" / "version-2"
    v.mkdir(parents=True)
    W.kinds_data_dir(str(v))
    return str(tmp_path / "data")
