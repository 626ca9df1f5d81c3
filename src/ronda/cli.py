"""The ``ronda`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ronda import __version__
from ronda.config import ConfigError

log = logging.getLogger("ronda")


class CliError(Exception):
    """A problem to report in one line, exit code 2 (or the given one)."""

    def __init__(self, msg: str, code: int = 2) -> None:
        super().__init__(msg)
        self.code = code


def _whole_number(low: int, high: int, what: str, out_of_range: str) -> Callable[[str], int]:
    """An argument type: a whole number from ``low`` to ``high``, refused in one line otherwise."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(out_of_range)
        return v

    return parse


_port = _whole_number(1, 65535, "a port number", "port must be between 1 and 65535")
_count = _whole_number(0, 512, "a whole number", "must be between 0 and 512")


def _roles(text: str) -> frozenset[str]:
    from ronda.cluster.roles import RoleError, parse_roles

    try:
        return frozenset(parse_roles(text))
    except RoleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data-dir", type=Path, help="data directory (default ./ronda-data)")
    g.add_argument("--config", type=Path, help="configuration file (YAML)")


_Commands = argparse._SubParsersAction  # what add_subparsers returns


def _actions(sub: _Commands[argparse.ArgumentParser], name: str, help: str) -> _Commands[argparse.ArgumentParser]:
    """A command made of actions (``ronda db upgrade``): its actions, one of which must be given; the
    action chosen is in ``args.<name>_command``."""
    actions = sub.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ronda", description="Ronda video management system")
    p.add_argument("--version", action="version", version=f"ronda {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser("demo", help="simulated cameras + the whole system on embedded defaults")
    d.add_argument("--cameras", type=_count, default=4, help="number of simulated cameras (default 4)")
    d.add_argument("--data-dir", type=Path, default=Path("./ronda-data"), help="data directory")
    d.add_argument("--http-port", type=_port, default=8080, help="API/web port (default 8080)")
    d.add_argument("--rtsp-port", type=_port, default=None, help="simulator RTSP port (default: a free port)")
    d.add_argument("--admin-password", default=None, help="password of the demo accounts (default: generated)")
    d.add_argument("--no-dome", action="store_true",
                   help="simulated camera 1 is a fixed camera (default: a PTZ dome, added by ONVIF)")  # fmt: skip
    d.add_argument("--clip", action="append", default=[], metavar="K=FILE",
                   help="camera K shows the video FILE, looped (repeatable; on camera 1: no dome)")  # fmt: skip

    s = sub.add_parser("sim", help="serve simulated RTSP cameras until stopped")
    s.add_argument("--cameras", type=_count, required=True, help="number of cameras")
    s.add_argument("--rtsp-port", type=_port, default=8554, help="RTSP port (default 8554)")
    s.add_argument("--control-port", type=_port, default=None, help="HTTP control port for tests")
    s.add_argument("--cache", type=Path, default=None, help="folder of pre-encoded clips")
    s.add_argument(
        "--onvif-port",
        type=_port,
        default=None,
        help="serve ONVIF: camera K at http://127.0.0.1:PORT/onvif/K/device_service",
    )
    s.add_argument("--discovery-port", type=int, default=3702, help="WS-Discovery UDP port (default 3702, 0: off)")
    s.add_argument("--no-dome", action="store_true", help="camera 1 is a fixed camera, not the PTZ dome")
    s.add_argument("--clip", action="append", default=[], metavar="K=FILE",
                   help="camera K serves the video file FILE, looped (re-encoded once; repeatable)")  # fmt: skip

    sv = sub.add_parser("serve", help="the production entry point")
    sv.add_argument("--config", type=Path, required=True, help="configuration file (YAML)")
    sv.add_argument(
        "--role",
        type=_roles,
        default="all",
        help="what this process does: all (the single box, default), or recorder, api, events, analytics "
        "(comma-separated for several); see docs/cluster.md",
    )

    dbs = _actions(sub, "db", "database maintenance")
    _data_args(dbs.add_parser("upgrade", help="apply database migrations"))
    _data_args(dbs.add_parser("current", help="show the schema revision"))

    sts = _actions(sub, "storage", "recording storage")
    ini = sts.add_parser("init", help="mark a folder (a mounted disk) as a recording volume")
    ini.add_argument("path", type=Path)
    rx = sts.add_parser(
        "reindex",
        help="index complete segment files the catalog does not know (left by a crash); safe while recording",
    )
    rx.add_argument("--camera", type=int, action="append", help="camera id (repeatable; default all)")
    _data_args(rx)

    ex = sub.add_parser("export", help="write a signed evidence package of recorded video")
    ex.add_argument("--camera", type=int, action="append", required=True, help="camera id (repeatable)")
    ex.add_argument("--start", required=True, help="ISO 8601 time, e.g. 2026-05-26T10:00:00Z")
    ex.add_argument("--end", required=True, help="ISO 8601 time")
    ex.add_argument("--out", type=Path, required=True, help="package to write (.zip)")
    ex.add_argument("--reason", default="", help="why the footage is exported")
    ex.add_argument("--case", default="", help="case or fine reference")
    ex.add_argument("--stream", choices=["main", "sub"], default="main")
    _data_args(ex)

    vf = sub.add_parser("verify", help="check an evidence package (offline)")
    vf.add_argument("file", type=Path)
    vf.add_argument("--pubkey", type=Path, help="the site's published public key (PEM)")

    kys = _actions(sub, "keys", "site keys")
    _data_args(kys.add_parser("public", help="print the evidence signing public key and its fingerprint"))

    fds = _actions(sub, "federation", "federation of sites (docs/cluster.md)")
    _data_args(fds.add_parser("key", help="print this site's federation public key (for the other end)"))
    fp = fds.add_parser("add-peer", help="(at a remote site) trust a central site and grant it camera groups")
    fp.add_argument("name", help="the central site's name (its site.name)")
    fp.add_argument("--public-key", required=True, help="its key (ronda federation key, there)")
    fp.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="GROUP=RIGHTS",
        help="a camera group of this site and rights among live,playback,export,alarms (repeatable)",
    )
    _data_args(fp)
    fs = fds.add_parser("add-site", help="(at a centre) register a remote site")
    fs.add_argument("name", help="the remote site's name")
    fs.add_argument("--url", required=True, help="its base URL, http(s)://host:port")
    fs.add_argument("--public-key", required=True, help="its key (ronda federation key, there)")
    fs.add_argument(
        "--access",
        action="append",
        default=[],
        metavar="GROUP=ROLES",
        help="a camera group of the remote site and the roles of this site that may use it (repeatable)",
    )
    _data_args(fs)

    uss = _actions(sub, "user", "user accounts")
    ua = uss.add_parser("add", help="create a user (password from stdin or RONDA_PASSWORD)")
    ua.add_argument("username")
    ua.add_argument("--role", action="append", required=True, help="role name (repeatable), e.g. administrator")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _data_args(ua)

    cms = _actions(sub, "camera", "cameras")
    ca = cms.add_parser(
        "add",
        help="add a camera by ONVIF: its streams, PTZ and identity are read from the device "
        "(password from stdin or RONDA_CAMERA_PASSWORD, never an argument)",
    )
    ca.add_argument("--onvif", required=True, metavar="HOST", help="HOST[:PORT] or the device service URL")
    ca.add_argument("--name", help="camera name (default: the device's manufacturer and model)")
    ca.add_argument("--username", help="the device's user (ONVIF and RTSP)")
    ca.add_argument("--password-stdin", action="store_true", help="read the device's password from standard input")
    ca.add_argument("--group", type=int, default=None, help="camera group id to add it to")
    _data_args(ca)

    nd = sub.add_parser("nodes", help="the nodes of the site (every role) and whether each is up, down or stopped")
    nd.add_argument("--json", action="store_true", help="one JSON array (as GET /api/v1/nodes)")
    _data_args(nd)

    aus = _actions(sub, "audit", "the tamper-evident audit log")
    _data_args(aus.add_parser("verify", help="check the audit chain; exit 1 naming the first broken entry"))

    bk = sub.add_parser("backup", help="back up configuration, database and keys (not video)")
    bk.add_argument("--out", type=Path, required=True, help="backup file to write (.zip)")
    _data_args(bk)
    rs = sub.add_parser("restore", help="restore a backup into a new data directory")
    rs.add_argument("file", type=Path)
    rs.add_argument("--data-dir", type=Path, required=True, help="the new data directory")

    cvs = _actions(sub, "config", "configuration")
    chk = cvs.add_parser("check", help="validate a configuration file")
    chk.add_argument("file", type=Path)

    from ronda.analytics.plates import cli as lpr_cli  # light: the OCR loads only when a command runs

    lpr_cli.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # Everything Ronda writes (database, keys, recordings, exports, backups) and every child it starts
    # (ffmpeg writes the recordings) is for the service account only: owner-only files and folders.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as e:
        print(f"ronda: {e}", file=sys.stderr)
        return 2
    except CliError as e:
        print(f"ronda: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from ronda.logs import setup_logging

    cmd = args.command
    if cmd == "sim":
        from ronda.devices import simulator

        setup_logging()
        argv = ["--cameras", str(args.cameras), "--rtsp-port", str(args.rtsp_port)]
        if args.control_port:
            argv += ["--control-port", str(args.control_port)]
        if args.cache:
            argv += ["--cache", str(args.cache)]
        if args.onvif_port:
            argv += ["--onvif-port", str(args.onvif_port), "--discovery-port", str(args.discovery_port)]
        if args.no_dome:
            argv.append("--no-dome")
        for item in args.clip:
            argv += ["--clip", item]
        return simulator.main(argv)
    if cmd == "demo":
        from ronda.demo import run_demo

        return run_demo(args)
    if cmd == "serve":
        from ronda import runtime
        from ronda.config import load_config
        from ronda.store.db import SchemaMismatch

        cfg = load_config(args.config)
        setup_logging(cfg.log_level, cfg.log_format)
        try:
            ctx = runtime.build(cfg, migrate=False, roles=args.role)
        except SchemaMismatch as e:
            raise CliError(str(e)) from None
        runtime.run(ctx)
        return 0
    if cmd == "db":
        from ronda import runtime
        from ronda.store.db import Database, current_revision, head_revision

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        runtime.private_data_dir(cfg.data_dir)
        database = Database(cfg.database_url)
        if args.db_command == "upgrade":
            database.upgrade()
            print(f"database at revision {current_revision(database.engine)}")
        else:
            print(f"database at revision {current_revision(database.engine)} (this Ronda: {head_revision()})")
        database.dispose()
        return 0
    if cmd == "storage" and args.storage_command == "reindex":
        return _reindex(args)
    if cmd == "storage":
        from ronda.recording.volume import init_volume

        vid = init_volume(args.path)
        print(f"{args.path} is recording volume {vid}")
        return 0
    if cmd == "export":
        return _export(args)
    if cmd == "lpr":
        from ronda.analytics.plates import cli as lpr_cli

        return lpr_cli.run(args)
    if cmd == "verify":
        from ronda.media.evidence import verify_package

        pub = None
        if args.pubkey is not None:
            try:
                pub = args.pubkey.read_bytes()
            except OSError as e:
                raise CliError(f"cannot read {args.pubkey}: {e.strerror}") from None
        res = verify_package(args.file, pub)
        for w in res.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if res.ok:
            print(f"valid: signed by {res.fingerprint}")
            return 0
        print("INVALID: " + "; ".join(res.problems))
        if res.fingerprint:
            print(f"(package key {res.fingerprint})")
        return 1
    if cmd == "keys":
        from ronda import runtime
        from ronda.media.evidence import fingerprint, public_pem

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        key = runtime.site_key(cfg)
        sys.stdout.write(public_pem(key.public_key()).decode())
        print(f"fingerprint: {fingerprint(key.public_key())}", file=sys.stderr)
        return 0
    if cmd == "federation":
        from ronda import runtime
        from ronda.cluster import federation, federation_admin
        from ronda.errors import DomainError

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        if args.federation_command == "key":
            runtime.private_data_dir(cfg.data_dir)
            print(federation.public_key_text(federation.load_key(runtime.keys_dir(cfg))))
            print(f"site name: {cfg.site.name}", file=sys.stderr)
            return 0
        database = runtime.open_database(cfg, migrate=False)
        audit = runtime.open_audit(cfg, database)
        try:
            if args.federation_command == "add-peer":
                pairs = federation_admin.parse_pairs(args.grant, "--grant")
                federation_admin.add_peer(database, audit, "cli", args.name, args.public_key, pairs)
            else:
                pairs = federation_admin.parse_pairs(args.access, "--access")
                federation_admin.add_site(database, audit, "cli", args.name, args.url, args.public_key, pairs)
        except DomainError as e:
            raise CliError(str(e.detail)) from None
        finally:
            audit.close()
            database.dispose()
        # A running server reads the remote sites again at its next health poll (a few seconds).
        print(f"{args.federation_command.removeprefix('add-')} {args.name} added")
        return 0
    if cmd == "user":
        import os

        from ronda import runtime
        from ronda.access.service import UserError, create_user

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else os.environ.get("RONDA_PASSWORD", "")
        if not password:
            raise CliError("give the password on stdin (--password-stdin) or in RONDA_PASSWORD")
        database = runtime.open_database(cfg, migrate=False)
        try:
            uid = create_user(database, args.username, password, args.role)
        except UserError as e:
            raise CliError(str(e)) from None
        finally:
            database.dispose()
        print(f"user {args.username} created (id {uid})")
        return 0
    if cmd == "camera":
        return _camera_add(args)
    if cmd == "nodes":
        return _nodes(args)
    if cmd == "audit":
        from ronda import runtime

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        if not (cfg.data_dir / "keys").is_dir():
            raise CliError(f"no Ronda data in {cfg.data_dir}")
        database = runtime.open_database(cfg, migrate=False)
        audit = runtime.open_audit(cfg, database)
        result = audit.verify()
        database.dispose()
        if result.ok:
            print(
                f"audit chain intact: {result.entries} entries, last signed checkpoint at entry {result.checkpoint_seq}"
            )
            return 0
        print(f"audit chain BROKEN at entry {result.first_bad_seq}: {result.message}")
        return 1
    if cmd == "backup":
        from ronda import runtime
        from ronda.access.backup import BackupError, backup

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        try:
            manifest = backup(cfg.data_dir, cfg.database_url, args.out, args.config)
        except BackupError as e:
            raise CliError(str(e)) from None
        print(f"backup written to {args.out}: {', '.join(manifest['files'])}")  # type: ignore[arg-type]
        return 0
    if cmd == "restore":
        from ronda.access.backup import BackupError, restore

        try:
            manifest = restore(args.file, args.data_dir.expanduser().resolve())
        except BackupError as e:
            raise CliError(str(e)) from None
        print(f"restored into {args.data_dir} (backup of {manifest['created']}); "
              f"{manifest['segments_without_video_dropped']} catalog rows without video dropped")  # fmt: skip
        print("video recorded after the backup is not in its catalog: with the recordings in place, run "
              "'ronda storage reindex' (safe while recording)")  # fmt: skip
        return 0
    if cmd == "config":
        from ronda.config import load_config

        cfg = load_config(args.file)
        print(f"{args.file}: valid ({len(cfg.cameras)} cameras, data in {cfg.data_dir})")
        return 0
    raise CliError(f"unknown command {cmd}")


def _progress_printer(label: str) -> Callable[[float], None]:
    """A progress bar on a terminal, a line per quarter otherwise (logs)."""
    tty = sys.stderr.isatty()
    last = [-1]

    def show(fraction: float) -> None:
        pct = int(fraction * 100)
        step = pct if tty else pct // 25 * 25
        if step == last[0]:
            return
        last[0] = step
        text = f"{label:10s} [{'#' * (step // 5):20s}] {step:3d} %"
        print("\r" + text if tty else text, end="" if tty else "\n", file=sys.stderr, flush=True)

    return show


def _reindex(args: argparse.Namespace) -> int:
    import asyncio

    from ronda import runtime
    from ronda.recording.layout import Layout
    from ronda.recording.reindex import Orphan, ReindexReport, adopt_orphans, find_orphans
    from ronda.store import repos

    cfg = runtime.data_dir_config(args.data_dir, args.config)
    if not (cfg.data_dir / "ronda.db").exists() and cfg.database.url is None:
        raise CliError(f"no Ronda data in {cfg.data_dir}")
    database = runtime.open_database(cfg, migrate=False)
    try:
        with database.session() as s:
            known = {c.id for c in repos.list_cameras(s)}
        ids = list(args.camera or sorted(known))
        unknown = [c for c in ids if c not in known]
        if unknown:
            raise CliError(f"no camera with id {', '.join(map(str, unknown))}")
        show = _progress_printer("scanning")
        orphans: list[Orphan] = []
        scanned = 0
        for n, cid in enumerate(ids, 1):
            found, seen = find_orphans(database, cfg.recordings_dir, cid)
            orphans += found
            scanned += seen
            show(n / len(ids))
        print("", file=sys.stderr)
        rep = ReindexReport()
        if orphans:
            show = _progress_printer("indexing")
            done = [0]

            def step(_o: Orphan) -> None:
                done[0] += 1
                show(done[0] / len(orphans))

            node = cfg.cluster.node if cfg.cluster is not None else "local"  # whose folder: the rows say so
            rep = asyncio.run(
                adopt_orphans(database, cfg.recordings_dir, cfg.recording.ffprobe, orphans, None, step, node)
            )
            print("", file=sys.stderr)
    finally:
        database.dispose()
    print(f"{scanned} segment files on disk; {len(orphans)} not in the catalog: "
          f"{rep.adopted} indexed ({rep.adopted_ms / 1000:.1f} s of video), {rep.quarantined} unreadable "
          f"moved to {Layout(cfg.recordings_dir).quarantine_dir}")  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    import asyncio

    from ronda import runtime
    from ronda.media import segment_source
    from ronda.media.export import ExportCancelled, ExportError, ExportRequest, Progress, cli_actor, run_export
    from ronda.timeutil import parse_iso

    try:
        start, end = parse_iso(args.start), parse_iso(args.end)
    except ValueError:
        raise CliError("--start and --end must be ISO 8601 times, e.g. 2026-05-26T10:00:00Z") from None
    out: Path = args.out
    if out.exists():
        raise CliError(f"{out} exists already; choose another name")
    if not out.parent.is_dir():
        raise CliError(f"folder {out.parent} does not exist")
    cfg = runtime.data_dir_config(args.data_dir, args.config)
    if not (cfg.data_dir / "ronda.db").exists() and cfg.database.url is None:
        raise CliError(f"no Ronda data in {cfg.data_dir}")
    database = runtime.open_database(cfg, migrate=False)
    actor = cli_actor()
    req = ExportRequest(list(args.camera), start, end, actor, args.reason, args.case, args.stream)
    progress = Progress()
    bars: dict[str, Callable[[float], None]] = {}

    def show(p: Progress) -> None:
        bars.setdefault(p.stage, _progress_printer(p.stage))(p.fraction)

    progress.callbacks.append(show)
    audit = runtime.open_audit(cfg, database)
    try:
        manifest = asyncio.run(
            run_export(database, cfg.recordings_dir, cfg.recording.ffmpeg, runtime.site_key(cfg), cfg.site.name,
                       cfg.site.timezone, req, out, progress, segment_source.of(cfg, database))
        )  # fmt: skip
    except (ExportError, ExportCancelled) as e:
        audit.append(actor, "export", "failed", req.camera_ids[0], start, end, details={"error": str(e)})
        raise CliError(f"nothing exported: {e}") from None
    finally:
        print("", file=sys.stderr)
    for cid in req.camera_ids:
        audit.append(actor, "export", "ok", cid, start, end, details={"case": args.case, "reason": args.reason,
                                                                       "package": out.name})  # fmt: skip
    audit.close()
    database.dispose()
    videos = [f for f in manifest["files"] if f["kind"] == "video"]
    print(f"exported {len(videos)} video file(s) to {out}; signed by {manifest['signing_key_fingerprint']}")
    return 0


if __name__ == "__main__":
    # `python -m ronda.cli`: run the imported module's main so that its CliError is the class the other
    # modules raise (this file as __main__ holds a second copy of every class)
    from ronda import cli

    sys.exit(cli.main())


def _camera_add(args: argparse.Namespace) -> int:
    """``ronda camera add --onvif HOST``: the device is asked first; a device that fails or answers badly
    is reported in one line and nothing is created. A running ``ronda serve`` on the same database starts
    recording it within seconds (the recorder follows the catalog)."""
    import asyncio

    from pydantic import ValidationError

    from ronda import runtime
    from ronda.devices import registry
    from ronda.devices.onvif.adding import camera_from_onvif
    from ronda.errors import DeviceError
    from ronda.media.export import cli_actor

    cfg = runtime.data_dir_config(args.data_dir, args.config)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else os.environ.get("RONDA_CAMERA_PASSWORD")
    try:
        body = registry.CameraCreate(
            name=args.name or "ONVIF camera",
            group_id=args.group,
            onvif=registry.OnvifAdd(address=args.onvif, username=args.username, password=password or None),
        )
    except ValidationError as e:
        raise CliError("; ".join(str(err["msg"]) for err in e.errors())) from None
    try:
        data, onvif = asyncio.run(camera_from_onvif(body))
    except DeviceError as e:
        raise CliError(f"ONVIF: {e.detail}") from None
    if not args.name:
        named = " ".join(x for x in (onvif["info"].get("manufacturer"), onvif["info"].get("model")) if x)
        data = data.model_copy(update={"name": named[:200] or "ONVIF camera"})
    database = runtime.open_database(cfg, migrate=False)
    try:
        audit = runtime.open_audit(cfg, database)
        actor = cli_actor()

        def record(s: Any, cam: Any) -> None:
            audit.record(s, actor, "camera.create", "ok", cam.id, details={"name": cam.name, "onvif": onvif["address"]})

        cam = registry.create_camera(database, runtime.load_secrets(cfg), data, True, None, record, onvif=onvif)
    except registry.CameraGroupError as e:
        raise CliError(str(e)) from None
    finally:
        database.dispose()
    streams = ", ".join(f"{st.kind} {st.url}" for st in cam.streams)
    print(f"camera {cam.name!r} added (id {cam.id}): {streams}; ptz {'yes' if onvif['ptz'] else 'no'}")
    return 0


def _nodes(args: argparse.Namespace) -> int:
    """``ronda nodes``: what ``nodes`` says (docs/cluster.md, "The nodes of a site")."""
    import json

    from ronda import runtime
    from ronda.store import cluster_repo
    from ronda.store.db import SchemaMismatch
    from ronda.timeutil import now_ms

    cfg = runtime.data_dir_config(args.data_dir, args.config)
    ttl_ms = int(cfg.cluster.lease_ttl_seconds * 1000) if cfg.cluster is not None else 10_000
    if cfg.database_url.startswith("sqlite") and not cfg.data_dir.is_dir():
        raise CliError(f"no Ronda data in {cfg.data_dir}")
    try:
        database = runtime.open_database(cfg, migrate=False)
    except SchemaMismatch as e:
        raise CliError(str(e)) from None
    try:
        with database.session() as s:
            nodes = cluster_repo.list_nodes(s, now_ms(), ttl_ms)
    finally:
        database.dispose()
    if args.json:
        print(json.dumps([n.view() for n in nodes], indent=2))
        return 0
    if not nodes:
        print("no node registered (a single box, or no node of this site has started with a cluster section)")
        return 0
    now = now_ms()
    rows = [("NODE", "STATE", "ROLES", "LEASES", "LAST SEEN", "VERSION", "URL")]
    rows += [(n.name, n.state, ",".join(n.roles), str(n.leases) if n.capacity is not None else "-",
              f"{(now - n.last_seen_ms) / 1000:.0f} s ago", n.version or "?", n.url or "-") for n in nodes]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return 0
