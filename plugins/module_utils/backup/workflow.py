# -*- coding: utf-8 -*-
# Copyright: zkops.zookeeper contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up the ZooKeeper member on this host to backup hosts (the work of zk_backup).

Composes the pieces: the member's configuration and status (formats/zoo_cfg.py, ensemble/member.py), what
to archive (archive/contents.py), the archive stream (archive/tarball.py), the verified push to
every backup host (transport/ssh.py, transport/push.py) and the log-shipping state
(store/ship_state.py).

Hot backups (the server runs) read the member's committed zxid first: the member must
serve, catch up with the highest zxid any member had when the backup started, and the
archive holds nothing above the zxid it had committed then, so an archive never holds a
transaction the ensemble could still drop.  The server must still serve when the
archive has been sent, or the backup is thrown away.  Cold backups (the server is
stopped, for instance by zk_quiesce) take every whole record.

The backup hosts are independent of each other: the backup is stored on every host that
can take it, and a host that cannot (unreachable, full, a copy that does not verify) is
named in ``failed_hosts``; the run fails only when fewer than ``required_hosts`` hold it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath
import threading
import time

from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import tarball as archive_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import contents as backup_source
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import catalog
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import compression
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import authenticity
from ansible_collections.zkops.zookeeper.plugins.module_utils.archive import encryption
from ansible_collections.zkops.zookeeper.plugins.module_utils.ensemble import member as member_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import names
from ansible_collections.zkops.zookeeper.plugins.module_utils.store.names import new_backup_id
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import progress as progress_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import restore_plan
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import reports as run_report
from ansible_collections.zkops.zookeeper.plugins.module_utils.store import ship_state
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import push as ssh_push
from ansible_collections.zkops.zookeeper.plugins.module_utils.transport import ssh as ssh_transport
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import replay
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats import zoo_cfg
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import times
from ansible_collections.zkops.zookeeper.plugins.module_utils.common import zxid as zxid_mod
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.version import COLLECTION_VERSION
from ansible_collections.zkops.zookeeper.plugins.module_utils.formats.jute import FormatError
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.stream_pipe import BackgroundProducer
from ansible_collections.zkops.zookeeper.plugins.module_utils.common.zxid import to_hex as hexzxid

ENSEMBLE_NAME = names.ENSEMBLE
ARCHIVE_SIDECAR = "manifest.json"


class BackupError(Exception):
    def __init__(self, message, **details):
        super(BackupError, self).__init__(message)
        self.details = details


def local_member(params):
    """The member on this host (member.LocalMember) for zk_backup's options, with its
    zoo.cfg read (redacted) for the manifest."""
    try:
        local = member_mod.LocalMember.load(params["config_file"], params.get("server_id"),
                                            params.get("data_dir"), params.get("data_log_dir"),
                                            timeout=params.get("status_timeout") or 5.0)
    except zoo_cfg.ZooCfgError as exc:
        raise BackupError("%s. Set config_file to this member's zoo.cfg" % exc)
    local.read_config_text()
    return local


def client_status(local):
    """The member's status, read at its client port: a hot backup needs one."""
    if local.address is None:
        raise BackupError("%s gives no client port for this member: a hot backup reads its status there"
                          % local.config_file)
    return local.status()


def decide_mode(local, requested):
    """'hot' or 'cold' for ``requested`` (auto, hot, cold); raise when impossible."""
    running = local.running()
    if requested == "auto":
        return "hot" if running else "cold"
    if requested == "cold" and running:
        raise BackupError("the ZooKeeper server of %s is running: a cold backup needs it stopped "
                          "(zkops.zookeeper.zk_quiesce state=quiesced), or use mode hot" % local.config_file)
    if requested == "hot" and not running:
        raise BackupError("no ZooKeeper server runs with %s: a hot backup needs a serving member "
                          "(use mode cold for a stopped one)" % local.config_file)
    return requested


def committed_ceiling(local, catch_up_timeout):
    """(status, ceiling): wait until this member has applied the highest zxid seen at the
    start, then return its applied zxid: nothing above it goes into a hot archive."""
    floor = local.highest_zxid()
    deadline = time.time() + catch_up_timeout
    while True:
        st = client_status(local)
        if not st.get("serving"):
            raise BackupError("the ZooKeeper server on this member does not serve (%s): a hot backup needs "
                              "a serving member; back up another one, or quiesce this one for a cold backup"
                              % (st.get("error") or st.get("mode")))
        z = zxid_mod.from_record(st["zxid"])
        if floor is None or z >= floor:
            return st, z
        if time.time() > deadline:
            raise BackupError("this member stays behind: it applied %s, but a member had %s when the backup "
                              "started (%ss ago); back up a member that is in sync"
                              % (hexzxid(z), hexzxid(floor), catch_up_timeout))
        time.sleep(0.05)


