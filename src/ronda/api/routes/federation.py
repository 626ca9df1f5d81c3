"""Federation of sites (docs/cluster.md "Federation").

Three sets of routes:

- administration (a site administrator with ``manage_users``: it opens cameras to another party): this
  site's public key, the *peers* it trusts (the remote end) and the *sites* it reaches (the centre's end);
- the centre's users: the remote cameras they may use, grouped by site with each site's state, and the
  proxied snapshot, recordings, segment and alarms (the feature checks the right on the remote camera);
- ``/federation/peer/...``: what a remote serves a peer's signed request (no user credentials), limited
  to the camera groups granted to that peer, each answer signed with this site's key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError
from starlette.background import BackgroundTask

from ronda.access.rights import ALARMS, EXPORT, LIVE, MANAGE_USERS, PLAYBACK
from ronda.api.context import AppContext
from ronda.api.deps import (
    Caller,
    CameraId,
    Ctx,
    authenticated,
    client_ip,
    context,
    object_right,
    peer_signed,
    require_camera,
    site_right,
)
from ronda.api.files import FileAnswer
from ronda.api.routes import live as live_routes
from ronda.api.routes.cameras import cameras as camera_feature
from ronda.api.schemas import JPEG, M3U8, M4S, MP4, NDJSON, ZIP
from ronda.api.schemas.alarms import AlarmView
from ronda.api.schemas.cameras import Recordings
from ronda.api.schemas.federation import (
    FederationKey,
    PeerAlarmActionBody,
    PeerBody,
    PeerCamera,
    PeerExportBody,
    PeerView,
    RemoteAlarmActionBody,
    RemoteExportBody,
    RemoteSite,
    SiteBody,
    SiteView,
)
from ronda.api.schemas.media import ExportJob
from ronda.cluster import federation as fed
from ronda.cluster import federation_admin as admin
from ronda.cluster import federation_alarms
from ronda.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unavailable
from ronda.events import visibility
from ronda.media import evidence, export_access, live_view, playback, segment_source
from ronda.timeutil import now_ms

router = APIRouter(tags=["federation"])
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
SegmentId = Annotated[int, PathParam(ge=1, le=2**62)]
IsoText = Annotated[str, Query(max_length=64)]
Stream = Annotated[str, Query(pattern="^(main|sub)$")]


def federation(ctx: AppContext) -> fed.Federation:
    if ctx.federation is None:
        raise Unavailable("federation is not running on this node")
    return ctx.federation


# --- administration ---------------------------------------------------------------------------------------
@router.get("/federation/key", response_model=FederationKey, **site_right(MANAGE_USERS))
def federation_key(ctx: Ctx) -> dict[str, Any]:
    """This site's name and federation public key: what the other end registers."""
    f = federation(ctx)
    return {"name": f.name, "public_key": fed.public_key_text(f.key)}


@router.get("/federation/peers", response_model=list[PeerView], **site_right(MANAGE_USERS))
def list_peers(ctx: Ctx) -> list[dict[str, Any]]:
    """The sites this site trusts (a centre) and the camera groups granted to each."""
    return admin.peers(ctx.db)


@router.post("/federation/peers", status_code=201, response_model=PeerView, **site_right(MANAGE_USERS))
def add_peer(ctx: Ctx, caller: Caller, body: PeerBody) -> dict[str, Any]:
    """Trust a peer site: its name, its public key (``ronda federation key`` there) and the camera groups of
    this site it may use, with the rights on each (live, playback, export, alarms)."""
    peer_id = admin.add_peer(ctx.db, ctx.audit, caller.actor, body.name, body.public_key,
                             [(g.group, list(g.rights)) for g in body.grants], caller.source_ip)  # fmt: skip
    return admin.peer(ctx.db, peer_id)


@router.delete("/federation/peers/{peer_id}", status_code=204, response_class=Response, **site_right(MANAGE_USERS))
def delete_peer(ctx: Ctx, caller: Caller, peer_id: Id) -> Response:
    """Stop trusting a peer: its next request is refused."""
    admin.delete_peer(ctx.db, ctx.audit, caller.actor, peer_id, caller.source_ip)
    return Response(status_code=204)


