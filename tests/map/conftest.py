"""Two real ``ronda serve`` processes on one data directory and one SQLite database (API-only nodes:
``recording.enabled: false``, so no camera process runs), with a few cameras that point nowhere. The
map's HTTP tests need no simulator and no recording; the pair shows what one process cannot: edits
arriving through two processes at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import RondaProcess, camera_ids, free_port, write_config

CAMERAS = 8


@dataclass
class Pair:
    a: RondaProcess
    b: RondaProcess
    data_dir: Path
    ids: list[int]


@pytest.fixture(scope="package")
def pair(tmp_path_factory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("map-pair")
    data_dir = base / "data"
    cams = [{"name": f"Map {i}", "main": {"url": f"rtsp://127.0.0.1:9/map{i}"}} for i in range(1, CAMERAS + 1)]
    procs = []
    try:
        for name in ("a", "b"):
            port = free_port()
            cfg = write_config(data_dir, port, cams, recording={"enabled": False})
            cfg = cfg.rename(base / f"{name}.yaml")
            p = RondaProcess(cfg, base / f"{name}.log", port)
            p.start()
            procs.append(p)
        ids = sorted(camera_ids(data_dir).values())
        assert len(ids) == CAMERAS
        yield Pair(procs[0], procs[1], data_dir, ids)
    finally:
        for p in procs:
            p.close()