def _source_plan(local, kind, ceiling, after):
    try:
        if kind == "full":
            return backup_source.plan_full(local.data_dir, local.data_log_dir, ceiling)
        return backup_source.plan_logs(local.data_log_dir, after, ceiling)
    except FormatError as exc:
        raise BackupError("the member's data files are unusable: %s" % exc)
    except backup_source.SourceError as exc:
        raise BackupError(str(exc))


def shipped_zxid(session, root, ensemble):
    """The last zxid stored for the ensemble on the host (state file, else the catalog)."""
    edir = posixpath.join(root, ensemble)
    state = ship_state.read(session, edir)
    if state is not None and state.get("last_zxid") is not None:
        return state["last_zxid"]
    backups, _debris = catalog.list_backups(session, root, ensemble)
    return ship_state.from_backups(backups)


def newest_full(session, root, ensemble):
    backups, _debris = catalog.list_backups(session, root, ensemble, kinds=("full",))
    return backups[-1] if backups else None


def deep_digest(plan):
    """Replay the archived files up to the archive's last zxid: znode count and digests."""
    try:
        out, res = replay.replay_summary(plan.snapshot_path, plan.log_paths,
                                         target_zxid=plan.last_zxid)
    except FormatError as exc:
        raise BackupError("the replay of the files to back up failed: %s" % exc)
    if res["last_zxid"] != hexzxid(plan.last_zxid):
        raise BackupError("the replay of the files to back up ended at %s, not at the archive's last zxid %s"
                          % (res["last_zxid"], hexzxid(plan.last_zxid)))
    out["zxid"] = hexzxid(plan.last_zxid)
    return out


def build_manifest(backup_id, params, local, st, mode, plan, digest, created):
    member = {"id": local.me, "address": st.get("address") if st else None,
              "role": st.get("mode") if st else None, "zookeeper_version": st.get("version") if st else None,
              "data_dir": local.data_dir, "data_log_dir": local.data_log_dir}
    return {
        "backup_id": backup_id, "kind": plan.kind, "mode": mode, "ensemble": params["ensemble"],
        "member": member, "created": created, "collection_version": COLLECTION_VERSION,
        "zookeeper_version": member["zookeeper_version"],
        "zxid": plan.zxids(),
        "time_range": {"first": times.iso_ms(plan.first_time), "last": times.iso_ms(plan.last_time),
                       "first_ms": plan.first_time, "last_ms": plan.last_time},
        "epochs": dict(plan.epochs, last_zxid_epoch=zxid_mod.epoch(plan.last_zxid) if plan.last_zxid else None),
        "records": plan.records,
        "zoo_cfg": {"path": local.config_file, "text": local.config_text},
        "digest": digest,
    }


def side_manifest(manifest, section):
    """The manifest stored in clear next to the archive: the archive's manifest with the
    ``archive`` section; when the archive is encrypted, without the zoo.cfg text (even
    redacted, it stays inside the encrypted archive only)."""
    side = dict(manifest, archive=section)
    if section.get("encryption") and isinstance(side.get("zoo_cfg"), dict):
        side["zoo_cfg"] = dict(side["zoo_cfg"], text=None)
    return side


class _Background:
    """Call ``fn(*args)`` in a thread; ``result()`` waits and returns (or raises) its outcome."""

    def __init__(self, fn, *args):
        self._out = self._exc = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="zkops-background")
        self._thread.daemon = True
        self._thread.start()

    def _run(self, fn, args):
        try:
            self._out = fn(*args)
        except BaseException as exc:  # handed to result()
            self._exc = exc

    def result(self, raise_error=True):
        self._thread.join()
        if self._exc is not None and raise_error:
            raise self._exc
        return self._out


class _Phases:
    """Seconds spent in each phase, for the result."""

    def __init__(self):
        self.seconds = {}
        self._t = time.time()

    def done(self, name):
        now = time.time()
        self.seconds[name] = round(now - self._t, 3)
        self._t = now


