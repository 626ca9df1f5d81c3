"""Adding, changing and removing cameras: validation, secrets, reachability."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from ronda.access.audit import InTransaction
from ronda.access.secrets import SecretBox
from ronda.config import Transport
from ronda.devices.urls import CameraUrlError, host_port, validate_camera_url
from ronda.store import repos
from ronda.store.access_models import CameraGroup, CameraGroupMember, Organisation
from ronda.store.db import Database
from ronda.store.models import Camera, CameraStream
from ronda.timeutil import now_ms

_NAME_MAX = 200


def _check_url(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        return validate_camera_url(v)
    except CameraUrlError as e:
        raise ValueError(str(e)) from None


class OnvifAdd(BaseModel):
    """Add the camera by ONVIF: Ronda reads its profiles, stream URIs, PTZ and identity."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=2048, description="HOST[:PORT] or the device service URL")
    username: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=200)


class CameraCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=_NAME_MAX)
    url: str | None = Field(None, description="RTSP URL of the main stream, without credentials (or give onvif).")
    sub_url: str | None = Field(None, description="RTSP URL of the sub-stream (optional).")
    record_main: bool = True
    record_sub: bool = True
    username: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=200)
    retention_days: float | None = Field(None, gt=0, le=3650)
    audio: bool = False
    transport: Transport = Field(
        "auto",
        description="RTP transport the recorder asks the camera for: auto (TCP, then UDP when the camera "
        "refuses TCP), tcp, udp, or http (RTSP tunnelled in HTTP).",
    )
    enabled: bool = True
    group_id: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Camera group to add the camera to. An organisation's administrator may name only groups "
        "of its organisation and defaults to its first group; a site administrator defaults to none.",
    )

    onvif: OnvifAdd | None = Field(None, description="Add by ONVIF instead of RTSP URLs (url, sub_url, username "
                                   "and password then come from the device and this object).")  # fmt: skip

    @field_validator("url", "sub_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return _check_url(v)

    @model_validator(mode="after")
    def _one_source(self) -> CameraCreate:
        if self.onvif is None and self.url is None:
            raise ValueError("give the main stream's url, or onvif {address, username, password}")
        if self.onvif is not None and (self.url or self.sub_url or self.username or self.password):
            raise ValueError("with onvif, the urls and credentials come from the device: give only onvif")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v or any(ord(c) < 0x20 for c in v):
            raise ValueError("name must be printable text")
        return v


class CameraUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=_NAME_MAX)
    url: str | None = None
    sub_url: str | None = None
    record_main: bool | None = None
    record_sub: bool | None = None
    username: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=200)
    retention_days: float | None = Field(None, gt=0, le=3650)
    audio: bool | None = None
    transport: Transport | None = Field(None, description="auto, tcp, udp or http (see adding a camera).")
    enabled: bool | None = None

    @field_validator("url", "sub_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return _check_url(v)


def reachable(url: str, timeout: float = 1.5) -> bool:
    """Cheap TCP check so a camera added before it is installed shows as offline at once."""
    host, port = host_port(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class CameraGroupError(ValueError):
    pass


def _group_for(s: Any, organisation_id: int | None, group_id: int | None) -> int | None:
    """The group a new camera joins: ``group_id`` if the organisation may use it; for an organisation
    without one named, its first group (made when it has none), so its administrator can see and
    manage the camera it adds."""
    if organisation_id is None:
        if group_id is not None and s.get(CameraGroup, group_id) is None:
            raise CameraGroupError(f"camera group {group_id} does not exist")
        return group_id
    if group_id is not None:
        g = s.get(CameraGroup, group_id)
        if g is None or g.organisation_id != organisation_id:
            raise CameraGroupError(f"camera group {group_id} does not exist in your organisation")
        return group_id
    first = s.scalar(
        select(CameraGroup.id).where(CameraGroup.organisation_id == organisation_id).order_by(CameraGroup.id)
    )
    if first is not None:
        return int(first)
    org = s.get(Organisation, organisation_id)
    g = CameraGroup(organisation_id=organisation_id, name=f"{org.name if org else organisation_id} cameras")
    s.add(g)
    s.flush()
    return g.id


def create_camera(
    db: Database,
    secrets: SecretBox,
    data: CameraCreate,
    check_reachable: bool = True,
    organisation_id: int | None = None,
    also: InTransaction[Camera] | None = None,
    onvif: dict[str, Any] | None = None,
) -> Camera:
    """``organisation_id``: the creator's organisation (None: site scope); see ``_group_for``.
    ``also`` runs in the same transaction once the camera exists (the caller's audit entry).
    ``onvif``: ``{"address", "info", "ptz"}`` of a camera added by ONVIF (``data`` then has the device's
    stream URLs and the ONVIF credentials)."""
    if data.url is None:
        raise ValueError("a camera needs its main stream's url")
    with db.session() as s:
        _group_for(s, organisation_id, data.group_id)  # refuse a foreign group before any probe
    online = reachable(data.url) if check_reachable else True
    with db.session() as s:
        group = _group_for(s, organisation_id, data.group_id)
        cam = Camera(
            name=data.name,
            enabled=data.enabled,
            username=data.username or None,
            password_enc=secrets.encrypt(data.password),
            retention_days=data.retention_days,
            audio=data.audio,
            transport=data.transport,
            status="starting" if online else "offline",
            status_reason=None if online else "camera_unreachable",
            created_ms=now_ms(),
        )
        if onvif is not None:
            cam.onvif_address, cam.onvif_info, cam.ptz = onvif["address"], onvif["info"], bool(onvif["ptz"])
        cam.streams.append(CameraStream(kind="main", url=data.url, record=data.record_main))
        if data.sub_url:
            cam.streams.append(CameraStream(kind="sub", url=data.sub_url, record=data.record_sub))
        s.add(cam)
        s.flush()
        if group is not None:
            s.add(CameraGroupMember(group_id=group, camera_id=cam.id))
            s.flush()
        s.refresh(cam, ["streams"])
        if also is not None:
            also(s, cam)
        return cam


def update_camera(
    db: Database, secrets: SecretBox, camera_id: int, data: CameraUpdate, also: InTransaction[Camera] | None = None
) -> Camera | None:
    """``also`` runs in the same transaction after the change (the caller's audit entry)."""
    fields = data.model_fields_set
    with db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            return None
        for attr in ("name", "retention_days", "audio", "enabled", "transport"):
            if attr in fields and getattr(data, attr) is not None:
                setattr(cam, attr, getattr(data, attr))
        if "retention_days" in fields and data.retention_days is None:
            cam.retention_days = None
        if "username" in fields:
            cam.username = data.username or None
        if "password" in fields:
            cam.password_enc = secrets.encrypt(data.password)
        streams = {st.kind: st for st in cam.streams}
        if data.transport is not None or data.url is not None or "sub_url" in fields:
            # What "auto" learned about TCP belonged to the old setting or address.
            for st in cam.streams:
                st.tcp_refused_ms = None
        if data.url is not None:
            streams["main"].url, streams["main"].codec = data.url, None
        if data.record_main is not None:
            streams["main"].record = data.record_main
        if "sub_url" in fields:
            if data.sub_url is None and "sub" in streams:
                cam.streams.remove(streams["sub"])
            elif data.sub_url is not None:
                if "sub" in streams:
                    streams["sub"].url, streams["sub"].codec = data.sub_url, None
                else:
                    cam.streams.append(CameraStream(kind="sub", url=data.sub_url, record=data.record_sub is not False))
        if data.record_sub is not None and "sub" in streams and streams["sub"] in cam.streams:
            streams["sub"].record = data.record_sub
        s.flush()
        s.refresh(cam, ["streams"])
        if also is not None:
            also(s, cam)
        return cam


def delete_camera(db: Database, camera_id: int, also: InTransaction[Camera] | None = None) -> bool:
    """Soft delete: footage stays until its retention expires. ``also``: as for ``update_camera``."""
    with db.session() as s:
        cam = repos.get_camera(s, camera_id)
        if cam is None:
            return False
        cam.deleted_ms = now_ms()
        cam.enabled = False
        cam.status, cam.status_reason = "deleted", None
        if also is not None:
            also(s, cam)
        return True


def camera_view(cam: Any, live: dict[str, Any] | None = None, streams: Iterable[Any] | None = None) -> dict[str, Any]:
    """API representation: never the password, only whether one is set. ``cam``: a ``Camera`` or a row of
    ``repos.camera_listing`` (then with its ``streams``)."""
    views = {
        st.kind: {"url": st.url, "record": st.record, "codec": st.codec, "width": st.width, "height": st.height}
        for st in (cam.streams if streams is None else streams)
    }
    return {
        "id": cam.id,
        "name": cam.name,
        "status": cam.status if cam.enabled else "disabled",
        "status_reason": cam.status_reason,
        "enabled": cam.enabled,
        "username": cam.username,
        "password_set": bool(cam.password_enc),
        "retention_days": cam.retention_days,
        "audio": cam.audio,
        "transport": cam.transport,
        "streams": views,
        "recording": live or {},
        "ptz": bool(cam.ptz),
        "device": _device(cam.onvif_info),
        "onvif_address": cam.onvif_address,
    }


def _device(info: dict[str, Any] | None) -> dict[str, Any] | None:
    if not info:
        return None
    return {k: info.get(k) for k in ("manufacturer", "model", "firmware")}
