"""The books of bench/soak.py on hand-made catalogs: each check must see the fault it is there for,
or the soak's "0 gaps, catalog = files" proves nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from bench.soak import check_catalog, holes, proc_table, tree


def make_site(tmp_path: Path, segs: list[tuple[int, int, str, int]], gaps: list[tuple[int, int | None]]) -> Path:
    """A data dir whose catalog holds ``segs`` (start, end, path, bytes) and ``gaps`` of camera 1's main."""
    data = tmp_path / "data"
    (data / "recordings").mkdir(parents=True)
    con = sqlite3.connect(data / "ronda.db")
    con.execute("CREATE TABLE segments (id INTEGER PRIMARY KEY, camera_id INT, stream TEXT, start_ms INT, end_ms INT,"
                " bytes INT, path TEXT, sha256 TEXT, recovered INT, location TEXT DEFAULT 'local')")  # fmt: skip
    con.execute("CREATE TABLE gaps (camera_id INT, stream TEXT, start_ms INT, end_ms INT, reason TEXT)")
    for a, b, path, size in segs:
        con.execute("INSERT INTO segments (camera_id, stream, start_ms, end_ms, bytes, path, sha256, recovered)"
                    " VALUES (1, 'main', ?, ?, ?, ?, '', 0)", (a, b, size, path))  # fmt: skip
    for a, b in gaps:
        con.execute("INSERT INTO gaps VALUES (1, 'main', ?, ?, 'camera_offline')", (a, b))
    con.commit()
    con.close()
    return data


def put(data: Path, rel: str, size: int) -> None:
    p = data / "recordings" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x" * size)


def test_catalog_check_names_missing_short_unindexed_and_partial_files(tmp_path):
    data = make_site(tmp_path, [(0, 6000, "1/a.mp4", 10), (6000, 12000, "1/b.mp4", 10), (12000, 18000, "1/c.mp4", 10)],
                     [])  # fmt: skip
    put(data, "1/a.mp4", 10)
    put(data, "1/c.mp4", 7)  # shorter than its row says
    put(data, "1/d.mp4", 10)  # no row
    put(data, ".volume-id", 5)  # not recordings: ignored
    put(data, ".quarantine/x.mp4", 5)
    got = check_catalog(data)
    assert got.equal is False
    assert got.missing == ["1/b.mp4"]
    assert got.wrong_size == ["1/c.mp4: row 10, file 7"]
    assert got.unindexed == ["1/d.mp4"]
    assert (got.rows, got.files, got.partials) == (3, 3, [])
    put(data, ".partial/1-main/s_0.mp4.partial", 3)
    assert check_catalog(data).partials == [".partial/1-main/s_0.mp4.partial"]


def test_catalog_check_passes_when_rows_and_files_agree(tmp_path):
    data = make_site(tmp_path, [(0, 6000, "1/a.mp4", 10)], [])
    put(data, "1/a.mp4", 10)
    got = check_catalog(data)
    assert got.equal and (got.rows, got.files) == (1, 1)


def test_holes_count_only_uncovered_stretches_longer_than_a_frame(tmp_path):
    segs = [(0, 6000, "a", 1), (6030, 12000, "b", 1), (12500, 18000, "c", 1), (20000, 26000, "d", 1)]
    data = make_site(tmp_path, segs, [(18000, 20000)])  # 30 ms: less than a frame; 18-20 s: a recorded gap
    assert holes(data, [1], 0, 26000, False) == [(1, 12000, 12500)]
    assert holes(data, [1], 0, 30000, False) == [(1, 12000, 12500), (1, 26000, 30000)]
    assert holes(data, [1], 0, 30000, True) == [(1, 12000, 12500)]  # the trailing one may be still recording


def test_tree_holds_a_child_and_not_its_parent(tmp_path):
    child = subprocess.Popen(["sleep", "30"])
    try:
        table = proc_table()
        mine = tree(os.getpid(), table)
        assert child.pid in mine and os.getpid() in mine
        assert os.getppid() not in mine
    finally:
        child.kill()
        child.wait()