class _Throttle:
    def __init__(self, rate):
        self.rate = rate
        self.start = time.time()
        self.sent = 0

    def __call__(self, n):
        if not self.rate:
            return
        self.sent += n
        ahead = self.sent / float(self.rate) - (time.time() - self.start)
        if ahead > 0:
            time.sleep(ahead)


def stream_archive(push, plan, manifest, codec, level, key, rate, threads=0, check=None, check_every=2.0,
                   progress=None, recipients=()):
    """Stream the archive to every host of ``push``; return (archive section, final manifest).

    ``key`` (a symmetric key) and ``recipients`` (encryption.Recipient) encrypt the archive,
    its header bound to the backup id, ensemble, kind and zxids of ``manifest``.

    ``check`` (a callable that raises) runs every ``check_every`` seconds while sending.
    ``progress`` (a progress.Tracker) counts the member's bytes sent (in the archive's
    compressed form in ``sent``).
    """
    name = archive_mod.archive_name(codec, key is not None or bool(recipients))
    context = {"backup_id": manifest["backup_id"], "ensemble": manifest["ensemble"], "kind": manifest["kind"],
               "zxid": manifest.get("zxid")}
    out = push.open(name, bulk=True)
    throttle = _Throttle(rate)
    box = {}
    next_check = time.time() + check_every
    sent = 0

    def produce(write):
        encoder = archive_mod.Encoder(write, codec, level, key, threads, recipients=recipients, context=context)
        box["encoder"] = encoder
        writer = archive_mod.ArchiveWriter(encoder)
        for m in plan.entries:
            writer.add(m.name, m.parts, meta=m.meta)
        box["manifest"] = writer.finish(manifest)

    with BackgroundProducer(produce) as producer:
        for chunk in producer:
            out.write(chunk)
            throttle(len(chunk))
            sent += len(chunk)
            if progress is not None:
                # The member's bytes that went out so far: the producer reads ahead.
                enc = box["encoder"]
                progress.update(done=int(enc.raw_bytes * sent / enc.out_bytes) if enc.out_bytes else 0,
                                sent="%.1f MB" % (sent / 1e6))
            if check is not None and time.time() >= next_check:
                check()
                next_check = time.time() + check_every
    sha = out.close()
    enc = box["encoder"]
    section = {"file": name, "bytes": out.size, "sha256": sha, "compression": codec,
               "raw_bytes": enc.raw_bytes,
               "encryption": enc.encryption}
    return section, box["manifest"]


def run(params, check_mode=False, warnings=None):
    """Take the backup; returns the module result (raises BackupError).

    With ``progress_file`` in ``params`` the stages and the bytes sent are written there
    while it runs (common/progress.py)."""
    tracker = progress_mod.Tracker(params.get("progress_file"), "%s backup" % params["kind"])
    try:
        return _run(params, check_mode, warnings, tracker)
    except BaseException:
        tracker.close(ok=False)
        raise


