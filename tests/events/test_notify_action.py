"""The rule action ``notify``: an event that fires a rule reaches the listed users and the users of the
listed roles, through their own channels (real aiosmtpd, a real push service peer that the payload is
decrypted for), and nobody who may not see the camera. In-process: real database, real bus, real
rules engine, real notifier."""

from __future__ import annotations

import asyncio
import email.policy
import json
from collections.abc import AsyncIterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import http_ece
import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives.asymmetric import ec

from ronda.access.rights import ensure_builtin_roles
from ronda.access.service import create_user
from ronda.config import Config
from ronda.events.engine import validate_against_site
from ronda.events.rules import RuleError, RuleSpec
from ronda.events.service import EventsService
from ronda.events.store import NewEvent
from ronda.store import access_models as am
from ronda.store.db import Database
from ronda.store.event_models import NotificationPrefs, PushSubscription, Rule
from ronda.store.models import Camera
from ronda.timeutil import now_ms
from tests.events.test_notify import HttpPeer, Inbox, browser_subscription
from tests.helpers import PW, free_port


class World:
    def __init__(self, tmp: Path) -> None:
        self.inbox = Inbox()
        smtp_port = free_port()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=smtp_port)
        self.push = HttpPeer([201])
        self.push_server, self.push_port = self.push.serve()
        self.cfg = Config.model_validate({
            "data_dir": str(tmp), "site": {"name": "San Lucido"},
            "events": {"default_rules": False, "webpush_allow_private_endpoints": True, "notify_limit": 100,
                       "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "ronda@sanlucido.example"}},
        })  # fmt: skip
        (tmp / "keys").mkdir(parents=True, exist_ok=True)
        self.db = Database(self.cfg.database_url)
        self.db.upgrade()
        self.keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}

    def seed(self) -> dict[str, int]:
        with self.db.session() as s:
            ensure_builtin_roles(s)
            cams = [Camera(name=n, created_ms=now_ms()) for n in ("Gate", "Yard")]
            s.add_all(cams)
            s.flush()
            ids = {c.name: c.id for c in cams}
            for name, cam in (("gate", ids["Gate"]), ("yard", ids["Yard"])):
                g = am.CameraGroup(name=name)
                s.add(g)
                s.flush()
                s.add(am.CameraGroupMember(group_id=g.id, camera_id=cam))
                r = am.Role(name=f"watch {name}", rights=["live", "playback"])
                s.add(r)
                s.flush()
                s.add(am.RoleScope(role_id=r.id, camera_group_id=g.id))
        # alice, bob: "watch gate"; carol: "watch yard" (the rule's role, not the camera); dave: listed by
        # name, sees every camera; erin: listed by name, sees nothing; frank: sees the gate, not listed.
        for user, roles in (("alice", ["watch gate"]), ("bob", ["watch gate"]), ("carol", ["watch yard"]),
                            ("dave", ["administrator"]), ("erin", []), ("frank", ["administrator"])):  # fmt: skip
            uid = create_user(self.db, user, PW, roles)
            with self.db.session() as s:
                channels = ["email"] if user == "bob" else ["webpush", "email"]
                s.add(NotificationPrefs(user_id=uid, channels=channels, email=f"{user}@sanlucido.example",
                                        min_priority="high" if user == "bob" else "low"))  # fmt: skip
                sub, key, auth = browser_subscription(f"http://127.0.0.1:{self.push_port}/push/{user}")
                self.keys[user] = (key, auth)
                s.add(PushSubscription(user_id=uid, endpoint=sub["endpoint"], p256dh=sub["keys"]["p256dh"],
                                       auth=sub["keys"]["auth"], created_ms=now_ms()))  # fmt: skip
        return ids

    def mailed(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for _, rcpts, raw in self.inbox.messages:
            for r in rcpts:
                out.setdefault(r.split("@")[0], []).append(message_from_bytes(raw, policy=email.policy.default))
        return out

    def pushed(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for req in self.push.requests:
            user = req.path.rsplit("/", 1)[-1]
            key, auth = self.keys[user]
            plain = http_ece.decrypt(req.body, private_key=key, auth_secret=auth, version="aes128gcm")
            out.setdefault(user, []).append(json.loads(plain))
        return out


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    w.smtp.start()
    try:
        yield w
    finally:
        w.smtp.stop()
        w.push_server.shutdown()
        w.push_server.server_close()
        w.db.dispose()


def add_rule(db: Database, spec: dict[str, Any]) -> None:
    parsed = RuleSpec.model_validate(spec)
    validate_against_site(db, parsed, None)
    with db.session() as s:
        s.add(Rule(name=parsed.name, enabled=True, trigger=parsed.trigger.model_dump(exclude_none=True),
                   conditions=parsed.conditions.model_dump(exclude_none=True),
                   actions=[a.model_dump(exclude_none=True) for a in parsed.actions], created_by="test",
                   created_ms=now_ms()))  # fmt: skip


async def wait(pred: Any, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while not pred():
        if loop.time() > end:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_notify_action_reaches_listed_users_and_roles_who_see_the_camera(world: World) -> None:
    ids = world.seed()
    gate = ids["Gate"]
    add_rule(world.db, {
        "name": "Door forced", "trigger": {"types": ["door.forced"], "cameras": [gate]},
        "actions": [{"type": "notify", "channels": ["webpush", "email"], "roles": ["watch gate", "watch yard"],
                     "users": ["dave", "erin"], "title": "{type} at {camera_name}"}],
    })  # fmt: skip
    svc = EventsService(world.cfg, world.db, None)
    await svc.start()
    try:
        await svc.writer.submit([NewEvent("door.forced", now_ms(), gate, [gate], "critical", "external",
                                          {"door": 3}, "Door 3 forced")])  # fmt: skip
        want_mail, want_push = {"alice", "bob", "dave"}, {"alice", "dave"}
        try:
            await wait(lambda: set(world.mailed()) >= want_mail and set(world.pushed()) >= want_push)
        except AssertionError:
            raise AssertionError(
                f"notify action: mailed {sorted(world.mailed())}, pushed {sorted(world.pushed())}, "
                f"wanted {sorted(want_mail)} / {sorted(want_push)}"
            ) from None
        await asyncio.sleep(0.5)  # nothing more comes
        mailed, pushed = world.mailed(), world.pushed()
        # carol has a listed role but cannot see the gate; erin is listed but sees nothing; frank sees
        # the gate but is neither listed nor in a listed role; bob wants e-mail only.
        assert set(mailed) == want_mail and set(pushed) == want_push
        assert all(len(v) == 1 for v in [*mailed.values(), *pushed.values()])
        msg = mailed["alice"][0]
        assert msg["Subject"] == "[Ronda] HIGH: door.forced at Gate"
        assert "Door 3 forced" in msg.get_body(preferencelist=("plain",)).get_content()
        push = pushed["dave"][0]
        assert push["title"] == "door.forced at Gate" and push["priority"] == "high" and push["alarm_id"] is None
        assert push["url"].startswith("/#/playback?cameras=") and str(gate) in push["url"]

        # bob's preferences ask for high priority only: an info event (low) does not reach him
        await svc.writer.submit([NewEvent("door.forced", now_ms(), gate, [gate], "info", "external", {})])
        await wait(lambda: len(world.mailed().get("alice", [])) == 2)
        await asyncio.sleep(0.5)
        assert len(world.mailed()["bob"]) == 1
    finally:
        await svc.stop()


async def test_notify_action_without_recipients_or_with_unknown_users_is_refused(world: World) -> None:
    ids = world.seed()
    base = {"name": "n", "trigger": {"types": ["door.forced"], "cameras": [ids["Gate"]]}}
    with pytest.raises(RuleError, match="who to notify"):
        add_rule(world.db, {**base, "actions": [{"type": "notify", "channels": ["email"]}]})
    with pytest.raises(RuleError, match="unknown user"):
        add_rule(world.db, {**base, "actions": [{"type": "notify", "channels": ["email"], "users": ["nobody"]}]})
