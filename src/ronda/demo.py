"""``ronda demo``: simulated cameras and the whole system on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import secrets as pysecrets
import socket
import sys
from pathlib import Path

from ronda import runtime
from ronda.access.demo_setup import seed_demo
from ronda.access.service import UserError
from ronda.config import load_config
from ronda.devices import registry
from ronda.devices.onvif.adding import camera_from_onvif
from ronda.devices.onvif.camera import refresh_camera_streams
from ronda.devices.simulator import ONVIF_PASSWORD, ONVIF_USER
from ronda.errors import DomainError
from ronda.logs import setup_logging
from ronda.map.demo_places import place_demo_cameras
from ronda.store import repos


def demo_cameras(ctx: runtime.AppContext, urls: list[tuple[str, str, str]]) -> None:
    """The simulated cameras; on a data directory of an earlier demo, the same cameras pointed at this
    run's simulator (its ports change from run to run: without this they would all stay offline)."""
    with ctx.db.session() as s:
        existing = {c.name: c.id for c in repos.list_cameras(s)}
    for name, main, sub in urls:
        if name in existing:
            registry.update_camera(ctx.db, ctx.secrets, existing[name], registry.CameraUpdate(url=main, sub_url=sub))
        else:
            registry.create_camera(
                ctx.db, ctx.secrets, registry.CameraCreate(name=name, url=main, sub_url=sub), check_reachable=False
            )


def demo_dome(ctx: runtime.AppContext, name: str, address: str, username: str, password: str) -> bool:
    """The simulated dome, added as a user adds a camera by ONVIF (profiles, stream URIs, PTZ read from
    the device), so the demo shows PTZ control and the camera's own events. On an earlier demo's data
    directory, the dome's address and stream URIs are brought up to date. False when a camera of that
    name exists that was not added by ONVIF (an earlier ``--no-dome`` run): it stays a fixed camera."""
    with ctx.db.session() as s:
        cam = next((c for c in repos.list_cameras(s) if c.name == name), None)
        if cam is not None:
            if not cam.onvif_address:
                return False
            cam.onvif_address = address
            camera_id = cam.id
    if cam is not None:
        asyncio.run(refresh_camera_streams(ctx.db, ctx.secrets, camera_id))
        return True
    body = registry.CameraCreate(name=name, onvif=registry.OnvifAdd(address=address, username=username,
                                                                    password=password))  # fmt: skip
    data, onvif = asyncio.run(camera_from_onvif(body))
    registry.create_camera(ctx.db, ctx.secrets, data, check_reachable=False, onvif=onvif)
    return True


def discovery_port() -> int:
    """3702 (where WS-Discovery clients probe) when it is free, else none: a second demo on the machine
    runs without answering probes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", 3702))  # noqa: S104 (the simulator binds so: multicast probes reach it)
        except OSError:
            return 0
    return 3702


def run_demo(args: argparse.Namespace) -> int:
    from ronda.devices.simclip import ClipError, parse_clip_args
    from ronda.devices.simcontrol import SimulatorError, SimulatorProcess, free_port

    data_dir: Path = args.data_dir.expanduser().resolve()
    cfg = load_config(
        None,
        overrides={"data_dir": str(data_dir), "http": {"port": args.http_port, "host": "127.0.0.1"}},
    )
    setup_logging(cfg.log_level, cfg.log_format)
    password = args.admin_password or pysecrets.token_urlsafe(9)
    sim = None
    try:
        clips = parse_clip_args(getattr(args, "clip", None) or [], args.cameras)
    except ClipError as e:
        print(f"ronda: {e}", file=sys.stderr)
        return 2
    dome = not args.no_dome and 1 not in clips  # a clip on camera 1 replaces the dome
    if args.cameras > 0:
        rtsp_port = args.rtsp_port or free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        sim = SimulatorProcess(cameras=args.cameras, rtsp_port=rtsp_port, log_dir=data_dir / "logs",
                               onvif=True, dome=dome, discovery_port=discovery_port(), clips=clips)  # fmt: skip
        if clips:
            print(f"ronda: preparing {len(clips)} clip(s) for the simulator (encoded once; progress in "
                  f"{data_dir / 'logs' / 'simulator.log'})", flush=True)  # fmt: skip
        try:
            sim.start()
        except SimulatorError as e:
            print(f"ronda: {e}", file=sys.stderr)
            return 2
    try:
        ctx = runtime.build(cfg, migrate=True)
        if sim is not None:
            first = 1
            if dome:
                try:
                    if demo_dome(ctx, "Camera 1", sim.onvif_url(1), ONVIF_USER, ONVIF_PASSWORD):
                        first = 2
                except DomainError as e:  # the demo still runs, with camera 1 as a fixed camera
                    print(f"ronda: the simulated dome could not be added by ONVIF ({e}): a fixed camera instead",
                          file=sys.stderr)  # fmt: skip
            demo_cameras(
                ctx,
                [
                    (f"Camera {n}", sim.url(f"cam{n}"), sim.url(f"cam{n}", sub=True))
                    for n in range(first, args.cameras + 1)
                ],
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
