"""Which RTP transport a capture asks the camera for, and what ``auto`` learns.

A camera's setting is ``tcp``, ``udp``, ``http`` (RTSP tunnelled in HTTP) or ``auto``. ffmpeg itself
cannot try TCP first: given both it tries UDP first. So ``auto`` is resolved here, per attempt:

- TCP first (interleaved in the RTSP connection: one port, no NAT or firewall trouble, no loss);
- when the camera refuses it (``transport_refused``: RTSP 461, VLC's server does this), UDP at once,
  without a gap or a backoff, and the refusal is stamped on the stream's catalog row
  (``camera_streams.tcp_refused_ms``) so that later attempts, and a restarted Ronda, go straight to UDP;
- TCP is tried again only when a reconnect is due anyway and the refusal is older than
  ``TCP_RETRY_S``: a camera whose firmware learned TCP gets it back within the hour, a working UDP
  capture is never cut to find out, and a UDP-only camera costs one refused SETUP (a few
  milliseconds inside an outage that exists already) an hour. A capture that records over TCP
  clears the stamp.
"""

from __future__ import annotations

from ronda.recording import ffmpeg

TCP_RETRY_S = 3600.0


def choose(setting: str, tcp_refused_ms: int | None, now_ms: int) -> str:
    """The transport of the next attempt (``tcp``, ``udp`` or ``http``) for a camera's ``setting``."""
    if setting != "auto":
        return setting
    if tcp_refused_ms is not None and now_ms - tcp_refused_ms < TCP_RETRY_S * 1000:
        return "udp"
    return "tcp"


def falls_back(setting: str, used: str, reason: str | None) -> bool:
    """True when an attempt's failure means "try UDP now" rather than an outage."""
    return setting == "auto" and used == "tcp" and reason == "transport_refused"


async def probe(
    ffprobe: str, url: str, timeout_s: float, setting: str, tcp_refused_ms: int | None, now_ms: int
) -> tuple[ffmpeg.ProbeResult, str]:
    """Probe a stream as its capture would connect: ``(result, transport used)``; with ``auto`` a
    refused TCP is followed by one UDP probe."""
    used = choose(setting, tcp_refused_ms, now_ms)
    result = await ffmpeg.probe(ffprobe, url, timeout_s, used)
    if not result.ok and falls_back(setting, used, result.reason):
        used = "udp"
        result = await ffmpeg.probe(ffprobe, url, timeout_s, used)
    return result, used
