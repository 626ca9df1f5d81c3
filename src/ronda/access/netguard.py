"""Outbound destinations chosen by users: resolve once, check every address, connect to what was checked.

Webhook URLs (rule authors), Web Push endpoints (any signed-in browser) and camera URLs (organisation
administrators) are addresses that someone other than the site administrator picks, and the server
then connects to them from inside the site's network. Left unchecked that makes Ronda a proxy into
the loopback interface (its own API, the database), the LAN and cloud metadata services.

A check on the URL's text is not enough: ``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
``localhost.``, ``[::ffff:127.0.0.1]`` all reach the loopback interface, and a name can resolve to a
public address when checked and to a private one a moment later when connected to (DNS rebinding).
So this module resolves the host the way the connection will (``getaddrinfo``, which also parses
those numeric spellings), refuses the whole destination if *any* resolved address is forbidden, and
hands the checked addresses to the connection: :class:`GuardedTransport` / :class:`AsyncGuardedTransport`
open the TCP connection to the checked IP while TLS (SNI, certificate) and the Host header keep the
name. No second lookup happens between check and connect.

Forbidden by default: everything that is not globally routable (loopback, private, link-local,
shared/CGNAT, documentation, reserved, unspecified) and multicast, including IPv4 addresses embedded
in IPv6 (mapped, 6to4, Teredo, NAT64). A site administrator can allow named hosts or networks in the
configuration (``events.allowed_destinations``).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that mean "this machine" whatever /etc/hosts says (RFC 6761 §6.3 reserves *.localhost; Debian
# maps the ip6-* names to ::1). Refused by name so that a host file without them changes nothing.
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback", "localhost.localdomain"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: as internal as RFC 1918


class DestinationRefused(ValueError):
    """The destination may not be connected to; the message says why (safe to show the caller)."""


class Unresolvable(DestinationRefused):
    """The name does not resolve (now)."""


def normalise_host(host: str) -> str:
    """Lower case, no brackets, no trailing dots: ``LOCALHOST.`` and ``localhost`` are one name."""
    return host.strip().strip("[]").rstrip(".").lower()


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why ``ip`` is no acceptable destination, or None.

    ``allow_private``: private (RFC 1918, ULA) and shared addresses pass — cameras live on LANs — while
    loopback, link-local (cloud metadata at 169.254.169.254), unspecified, multicast and reserved
    addresses still do not.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = address_problem(inner, allow_private=allow_private)
            if why:
                return why
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if allow_private and (ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)):
        return None
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a private or non-public address"
    return None


@dataclass(frozen=True, slots=True)
class Allowance:
    """Destinations a site administrator allowed despite the rules above: networks and host names.

    Entries are CIDR networks (``10.0.0.0/8``), single addresses (``127.0.0.1``) or host names
    (``hooks.example.org``, matched exactly after normalisation, not its subdomains). A name on the
    list is connected to whatever it resolves to: the administrator vouches for that name's DNS.
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowance:
        nets: list[IPNetwork] = []
        names: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            try:
                nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = normalise_host(entry)
            if not name or "/" in name or ":" in name or " " in name:
                raise ValueError(f"{raw!r} is neither a network (10.0.0.0/8), an address nor a host name")
            names.add(name)
        return cls(tuple(nets), frozenset(names))

    def allows_ip(self, ip: IPAddress) -> bool:
        if self.everything:
            return True
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(c.version == n.version and c in n for c in candidates for n in self.networks)

    def allows_name(self, host: str) -> bool:
        return self.everything or normalise_host(host) in self.names


NOTHING = Allowance()
EVERYTHING = Allowance(everything=True)


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(normalise_host(host).split("%", 1)[0])
    except ValueError:
        return None


def _refuse_by_name(host: str) -> None:
    name = normalise_host(host)
    if not name:
        raise DestinationRefused("the URL has no host")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        raise DestinationRefused(f"{host!r} names this machine (a loopback address)")


