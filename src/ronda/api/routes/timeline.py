"""The timeline across cameras (``ronda.media.timeline``) and the site's name and time zone."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ronda.access.rights import PLAYBACK
from ronda.api.deps import Caller, Ctx, authenticated, object_right
from ronda.api.schemas.timeline import SiteView, Timeline
from ronda.media import timeline as feature

router = APIRouter(tags=["timeline"])


@router.get("/timeline", response_model=Timeline, response_model_exclude_unset=True,
            **object_right("cameras", PLAYBACK))  # fmt: skip
def timeline(
    ctx: Ctx,
    caller: Caller,
    cameras: Annotated[str, Query(min_length=1, max_length=800, description="comma-separated camera ids (≤ 64)")],
    start: Annotated[str, Query(max_length=64)],
    end: Annotated[str, Query(max_length=64)],
    stream: Literal["main", "sub"] = "main",
    resolution: Annotated[int | None, Query(ge=1, le=86_400_000, description="merge holes up to this many ms")] = None,
) -> dict[str, Any]:
    """Runs, gaps, events, bookmarks and active evidence locks of several cameras over ``[start, end)``
    (at most 31 days), plus the site's local days (23 or 25 hours long on DST changes).

    ``resolution`` defaults to the range / 2000 (about a screen pixel) and is raised to at least
    range / 4000. Lists are capped per camera (see ``limits``); ``truncated`` says whether any was cut.
    The whole request is refused (404) if any camera does not exist or is not visible to the caller,
    403 if one is visible but the caller lacks ``playback`` on it."""
    return feature.timeline(ctx.db, caller, ctx.cfg.site.timezone, cameras, start, end, stream, resolution)


@router.get("/site", response_model=SiteView, **authenticated())
def site(ctx: Ctx) -> dict[str, Any]:
    """The site's name and time zone with its current UTC offset (any logged-in user)."""
    return feature.site(ctx.cfg.site.name, ctx.cfg.site.timezone)
