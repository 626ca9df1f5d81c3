"""recording/layout.py: the one owner of recording paths."""

from __future__ import annotations

import re
from pathlib import Path

from ronda.recording import layout
from ronda.recording.reindex import parse_name

SRC = Path(__file__).resolve().parents[2] / "src" / "ronda"


def test_segment_names_round_trip():
    start = 1_764_930_000_123  # 2025-12-05T10:20:00.123Z
    rel = layout.segment_relpath(7, "main", start)
    assert rel.as_posix() == "7/2025/12/05/main_20251205T102000123Z.mp4"
    assert layout.parse_segment_name(rel.name) == ("main", start)
    for n in (1, 2, 10):  # name clashes: each clash name still parses to the same start
        clash = layout.segment_relpath(7, "sub", start, n)
        assert clash.name == f"sub_20251205T102000123Z-{n}.mp4"
        assert parse_name(clash.name) == ("sub", start)
    assert layout.parse_segment_name("main_20251305T102000123Z.mp4") is None  # month 13
    assert layout.parse_segment_name("notes.txt") is None


def test_partials(tmp_path):
    paths = layout.Layout(tmp_path)
    pattern = paths.partial_pattern(3, "main", "0001764930000123")
    assert pattern == tmp_path / ".partial" / "3-main" / "0001764930000123_%06d.mp4.partial"
    d = paths.partial_dir(3, "main")
    d.mkdir(parents=True)
    for name in ("0001_000001.mp4.partial", "0001_000000.mp4.partial", "0002_000000.mp4.partial", "x.tmp"):
        (d / name).write_bytes(b"")
    assert [p.name for p in paths.partials(3, "main")] == [
        "0001_000000.mp4.partial", "0001_000001.mp4.partial", "0002_000000.mp4.partial"
    ]  # fmt: skip
    assert [p.name for p in paths.partials(3, "main", "0002")] == ["0002_000000.mp4.partial"]
    assert paths.newest_partial(3, "main") == d / "0002_000000.mp4.partial"
    assert paths.newest_partial(4, "main") is None


def test_day_dirs(tmp_path):
    paths = layout.Layout(tmp_path)
    for day in ("2025/12/04", "2025/12/05", "2025/12/07"):
        (tmp_path / "1" / day).mkdir(parents=True)
    day_ms = 86_400_000
    since = 1_764_930_000_000  # 2025-12-05
    got = [p.relative_to(tmp_path).as_posix() for p in paths.day_dirs(1, since, since + 3 * day_ms)]
    assert got == ["1/2025/12/05", "1/2025/12/07"]
    assert len(list(paths.day_dirs(1, None, 0))) == 3


def test_no_other_module_spells_out_recording_paths():
    """The partial and quarantine folders and the segment name pattern are written only in layout.py."""
    # (".partial" alone is also the suffix of export and backup files being written: not looked for)
    spelled = re.compile(r"""["']\.quarantine["']|["']\.partial["']\s*/|/\s*["']\.partial["']|_%06d|:%Y%m%dT%H%M%S\}""")
    offenders = [
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p.name != "layout.py" and spelled.search(p.read_text())
    ]
    assert offenders == []
