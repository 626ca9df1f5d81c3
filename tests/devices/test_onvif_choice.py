"""Which profiles feed main and sub: by resolution when a camera is added, by the stored tokens after an
administrator chose them (docs/onvif.md, "Choosing the profiles of main and sub")."""

from __future__ import annotations

from ronda.devices.onvif.probe import MediaProfile, choose_streams, chosen_streams

HD = MediaProfile("hd", "HD", "h264", 1920, 1080, 25.0)
SD = MediaProfile("sd", "SD", "h264", 640, 360, 25.0)
MJ = MediaProfile("mj", "Snap", "mjpeg", 3840, 2160, 5.0)
ALL = [SD, MJ, HD]


def test_by_resolution_a_recordable_codec_first() -> None:
    assert choose_streams(ALL) == (HD, SD)
    assert chosen_streams(ALL, None) == (HD, SD)


def test_stored_tokens_win_over_resolution() -> None:
    assert chosen_streams(ALL, {"main": "sd", "sub": "hd"}) == (SD, HD)
    assert chosen_streams(ALL, {"main": "mj"}) == (MJ, None)  # sub left out: no sub stream


def test_a_lost_main_profile_is_chosen_again_a_lost_sub_is_none() -> None:
    assert chosen_streams(ALL, {"main": "gone", "sub": "sd"}) == (HD, SD)
    assert chosen_streams(ALL, {"main": "sd", "sub": "gone"}) == (SD, None)
