"""Cases and fines: a case file made from events, an alarm or a bookmark, its status flow, notes, fine and
signed evidence packages, and its printable report. The rules are the feature's: ``ronda.cases.service``
(the ``cases`` right on the case's cameras, the organisation scope, the audit of every change)."""

from __future__ import annotations

import asyncio
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ronda.access.rights import CASES
from ronda.access.service import Principal
from ronda.access.tokens import STREAM_TTL_S
from ronda.api.context import AppContext
from ronda.api.deps import Caller, Ctx, Token, iso_param, object_right, stream_caller, stream_right
from ronda.api.files import FileAnswer
from ronda.api.schemas import ZIP, Responses
from ronda.api.schemas.cases import CaseDetail, CaseEvidenceLink, CaseEvidenceView, CaseSummary
from ronda.cases import report
from ronda.cases import service as feature
from ronda.cases.repository import Filters
from ronda.errors import Invalid, NotFound
from ronda.media.export_jobs import ExportJobs

router = APIRouter(tags=["cases"])
CaseId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="Case id")]
EvidenceId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The case's evidence package id")]
EventId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
CaseType = Literal["dumping", "graffiti", "vandalism", "incident", "other"]
Status = Literal["draft", "under_review", "fine_issued", "dismissed", "closed"]
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), max_digits=10, decimal_places=2)]
HTML: Responses = {200: {"content": {"text/html": {}}, "description": "the printable case report"}}
PDF: Responses = {200: {"content": {"application/pdf": {}}, "description": "the case report as PDF"}}


def _one_line(v: str | None) -> str | None:
    if v is None:
        return None
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in v):
        raise ValueError("must be one line without control characters")
    return v.strip()


def _not_blank(v: str | None) -> str | None:
    if v is not None and not v:
        raise ValueError("must not be blank")
    return v


def _text(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.replace("\r\n", "\n")
    if any((unicodedata.category(c) == "Cc" and c not in "\n\t") or unicodedata.category(c) == "Cs" for c in v):
        raise ValueError("may hold line breaks and tabs but no other control characters")
    return v


class CaseCreate(BaseModel):
    """At least one of ``events``, ``alarm``, ``bookmark``. Camera, time, snapshot and type come from the first
    event (``type`` and ``title`` given here win)."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventId] = Field(default_factory=list, max_length=100)
    alarm: Id | None = None
    bookmark: Id | None = None
    type: CaseType | None = None
    title: str | None = Field(None, min_length=1, max_length=200)
    plate: str | None = Field(None, max_length=32)
    offender: str = Field("", max_length=4000)
    note: str = Field("", max_length=4000)
    organisation_id: Id | None = Field(
        None,
        description="whose case it is (null: the site's); only a site-scope "
        "user names another organisation than its own; default: the opener's "
        "organisation, for a site-scope user the one owning the main camera",
    )

    _t = field_validator("title", "plate")(_one_line)
    _b = field_validator("title")(_not_blank)
    _x = field_validator("offender", "note")(_text)


class CaseUpdate(BaseModel):
    """Only the fields sent change. ``fine_amount``: euros with at most two decimals (``"80.00"``), null clears."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=200)
    type: CaseType | None = None
    plate: str | None = Field(None, max_length=32)
    offender: str | None = Field(None, max_length=4000)
    fine_reference: str | None = Field(None, max_length=64)
    fine_amount: Amount | None = None

    _t = field_validator("title", "plate", "fine_reference")(_one_line)
    _b = field_validator("title")(_not_blank)
    _x = field_validator("offender")(_text)


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    text: str = Field("", max_length=4000, description="the reason (needed to dismiss); kept as a note")

    _x = field_validator("text")(_text)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)

    _x = field_validator("text")(_text)


