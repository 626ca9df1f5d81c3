"""Debian's ``motion`` daemon (package ``motion``, installed by ``scripts/setup.sh --test``) on one RTSP
stream: the baseline of ``bench/motion.py``.

:class:`MotionDaemon` writes a config into a temp folder (no web control, no stream port, no pictures, no
movies, no text overlay; Debian's defaults otherwise: threshold 1500 changed pixels, despeckle ``EedDl``,
noise tuning on, one frame to confirm), with ``event_gap`` short enough that separate crossings are
separate events, and ``on_event_start``/``on_event_end`` hooks appending the wall-clock time to a file.
:meth:`MotionDaemon.cpu_percent` measures its CPU (% of one core, from ``/proc``) over a stretch of time
and :meth:`MotionDaemon.events` reads its motion events as wall-clock intervals (Unix ms).

``motion`` runs as the ``motion`` system user the package creates when this process is root (a camera
daemon has no business running as root), else as the current user.

    python bench/_motiond.py rtsp://127.0.0.1:8554/cam2 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")

HOOK = """#!/bin/sh
# $1: start|end; appended by motion's on_event_start / on_event_end
echo "$1 $(date +%s.%N)" >> "{events}"
"""


def _cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime, all threads


class MotionError(RuntimeError):
    pass


def mask_pgm(size: tuple[int, int], include: list[list[list[float]]] | None, exclude: list[list[list[float]]]) -> bytes:
    """motion's mask file: a binary PGM of the picture's size, white (255) where it looks for motion."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("L", size, 0 if include else 255)
    draw = ImageDraw.Draw(img)
    for poly in include or []:
        draw.polygon([(x * w, y * h) for x, y in poly], fill=255)
    for poly in exclude:
        draw.polygon([(x * w, y * h) for x, y in poly], fill=0)
    return f"P5\n{w} {h}\n255\n".encode() + img.tobytes()


class MotionDaemon:
    def __init__(
        self,
        url: str,
        size: tuple[int, int],
        fps: int = 15,
        *,
        event_gap: int = 3,
        threshold: int = 1500,
        include: list[list[list[float]]] | None = None,
        exclude: list[list[list[float]]] | None = None,
        workdir: Path | None = None,
    ) -> None:
        """``include``/``exclude``: polygons (points normalised 0-1) of the area motion watches and of the
        areas it ignores, given to motion as its ``mask_file`` (a PGM: white is watched)."""
        exe = shutil.which("motion")
        if exe is None:
            raise MotionError("motion is not installed (Debian: apt-get install motion; scripts/setup.sh --test)")
        self.exe = exe
        self.url = url
        self.size = size
        self.fps = fps
        self.event_gap = event_gap
        self.threshold = threshold
        self.include = include
        self.exclude = exclude or []
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="ronda-motiond-"))
        self.events_file = self.dir / "events.txt"
        self.log_file = self.dir / "motion.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # --------------------------------------------------------------- config

    def config(self) -> str:
        w, h = self.size
        hook = self.dir / "hook.sh"
        return "\n".join([
            "daemon off",
            "setup_mode off",
            f"log_file {self.log_file}",
            "log_level 6",
            f"target_dir {self.dir / 'out'}",
            f"pid_file {self.dir / 'motion.pid'}",
            f"netcam_url {self.url}",
            "netcam_params rtsp_transport=tcp",
            f"width {w}",
            f"height {h}",
            f"framerate {self.fps}",
            "text_left ''",
            "text_right ''",
            "text_changes off",
            "emulate_motion off",
            f"threshold {self.threshold}",
            *([f"mask_file {self.dir / 'mask.pgm'}"] if self.include or self.exclude else []),
            "noise_tune on",
            "despeckle_filter EedDl",
            "minimum_motion_frames 1",
            f"event_gap {self.event_gap}",
            "pre_capture 0",
            "post_capture 0",
            "picture_output off",
            "movie_output off",
            "snapshot_interval 0",
            "webcontrol_port 0",
            "stream_port 0",
            f"on_event_start {hook} start",
            f"on_event_end {hook} end",
            "",
        ])  # fmt: skip

    # --------------------------------------------------------------- life

    def start(self) -> MotionDaemon:
        (self.dir / "out").mkdir(parents=True, exist_ok=True)
        hook = self.dir / "hook.sh"
        hook.write_text(HOOK.format(events=self.events_file))
        hook.chmod(0o755)
        conf = self.dir / "motion.conf"
        conf.write_text(self.config())
        if self.include or self.exclude:
            (self.dir / "mask.pgm").write_bytes(mask_pgm(self.size, self.include, self.exclude))
        self.events_file.touch()
        preexec = None
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("motion")
            except KeyError:
                user = pwd.getpwnam("nobody")
            for p in (self.dir, self.dir / "out", self.events_file, conf, hook, *self.dir.glob("mask.pgm")):
                os.chown(p, user.pw_uid, user.pw_gid)
            uid, gid = user.pw_uid, user.pw_gid

            def preexec() -> None:
                os.setgid(gid)
                os.setgroups([])
                os.setuid(uid)

        self.proc = subprocess.Popen(
            [self.exe, "-n", "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=preexec, cwd=self.dir,
        )  # fmt: skip
        return self

    def wait_streaming(self, timeout: float = 30.0) -> None:
        """Until motion has opened the stream and is analysing pictures (its log says so)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MotionError(f"motion exited with {self.proc.returncode}:\n{self._log_tail()}")
            log = self._log()
            if "netcam_rtsp_connect" in log and "connected" in log:
                # the first pictures take a moment more (noise tuning, reference frame)
                time.sleep(2)
                return
            time.sleep(0.25)
        raise MotionError(f"motion did not open {self.url} within {timeout:.0f} s:\n{self._log_tail()}")

    def cpu_percent(self, seconds: float) -> float:
        """motion's CPU over the next ``seconds``, in % of one core."""
        assert self.proc is not None
        c0, t0 = _cpu_seconds(self.proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = _cpu_seconds(self.proc.pid), time.monotonic()
        return 100.0 * (c1 - c0) / (t1 - t0)

    def events(self, until_ms: float | None = None) -> list[tuple[float, float]]:
        """Motion events as wall-clock (start_ms, end_ms); an event still open ends at ``until_ms`` (default
        now)."""
        end_default = until_ms if until_ms is not None else time.time() * 1000
        out: list[tuple[float, float]] = []
        start: float | None = None
        for line in self.events_file.read_text().splitlines():
            kind, _, stamp = line.partition(" ")
            try:
                ms = float(stamp) * 1000
            except ValueError:
                continue
            if kind == "start":
                start = ms
            elif kind == "end" and start is not None:
                out.append((start, ms))
                start = None
        if start is not None:
            out.append((start, end_default))
        return out

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> MotionDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, lines: int = 25) -> str:
        return "\n".join(self._log().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Debian's motion on an RTSP stream; print CPU and events.")
    parser.add_argument("url")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    w, _, h = args.size.partition("x")
    with MotionDaemon(args.url, (int(w), int(h))) as md:
        md.wait_streaming()
        t0 = time.time() * 1000
        cpu = md.cpu_percent(args.seconds)
        print(f"motion: {cpu:.1f} % of a core; events since start: {len(md.events())}")
        for a, b in md.events():
            print(f"  {(a - t0) / 1000:7.1f} s .. {(b - t0) / 1000:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
