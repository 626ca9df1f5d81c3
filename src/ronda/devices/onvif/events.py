"""A camera's own events over an ONVIF PullPoint subscription, as Ronda event types.

``PullPoint.events()`` subscribes (CreatePullPointSubscription), pulls in a loop (PullMessages),
renews before the subscription ends, and after any failure (the camera rebooted, the network went
away, the subscription was dropped) reconnects — reading the camera's clock again — and subscribes
anew, with back-off. It yields :class:`CameraEvent`:

- motion topics (``…/CellMotionDetector/Motion``, ``VideoSource/MotionAlarm``, …) → ``motion.start`` /
  ``motion.end``
- tampering (``TamperDetector``, ``ImageTooBlurry|Dark|Bright``, ``GlobalSceneChange``) →
  ``tamper.covered|defocused|blinded|moved`` (when it starts)
- digital inputs (``Device/Trigger/DigitalInput``, Hikvision ``AlarmIn``) → ``input.active`` /
  ``input.inactive``
- anything else → ``onvif.<topic>`` (lower case, the last three topic levels) with the raw data.

A data value true/false/1/0/active/inactive is the on/off state; otherwise ``onvif-parsers`` decides
it where it knows the topic (its Hikvision parser reads only "true", so Axis's "1" is read here first).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import onvif_parsers

from ronda.devices.onvif.client import OnvifDevice, device_error
from ronda.devices.onvif.transport import bounded
from ronda.errors import DeviceError

log = logging.getLogger("ronda.onvif")

PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
_ROOTS = {
    "ruleengine",
    "videosource",
    "device",
    "videoanalytics",
    "monitoring",
    "recordingconfig",
    "audioanalytics",
    "useralarm",
    "ptzcontroller",
    "media",
    "configuration",
    "recordinghistory",
    "audiosource",
    "videooutput",
    "accesscontrol",
    "door",
    "profile",
}
_TRUE = {"true", "1", "active", "on"}
_FALSE = {"false", "0", "inactive", "off"}
_TAMPER = {
    "imagetooblurry": "defocused",
    "imagetoodark": "covered",
    "imagetoobright": "blinded",
    "globalscenechange": "moved",
    "tamper": "covered",
}
_SEG = re.compile(r"[^a-z0-9_-]+")
MAX_ITEMS = 16  # per Source and Data: with the value cap the payload stays under events/ingest.MAX_BYTES


@dataclass(frozen=True, slots=True)
class CameraEvent:
    type: str  # a Ronda event type (events/ingest.TYPE_PATTERN)
    topic: str  # the ONVIF topic, ``tns1:`` for the ONVIF topic namespace
    time_ms: int
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    active: bool | None = None

    def payload(self) -> dict[str, Any]:
        return {"topic": self.topic, "source": self.source, "data": self.data, "active": self.active}


def normalise_topic(text: Any) -> str:
    """``tns1:`` for ONVIF's own topic roots whatever prefix the camera bound, other prefixes kept."""
    topic = " ".join(str(text or "").split())[:256]
    first, sep, rest = topic.partition("/")
    prefix, _, local = first.rpartition(":")
    if prefix and prefix != "tns1" and local.lower() in _ROOTS:
        return f"tns1:{local}{sep}{rest}"
    return topic


def _local_path(topic: str) -> list[str]:
    return [seg.rpartition(":")[2] for seg in topic.split("/") if seg]


def _items(node: Any, name: str) -> dict[str, str]:
    """SimpleItems of ``Source`` or ``Data``, from a zeep object or an lxml element."""
    out: dict[str, str] = {}
    part = getattr(node, name, None) if not hasattr(node, "tag") else None
    if hasattr(node, "tag"):  # the library left it as XML (an unknown message type)
        for el in node.iter():
            if isinstance(el.tag, str) and el.tag.rpartition("}")[2] == name:
                part = el
                break
        items = (
            [] if part is None else [e for e in part.iter() if isinstance(e.tag, str) and e.tag.endswith("SimpleItem")]
        )
        pairs = [(e.get("Name"), e.get("Value")) for e in items]
    else:
        simple = getattr(part, "SimpleItem", None) or []
        pairs = [(getattr(i, "Name", None), getattr(i, "Value", None)) for i in simple]
    for k, v in pairs[:MAX_ITEMS]:
        if k:
            out[str(k)[:64]] = str(v if v is not None else "")[:128]
    return out


def _utc_ms(message: Any) -> int:
    when = message.get("UtcTime") if hasattr(message, "tag") else getattr(message, "UtcTime", None)
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return int(when.timestamp() * 1000)
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def _state(data: dict[str, str]) -> bool | None:
    for v in data.values():
        if v.lower() in _TRUE:
            return True
        if v.lower() in _FALSE:
            return False
    return None


