"""The soak of issue 16, CI-sized: bench/soak.py's run with ``RONDA_SOAK_CAMERAS`` (default 8) cameras
for ``RONDA_SOAK_MINUTES`` (default 5) with 4 live viewers, 2 playback users, 10 events/s and retention
deleting the first minutes (40 % of the run) while it runs.

The full hour is ``python bench/soak.py`` (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from bench.soak import RSS_LIMIT_PCT, Options, run

MINUTES = float(os.environ.get("RONDA_SOAK_MINUTES", "5"))
CAMERAS = int(os.environ.get("RONDA_SOAK_CAMERAS", "8"))


@pytest.mark.slow
@pytest.mark.timeout(int(MINUTES * 60) + 600)
def test_soak(tmp_path: Path) -> None:
    out = run(Options(cameras=CAMERAS, minutes=MINUTES, viewers=4, playback=2, events_per_second=10), tmp_path)
    summary = {k: v for k, v in out.items() if not k.endswith("_list")}
    print(json.dumps(summary), file=sys.stderr)  # the figures, in the log of a run with -s
    # the load really ran (else the criteria below prove nothing)
    assert out["load_errors"] == 0, out["error_list"]
    assert out["viewer_sessions"] >= 4 and out["viewer_messages"] > 100 * 4, summary
    assert out["playback_segments"] > 10, summary
    assert out["events_stored"] == out["events_accepted"] >= 0.9 * 10 * (MINUTES * 60 - 10), summary
    # retention deleted during the run, and neither what it had to keep nor the evidence lock
    assert out["retention_deleted"] > 0, summary
    assert out["locked_range_kept"], summary
    assert out["unexplained_gaps"] == 0, out["gap_list"]
    # the process holds steady and leaves nothing behind
    assert out["rss_growth_pct"] < RSS_LIMIT_PCT, summary
    assert out["fd_flat"], summary
    assert out["orphans"] == 0, summary
    assert out["exit_code"] == 0, summary
    assert out["catalog_equals_files"], out["catalog_problems"]
    assert out["passed"], summary
