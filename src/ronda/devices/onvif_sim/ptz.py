"""The PTZ service (``/onvif/K/ptz_service``) of the simulated dome, over :class:`ronda.devices.simdome.Dome`."""

from __future__ import annotations

from ronda.devices.onvif_sim.model import PTZ_CONFIG, PTZ_NODE, Endpoint, Handler, SimCamera
from ronda.devices.onvif_sim.soap import Request, SoapFault, attr, escape, parse_duration, xsd_time
from ronda.devices.simdome import MAX_PRESETS, PAN_LIMITS, TILT_LIMITS, ZOOM_LIMITS, Dome, Position

_SPACES = "http://www.onvif.org/ver10/tptz"
DEFAULT_TIMEOUT = 10.0  # s: a continuous move without Timeout stops after this (DefaultPTZTimeout)


def _range(lo: float, hi: float) -> str:
    return f"<tt:Min>{lo}</tt:Min><tt:Max>{hi}</tt:Max>"


def _space2(kind: str, uri: str, x: tuple[float, float], y: tuple[float, float]) -> str:
    return (
        f"<tt:{kind}><tt:URI>{_SPACES}/PanTiltSpaces/{uri}</tt:URI><tt:XRange>{_range(*x)}</tt:XRange>"
        f"<tt:YRange>{_range(*y)}</tt:YRange></tt:{kind}>"
    )


def _space1(kind: str, uri: str, x: tuple[float, float]) -> str:
    return f"<tt:{kind}><tt:URI>{_SPACES}/ZoomSpaces/{uri}</tt:URI><tt:XRange>{_range(*x)}</tt:XRange></tt:{kind}>"


def ptz_configuration(cam: SimCamera, tag: str) -> str:
    return (
        f"<{tag} token={attr(PTZ_CONFIG)}><tt:Name>{PTZ_CONFIG}</tt:Name><tt:UseCount>{len(cam.profiles)}</tt:UseCount>"
        f"<tt:NodeToken>{PTZ_NODE}</tt:NodeToken>"
        f"<tt:DefaultAbsolutePantTiltPositionSpace>{_SPACES}/PanTiltSpaces/PositionGenericSpace"
        "</tt:DefaultAbsolutePantTiltPositionSpace>"
        f"<tt:DefaultAbsoluteZoomPositionSpace>{_SPACES}/ZoomSpaces/PositionGenericSpace"
        "</tt:DefaultAbsoluteZoomPositionSpace>"
        f"<tt:DefaultContinuousPanTiltVelocitySpace>{_SPACES}/PanTiltSpaces/VelocityGenericSpace"
        "</tt:DefaultContinuousPanTiltVelocitySpace>"
        f"<tt:DefaultContinuousZoomVelocitySpace>{_SPACES}/ZoomSpaces/VelocityGenericSpace"
        "</tt:DefaultContinuousZoomVelocitySpace>"
        '<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1"/><tt:Zoom x="1"/></tt:DefaultPTZSpeed>'
        f"<tt:DefaultPTZTimeout>PT{DEFAULT_TIMEOUT:g}S</tt:DefaultPTZTimeout>"
        f"<tt:PanTiltLimits>{_space2('Range', 'PositionGenericSpace', PAN_LIMITS, TILT_LIMITS)}</tt:PanTiltLimits>"
        f"<tt:ZoomLimits>{_space1('Range', 'PositionGenericSpace', ZOOM_LIMITS)}</tt:ZoomLimits></{tag}>"
    )


def _node() -> str:
    return (
        f'<tptz:PTZNode token={attr(PTZ_NODE)} FixedHomePosition="false"><tt:Name>{PTZ_NODE}</tt:Name>'
        "<tt:SupportedPTZSpaces>"
        + _space2("AbsolutePanTiltPositionSpace", "PositionGenericSpace", PAN_LIMITS, TILT_LIMITS)
        + _space1("AbsoluteZoomPositionSpace", "PositionGenericSpace", ZOOM_LIMITS)
        + _space2("RelativePanTiltTranslationSpace", "TranslationGenericSpace", (-2.0, 2.0), (-2.0, 2.0))
        + _space1("RelativeZoomTranslationSpace", "TranslationGenericSpace", (-1.0, 1.0))
        + _space2("ContinuousPanTiltVelocitySpace", "VelocityGenericSpace", (-1.0, 1.0), (-1.0, 1.0))
        + _space1("ContinuousZoomVelocitySpace", "VelocityGenericSpace", (-1.0, 1.0))
        + f"<tt:PanTiltSpeedSpace><tt:URI>{_SPACES}/PanTiltSpaces/GenericSpeedSpace</tt:URI>"
        f"<tt:XRange>{_range(0.0, 1.0)}</tt:XRange></tt:PanTiltSpeedSpace>"
        f"<tt:ZoomSpeedSpace><tt:URI>{_SPACES}/ZoomSpaces/ZoomGenericSpeedSpace</tt:URI>"
        f"<tt:XRange>{_range(0.0, 1.0)}</tt:XRange></tt:ZoomSpeedSpace>"
        f"</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets>"
        "<tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode>"
    )


def _dome(cam: SimCamera, req: Request) -> Dome:
    if cam.dome is None:
        raise SoapFault("ter:ActionNotSupported", "this camera has no PTZ", code="env:Receiver")
    token = req.text("ProfileToken")
    if token is not None and token not in {p.token for p in cam.profiles}:
        raise SoapFault("ter:InvalidArgVal", f"no profile {token!r}")
    return cam.dome


