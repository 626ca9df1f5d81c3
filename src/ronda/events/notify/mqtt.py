"""MQTT publishing of events and alarms with Home Assistant-friendly topics (paho-mqtt 2.x).

Topics, under ``<base>/<site>/`` (``ronda/<site_slug>/`` by default):

- ``events/<type>``: every event as JSON, QoS 1, not retained;
- ``alarms/<id>``: the alarm's state as JSON, QoS 1, retained, so a dashboard that connects later sees
  the open alarms; when the alarm closes, its final state is published once (not retained) and then an
  empty retained message deletes the retained copy;
- ``camera/<camera_id>/alarm``: ``ON`` while any open alarm involves the camera, else ``OFF`` (retained):
  a Home Assistant ``binary_sensor`` per camera;
- ``status``: ``online`` / ``offline`` (retained; ``offline`` is also the broker-published last will),
  usable as Home Assistant's availability topic.

paho runs its network loop in its own thread and reconnects by itself. Its callbacks are handed over to
the asyncio loop, so the connection flag, the offline queue and the camera states are only ever touched
from the loop's thread. While disconnected, messages wait in a bounded queue; when it is full the oldest
is dropped and counted in ``dropped``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"[^a-z0-9_.-]+")
CLOSED_STATES = frozenset({"closed"})


def topic_segment(value: object, default: str = "unknown") -> str:
    """One topic level: lower case, no wildcard or separator characters (``+ # /`` would change what
    the topic means), never empty."""
    seg = _SEGMENT.sub("_", str(value).strip().lower()).strip("_")
    return seg[:64] or default


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    retain: bool


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


class MqttPublisher:
    def __init__(
        self,
        host: str,
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        base_topic: str = "ronda",
        tls: bool = False,
        *,
        site_slug: str = "default",
        client_id: str | None = None,
        queue_limit: int = 1000,
        keepalive_s: int = 30,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        ca_file: str | None = None,
        qos: int = 1,
    ) -> None:
        self.host = host
        self.port = port
        self.base = "/".join(topic_segment(p) for p in base_topic.strip("/").split("/") if p) or "ronda"
        self.site = topic_segment(site_slug, "default")
        self.prefix = f"{self.base}/{self.site}"
        self.status_topic = f"{self.prefix}/status"
        self.qos = qos
        self.queue_limit = max(1, queue_limit)
        self.keepalive_s = keepalive_s
        self.connected = False
        self.dropped = 0  # messages lost because the offline queue was full
        self.published = 0  # messages handed to the client while connected
        self.connects = 0
        self._queue: deque[_Pending] = deque()
        self._open: dict[int, set[int]] = {}  # open alarm id -> its camera ids
        self._camera_state: dict[int, str] = {}  # camera id -> last ON/OFF published
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected_event = asyncio.Event()
        self._started = False

        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or "",
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if username:
            self._client.username_pw_set(username, password)
        if tls:
            context = ssl.create_default_context(cafile=ca_file)
            self._client.tls_set_context(context)
        self._client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        self._client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    # -- topics ---------------------------------------------------------------------------------------

    def event_topic(self, event_type: object) -> str:
        return f"{self.prefix}/events/{topic_segment(event_type, 'event')}"

    def alarm_topic(self, alarm_id: object) -> str:
        return f"{self.prefix}/alarms/{topic_segment(alarm_id)}"

    def camera_topic(self, camera_id: object) -> str:
        return f"{self.prefix}/camera/{topic_segment(camera_id)}/alarm"

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- life cycle ----------------------------------------------------------------------------------

    async def start(self, wait_s: float = 0.0) -> None:
        """Start connecting in the background; with ``wait_s`` > 0, also wait that long for the first
        connection (returning either way: an absent broker is retried, never fatal)."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()  # paho's thread retries the first connection too
        if wait_s > 0:
            await self.wait_connected(wait_s)

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._connected_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.connected:
            info = self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
            try:
                await asyncio.to_thread(info.wait_for_publish, 2.0)
            except (RuntimeError, ValueError):
                pass  # not sent in time: the broker publishes the same "offline" as our last will
        if self._queue:
            log.warning("MQTT publisher stopping with %d unsent messages", len(self._queue))
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self.connected = False
        self._connected_event.clear()

    # -- paho thread -> asyncio ------------------------------------------------------------------------

    def _call_in_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop closed between the check and the call

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason_code)
            return
        self._call_in_loop(self._handle_connected)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._call_in_loop(self._handle_disconnected, str(reason_code))

    def _handle_connected(self) -> None:
        self.connected = True
        self.connects += 1
        self._connected_event.set()
        log.info("MQTT connected to %s:%s (%d queued)", self.host, self.port, len(self._queue))
        self._send(_Pending(self.status_topic, b"online", True))
        # The broker may have restarted without persistence: restate what the retained camera topics say.
        for cam, state in sorted(self._camera_state.items()):
            self._send(_Pending(self.camera_topic(cam), state.encode(), True))
        while self._queue and self.connected:
            self._send(self._queue.popleft())

    def _handle_disconnected(self, reason: str) -> None:
        if self.connected:
            log.warning("MQTT disconnected from %s:%s: %s; reconnecting", self.host, self.port, reason)
        self.connected = False
        self._connected_event.clear()

    # -- publishing ----------------------------------------------------------------------------------

    def _enqueue(self, msg: _Pending) -> None:
        if len(self._queue) >= self.queue_limit:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("MQTT offline queue full (%d): %d messages dropped so far", self.queue_limit, self.dropped)
        self._queue.append(msg)

    def _send(self, msg: _Pending) -> None:
        if not self.connected:
            self._enqueue(msg)
            return
        info = self._client.publish(msg.topic, msg.payload, qos=self.qos, retain=msg.retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self._enqueue(msg)
        else:
            # MQTT_ERR_NO_CONN here means the link dropped before we heard of it: paho keeps QoS>0
            # messages and resends them after reconnecting.
            self.published += 1

    async def publish_event(self, event: dict[str, Any]) -> None:
        self._send(_Pending(self.event_topic(event.get("type") or "event"), _json(event), False))

    async def publish_alarm(self, alarm: dict[str, Any]) -> None:
        """Publish an alarm's state. ``alarm`` needs ``id``, ``state`` and ``cameras`` (or ``camera_ids``);
        other keys are passed through. A ``closed`` state clears the retained message and releases its
        cameras."""
        alarm_id = int(alarm["id"])
        cams = {int(c) for c in alarm.get("cameras") or alarm.get("camera_ids") or []}
        topic = self.alarm_topic(alarm_id)
        before = self._open.get(alarm_id, set())
        if str(alarm.get("state", "")).lower() in CLOSED_STATES:
            self._send(_Pending(topic, _json(alarm), False))
            self._send(_Pending(topic, b"", True))  # an empty retained message deletes the retained one
            self._open.pop(alarm_id, None)
        else:
            self._send(_Pending(topic, _json(alarm), True))
            self._open[alarm_id] = cams
        for cam in sorted(before | cams):
            state = "ON" if any(cam in c for c in self._open.values()) else "OFF"
            if self._camera_state.get(cam) != state:
                self._camera_state[cam] = state
                self._send(_Pending(self.camera_topic(cam), state.encode(), True))

    async def publish_discovery(self, camera_id: int, name: str, discovery_prefix: str = "homeassistant") -> None:
        """Announce a camera's alarm as a Home Assistant MQTT ``binary_sensor`` (retained config)."""
        uid = f"ronda_{self.site}_{int(camera_id)}_alarm"
        config = {
            "name": f"{name} alarm",
            "unique_id": uid,
            "object_id": uid,
            "state_topic": self.camera_topic(camera_id),
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "safety",
            "availability_topic": self.status_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
        }
        topic = f"{topic_segment(discovery_prefix, 'homeassistant')}/binary_sensor/{uid}/config"
        self._send(_Pending(topic, _json(config), True))
