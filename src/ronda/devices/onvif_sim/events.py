"""The Events service (``/onvif/K/events_service``): PullPoint subscriptions of a simulated camera.

Topics: motion (``tns1:RuleEngine/CellMotionDetector/Motion`` with ``IsMotion`` and
``tns1:VideoSource/MotionAlarm`` with ``State``, both sent), tampering
(``tns1:RuleEngine/TamperDetector/Tamper``, ``IsTamper``) and a digital input
(``tns1:Device/Trigger/DigitalInput``, ``LogicalState``). Every subscription starts with the current
state of each property (``PropertyOperation="Initialized"``), then gets ``Changed`` messages.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ronda.devices.onvif_sim.model import DIGITAL_INPUT, VIDEO_SOURCE, VIDEO_SOURCE_CONFIG, Endpoint, SimCamera
from ronda.devices.onvif_sim.soap import NS, Request, SoapFault, parse_duration, xsd_time

MAX_SUBSCRIPTIONS = 16  # per camera
MAX_QUEUED = 200
MAX_PULL_WAIT = 60.0
DEFAULT_TERMINATION = 60.0

# name -> (topic, source item name, source item value, data item name)
TOPICS: dict[str, list[tuple[str, str, str, str]]] = {
    "motion": [
        ("tns1:RuleEngine/CellMotionDetector/Motion", "VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG, "IsMotion"),
        ("tns1:VideoSource/MotionAlarm", "Source", VIDEO_SOURCE, "State"),
    ],
    "tamper": [
        ("tns1:RuleEngine/TamperDetector/Tamper", "VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG, "IsTamper")
    ],
    "input": [("tns1:Device/Trigger/DigitalInput", "InputToken", DIGITAL_INPUT, "LogicalState")],
}


def _message(topic: str, source: tuple[str, str], data: tuple[str, bool], when: float, operation: str) -> str:
    value = "true" if data[1] else "false"
    return (
        f'<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        f'{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="{xsd_time(when)}" PropertyOperation="{operation}">'
        f'<tt:Source><tt:SimpleItem Name="{source[0]}" Value="{source[1]}"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="{data[0]}" Value="{value}"/></tt:Data></tt:Message></wsnt:Message>'
        "</wsnt:NotificationMessage>"
    )


@dataclass(eq=False)
class Subscription:
    id: str
    camera: SimCamera
    expires: float  # camera clock
    queue: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED))
    cond: threading.Condition = field(default_factory=threading.Condition)


class EventHub:
    """Subscriptions of every simulated camera and the properties they report."""

    def __init__(self) -> None:
        self._subs: dict[str, Subscription] = {}
        self._state: dict[tuple[int, str], bool] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # the poller thread and control-port commands both poll
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ properties

    def state(self, cam: SimCamera, name: str) -> bool:
        if name == "motion":
            return cam.motion()
        return self._state.get((cam.number, name), False)

    def set(self, cam: SimCamera, name: str, value: bool) -> None:
        """Raise or clear ``tamper`` or ``input`` (the control port), or force ``motion``."""
        if name == "motion":
            cam.motion_forced = value
        else:
            self._state[(cam.number, name)] = value
        self.poll(cam, force=name)

    def poll(self, cam: SimCamera, force: str | None = None) -> None:
        """Send a Changed message for each property whose state differs from the last one sent."""
        with self._poll_lock:
            for name in TOPICS:
                value = self.state(cam, name)
                key = (cam.number, "sent:" + name)
                if self._state.get(key) != value or name == force:
                    self._state[key] = value
                    self._publish(cam, name, value, "Changed")

    def _publish(self, cam: SimCamera, name: str, value: bool, operation: str) -> None:
        now = cam.now()
        messages = [_message(t, (sn, sv), (dn, value), now, operation) for t, sn, sv, dn in TOPICS[name]]
        with self._lock:
            subs = [s for s in self._subs.values() if s.camera is cam]
        for sub in subs:
            with sub.cond:
                sub.queue.extend(messages)
                sub.cond.notify_all()

    # ------------------------------------------------------------------ service

    def _expire(self) -> None:
        with self._lock:
            for key, sub in list(self._subs.items()):
                if sub.camera.now() > sub.expires:
                    del self._subs[key]

    def _termination(self, cam: SimCamera, text: str | None) -> float:
        if text and text.strip()[:1].isdigit():
            try:
                return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise SoapFault("ter:InvalidArgVal", f"not a time: {text!r}") from None
        return cam.now() + min(parse_duration(text, DEFAULT_TERMINATION), 3600.0)

    def create(self, cam: SimCamera, ep: Endpoint, req: Request) -> str:
        self._expire()
        with self._lock:
            if sum(1 for s in self._subs.values() if s.camera is cam) >= MAX_SUBSCRIPTIONS:
                raise SoapFault("ter:TooManySubscriptions", "too many subscriptions", code="env:Receiver")
            sub = Subscription(str(next(self._ids)), cam, self._termination(cam, req.text("InitialTerminationTime")))
            self._subs[sub.id] = sub
        now = cam.now()
        for name in TOPICS:
            for t, sn, sv, dn in TOPICS[name]:
                sub.queue.append(_message(t, (sn, sv), (dn, self.state(cam, name)), now, "Initialized"))
        address = ep.xaddr(cam, f"events/subscription/{sub.id}")
        return (
            f"<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>{address}"
            f"</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>{xsd_time(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{xsd_time(sub.expires)}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _sub(self, cam: SimCamera, sub_id: str) -> Subscription:
        self._expire()
        with self._lock:
            sub = self._subs.get(sub_id)
        if sub is None or sub.camera is not cam:
            raise SoapFault("ter:InvalidArgVal", "unknown or expired subscription (ResourceUnknown)")
        return sub

    def subscription_call(self, cam: SimCamera, sub_id: str, req: Request) -> str:
        sub = self._sub(cam, sub_id)
        if req.action == "PullMessages":
            try:
                limit = max(1, min(int(req.text("MessageLimit") or "10"), 1000))
            except ValueError:
                raise SoapFault("ter:InvalidArgVal", "MessageLimit is not a number") from None
            wait = min(parse_duration(req.text("Timeout"), 10.0), MAX_PULL_WAIT)
            deadline = time.monotonic() + wait
            with sub.cond:
                while not sub.queue and (left := deadline - time.monotonic()) > 0 and sub.id in self._subs:
                    sub.cond.wait(min(left, 1.0))
                out = [sub.queue.popleft() for _ in range(min(limit, len(sub.queue)))]
            now = cam.now()
            return (
                f"<tev:PullMessagesResponse><tev:CurrentTime>{xsd_time(now)}</tev:CurrentTime>"
                f"<tev:TerminationTime>{xsd_time(sub.expires)}</tev:TerminationTime>{''.join(out)}"
                "</tev:PullMessagesResponse>"
            )
        if req.action == "Renew":
            sub.expires = self._termination(cam, req.text("TerminationTime"))
            return (
                f"<wsnt:RenewResponse><wsnt:TerminationTime>{xsd_time(sub.expires)}</wsnt:TerminationTime>"
                f"<wsnt:CurrentTime>{xsd_time(cam.now())}</wsnt:CurrentTime></wsnt:RenewResponse>"
            )
        if req.action == "Unsubscribe":
            with self._lock:
                self._subs.pop(sub.id, None)
            with sub.cond:
                sub.cond.notify_all()
            return "<wsnt:UnsubscribeResponse/>"
        if req.action == "SetSynchronizationPoint":
            return "<tev:SetSynchronizationPointResponse/>"
        raise SoapFault("ter:ActionNotSupported", f"{req.action} is not supported", code="env:Receiver")

    def service_call(self, cam: SimCamera, ep: Endpoint, req: Request) -> str:
        if req.action == "CreatePullPointSubscription":
            return self.create(cam, ep, req)
        if req.action == "GetEventProperties":
            return event_properties()
        if req.action == "GetServiceCapabilities":
            return (
                '<tev:GetServiceCapabilitiesResponse><tev:Capabilities WSSubscriptionPolicySupport="false" '
                'WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" '
                f'MaxNotificationProducers="0" MaxPullPoints="{MAX_SUBSCRIPTIONS}"/>'
                "</tev:GetServiceCapabilitiesResponse>"
            )
        raise SoapFault("ter:ActionNotSupported", f"{req.action} is not supported", code="env:Receiver")


def event_properties() -> str:
    tree: dict[str, dict] = {}
    leaves: dict[str, tuple[str, str]] = {}
    for items in TOPICS.values():
        for topic, source, _, data in items:
            parts = topic.split(":", 1)[1].split("/")
            node = tree
            for p in parts:
                node = node.setdefault(p, {})
            leaves["/".join(parts)] = (source, data)

    def render(node: dict, path: list[str]) -> str:
        out = ""
        for name, child in node.items():
            here = [*path, name]
            leaf = leaves.get("/".join(here))
            if leaf is None:
                tag = f"tns1:{name}" if not path else name
                out += f"<{tag}>{render(child, here)}</{tag}>"
                continue
            desc = (
                f'<tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription Name="{leaf[0]}" '
                f'Type="tt:ReferenceToken"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="{leaf[1]}" '
                'Type="xs:boolean"/></tt:Data></tt:MessageDescription>'
            )
            out += f'<{name} wstop:topic="true">{desc}</{name}>'
        return out

    return (
        "<tev:GetEventPropertiesResponse>"
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>"
        f'<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f"{render(tree, [])}</wstop:TopicSet>"
        "<wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect>"
        "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
        "</tev:MessageContentFilterDialect></tev:GetEventPropertiesResponse>"
    )


__all__ = ["NS", "TOPICS", "EventHub", "event_properties"]
