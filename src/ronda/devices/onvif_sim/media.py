"""The Media service (``/onvif/K/media_service``): a main and a sub profile matching the RTSP mounts."""

from __future__ import annotations

from ronda.devices.onvif_sim.model import (
    VIDEO_SOURCE,
    VIDEO_SOURCE_CONFIG,
    Endpoint,
    Handler,
    SimCamera,
    StreamProfile,
)
from ronda.devices.onvif_sim.ptz import ptz_configuration
from ronda.devices.onvif_sim.soap import Request, SoapFault, attr

__all__ = ["HANDLERS", "snapshot_path"]


def snapshot_path(cam: SimCamera) -> str:
    return f"/onvif/{cam.number}/snapshot.jpg"


def _profile_by_token(cam: SimCamera, req: Request) -> StreamProfile:
    token = req.text("ProfileToken")
    for p in cam.profiles:
        if p.token == token:
            return p
    raise SoapFault("ter:InvalidArgVal", f"no profile {token!r}")


def _source_config(cam: SimCamera) -> str:
    main = cam.profiles[0]
    return (
        f"<tt:VideoSourceConfiguration token={attr(VIDEO_SOURCE_CONFIG)}><tt:Name>{VIDEO_SOURCE_CONFIG}</tt:Name>"
        f"<tt:UseCount>{len(cam.profiles)}</tt:UseCount><tt:SourceToken>{VIDEO_SOURCE}</tt:SourceToken>"
        f'<tt:Bounds x="0" y="0" width="{main.width}" height="{main.height}"/></tt:VideoSourceConfiguration>'
    )


def _encoder_config(p: StreamProfile, tag: str = "tt:VideoEncoderConfiguration") -> str:
    return (
        f"<{tag} token={attr('enc_' + p.token)}><tt:Name>enc_{p.token}</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{p.width}</tt:Width>"
        f"<tt:Height>{p.height}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>"
        f"<tt:RateControl><tt:FrameRateLimit>{p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
        f"<tt:BitrateLimit>{p.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>"
        f"<tt:H264><tt:GovLength>{p.fps}</tt:GovLength><tt:H264Profile>High</tt:H264Profile></tt:H264>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
        "<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        f"<tt:SessionTimeout>PT60S</tt:SessionTimeout></{tag}>"
    )


def _profile(cam: SimCamera, p: StreamProfile, tag: str = "trt:Profiles") -> str:
    ptz = ptz_configuration(cam, "tt:PTZConfiguration") if cam.dome is not None else ""
    return (
        f'<{tag} token={attr(p.token)} fixed="true"><tt:Name>{p.token}</tt:Name>'
        f"{_source_config(cam)}{_encoder_config(p)}{ptz}</{tag}>"
    )


def get_profiles(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return f"<trt:GetProfilesResponse>{''.join(_profile(cam, p) for p in cam.profiles)}</trt:GetProfilesResponse>"


def get_profile(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    profile = _profile(cam, _profile_by_token(cam, req), "trt:Profile")
    return f"<trt:GetProfileResponse>{profile}</trt:GetProfileResponse>"


def get_video_sources(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    main = cam.profiles[0]
    return (
        f"<trt:GetVideoSourcesResponse><trt:VideoSources token={attr(VIDEO_SOURCE)}>"
        f"<tt:Framerate>{main.fps}</tt:Framerate><tt:Resolution><tt:Width>{main.width}</tt:Width>"
        f"<tt:Height>{main.height}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>"
    )


def get_video_source_configurations(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    body = _source_config(cam).replace("tt:VideoSourceConfiguration", "trt:Configurations")
    return f"<trt:GetVideoSourceConfigurationsResponse>{body}</trt:GetVideoSourceConfigurationsResponse>"


def get_video_encoder_configurations(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    body = "".join(_encoder_config(p, "trt:Configurations") for p in cam.profiles)
    return f"<trt:GetVideoEncoderConfigurationsResponse>{body}</trt:GetVideoEncoderConfigurationsResponse>"


def _media_uri(uri: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>"
    )


def get_stream_uri(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    p = _profile_by_token(cam, req)
    protocol = req.text("StreamSetup/Transport/Protocol", "RTSP")
    if protocol not in ("RTSP", "UDP", "TCP"):
        raise SoapFault("ter:InvalidArgVal", f"transport {protocol} is not offered (RTSP only)")
    return f"<trt:GetStreamUriResponse>{_media_uri(ep.rtsp(p.path))}</trt:GetStreamUriResponse>"


def get_snapshot_uri(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _profile_by_token(cam, req)
    uri = f"http://{ep.host}:{ep.onvif_port}{snapshot_path(cam)}"
    return f"<trt:GetSnapshotUriResponse>{_media_uri(uri)}</trt:GetSnapshotUriResponse>"


def get_service_capabilities(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        '<trt:GetServiceCapabilitiesResponse><trt:Capabilities SnapshotUri="true" Rotation="false">'
        '<trt:ProfileCapabilities MaximumNumberOfProfiles="2"/>'
        '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/>'
        "</trt:Capabilities></trt:GetServiceCapabilitiesResponse>"
    )


HANDLERS: dict[str, Handler] = {
    "GetProfiles": get_profiles,
    "GetProfile": get_profile,
    "GetVideoSources": get_video_sources,
    "GetVideoSourceConfigurations": get_video_source_configurations,
    "GetVideoEncoderConfigurations": get_video_encoder_configurations,
    "GetStreamUri": get_stream_uri,
    "GetSnapshotUri": get_snapshot_uri,
    "GetServiceCapabilities": get_service_capabilities,
}