def _run(params, check_mode, warnings, tracker):
    t0 = time.time()
    warnings = warnings if warnings is not None else []
    ensemble, root = params["ensemble"], params["backup_root"]
    codec, key, recipients, signing_key = _parse_options(params, warnings)
    local = local_member(params)
    mode = decide_mode(local, params["mode"])

    failed_hosts = []
    push = None
    required = _required_hosts(params)
    phases = _Phases()
    tracker.stage("connect and plan")
    # Each host's SFTP server starts while the member's files are planned, not after.
    connecting = _Background(ssh_transport.connect_each, params, params["backup_hosts"], warnings, True)
    try:
        params, st, plan, after, sessions = _plan_backup(params, local, mode, connecting, failed_hosts, required,
                                                         phases, warnings)
        kind = params["kind"]
        result = _base_result(params, local, st, mode, plan, codec, key is not None or bool(recipients), sessions)
        result["phases"] = phases.seconds
        result["failed_hosts"] = failed_hosts
        result["required_hosts"] = required
        if _settled_without_sending(result, params, sessions, plan, after, check_mode):
            return _finish(result, t0, tracker)

        digest = None
        if params.get("deep") and kind == "full":
            tracker.stage("replay for the tree digest")
            digest = deep_digest(plan)
        phases.done("deep")
        backup_id = new_backup_id(kind)
        created = times.iso(time.time())
        manifest = build_manifest(backup_id, params, local, st, mode, plan, digest, created)
        push = ssh_push.Push(sessions, root, [ensemble], backup_id, sync=params.get("sync", True),
                             required=required, failed=failed_hosts,
                             fallback=params.get("transfer_client") != "openssh").begin()
        section, sidecar = _send(push, params, local, mode, plan, manifest, codec, key, recipients, signing_key,
                                 tracker, phases)
        warnings.extend(push.notes)
        destinations = push.commit()
        failed_hosts = push.failed
        push = None
        phases.done("verify")
        _record_stored(sessions, params, plan, backup_id, destinations, failed_hosts, section, warnings)
        result.update(changed=True, skipped=False, backup_id=backup_id, created=created,
                      destinations=destinations, archive=section, bytes_sent=section["bytes"],
                      authentication=[{"scheme": a["scheme"], "key_id": a["key_id"]}
                                      for a in sidecar.get(authenticity.FIELD) or []],
                      digest=digest, failed_hosts=failed_hosts)
        return _finish(result, t0, tracker)
    except ssh_push.TooFewHosts as exc:
        raise BackupError(too_few_message(exc), host=exc.host, failed_hosts=exc.failed, leftovers=_abort(push),
                          retry_elsewhere=False, complete_copies=exc.complete)
    except ssh_transport.SshError as exc:
        raise BackupError(str(exc), host=exc.host, leftovers=_abort(push), failed_hosts=failed_hosts)
    except archive_mod.ArchiveError as exc:
        raise BackupError("reading the member's files failed: %s" % exc, leftovers=_abort(push))
    except BackupError as exc:
        exc.details.setdefault("leftovers", _abort(push))
        exc.details.setdefault("failed_hosts", failed_hosts)
        raise
    except BaseException:
        _abort(push)
        raise
    finally:
        ssh_transport.close_all((connecting.result(raise_error=False) or ([], []))[0])


def _parse_options(params, warnings):
    """Check the ensemble's name and read the compression, the keys and the recipients:
    (codec, key, recipients, signing_key)."""
    ensemble, kind = params["ensemble"], params["kind"]
    if not ENSEMBLE_NAME.match(ensemble or ""):
        raise BackupError("ensemble %r is not a valid name (letters, digits, '.', '_', '-'; not starting with "
                          "'.' or '-')" % ensemble)
    try:
        codec = compression.resolve(params["compression"])
        key = encryption.parse_key(params["encryption_key"]) if params.get("encryption_key") else None
        recipients = encryption.parse_recipients(params.get("encryption_recipients"))
        signing_key = authenticity.parse_signing_key(params["signing_key"]) if params.get("signing_key") else None
    except (compression.CompressionError, encryption.EncryptionError, authenticity.AuthenticityError) as exc:
        raise BackupError(str(exc))
    if kind == "logs" and params.get("deep"):
        warnings.append("deep is ignored for kind logs (a log chunk has no snapshot to replay)")
    return codec, key, recipients, signing_key


def _plan_backup(params, local, mode, connecting, failed_hosts, required, phases, warnings):
    """The member's status, the files to send and the sessions to the backup hosts that
    take them: (params, st, plan, after, sessions).  A log chunk that would continue a
    history a restore undid turns the run into a full backup (``params["kind"]``)."""
    ensemble, kind, root = params["ensemble"], params["kind"], params["backup_root"]
    # The connections (and their host key checks) are made while the member's files are
    # planned: nothing is sent before every host key checked out.
    st, ceiling = (committed_ceiling(local, params["catch_up_timeout"]) if mode == "hot" else (None, None))
    phases.done("status")
    after = None
    if kind == "logs":
        sessions = _reached(connecting, failed_hosts, required, params)
        fork = _fork_since_full(sessions, root, ensemble)
        if fork is not None:
            # Logs shipped now would continue a history that restore undid.
            kind = "full"
            params = dict(params, kind=kind)
            warnings.append("restore %s (finished %s) took the ensemble back to %s after the newest full "
                            "backup: log chunks shipped now could not be restored without a full backup "
                            "taken after it, so this run takes a full backup" % (
                                fork["restore_id"], fork["finished"], hexzxid(fork["zxid"])))
        else:
            after = _common_shipped(sessions, root, ensemble, failed_hosts, required, params)
    plan = _source_plan(local, kind, ceiling, after)
    phases.done("plan")
    if kind != "logs":
        sessions = _reached(connecting, failed_hosts, required, params)
    phases.done("connect")
    warnings.extend(plan.warnings)
    return params, st, plan, after, sessions


