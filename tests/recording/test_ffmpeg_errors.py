"""ffmpeg's error text -> the gap reason operators see."""

import pytest

from ronda.recording.ffmpeg import classify_error


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[rtsp @ 0x5588a2c0] method DESCRIBE failed: 401 Unauthorized", "auth_failed"),
        ("[rtsp @ 0x5588a2c0] method DESCRIBE failed: 404 Not Found", "stream_not_found"),
        # a pointer in the log prefix must not read as an HTTP status
        ("[tcp @ 0x55d1c8401240] Connection to tcp://127.0.0.1:9?timeout=0 failed: Connection refused",
         "camera_unreachable"),
        ("[tcp @ 0x7f404e80] Connection to tcp://10.0.0.9:554 failed: Connection timed out", "camera_unreachable"),
        ("Server returned 503 Service Unavailable", "camera_unreachable"),
        # nor a port or a path in an address
        ("[tcp @ 0x55d1c8] Connection to tcp://10.0.0.9:404?timeout=0 failed: Connection refused",
         "camera_unreachable"),
        ("rtsp://10.0.0.9:554/cam/401/main: Connection timed out", "camera_unreachable"),
        ("No space left on device", "disk_full"),
        # hostile cameras (tests/faults/test_bad_cameras.py)
        ("[concat @ 0x56] Impossible to open 'rtsp://127.0.0.1:39407/cam'\npipe:5: Invalid data found when "
         "processing input", "not_rtsp"),
        ("[h264 @ 0x55] sps_id 32 out of range\n[h264 @ 0x55] non-existing PPS 0 referenced\n"
         "[h264 @ 0x55] decode_slice_header error\n[h264 @ 0x55] no frame!", "video_invalid"),
        ("[h264 @ 0x55] [IMGUTILS @ 0x7f] Picture size 15360x8640 exceeds specified max pixel count 35389440",
         "resolution_too_large"),
        # a stream joined between keyframes says "non-existing PPS" at first: the network's words win
        ("[h264 @ 0x55] non-existing PPS 0 referenced\n[tcp @ 0x56] Connection timed out", "camera_unreachable"),
    ],
)  # fmt: skip
def test_classify_error(text, reason):
    assert classify_error(text) == reason
