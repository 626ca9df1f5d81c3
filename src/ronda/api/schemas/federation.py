"""Federation of sites (docs/cluster.md "Federation"): keys, peers, remote sites, remote cameras."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ronda.api.schemas import Out

# A site's name as it signs (its ``site.name``): no control characters.
Name = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
FedRight = Literal["live", "playback", "export", "alarms"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FederationKey(Out):
    name: str  # the name this site signs its requests as (site.name)
    public_key: str


class PeerGrantBody(_Body):
    group: str = Field(min_length=1, max_length=200, description="A camera group of this site, by name.")
    rights: list[FedRight] = Field(min_length=1, max_length=4)


class PeerBody(_Body):
    name: str = Name
    public_key: str = Field(min_length=40, max_length=64)
    grants: list[PeerGrantBody] = Field(default_factory=list, max_length=200)


class PeerGrant(Out):
    group: str
    rights: list[str]


class PeerView(Out):
    id: int
    name: str
    public_key: str
    grants: list[PeerGrant]


class SiteAccessBody(_Body):
    group: str = Field(min_length=1, max_length=200, description="A camera group of the remote site, by name.")
    roles: list[str] = Field(min_length=1, max_length=50, description="Roles of this site that may use it.")


class SiteBody(_Body):
    name: str = Name
    url: str = Field(min_length=8, max_length=2048)
    public_key: str = Field(min_length=40, max_length=64)
    access: list[SiteAccessBody] = Field(default_factory=list, max_length=200)


class SiteAccess(Out):
    group: str
    roles: list[str]


class SiteView(Out):
    id: int
    name: str
    url: str
    public_key: str
    access: list[SiteAccess]
    online: bool
    checked_ms: int | None
    last_ok_ms: int | None
    error: str | None
    cameras: int


class RemoteCamera(Out):
    id: int
    name: str
    groups: list[str]
    rights: list[str]
    streams: list[Literal["main", "sub"]] = Field(default_factory=list, description="recorded there: live-viewable")


class RemoteSite(Out):
    id: int
    name: str
    online: bool
    cameras: list[RemoteCamera]


class PeerCamera(Out):
    id: int
    name: str
    groups: list[str]
    rights: list[str]
    streams: list[Literal["main", "sub"]] = Field(default_factory=list, description="the streams it records")


class _ExportFields(_Body):
    start: str = Field(max_length=64)
    end: str = Field(max_length=64)
    reason: str = Field("", max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")
    stream: Literal["main", "sub"] = "main"


class RemoteExportBody(_ExportFields):
    """An export of one remote camera, asked at the centre."""

    camera: int = Field(ge=1, le=2**31 - 1)


class PeerExportBody(_ExportFields):
    """The same, as the centre asks the remote."""

    cameras: list[int] = Field(min_length=1, max_length=16)


class RemoteAlarmActionBody(_Body):
    """Handling a remote site's alarm from the centre: the comment, or the reason to close or reopen."""

    text: str = Field("", max_length=2000)


class PeerAlarmActionBody(RemoteAlarmActionBody):
    """The same, as the centre asks the remote, with the remote cameras the centre lets its user handle
    alarms of (the remote allows what both its grant and this list allow)."""

    cameras: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=10_000)
