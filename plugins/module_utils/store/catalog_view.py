# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an operator reads of the catalogs of several backup hosts: one entry per host (what
zk_backup_catalog returned for one ensemble, or why the host could not be read) and a line
that sums it up.  Pure functions of the module's results; nothing is read here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# What an entry keeps of a zk_backup_catalog result.
KEYS = ("backups", "restores", "debris", "unknown", "unverified", "unauthenticated")


class CatalogViewError(ValueError):
    pass


def entry(result, ensemble):
    """One backup host's entry from the registered result of zk_backup_catalog (a loop item:
    ``item`` is the host's inventory name)."""
    if not isinstance(result, dict):
        raise CatalogViewError("expected the registered result of zk_backup_catalog, got %r" % (result,))
    args = (result.get("invocation") or {}).get("module_args") or {}
    out = {"address": args.get("backup_host"), "reachable": False, "error": None}
    # The loop sets failed_when to false, which clears ``failed``: a result that lacks what the
    # module always returns is a host that was not read.
    if result.get("failed") or result.get("unreachable") or result.get("skipped") or not isinstance(
            result.get("backups"), list):
        out["error"] = str(result.get("msg") or "the backup host could not be read")
        return out
    out["reachable"] = True
    for key in KEYS:
        out[key] = list(result.get(key) or [])
    out["log_shipping"] = (result.get("log_shipping") or {}).get(ensemble)
    return out


def _plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def summary(host, e):
    """One line for a backup host's entry."""
    if not e.get("reachable"):
        return "%s: unreachable: %s" % (host, e.get("error"))
    backups = e.get("backups") or []
    full = [b for b in backups if b.get("kind") == "full"]
    logs = [b for b in backups if b.get("kind") == "logs"]
    parts = []
    if full:
        newest = full[-1]
        parts.append("%s, the newest %s (%s, last zxid %s%s)" % (
            _plural(len(full), "full backup"), newest.get("id"), newest.get("created"),
            (newest.get("zxid") or {}).get("last"),
            {True: ", verified", False: ", FAILS VERIFICATION", None: ""}[newest.get("verified")]))
    else:
        parts.append("no full backup")
    parts.append(_plural(len(logs), "shipped log chunk"))
    shipping = e.get("log_shipping")
    if shipping:
        parts.append("logs shipped up to %s at %s" % (shipping.get("last_zxid"), shipping.get("updated")))
    restores = e.get("restores") or []
    if restores:
        last = restores[-1]
        parts.append("%s, the newest %s: %s" % (_plural(len(restores), "restore report"), last.get("written"),
                                                last.get("result")))
    else:
        parts.append("no restore report")
    if e.get("unverified"):
        parts.append("failing verification: %s" % ", ".join(e["unverified"]))
    if e.get("unauthenticated"):
        parts.append("not authenticated by the keys: %s" % ", ".join(e["unauthenticated"]))
    if e.get("debris"):
        parts.append(_plural(len(e["debris"]), "leftover") + " of interrupted runs")
    if e.get("unknown"):
        parts.append(_plural(len(e["unknown"]), "unknown directory"))
    return "%s: %s" % (host, "; ".join(parts))


def by_host(results, ensemble):
    """{host: entry} of a zk_backup_catalog loop's ``results``, each entry with its
    ``summary`` line, in the order of the loop."""
    if not isinstance(results, (list, tuple)):
        raise CatalogViewError("expected the results of a loop of zk_backup_catalog, got %r" % (results,))
    out = {}
    for result in results:
        host = result.get("item") if isinstance(result, dict) else None
        if not isinstance(host, str) or not host:
            raise CatalogViewError("a result without the backup host's name as its item: %r" % (result,))
        e = entry(result, ensemble)
        e["summary"] = summary(host, e)
        out[host] = e
    return out