@router.get("/federation/sites", response_model=list[SiteView], **site_right(MANAGE_USERS))
def list_sites(ctx: Ctx) -> list[dict[str, Any]]:
    """The remote sites this centre reaches, each online or not (polled every few seconds)."""
    return admin.sites(ctx.db, ctx.federation)


@router.post("/federation/sites", status_code=201, response_model=SiteView, **site_right(MANAGE_USERS))
def add_site(ctx: Ctx, caller: Caller, body: SiteBody) -> dict[str, Any]:
    """Register a remote site: name, base URL, its public key, and which roles of this site may use which
    of its camera groups (the remote decides what it grants; this centre may only narrow it)."""
    site_id = admin.add_site(ctx.db, ctx.audit, caller.actor, body.name, body.url, body.public_key,
                             [(a.group, list(a.roles)) for a in body.access], caller.source_ip)  # fmt: skip
    if ctx.federation is not None:
        ctx.federation.reload()
    return admin.site(ctx.db, site_id, ctx.federation)


@router.delete("/federation/sites/{site_id}", status_code=204, response_class=Response, **site_right(MANAGE_USERS))
def delete_site(ctx: Ctx, caller: Caller, site_id: Id) -> Response:
    """Forget a remote site: its cameras leave the centre's lists."""
    admin.delete_site(ctx.db, ctx.audit, caller.actor, site_id, caller.source_ip)
    if ctx.federation is not None:
        ctx.federation.reload()
    return Response(status_code=204)


# --- the centre's users ---------------------------------------------------------------------------------------
@router.get("/federation/cameras", response_model=list[RemoteSite], **authenticated())
def remote_cameras(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The remote cameras the caller may use, by site (sites where the caller may use some group, even
    while they are down: ``online`` false, their cameras as last known)."""
    return federation(ctx).cameras_for(caller) if ctx.federation is not None else []


def _remote_error(st: fed.SiteState, answer: fed.Answer) -> None:
    """A remote's refusal as the same refusal here (its body is not trusted: not signed)."""
    if answer.status == 404:
        raise NotFound("remote camera or recording")
    if answer.status == 403:
        raise Forbidden("the remote site refuses this")
    if answer.status == 401:
        st.error = "the remote site refuses this centre's signature"
        raise Unavailable(f"site {st.name} refuses this centre's requests")
    if answer.status == 422:
        raise Invalid("the remote site refuses the request's parameters")
    if answer.status == 409:
        raise Conflict("the remote site refuses this in the object's present state")
    raise Unavailable(f"site {st.name} answered {answer.status}")


async def _audited(ctx: AppContext, caller: Any, action: str, st: fed.SiteState, camera: int | None,
                   **details: Any) -> None:  # fmt: skip
    await asyncio.to_thread(ctx.audit.append, caller.actor, action, "ok", None, None, None, caller.source_ip,
                            {"site": st.name, "remote_camera": camera, **details})  # fmt: skip


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/snapshot", response_class=Response, responses=JPEG,
            **object_right("remote_camera", LIVE))  # fmt: skip
async def remote_snapshot(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId) -> Response:
    """The remote camera's latest picture (live right on it, here and there)."""
    f = federation(ctx)
    st = f.check(caller, site_id, camera_id, LIVE)
    answer = await f.call(st, "GET", f"/api/v1/federation/peer/cameras/{camera_id}/snapshot", user=caller.username,
                          max_bytes=f.max_json_bytes)  # fmt: skip
    if answer.status != 200 or answer.media_type != "image/jpeg":
        _remote_error(st, answer)
    if f.views.first("centre", caller.actor, str(site_id), str(camera_id)):
        await _audited(ctx, caller, "federation.live.snapshot", st, camera_id)
    return Response(answer.body, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


StreamKind = Annotated[str, PathParam(pattern="^(main|sub)$")]
Version = Annotated[int, PathParam(ge=1, le=2**31)]
Seq = Annotated[int, PathParam(ge=0, le=2**62)]
M3U8_TYPE = "application/vnd.apple.mpegurl"


async def _live_part(ctx: AppContext, caller: Any, site_id: int, camera_id: int, part: str, media_type: str,
                     max_bytes: int, wait_s: float = 0.0) -> tuple[fed.SiteState, bytes]:  # fmt: skip
    f = federation(ctx)
    st = f.check(caller, site_id, camera_id, LIVE)
    answer = await f.call(st, "GET", f"/api/v1/federation/peer/cameras/{camera_id}/live/{part}", user=caller.username,
                          max_bytes=max_bytes, wait_s=wait_s)  # fmt: skip
    if answer.status != 200 or answer.media_type != media_type:
        _remote_error(st, answer)
    return st, answer.body


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/index.m3u8", response_class=Response,
            responses=M3U8, **object_right("remote_camera", LIVE))  # fmt: skip
