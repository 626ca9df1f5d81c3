"""Response models of the API, one module per feature: what the OpenAPI document promises and what a
typed client is generated from. Routes return plain dicts; FastAPI checks them against these models.

Every model forbids keys it does not declare, so a route that grows a field without its model fails
its tests instead of silently dropping the field. Optional keys a route leaves out for some callers (a
viewer does not get a camera's URLs) are declared with a default and the route sets
``response_model_exclude_unset=True``, so they stay absent rather than appear as null.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Routes that answer with media (or nothing) declare their content instead of a model.
Responses = dict[int | str, dict[str, Any]]
JPEG: Responses = {200: {"content": {"image/jpeg": {}}, "description": "a JPEG picture"}}
MP4: Responses = {200: {"content": {"video/mp4": {}}, "description": "fragmented MP4"}}
M4S: Responses = {200: {"content": {"video/iso.segment": {}}, "description": "an fMP4 media segment"}}
M3U8: Responses = {200: {"content": {"application/vnd.apple.mpegurl": {}}, "description": "an HLS playlist"}}
ZIP: Responses = {200: {"content": {"application/zip": {}}, "description": "a signed evidence package"}}
NDJSON: Responses = {200: {"content": {"application/x-ndjson": {}}, "description": "lines, each a signature and JSON"}}
