# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus' text exposition format (version 0.0.4), as node_exporter's textfile collector
reads it: one ``# HELP`` and one ``# TYPE`` line per metric family, then its samples.

Label values escape backslash, double quote and line feed; help texts escape backslash and
line feed.  Metric and label names must match Prometheus' rules; a bad name raises
ValueError rather than writing a file the collector rejects whole.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("gauge", "counter", "untyped")


def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def escape_help(text):
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


def _labels(labels):
    if not labels:
        return ""
    for name in labels:
        if not LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError("%r is not a valid Prometheus label name" % (name,))
    return "{%s}" % ",".join('%s="%s"' % (k, escape_label(v)) for k, v in sorted(labels.items()))


class Families:
    """Metric families in the order first declared; samples with a None value are left out
    (a fact that is unknown is absent, not zero)."""

    def __init__(self):
        self._order = []
        self._families = {}

    def add(self, name, kind, help_text, value, labels=None):
        if not METRIC_NAME.match(name):
            raise ValueError("%r is not a valid Prometheus metric name" % (name,))
        if kind not in TYPES:
            raise ValueError("%r is not a metric type (%s)" % (kind, ", ".join(TYPES)))
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = {"type": kind, "help": help_text, "samples": []}
            self._order.append(name)
        elif fam["type"] != kind:
            raise ValueError("metric %s declared as %s and %s" % (name, fam["type"], kind))
        if value is not None:
            fam["samples"].append((_labels(labels), format_value(value)))

    def names(self):
        return list(self._order)

    def render(self):
        """The text of the file (families without samples are left out)."""
        out = []
        for name in self._order:
            fam = self._families[name]
            if not fam["samples"]:
                continue
            out.append("# HELP %s %s" % (name, escape_help(fam["help"])))
            out.append("# TYPE %s %s" % (name, fam["type"]))
            out.extend("%s%s %s" % (name, labels, value) for labels, value in fam["samples"])
        return "\n".join(out) + "\n" if out else ""