async def remote_live_playlist(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId,
                               stream: StreamKind) -> Response:  # fmt: skip
    """The remote camera's live HLS media playlist; its init section and media segments are named
    relative to it (``init-{v}.mp4``, ``{seq}.m4s``: the routes beside it). A player sends the caller's
    credentials with each request (hls.js ``xhrSetup``, or a client's own fetch)."""
    f = federation(ctx)
    # The remote waits up to 15 s for the camera's first segment (a camera just started).
    st, body = await _live_part(ctx, caller, site_id, camera_id, f"{stream}/index.m3u8", M3U8_TYPE, 256 << 10, 16.0)
    if not fed.relative_playlist(body):
        raise Unavailable(f"site {st.name} answered a playlist this centre does not pass on")
    if f.views.first("centre-live", caller.actor, str(site_id), str(camera_id)):
        await _audited(ctx, caller, "federation.live.start", st, camera_id, stream=stream, via="hls")
    return Response(body, media_type=M3U8_TYPE, headers={"Cache-Control": "no-store"})


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/init-{version}.mp4",
            response_class=Response, responses=MP4, **object_right("remote_camera", LIVE))  # fmt: skip
async def remote_live_init(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId, stream: StreamKind,
                           version: Version) -> Response:  # fmt: skip
    _, body = await _live_part(ctx, caller, site_id, camera_id, f"{stream}/init-{version}.mp4", "video/mp4", 1 << 20)
    return Response(body, media_type="video/mp4")


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/live/{stream}/{seq}.m4s", response_class=Response,
            responses=M4S, **object_right("remote_camera", LIVE))  # fmt: skip
async def remote_live_segment(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId, stream: StreamKind,
                              seq: Seq) -> Response:  # fmt: skip
    f = federation(ctx)
    _, body = await _live_part(ctx, caller, site_id, camera_id, f"{stream}/{seq}.m4s", "video/iso.segment",
                               f.max_media_bytes)  # fmt: skip
    return Response(body, media_type="video/iso.segment")


_RECORDINGS: TypeAdapter[Recordings] = TypeAdapter(Recordings)
_ALARMS: TypeAdapter[list[AlarmView]] = TypeAdapter(list[AlarmView])
T = TypeVar("T")


def _valid(st: fed.SiteState, answer: fed.Answer, adapter: TypeAdapter[T], what: str) -> T:
    """A remote's 200 answer read as ``adapter`` says (its refusal as the same refusal here; an answer of
    another shape: 503)."""
    if answer.status != 200:
        _remote_error(st, answer)
    try:
        return adapter.validate_json(answer.body)
    except ValidationError:
        raise Unavailable(f"site {st.name} answered {what} this version cannot read") from None


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/recordings", response_model=Recordings,
            **object_right("remote_camera", PLAYBACK))  # fmt: skip
async def remote_recordings(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId, start: IsoText,
                            end: IsoText, stream: Stream = "main") -> Any:  # fmt: skip
    """The remote camera's segments and gaps over ``[start, end)``."""
    f = federation(ctx)
    st = f.check(caller, site_id, camera_id, PLAYBACK)
    answer = await f.call(st, "GET", f"/api/v1/federation/peer/cameras/{camera_id}/recordings", user=caller.username,
                          params={"start": start, "end": end, "stream": stream})  # fmt: skip
    out = _valid(st, answer, _RECORDINGS, "recordings")
    await _audited(ctx, caller, "federation.playback.recordings", st, camera_id, start=start, end=end)
    return out


