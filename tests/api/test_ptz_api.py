"""PTZ through a real ``ronda serve`` (docs/ptz.md): the acceptance scenario of issue 12 (an operator of
priority 10 steering, a supervisor of 50 taking over at once, the operator refused with the holder and
the end of the session until it times out, the audit showing the sequence), patrols pausing for a user
and resuming, the rules' ``ptz_preset`` action moving the dome on an event, reservations, presets, and
bounded input.

The dome is Ronda's in-process simulated dome (``ptz.simulated_domes``: cameras named ``Dome*``), which
keeps its position; the simulator's ONVIF dome takes its place in the integration tests. Sessions last
1.5 s and the joystick's dead-man 0.5 s here, so nothing waits long."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ronda.access.service import create_user
from ronda.store.access_models import Role
from ronda.store.db import Database
from tests.helpers import ADMIN, ADMIN_PASSWORD, PW, RondaProcess, camera_ids, free_port, wait_for, write_config

pytestmark = pytest.mark.slow  # a real ronda serve

SESSION_S = 1.5
GATE = {"pan": -0.5, "tilt": -0.2, "zoom": 0.3}  # the simulated dome's presets p1 and p2
SQUARE = {"pan": 0.5, "tilt": 0.1, "zoom": 0.6}


class User:
    def __init__(self, base: str, name: str, password: str) -> None:
        r = httpx.post(f"{base}/api/v1/auth/login", json={"username": name, "password": password}, timeout=30)
        assert r.status_code == 200, r.text
        self.name = name
        self.http = httpx.Client(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {r.json()['access_token']}"})  # fmt: skip

    def req(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, "/api/v1" + path, **kw)


class PtzSite:
    def __init__(self, ronda: RondaProcess, ids: dict[str, int], users: dict[str, User]) -> None:
        self.ronda, self.ids, self.users = ronda, ids, users
        self.dome, self.fixed = ids["Dome 1"], ids["Fixed 1"]


@pytest.fixture(scope="module")
def ptz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PtzSite]:
    base = tmp_path_factory.mktemp("ptz")
    data = base / "data"
    port = free_port()
    names = ("Dome 1", "Dome 2", "Fixed 1")
    cams = [{"name": n, "main": {"url": f"rtsp://127.0.0.1:1/{n.replace(' ', '')}"}} for n in names]
    cfg = write_config(data, port, cams, recording={"enabled": False},
                       ptz={"simulated_domes": ["Dome*"], "session_timeout_seconds": SESSION_S,
                            "deadman_seconds": 0.5})  # fmt: skip
    ronda = RondaProcess(cfg, base / "ronda.log", port)
    ronda.start()
    try:
        db = Database(f"sqlite:///{data / 'ronda.db'}")
        with db.session() as s:
            for name, rights, prio in (("PTZ operator", ["live", "ptz"], 10), ("PTZ supervisor", ["live", "ptz"], 50),
                                       ("Watcher", ["live"], 0)):  # fmt: skip
                s.add(Role(name=name, rights=rights, all_cameras=True, ptz_priority=prio))
        for user, role in (("op", "PTZ operator"), ("sup", "PTZ supervisor"), ("watcher", "Watcher")):
            create_user(db, user, PW, [role])
        db.dispose()
        users = {u: User(ronda.base, u, PW) for u in ("op", "sup", "watcher")}
        users["admin"] = User(ronda.base, ADMIN, ADMIN_PASSWORD)
        yield PtzSite(ronda, camera_ids(data), users)
    finally:
        ronda.close()


def move(u: User, cam: int, **body: Any) -> httpx.Response:
    return u.req("POST", f"/cameras/{cam}/ptz", json=body)


def position(u: User, cam: int) -> dict[str, float]:
    r = u.req("GET", f"/cameras/{cam}/ptz")
    assert r.status_code == 200, r.text
    return dict(r.json()["position"])


def near(p: dict[str, float], q: dict[str, float]) -> bool:
    return all(abs(p[k] - q[k]) < 1e-6 for k in ("pan", "tilt", "zoom"))


def test_priority_takeover_409_until_the_session_ends_and_the_audit(ptz_site: PtzSite) -> None:
    s, cam = ptz_site, ptz_site.dome
    op, sup, admin = s.users["op"], s.users["sup"], s.users["admin"]
    before = position(admin, cam)
    last = admin.req("GET", "/audit", params={"limit": 1}).json()
    first_seq = last[0]["seq"] + 1 if last else 1
    wait_for(lambda: not admin.req("GET", f"/cameras/{cam}/ptz").json()["holder"], SESSION_S + 3, interval=0.1,
             what="the dome free")  # fmt: skip
    r = move(op, cam, action="continuous", pan=0.8)
    assert r.status_code == 200 and r.json()["holder"] == "op" and r.json()["priority"] == 10, r.text
    for _ in range(3):  # joystick refreshes
        time.sleep(0.1)
        assert move(op, cam, action="continuous", pan=0.8).status_code == 200
    r = move(sup, cam, action="continuous", pan=-0.8)  # a higher priority takes over at once
    assert r.status_code == 200 and r.json()["holder"] == "sup", r.text
    assert position(admin, cam)["pan"] != before["pan"]
    refused = move(op, cam, action="continuous", pan=0.8)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["holder"] == "sup" and body["code"] == "ptz_busy" and "sup" in body["detail"]
    assert body["until"] == r.json()["until"]  # the end of the supervisor's session
    # The operator keeps getting 409 naming the supervisor until the session times out, then steers.
    answers: list[int] = []

    def moved() -> bool:
        a = move(op, cam, action="relative", pan=0.05)
        answers.append(a.status_code)
        assert a.status_code in (200, 409), a.text
        assert a.status_code == 200 or a.json()["holder"] == "sup"
        return a.status_code == 200

    wait_for(moved, SESSION_S + 5, interval=0.2, what="the supervisor's session to end")
    assert answers[-1] == 200
    state = op.req("GET", f"/cameras/{cam}/ptz").json()
    assert state["holder"] == "op" and state["position"] is not None
    audit = admin.req("GET", "/audit", params={"camera_id": cam, "limit": 1000}).json()
    audit = [e for e in audit if e["seq"] >= first_seq]
    seq = [(e["actor"], e["action"]) for e in reversed(audit) if e["action"].startswith("ptz.")]
    want = [("op", "ptz.session_start"), ("sup", "ptz.takeover"), ("op", "ptz.refused"),
            ("sup", "ptz.session_end"), ("op", "ptz.session_start")]  # fmt: skip
    it = iter(seq)
    assert all(w in it for w in want), seq  # in this order
    assert sum(a == "ptz.refused" for _, a in seq) == 1, seq  # once per refused user and holder's session
    takeover = next(e for e in audit if e["action"] == "ptz.takeover")
    assert takeover["details"]["from"] == "op" and takeover["details"]["from_commands"] == 4


def test_the_joystick_stops_without_refresh(ptz_site: PtzSite) -> None:
    admin, cam = ptz_site.users["admin"], ptz_site.ids["Dome 2"]
    assert move(admin, cam, action="absolute", pan=-0.5, tilt=0, zoom=0).status_code == 200
    assert move(admin, cam, action="continuous", pan=1.0).json()["moving"]
    time.sleep(1.0)  # the dead-man is 0.5 s
    p1 = position(admin, cam)
    time.sleep(0.4)
    # Full speed is 0.5 a second: about 0.25 in the 0.5 s before the dead-man stopped it, never the 0.7
    # of 1.4 s.
    assert position(admin, cam) == p1 and 0.1 < p1["pan"] + 0.5 < 0.6, p1
    assert admin.req("GET", f"/cameras/{cam}/ptz").json()["moving"] is False


def test_patrol_pauses_while_a_user_holds_the_dome_and_resumes(ptz_site: PtzSite) -> None:
    s, cam = ptz_site, ptz_site.dome
    admin, op = s.users["admin"], s.users["op"]
    body = {"name": f"tour {uuid.uuid4().hex[:6]}", "steps": [{"preset": "p1", "dwell_s": 1},
                                                             {"preset": "p2", "dwell_s": 1}]}  # fmt: skip
    r = admin.req("POST", f"/cameras/{cam}/ptz/patrols", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    # The previous test's operator session may still hold the dome: start as soon as it is free.
    wait_for(lambda: op.req("POST", f"/cameras/{cam}/ptz/patrols/{pid}/start").status_code == 200, 5,
             interval=0.2, what="the patrol started")  # fmt: skip
    seen: set[str] = set()

    def visits_both() -> bool:
        p = position(admin, cam)
        seen.update(n for n, q in (("gate", GATE), ("square", SQUARE)) if near(p, q))
        return seen == {"gate", "square"}

    wait_for(visits_both, 6, interval=0.1, what="the patrol to visit both presets")
    assert admin.req("GET", f"/cameras/{cam}/ptz").json()["patrol"]["state"] == "running"
    held = {"pan": 0.9, "tilt": 0.9, "zoom": 0.9}
    assert move(op, cam, action="absolute", **held).status_code == 200
    st = admin.req("GET", f"/cameras/{cam}/ptz").json()
    assert st["patrol"]["state"] == "paused" and st["holder"] == "op"
    time.sleep(1.2)  # longer than a dwell: the patrol does not move a held dome
    assert near(position(admin, cam), held)
    wait_for(lambda: admin.req("GET", f"/cameras/{cam}/ptz").json()["patrol"]["state"] == "running", SESSION_S + 3,
             interval=0.1, what="the patrol to resume")  # fmt: skip
    wait_for(lambda: not near(position(admin, cam), held), 3, interval=0.1, what="the patrol to move the dome")
    p = position(admin, cam)
    assert near(p, GATE) or near(p, SQUARE), p
    r = op.req("POST", f"/cameras/{cam}/ptz/patrol/stop")
    assert r.status_code == 200 and r.json()["patrol"] is None
    actions = [e["action"] for e in admin.req("GET", "/audit", params={"camera_id": cam, "limit": 200}).json()]
    assert "ptz.patrol_start" in actions and "ptz.patrol_stop" in actions and "ptz.patrol_create" in actions


def test_rule_action_ptz_preset_moves_the_dome_on_an_event(ptz_site: PtzSite) -> None:
    s, cam = ptz_site, ptz_site.ids["Dome 2"]
    admin = s.users["admin"]
    name = f"gate alarm {uuid.uuid4().hex[:6]}"
    rule = {"name": name, "trigger": {"types": ["test.ptz"], "cameras": [cam]},
            "actions": [{"type": "raise_alarm", "title": "intrusion at {camera_name}"},
                        {"type": "ptz_preset", "camera": cam, "preset": "Square", "priority": 75}]}  # fmt: skip
    r = admin.req("POST", "/rules", json=rule)
    assert r.status_code == 201, r.text
    assert r.json()["actions"][1]["priority"] == 75
    # A camera that cannot be steered is refused, naming why.
    bad = {**rule, "name": name + " fixed", "actions": [{"type": "ptz_preset", "camera": s.fixed, "preset": "x"}]}
    r = admin.req("POST", "/rules", json=bad)
    assert r.status_code == 422 and "PTZ" in r.text, r.text
    wait_for(lambda: not admin.req("GET", f"/cameras/{cam}/ptz").json()["holder"], SESSION_S + 3, interval=0.1,
             what="the dome free")  # fmt: skip
    assert not near(position(admin, cam), SQUARE)
    time.sleep(0.5)  # the rules engine reloads its rules after a change
    r = admin.req("POST", "/events", json={"type": "test.ptz", "camera": cam})
    assert r.status_code in (200, 201, 202), r.text
    wait_for(lambda: near(position(admin, cam), SQUARE), 10, interval=0.1, what="the dome at the preset")
    st = admin.req("GET", f"/cameras/{cam}/ptz").json()
    assert st["holder"] == f"rule:{name}" and st["priority"] == 75
    # The rule's session outranks a supervisor (50) for its time.
    r = move(s.users["sup"], cam, action="home")
    assert r.status_code == 409 and r.json()["holder"] == f"rule:{name}"
    alarms = admin.req("GET", "/alarms").json()
    assert any(a.get("camera") == cam or cam in (a.get("cameras") or []) for a in alarms), alarms


def test_reservation_blocks_lower_priorities(ptz_site: PtzSite) -> None:
    s, cam = ptz_site, ptz_site.dome
    admin, sup = s.users["admin"], s.users["sup"]
    wait_for(lambda: admin.req("POST", f"/cameras/{cam}/ptz/reservation", json={"minutes": 1}).status_code == 200,
             SESSION_S + 3, interval=0.2, what="the reservation")  # fmt: skip
    r = move(sup, cam, action="home")
    assert r.status_code == 409 and r.json()["holder"] == "admin" and r.json()["code"] == "ptz_reserved", r.text
    assert sup.req("POST", f"/cameras/{cam}/ptz/reservation", json={"minutes": 1}).status_code == 403  # no right
    assert move(admin, cam, action="home").status_code == 200
    st = admin.req("DELETE", f"/cameras/{cam}/ptz/reservation")
    assert st.status_code == 200 and st.json()["reservation"] is None
    actions = [e["action"] for e in admin.req("GET", "/audit", params={"camera_id": cam, "limit": 200}).json()]
    assert "ptz.reserve" in actions and "ptz.reservation_cancel" in actions


def test_presets_create_rename_delete(ptz_site: PtzSite) -> None:
    s, cam = ptz_site, ptz_site.ids["Dome 2"]
    admin = s.users["admin"]
    wait_for(lambda: move(admin, cam, action="absolute", pan=0.25, tilt=0.0, zoom=0.1).status_code == 200,
             SESSION_S + 3, interval=0.2, what="the dome")  # fmt: skip
    r = admin.req("POST", f"/cameras/{cam}/ptz/presets", json={"name": "Bridge"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    r = admin.req("PATCH", f"/cameras/{cam}/ptz/presets/{token}", json={"name": "Old bridge"})
    assert r.status_code == 200 and r.json() == {"token": token, "name": "Old bridge"}
    listed = admin.req("GET", f"/cameras/{cam}/ptz/presets").json()
    assert {"token": token, "name": "Old bridge"} in listed and {"token": "p1", "name": "Gate"} in listed
    assert move(admin, cam, action="home").status_code == 200
    assert move(admin, cam, action="preset", preset=token).status_code == 200
    assert near(position(admin, cam), {"pan": 0.25, "tilt": 0.0, "zoom": 0.1})
    assert admin.req("DELETE", f"/cameras/{cam}/ptz/presets/{token}").status_code == 204
    assert all(p["token"] != token for p in admin.req("GET", f"/cameras/{cam}/ptz/presets").json())
    assert move(admin, cam, action="preset", preset=token).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"action": "continuous", "pan": 1.5},
        {"action": "continuous", "zoom": -1.01},
        {"action": "absolute", "pan": 0, "tilt": 0, "zoom": 2},
        {"action": "relative", "pan": 3},
        {"action": "continuous", "pan": "NaN"},
        {"action": "preset"},
        {"action": "home", "preset": "p1"},
        {"action": "stop", "pan": 0.5},
        {"action": "fly"},
        {"action": "preset", "preset": "x" * 65},
        {"action": "continuous", "pan": 0.1, "speed": 1},
    ],
)
def test_bad_commands_are_refused_with_422(ptz_site: PtzSite, body: dict[str, Any]) -> None:
    r = move(ptz_site.users["admin"], ptz_site.dome, **body)
    assert r.status_code == 422, (body, r.text)


def test_other_bad_input_and_cameras_without_ptz(ptz_site: PtzSite) -> None:
    s = ptz_site
    admin, watcher = s.users["admin"], s.users["watcher"]
    r = move(admin, s.fixed, action="home")
    assert r.status_code == 404 and "no PTZ control" in r.text, r.text
    assert admin.req("GET", f"/cameras/{s.fixed}/ptz/presets").status_code == 404
    assert move(admin, 2**31 - 2, action="home").status_code == 404
    assert move(watcher, s.dome, action="home").status_code == 403  # live only: no ptz right
    pat = f"/cameras/{s.dome}/ptz/patrols"
    step = {"preset": "p1", "dwell_s": 5}
    for body in ({"name": "t", "steps": [step] * 65}, {"name": "t", "steps": []},
                 {"name": "t", "steps": [{"preset": "p1", "dwell_s": 0}]}, {"name": "x" * 65, "steps": [step]},
                 {"name": "t", "steps": [{"preset": "p1", "dwell_s": 3601}]}):  # fmt: skip
        assert admin.req("POST", pat, json=body).status_code == 422, body
    r = admin.req("POST", pat, json={"name": "t", "steps": [{"preset": "nowhere", "dwell_s": 5}]})
    assert r.status_code == 422 and "nowhere" in r.text
    r = admin.req("POST", pat, json={"name": "t", "steps": [step], "time_profile_id": 999999})
    assert r.status_code == 422 and "time profile" in r.text
    for minutes in (0, 1441, "x"):
        assert admin.req("POST", f"/cameras/{s.dome}/ptz/reservation", json={"minutes": minutes}).status_code == 422
    assert admin.req("PUT", f"/cameras/{s.dome}/ptz/settings", json={"idle_home_s": -1}).status_code == 422
    assert admin.req("PATCH", f"/cameras/{s.dome}/ptz/presets/p1", json={"name": ""}).status_code == 422
    assert admin.req("POST", f"/cameras/{s.dome}/ptz/patrols/999999/start").status_code == 404


def test_an_edited_camera_gets_its_driver_again(ptz_site: PtzSite) -> None:
    """A camera's PTZ driver is built from its row: after an edit (here a name that no longer matches
    ``ptz.simulated_domes``), the next command uses what the row says now."""
    s, cam = ptz_site, ptz_site.ids["Dome 2"]
    admin = s.users["admin"]
    assert admin.req("GET", f"/cameras/{cam}/ptz").status_code == 200
    assert admin.req("PATCH", f"/cameras/{cam}", json={"name": "Fixed 2"}).status_code == 200
    try:
        r = admin.req("GET", f"/cameras/{cam}/ptz")
        assert r.status_code == 404 and "no PTZ control" in r.text, r.text
    finally:
        assert admin.req("PATCH", f"/cameras/{cam}", json={"name": "Dome 2"}).status_code == 200
    assert admin.req("GET", f"/cameras/{cam}/ptz").status_code == 200
