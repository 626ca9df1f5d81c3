"""Rules and allowlisted plate reads (docs/analytics.md, "Hotlists and allowlists"): a ``plate.read`` an
allowlist matched carries ``payload.allowlist``; a rule's trigger skips it unless the rule names plates
or says ``skip_allowlisted: false``. The end-to-end path (a read stored through the analytics service's
result path, the server's rules, the alarms) is in tests/api/test_plates_api.py."""

from __future__ import annotations

from typing import Any

from ronda.events.messages import Event, Source
from ronda.events.rules import Trigger, matches


def read(plate: str, **payload: Any) -> Event:
    return Event(1, "plate.read", 0, camera=3, source=Source.ANALYTICS, payload={"plate": plate, **payload})


def test_a_generic_plate_rule_skips_allowlisted_reads() -> None:
    generic = Trigger(types=["plate.read"])
    assert generic.skip_allowlisted is True  # the default
    assert matches(generic, read("AB123CD"))
    assert not matches(generic, read("AB123CD", allowlist="Residents"))
    assert matches(Trigger(types=["plate.*"]), read("AB123CD", hotlist="Stolen"))
    assert not matches(Trigger(types=["plate.*"]), read("AB123CD", allowlist="Residents"))


def test_a_rule_may_ask_for_allowlisted_reads() -> None:
    assert matches(Trigger(types=["plate.read"], skip_allowlisted=False), read("AB123CD", allowlist="Residents"))
    # a rule naming the plate asked for it, allowlist or not
    assert matches(Trigger(types=["plate.read"], plates=["AB123CD"]), read("AB123CD", allowlist="Residents"))
    assert matches(Trigger(types=["plate.read"], plates=["AB*"]), read("AB123CD", allowlist="Residents"))


def test_other_events_are_untouched() -> None:
    other = Event(2, "object.detected", 0, camera=3, payload={"allowlist": "x", "class": "car"})
    assert matches(Trigger(types=["object.*"]), other)
    hot = Event(3, "plate.hotlist", 0, camera=3, payload={"plate": "AB123CD", "list": "Stolen"})
    assert matches(Trigger(types=["plate.hotlist"]), hot)
