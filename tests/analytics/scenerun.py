"""Run the shipped analysers over a generated wall clip (tests/analytics/wallclip.py) as a worker would:
5 of the clip's 15 frames per second, decoded with PyAV at the simulator's sub-stream size (640x360)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import av

from ronda.analytics.builtin import BUILTIN
from ronda.analytics.pipeline import EventOut, Frame
from ronda.analytics.settings import AnalyticsSettings
from tests.analytics.wallclip import wall_clip

BASE_MS = 1_800_000_000_000
EVERY = 3  # 15 fps clip -> 5 analysed frames per second


@dataclass
class SceneRun:
    truth: dict[str, Any]
    events: list[tuple[float, EventOut]] = field(default_factory=list)  # (clip seconds, event)

    def of(self, prefix: str) -> list[tuple[float, EventOut]]:
        return [(s, e) for s, e in self.events if e.type.startswith(prefix)]


def run_clip(name: str, detectors: list[str], loops: int = 1, **settings: Any) -> SceneRun:
    """Every event but motion's and objects' (clip seconds: loop L's time is L * length + t)."""
    clip = wall_clip(name)
    truth = clip.load()
    st = AnalyticsSettings.model_validate({"detectors": detectors, "zones": truth["zones"], **settings})
    analysers = [a for a in (BUILTIN[d](1, st) for d in st.detectors) if a is not None]
    out = SceneRun(truth)
    n = truth["frames"]
    for loop in range(loops):
        with av.open(str(clip.video)) as container:
            for i, picture in enumerate(container.decode(video=0)):
                if i % EVERY:
                    continue
                t = (loop * n + i) / truth["fps"]
                frame = Frame(1, BASE_MS + round(t * 1000), picture)
                for a in analysers:
                    for r in a.feed(frame):
                        if isinstance(r, EventOut) and not r.type.startswith(("motion.", "object.")):
                            out.events.append((t, r))
    return out
