"""``ronda demo`` as a user runs it: starts, records, answers, stops cleanly with exit 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from tests.helpers import free_port, wait_for


def test_demo_runs_records_and_stops_cleanly(tmp_path):
    port = free_port()
    data = tmp_path / "demo-data"
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda.cli", "demo", "--cameras", "2", "--data-dir", str(data),
         "--http-port", str(port), "--admin-password", "demo-pw-1"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy():
            try:
                return httpx.get(base + "/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        wait_for(healthy, 120, what="the demo to answer")
        assert proc.poll() is None, (tmp_path / "demo.log").read_text()
        cams = httpx.get(base + "/api/v1/cameras", timeout=5).json()
        assert [c["name"] for c in cams] == ["Camera 1", "Camera 2"]
        assert all("sub" in c["streams"] for c in cams)
        wait_for(lambda: len(list((data / "recordings").rglob("*.mp4"))) >= 2, 30, what="recorded segments")
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(30)
        log.close()
    out = (tmp_path / "demo.log").read_text()
    assert rc == 0, out[-2000:]
    assert f"http://127.0.0.1:{port}/" in out and "admin / demo-pw-1" in out
    assert not [p for p in (data / "recordings").rglob("*.partial") if p.is_file()], "open segments are closed at exit"
    assert "Traceback" not in out


def test_demo_with_no_cameras_and_bad_port(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ronda.cli", "demo", "--http-port", "70000"], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "port must be between" in r.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda.cli", "demo", "--cameras", "0", "--data-dir", str(tmp_path / "d"),
         "--http-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _ok(f"http://127.0.0.1:{port}/api/v1/health"), 60, what="demo without cameras")
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/cameras", timeout=5).json() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
