"""The sample alerting rules (extras/prometheus): the structure Prometheus loads, and only
metrics that the health check writes (store/health.py METRICS)."""
import os
import re

import yaml

from lab.ansible import REPO

from ansible_collections.zkops.zookeeper.plugins.module_utils.store import health

RULES = os.path.join(REPO, "extras", "prometheus", "zookeeper-backup.rules.yml")
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
LABELS = {"ensemble", "backup_host", "severity"}


def load():
    with open(RULES) as f:
        return yaml.safe_load(f)


def test_the_rules_file_has_the_structure_prometheus_loads():
    doc = load()
    assert list(doc) == ["groups"]
    names = set()
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", rule["alert"]) and rule["alert"] not in names
            names.add(rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].count("(") == rule["expr"].count(")")
            if "for" in rule:
                assert DURATION.match(rule["for"]), rule
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            # Templates name only labels the metrics carry.
            for text in rule["annotations"].values():
                assert set(re.findall(r"\$labels\.(\w+)", text)) <= LABELS, text
    assert len(names) >= 8


def test_every_metric_the_rules_name_is_one_the_check_writes():
    declared = {name for name, _kind, _help in health.METRICS}
    used = set()
    for group in load()["groups"]:
        for rule in group["rules"]:
            used.update(re.findall(r"\bzookeeper_backup_\w+", rule["expr"]))
    assert used and used <= declared, used - declared
    # Every kind of problem the check finds has a rule.
    for name in ("zookeeper_backup_host_up", "zookeeper_backup_full_last_verified_timestamp_seconds",
                 "zookeeper_backup_newest_verified", "zookeeper_backup_ship_lag_seconds",
                 "zookeeper_backup_filesystem_used_ratio", "zookeeper_backup_restore_last_success",
                 "zookeeper_backup_restore_last_timestamp_seconds", "zookeeper_backup_check_timestamp_seconds"):
        assert name in used, name
