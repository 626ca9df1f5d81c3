"""PTZ errors are domain errors: ``api.app`` maps them once, and a 409 carries who holds the dome and until
when beside ``detail`` (``DomainError.extra``), never in place of it."""

from __future__ import annotations

import json

from ronda.api.app import error_response
from ronda.errors import Conflict
from ronda.ptz.errors import DomeBusy, NoPtz, PatrolUnknown, PresetUnknown, PtzInvalid


def test_statuses_and_the_busy_body() -> None:
    r = error_response(DomeBusy("sup", 1_764_930_000_000))
    assert r.status_code == 409
    assert json.loads(r.body) == {"detail": "the dome is controlled by sup until 2025-12-05T10:20:00.000Z",
                                  "code": "ptz_busy", "holder": "sup", "until": "2025-12-05T10:20:00.000Z"}  # fmt: skip
    assert json.loads(error_response(DomeBusy("admin", 0, reserved=True)).body)["code"] == "ptz_reserved"
    for exc, status in ((NoPtz(3), 404), (PresetUnknown("x"), 404), (PatrolUnknown(), 404), (PtzInvalid("no"), 422)):
        assert error_response(exc).status_code == status, exc
    # extra fields never replace detail or code
    body = json.loads(error_response(Conflict("closed", code="c", extra={"detail": "x", "code": "y", "n": 1})).body)
    assert body == {"detail": "closed", "code": "c", "n": 1}
