"""deploy/: the systemd template unit (verified by systemd-analyze when the machine has it, parsed always),
the example configuration of each role and the load balancer examples (docs/deployment.md)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ronda.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "ronda@.service"
ROLES = ("recorder", "api", "events", "analytics", "all")


def unit() -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    p.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive in systemd
    p.read_string(UNIT.read_text())
    return p


def test_the_unit_is_hardened_and_restarts() -> None:
    svc = unit()["Service"]
    assert svc["User"] == "ronda" and svc["Group"] == "ronda"
    assert svc["ProtectSystem"] == "strict" and svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectHome"] == "yes" and svc["PrivateTmp"] == "yes" and svc["CapabilityBoundingSet"] == ""
    assert int(svc["LimitNOFILE"]) >= 65536
    assert svc["Restart"] == "on-failure"
    assert svc["ReadWritePaths"] == "/var/lib/ronda"
    # One role per instance, its own configuration; secrets from the environment file, not argv.
    assert svc["ExecStart"].endswith("serve --config /etc/ronda/%i.yaml --role %i")
    assert svc["EnvironmentFile"] == "-/etc/ronda/ronda.env"
    assert "postgres" not in svc["ExecStart"] and "RONDA__" not in svc["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("role", ROLES)
def test_systemd_analyze_verifies_each_instance(role: str, tmp_path: Path) -> None:
    # The unit's program must exist for verify: this environment's own ronda.
    ronda = Path(sys.executable).parent / "ronda"
    if not ronda.exists():
        pytest.skip("no ronda console script next to the interpreter")
    instance = tmp_path / f"ronda@{role}.service"
    instance.write_text(UNIT.read_text().replace("/opt/ronda/venv/bin/ronda", str(ronda)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", instance.name], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60, check=False)  # fmt: skip
    # verify exits 0 on unknown keys and bad values (it only warns): any line it prints is a defect.
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@pytest.mark.parametrize("role", ["recorder", "api", "events"])
def test_the_example_configurations_load(role: str) -> None:
    cfg = load_config(DEPLOY / "config" / f"{role}.yaml", environ={})
    assert cfg.cluster is not None and cfg.cluster.advertise_url
    assert cfg.http.metrics_token_file is not None
    assert cfg.database.url is None  # the URL (with its password) comes from RONDA__DATABASE__URL
    assert cfg.recording.enabled is (role == "recorder")
    env = load_config(DEPLOY / "config" / f"{role}.yaml",
                      environ={"RONDA__DATABASE__URL": "postgresql+psycopg://ronda:pw@db/ronda"})  # fmt: skip
    assert env.database.url == "postgresql+psycopg://ronda:pw@db/ronda"


def test_the_load_balancers_keep_internal_and_metrics_inside() -> None:
    haproxy = (DEPLOY / "haproxy.cfg").read_text()
    assert "path_beg /internal/" in haproxy and "path /metrics" in haproxy
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "location /internal/ { return 404; }" in nginx and "location = /metrics { return 404; }" in nginx
