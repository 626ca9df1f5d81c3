"""ffmpeg/ffprobe invocation for capture: argument lists (never a shell) and error classification."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ronda.devices.urls import FFMPEG_PROTOCOL_WHITELIST, redact

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: own process group, and the kernel kills the child when its parent dies.

    A supervisor killed with -9 must not leave an ffmpeg holding a second RTSP session to a camera
    (cameras limit sessions) and writing files nobody indexes. The own process group keeps a
    terminal's Ctrl+C away from the children: the supervisor stops them in order itself.
    """
    os.setpgid(0, 0)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# A URL with credentials (scheme://user:password@host) in an argument would be readable by every
# local user: such an argv is refused (credentials reach ffmpeg through CameraInput's pipe).
_CREDENTIALS_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def check_argv(args: Sequence[str]) -> None:
    """ValueError when an argument carries a URL with credentials."""
    for a in args:
        if _CREDENTIALS_IN_URL.match(a):
            raise ValueError(f"refusing to put credentials on a command line ({redact(a)})")


async def spawn(
    args: Sequence[str],
    stdout: int | None = asyncio.subprocess.PIPE,
    stderr: int | None = asyncio.subprocess.PIPE,
    pass_fds: Sequence[int] = (),
) -> asyncio.subprocess.Process:
    """Start ffmpeg or ffprobe: the one way Ronda does it.

    An argument list, never a shell; no standard input; its own process group and killed by the
    kernel if Ronda dies (``die_with_parent``); no credentials in the arguments (``check_argv``)."""
    check_argv(args)
    return await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=die_with_parent,  # noqa: PLW1509
        pass_fds=tuple(pass_fds),
    )


async def stop(proc: asyncio.subprocess.Process, grace_s: float = 5.0) -> int | None:
    """Stop a process started by :func:`spawn`: SIGTERM (ffmpeg closes its output properly), SIGKILL
    when it has not exited after ``grace_s`` (0: at once). Returns its exit status."""
    if proc.returncode is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
    try:
        return await asyncio.wait_for(proc.wait(), grace_s) if grace_s > 0 else await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return await proc.wait()


async def run(args: Sequence[str], timeout_s: float, pass_fds: Sequence[int] = ()) -> tuple[int, bytes, bytes]:
    """Run to the end: ``(exit status, stdout, stderr)``. Killed on timeout (TimeoutError) or when the
    caller is cancelled."""
    proc = await spawn(args, pass_fds=pass_fds)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        await stop(proc, grace_s=0)
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


# What CameraInput may put in ffmpeg's ``rtsp_transport`` (a camera's "auto" is resolved by
# recording/transport.py before it gets here).
RTSP_TRANSPORTS = ("tcp", "udp", "http")


