"""The ``ronda`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ronda import __version__
from ronda.config import ConfigError

log = logging.getLogger("ronda")


class CliError(Exception):
    """A problem to report in one line, exit code 2 (or the given one)."""

    def __init__(self, msg: str, code: int = 2) -> None:
        super().__init__(msg)
        self.code = code


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError("port must be between 1 and 65535")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= v <= 512:
        raise argparse.ArgumentTypeError("must be between 0 and 512")
    return v


def _data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data-dir", type=Path, help="data directory (default ./ronda-data)")
    g.add_argument("--config", type=Path, help="configuration file (YAML)")


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

    s = sub.add_parser("sim", help="serve simulated RTSP cameras until stopped")
    s.add_argument("--cameras", type=_count, required=True, help="number of cameras")
    s.add_argument("--rtsp-port", type=_port, default=8554, help="RTSP port (default 8554)")
    s.add_argument("--control-port", type=_port, default=None, help="HTTP control port for tests")
    s.add_argument("--cache", type=Path, default=None, help="folder of pre-encoded clips")

    sv = sub.add_parser("serve", help="the production entry point")
    sv.add_argument("--config", type=Path, required=True, help="configuration file (YAML)")

    db = sub.add_parser("db", help="database maintenance")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION")
    dbs.required = True
    up = dbs.add_parser("upgrade", help="apply database migrations")
    _data_args(up)
    cur = dbs.add_parser("current", help="show the schema revision")
    _data_args(cur)

    st = sub.add_parser("storage", help="recording storage")
    sts = st.add_subparsers(dest="storage_command", metavar="ACTION")
    sts.required = True
    ini = sts.add_parser("init", help="mark a folder (a mounted disk) as a recording volume")
    ini.add_argument("path", type=Path)

    us = sub.add_parser("user", help="user accounts")
    uss = us.add_subparsers(dest="user_command", metavar="ACTION")
    uss.required = True
    ua = uss.add_parser("add", help="create a user (password from stdin or RONDA_PASSWORD)")
    ua.add_argument("username")
    ua.add_argument("--role", action="append", required=True, help="role name (repeatable), e.g. administrator")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _data_args(ua)

    au = sub.add_parser("audit", help="the tamper-evident audit log")
    aus = au.add_subparsers(dest="audit_command", metavar="ACTION")
    aus.required = True
    av = aus.add_parser("verify", help="check the audit chain; exit 1 naming the first broken entry")
    _data_args(av)

    bk = sub.add_parser("backup", help="back up configuration, database and keys (not video)")
    bk.add_argument("--out", type=Path, required=True, help="backup file to write (.zip)")
    _data_args(bk)
    rs = sub.add_parser("restore", help="restore a backup into a new data directory")
    rs.add_argument("file", type=Path)
    rs.add_argument("--data-dir", type=Path, required=True, help="the new data directory")

    cv = sub.add_parser("config", help="configuration")
    cvs = cv.add_subparsers(dest="config_command", metavar="ACTION")
    cvs.required = True
    chk = cvs.add_parser("check", help="validate a configuration file")
    chk.add_argument("file", type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
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
            ctx = runtime.build(cfg, migrate=False)
        except SchemaMismatch as e:
            raise CliError(str(e)) from None
        runtime.run(ctx)
        return 0
    if cmd == "db":
        from ronda import runtime
        from ronda.store.db import Database, current_revision, head_revision

        cfg = runtime.data_dir_config(args.data_dir, args.config)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(cfg.database_url)
        if args.db_command == "upgrade":
            database.upgrade()
            print(f"database at revision {current_revision(database.engine)}")
        else:
            print(f"database at revision {current_revision(database.engine)} (this Ronda: {head_revision()})")
        database.dispose()
        return 0
    if cmd == "storage":
        from ronda.recording.volume import init_volume

        vid = init_volume(args.path)
        print(f"{args.path} is recording volume {vid}")
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
        return 0
    if cmd == "config":
        from ronda.config import load_config

        cfg = load_config(args.file)
        print(f"{args.file}: valid ({len(cfg.cameras)} cameras, data in {cfg.data_dir})")
        return 0
    raise CliError(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
