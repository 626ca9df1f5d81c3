"""The bus carries typed messages; their JSON (API views, the WebSocket, MQTT, webhooks) is written in
one place, ``ronda.events.messages``, byte for byte as before the bus was typed. The expected texts
below were produced by the dict-based code this replaced (same rows, same ``json.dumps``)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace as NS

from ronda.events.alarms import alarm_state, alarm_view
from ronda.events.bus import InProcessBus
from ronda.events.fanout import Fanout
from ronda.events.messages import (
    AlarmChange,
    AlarmChanged,
    AlarmState,
    Event,
    Severity,
    Source,
    message_from_json,
    message_to_json,
)
from ronda.events.store import event_from_row, event_view
from ronda.events.visibility import REDACTED_TITLE, for_caller
from ronda.store.event_models import Alarm


def dumps(d: object) -> str:
    return json.dumps(d, separators=(",", ":"))


def row(**kw: object) -> NS:
    base: dict[str, object] = {"id": 1, "type": "t", "time_ms": 1, "camera_id": None, "cameras": None,
                               "severity": "info", "source": "system", "payload": {}, "text": None, "snapshot": None,
                               "uid": None, "box": None}  # fmt: skip
    return NS(**{**base, **kw})


EVENTS = [
    (row(id=7, type="door.forced", time_ms=1767000000123, camera_id=3, severity="critical", source="external",
         payload={"door": 3, "nested": {"a": [1, 2.5, None]}}, text="Door 3", uid="u-1", box=[0.1, 0.2, 0.3, 0.4]),
     '{"id":7,"type":"door.forced","camera":3,"cameras":[3],"time":"2025-12-29T09:20:00.123Z","severity":"critical",'
     '"source":"external","payload":{"door":3,"nested":{"a":[1,2.5,null]}},"text":"Door 3","uid":"u-1",'
     '"box":[0.1,0.2,0.3,0.4]}'),
    (row(id=8, type="camera.offline", time_ms=1767000000000, cameras=[1, 2], severity="warning", source="camera",
         payload={"redacted": "redacted by admin at x"}, snapshot="s.jpg"),
     '{"id":8,"type":"camera.offline","camera":null,"cameras":[1,2],"time":"2025-12-29T09:20:00.000Z",'
     '"severity":"warning","source":"camera","payload":{},"redacted":"redacted by admin at x","snapshot":"s.jpg"}'),
    (row(id=9, type="x", camera_id=1, cameras="bad"),
     '{"id":9,"type":"x","camera":null,"cameras":[],"time":null,"severity":"info","source":"system","payload":{},'
     '"redacted":"event not shown: the stored row is malformed"}'),
    (row(id=10, type="y", time_ms=5, camera_id=1, payload={"a": float("nan")}),
     '{"id":10,"type":"y","camera":1,"cameras":[1],"time":"1970-01-01T00:00:00.005Z","severity":"info",'
     '"source":"system","payload":{},"redacted":"payload not shown: payload numbers must be finite (no NaN or '
     'Infinity)"}'),
]  # fmt: skip

ALARM = ('{"id":42,"state":"in_progress","priority":"high","priority_num":100,"category":"technical",'
         '"title":"Gate offline","instructions":"Check","camera":3,"cameras":[3,4],"rule":2,"incident":"outage:3",'
         '"owner":"operator","owner_id":5,"pre_alarm_s":10,"event_count":4,"escalation_level":1,'
         '"first_event":"2025-12-29T09:20:00.000Z","last_event":"2025-12-29T09:20:05.000Z",'
         '"created":"2025-12-29T09:20:00.001Z","updated":"2025-12-29T09:20:06.000Z",'
         '"acknowledged":"2025-12-29T09:20:06.000Z","closed":null,"close_reason":null,'
         '"playback_from":"2025-12-29T09:19:50.000Z"}')  # fmt: skip


def alarm_row() -> Alarm:
    return Alarm(id=42, state="in_progress", priority="high", priority_num=100, category="technical",
                 title="Gate offline", instructions="Check", camera_id=3, cameras=[3, 4], rule_id=2,
                 incident_key="outage:3", owner_id=5, pre_alarm_s=10, escalate_after_s=600, escalation_level=1,
                 auto_close_on=[], event_count=4, first_event_ms=1767000000000, last_event_ms=1767000005000,
                 created_ms=1767000000001, updated_ms=1767000006000, acknowledged_ms=1767000006000,
                 closed_ms=None, close_reason=None)  # fmt: skip


def test_event_json_is_unchanged_and_round_trips() -> None:
    for r, text in EVENTS:
        ev = event_from_row(r)
        assert isinstance(ev.severity, Severity) and isinstance(ev.source, Source)
        assert dumps(event_view(r)) == text
        assert dumps(message_to_json(ev)) == '{"kind":"event","event":' + text + "}"
        if ev.time_ms is not None:
            assert Event.from_json(json.loads(text)) == ev
            assert message_from_json(message_to_json(ev)) == ev


def test_alarm_json_is_unchanged_and_round_trips() -> None:
    a = alarm_state(alarm_row(), "operator")
    assert a.state is AlarmState.IN_PROGRESS and a.cameras == (3, 4) and a.first_event_ms == 1767000000000
    assert dumps(alarm_view(alarm_row(), "operator")) == ALARM
    msg = AlarmChanged(a, AlarmChange.TAKE, 9)
    assert msg.key == "alarm:42:9"
    assert dumps(message_to_json(msg)) == '{"kind":"alarm","change":"take","alarm":' + ALARM + "}"
    back = message_from_json(json.loads(dumps(message_to_json(msg))))
    assert isinstance(back, AlarmChanged) and back.alarm == a and back.change is AlarmChange.TAKE


def test_redacted_alarm_is_what_get_alarms_shows() -> None:
    a = alarm_state(alarm_row(), "operator")
    caller = NS(visible=lambda cams: [], site_scope=False, via="token", has=lambda r: False)
    assert dumps(a.redacted_copy(REDACTED_TITLE).to_json()) == dumps(for_caller(caller, a.to_json()))  # type: ignore[arg-type]


async def test_fanout_sends_the_wire_text_once_per_message() -> None:
    bus = InProcessBus()
    fan = Fanout(bus)
    everything = fan.add(lambda m: True)
    redacted = fan.add(lambda m: AlarmChanged(m.alarm.redacted_copy("x"), m.change, m.entry_id)
                       if isinstance(m, AlarmChanged) else False)  # fmt: skip
    await bus.start()
    ev = event_from_row(EVENTS[0][0])
    alarm = AlarmChanged(alarm_state(alarm_row(), "operator"), AlarmChange.CREATED, 1)
    await bus.publish(ev)
    await bus.publish(ev)  # a repeat (at-least-once delivery) is dropped by its key
    await bus.publish(alarm)
    assert await bus.drain(5)
    await asyncio.sleep(0)
    await bus.stop()
    sent = [everything.queue.get_nowait() for _ in range(everything.queue.qsize())]
    assert sent == [
        '{"kind":"event","event":' + EVENTS[0][1] + "}",
        '{"kind":"alarm","change":"created","alarm":' + ALARM + "}",
    ]
    only = json.loads(redacted.queue.get_nowait())
    assert redacted.queue.empty() and only["alarm"]["redacted"] is True and only["alarm"]["title"] == "x"
