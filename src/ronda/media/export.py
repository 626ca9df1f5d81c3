"""Exports: a time range of one or more cameras, remuxed (never re-encoded) into MP4 files, one per
camera per continuous run of recording (split only at gaps), wrapped as a signed evidence package.

While an export runs, its footage is held by a temporary evidence lock (a row in the database, so a
recorder in another process respects it too) that expires by itself if the export process dies.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete

from ronda import __version__
from ronda.media import evidence
from ronda.media.segment_source import SegmentSource, SegmentUnavailable
from ronda.recording import ffmpeg as ffmpeg_proc
from ronda.store import repos
from ronda.store.db import Database
from ronda.store.models import EvidenceLock, Segment
from ronda.timeutil import now_ms, to_iso

MAX_EXPORT_MS = 24 * 3600 * 1000
RUN_TOLERANCE_MS = 250  # segments closer than this belong to one continuous run
HOLD_MS = 6 * 3600 * 1000
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExportError(Exception):
    """A request that cannot be exported; the message says why (nothing has been written)."""


class ExportCancelled(Exception):
    pass


@dataclass(slots=True)
class Run:
    camera_id: int
    camera_name: str
    stream: str
    segments: list[Segment]

    @property
    def start_ms(self) -> int:
        return self.segments[0].start_ms

    @property
    def end_ms(self) -> int:
        return self.segments[-1].end_ms


@dataclass
class ExportRequest:
    camera_ids: list[int]
    start_ms: int
    end_ms: int
    exported_by: str
    reason: str = ""
    case: str = ""
    stream: str = "main"


@dataclass
class Progress:
    done_ms: int = 0
    total_ms: int = 0
    stage: str = "planning"
    cancelled: bool = False
    callbacks: list[Callable[[Progress], None]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_ms / self.total_ms) if self.total_ms else 0.0

    def update(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)
        for cb in self.callbacks:
            cb(self)


def validate_request(req: ExportRequest) -> None:
    if req.end_ms <= req.start_ms:
        raise ExportError("end must be after start")
    if req.end_ms - req.start_ms > MAX_EXPORT_MS:
        raise ExportError("an export covers at most 24 hours; split longer ranges into several exports")
    if not req.camera_ids:
        raise ExportError("name at least one camera")
    for text, what in ((req.reason, "reason"), (req.case, "case")):
        if len(text) > 500 or any(ord(c) < 0x20 for c in text):
            raise ExportError(f"{what} must be one line of at most 500 characters")


def plan(db: Database, req: ExportRequest) -> list[Run]:
    validate_request(req)
    runs: list[Run] = []
    with db.session() as s:
        for cid in req.camera_ids:
            cam = repos.get_camera(s, cid, include_deleted=True)
            if cam is None:
                raise ExportError(f"camera {cid} does not exist")
            segs = list(repos.segments_overlapping(s, cid, req.stream, req.start_ms, req.end_ms))
            current: list[Segment] = []
            for seg in segs:
                if current and seg.start_ms - current[-1].end_ms > RUN_TOLERANCE_MS:
                    runs.append(Run(cid, cam.name, req.stream, current))
                    current = []
                current.append(seg)
            if current:
                runs.append(Run(cid, cam.name, req.stream, current))
    if not runs:
        raise ExportError("there are no recordings of these cameras in that time range")
    return runs


def _hold(db: Database, runs: list[Run], who: str) -> list[int]:
    with db.session() as s:
        rows = [
            EvidenceLock(camera_id=r.camera_id, start_ms=r.start_ms, end_ms=r.end_ms, reason="export in progress",
                         until_ms=now_ms() + HOLD_MS, created_by=f"export:{who}", created_ms=now_ms())
            for r in runs
        ]  # fmt: skip
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _release(db: Database, ids: list[int]) -> None:
    with db.session() as s:
        s.execute(delete(EvidenceLock).where(EvidenceLock.id.in_(ids)))


def file_name(run: Run) -> str:
    t = datetime.fromtimestamp(run.start_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"cam{run.camera_id}_{_SAFE.sub('_', run.camera_name)[:40]}_{t}_{run.stream}.mp4"


async def _ffmpeg(args: list[str], progress: Progress, on_time: Callable[[float], None]) -> None:
    proc = await ffmpeg_proc.spawn(args)
    assert proc.stdout is not None and proc.stderr is not None
    err_task = asyncio.create_task(proc.stderr.read())
    try:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("out_time_us=") and line[12:].isdigit():
                on_time(int(line[12:]) / 1e6)
            if progress.cancelled:
                await ffmpeg_proc.stop(proc, grace_s=0)
                break
        await proc.wait()
    except asyncio.CancelledError:
        await ffmpeg_proc.stop(proc, grace_s=0)
        raise
    err = (await err_task).decode(errors="replace").strip()
    if progress.cancelled:
        raise ExportCancelled()
    if proc.returncode != 0:
        if "no space left on device" in err.lower():
            raise OSError(errno.ENOSPC, err[-300:])  # (run_export says which disk is full)
        raise ExportError(f"ffmpeg failed: {err[-300:]}")


def readable_files(source: SegmentSource, run: Run, work: Path) -> list[Path]:
    """Blocking. A local file for each segment of the run: archived ones are downloaded into the export's
    own work folder (checked against their SHA-256), so no cache eviction can pull them away mid-remux."""
    out = []
    for seg in run.segments:
        try:
            # (``into`` only matters for an archived one, also one archived since the plan was made)
            out.append(source.readable(seg, into=work / f"seg-{seg.id}.mp4"))
        except SegmentUnavailable as e:
            raise ExportError(f"footage of camera {run.camera_id} cannot be read: {e}") from None
    return out


async def remux_run(ffmpeg: str, files: list[Path], run: Run, req: ExportRequest, out: Path,
                    progress: Progress) -> None:  # fmt: skip
    """Concatenate a run's segments with stream copy, trimmed to the request at keyframes. ``files``: the
    readable file of each segment (`readable_files`)."""
    lines = ["ffconcat version 1.0"]
    for i, seg in enumerate(run.segments):
        lines.append(f"file '{files[i].as_posix()}'")
        if i == 0 and req.start_ms > seg.start_ms:
            lines.append(f"inpoint {(req.start_ms - seg.start_ms) / 1000:.3f}")
        if i == len(run.segments) - 1 and req.end_ms < seg.end_ms:
            lines.append(f"outpoint {(req.end_ms - seg.start_ms) / 1000:.3f}")
    listing = out.with_suffix(".ffconcat")
    listing.write_text("\n".join(lines) + "\n")
    base_done = progress.done_ms
    args = [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-nostats",
        "-f", "concat", "-safe", "0", "-protocol_whitelist", "file", "-i", str(listing),
        "-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(out),
    ]  # fmt: skip
    await _ffmpeg(args, progress, lambda t: progress.update(done_ms=base_done + int(t * 1000), stage="remuxing"))
    listing.unlink(missing_ok=True)


async def snapshot_of(ffmpeg: str, video: Path, out: Path) -> None:
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(video), "-frames:v", "1",
            "-q:v", "3", "-y", str(out)]  # fmt: skip
    await _ffmpeg(args, Progress(), lambda t: None)


def _report(manifest: dict[str, Any], tz: str) -> str:
    zone = ZoneInfo(tz)

    def local(iso: str) -> str:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone)
        return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + f" {dt.tzname()}"

    lines = [
        "RONDA EVIDENCE PACKAGE",
        "",
        f"Site:           {manifest['site']}",
        f"Exported by:    {manifest['exported_by']}",
        f"Exported at:    {manifest['created']} ({local(manifest['created'])})",
        f"Case:           {manifest['case'] or '-'}",
        f"Reason:         {manifest['reason'] or '-'}",
        f"Requested:      {manifest['range']['start']} to {manifest['range']['end']}",
        f"Software:       Ronda {manifest['software_version']}",
        f"Signing key:    {manifest['signing_key_fingerprint']}",
        "",
        "Files (SHA-256):",
    ]
    for f in manifest["files"]:
        span = f" {local(f['start'])} to {local(f['end'])}" if "start" in f else ""
        lines.append(f"  {f['name']}  {f['sha256']}  {f.get('camera_name', '')}{span}")
    if manifest["gaps"]:
        lines += ["", "Time without video in the range (recorded gaps):"]
        for g in manifest["gaps"]:
            lines.append(f"  camera {g['camera_id']}: {g['start']} to {g['end']} ({g['reason']})")
    lines += ["", "Check with: ronda verify <package.zip> --pubkey <site public key>", ""]
    return "\n".join(lines)


async def run_export(
    db: Database,
    root: Path,
    ffmpeg: str,
    key: Ed25519PrivateKey,
    site: str,
    timezone: str,
    req: ExportRequest,
    out: Path,
    progress: Progress | None = None,
    source: SegmentSource | None = None,
) -> dict[str, Any]:
    """Plan, hold, remux, sign. Raises ExportError/ExportCancelled; never leaves a partial package.
    ``source``: the read path of archived footage (default: local files under ``root`` only)."""
    progress = progress or Progress()
    source = source or SegmentSource(root, db)
    runs = await asyncio.to_thread(plan, db, req)
    progress.update(total_ms=sum(min(r.end_ms, req.end_ms) - max(r.start_ms, req.start_ms) for r in runs),
                    stage="holding")  # fmt: skip
    holds = await asyncio.to_thread(_hold, db, runs, req.exported_by)
    try:
        manifest = await _write(db, ffmpeg, key, site, timezone, req, out, progress, source, runs)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # The work folder and the partial package are gone already (TemporaryDirectory, write_package).
        raise ExportError(f"no space left on the disk of the folder {out.parent.name!r}: nothing was exported "
                          "(free some space and export again)") from None  # fmt: skip
    finally:
        await asyncio.to_thread(_release, db, holds)
    progress.update(stage="done", done_ms=progress.total_ms)
    return manifest


async def _write(db: Database, ffmpeg: str, key: Ed25519PrivateKey, site: str, timezone: str, req: ExportRequest,
                 out: Path, progress: Progress, source: SegmentSource, runs: list[Run]) -> dict[str, Any]:  # fmt: skip
    """Remux, snapshot, report and sign into ``out`` (run_export's work, inside its hold)."""
    with tempfile.TemporaryDirectory(prefix="ronda-export-", dir=out.parent) as tmp:
        work = Path(tmp)
        files: list[tuple[Path, str]] = []
        entries: list[dict[str, Any]] = []
        for run in runs:
            name = file_name(run)
            target = work / name
            inputs = await asyncio.to_thread(readable_files, source, run, work)
            await remux_run(ffmpeg, inputs, run, req, target, progress)
            for p in inputs:  # downloaded copies of archived segments: done with them
                if p.parent == work:
                    p.unlink(missing_ok=True)
            progress.update(done_ms=progress.done_ms)
            entries.append({
                "name": name, "kind": "video", "camera_id": run.camera_id, "camera_name": run.camera_name,
                "stream": run.stream, "start": to_iso(max(run.start_ms, req.start_ms)),
                "end": to_iso(min(run.end_ms, req.end_ms)),
                "recorded_segments": [{"start": to_iso(sg.start_ms), "end": to_iso(sg.end_ms), "sha256": sg.sha256}
                                      for sg in run.segments],
            })  # fmt: skip
            files.append((target, name))
        snap = work / "snapshot.jpg"
        await snapshot_of(ffmpeg, files[0][0], snap)
        entries.append({"name": "snapshot.jpg", "kind": "snapshot", "camera_id": runs[0].camera_id})
        files.append((snap, "snapshot.jpg"))
        for entry, (path, _) in zip(entries, files, strict=True):
            entry["sha256"] = await asyncio.to_thread(evidence.sha256_file, path)
            entry["bytes"] = path.stat().st_size
        with db.session() as s:
            gaps = [
                {"camera_id": cid, "start": to_iso(max(g.start_ms, req.start_ms)),
                 "end": to_iso(min(g.end_ms if g.end_ms is not None else now_ms(), req.end_ms)), "reason": g.reason}
                for cid in req.camera_ids
                for g in repos.gaps_overlapping(s, cid, req.stream, req.start_ms, req.end_ms)
            ]  # fmt: skip
            cams = {cid: (c.name if (c := repos.get_camera(s, cid, include_deleted=True)) else "") for cid in
                    req.camera_ids}  # fmt: skip
        manifest: dict[str, Any] = {
            "format": evidence.FORMAT,
            "site": site,
            "software_version": __version__,
            "created": to_iso(now_ms()),
            "exported_by": req.exported_by,
            "reason": req.reason,
            "case": req.case,
            "range": {"start": to_iso(req.start_ms), "end": to_iso(req.end_ms)},
            "cameras": [{"id": cid, "name": name} for cid, name in cams.items()],
            "files": entries,
            "gaps": gaps,
            "signing_key_fingerprint": evidence.fingerprint(key.public_key()),
        }
        report = work / evidence.REPORT
        report.write_text(_report(manifest, timezone))
        manifest["files"].append({"name": evidence.REPORT, "kind": "report", "bytes": report.stat().st_size,
                                  "sha256": evidence.sha256_file(report)})  # fmt: skip
        files.append((report, evidence.REPORT))
        progress.update(stage="signing")
        await asyncio.to_thread(evidence.write_package, out, manifest, files, key)
    return manifest


def cli_actor(username: str | None = None) -> str:
    return f"cli:{username or getpass.getuser()}@{socket.gethostname()}"
