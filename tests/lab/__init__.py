"""The test lab: real ZooKeeper hosts in network namespaces on one machine."""
from .lab import Host, Lab, LabError, four_letter, labs, parse_srvr, reap_stale  # noqa: F401
