"""Ronda's motion path as the product runs it, for bench/motion.py, alone in its own process so that /proc
shows its CPU: the recorder's fragments (written into ``--partial-dir`` by an ``ffmpeg -c copy`` with the
recorder's muxer settings, run by the bench) followed by :class:`ronda.analytics.frames.FrameSource`
(adaptive decoding: a keyframe about every 2 s until the analyser asks for every frame) and analysed by
:class:`ronda.analytics.motion_analyser.MotionAnalyser`, the analyser the workers run. One JSON line per
motion event (``{"kind": "start"|"end", "time_ms", "box", "level"}``) to ``--out``; on SIGINT/SIGTERM a
last line with its counters."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ronda.analytics.frames import FrameSource  # noqa: E402
from ronda.analytics.motion_analyser import MotionAnalyser  # noqa: E402
from ronda.analytics.pipeline import EventOut  # noqa: E402
from ronda.analytics.settings import AnalyticsSettings  # noqa: E402


class Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--partial-dir", type=Path, required=True)
    p.add_argument("--zones", default="[]", help="JSON list of zones (name, kind, points)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    settings = AnalyticsSettings.model_validate({"zones": json.loads(a.zones)})
    analyser = MotionAnalyser(1, settings)
    source = FrameSource(1, a.partial_dir, settings.motion.fps, lambda: analyser.need)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    analysed = 0
    with a.out.open("w") as out:
        try:
            while True:
                frames = source.read(int(time.time() * 1000))
                for frame in frames:
                    analysed += 1
                    for r in analyser.feed(frame):
                        if isinstance(r, EventOut):
                            kind = r.type.split(".", 1)[1]
                            out.write(json.dumps({"kind": kind, "time_ms": r.time_ms, "box": r.payload.get("box"),
                                                  "level": r.payload.get("level")}) + "\n")  # fmt: skip
                            out.flush()
                if not frames:
                    time.sleep(0.1)  # READ_S of the workers
        except Stop:
            pass
        counts = {"decoded": source.decoder.decoded, "skipped": source.decoder.skipped, "analysed": analysed}
        out.write(json.dumps({"kind": "counts", "decode": counts, "errors": dict(source.reasons),
                              "detector": analyser.detector.counts}) + "\n")  # fmt: skip
        source.close()


if __name__ == "__main__":
    main()