class EvidenceBody(BaseModel):
    """Without ``export``: a new signed export of the case's cameras over its footage window, referencing
    the case number. With ``export``: attach that export (made with the case number as its case)."""

    model_config = ConfigDict(extra="forbid")
    export: str | None = Field(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    stream: Literal["main", "sub"] = "main"


def _exports(ctx: AppContext) -> ExportJobs:
    assert ctx.exports is not None
    return ctx.exports


@router.get("/cases", response_model=list[CaseSummary], **object_right("case", CASES))
def list_cases(
    ctx: Ctx,
    caller: Caller,
    response: Response,
    status: Status | None = None,
    type: CaseType | None = None,
    camera: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    start: Annotated[str | None, Query(max_length=64, description="offence at or after (ISO 8601)")] = None,
    end: Annotated[str | None, Query(max_length=64, description="offence before (ISO 8601)")] = None,
    text: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=feature.MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """The cases the caller may see (the ``cases`` right on all their cameras, its organisation's), newest
    offence first; ``X-Total-Count`` says how many match in all. ``text`` searches number, title, offender,
    plate, fine reference and notes; ``plate`` a part of the plate (letters and digits)."""
    if text is not None and any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in text):
        raise Invalid("text: one line without control characters")
    f = Filters(status=status, type=type, camera=camera,
                start_ms=iso_param(start, "start") if start else None, end_ms=iso_param(end, "end") if end else None,
                text=text, plate=feature.normalise_plate(plate) if plate else None)  # fmt: skip
    found = feature.search(ctx.db, caller, f, limit, offset)
    response.headers["X-Total-Count"] = str(found.total)
    return found.items


@router.post("/cases", status_code=201, response_model=CaseDetail, **object_right("case", CASES))
def create_case(ctx: Ctx, caller: Caller, body: CaseCreate) -> dict[str, Any]:
    """Open a draft case from events, an alarm (its events) or a bookmark; ``cases`` on their cameras."""
    req = feature.NewCase(events=list(body.events), alarm=body.alarm, bookmark=body.bookmark, type=body.type,
                          title=body.title, plate=body.plate, offender=body.offender, note=body.note,
                          organisation=body.organisation_id,
                          organisation_given="organisation_id" in body.model_fields_set)  # fmt: skip
    return feature.create(ctx.db, ctx.audit, ctx.cfg.data_dir, caller, req)


@router.get("/cases/{case_id}", response_model=CaseDetail, **object_right("case", CASES))
def get_case(ctx: Ctx, caller: Caller, case_id: CaseId) -> dict[str, Any]:
    """The case with its notes, sources, evidence packages (their hashes once done) and snapshots."""
    feature.get(ctx.db, caller, case_id)  # rights first: nothing is read from disk for others
    feature.settle(ctx.db, ctx.audit, _exports(ctx), case_id)
    return feature.get(ctx.db, caller, case_id)


@router.patch("/cases/{case_id}", response_model=CaseDetail, **object_right("case", CASES))
def update_case(ctx: Ctx, caller: Caller, case_id: CaseId, body: CaseUpdate) -> dict[str, Any]:
    changes = {f: getattr(body, f) for f in body.model_fields_set}
    return feature.update(ctx.db, ctx.audit, caller, case_id, changes)


@router.post("/cases/{case_id}/status", response_model=CaseDetail, **object_right("case", CASES))
def set_status(ctx: Ctx, caller: Caller, case_id: CaseId, body: StatusBody) -> dict[str, Any]:
    """draft → under_review → fine_issued (with fine reference and amount) | dismissed (with a reason) →
    closed; under_review may go back to draft. Any other step: 409."""
    return feature.set_status(ctx.db, ctx.audit, caller, case_id, body.status, body.text)


@router.post("/cases/{case_id}/notes", status_code=201, response_model=CaseDetail, **object_right("case", CASES))
def add_note(ctx: Ctx, caller: Caller, case_id: CaseId, body: NoteBody) -> dict[str, Any]:
    return feature.add_note(ctx.db, ctx.audit, caller, case_id, body.text)


@router.post("/cases/{case_id}/evidence", status_code=202, response_model=CaseEvidenceView,
             **object_right("case", CASES))  # fmt: skip
async def add_evidence(ctx: Ctx, caller: Caller, case_id: CaseId, body: EvidenceBody | None = None) -> dict[str, Any]:
    """Start (or attach) a signed evidence package of the case; also needs ``export`` on its cameras. Its
    SHA-256 and per-file hashes show in the case once the export is done."""
    body = body or EvidenceBody()
    return await feature.add_evidence(ctx.db, ctx.audit, _exports(ctx), caller, case_id, body.export, body.stream)


@router.post("/cases/{case_id}/evidence/{evidence_id}/link", response_model=CaseEvidenceLink,
             **object_right("case", CASES))  # fmt: skip
def evidence_link(ctx: Ctx, caller: Caller, case_id: CaseId, evidence_id: EvidenceId) -> dict[str, Any]:
    """A 60-second download URL of the case's signed package, for any user who may work on the case (the
    export's own download stays its owner's). 409 while it is not signed, or when the file expired or
    changed since its hash was recorded."""
    pkg = feature.evidence_file(ctx.db, _exports(ctx), caller, case_id, evidence_id)
    token = ctx.auth.issuer.issue_stream_token(caller.binding(), pkg.camera, CASES)
    return {"url": f"/api/v1/cases/{case_id}/evidence/{evidence_id}/file?token={token}",
            "expires_in": STREAM_TTL_S, "name": pkg.name}  # fmt: skip


def _case_camera(ctx: AppContext, request: Request) -> int:
    raw = str(request.path_params["case_id"])
    if not raw.isdigit() or not 1 <= int(raw) < 2**31:
        raise NotFound("case")  # no such case can exist
    return feature.case_camera(ctx.db, int(raw))


CaseToken = Annotated[Principal, stream_caller(CASES, camera_of=_case_camera)]


@router.get("/cases/{case_id}/evidence/{evidence_id}/file", response_class=FileResponse, responses=ZIP,
            **stream_right(CASES, camera_of=_case_camera))  # fmt: skip
def evidence_file(ctx: Ctx, p: CaseToken, case_id: CaseId, evidence_id: EvidenceId, token: Token) -> FileResponse:
    """The package, with the token of a link (the caller's rights on the case are checked again, now);
    audited as an export download, with the case."""
    pkg = feature.evidence_file(ctx.db, _exports(ctx), p, case_id, evidence_id)
    details = {"job": pkg.export_id, "case": case_id, "number": pkg.number, "evidence": evidence_id}
    ctx.audit.append(p.actor, "export.download", "ok", pkg.camera, pkg.start_ms, pkg.end_ms, p.source_ip, details)
    return FileAnswer(pkg.path, what="evidence", media_type="application/zip", filename=pkg.name)


async def _report(ctx: AppContext, caller: Any, case_id: int) -> report.ReportInput:
    return await asyncio.to_thread(feature.report_input, ctx.db, ctx.audit, _exports(ctx), caller, case_id,
                                   ctx.cfg.site.name, ctx.cfg.site.timezone, ctx.cfg.data_dir)  # fmt: skip


@router.get("/cases/{case_id}/report.html", response_class=Response, responses=HTML, **object_right("case", CASES))
async def report_html(ctx: Ctx, caller: Caller, case_id: CaseId) -> Response:
    """The printable report: the case, every evidence package with its SHA-256 and signing key, the site's
    key fingerprint and how to check the footage with ``ronda verify``."""
    body = report.render_html(await _report(ctx, caller, case_id))
    return Response(body, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": report.CSP})


@router.get("/cases/{case_id}/report.pdf", response_class=Response, responses=PDF, **object_right("case", CASES))
async def report_pdf(ctx: Ctx, caller: Caller, case_id: CaseId) -> Response:
    data = await asyncio.to_thread(report.render_pdf, await _report(ctx, caller, case_id))
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="case-{case_id}.pdf"'})  # fmt: skip
