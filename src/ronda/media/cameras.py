"""The cameras feature behind the API: what a caller sees of a camera, adding and changing cameras with
the probe guard, testing their streams, their recordings and their latest picture.

Errors are domain errors (``ronda.errors``); the API maps them to HTTP. Rights on the camera of a
request are checked by the route's declared dependency before these functions run; what depends on
the caller beyond that (what a viewer may see of a camera, the probe guard) is decided here. Each
change writes its audit entry in the change's own transaction (``registry``'s ``also`` hooks).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ronda.access import netguard
from ronda.access.audit import AuditLog, InTransaction
from ronda.access.rights import MANAGE_CAMERAS, SEEING_RIGHTS
from ronda.access.secrets import SecretBox
from ronda.access.service import Principal
from ronda.config import Config
from ronda.devices import registry
from ronda.devices.onvif import discovery
from ronda.devices.onvif.adding import camera_from_onvif
from ronda.devices.onvif.camera import OnvifCamera, onvif_camera
from ronda.devices.onvif.client import device_url
from ronda.devices.onvif.discovery import parse_targets
from ronda.devices.onvif.profiles import device_profiles, profile_urls
from ronda.devices.urls import host_port, url_with_credentials, url_with_host
from ronda.errors import DeviceError, Invalid, NotFound, TooManyRequests, Unavailable
from ronda.media import segment_source
from ronda.media.framerate import segment_frame_rate
from ronda.media.snapshot import SnapshotCache, SnapshotError
from ronda.media.timeline import camera_track
from ronda.recording import transport
from ronda.recording.layout import Layout
from ronda.recording.recorder import Recorder
from ronda.store import repos
from ronda.store.catalog_cache import CatalogCache, Listing
from ronda.store.db import Database
from ronda.store.models import Camera
from ronda.timeutil import iso_range, now_ms, to_iso

MAX_RANGE_MS = 31 * 86_400_000


def _for_viewers(view: dict[str, Any]) -> dict[str, Any]:
    """A camera's view without how to reach it: viewers see a camera's name and state only."""
    out = {k: v for k, v in view.items() if k not in ("username", "onvif_address")}
    out["streams"] = {kind: {k: v for k, v in st.items() if k != "url"} for kind, st in view["streams"].items()}
    return out


def _base_views(listing: Listing) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """camera id → (what a manager of it sees, what a viewer sees), before the caller's parts (rights,
    groups) and the recorder's state. Shared by requests: copied, never changed."""
    out = {}
    for cam, streams in listing:
        view = registry.camera_view(cam, None, streams)
        out[cam.id] = (view, _for_viewers(view))
    return out


def camera_ids(db: Database) -> list[int]:
    """The ids of every camera (deleted ones excluded)."""
    with db.session() as s:
        return [c.id for c in repos.list_cameras(s)]


