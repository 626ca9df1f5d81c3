"""``ronda lpr read IMAGE…``: read the licence plate in picture files (docs/analytics.md, Licence plates).

One JSON object per picture on standard output, in the order given:
``{"image", "plate" (or null), "confidence", "format", "box"}``, plus ``"error"`` when the file cannot
be read as a picture (missing, not an image, too large): an error is a line like the others, never a
traceback, and the exit status is 0. ``--vehicle x0,y0,x1,y1`` reads inside that box (normalised).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

MAX_FILE_BYTES = 64 << 20
CLI_TIMEOUT_S = 30.0  # per picture, after the text detector: a command may take its time


def add_parser(sub: Any) -> None:
    """``lpr`` and its action ``read``, on the ``ronda`` command's sub-parsers."""
    lpr = sub.add_parser("lpr", help="licence plates")
    actions = lpr.add_subparsers(dest="lpr_command", metavar="ACTION")
    actions.required = True
    rd = actions.add_parser(
        "read",
        help="read the licence plate in picture files (JPEG, PNG, …): one JSON object per picture",
        description='Prints one JSON object per picture: {"image", "plate" (null when none is read), '
        '"confidence", "format", "box"} and "error" when the file cannot be read. Exit status 0.',
    )
    rd.add_argument("images", nargs="+", metavar="IMAGE", help="picture files")
    rd.add_argument("--vehicle", metavar="X0,Y0,X1,Y1", help="read only inside this box (normalised 0-1)")
    rd.add_argument("--min-confidence", type=float, default=None, help="ignore reads below this (default 0.5)")
    rd.add_argument("--all", action="store_true", help='every plate read in the picture ("plates": [...])')


def _box(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--vehicle {text!r}: four numbers x0,y0,x1,y1 are expected") from None
    if len(v) != 4 or not all(0.0 <= x <= 1.0 for x in v) or v[0] >= v[2] or v[1] >= v[3]:
        raise ValueError(f"--vehicle {text!r}: x0 < x1 and y0 < y1, each within 0-1")
    return v[0], v[1], v[2], v[3]


def _load(path: str) -> Any:
    import cv2
    import numpy as np

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise ValueError(f"cannot read the file: {e.strerror}") from None
    if not p.is_file():
        raise ValueError("not a file")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"the file is {size} bytes, larger than {MAX_FILE_BYTES}")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the file: {e.strerror}") from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise ValueError("not a picture OpenCV can decode")
    return img


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from ronda.analytics.plates.reader import DEFAULT_MIN_CONFIDENCE, PlateReader, ReaderError

    def line(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        box = _box(args.vehicle)
        min_conf = DEFAULT_MIN_CONFIDENCE if args.min_confidence is None else float(args.min_confidence)
        if not 0.0 <= min_conf <= 1.0:
            raise ValueError("--min-confidence is between 0 and 1")
        reader = PlateReader(min_confidence=min_conf, timeout_s=CLI_TIMEOUT_S)
    except (ValueError, ReaderError) as e:  # the reader cannot work at all: said once per picture
        for image in args.images:
            line({"image": image, "plate": None, "confidence": None, "error": str(e)})
        return 0
    for image in args.images:
        try:
            reads = reader.read_all(_load(image), box)
        except (ValueError, ReaderError) as e:
            line({"image": image, "plate": None, "confidence": None, "error": str(e)})
            continue
        except Exception as e:  # never a traceback: the picture's line says what went wrong
            line({"image": image, "plate": None, "confidence": None, "error": f"{type(e).__name__}: {e}"})
            continue
        best = reads[0] if reads else None
        obj: dict[str, Any] = {
            "image": image,
            "plate": best.plate if best else None,
            "confidence": best.confidence if best else None,
            "format": best.format if best else None,
            "box": [round(v, 4) for v in best.box] if best else None,
        }
        if args.all:
            obj["plates"] = [{"plate": r.plate, "confidence": r.confidence, "format": r.format,
                              "box": [round(v, 4) for v in r.box]} for r in reads]  # fmt: skip
        line(obj)
    return 0
