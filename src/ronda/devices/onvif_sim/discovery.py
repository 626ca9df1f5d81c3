"""WS-Discovery (UDP 3702) for the simulated cameras: Probe in, one ProbeMatches per camera out.

The socket joins the multicast group 239.255.255.250 on the loopback interface and also answers
probes sent straight to its address (unicast), as cameras on routed networks are found.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ronda.devices.onvif_sim.device import scopes
from ronda.devices.onvif_sim.model import Endpoint, SimCamera
from ronda.devices.onvif_sim.soap import local

MULTICAST_GROUP = "239.255.255.250"
PORT = 3702
MAX_DATAGRAM = 8192
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
DN = "http://www.onvif.org/ver10/network/wsdl"
TDS = "http://www.onvif.org/ver10/device/wsdl"
OUR_TYPES = {(DN, "NetworkVideoTransmitter"), (TDS, "Device")}


def _qnames(text: str, namespaces: dict[str, str]) -> set[tuple[str, str]]:
    out = set()
    for item in text.split():
        prefix, _, name = item.rpartition(":")
        out.add((namespaces.get(prefix, ""), name))
    return out


_XMLNS = re.compile(rb'xmlns(?::([A-Za-z0-9_.-]+))?\s*=\s*["\']([^"\']*)["\']')


def _namespaces(data: bytes) -> dict[str, str]:
    """Prefix declarations of a probe (ElementTree drops them; the QNames in Types need them)."""
    return {(m.group(1) or b"").decode(): m.group(2).decode(errors="replace") for m in _XMLNS.finditer(data)}


def parse_probe(data: bytes) -> tuple[str, set[tuple[str, str]], list[str]] | None:
    """(MessageID, requested types, requested scopes) of a Probe, or None for anything else."""
    if len(data) > MAX_DATAGRAM:
        return None
    try:
        root = fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError):
        return None
    message_id, probe = "", None
    for el in root.iter():
        name = local(el.tag)
        if name == "MessageID" and el.text:
            message_id = el.text.strip()
        elif name == "Probe":
            probe = el
    if probe is None:
        return None
    types: set[tuple[str, str]] = set()
    wanted_scopes: list[str] = []
    namespaces = _namespaces(data)
    for el in probe:
        if local(el.tag) == "Types" and el.text:
            types = _qnames(el.text, namespaces)
        elif local(el.tag) == "Scopes" and el.text:
            wanted_scopes = el.text.split()
    return message_id, types, wanted_scopes


def matches(cam: SimCamera, types: set[tuple[str, str]], wanted_scopes: Sequence[str]) -> bool:
    # a type matches by namespace and name, or by name alone when the probe left its prefix undeclared
    ours = OUR_TYPES | {("", n) for _, n in OUR_TYPES}
    if not types <= ours:
        return False
    have = scopes(cam)
    return all(any(s == w or s.startswith(w.rstrip("/") + "/") for s in have) for w in wanted_scopes)


def endpoint_reference(cam: SimCamera, ep: Endpoint) -> str:
    """The device's stable identity: the same camera of another simulator (another port) differs."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ep.xaddr(cam, 'device_service'))}"


def probe_match(cam: SimCamera, ep: Endpoint, relates_to: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="{WSA}" '
        f'xmlns:wsd="{WSD}" xmlns:dn="{DN}" xmlns:tds="{TDS}"><env:Header>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        f"<wsa:Action>{WSD}/ProbeMatches</wsa:Action>"
        '<wsd:AppSequence InstanceId="1" MessageNumber="1"/></env:Header><env:Body><wsd:ProbeMatches><wsd:ProbeMatch>'
        f"<wsa:EndpointReference><wsa:Address>{endpoint_reference(cam, ep)}</wsa:Address></wsa:EndpointReference>"
        "<wsd:Types>dn:NetworkVideoTransmitter tds:Device</wsd:Types>"
        f"<wsd:Scopes>{escape(' '.join(scopes(cam)))}</wsd:Scopes>"
        f"<wsd:XAddrs>{ep.xaddr(cam, 'device_service')}</wsd:XAddrs>"
        "<wsd:MetadataVersion>1</wsd:MetadataVersion></wsd:ProbeMatch></wsd:ProbeMatches></env:Body></env:Envelope>"
    ).encode()


class Discovery:
    """Answers probes for ``cameras()`` (those powered on) until :meth:`close`."""

    def __init__(self, cameras: Callable[[], list[SimCamera]], ep: Endpoint, port: int = PORT) -> None:
        self.cameras = cameras
        self.ep = ep
        self.multicast = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind(("", port))
        self.port = self.sock.getsockname()[1]
        try:
            mreq = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(ep.host))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            self.multicast = True
        except OSError:
            pass  # no multicast on this interface: unicast probes still work
        self.sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-wsdiscovery", daemon=True)

    def start(self) -> Discovery:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM + 1)
            except TimeoutError:
                continue
            except OSError:
                return
            probe = parse_probe(data)
            if probe is None:
                continue
            message_id, types, wanted = probe
            for cam in self.cameras():
                if matches(cam, types, wanted):
                    try:
                        self.sock.sendto(probe_match(cam, self.ep, message_id), addr)
                    except OSError:
                        pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=2)
