"""Bookmarks: a titled time range on one camera, with a note and its author; every change is audited.

Rights: reading needs ``playback`` on the camera; creating needs ``bookmark``; changing or deleting
needs to be the author (still holding ``bookmark``) or to hold ``manage_cameras`` on the camera
(administrators). A bookmark on a camera the caller may not see does not exist for it (404).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.access.rights import BOOKMARK, MANAGE_CAMERAS, PLAYBACK
from ronda.access.service import Principal
from ronda.api.deps import Caller, Ctx, iso_param, not_found, require_camera
from ronda.store import repos
from ronda.store.models import Bookmark
from ronda.timeutil import now_ms, to_iso

router = APIRouter(tags=["bookmarks"])

MAX_BOOKMARK_MS = 24 * 3600 * 1000
MAX_LIST = 1000
# Epoch-ms bounds of a bookmark: 1970 .. 2100 (anything else is a typo, not footage).
MIN_TIME_MS, MAX_TIME_MS = 0, 4_102_444_800_000
BookmarkId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="Bookmark id")]


def _clean_title(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("title must not be blank")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in v):  # Cs: lone surrogates (not UTF-8)
        raise ValueError("title must be one line without control characters")
    return v


def _clean_note(v: str) -> str:
    v = v.replace("\r\n", "\n")
    if any((unicodedata.category(c) == "Cc" and c not in "\n\t") or unicodedata.category(c) == "Cs" for c in v):
        raise ValueError("note may hold line breaks and tabs but no other control characters")
    return v


class BookmarkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: int = Field(ge=1, le=2**31 - 1)
    start: str = Field(max_length=64, description="ISO 8601")
    end: str = Field(max_length=64, description="ISO 8601; after start, at most 24 h later")
    title: str = Field(min_length=1, max_length=200, description="one line")
    note: str = Field("", max_length=2000)

    @field_validator("title")
    @classmethod
    def _t(cls, v: str) -> str:
        return _clean_title(v)

    @field_validator("note")
    @classmethod
    def _n(cls, v: str) -> str:
        return _clean_note(v)


class BookmarkUpdate(BaseModel):
    """Only the fields sent change; ``null`` is not a value for any of them."""

    model_config = ConfigDict(extra="forbid")
    start: str | None = Field(None, max_length=64)
    end: str | None = Field(None, max_length=64)
    title: str | None = Field(None, min_length=1, max_length=200)
    note: str | None = Field(None, max_length=2000)

    @field_validator("title")
    @classmethod
    def _t(cls, v: str | None) -> str | None:
        return None if v is None else _clean_title(v)

    @field_validator("note")
    @classmethod
    def _n(cls, v: str | None) -> str | None:
        return None if v is None else _clean_note(v)


def bookmark_view(b: Bookmark) -> dict[str, Any]:
    return {
        "id": b.id,
        "camera": b.camera_id,
        "start": to_iso(b.start_ms),
        "end": to_iso(b.end_ms),
        "title": b.title,
        "note": b.note,
        "created_by": b.created_by,
        "created": to_iso(b.created_ms),
        "updated": to_iso(b.updated_ms),
    }


def _check_range(start: int, end: int) -> None:
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_BOOKMARK_MS:
        raise HTTPException(422, "a bookmark may span at most 24 hours")
    if start < MIN_TIME_MS or end > MAX_TIME_MS:
        raise HTTPException(422, "bookmark times must lie between 1970 and 2100")


def _visible_bookmark(caller: Principal, b: Bookmark | None) -> Bookmark:
    if b is None or not caller.visible([b.camera_id]):
        raise not_found("bookmark")
    return b


def _may_change(caller: Principal, b: Bookmark) -> None:
    if caller.can(MANAGE_CAMERAS, b.camera_id):
        return
    # The author by username, whether it wrote through a session or one of its API keys.
    if b.created_by in (caller.username, f"{caller.username}(api-key)") and caller.can(BOOKMARK, b.camera_id):
        return
    raise HTTPException(403, "only the bookmark's author (with the 'bookmark' right) or a camera manager may change it")


@router.post("/bookmarks", status_code=201)
def create_bookmark(ctx: Ctx, caller: Caller, body: BookmarkCreate) -> dict[str, Any]:
    require_camera(caller, body.camera, BOOKMARK)
    start, end = iso_param(body.start, "start"), iso_param(body.end, "end")
    _check_range(start, end)
    with ctx.db.session() as s:
        if repos.get_camera(s, body.camera, include_deleted=True) is None:
            raise not_found()
        row = Bookmark(camera_id=body.camera, start_ms=start, end_ms=end, title=body.title, note=body.note,
                       created_by=caller.actor, created_ms=now_ms())  # fmt: skip
        b = repos.add_bookmark(s, row)
        view = bookmark_view(b)
        ctx.audit.record(s, caller.actor, "bookmark.create", "ok", body.camera, start, end, caller.source_ip,
                         {"bookmark": view["id"], "title": body.title})  # fmt: skip
    return view


@router.get("/bookmarks")
def list_bookmarks(
    ctx: Ctx,
    caller: Caller,
    response: Response,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    start: Annotated[str | None, Query(max_length=64)] = None,
    end: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = MAX_LIST,
) -> list[dict[str, Any]]:
    """Bookmarks overlapping ``[start, end)`` (either bound optional) on the cameras where the caller has
    ``playback`` (or on ``camera`` only), latest start first, at most ``limit`` (≤ 1000); when more exist
    the answer carries the header ``X-Truncated: true``."""
    s_ms = iso_param(start, "start") if start is not None else None
    e_ms = iso_param(end, "end") if end is not None else None
    if s_ms is not None and e_ms is not None and e_ms <= s_ms:
        raise HTTPException(422, "end must be after start")
    if camera is not None:
        require_camera(caller, camera, PLAYBACK)
    with ctx.db.session() as s:
        if camera is not None:
            if repos.get_camera(s, camera, include_deleted=True) is None:
                raise not_found()
            ids = [camera]
        else:
            ids = [c.id for c in repos.list_cameras(s, include_deleted=True) if caller.can(PLAYBACK, c.id)]
        rows = repos.list_bookmarks(s, ids, s_ms, e_ms, limit + 1)
        if len(rows) > limit:
            response.headers["X-Truncated"] = "true"
        return [bookmark_view(b) for b in rows[:limit]]


@router.get("/bookmarks/{bookmark_id}")
def get_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId) -> dict[str, Any]:
    with ctx.db.session() as s:
        b = _visible_bookmark(caller, repos.get_bookmark(s, bookmark_id))
        if not caller.can(PLAYBACK, b.camera_id):
            raise HTTPException(403, f"the '{PLAYBACK}' right on this camera is needed")
        return bookmark_view(b)


@router.patch("/bookmarks/{bookmark_id}")
def update_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId, body: BookmarkUpdate) -> dict[str, Any]:
    fields = sorted(body.model_fields_set)
    if not fields:
        raise HTTPException(422, "nothing to change: send start, end, title or note")
    for f in fields:
        if getattr(body, f) is None:
            raise HTTPException(422, f"{f} may not be null")
    new_start = iso_param(body.start, "start") if body.start is not None else None
    new_end = iso_param(body.end, "end") if body.end is not None else None
    with ctx.db.session() as s:
        b = _visible_bookmark(caller, repos.get_bookmark(s, bookmark_id))
        _may_change(caller, b)
        start = new_start if new_start is not None else b.start_ms
        end = new_end if new_end is not None else b.end_ms
        _check_range(start, end)
        b.start_ms, b.end_ms = start, end
        if body.title is not None:
            b.title = body.title
        if body.note is not None:
            b.note = body.note
        b.updated_ms = now_ms()
        s.flush()
        view, camera_id = bookmark_view(b), b.camera_id
        ctx.audit.record(s, caller.actor, "bookmark.update", "ok", camera_id, start, end, caller.source_ip,
                         {"bookmark": bookmark_id, "fields": fields, "title": view["title"]})  # fmt: skip
    return view


@router.delete("/bookmarks/{bookmark_id}", status_code=204)
def delete_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId) -> Response:
    with ctx.db.session() as s:
        b = _visible_bookmark(caller, repos.get_bookmark(s, bookmark_id))
        _may_change(caller, b)
        camera_id, start, end, title = b.camera_id, b.start_ms, b.end_ms, b.title
        s.delete(b)
        ctx.audit.record(s, caller.actor, "bookmark.delete", "ok", camera_id, start, end, caller.source_ip,
                         {"bookmark": bookmark_id, "title": title})  # fmt: skip
    return Response(status_code=204)
