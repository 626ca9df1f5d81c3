"""A camera's RTP transport: the refused-transport reason, what ``auto`` chooses, what ffmpeg is given.

The stderr fixtures are what Debian's ffmpeg 5.1.9 and ffprobe printed through Ronda's own capture
and probe paths (``-f concat -i pipe:N``) against VLC 3.0.24's RTSP server from Debian
(``cvlc --sout '#rtp{sdp=rtsp://127.0.0.1:18554/x}'``), which answers a TCP SETUP with 461; the
supervisor joins stderr lines with " | ".
"""

from __future__ import annotations

import os

import pytest

from ronda.recording import transport
from ronda.recording.ffmpeg import CameraInput, classify_error

VLC_TCP_CAPTURE = (
    "[rtsp @ 0x562312aef5c0] method SETUP failed: 461 Unsupported transport"
    " | [concat @ 0x562312addac0] Impossible to open 'rtsp://127.0.0.1:18554/x'"
    " | pipe:6: Protocol not supported"
)
VLC_TCP_PROBE = (
    "[rtsp @ 0x557804809d00] method SETUP failed: 461 Unsupported transport\n"
    "[concat @ 0x5578047f82c0] Impossible to open 'rtsp://127.0.0.1:18554/x'\n"
    "pipe:6: Protocol not supported"
)
VLC_TCP_DIRECT = (
    "[rtsp @ 0x55930ed50940] method SETUP failed: 461 Unsupported transport\n"
    "rtsp://127.0.0.1:18554/x: Protocol not supported"
)
# A UDP capture's reconnect after VLC was stopped (a capture running when VLC stops ends with exit 0
# and no error text: "stream_ended", which the reconnect's reason replaces).
VLC_GONE = (
    "[tcp @ 0x564b64ad72c0] Connection to tcp://127.0.0.1:18554?timeout=9000000 failed: Connection refused"
    " | [concat @ 0x564b64ac2ac0] Impossible to open 'rtsp://127.0.0.1:18554/x'"
    " | pipe:6: Connection refused"
)


@pytest.mark.parametrize("text", [VLC_TCP_CAPTURE, VLC_TCP_PROBE, VLC_TCP_DIRECT])
def test_vlc_refusing_tcp_is_transport_refused(text):
    assert classify_error(text) == "transport_refused"


@pytest.mark.parametrize(
    "text, reason",
    [
        (VLC_GONE, "camera_unreachable"),
        # a refused connection to port 461 is no RTSP 461
        ("[tcp @ 0x55d1c8401240] Connection to tcp://10.0.0.9:461 failed: Connection refused", "camera_unreachable"),
        ("[rtsp @ 0x5588a2c0] Nonmatching transport in server reply", "transport_refused"),
        ("[rtsp @ 0x5588a2c0] method DESCRIBE failed: 401 Unauthorized", "auth_failed"),
    ],
)  # fmt: skip
def test_other_failures_keep_their_reason(text, reason):
    assert classify_error(text) == reason


NOW = 10_000_000_000


def test_auto_asks_for_tcp_first_and_udp_after_a_refusal():
    assert transport.choose("auto", None, NOW) == "tcp"
    assert transport.choose("auto", NOW - 5_000, NOW) == "udp"
    # an hour later a reconnect tries TCP again
    assert transport.choose("auto", NOW - int(transport.TCP_RETRY_S * 1000) - 1, NOW) == "tcp"


@pytest.mark.parametrize("setting", ["tcp", "udp", "http"])
def test_a_fixed_setting_is_used_as_is(setting):
    assert transport.choose(setting, NOW - 5_000, NOW) == setting
    assert transport.choose(setting, None, NOW) == setting


def test_only_auto_over_tcp_falls_back():
    assert transport.falls_back("auto", "tcp", "transport_refused")
    assert not transport.falls_back("auto", "udp", "transport_refused")  # refused both ways: an outage
    assert not transport.falls_back("tcp", "tcp", "transport_refused")  # the operator asked for TCP
    assert not transport.falls_back("auto", "tcp", "camera_unreachable")


def _script(src: CameraInput) -> str:
    assert src.fd is not None
    return os.read(src.fd, 4096).decode()


@pytest.mark.parametrize("use", ["tcp", "udp"])
def test_camera_input_sets_the_transport_and_keeps_http_out(use):
    with CameraInput("rtsp://127.0.0.1/x", 5, use) as src:
        script = _script(src)
        assert f"option rtsp_transport {use}\n" in script
        assert "http" not in script and "http" not in " ".join(src.args())


def test_http_tunnel_allows_http_for_that_camera_only():
    with CameraInput("rtsp://127.0.0.1/x", 5, "http") as src:
        script = _script(src)
        assert "option rtsp_transport http\n" in script
        assert "option protocol_whitelist rtsp,rtsps,rtp,srtp,tcp,udp,tls,http\n" in script
        assert "pipe,rtsp,rtsps,rtp,srtp,tcp,udp,tls,http" in src.args()


@pytest.mark.parametrize("bad", ["auto", "udp_multicast", "tcp\noption x", ""])
def test_camera_input_refuses_other_transports(bad):
    with pytest.raises(ValueError, match="RTSP transport"):
        CameraInput("rtsp://127.0.0.1/x", 5, bad)


async def test_http_tunnel_through_the_pipe_reaches_a_real_server(sim):
    """The simulator's GStreamer RTSP server speaks the RTSP-over-HTTP tunnel: ffprobe gets the stream
    through CameraInput with transport http (which fails without ``http`` in the allow-list)."""
    url = sim.url("cam1", sub=True)
    for setting in ("http", "tcp", "udp", "auto"):
        result, used = await transport.probe("ffprobe", url, 10, setting, None, NOW)
        assert result.ok and result.codec == "h264", (setting, result)
        assert used == ("tcp" if setting == "auto" else setting)
