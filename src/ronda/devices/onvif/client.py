"""One ONVIF device as Ronda uses it: on ``onvif-zeep-async``, with the camera's clock offset applied
to WS-UsernameToken digests, every call bounded in time, and every failure turned into a
``DeviceError`` that says what went wrong in one line (never a traceback, never the device's body).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import zeep.exceptions
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError

from ronda.devices.onvif.transport import CALL_TIMEOUT_S, ResponseTooLarge, bounded, harden, same_host
from ronda.errors import DeviceError

log = logging.getLogger("ronda.onvif")

SKEW_WARN_S = 5.0
DEVICE_PATH = "/onvif/device_service"
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def device_url(address: str) -> str:
    """The device service URL for what an administrator typed: ``HOST``, ``HOST:PORT`` or a full
    ``http(s)://HOST[:PORT]/path`` (without credentials). Raises ``ValueError`` saying why not."""
    text = (address or "").strip()
    if not text or len(text) > 2048 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ValueError("the ONVIF address must be a host name, an IP address or an http(s) URL")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("the ONVIF address is malformed") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("the ONVIF address must be http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("give the credentials in their own fields, not in the ONVIF address")
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host):
            raise ValueError(f"the ONVIF address has no valid host ({host!r})") from None
    if port == 0:
        raise ValueError("the ONVIF address port must be between 1 and 65535")
    path = parts.path if parts.path not in ("", "/") else DEVICE_PATH
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, parts.query, ""))


def device_error(exc: BaseException, what: str = "the device") -> DeviceError:
    """One clear line for any failure of a device call."""
    while isinstance(exc, ONVIFError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, DeviceError):
        return exc
    if isinstance(exc, TimeoutError):
        return DeviceError(f"{what} did not answer in time")
    if isinstance(exc, ResponseTooLarge):
        return DeviceError(f"{what} sent an answer that is too large")
    if isinstance(exc, zeep.exceptions.DTDForbidden | zeep.exceptions.EntitiesForbidden):
        return DeviceError(f"{what} sent XML with a DTD or entity declarations, which Ronda refuses")
    if isinstance(exc, zeep.exceptions.ExternalReferenceForbidden):
        return DeviceError(f"{what} sent XML that refers to an external document, which Ronda refuses")
    if isinstance(exc, zeep.exceptions.Fault):
        code = str(exc.code or "")
        subcodes = " ".join(str(s) for s in (exc.subcodes or []))
        text = _short(str(exc.message or ""))
        if "NotAuthorized" in code + subcodes or "NotAuthorized" in text or "Sender not Authorized" in text:
            return DeviceError(f"{what} refused the credentials")
        return DeviceError(f"{what} answered with a SOAP fault: {text or code or 'no reason given'}")
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code == 401:
            return DeviceError(f"{what} refused the credentials (HTTP 401)")
        if "invalid XML" in str(exc.message):
            return DeviceError(f"{what} sent malformed XML")
        return DeviceError(f"{what} answered HTTP {exc.status_code}")
    if isinstance(exc, zeep.exceptions.XMLSyntaxError | zeep.exceptions.XMLParseError):
        return DeviceError(f"{what} sent malformed XML")
    if isinstance(exc, zeep.exceptions.Error):
        return DeviceError(f"{what} sent an answer Ronda cannot read: {_short(str(exc))}")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionError):
        return DeviceError(f"cannot connect to {what}")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return DeviceError(f"connection to {what} failed: {_short(str(exc)) or type(exc).__name__}")
    if isinstance(exc, ONVIFError):
        return DeviceError(f"{what}: {_short(str(exc))}")
    return DeviceError(f"{what} sent an answer Ronda cannot read ({type(exc).__name__})")


def _short(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def clock_offset_s(sys_date: Any, now: dt.datetime) -> float | None:
    """The camera's clock minus ours, in seconds, from a GetSystemDateAndTime answer (UTCDateTime,
    else LocalDateTime when the camera gives only that); None when it gives neither."""
    for field in ("UTCDateTime", "LocalDateTime"):
        value = getattr(sys_date, field, None)
        try:
            d, t = value.Date, value.Time  # type: ignore[union-attr]
            cam = dt.datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=dt.UTC)
        except (AttributeError, TypeError, ValueError):
            continue
        if field == "LocalDateTime":
            log.info("the camera gives no UTC time; its local time is taken as UTC for the clock offset")
        return (cam - now).total_seconds()
    return None