@dataclass(frozen=True)
class Cameras:
    """What the cameras feature works with (one per application)."""

    db: Database
    cfg: Config
    secrets: SecretBox
    recorder: Recorder | None
    snapshots: SnapshotCache
    audit: AuditLog
    catalog: CatalogCache | None = None  # the camera list's rows per process (None: read every time)

    # --- views ---------------------------------------------------------------------------------------
    def view(self, cam: Any, caller: Principal) -> dict[str, Any]:
        """What ``caller`` sees of ``cam`` (a ``Camera``)."""
        live = self.recorder.camera_status(cam.id) if self.recorder is not None else None
        held = caller.rights_for(cam.id)
        view = registry.camera_view(cam, live)
        view["rights"] = sorted(held)
        return view if MANAGE_CAMERAS in held else _for_viewers(view)

    def list_for(self, caller: Principal) -> list[dict[str, Any]]:
        """The cameras the caller may see, each with the camera groups it belongs to that the caller's
        organisation owns or has been shared (site-level users see every group)."""
        with self.db.session() as s:
            if self.catalog is not None:
                listing, groups = self.catalog.read(s, caller.organisation_id)
                bases = self.catalog.derived(listing, "views", lambda: _base_views(listing))
            else:
                listing, groups = repos.camera_listing(s), repos.groups_by_camera(s, caller.organisation_id)
                bases = _base_views(listing)
        rights = caller.rights_by_camera([c.id for c, _ in listing])
        live = self.recorder.statuses() if self.recorder is not None else {}
        out = []
        sorted_rights: dict[frozenset[str], list[str]] = {}  # a few distinct sets among many cameras
        for c, _ in listing:
            held = rights[c.id]
            if not held & SEEING_RIGHTS:
                continue
            manager, viewer = bases[c.id]
            view = dict(manager if MANAGE_CAMERAS in held else viewer)
            view["recording"] = live.get(c.id, {})
            if held not in sorted_rights:
                sorted_rights[held] = sorted(held)
            view["rights"] = sorted_rights[held]
            view["groups"] = groups.get(c.id, [])
            out.append(view)
        return out

    def get(self, caller: Principal, camera_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            cam = repos.get_camera(s, camera_id)
            if cam is None:
                raise NotFound()
            return self.view(cam, caller)

    # --- changes -------------------------------------------------------------------------------------
    def _audited(self, caller: Principal, action: str, **details: Any) -> InTransaction[Camera]:
        """The entry of a camera change, written in the change's transaction (``registry``'s ``also``);
        a callable detail is computed from the changed camera."""

        def write(s: Session, cam: Camera) -> None:
            extra = {k: (v(cam) if callable(v) else v) for k, v in details.items()}
            self.audit.record(s, caller.actor, action, "ok", cam.id, source_ip=caller.source_ip,
                              details=extra or None)  # fmt: skip

        return write

    async def add(self, caller: Principal, body: registry.CameraCreate) -> tuple[int, dict[str, Any]]:
        """``(id, view)`` of the new camera, audited. Only a site administrator's request connects at once
        (an unreachable camera shows "offline"); for others it is "offline" until the recorder reached it.
        With ``onvif``, the device is asked first (profiles, stream URIs, PTZ); a device that fails or
        answers badly is ``Invalid`` with the reason, and nothing is created."""
        site_admin = site_camera_admin(caller)
        if not site_admin:
            take_probe(caller)
        onvif = None
        if body.onvif is not None:
            body, onvif = await self._from_onvif(body, site_admin)
        if not site_admin:
            await refuse_internal(body.url, body.sub_url)
        details: dict[str, Any] = {"name": lambda c: c.name}
        if onvif is not None:
            details["onvif"] = onvif["address"]
        audit = self._audited(caller, "camera.create", **details)
        try:
            cam = await asyncio.to_thread(
                registry.create_camera, self.db, self.secrets, body, site_admin, caller.organisation_id, audit,
                onvif=onvif,
            )  # fmt: skip
        except registry.CameraGroupError as e:
            raise Invalid(str(e)) from None
        if not site_admin:
            cam.status, cam.status_reason = await asyncio.to_thread(self._mark_unchecked, cam.id)
        return cam.id, self.view(cam, caller)

    async def _from_onvif(
        self, body: registry.CameraCreate, site_admin: bool
    ) -> tuple[registry.CameraCreate, dict[str, Any]]:
        assert body.onvif is not None
        try:
            address = device_url(body.onvif.address)
        except ValueError as e:
            raise Invalid(str(e)) from None
        if not site_admin:
            # Not this machine or a reserved address; and the connection goes where the check looked.
            await refuse_internal(address)
            checked = await asyncio.to_thread(_checked_address, address)
            if checked is not None:
                address = url_with_host(address, checked)
        pinned = body.model_copy(update={"onvif": body.onvif.model_copy(update={"address": address})})
        try:
            return await camera_from_onvif(pinned)
        except DeviceError as e:
            raise Invalid(f"ONVIF: {e.detail}") from None

    async def discover(self, targets: list[str], multicast: bool, timeout_s: float) -> list[dict[str, Any]]:
        """ONVIF devices answering a WS-Discovery probe (multicast, and unicast to ``targets``: addresses,
        networks, ranges), each with whether a camera was already added from it."""
        try:
            hosts = parse_targets(targets)
        except ValueError as e:
            raise Invalid(str(e)) from None
        found = await discovery.discover(hosts, multicast, timeout_s)
        added = await asyncio.to_thread(self._onvif_endpoints)
        return [
            {"address": d.address, "manufacturer": d.manufacturer, "model": d.model, "name": d.name,
             "endpoint": d.endpoint, "added": _endpoint(d.address) in added}
            for d in found
        ]  # fmt: skip

    def _onvif_endpoints(self) -> set[tuple[str, int, str]]:
        with self.db.session() as s:
            return {_endpoint(c.onvif_address) for c in repos.list_cameras(s) if c.onvif_address}

    def _mark_unchecked(self, camera_id: int) -> tuple[str, str | None]:
        with self.db.session() as s:
            repos.mark_camera_unchecked(s, camera_id)
        return ("offline", None)

    async def update(self, caller: Principal, camera_id: int, body: registry.CameraUpdate) -> dict[str, Any]:
        if not site_camera_admin(caller):
            # A new address is held to the same limits as adding a camera (no probe of this machine).
            await refuse_internal(body.url, body.sub_url)
        audit = self._audited(caller, "camera.update", fields=sorted(body.model_fields_set))
        cam = await asyncio.to_thread(registry.update_camera, self.db, self.secrets, camera_id, body, audit)
        if cam is None:
            raise NotFound()
        return self.view(cam, caller)

    # --- ONVIF media profiles ------------------------------------------------------------------------
    def _onvif(self, camera_id: int) -> OnvifCamera:
        cam = onvif_camera(self.db, self.secrets, camera_id)
        if cam is None:
            with self.db.session() as s:
                if repos.get_camera(s, camera_id) is None:
                    raise NotFound()
            raise NotFound(message="this camera was not added by ONVIF: it has no media profiles to choose "
                           "(change its stream URLs instead)")  # fmt: skip
        return cam

    async def onvif_profiles(self, camera_id: int) -> list[dict[str, Any]]:
        """The device's media profiles now, with which ones feed main and sub (``DeviceError``: the device
        failed)."""
        cam = await asyncio.to_thread(self._onvif, camera_id)
        return await device_profiles(cam)

    async def choose_profiles(self, caller: Principal, camera_id: int, main: str, sub: str | None) -> dict[str, Any]:
        """Feed main and sub from the device's profiles ``main`` and ``sub`` (None: no sub stream): their
        stream URLs become the camera's, the tokens are stored (a reconnect keeps them), audited in the
        same transaction. ``Invalid`` for an unknown token, ``DeviceError`` when the device fails."""
        cam = await asyncio.to_thread(self._onvif, camera_id)
        main_url, sub_url = await profile_urls(cam, main, sub)
        tokens = {"main": main} | ({"sub": sub} if sub is not None else {})
        audit = self._audited(caller, "camera.onvif_profiles", main=main, sub=sub)

        def store(s: Session, row: Camera) -> None:
            row.onvif_info = {**(row.onvif_info or {}), "profiles": tokens}  # a new value: the JSON is saved
            audit(s, row)

        body = registry.CameraUpdate(url=main_url, sub_url=sub_url)
        row = await asyncio.to_thread(registry.update_camera, self.db, self.secrets, camera_id, body, store)
        if row is None:
            raise NotFound()
        return self.view(row, caller)

    async def delete(self, caller: Principal, camera_id: int) -> None:
        """Soft delete, audited."""
        audit = self._audited(caller, "camera.delete")
        if not await asyncio.to_thread(registry.delete_camera, self.db, camera_id, audit):
            raise NotFound()

    async def reload(self, camera_id: int) -> None:
        if self.recorder is not None:
            await self.recorder.reload_camera(camera_id)

    # --- probes --------------------------------------------------------------------------------------
    def _stream_urls(self, camera_id: int) -> list[tuple[str, str, str, int | None]]:
        """``(kind, url with credentials, transport setting, when TCP was last refused)`` per stream."""
        with self.db.session() as s:
            cam = repos.get_camera(s, camera_id)
            if cam is None:
                raise NotFound()
            password = self.secrets.decrypt(cam.password_enc)
            return [
                (st.kind, url_with_credentials(st.url, cam.username, password), cam.transport, st.tcp_refused_ms)
                for st in cam.streams
            ]

    async def test(self, caller: Principal, camera_id: int) -> dict[str, Any]:
        """Probe each stream of the camera (one short RTSP session each)."""
        site_admin = site_camera_admin(caller)
        if not site_admin:
            take_probe(caller)
        targets = await asyncio.to_thread(self._stream_urls, camera_id)
        rec = self.cfg.recording
        out: dict[str, Any] = {}
        for kind, url, setting, refused in targets:
            if not site_admin:
                out[kind] = await uniform_probe(rec.ffprobe, rec.probe_timeout_seconds, url, setting, refused)
                continue
            # As the recorder connects: with "auto", UDP when the camera refuses TCP.
            r, _ = await transport.probe(rec.ffprobe, url, rec.probe_timeout_seconds, setting, refused, now_ms())
            out[kind] = (
                {"ok": True, "codec": r.codec, "width": r.width, "height": r.height, "audio": r.audio_codec}
                if r.ok
                else {"ok": False, "reason": r.reason, "detail": r.detail}
            )
        return {"camera": camera_id, "ok": all(v["ok"] for v in out.values()), "streams": out}

    # --- recordings ----------------------------------------------------------------------------------
    def recordings(self, camera_id: int, stream: str, start: str, end: str) -> dict[str, Any]:
        s_ms, e_ms = iso_range(start, end, MAX_RANGE_MS)
        now = now_ms()
        with self.db.session() as s:
            if repos.get_camera(s, camera_id, include_deleted=True) is None:
                raise NotFound()
            segs = repos.segments_overlapping(s, camera_id, stream, s_ms, e_ms)
            gaps = repos.gaps_overlapping(s, camera_id, stream, s_ms, e_ms)
            # frames per second of the first segment's video, measured from the file (None: unknown);
            # players step one frame with it
            first = segment_source.of(self.cfg, self.db).first_readable(list(segs[:3]))
            rate = segment_frame_rate(str(first)) if first is not None else None
            return {
                "camera": camera_id,
                "stream": stream,
                "frame_rate": rate,
                "segments": [
                    {"id": x.id, "start": to_iso(x.start_ms), "end": to_iso(x.end_ms),
                     "duration_ms": x.end_ms - x.start_ms, "bytes": x.bytes, "sha256": x.sha256, "codec": x.codec,
                     "recovered": x.recovered, "node": x.node, "location": x.location}
                    for x in segs
                ],
                "gaps": [
                    {"start": to_iso(g.start_ms),
                     "end": to_iso(g.end_ms if g.end_ms is not None else max(now, g.start_ms)),
                     "open": g.end_ms is None, "reason": g.reason, "detail": g.detail}
                    for g in gaps
                ],
            }  # fmt: skip

    def timeline(self, camera_id: int, stream: str, start: str, end: str, resolution_ms: int | None) -> dict[str, Any]:
        """Recorded runs, gaps and evidence locks over a range, merged to ``resolution_ms`` (default: the
        range / 2000, about one screen pixel) so that a 30-day zoom-out stays small."""
        s_ms, e_ms = iso_range(start, end, MAX_RANGE_MS)
        merge = resolution_ms or max(1000, (e_ms - s_ms) // 2000)
        now = now_ms()
        with self.db.session() as s:
            if repos.get_camera(s, camera_id, include_deleted=True) is None:
                raise NotFound()
            track, _ = camera_track(s, camera_id, stream, s_ms, e_ms, merge, now)  # shared with GET /timeline
            return {"camera": camera_id, "stream": stream, "resolution_ms": merge, **track}

    # --- snapshot ------------------------------------------------------------------------------------
    def _snapshot_sources(self, camera_id: int) -> list[Path]:
        root = self.cfg.recordings_dir
        layout = Layout(root)
        with self.db.session() as s:
            cam = repos.get_camera(s, camera_id)
            if cam is None:
                raise NotFound()
            candidates: list[Path] = []
            for kind in sorted(st.kind for st in cam.streams):  # main first: best picture
                partials = layout.partials(camera_id, kind)
                candidates += list(reversed(partials[-1:]))
                last = repos.segments_overlapping(s, camera_id, kind, now_ms() - 3_600_000, now_ms() + 60_000)
                if last and last[-1].location == "local":  # (an archived one would be fetched for a still)
                    candidates.append(root / last[-1].path)
        return candidates

    async def snapshot(self, camera_id: int) -> bytes:
        """The latest keyframe as JPEG (from the recorder's own files: no second camera session)."""
        candidates = await asyncio.to_thread(self._snapshot_sources, camera_id)
        if not candidates:
            raise NotFound(message="no recording of this camera yet")
        try:
            return await self.snapshots.get(camera_id, self.cfg.recording.ffmpeg, candidates)
        except SnapshotError as e:
            raise Unavailable(f"no snapshot available: {e}") from None


# --- probes: adding and testing a camera connects to an address the caller chose ----------------------
# For anyone but a site administrator these must not work as a port scanner of the site's network:
# no connection when a camera is added, one uniform answer and duration for every kind of failure
# when it is tested, no camera on this machine or link-local addresses, and a per-user budget.
PROBES = netguard.ProbeBudget(limit=10, window_s=60.0)
_UNAVAILABLE = {"ok": False, "reason": "unavailable"}
NOT_ALLOWED = (
    "this camera address is not allowed: cameras on the server itself, link-local, multicast or reserved "
    "addresses can only be added by a site administrator"
)


def site_camera_admin(caller: Principal) -> bool:
    """A site administrator: manages cameras and belongs to no organisation."""
    return caller.organisation_id is None and caller.has(MANAGE_CAMERAS)


def _endpoint(url: str) -> tuple[str, int, str]:
    """(host, port, path) of a device service URL, spelled one way. The path counts: one address may serve
    several devices (an encoder's channels, a simulator) at different paths."""
    try:
        parts = urlsplit(device_url(url))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return (parts.hostname or "").lower(), port, parts.path.rstrip("/") or "/"
    except ValueError:
        return ("", 0, "")


def take_probe(caller: Principal) -> None:
    wait = PROBES.take(caller.user_id)
    if wait is not None:
        raise TooManyRequests("too many camera probes; try again later", retry_after=round(wait))


def _checked_address(url: str) -> str | None:
    """The address to connect to for ``url`` (LAN addresses are fine), None when the name does not
    resolve; raises DestinationRefused for this machine, link-local, multicast and reserved ones."""
    host, port = host_port(url)
    try:
        return str(netguard.resolve(host, port, allow_private=True)[0])
    except netguard.Unresolvable:
        return None


async def refuse_internal(*urls: str | None) -> None:
    """``Invalid`` when a URL a non-site-administrator gives points at this machine or a reserved address."""
    for url in urls:
        try:
            if url:
                await asyncio.to_thread(_checked_address, url)
        except netguard.DestinationRefused:
            raise Invalid(NOT_ALLOWED) from None


async def uniform_probe(
    ffprobe: str, budget: float, url: str, setting: str = "auto", tcp_refused_ms: int | None = None
) -> dict[str, Any]:
    """Probe for a caller who is not a site administrator: codec and size when the stream plays, else
    the same answer after the same time whether the port is closed, speaks no RTSP or refuses the
    credentials (reason and detail would tell them apart)."""
    started = time.monotonic()
    try:
        address = await asyncio.to_thread(_checked_address, url)
        if address is not None:
            # ffprobe connects to the checked address, not to a name that may resolve elsewhere now.
            checked = url_with_host(url, address)
            r, _ = await asyncio.wait_for(
                transport.probe(ffprobe, checked, budget, setting, tcp_refused_ms, now_ms()), budget
            )
            if r.ok:
                return {"ok": True, "codec": r.codec, "width": r.width, "height": r.height, "audio": r.audio_codec}
    except (netguard.DestinationRefused, TimeoutError):
        pass
    await asyncio.sleep(max(0.0, budget - (time.monotonic() - started)))
    return dict(_UNAVAILABLE)
