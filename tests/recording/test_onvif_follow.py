"""How often the recorder asks an ONVIF camera whose capture fails for its stream URIs
(``recording/onvif_follow.py``): quickly while the device is silent (rebooting), less and less often while
it answers with the same URIs, quickly again once the camera records. The device is replaced by a script
of answers here; tests/devices/test_onvif_reboot.py runs the same path against the simulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ronda.errors import DeviceError
from ronda.recording import onvif_follow
from ronda.recording.onvif_follow import REFRESH_FIRST_S, REFRESH_MAX_S, OnvifFollower


class Device:
    def __init__(self) -> None:
        self.answers: list[bool | Exception] = []
        self.calls = 0

    async def refresh(self, db: Any, secrets: Any, camera_id: int) -> bool:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def _ask(f: OnvifFollower, device: Device, answer: bool | Exception, *, due: bool = True) -> None:
    if due:
        f._next_refresh.pop(1, None)  # (as if its interval had passed)
    device.answers.append(answer)
    f.camera_offline(1)
    if 1 in f._refreshing:
        await f._refreshing[1]


async def test_refresh_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    device = Device()
    monkeypatch.setattr(onvif_follow, "refresh_camera_streams", device.refresh)
    moved: list[int] = []
    f = OnvifFollower(None, None, owned=lambda cid: True, on_moved=moved.append)  # type: ignore[arg-type]
    f.subscriptions[1] = asyncio.create_task(asyncio.sleep(3600))
    try:
        f.camera_offline(2)  # not an ONVIF camera of this recorder: never asked
        assert device.calls == 0 and not f._refreshing

        await _ask(f, device, DeviceError("Server disconnected"))  # rebooting: silent
        assert device.calls == 1 and 1 not in f._interval
        assert f._next_refresh[1] - time.monotonic() == pytest.approx(REFRESH_FIRST_S, abs=1)
        await _ask(f, device, False, due=False)  # the next capture failure, 1 s later: not yet
        assert device.calls == 1
        device.answers.clear()
        for _ in range(3):  # still silent: the pace stays
            await _ask(f, device, DeviceError("timed out"))
            assert 1 not in f._interval

        waits = []
        for _ in range(6):  # it answers with the URIs Ronda has: ask less and less often
            await _ask(f, device, False)
            waits.append(f._interval[1])
        assert waits == [5, 10, 20, 40, 60, 60] and waits[-1] == REFRESH_MAX_S

        await _ask(f, device, True)  # new URIs: stored, the recorder told, the pace back to the start
        assert moved == [1] and 1 not in f._interval

        await _ask(f, device, False)
        await _ask(f, device, False)
        assert f._interval[1] == 10
        f.camera_online(1)  # recording again: the next outage starts with a refresh at once
        assert 1 not in f._interval and 1 not in f._next_refresh
        await _ask(f, device, False, due=False)
        assert device.calls == 14
    finally:
        await f.stop()
