"""analytics/worker.py + service.py: real worker processes on fragments a real ffmpeg writes where the
recorder writes them; events in a real (migrated SQLite) database. Misbehaving analysers are plugins
(tests/analytics/plugins.py), loaded the way a site's own would be."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ronda.access.secrets import SecretBox
from ronda.analytics.service import AnalyticsService
from ronda.analytics.settings import AnalyticsSettings
from ronda.config import AnalyticsConfig
from ronda.devices import registry
from ronda.recording.layout import Layout
from ronda.store.db import Database
from tests.analytics.fragments import live_writer

PLUGINS = "tests.analytics.plugins"


@dataclass
class World:
    data_dir: Path
    db: Database
    ids: list[int]
    writers: list[subprocess.Popen[bytes]]

    def events(self, type: str, camera_id: int | None = None) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.data_dir / "ronda.db", timeout=30)
        try:
            q = "SELECT camera_id, time_ms, payload, snapshot, source FROM events WHERE type=?"
            rows = con.execute(q, (type,)).fetchall()
        finally:
            con.close()
        return [r for r in rows if camera_id is None or r[0] == camera_id]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = Database(f"sqlite:///{data_dir / 'ronda.db'}")
    db.upgrade()
    secrets = SecretBox.load_or_create(data_dir / "keys" / "secrets.key")
    ids = []
    for n in (1, 2):
        cam = registry.CameraCreate(name=f"A{n}", url=f"rtsp://127.0.0.1:9/{n}", sub_url=f"rtsp://127.0.0.1:9/{n}/sub")
        ids.append(registry.create_camera(db, secrets, cam, check_reachable=False).id)
    layout = Layout(data_dir / "recordings")
    # Each camera's sub-stream, written in real time where the recorder would write it.
    writers = [live_writer(layout.partial_dir(cid, "sub"), "s1", seconds=90) for cid in ids]
    try:
        yield World(data_dir, db, ids, writers)
    finally:
        for w in writers:
            w.kill()
            w.wait()
        db.dispose()


def every_frame(camera_id: int) -> AnalyticsSettings:
    """Motion on every frame: these tests check the pipeline's rates and drops, which the adaptive
    decoding of an idle camera (a keyframe every 2 s: frames.py, test_adaptive_decoding) would hide."""
    return AnalyticsSettings.model_validate({"motion": {"decode": "all"}})


@pytest.fixture
async def start(world: World) -> AsyncIterator[Callable[..., Awaitable[AnalyticsService]]]:
    """Starts an AnalyticsService on the world (options: AnalyticsConfig's); stopped at the end."""
    started: list[AnalyticsService] = []

    async def run(settings_for: Callable[[int], AnalyticsSettings] = every_frame, **kw: Any) -> AnalyticsService:
        opts: dict[str, Any] = {"workers": 2, "rescan_seconds": 1, "hang_seconds": 8, **kw}
        svc = AnalyticsService(AnalyticsConfig(**opts), world.db, world.data_dir / "recordings", world.data_dir,
                               settings_for=settings_for)  # fmt: skip
        await svc.start()
        started.append(svc)
        return svc

    yield run
    for svc in started:
        await svc.stop()
        for w in svc.workers:
            assert w.proc is None, "stopped: no worker left"


async def until(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def running(svc: AnalyticsService, cid: int) -> bool:
    st = svc.status().get(cid)
    return st is not None and st.state == "running" and st.fps > 0


async def test_motion_events_with_snapshots_and_status(world: World, start: Any) -> None:
    service = await start()
    a, b = world.ids
    await until(lambda: all(running(service, c) for c in (a, b)), 30, "both cameras analysed")
    await until(lambda: world.events("motion.start", a) and world.events("motion.start", b), 20, "motion events")
    cam, t, payload, snapshot, source = world.events("motion.start", a)[0]
    assert source == "analytics"
    assert abs(t - time.time() * 1000) < 30_000
    assert '"box"' in payload
    assert snapshot and (world.data_dir / snapshot).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    st = service.status()
    assert {st[a].worker, st[b].worker} == {0, 1}, "the two cameras run on different workers"
    await asyncio.sleep(5)  # the rate is a 5 s average
    st = service.status()
    for c in (a, b):
        assert st[c].stream == "sub" and st[c].codec == "h264" and (st[c].width, st[c].height) == (320, 240)
        assert 3 <= st[c].fps <= 7, st[c].fps  # 5 frames/s of a 15 frames/s stream
        assert st[c].worker_cpu_percent > 0
        assert not st[c].lagging and st[c].dropped == 0


async def test_a_slow_analyser_drops_frames_and_raises_lagging_then_recovered(
    world: World, start: Any, tmp_path: Path
) -> None:
    a, b = world.ids
    slow_file = tmp_path / "slow"
    slow_file.touch()
    # (read by the plugin in the worker, which is spawned with this environment)
    os.environ["RONDA_TEST_SLOW_FILE"] = str(slow_file)
    os.environ["RONDA_TEST_PLUGIN_CAMERAS"] = str(a)
    try:
        service = await start(plugins=[f"{PLUGINS}:slow"], workers=1)
        await until(lambda: world.events("analytics.lagging", a), 40, "analytics.lagging for the slow camera")
        st = service.status()
        assert st[a].lagging and st[a].dropped > 0
        assert st[a].fps <= 1.0
        # the other camera, on the same worker, is not held up by it
        assert running(service, b) and not st[b].lagging and st[b].dropped == 0
        assert len(world.events("analytics.lagging", a)) == 1, "once per episode"
        slow_file.unlink()  # the analyser is fast again: it catches up
        await until(lambda: world.events("analytics.recovered", a), 40, "analytics.recovered")
        assert not service.status()[a].lagging
        assert world.events("analytics.lagging", b) == []
    finally:
        del os.environ["RONDA_TEST_SLOW_FILE"], os.environ["RONDA_TEST_PLUGIN_CAMERAS"]


async def test_a_crashing_worker_is_restarted_and_the_other_worker_goes_on(
    world: World, start: Any, tmp_path: Path
) -> None:
    a, b = world.ids
    crash_file = tmp_path / "crash"
    os.environ["RONDA_TEST_CRASH_FILE"] = str(crash_file)
    os.environ["RONDA_TEST_PLUGIN_CAMERAS"] = str(a)
    try:
        service = await start(plugins=[f"{PLUGINS}:crash"])
        await until(lambda: running(service, a) and running(service, b), 30, "both cameras analysed")
        pid = service.status()[a].pid
        analysed_b = service.status()[b].fps
        crash_file.touch()
        await until(lambda: service.status()[a].restarts >= 1, 20, "the worker restarted")
        assert "exited with 7" in (service.status()[a].last_error or "")
        await until(lambda: running(service, a), 30, "camera resumed on the new worker")
        assert service.status()[a].pid != pid
        assert service.status()[b].restarts == 0 and running(service, b), analysed_b
    finally:
        del os.environ["RONDA_TEST_CRASH_FILE"], os.environ["RONDA_TEST_PLUGIN_CAMERAS"]


async def test_a_hung_analyser_gets_its_worker_killed_and_restarted(world: World, start: Any, tmp_path: Path) -> None:
    a, b = world.ids
    hang_file = tmp_path / "hang"
    os.environ["RONDA_TEST_HANG_FILE"] = str(hang_file)
    os.environ["RONDA_TEST_PLUGIN_CAMERAS"] = str(a)
    try:
        service = await start(plugins=[f"{PLUGINS}:hang"])
        await until(lambda: running(service, a), 30, "camera analysed")
        pid = service.status()[a].pid
        assert pid is not None
        hang_file.touch()
        await until(lambda: service.status()[a].restarts >= 1, 30, "the hung worker restarted")
        assert "analyser call ran" in (service.status()[a].last_error or "")
        assert not Path(f"/proc/{pid}").exists(), "killed and reaped"
        await until(lambda: running(service, a), 30, "camera resumed")
        assert service.status()[b].restarts == 0
    finally:
        del os.environ["RONDA_TEST_HANG_FILE"], os.environ["RONDA_TEST_PLUGIN_CAMERAS"]


async def test_a_hung_analyser_of_a_camera_whose_settings_changed_is_still_caught(
    world: World, start: Any, tmp_path: Path
) -> None:
    """The camera restarts with its new settings, but the hung call cannot be stopped: its worker must go."""
    a, _b = world.ids
    hang_file = tmp_path / "hang"
    os.environ["RONDA_TEST_HANG_FILE"] = str(hang_file)
    os.environ["RONDA_TEST_PLUGIN_CAMERAS"] = str(a)
    settings: dict[int, AnalyticsSettings] = {}
    try:
        service = await start(plugins=[f"{PLUGINS}:hang"], settings_for=lambda c: settings.get(c, AnalyticsSettings()))
        await until(lambda: running(service, a), 30, "camera analysed")
        hang_file.touch()
        await until(lambda: not hang_file.exists(), 10, "the analyser hanging")
        settings[a] = AnalyticsSettings.model_validate({"motion": {"fps": 3}})
        service.rescan()
        await until(lambda: service.status()[a].restarts >= 1, 40, "the worker with the hung call restarted")
        assert "stopped camera" in (service.status()[a].last_error or "")
        await until(lambda: running(service, a), 30, "camera resumed")
    finally:
        del os.environ["RONDA_TEST_HANG_FILE"], os.environ["RONDA_TEST_PLUGIN_CAMERAS"]


async def test_an_analyser_that_raises_is_counted_and_the_others_go_on(world: World, start: Any) -> None:
    a, _b = world.ids
    service = await start(plugins=[f"{PLUGINS}:broken"], workers=1)
    await until(lambda: running(service, a) and service.status()[a].reasons.get("analyser_error", 0) >= 5, 30,
                "analyser errors counted")  # fmt: skip
    st = service.status()[a]
    assert "Broken: ValueError: bad frame at" in (st.last_error or "")
    assert st.restarts == 0 and st.fps > 0
    await until(lambda: world.events("motion.start", a), 20, "the motion analyser still at work")


async def test_a_plugin_that_does_not_load_is_a_clear_error(world: World, start: Any) -> None:
    svc = await start(workers=1, plugins=["tests.analytics.nothing_here:factory"])

    def error() -> str | None:
        st = svc.status().get(world.ids[0])
        return st.last_error if st is not None else None

    err = await until(error, 30, "the plugin error")
    assert "cannot import tests.analytics.nothing_here" in err


def test_workers_do_not_outlive_a_killed_ronda(world: World, tmp_path: Path) -> None:
    """kill -9 of the main process: its workers see their pipe close and exit."""
    script = tmp_path / "main.py"
    script.write_text(
        textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from ronda.analytics.service import AnalyticsService
        from ronda.config import AnalyticsConfig
        from ronda.store.db import Database

        async def main():
            data = Path({str(world.data_dir)!r})
            svc = AnalyticsService(AnalyticsConfig(workers=2, rescan_seconds=1), Database(f"sqlite:///{{data}}/ronda.db"),
                                   data / "recordings", data)
            await svc.start()
            while not all(w.proc is not None and w.status is not None for w in svc.workers):
                await asyncio.sleep(0.2)
            print(" ".join(str(w.proc.pid) for w in svc.workers), flush=True)
            await asyncio.sleep(600)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.1)
        assert not [p for p in pids if Path(f"/proc/{p}").exists()], "orphan analytics workers"
    finally:
        proc.kill()
        proc.wait()
