"""The Device service (``/onvif/K/device_service``) of a simulated camera."""

from __future__ import annotations

import datetime as dt

from ronda.devices.onvif_sim.model import FIRMWARE, MANUFACTURER, Endpoint, Handler, SimCamera
from ronda.devices.onvif_sim.soap import Request, escape

# Operations ONVIF lets anyone call (access class PRE_AUTH): a client needs the camera's clock before it
# can build a UsernameToken.
PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities", "GetHostname"}


def scopes(cam: SimCamera) -> list[str]:
    base = "onvif://www.onvif.org"
    out = [
        f"{base}/type/video_encoder",
        f"{base}/Profile/Streaming",
        f"{base}/hardware/{cam.model.replace(' ', '_')}",
        f"{base}/name/Ronda_{cam.name}",
        f"{base}/manufacturer/{MANUFACTURER}",
        f"{base}/location/city/Ronda",
    ]
    if cam.dome is not None:
        out.insert(1, f"{base}/type/ptz")
    return out


def _services(cam: SimCamera, ep: Endpoint) -> list[tuple[str, str, int, int]]:
    """(namespace, XAddr, major, minor) of each service the camera offers."""
    out = [
        ("http://www.onvif.org/ver10/device/wsdl", ep.xaddr(cam, "device_service"), 2, 5),
        ("http://www.onvif.org/ver10/media/wsdl", ep.xaddr(cam, "media_service"), 2, 5),
        ("http://www.onvif.org/ver10/events/wsdl", ep.xaddr(cam, "events_service"), 2, 5),
    ]
    if cam.dome is not None:
        out.append(("http://www.onvif.org/ver20/ptz/wsdl", ep.xaddr(cam, "ptz_service"), 2, 5))
    return out


def get_device_information(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{MANUFACTURER}</tds:Manufacturer>"
        f"<tds:Model>{escape(cam.model)}</tds:Model><tds:FirmwareVersion>{FIRMWARE}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{cam.serial}</tds:SerialNumber><tds:HardwareId>{cam.name}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def get_system_date_and_time(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    t = dt.datetime.fromtimestamp(cam.now(), dt.UTC)

    def stamp(tag: str) -> str:
        return (
            f"<tt:{tag}><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
            f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
            f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date></tt:{tag}>"
        )

    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
        "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
        f"{stamp('UTCDateTime')}{stamp('LocalDateTime')}</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_capabilities(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    ptz = f"<tt:PTZ><tt:XAddr>{ep.xaddr(cam, 'ptz_service')}</tt:XAddr></tt:PTZ>" if cam.dome is not None else ""
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{ep.xaddr(cam, 'device_service')}</tt:XAddr>"
        "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye>"
        "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
        "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
        "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor></tt:SupportedVersions></tt:System>"
        "<tt:IO><tt:InputConnectors>1</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO></tt:Device>"
        f"<tt:Events><tt:XAddr>{ep.xaddr(cam, 'events_service')}</tt:XAddr>"
        "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
        "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
        f"</tt:Events><tt:Media><tt:XAddr>{ep.xaddr(cam, 'media_service')}</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
        "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        f"{ptz}</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def get_services(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    items = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{xaddr}</tds:XAddr>"
        f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version></tds:Service>"
        for ns, xaddr, major, minor in _services(cam, ep)
    )
    return f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>"


def get_service_capabilities(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>"
        '<tds:Network NTP="0" HostnameFromDHCP="false" ZeroConfiguration="false" IPVersion6="false"/>'
        '<tds:Security UsernameToken="true" HttpDigest="true" TLS1.2="false"/>'
        '<tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false" SystemLogging="false"/>'
        "</tds:Capabilities></tds:GetServiceCapabilitiesResponse>"
    )


def get_scopes(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    items = "".join(
        f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{escape(s)}</tt:ScopeItem></tds:Scopes>"
        for s in scopes(cam)
    )
    return f"<tds:GetScopesResponse>{items}</tds:GetScopesResponse>"


def get_hostname(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
        f"<tt:Name>ronda-sim-{cam.name}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
    )


def get_network_interfaces(cam: SimCamera, ep: Endpoint, req: Request) -> str:
    return (
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled>'
        f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>02:00:00:00:{cam.number // 256:02x}:{cam.number % 256:02x}"
        "</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


HANDLERS: dict[str, Handler] = {
    "GetDeviceInformation": get_device_information,
    "GetSystemDateAndTime": get_system_date_and_time,
    "GetCapabilities": get_capabilities,
    "GetServices": get_services,
    "GetServiceCapabilities": get_service_capabilities,
    "GetScopes": get_scopes,
    "GetHostname": get_hostname,
    "GetNetworkInterfaces": get_network_interfaces,
}