def _float(req: Request, path: str, name: str) -> float | None:
    el = req.find(path)
    if el is None or el.get(name) is None:
        return None
    try:
        value = float(el.get(name, ""))
    except ValueError:
        raise SoapFault("ter:InvalidArgVal", f"{path}@{name} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SoapFault("ter:InvalidArgVal", f"{path}@{name} is not a finite number")
    return value


def _vector(req: Request, parent: str) -> tuple[float | None, float | None, float | None]:
    return (
        _float(req, f"{parent}/PanTilt", "x"),
        _float(req, f"{parent}/PanTilt", "y"),
        _float(req, f"{parent}/Zoom", "x"),
    )


def _speed(req: Request) -> float | None:
    values = [v for v in _vector(req, "Speed") if v is not None]
    return max(values) if values else None


def _position_xml(p: Position) -> str:
    return f'<tt:PanTilt x="{p.pan:.4f}" y="{p.tilt:.4f}"/><tt:Zoom x="{p.zoom:.4f}"/>'


def get_nodes(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req)
    return f"<tptz:GetNodesResponse>{_node()}</tptz:GetNodesResponse>"


def get_node(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req)
    if req.text("NodeToken") not in (None, PTZ_NODE):
        raise SoapFault("ter:NoEntity", f"no PTZ node {req.text('NodeToken')!r}")
    return f"<tptz:GetNodeResponse>{_node()}</tptz:GetNodeResponse>"


def get_configurations(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req)
    body = ptz_configuration(cam, "tptz:PTZConfiguration")
    return f"<tptz:GetConfigurationsResponse>{body}</tptz:GetConfigurationsResponse>"


def get_configuration(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req)
    body = ptz_configuration(cam, "tptz:PTZConfiguration")
    return f"<tptz:GetConfigurationResponse>{body}</tptz:GetConfigurationResponse>"


def continuous_move(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    dome = _dome(cam, req)
    timeout = parse_duration(req.text("Timeout"), DEFAULT_TIMEOUT)
    dome.continuous(_vector(req, "Velocity"), min(timeout, 3600.0))
    return "<tptz:ContinuousMoveResponse/>"


def relative_move(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req).move_by(_vector(req, "Translation"), _speed(req))
    return "<tptz:RelativeMoveResponse/>"


def absolute_move(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req).move_to(_vector(req, "Position"), _speed(req))
    return "<tptz:AbsoluteMoveResponse/>"


def stop(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    pan_tilt = (req.text("PanTilt") or "true").lower() != "false"
    zoom = (req.text("Zoom") or "true").lower() != "false"
    _dome(cam, req).stop(pan_tilt, zoom)
    return "<tptz:StopResponse/>"


def get_status(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    dome = _dome(cam, req)
    pt, z = dome.moving()
    state = {True: "MOVING", False: "IDLE"}
    return (
        f"<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>{_position_xml(dome.position())}</tt:Position>"
        f"<tt:MoveStatus><tt:PanTilt>{state[pt]}</tt:PanTilt><tt:Zoom>{state[z]}</tt:Zoom></tt:MoveStatus>"
        f"<tt:UtcTime>{xsd_time(cam.now())}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
    )


def get_presets(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    dome = _dome(cam, req)
    items = "".join(
        f"<tptz:Preset token={attr(p.token)}><tt:Name>{escape(p.name)}</tt:Name>"
        f"<tt:PTZPosition>{_position_xml(p.position)}</tt:PTZPosition></tptz:Preset>"
        for p in list(dome.presets.values())
    )
    return f"<tptz:GetPresetsResponse>{items}</tptz:GetPresetsResponse>"


def set_preset(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    dome = _dome(cam, req)
    name = req.text("PresetName") or ""
    if len(name) > 64:
        raise SoapFault("ter:InvalidArgVal", "preset name longer than 64 characters")
    try:
        token = dome.set_preset(name, req.text("PresetToken") or None)
    except KeyError:
        raise SoapFault("ter:InvalidArgVal", "no such preset token") from None
    except ValueError:
        raise SoapFault("ter:TooManyPresets", "the dome holds no more presets", code="env:Receiver") from None
    return f"<tptz:SetPresetResponse><tptz:PresetToken>{escape(token)}</tptz:PresetToken></tptz:SetPresetResponse>"


def remove_preset(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    try:
        _dome(cam, req).remove_preset(req.text("PresetToken") or "")
    except KeyError:
        raise SoapFault("ter:NoToken", "no such preset token") from None
    return "<tptz:RemovePresetResponse/>"


def goto_preset(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    try:
        _dome(cam, req).goto_preset(req.text("PresetToken") or "", _speed(req))
    except KeyError:
        raise SoapFault("ter:NoToken", "no such preset token") from None
    return "<tptz:GotoPresetResponse/>"


def goto_home_position(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req).goto_home(_speed(req))
    return "<tptz:GotoHomePositionResponse/>"


def set_home_position(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    _dome(cam, req).set_home()
    return "<tptz:SetHomePositionResponse/>"


def get_service_capabilities(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        '<tptz:GetServiceCapabilitiesResponse><tptz:Capabilities EFlip="false" Reverse="false" '
        'GetCompatibleConfigurations="false" MoveStatus="true" StatusPosition="true"/>'
        "</tptz:GetServiceCapabilitiesResponse>"
    )


HANDLERS: dict[str, Handler] = {
    "GetNodes": get_nodes,
    "GetNode": get_node,
    "GetConfigurations": get_configurations,
    "GetConfiguration": get_configuration,
    "ContinuousMove": continuous_move,
    "RelativeMove": relative_move,
    "AbsoluteMove": absolute_move,
    "Stop": stop,
    "GetStatus": get_status,
    "GetPresets": get_presets,
    "SetPreset": set_preset,
    "RemovePreset": remove_preset,
    "GotoPreset": goto_preset,
    "GotoHomePosition": goto_home_position,
    "SetHomePosition": set_home_position,
    "GetServiceCapabilities": get_service_capabilities,
}
