"""Exports as background jobs and evidence locks over the API, with rights and bad input."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.helpers import catalog, iso, wait_for


def window(site, name: str, seconds: int = 20) -> tuple[str, str]:
    segs = wait_for(lambda: len(catalog(site.data_dir, site.cam(name))[0]) >= 3 and catalog(site.data_dir,
                    site.cam(name))[0], 40, what="segments")  # fmt: skip
    end = segs[-1].end_ms - 500
    return iso(end - seconds * 1000), iso(end)


def test_export_job_progress_download_and_verify(site, users, tmp_path):
    start, end = window(site, "Camera 1")
    op = users["operator"]
    body = {"cameras": [site.cam("Camera 1")], "start": start, "end": end, "reason": "graffiti", "case": "G-12",
            "name": "piazza graffiti"}  # fmt: skip
    r = op.req("POST", "/api/v1/exports", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    done = wait_for(lambda: (j := op.req("GET", f"/api/v1/exports/{job['id']}").json())["status"] != "running" and j,
                    60, what="the export job")  # fmt: skip
    assert done["status"] == "done" and done["progress"] == 1.0, done
    # Another user cannot see or download it (IDOR), an administrator can.
    for u in ("viewer_a", "viewer_b"):
        assert users[u].req("GET", f"/api/v1/exports/{job['id']}").status_code == 404
        assert users[u].req("GET", f"/api/v1/exports/{job['id']}/download").status_code == 404
    assert users["admin"].req("GET", f"/api/v1/exports/{job['id']}").status_code == 200
    dl = op.req("GET", done["download"])
    assert dl.status_code == 200 and dl.headers["content-type"] == "application/zip"
    assert "piazza%20graffiti.zip" in dl.headers["content-disposition"]
    pkg = tmp_path / "p.zip"
    pkg.write_bytes(dl.content)
    v = subprocess.run([sys.executable, "-m", "ronda.cli", "verify", str(pkg)], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("valid")
    # A 60-second link for the browser's download manager: no header needed, bound to user and export.
    for u in ("viewer_a", "viewer_b"):
        assert users[u].req("POST", f"/api/v1/exports/{job['id']}/link").status_code == 404
    link = op.req("POST", f"/api/v1/exports/{job['id']}/link").json()
    assert link["expires_in"] == 60 and link["name"] == "piazza graffiti.zip"
    plain = httpx.get(site.ronda.base + link["url"], timeout=30)
    assert plain.status_code == 200 and plain.content == dl.content
    token = link["url"].split("token=")[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert httpx.get(f"{site.ronda.base}/api/v1/exports/{job['id']}/file?token={forged}").status_code == 401
    assert httpx.get(f"{site.ronda.base}/api/v1/exports/{job['id']}/file").status_code == 422
    # a live-view token of the same user and camera does not open the package
    live = op.req("POST", f"/api/v1/cameras/{site.cam('Camera 1')}/stream-token", json={"right": "live"}).json()
    assert httpx.get(f"{site.ronda.base}/api/v1/exports/{job['id']}/file?token={live['token']}").status_code == 401
    audit = users["admin"].req("GET", "/api/v1/audit", params={"actor": "operator", "action": "export"}).json()
    assert audit and audit[0]["details"]["case"] == "G-12"
    assert op.req("DELETE", f"/api/v1/exports/{job['id']}").status_code == 204
    assert op.req("GET", f"/api/v1/exports/{job['id']}").status_code == 404


@pytest.mark.parametrize(
    ("who", "camera", "status"),
    [("viewer_a", "Camera 1", 403), ("viewer_a", "Camera 2", 404), ("night", "Camera 1", 404)],
)
def test_export_needs_the_export_right(site, users, who, camera, status):
    start, end = window(site, "Camera 1", 5)
    r = users[who].req("POST", "/api/v1/exports", json={"cameras": [site.cam(camera)], "start": start, "end": end})
    assert r.status_code == status


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"name": "../../etc/passwd"}, "name"),
        ({"name": "a\r\nSet-Cookie: x=1"}, "name"),
        ({"case": "A\r\nB"}, "case"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must be after start"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-04-11T00:00:00Z"}, "24 hours"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:05:00Z"}, "no recordings"),
        ({"cameras": [99999]}, "not found"),
        ({"cameras": []}, "cameras"),
        ({"start": "soon"}, "ISO 8601"),
    ],
)
def test_bad_export_requests(site, users, patch, field):
    start, end = window(site, "Camera 1", 5)
    body = {"cameras": [site.cam("Camera 1")], "start": start, "end": end, **patch}
    before = len(list((site.data_dir / "exports").glob("*"))) if (site.data_dir / "exports").exists() else 0
    r = users["operator"].req("POST", "/api/v1/exports", json=body)
    assert r.status_code in (404, 422), r.text
    assert field in r.text
    after = len(list((site.data_dir / "exports").glob("*"))) if (site.data_dir / "exports").exists() else 0
    assert after == before


def test_evidence_lock_api(site, users):
    start, end = window(site, "Camera 2", 10)
    op, viewer = users["operator"], users["viewer_b"]
    body = {"camera": site.cam("Camera 2"), "start": start, "end": end, "reason": "dumping case 7"}
    assert viewer.req("POST", "/api/v1/evidence-locks", json=body).status_code == 403
    assert users["viewer_a"].req("POST", "/api/v1/evidence-locks", json=body).status_code == 404
    r = op.req("POST", "/api/v1/evidence-locks", json=body)
    assert r.status_code == 201 and r.json()["created_by"] == "operator"
    lock = r.json()
    assert any(x["id"] == lock["id"] for x in viewer.req("GET", "/api/v1/evidence-locks").json())
    assert not any(x["id"] == lock["id"] for x in users["viewer_a"].req("GET", "/api/v1/evidence-locks").json())
    assert op.req("POST", "/api/v1/evidence-locks", json={**body, "until": "2000-01-01T00:00:00Z"}).status_code == 422
    assert viewer.req("DELETE", f"/api/v1/evidence-locks/{lock['id']}").status_code == 403
    assert op.req("DELETE", f"/api/v1/evidence-locks/{lock['id']}").status_code == 204
    audit = users["admin"].req("GET", "/api/v1/audit", params={"actor": "operator"}).json()
    assert {"evidence.lock", "evidence.unlock"} <= {a["action"] for a in audit}
