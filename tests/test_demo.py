"""``ronda demo`` as a user runs it: starts, records, answers, stops cleanly with exit 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow  # the real demo: simulator, recorder and API processes


@pytest.mark.smoke
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
        assert httpx.get(base + "/api/v1/cameras", timeout=5).status_code == 401
        tokens = {}
        for user in ("admin", "operator", "viewer_a", "viewer_b"):
            r = httpx.post(base + "/api/v1/auth/login", json={"username": user, "password": "demo-pw-1"}, timeout=10)
            assert r.status_code == 200, (user, r.text)
            assert r.json()["expires_in"] >= 600
            tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        cams = httpx.get(base + "/api/v1/cameras", timeout=5, headers=tokens["admin"]).json()
        assert [c["name"] for c in cams] == ["Camera 1", "Camera 2"]
        seen = {u: [c["name"] for c in httpx.get(base + "/api/v1/cameras", headers=h, timeout=5).json()]
                for u, h in tokens.items()}  # fmt: skip
        assert seen["operator"] == ["Camera 1", "Camera 2"]
        assert seen["viewer_a"] == ["Camera 1"] and seen["viewer_b"] == ["Camera 2"]
        me = httpx.get(base + "/api/v1/me", headers=tokens["viewer_b"], timeout=5).json()
        assert me["username"] == "viewer_b" and me["rights"] == ["live", "playback"]
        assert all("sub" in c["streams"] for c in cams)
        # camera 1 is the simulated PTZ dome, added by ONVIF (the contract; --no-dome: a fixed camera)
        assert [c["ptz"] for c in cams] == [True, False], cams
        assert cams[0]["device"]["model"], cams[0]
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
        line = ""
        while "admin / " not in line:
            line = proc.stdout.readline().decode()
            assert line, "the demo did not print its login"
        password = line.split("admin / ")[1].split()[0]
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "admin", "password": password})
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/cameras", timeout=5, headers=h).json() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _demo(data, port: int, log_path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ronda.cli", "demo", "--cameras", "2", "--data-dir", str(data),
         "--http-port", str(port), "--admin-password", "demo-pw-2"],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_demo_again_on_the_same_data_dir_records_every_camera(tmp_path):
    """The simulator's ports change from run to run: a second ``ronda demo`` on the same data directory
    points the existing cameras (and the dome's ONVIF address) at the new simulator. Before, every camera
    of the second run stayed offline on the first run's ports."""
    data, log_path = tmp_path / "demo-data", tmp_path / "demo.log"
    for run in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = _demo(data, port, log_path)
        try:

            def token(base=base, proc=proc):
                try:
                    r = httpx.post(base + "/api/v1/auth/login", json={"username": "admin", "password": "demo-pw-2"},
                                   timeout=5)  # fmt: skip
                except httpx.HTTPError:
                    return proc.poll() is not None and "died"
                return r.status_code == 200 and r.json()["access_token"]

            tok = wait_for(token, 120, what=f"demo run {run} to answer")
            assert proc.poll() is None, log_path.read_text()[-3000:]
            h = {"Authorization": f"Bearer {tok}"}

            def recording(base=base, h=h):
                cams = httpx.get(base + "/api/v1/cameras", headers=h, timeout=5).json()
                return len(cams) == 2 and all(c["status"] == "recording" for c in cams) and cams

            cams = wait_for(recording, 60, what=f"both cameras recording in demo run {run}")
            assert [c["ptz"] for c in cams] == [True, False], cams
            state = httpx.get(base + f"/api/v1/cameras/{cams[0]['id']}/ptz", headers=h, timeout=10)
            assert state.status_code == 200, state.text  # the dome answers at its new address
        finally:
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(30)
        assert rc == 0, log_path.read_text()[-3000:]
