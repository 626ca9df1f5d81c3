"""Benchmark: export 1 h of 1080p footage as a signed, verified package vs ``ffmpeg -f concat -c copy``
of the same segments followed by ``sha256sum`` of the output, same run.

The hour of footage is made once per run by copying a simulator clip (real H.264, 1080p, 15 fps) into
recorder-style fragmented-MP4 segments at full speed, catalogued as one camera's recording.

    python bench/export.py [--minutes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import result  # noqa: E402
from ronda.access.audit import load_or_create_signing_key  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.media.evidence import verify_package  # noqa: E402
from ronda.media.export import ExportRequest, run_export  # noqa: E402
from ronda.recording.segments import hash_and_sync  # noqa: E402
from ronda.store.db import Database  # noqa: E402
from ronda.store.models import Camera, Segment  # noqa: E402

SEG_S = 6


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_footage(base: Path, minutes: int) -> tuple[Database, Path, list[Path], int, int]:
    cache = simmedia.default_cache_dir()
    simmedia.prepare(cache, 1)
    clip, _ = simmedia.camera_files(cache, 1)
    rec = base / "recordings"
    seg_dir = rec / "1"
    seg_dir.mkdir(parents=True)
    log(f"making {minutes} min of 1080p segments from {clip.name}")
    timed = base / "clip.mp4"  # raw H.264 has no timestamps to loop on: give it a container first
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-r", "15", "-i", str(clip), "-c", "copy",
                    str(timed)], check=True)  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-stream_loop", "-1", "-i", str(timed),
         "-t", str(minutes * 60), "-c", "copy", "-f", "segment", "-segment_time", str(SEG_S), "-segment_format",
         "mp4", "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof",
         "-reset_timestamps", "1", str(seg_dir / "main_%06d.mp4")],
        check=True,
    )  # fmt: skip
    files = sorted(seg_dir.glob("*.mp4"))
    db = Database(f"sqlite:///{base / 'ronda.db'}")
    db.upgrade()
    t0 = 1_780_000_000_000
    with db.session() as s:
        s.add(Camera(id=1, name="Bench", created_ms=0, status="recording"))
        s.flush()
        for i, f in enumerate(files):
            size, digest = hash_and_sync(f)
            a, b = t0 + i * SEG_S * 1000, t0 + (i + 1) * SEG_S * 1000
            s.add(Segment(camera_id=1, stream="main", start_ms=a, end_ms=b, bytes=size, path=str(f.relative_to(rec)),
                          sha256=digest))  # fmt: skip
    return db, rec, files, t0, t0 + len(files) * SEG_S * 1000


def baseline(files: list[Path], out: Path) -> float:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{f}'\n" for f in files))
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", "-y", str(out)], check=True)  # fmt: skip
    subprocess.run(["sha256sum", str(out)], check=True, capture_output=True)
    return time.perf_counter() - t


def ronda(db: Database, rec: Path, start: int, end: int, out: Path, keyfile: Path) -> float:
    key = load_or_create_signing_key(keyfile)
    req = ExportRequest([1], start, end, "bench", "benchmark", "B-1")
    t = time.perf_counter()
    asyncio.run(run_export(db, rec, "ffmpeg", key, "bench", "UTC", req, out))
    res = verify_package(out)
    elapsed = time.perf_counter() - t
    assert res.ok, res.problems
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=int, default=60)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ronda-bench-export-", dir=str(Path.cwd())) as tmp:
        base = Path(tmp)
        db, rec, files, start, end = make_footage(base, a.minutes)
        size = sum(f.stat().st_size for f in files)
        log(f"{len(files)} segments, {size / 1e9:.2f} GB")
        log("baseline: ffmpeg -f concat -c copy + sha256sum")
        b = baseline(files, base / "baseline.mp4")
        (base / "baseline.mp4").unlink()
        log(f"  {b:.1f} s")
        log("ronda: export + signed package + verify")
        r = ronda(db, rec, start, end, base / "package.zip", base / "site.pem")
        log(f"  {r:.1f} s  (ratio {r / b:.2f})")
        db.dispose()
    print(result("export", "seconds_per_hour_exported", "s", r * 60 / a.minutes, b * 60 / a.minutes,
                 "ffmpeg -f concat -c copy + sha256sum", minutes=a.minutes, bytes=size))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