class CameraInput:
    """A camera URL, credentials included, handed to one ffmpeg/ffprobe run without its command line.

    A process's arguments are readable by every local user (``ps``, ``/proc/PID/cmdline`` is 0444 and
    not protected by ptrace rules or dumpability), and ffmpeg's RTSP client takes credentials only
    from the URL: Debian's ffmpeg 5.1 has no option, environment variable or ``-/option file`` (7.0+)
    for them. So the URL goes into a one-entry ffconcat script written to an anonymous pipe, and
    ffmpeg reads the script from that inherited descriptor (``-f concat -i pipe:N``). The secret
    never touches the disk and only ffmpeg holds the pipe (``/proc/PID/fd`` needs ptrace rights).

    The script's ``option`` lines carry the RTSP input options and narrow the camera's own protocol
    allow-list to RTSP again (the outer one must also allow ``pipe`` to read the script). Use it as a
    context manager around the spawn, passing ``pass_fds``; the parent's copy is closed afterwards.
    """

    def __init__(self, url: str, timeout_s: float, transport: str = "tcp") -> None:
        if any(ord(c) < 0x20 or c == "\x7f" for c in url):
            raise ValueError("camera URL contains control characters")
        if transport not in RTSP_TRANSPORTS:
            raise ValueError(f"RTSP transport {transport!r} is not one of {', '.join(RTSP_TRANSPORTS)}")
        # The HTTP tunnel is an http:// connection inside ffmpeg's RTSP client: only then may the
        # camera input use the http protocol (the URL itself is still rtsp://, checked by urls.py).
        allowed = FFMPEG_PROTOCOL_WHITELIST + (",http" if transport == "http" else "")
        # ffconcat reads quoted text literally up to the next quote: close, escape the quote, reopen.
        quoted = url.replace("'", "'\\''")
        script = "\n".join(
            [
                "ffconcat version 1.0",
                f"file '{quoted}'",
                f"option rtsp_transport {transport}",
                f"option timeout {int(timeout_s * 1_000_000)}",
                f"option protocol_whitelist {allowed}",
                "option fflags +genpts+discardcorrupt",
                "",
            ]
        ).encode()
        read_fd, write_fd = os.pipe()  # both non-inheritable: no other child gets them
        try:
            # A few hundred bytes: fits the pipe buffer (64 KiB), so this never blocks.
            os.write(write_fd, script)
        finally:
            os.close(write_fd)
        self.fd: int | None = read_fd
        self._allowed = allowed

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return () if self.fd is None else (self.fd,)

    def args(self) -> list[str]:
        if self.fd is None:
            raise RuntimeError("CameraInput used after close")
        return [
            "-f", "concat", "-safe", "0",
            "-protocol_whitelist", f"pipe,{self._allowed}",
            "-i", f"pipe:{self.fd}",
        ]  # fmt: skip

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> CameraInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture_args(
    ffmpeg: str,
    source: CameraInput,
    partial_pattern: Path,
    segment_seconds: float,
    codec: str | None,
    audio: bool,
    fragment_ms: int = 250,
) -> list[str]:
    """One ffmpeg per stream: copy (no transcoding) into keyframe-aligned fragmented MP4 segments.

    Fragmented MP4 because a kill -9 mid-segment keeps every complete fragment, where a plain MP4
    loses the whole file (no moov). The segment list on stdout tells the supervisor when a file is
    complete.
    """
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    args += ["-fflags", "+genpts+discardcorrupt"]
    args += source.args()
    args += ["-map", "0:v:0", "-c:v", "copy"]
    if codec == "hevc":
        # Apple/Chromium players want hvc1 (parameter sets in the sample entry), ffmpeg writes hev1.
        args += ["-tag:v", "hvc1"]
    if audio:
        # Debian's ffmpeg cannot mux G.711 into MP4: audio is opt-in and converted to AAC.
        args += ["-map", "0:a:0?", "-c:a", "aac", "-b:a", "64k"]
    args += [
        "-f", "segment",
        "-segment_time", f"{segment_seconds:g}",
        "-segment_format", "mp4",
        # A fragment every quarter second (fragment_ms), whatever the camera's GOP, written through
        # to the file at once (ffmpeg otherwise buffers 256 KiB): live view reads these fragments
        # (its latency is about one fragment), the stall watchdog sees the file grow, and a crash
        # loses at most one fragment.
        "-segment_format_options",
        "movflags=+frag_keyframe+empty_moov+default_base_moof"
        f":frag_duration={fragment_ms * 1000}:flush_packets=1",
        "-reset_timestamps", "1",
        "-segment_list", "pipe:1",
        "-segment_list_type", "csv",
        "-segment_list_flags", "live",
        str(partial_pattern),
    ]  # fmt: skip
    return args


@dataclass(slots=True)
class ProbeResult:
    ok: bool
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
    reason: str | None = None
    detail: str | None = None


