"""What the recorder does for cameras added by ONVIF, besides recording their streams.

- **Camera events.** One PullPoint subscription per enabled ONVIF camera this recorder records: the
  camera's own motion, tampering and input events become Ronda events (``devices.onvif.camera``), which
  the outbox relay hands to the rules and the alarm manager. The set of cameras is read again every
  ``RESCAN_S`` (a camera added, disabled or deleted starts or stops its subscription).
- **Stream URIs after a reboot.** While an ONVIF camera's capture fails, the device is asked for its
  stream URIs again, at most once per interval per camera: ``REFRESH_FIRST_S`` while the device does not
  answer (it is likely rebooting: the first capture failure after it is back finds its new URIs), doubled
  each time it answers with the same URIs (up to ``REFRESH_MAX_S``), back to the start once the camera
  records again. New URIs are stored and ``on_moved`` is told (the recorder restarts the capture with
  them, the gap's reason becomes ``camera_restarted``).

The node that records a camera owns its subscription: with several recorders, each pulls the events of
its own cameras only (``owned`` says which).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ronda.access.secrets import SecretBox
from ronda.devices.onvif.camera import (
    camera_events,
    onvif_camera,
    onvif_camera_ids,
    refresh_camera_streams,
    store_event,
)
from ronda.errors import DeviceError
from ronda.store.db import Database
from ronda.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)
RESCAN_S = 30.0
REFRESH_FIRST_S = 5.0
REFRESH_MAX_S = 60.0


class OnvifFollower:
    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        owned: Callable[[int], bool],
        on_moved: Callable[[int], None] | None = None,
    ) -> None:
        """``on_moved(camera_id)``: called (in the loop, right after they are stored) when the device gave
        new stream URIs."""
        self.db = db
        self.secrets = secrets
        self.owned = owned
        self.on_moved = on_moved
        self.subscriptions: dict[int, asyncio.Task[None]] = {}
        self._refreshing: dict[int, asyncio.Task[None]] = {}
        self._next_refresh: dict[int, float] = {}  # camera -> monotonic time it may be asked again
        self._interval: dict[int, float] = {}  # camera -> the wait after its last refresh (absent: first)
        self._silent: set[int] = set()  # cameras whose device did not answer the last refresh (log once)
        self._scan: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        await self.rescan()
        self._scan = asyncio.create_task(self._rescan_forever(), name="onvif-rescan")

    async def stop(self) -> None:
        self._stopped = True
        for task in (self._scan, *self.subscriptions.values(), *self._refreshing.values()):
            await cancel_and_wait(task)
        self.subscriptions.clear()
        self._refreshing.clear()

    async def rescan(self) -> None:
        """Follow the ONVIF cameras this recorder records now (also called when its catalog changed)."""
        ids = {cid for cid in await asyncio.to_thread(onvif_camera_ids, self.db) if self.owned(cid)}
        if self._stopped:
            return
        for cid in set(self.subscriptions) - ids:
            await cancel_and_wait(self.subscriptions.pop(cid, None))
        for cid in ids - set(self.subscriptions):
            self.subscriptions[cid] = asyncio.create_task(self._pull(cid), name=f"onvif-events-{cid}")

    async def _rescan_forever(self) -> None:
        await every(RESCAN_S, self.rescan, "ONVIF cameras: a rescan")

    async def _pull(self, camera_id: int) -> None:
        """The camera's events, stored as they come (``camera_events`` re-subscribes by itself)."""
        cam = await asyncio.to_thread(onvif_camera, self.db, self.secrets, camera_id)
        if cam is None:
            return
        while True:
            try:
                async for ev in camera_events(cam):
                    await asyncio.to_thread(store_event, self.db, camera_id, ev)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug or a database error must not end the subscription for good
                log.warning("camera %d: ONVIF events stopped (%s: %s); again in %.0f s",
                            camera_id, type(e).__name__, e, RESCAN_S)  # fmt: skip
                await asyncio.sleep(RESCAN_S)

    def camera_offline(self, camera_id: int) -> None:
        """Called at each failed capture attempt: ask an ONVIF camera for its stream URIs again, unless it
        was asked less than its interval ago."""
        if camera_id in self._refreshing or camera_id not in self.subscriptions:
            return  # (not an ONVIF camera of this recorder, or already asking)
        if time.monotonic() < self._next_refresh.get(camera_id, 0.0):
            return
        self._refreshing[camera_id] = asyncio.create_task(self._refresh(camera_id), name=f"onvif-refresh-{camera_id}")

    def camera_online(self, camera_id: int) -> None:
        """Called when the camera records: the next outage starts with a quick refresh again."""
        self._next_refresh.pop(camera_id, None)
        self._interval.pop(camera_id, None)
        self._silent.discard(camera_id)

    async def _refresh(self, camera_id: int) -> None:
        interval = self._interval.get(camera_id)
        try:
            moved = await refresh_camera_streams(self.db, self.secrets, camera_id)
            self._silent.discard(camera_id)
            if moved:
                log.info("camera %d: the device gives new stream URIs: recording restarts with them", camera_id)
                interval = None
                if self.on_moved is not None:
                    self.on_moved(camera_id)
            else:  # it answers with the URIs we have: the outage is elsewhere, ask less and less often
                interval = REFRESH_FIRST_S if interval is None else min(interval * 2, REFRESH_MAX_S)
        except DeviceError as e:
            # Silent or refusing: probably rebooting. Keep asking at the current pace (once per failed
            # capture attempt at most), so the new URIs are found soon after it answers again.
            level = logging.DEBUG if camera_id in self._silent else logging.INFO
            log.log(level, "camera %d: stream URIs not refreshed: %s", camera_id, e)
            self._silent.add(camera_id)
        except Exception:
            log.exception("camera %d: stream URI refresh failed", camera_id)
            interval = REFRESH_MAX_S
        finally:
            self._refreshing.pop(camera_id, None)
        if interval is None:
            self._interval.pop(camera_id, None)
        else:
            self._interval[camera_id] = interval
        self._next_refresh[camera_id] = time.monotonic() + (interval or REFRESH_FIRST_S)