def _settled_without_sending(result, params, sessions, plan, after, check_mode):
    """True when the run ends here with ``result`` completed: nothing to ship, the newest
    full backup already holds the last zxid, or check mode."""
    ensemble, kind, root = params["ensemble"], params["kind"], params["backup_root"]
    if plan.empty:
        result.update(changed=False, skipped=True, reason="no transaction after %s to ship" % hexzxid(after))
        return True
    if kind == "full" and not params.get("force"):
        same = _unchanged_full(sessions, root, ensemble, plan.last_zxid)
        if same is not None:
            for d in result["destinations"]:
                d["path"] = posixpath.join(root, ensemble, same)
            result.update(changed=False, skipped=True, backup_id=same,
                          reason="the newest full backup %s on every backup host already holds the last "
                                 "zxid %s (force: true takes another)" % (same, hexzxid(plan.last_zxid)))
            return True
    if check_mode:
        result.update(changed=True, skipped=False)
        return True
    return False


def _send(push, params, local, mode, plan, manifest, codec, key, recipients, signing_key, tracker, phases):
    """Stream the archive and put its side manifest into ``push`` (begun, not committed):
    (the archive's section of the manifest, the side manifest)."""
    alive = (lambda: _still_serving(local)) if mode == "hot" else None
    tracker.stage("send", total=plan.raw_bytes, unit="bytes")
    section, manifest = stream_archive(push, plan, manifest, codec, params.get("compression_level"), key,
                                       params.get("bandwidth_limit"), params.get("compression_threads", 1),
                                       check=alive, progress=tracker, recipients=recipients)
    phases.done("stream")
    tracker.stage("verify on the backup hosts")
    if mode == "hot":
        _still_serving(local)
    # The side manifest is what restores plan with: a MAC with the key and a signature
    # with the signing key make it (and through the archive's SHA-256, the archive)
    # impossible to change or forge on the backup host.
    sidecar = authenticity.authenticate(side_manifest(manifest, section), key, signing_key)
    push.put(ARCHIVE_SIDECAR, archive_mod.manifest_bytes(sidecar))
    return section, sidecar


def _record_stored(sessions, params, plan, backup_id, destinations, failed_hosts, section, warnings):
    """After the commit: advance the log-shipping state on the hosts that hold the backup,
    warn of the others, and give each destination the archive's SHA-256."""
    ensemble, root = params["ensemble"], params["backup_root"]
    stored = set(d["host"] for d in destinations)
    _advance_state([s for s in sessions if s.label in stored], root, ensemble, plan.last_zxid, backup_id,
                   warnings)
    for f in failed_hosts:
        warnings.append("backup host %s does not hold backup %s: %s" % (f["host"], backup_id, f["reason"]))
    for d in destinations:
        d["sha256"] = d["sha256"][section["file"]]


def _required_hosts(params):
    """How many backup hosts must hold the backup (0 or none given: every one)."""
    n = int(params.get("required_hosts") or 0)
    total = len(params["backup_hosts"])
    if n < 0 or n > total:
        raise BackupError("required_hosts is %d, but %d backup hosts are given: give a number from 1 to %d, "
                          "or 0 for all of them" % (n, total, total))
    return n or total


def _reached(connecting, failed_hosts, required, params):
    """The sessions to the backup hosts that could be reached; the others join
    ``failed_hosts``.  Raise when fewer than ``required`` are left."""
    sessions, failures = connecting.result()
    failed_hosts.extend(failures)
    try:
        _enough(sessions, failed_hosts, required, params)
    except BackupError as exc:
        # Hosts this member could not reach or log in to (its network, its known_hosts, its
        # key) may answer another member: let the next one try.
        exc.details["retry_elsewhere"] = True
        raise
    return sessions


def _enough(sessions, failed_hosts, required, params):
    if len(sessions) >= required and sessions:
        return
    raise BackupError("nothing was stored: only %d of %d backup hosts can take the backup, %d required (%s). "
                      "Bring the hosts named back, or lower required_hosts"
                      % (len(sessions), len(params["backup_hosts"]), required,
                         ssh_push.describe_failures(failed_hosts)), failed_hosts=failed_hosts,
                      retry_elsewhere=False)


