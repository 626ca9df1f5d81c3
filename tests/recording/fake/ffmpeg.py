#!/usr/bin/env python3
"""A fake ffmpeg for driving StreamRecorder in milliseconds.

It takes the real capture argument list, writes segment files named by the output pattern (copies of
a real fragmented MP4, fragment by fragment) and prints the CSV segment list on stdout as ffmpeg's
``-segment_list pipe:1 -segment_list_type csv`` does. What it does is read from ``behaviour.json``
beside it (written by the test); each run appends its argv and the input script it read from the
inherited pipe to ``calls.jsonl``, and its pid to ``pids``.

behaviour.json keys (all optional):
  source: path of the MP4 to copy;  frag_delay: seconds between fragments (0.01)
  segments: segments to write per run (default: endless)
  then: "exit" (exit 0), "die" (SIGKILL itself mid-segment), "stall" (stop writing mid-segment)
  ignore_term: a stalled fake ignores SIGTERM (as a stalled ffmpeg does until its socket timeout)
  lies: list lines printed before the first real one
  lie_times_at: segment numbers listed as lasting a billion seconds
  lie_numbers_at: segment numbers listed with a start that is no number
  stderr: text printed to stderr before exiting
  exit_code: status for "exit";  runs: per-run overrides, a list indexed by run number (last one repeats)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    args = sys.argv[1:]
    cfg = json.loads((HERE / "behaviour.json").read_text())
    with (HERE / "pids").open("a") as f:
        f.write(f"{os.getpid()}\n")
    run = sum(1 for _ in (HERE / "calls.jsonl").open()) if (HERE / "calls.jsonl").exists() else 0
    overrides = cfg.get("runs") or []
    if overrides:
        cfg = {**cfg, **overrides[min(run, len(overrides) - 1)]}
    script = ""
    for a in args:
        m = re.fullmatch(r"pipe:(\d+)", a)
        if m and a != "pipe:1":
            script = os.read(int(m.group(1)), 65536).decode()
    with (HERE / "calls.jsonl").open("a") as f:
        f.write(json.dumps({"argv": sys.argv, "input": script}) + "\n")
    pattern = args[-1]
    data = Path(cfg["source"]).read_bytes()
    frags = _fragments(data)
    delay = float(cfg.get("frag_delay", 0.01))
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if cfg.get("ignore_term") else on_term)
    for line in cfg.get("lies", []):
        print(line, flush=True)
    n = 0
    t = 0.0
    limit = cfg.get("segments")
    while limit is None or n < limit:
        path = Path(pattern % n)
        begun = time.monotonic()
        with path.open("wb") as out:
            out.write(frags[0])
            out.flush()
            for i, frag in enumerate(frags[1:]):
                if stopping:
                    break
                out.write(frag)
                out.flush()
                time.sleep(delay)
                if cfg.get("then") == "die" and limit is not None and n == limit - 1 and i == 1:
                    out.write(frag[: len(frag) // 2])  # a cut fragment, as a kill -9 leaves it
                    out.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
                if cfg.get("then") == "stall" and limit is not None and n == limit - 1 and i == 1:
                    while True:  # connected, writing nothing: what a camera that froze looks like
                        time.sleep(1)
        dur = time.monotonic() - begun
        if n in cfg.get("lie_numbers_at", []):
            print(f"{path.name},1.2.3,{t + dur:.6f}", flush=True)  # digits and dots, not a number
        elif n in cfg.get("lie_times_at", []):
            print(f"{path.name},{t:.6f},{t + 1e9:.6f}", flush=True)  # a billion seconds long
        else:
            print(f"{path.name},{t:.6f},{t + dur:.6f}", flush=True)
        t += dur
        n += 1
        if stopping:
            return 0
    if cfg.get("stderr"):
        print(cfg["stderr"], file=sys.stderr, flush=True)
    return int(cfg.get("exit_code", 0))


def _fragments(data: bytes) -> list[bytes]:
    """[ftyp+moov, moof+mdat, moof+mdat, ...] of a fragmented MP4 (32-bit box sizes)."""
    out: list[bytes] = []
    pos, init_end, start = 0, 0, 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"moov":
            init_end = pos + size
            out.append(data[:init_end])
        elif kind == b"moof":
            start = pos
        elif kind == b"mdat" and init_end:
            out.append(data[start : pos + size])
        pos += size
    return out


if __name__ == "__main__":
    sys.exit(main())
