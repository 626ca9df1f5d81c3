"""Bookmarks: a titled time range on one camera, with a note and its author; every change is audited.

The rules (who may read, create, change) are the feature's: ``ronda.media.bookmarks``.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.access.rights import BOOKMARK, PLAYBACK
from ronda.api.deps import Caller, Ctx, authenticated, camera_right, object_right
from ronda.api.schemas.bookmarks import BookmarkView
from ronda.media import bookmarks as feature
from ronda.media.bookmarks import MAX_LIST

router = APIRouter(tags=["bookmarks"])
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


@router.post("/bookmarks", status_code=201, response_model=BookmarkView, **camera_right(BOOKMARK, body="camera"))
def create_bookmark(ctx: Ctx, caller: Caller, body: BookmarkCreate) -> dict[str, Any]:
    return feature.create(ctx.db, ctx.audit, caller, body.camera, body.start, body.end, body.title, body.note)


@router.get("/bookmarks", response_model=list[BookmarkView], **authenticated())
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
    found = feature.search(ctx.db, caller, camera, start, end, limit)
    if found.truncated:
        response.headers["X-Truncated"] = "true"
    return found.items


@router.get("/bookmarks/{bookmark_id}", response_model=BookmarkView, **object_right("bookmark", PLAYBACK))
def get_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId) -> dict[str, Any]:
    return feature.get(ctx.db, caller, bookmark_id)


@router.patch("/bookmarks/{bookmark_id}", response_model=BookmarkView, **object_right("bookmark", BOOKMARK))
def update_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId, body: BookmarkUpdate) -> dict[str, Any]:
    """Its author (still holding ``bookmark``) or a manager of the camera."""
    changes = {f: getattr(body, f) for f in body.model_fields_set}
    return feature.update(ctx.db, ctx.audit, caller, bookmark_id, changes)


@router.delete("/bookmarks/{bookmark_id}", status_code=204, response_class=Response,
               **object_right("bookmark", BOOKMARK))  # fmt: skip
def delete_bookmark(ctx: Ctx, caller: Caller, bookmark_id: BookmarkId) -> Response:
    """Its author (still holding ``bookmark``) or a manager of the camera."""
    feature.delete(ctx.db, ctx.audit, caller, bookmark_id)
    return Response(status_code=204)
