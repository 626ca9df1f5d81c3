"""Licence plates API (docs/analytics.md, "Licence plates"): plate search and crops (the ``plates`` right
on cameras of the caller's organisation; every search audited), hotlists and allowlists with their
entries (``manage_rules``, scoped to the holder's organisation). The rules are in
``ronda.analytics.plates`` (``search``, ``lists``)."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.access.rights import MANAGE_RULES, PLATES
from ronda.analytics.plates import listfile
from ronda.analytics.plates import lists as plate_lists
from ronda.analytics.plates import repository as repo
from ronda.analytics.plates import search as plate_search
from ronda.api.deps import Caller, Ctx, global_right, iso_param, iso_range, object_right
from ronda.api.files import FileAnswer
from ronda.api.schemas import JPEG
from ronda.api.schemas.plates import PlateEntryView, PlateImportView, PlateListView, PlateReadView
from ronda.errors import Invalid, TooLarge
from ronda.media.cameras import camera_ids
from ronda.timeutil import to_iso

router = APIRouter(tags=["plates"])
MAX_RANGE_MS = 31 * 86_400_000
MAX_CAMERAS = 64
Time = Annotated[str, Query(max_length=64, description="ISO 8601, e.g. 2026-05-26T10:00:00Z")]
ReadId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
ListId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
EntryId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def _iso(ms: int | None) -> str | None:
    return to_iso(ms) if ms is not None else None


def _one_line(v: str, what: str) -> str:
    v = v.strip()
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in v):
        raise ValueError(f"{what} must be one line without control characters")
    return v


# --- search ----------------------------------------------------------------------------------------------------
def _read_view(r: repo.ReadRecord) -> dict[str, Any]:
    return {"id": r.id, "plate": r.plate, "time": _iso(r.time_ms), "camera": r.camera_id,
            "confidence": round(r.confidence, 4), "box": r.box,
            "crop": f"/api/v1/plates/{r.id}/crop.jpg" if r.crop else None, "event": r.event_id, "track": r.track,
            "format": r.format, "hotlist": r.hotlist_id, "allowlist": r.allowlist_id}  # fmt: skip


def _cameras(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = list(dict.fromkeys(int(p) for p in text.split(",") if p.strip()))
    except ValueError:
        raise Invalid("camera: one camera id or a comma-separated list") from None
    if not ids or len(ids) > MAX_CAMERAS or any(not 1 <= c < 2**31 for c in ids):
        raise Invalid(f"camera: 1 to {MAX_CAMERAS} camera ids from 1 to {2**31 - 1}")
    return ids


@router.get("/plates", response_model=list[PlateReadView], **object_right("cameras", PLATES))
def search_plates(
    ctx: Ctx,
    caller: Caller,
    start: Time,
    end: Time,
    plate: Annotated[
        str | None,
        Query(
            max_length=32,
            description="full or partial plate, or a pattern with "
            "'*' and '?'; case, spaces and dashes do not matter; O/0 and I/1 "
            "are the same",
        ),
    ] = None,  # fmt: skip
    camera: Annotated[
        str | None,
        Query(
            max_length=800,
            description="camera id(s), comma-separated (default: every camera whose plates the caller may read)",
        ),
    ] = None,  # fmt: skip
    limit: Annotated[int, Query(ge=1, le=plate_search.MAX_LIMIT)] = 100,
    after: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="the id of the last read of the previous page")
    ] = None,  # fmt: skip
) -> list[dict[str, Any]]:
    """Plate reads between ``start`` and ``end`` (at most 31 days), newest first: a text without
    wildcards matches anywhere in the plate, one with ``*``/``?`` the whole plate. Needs ``plates`` on
    each camera (of the caller's organisation); every search is audited with its query."""
    start_ms, end_ms = iso_range(start, end, MAX_RANGE_MS)
    cameras = plate_search.plate_cameras(caller, camera_ids(ctx.db), _cameras(camera))
    found = plate_search.search(ctx.db, ctx.audit, caller, cameras, start_ms, end_ms, plate, limit, after)
    return [_read_view(r) for r in found]


@router.get("/plates/{read_id}", response_model=PlateReadView, **object_right("plate read", PLATES))
def get_plate_read(ctx: Ctx, caller: Caller, read_id: ReadId) -> dict[str, Any]:
    """One plate read."""
    return _read_view(plate_search.read_for(ctx.db, caller, read_id))


@router.get("/plates/{read_id}/crop.jpg", response_class=Response, responses=JPEG,
            **object_right("plate read", PLATES))  # fmt: skip
def plate_crop(ctx: Ctx, caller: Caller, read_id: ReadId) -> Response:
    """The read's plate crop (JPEG); 404 when it has none. Every fetch is audited (``plates.crop``)."""
    path = plate_search.crop_for(ctx.db, ctx.audit, caller, ctx.cfg.data_dir, read_id)
    return FileAnswer(path, what="crop", media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# --- lists -----------------------------------------------------------------------------------------------------
class PlateListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(pattern=r"^(hotlist|allowlist)$", description="hotlist | allowlist")
    description: str = Field("", max_length=500)
    enabled: bool = True
    organisation: int | None = Field(None, ge=1, le=2**31 - 1, description="default: the caller's own (site: "
                                     "null, a list for every camera)")  # fmt: skip

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = _one_line(v, "name")
        if not v:
            raise ValueError("name must not be blank")
        return v

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str) -> str:
        return _one_line(v, "description")


class PlateListUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = _one_line(v, "name")
        if not v:
            raise ValueError("name must not be blank")
        return v

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str | None) -> str | None:
        return None if v is None else _one_line(v, "description")


class PlateEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plate: str = Field(min_length=1, max_length=32, description="a plate, or a pattern with '*' and '?'")
    reason: str = Field("", max_length=200)
    valid_until: str | None = Field(None, max_length=64, description="ISO 8601; null: until removed")

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return _one_line(v, "reason")


class PlateEntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[PlateEntryIn] = Field(min_length=1, max_length=plate_lists.MAX_BATCH)


def _list_view(r: repo.ListRecord) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "kind": r.kind, "organisation": r.organisation_id,
            "description": r.description, "enabled": r.enabled, "entries": r.entries, "updated": _iso(r.updated_ms),
            "updated_by": r.updated_by}  # fmt: skip


def _entry_view(e: repo.EntryRecord) -> dict[str, Any]:
    return {"id": e.id, "plate": e.plate, "pattern": e.pattern, "reason": e.reason,
            "valid_until": _iso(e.valid_until_ms), "created": _iso(e.created_ms),
            "created_by": e.created_by}  # fmt: skip


@router.get("/plate-lists", response_model=list[PlateListView], **global_right(MANAGE_RULES))
def get_plate_lists(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The hotlists and allowlists in the caller's scope (its organisation's; a site administrator: all)."""
    return [_list_view(r) for r in plate_lists.lists(ctx.db, caller)]


@router.post("/plate-lists", status_code=201, response_model=PlateListView, **global_right(MANAGE_RULES))
def create_plate_list(ctx: Ctx, caller: Caller, body: PlateListCreate) -> dict[str, Any]:
    """A new hotlist or allowlist (audited)."""
    given = "organisation" in body.model_fields_set
    r = plate_lists.create(ctx.db, ctx.audit, caller, body.name, body.kind, body.description, body.enabled,
                           body.organisation, given)  # fmt: skip
    return _list_view(r)


@router.get("/plate-lists/{list_id}", response_model=PlateListView, **global_right(MANAGE_RULES))
def get_plate_list(ctx: Ctx, caller: Caller, list_id: ListId) -> dict[str, Any]:
    return _list_view(plate_lists.get(ctx.db, caller, list_id))


@router.patch("/plate-lists/{list_id}", response_model=PlateListView, **global_right(MANAGE_RULES))
def update_plate_list(ctx: Ctx, caller: Caller, list_id: ListId, body: PlateListUpdate) -> dict[str, Any]:
    """Rename, describe, switch on or off (audited)."""
    r = plate_lists.update(ctx.db, ctx.audit, caller, list_id, body.name, body.description, body.enabled)
    return _list_view(r)


@router.delete("/plate-lists/{list_id}", status_code=204, response_class=Response, **global_right(MANAGE_RULES))
def delete_plate_list(ctx: Ctx, caller: Caller, list_id: ListId) -> Response:
    """The list and its entries (audited); reads that matched it keep saying so."""
    plate_lists.delete(ctx.db, ctx.audit, caller, list_id)
    return Response(status_code=204)


@router.get("/plate-lists/{list_id}/entries", response_model=list[PlateEntryView], **global_right(MANAGE_RULES))
def get_plate_entries(
    ctx: Ctx,
    caller: Caller,
    list_id: ListId,
    plate: Annotated[str | None, Query(max_length=32, description="entries containing this text")] = None,
    limit: Annotated[int, Query(ge=1, le=plate_lists.MAX_BATCH)] = 200,
    offset: Annotated[int, Query(ge=0, le=plate_lists.MAX_ENTRIES)] = 0,
) -> list[dict[str, Any]]:
    return [_entry_view(e) for e in plate_lists.entries(ctx.db, caller, list_id, plate, limit, offset)]


@router.post("/plate-lists/{list_id}/entries", status_code=201, response_model=list[PlateEntryView],
             **global_right(MANAGE_RULES))  # fmt: skip
def add_plate_entries(ctx: Ctx, caller: Caller, list_id: ListId, body: PlateEntriesIn) -> list[dict[str, Any]]:
    """Add plates or patterns (1 to 1,000 per request; a plate already on the list gets the new reason and
    expiry); all or nothing, audited."""
    new = []
    for i, e in enumerate(body.entries):
        until = iso_param(e.valid_until, f"entries[{i}].valid_until") if e.valid_until is not None else None
        new.append(plate_lists.NewEntry(e.plate, e.reason, until))
    return [_entry_view(e) for e in plate_lists.add_entries(ctx.db, ctx.audit, caller, list_id, new)]


@router.delete("/plate-lists/{list_id}/entries/{entry_id}", status_code=204, response_class=Response,
               **global_right(MANAGE_RULES))  # fmt: skip
def delete_plate_entry(ctx: Ctx, caller: Caller, list_id: ListId, entry_id: EntryId) -> Response:
    plate_lists.delete_entry(ctx.db, ctx.audit, caller, list_id, entry_id)
    return Response(status_code=204)


def _import_right() -> dict[str, Any]:
    """``manage_rules``, and the raw CSV body described in the document."""
    kw = global_right(MANAGE_RULES)
    kw["openapi_extra"]["requestBody"] = {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "text/plain": {"schema": {"type": "string", "format": "binary"}}}}  # fmt: skip
    return kw


async def _read_file(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` (the app's body limit refuses it first)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/plate-lists/{list_id}/import", response_model=PlateImportView, **_import_right())
async def import_plate_list(
    ctx: Ctx,
    caller: Caller,
    list_id: ListId,
    request: Request,
    valid_until: Annotated[
        str | None, Query(max_length=64, description="ISO 8601: the expiry of lines that give none")
    ] = None,  # fmt: skip
) -> dict[str, Any]:
    """Add the plates of a CSV file (the body, ``text/csv``; at most 1 MiB and 50,000 lines): one entry a
    line, ``plate[,note[,valid_until]]``, ``,`` or ``;`` separated, header optional. Each plate is checked
    as a single entry is; bad lines are reported (line number, reason) and the rest imported. A file that
    is no plate list is 422 and a list it would overfill 409, with nothing imported. Audited."""
    until = iso_param(valid_until, "valid_until") if valid_until is not None else None
    data = await _read_file(request, listfile.MAX_FILE_BYTES)
    done = await asyncio.to_thread(plate_lists.import_file, ctx.db, ctx.audit, caller, list_id, data, until)
    return {"added": done.added, "already": done.already, "rejected_total": done.rejected_total,
            "rejected": [{"line": r.line, "text": r.text, "reason": r.reason} for r in done.rejected]}  # fmt: skip


@router.get("/plate-lists/{list_id}/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}}, **global_right(MANAGE_RULES))  # fmt: skip
def export_plate_list(ctx: Ctx, caller: Caller, list_id: ListId) -> Response:
    """The list's entries as CSV (``plate,note,valid_until``, header first), which the import reads back.
    Audited."""
    name, data = plate_lists.export_file(ctx.db, ctx.audit, caller, list_id)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", unicodedata.normalize("NFKD", name)).strip("-")[:60] or "plate-list"
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{stem}-{list_id}.csv"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})  # fmt: skip