# The largest picture Ronda decodes or records: 8192x4320 (8K), about H.264/H.265's largest level (6.2:
# 139,264 macroblocks). A stream declaring more (a camera sending a broken or hostile SPS: "16K") would
# make every decoder allocate hundreds of MB per frame; it is refused with ``resolution_too_large``, and
# every ffmpeg that decodes a recording is given this as ``-max_pixels``.
MAX_PIXELS = 8192 * 4320

# The decoder's words for parameter sets (SPS/PPS/VPS) it cannot use: nothing of the stream is decodable.
_BAD_PARAMETER_SETS = re.compile(
    r"non-existing [sp]ps|[sp]ps_id \d+ out of range|(?:sps|pps|vps) id out of range"
    r"|(?:sps|pps|vps) \d+ does not exist|invalid sps|error decoding sps|unsupported profile"
)


def classify_error(stderr: str) -> str:
    """Map ffmpeg/ffprobe error text to a gap reason operators understand."""
    # ffmpeg prefixes lines with "[tcp @ 0x55d1c8401240]": a pointer may contain "401" or "404"; so may
    # an address's port or path ("tcp://10.0.0.9:404", "rtsp://host/cam/401"): neither is a status
    t = re.sub(r"@ 0x[0-9a-f]+", "@", stderr.lower())
    t = re.sub(r"[a-z][a-z0-9+.-]*://\S+", "URL", t)
    if re.search(r"\b401\b", t) or "unauthorized" in t or "403 forbidden" in t:
        return "auth_failed"
    if re.search(r"\b404\b", t) or "not found" in t and "stream" in t:
        return "stream_not_found"
    if "no space left" in t:
        return "disk_full"
    if "exceeds specified max pixel count" in t:
        return "resolution_too_large"
    # The camera answered but will not send RTP the way we asked (VLC's server: "method SETUP failed:
    # 461 Unsupported transport" to TCP); "Nonmatching transport": it answered with another one.
    if re.search(r"failed: 461\b", t) or "unsupported transport" in t or "nonmatching transport" in t:
        return "transport_refused"
    if any(
        k in t
        for k in (
            "connection refused",
            "no route",
            "timed out",
            "timeout",
            "name or service not known",
            "network is unreachable",
            "connection reset",
            "temporary failure in name resolution",
            "host is down",
            "end of file",
            " 503 ",
        )
    ):
        return "camera_unreachable"
    # After the network's words: a stream joined between keyframes has such lines at its start too.
    if _BAD_PARAMETER_SETS.search(t):
        return "video_invalid"
    if "invalid data found when processing input" in t:
        # ffmpeg's RTSP client could not read the answer (the device on that port does not speak RTSP:
        # a wrong port, another service, a broken server) or the SDP it described
        return "not_rtsp"
    if "invalid data" in t or "could not find codec" in t:
        return "stream_error"
    return "camera_unreachable"


# What a probe keeps of ffprobe's error output: a stream it cannot decode makes it write a line per
# packet for as long as it runs.
PROBE_STDERR_BYTES = 16_384


