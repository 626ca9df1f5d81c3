"""Alarm notifications: who is told (roles/organisations of the rule, rights on the camera, personal
preferences and quiet hours, a rate limit with a flood summary) and through which channel (Web Push,
e-mail); MQTT mirrors every event and alarm; MQTT ingest takes sensor events in."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import threading
import time
from typing import Any

from sqlalchemy import delete, select

from ronda.access.image_links import image_links, image_path
from ronda.access.netguard import EVERYTHING, NOTHING
from ronda.access.rights import CAMERA_RIGHTS, MANAGE_CAMERAS, load_permissions
from ronda.config import Config
from ronda.events.alarm_image import AlarmImage, find_image
from ronda.events.bus import Bus
from ronda.events.ingest import IncomingEvent
from ronda.events.messages import Alarm as AlarmMsg
from ronda.events.messages import AlarmChanged, Event, Message, Severity
from ronda.events.notify import Notification, Priority, absolute_url, priority_rank
from ronda.events.notify.limits import QuietHours, RateLimiter
from ronda.events.plate_privacy import is_plate_event, plates_readable
from ronda.events.rules import Notify
from ronda.events.store import NewEvent
from ronda.store import access_models as am
from ronda.store.db import Database
from ronda.store.event_models import Alarm, NotificationPrefs, PushSubscription
from ronda.tasks import cancel_and_wait
from ronda.timeutil import now_ms, to_iso

log = logging.getLogger(__name__)
NOTIFY_ON = ("created", "reopened", "escalated", "joined")
# An event's severity as a notification's priority (the ``notify`` rule action).
SEVERITY_PRIORITY: dict[Severity, Priority] = {Severity.CRITICAL: "high", Severity.WARNING: "medium",
                                               Severity.INFO: "low"}  # fmt: skip
Recipient = tuple[str, list[str], str | None, QuietHours | None]  # username, channels, e-mail, quiet hours
MAX_PENDING = 10_000  # MQTT messages waiting for the event writer before more are dropped


def vapid_path(cfg: Config) -> Any:
    return cfg.data_dir / "keys" / "vapid.pem"


class Notifier:
    def __init__(self, cfg: Config, db: Database, bus: Bus, writer: Any = None) -> None:
        from ronda.events.notify.webpush import ensure_vapid_key

        self.cfg = cfg
        self.db = db
        self.bus = bus
        self.writer = writer
        path = vapid_path(cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.vapid = ensure_vapid_key(path)
        self.links = image_links(cfg.data_dir)  # signs the image link each recipient gets
        self.limiter = RateLimiter(limit=cfg.events.notify_limit, window_s=cfg.events.notify_window_seconds)
        # Push endpoints are chosen by any signed-in browser: only the explicit test/closed-network switch
        # opens internal addresses to them (the webhook allow list is for rule authors' receivers).
        self._push_allow = EVERYTHING if cfg.events.webpush_allow_private_endpoints else NOTHING
        self.mqtt: Any = None
        self.results: list[Any] = []  # the last deliveries (health, tests)
        self.sent = 0
        self.rejected_ingest = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._ingest: Any = None
        bus.subscribe("notify", self.handle)

    @property
    def public_key(self) -> str:
        return str(self.vapid.public_key_b64)

    async def start(self) -> None:
        m = self.cfg.events.mqtt
        if m is not None:
            from ronda.events.notify.mqtt import MqttPublisher

            self.mqtt = MqttPublisher(m.host, m.port, m.username, m.password, m.base_topic,
                                      site_slug=_slug(self.cfg.site.name))  # fmt: skip
            await self.mqtt.start()
            self.bus.subscribe("mqtt", self._mirror)
            if m.ingest:
                self._ingest = MqttIngest(self.cfg, self)
                await asyncio.to_thread(self._ingest.start)
        self._flusher = asyncio.create_task(self._flush_loop(), name="notify-flush")

    async def stop(self) -> None:
        await cancel_and_wait(self._flusher)
        if self._ingest is not None:
            await asyncio.to_thread(self._ingest.stop)
        if self.mqtt is not None:
            await self.mqtt.stop()

    async def _mirror(self, msg: Message) -> None:
        if self.mqtt is None:
            return
        # The MQTT payloads are the messages' JSON (the edge).
        if isinstance(msg, AlarmChanged):
            await self.mqtt.publish_alarm(msg.alarm.to_json())
        else:
            await self.mqtt.publish_event(msg.to_json())

    async def handle(self, msg: Message) -> None:
        if not isinstance(msg, AlarmChanged) or msg.change not in NOTIFY_ON:
            return
        plan = await asyncio.to_thread(self._recipients, msg.alarm)
        image = await asyncio.to_thread(find_image, self.db, self.cfg.data_dir, msg.alarm.id) if plan else None
        self._offer(plan, self._notification(msg.alarm, msg.change), image)

    def _notification(self, alarm: AlarmMsg, change: str) -> Notification:
        prefix = {"escalated": "Escalated: ", "reopened": "Reopened: ", "joined": "Update: "}.get(change, "")
        return Notification(
            alarm_id=alarm.id, event_id=None, title=prefix + alarm.title,
            body=alarm.instructions or alarm.category, priority=_priority(alarm.priority),
            category=alarm.category, camera_ids=list(alarm.cameras), time_ms=alarm.created_ms,
            url=f"/#/alarms/{alarm.id}", data={"state": alarm.state.value, "change": str(change)},
        )  # fmt: skip

    def _personal(self, username: str, n: Notification, image: AlarmImage) -> Notification:
        """``n`` with the alarm's picture for this recipient: the JPEG (e-mail) and a link signed for
        this user and alarm that expires in minutes (Web Push), if the recipient may see the camera the
        picture shows (an alarm's recipient may see only a related camera)."""
        with self.db.session() as s:
            u = s.scalar(select(am.User).where(am.User.username == username, am.User.enabled.is_(True)))
            if u is None or n.alarm_id is None:
                return n
            perms = load_permissions(s, u.id)
            if image.camera_id is None or not perms.rights_for(image.camera_id, now_ms()) & CAMERA_RIGHTS:
                return n
            if is_plate_event(image.event_type) and not plates_readable(perms, image.camera_id, now_ms()):
                return n  # a plate crop, for who may read that camera's plates only
            uid, version = u.id, u.token_version
        try:
            jpeg = image.read()
        except OSError as e:
            log.warning("alarm %s: its picture cannot be read: %s", n.alarm_id, e)
            return n
        token = self.links.sign(n.alarm_id, uid, version, self.cfg.events.image_link_ttl_seconds)
        url = absolute_url(self.cfg.events.public_url, image_path(n.alarm_id, token))
        return dataclasses.replace(n, snapshot_url=url, snapshot_jpeg=jpeg)

    def _recipients(self, alarm: AlarmMsg) -> list[Recipient]:
        """Everyone this alarm should reach: the rule's roles and organisations, among them those who
        may see one of its cameras."""
        with self.db.session() as s:
            row = s.get(Alarm, alarm.id)
            spec = (row.notify if row is not None else None) or {}
        return audience(self.db, set(spec.get("channels") or []), set(), set(spec.get("roles") or []),
                        set(spec.get("organisations") or []), list(alarm.cameras), alarm.priority,
                        every_camera=False)  # fmt: skip

    async def notify_event(self, ev: Event, title: str, action: Notify) -> int:
        """The rule action ``notify``: the event itself to the action's users, roles and organisations,
        among them those who may see every camera of the event. Returns how many people it is for."""
        cams = ev.all_cameras()
        n = self._event_notification(ev, title, cams)
        plan = await asyncio.to_thread(audience, self.db, set(action.channels), set(action.users), set(action.roles),
                                       set(action.organisations), cams, n.priority, every_camera=True)  # fmt: skip
        self._offer(plan, n, None)
        return len(plan)

    def _event_notification(self, ev: Event, title: str, cams: list[int]) -> Notification:
        t = ev.time_ms if ev.time_ms is not None else now_ms()
        url = f"/#/playback?cameras={ev.camera}&at={to_iso(t)}" if ev.camera is not None else "/#/live"
        return Notification(
            alarm_id=None, event_id=str(ev.id), title=title,
            body=ev.type if is_plate_event(ev.type) else ev.text or ev.type,  # no plate to every recipient
            priority=SEVERITY_PRIORITY[ev.severity], category=ev.type, camera_ids=cams, time_ms=t, url=url,
            data={"event": ev.id, "type": ev.type},
        )  # fmt: skip

    def _offer(self, plan: list[Recipient], n: Notification, image: AlarmImage | None) -> None:
        for user, channels, email, quiet in plan:
            if quiet is not None and not quiet.allows(n.priority, now_ms()):
                continue
            for out in self.limiter.offer(user, n):
                # (a flood summary the limiter hands out ahead of n has no picture)
                self._spawn(self._deliver(user, channels, email, out, image if out is n else None))

    async def _deliver(self, username: str, channels: list[str], email: str | None, n: Notification,
                       image: AlarmImage | None = None) -> None:  # fmt: skip
        if image is not None:
            n = await asyncio.to_thread(self._personal, username, n, image)
        if "webpush" in channels:
            from ronda.events.notify.webpush import send_webpush

            subs = await asyncio.to_thread(self._subscriptions, username)
            for sub_id, sub in subs:
                res = await send_webpush(sub, n, self.vapid, self.cfg.events.webpush_subject, allow=self._push_allow)
                self._record(res)
                if res.gone:
                    await asyncio.to_thread(self._drop_subscription, sub_id)
        if "email" in channels and email and self.cfg.events.smtp is not None:
            from ronda.events.notify.email import SmtpSettings, send_email

            c = self.cfg.events.smtp
            smtp = SmtpSettings(c.host, c.port, c.starttls, c.username, c.password, c.sender)
            self._record(await send_email(smtp, [email], n, base_url=self.cfg.events.public_url, attempts=2))

    def _record(self, res: Any) -> None:
        self.sent += 1 if res.ok else 0
        self.results = [*self.results[-99:], res]
        if not res.ok:
            log.warning("notification via %s failed: %s", res.channel, res.error)

    def _subscriptions(self, username: str) -> list[tuple[int, dict[str, Any]]]:
        with self.db.session() as s:
            q = select(PushSubscription).join(am.User, am.User.id == PushSubscription.user_id)
            rows = s.scalars(q.where(am.User.username == username)).all()
            return [(r.id, {"endpoint": r.endpoint, "keys": {"p256dh": r.p256dh, "auth": r.auth}}) for r in rows]

    def _drop_subscription(self, sub_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(PushSubscription).where(PushSubscription.id == sub_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_loop(self) -> None:
        """Send the flood summaries when rate-limit windows end."""
        while True:
            await asyncio.sleep(1.0)
            for user, summary in self.limiter.flush():
                plan = await asyncio.to_thread(self._user_channels, user)
                if plan is not None:
                    self._spawn(self._deliver(user, plan[0], plan[1], summary))

    def _user_channels(self, username: str) -> tuple[list[str], str | None] | None:
        with self.db.session() as s:
            u = s.scalar(select(am.User).where(am.User.username == username))
            if u is None:
                return None
            prefs = s.get(NotificationPrefs, u.id)
            return (prefs.channels if prefs else ["webpush", "email"]), (prefs.email if prefs else None)


class MqttIngest:
    """Sensor events from MQTT: ``<base>/<site>/ingest/<sensor>`` with a JSON body ``{"type", "text",
    "severity", "payload", "uid"}``; the sensor must be configured under ``events.sensors``. Junk is
    counted and dropped, never raised into the bus."""

    def __init__(self, cfg: Config, notifier: Notifier) -> None:
        import paho.mqtt.client as mqtt

        m = cfg.events.mqtt
        assert m is not None
        self.cfg = cfg
        self.notifier = notifier
        self.prefix = f"{m.base_topic}/{_slug(cfg.site.name)}/ingest/"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ronda-ingest-{int(time.time())}")
        if m.username:
            self.client.username_pw_set(m.username, m.password)
        self.client.on_connect = lambda c, *a: c.subscribe(self.prefix + "+", qos=1)
        self.client.on_message = self._on_message
        self.loop = asyncio.get_running_loop() if _has_loop() else None
        self.host, self.port = m.host, m.port
        self._pending = 0  # messages handed to the event writer and not stored yet
        self._count = threading.Lock()

    def start(self) -> None:
        self.client.connect_async(self.host, self.port)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            sensor_id = msg.topic[len(self.prefix) :]
            sensor = self.cfg.events.sensors.get(sensor_id)
            if sensor is None:
                raise ValueError(f"unknown sensor {sensor_id!r}")
            if len(msg.payload) > 16384:
                raise ValueError("message too large")
            body = json.loads(msg.payload.decode("utf-8")) if msg.payload else {}
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            # The same validator as POST /events (type, severity, text, payload limits, reserved keys):
            # a sender must not get through MQTT what HTTP refuses.
            ev_in = IncomingEvent.model_validate({"type": sensor.type, **body})
            ev = NewEvent(ev_in.type, now_ms(), sensor.cameras[0] if sensor.cameras else None, sensor.cameras or None,
                          ev_in.severity, "external", {**ev_in.payload, "sensor": sensor_id, "via": "mqtt"},
                          ev_in.text, f"mqtt:{sensor_id}:{ev_in.uid}"[:64] if ev_in.uid else None)  # fmt: skip
        except (ValueError, UnicodeDecodeError, TypeError, KeyError, RecursionError) as e:
            self.notifier.rejected_ingest += 1
            log.warning("MQTT ingest: rejected a message on %s: %s", msg.topic, str(e)[:300])
            return
        if self.loop is None or self.notifier.writer is None:
            return
        # Never more than MAX_PENDING messages waiting for the database: a flood while it is slow is
        # counted and dropped here instead of piling up as coroutines without bound.
        if self._pending >= MAX_PENDING:
            self.notifier.rejected_ingest += 1
            return
        with self._count:
            self._pending += 1
        fut = asyncio.run_coroutine_threadsafe(self.notifier.writer.submit([ev]), self.loop)
        fut.add_done_callback(self._done)

    def _done(self, fut: Any) -> None:
        with self._count:
            self._pending -= 1
        if not fut.cancelled() and fut.exception() is not None:
            log.warning("MQTT ingest: storing an event failed: %s", fut.exception())


def audience(db: Database, channels: set[str], users: set[str], roles: set[str], organisations: set[str],
             cameras: list[int], priority: str, *, every_camera: bool) -> list[Recipient]:  # fmt: skip
    """(username, channels, e-mail, quiet hours) of the enabled users named in ``users``, holding one of
    ``roles`` or belonging to one of ``organisations``, who may see the cameras (one of them, or
    ``every_camera``; without cameras: site-wide camera managers), whose preferences take one of
    ``channels`` and ``priority``. Rights are the users' own, with their organisation scope."""
    if not channels:
        return []
    out: list[Recipient] = []
    t = now_ms()
    seeing = CAMERA_RIGHTS | {MANAGE_CAMERAS}
    with db.session() as s:
        for u in s.scalars(select(am.User).where(am.User.enabled.is_(True))):
            q_roles = select(am.Role.name).join(am.UserRole, am.UserRole.role_id == am.Role.id)
            role_names = set(s.scalars(q_roles.where(am.UserRole.user_id == u.id)))
            org = s.get(am.Organisation, u.organisation_id) if u.organisation_id else None
            if not (u.username in users or role_names & roles or (org is not None and org.name in organisations)):
                continue
            perms = load_permissions(s, u.id)
            sees = [bool(perms.rights_for(c, t) & seeing) for c in cameras]
            if cameras and not (all(sees) if every_camera else any(sees)):
                continue
            if not cameras and not perms.has_global(MANAGE_CAMERAS, t):
                continue
            prefs = s.get(NotificationPrefs, u.id)
            wanted = channels & set(prefs.channels if prefs else ["webpush", "email"])
            quiet = None
            if prefs is not None and prefs.quiet_hours:
                try:
                    quiet = QuietHours.from_dict(prefs.quiet_hours)
                except ValueError:
                    quiet = None
            if prefs is not None and priority_rank(priority) < priority_rank(prefs.min_priority):
                continue
            if wanted:
                out.append((u.username, sorted(wanted), prefs.email if prefs else None, quiet))
    return out


def _priority(value: str) -> Priority:
    return value if value in ("high", "medium", "low") else "medium"  # type: ignore[return-value]


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "site"
