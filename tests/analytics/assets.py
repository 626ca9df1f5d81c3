"""Real pictures, a real clip and real models for the analytics tests (scripts/analytics_assets.py).

``scripts/setup.sh --test`` puts them in ``<venv>/share/ronda/testdata`` and the built-in models in
``<venv>/share/ronda/models``. When they are missing (a venv made another way) the first test that
needs one runs the same set-up step once; a test skips, saying why, only when that fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARE = Path(sys.prefix) / "share" / "ronda"
_tried: set[str] = set()


def _ensure(path: Path, flag: str) -> Path:
    if not path.is_file() and flag not in _tried:
        _tried.add(flag)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
        subprocess.run([sys.executable, str(ROOT / "scripts" / "analytics_assets.py"), flag], env=env, check=False)
    if not path.is_file():
        pytest.skip(f"{path} is missing and `scripts/analytics_assets.py {flag}` could not make it (offline?)")
    return path


def sample(name: str) -> Path:
    """``bus.jpg``, ``zidane.jpg``, ``bikes.mp4`` or ``yolov8n-nudenet.onnx``."""
    return _ensure(SHARE / "testdata" / name, "--testdata")


def builtin_model(name: str = "yolov3-tiny.onnx") -> Path:
    return _ensure(SHARE / "models" / name, "--models")
