"""Finding ONVIF cameras: a WS-Discovery Probe sent by multicast (the local segment, and loopback) and,
for routed city networks where multicast does not reach, unicast to each address of a list or range
an administrator gives. Bounded: at most :data:`MAX_HOSTS` unicast targets and ``timeout_s`` overall.

The messages are made and read by the ``wsdiscovery`` package (its Probe envelope, its ProbeMatch
parser); the sending is Ronda's own asyncio socket, so that a thousand unicast probes cost one wait,
not one wait each as the package's threaded daemon does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from wsdiscovery.actions import constructProbe
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.namespaces import NS_ACTION_PROBE_MATCH
from wsdiscovery.qname import QName

log = logging.getLogger("ronda.onvif")

MULTICAST = ("239.255.255.250", 3702)
PORT = 3702
MAX_HOSTS = 1024
MAX_DATAGRAM = 65_507
MAX_RESULTS = 4096
NVT = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


@dataclass(frozen=True, slots=True)
class Discovered:
    address: str  # the device service XAddr
    manufacturer: str | None
    model: str | None
    name: str | None = None
    endpoint: str | None = None  # the WS-Addressing endpoint reference (urn:uuid:...)
    scopes: list[str] = field(default_factory=list)


def parse_targets(specs: list[str] | str | None) -> list[tuple[str, int]]:
    """``(ip, port)`` for each IPv4 address, ``a.b.c.d/nn`` network (its hosts) or ``a.b.c.d-a.b.c.e``
    range, with an optional ``:port`` on single addresses; ``ValueError`` saying which item is
    wrong, or when there are more than :data:`MAX_HOSTS` in all."""
    if isinstance(specs, str):
        specs = [specs]
    items = [s.strip() for spec in specs or [] for s in spec.replace(",", " ").split() if s.strip()]
    out: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()

    def add(ip: ipaddress.IPv4Address, port: int) -> None:
        if (str(ip), port) not in seen:
            if len(out) >= MAX_HOSTS:
                raise ValueError(f"at most {MAX_HOSTS} addresses may be probed at once")
            seen.add((str(ip), port))
            out.append((str(ip), port))

    for item in items:
        try:
            if "/" in item:
                net = ipaddress.IPv4Network(item, strict=False)
                if net.num_addresses > MAX_HOSTS + 2:
                    raise ValueError(f"{item}: a network of more than {MAX_HOSTS} addresses")
                for ip in net.hosts() if net.num_addresses > 2 else net:
                    add(ip, PORT)
            elif "-" in item:
                lo_s, hi_s = item.split("-", 1)
                lo, hi = ipaddress.IPv4Address(lo_s), ipaddress.IPv4Address(hi_s)
                if int(hi) < int(lo) or int(hi) - int(lo) >= MAX_HOSTS:
                    raise ValueError(f"{item}: not a range of at most {MAX_HOSTS} addresses")
                for n in range(int(lo), int(hi) + 1):
                    add(ipaddress.IPv4Address(n), PORT)
            elif item.count(":") == 1:
                host, port_s = item.split(":")
                port = int(port_s)
                if not 0 < port < 65536:
                    raise ValueError(f"{item}: port must be between 1 and 65535")
                add(ipaddress.IPv4Address(host), port)
            else:
                add(ipaddress.IPv4Address(item), PORT)
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(item) or "at most" in msg else f"{item!r} is not an IP address, "
                             "network (a.b.c.d/nn) or range (a.b.c.d-a.b.c.e)") from None  # fmt: skip
    return out


def _scope(scopes: list[str], *kinds: str) -> str | None:
    for kind in kinds:
        prefix = f"onvif://www.onvif.org/{kind}/"
        for s in scopes:
            if s.lower().startswith(prefix):
                value = unquote(s[len(prefix) :]).replace("_", " ").strip()
                if value:
                    return value[:200]
    return None


def _pick_xaddr(xaddrs: list[str], source_ip: str) -> str | None:
    """The device service address; the one on the address that answered when there are several."""
    usable = [x for x in xaddrs if urlsplit(x).scheme in ("http", "https") and len(x) <= 2048]
    for x in usable:
        if urlsplit(x).hostname == source_ip:
            return x
    return usable[0] if usable else None


def parse_matches(data: bytes, source_ip: str) -> list[Discovered]:
    """The ProbeMatches of one datagram (none for anything else: a Probe, a Hello, garbage)."""
    if len(data) > MAX_DATAGRAM or b"<!DOCTYPE" in data:
        return []
    try:
        env = parseSOAPMessage(data, source_ip)
    except Exception:  # noqa: BLE001  (a datagram from anyone: the parser's own errors are not ours)
        return []
    if env is None or env.getAction() != NS_ACTION_PROBE_MATCH:
        return []
    out = []
    for m in env.getProbeResolveMatches() or []:
        scopes = [str(s.getValue() if hasattr(s, "getValue") else s) for s in (m.getScopes() or [])][:64]
        xaddr = _pick_xaddr([str(x) for x in (m.getXAddrs() or [])], source_ip)
        if xaddr is None:
            continue
        out.append(Discovered(
            address=xaddr,
            manufacturer=_scope(scopes, "manufacturer", "mfr", "brand"),
            model=_scope(scopes, "hardware", "model"),
            name=_scope(scopes, "name"),
            endpoint=str(m.getEPR() or "")[:200] or None,
            scopes=scopes,
        ))  # fmt: skip
    return out


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.found: dict[str, Discovered] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        for d in parse_matches(data, addr[0]):
            if len(self.found) < MAX_RESULTS:
                self.found.setdefault(d.endpoint or d.address, d)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable from a host without WS-Discovery


def probe_message() -> bytes:
    return str(createSOAPMessage(constructProbe([NVT], []))).encode()


async def discover(targets: list[tuple[str, int]] | None = None, multicast: bool = True,
                   timeout_s: float = 2.0) -> list[Discovered]:  # fmt: skip
    """Every device that answered within ``timeout_s``, one per endpoint, sorted by address."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Collector, local_addr=("0.0.0.0", 0), family=socket.AF_INET)  # noqa: S104
    try:
        msg = probe_message()
        sock = transport.get_extra_info("socket")
        if multicast:
            for iface in (None, "127.0.0.1"):  # the default route's interface, then loopback
                try:
                    if iface is not None:
                        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
                    transport.sendto(msg, MULTICAST)
                except OSError as e:
                    log.info("WS-Discovery multicast on %s not sent: %s", iface or "the default interface", e)
        for i, (ip, port) in enumerate(targets or []):
            transport.sendto(msg, (ip, port))
            if i % 64 == 63:
                await asyncio.sleep(0.005)  # pace a large range so the socket buffer keeps up
        await asyncio.sleep(timeout_s)
    finally:
        transport.close()
    return sorted(proto.found.values(), key=lambda d: d.address)
