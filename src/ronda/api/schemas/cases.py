"""Cases and fines (docs/cases.md)."""

from __future__ import annotations

from ronda.api.schemas import Out


class CaseSummary(Out):
    id: int
    number: str
    type: str
    title: str
    status: str
    camera: int
    cameras: list[int]
    offence_time: str
    plate: str
    fine_reference: str
    fine_amount: str | None  # "80.00"
    currency: str
    organisation_id: int | None
    created_by: str
    created: str
    updated_by: str
    updated: str


class CasePosition(Out):
    x: float | None
    y: float | None
    lat: float | None
    lon: float | None


class CaseWindow(Out):
    start: str
    end: str


class CaseLinkView(Out):
    kind: str
    id: int
    time: str | None
    label: str


class CaseNoteView(Out):
    id: int
    time: str
    author: str
    text: str


class EvidenceFile(Out):
    name: str
    sha256: str
    bytes: int | None


class CaseEvidenceView(Out):
    id: int
    export_id: str
    name: str
    status: str  # pending | done | failed
    error: str | None
    sha256: str | None
    bytes: int | None
    files: list[EvidenceFile]
    key_fingerprint: str | None
    cameras: list[int]
    start: str
    end: str
    added_by: str
    added: str
    finished: str | None
    download: str | None  # the export's own download (its owner's)
    link: str | None  # POST: a download link for any worker of the case


class CaseEvidenceLink(Out):
    url: str
    expires_in: int
    name: str


class CaseSnapshotView(Out):
    id: int
    camera: int
    time: str
    event: int | None
    images: list[str]  # the event's extra images (before, after...): url?image=NAME
    url: str | None  # the event's snapshot (GET, with the session)


class CaseDetail(CaseSummary):
    position: CasePosition
    window: CaseWindow
    offender: str
    next_statuses: list[str]
    links: list[CaseLinkView]
    notes: list[CaseNoteView]
    evidence: list[CaseEvidenceView]
    snapshots: list[CaseSnapshotView]
