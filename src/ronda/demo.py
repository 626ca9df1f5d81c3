"""``ronda demo``: simulated cameras and the whole system on embedded defaults."""

from __future__ import annotations

import argparse
import secrets as pysecrets
import sys
from pathlib import Path

from ronda import runtime
from ronda.access.demo_setup import seed_demo
from ronda.access.service import UserError
from ronda.config import load_config
from ronda.devices import registry
from ronda.logs import setup_logging
from ronda.map.demo_places import place_demo_cameras
from ronda.store import repos


def demo_cameras(ctx: runtime.AppContext, urls: list[tuple[str, str, str]]) -> None:
    with ctx.db.session() as s:
        existing = {c.name for c in repos.list_cameras(s)}
    for name, main, sub in urls:
        if name not in existing:
            registry.create_camera(
                ctx.db, ctx.secrets, registry.CameraCreate(name=name, url=main, sub_url=sub), check_reachable=False
            )


def run_demo(args: argparse.Namespace) -> int:
    from ronda.devices.simcontrol import SimulatorError, SimulatorProcess, free_port

    data_dir: Path = args.data_dir.expanduser().resolve()
    cfg = load_config(
        None,
        overrides={"data_dir": str(data_dir), "http": {"port": args.http_port, "host": "127.0.0.1"}},
    )
    setup_logging(cfg.log_level, cfg.log_format)
    password = args.admin_password or pysecrets.token_urlsafe(9)
    sim = None
    if args.cameras > 0:
        rtsp_port = args.rtsp_port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        sim = SimulatorProcess(cameras=args.cameras, rtsp_port=rtsp_port, log_dir=data_dir / "logs")
        try:
            sim.start()
        except SimulatorError as e:
            print(f"ronda: {e}", file=sys.stderr)
            return 2
    try:
        ctx = runtime.build(cfg, migrate=True)
        if sim is not None:
            demo_cameras(
                ctx,
                [(f"Camera {n}", sim.url(f"cam{n}"), sim.url(f"cam{n}", sub=True)) for n in range(1, args.cameras + 1)],
            )
        with ctx.db.session() as s:
            numbered = {int(c.name.split()[-1]): c.id for c in repos.list_cameras(s) if c.name.startswith("Camera ")}
        place_demo_cameras(ctx.db, numbered)  # on a small town's streets: the map is never empty
        try:
            seed_demo(ctx.db, numbered, password)
        except UserError as e:
            print(f"ronda: --admin-password: {e}", file=sys.stderr)
            return 2
        print(f"Ronda demo: http://127.0.0.1:{cfg.http.port}/  (API http://127.0.0.1:{cfg.http.port}/api/v1/docs)")
        print(f"Login: admin / {password}   (also operator, viewer_a: odd cameras, viewer_b: even cameras)")
        print(f"Data: {data_dir}   Cameras: {args.cameras}   Stop with Ctrl+C", flush=True)
        runtime.run(ctx)
    finally:
        if sim is not None:
            sim.close()
    return 0