async def _drain(stream: asyncio.StreamReader | None, keep: bytearray, limit: int) -> None:
    """Read a pipe to its end, keeping at most its last ``limit`` bytes."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        keep += chunk
        if len(keep) > limit:
            del keep[: len(keep) - limit]


async def probe(ffprobe: str, url: str, timeout_s: float, transport: str = "tcp") -> ProbeResult:
    with CameraInput(url, min(timeout_s, 10.0), transport) as source:
        args = [ffprobe, "-v", "error", "-max_pixels", str(MAX_PIXELS), "-of", "json", "-show_streams",
                *source.args()]  # fmt: skip
        proc = await spawn(args, pass_fds=source.pass_fds)
    out, err = bytearray(), bytearray()
    try:
        await asyncio.wait_for(
            asyncio.gather(
                _drain(proc.stdout, out, 1 << 20), _drain(proc.stderr, err, PROBE_STDERR_BYTES), proc.wait()
            ),
            timeout_s + 5,
        )
    except (TimeoutError, asyncio.CancelledError) as e:
        await stop(proc, grace_s=0)
        if isinstance(e, asyncio.CancelledError):
            raise
        # ffprobe keeps looking for a decodable picture as long as packets come: what it said meanwhile
        # tells a broken stream (its SPS, say) from a silent camera.
        text = redact(err.decode(errors="replace")).strip()
        reason = classify_error(text) if text else "camera_unreachable"
        if reason not in ("video_invalid", "resolution_too_large", "not_rtsp"):
            return ProbeResult(ok=False, reason="camera_unreachable", detail="probe timed out")
        return ProbeResult(ok=False, reason=reason, detail=text[-500:])
    text = redact(err.decode(errors="replace")).strip()
    if proc.returncode != 0:
        reason = classify_error(text)
        if reason == "not_rtsp" and transport != "http":
            return await not_rtsp(url, text)
        return ProbeResult(ok=False, reason=reason, detail=text[-500:] or f"exit {proc.returncode}")
    try:
        streams = json.loads(out or b"{}").get("streams", [])
    except json.JSONDecodeError:
        return ProbeResult(ok=False, reason="stream_error", detail="unreadable probe output")
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        return ProbeResult(ok=False, reason="stream_error", detail="the stream has no video")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width * height > MAX_PIXELS or "exceeds specified max pixel count" in text.lower():
        size = f"{width}x{height}" if width * height else "its size"
        return ProbeResult(ok=False, reason="resolution_too_large",
                           detail=f"the camera declares {size}: more than Ronda decodes (8192x4320)")  # fmt: skip
    if not (width and height) and classify_error(text) == "video_invalid":
        return ProbeResult(ok=False, reason="video_invalid", detail=text[-500:])
    return ProbeResult(
        ok=True,
        codec=video.get("codec_name"),
        width=width or None,
        height=height or None,
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
    )


RTSP_CHECK_TIMEOUT_S = 3.0


async def not_rtsp(url: str, text: str) -> ProbeResult:
    """ffmpeg says only "Invalid data" both when the device at the camera's address answers something else
    than RTSP and when it accepts the connection and says nothing: ask it once ourselves (an ``OPTIONS``,
    no credentials) to tell the two apart. Only on this failure path."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "rtsp" or not parts.hostname:
        return ProbeResult(ok=False, reason="not_rtsp", detail=text[-500:])
    try:
        port = parts.port or 554
        reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), RTSP_CHECK_TIMEOUT_S)
    except (OSError, ValueError, TimeoutError):
        return ProbeResult(ok=False, reason="camera_unreachable", detail=text[-500:])
    try:
        writer.write(f"OPTIONS rtsp://{parts.hostname}:{port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        await writer.drain()
        first = await asyncio.wait_for(reader.read(64), RTSP_CHECK_TIMEOUT_S)
    except (OSError, TimeoutError):
        first = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not first:
        return ProbeResult(ok=False, reason="camera_unreachable",
                           detail="the device accepts connections but does not answer RTSP requests")  # fmt: skip
    if first.startswith(b"RTSP/"):  # it speaks RTSP: what ffmpeg could not read is the stream's description
        return ProbeResult(ok=False, reason="stream_error", detail=text[-500:])
    return ProbeResult(ok=False, reason="not_rtsp",
                       detail=f"the device answers with bytes that are not RTSP ({first[:16]!r}...)")  # fmt: skip


async def media_duration_ms(ffprobe: str, path: Path) -> int | None:
    """Duration of a local media file (used only on the rare recovery path)."""
    try:
        code, out, _ = await run([ffprobe, "-v", "error", "-of", "json", "-show_entries", "format=duration", str(path)],
                                 timeout_s=60)  # fmt: skip
    except TimeoutError:
        return None
    if code != 0:
        return None
    try:
        dur = float(json.loads(out)["format"]["duration"])
    except (KeyError, ValueError, TypeError, json.JSONDecodeError):
        return None
    return int(round(dur * 1000)) if dur > 0 else None