@router.get("/federation/sites/{site_id}/cameras/{camera_id}/segments/{segment_id}.mp4", response_class=Response,
            responses=MP4, **object_right("remote_camera", PLAYBACK))  # fmt: skip
async def remote_segment(ctx: Ctx, caller: Caller, site_id: Id, camera_id: CameraId, segment_id: SegmentId) -> Response:
    """One recorded segment of the remote camera (bounded by ``max_media_bytes``; through the spool)."""
    f = federation(ctx)
    st = f.check(caller, site_id, camera_id, PLAYBACK)
    audit = partial(_audited, ctx, caller, "federation.playback.segment", st, camera_id, segment=segment_id)
    path = f"/api/v1/federation/peer/cameras/{camera_id}/segments/{segment_id}.mp4"
    return await _spooled(f, st, path, caller.username, f.max_media_bytes, audit, "video/mp4",
                          {"Cache-Control": "no-store"})  # fmt: skip


@router.get("/federation/sites/{site_id}/alarms", response_model=list[AlarmView], response_model_exclude_unset=True,
            **object_right("remote_site", ALARMS))  # fmt: skip
async def remote_alarms(ctx: Ctx, caller: Caller, site_id: Id,
                        state: Annotated[str | None, Query(pattern="^(open|new|in_progress|on_hold|closed)$")] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Any:  # fmt: skip
    """The remote site's alarms on the cameras the caller has the alarms right on there."""
    f = federation(ctx)
    st, ids = f.check_site(caller, site_id, ALARMS)
    answer = await f.call(st, "GET", "/api/v1/federation/peer/alarms", user=caller.username,
                          params={"state": state, "limit": limit})  # fmt: skip
    alarms = _valid(st, answer, _ALARMS, "alarms")
    await _audited(ctx, caller, "federation.alarms.list", st, None)
    return [a for a in alarms if a.camera in ids]


_ALARM: TypeAdapter[AlarmView] = TypeAdapter(AlarmView)
RemoteAlarmId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
PeerAction = Literal["take", "comment", "hold", "resume", "close", "reopen"]


@router.post("/federation/sites/{site_id}/alarms/{alarm_id}/{action}", response_model=AlarmView,
             response_model_exclude_unset=True, **object_right("remote_site", ALARMS))  # fmt: skip
async def remote_alarm_action(ctx: Ctx, caller: Caller, site_id: Id, alarm_id: RemoteAlarmId, action: PeerAction,
                              body: RemoteAlarmActionBody | None = None) -> Any:  # fmt: skip
    """Handle a remote site's alarm from the centre (``take``, ``comment``, ``hold``, ``resume``, ``close``
    and ``reopen`` with ``text`` as at the site; not ``assign``: the site's users are its own). The site
    allows it when its grant gives the centre the alarms right on the alarm's camera and the centre gives
    it to the caller; it records the step under ``user@centre``."""
    f = federation(ctx)
    st, ids = f.check_site(caller, site_id, ALARMS)
    ask = {"text": (body or RemoteAlarmActionBody()).text, "cameras": sorted(ids)}
    answer = await f.call(st, "POST", f"/api/v1/federation/peer/alarms/{alarm_id}/{action}", user=caller.username,
                          json_body=ask)  # fmt: skip
    alarm = _valid(st, answer, _ALARM, "an alarm")
    await _audited(ctx, caller, f"federation.alarm.{action}", st, alarm.camera, alarm=alarm_id)
    return alarm


_JOB: TypeAdapter[ExportJob] = TypeAdapter(ExportJob)
JobId = Annotated[str, PathParam(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


def _job_here(st: fed.SiteState, answer: fed.Answer) -> dict[str, Any]:
    """A remote export job as the centre shows it: its download is the centre's route."""
    try:
        job = _JOB.validate_json(answer.body).model_dump()
    except ValidationError:
        raise Unavailable(f"site {st.name} answered an export this version cannot read") from None
    done = job["status"] == "done"
    job["download"] = f"/api/v1/federation/sites/{st.id}/exports/{job['id']}/download" if done else None
    return job


@router.post("/federation/sites/{site_id}/exports", status_code=202, response_model=ExportJob,
             **object_right("remote_camera", EXPORT))  # fmt: skip
async def remote_export(ctx: Ctx, caller: Caller, site_id: Id, body: RemoteExportBody) -> dict[str, Any]:
    """Ask the remote site for a signed evidence package of its camera (made and signed there, by its own
    site key); follow it with ``GET .../exports/{job_id}``."""
    f = federation(ctx)
    st = f.check(caller, site_id, body.camera, EXPORT)
    ask = {"cameras": [body.camera], "start": body.start, "end": body.end, "reason": body.reason, "stream": body.stream}
    answer = await f.call(st, "POST", "/api/v1/federation/peer/exports", user=caller.username, json_body=ask)
    if answer.status != 202:
        _remote_error(st, answer)
    job = _job_here(st, answer)
    await _audited(ctx, caller, "federation.export.start", st, body.camera, job=job["id"], start=body.start,
                   end=body.end, reason=body.reason)  # fmt: skip
    return job


async def _own_job(ctx: AppContext, caller: Any, site_id: int, job_id: str) -> tuple[fed.SiteState, dict[str, Any]]:
    """The caller's export at the remote (the remote keeps each central user's own), while the caller may
    still export every camera in it."""
    f = federation(ctx)
    st = f.site(site_id)
    answer = await f.call(st, "GET", f"/api/v1/federation/peer/exports/{job_id}", user=caller.username)
    if answer.status != 200:
        _remote_error(st, answer)
    job = _job_here(st, answer)
    for cid in job["cameras"]:
        f.check(caller, site_id, cid, EXPORT)
    return st, job


@router.get("/federation/sites/{site_id}/exports/{job_id}", response_model=ExportJob,
            **object_right("remote_export", EXPORT))  # fmt: skip
async def remote_export_job(ctx: Ctx, caller: Caller, site_id: Id, job_id: JobId) -> dict[str, Any]:
    return (await _own_job(ctx, caller, site_id, job_id))[1]


@router.get("/federation/sites/{site_id}/exports/{job_id}/download", response_class=Response, responses=ZIP,
            **object_right("remote_export", EXPORT))  # fmt: skip
async def remote_export_download(ctx: Ctx, caller: Caller, site_id: Id, job_id: JobId) -> Response:
    """The finished package (bounded by ``max_export_bytes``); ``ronda verify`` checks it with the remote
    site's evidence key."""
    f = federation(ctx)
    st, job = await _own_job(ctx, caller, site_id, job_id)
    audit = partial(_audited, ctx, caller, "federation.export.download", st, job["cameras"][0], job=job_id)
    return await _spooled(f, st, f"/api/v1/federation/peer/exports/{job_id}/download", caller.username,
                          f.max_export_bytes, audit, "application/zip",
                          {"Content-Disposition": f'attachment; filename="{job["name"]}"'})  # fmt: skip


async def _spooled(f: fed.Federation, st: fed.SiteState, path: str, user: str, max_bytes: int,
                   audit: Callable[[], Awaitable[None]], media_type: str,
                   headers: dict[str, str]) -> Response:  # fmt: skip
    """A remote's file answer (a segment, an export package) through the centre's disk, not its memory: written
    to the spool as it arrives, checked whole against the site's signature, audited (``audit``), then sent
    and removed. A refusal is the same refusal here."""
    spool = f.spool_file()
    try:
        answer = await f.call(st, "GET", path, user=user, max_bytes=max_bytes, into=spool)
        if answer.status != 200:
            _remote_error(st, answer)
        await audit()
    except BaseException:
        spool.unlink(missing_ok=True)
        raise
    return FileResponse(spool, media_type=media_type, background=BackgroundTask(spool.unlink, missing_ok=True),
                        headers=headers)  # fmt: skip


# --- what a remote serves its peers ------------------------------------------------------------------------
async def peer_call(request: Request) -> fed.PeerCall:
    ctx = context(request)
    f = federation(ctx)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()  # bounded by the app's body limit; cached for the route's own model

    def verify() -> fed.PeerCall:
        with ctx.db.session() as s:
            return fed.verify_request(s, f.nonces, request.headers.get(fed.TOKEN_HEADER), request.method, path,
                                      body, client_ip(request))  # fmt: skip

    return await asyncio.to_thread(verify)


Peer = Annotated[fed.PeerCall, Depends(peer_call)]


def _signed(ctx: AppContext, call: fed.PeerCall, body: bytes, media_type: str) -> Response:
    sig = fed.sign_answer(federation(ctx).key, call.nonce, body)
    return Response(body, media_type=media_type, headers={fed.SIGNATURE_HEADER: sig, "Cache-Control": "no-store"})


def _json(ctx: AppContext, call: fed.PeerCall, data: Any) -> Response:
    return _signed(ctx, call, json.dumps(data, separators=(",", ":")).encode(), "application/json")


async def _peer_audit(ctx: AppContext, call: fed.PeerCall, action: str, camera_id: int | None, **details: Any) -> None:
    if call.user:  # the centre's own health poll is no one's access
        who = {"peer": call.peer, "user": call.user, **details}
        await asyncio.to_thread(ctx.audit.append, call.actor, action, "ok", camera_id, None, None,
                                call.principal.source_ip, who)  # fmt: skip


@router.get("/federation/peer/cameras", response_model=list[PeerCamera], **peer_signed(peer_call))
async def peer_cameras(ctx: Ctx, call: Peer) -> Response:
    """The cameras granted to the calling peer, with the granted rights and groups of each and the streams it
    records (what a live view can show)."""
    out = await asyncio.to_thread(fed.granted_cameras, ctx.db, call)
    await _peer_audit(ctx, call, "federation.cameras", None)
    return _json(ctx, call, out)


@router.get("/federation/peer/cameras/{camera_id}/snapshot", response_class=Response, responses=JPEG,
            **peer_signed(peer_call))  # fmt: skip
async def peer_snapshot(ctx: Ctx, call: Peer, camera_id: CameraId) -> Response:
    require_camera(call.principal, camera_id, LIVE)
    jpeg = await camera_feature(ctx).snapshot(camera_id)
    if federation(ctx).views.first("peer", call.actor, str(camera_id)):
        await _peer_audit(ctx, call, "federation.live.snapshot", camera_id)
    return _signed(ctx, call, jpeg, "image/jpeg")


@router.get("/federation/peer/cameras/{camera_id}/recordings", response_model=Recordings, **peer_signed(peer_call))
async def peer_recordings(ctx: Ctx, call: Peer, camera_id: CameraId, start: IsoText, end: IsoText,
                          stream: Stream = "main") -> Response:  # fmt: skip
    require_camera(call.principal, camera_id, PLAYBACK)
    data = await asyncio.to_thread(camera_feature(ctx).recordings, camera_id, stream, start, end)
    await _peer_audit(ctx, call, "federation.playback.recordings", camera_id)
    return _json(ctx, call, data)


@router.get("/federation/peer/cameras/{camera_id}/segments/{segment_id}.mp4", response_class=Response,
            responses=MP4, **peer_signed(peer_call))  # fmt: skip
async def peer_segment(ctx: Ctx, call: Peer, camera_id: CameraId, segment_id: SegmentId) -> Response:
    require_camera(call.principal, camera_id, PLAYBACK)
    # local, archived or on another recorder node of this site: the one read path (media/segment_source.py)
    source = segment_source.of(ctx.cfg, ctx.db)
    seg = await asyncio.to_thread(playback.segment_file, ctx.db, source, camera_id, segment_id)
    return await _signed_file(ctx, call, seg.path, "segment", "video/mp4",
                              partial(_peer_audit, ctx, call, "federation.playback.segment", camera_id,
                                      segment=segment_id))  # fmt: skip


@router.get("/federation/peer/alarms", response_model=list[AlarmView], **peer_signed(peer_call))
async def peer_alarms(ctx: Ctx, call: Peer,
                      state: Annotated[str | None, Query(pattern="^(open|new|in_progress|on_hold|closed)$")] = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:  # fmt: skip
    """Alarms of the cameras the peer has the alarms right on."""
    alarms = await asyncio.to_thread(visibility.list_for, ctx.db, call.principal, state, None, None, 2000)
    out = [a for a in alarms if a.get("camera") is not None and call.principal.can(ALARMS, a["camera"])][:limit]
    await _peer_audit(ctx, call, "federation.alarms.list", None)
    return _json(ctx, call, out)


_ALARM_STREAMS = federation_alarms.PeerStreams()  # this process's open alarm answers, per peer


@router.get("/federation/peer/alarms/stream", response_class=StreamingResponse, responses=NDJSON,
            **peer_signed(peer_call))  # fmt: skip
async def peer_alarm_stream(ctx: Ctx, call: Peer) -> StreamingResponse:
    """The changes of the alarms whose camera the peer has the alarms right on, as they happen: one line
    each (``<signature> <json>``: alarm, camera, state, change), a ping every 10 s, for a minute; the peer
    then asks again (docs/cluster.md, Federation)."""
    f = federation(ctx)
    if _ALARM_STREAMS.full(call.peer):
        raise TooManyRequests("this peer has as many alarm streams open here as it may", retry_after=10)
    p = call.principal

    async def refresh() -> federation_alarms.MaySee | None:
        perms = await asyncio.to_thread(fed.peer_permissions, ctx.db, call.peer)
        return None if perms is None else (lambda cam: perms.can(ALARMS, cam, now_ms()))

    lines = federation_alarms.peer_stream(ctx.events.fanout, lambda cam: p.can(ALARMS, cam), f.key, call.nonce,
                                          stopping=ctx.stopping, refresh=refresh,
                                          streams=(_ALARM_STREAMS, call.peer))  # fmt: skip
    return StreamingResponse(lines, media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


@router.post("/federation/peer/alarms/{alarm_id}/{action}", response_model=AlarmView, **peer_signed(peer_call))
async def peer_alarm_action(ctx: Ctx, call: Peer, alarm_id: RemoteAlarmId, action: PeerAction,
                            body: PeerAlarmActionBody) -> Response:  # fmt: skip
    """A central user of the peer handles one of this site's alarms (the step is audited under
    ``user@peer`` in the alarm's own transaction, as a local user's is)."""
    view = await visibility.act_for_peer(ctx.db, ctx.events.alarms, call.principal, frozenset(body.cameras),
                                         alarm_id, action, body.text, call.peer, call.user)  # fmt: skip
    return _json(ctx, call, view)


async def _signed_file(ctx: AppContext, call: fed.PeerCall, path: Path, what: str, media_type: str,
                       audit: Callable[[], Awaitable[None]]) -> Response:  # fmt: skip
    """A file answered to a peer from disk (any size, never read into memory), with the signature of its
    SHA-256; 404 when it is gone first (retention, an export expired). ``audit`` is awaited before it goes."""
    try:
        digest = bytes.fromhex(await asyncio.to_thread(evidence.sha256_file, path))
    except FileNotFoundError:
        raise NotFound(what) from None
    await audit()
    sig = fed.sign_digest(federation(ctx).key, call.nonce, digest)
    return FileAnswer(path, what=what, media_type=media_type,
                      headers={fed.SIGNATURE_HEADER: sig, "Cache-Control": "no-store"})  # fmt: skip


def _peer_job(ctx: AppContext, call: fed.PeerCall, job_id: str) -> dict[str, Any]:
    """The job, when the central user of this call asked for it (peers' jobs all belong to no local user:
    the owner's name, ``user@peer``, tells them apart)."""
    assert ctx.exports is not None
    job = export_access.get(ctx.exports, ctx.db, call.principal, job_id)
    if job["owner"] != call.actor or job["owner_id"] != call.principal.user_id:
        raise NotFound("export")
    return job


@router.post("/federation/peer/exports", status_code=202, response_model=ExportJob, **peer_signed(peer_call))
async def peer_export(ctx: Ctx, call: Peer, body: PeerExportBody) -> Response:
    for cid in body.cameras:
        require_camera(call.principal, cid, EXPORT)
    assert ctx.exports is not None
    job = await export_access.start(ctx.exports, ctx.db, call.principal, body.cameras, body.start, body.end,
                                    body.reason, "", body.stream, None)  # fmt: skip
    await _peer_audit(ctx, call, "federation.export.start", body.cameras[0], job=job["id"])
    answer = _json(ctx, call, job)
    answer.status_code = 202
    return answer


@router.get("/federation/peer/exports/{job_id}", response_model=ExportJob, **peer_signed(peer_call))
async def peer_export_job(ctx: Ctx, call: Peer, job_id: JobId) -> Response:
    return _json(ctx, call, await asyncio.to_thread(_peer_job, ctx, call, job_id))


@router.get("/federation/peer/exports/{job_id}/download", response_class=Response, responses=ZIP,
            **peer_signed(peer_call))  # fmt: skip
async def peer_export_download(ctx: Ctx, call: Peer, job_id: JobId) -> Response:
    await asyncio.to_thread(_peer_job, ctx, call, job_id)
    assert ctx.exports is not None
    pkg = await asyncio.to_thread(export_access.finished, ctx.exports, ctx.db, call.principal, job_id)
    return await _signed_file(ctx, call, pkg.path, "export", "application/zip",
                              partial(_peer_audit, ctx, call, "federation.export.download", pkg.cameras[0],
                                      job=job_id))  # fmt: skip


@router.get("/federation/peer/cameras/{camera_id}/live/{stream}/index.m3u8", response_class=Response,
            responses=M3U8, **peer_signed(peer_call))  # fmt: skip
async def peer_live_playlist(ctx: Ctx, call: Peer, camera_id: CameraId, stream: StreamKind) -> Response:
    """The live media playlist with relative, token-free names: every part is asked for with its own
    signed request."""
    require_camera(call.principal, camera_id, LIVE)
    await asyncio.to_thread(live_view.recorded_stream, ctx.db, camera_id, stream)
    tail = await live_routes.ready_tail(ctx, camera_id, stream, 1)
    body = tail.playlist(lambda v: f"init-{v}.mp4", lambda n: f"{n}.m4s")
    if federation(ctx).views.first("peer-live", call.actor, str(camera_id)):
        await _peer_audit(ctx, call, "federation.live.start", camera_id, stream=stream, via="hls")
    return _signed(ctx, call, body.encode(), M3U8_TYPE)


@router.get("/federation/peer/cameras/{camera_id}/live/{stream}/init-{version}.mp4", response_class=Response,
            responses=MP4, **peer_signed(peer_call))  # fmt: skip
async def peer_live_init(ctx: Ctx, call: Peer, camera_id: CameraId, stream: StreamKind, version: Version) -> Response:
    require_camera(call.principal, camera_id, LIVE)
    tail = await live_routes.recorded_tail(ctx, camera_id, stream)
    init = tail.inits.get(version)
    if init is None:
        raise NotFound("initialisation section")
    return _signed(ctx, call, init.data, "video/mp4")


@router.get("/federation/peer/cameras/{camera_id}/live/{stream}/{seq}.m4s", response_class=Response,
            responses=M4S, **peer_signed(peer_call))  # fmt: skip
async def peer_live_segment(ctx: Ctx, call: Peer, camera_id: CameraId, stream: StreamKind, seq: Seq) -> Response:
    require_camera(call.principal, camera_id, LIVE)
    tail = await live_routes.recorded_tail(ctx, camera_id, stream)
    seg = tail.hls_segment(seq)
    if seg is None:
        raise NotFound("live segment (it has left the live window)")
    return _signed(ctx, call, seg.data(), "video/iso.segment")
