"""libraries: which third-party libraries a host can import, and the packages that give them."""
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import libraries as L


def test_a_library_that_does_not_import_is_named_with_its_packages():
    def importer(name):
        if name.startswith("kazoo"):
            raise ImportError("No module named 'kazoo'")
        if name.startswith("lz4"):
            raise OSError("broken shared object")
        return __import__("json")

    present, missing = L.probe(["kazoo", "paramiko", "lz4"], importer=importer)
    assert list(present) == ["paramiko"]
    assert [m["library"] for m in missing] == ["kazoo", "lz4"]
    assert missing[0]["debian"] == "python3-kazoo" and missing[0]["el"] == "python3-kazoo"
    assert missing[0]["pip"] == "kazoo" and "No module named" in missing[0]["error"]
    assert missing[1]["error"].startswith("OSError")


def test_the_module_imported_is_the_one_the_modules_use():
    def importer(name):
        raise ImportError("gone: %s" % name)

    present, missing = L.probe(["kazoo"], importer=importer)
    assert present == {} and missing[0]["module"] == "kazoo.client"
    assert missing[0]["error"] == "ImportError: gone: kazoo.client"


def test_what_a_host_needs():
    assert L.needed() == ["kazoo", "paramiko"]
    assert L.needed(kazoo=False, encrypted=True, compressions=["zstd", "gzip", "zstd", "lz4"]) == [
        "paramiko", "cryptography", "zstandard", "lz4"]