def too_few_message(exc):
    """The error of a backup that too few backup hosts stored (``exc``: TooFewHosts), naming
    the complete copies that could not be taken back, if any."""
    if exc.complete:
        left = ("complete, verified copies stay only at %s (the log-shipping state was not advanced; "
                "delete them or keep them as a backup)"
                % ", ".join("%s:%s" % (c["host"], c["path"]) for c in exc.complete))
    else:
        left = "no copy that looks complete was left where the push failed"
    return ("the backup was not stored on enough backup hosts: %s. Free space on or repair the hosts named, "
            "or lower required_hosts; %s" % (exc.reason, left))


def _abort(push):
    if push is None:
        return []
    return push.abort()


def _fork_since_full(sessions, root, ensemble):
    """A restore of the whole ensemble recorded on a backup host after its newest full
    backup (restore_plan.fork_since), else None."""
    for s in sessions:
        forks = run_report.forks(s, root, ensemble)
        # The catalog of full backups is read only when a restore was recorded.
        fork = restore_plan.fork_since(forks, newest_full(s, root, ensemble)) if forks else None
        if fork is not None:
            return fork
    return None


def _common_shipped(sessions, root, ensemble, failed_hosts, required, params):
    """The lowest zxid shipped to the hosts (the chunk starts after it).  A host that holds
    no backup of the ensemble yet cannot continue a chain: it is left out (failed_hosts)."""
    after = None
    for s in list(sessions):
        z = shipped_zxid(s, root, ensemble)
        if z is None:
            sessions.remove(s)
            s.close()
            failed_hosts.append({"host": s.label, "reason": "holds no backup of ensemble %s yet: take a full "
                                                            "backup first (kind full), which starts the chain "
                                                            "that shipped logs continue" % ensemble})
            continue
        after = z if after is None else min(after, z)
    if not sessions:
        raise BackupError("no backup host holds a backup of ensemble %s yet: take a full backup first (kind "
                          "full), which starts the chain that shipped logs continue" % ensemble,
                          failed_hosts=failed_hosts)
    _enough(sessions, failed_hosts, required, params)
    return after


def _unchanged_full(sessions, root, ensemble, last_zxid):
    """The id of the newest full backup when it is the same on every host and holds
    ``last_zxid``; else None."""
    ids = set()
    for s in sessions:
        b = newest_full(s, root, ensemble)
        if b is None or zxid_mod.from_record(b["zxid"].get("last")) != last_zxid:
            return None
        ids.add(b["id"])
    return ids.pop() if len(ids) == 1 else None


def _still_serving(local):
    st = client_status(local)
    if not st.get("serving"):
        raise BackupError("the ZooKeeper server on this member stopped serving during the backup (%s); the "
                          "backup was thrown away: take it again, from another member if this one stays down"
                          % (st.get("error") or st.get("mode")))


def _advance_state(sessions, root, ensemble, last_zxid, backup_id, warnings):
    for s in sessions:
        try:
            ship_state.write(s, posixpath.join(root, ensemble), ensemble, last_zxid, backup_id)
        except ssh_transport.SshError as exc:
            warnings.append("%s; the next log shipment to it repeats some transactions" % exc)


def _base_result(params, local, st, mode, plan, codec, encrypted, sessions):
    root, ensemble = params["backup_root"], params["ensemble"]
    return {
        "backup_id": None, "kind": plan.kind, "mode": mode, "ensemble": ensemble,
        "member": {"id": local.me, "role": st.get("mode") if st else None,
                   "address": st.get("address") if st else None,
                   "zookeeper_version": st.get("version") if st else None},
        "zxid": plan.zxids(),
        "time_range": {"first": times.iso_ms(plan.first_time), "last": times.iso_ms(plan.last_time)},
        "epochs": dict(plan.epochs),
        "files": [dict(m.meta, path=m.name, size=m.size) for m in plan.entries],
        "records": plan.records,
        "bytes_raw": plan.raw_bytes, "bytes_apparent": plan.apparent_bytes,
        "bytes_allocated": plan.allocated_bytes, "bytes_sent": 0,
        "compression": codec, "encrypted": encrypted,
        "destinations": [{"host": s.label, "path": posixpath.join(root, ensemble, "<backup id>"),
                          "verified": False} for s in sessions],
        "archive": None, "digest": None,
    }


def _finish(result, t0, tracker):
    tracker.close()
    result["stages"] = tracker.summary()
    result["duration"] = round(time.time() - t0, 3)
    raw = result.get("bytes_raw") or 0
    result["throughput"] = int(raw / result["duration"]) if result["duration"] > 0 and result.get("bytes_sent") else 0
    return result
