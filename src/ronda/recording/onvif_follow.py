"""What the recorder does for cameras added by ONVIF, besides recording their streams.

- **Camera events.** One PullPoint subscription per enabled ONVIF camera this recorder records: the
  camera's own motion, tampering and input events become Ronda events (``devices.onvif.camera``), which
  the outbox relay hands to the rules and the alarm manager. The set of cameras is read again every
  ``RESCAN_S`` (a camera added, disabled or deleted starts or stops its subscription).
- **Stream URIs after a reboot.** When an ONVIF camera goes offline, the device is asked for its stream
  URIs again (at most once per ``REFRESH_EVERY_S`` per camera): a camera whose URIs changed after a
  reboot gets the new ones stored, and the recorder's catalog follow restarts the capture with them.

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
from ronda.tasks import cancel_and_wait

log = logging.getLogger(__name__)
RESCAN_S = 30.0
REFRESH_EVERY_S = 60.0


class OnvifFollower:
    def __init__(self, db: Database, secrets: SecretBox, owned: Callable[[int], bool]) -> None:
        self.db = db
        self.secrets = secrets
        self.owned = owned
        self.subscriptions: dict[int, asyncio.Task[None]] = {}
        self._refreshing: dict[int, asyncio.Task[None]] = {}
        self._last_refresh: dict[int, float] = {}
        self._scan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.rescan()
        self._scan = asyncio.create_task(self._rescan_forever(), name="onvif-rescan")

    async def stop(self) -> None:
        for task in (self._scan, *self.subscriptions.values(), *self._refreshing.values()):
            await cancel_and_wait(task)
        self.subscriptions.clear()
        self._refreshing.clear()

    async def rescan(self) -> None:
        ids = {cid for cid in await asyncio.to_thread(onvif_camera_ids, self.db) if self.owned(cid)}
        for cid in set(self.subscriptions) - ids:
            await cancel_and_wait(self.subscriptions.pop(cid))
        for cid in ids - set(self.subscriptions):
            self.subscriptions[cid] = asyncio.create_task(self._pull(cid), name=f"onvif-events-{cid}")

    async def _rescan_forever(self) -> None:
        while True:
            await asyncio.sleep(RESCAN_S)
            try:
                await self.rescan()
            except Exception:
                log.exception("ONVIF cameras: rescan failed")

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
        """Called when a camera's capture fails: ask an ONVIF camera for its stream URIs again."""
        if camera_id in self._refreshing or camera_id not in self.subscriptions:
            return  # (not an ONVIF camera of this recorder, or already asking)
        now = time.monotonic()
        if now - self._last_refresh.get(camera_id, -REFRESH_EVERY_S) < REFRESH_EVERY_S:
            return
        self._last_refresh[camera_id] = now
        self._refreshing[camera_id] = asyncio.create_task(self._refresh(camera_id), name=f"onvif-refresh-{camera_id}")

    async def _refresh(self, camera_id: int) -> None:
        try:
            if await refresh_camera_streams(self.db, self.secrets, camera_id):
                log.info("camera %d: the device gives new stream URIs: recording restarts with them", camera_id)
        except DeviceError as e:
            log.info("camera %d: stream URIs not refreshed: %s", camera_id, e)
        except Exception:
            log.exception("camera %d: stream URI refresh failed", camera_id)
        finally:
            self._refreshing.pop(camera_id, None)