def event_type(topic: str, active: bool | None) -> str | None:
    """The Ronda event type of a topic's change, None when it is not worth an event (a tampering that
    ends)."""
    path = [s.lower() for s in _local_path(topic)]
    joined = "/".join(path)
    if "motion" in joined or "vmd" in joined:
        if active is not None:
            return "motion.start" if active else "motion.end"
    for key, kind in _TAMPER.items():
        if key in path or (key == "tamper" and "tamper" in joined):
            return f"tamper.{kind}" if active else None
    if "digitalinput" in path or "alarmin" in path or ("io" in path and "port" in joined):
        if active is not None:
            return "input.active" if active else "input.inactive"
    segs = [_SEG.sub("_", s)[:32].strip("_") or "x" for s in path][-3:]
    return "onvif." + ".".join(segs) if segs else None


async def parse_notification(msg: Any, uid: str = "camera") -> CameraEvent | None:
    """One NotificationMessage of a PullMessages answer; None when it carries nothing usable."""
    topic_el = getattr(msg, "Topic", None)
    topic = normalise_topic(getattr(topic_el, "_value_1", None) or topic_el)
    message = getattr(getattr(msg, "Message", None), "_value_1", None)
    if not topic or message is None:
        return None
    source, data = _items(message, "Source"), _items(message, "Data")
    active = _state(data)
    if active is None:
        # A value that is not a plain true/false/1/0: onvif-parsers knows some vendors' topics.
        try:
            values = [e.value for e in await onvif_parsers.parse(topic, uid, msg) if isinstance(e.value, bool)]
            active = values[0] if values else None
        except Exception:  # noqa: S110  (unknown topic, or a shape the parser does not expect)
            pass
    kind = event_type(topic, active)
    if kind is None:
        return None
    return CameraEvent(kind, topic, _utc_ms(message), source, data, active)


class PullPoint:
    """The PullPoint subscription of one camera. ``async for ev in PullPoint(dev).events(): ...``;
    stops when the task is cancelled (it unsubscribes when it can)."""

    def __init__(
        self,
        device: OnvifDevice,
        pull_timeout_s: int = 10,
        message_limit: int = 50,
        subscription_s: int = 120,
        retry_max_s: float = 60.0,
        uid: str = "camera",
    ) -> None:
        self.device = device
        self.pull_timeout_s = pull_timeout_s
        self.message_limit = message_limit
        self.subscription_s = subscription_s
        self.retry_max_s = retry_max_s
        self.uid = uid
        self.subscriptions = 0  # how many times it subscribed (tests and diagnostics)

    async def _subscribe(self) -> tuple[Any, Any, float]:
        r = await self.device.call(
            "events", "CreatePullPointSubscription", {"InitialTerminationTime": f"PT{self.subscription_s}S"}
        )
        ref = getattr(getattr(r, "SubscriptionReference", None), "Address", None)
        self.device.set_xaddr(PULLPOINT_NS, getattr(ref, "_value_1", None) or (ref if isinstance(ref, str) else None))
        pull = await self.device.service("pullpoint", "PullPointSubscription", read_timeout=self.pull_timeout_s)
        sub = await self.device.service("subscription", "PullPointSubscription")
        self.subscriptions += 1
        loop = asyncio.get_running_loop()
        return pull, sub, loop.time() + self.subscription_s * 0.6

    async def _pull(self, pull: Any) -> list[Any]:
        try:
            r = await bounded(
                pull.PullMessages(
                    {"Timeout": dt.timedelta(seconds=self.pull_timeout_s), "MessageLimit": self.message_limit}
                ),
                self.pull_timeout_s + self.device.timeout_s,
            )
        except Exception as e:
            raise device_error(e) from None
        return list(getattr(r, "NotificationMessage", None) or [])

    async def _renew(self, sub: Any) -> None:
        try:
            await bounded(sub.Renew({"TerminationTime": f"PT{self.subscription_s}S"}), self.device.timeout_s)
        except Exception as e:
            raise device_error(e) from None

    async def events(self) -> AsyncIterator[CameraEvent]:
        delay = 1.0
        loop = asyncio.get_running_loop()
        while True:
            sub = None
            try:
                pull, sub, renew_at = await self._subscribe()
                delay = 1.0
                while True:
                    for msg in await self._pull(pull):
                        ev = await parse_notification(msg, self.uid)
                        if ev is not None:
                            yield ev
                    if loop.time() >= renew_at:
                        await self._renew(sub)
                        renew_at = loop.time() + self.subscription_s * 0.6
            except DeviceError as e:
                log.warning("%s: event subscription lost (%s); subscribing again in %.0f s", self.device.url, e, delay)
            except (asyncio.CancelledError, GeneratorExit):
                if sub is not None:
                    await self._unsubscribe(sub)
                raise
            # The camera may have rebooted: a new connection reads its clock and addresses again.
            await self.device.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)

    async def _unsubscribe(self, sub: Any) -> None:
        try:
            async with asyncio.timeout(2):
                await sub.Unsubscribe()
        except Exception:  # noqa: S110  (best effort: the subscription expires on the camera anyway)
            pass
