"""Licence plates: plate reads found by search, hotlists and allowlists with their entries
(docs/analytics.md, "Licence plates")."""

from __future__ import annotations

from pydantic import Field

from ronda.api.schemas import Out


class PlateReadView(Out):
    id: int
    plate: str = Field(description="normalised: upper case letters and digits")
    time: str = Field(description="ISO 8601 UTC")
    camera: int
    confidence: float = Field(description="0..1, the reader's")
    box: list[float] | None = Field(description="[x0, y0, x1, y1] normalised 0-1 in the frame, or null")
    crop: str | None = Field(description="URL of the plate crop (JPEG), or null")
    event: int | None = Field(description="the plate.read event's id")
    track: int | None
    format: str | None = Field(description="the plate format the reader validated, e.g. 'it'")
    hotlist: int | None = Field(description="id of the hotlist it matched when read")
    allowlist: int | None = Field(description="id of the allowlist it matched when read")


class PlateListView(Out):
    id: int
    name: str
    kind: str = Field(description="hotlist | allowlist")
    organisation: int | None = Field(description="the owning organisation; null: the site's (every camera)")
    description: str
    enabled: bool
    entries: int
    updated: str
    updated_by: str


class PlateEntryView(Out):
    id: int
    plate: str = Field(description="a plate, or a pattern with '*' (any characters) and '?' (one)")
    pattern: bool
    reason: str
    valid_until: str | None
    created: str
    created_by: str


class PlateImportRejected(Out):
    line: int = Field(description="1-based line of the file")
    text: str = Field(description="the line as sent (at most 100 characters)")
    reason: str


class PlateImportView(Out):
    added: int = Field(description="entries added")
    already: int = Field(description="plates the list held already (left as they were)")
    rejected: list[PlateImportRejected] = Field(description="lines refused, in file order (at most 1,000)")
    rejected_total: int = Field(description="how many lines were refused")
