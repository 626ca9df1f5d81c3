"""The recorder follows the camera catalog, whoever changed it.

Two real ``ronda serve`` processes share one data directory and database: an API-only node
(``recording.enabled: false``) where an operator edits cameras, and the recording node, which never
hears of those requests. The recording node must pick every change up from the database within a
few seconds: a camera added starts recording, a disabled one stops, a new address restarts its capture.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from tests.helpers import RondaProcess, camera_ids, catalog, free_port, wait_for

FOLLOW_S = 20  # a camera change reaches the recorder, plus connecting and the first 4 s segment


def _config(base: Path, data_dir: Path, name: str, port: int, record: bool, cameras: list[dict]) -> Path:
    cfg = {
        "data_dir": str(data_dir),
        "http": {"host": "127.0.0.1", "port": port},
        "recording": {"enabled": record, "segment_seconds": 4, "stall_timeout_seconds": 5, "backoff_max_seconds": 4},
        "storage": {"check_interval_seconds": 2},
        "cameras": cameras,
        "log_level": "info",
    }
    path = base / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _gap_reasons(data_dir: Path, camera_id: int) -> list[str]:
    return [g.reason for g in catalog(data_dir, camera_id)[1]]


def test_changes_on_api_only_node_reach_recorder(sim, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rec_port, api_port = free_port(), free_port()
    kept_cam = {"name": "Kept", "main": {"url": sim.url("cam1")}}
    rec_cfg = _config(tmp_path, data_dir, "recorder", rec_port, True, [kept_cam])
    api_cfg = _config(tmp_path, data_dir, "api", api_port, False, [])
    recorder = RondaProcess(rec_cfg, tmp_path / "recorder.log", rec_port)
    api = RondaProcess(api_cfg, tmp_path / "api.log", api_port)
    try:
        recorder.start()
        api.start()
        kept = camera_ids(data_dir)["Kept"]
        wait_for(lambda: catalog(data_dir, kept)[0], 40, what="a segment of the configured camera")

        # Added on the API-only node: the recorder starts it.
        r = api.api("POST", "/api/v1/cameras", json={"name": "Added", "url": sim.url("cam2")})
        assert r.status_code == 201, r.text
        added = r.json()["id"]
        wait_for(lambda: catalog(data_dir, added)[0], FOLLOW_S, what="a segment of the camera added on the API node")

        # Disabled there: the recorder stops it (a camera_disabled gap, no segment after it).
        r = api.api("PATCH", f"/api/v1/cameras/{kept}", json={"enabled": False})
        assert r.status_code == 200, r.text
        wait_for(lambda: "camera_disabled" in _gap_reasons(data_dir, kept), FOLLOW_S, what="a camera_disabled gap")
        stopped = len(catalog(data_dir, kept)[0])
        time.sleep(6)  # longer than one segment
        assert len(catalog(data_dir, kept)[0]) == stopped, "the disabled camera still records"

        # A new address: the capture restarts on it (camera_reconfigured), then records again.
        r = api.api("PATCH", f"/api/v1/cameras/{added}", json={"url": sim.url("cam3")})
        assert r.status_code == 200, r.text
        wait_for(lambda: "camera_reconfigured" in _gap_reasons(data_dir, added), FOLLOW_S, what="a reconfigured gap")
        before = len(catalog(data_dir, added)[0])
        wait_for(lambda: len(catalog(data_dir, added)[0]) > before, FOLLOW_S, what="segments from the new address")

        # Re-enabled: recording resumes.
        r = api.api("PATCH", f"/api/v1/cameras/{kept}", json={"enabled": True})
        assert r.status_code == 200, r.text
        wait_for(lambda: len(catalog(data_dir, kept)[0]) > stopped, FOLLOW_S, what="segments after re-enabling")
    finally:
        api.close()
        recorder.close()