class _Camera(ONVIFCamera):
    """The library's camera with Ronda's transport, address pinning and clock handshake."""

    def __init__(self, url: str, username: str | None, password: str | None, timeout_s: float) -> None:
        parts = urlsplit(url)
        saved = {k: os.environ[k] for k in ("http_proxy", "https_proxy") if k in os.environ}
        # The library removes proxy variables from the whole process; Ronda's other clients keep them.
        super().__init__(
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
            username,
            password,
            encrypt=True,
            no_cache=True,
            adjust_time=True,
        )
        os.environ.update(saved)
        self.device_url = url
        self.timeout_s = timeout_s
        self.clock_offset: float | None = None

    def get_definition(self, name: str, port_type: str | None = None) -> tuple[str, str, str]:
        xaddr, wsdl, binding = super().get_definition(name, port_type)
        return (self.device_url if name == "devicemgmt" else xaddr), wsdl, binding

    def rewrite_url(self, url: str | None) -> str | None:
        return same_host(url, self.device_url)

    async def create_onvif_service(
        self, name: str, port_type: str | None = None, read_timeout: int | None = None, write_timeout: int | None = None
    ) -> Any:
        service = await super().create_onvif_service(name, port_type, read_timeout, write_timeout)
        # A pull waits up to its own timeout on the device: give its session that time plus a margin.
        timeout = self.timeout_s + ((read_timeout or 0) if name == "pullpoint" else 0)
        await harden(service, self.user, self.passwd, timeout)
        return service

    async def _adjust_time(self, devicemgmt: Any) -> Any:
        try:
            sys_date = await bounded(devicemgmt.authless_GetSystemDateAndTime(), self.timeout_s)
        except (zeep.exceptions.Fault, zeep.exceptions.TransportError):
            # Some devices (Axis) want every request authenticated.
            sys_date = await bounded(devicemgmt.GetSystemDateAndTime(), self.timeout_s)
        offset = clock_offset_s(sys_date, dt.datetime.now(dt.UTC))
        self.clock_offset = offset
        if offset is None:
            log.warning("%s: the camera did not give its time; WS-Security timestamps use ours", self.device_url)
            return devicemgmt
        if abs(offset) > SKEW_WARN_S:
            log.warning("%s: the camera's clock is %+.0f s off; Ronda applies the offset", self.device_url, offset)
        self.dt_diff = dt.timedelta(seconds=offset)
        await devicemgmt.close()
        del self.services[devicemgmt.binding_key]
        return await self.create_devicemgmt_service()


class OnvifDevice:
    """A connection to one device. ``async with OnvifDevice(...) as dev: await dev.call(...)``.

    ``connect`` reads the camera's clock first (GetSystemDateAndTime, unauthenticated when the
    device allows it), then the addresses of its services. WS-UsernameToken always uses the password
    digest with the camera's clock offset; HTTP Digest is answered when the device asks for it."""

    def __init__(
        self, address: str, username: str | None, password: str | None, timeout_s: float = CALL_TIMEOUT_S
    ) -> None:
        try:
            self.url = device_url(address)
        except ValueError as e:
            raise DeviceError(str(e)) from None
        self.timeout_s = timeout_s
        self._username = username or None
        self._password = password or None
        self._cam: _Camera | None = None

    @property
    def clock_offset_s(self) -> float | None:
        return self._cam.clock_offset if self._cam else None

    async def connect(self) -> None:
        if self._cam is not None:
            return
        try:
            self._cam = _Camera(self.url, self._username, self._password, self.timeout_s)
            await bounded(self._cam.update_xaddrs(), self.timeout_s * 3)
        except BaseException as e:
            await self.close()
            if isinstance(e, Exception):
                raise device_error(e) from None
            raise

    def supports(self, service: str) -> bool:
        if self._cam is None:
            return False
        try:
            self._cam.get_definition(service)
        except ONVIFError:
            return False
        return True

    async def call(self, service: str, operation: str, params: Any = None, timeout_s: float | None = None) -> Any:
        """``operation`` of ``service`` (devicemgmt, media, ptz, events) with ``params``, bounded."""
        await self.connect()
        assert self._cam is not None
        try:
            svc = await self._cam.create_onvif_service(service)
            return await bounded(getattr(svc, operation)(params), timeout_s or self.timeout_s)
        except Exception as e:
            raise device_error(e) from None

    async def service(self, name: str, port_type: str | None = None, read_timeout: int | None = None) -> Any:
        """The library's service object (for the event pull, whose address changes per subscription)."""
        await self.connect()
        assert self._cam is not None
        try:
            return await self._cam.create_onvif_service(name, port_type, read_timeout, read_timeout)
        except Exception as e:
            raise device_error(e) from None

    def set_xaddr(self, namespace: str, url: str | None) -> str:
        """Record an address the device gave (a subscription), kept on the device's host."""
        assert self._cam is not None
        pinned = same_host(url, self.url)
        if pinned is None:
            raise DeviceError("the device gave an address Ronda cannot use")
        self._cam.xaddrs[namespace] = pinned
        return pinned

    async def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                await cam.close()
            except Exception:  # noqa: S110  (closing: nothing left to report)
                pass

    async def __aenter__(self) -> OnvifDevice:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
