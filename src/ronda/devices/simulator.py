"""Camera simulator: N simulated IP cameras served over real RTSP (GStreamer gst-rtsp-server).

Mounts (``rtsp://HOST:PORT/...``):

- ``/camN`` (1920x1080 H.264) and ``/camN/sub`` (640x360 H.264), N = 1..cameras
- ``/hevc`` 1920x1080 H.265, ``/audio`` 1280x720 H.264 + G.711 PCMU 8 kHz mono (1 kHz tone)
- ``/secure`` like cam1 but needs RTSP basic auth ``admin`` / ``p@ss:w#rd%`` (wrong credentials: 401)
- ``/clock`` live x264 encoding of the wall clock (encodes only while a client is connected), 15 fps;
  ``/clock25`` the same at 25 fps (players must use a stream's real frame rate, not assume 15)

Pre-encoded clips (see :mod:`ronda.devices.simmedia`) are pushed access unit by access unit through an
``appsrc`` from one Python thread per frame rate, paced on the wall clock (15 fps) and stamped with the pipeline running
time, so timestamps keep increasing across clip loops and no transcoding happens.  Every stream has one
shared pipeline whatever the number of viewers; RTSP sessions are counted per stream.

Before anything is encoded or served, every mount's pipeline is built once (:func:`check_pipelines`): a
missing GStreamer element stops the simulator with one line naming it, its mounts and its Debian package.

A small HTTP control server (``--control-port``) answers JSON:

- ``GET /health`` (with ``pacers``: per frame rate, the pusher thread's ``ticks``, ``late`` ones, ``skipped``
  ones and ``max_late_ms``: a simulator short of CPU shows there), ``GET /cameras``, ``GET /cameras/<name>``
- ``POST /cameras/<name>/stop``: closes the RTSP connections holding a session on that camera's streams and
  unmounts them, so new requests get **RTSP 404** (the RTSP port itself stays open for other cameras)
- ``POST /cameras/<name>/stall``: connections stay open but no media packet is sent any more (RTCP reports
  from the RTP session may continue); a new connection may get its SDP and then no media
- ``POST /cameras/<name>/start``: back to normal from stop or stall
- ``GET /cameras/<name>/clip`` (a ``--clip`` camera): ``{"source", "frames", "fps", "width", "height",
  "sub_width", "sub_height", "epoch_ms", "loop_ms", "loop", "frame", "loop_starts_ms"}``: frame ``f`` of loop
  ``L`` is sent at ``epoch_ms + (L * frames + f) * 1000 / fps`` (wall clock, Unix ms) on both streams
- ``POST /cameras/<name>/reboot`` ``{"seconds": S, "new_paths": true}``: stops the camera as ``stop`` does (its
  ONVIF device falls silent too) and starts it again after S seconds; with ``new_paths`` it comes back serving
  its streams at new mount paths (``/cam1-b``, ``/cam1-b/sub``, then ``/cam1-c``... at each such reboot), which
  its ONVIF profiles then give; the old paths answer 404, as some cameras' URIs change after a reboot
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ronda.devices import simclip, simdome, simmedia
from ronda.devices.onvif_sim.auth import Credentials
from ronda.devices.onvif_sim.discovery import Discovery
from ronda.devices.onvif_sim.model import Endpoint, SimCamera, StreamProfile
from ronda.devices.onvif_sim.server import OnvifServer

SECURE_USER = "admin"
SECURE_PASSWORD = "p@ss:w#rd%"  # noqa: S105  (a test fixture; special characters on purpose)
ONVIF_USER, ONVIF_PASSWORD = SECURE_USER, SECURE_PASSWORD  # every simulated ONVIF device's account
FPS = simmedia.FPS
FRAME_NS = 1_000_000_000 // FPS
MAX_QUEUED_BUFFERS = 8  # above this the pipeline is not consuming (blocked / paused): skip frames
CLOCK_SIZE = (640, 360)

STATES = ("running", "stopped", "stalled")
AUDIO_RATE = 8000


def _ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one signed 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(magnitude.bit_length() - 8, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


# a 1 kHz tone at 8 kHz has a period of 8 samples
_TONE_PERIOD = bytes(_ulaw(round(9000 * math.sin(2 * math.pi * i / 8))) for i in range(8))
_TONE = _TONE_PERIOD * (AUDIO_RATE // FPS // 8 + 2)

_Gst: Any = None
_GLib: Any = None
_GstRtspServer: Any = None


class SimulatorSetupError(RuntimeError):
    """Something the simulator needs is not installed; the message names it and says what to install."""


# Debian packages of the GStreamer pieces the simulator uses: what to install when one is missing.
GI_PACKAGES = {
    "Gst": "gir1.2-gstreamer-1.0",
    "GstApp": "gir1.2-gst-plugins-base-1.0",
    "GstRtspServer": "gir1.2-gst-rtsp-server-1.0",
}
ELEMENT_PACKAGES = {
    "appsrc": "gstreamer1.0-plugins-base",
    "appsink": "gstreamer1.0-plugins-base",
    "textoverlay": "gstreamer1.0-x",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "rtph265pay": "gstreamer1.0-plugins-good",
    "rtppcmupay": "gstreamer1.0-plugins-good",
    "rtpbin": "gstreamer1.0-plugins-good",
    "udpsrc": "gstreamer1.0-plugins-good",
    "multiudpsink": "gstreamer1.0-plugins-good",
    "videoscale": "gstreamer1.0-plugins-base",
    "funnel": "libgstreamer1.0-0",
    "queue": "libgstreamer1.0-0",
}
# Elements gst-rtsp-server adds around every mount's pipeline (RTP session, UDP and TCP transports).
RTSP_SERVER_ELEMENTS = ("rtpbin", "udpsrc", "multiudpsink", "appsrc", "appsink", "funnel", "queue")


def _import_gst() -> None:
    global _Gst, _GLib, _GstRtspServer
    if _Gst is not None:
        return
    try:
        import gi
    except ImportError:
        raise SimulatorSetupError("PyGObject is not installed (pip install 'ronda[sim]')") from None
    for namespace, package in GI_PACKAGES.items():
        try:
            gi.require_version(namespace, "1.0")
        except ValueError:
            raise SimulatorSetupError(
                f"GObject introspection data for {namespace} 1.0 is not installed (Debian: apt-get install {package})"
            ) from None
    from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: F401  (GstApp: typed appsrc)

    Gst.init(None)
    _Gst, _GLib, _GstRtspServer = Gst, GLib, GstRtspServer


# ------------------------------------------------------------------------------------------------ clips


@dataclass(slots=True)
class PacerStats:
    """How well one pusher thread keeps its frame rate (``GET /health``, ``pacers``): when it cannot, the
    simulator, not the recorder under test, is what runs out of CPU (bench/capacity.py reads it)."""

    ticks: int = 0
    late: int = 0  # ticks pushed more than one frame late (a burst: timestamps stay regular)
    skipped: int = 0  # ticks dropped after falling more than 5 frames behind (a hole in every stream)
    max_late_ms: int = 0


class Clip:
    """A looped Annex-B clip read access unit by access unit with ``pread``."""

    def __init__(self, path: Path, codec: str) -> None:
        self.path = path
        self.codec = codec
        with open(path, "rb") as f:
            data = f.read()
        self.aus = simmedia.index_annexb(data, codec)
        if not self.aus[0].key:
            raise ValueError(f"{path}: clip does not start with a keyframe")
        self.offsets = [a.offset for a in self.aus]
        self.sizes = [a.size for a in self.aus]
        self.keys = [a.key for a in self.aus]
        n = len(self.aus)
        # next_key[i]: index of the first keyframe at or after i (wrapping around)
        self.next_key = [0] * n
        nxt = 0
        for i in range(n - 1, -1, -1):
            if self.keys[i]:
                nxt = i
            self.next_key[i] = nxt
        self.fd = os.open(path, os.O_RDONLY)

    def read(self, index: int) -> bytes:
        return os.pread(self.fd, self.sizes[index], self.offsets[index])

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------- model


@dataclass(eq=False)
class _Active:
    """One constructed pipeline (shared media) of a stream."""

    src: Any  # GstApp.AppSrc or None for live-encoded streams
    valves: list[Any]
    asrc: Any = None  # G.711 audio appsrc
    pos: int = 0
    need_key: bool = False
    last_pts: int = -1
    size: tuple[int, int] | None = None  # the dome's current picture size on the appsrc caps


@dataclass(eq=False)
class _Stream:
    camera: _Camera
    kind: str  # "main" | "sub"
    path: str  # mount path
    clip: Clip | None  # None: live encoded (clock)
    launch: str
    caps: str
    fps: int = FPS
    dome: simdome.Dome | None = None  # live picture of the dome (launch: dome_launch)
    factory: Any = None
    actives: list[_Active] = field(default_factory=list)  # replaced, never mutated (copy on write)
    base_path: str = ""  # the mount path before any reboot with new paths
    # a --clip camera: frame k mod len(clip) at pacer tick k, for every viewer (so the clip is on the wall clock)
    wall: bool = False
    size: tuple[int, int] = simmedia.MAIN_SIZE

    def __post_init__(self) -> None:
        self.base_path = self.base_path or self.path

    @property
    def key(self) -> str:
        return f"{self.camera.name}:{self.kind}"


@dataclass(eq=False)
class _Camera:
    name: str
    secure: bool = False
    number: int = 0  # camN: N
    dome: simdome.Dome | None = None
    state: str = "running"
    streams: dict[str, _Stream] = field(default_factory=dict)
    reboots: int = 0
    clip: simclip.ClipMedia | None = None  # served from a user's video file (--clip)


H264_LAUNCH = "( appsrc name=src is-live=true format=time ! rtph264pay name=pay0 pt=96 config-interval=0 )"
H265_LAUNCH = "( appsrc name=src is-live=true format=time ! rtph265pay name=pay0 pt=96 config-interval=0 )"
AUDIO_LAUNCH = (
    "( appsrc name=src is-live=true format=time ! rtph264pay name=pay0 pt=96 config-interval=0 "
    "appsrc name=asrc is-live=true format=time ! rtppcmupay name=pay1 pt=0 max-ptime=20000000 )"
)
# The clock cameras: frames stamped with a machine-readable time code, at 15 and at 25 fps.
CLOCK_RATES = {"clock": FPS, "clock25": 25}


def clock_launch(fps: int) -> str:
    return (
        "( appsrc name=src is-live=true format=time ! textoverlay name=text ! x264enc tune=zerolatency "
        f"speed-preset=ultrafast key-int-max={fps} bitrate=800 threads=1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


CLOCK_LAUNCH = clock_launch(FPS)
DOME_BITRATES = {"main": 3000, "sub": 500}


def dome_launch(size: tuple[int, int], bitrate: int) -> str:
    """The dome: raw pictures of varying size (its view of the scene), scaled and encoded live."""
    w, h = size
    return (
        "( appsrc name=src is-live=true format=time ! videoscale add-borders=false "
        f"! video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1 ! x264enc tune=zerolatency "
        f"speed-preset=ultrafast key-int-max={FPS} bitrate={bitrate} threads=1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def mount_launches(cameras: int, dome: bool = False) -> dict[str, str]:
    """Every RTSP mount path of a simulator with ``cameras`` cameras and its pipeline description
    (``dome``: camera 1 is the PTZ dome)."""
    mounts: dict[str, str] = {}
    for n in range(1, cameras + 1):
        mounts[f"/cam{n}"] = mounts[f"/cam{n}/sub"] = H264_LAUNCH
    if dome and cameras >= 1:
        mounts["/cam1"] = dome_launch(simmedia.MAIN_SIZE, DOME_BITRATES["main"])
        mounts["/cam1/sub"] = dome_launch(simmedia.SUB_SIZE, DOME_BITRATES["sub"])
    mounts.update({"/hevc": H265_LAUNCH, "/audio": AUDIO_LAUNCH, "/secure": H264_LAUNCH})
    mounts.update({f"/{name}": clock_launch(fps) for name, fps in CLOCK_RATES.items()})
    return mounts


def check_pipelines(cameras: int, dome: bool = False) -> None:
    """Build every mount's pipeline once (and find the RTSP server's own elements) so that a missing
    GStreamer plugin stops the simulator at start instead of making one mount answer 503 later.

    Raises :class:`SimulatorSetupError` naming each missing element, the mounts that need it and its
    Debian package."""
    _import_gst()
    Gst = _Gst
    needed_by: dict[str, list[str]] = {}
    for path, launch in mount_launches(cameras, dome).items():
        context = Gst.ParseContext.new()
        try:
            pipeline = Gst.parse_launch_full(launch, context, Gst.ParseFlags.FATAL_ERRORS)
        except _GLib.Error as exc:
            missing = list(context.get_missing_elements() or [])
            if not missing:
                raise SimulatorSetupError(f"the pipeline of {path} cannot be built: {exc.message}") from None
            for element in missing:
                needed_by.setdefault(element, []).append(path)
        else:
            pipeline.set_state(Gst.State.NULL)
    for element in RTSP_SERVER_ELEMENTS:
        if Gst.ElementFactory.find(element) is None:
            needed_by.setdefault(element, []).append("the RTSP server")
    if needed_by:
        parts = []
        for element, users in needed_by.items():
            shown = users if len(users) <= 3 else [*users[:3], "..."]
            package = ELEMENT_PACKAGES.get(element)
            hint = f"; Debian: apt-get install {package}" if package else ""
            parts.append(f"{element} (needed by {', '.join(shown)}{hint})")
        noun = "element is" if len(parts) == 1 else "elements are"
        raise SimulatorSetupError(f"GStreamer {noun} missing: {'; '.join(parts)}")


def _h264_caps(w: int, h: int) -> str:
    return f"video/x-h264,stream-format=byte-stream,alignment=au,width={w},height={h},framerate={FPS}/1"


# ---------------------------------------------------------------------------------------------- server


class Simulator:
    def __init__(
        self,
        cameras: int,
        rtsp_port: int,
        cache_dir: Path,
        host: str = "127.0.0.1",
        dome: bool = False,
        clips: dict[int, simclip.ClipMedia] | None = None,
    ) -> None:
        """``clips``: camera number -> the encoded video file it serves instead of its test pattern (a clip
        on camera 1 replaces the dome)."""
        _import_gst()
        self.clips = dict(clips or {})
        dome = dome and 1 not in self.clips
        self.host = host
        self.rtsp_port = rtsp_port
        self.cache_dir = Path(cache_dir)
        self.n_cameras = cameras
        self.cameras: dict[str, _Camera] = {}
        self._lock = threading.RLock()
        self._clips: dict[Path, Clip] = {}
        self._media_keys: dict[int, str] = {}  # hash(GstRTSPMedia) -> stream key
        self._stop = threading.Event()
        self._pushers: list[threading.Thread] = []
        self.loop = _GLib.MainLoop()
        self._launches = mount_launches(cameras, dome)  # the pipelines check_pipelines() builds at start
        self.dome: simdome.Dome | None = simdome.Dome() if dome and cameras >= 1 else None
        self._scene = simmedia.dome_scene_file(self.cache_dir).read_bytes() if self.dome is not None else b""
        self._dome_picture: tuple[simdome.Position, bytes, int, int] | None = None
        self.onvif: OnvifServer | None = None  # set by serve_onvif()
        self.onvif_cameras: dict[str, SimCamera] = {}
        self._reboots: dict[str, threading.Timer] = {}  # camera name -> the pending boot
        self._epoch_ns: dict[int, int] = {}  # fps -> wall-clock ns of tick 0 of that rate's pacer
        self.pacers: dict[int, PacerStats] = {}  # fps -> how punctual that rate's pusher thread is
        self._build_model()
        self._build_server()

    # ---------------------------------------------------------------- model

    def _clip(self, path: Path, codec: str) -> Clip:
        if path not in self._clips:
            self._clips[path] = Clip(path, codec)
        return self._clips[path]

    def _add_clip_stream(
        self, cam: _Camera, kind: str, path: str, clip_path: Path, codec: str, size: tuple[int, int], wall: bool = False
    ) -> None:
        clip = self._clip(clip_path, codec)
        if codec == "h264":
            caps = _h264_caps(*size)
        else:
            caps = (
                f"video/x-h265,stream-format=byte-stream,alignment=au,"
                f"width={size[0]},height={size[1]},framerate={FPS}/1"
            )
        cam.streams[kind] = _Stream(cam, kind, path, clip, self._launches[path], caps, wall=wall, size=size)

    def _build_model(self) -> None:
        cache = self.cache_dir
        for n in range(1, self.n_cameras + 1):
            cam = _Camera(f"cam{n}", number=n)
            if n == 1 and self.dome is not None:
                cam.dome = self.dome
                _, _, w, h = simdome.view_window(self.dome.position())
                caps = f"video/x-raw,format=I420,width={w},height={h},framerate={FPS}/1,pixel-aspect-ratio=1/1"
                for kind, path in (("main", "/cam1"), ("sub", "/cam1/sub")):
                    cam.streams[kind] = _Stream(cam, kind, path, None, self._launches[path], caps, dome=self.dome)
                self.cameras[cam.name] = cam
                continue
            media = self.clips.get(n)
            if media is not None:
                cam.clip = media
                self._add_clip_stream(cam, "main", f"/cam{n}", media.main, "h264", media.main_size, wall=True)
                self._add_clip_stream(cam, "sub", f"/cam{n}/sub", media.sub, "h264", media.sub_size, wall=True)
                self.cameras[cam.name] = cam
                continue
            main, sub = simmedia.camera_files(cache, n)
            self._add_clip_stream(cam, "main", f"/cam{n}", main, "h264", simmedia.MAIN_SIZE)
            self._add_clip_stream(cam, "sub", f"/cam{n}/sub", sub, "h264", simmedia.SUB_SIZE)
            self.cameras[cam.name] = cam

        cam = _Camera("hevc")
        self._add_clip_stream(cam, "main", "/hevc", simmedia.hevc_file(cache), "h265", simmedia.MAIN_SIZE)
        self.cameras[cam.name] = cam

        cam = _Camera("audio")
        self._add_clip_stream(cam, "main", "/audio", simmedia.audio_video_file(cache), "h264", simmedia.AUDIO_SIZE)
        self.cameras[cam.name] = cam

        # /secure shows cam1's picture (the cam1 clip of the cache, prepared even when cameras == 0)
        cam = _Camera("secure", secure=True)
        main, _ = simmedia.camera_files(cache, 1)
        self._add_clip_stream(cam, "main", "/secure", main, "h264", simmedia.MAIN_SIZE)
        self.cameras[cam.name] = cam

        for name, fps in CLOCK_RATES.items():
            cam = _Camera(name)
            w, h = CLOCK_SIZE
            caps = f"video/x-raw,format=I420,width={w},height={h},framerate={fps}/1"
            cam.streams["main"] = _Stream(cam, "main", f"/{name}", None, self._launches[f"/{name}"], caps, fps)
            self.cameras[cam.name] = cam

    # ---------------------------------------------------------------- RTSP server

    def _build_server(self) -> None:
        R = _GstRtspServer
        self.server = R.RTSPServer()
        self.server.set_address(self.host)
        self.server.set_service(str(self.rtsp_port))
        # clients are served from a pool of threads, never from the thread pushing media
        self.server.get_thread_pool().set_max_threads(8)

        auth = R.RTSPAuth()
        anon = R.RTSPToken()
        anon.set_string("media.factory.role", "anonymous")
        auth.set_default_token(anon)
        admin = R.RTSPToken()
        admin.set_string("media.factory.role", "admin")
        auth.add_basic(R.RTSPAuth.make_basic(SECURE_USER, SECURE_PASSWORD), admin)
        self.server.set_auth(auth)

        self.mounts = self.server.get_mount_points()
        for cam in self.cameras.values():
            for stream in cam.streams.values():
                factory = R.RTSPMediaFactory()
                factory.set_launch(stream.launch)
                factory.set_shared(True)
                # gst-rtsp-server answers 404 when "access" is denied and 401 when "construct" is denied:
                # anonymous may see /secure exists (so clients get a 401 challenge) but not use it
                perms = R.RTSPPermissions()
                for role in ("admin", "anonymous"):
                    perms.add_permission_for_role(role, "media.factory.access", True)
                    allowed = role == "admin" or not cam.secure
                    perms.add_permission_for_role(role, "media.factory.construct", allowed)
                factory.set_permissions(perms)
                factory.connect("media-configure", self._on_media_configure, stream)
                stream.factory = factory
                self.mounts.add_factory(stream.path, factory)

    def _on_media_configure(self, factory: Any, media: Any, stream: _Stream) -> None:
        Gst = _Gst
        element = media.get_element()
        self._media_keys[hash(media)] = stream.key  # PyGObject hashes the GObject pointer
        src = element.get_by_name("src")
        if src is not None:
            src.set_property("caps", Gst.Caps.from_string(stream.caps))
            src.set_property("max-bytes", 0)  # queue level is watched by the pusher instead
            src.set_property("min-latency", 0)
        asrc = element.get_by_name("asrc")
        if asrc is not None:
            asrc.set_property("caps", Gst.Caps.from_string(f"audio/x-mulaw,rate={AUDIO_RATE},channels=1"))
            asrc.set_property("max-bytes", 0)
            asrc.set_property("min-latency", 0)
        valves = [v for v in (element.get_by_name("valve0"),) if v is not None]
        # a clip on the wall clock joins at the frame of the moment: wait for a keyframe
        active = _Active(src=src, valves=valves, asrc=asrc, need_key=stream.wall)
        with self._lock:
            stalled = stream.camera.state != "running"
            for v in valves:
                v.set_property("drop", stalled)
            stream.actives = [*stream.actives, active]
        text = element.get_by_name("text")
        if text is not None:
            text.set_property("font-desc", "Sans Bold 24")
            text.set_property("halignment", "center")
            text.set_property("valignment", "center")
            text.get_static_pad("video_sink").add_probe(Gst.PadProbeType.BUFFER, _clock_probe, text)
        media.connect("unprepared", self._on_media_unprepared, stream, active)
        media.connect("prepared", self._on_media_prepared, stream)

    def _on_media_prepared(self, media: Any, stream: _Stream) -> None:
        # a stalled camera sends nothing at all: drop the RTCP sender reports of its RTP sessions too
        pipeline = media.get_element().get_parent()
        if pipeline is None:
            return
        it = pipeline.iterate_elements()
        while True:
            res, element = it.next()
            if res != _Gst.IteratorResult.OK:
                break
            factory = element.get_factory()
            if factory is None or factory.get_name() != "rtpbin":
                continue
            for pad in element.srcpads:
                if pad.get_name().startswith("send_rtcp_src"):
                    pad.add_probe(_Gst.PadProbeType.BUFFER, _rtcp_probe, stream.camera)

    def _on_media_unprepared(self, media: Any, stream: _Stream, active: _Active) -> None:
        self._media_keys.pop(hash(media), None)
        with self._lock:
            stream.actives = [a for a in stream.actives if a is not active]

    # ---------------------------------------------------------------- media pusher (one thread)

    def _push_loop(self, fps: int, streams: list[_Stream]) -> None:
        """Pushes a frame of each of ``streams`` (all at ``fps``) on every tick of the wall clock."""
        Gst = _Gst
        frame_ns = 1_000_000_000 // fps
        # pipelines run on the GStreamer system clock (CLOCK_MONOTONIC): express ticks in that clock
        sysclock = Gst.SystemClock.obtain()
        clock_offset = sysclock.get_time() - time.monotonic_ns()
        wall_offset = time.time_ns() - time.monotonic_ns()
        t0 = time.monotonic_ns()
        self._epoch_ns[fps] = t0 + wall_offset
        stats = self.pacers[fps] = PacerStats()
        k = 0
        failed: set[str] = set()
        while not self._stop.is_set():
            k += 1
            tick = t0 + k * 1_000_000_000 // fps
            wait = tick - time.monotonic_ns()
            stats.ticks += 1
            if wait > 0:
                if self._stop.wait(wait / 1e9):
                    return
            elif wait < -5 * frame_ns:  # fell far behind (suspended?): drop the missed ticks
                k_now = (time.monotonic_ns() - t0) * fps // 1_000_000_000
                stats.skipped += k_now - k + 1
                k = k_now
                continue
            elif wait < -frame_ns:  # a frame late or more: sent late, in a burst with the next ones
                stats.late += 1
                stats.max_late_ms = max(stats.max_late_ms, -wait // 1_000_000)
            for stream in streams:
                if not stream.actives:
                    continue
                try:
                    self._push_stream(stream, k, tick + clock_offset, (tick + wall_offset) // 1_000_000)
                except Exception:  # never let one stream stop every camera
                    if stream.key not in failed:
                        failed.add(stream.key)
                        traceback.print_exc()

    def _push_stream(self, stream: _Stream, k: int, tick: int, tick_ms: int) -> None:
        """Push tick ``k`` (at ``tick`` ns of the pipeline clock, ``tick_ms`` on the wall clock) of
        ``stream`` to its pipelines."""
        Gst = _Gst
        clip = stream.clip
        if stream.camera.state != "running":
            if stream.wall:
                for act in stream.actives:
                    act.need_key = True  # the clip goes on meanwhile: resume on a keyframe
            return  # stalled: nothing is sent; the next frame pushed continues the sequence
        if stream.dome is not None:
            self._push_dome(stream, tick)
            return
        if clip is None:
            self._push_clock(stream, tick, tick_ms)
            return
        if stream.wall:
            self._push_wall(stream, clip, k, tick)
            return
        for act in stream.actives:
            src = act.src
            if src.current_state != Gst.State.PLAYING:
                continue
            pts = tick - src.get_base_time()  # running time: continues across clip loops
            if pts <= act.last_pts:
                continue
            if src.get_current_level_buffers() > MAX_QUEUED_BUFFERS:
                act.need_key = True  # nobody consumes (blocked media): drop, resume on a keyframe
                continue
            pos = act.pos
            if act.need_key:
                pos = clip.next_key[pos]
                act.need_key = False
            buf = Gst.Buffer.new_wrapped(clip.read(pos))
            buf.pts = pts
            buf.dts = pts
            buf.duration = FRAME_NS
            if not clip.keys[pos]:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            act.last_pts = pts
            act.pos = pos + 1 if pos + 1 < len(clip.keys) else 0
            src.push_buffer(buf)
            if act.asrc is not None:
                first = (k - 1) * AUDIO_RATE // FPS
                n = k * AUDIO_RATE // FPS - first
                phase = first % len(_TONE_PERIOD)
                abuf = Gst.Buffer.new_wrapped(_TONE[phase : phase + n])
                abuf.pts = pts
                abuf.dts = pts
                abuf.duration = n * 1_000_000_000 // AUDIO_RATE
                act.asrc.push_buffer(abuf)

    def _push_wall(self, stream: _Stream, clip: Clip, k: int, tick: int) -> None:
        """Frame ``k mod len(clip)`` to every pipeline of a --clip stream, so that where the clip is depends
        on the wall clock alone (the same frame on main and sub, for every viewer, across reconnects). A
        pipeline that joins, or missed frames, waits for the next keyframe."""
        pos = k % len(clip.keys)
        due = self._due(stream, tick)
        for act in stream.actives:
            if all(a is not act for a, _ in due) and act.src.current_state == _Gst.State.PLAYING:
                act.need_key = True  # its queue is full (nobody consumes): a frame is lost, resume on a keyframe
        for act, pts in due:
            if act.need_key and not clip.keys[pos]:
                continue
            act.need_key = False
            buf = _Gst.Buffer.new_wrapped(clip.read(pos))
            buf.pts = buf.dts = pts
            buf.duration = FRAME_NS
            if not clip.keys[pos]:
                buf.set_flags(_Gst.BufferFlags.DELTA_UNIT)
            act.last_pts = pts
            act.src.push_buffer(buf)

    def _push_clock(self, stream: _Stream, tick: int, tick_ms: int) -> None:
        """A raw frame stamped with the wall-clock time of its tick; the pipeline encodes it at once.

        The stamp is the tick's time, like the frame's timestamp, not the time of the push: a pusher
        thread late under load pushes a few frames at once, and stamping those with the time of the
        push made one frame apart in the video read as 0 or 350 ms apart in the picture."""
        frame = clock_frame(tick_ms)
        for act, pts in self._due(stream, tick):
            self._push_frame(act, frame, pts, 1_000_000_000 // stream.fps)

    @staticmethod
    def _due(stream: _Stream, tick: int) -> list[tuple[_Active, int]]:
        """The playing pipelines of ``stream`` that take a frame at ``tick``, with its timestamp in each
        (none twice, none while a pipeline's queue is full)."""
        out = []
        for act in stream.actives:
            src = act.src
            if src.current_state != _Gst.State.PLAYING:
                continue
            pts = tick - src.get_base_time()
            if pts > act.last_pts and src.get_current_level_buffers() <= MAX_QUEUED_BUFFERS:
                out.append((act, pts))
        return out

    @staticmethod
    def _push_frame(act: _Active, frame: bytes, pts: int, duration: int) -> None:
        buf = _Gst.Buffer.new_wrapped(frame)
        buf.pts = buf.dts = pts
        buf.duration = duration
        act.last_pts = pts
        act.src.push_buffer(buf)

    def _push_dome(self, stream: _Stream, tick: int) -> None:
        """The dome's view at its position now; the picture is cut once per position and shared by the
        main and sub pipelines, which scale it to their size."""
        Gst = _Gst
        assert stream.dome is not None
        pos = stream.dome.position()
        picture = self._dome_picture
        if picture is None or picture[0] != pos:
            frame, w, h = simdome.crop_frame(self._scene, pos)
            picture = self._dome_picture = (pos, frame, w, h)
        _, frame, w, h = picture
        for act, pts in self._due(stream, tick):
            if act.size != (w, h):
                caps = f"video/x-raw,format=I420,width={w},height={h},framerate={FPS}/1,pixel-aspect-ratio=1/1"
                act.src.set_caps(Gst.Caps.from_string(caps))  # in order with the buffers (appsrc queues it)
                act.size = (w, h)
            self._push_frame(act, frame, pts, FRAME_NS)

    # ---------------------------------------------------------------- control

    def _media_key(self, session_media: Any) -> str | None:
        media = session_media.get_media()
        return None if media is None else self._media_keys.get(hash(media))

    def _sessions_by_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for session in self.server.get_session_pool().filter(None):
            keys = {self._media_key(sm) for sm in session.filter(None)}
            for key in filter(None, keys):
                counts[key] = counts.get(key, 0) + 1
        return counts

    def clip_info(self, name: str) -> dict[str, Any] | None:
        """Where a --clip camera's clip is on the wall clock (None: not a clip camera, or not started)."""
        cam = self.cameras.get(name)
        epoch_ns = self._epoch_ns.get(FPS)
        if cam is None or cam.clip is None or epoch_ns is None:
            return None
        media = cam.clip
        frames = len(cam.streams["main"].clip.keys) if cam.streams["main"].clip is not None else media.frames
        loop_ns = frames * 1_000_000_000 // FPS
        now_tick = (time.time_ns() - epoch_ns) * FPS // 1_000_000_000
        loop = max(0, now_tick // frames)
        first = max(0, loop - 99)
        return {
            "source": media.source,
            "sha256": media.sha256,
            "frames": frames,
            "fps": FPS,
            "width": media.main_size[0],
            "height": media.main_size[1],
            "sub_width": media.sub_size[0],
            "sub_height": media.sub_size[1],
            "epoch_ms": epoch_ns / 1e6,
            "loop_ms": loop_ns / 1e6,
            "loop": loop,
            "frame": max(0, now_tick) % frames,
            "loop_starts_ms": [(epoch_ns + i * frames * 1_000_000_000 // FPS) / 1e6 for i in range(first, loop + 1)],
        }

    def camera_info(self, name: str | None = None) -> dict[str, Any]:
        counts = self._sessions_by_key()
        out: dict[str, Any] = {}
        for cam in self.cameras.values():
            if name is not None and cam.name != name:
                continue
            out[cam.name] = {
                "state": cam.state,
                "sessions": {kind: counts.get(s.key, 0) for kind, s in cam.streams.items()},
                "paths": {kind: s.path for kind, s in cam.streams.items()},
                "reboots": cam.reboots,
            }
        return out

    def set_state(self, name: str, state: str) -> dict[str, Any]:
        """Stop, stall or start a camera now (a reboot under way is called off)."""
        if state not in STATES:
            raise ValueError(state)
        with self._lock:
            pending = self._reboots.pop(name, None)
        if pending is not None:
            pending.cancel()
        return self._set_state(name, state)

    def _set_state(self, name: str, state: str) -> dict[str, Any]:
        cam = self.cameras[name]
        with self._lock:
            previous = cam.state
            cam.state = state
            if state == "stopped" and previous != "stopped":
                for stream in cam.streams.values():
                    self.mounts.remove_factory(stream.path)
            elif state != "stopped" and previous == "stopped":
                for stream in cam.streams.values():
                    self.mounts.add_factory(stream.path, stream.factory)
            for stream in cam.streams.values():
                for act in stream.actives:
                    for v in act.valves:
                        v.set_property("drop", state != "running")
        if state == "stopped":
            self._close_clients({s.key for s in cam.streams.values()})
        return {"name": name, "state": state}

    def reboot(self, name: str, seconds: float, new_paths: bool = False) -> dict[str, Any]:
        """Power the camera off now (as ``stop``) and on again after ``seconds``; with ``new_paths`` it
        comes back at new mount paths, and its ONVIF profiles give the new stream URIs."""
        if not 0 <= seconds <= 3600:
            raise ValueError("seconds must be between 0 and 3600")
        timer = threading.Timer(seconds, self._boot, args=(name, new_paths))
        timer.daemon = True
        with self._lock:
            previous = self._reboots.pop(name, None)
            self._reboots[name] = timer
        if previous is not None:
            previous.cancel()
        self._set_state(name, "stopped")
        timer.start()
        return {"name": name, "state": "stopped", "back_in": seconds, "new_paths": new_paths}

    def _boot(self, name: str, new_paths: bool) -> None:
        cam = self.cameras[name]
        with self._lock:
            if self._reboots.get(name) is not threading.current_thread():
                return  # called off (started, stopped or rebooted again meanwhile)
            del self._reboots[name]
            cam.reboots += 1
            if new_paths:
                # Paths first, then the state: the ONVIF device answers again only once it gives the new URIs.
                suffix = _boot_suffix(cam.reboots)
                for stream in cam.streams.values():
                    stream.path = stream.base_path.replace(f"/{name}", f"/{name}-{suffix}", 1)
                sim = self.onvif_cameras.get(name)
                if sim is not None:
                    sim.profiles = [replace(p, path=cam.streams[p.token].path) for p in sim.profiles]
            self._set_state(name, "running")

    def _close_clients(self, keys: set[str]) -> int:
        victims = []
        for client in self.server.client_filter(None):
            hit = False
            for session in client.session_filter(None):
                for sm in session.filter(None):
                    if self._media_key(sm) in keys:
                        hit = True
            if hit:
                victims.append(client)
        for client in victims:
            client.close()
        return len(victims)

    # ---------------------------------------------------------------- run

    def start(self) -> None:
        if self.server.attach(None) == 0:
            raise OSError(f"cannot listen for RTSP on {self.host}:{self.rtsp_port}")
        _GLib.timeout_add_seconds(2, self._cleanup_sessions)
        by_rate: dict[int, list[_Stream]] = {}
        for cam in self.cameras.values():
            for stream in cam.streams.values():
                by_rate.setdefault(stream.fps, []).append(stream)
        for fps, streams in sorted(by_rate.items()):
            name = "sim-pusher" if fps == FPS else f"sim-pusher-{fps}"
            t = threading.Thread(target=self._push_loop, args=(fps, streams), name=name, daemon=True)
            t.start()
            self._pushers.append(t)

    def serve_onvif(self, port: int, clock_offsets: dict[int, float] | None = None) -> OnvifServer:
        """Serve every camN as an ONVIF device on ``port`` (0: any free port)."""
        sims = []
        for n in range(1, self.n_cameras + 1):
            cam = self.cameras[f"cam{n}"]
            main_rate = DOME_BITRATES["main"] if cam.dome is not None else 3500
            sub_rate = DOME_BITRATES["sub"] if cam.dome is not None else 500
            main_size = cam.streams["main"].size if cam.clip is not None else simmedia.MAIN_SIZE
            sub_size = cam.streams["sub"].size if cam.clip is not None else simmedia.SUB_SIZE
            profiles = [
                StreamProfile("main", f"/cam{n}", *main_size, FPS, main_rate),
                StreamProfile("sub", f"/cam{n}/sub", *sub_size, FPS, sub_rate),
            ]
            # the test pattern of odd cameras moves 6 s in 10; a user's clip: no motion claimed
            moving = n % 2 == 1 and cam.clip is None
            sims.append(
                SimCamera(
                    n, cam.name, moving=moving, profiles=profiles, dome=cam.dome,
                    clock_offset=(clock_offsets or {}).get(n, 0.0), state=_state_of(cam),
                )
            )  # fmt: skip
        ep = Endpoint(self.host, port, self.rtsp_port)
        self.onvif = OnvifServer(sims, ep, Credentials(ONVIF_USER, ONVIF_PASSWORD)).start()
        self.onvif_cameras = {c.name: c for c in sims}
        return self.onvif

    def _cleanup_sessions(self) -> bool:
        self.server.get_session_pool().cleanup()
        return True

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            pending, self._reboots = list(self._reboots.values()), {}
        for timer in pending:
            timer.cancel()
        for t in self._pushers:
            t.join(timeout=2)
        for client in self.server.client_filter(None):
            client.close()
        for clip in self._clips.values():
            clip.close()


def _boot_suffix(n: int) -> str:
    """The mount path suffix after the camera's ``n``-th reboot: b, c, ... z, then r27, r28..."""
    return chr(ord("a") + n) if n < 26 else f"r{n}"


def _state_of(camera: _Camera) -> Callable[[], str]:
    return lambda: camera.state


def _rtcp_probe(pad: Any, info: Any, camera: _Camera) -> Any:
    return _Gst.PadProbeReturn.OK if camera.state == "running" else _Gst.PadProbeReturn.DROP


CLOCK_BLOCK = 16  # px per bit of the clock camera's time code
CLOCK_BITS_PER_ROW = 24
CLOCK_MARKER = (1, 0, 1, 0)


def clock_frame(ms: int, size: tuple[int, int] = CLOCK_SIZE) -> bytes:
    """A black I420 frame whose top-left corner carries ``ms`` (Unix epoch milliseconds) as a
    machine-readable time code: 48 square blocks of 16 px, white = 1, in two rows of 24, first the
    marker 1010 and then the 44-bit time, most significant bit first. Players measure their latency
    (now minus the time code of the frame on screen) and playback position with it."""
    w, h = size
    bits = [*CLOCK_MARKER, *((ms >> (43 - i)) & 1 for i in range(44))]
    rows = []
    for r in range(2):
        line = b"".join(
            (b"\xeb" if bits[r * CLOCK_BITS_PER_ROW + c] else b"\x10") * CLOCK_BLOCK for c in range(CLOCK_BITS_PER_ROW)
        )
        rows.append((line + b"\x10" * (w - len(line))) * CLOCK_BLOCK)
    luma_rest = b"\x10" * (w * (h - 2 * CLOCK_BLOCK))
    chroma = b"\x80" * (w * h // 2)
    return b"".join(rows) + luma_rest + chroma


def read_clock_code(luma: bytes, width: int = CLOCK_SIZE[0]) -> int | None:
    """The time code of a decoded clock frame (8-bit luma plane, ``width`` px per row), or None
    when the marker is not there. Each block is read at its centre."""
    bits = []
    for r in range(2):
        y = r * CLOCK_BLOCK + CLOCK_BLOCK // 2
        for c in range(CLOCK_BITS_PER_ROW):
            x = c * CLOCK_BLOCK + CLOCK_BLOCK // 2
            bits.append(1 if luma[y * width + x] > 128 else 0)
    if tuple(bits[:4]) != CLOCK_MARKER:
        return None
    ms = 0
    for b in bits[4:]:
        ms = ms << 1 | b
    return ms


def _clock_probe(pad: Any, info: Any, text: Any) -> Any:
    now = time.time()
    lt = time.localtime(now)
    ms = int(now * 1000) % 1000
    text.set_property("text", f"{time.strftime('%H:%M:%S', lt)}.{ms:03d}\n{int(now * 1000)}")
    return _Gst.PadProbeReturn.OK


# --------------------------------------------------------------------------------------- HTTP control

_CAMERA_ACTION = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/(stop|stall|start)/?$")
_DEVICE_ACTION = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/(tamper|input|motion|clock)/?$")
_REBOOT = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/reboot/?$")
_PTZ_GET = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/ptz/?$")
_CLIP_GET = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/clip/?$")
_CAMERA_GET = re.compile(r"^/cameras/([A-Za-z0-9_-]+)/?$")
_ACTION_STATE = {"stop": "stopped", "stall": "stalled", "start": "running"}


def _make_handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "RondaSim/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/health", "/health/"):
                pacers = {str(fps): asdict(st) for fps, st in sorted(sim.pacers.items())}
                self._send(200, {"ok": True, "cameras": sim.n_cameras, "rtsp_port": sim.rtsp_port, "pacers": pacers})
            elif path in ("/cameras", "/cameras/"):
                self._send(200, sim.camera_info())
            elif m := _PTZ_GET.match(path):
                cam = sim.cameras.get(m.group(1))
                if cam is None or cam.dome is None:
                    self._send(404, {"error": f"{m.group(1)} is not a dome"})
                else:
                    pos = cam.dome.position()
                    pan_tilt, zoom = cam.dome.moving()
                    self._send(200, {"pan": pos.pan, "tilt": pos.tilt, "zoom": pos.zoom, "moving": pan_tilt or zoom})
            elif m := _CLIP_GET.match(path):
                info = sim.clip_info(m.group(1))
                if info is None:
                    self._send(404, {"error": f"{m.group(1)} does not serve a clip (--clip)"})
                else:
                    self._send(200, info)
            elif m := _CAMERA_GET.match(path):
                if m.group(1) not in sim.cameras:
                    self._send(404, {"error": f"unknown camera {m.group(1)}"})
                else:
                    self._send(200, sim.camera_info(m.group(1))[m.group(1)])
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, 65536)) if length else b""
            path = self.path.split("?", 1)[0]
            if d := _DEVICE_ACTION.match(path):
                self._device_action(d.group(1), d.group(2), raw)
                return
            if r := _REBOOT.match(path):
                self._reboot(r.group(1), raw)
                return
            m = _CAMERA_ACTION.match(path)
            if not m:
                self._send(404, {"error": "not found"})
            elif m.group(1) not in sim.cameras:
                self._send(404, {"error": f"unknown camera {m.group(1)}"})
            else:
                self._send(200, sim.set_state(m.group(1), _ACTION_STATE[m.group(2)]))

        def _reboot(self, name: str, raw: bytes) -> None:
            if name not in sim.cameras:
                self._send(404, {"error": f"unknown camera {name}"})
                return
            try:
                payload = json.loads(raw or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                seconds, new_paths = payload.get("seconds", 5), payload.get("new_paths", False)
                if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                    raise ValueError('reboot needs {"seconds": S} (a number, 0..3600)')
                if not isinstance(new_paths, bool):
                    raise ValueError('"new_paths" must be true or false')
                self._send(200, sim.reboot(name, float(seconds), new_paths))
            except ValueError as exc:  # json.JSONDecodeError included
                self._send(400, {"error": str(exc)})

        def _device_action(self, name: str, action: str, raw: bytes) -> None:
            onvif = sim.onvif
            cam = None if onvif is None else sim.onvif_cameras.get(name)
            if onvif is None:
                self._send(409, {"error": "ONVIF is not served (start the simulator with --onvif-port)"})
            elif cam is None:
                self._send(404, {"error": f"unknown ONVIF camera {name}"})
            else:
                try:
                    payload = json.loads(raw or b"{}")
                    if not isinstance(payload, dict):
                        raise ValueError("the body must be a JSON object")
                    self._send(200, onvif.command(cam, action, payload))
                except ValueError as exc:  # json.JSONDecodeError included
                    self._send(400, {"error": str(exc)})

    return Handler


# ------------------------------------------------------------------------------------------ entry


def run(
    cameras: int,
    rtsp_port: int,
    control_port: int | None,
    cache_dir: Path | None,
    host: str = "127.0.0.1",
    *,
    dome: bool = False,
    onvif_port: int | None = None,
    discovery_port: int = 3702,
    clock_offsets: dict[int, float] | None = None,
    clips: dict[int, Path] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code. ``onvif_port`` None: no ONVIF;
    ``discovery_port`` 0: no WS-Discovery; ``clips``: camera number -> video file it serves (encoded once
    into the cache; a clip on camera 1 replaces the dome)."""
    cache = Path(cache_dir) if cache_dir is not None else simmedia.default_cache_dir()
    interrupted = False

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    clips = dict(clips or {})
    dome = dome and 1 not in clips
    check_pipelines(cameras, dome)  # before minutes of clip encoding: a missing plugin is known at once
    old_term = signal.signal(signal.SIGTERM, on_signal)
    media: dict[int, simclip.ClipMedia] = {}
    last_line = [0.0]

    def show(line: str) -> None:
        now = time.monotonic()
        if now - last_line[0] >= 1 or "encoding" in line or "ready" in line or "cached" in line:
            last_line[0] = now
            print(f"simulator: {line}", flush=True)

    try:
        t0 = time.monotonic()
        simmedia.prepare(cache, max(cameras, 1))
        for number, path in sorted(clips.items()):
            media[number] = simclip.prepare_clip(path, cache, progress=show)
        print(f"simulator: media ready in {time.monotonic() - t0:.1f} s", flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, old_term)
    if interrupted:
        return 0

    sim = Simulator(cameras, rtsp_port, cache, host, dome=dome, clips=media)
    httpd: ThreadingHTTPServer | None = None
    discovery: Discovery | None = None
    try:
        sim.start()
        if onvif_port is not None:
            onvif = sim.serve_onvif(onvif_port, clock_offsets)
            for cam in onvif.cameras.values():
                kind = " (PTZ dome)" if cam.dome is not None else ""
                print(f"simulator: ONVIF {cam.name} {onvif.ep.xaddr(cam, 'device_service')}{kind}", flush=True)
            if discovery_port:
                try:
                    discovery = Discovery(onvif.online, onvif.ep, discovery_port).start()
                    how = "multicast 239.255.255.250 and unicast" if discovery.multicast else "unicast only"
                    print(f"simulator: WS-Discovery on udp {discovery.port} ({how})", flush=True)
                except OSError as exc:
                    print(f"simulator: WS-Discovery off: cannot bind udp {discovery_port}: {exc}", flush=True)
        if control_port is not None:
            httpd = ThreadingHTTPServer((host, control_port), _make_handler(sim))
            httpd.daemon_threads = True
            threading.Thread(target=httpd.serve_forever, name="sim-control", daemon=True).start()

        def quit_loop() -> bool:
            sim.loop.quit()
            return False

        _GLib.unix_signal_add(_GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
        _GLib.unix_signal_add(_GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
        print(
            f"simulator: {cameras} cameras on rtsp://{host}:{rtsp_port}/cam1 .. /cam{cameras}"
            + (f", control http://{host}:{control_port}" if control_port is not None else ""),
            flush=True,
        )
        for number, clip in sorted(media.items()):
            print(
                f"simulator: cam{number} serves {clip.source} ({clip.main_size[0]}x{clip.main_size[1]}, sub "
                f"{clip.sub_size[0]}x{clip.sub_size[1]}, {clip.frames} frames looped)",
                flush=True,
            )
        sim.loop.run()
    finally:
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if discovery is not None:
            discovery.close()
        if sim.onvif is not None:
            sim.onvif.close()
        sim.shutdown()
    print("simulator: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ronda.devices.simulator",
        description="Serve simulated RTSP cameras (GStreamer) with pre-encoded clips.",
    )
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras /cam1..N (default 4)")
    parser.add_argument("--rtsp-port", type=int, default=8554, help="RTSP port (default 8554)")
    parser.add_argument("--control-port", type=int, default=None, help="HTTP control port (default: none)")
    parser.add_argument(
        "--cache", type=Path, default=None, help="clip cache (default $RONDA_SIM_CACHE or ~/.cache/ronda/sim)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--onvif-port", type=int, default=None, help="serve ONVIF: camera K at http://HOST:PORT/onvif/K/device_service"
    )
    parser.add_argument("--discovery-port", type=int, default=3702, help="WS-Discovery UDP port (default 3702, 0: off)")
    parser.add_argument("--no-dome", action="store_true", help="camera 1 is a fixed camera, not the PTZ dome")
    parser.add_argument(
        "--clock-offset", action="append", default=[], metavar="K=SECONDS",
        help="camera K's ONVIF clock runs SECONDS ahead (negative: behind); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--clip", action="append", default=[], metavar="K=FILE",
        help="camera K serves the video file FILE (looped, re-encoded once into the cache); repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        clips = simclip.parse_clip_args(args.clip, args.cameras)
    except simclip.ClipError as exc:
        print(f"simulator: error: {exc}", file=sys.stderr, flush=True)
        return 2
    offsets: dict[int, float] = {}
    for item in args.clock_offset:
        number, _, seconds = item.partition("=")
        try:
            offsets[int(number)] = float(seconds)
        except ValueError:
            parser.error(f"--clock-offset {item!r}: expected K=SECONDS, e.g. 2=3600")
    try:
        return run(
            args.cameras, args.rtsp_port, args.control_port, args.cache, args.host,
            dome=not args.no_dome, onvif_port=args.onvif_port, discovery_port=args.discovery_port,
            clock_offsets=offsets, clips=clips,
        )  # fmt: skip
    except (OSError, SimulatorSetupError, simclip.ClipError) as exc:
        print(f"simulator: error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
