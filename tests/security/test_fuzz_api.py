"""Property-based fuzzing of the whole OpenAPI document (issue 10, acceptance): schemathesis, for a
bounded time, as an administrator and as a viewer; no answer may be a 5xx or violate the response
schema the document declares.

Where: a throwaway ``ronda serve`` of its own (fresh data directory, the demo's organisations and
accounts, one camera recording the simulator's cam1 sub-stream), never the shared site: as an
administrator the fuzzer deletes, disables and renames whatever ids it guesses, and wrong logins
would lock the shared site's accounts and address.

Not fuzzed (``EXCLUDED``): operations that would end the fuzzing session itself, and those that make
the server connect to an address taken from the request (a camera URL, a webhook), so that nothing
but 127.0.0.1 is ever contacted. Schemathesis is given the base URL explicitly, follows no redirects,
and every request it made (its HAR report) is checked to have gone to that base.

Time: ``RONDA_FUZZ_SECONDS`` per principal (default 40); ``RONDA_FUZZ_SEED`` (default fixed) to vary
the cases. A failure prints schemathesis's report of it, with a curl command to reproduce each case.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.access.demo_setup import seed_demo
from ronda.store.db import Database
from tests.helpers import PW, RondaProcess, camera_ids, catalog, free_port, wait_for, write_config

SECONDS = int(os.environ.get("RONDA_FUZZ_SECONDS", "40"))
SEED = os.environ.get("RONDA_FUZZ_SEED", "20261205")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

EXCLUDED = {
    "POST /api/v1/auth/logout": "ends the fuzzing session",
    "PATCH /api/v1/users/{user_id}": "disables or re-passwords the fuzzing account (ids are guessable)",
    "POST /api/v1/cameras": "the server connects to the camera URL in the body",
    "PATCH /api/v1/cameras/{camera_id}": "the recorder connects to the camera URL in the body",
    "GET /api/v1/onvif/discover": "sends WS-Discovery probes to the addresses in the query, and by multicast",
    "POST /api/v1/rules": "webhook actions call the URL in the body when a fuzzed event matches",
    "PUT /api/v1/rules/{rule_id}": "webhook actions call the URL in the body when a fuzzed event matches",
}


@pytest.fixture(scope="module")
def fuzz_site(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RondaProcess]:
    base = tmp_path_factory.mktemp("fuzz")
    data = base / "data"
    port = free_port()
    # The camera is also a simulated PTZ dome (docs/ptz.md), so the PTZ routes are fuzzed past "no PTZ".
    cfg = write_config(data, port, [{"name": "Fuzz camera", "main": {"url": sim.url("cam1", sub=True)}}],
                       ptz={"simulated_domes": ["Fuzz*"], "session_timeout_seconds": 1})  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    try:
        cam = camera_ids(data)["Fuzz camera"]
        db = Database(f"sqlite:///{data / 'ronda.db'}")
        try:
            seed_demo(db, {1: cam}, PW)  # viewer_a sees it (the odd cameras)
        finally:
            db.dispose()
        wait_for(lambda: catalog(data, cam)[0], 40, what="a segment of the fuzz camera")
        yield ronda
    finally:
        ronda.close()


def run_schemathesis(ronda: RondaProcess, token: str, out: Path) -> tuple[int, str, list[str]]:
    """(exit code, console output, URLs of every request made)."""
    assert ronda.base.startswith("http://127.0.0.1:")
    assert SCHEMATHESIS.is_file(), f"{SCHEMATHESIS} is missing: install the dev extra (scripts/setup.sh --test)"
    har = out / "requests.har"
    cmd = [
        str(SCHEMATHESIS), "run", f"{ronda.base}/api/v1/openapi.json",
        "--url", ronda.base,  # the document declares no servers: every request goes here
        "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-time", str(SECONDS), "--max-examples", "25", "--seed", SEED, "--workers", "1",
        "--max-redirects", "0", "--request-timeout", "30", "--generation-database", "none",
        "--no-color", "--output-truncate", "true",
        "--report", "har", "--report-har-path", str(har),
    ]  # fmt: skip
    for name in EXCLUDED:
        cmd += ["--exclude-name", name]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 180, cwd=out, check=False)
    urls = [e["request"]["url"] for e in json.loads(har.read_text())["log"]["entries"]] if har.exists() else []
    return r.returncode, r.stdout + r.stderr, urls


def failures(output: str, limit: int = 12_000) -> str:
    """One line per failing operation and check, then schemathesis's report (each failure with a curl
    command to reproduce it), shortened."""
    found: list[str] = []
    operation = ""
    for line in output.splitlines():
        heading = re.fullmatch(r"_{3,} (.+?) _{3,}", line.strip())
        if heading:
            operation = heading.group(1)
        elif "SUMMARY" in line:
            break
        elif re.match(r"- (ST\d+ )?[A-Z][a-z]", line.strip()) and "/api/" not in line and operation:
            found.append(f"{operation}: {line.strip()[2:]}")
    start = output.find("FAILURES")
    text = output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output
    text = text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]
    return "\n".join(sorted(set(found))) + "\n\n" + text


def test_excluded_operations_exist(fuzz_site: RondaProcess) -> None:
    spec = httpx.get(f"{fuzz_site.base}/api/v1/openapi.json", timeout=30).json()
    assert "servers" not in spec, "a servers entry would send the fuzzer elsewhere"
    ops = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item}
    assert set(EXCLUDED) <= ops, f"stale exclusions: {set(EXCLUDED) - ops}"


@pytest.mark.parametrize("user", ["admin", "viewer_a"])
def test_fuzz_api(fuzz_site: RondaProcess, user: str, tmp_path: Path) -> None:
    token = fuzz_site.login(user, PW)
    code, output, urls = run_schemathesis(fuzz_site, token, tmp_path)
    assert urls, f"schemathesis made no request:\n{output[-3000:]}"
    elsewhere = sorted({u for u in urls if not u.startswith(fuzz_site.base + "/")})
    assert not elsewhere, f"requests outside {fuzz_site.base}: {elsewhere[:10]}"
    assert code == 0, f"schemathesis as {user} ({len(urls)} requests, seed {SEED}):\n{failures(output)}"