def resolve(host: str, port: int, allow: Allowance = NOTHING, *, allow_private: bool = False) -> list[IPAddress]:
    """Every address ``host`` resolves to, all of them checked; raises :class:`DestinationRefused`.

    Blocking (``getaddrinfo``): call it in a worker thread from async code. The result is what the
    caller must connect to — never resolve the name again for the same connection.
    """
    if allow.everything:
        allowed_name = True
    else:
        allowed_name = allow.allows_name(host)
        if not allowed_name:
            _refuse_by_name(host)
    try:
        infos = socket.getaddrinfo(normalise_host(host), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as e:
        raise Unresolvable(f"{host!r} does not resolve") from e
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip in out:
            continue
        if not allowed_name and not allow.allows_ip(ip):
            why = address_problem(ip, allow_private=allow_private)
            if why:
                # The whole destination goes: a name with one public and one internal address would
                # otherwise reach the internal one whenever the connection happens to pick it.
                literal = parse_ip(host) is not None
                raise DestinationRefused(f"{ip} is {why}" if literal else f"{host!r} resolves to {ip}, {why}")
        out.append(ip)
    if not out:
        raise Unresolvable(f"{host!r} does not resolve")
    return out


def check_url(
    url: str,
    allow: Allowance = NOTHING,
    *,
    schemes: tuple[str, ...] = ("http", "https"),
    require_resolution: bool = True,
    allow_private: bool = False,
) -> None:
    """Validation-time check of a URL someone wants the server to call later.

    Numeric hosts and names that resolve now are checked like at connection time. With
    ``require_resolution=False`` a name that does not resolve *now* passes (the connection will check
    it again); a name that resolves to a forbidden address never does.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("the URL is malformed") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise DestinationRefused(f"must be a {' or '.join(schemes)} URL with a host")
    default = {"https": 443, "http": 80, "rtsp": 554, "rtsps": 322}.get(parts.scheme.lower(), 0)
    try:
        resolve(parts.hostname, port or default, allow, allow_private=allow_private)
    except Unresolvable:
        if require_resolution:
            raise


# --- connecting to the checked address ---------------------------------------------------------------


class _Backend(httpcore.NetworkBackend):
    def __init__(self, allow: Allowance) -> None:
        self._allow = allow
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port, self._allow)
        except DestinationRefused as e:
            raise httpcore.ConnectError(f"destination refused: {e}") from None
        last: Exception | None = None
        for ip in addresses:  # the checked addresses, in resolver order, and nothing else
            try:
                return self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not an outbound destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow: Allowance) -> None:
        self._allow = allow
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        import anyio.to_thread

        try:
            addresses = await anyio.to_thread.run_sync(resolve, host, port, self._allow)
        except DestinationRefused as e:
            raise httpcore.ConnectError(f"destination refused: {e}") from None
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that connects only to checked addresses (TLS and Host keep the name).

    Never goes through a proxy from the environment: the proxy would be the one connecting, to an
    address this process never saw.
    """

    def __init__(self, allow: Allowance = NOTHING, *, verify: bool | str = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx builds its pool without a way to pass a network backend; the pool is rebuilt with the
        # same TLS context (httpx's default CA bundle) and the guarded backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=_Backend(allow),
        )


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """The async twin of :class:`GuardedTransport`."""

    def __init__(self, allow: Allowance = NOTHING, *, verify: bool | str = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=_AsyncBackend(allow),
        )


def refused(exc: BaseException) -> str | None:
    """The refusal message if ``exc`` (from an httpx request) was a refused destination."""
    text = str(exc)
    return text[len("destination refused: ") :] if text.startswith("destination refused: ") else None


class ProbeBudget:
    """At most ``limit`` probes per ``window_s`` per user (in this process): whoever may add cameras
    must not be able to sweep a network's ports through the server at machine speed."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, user_id: int, now: float | None = None) -> float | None:
        """None when the probe may run (it is counted), else the seconds until one may."""
        t = time.monotonic() if now is None else now
        with self._lock:
            recent = [x for x in self._seen.get(user_id, []) if t - x < self.window_s]
            if len(recent) >= self.limit:
                self._seen[user_id] = recent
                return max(0.0, self.window_s - (t - recent[0]))
            recent.append(t)
            self._seen[user_id] = recent
            if len(self._seen) > 10_000:  # forget idle users rather than grow without bound
                self._seen = {u: v for u, v in self._seen.items() if v and t - v[-1] < self.window_s}
            return None
