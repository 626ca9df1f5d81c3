"""The wheel carries every file the web client and the migrations need (a non-editable install serves
exactly these): a new folder under web/static must not be left out of package-data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_every_static_file_and_migration(tmp_path):
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    (wheel,) = tmp_path.glob("ronda-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    src = ROOT / "src"
    wanted = {
        str(Path(d, f).relative_to(src))
        for base in ("ronda/web/static", "ronda/store/migrations")
        for d, _, files in os.walk(src / base)
        for f in files
        if "__pycache__" not in d
    }
    assert wanted - packaged == set()
