"""Rights are declared, deny by default; every route has a response model (issue 11).

Walks the application's routes and its OpenAPI document (the real ``create_app``, no server needed):
every operation must carry ``x-ronda-right`` (a right, or an explicit ``public``) and a response schema,
unless it answers with media (then its media type is declared, and it is listed in ``MEDIA`` below)
or with nothing (204). WebSocket routes, which the document does not list, carry the declaration on
their endpoint. The rights matrix (tests/security/test_rights_matrix.py) then checks that what is
declared is what is enforced; ``test_declarations_agree_with_the_matrix`` ties the two together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Response
from fastapi.routing import APIRoute, APIWebSocketRoute

from ronda.api.app import create_app
from ronda.api.deps import KINDS, RIGHT_KEY
from ronda.config import load_config
from ronda.runtime import build
from tests.helpers import free_port, iso, write_config
from tests.security.test_rights_matrix import TABLE

# Operations answering with media: their content type is declared with ``responses=`` instead of a model.
MEDIA: dict[str, str] = {
    "GET /api/v1/cameras/{camera_id}/snapshot": "image/jpeg",
    "GET /api/v1/media/{camera_id}/snapshot.jpg": "image/jpeg",
    "GET /api/v1/media/{camera_id}/segments/{segment_id}.mp4": "video/mp4",
    "GET /api/v1/media/{camera_id}/vod.m3u8": "application/vnd.apple.mpegurl",
    "GET /api/v1/media/{camera_id}/live.m3u8": "application/vnd.apple.mpegurl",
    "GET /api/v1/media/{camera_id}/live/{stream}/index.m3u8": "application/vnd.apple.mpegurl",
    "GET /api/v1/media/{camera_id}/live/{stream}/init-{version}.mp4": "video/mp4",
    "GET /api/v1/media/{camera_id}/live/{stream}/{seq}.m4s": "video/iso.segment",
    "GET /api/v1/exports/{job_id}/download": "application/zip",
    "GET /api/v1/exports/{job_id}/file": "application/zip",
    "GET /api/v1/map/plan": "image/png",
    "GET /api/v1/analytics/objects/{object_id}/snapshot.jpg": "image/jpeg",
    "GET /api/v1/plates/{read_id}/crop.jpg": "image/jpeg",
    "GET /api/v1/plate-lists/{list_id}/export.csv": "text/csv",
    "GET /api/v1/cases/{case_id}/report.html": "text/html",
    "GET /api/v1/cases/{case_id}/report.pdf": "application/pdf",
    "GET /api/v1/cases/{case_id}/evidence/{evidence_id}/file": "application/zip",
    "GET /api/v1/events/{event_id}/snapshot.jpg": "image/jpeg",
    "GET /api/v1/alarms/{alarm_id}/image": "image/jpeg",
    "GET /metrics": "text/plain; version=0.0.4; charset=utf-8",
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/snapshot": "image/jpeg",
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/segments/{segment_id}.mp4": "video/mp4",
    "GET /api/v1/federation/peer/cameras/{camera_id}/snapshot": "image/jpeg",
    "GET /api/v1/federation/peer/cameras/{camera_id}/segments/{segment_id}.mp4": "video/mp4",
    "GET /api/v1/federation/sites/{site_id}/exports/{job_id}/download": "application/zip",
    "GET /api/v1/federation/peer/exports/{job_id}/download": "application/zip",
    "GET /api/v1/federation/peer/alarms/stream": "application/x-ndjson",
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/index.m3u8": (
        "application/vnd.apple.mpegurl"
    ),
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/init-{version}.mp4": "video/mp4",
    "GET /api/v1/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/{seq}.m4s": "video/iso.segment",
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/index.m3u8": "application/vnd.apple.mpegurl",
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/init-{version}.mp4": "video/mp4",
    "GET /api/v1/federation/peer/cameras/{camera_id}/live/{stream}/{seq}.m4s": "video/iso.segment",
}
# Operations of the API that do not belong to a feature: FastAPI's own document and its viewer.
FRAMEWORK = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/oauth2-redirect"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    base = tmp_path_factory.mktemp("routes")
    cfg = load_config(write_config(base / "data", free_port(), []))
    ctx = build(cfg, migrate=True, record=False)
    try:
        yield create_app(ctx, manage_recorder=False)
    finally:
        ctx.db.dispose()


def walk(routes: list[Any], prefix: str = "", shown: bool = True) -> Iterator[tuple[str, Any, bool]]:
    """``(full path, route, in the document)`` of every route, also inside included routers (FastAPI ≥
    0.160 keeps an included router as one ``_IncludedRouter`` entry instead of copying its routes)."""
    for r in routes:
        if hasattr(r, "original_router") and hasattr(r, "include_context"):
            ic = r.include_context
            yield from walk(r.original_router.routes, prefix + ic.prefix, shown and ic.include_in_schema)
        elif isinstance(r, APIRoute | APIWebSocketRoute):
            yield prefix + r.path, r, shown and getattr(r, "include_in_schema", True)


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    return [(p, r) for p, r, shown in walk(app.routes) if isinstance(r, APIRoute) and shown and p not in FRAMEWORK]


def ws_routes(app: FastAPI) -> list[tuple[str, APIWebSocketRoute]]:
    return [(p, r) for p, r, _ in walk(app.routes) if isinstance(r, APIWebSocketRoute)]


def operations(app: FastAPI) -> dict[str, dict[str, Any]]:
    spec = app.openapi()
    return {
        f"{method.upper()} {path}": op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def undeclared(app: FastAPI) -> list[str]:
    """What the walk refuses: operations without a declared right (or ``public``)."""
    out = [op for op, spec in operations(app).items() if not _valid(spec.get(RIGHT_KEY))]
    for path, ws in ws_routes(app):
        if not _valid(getattr(ws.endpoint, RIGHT_KEY, None)):
            out.append(f"WS {path}")
    # A route left out of the document escapes the walk: there must be none (but the catch-all 404).
    for path, r, shown in walk(app.routes):
        if isinstance(r, APIRoute) and not shown and path != "/api/{rest:path}":
            out.append(f"hidden {path}")
    return sorted(out)


def _valid(decl: Any) -> bool:
    return isinstance(decl, dict) and decl.get("kind") in KINDS


def without_model(app: FastAPI) -> list[str]:
    """Operations whose success answer the document does not describe."""
    out = []
    for op, spec in operations(app).items():
        ok = {k: v for k, v in spec["responses"].items() if k.startswith("2")}
        if not ok:
            out.append(f"{op}: no success answer")
            continue
        code, answer = next(iter(ok.items()))
        if code == "204":
            continue
        content = answer.get("content", {})
        if op in MEDIA:
            if MEDIA[op] not in content:
                out.append(f"{op}: media type {MEDIA[op]} not declared")
            continue
        schema = content.get("application/json", {}).get("schema") or {}
        if schema.get("type") == "array":
            schema = schema.get("items", {})
        if "$ref" not in schema:  # a model, not a bare object (``-> dict[str, Any]`` alone)
            out.append(f"{op}: no response model")
    return sorted(out)


def test_every_route_declares_its_right(app: FastAPI) -> None:
    assert undeclared(app) == []


def test_every_route_has_a_response_model(app: FastAPI) -> None:
    assert without_model(app) == []
    routes = api_routes(app)
    assert len(routes) == len(operations(app))
    for path, r in routes:
        for method in r.methods:
            op = f"{method} {path}"
            if op in MEDIA or r.status_code == 204:
                continue
            assert r.response_model is not None, op


def test_the_walk_catches_an_undeclared_route(app: FastAPI, tmp_path: Path) -> None:
    """The walk itself: a route added without a declaration, or without a model, is reported."""
    extra = FastAPI()
    for r in app.router.routes:
        extra.router.routes.append(r)

    @extra.get("/api/v1/forgotten")
    def forgotten() -> Response:  # no model: a Response is not described
        return Response()

    @extra.websocket("/api/v1/forgotten.ws")
    async def forgotten_ws() -> None:  # pragma: no cover - never connected
        return None

    assert undeclared(extra) == ["GET /api/v1/forgotten", "WS /api/v1/forgotten.ws"]
    assert "GET /api/v1/forgotten: no response model" in without_model(extra)


def test_declarations_agree_with_the_matrix(app: FastAPI) -> None:
    """The rights matrix classifies every operation by hand; the declaration must say the same thing
    where it can be compared: a ``public`` route is ``public`` there, a global right is a right of the
    same name in the matrix's rule, a camera right is the ``cam:`` right of the rule, a stream token is
    the camera right it is for."""
    declared = {op: spec[RIGHT_KEY] for op, spec in operations(app).items()}
    for path, ws in ws_routes(app):
        declared[f"WS {path}"] = getattr(ws.endpoint, RIGHT_KEY)
    assert set(declared) == set(TABLE)
    for op, decl in declared.items():
        rule = TABLE[op][0]
        kind, right = decl["kind"], decl.get("right")
        if kind == "public":
            assert rule == "public", op
        elif rule == "public":
            pytest.fail(f"{op} is public in the matrix but declares {decl}")
        elif kind in ("global", "site"):
            assert f"{'site' if kind == 'site' else 'org'}:{right}" in rule, (op, decl, rule)
        elif kind in ("camera", "stream"):
            # manage_cameras is held per camera (an organisation manages the cameras it owns): the matrix
            # writes it as the organisation-scoped global right.
            expected = [f"cam:{right}", f"org:{right}"] if right else ["cam:"]
            assert any(e in rule for e in expected), (op, decl, rule)
        elif kind == "authenticated":
            assert "auth" in rule or "own" in rule, (op, decl, rule)
        else:  # object: the right on the object's camera(s), checked by the feature
            assert right is None or right in rule or "manage_cameras" in rule, (op, decl, rule)


def test_a_right_on_a_body_camera_holds_whatever_form_the_id_takes(site, users) -> None:
    """``camera_right(R, body=...)`` reads the camera id(s) as the route's model will (pydantic turns
    ``"3"`` into 3): a viewer cannot slip a bookmark, a lock or an export past the check by sending the
    id as a string or in a list with an allowed one. Real HTTP against the shared site."""
    viewer = users["viewer_a"]  # live and playback on the odd cameras, no bookmark, lock or export right
    odd = site.cam("Camera 1")
    now = int(time.time() * 1000)
    span = {"start": iso(now - 60_000), "end": iso(now - 30_000)}
    for cam in (odd, str(odd), float(odd)):
        r = viewer.req("POST", "/api/v1/bookmarks", json={"camera": cam, "title": "t", **span})
        assert r.status_code == 403, (cam, r.status_code, r.text)
        r = viewer.req("POST", "/api/v1/evidence-locks", json={"camera": cam, "reason": "r", **span})
        assert r.status_code == 403, (cam, r.status_code, r.text)
        r = viewer.req("POST", "/api/v1/exports", json={"cameras": [cam], **span})
        assert r.status_code == 403, (cam, r.status_code, r.text)
    # The operator may export Camera 1 but cannot see "Stall" (in no group of its organisation): one
    # refused id refuses the whole request.
    operator, unseen = users["operator"], site.cam("Stall")
    r = operator.req("POST", "/api/v1/exports", json={"cameras": [odd, str(unseen)], **span})
    assert r.status_code == 404, r.text
    # A body the model refuses is still a 422, not a rights answer; so is an id no camera can have.
    assert viewer.req("POST", "/api/v1/bookmarks", json={"camera": "one", "title": "t", **span}).status_code == 422
    for bad in (0, -1, 2**31, 2**40):
        assert operator.req("POST", "/api/v1/bookmarks", json={"camera": bad, "title": "t", **span}).status_code == 422
        assert operator.req("POST", "/api/v1/exports", json={"cameras": [odd, bad], **span}).status_code == 422


def test_domain_errors_map_to_one_status_each() -> None:
    """Feature code raises ``ronda.errors``; ``api.app`` alone turns them into HTTP."""
    from ronda.access.service import AuthError, LoginThrottled
    from ronda.api.app import error_response
    from ronda.errors import (
        Conflict,
        DomainError,
        Forbidden,
        Invalid,
        NotFound,
        TooLarge,
        TooManyRequests,
        Unauthenticated,
        Unavailable,
    )
    from ronda.map import errors as map_errors

    cases: list[tuple[DomainError, int]] = [
        (NotFound("bookmark"), 404),
        (Forbidden("no"), 403),
        (Conflict("closed"), 409),
        (Invalid([{"loc": ["body"], "msg": "bad", "type": "x"}]), 422),
        (TooManyRequests("slow down", retry_after=7), 429),
        (Unavailable("later", retry_after=5), 503),
        (Unauthenticated("who?"), 401),
        (TooLarge("too big"), 413),
        # the login's and the map's errors are domain errors too
        (AuthError("invalid API key"), 401),
        (LoginThrottled("too many failed logins", retry_after=30), 429),
        (map_errors.PlanRefused("not a PNG"), 422),
        (map_errors.PlanTooLarge(5 << 20), 413),
        (map_errors.PlanMissing(), 404),
        (map_errors.PlanRequired(), 409),
        (map_errors.InvalidPosition("x without y"), 422),
        (map_errors.WrongPositionKind("lat/lon on an image"), 422),
        (map_errors.CameraUnknown(), 404),
        (map_errors.NotPlaced(), 404),
    ]
    for exc, status in cases:
        r = error_response(exc)
        assert r.status_code == status, exc
        assert (r.headers.get("retry-after") is not None) == (exc.retry_after is not None)
        assert ("www-authenticate" in r.headers) == (status == 401)
    assert bytes(error_response(NotFound("bookmark")).body) == b'{"detail":"bookmark not found"}'
    assert bytes(error_response(map_errors.PlanMissing()).body) == b'{"detail":"no site plan has been uploaded"}'
