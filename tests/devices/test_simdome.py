"""The simulated dome's mechanics and its position code (pure logic, no GStreamer)."""

from __future__ import annotations

import time

import pytest

from ronda.devices.simdome import SCENE_SIZE, Dome, Position, crop_frame, read_position_code, view_window


def test_continuous_move_integrates_speed_over_time_and_stops_at_the_limit() -> None:
    dome = Dome()
    dome.continuous((0.5, None, None), timeout=None)  # 0.5 of 2 units/s
    time.sleep(0.3)
    pan = dome.position().pan
    assert 0.25 <= pan <= 0.6
    assert dome.moving() == (True, False)
    time.sleep(1.2)
    assert dome.position().pan == 1.0  # clamped at the limit, not beyond
    assert dome.moving() == (False, False)


def test_continuous_move_ends_after_its_timeout() -> None:
    dome = Dome()
    dome.continuous((None, -1.0, 1.0), timeout=0.2)
    time.sleep(0.5)
    p = dome.position()
    assert p.tilt == pytest.approx(-0.4, abs=0.01) and p.zoom == pytest.approx(0.2, abs=0.01)
    assert dome.moving() == (False, False)


def test_moves_to_positions_presets_and_home_are_clamped() -> None:
    dome = Dome()
    dome.move_to((3.0, -0.5, -2.0))
    time.sleep(0.8)
    assert dome.position() == Position(1.0, -0.5, 0.0)
    token = dome.set_preset("gate")
    dome.set_home()
    dome.move_by((-0.5, 0.25, 0.5), speed=1.0)
    time.sleep(0.6)
    assert dome.position() == Position(0.5, -0.25, 0.5)
    dome.goto_home()
    time.sleep(0.6)
    assert dome.position() == Position(1.0, -0.5, 0.0)
    dome.move_to((0.0, 0.0, 0.0))
    dome.stop()
    stopped = dome.position()
    time.sleep(0.2)
    assert dome.position() == stopped
    dome.goto_preset(token)
    time.sleep(0.8)
    assert dome.position() == Position(1.0, -0.5, 0.0)
    dome.remove_preset(token)
    with pytest.raises(KeyError):
        dome.goto_preset(token)


@pytest.mark.parametrize("pos", [Position(), Position(-1, 1, 1), Position(0.5, -0.25, 0.3), Position(0.123, 0.9, 0.77)])
def test_the_position_code_reads_back_from_the_picture(pos: Position) -> None:
    scene = bytes(range(256)) * (SCENE_SIZE[0] * SCENE_SIZE[1] * 3 // 2 // 256)
    frame, fw, fh = crop_frame(scene, pos)
    assert (fw, fh) == view_window(pos)[2:] and fw % 8 == 0 and len(frame) == fw * fh * 3 // 2
    got = read_position_code(frame[: fw * fh], fw)
    assert got is not None
    assert (got.pan, got.tilt, got.zoom) == pytest.approx((pos.pan, pos.tilt, pos.zoom), abs=2e-4)


def test_a_picture_without_the_code_reads_none() -> None:
    assert read_position_code(bytes(640 * 360), 640) is None
